"""What every benchmark prints the same way (see docs/benchmarks.md for the conventions)."""

from __future__ import annotations

import base64
import dataclasses
import os
import platform
import statistics
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from danbao.config import Settings, _with_user, load_settings

# The same services as the tests (tests/conftest.py); each benchmark takes a database and a
# Redis db of its own.
PG_ADMIN_URL = os.environ.get("DANBAO_TEST_PG_URL", "postgres://postgres@127.0.0.1:5432")
REDIS_URL = os.environ.get("DANBAO_TEST_REDIS_URL", "redis://127.0.0.1:6379/3")


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


# --- services -------------------------------------------------------------------------


def _redis_db(url: str, db: int) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{db}", parts.query, parts.fragment))


def bench_settings(var_dir: Path, db_name: str, redis_db: int) -> Settings:
    """Production-mode settings on a benchmark's own database (owner and app roles)."""
    base = load_settings()
    owner_url = f"{PG_ADMIN_URL}/{db_name}"
    return dataclasses.replace(
        base,
        var_dir=var_dir,
        database_url=owner_url,
        app_database_url=_with_user(owner_url, base.app_db_role, base.app_db_password),
        redis_url=_redis_db(REDIS_URL, redis_db),
        s3=None,
        master_key=base64.b64encode(b"bench-master-key-32-bytes-long!!").decode(),
        # The access log writes a JSON line per request to stderr; the same cost in both
        # phases, so leaving it out can only make a ratio larger, never hide a gap.
        log_level="WARNING",
    )


async def _admin_execute(*statements: str) -> None:
    conn = await asyncpg.connect(f"{PG_ADMIN_URL}/postgres")
    try:
        for sql in statements:
            await conn.execute(sql)
    finally:
        await conn.close()


async def drop_database(name: str) -> None:
    await _admin_execute(
        f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'",
        f'DROP DATABASE IF EXISTS "{name}"',
    )


async def recreate_database(name: str) -> None:
    await drop_database(name)
    await _admin_execute(f'CREATE DATABASE "{name}"')
