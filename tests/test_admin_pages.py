"""The administrator's console: the matrix grid publishes a version, assignments save,
the explainer answers, and nobody else gets in."""

from __future__ import annotations

import re

import httpx
from tortoise.transactions import in_transaction

from danbao.db.models import AuditEvent
from danbao.tenancy.context import tenant_scope

from .conftest import ClientFactory, TenantFixture, sign_in


def _checked(page: str) -> set[str]:
    return set(re.findall(r'name="(g\|[^"]+)" checked', page))


async def _form_of(client: httpx.AsyncClient, url: str) -> tuple[str, set[str]]:
    page = (await client.get(url)).text
    csrf = page.split('name="csrf_token" value="')[1].split('"')[0]
    return csrf, _checked(page)


async def test_the_grid_publishes_a_new_version_and_audits_the_change(
    make_client: ClientFactory, tenants: dict[str, TenantFixture]
) -> None:
    beta = tenants["beta"]
    async with make_client() as client:
        await sign_in(client, "beta", beta.admin_email)
        before = (await client.get("/t/beta/api/definitions/versions")).json()["versions"]
        csrf, checked = await _form_of(client, "/t/beta/admin/permissions")
        grant = "g|finance|form:application|export"
        assert grant not in checked and "g|admin|admin:users|read" in checked
        data = {name: "on" for name in checked | {grant}}
        saved = await client.post("/t/beta/admin/permissions", data={**data, "csrf_token": csrf})
        assert saved.status_code == 303, saved.text
        after = (await client.get("/t/beta/api/definitions/versions")).json()["versions"]
        assert after[-1]["number"] == before[-1]["number"] + 1
        _, now_checked = await _form_of(client, "/t/beta/admin/permissions")
        assert grant in now_checked and now_checked == checked | {grant}
    with tenant_scope(beta.context):
        async with in_transaction():
            event = await AuditEvent.filter(action="permissions.changed").order_by("-seq").first()
    assert event is not None and "+finance form:application export" in event.data["changes"]


async def test_assignments_and_the_last_admin(
    make_client: ClientFactory, tenants: dict[str, TenantFixture]
) -> None:
    alpha = tenants["alpha"]
    async with make_client() as client:
        await sign_in(client, "alpha", alpha.admin_email)
        me = (await client.get("/t/alpha/api/me")).json()
        page = await client.get("/t/alpha/admin/users")
        assert page.status_code == 200 and alpha.manager_email in page.text
        assert "@beta.test" not in page.text
        csrf = page.text.split('name="csrf_token" value="')[1].split('"')[0]
        refused = await client.post(
            f"/t/alpha/admin/users/{me['id']}",
            data={"csrf_token": csrf, "roles": "finance", "active": "on"},
        )
        assert refused.status_code == 422 and "最后一位" in refused.text


async def test_the_explainer_page(
    make_client: ClientFactory, tenants: dict[str, TenantFixture]
) -> None:
    alpha = tenants["alpha"]
    async with make_client() as client:
        await sign_in(client, "alpha", alpha.admin_email)
        page = await client.get(
            "/t/alpha/admin/explain",
            params={"user": alpha.manager_email, "resource": "admin:definitions", "action": "read"},
        )
    assert page.status_code == 200 and "不允许" in page.text and "account_manager" in page.text


async def test_staff_without_admin_rights_are_refused(
    make_client: ClientFactory, tenants: dict[str, TenantFixture]
) -> None:
    async with make_client() as client:
        await sign_in(client, "alpha", tenants["alpha"].manager_email)
        home = await client.get("/t/alpha/")
        assert "/admin/permissions" not in home.text
        for path in (
            "/t/alpha/admin/permissions",
            "/t/alpha/admin/users",
            "/t/alpha/admin/explain",
        ):
            assert (await client.get(path)).status_code == 403
