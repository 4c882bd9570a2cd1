"""Approval timers in the embedded mode: SQLite, the in-process runner, no Redis."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.embedded
SCENARIO = Path(__file__).with_name("embedded_timers_scenario.py")


def test_the_in_process_runner_fires_timers_on_sqlite(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DANBAO_")}
    env["DANBAO_VAR_DIR"] = str(tmp_path)
    done = subprocess.run(
        [sys.executable, str(SCENARIO)], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-4000:]
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert outcome["early"] == [["remind", "pending"]] * 2 + [["timeout", "pending"]] * 2
    assert outcome["late"] == [["remind", "fired"]] * 2 + [["timeout", "fired"]] * 2
    assert outcome["again"] == [0, 0] and outcome["failures"] == []
    assert outcome["statuses"] == ["approved", "approved"]
