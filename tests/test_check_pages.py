"""The staff page of a record's checks: run from the browser form, read back, scoped."""

from __future__ import annotations

from .conftest import ClientFactory, TenantFixture, sign_in
from .records_helpers import VALID, new_user, records_url


async def test_staff_run_checks_from_the_record_and_read_them(
    make_client: ClientFactory, tenants: dict[str, TenantFixture]
) -> None:
    beta = tenants["beta"]
    async with make_client() as admin:
        csrf = await sign_in(admin, "beta", beta.admin_email)
        for plugin in ("sandbox.registry", "sandbox.judicial"):
            enabled = await admin.put(
                f"/t/beta/api/plugins/{plugin}", json={}, headers={"X-CSRF-Token": csrf}
            )
            assert enabled.status_code == 200
    owner, _ = await new_user(beta, ["account_manager"])
    async with make_client() as client:
        csrf = await sign_in(client, "beta", owner)
        created = await client.post(
            records_url("beta"),
            json={"data": {**VALID, "applicant_name": "成都失信机械有限公司"}},
            headers={"X-CSRF-Token": csrf},
        )
        page = f"/t/beta/forms/application/records/{created.json()['id']}"
        record = await client.get(page)
        assert f'href="{page}/checks"' in record.text
        empty = await client.get(f"{page}/checks")
        assert empty.status_code == 200 and "尚未查询" in empty.text
        ran = await client.post(
            f"{page}/checks",
            data={"csrf_token": csrf, "check|registry": "on", "check|court": "on"},
        )
        assert ran.status_code == 303 and "o=registry:ok" in ran.headers["location"]
        shown = await client.get(ran.headers["location"])
    assert "查询完成" in shown.text and "失信被执行 1 条" in shown.text
    assert "工商信息" in shown.text and "成都失信机械有限公司" in shown.text

    stranger, _ = await new_user(beta, ["account_manager"])
    async with make_client() as client:
        await sign_in(client, "beta", stranger)
        assert (await client.get(f"{page}/checks")).status_code == 404
