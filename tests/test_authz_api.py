"""Authorisation through the API: the compiled matrix decides, denials are audited,
and the explainer names the policy that decided."""

from __future__ import annotations

from tortoise.transactions import in_transaction

from danbao.db.models import AuditEvent
from danbao.tenancy.context import tenant_scope

from .conftest import ClientFactory, TenantFixture, sign_in


async def test_explainer_names_the_deciding_policy(
    make_client: ClientFactory, tenants: dict[str, TenantFixture]
) -> None:
    alpha = tenants["alpha"]
    async with make_client() as client:
        await sign_in(client, "alpha", alpha.admin_email)
        can = await client.get(
            "/t/alpha/api/authz/explain",
            params={
                "user": alpha.manager_email,
                "resource": "form:application",
                "action": "create",
            },
        )
        cannot = await client.get(
            "/t/alpha/api/authz/explain",
            params={"user": alpha.manager_email, "resource": "admin:definitions", "action": "read"},
        )
        foreign = await client.get(
            "/t/alpha/api/authz/explain",
            params={"user": tenants["beta"].admin_email, "resource": "x", "action": "read"},
        )
    assert can.status_code == 200, can.text
    assert can.json()["allowed"] is True and can.json()["role"] == "account_manager"
    assert can.json()["pointer"].startswith("permissions.json#/grants/account_manager/")
    body = cannot.json()
    assert body["allowed"] is False and body["policy"] is None
    assert "account_manager" in body["effective_roles"] and body["reason"]
    assert foreign.status_code == 404  # another tenant's user is simply not found


async def test_denials_are_refused_and_audited(
    make_client: ClientFactory, tenants: dict[str, TenantFixture]
) -> None:
    alpha = tenants["alpha"]
    async with make_client() as client:
        csrf = await sign_in(client, "alpha", alpha.manager_email)
        explain = await client.get(
            "/t/alpha/api/authz/explain",
            params={"user": alpha.admin_email, "resource": "admin:users", "action": "read"},
        )
        publish = await client.post(
            "/t/alpha/api/definitions/versions", json={"files": {}}, headers={"X-CSRF-Token": csrf}
        )
    assert explain.status_code == 403
    assert publish.status_code == 403 and publish.json()["error"]["code"] == "forbidden"
    with tenant_scope(alpha.context):
        async with in_transaction():
            denied = await AuditEvent.filter(action="authz.denied", object_id="admin:users").count()
    assert denied >= 1
