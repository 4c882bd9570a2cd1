"""What every benchmark prints the same way (see docs/benchmarks.md for the conventions)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
import tomllib
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx

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


# --- the app in a child process ---------------------------------------------------------


def server_env(settings: Settings) -> dict[str, str]:
    """The same settings for ``danbao serve`` in a child process."""
    return {
        **os.environ,
        "DANBAO_DATABASE_URL": settings.database_url,
        "DANBAO_APP_DATABASE_URL": settings.app_database_url,
        "DANBAO_REDIS_URL": settings.redis_url or "",
        "DANBAO_MASTER_KEY": settings.master_key or "",
        "DANBAO_VAR_DIR": str(settings.var_dir),
        "DANBAO_LOG_LEVEL": settings.log_level,
        "DANBAO_S3_BUCKET": "",
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_and_wait(pid: int) -> tuple[float, float] | None:
    """Seconds a process's main thread has run, and has waited runnable for a CPU (Linux
    schedstat); None elsewhere. On a shared machine the second says how much of a slow
    phase was the machine's doing rather than the code's."""
    try:
        with open(f"/proc/{pid}/schedstat") as stat:
            ran, waited, _ = stat.read().split()
    except (OSError, ValueError):
        return None
    return int(ran) / 1e9, int(waited) / 1e9


def log_tail(log: Path) -> str:
    return log.read_text(errors="replace")[-2000:]


@contextlib.asynccontextmanager
async def served(settings: Settings, log: Path) -> Any:
    """``danbao serve`` (uvicorn, one process) in a child; yields its base URL and pid."""
    port = free_port()
    with log.open("wb") as sink:
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "danbao.cli", "serve", "--host", "127.0.0.1", "--port",
            str(port), env=server_env(settings), stdout=sink, stderr=subprocess.STDOUT,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base) as probe:
            deadline = time.monotonic() + 60
            while True:
                if child.returncode is not None:
                    raise SystemExit(f"danbao serve exited:\n{log_tail(log)}")
                with contextlib.suppress(httpx.TransportError):
                    if (await probe.get("/healthz")).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise SystemExit(f"danbao serve did not start:\n{log_tail(log)}")
                await asyncio.sleep(0.1)
        yield base, child.pid
    finally:
        if child.returncode is None:
            child.terminate()
            try:
                await asyncio.wait_for(child.wait(), 15)
            except TimeoutError:
                child.kill()
                await child.wait()


# --- a peer library in an environment of its own ------------------------------------------

BENCH_ENVS = Path(__file__).resolve().parents[1] / "var" / "bench-envs"


def bench_pins(*projects: str) -> list[str]:
    """The pins of the named projects in pyproject.toml's ``bench`` extra."""
    meta = tomllib.loads((BENCH_ENVS.parents[1] / "pyproject.toml").read_text(encoding="utf-8"))
    extra = meta["project"]["optional-dependencies"]["bench"]
    wanted = {p.lower() for p in projects}
    pins = [r for r in extra if re.split(r"[\s<>=!~;\[]", r, maxsplit=1)[0].lower() in wanted]
    if len(pins) != len(wanted):
        raise SystemExit(f"pyproject.toml's bench extra lacks one of {sorted(projects)}: {extra}")
    return pins


def peer_env(name: str, pins: Sequence[str]) -> tuple[Path, float | None]:
    """The interpreter of ``var/bench-envs/<name>``, a virtualenv with exactly ``pins``
    installed from PyPI, and the seconds it took to make (None: reused). A peer never
    enters the project's environment, so its dependencies cannot clash with ours; the
    environment is made again when the pins or the Python version change."""
    root = BENCH_ENVS / name
    python = root / "bin" / "python"
    want = "\n".join([platform.python_version(), *pins]) + "\n"
    stamp = root / "pins.txt"
    if python.exists() and stamp.exists() and stamp.read_text(encoding="utf-8") == want:
        return python, None
    started = time.perf_counter()
    building = root.with_name(f"{name}.building-{os.getpid()}")
    shutil.rmtree(building, ignore_errors=True)
    # No pip of its own (bootstrapping one took 35 s of a 46 s build on a loaded machine):
    # the project's pip installs into it, without compiling what the runner never imports.
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(building)], check=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(building / "bin" / "python"), "install",
         "--quiet", "--disable-pip-version-check", "--no-compile", *pins],
        check=True,
    )  # fmt: skip
    (building / "pins.txt").write_text(want, encoding="utf-8")
    shutil.rmtree(root, ignore_errors=True)
    building.rename(root)
    return python, time.perf_counter() - started


@dataclasses.dataclass
class _TenantRow:  # what operator_context reads of a Tenant
    id: Any
    slug: str


async def verified_audit_chain(settings: Settings, tenant_id: Any, slug: str, operator: str) -> str:
    """After a run, verify the tenant's audit chain as the operator; a broken chain ends the
    benchmark (its figures would describe a server that lost or forged events)."""
    from danbao.audit.chain import verify_chain
    from danbao.db.setup import close_db, open_db
    from danbao.provisioning import operator_context
    from danbao.tenancy.context import tenant_scope

    await open_db(settings, "owner")
    try:
        with tenant_scope(operator_context(cast(Any, _TenantRow(tenant_id, slug)), operator)):
            report = await verify_chain()
    finally:
        await close_db()
    if not report.ok:
        raise SystemExit(report.describe())
    return str(report.describe())


async def user_like(first: Any, email: str, name: str, roles: list[str], department: str) -> Any:
    """A user as create_user makes one (audited), sharing ``first``'s argon2 hash: a hash
    costs 0.3-1 s here, and no benchmark user signs in with a password. Call inside the
    tenant's transaction."""
    from danbao.audit import record_event
    from danbao.db.models import User

    user = await User.create(
        email=email, name=name, roles=roles, password_hash=first.password_hash,
        department=department,
    )  # fmt: skip
    await record_event("user.created", "user", str(user.id), {"email": email, "roles": roles})
    return user
