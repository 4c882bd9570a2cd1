"""A tenant reached by host name: ``{slug}.{base domain}`` is served as ``/t/{slug}/…``."""

from __future__ import annotations

import dataclasses

import httpx

from danbao.config import Settings

from .conftest import PASSWORD, TenantFixture


async def test_subdomain_resolves_the_tenant(
    settings: Settings, tenants: dict[str, TenantFixture], app: object
) -> None:
    from danbao.web.app import create_app

    # The session's app already holds the database open; this second app shares it and
    # skips its own lifespan (which would close the database under the other tests).
    host_app = create_app(dataclasses.replace(settings, base_domain="danbao.example"))
    try:
        transport = httpx.ASGITransport(app=host_app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://beta.danbao.example"
        ) as client:
            signed_in = await client.post(
                "/api/session", json={"email": tenants["beta"].admin_email, "password": PASSWORD}
            )
            assert signed_in.status_code == 200, signed_in.text
            me = await client.get("/api/me")
            assert me.json()["tenant"]["slug"] == "beta"
        async with httpx.AsyncClient(
            transport=transport, base_url="http://nosuch.danbao.example"
        ) as client:
            assert (await client.get("/api/me")).status_code == 404
    finally:
        await host_app.state.services.close()
