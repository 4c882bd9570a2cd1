"""The operator console at ``/ops``: its own identities, CSRF, lockout, and numbers only."""

from __future__ import annotations

import logging
import re
import uuid
from datetime import UTC, datetime

import asyncpg
import httpx
import pytest
from starlette.routing import Route
from tortoise.transactions import in_transaction

from danbao.config import Settings
from danbao.db.models import AuditEvent, DefinitionVersion, StoredFile, Tenant, User
from danbao.provisioning import operator_context
from danbao.tenancy.context import TenantContext, tenant_scope
from danbao.usage import AUDIT_WINDOW
from danbao.web import ops

from .conftest import PASSWORD, PG_ADMIN_URL, TEST_DB, ClientFactory, TenantFixture, sign_in
from .test_operator_cli import run_cli

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def _new_operator(settings: Settings) -> str:
    """An operator made the way an operator makes one: the CLI, as the owner."""
    email = f"ops-{uuid.uuid4().hex[:8]}@danbao.test"
    made = run_cli(
        settings, "operator", "create", email, "--name", "运营测试", "--password", PASSWORD
    )
    assert made.returncode == 0, made.stderr
    return email


@pytest.fixture(scope="module")
def operator(settings: Settings, tenants: dict[str, TenantFixture]) -> str:
    return _new_operator(settings)


def _csrf(page: httpx.Response) -> str:
    found = _CSRF.search(page.text)
    assert found, page.text
    return found.group(1)


async def _login(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> httpx.Response:
    page = await client.get("/ops/login")
    assert page.status_code == 200
    return await client.post(
        "/ops/login", data={"email": email, "password": password, "csrf_token": _csrf(page)}
    )


async def ops_sign_in(client: httpx.AsyncClient, email: str) -> str:
    """Sign in to the console; returns the session's CSRF token for unsafe requests."""
    done = await _login(client, email)
    assert done.status_code == 303 and done.headers["location"] == "/ops/", done.text
    return _csrf(await client.get("/ops/tenants/new"))


def _slug() -> str:
    return "o" + uuid.uuid4().hex[:8]


async def _create_via_form(client: httpx.AsyncClient, csrf: str, **fields: str) -> httpx.Response:
    return await client.post("/ops/tenants", data={"csrf_token": csrf, **fields})


async def test_sign_in_needs_the_login_csrf(make_client: ClientFactory, operator: str) -> None:
    async with make_client() as client:
        page = await client.get("/ops/login")
        assert "运营人员登录" in page.text
        login_cookie = page.headers["set-cookie"].lower()
        assert "path=/ops" in login_cookie and "samesite=strict" in login_cookie
        form = {"email": operator, "password": PASSWORD}
        missing = await client.post("/ops/login", data=form)
        forged = await client.post("/ops/login", data={**form, "csrf_token": "forged"})
        assert missing.status_code == forged.status_code == 403
        assert "ops_session" not in forged.headers.get("set-cookie", "")
        done = await client.post("/ops/login", data={**form, "csrf_token": _csrf(page)})
        assert done.status_code == 303 and done.headers["location"] == "/ops/"
        session_cookie = done.headers["set-cookie"].lower()
        assert "danbao_ops_session=" in session_cookie and "httponly" in session_cookie
        assert "path=/ops" in session_cookie
        dashboard = await client.get("/ops/")
        assert dashboard.status_code == 200 and "运营测试" in dashboard.text
        again = await client.get("/ops/login")
        assert again.status_code == 303 and again.headers["location"] == "/ops/"

        refused = await client.post("/ops/logout")
        assert refused.status_code == 403
        out = await client.post("/ops/logout", data={"csrf_token": _csrf(dashboard)})
        assert out.status_code == 303 and out.headers["location"] == "/ops/login"
        client.cookies.clear()
        assert (await client.get("/ops/")).status_code == 303


async def test_a_revoked_session_cookie_is_anonymous(
    make_client: ClientFactory, operator: str
) -> None:
    async with make_client() as client:
        csrf = await ops_sign_in(client, operator)
        token = client.cookies.get("danbao_ops_session")
        await client.post("/ops/logout", data={"csrf_token": csrf})
    async with make_client() as replay:
        replay.cookies.set("danbao_ops_session", token)
        response = await replay.get("/ops/")
    assert response.status_code == 303 and response.headers["location"] == "/ops/login"


async def test_lockout_after_repeated_failures_is_logged(
    settings: Settings, make_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    email = _new_operator(settings)
    caplog.set_level(logging.INFO, logger="danbao.ops")
    async with make_client() as client:
        codes = [(await _login(client, email, "wrong-pass-1")).status_code for _ in range(5)]
        locked = await _login(client, email)
    assert codes == [401] * 5
    assert locked.status_code == 423 and "锁定" in locked.text
    messages = [r.getMessage() for r in caplog.records if r.name == "danbao.ops"]
    assert messages.count("operator.login_failed") == 4
    assert "operator.locked" in messages and "operator.login_refused_locked" in messages
    failure = next(r for r in caplog.records if r.getMessage() == "operator.locked")
    assert failure.operator == email and failure.failures == 5  # type: ignore[attr-defined]


async def test_wrong_password_and_unknown_operator_look_the_same(
    make_client: ClientFactory, operator: str
) -> None:
    async with make_client() as client:
        wrong = await _login(client, operator, "wrong-pass-1")
        unknown = await _login(client, "nobody@danbao.test", "wrong-pass-1")
    assert wrong.status_code == unknown.status_code == 401
    assert "邮箱或密码错误" in wrong.text and "邮箱或密码错误" in unknown.text


async def _usage_of(tenant: TenantFixture) -> tuple[int, int, int, int]:
    with tenant_scope(tenant.context):
        async with in_transaction():
            return (
                await User.filter().count(),
                await AuditEvent.filter(at__gte=datetime.now(UTC) - AUDIT_WINDOW).count(),
                await StoredFile.filter().count(),
                await DefinitionVersion.filter().count(),  # numbered 1, 2, … with no gaps
            )


def _row(page: str, slug: str) -> str:
    found = re.search(rf'<tr data-slug="{slug}">(.*?)</tr>', page, re.S)
    assert found, f"no row for {slug}"
    return found.group(1)


def _cell(row: str, usage: str) -> str:
    found = re.search(rf'data-usage="{usage}">([^<]*)<', row)
    assert found, usage
    return found.group(1).strip()


async def test_dashboard_shows_usage_and_health_but_no_records(
    make_client: ClientFactory, operator: str, tenants: dict[str, TenantFixture]
) -> None:
    async with make_client() as client:
        await ops_sign_in(client, operator)
        page = (await client.get("/ops/")).text
        filtered = (await client.get("/ops/", params={"q": "alph"})).text
        assert (await client.get("/ops/", params={"page": "x"})).status_code == 200
        beyond = await client.get("/ops/", params={"q": "alph", "page": "9"})
        assert "没有符合条件的租户" in beyond.text and "上一页" in beyond.text
    for slug in ("alpha", "beta", "gamma"):
        row = _row(page, slug)
        users, events, files, versions = await _usage_of(tenants[slug])
        # Counted under each tenant's own context: an empty RLS setting would show zeros.
        assert users >= 2 and events >= 3
        assert _cell(row, "users") == str(users)
        assert _cell(row, "events") == str(events)
        assert _cell(row, "files").startswith(f"{files} ·")
        assert _cell(row, "version") == str(versions) and versions >= 1
        assert "标准" in row or "standard" in row
    for slug in ("alpha", "beta", "gamma"):
        assert f"@{slug}.test" not in page  # no user of any tenant, not even its admin
        assert str(tenants[slug].id) not in page
    for action in ("user.created", "tenant.created", "auth.login", "definitions.published"):
        assert action not in page  # no audit contents
    assert 'data-check="database"' in page and 'data-check="redis"' in page
    assert 'data-slug="alpha"' in filtered and 'data-slug="beta"' not in filtered


async def test_create_a_tenant_from_the_form(make_client: ClientFactory, operator: str) -> None:
    slug = _slug()
    async with make_client() as client:
        csrf = await ops_sign_in(client, operator)
        form = (await client.get("/ops/tenants/new")).text
        assert 'name="slug"' in form and 'name="admin_password"' in form
        done = await _create_via_form(
            client,
            csrf,
            slug=slug,
            name="测试担保有限公司",
            admin_email=f"Admin@{slug}.test",
            admin_password=PASSWORD,
        )
        assert done.status_code == 303, done.text
        assert done.headers["location"].startswith(f"/ops/?q={slug}")
        listed = await client.get(done.headers["location"])
        assert f'data-slug="{slug}"' in listed.text and "测试担保有限公司" in listed.text
    async with make_client() as tenant_admin:
        response = await tenant_admin.post(
            f"/t/{slug}/api/session", json={"email": f"admin@{slug}.test", "password": PASSWORD}
        )
        assert response.status_code == 200, response.text
        assert response.json()["user"]["roles"][0]["id"] == "admin"
    with tenant_scope(await _context_of(slug)):
        async with in_transaction():
            created = await AuditEvent.filter(action="tenant.created").first()
    assert created is not None
    assert (created.actor_kind, created.actor_id) == ("operator", operator)


async def _context_of(slug: str) -> TenantContext:
    return operator_context(await Tenant.get(slug=slug), "tests")


async def test_bad_input_shows_errors_by_the_field_and_creates_nothing(
    make_client: ClientFactory, operator: str, tenants: dict[str, TenantFixture]
) -> None:
    good = {"name": "", "admin_email": "a@b.test", "admin_password": PASSWORD}
    before = await Tenant.all().count()
    async with make_client() as client:
        csrf = await ops_sign_in(client, operator)
        cases = [
            ({**good, "slug": "Bad Slug"}, {"slug"}),
            ({**good, "slug": "ops"}, {"slug"}),
            ({**good, "slug": "alpha"}, {"slug"}),
            ({**good, "slug": _slug(), "admin_password": "short"}, {"admin_password"}),
            ({**good, "slug": _slug(), "admin_email": "not-an-address"}, {"admin_email"}),
            ({"slug": "-x", "admin_email": "", "admin_password": "12345678901"}, None),
        ]
        for data, fields in cases:
            response = await _create_via_form(client, csrf, **data)
            assert response.status_code == 422, (data, response.status_code)
            shown = set(re.findall(r'data-field="([a-z_]+)"', response.text))
            assert shown == (fields or {"slug", "admin_email", "admin_password"}), data
            assert PASSWORD not in response.text and "12345678901" not in response.text
            if data["slug"] and " " not in data["slug"]:
                assert f'value="{data["slug"]}"' in response.text  # kept for correcting
        duplicate = await _create_via_form(client, csrf, **{**good, "slug": "alpha"})
        assert "该标识已被占用" in duplicate.text
        weak = await _create_via_form(
            client, csrf, **{**good, "slug": _slug(), "admin_password": "x"}
        )
        assert "密码至少 10 个字符" in weak.text
        english = await client.post(
            "/ops/tenants?lang=en", data={"csrf_token": csrf, **good, "slug": "Bad"}
        )
        assert "A slug is 2–63 lowercase letters" in english.text
    assert await Tenant.all().count() == before
    with tenant_scope(tenants["alpha"].context):
        async with in_transaction():
            assert not await User.filter(email="a@b.test").exists()


async def test_suspend_and_resume(
    make_client: ClientFactory, operator: str, tenants: dict[str, TenantFixture]
) -> None:
    slug = _slug()
    async with make_client() as ops_client, make_client() as tenant_client:
        csrf = await ops_sign_in(ops_client, operator)
        made = await _create_via_form(
            ops_client, csrf, slug=slug, admin_email=f"a@{slug}.test", admin_password=PASSWORD
        )
        assert made.status_code == 303
        await sign_in(tenant_client, slug, f"a@{slug}.test")
        assert (await tenant_client.get(f"/t/{slug}/api/me")).status_code == 200

        forged = await ops_client.post(f"/ops/tenants/{slug}/suspend", data={"reason": "x"})
        assert forged.status_code == 403
        assert (await tenant_client.get(f"/t/{slug}/api/me")).status_code == 200

        done = await ops_client.post(
            f"/ops/tenants/{slug}/suspend", data={"csrf_token": csrf, "reason": "合同到期"}
        )
        assert done.status_code == 303
        me = await tenant_client.get(f"/t/{slug}/api/me")  # this process: at once
        assert me.status_code == 403 and me.json()["error"]["code"] == "suspended"
        row = _row((await ops_client.get(done.headers["location"])).text, slug)
        assert "已暂停" in row and "合同到期" in row and f"/ops/tenants/{slug}/resume" in row

        resumed = await ops_client.post(f"/ops/tenants/{slug}/resume", data={"csrf_token": csrf})
        assert resumed.status_code == 303
        assert (await tenant_client.get(f"/t/{slug}/api/me")).status_code == 200
        missing = await ops_client.post("/ops/tenants/nosuch/suspend", data={"csrf_token": csrf})
        assert missing.status_code == 404
    with tenant_scope(await _context_of(slug)):
        async with in_transaction():
            actions = [
                (e.action, e.actor_id)
                for e in await AuditEvent.filter(action__startswith="tenant.").order_by("seq")
            ]
    assert actions == [
        ("tenant.created", operator),
        ("tenant.suspended", operator),
        ("tenant.resumed", operator),
    ]


def _ops_routes() -> list[tuple[str, str]]:
    found = []
    for route in ops.ROUTES:
        assert isinstance(route, Route)
        for method in sorted(route.methods or set()):
            if method != "HEAD" and route.path != "/login":
                found.append(("/ops" + route.path.replace("{slug}", "alpha"), method))
    return found


@pytest.mark.parametrize(("path", "method"), _ops_routes())
async def test_anonymous_and_tenant_sessions_get_the_sign_in_page(
    make_client: ClientFactory, tenants: dict[str, TenantFixture], path: str, method: str
) -> None:
    async with make_client() as client:
        anonymous = await client.request(method, path)
        csrf = await sign_in(client, "alpha", tenants["alpha"].admin_email)
        token = client.cookies.get("danbao_session")
    async with make_client() as client:
        # A tenant user's session, under its own name and under the console's: neither counts.
        client.cookies.set("danbao_session", token)
        client.cookies.set("danbao_ops_session", token)
        tenant_user = await client.request(
            method, path, headers={"X-CSRF-Token": csrf}, data={"csrf_token": csrf}
        )
    for response in (anonymous, tenant_user):
        assert response.status_code == 303, (path, method, response.status_code)
        assert response.headers["location"] == "/ops/login"
    assert (await Tenant.get(slug="alpha")).status == "active"


async def test_the_serving_role_gets_only_what_the_console_needs(
    app: object, tenants: dict[str, TenantFixture]
) -> None:
    conn = await asyncpg.connect(f"{PG_ADMIN_URL.replace('postgres@', 'danbao_app@')}/{TEST_DB}")
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute(
                "INSERT INTO operator (id, email, name, password_hash, failed_logins, created_at)"
                " VALUES ($1, 'x@y.z', 'x', 'h', 0, now())",
                uuid.uuid4(),
            )
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("UPDATE operator SET email = 'x@y.z' WHERE false")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("UPDATE tenant SET plan = 'free' WHERE false")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("DELETE FROM tenant WHERE false")
        await conn.execute("UPDATE tenant SET status = status WHERE false")
        await conn.execute("UPDATE operator SET failed_logins = 0 WHERE false")
    finally:
        await conn.close()


def test_cli_operator_create(settings: Settings, tenants: dict[str, TenantFixture]) -> None:
    email = f"cli-{uuid.uuid4().hex[:8]}@danbao.test"
    made = run_cli(settings, "operator", "create", email, "--name", "张三", "--password", PASSWORD)
    assert made.returncode == 0 and email in made.stdout, made.stderr
    again = run_cli(settings, "operator", "create", email, "--name", "张三", "--password", PASSWORD)
    assert again.returncode == 1 and "already exists" in again.stderr
    weak = run_cli(
        settings, "operator", "create", "w@danbao.test", "--name", "w", "--password", "x"
    )
    assert weak.returncode == 1 and "password" in weak.stderr
    bad = run_cli(settings, "operator", "create", "nope", "--name", "n", "--password", PASSWORD)
    assert bad.returncode == 1 and "e-mail" in bad.stderr


async def test_an_operator_has_no_way_into_tenant_business_data(
    make_client: ClientFactory, operator: str, tenants: dict[str, TenantFixture]
) -> None:
    """The console's session means nothing on tenant paths: records, users, definitions."""
    async with make_client() as client:
        csrf = await ops_sign_in(client, operator)
        ops_cookie = client.cookies.get("danbao_ops_session")
    assert ops_cookie
    async with make_client() as client:
        client.cookies.set("danbao_ops_session", ops_cookie)
        client.cookies.set("danbao_session", ops_cookie)  # even replayed as a tenant session
        for path in (
            "/t/alpha/api/forms/application/records",
            "/t/alpha/api/me",
            "/t/alpha/api/definitions/versions",
        ):
            response = await client.get(path, headers={"X-CSRF-Token": csrf})
            assert response.status_code == 401, (path, response.status_code)
            assert "admin@alpha.test" not in response.text
