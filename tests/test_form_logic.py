"""Conditional logic and computed fields on real records (PostgreSQL, the JSON API), with
the demo guarantor 广信担保's application form: computed on every save, hidden values
dropped, required_when on submit, rows with their own conditions; and readonly_when on a
form built here."""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from tortoise.transactions import in_transaction

from danbao.config import REPO_ROOT
from danbao.db.models import AuditEvent
from danbao.provisioning import create_tenant
from danbao.tenancy.context import tenant_scope

from .conftest import PASSWORD, TEMPLATE, ClientFactory, TenantFixture, sign_in
from .records_helpers import VALID, new_user

GXDB = REPO_ROOT / "tenants" / "gxdb"
# A male legal representative born 1960-03-15: over 60 on any day of this test run.
OLD_ID = "11010519600315003X"
YOUNG_ID = "110105198503150035"

APPLICATION = {
    "branch": "chengdu",
    "business_type": "working_capital",
    "applicant_name": "成都锦程机械制造有限公司",
    "uscc": "91350100M000100Y43",
    "enterprise_size": "small",
    "industry": "C",
    "legal_rep_name": "王建国",
    "legal_rep_id_number": YOUNG_ID,
    "contact_mobile": "13800138000",
    "registered_capital_yuan": 10000000,
    "established_on": "2012-05-18",
    "amount": 2000000,
    "term_months": 12,
    "lending_bank": "icbc",
    "purpose": "购买原材料，补充流动资金",
    "shareholders": [
        {"name": "王建国", "holder_type": "person", "id_number": YOUNG_ID, "share_pct": 100}
    ],
}


def _url(slug: str, form: str, *parts: str) -> str:
    return "/".join([f"/t/{slug}/api/forms/{form}/records", *parts])


async def _tenant(bundle: Path) -> TenantFixture:
    slug = f"lg{uuid.uuid4().hex[:8]}"
    tenant, _ = await create_tenant(
        slug, bundle, admin_email=f"admin@{slug}.test", admin_password=PASSWORD, operator="tests"
    )
    return TenantFixture(slug, tenant.id, f"admin@{slug}.test", "")


@pytest.fixture(scope="module")
async def gx(app: Starlette) -> TenantFixture:
    return await _tenant(GXDB)


@pytest.fixture(scope="module")
async def locked(app: Starlette, tmp_path_factory: pytest.TempPathFactory) -> TenantFixture:
    """The starter template with an amount that locks once the term is over 36 months,
    and its loan section shown only outside agriculture."""
    target = Path(tmp_path_factory.mktemp("bundle")) / "b"
    shutil.copytree(TEMPLATE, target)
    path = target / "forms" / "application.json"
    form = json.loads(path.read_text(encoding="utf-8"))
    form["ui"]["fields"]["amount"]["readonly_when"] = "term_months > 36"
    form["ui"]["layout"][1]["visible_when"] = 'industry != "A"'
    path.write_text(json.dumps(form, ensure_ascii=False), encoding="utf-8")
    return await _tenant(target)


async def _manager(client: Any, tenant: TenantFixture) -> dict[str, str]:
    email, _ = await new_user(tenant, ["account_manager"], "chengdu_biz")
    return {"X-CSRF-Token": await sign_in(client, tenant.slug, email)}


async def test_computed_on_save_client_values_ignored(
    make_client: ClientFactory, gx: TenantFixture
) -> None:
    rows = [
        {
            "kind": "mortgage",
            "collateral": "RE01",
            "owner": "王建国",
            "certificate_no": "川(2024)成都市不动产权第0001号",
            "appraised_value_yuan": 3000000,
            "haircut": 0.3,
            "net_value_yuan": 99,  # the client's value: ignored
        },
        {
            "kind": "guarantee",
            "collateral": "GU01",
            "owner": "李四",
            "certificate_no": "不应保存",  # hidden for a guarantee: dropped
            "appraised_value_yuan": 333333.33,
            "haircut": 0.35,
        },
    ]
    data = {**APPLICATION, "counter_guarantees": rows, "coverage_ratio": 42, "legal_rep_age": 3}
    async with make_client() as client:
        headers = await _manager(client, gx)
        created = await client.post(
            _url(gx.slug, "application"), json={"data": data}, headers=headers
        )
        assert created.status_code == 201, created.text
        stored = created.json()["data"]
        record_url = _url(gx.slug, "application", created.json()["id"])
        # Halve the amount: the coverage follows on the next save, with nothing else sent.
        patched = await client.patch(
            record_url, json={"data": {"amount": 1000000}}, headers=headers
        )
    assert [r.get("net_value_yuan") for r in stored["counter_guarantees"]] == [2100000, 216666.66]
    assert "certificate_no" not in stored["counter_guarantees"][1]
    assert stored["counter_guarantees"][0]["certificate_no"].startswith("川(2024)")
    assert stored["secured_value_yuan"] == 2316666.66
    assert stored["coverage_ratio"] == 1.1583  # 2,316,666.66 / 2,000,000, half-up to 4 places
    assert stored["legal_rep_age"] >= 40  # from the ID number, not the client's 3
    assert patched.status_code == 200, patched.text
    assert patched.json()["data"]["coverage_ratio"] == 2.3167
    with tenant_scope(gx.context):
        async with in_transaction():
            event = await AuditEvent.filter(
                action="record.updated", object_id=created.json()["id"]
            ).first()
    assert event is not None
    changed = {c["pointer"] for c in event.data["changes"]}
    assert changed == {"/amount", "/coverage_ratio"}


async def test_hidden_values_are_dropped_and_required_when_applies_on_submit(
    make_client: ClientFactory, gx: TenantFixture
) -> None:
    async with make_client() as client:
        headers = await _manager(client, gx)
        data = {**APPLICATION, "related_party": False, "related_party_note": "不应保存的说明"}
        created = await client.post(
            _url(gx.slug, "application"), json={"data": data}, headers=headers
        )
        assert created.status_code == 201, created.text
        assert "related_party_note" not in created.json()["data"]
        record_url = _url(gx.slug, "application", created.json()["id"])
        # Related now, and the legal representative over 60: two fields become required.
        patch = {"related_party": True, "legal_rep_id_number": OLD_ID}
        saved = await client.patch(record_url, json={"data": patch}, headers=headers)
        assert saved.status_code == 200, saved.text  # a draft may be incomplete
        refused = await client.post(record_url + "/submit", headers=headers)
        assert refused.status_code == 422
        details = {d["pointer"]: d["message"] for d in refused.json()["error"]["details"]}
        assert details == {
            "/related_party_note": "关联关系说明为必填项",
            "/succession_plan": "接班人安排为必填项",
        }
        fix = {
            "related_party_note": "申请人为本公司股东的关联企业",
            "succession_plan": "长子王磊已任总经理三年",
        }
        await client.patch(record_url, json={"data": fix}, headers=headers)
        submitted = await client.post(record_url + "/submit", headers=headers)
    assert submitted.status_code == 200, submitted.text
    assert submitted.json()["number"].startswith("GX-")
    assert submitted.json()["data"]["legal_rep_age"] >= 60


async def test_rows_required_when_and_english_messages(
    make_client: ClientFactory, gx: TenantFixture
) -> None:
    row = {
        "kind": "mortgage",
        "collateral": "MV02",
        "owner": "王建国",
        "appraised_value_yuan": 1,
    }
    async with make_client() as client:
        headers = await _manager(client, gx)
        data = {**APPLICATION, "counter_guarantees": [row]}
        created = await client.post(
            _url(gx.slug, "application"), json={"data": data}, headers=headers
        )
        refused = await client.post(
            _url(gx.slug, "application", created.json()["id"], "submit") + "?lang=en",
            headers=headers,
        )
    assert refused.status_code == 422
    assert refused.json()["error"]["details"] == [
        {"pointer": "/counter_guarantees/0/certificate_no", "message": "权证编号 is required"}
    ]


async def test_a_hidden_required_field_is_not_required(
    make_client: ClientFactory, locked: TenantFixture
) -> None:
    """The template requires amount, term and purpose; hidden (section) they are not, and
    their values are dropped."""
    async with make_client() as client:
        headers = await _manager(client, locked)
        agri = {**VALID, "industry": "A"}
        created = await client.post(
            _url(locked.slug, "application"), json={"data": agri}, headers=headers
        )
        assert created.status_code == 201, created.text
        assert not {"amount", "term_months", "purpose"} & set(created.json()["data"])
        submitted = await client.post(
            _url(locked.slug, "application", created.json()["id"], "submit"), headers=headers
        )
    assert submitted.status_code == 200, submitted.text


async def test_readonly_when_keeps_the_stored_value(
    make_client: ClientFactory, locked: TenantFixture
) -> None:
    async with make_client() as client:
        headers = await _manager(client, locked)
        data = {**VALID, "amount": 6000000, "term_months": 48}
        created = await client.post(
            _url(locked.slug, "application"), json={"data": data}, headers=headers
        )
        assert created.status_code == 201, created.text
        # Locked on a new record: nothing is stored to keep, so the amount is not taken.
        assert "amount" not in created.json()["data"]
        record_url = _url(locked.slug, "application", created.json()["id"])
        unlocked = await client.patch(
            record_url, json={"data": {"term_months": 24, "amount": 6000000}}, headers=headers
        )
        assert unlocked.json()["data"]["amount"] == 6000000
        relock = await client.patch(record_url, json={"data": {"term_months": 48}}, headers=headers)
        assert relock.json()["data"]["term_months"] == 48
        kept = await client.patch(record_url, json={"data": {"amount": 9000000}}, headers=headers)
    assert kept.status_code == 200, kept.text
    assert kept.json()["data"]["amount"] == 6000000
    assert kept.json()["revision"] == relock.json()["revision"]  # nothing changed
