"""The inbox tabs in the embedded mode: the same SQL filters and paging on SQLite, where
抄送我的 reads the action facts with json1 instead of jsonb containment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.embedded
SCENARIO = Path(__file__).with_name("embedded_inbox_scenario.py")


def test_inbox_tabs_are_filtered_and_paged_on_sqlite(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DANBAO_")}
    env["DANBAO_VAR_DIR"] = str(tmp_path)
    done = subprocess.run(
        [sys.executable, str(SCENARIO)], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-4000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    first, second, third = out["ids"]
    assert out["counts"]["one"] == {"mine": 0, "claimable": 1, "done": 2, "copied": 0}
    assert out["counts"]["two"] == {"mine": 0, "claimable": 1, "done": 0, "copied": 0}
    assert out["counts"]["fin"] == {"mine": 0, "claimable": 0, "done": 0, "copied": 2}
    assert out["claimable_two"] == [[third], 1]  # the two claimed went from 乙's 待认领
    assert out["done_one_p1"] == [[second], 2] and out["done_one_p2"] == [[first], 2]
    assert sorted(out["copied_fin"][0]) == sorted([first, second])
    assert out["copied_fin_by_name"][1] == 2 and out["copied_fin_form"][1] == 2
    for empty in ("copied_fin_nobody", "copied_fin_old", "copied_fin_other_form", "copied_one"):
        assert out[empty] == [[], 0], empty
