"""The tenant administrator's plug-in API: list, configure (validated), test the connection."""

from __future__ import annotations

import asyncio
import json

from redis.asyncio import Redis

from danbao.authz.propagation import CHANNEL
from danbao.plugins import catalog

from .conftest import REDIS_URL, ClientFactory, TenantFixture, sign_in


def url(slug: str, rest: str = "") -> str:
    return f"/t/{slug}/api/plugins{rest}"


async def test_every_bundled_sandbox_is_installed_through_its_entry_point() -> None:
    installed = catalog.installed()
    for kind_plugin in (
        "sandbox.credit",
        "sandbox.registry",
        "sandbox.judicial",
        "sandbox.messaging",
        "sandbox.timestamping",
    ):
        assert installed[kind_plugin].sandbox


async def test_admin_configures_and_tests_a_plugin(
    make_client: ClientFactory, tenants: dict[str, TenantFixture]
) -> None:
    async with make_client() as client:
        csrf = await sign_in(client, "alpha", tenants["alpha"].admin_email)
        headers = {"X-CSRF-Token": csrf}
        listed = (await client.get(url("alpha"))).json()["items"]
        assert {"sandbox.credit", "sandbox.messaging"} <= {p["plugin"] for p in listed}

        not_yet = await client.post(url("alpha", "/sandbox.timestamping/health"), headers=headers)
        assert not_yet.status_code == 409
        assert not_yet.json()["error"]["code"] == "plugin_not_enabled"

        bad = await client.put(
            url("alpha", "/sandbox.messaging"),
            json={"settings": {"sender": 5, "colour": "red"}, "policy": {"max_attempts": 9}},
            headers=headers,
        )
        assert bad.status_code == 422
        pointers = {d["pointer"] for d in bad.json()["error"]["details"]}
        assert pointers == {"/settings", "/settings/sender", "/policy/max_attempts"}

        done = await client.put(
            url("alpha", "/sandbox.messaging"),
            json={"settings": {"sender": "担保云"}, "policy": {"rate_per_minute": 10}},
            headers=headers,
        )
        assert done.status_code == 200, done.text
        assert done.json()["enabled"] and done.json()["settings"] == {"sender": "担保云"}

        health = await client.post(url("alpha", "/sandbox.messaging/health"), headers=headers)
        assert health.status_code == 200 and health.json()["ok"] is True

        unknown = await client.put(url("alpha", "/no.such"), json={}, headers=headers)
        assert unknown.status_code == 404


async def test_a_user_without_admin_plugins_is_refused(
    make_client: ClientFactory, tenants: dict[str, TenantFixture]
) -> None:
    async with make_client() as client:
        csrf = await sign_in(client, "alpha", tenants["alpha"].manager_email)
        headers = {"X-CSRF-Token": csrf}
        assert (await client.get(url("alpha"))).status_code == 403
        put = await client.put(url("alpha", "/sandbox.messaging"), json={}, headers=headers)
        assert put.status_code == 403
        health = await client.post(url("alpha", "/sandbox.messaging/health"), headers=headers)
        assert health.status_code == 403


async def test_configuring_announces_the_tenant_to_every_process(
    make_client: ClientFactory, tenants: dict[str, TenantFixture]
) -> None:
    """Other processes drop the settings they opened (plugins/settings_cache.py)."""
    redis = Redis.from_url(REDIS_URL)
    listener = redis.pubsub()
    await listener.subscribe(CHANNEL)
    try:
        async with make_client() as client:
            csrf = await sign_in(client, "beta", tenants["beta"].admin_email)
            done = await client.put(
                url("beta", "/sandbox.messaging"),
                json={"settings": {"sender": "担保云"}},
                headers={"X-CSRF-Token": csrf},
            )
            assert done.status_code == 200, done.text
        heard: set[str] = set()
        async with asyncio.timeout(5):
            while str(tenants["beta"].id) not in heard:
                message = await listener.get_message(ignore_subscribe_messages=True, timeout=1)
                if message is not None:
                    heard.add(json.loads(message["data"]).get("tenant"))
    finally:
        await listener.aclose()
        await redis.aclose()
