"""Shared fixtures: a fresh PostgreSQL database, migrated, with tenants in it, and the app.

The suite runs against real PostgreSQL and Redis (URLs below, overridable). Three tenants
come from the starter template, each with an administrator and an account manager, so a
cross-tenant test is one line. Tests that change state make their own users or tenants.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import uvicorn
from asgi_lifespan import LifespanManager
from playwright.async_api import Browser, async_playwright
from redis.asyncio import Redis
from starlette.applications import Starlette
from tortoise.transactions import in_transaction

from danbao.config import REPO_ROOT, Settings, load_settings
from danbao.db.setup import close_db, open_db, run_migrations
from danbao.provisioning import create_tenant, create_user, operator_context
from danbao.tenancy.context import Principal, TenantContext, TenantId, tenant_scope

PG_ADMIN_URL = os.environ.get("DANBAO_TEST_PG_URL", "postgres://postgres@127.0.0.1:5432")
TEST_DB = os.environ.get("DANBAO_TEST_DB", "danbao_test")
REDIS_URL = os.environ.get("DANBAO_TEST_REDIS_URL", "redis://127.0.0.1:6379/3")
PASSWORD = "Test-password-2026"
TEMPLATE = REPO_ROOT / "tenants" / "_template"
TENANT_SLUGS = ("alpha", "beta", "gamma")


@dataclass(frozen=True)
class TenantFixture:
    slug: str
    id: uuid.UUID
    admin_email: str
    manager_email: str

    @property
    def context(self) -> TenantContext:
        """The tenant with the system principal, for tests that call access functions."""
        return TenantContext(TenantId(self.id), self.slug, Principal.system("tests"))


async def _recreate_database() -> None:
    conn = await asyncpg.connect(f"{PG_ADMIN_URL}/postgres")
    try:
        await conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", TEST_DB
        )
        await conn.execute(f'DROP DATABASE IF EXISTS "{TEST_DB}"')
        await conn.execute(f'CREATE DATABASE "{TEST_DB}"')
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    base = load_settings()
    return dataclasses.replace(
        base,
        var_dir=tmp_path_factory.mktemp("var"),
        database_url=f"{PG_ADMIN_URL}/{TEST_DB}",
        app_database_url=f"{PG_ADMIN_URL.replace('postgres@', base.app_db_role + '@')}/{TEST_DB}",
        redis_url=REDIS_URL,
        s3=None,
        master_key=base64.b64encode(b"test-master-key-32-bytes-long!!!").decode(),
    )


@pytest.fixture(scope="session")
async def tenants(settings: Settings) -> dict[str, TenantFixture]:
    """Migrate a fresh database and provision the shared tenants, as the owner."""
    await _recreate_database()
    redis = Redis.from_url(REDIS_URL)
    await redis.flushdb()  # the test database number only: throttles start empty
    await redis.aclose()
    await run_migrations(settings)
    await open_db(settings, "owner")
    try:
        made: dict[str, TenantFixture] = {}
        for slug in TENANT_SLUGS:
            tenant, _ = await create_tenant(
                slug,
                TEMPLATE,
                admin_email=f"admin@{slug}.test",
                admin_password=PASSWORD,
                operator="tests",
            )
            with tenant_scope(operator_context(tenant, "tests")):
                async with in_transaction():
                    await create_user(
                        f"manager@{slug}.test", "客户经理", PASSWORD, ["account_manager"]
                    )
            made[slug] = TenantFixture(
                slug, tenant.id, f"admin@{slug}.test", f"manager@{slug}.test"
            )
        return made
    finally:
        await close_db()


@pytest.fixture(scope="session")
async def app(settings: Settings, tenants: dict[str, TenantFixture]) -> AsyncIterator[Starlette]:
    from danbao.web.app import create_app

    application = create_app(settings)
    async with LifespanManager(application):
        yield application


@pytest.fixture(scope="session")
async def pg_owner(tenants: dict[str, TenantFixture]) -> AsyncIterator[asyncpg.Connection]:
    """A raw superuser connection, for tests that play the attacker or the DBA."""
    conn = await asyncpg.connect(f"{PG_ADMIN_URL}/{TEST_DB}")
    yield conn
    await conn.close()


ClientFactory = Callable[[], httpx.AsyncClient]


@pytest.fixture
def make_client(app: Starlette) -> ClientFactory:
    def factory() -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        )

    return factory


async def sign_in(client: httpx.AsyncClient, slug: str, email: str) -> str:
    """Sign in through the API; returns the CSRF token for unsafe requests."""
    response = await client.post(
        f"/t/{slug}/api/session", json={"email": email, "password": PASSWORD}
    )
    assert response.status_code == 200, response.text
    return str(response.json()["csrf_token"])


# Browser tests: the session's app over real HTTP and a headless Chromium at a phone's size.
CHROMIUM = "/usr/bin/chromium"
PHONE = {"width": 390, "height": 844}
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@asynccontextmanager
async def serving(app: Any) -> AsyncIterator[str]:
    """An ASGI app served over real HTTP on a free port (our app, or a vendor's fake)."""
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_config=None)
    )
    task = asyncio.create_task(server.serve())
    while not server.started:  # uvicorn offers no event to await  # noqa: ASYNC110
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@pytest.fixture(scope="session")
async def base_url(app: Starlette) -> AsyncIterator[str]:
    """The session's app served over real HTTP (the database is already open)."""
    async with serving(app) as url:
        yield url


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    assert shutil.which(CHROMIUM), "install Debian's chromium (the CI script does)"
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        await browser.close()


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A real S3-speaking HTTP server (moto) on a loopback port, for the whole session."""
    executable = Path(sys.executable).parent / "moto_server"
    port = _free_port()
    proc = subprocess.Popen(
        [str(executable), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(url, timeout=1)
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("moto_server did not start") from None
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
