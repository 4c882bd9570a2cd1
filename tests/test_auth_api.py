"""Sign-in, sessions, CSRF, lockout, API tokens, suspension — through the HTTP API."""

from __future__ import annotations

import uuid

from tortoise.transactions import in_transaction

from danbao.provisioning import create_user
from danbao.tenancy.context import tenant_scope

from .conftest import PASSWORD, ClientFactory, TenantFixture, sign_in


async def _new_user(tenant: TenantFixture, roles: list[str] | None = None) -> str:
    email = f"u{uuid.uuid4().hex[:10]}@{tenant.slug}.test"
    with tenant_scope(tenant.context):
        async with in_transaction():
            await create_user(email, "测试用户", PASSWORD, roles or ["account_manager"])
    return email


async def test_sign_in_and_me(
    make_client: ClientFactory, tenants: dict[str, TenantFixture]
) -> None:
    async with make_client() as client:
        await sign_in(client, "alpha", tenants["alpha"].admin_email)
        me = (await client.get("/t/alpha/api/me")).json()
    assert me["email"] == tenants["alpha"].admin_email
    assert me["tenant"]["slug"] == "alpha"
    assert [r["id"] for r in me["roles"]] == ["admin"]
    assert me["roles"][0]["name"]["zh-CN"]


async def test_session_cookie_is_http_only_and_scoped_to_the_tenant(
    make_client: ClientFactory, tenants: dict[str, TenantFixture]
) -> None:
    async with make_client() as client:
        response = await client.post(
            "/t/alpha/api/session",
            json={"email": tenants["alpha"].admin_email, "password": PASSWORD},
        )
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "path=/t/alpha/" in cookie


async def test_wrong_password_and_unknown_user_look_the_same(make_client: ClientFactory) -> None:
    async with make_client() as client:
        wrong = await client.post(
            "/t/alpha/api/session", json={"email": "admin@alpha.test", "password": "nope-nope-1"}
        )
        unknown = await client.post(
            "/t/alpha/api/session", json={"email": "ghost@alpha.test", "password": "nope-nope-1"}
        )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["error"]["code"] == unknown.json()["error"]["code"] == "invalid_credentials"


async def test_lockout_after_repeated_failures(
    make_client: ClientFactory, tenants: dict[str, TenantFixture]
) -> None:
    email = await _new_user(tenants["alpha"])
    async with make_client() as client:
        codes = [
            (
                await client.post(
                    "/t/alpha/api/session", json={"email": email, "password": "wrong-pass-1"}
                )
            ).status_code
            for _ in range(5)
        ]
        locked = await client.post(
            "/t/alpha/api/session", json={"email": email, "password": PASSWORD}
        )
    assert codes == [401] * 5
    assert locked.status_code == 423
    assert int(locked.headers["retry-after"]) > 0
    assert "锁定" in locked.json()["error"]["message"]


async def test_english_messages_on_request(make_client: ClientFactory) -> None:
    async with make_client() as client:
        response = await client.post(
            "/t/alpha/api/session",
            json={"email": "ghost@alpha.test", "password": "x-y-z-1234"},
            headers={"Accept-Language": "en-US,en;q=0.9"},
        )
    assert response.json()["error"]["message"] == "E-mail or password is wrong."


async def test_malformed_login_bodies_are_clear_errors(make_client: ClientFactory) -> None:
    async with make_client() as client:
        not_json = await client.post(
            "/t/alpha/api/session", content=b"{", headers={"content-type": "application/json"}
        )
        form = await client.post("/t/alpha/api/session", data={"email": "a", "password": "b"})
        wrong_shape = await client.post("/t/alpha/api/session", json=["a", "b"])
    assert not_json.status_code == 400 and "Expecting" in not_json.json()["error"]["message"]
    assert form.status_code == 415
    assert wrong_shape.status_code == 400


async def test_unsafe_requests_need_the_csrf_token(
    make_client: ClientFactory, tenants: dict[str, TenantFixture]
) -> None:
    async with make_client() as client:
        csrf = await sign_in(client, "alpha", tenants["alpha"].manager_email)
        refused = await client.delete("/t/alpha/api/session")
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "csrf"
        assert (await client.get("/t/alpha/api/me")).status_code == 200
        ok = await client.delete("/t/alpha/api/session", headers={"X-CSRF-Token": csrf})
        assert ok.status_code == 204
        client.cookies.clear()
        assert (await client.get("/t/alpha/api/me")).status_code == 401


async def test_a_session_of_one_tenant_is_refused_by_another(
    make_client: ClientFactory, tenants: dict[str, TenantFixture]
) -> None:
    async with make_client() as client:
        await sign_in(client, "alpha", tenants["alpha"].admin_email)
        token = client.cookies.get("danbao_session")
    async with make_client() as client:
        # Replay alpha's cookie on beta's paths: beta has no such session.
        client.cookies.set("danbao_session", token)
        response = await client.get("/t/beta/api/me")
    assert response.status_code == 401


async def test_api_tokens_issue_use_and_revoke(
    make_client: ClientFactory, tenants: dict[str, TenantFixture]
) -> None:
    async with make_client() as client:
        csrf = await sign_in(client, "alpha", tenants["alpha"].admin_email)
        created = await client.post(
            "/t/alpha/api/tokens", json={"name": "ERP 对接"}, headers={"X-CSRF-Token": csrf}
        )
        assert created.status_code == 201, created.text
        secret, token_id = created.json()["secret"], created.json()["id"]
        listed = (await client.get("/t/alpha/api/tokens")).json()["tokens"]
        assert any(t["id"] == token_id for t in listed)
        assert all("secret" not in t for t in listed)
    async with make_client() as integrator:
        bearer = {"Authorization": f"Bearer {secret}"}
        me = await integrator.get("/t/alpha/api/me", headers=bearer)
        assert me.status_code == 200 and me.json()["email"] == tenants["alpha"].admin_email
        assert (await integrator.get("/t/beta/api/me", headers=bearer)).status_code == 401
        revoked = await integrator.delete(f"/t/alpha/api/tokens/{token_id}", headers=bearer)
        assert revoked.status_code == 204
        assert (await integrator.get("/t/alpha/api/me", headers=bearer)).status_code == 401


async def test_unknown_tenant_is_404(make_client: ClientFactory) -> None:
    async with make_client() as client:
        assert (await client.get("/t/nosuch/api/me")).status_code == 404
        assert (await client.get("/t/nosuch/login")).status_code == 404
