"""Moving records to a newer form version: the mapping is checked, the dry run writes
nothing, the run is all or nothing through the job queue, sensitive values stay sealed,
and a rollback restores every row exactly; nobody else may, and no tenant reaches another."""

from __future__ import annotations

import copy
import json
import uuid
from typing import Any

import asyncpg
import httpx
import pytest
from tortoise.transactions import in_transaction

from danbao.db.models import AuditEvent, RecordSnapshot
from danbao.jobs.worker import run_worker
from danbao.provisioning import create_tenant
from danbao.records.conversions import CONVERSIONS, NotConvertible
from danbao.tenancy.context import tenant_scope

from .conftest import PASSWORD, REDIS_URL, TEMPLATE, ClientFactory, TenantFixture, sign_in
from .records_helpers import VALID, new_user

FORM = "application"
MOBILE = VALID["contact_mobile"]


def version_two(files: dict[str, Any]) -> dict[str, Any]:
    """The template's form, changed the way a guarantor changes one: the amount in 万元
    (at most 500), the mobile renamed (still sensitive), a required risk grade, no purpose."""
    files = copy.deepcopy(files)
    form = files["forms/application.json"]
    props = form["schema"]["properties"]
    amount = props.pop("amount")
    props["amount_wan"] = {**amount, "title": "申请担保金额（万元）", "maximum": 500}
    props["contact_phone"] = props.pop("contact_mobile")
    props.pop("purpose")
    props["risk_grade"] = {"type": "string", "title": "风险等级", "enum": ["A", "B", "C"]}
    required = [r for r in form["schema"]["required"] if r not in ("amount", "contact_mobile")]
    form["schema"]["required"] = [r for r in required if r != "purpose"] + [
        "amount_wan",
        "contact_phone",
        "risk_grade",
    ]
    renames = {"amount": "amount_wan", "contact_mobile": "contact_phone"}
    for section in form["ui"]["layout"]:
        section["fields"] = [renames.get(f, f) for f in section["fields"] if f != "purpose"]
    form["ui"]["layout"][-1]["fields"].append("risk_grade")
    ui_fields = form["ui"].get("fields", {})
    for old, new in renames.items():
        if old in ui_fields:
            ui_fields[new] = ui_fields.pop(old)
    ui_fields.pop("purpose", None)
    # What refers to the renamed fields follows them (the bundle's cross-checks insist).
    for rules in files["permissions.json"].get("field_rules", {}).values():
        for fields in rules.values():
            if "contact_mobile" in fields:
                fields["contact_phone"] = fields.pop("contact_mobile")
    text = json.dumps({k: v for k, v in files.items() if k.startswith(("workflows/", "reports/"))})
    text = text.replace('"amount > 5000000"', '"amount_wan > 500"')
    files.update(json.loads(text.replace('"field": "amount"', '"field": "amount_wan"')))
    for source in files["tenant.json"].get("project", {}).get("sources", {}).values():
        if source.get("amount") == {"field": "amount"}:
            source["amount"] = {"field": "amount_wan", "unit": "wan"}
    return files


MAPPING = [
    {"op": "convert", "field": "amount", "conversion": "yuan_to_wan", "to": "amount_wan"},
    {"op": "rename", "from": "contact_mobile", "to": "contact_phone"},
    {"op": "remove", "field": "purpose"},
    {"op": "add", "field": "risk_grade", "default": "B"},
]


@pytest.fixture
async def tenant(app: object) -> TenantFixture:
    """A fresh tenant at definitions version 1 (the template) and version 2 (above)."""
    slug = f"mig{uuid.uuid4().hex[:8]}"
    row, _ = await create_tenant(
        slug, TEMPLATE, admin_email=f"admin@{slug}.test", admin_password=PASSWORD, operator="t"
    )
    return TenantFixture(slug, row.id, f"admin@{slug}.test", "")


async def publish_v2(client: httpx.AsyncClient, slug: str, csrf: str) -> None:
    v1 = (await client.get(f"/t/{slug}/api/definitions/versions/1")).json()["files"]
    published = await client.post(
        f"/t/{slug}/api/definitions/versions",
        json={"files": version_two(v1), "note": "v2"},
        headers={"X-CSRF-Token": csrf},
    )
    assert published.status_code == 201, published.text
    assert published.json()["number"] == 2


async def make_records(
    make_client: ClientFactory, tenant: TenantFixture, amounts: list[int]
) -> tuple[str, list[str]]:
    """Drafts at version 1 by a new account manager, one per amount: (e-mail, their ids)."""
    email, _ = await new_user(tenant, ["account_manager"])
    ids = []
    async with make_client() as client:
        csrf = await sign_in(client, tenant.slug, email)
        for amount in amounts:
            created = await client.post(
                f"/t/{tenant.slug}/api/forms/{FORM}/records",
                json={"data": {**VALID, "amount": amount}},
                headers={"X-CSRF-Token": csrf},
            )
            assert created.status_code == 201, created.text
            ids.append(created.json()["id"])
    return email, ids


async def rows(pg_owner: asyncpg.Connection, tenant: TenantFixture) -> dict[str, dict[str, Any]]:
    """The tenant's records as stored, read past the application (the DBA's view)."""
    found = await pg_owner.fetch(
        "SELECT id, form_version, revision, data, search_index, updated_at, status "
        "FROM form_record WHERE tenant_id = $1",
        tenant.id,
    )
    return {
        str(r["id"]): {
            **dict(r),
            "data": json.loads(r["data"]),
            "search_index": json.loads(r["search_index"]),
        }
        for r in found
    }


async def run_jobs() -> None:
    await run_worker(REDIS_URL, burst=True, poll_delay=0.05)


def url(slug: str, *parts: str) -> str:
    return "/".join([f"/t/{slug}/api/forms/{FORM}/migrations", *parts])


async def events(tenant: TenantFixture, action: str) -> list[AuditEvent]:
    with tenant_scope(tenant.context):
        async with in_transaction():
            return list(await AuditEvent.filter(action=action).order_by("seq"))


# ---------------------------------------------------------------- conversions


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("yuan_to_wan", 12345.67, 1.234567),
        ("yuan_to_wan", 3000000, 300),
        ("wan_to_yuan", 1.5, 15000),
        ("string_to_number", "１,234.50", 1234.5),
        ("string_to_integer", " 12 ", 12),
        ("number_to_string", 3e6, "3000000"),
        ("number_to_money_string", 3000000, "3000000.00"),
        ("money_string_to_number", "¥100万元", 1000000),
    ],
)
def test_conversions(name: str, value: Any, expected: Any) -> None:
    result = CONVERSIONS[name].apply(value)
    assert result == expected and type(result) is type(expected)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("string_to_number", "约三百万"),
        ("string_to_integer", "1.5"),
        ("number_to_money_string", 1.234),
        ("wan_to_yuan", 0.0000001),
        ("string_to_number", "NaN"),
    ],
)
def test_conversions_refuse_rather_than_guess(name: str, value: Any) -> None:
    with pytest.raises(NotConvertible) as refused:
        CONVERSIONS[name].apply(value)
    assert refused.value.invalid.zh and refused.value.invalid.en


# ---------------------------------------------------------------- the mapping


async def test_a_bad_mapping_is_refused_with_pointers(
    make_client: ClientFactory, tenant: TenantFixture
) -> None:
    async with make_client() as client:
        csrf = await sign_in(client, tenant.slug, tenant.admin_email)
        await publish_v2(client, tenant.slug, csrf)
        bad = [
            {"op": "rename", "from": "nope", "to": "contact_phone"},
            {"op": "convert", "field": "amount", "conversion": "number_to_string", "to": "x"},
            {"op": "remove", "field": "contact_mobile"},
            {"op": "add", "field": "risk_grade", "default": "Z"},
            {"op": "rename", "from": "uscc", "to": "applicant_name"},
            {"op": "explode"},
        ]
        answer = await client.post(
            url(tenant.slug),
            json={"from_version": 1, "to_version": 2, "operations": bad},
            headers={"X-CSRF-Token": csrf, "Accept-Language": "en"},
        )
        assert answer.status_code == 422, answer.text
        details = {d["pointer"]: d["message"] for d in answer.json()["error"]["details"]}
        assert "'nope' is not in the form at version 1" in details["/operations/0/from"]
        assert "'x' is not in the form at version 2" in details["/operations/1/to"]
        assert "refuses the default" in details["/operations/3/default"]
        assert "would overwrite field 'applicant_name'" in details["/operations/4/to"]
        assert "unknown operation" in details["/operations/5/op"]
        # Fields the mapping leaves behind are named: amount and purpose are not in v2.
        left = answer.json()["error"]["details"]
        assert any("'purpose' is not in version 2" in d["message"] for d in left)
        # A sensitive value may not land in a plain field.
        leak = await client.post(
            url(tenant.slug),
            json={
                "from_version": 1,
                "to_version": 2,
                "dry_run": True,
                "operations": [
                    MAPPING[0],
                    MAPPING[2],
                    {"op": "rename", "from": "contact_mobile", "to": "risk_grade"},
                ],
            },
            headers={"X-CSRF-Token": csrf, "Accept-Language": "en"},
        )
        assert leak.status_code == 422
        messages = [d["message"] for d in leak.json()["error"]["details"]]
        assert "sensitive field 'contact_mobile' cannot move into 'risk_grade'" in messages[0]
        versions = await client.post(
            url(tenant.slug),
            json={"from_version": 2, "to_version": 1, "operations": []},
            headers={"X-CSRF-Token": csrf},
        )
        assert versions.status_code == 422
        assert versions.json()["error"]["details"][0]["pointer"] == "/to_version"


# ---------------------------------------------------------------- dry run, run, rollback


async def test_dry_run_reports_and_writes_nothing(
    make_client: ClientFactory, tenant: TenantFixture, pg_owner: asyncpg.Connection
) -> None:
    _, ids = await make_records(make_client, tenant, [3_000_000, 6_000_000, 1_200_000])
    async with make_client() as client:
        csrf = await sign_in(client, tenant.slug, tenant.admin_email)
        await publish_v2(client, tenant.slug, csrf)
        before = await rows(pg_owner, tenant)
        audit_before = len(await events(tenant, "record.migrated"))
        answer = await client.post(
            url(tenant.slug),
            json={"from_version": 1, "to_version": 2, "operations": MAPPING, "dry_run": True},
            headers={"X-CSRF-Token": csrf},
        )
        assert answer.status_code == 200, answer.text
        report = answer.json()["report"]
        assert (report["total"], report["affected"], report["failed"]) == (3, 2, 1)
        (failure,) = report["failures"]
        assert failure["record"] == ids[1] and failure["pointer"] == "/amount_wan"
        assert "不能大于500" in failure["message"]
        listed = {r["record"]: r["changes"] for r in report["records"]}
        assert set(listed) == {ids[0], ids[2]}
        assert "/contact_phone" in listed[ids[0]] and "/purpose" in listed[ids[0]]
        assert MOBILE not in answer.text  # reports name pointers, never values
        # Nothing stored: no run, no record touched, no audit event.
        assert (await client.get(url(tenant.slug))).json()["runs"] == []
    assert await rows(pg_owner, tenant) == before
    assert len(await events(tenant, "record.migrated")) == audit_before


async def test_run_then_rollback_restores_exactly(
    make_client: ClientFactory, tenant: TenantFixture, pg_owner: asyncpg.Connection
) -> None:
    owner, ids = await make_records(make_client, tenant, [3_000_000, 1_234_567])
    async with make_client() as client:
        csrf = await sign_in(client, tenant.slug, tenant.admin_email)
        await publish_v2(client, tenant.slug, csrf)
        before = await rows(pg_owner, tenant)
        planned = await client.post(
            url(tenant.slug),
            json={"from_version": 1, "to_version": 2, "operations": MAPPING},
            headers={"X-CSRF-Token": csrf},
        )
        assert planned.status_code == 201, planned.text
        run = planned.json()
        assert run["status"] == "planned" and run["report"]["dry_run"]["affected"] == 2
        assert await rows(pg_owner, tenant) == before  # planning writes no record

        started = await client.post(
            url(tenant.slug, run["id"], "run"), headers={"X-CSRF-Token": csrf}
        )
        assert started.status_code == 202 and started.json()["status"] == "queued"
        await run_jobs()
        done = (await client.get(url(tenant.slug, run["id"]))).json()
        assert done["status"] == "done", (done["error"], done["report"])
        assert done["affected"] == 2 and done["report"]["run"]["total"] == 2

        after = await rows(pg_owner, tenant)
        first = after[ids[0]]
        assert first["form_version"] == 2 and first["revision"] == before[ids[0]]["revision"] + 1
        assert (
            first["data"]["amount_wan"] == 300 and after[ids[1]]["data"]["amount_wan"] == 123.4567
        )
        assert "amount" not in first["data"] and "purpose" not in first["data"]
        assert first["data"]["risk_grade"] == "B"
        # The renamed sensitive field is sealed again, under its new name, and still found.
        assert first["data"]["contact_phone"].startswith("enc:v1:")
        assert MOBILE not in json.dumps(first["data"])
        assert set(first["search_index"]) == {"legal_rep_id_number", "contact_phone"}
        async with make_client() as staff:
            await sign_in(staff, tenant.slug, owner)
            shown = await staff.get(
                f"/t/{tenant.slug}/api/forms/{FORM}/records",
                params={"eq.contact_phone": MOBILE},
            )
        assert shown.json()["total"] == 2, shown.text
        assert {i["data"]["contact_phone"] for i in shown.json()["items"]} == {MOBILE}

        # The audit trail has field-level changes; sensitive ones only say they changed.
        migrated = [e for e in await events(tenant, "record.migrated") if e.object_id == ids[0]]
        (event,) = migrated
        changes = {c["pointer"]: c for c in event.data["changes"]}
        assert changes["/amount"]["old"] == 3_000_000 and changes["/amount_wan"]["new"] == 300
        assert changes["/contact_phone"]["new"] == "[changed]"
        assert MOBILE not in json.dumps(event.data)
        with tenant_scope(tenant.context):
            async with in_transaction():
                snapshots = await RecordSnapshot.filter(migration_id=run["id"]).count()
        assert snapshots == 2

        again = await client.post(
            url(tenant.slug, run["id"], "run"), headers={"X-CSRF-Token": csrf}
        )
        assert again.status_code == 409

        rolled = await client.post(
            url(tenant.slug, run["id"], "rollback"), headers={"X-CSRF-Token": csrf}
        )
        assert rolled.status_code == 202, rolled.text
        await run_jobs()
        final = (await client.get(url(tenant.slug, run["id"]))).json()
        assert final["status"] == "rolled_back", final
    assert await rows(pg_owner, tenant) == before
    reverted = await events(tenant, "record.migration_reverted")
    assert {e.object_id for e in reverted} == set(ids)
    assert [e.action for e in await events(tenant, "migration.rolled_back")] == [
        "migration.rolled_back"
    ]


async def test_one_failing_record_fails_the_whole_run(
    make_client: ClientFactory, tenant: TenantFixture, pg_owner: asyncpg.Connection
) -> None:
    await make_records(make_client, tenant, [1_000_000, 9_000_000, 2_000_000])
    async with make_client() as client:
        csrf = await sign_in(client, tenant.slug, tenant.admin_email)
        await publish_v2(client, tenant.slug, csrf)
        before = await rows(pg_owner, tenant)
        run = (
            await client.post(
                url(tenant.slug),
                json={"from_version": 1, "to_version": 2, "operations": MAPPING},
                headers={"X-CSRF-Token": csrf},
            )
        ).json()
        assert run["failed"] == 1
        await client.post(url(tenant.slug, run["id"], "run"), headers={"X-CSRF-Token": csrf})
        await run_jobs()
        failed = (await client.get(url(tenant.slug, run["id"]))).json()
        assert failed["status"] == "failed"
        assert failed["report"]["run"]["failures"][0]["pointer"] == "/amount_wan"
        refused = await client.post(
            url(tenant.slug, run["id"], "rollback"), headers={"X-CSRF-Token": csrf}
        )
        assert refused.status_code == 409
    assert await rows(pg_owner, tenant) == before
    with tenant_scope(tenant.context):
        async with in_transaction():
            assert await RecordSnapshot.filter(migration_id=run["id"]).count() == 0
    assert [e.object_id for e in await events(tenant, "migration.failed")] == [run["id"]]


async def test_rollback_refuses_when_a_record_changed_since(
    make_client: ClientFactory, tenant: TenantFixture, pg_owner: asyncpg.Connection
) -> None:
    email, _ = await new_user(tenant, ["account_manager"])
    async with make_client() as client:
        csrf = await sign_in(client, tenant.slug, email)
        created = await client.post(
            f"/t/{tenant.slug}/api/forms/{FORM}/records",
            json={"data": VALID},
            headers={"X-CSRF-Token": csrf},
        )
        record_id = created.json()["id"]
    async with make_client() as admin:
        admin_csrf = await sign_in(admin, tenant.slug, tenant.admin_email)
        await publish_v2(admin, tenant.slug, admin_csrf)
        run = (
            await admin.post(
                url(tenant.slug),
                json={"from_version": 1, "to_version": 2, "operations": MAPPING},
                headers={"X-CSRF-Token": admin_csrf},
            )
        ).json()
        await admin.post(url(tenant.slug, run["id"], "run"), headers={"X-CSRF-Token": admin_csrf})
        await run_jobs()
    async with make_client() as client:
        csrf = await sign_in(client, tenant.slug, email)
        edited = await client.patch(
            f"/t/{tenant.slug}/api/forms/{FORM}/records/{record_id}",
            json={"data": {"risk_grade": "A"}},
            headers={"X-CSRF-Token": csrf},
        )
        assert edited.status_code == 200, edited.text
    after_edit = await rows(pg_owner, tenant)
    async with make_client() as admin:
        admin_csrf = await sign_in(admin, tenant.slug, tenant.admin_email)
        await admin.post(
            url(tenant.slug, run["id"], "rollback"), headers={"X-CSRF-Token": admin_csrf}
        )
        await run_jobs()
        kept = (await admin.get(url(tenant.slug, run["id"]))).json()
    assert kept["status"] == "done"
    assert kept["report"]["rollback"]["conflicts"][0]["record"] == record_id
    assert await rows(pg_owner, tenant) == after_edit  # the later edit is not lost


# ---------------------------------------------------------------- who may


async def test_only_administrators_and_only_their_tenant(
    make_client: ClientFactory, tenant: TenantFixture, tenants: dict[str, TenantFixture]
) -> None:
    await make_records(make_client, tenant, [1_000_000])
    async with make_client() as admin:
        csrf = await sign_in(admin, tenant.slug, tenant.admin_email)
        await publish_v2(admin, tenant.slug, csrf)
        run = (
            await admin.post(
                url(tenant.slug),
                json={"from_version": 1, "to_version": 2, "operations": MAPPING},
                headers={"X-CSRF-Token": csrf},
            )
        ).json()
    manager, _ = await new_user(tenant, ["account_manager"])
    async with make_client() as client:
        csrf = await sign_in(client, tenant.slug, manager)
        body = {"from_version": 1, "to_version": 2, "operations": MAPPING, "dry_run": True}
        for method, path, json_body in (
            ("GET", url(tenant.slug), None),
            ("POST", url(tenant.slug), body),
            ("GET", url(tenant.slug, run["id"]), None),
            ("POST", url(tenant.slug, run["id"], "run"), None),
            ("POST", url(tenant.slug, run["id"], "rollback"), None),
        ):
            answer = await client.request(
                method, path, json=json_body, headers={"X-CSRF-Token": csrf}
            )
            assert answer.status_code == 403, (method, path, answer.text)
    beta = tenants["beta"]
    async with make_client() as other:
        csrf = await sign_in(other, "beta", beta.admin_email)
        # Another tenant's session on this tenant's paths: not signed in there.
        foreign = await other.get(url(tenant.slug, run["id"]))
        assert foreign.status_code == 401
        # This tenant's run id under the other tenant's own path: as missing as any.
        for method, path in (
            ("GET", url("beta", run["id"])),
            ("POST", url("beta", run["id"], "run")),
            ("POST", url("beta", run["id"], "rollback")),
        ):
            answer = await other.request(method, path, headers={"X-CSRF-Token": csrf})
            assert answer.status_code == 404, (path, answer.text)
    async with make_client() as admin:
        await sign_in(admin, tenant.slug, tenant.admin_email)
        assert (await admin.get(url(tenant.slug, run["id"]))).json()["status"] == "planned"


async def test_suggested_mapping_and_openapi(
    make_client: ClientFactory, tenant: TenantFixture
) -> None:
    async with make_client() as client:
        csrf = await sign_in(client, tenant.slug, tenant.admin_email)
        await publish_v2(client, tenant.slug, csrf)
        suggested = await client.get(url(tenant.slug, "suggest"), params={"from": 1, "to": 2})
        operations = suggested.json()["operations"]
        assert {"op": "remove", "field": "purpose"} in operations
        assert {"op": "add", "field": "risk_grade", "default": None} in operations
        document = (await client.get(f"/t/{tenant.slug}/api/openapi.json")).json()
    paths = document["paths"]
    assert "post" in paths["/t/{slug}/api/forms/{form_id}/migrations"]
    assert "post" in paths["/t/{slug}/api/forms/{form_id}/migrations/{run_id}/rollback"]
