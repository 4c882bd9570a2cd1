"""Every tenant route, generated from the route table, tried by the wrong callers.

A new route is covered without anyone remembering: anonymous callers, callers signed in
to another tenant, and a user of the tenant who holds no role get a refusal and nothing
of the tenant's data.
"""

from __future__ import annotations

import re

import pytest
from starlette.routing import Route
from tortoise.transactions import in_transaction

from danbao.provisioning import create_user
from danbao.tenancy.context import tenant_scope
from danbao.web import api, pages

from .conftest import PASSWORD, ClientFactory, TenantFixture, sign_in

PUBLIC = {
    ("/t/{slug}/api/session", "POST"),
    ("/t/{slug}/api/openapi.json", "GET"),
    ("/t/{slug}/login", "GET"),
    ("/t/{slug}/login", "POST"),
    # Vendors sign their callbacks instead of signing in (tests/test_plugins_esign_cn.py).
    ("/t/{slug}/api/callbacks/{plugin_id}", "POST"),
}


def _tenant_routes() -> list[tuple[str, str]]:
    found = []
    for prefix, routes in (("/t/{slug}/api", api.ROUTES), ("/t/{slug}", pages.ROUTES)):
        for route in routes:
            assert isinstance(route, Route)
            for method in sorted(route.methods or set()):
                if method != "HEAD":
                    found.append((prefix + route.path, method))
    return found


def _fill(path: str, slug: str) -> str:
    # A real form, so that a refusal is about permission and not an unknown form.
    path = path.replace("{slug}", slug).replace("{form_id}", "application")
    return re.sub(r"\{[a-z_]+\}", "00000000-0000-0000-0000-000000000001", path)


ROUTES = _tenant_routes()


def test_the_sweep_sees_the_routes() -> None:
    assert ("/t/{slug}/api/me", "GET") in ROUTES and len(ROUTES) >= 10


@pytest.mark.parametrize(("path", "method"), [r for r in ROUTES if r not in PUBLIC])
async def test_anonymous_is_refused(
    make_client: ClientFactory, path: str, method: str, tenants: dict[str, TenantFixture]
) -> None:
    async with make_client() as client:
        response = await client.request(method, _fill(path, "alpha"), json={})
    # Pages send people to the sign-in page; the API answers 401.
    assert response.status_code in {401, 303}, (path, method, response.status_code)
    if response.status_code == 303:
        assert response.headers["location"].endswith("/t/alpha/login")
    assert "admin@alpha.test" not in response.text


@pytest.mark.parametrize(("path", "method"), ROUTES)
async def test_other_tenants_session_gets_nothing(
    make_client: ClientFactory, tenants: dict[str, TenantFixture], path: str, method: str
) -> None:
    async with make_client() as client:
        csrf = await sign_in(client, "beta", tenants["beta"].admin_email)
        token = client.cookies.get("danbao_session")
    async with make_client() as client:
        client.cookies.set("danbao_session", token)
        response = await client.request(
            method, _fill(path, "alpha"), json={}, headers={"X-CSRF-Token": csrf}
        )
    assert response.status_code in {200, 303, 400, 401, 403, 404, 415}, (path, response.status_code)
    body = response.text
    assert "admin@alpha.test" not in body and str(tenants["alpha"].id) not in body
    if (path, method) not in PUBLIC:
        assert response.status_code in {303, 401}, (path, method, response.status_code)


# What any signed-in user may do whatever their roles: their own session, profile, tokens
# and home page. Everything else needs a grant.
ANY_SIGNED_IN = PUBLIC | {
    ("/t/{slug}/api/session", "DELETE"),
    ("/t/{slug}/api/me", "GET"),
    ("/t/{slug}/api/tokens", "GET"),
    ("/t/{slug}/api/tokens/{token_id}", "DELETE"),
    ("/t/{slug}/", "GET"),
    ("/t/{slug}/logout", "POST"),
}


@pytest.fixture(scope="module")
async def roleless(tenants: dict[str, TenantFixture]) -> str:
    """A user of alpha who holds no role at all."""
    email = "nobody@alpha.test"
    with tenant_scope(tenants["alpha"].context):
        async with in_transaction():
            await create_user(email, "无角色用户", PASSWORD, [])
    return email


@pytest.mark.parametrize(("path", "method"), [r for r in ROUTES if r not in ANY_SIGNED_IN])
async def test_a_user_without_the_permission_is_refused(
    make_client: ClientFactory, roleless: str, path: str, method: str
) -> None:
    async with make_client() as client:
        csrf = await sign_in(client, "alpha", roleless)
        response = await client.request(
            method, _fill(path, "alpha"), json={}, headers={"X-CSRF-Token": csrf}
        )
    # 403, or 404 where the object itself does not exist for anyone (a made-up token id).
    assert response.status_code in {403, 404}, (path, method, response.status_code)
    assert "admin@alpha.test" not in response.text
