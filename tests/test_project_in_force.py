"""A guarantee in force: counter-guarantees and their coverage, the bank's disbursement
with its schedule, repayments (early ones, and one too large, refused), post-loan tasks
on the tenant's rules, the early-warning check, and the release that releases it all."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from tortoise.transactions import in_transaction

from danbao.db.models import (
    AuditEvent,
    CounterGuarantee,
    LoanInstallment,
    Notification,
    Project,
    ProjectDocument,
)
from danbao.definitions import BundleInvalid, load_bundle, validate_bundle_dict
from danbao.forms.identifiers import today_in_china
from danbao.guarantee import warning_sweep
from danbao.guarantee.loan import schedule
from danbao.guarantee.values import add_months
from danbao.plugins.local_pades import LocalPadesSigner, seal_settings
from danbao.plugins.pades import new_seal
from danbao.plugins.sandbox.judicial import SandboxCourtRecords
from danbao.plugins.sandbox.messaging import SandboxMessaging
from danbao.plugins.tenant_config import configure
from danbao.provisioning import create_tenant
from danbao.services import Services
from danbao.tenancy.context import tenant_scope

from .conftest import PASSWORD, TEMPLATE, ClientFactory, TenantFixture, sign_in
from .documents_helpers import starter_with_documents
from .projects_helpers import advance, projects_url, submitted_record
from .records_helpers import new_user, records_url

D = Decimal


# --- the schedule, by hand -----------------------------------------------------------


def test_equal_principal_splits_to_the_fen_and_the_last_line_takes_the_rest() -> None:
    lines = schedule(D("1000000.00"), "equal_principal", 3, dt.date(2026, 1, 31), D("0.06"))
    assert [x.principal for x in lines] == [D("333333.33"), D("333333.33"), D("333333.34")]
    assert [x.due_on for x in lines] == [
        dt.date(2026, 2, 28),
        dt.date(2026, 3, 31),
        dt.date(2026, 4, 30),
    ]
    # interest on the balance at 0.5% a month: 5000.00, 3333.33, 1666.67
    assert [x.interest for x in lines] == [D("5000.00"), D("3333.33"), D("1666.67")]
    assert all(isinstance(x.principal, Decimal) for x in lines)


def test_equal_installments_pay_the_same_and_sum_exactly() -> None:
    lines = schedule(D("120000.00"), "equal_installment", 12, dt.date(2026, 3, 15), D("0.12"))
    payments = {x.principal + x.interest for x in lines[:-1]}
    # 120000 × 0.01 × 1.01^12 / (1.01^12 − 1) = 10661.85 (to the fen)
    assert payments == {D("10661.85")}
    assert sum(x.principal for x in lines) == D("120000.00")
    assert abs(lines[-1].principal + lines[-1].interest - D("10661.85")) < D("0.10")


def test_bullet_pays_interest_monthly_and_principal_at_maturity() -> None:
    lines = schedule(D("500000.00"), "bullet", 6, dt.date(2026, 5, 1), D("0.048"))
    assert [x.principal for x in lines] == [D("0.00")] * 5 + [D("500000.00")]
    assert {x.interest for x in lines} == {D("2000.00")}
    assert add_months(dt.date(2024, 1, 31), 1) == dt.date(2024, 2, 29)


def test_the_aftercare_rules_are_checked_at_publish() -> None:
    content = load_bundle(TEMPLATE).to_dict()
    tasks = content["tenant.json"]["aftercare"]["tasks"]
    tasks.append(dict(tasks[0]))
    with pytest.raises(BundleInvalid) as caught:
        validate_bundle_dict(content)
    assert [(e.file, e.pointer) for e in caught.value.errors] == [
        ("tenant.json", f"/aftercare/tasks/{len(tasks) - 1}/id")
    ]
    content = load_bundle(TEMPLATE).to_dict()
    content["tenant.json"]["aftercare"]["tasks"][0]["when"] = {"counter_kinds": ["lien"]}
    content["tenant.json"]["aftercare"]["warning"]["overdue_days"] = 0
    with pytest.raises(BundleInvalid) as caught:
        validate_bundle_dict(content)
    pointers = sorted(e.pointer for e in caught.value.errors)
    assert pointers == [
        "/aftercare/tasks/0/when/counter_kinds/0",
        "/aftercare/warning/overdue_days",
    ]


# --- the API -------------------------------------------------------------------------


@dataclass(frozen=True)
class World:
    tenant: TenantFixture
    manager: str
    boss: str
    finance: str
    risk: str


@pytest.fixture(scope="module")
async def world(app: Starlette, tmp_path_factory: pytest.TempPathFactory) -> World:
    """The starter template with its contract and letter, its own seal, and court records."""
    services: Services = app.state.services
    slug = f"inf{uuid.uuid4().hex[:8]}"
    bundle = starter_with_documents(Path(tmp_path_factory.mktemp("bundle")) / "b")
    tenant, _ = await create_tenant(
        slug, bundle, admin_email=f"admin@{slug}.test", admin_password=PASSWORD, operator="t"
    )
    fixture = TenantFixture(slug, tenant.id, f"admin@{slug}.test", "")
    seal = new_seal("示例融资担保有限公司")
    with tenant_scope(fixture.context):
        async with in_transaction():
            await configure(
                services.keys,
                LocalPadesSigner,
                settings=seal_settings(seal, "示例融资担保有限公司"),
            )
            await configure(services.keys, SandboxCourtRecords, settings={})
            await configure(services.keys, SandboxMessaging, settings={"sender": "担保云"})
    manager, _ = await new_user(fixture, ["account_manager"])
    boss, _ = await new_user(fixture, ["general_manager"])
    finance, _ = await new_user(fixture, ["finance"])
    risk, _ = await new_user(fixture, ["risk_officer"])
    return World(fixture, manager, boss, finance, risk)


async def letter_issued(make_client: ClientFactory, world: World, **data: Any) -> tuple[str, str]:
    """(project id, record id) of a project 已出函: through approval, contract and letter."""
    slug = world.tenant.slug
    record_id = await submitted_record(make_client, world.tenant, world.manager, **data)
    async with make_client() as client:
        csrf = await sign_in(client, slug, world.manager)
        made = await post(client, csrf, projects_url(slug), {"record_id": record_id})
        assert made.status_code == 201, made.text
        pid = made.json()["id"]
    async with make_client() as client:
        csrf = await sign_in(client, slug, world.boss)
        headers = {"X-CSRF-Token": csrf}
        await advance(client, csrf, world.tenant, pid, record_id)
        for document in ("contract", "letter"):
            issued = await client.post(
                records_url(slug, record_id, "documents"),
                json={"document": document},
                headers=headers,
            )
            assert issued.status_code == 201, issued.text
    return pid, record_id


async def post(client: httpx.AsyncClient, csrf: str, url: str, body: Any) -> httpx.Response:
    return await client.post(url, json=body, headers={"X-CSRF-Token": csrf})


async def audit_of(tenant: TenantFixture, object_id: str) -> list[AuditEvent]:
    with tenant_scope(tenant.context):
        async with in_transaction():
            return list(await AuditEvent.filter(object_id=object_id).order_by("seq"))


MORTGAGE = {
    "kind": "mortgage",
    "asset": "real_estate",
    "description": "福州市鼓楼区某路 1 号 301 室",
    "owner": "张三",
    "valuation": "2000000.00",
    "haircut": "0.3",
}
PLEDGE = {
    "kind": "pledge",
    "asset": "receivable",
    "description": "对某公司的应收账款",
    "owner": "福州测试科技有限公司",
    "valuation": 1000000,
    "haircut": 0.5,
}


async def test_counter_guarantees_coverage_and_bad_input(
    make_client: ClientFactory, world: World, tenants: dict[str, TenantFixture]
) -> None:
    slug = world.tenant.slug
    record_id = await submitted_record(make_client, world.tenant, world.manager)
    async with make_client() as client:
        csrf = await sign_in(client, slug, world.manager)
        pid = (await post(client, csrf, projects_url(slug), {"record_id": record_id})).json()["id"]
        url = projects_url(slug, pid, "counter-guarantees")
        first = await post(client, csrf, url, MORTGAGE)
        assert first.status_code == 201, first.text
        second = await post(client, csrf, url, PLEDGE)
        assert second.status_code == 201, second.text
        # 2,000,000 × 0.7 + 1,000,000 × 0.5 = 1,900,000 over 3,000,000 guaranteed
        coverage = second.json()["coverage"]
        assert coverage == {
            "items": 2,
            "valuation": "3000000.00",
            "effective_value": "1900000.00",
            "guaranteed_amount": "3000000.00",
            "ratio": "0.6333",
        }
        bad = await post(
            client,
            csrf,
            url,
            {**MORTGAGE, "valuation": "-1", "haircut": "1.5", "asset": "equity", "colour": 1},
        )
        assert bad.status_code == 422
        pointers = sorted(d["pointer"] for d in bad.json()["error"]["details"])
        assert pointers == ["/asset", "/colour", "/haircut", "/valuation"]
        missing = await post(client, csrf, url, {"kind": "guarantee"})
        assert sorted(d["pointer"] for d in missing.json()["error"]["details"]) == [
            "/asset",
            "/description",
            "/haircut",
            "/owner",
            "/valuation",
        ]
        item = first.json()["item"]
        change_url = f"{url}/{item['id']}"
        unregistered = await client.patch(
            change_url,
            json={"version": 1, "registration": "registered"},
            headers={"X-CSRF-Token": csrf},
        )
        assert unregistered.status_code == 422
        assert unregistered.json()["error"]["details"][0]["pointer"] == "/certificate_no"
        registered = await client.patch(
            change_url,
            json={
                "version": 1,
                "registration": "registered",
                "certificate_no": "闽(2026)福州市不动产证明第0001234号",
                "registered_on": "2026-11-20",
            },
            headers={"X-CSRF-Token": csrf},
        )
        assert registered.status_code == 200, registered.text
        assert registered.json()["item"]["version"] == 2
        stale = await client.patch(
            change_url, json={"version": 1, "haircut": "0.2"}, headers={"X-CSRF-Token": csrf}
        )
        assert stale.status_code == 409
        assert stale.json()["error"]["code"] == "counter_guarantee_stale"
        listed = (await client.get(url)).json()
        assert [i["registration"] for i in listed["items"]] == ["registered", "unregistered"]
        assert listed["coverage"]["ratio"] == "0.6333"

    async with make_client() as client:  # finance reads, may not change
        csrf = await sign_in(client, slug, world.finance)
        assert (await client.get(url)).status_code == 200
        assert (await post(client, csrf, url, MORTGAGE)).status_code == 403
    async with make_client() as client:  # another tenant: 404 on every route
        csrf = await sign_in(client, "beta", tenants["beta"].manager_email)
        foreign = projects_url("beta", pid, "counter-guarantees")
        assert (await client.get(foreign)).status_code == 404
        assert (await post(client, csrf, foreign, MORTGAGE)).status_code == 404
        patched = await client.patch(
            f"{foreign}/{item['id']}", json={"version": 2}, headers={"X-CSRF-Token": csrf}
        )
        assert patched.status_code == 404
        assert (await client.get(projects_url("beta", pid, "loan"))).status_code == 404
        assert (await client.get(projects_url("beta", pid, "tasks"))).status_code == 404
    events = await audit_of(world.tenant, item["id"])
    assert [e.action for e in events] == ["counter_guarantee.added", "counter_guarantee.changed"]
    assert events[1].data["changes"]["registration"] == {"from": "unregistered", "to": "registered"}


async def test_in_force_from_disbursement_to_release(
    make_client: ClientFactory, world: World
) -> None:
    slug = world.tenant.slug
    pid, _ = await letter_issued(make_client, world)
    with tenant_scope(world.tenant.context):  # the bank keeps 20% of the risk here
        async with in_transaction():
            await Project.filter(id=pid).update(bank_risk_share=D("0.2"))
    disbursed_on = add_months(today_in_china(), -2) - dt.timedelta(days=5)
    async with make_client() as client:
        csrf = await sign_in(client, slug, world.manager)
        await post(client, csrf, projects_url(slug, pid, "counter-guarantees"), MORTGAGE)
        loan_url = projects_url(slug, pid, "loan")
        assert (await client.get(loan_url)).json() == {"loan": None}
        bare = await post(
            client, csrf, projects_url(slug, pid, "events", "confirm_disbursement"), {"version": 8}
        )
        assert bare.json()["error"]["code"] == "project_event_has_its_route"
        too_much = await post(
            client,
            csrf,
            loan_url,
            {
                "version": 8,
                "disbursed_on": "2026-13-01",
                "amount": "3000000.01",
                "bank_reference": "",
                "method": "equal_installment",
            },
        )
        assert too_much.status_code == 422
        assert sorted(d["pointer"] for d in too_much.json()["error"]["details"]) == [
            "/amount",
            "/annual_rate",
            "/bank_reference",
            "/disbursed_on",
        ]
        body = {
            "version": 8,
            "disbursed_on": disbursed_on.isoformat(),
            "amount": "2400000.00",
            "bank_reference": "BOC-FZ-2026-0815",
            "method": "equal_principal",
            "term_months": 12,
            "annual_rate": "0.045",
        }
        disbursed = await post(client, csrf, loan_url, body)
        assert disbursed.status_code == 201, disbursed.text
        loan = disbursed.json()["loan"]
        assert disbursed.json()["project"]["state"]["code"] == "ACTIVE"
        assert len(loan["schedule"]) == 12 and loan["outstanding"] == "2400000.00"
        assert loan["guarantor_liability"] == "1920000.00"  # 80% of 2,400,000
        # Two lines fell due unpaid, the first a month and five days ago: 400,000 of principal.
        first_due = dt.date.fromisoformat(loan["schedule"][0]["due_on"])
        assert loan["overdue_days"] == (today_in_china() - first_due).days >= 33
        assert loan["overdue_principal"] == "400000.00"
        again = await post(client, csrf, loan_url, body)
        assert again.json()["error"]["code"] == "project_stale"

        tasks = (await client.get(projects_url(slug, pid, "tasks"))).json()["items"]
        # visits every 3 months within the year (4), insurance yearly (1, mortgage held)
        assert sorted({t["rule"] for t in tasks}) == ["collateral_insurance", "visit"]
        assert len([t for t in tasks if t["rule"] == "visit"]) == 4
        assert tasks[0]["title"] == "保后检查" and tasks[0]["status"] == "open"

        repay_url = projects_url(slug, pid, "loan", "repayments")
        paid = await post(
            client,
            csrf,
            repay_url,
            {"paid_on": first_due.isoformat(), "principal": "200000.00", "interest": "9000.00"},
        )
        assert paid.status_code == 201, paid.text
        assert paid.json()["repayment"]["early"] is False
        refused = await post(
            client,
            csrf,
            repay_url,
            {"paid_on": today_in_china().isoformat(), "principal": "2200000.01"},
        )
        assert refused.status_code == 422
        error = refused.json()["error"]
        assert error["code"] == "repayment_exceeds_outstanding"
        assert "2200000.01" in error["message"] and "2200000.00" in error["message"]
        assert error["details"][0]["pointer"] == "/principal"
        negative = await post(
            client,
            csrf,
            repay_url,
            {"paid_on": first_due.isoformat(), "principal": -5, "reference": 7},
        )
        assert sorted(d["pointer"] for d in negative.json()["error"]["details"]) == [
            "/principal",
            "/reference",
        ]
        after_refusal = (await client.get(loan_url)).json()["loan"]
        assert after_refusal["outstanding"] == "2200000.00"
        assert len(after_refusal["repayments"]) == 1

    async with make_client() as client:  # the risk officer checks: overdue → 预警
        csrf = await sign_in(client, slug, world.risk)
        checked = await post(client, csrf, projects_url(slug, pid, "warnings", "check"), {})
        assert checked.status_code == 200, checked.text
        answer = checked.json()
        assert answer["raised"] is True and answer["project"]["state"]["code"] == "WATCHLIST"
        assert [s["signal"] for s in answer["signals"]] == ["overdue"]
        assert answer["signals"][0]["principal"] == "200000.00"
        assert answer["court"]["checked"] is True and answer["court"]["dishonest"] == 0
        task = tasks[0]
        done = await post(
            client,
            csrf,
            projects_url(slug, pid, "tasks", task["id"], "done"),
            {"note": "现场查看：经营正常，库存充足"},
        )
        assert done.status_code == 200 and done.json()["status"] == "done"
        twice = await post(
            client, csrf, projects_url(slug, pid, "tasks", task["id"], "done"), {"note": "再"}
        )
        assert twice.status_code == 409
    with tenant_scope(world.tenant.context):
        async with in_transaction():
            notes = await Notification.filter(kind="project_warning")
            mine = [n for n in notes if n.params.get("project") == pid]
    assert mine and "项目预警" in mine[0].title and "逾期" in mine[0].body
    # The owners are told through the messaging plug-in too, after the check committed.
    assert {n.delivery for n in mine} == {"sent"}
    assert mine[0].title in [m.title for _, m in SandboxMessaging.outbox]

    async with make_client() as client:
        csrf = await sign_in(client, slug, world.manager)
        version = (await client.get(projects_url(slug, pid))).json()["version"]
        early = await post(
            client,
            csrf,
            projects_url(slug, pid, "release"),
            {"version": version, "basis": "repaid"},
        )
        assert early.status_code == 409
        assert early.json()["error"]["code"] == "project_release_outstanding"
        # the rest at once, today: settles the overdue line and repays the others early
        rest = await post(
            client,
            csrf,
            repay_url,
            {"paid_on": today_in_china().isoformat(), "principal": "2200000.00"},
        )
        assert rest.status_code == 201 and rest.json()["repayment"]["early"] is True
        loan = rest.json()["loan"]
        assert loan["outstanding"] == "0.00" and loan["repaid_principal"] == "2400000.00"
        assert loan["overdue_days"] == 0 and loan["guarantor_liability"] == "0.00"
        assert all(line["settled_on"] for line in loan["schedule"])
        released = await post(
            client,
            csrf,
            projects_url(slug, pid, "release"),
            {"version": version, "basis": "repaid", "reason": "借款人提前结清"},
        )
        # 预警 allows 解保 too: the release comes from the watch list
        assert released.status_code == 200, released.text
        assert released.json()["project"]["state"]["code"] == "RELEASED"
        items = (await client.get(projects_url(slug, pid, "counter-guarantees"))).json()
        assert {i["registration"] for i in items["items"]} == {"cancelled"}
        assert items["coverage"]["items"] == 0
        tasks = (await client.get(projects_url(slug, pid, "tasks"))).json()["items"]
        assert {t["status"] for t in tasks} == {"done", "cancelled"}
        late = await post(client, csrf, projects_url(slug, pid, "counter-guarantees"), MORTGAGE)
        assert late.json()["error"]["code"] == "counter_guarantee_closed"
    with tenant_scope(world.tenant.context):
        async with in_transaction():
            letters = await ProjectDocument.filter(project_id=pid, kind="letter")
            items_left = await CounterGuarantee.filter(project_id=pid).exclude(
                registration="cancelled"
            )
            lines = await LoanInstallment.filter(project_id=pid)
    assert [x.status for x in letters] == ["released"] and items_left == []
    assert sum((Decimal(x.principal_paid) for x in lines), D(0)) == D("2400000.00")
    actions = [e.action for e in await audit_of(world.tenant, pid)]
    for expected in (
        "loan.disbursed",
        "aftercare.generated",
        "loan.repaid",
        "project.warning_checked",
        "aftercare.cancelled",
    ):
        assert expected in actions
    moves = [
        e.data["event"]
        for e in await audit_of(world.tenant, pid)
        if e.action == "project.transition"
    ]
    assert moves[-3:] == ["confirm_disbursement", "raise_warning", "release"]


async def test_release_on_the_banks_notice(make_client: ClientFactory, world: World) -> None:
    slug = world.tenant.slug
    pid, record_id = await letter_issued(make_client, world, amount=1000000)
    async with make_client() as client:
        csrf = await sign_in(client, slug, world.manager)
        disbursed = await post(
            client,
            csrf,
            projects_url(slug, pid, "loan"),
            {
                "version": 8,
                "disbursed_on": today_in_china().isoformat(),
                "amount": 1000000,
                "bank_reference": "ICBC-0001",
                "method": "bullet",
                "term_months": 6,
            },
        )
        assert disbursed.status_code == 201, disbursed.text
        loan = disbursed.json()["loan"]
        assert [x["principal"] for x in loan["schedule"]][-1] == "1000000.00"
        assert loan["overdue_days"] == 0
        # The staff page 合同与保函 shows the loan, its schedule and the tasks, phone-first.
        page = await client.get(f"/t/{slug}/forms/application/records/{record_id}/documents")
        assert page.status_code == 200
        assert 'data-section="loan"' in page.text and 'data-outstanding="1000000.00"' in page.text
        assert page.text.count("data-line=") == 6 and 'data-section="tasks"' in page.text
        assert (
            "按月付息、到期还本" in page.text and 'data-section="counter-guarantees"' in page.text
        )
        # …and takes a repayment and a visit's note from its forms.
        assert 'data-form="repayment"' in page.text and 'data-form="task-done"' in page.text
        base = f"/t/{slug}/forms/application/records/{record_id}/documents"
        form_paid = await client.post(
            base + "/repayments",
            data={
                "csrf_token": csrf,
                "paid_on": today_in_china().isoformat(),
                "principal": "100000.00",
                "interest": "",
            },
        )
        assert form_paid.status_code == 303 and form_paid.headers["location"].endswith("repaid")
        too_much = await client.post(
            base + "/repayments",
            data={"csrf_token": csrf, "paid_on": today_in_china().isoformat(), "principal": "1e9"},
        )
        assert too_much.status_code == 422 and "超过贷款余额" in too_much.text
        first_task = (await client.get(projects_url(slug, pid, "tasks"))).json()["items"][0]
        noted = await client.post(
            f"{base}/tasks/{first_task['id']}", data={"csrf_token": csrf, "note": "走访正常"}
        )
        assert noted.status_code == 303
        after = await client.get(base)
        assert 'data-outstanding="900000.00"' in after.text and "走访正常" in after.text
        no_notice = await post(
            client, csrf, projects_url(slug, pid, "release"), {"version": 9, "basis": "bank_notice"}
        )
        assert sorted(d["pointer"] for d in no_notice.json()["error"]["details"]) == [
            "/notice_on",
            "/notice_reference",
        ]
        released = await post(
            client,
            csrf,
            projects_url(slug, pid, "release"),
            {
                "version": 9,
                "basis": "bank_notice",
                "notice_reference": "工银解保字〔2026〕12号",
                "notice_on": today_in_china().isoformat(),
            },
        )
        assert released.status_code == 200, released.text
        loan = released.json()["loan"]
        assert loan["release_notice"] == "工银解保字〔2026〕12号"
        assert loan["outstanding"] == "900000.00"  # the bank released it before full repayment
    events = await audit_of(world.tenant, pid)
    release = [e for e in events if e.action == "project.transition"][-1]
    assert release.data["event"] == "release" and "工银解保字" in release.data["reason"]


async def test_the_in_force_routes_are_in_the_openapi_document(make_client: ClientFactory) -> None:
    async with make_client() as client:
        paths = (await client.get("/t/alpha/api/openapi.json")).json()["paths"]
    base = "/t/{slug}/api/projects/{project_id}"
    assert set(paths[base + "/counter-guarantees"]) == {"get", "post"}
    assert set(paths[base + "/counter-guarantees/{item_id}"]) == {"patch"}
    assert set(paths[base + "/loan"]) == {"get", "post"}
    repay = paths[base + "/loan/repayments"]["post"]
    assert "repayment_exceeds_outstanding" in str(repay["responses"]["422"])
    for path in ("/release", "/tasks/{task_id}/done", "/warnings/check"):
        assert "post" in paths[base + path]
    assert "get" in paths[base + "/tasks"]


async def test_the_nightly_sweep_puts_an_overdue_guarantee_on_the_watch_list(
    make_client: ClientFactory, world: World
) -> None:
    slug = world.tenant.slug
    pid, _ = await letter_issued(make_client, world, amount=600000)
    async with make_client() as client:
        csrf = await sign_in(client, slug, world.manager)
        disbursed = await post(
            client,
            csrf,
            projects_url(slug, pid, "loan"),
            {
                "version": 8,
                "disbursed_on": add_months(today_in_china(), -1).isoformat(),
                "amount": "600000",
                "bank_reference": "CCB-77",
                "method": "equal_principal",
                "term_months": 6,
            },
        )
        assert disbursed.status_code == 201, disbursed.text
    # on the day the first line falls due it is not overdue yet; the day after it is
    due = dt.date.fromisoformat(disbursed.json()["loan"]["schedule"][0]["due_on"])
    with tenant_scope(world.tenant.context):
        assert (await warning_sweep.sweep(due))["raised"] == 0
        report = await warning_sweep.sweep(due + dt.timedelta(days=1))
        async with in_transaction():
            project = await Project.get(id=pid)
            move = (
                await AuditEvent.filter(action="project.transition", object_id=pid)
                .order_by("-seq")
                .first()
            )
    assert report["raised"] == 1 and project.state == "WATCHLIST"
    assert move is not None and move.data["event"] == "raise_warning"
    assert move.data["actor"] == "job:guarantee.warnings" and "逾期 1 天" in move.data["reason"]
    with tenant_scope(world.tenant.context):
        again = await warning_sweep.sweep(due + dt.timedelta(days=2))
    assert again == {"checked": 0, "raised": 0}  # on the watch list already: not in force
