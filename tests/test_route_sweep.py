"""Every tenant route, generated from the route table, tried by the wrong callers.

A new route is covered without anyone remembering: anonymous callers and callers
signed in to another tenant get a refusal and nothing of the tenant's data.
"""

from __future__ import annotations

import re

import pytest
from starlette.routing import Route

from danbao.web import api, pages

from .conftest import ClientFactory, TenantFixture, sign_in

PUBLIC = {
    ("/t/{slug}/api/session", "POST"),
    ("/t/{slug}/api/openapi.json", "GET"),
    ("/t/{slug}/login", "GET"),
    ("/t/{slug}/login", "POST"),
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
    path = path.replace("{slug}", slug)
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
