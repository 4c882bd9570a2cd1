"""Publishing, listing and diffing definition versions through the API; all or nothing."""

from __future__ import annotations

import copy

from .conftest import ClientFactory, TenantFixture, sign_in


async def _files(client, slug: str, number: int) -> dict:  # type: ignore[no-untyped-def]
    response = await client.get(f"/t/{slug}/api/definitions/versions/{number}")
    assert response.status_code == 200, response.text
    return dict(response.json()["files"])


async def test_publish_list_and_diff(
    make_client: ClientFactory, tenants: dict[str, TenantFixture]
) -> None:
    async with make_client() as client:
        csrf = await sign_in(client, "beta", tenants["beta"].admin_email)
        headers = {"X-CSRF-Token": csrf}
        versions = (await client.get("/t/beta/api/definitions/versions")).json()["versions"]
        latest = versions[-1]["number"]
        files = await _files(client, "beta", latest)

        same = await client.post(
            "/t/beta/api/definitions/versions", json={"files": files}, headers=headers
        )
        assert same.status_code == 200 and same.json() == {
            "number": latest,
            "content_hash": versions[-1]["content_hash"],
            "created": False,
        }

        changed = copy.deepcopy(files)
        changed["tenant.json"]["short_name"] = "贝塔担保"
        published = await client.post(
            "/t/beta/api/definitions/versions",
            json={"files": changed, "note": "简称"},
            headers=headers,
        )
        assert published.status_code == 201, published.text
        new = published.json()["number"]
        assert new == latest + 1

        diff = (await client.get(f"/t/beta/api/definitions/diff?from={latest}&to={new}")).json()
        assert {"file": "tenant.json", "pointer": "/short_name"}.items() <= diff["changes"][
            0
        ].items()


async def test_invalid_bundle_is_refused_with_pointers_and_nothing_applied(
    make_client: ClientFactory, tenants: dict[str, TenantFixture]
) -> None:
    async with make_client() as client:
        csrf = await sign_in(client, "alpha", tenants["alpha"].admin_email)
        before = (await client.get("/t/alpha/api/definitions/versions")).json()["versions"]
        files = await _files(client, "alpha", before[-1]["number"])
        broken = copy.deepcopy(files)
        broken["tenant.json"]["unexpected"] = 1
        broken["tenant.json"]["locale"] = 42
        response = await client.post(
            "/t/alpha/api/definitions/versions",
            json={"files": broken},
            headers={"X-CSRF-Token": csrf},
        )
        after = (await client.get("/t/alpha/api/definitions/versions")).json()["versions"]
    assert response.status_code == 422
    details = response.json()["error"]["details"]
    assert len(details) >= 2
    assert all(d["file"] == "tenant.json" for d in details)
    assert {d["pointer"] for d in details} >= {"/unexpected", "/locale"}
    assert after == before


async def test_definitions_need_the_admin_grant(
    make_client: ClientFactory, tenants: dict[str, TenantFixture]
) -> None:
    async with make_client() as client:
        await sign_in(client, "alpha", tenants["alpha"].manager_email)
        assert (await client.get("/t/alpha/api/definitions/versions")).status_code == 403
        assert (await client.get("/t/alpha/api/definitions/versions/1")).status_code == 403


async def test_missing_version_is_404(
    make_client: ClientFactory, tenants: dict[str, TenantFixture]
) -> None:
    async with make_client() as client:
        await sign_in(client, "alpha", tenants["alpha"].admin_email)
        assert (await client.get("/t/alpha/api/definitions/versions/999")).status_code == 404
        assert (await client.get("/t/alpha/api/definitions/versions/x")).status_code == 400
