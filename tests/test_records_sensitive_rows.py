"""Sensitive fields inside repeating rows (gxdb's ``shareholders[].id_number``): sealed per
value, indexed for equality search, masked by rules naming the row field, carried through
edits by roles that may not write them, revealed by row pointer and audited."""

from __future__ import annotations

import csv
import io
import json
import shutil
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from starlette.applications import Starlette
from tortoise.transactions import in_transaction

from danbao.authz.fields import FieldRule, FieldRules
from danbao.authz.masking import apply_field_rules, row_rule
from danbao.config import REPO_ROOT
from danbao.db.models import AuditEvent
from danbao.definitions import BundleInvalid, load_bundle
from danbao.jobs.worker import run_worker
from danbao.provisioning import create_tenant
from danbao.records.rows import keep_masked, refused_cells
from danbao.tenancy.context import tenant_scope

from .conftest import PASSWORD, REDIS_URL, ClientFactory, TenantFixture, sign_in
from .records_helpers import new_user
from .test_records_sensitive import fresh_id

GXDB = REPO_ROOT / "tenants" / "gxdb"
PATH = "shareholders.id_number"
COMMITTEE_AMOUNT = 6_000_000  # committee members see only applications over ¥5,000,000


def rows_bundle(target: Path) -> Path:
    """gxdb as shipped, plus: risk officers (who may update and export) see shareholders'
    ID numbers masked, so they edit shareholders without seeing or setting them."""
    shutil.copytree(GXDB, target)
    perms_path = target / "permissions.json"
    perms = json.loads(perms_path.read_text(encoding="utf-8"))
    perms["field_rules"]["risk_officer"] = {"application": {PATH: "masked"}}
    perms_path.write_text(json.dumps(perms, ensure_ascii=False), encoding="utf-8")
    return target


@pytest.fixture(scope="module")
async def gx(app: Starlette, tmp_path_factory: pytest.TempPathFactory) -> TenantFixture:
    slug = f"gx{uuid.uuid4().hex[:8]}"
    bundle = rows_bundle(Path(tmp_path_factory.mktemp("bundle")) / "b")
    tenant, _ = await create_tenant(
        slug, bundle, admin_email=f"admin@{slug}.test", admin_password=PASSWORD, operator="tests"
    )
    return TenantFixture(slug, tenant.id, f"admin@{slug}.test", "")


def url(slug: str, *parts: str) -> str:
    return "/".join([f"/t/{slug}/api/forms/application/records", *parts])


def masked(id_number: str) -> str:
    return id_number[:4] + "*" * 10 + id_number[-4:]


def holders(*ids: str) -> list[dict[str, object]]:
    return [
        {"name": f"股东{n}", "holder_type": "person", "id_number": i, "share_pct": 10 + n}
        for n, i in enumerate(ids)
    ]


@asynccontextmanager
async def signed_in(
    make_client: ClientFactory, slug: str, email: str
) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    async with make_client() as client:
        yield client, await sign_in(client, slug, email)


async def _draft(make_client: ClientFactory, gx: TenantFixture, *ids: str) -> tuple[str, str]:
    """A draft with shareholders holding ``ids``; (record id, its creator's e-mail)."""
    email, _ = await new_user(gx, ["account_manager"], "chengdu")
    async with signed_in(make_client, gx.slug, email) as (client, csrf):
        made = await client.post(
            url(gx.slug),
            json={
                "data": {
                    "applicant_name": "行内加密测试公司",
                    "amount": COMMITTEE_AMOUNT,
                    "shareholders": holders(*ids),
                }
            },
            headers={"X-CSRF-Token": csrf},
        )
    assert made.status_code == 201, made.text
    assert [r["id_number"] for r in made.json()["data"]["shareholders"]] == list(ids)
    return str(made.json()["id"]), email


async def _shown(make_client: ClientFactory, slug: str, email: str, rid: str) -> list[dict]:
    async with signed_in(make_client, slug, email) as (client, _):
        shown = await client.get(url(slug, rid))
    assert shown.status_code == 200, shown.text
    rows: list[dict] = shown.json()["data"]["shareholders"]
    return rows


async def test_row_values_are_sealed_indexed_and_masked_by_rule(
    make_client: ClientFactory, gx: TenantFixture, pg_owner: asyncpg.Connection
) -> None:
    a, b = fresh_id(), fresh_id()
    rid, owner = await _draft(make_client, gx, a, b)
    row = await pg_owner.fetchrow(
        "SELECT data::text AS data, search_index AS ix FROM form_record WHERE id = $1",
        uuid.UUID(rid),
    )
    assert row is not None and a not in row["data"] and b not in row["data"]
    stored = json.loads(row["data"])["shareholders"]
    assert all(r["id_number"].startswith("enc:v1:") for r in stored)
    assert [r["name"] for r in stored] == ["股东0", "股东1"]  # the other cells stay plain
    index = json.loads(row["ix"])
    assert len(index[PATH]) == 2 and a not in row["ix"]

    assert [r["id_number"] for r in await _shown(make_client, gx.slug, owner, rid)] == [a, b]
    committee, _ = await new_user(gx, ["committee_member"])
    shown = await _shown(make_client, gx.slug, committee, rid)
    assert [r["id_number"] for r in shown] == [masked(a), masked(b)]
    assert [r["name"] for r in shown] == ["股东0", "股东1"]
    finance, _ = await new_user(gx, ["finance"])  # the whole section is hidden from finance
    async with signed_in(make_client, gx.slug, finance) as (client, _):
        hidden = await client.get(url(gx.slug, rid))
    assert "shareholders" not in hidden.json()["data"]


async def test_equality_search_finds_a_row_value(
    make_client: ClientFactory, gx: TenantFixture, tenants: dict[str, TenantFixture]
) -> None:
    a, b, c = fresh_id(), fresh_id(), fresh_id()
    rid, owner = await _draft(make_client, gx, a, b)
    async with signed_in(make_client, gx.slug, owner) as (client, csrf):
        found = await client.get(
            url(gx.slug), params={f"eq.{PATH}": b}
        )  # no format: compared as given
        plain_row_field = await client.get(url(gx.slug), params={"eq.shareholders.name": "股东0"})
        patched = await client.patch(
            url(gx.slug, rid),
            json={"data": {"shareholders": holders(a, c)}},
            headers={"X-CSRF-Token": csrf},
        )
        assert patched.status_code == 200, patched.text
        gone = await client.get(url(gx.slug), params={f"eq.{PATH}": b})
        now = await client.get(url(gx.slug), params={f"eq.{PATH}": c})
    assert [r["id"] for r in found.json()["items"]] == [rid], found.text
    assert plain_row_field.status_code == 400
    assert gone.json()["total"] == 0 and [r["id"] for r in now.json()["items"]] == [rid]
    other = tenants["alpha"]
    async with signed_in(make_client, other.slug, other.manager_email) as (client, _):
        elsewhere = await client.get(url(other.slug), params={f"eq.{PATH}": a})
    assert elsewhere.status_code == 400  # alpha's form has no such field: nothing leaks
    with tenant_scope(gx.context):
        async with in_transaction():
            updated = await AuditEvent.filter(action="record.updated", object_id=rid).first()
    assert updated is not None
    text = json.dumps(updated.data, ensure_ascii=False)
    assert b not in text and c not in text and a not in text and "[sensitive]" in text


async def test_reveal_a_row_value_by_pointer(make_client: ClientFactory, gx: TenantFixture) -> None:
    a, b = fresh_id(), fresh_id()
    rid, _ = await _draft(make_client, gx, a, b)
    legal, _ = await new_user(gx, ["legal"])
    committee, _ = await new_user(gx, ["committee_member"])
    reveal = url(gx.slug, rid, "reveal")
    async with signed_in(make_client, gx.slug, legal) as (client, csrf):
        headers = {"X-CSRF-Token": csrf}
        assert [
            r["id_number"]
            for r in (await client.get(url(gx.slug, rid))).json()["data"]["shareholders"]
        ] == [masked(a), masked(b)]
        second = await client.post(
            reveal, json={"pointer": "/shareholders/1/id_number"}, headers=headers
        )
        no_row = await client.post(
            reveal, json={"pointer": "/shareholders/7/id_number"}, headers=headers
        )
        not_sensitive = await client.post(
            reveal, json={"pointer": "/shareholders/0/name"}, headers=headers
        )
        malformed = await client.post(reveal, json={"pointer": "shareholders.0"}, headers=headers)
        no_csrf = await client.post(reveal, json={"pointer": "/shareholders/0/id_number"})
    async with signed_in(make_client, gx.slug, committee) as (client, csrf):
        denied = await client.post(
            reveal, json={"pointer": "/shareholders/0/id_number"}, headers={"X-CSRF-Token": csrf}
        )
    assert second.status_code == 200, second.text
    assert second.json() == {"pointer": "/shareholders/1/id_number", "field": PATH, "value": b}
    assert no_row.status_code == 404
    assert not_sensitive.status_code == 400 and malformed.status_code == 400
    assert no_csrf.status_code == 403 and denied.status_code == 403
    with tenant_scope(gx.context):
        async with in_transaction():
            events = await AuditEvent.filter(action="record.revealed", object_id=rid)
    assert [e.data for e in events] == [
        {"form": "application", "field": PATH, "pointer": "/shareholders/1/id_number"}
    ]


async def test_a_role_that_may_not_write_the_row_field_keeps_its_values(
    make_client: ClientFactory, gx: TenantFixture
) -> None:
    a, b, c = fresh_id(), fresh_id(), fresh_id()
    rid, owner = await _draft(make_client, gx, a, b)
    risk, _ = await new_user(gx, ["risk_officer"])
    async with signed_in(make_client, gx.slug, risk) as (client, csrf):
        headers = {"X-CSRF-Token": csrf}
        shown = (await client.get(url(gx.slug, rid))).json()["data"]["shareholders"]
        assert [r["id_number"] for r in shown] == [masked(a), masked(b)]
        # Sent back as shown, with another name: the names change, the ID numbers stay.
        shown[0]["name"] = "改名股东"
        echoed = await client.patch(
            url(gx.slug, rid), json={"data": {"shareholders": shown}}, headers=headers
        )
        invented = holders(c, b)
        refused = await client.patch(
            url(gx.slug, rid), json={"data": {"shareholders": invented}}, headers=headers
        )
        added = await client.patch(
            url(gx.slug, rid),
            json={"data": {"shareholders": [*shown, holders(c)[0]]}},
            headers=headers,
        )
        # The staff page: row 0 removed, row 1 kept (its ID number is not posted at all).
        page = await client.post(
            f"/t/{gx.slug}/forms/application/records/{rid}",
            data={
                "csrf_token": csrf,
                "action": "save",
                "revision": str(echoed.json()["revision"]),
                "applicant_name": "行内加密测试公司",
                "shareholders[1][name]": "股东1",
                "shareholders[1][holder_type]": "person",
                "shareholders[1][share_pct]": "11",
            },
        )
    assert echoed.status_code == 200, echoed.text
    assert refused.status_code == 422
    assert [d["pointer"] for d in refused.json()["error"]["details"]] == [
        "/shareholders/0/id_number"
    ]
    assert added.status_code == 422
    assert page.status_code == 303, page.text
    rows = await _shown(make_client, gx.slug, owner, rid)
    assert [(r["name"], r["id_number"]) for r in rows] == [("股东1", b)]


async def test_record_page_offers_reveal_only_with_unmask(
    make_client: ClientFactory, gx: TenantFixture
) -> None:
    a = fresh_id()
    rid, _ = await _draft(make_client, gx, a)
    page_url = f"/t/{gx.slug}/forms/application/records/{rid}"
    legal, _ = await new_user(gx, ["legal"])
    committee, _ = await new_user(gx, ["committee_member"])
    async with signed_in(make_client, gx.slug, legal) as (client, _):
        html = (await client.get(page_url)).text
    assert a not in html and f'value="{masked(a)}"' in html
    assert 'data-reveal="/shareholders/0/id_number"' in html
    assert 'data-reveal="legal_rep_id_number"' not in html  # no value, nothing to reveal
    assert "/static/reveal.js" in html and f"/records/{rid}/reveal" in html
    async with signed_in(make_client, gx.slug, committee) as (client, _):
        html = (await client.get(page_url)).text
    assert a not in html and f'value="{masked(a)}"' in html
    assert "data-reveal=" not in html and "reveal.js" not in html


async def test_exports_mask_row_values(make_client: ClientFactory, gx: TenantFixture) -> None:
    a = fresh_id()
    await _draft(make_client, gx, a)
    risk, _ = await new_user(gx, ["risk_officer"])
    async with signed_in(make_client, gx.slug, risk) as (client, _):
        exported = await client.get(url(gx.slug, "export.csv"))
    assert exported.status_code == 200, exported.text
    text = exported.content.decode("utf-8-sig")
    assert a not in text and masked(a) in text
    assert next(csv.reader(io.StringIO(text)))[0] == "编号"


def test_rules_may_name_only_row_fields_that_exist(tmp_path: Path) -> None:
    bundle = rows_bundle(tmp_path / "b")
    perms_path = bundle / "permissions.json"
    perms = json.loads(perms_path.read_text(encoding="utf-8"))
    perms["field_rules"]["legal"]["application"].update(
        {"shareholders.nope": "masked", "amount.digits": "masked"}
    )
    perms_path.write_text(json.dumps(perms, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(BundleInvalid) as invalid:
        load_bundle(bundle)
    found = {(e.file, e.pointer) for e in invalid.value.errors}
    assert found == {
        ("permissions.json", "/field_rules/legal/application/shareholders.nope"),
        ("permissions.json", "/field_rules/legal/application/amount.digits"),
    }


def test_row_rules_mask_hide_and_are_capped_by_their_section() -> None:
    id_number = "11010519491231002X"
    data = {"shareholders": [{"name": "张三", "id_number": id_number}, "stray"], "amount": 1}
    rules = FieldRules({PATH: FieldRule.MASKED}, FieldRule.WRITABLE)
    assert apply_field_rules(data, rules)["shareholders"] == [
        {"name": "张三", "id_number": masked(id_number)},
        "stray",
    ]
    hidden = FieldRules({"shareholders.name": FieldRule.HIDDEN}, FieldRule.WRITABLE)
    assert apply_field_rules(data, hidden)["shareholders"][0] == {"id_number": id_number}
    section = FieldRules(
        {"shareholders": FieldRule.READONLY, PATH: FieldRule.WRITABLE}, FieldRule.WRITABLE
    )
    assert row_rule(section, PATH) is FieldRule.READONLY
    assert row_rule(rules, "shareholders.name") is FieldRule.WRITABLE
    whole = FieldRules({"shareholders": FieldRule.MASKED, PATH: FieldRule.WRITABLE}, "writable")
    assert apply_field_rules(data, whole)["shareholders"] == "****"


def test_locked_cells_are_kept_moved_or_removed_but_never_invented() -> None:
    a, b = "11010519491231002X", "440306198503151234"
    rules = FieldRules({PATH: FieldRule.MASKED}, FieldRule.WRITABLE)
    old = {"shareholders": [{"name": "甲", "id_number": a}, {"name": "乙", "id_number": b}]}
    echoed = {"shareholders": [{"name": "丙", "id_number": masked(a)}, {"name": "乙"}]}
    kept = keep_masked(old, echoed, rules)
    assert kept["shareholders"] == [{"name": "丙", "id_number": a}, {"name": "乙"}]
    assert refused_cells(old, kept, rules) == []
    swapped = {"shareholders": [{"id_number": b}, {"id_number": a}]}
    assert refused_cells(old, swapped, rules) == []  # moved rows keep their own values
    twice = {"shareholders": [{"id_number": a}, {"id_number": a}]}
    assert refused_cells(old, twice, rules) == ["/shareholders/1/id_number"]
    invented = {"shareholders": [{"id_number": "510102198506123010"}]}
    assert refused_cells(old, invented, rules) == ["/shareholders/0/id_number"]
    writable = FieldRules({}, FieldRule.WRITABLE)
    assert refused_cells(old, invented, writable) == []


def _renamed_section(files: dict[str, Any]) -> dict[str, Any]:
    """The bundle with ``shareholders`` renamed ``holders`` everywhere it is named."""
    text = json.dumps(files, ensure_ascii=False)
    return dict(json.loads(text.replace('"shareholders', '"holders')))


async def test_a_migration_keeps_row_values_sealed_and_out_of_the_audit_trail(
    make_client: ClientFactory, gx: TenantFixture, pg_owner: asyncpg.Connection
) -> None:
    a = fresh_id()
    rid, owner = await _draft(make_client, gx, a)
    admin = f"admin@{gx.slug}.test"
    async with signed_in(make_client, gx.slug, admin) as (client, csrf):
        headers = {"X-CSRF-Token": csrf}
        current = (await client.get(f"/t/{gx.slug}/api/definitions/versions")).json()
        head = max(v["number"] for v in current["versions"])
        files = (await client.get(f"/t/{gx.slug}/api/definitions/versions/{head}")).json()
        published = await client.post(
            f"/t/{gx.slug}/api/definitions/versions",
            json={"files": _renamed_section(files["files"]), "note": "holders"},
            headers=headers,
        )
        assert published.status_code == 201, published.text
        planned = await client.post(
            f"/t/{gx.slug}/api/forms/application/migrations",
            json={
                "from_version": head,
                "to_version": published.json()["number"],
                "operations": [{"op": "rename", "from": "shareholders", "to": "holders"}],
            },
            headers=headers,
        )
        assert planned.status_code == 201, planned.text
        run_id = planned.json()["id"]
        started = await client.post(
            f"/t/{gx.slug}/api/forms/application/migrations/{run_id}/run", headers=headers
        )
        assert started.status_code == 202, started.text
        await run_worker(REDIS_URL, burst=True, poll_delay=0.05)
        done = (await client.get(f"/t/{gx.slug}/api/forms/application/migrations/{run_id}")).json()
    assert done["status"] == "done", done
    stored = await pg_owner.fetchval(
        "SELECT data::text FROM form_record WHERE id = $1", uuid.UUID(rid)
    )
    assert a not in stored and json.loads(stored)["holders"][0]["id_number"].startswith("enc:v1:")
    async with signed_in(make_client, gx.slug, owner) as (client, _):
        shown = await client.get(url(gx.slug, rid))
    assert shown.json()["data"]["holders"][0]["id_number"] == a
    with tenant_scope(gx.context):
        async with in_transaction():
            migrated = await AuditEvent.filter(action="record.migrated", object_id=rid).first()
    assert migrated is not None
    text = json.dumps(migrated.data, ensure_ascii=False)
    assert a not in text and "[sensitive]" in text
