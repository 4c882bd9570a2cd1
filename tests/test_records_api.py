"""Records through the HTTP API: drafts, validation, submission, scopes, field rules,
and the walls between tenants."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from starlette.applications import Starlette
from tortoise.transactions import in_transaction

from danbao.audit import verify_chain
from danbao.db.models import AuditEvent
from danbao.provisioning import create_tenant
from danbao.tenancy.context import tenant_scope

from .conftest import PASSWORD, ClientFactory, TenantFixture, sign_in
from .records_helpers import (
    BAD_CHECKSUM_ID,
    VALID,
    VALID_ID,
    checked_bundle,
    counts,
    new_user,
    records_url,
)

NUMBER = re.compile(r"DB-\d{4}-\d{5}")  # the template's "project" rule: DB-{yyyy}-{seq:05}


@pytest.fixture(scope="module")
async def checked(app: Starlette, tmp_path_factory: pytest.TempPathFactory) -> TenantFixture:
    """A tenant whose form checks ID numbers by format (the template's only by pattern)."""
    slug = f"rec{uuid.uuid4().hex[:8]}"
    bundle = checked_bundle(Path(tmp_path_factory.mktemp("bundle")) / "b")
    tenant, _ = await create_tenant(
        slug, bundle, admin_email=f"admin@{slug}.test", admin_password=PASSWORD, operator="tests"
    )
    return TenantFixture(slug, tenant.id, f"admin@{slug}.test", "")


async def test_create_update_submit(
    make_client: ClientFactory, tenants: dict[str, TenantFixture]
) -> None:
    alpha = tenants["alpha"]
    email, user_id = await new_user(alpha, ["account_manager"], "business")
    async with make_client() as client:
        csrf = await sign_in(client, "alpha", email)
        headers = {"X-CSRF-Token": csrf}
        first = {k: VALID[k] for k in ("applicant_name", "amount")}
        created = await client.post(records_url("alpha"), json={"data": first}, headers=headers)
        assert created.status_code == 201, created.text
        record = created.json()
        assert record["status"] == "draft" and record["number"] is None
        assert record["created_by"] == str(user_id) and record["department"] == "business"
        url = records_url("alpha", record["id"])
        rest = {k: v for k, v in VALID.items() if k not in first}
        updated = await client.patch(url, json={"data": rest, "version": 1}, headers=headers)
        assert updated.status_code == 200, updated.text
        assert updated.json()["data"] == VALID and updated.json()["revision"] == 2
        stale = await client.patch(
            url, json={"data": {"term_months": 6}, "version": 1}, headers=headers
        )
        assert stale.status_code == 409
        submitted = await client.post(url + "/submit", headers=headers)
        assert submitted.status_code == 200, submitted.text
        assert NUMBER.fullmatch(submitted.json()["number"])
        assert submitted.json()["status"] == "submitted"
        again = await client.patch(url, json={"data": {"term_months": 6}}, headers=headers)
        shown = await client.get(url)
        listed = await client.get(records_url("alpha"), params={"q": "福州测试"})
    assert again.status_code == 409
    assert shown.json()["number"] == submitted.json()["number"]
    assert [r["id"] for r in listed.json()["items"]] == [record["id"]], listed.text
    with tenant_scope(alpha.context):
        async with in_transaction():
            events = await AuditEvent.filter(object_id=record["id"]).order_by("seq")
            chain = await verify_chain()
    assert [e.action for e in events] == ["record.created", "record.updated", "record.submitted"]
    changes = {c["pointer"]: c for c in events[1].data["changes"]}
    # Sensitive fields say only that they changed; the others keep old and new.
    assert changes["/legal_rep_id_number"] == {
        "pointer": "/legal_rep_id_number",
        "old": "[changed]",
        "new": "[changed]",
    }
    assert changes["/term_months"] == {"pointer": "/term_months", "old": None, "new": 12}
    assert VALID_ID not in str(events[1].data) and "13800138000" not in str(events[1].data)
    assert events[2].data == {"number": submitted.json()["number"]}
    assert chain.ok


@pytest.mark.parametrize(
    ("lang", "required"),
    [("zh-CN", "申请人名称为必填项"), ("en", "申请人名称 is required")],
)
async def test_invalid_submission_is_refused_with_pointers(
    make_client: ClientFactory,
    tenants: dict[str, TenantFixture],
    lang: str,
    required: str,
) -> None:
    alpha = tenants["alpha"]
    email, _ = await new_user(alpha, ["account_manager"])
    async with make_client() as client:
        csrf = await sign_in(client, "alpha", email)
        headers = {"X-CSRF-Token": csrf}
        before = await counts(alpha)
        bad = await client.post(
            records_url("alpha"),
            params={"lang": lang},
            json={"data": {"term_months": 0, "amount": "lots", "nonsense": 1}},
            headers=headers,
        )
        assert await counts(alpha) == before  # nothing saved, nothing audited
        draft = await client.post(
            records_url("alpha"), json={"data": {"purpose": "补充流动资金"}}, headers=headers
        )
        assert draft.status_code == 201
        before = await counts(alpha)
        submit = await client.post(
            records_url("alpha", draft.json()["id"], "submit"),
            params={"lang": lang},
            headers=headers,
        )
        assert await counts(alpha) == before
        shown = await client.get(records_url("alpha", draft.json()["id"]))
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid"
    details = {d["pointer"]: d["message"] for d in bad.json()["error"]["details"]}
    assert set(details) == {"/term_months", "/amount", "/nonsense"}
    assert "lots" not in bad.text
    if lang == "en":
        assert details["/term_months"] == "担保期限（月） must be at least 1"
        assert bad.json()["error"]["message"].startswith("The data")
    else:
        assert details["/term_months"] == "担保期限（月）不能小于1"
        assert details["/amount"] == "申请担保金额（元）应为数字"
    assert submit.status_code == 422
    submit_details = {d["pointer"]: d["message"] for d in submit.json()["error"]["details"]}
    assert "/applicant_name" in submit_details and "/purpose" not in submit_details
    assert required in submit_details["/applicant_name"]
    assert shown.json()["status"] == "draft" and shown.json()["number"] is None


async def test_bad_resident_id_is_explained_not_echoed(
    make_client: ClientFactory, checked: TenantFixture
) -> None:
    email, _ = await new_user(checked, ["account_manager"])
    async with make_client() as client:
        csrf = await sign_in(client, checked.slug, email)
        before = await counts(checked)
        response = await client.post(
            records_url(checked.slug),
            json={"data": {**VALID, "legal_rep_id_number": BAD_CHECKSUM_ID}},
            headers={"X-CSRF-Token": csrf},
        )
        after = await counts(checked)
    assert response.status_code == 422
    (detail,) = response.json()["error"]["details"]
    assert detail == {
        "pointer": "/legal_rep_id_number",
        "message": "法定代表人身份证号：身份证号码校验位不正确",
    }
    assert BAD_CHECKSUM_ID not in response.text
    assert after == before


async def test_data_scope_own_against_all(
    make_client: ClientFactory, tenants: dict[str, TenantFixture]
) -> None:
    alpha = tenants["alpha"]
    mine, _ = await new_user(alpha, ["account_manager"], "business")
    other, _ = await new_user(alpha, ["account_manager"], "business")
    risk, _ = await new_user(alpha, ["risk_officer"], "risk")
    async with make_client() as client:
        csrf = await sign_in(client, "alpha", mine)
        ids = []
        for name in ("甲公司", "乙公司", "丙公司"):
            made = await client.post(
                records_url("alpha"),
                json={"data": {"applicant_name": name}},
                headers={"X-CSRF-Token": csrf},
            )
            ids.append(made.json()["id"])
        own = (await client.get(records_url("alpha"), params={"per_page": 2})).json()
        page2 = (await client.get(records_url("alpha"), params={"per_page": 2, "page": 2})).json()
    assert own["total"] == 3 and len(own["items"]) == 2 and len(page2["items"]) == 1
    assert {r["id"] for r in own["items"] + page2["items"]} == set(ids)
    async with make_client() as client:
        await sign_in(client, "alpha", other)
        theirs = (await client.get(records_url("alpha"))).json()
        foreign = await client.get(records_url("alpha", ids[0]))
    assert theirs["total"] == 0 and theirs["items"] == []
    assert foreign.status_code == 404
    async with make_client() as client:
        await sign_in(client, "alpha", risk)
        everything = (await client.get(records_url("alpha"), params={"per_page": 100})).json()
        one = await client.get(records_url("alpha", ids[0]))
        by_name = (await client.get(records_url("alpha"), params={"q": "乙公司"})).json()
    assert everything["total"] >= 3 and one.status_code == 200
    assert [r["id"] for r in by_name["items"]] == [ids[1]]


async def test_field_rules_mask_and_guard_writes(
    make_client: ClientFactory, checked: TenantFixture
) -> None:
    manager, _ = await new_user(checked, ["account_manager"])
    finance, _ = await new_user(checked, ["finance"])
    risk, _ = await new_user(checked, ["risk_officer"])
    async with make_client() as client:
        csrf = await sign_in(client, checked.slug, manager)
        made = await client.post(
            records_url(checked.slug), json={"data": VALID}, headers={"X-CSRF-Token": csrf}
        )
    url = records_url(checked.slug, made.json()["id"])
    async with make_client() as client:
        csrf = await sign_in(client, checked.slug, finance)
        seen = (await client.get(url)).json()["data"]
        edit = await client.patch(
            url, json={"data": {"term_months": 6}}, headers={"X-CSRF-Token": csrf}
        )
    assert seen["legal_rep_id_number"] == "1101**********002X"
    assert (
        seen["contact_mobile"] == "138****8000"
        and seen["applicant_name"] == VALID["applicant_name"]
    )
    # finance may read the form, not update it
    assert edit.status_code == 403 and edit.json()["error"]["code"] == "forbidden"
    async with make_client() as client:
        csrf = await sign_in(client, checked.slug, risk)
        headers = {"X-CSRF-Token": csrf}
        refused = await client.patch(
            url, json={"data": {"legal_rep_id_number": "110105194912310038"}}, headers=headers
        )
        allowed = await client.patch(url, json={"data": {"term_months": 24}}, headers=headers)
    assert refused.status_code == 422
    assert [d["pointer"] for d in refused.json()["error"]["details"]] == ["/legal_rep_id_number"]
    assert allowed.status_code == 200 and allowed.json()["data"]["term_months"] == 24
    assert allowed.json()["data"]["legal_rep_id_number"] == "1101**********002X"


async def test_other_tenants_cannot_reach_a_record(
    make_client: ClientFactory, tenants: dict[str, TenantFixture]
) -> None:
    alpha, beta = tenants["alpha"], tenants["beta"]
    async with make_client() as client:
        csrf = await sign_in(client, "alpha", alpha.manager_email)
        made = await client.post(
            records_url("alpha"),
            json={"data": {"applicant_name": "阿尔法"}},
            headers={"X-CSRF-Token": csrf},
        )
    record_id = made.json()["id"]
    async with make_client() as client:
        csrf = await sign_in(client, "beta", beta.admin_email)
        beta_cookie = client.cookies.get("danbao_session")
        risk, _ = await new_user(beta, ["risk_officer"])
    async with make_client() as client:
        await sign_in(client, "beta", risk)
        in_beta = await client.get(records_url("beta", record_id))
        submit_in_beta = await client.post(records_url("beta", record_id, "submit"))
    async with make_client() as client:
        client.cookies.set("danbao_session", beta_cookie)
        in_alpha = await client.get(records_url("alpha", record_id))
    assert in_beta.status_code == 404
    assert submit_in_beta.status_code in {403, 404}
    assert in_alpha.status_code == 401
    assert "阿尔法" not in in_beta.text + in_alpha.text


async def test_unknown_form_and_malformed_bodies(
    make_client: ClientFactory, tenants: dict[str, TenantFixture]
) -> None:
    async with make_client() as client:
        csrf = await sign_in(client, "alpha", tenants["alpha"].manager_email)
        headers = {"X-CSRF-Token": csrf, "Content-Type": "application/json"}
        unknown = await client.get("/t/alpha/api/forms/nope/records")
        broken = await client.post(records_url("alpha"), content=b"{", headers=headers)
        shapeless = await client.post(records_url("alpha"), json={"data": [1]}, headers=headers)
        bad_page = await client.get(records_url("alpha"), params={"per_page": 101})
    assert unknown.status_code == 404
    assert broken.status_code == 400 and shapeless.status_code == 400
    assert bad_page.status_code == 400
