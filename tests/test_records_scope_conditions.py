"""Data-scope conditions applied inside the records query on PostgreSQL: lists, counts,
search, exports, single-record reads and edits agree, and the explainer names the
condition that kept a record out."""

from __future__ import annotations

import copy
import csv
import io
import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from danbao.definitions import load_bundle
from danbao.provisioning import create_tenant

from .conftest import PASSWORD, TEMPLATE, ClientFactory, TenantFixture, sign_in
from .records_helpers import new_user, records_url

# Roles the test bundle adds to the starter template, each scoped by a condition.
SCOPES: dict[str, Any] = {
    "big_ticket": {"condition": "amount > 5000000"},
    "branch_head": {
        "kind": "department",
        "condition": "branch == user.department && !(industry in ['H'])",
    },
    "rated": {"condition": "has(guarantor.rating) && guarantor.rating >= 3 || 'vip' in user.roles"},
    "flagged": {"condition": "related"},
    "not_mianyang": {"condition": "!(branch == 'mianyang')"},
}
BIG = "/data_scopes/big_ticket/form:application/condition"


def scoped_bundle(target: Path) -> Path:
    """The starter template plus a branch, a nested guarantor rating and a boolean on the
    form, and four roles whose scopes are conditions."""
    files = load_bundle(TEMPLATE).to_dict()
    form = files["forms/application.json"]
    form["schema"]["properties"] |= {
        "branch": {"type": "string", "title": "经办机构"},
        "guarantor": {
            "type": "object",
            "title": "保证人",
            "properties": {"rating": {"type": "integer", "title": "评级"}},
        },
        "related": {"type": "boolean", "title": "关联方"},
    }
    form["ui"]["layout"][-1]["fields"] += ["branch", "guarantor", "related"]
    perms = files["permissions.json"]
    for role in SCOPES:
        perms["roles"].append({"id": role, "name": {"zh-CN": role}})
        perms["grants"][role] = {"form:application": ["read", "update", "export"]}
        perms["data_scopes"][role] = {"form:application": copy.deepcopy(SCOPES[role])}
    perms["roles"].append({"id": "vip", "name": {"zh-CN": "贵宾"}})
    perms["departments"].append({"id": "chengdu", "name": {"zh-CN": "成都"}, "parent": "hq"})
    for path, content in files.items():
        out = target / path
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(content, ensure_ascii=False), encoding="utf-8")
    return target


@pytest.fixture(scope="module")
async def scoped(app: Starlette, tmp_path_factory: pytest.TempPathFactory) -> TenantFixture:
    slug = f"cond{uuid.uuid4().hex[:8]}"
    bundle = scoped_bundle(Path(tmp_path_factory.mktemp("bundle")) / "b")
    tenant, _ = await create_tenant(
        slug, bundle, admin_email=f"admin@{slug}.test", admin_password=PASSWORD, operator="tests"
    )
    return TenantFixture(slug, tenant.id, f"admin@{slug}.test", "")


# (label, data, creator's department): created by account managers.
RECORDS: list[tuple[str, dict[str, Any], str]] = [
    ("small", {"amount": 3_000_000, "branch": "chengdu", "industry": "I"}, "chengdu"),
    ("big", {"amount": 8_000_000, "branch": "chengdu", "industry": "H"}, "chengdu"),
    ("huge", {"amount": 12_000_000, "branch": "mianyang", "related": True}, "business"),
    ("edge", {"amount": 5_000_000, "branch": "chengdu", "industry": "F"}, "chengdu"),
    ("none", {"branch": "chengdu", "guarantor": {"rating": 4}}, "chengdu"),
    ("elsewhere", {"amount": 1_000, "branch": "chengdu", "guarantor": {"rating": 2}}, "business"),
    ("unflagged", {"amount": 2_000, "related": False, "guarantor": {}}, "business"),
]
EXPECTED = {
    "big_ticket": {"big", "huge"},
    # Created in chengdu, branch chengdu, not catering (H); "none" has no industry, and (as in
    # CEL) a test on a missing field is neither true nor, negated, true.
    "branch_head": {"small", "edge"},
    "rated": {"none"},
    "flagged": {"huge"},
    # A record without a branch is not "not in mianyang": the test on it is unknown.
    "not_mianyang": {"small", "big", "edge", "none", "elsewhere"},
}


@pytest.fixture(scope="module")
async def made(make_client_module: ClientFactory, scoped: TenantFixture) -> dict[str, str]:
    """label -> record id; each record's applicant name is ``条件测试-<label>``."""
    ids = {}
    for label, data, department in RECORDS:
        email, _ = await new_user(scoped, ["account_manager"], department)
        async with make_client_module() as client:
            csrf = await sign_in(client, scoped.slug, email)
            body = {"data": {"applicant_name": f"条件测试-{label}", **data}}
            created = await client.post(
                records_url(scoped.slug), json=body, headers={"X-CSRF-Token": csrf}
            )
        assert created.status_code == 201, created.text
        ids[label] = created.json()["id"]
    return ids


@pytest.fixture(scope="module")
def make_client_module(app: Starlette) -> ClientFactory:
    def factory() -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        )

    return factory


def labels(items: list[dict[str, Any]]) -> set[str]:
    return {i["data"]["applicant_name"].removeprefix("条件测试-") for i in items}


@pytest.mark.parametrize("role", sorted(EXPECTED))
async def test_list_count_search_get_and_export_agree(
    make_client: ClientFactory, scoped: TenantFixture, made: dict[str, str], role: str
) -> None:
    email, _ = await new_user(scoped, [role], "chengdu")
    expected = EXPECTED[role]
    async with make_client() as client:
        await sign_in(client, scoped.slug, email)
        listed = (await client.get(records_url(scoped.slug), params={"per_page": 100})).json()
        paged = (await client.get(records_url(scoped.slug), params={"per_page": 1})).json()
        searched = (await client.get(records_url(scoped.slug), params={"q": "条件测试"})).json()
        exported = await client.get(records_url(scoped.slug, "export.csv"))
        shown = {
            label: (await client.get(records_url(scoped.slug, rid))).status_code
            for label, rid in made.items()
        }
    assert labels(listed["items"]) == expected
    assert listed["total"] == paged["total"] == len(expected)  # the count is scoped too
    assert len(paged["items"]) == 1
    assert labels(searched["items"]) == expected and searched["total"] == len(expected)
    assert exported.status_code == 200
    rows = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))[1:]
    assert {r[0] or "" for r in rows} == {""} and len(rows) == len(expected)  # drafts, no number
    names = {cell.removeprefix("条件测试-") for row in rows for cell in row if "条件测试" in cell}
    assert names == expected
    assert {label for label, status in shown.items() if status == 200} == expected
    assert {status for label, status in shown.items() if label not in expected} == {404}


async def test_an_edit_outside_the_condition_is_a_404(
    make_client: ClientFactory, scoped: TenantFixture, made: dict[str, str]
) -> None:
    email, _ = await new_user(scoped, ["big_ticket"], "chengdu")
    async with make_client() as client:
        csrf = await sign_in(client, scoped.slug, email)
        headers = {"X-CSRF-Token": csrf}
        outside = await client.patch(
            records_url(scoped.slug, made["small"]),
            json={"data": {"purpose": "改到范围外的记录"}},
            headers=headers,
        )
        inside = await client.patch(
            records_url(scoped.slug, made["huge"]),
            json={"data": {"purpose": "范围内的记录可以修改"}},
            headers=headers,
        )
    assert outside.status_code == 404
    assert inside.status_code == 200, inside.text


async def test_roles_add_up_and_a_condition_on_user_roles(
    make_client: ClientFactory, scoped: TenantFixture, made: dict[str, str]
) -> None:
    both, _ = await new_user(scoped, ["big_ticket", "flagged"], "chengdu")
    vip, _ = await new_user(scoped, ["rated", "vip"], "chengdu")
    async with make_client() as client:
        await sign_in(client, scoped.slug, both)
        union = (await client.get(records_url(scoped.slug))).json()
    async with make_client() as client:
        await sign_in(client, scoped.slug, vip)
        everything = (await client.get(records_url(scoped.slug), params={"per_page": 100})).json()
    assert labels(union["items"]) == {"big", "huge"}
    assert labels(everything["items"]) >= {label for label, _, _ in RECORDS}


async def test_a_user_in_no_department_gets_nothing_from_a_department_condition(
    make_client: ClientFactory, scoped: TenantFixture, made: dict[str, str]
) -> None:
    email, _ = await new_user(scoped, ["branch_head"], None)
    async with make_client() as client:
        await sign_in(client, scoped.slug, email)
        listed = (await client.get(records_url(scoped.slug))).json()
    assert listed == {"items": [], "total": 0, "page": 1, "per_page": 20}


async def test_the_explainer_names_the_condition_that_decided(
    make_client: ClientFactory, scoped: TenantFixture, made: dict[str, str]
) -> None:
    email, _ = await new_user(scoped, ["big_ticket"], "chengdu")
    query = {"user": email, "resource": "form:application", "action": "read"}
    url = f"/t/{scoped.slug}/api/authz/explain"
    async with make_client() as client:
        await sign_in(client, scoped.slug, scoped.admin_email)
        outside = (await client.get(url, params=query | {"record": made["small"]})).json()
        inside = (await client.get(url, params=query | {"record": made["big"]})).json()
        missing = await client.get(url, params=query | {"record": str(uuid.uuid4())})
        not_a_form = await client.get(
            url, params=query | {"resource": "admin:users", "record": made["big"]}
        )
        page = await client.get(
            f"/t/{scoped.slug}/admin/explain", params=query | {"record": made["small"]}
        )
    assert outside["allowed"] is True
    record = outside["record"]
    assert record["in_scope"] is False and record["role"] == "big_ticket"
    assert record["condition"] == "amount > 5000000"
    assert record["condition_pointer"] == f"permissions.json#{BIG}"
    assert "amount > 5000000" in record["reason"] and BIG in record["reason"]
    assert record["parts"] == [
        {
            "role": "big_ticket",
            "kind": "all",
            "pointer": "permissions.json#/data_scopes/big_ticket/form:application",
            "condition": "amount > 5000000",
            "condition_pointer": f"permissions.json#{BIG}",
            "kind_holds": True,
            "condition_holds": False,
        }
    ]
    assert inside["record"]["in_scope"] is True and inside["record"]["role"] == "big_ticket"
    assert missing.status_code == 404
    assert not_a_form.status_code == 400
    assert page.status_code == 200
    assert 'data-in-scope="no"' in page.text
    assert "amount &gt; 5000000" in page.text and BIG in page.text


async def test_the_explainer_on_a_kind_that_keeps_a_record_out(
    make_client: ClientFactory, scoped: TenantFixture, made: dict[str, str]
) -> None:
    email, _ = await new_user(scoped, ["branch_head"], "chengdu")
    query = {"user": email, "resource": "form:application", "action": "read"}
    async with make_client() as client:
        await sign_in(client, scoped.slug, scoped.admin_email)
        # Created in another department: the kind fails, whatever the condition says.
        elsewhere = await client.get(
            f"/t/{scoped.slug}/api/authz/explain", params=query | {"record": made["elsewhere"]}
        )
        catering = await client.get(
            f"/t/{scoped.slug}/api/authz/explain", params=query | {"record": made["big"]}
        )
    record = elsewhere.json()["record"]
    assert record["in_scope"] is False and record["role"] is None
    assert record["parts"][0]["kind_holds"] is False
    assert "outside every scope held" in record["reason"]
    assert catering.json()["record"]["condition_pointer"] == (
        "permissions.json#/data_scopes/branch_head/form:application/condition"
    )


async def test_a_bad_condition_is_refused_at_publish_and_nothing_changes(
    make_client: ClientFactory, scoped: TenantFixture
) -> None:
    url = f"/t/{scoped.slug}/api/definitions/versions"
    async with make_client() as client:
        csrf = await sign_in(client, scoped.slug, scoped.admin_email)
        before = (await client.get(url)).json()["versions"]
        current = (await client.get(f"{url}/{before[-1]['number']}")).json()["files"]
        bad = copy.deepcopy(current)
        bad["permissions.json"]["data_scopes"]["big_ticket"]["form:application"] = {
            "condition": "amount > '5000000' && missing_field == 1"
        }
        refused = await client.post(url, json={"files": bad}, headers={"X-CSRF-Token": csrf})
        after = (await client.get(url)).json()["versions"]
    assert refused.status_code == 422
    details = refused.json()["error"]["details"]
    assert {(d["file"], d["pointer"]) for d in details} == {("permissions.json", BIG)}
    assert any(
        "compares 'amount' (number) with '5000000' (string)" in d["message"] for d in details
    )
    assert after == before
