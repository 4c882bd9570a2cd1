"""Due-diligence checks on a record: run through the tenant's plug-ins, kept with the record."""

from __future__ import annotations

import uuid

from tortoise.transactions import in_transaction

from danbao.db.models import AuditEvent, StoredFile
from danbao.tenancy.context import tenant_scope

from .conftest import ClientFactory, TenantFixture, sign_in
from .records_helpers import VALID, new_user, records_url

DISHONEST = "成都失信机械有限公司"


async def _enable(client, slug: str, csrf: str, *plugins: str) -> None:  # type: ignore[no-untyped-def]
    for plugin in plugins:
        answer = await client.put(
            f"/t/{slug}/api/plugins/{plugin}", json={"settings": {}}, headers={"X-CSRF-Token": csrf}
        )
        assert answer.status_code == 200, answer.text


async def _consent(tenant: TenantFixture) -> str:
    with tenant_scope(tenant.context):
        async with in_transaction():
            row = await StoredFile.create(
                key=f"consent/{uuid.uuid4()}.pdf",
                filename="授权书.pdf",
                content_type="application/pdf",
                size=1,
                sha256="0" * 64,
                created_by="t",
            )
    return str(row.id)


async def test_checks_run_independently_and_stay_with_the_record(
    make_client: ClientFactory, tenants: dict[str, TenantFixture]
) -> None:
    alpha = tenants["alpha"]
    manager, _ = await new_user(alpha, ["account_manager"])
    risk, _ = await new_user(alpha, ["risk_officer"])
    async with make_client() as admin:
        csrf = await sign_in(admin, "alpha", alpha.admin_email)
        await _enable(
            admin, "alpha", csrf, "sandbox.registry", "sandbox.judicial", "sandbox.credit"
        )
    async with make_client() as client:
        csrf = await sign_in(client, "alpha", manager)
        headers = {"X-CSRF-Token": csrf}
        created = await client.post(
            records_url("alpha"),
            json={"data": {**VALID, "applicant_name": DISHONEST}},
            headers=headers,
        )
        assert created.status_code == 201, created.text
        checks_url = records_url("alpha", created.json()["id"], "checks")

        ran = await client.post(
            checks_url, json={"checks": ["registry", "court", "credit"]}, headers=headers
        )
        assert ran.status_code == 200, ran.text
        outcomes = {o["check"]: o for o in ran.json()["outcomes"]}
        assert outcomes["registry"]["ok"] and outcomes["court"]["ok"]
        assert len(outcomes["court"]["result_ids"]) == 2  # the company and its representative
        # No consent on file: the credit check alone is refused; the others still stand.
        assert not outcomes["credit"]["ok"] and outcomes["credit"]["error"] == "consent_required"

        consent = await _consent(alpha)
        again = await client.post(
            checks_url, json={"checks": ["credit"], "consent_document_id": consent}, headers=headers
        )
        assert again.json()["outcomes"][0]["ok"], again.text

        bad = await client.post(checks_url, json={"checks": ["horoscope"]}, headers=headers)
        assert bad.status_code == 422 and bad.json()["error"]["details"][0]["pointer"] == "/checks"

        mine = (await client.get(checks_url)).json()["items"]
    by_operation = {i["operation"]: i for i in mine}
    court = [i for i in mine if i["operation"] == "court_records"]
    assert any(i["result"]["dishonest"] for i in court)
    assert by_operation["company_profile"]["result"]["uscc"] == VALID["uscc"]
    # An account manager may not unmask: the credit report is listed but not shown.
    assert (
        by_operation["credit_report"]["hidden"] and by_operation["credit_report"]["result"] is None
    )

    async with make_client() as client:
        await sign_in(client, "alpha", risk)
        seen = {i["operation"]: i for i in (await client.get(checks_url)).json()["items"]}
    assert seen["credit_report"]["result"]["summary"]["accounts"] >= 1

    with tenant_scope(alpha.context):
        async with in_transaction():
            events = await AuditEvent.filter(action="plugin.called").order_by("-seq").limit(5)
    # registry 1, court 2 (company and representative), credit refused 1, credit 1
    assert {e.data["record_id"] for e in events} == {created.json()["id"]}
    assert {e.data["purpose"] for e in events} == {"due_diligence"}


async def test_checks_need_update_and_the_record_in_scope(
    make_client: ClientFactory, tenants: dict[str, TenantFixture]
) -> None:
    alpha = tenants["alpha"]
    owner, _ = await new_user(alpha, ["account_manager"], "chengdu")
    legal, _ = await new_user(alpha, ["legal"])
    async with make_client() as client:
        csrf = await sign_in(client, "alpha", owner)
        created = await client.post(
            records_url("alpha"), json={"data": VALID}, headers={"X-CSRF-Token": csrf}
        )
    checks_url = records_url("alpha", created.json()["id"], "checks")
    async with make_client() as client:
        csrf = await sign_in(client, "alpha", legal)
        refused = await client.post(
            checks_url, json={"checks": ["registry"]}, headers={"X-CSRF-Token": csrf}
        )
    assert refused.status_code == 403
    other, _ = await new_user(alpha, ["account_manager"], "mianyang")
    async with make_client() as client:
        csrf = await sign_in(client, "alpha", other)
        hidden = await client.post(
            checks_url, json={"checks": ["registry"]}, headers={"X-CSRF-Token": csrf}
        )
        listing = await client.get(checks_url)
    assert hidden.status_code == 404 and listing.status_code == 404
