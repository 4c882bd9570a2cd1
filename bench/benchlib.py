"""What every benchmark prints the same way (see docs/benchmarks.md for the conventions)."""

from __future__ import annotations

import os
import platform
import statistics
from collections.abc import Sequence
from datetime import UTC, datetime


def print_header(bench: str, quick: bool) -> None:
    """When, on what machine: figures mean little without it."""
    print(
        f"bench {bench}: {'quick' if quick else 'full'} run, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    )
    print(
        f"machine: {platform.node()} {platform.machine()}, nproc {os.cpu_count()}, "
        f"Python {platform.python_version()}"
    )


def percentile(values: Sequence[float], p: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1]
