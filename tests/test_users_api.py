"""The administrator assigns roles and departments; every change is audited and checked."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from tortoise.transactions import in_transaction

from danbao.db.models import AuditEvent, User
from danbao.tenancy.context import tenant_scope

from .conftest import PASSWORD, ClientFactory, TenantFixture, sign_in


@asynccontextmanager
async def _admin_client(
    make_client: ClientFactory, tenant: TenantFixture
) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client() as client:
        client.headers["X-CSRF-Token"] = await sign_in(client, tenant.slug, tenant.admin_email)
        yield client


async def test_list_shows_only_this_tenants_users(
    make_client: ClientFactory, tenants: dict[str, TenantFixture]
) -> None:
    async with _admin_client(make_client, tenants["alpha"]) as client:
        body = (await client.get("/t/alpha/api/users")).json()
    emails = {u["email"] for u in body["items"]}
    assert tenants["alpha"].admin_email in emails
    assert not any(e.endswith("@beta.test") for e in emails)
    assert all("password" not in str(u) for u in body["items"])


async def test_create_and_reassign_with_audit(
    make_client: ClientFactory, tenants: dict[str, TenantFixture]
) -> None:
    alpha = tenants["alpha"]
    email = f"risk{uuid.uuid4().hex[:8]}@alpha.test"
    async with _admin_client(make_client, alpha) as client:
        created = await client.post(
            "/t/alpha/api/users",
            json={
                "email": email,
                "name": "风控新人",
                "password": PASSWORD,
                "roles": ["risk_officer"],
                "department": "risk",
            },
        )
        assert created.status_code == 201, created.text
        again = await client.post(
            "/t/alpha/api/users",
            json={"email": email, "name": "重复", "password": PASSWORD, "roles": []},
        )
        assert again.status_code == 409
        user_id = created.json()["id"]
        changed = await client.patch(
            f"/t/alpha/api/users/{user_id}",
            json={"roles": ["risk_officer", "legal"], "department": "legal"},
        )
        assert changed.status_code == 200, changed.text
        assert changed.json()["roles"] == ["risk_officer", "legal"]
    with tenant_scope(alpha.context):
        async with in_transaction():
            event = await AuditEvent.filter(
                action="user.assignment_changed", object_id=user_id
            ).first()
    assert event is not None
    assert event.data["from"]["roles"] == ["risk_officer"]
    assert event.data["to"]["department"] == "legal"


async def test_bad_assignments_are_refused_with_pointers(
    make_client: ClientFactory, tenants: dict[str, TenantFixture]
) -> None:
    alpha = tenants["alpha"]
    async with _admin_client(make_client, alpha) as client:
        bad = await client.post(
            "/t/alpha/api/users",
            json={
                "email": "not-an-email",
                "name": "",
                "password": "short",
                "roles": ["risk_officer", "wizard"],
                "department": "mars",
            },
        )
        english = await client.post(
            "/t/alpha/api/users",
            json={"email": "x@alpha.test", "name": "X", "password": PASSWORD, "roles": ["wizard"]},
            headers={"Accept-Language": "en"},
        )
    assert bad.status_code == 422
    details = {d["pointer"]: d["message"] for d in bad.json()["error"]["details"]}
    assert set(details) == {"/email", "/name", "/password", "/roles/1", "/department"}
    assert "wizard" in details["/roles/1"] and "不存在" in details["/roles/1"]
    assert english.json()["error"]["details"][0]["message"].startswith('Role "wizard"')
    with tenant_scope(alpha.context):
        async with in_transaction():
            assert not await User.filter(email="x@alpha.test").exists()


async def test_the_last_administrator_stays(
    make_client: ClientFactory, tenants: dict[str, TenantFixture]
) -> None:
    gamma = tenants["gamma"]
    async with _admin_client(make_client, gamma) as client:
        me = (await client.get("/t/gamma/api/me")).json()
        demote = await client.patch(f"/t/gamma/api/users/{me['id']}", json={"roles": []})
        deactivate = await client.patch(f"/t/gamma/api/users/{me['id']}", json={"is_active": False})
    assert demote.status_code == deactivate.status_code == 422
    assert demote.json()["error"]["details"][0]["pointer"] == "/roles"


async def test_only_administrators_and_only_their_tenant(
    make_client: ClientFactory, tenants: dict[str, TenantFixture]
) -> None:
    alpha, beta = tenants["alpha"], tenants["beta"]
    async with make_client() as client:
        csrf = await sign_in(client, "alpha", alpha.manager_email)
        assert (await client.get("/t/alpha/api/users")).status_code == 403
        me = (await client.get("/t/alpha/api/me")).json()
        promote = await client.patch(
            f"/t/alpha/api/users/{me['id']}",
            json={"roles": ["admin"]},
            headers={"X-CSRF-Token": csrf},
        )
        assert promote.status_code == 403
    async with _admin_client(make_client, beta) as client:
        foreign = await client.patch(f"/t/beta/api/users/{me['id']}", json={"roles": ["admin"]})
    assert foreign.status_code == 404
