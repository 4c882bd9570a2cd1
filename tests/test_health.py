"""``/healthz`` reports each dependency; the OpenAPI document lists the API."""

from __future__ import annotations

from .conftest import ClientFactory, TenantFixture


async def test_healthz_reports_each_dependency(make_client: ClientFactory) -> None:
    async with make_client() as client:
        response = await client.get("/healthz")
    body = response.json()
    assert response.status_code == 200, body
    assert body["mode"] == "production"
    assert set(body["checks"]) == {"database", "redis", "jobs", "storage"}
    assert all(check["ok"] for check in body["checks"].values())
    assert response.headers["x-request-id"]


async def test_openapi_document(
    make_client: ClientFactory, tenants: dict[str, TenantFixture]
) -> None:
    async with make_client() as client:
        doc = (await client.get("/t/alpha/api/openapi.json")).json()
    assert doc["openapi"].startswith("3.")
    assert "post" in doc["paths"]["/t/{slug}/api/session"]
    assert "get" in doc["paths"]["/t/{slug}/api/me"]
