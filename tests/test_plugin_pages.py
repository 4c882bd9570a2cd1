"""The administrator's plug-in page: generated settings forms, secrets never shown, tests."""

from __future__ import annotations

import uuid

import pytest
from starlette.applications import Starlette

from danbao.provisioning import create_tenant

from .conftest import PASSWORD, TEMPLATE, ClientFactory, TenantFixture, sign_in

PAGE = "/t/{slug}/admin/plugins"
SECRET = "page-secret-value-9876"


@pytest.fixture(scope="module")
async def own(app: Starlette) -> TenantFixture:
    """A tenant of its own: enabling plug-ins here must not change the shared tenants
    (test_plugins_esign_cn expects gamma never to have enabled e签宝)."""
    slug = f"plg{uuid.uuid4().hex[:8]}"
    tenant, _ = await create_tenant(
        slug, TEMPLATE, admin_email=f"admin@{slug}.test", admin_password=PASSWORD, operator="tests"
    )
    return TenantFixture(slug, tenant.id, f"admin@{slug}.test", "")


async def test_admin_enables_configures_and_tests_plugins_in_the_browser_form(
    make_client: ClientFactory, own: TenantFixture
) -> None:
    page = PAGE.format(slug=own.slug)
    async with make_client() as client:
        csrf = await sign_in(client, own.slug, own.admin_email)
        shown = await client.get(page)
        assert shown.status_code == 200
        assert "消息通知（沙箱）" in shown.text and "e签宝" in shown.text

        bad = await client.post(
            f"{page}/esign.v3",
            data={"csrf_token": csrf, "enabled": "on", "s|app_id": "ab", "s|app_secret": SECRET},
        )
        assert bad.status_code == 422
        assert 'class="field-error"' in bad.text and SECRET not in bad.text

        saved = await client.post(
            f"{page}/esign.v3",
            data={
                "csrf_token": csrf,
                "enabled": "on",
                "s|app_id": "7438TEST",
                "s|app_secret": SECRET,
                "s|environment": "sandbox",
                "p|timeout_s": "8",
            },
        )
        assert saved.status_code == 303, saved.text
        after = await client.get(page)
        assert SECRET not in after.text  # never shown again
        assert "已设置（留空则不变）" in after.text and 'value="7438TEST"' in after.text

        # Saving again without the secret keeps it: the test button still has settings.
        again = await client.post(
            f"{page}/sandbox.messaging",
            data={"csrf_token": csrf, "enabled": "on", "s|sender": "担保云"},
        )
        assert again.status_code == 303
        tested = await client.post(f"{page}/sandbox.messaging/test", data={"csrf_token": csrf})
        assert tested.status_code == 200 and "连接正常" in tested.text

        missing = await client.post(f"{page}/no.such", data={"csrf_token": csrf})
        assert missing.status_code == 404


async def test_the_plugin_page_needs_admin_plugins(
    make_client: ClientFactory, tenants: dict[str, TenantFixture]
) -> None:
    async with make_client() as client:
        csrf = await sign_in(client, "gamma", tenants["gamma"].manager_email)
        assert (await client.get(PAGE.format(slug="gamma"))).status_code == 403
        refused = await client.post(
            PAGE.format(slug="gamma") + "/sandbox.messaging", data={"csrf_token": csrf}
        )
        assert refused.status_code == 403
