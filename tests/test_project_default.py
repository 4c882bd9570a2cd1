"""Default and recovery: an application through overdue, compensation (代偿), partial
recovery (追偿) and write-off (损失核销) with totals that reconcile; every refusal leaves
everything as it was; receipts raced at once never exceed the compensation; other
tenants' projects are 404."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date
from decimal import Decimal
from typing import Any

import httpx
from tortoise.transactions import in_transaction

from danbao.db.models import (
    AuditEvent,
    Project,
    ProjectCompensation,
    ProjectOverdue,
    ProjectRecoveryReceipt,
    ProjectWriteOff,
)
from danbao.guarantee import recovery, service
from danbao.guarantee.default import DefaultRefused
from danbao.guarantee.effects import OWN_ROUTES
from danbao.guarantee.totals import Facts, reconcile
from danbao.tenancy.context import tenant_scope

from .conftest import ClientFactory, TenantFixture, sign_in
from .projects_helpers import finished_approval, projects_url, submitted_record, user_by_email
from .records_helpers import new_user

TO_ACTIVE = (
    "accept",
    "start_due_diligence",
    "submit_for_review",
    "approve",
    "start_contracting",
    "sign_contract",
    "issue_letter",
    "confirm_disbursement",
)
NOTICE = {
    "notice_ref": "中行福州逾字2026第017号",
    "notice_date": "2026-03-20",
    "days_overdue": 35,
    "principal": "1200000.00",
    "interest": "36500.50",
}


async def fire(tenant: TenantFixture, project_id: str, record_id: str, *events: str) -> None:
    """Fire ``events`` through the service, one transaction each, as the manager. The
    events whose fact has its own route (documents, the loan) are fired as that route
    fires them: those routes are tested in their own files."""
    user = await user_by_email_in(tenant, tenant.manager_email)
    for code in events:
        approval = None
        if code in ("approve", "compensate", "write_off"):
            approval = await finished_approval(tenant, record_id)
        with tenant_scope(tenant.context):
            async with in_transaction():
                done = await service.apply_event(
                    uuid.UUID(project_id),
                    code,
                    expected_version=None,
                    user=user,
                    approval_id=approval,
                    via=OWN_ROUTES.get(code),
                )
                assert done is not None and done.applied


async def user_by_email_in(tenant: TenantFixture, email: str) -> Any:
    with tenant_scope(tenant.context):
        async with in_transaction():
            return await user_by_email(email)


async def new_project(make_client: ClientFactory, tenant: TenantFixture) -> tuple[str, str]:
    """(project id, record id) of a fresh project in 在保 (ACTIVE) made by the manager."""
    rid = await submitted_record(make_client, tenant, tenant.manager_email, amount=3000000)
    async with make_client() as client:
        csrf = await sign_in(client, tenant.slug, tenant.manager_email)
        created = await client.post(
            projects_url(tenant.slug), json={"record_id": rid}, headers={"X-CSRF-Token": csrf}
        )
        assert created.status_code == 201, created.text
    pid = str(created.json()["id"])
    await fire(tenant, pid, rid, *TO_ACTIVE)
    return pid, rid


class Api:
    """One signed-in caller on one project."""

    def __init__(self, client: httpx.AsyncClient, csrf: str, slug: str, pid: str) -> None:
        self.client, self.csrf, self.slug, self.pid = client, csrf, slug, pid

    async def post(self, *parts: str, **body: Any) -> httpx.Response:
        return await self.client.post(
            projects_url(self.slug, self.pid, *parts),
            json=body,
            headers={"X-CSRF-Token": self.csrf},
        )

    async def project(self) -> dict[str, Any]:
        shown = await self.client.get(projects_url(self.slug, self.pid))
        assert shown.status_code == 200, shown.text
        return dict(shown.json())

    async def default(self, **params: str) -> dict[str, Any]:
        found = await self.client.get(projects_url(self.slug, self.pid, "default"), params=params)
        assert found.status_code == 200, found.text
        return dict(found.json())


async def snapshot(tenant: TenantFixture, pid: str) -> tuple[Any, ...]:
    """Everything a refusal must leave alone: the project's state and version, its
    default records, and the tenant's audit trail."""
    with tenant_scope(tenant.context):
        async with in_transaction():
            project = await Project.get(id=pid)
            return (
                project.state,
                project.version,
                await ProjectOverdue.filter(project_id=pid).values_list("status", flat=True),
                await ProjectCompensation.filter(project_id=pid).count(),
                await ProjectRecoveryReceipt.filter(project_id=pid).count(),
                await ProjectWriteOff.filter(project_id=pid).count(),
                await AuditEvent.all().count(),
            )


def error_of(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    return dict(response.json()["error"])


async def test_a_project_from_application_through_default_to_write_off(
    make_client: ClientFactory, tenants: dict[str, TenantFixture]
) -> None:
    alpha = tenants["alpha"]
    pid, rid = await new_project(make_client, alpha)
    risk, _ = await new_user(alpha, ["risk_officer"], "risk")
    finance, _ = await new_user(alpha, ["finance"], "finance")
    legal, _ = await new_user(alpha, ["legal"], "legal")

    # 逾期: the bank's notice, by the risk officer.
    async with make_client() as client:
        api = Api(client, await sign_in(client, "alpha", risk), "alpha", pid)
        project = await api.project()
        assert project["state"]["code"] == "ACTIVE"
        assert project["totals"]["compensated"] == "0.00" and project["totals"]["reconciled"]
        before = await snapshot(alpha, pid)
        bare = await api.post("events", "mark_overdue", version=project["version"])
        assert error_of(bare, 409)["code"] == "project_event_has_its_route"
        incomplete = await api.post("overdue", version=project["version"], principal="-1")
        pointers = {d["pointer"] for d in error_of(incomplete, 422)["details"]}
        assert pointers == {
            "/notice_ref",
            "/notice_date",
            "/days_overdue",
            "/principal",
            "/interest",
        }
        fen = await api.post(
            "overdue", **{**NOTICE, "principal": "1.001"}, version=project["version"]
        )
        assert error_of(fen, 422)["details"][0]["pointer"] == "/principal"
        too_much = await api.post(
            "overdue", **{**NOTICE, "principal": "3000000.01"}, version=project["version"]
        )
        error = error_of(too_much, 409)
        assert error["code"] == "project_overdue_exceeds_liability"
        assert error["details"] == [{"pointer": "/principal"}] and "3000000.00" in error["message"]
        stale = await api.post("overdue", **NOTICE, version=project["version"] - 1)
        assert error_of(stale, 409)["code"] == "project_stale"
        assert await snapshot(alpha, pid) == before
        marked = await api.post("overdue", **NOTICE, version=project["version"])
        assert marked.status_code == 201, marked.text
        assert marked.json()["project"]["state"]["code"] == "OVERDUE"
        [notice] = marked.json()["default"]["overdue"]
        assert notice["obliged"] == "1236500.50" and notice["overdue_since"] == "2026-02-13"
        assert notice["status_name"] == "未代偿"
        assert marked.json()["default"]["totals"]["obliged_unpaid"] == "1236500.50"
        version = marked.json()["project"]["version"]
        refused = await api.post("compensation", version=version, amount="1", paid_on="2026-04-01")
        assert refused.status_code == 403  # the risk officer does not pay

    # 代偿: the payment, by finance, carried by an approval.
    async with make_client() as client:
        api = Api(client, await sign_in(client, "alpha", finance), "alpha", pid)
        payment = {"amount": "1236500.50", "paid_on": "2026-04-10", "bank_receipt_ref": "HD-889"}
        before = await snapshot(alpha, pid)
        unapproved = await api.post("compensation", version=version, **payment)
        assert error_of(unapproved, 409)["code"] == "project_approval_required"
        rejected = await finished_approval(alpha, rid, "rejected")
        wrong = await api.post(
            "compensation", version=version, approval_id=str(rejected), **payment
        )
        assert error_of(wrong, 409)["code"] == "project_approval_outcome"
        approval = await finished_approval(alpha, rid)
        above = await api.post(
            "compensation",
            version=version,
            approval_id=str(approval),
            **{**payment, "amount": "1236500.51"},
        )
        error = error_of(above, 409)
        assert error["code"] == "project_compensation_exceeds"
        assert error["details"] == [{"pointer": "/amount"}]
        early = await api.post(
            "compensation",
            version=version,
            approval_id=str(approval),
            **{**payment, "paid_on": "2026-02-01"},
        )
        assert error_of(early, 409)["details"] == [{"pointer": "/paid_on"}]
        assert await snapshot(alpha, pid) == before
        paid = await api.post("compensation", version=version, approval_id=str(approval), **payment)
        assert paid.status_code == 201, paid.text
        assert paid.json()["project"]["state"]["code"] == "COMPENSATED"
        assert paid.json()["default"]["overdue"][0]["status"] == "compensated"
        totals = paid.json()["default"]["totals"]
        assert (totals["compensated"], totals["outstanding"], totals["obliged_unpaid"]) == (
            "1236500.50",
            "1236500.50",
            "0.00",
        )
        version = paid.json()["project"]["version"]
        again = await api.post(
            "compensation", version=version, approval_id=str(approval), **payment
        )
        assert error_of(again, 409)["code"] == "project_not_allowed"

    # 追偿: actions and receipts, by legal counsel.
    async with make_client() as client:
        api = Api(client, await sign_in(client, "alpha", legal), "alpha", pid)
        action = {
            "kind": "litigation",
            "started_on": "2026-04-20",
            "reference": "(2026)闽0102民初1234号",
        }
        too_soon = await api.post("recoveries", **action)
        assert error_of(too_soon, 409)["code"] == "project_recovery_state"
        started = await api.post("events", "start_recovery", version=version)
        assert started.status_code == 200, started.text
        bad_kind = await api.post("recoveries", **{**action, "kind": "prayer"})
        assert error_of(bad_kind, 422)["details"][0]["pointer"] == "/kind"
        lawsuit = await api.post("recoveries", **action)
        assert lawsuit.status_code == 201, lawsuit.text
        lawsuit_id = lawsuit.json()["created"]
        disposal = await api.post(
            "recoveries", kind="collateral_disposal", started_on="2026-05-06", note="抵押房产拍卖"
        )
        disposal_id = disposal.json()["created"]
        got = await api.post(
            "recoveries", lawsuit_id, "receipts", amount="300000", received_on="2026-06-30"
        )
        assert got.status_code == 201, got.text
        got = await api.post(
            "recoveries", disposal_id, "receipts", amount=500000.25, received_on="2026-07-15"
        )
        assert got.status_code == 201, got.text
        before = await snapshot(alpha, pid)
        over = await api.post(
            "recoveries", disposal_id, "receipts", amount="436500.26", received_on="2026-07-20"
        )
        error = error_of(over, 409)
        assert error["code"] == "project_recovery_exceeds"
        assert error["details"] == [{"pointer": "/amount"}]
        assert "436500.25" in error["message"] and "800000.25" in error["message"]
        unknown = await api.post(
            "recoveries", str(uuid.uuid4()), "receipts", amount="1", received_on="2026-07-20"
        )
        assert unknown.status_code == 404
        assert await snapshot(alpha, pid) == before
        file = await api.default(lang="en")
        assert [(a["kind_name"], a["recovered"]) for a in file["recoveries"]] == [
            ("Litigation", "300000.00"),
            ("Disposal of collateral", "500000.25"),
        ]
        totals = file["totals"]
        assert (totals["recovered"], totals["outstanding"]) == ("800000.25", "436500.25")
        assert totals["recovery_rate"] == "0.646987" and totals["reconciled"]
        for action_id in (lawsuit_id, disposal_id):
            closed = await api.post(
                "recoveries", action_id, "close", closed_on="2026-08-01", outcome="执行终结"
            )
            assert closed.status_code == 200, closed.text
        twice = await api.post("recoveries", lawsuit_id, "close", closed_on="2026-08-02")
        assert error_of(twice, 409)["code"] == "project_recovery_action_closed"
        version = (await api.project())["version"]
        ended = await api.post("events", "close_recovery", version=version)
        assert ended.status_code == 200, ended.text
        version = ended.json()["project"]["version"]
        late = await api.post(
            "recoveries", lawsuit_id, "receipts", amount="1", received_on="2026-08-03"
        )
        assert error_of(late, 409)["code"] == "project_recovery_action_closed"

    # 损失核销: the loss that is left, with the regulator's evidence, by finance.
    judgment = {
        "kind": "court_judgment",
        "reference": "(2026)闽0102执恢88号",
        "issued_on": "2026-08-01",
        "issuer": "福州市鼓楼区人民法院",
    }
    async with make_client() as client:
        api = Api(client, await sign_in(client, "alpha", finance), "alpha", pid)
        before = await snapshot(alpha, pid)
        body = {"version": version, "written_off_on": "2026-09-30"}
        unapproved = await api.post("write-off", **body, evidence=[judgment])
        assert error_of(unapproved, 409)["code"] == "project_approval_required"
        approval = await finished_approval(alpha, rid)
        body["approval_id"] = str(approval)
        award_only = {**judgment, "kind": "arbitral_award", "issuer": "福州仲裁委员会"}
        weak = await api.post("write-off", **body, evidence=[award_only])
        assert error_of(weak, 422)["details"][0]["pointer"] == "/evidence"
        vague = await api.post("write-off", **body, evidence=[{**judgment, "kind": "other"}])
        assert error_of(vague, 422)["details"][0]["pointer"] == "/evidence/0/description"
        none = await api.post("write-off", **body, evidence=[])
        assert error_of(none, 422)["details"][0]["pointer"] == "/evidence"
        foreign_file = {**judgment, "attachment_id": str(uuid.uuid4())}
        unknown = await api.post("write-off", **body, evidence=[foreign_file])
        assert error_of(unknown, 422)["details"][0]["pointer"] == "/evidence/0/attachment_id"
        changed = await api.post("write-off", **body, loss="436500.00", evidence=[judgment])
        error = error_of(changed, 409)
        assert error["code"] == "project_write_off_loss_changed" and "436500.25" in error["message"]
        assert await snapshot(alpha, pid) == before
        enforcement = {**judgment, "kind": "enforcement_order", "issuer": "福州市中级人民法院"}
        done = await api.post(
            "write-off", **body, loss="436500.25", evidence=[award_only, enforcement]
        )
        assert done.status_code == 201, done.text
        assert done.json()["project"]["state"]["code"] == "WRITTEN_OFF"
        loss = done.json()["default"]["write_off"]
        assert (loss["loss"], loss["basis"], loss["basis_name"]) == (
            "436500.25",
            "award_enforcement",
            "仲裁裁决及执行裁定",
        )
        totals = (await api.project())["totals"]
        assert totals == {
            "obliged_unpaid": "0.00",
            "compensated": "1236500.50",
            "recovered": "800000.25",
            "lost": "436500.25",
            "outstanding": "0.00",
            "recovery_rate": "0.646987",
            "reconciled": True,
            "problems": [],
        }
        assert Decimal(totals["compensated"]) == Decimal(totals["recovered"]) + Decimal(
            totals["lost"]
        ) + Decimal(totals["outstanding"])
        timeline = await client.get(projects_url("alpha", pid, "timeline"), params={"limit": 8})
        told = {e["action"]: (e["title"], e["lines"]) for e in timeline.json()["items"][::-1]}
        assert told["project.written_off"] == (
            "损失核销",
            ["436500.25", "2026-09-30", "仲裁裁决及执行裁定"],
        )
        assert told["project.recovery_received"] == ("追回款项", ["500000.25", "2026-07-15"])
        tenant_wide = await client.get(projects_url("alpha", "totals"), params={"year": "2026"})
        assert tenant_wide.status_code == 200, tenant_wide.text
        summed = tenant_wide.json()
        assert summed["unreconciled"] == [] and summed["totals"]["reconciled"]
        assert Decimal(summed["this_year"]["lost"]) >= Decimal("436500.25")
        assert summed["projects"]["written_off"] >= 1

    with tenant_scope(alpha.context):
        async with in_transaction():
            trail = await AuditEvent.filter(object_id=pid).order_by("seq")
    actions = [e.action for e in trail if not e.action.startswith("project.transition")]
    assert actions == [
        "project.created",
        "project.overdue_registered",
        "project.compensated",
        "project.recovery_started",
        "project.recovery_started",
        "project.recovery_received",
        "project.recovery_received",
        "project.recovery_closed",
        "project.recovery_closed",
        "project.written_off",
    ]
    events = [e.data["event"] for e in trail if e.action == "project.transition"]
    assert events[len(TO_ACTIVE) :] == [
        "mark_overdue",
        "compensate",
        "start_recovery",
        "close_recovery",
        "write_off",
    ]
    written = next(e for e in trail if e.action == "project.written_off")
    assert written.data["approval_id"] == str(approval) and written.data["loss"] == "436500.25"


async def test_an_overdue_cured_and_registered_again(
    make_client: ClientFactory, tenants: dict[str, TenantFixture]
) -> None:
    alpha = tenants["alpha"]
    pid, _ = await new_project(make_client, alpha)
    risk, _ = await new_user(alpha, ["risk_officer"], "risk")
    async with make_client() as client:
        api = Api(client, await sign_in(client, "alpha", risk), "alpha", pid)
        version = (await api.project())["version"]
        marked = await api.post("overdue", **NOTICE, version=version)
        version = marked.json()["project"]["version"]
        early = await api.post("overdue", "cure", version=version, cured_on="2026-01-01")
        assert error_of(early, 409)["details"] == [{"pointer": "/cured_on"}]
        future = await api.post("overdue", "cure", version=version, cured_on="2999-01-01")
        assert error_of(future, 422)["details"][0]["pointer"] == "/cured_on"
        cured = await api.post("overdue", "cure", version=version, cured_on="2026-03-25")
        assert cured.status_code == 200, cured.text
        assert cured.json()["project"]["state"]["code"] == "ACTIVE"
        assert cured.json()["default"]["overdue"][0]["status"] == "cured"
        assert cured.json()["default"]["totals"]["obliged_unpaid"] == "0.00"
        version = cured.json()["project"]["version"]
        again = await api.post(
            "overdue", **{**NOTICE, "notice_date": "2026-05-20"}, version=version
        )
        assert again.status_code == 201, again.text
        assert [n["status"] for n in again.json()["default"]["overdue"]] == ["cured", "open"]
        assert again.json()["default"]["totals"]["reconciled"]


async def in_recovery(
    make_client: ClientFactory, tenant: TenantFixture, compensated: str
) -> tuple[str, str]:
    """(project id, open recovery action id) of a project 追偿中 after paying ``compensated``."""
    pid, rid = await new_project(make_client, tenant)
    manager = await user_by_email_in(tenant, tenant.manager_email)
    with tenant_scope(tenant.context):
        async with in_transaction():
            await service.apply_event(
                uuid.UUID(pid), "mark_overdue", expected_version=None, user=manager, via="overdue"
            )
            await ProjectOverdue.create(
                project_id=pid,
                notice_ref="N-1",
                notice_date=date(2026, 3, 1),
                overdue_since=date(2026, 2, 1),
                days_overdue=28,
                principal=compensated,
                interest=0,
                obliged=compensated,
                created_by=manager.id,
            )
    email, _ = await new_user(tenant, ["general_manager"], "hq")
    async with make_client() as client:
        api = Api(client, await sign_in(client, tenant.slug, email), tenant.slug, pid)
        approval = await finished_approval(tenant, rid)
        paid = await api.post(
            "compensation",
            version=(await api.project())["version"],
            approval_id=str(approval),
            amount=compensated,
            paid_on="2026-03-05",
            bank_receipt_ref="R-1",
        )
        assert paid.status_code == 201, paid.text
        started = await api.post(
            "events", "start_recovery", version=paid.json()["project"]["version"]
        )
        assert started.status_code == 200, started.text
        action = await api.post("recoveries", kind="demand", started_on="2026-03-06")
        assert action.status_code == 201, action.text
    return pid, str(action.json()["created"])


async def test_two_receipts_at_once_never_exceed_the_compensation(
    make_client: ClientFactory, tenants: dict[str, TenantFixture]
) -> None:
    """Step by step: while one receipt's transaction is open, a second one waits on the
    project's row lock; once the first commits, the second sees it and is refused."""
    alpha = tenants["alpha"]
    pid, action = await in_recovery(make_client, alpha, "100000.00")
    user = await user_by_email_in(alpha, alpha.manager_email)
    receipt = recovery.Receipt(Decimal("60000.00"), date(2026, 4, 1), None)
    recorded, release = asyncio.Event(), asyncio.Event()

    async def first() -> None:
        with tenant_scope(alpha.context):
            async with in_transaction():
                done = await recovery.record_receipt(
                    uuid.UUID(pid), uuid.UUID(action), receipt, user=user
                )
                assert done is not None
                recorded.set()
                await release.wait()  # holds the project's row lock until told

    async def second() -> str:
        await recorded.wait()
        with tenant_scope(alpha.context):
            async with in_transaction():
                try:
                    await recovery.record_receipt(
                        uuid.UUID(pid), uuid.UUID(action), receipt, user=user
                    )
                except DefaultRefused as exc:
                    return exc.code
        return "recorded"

    one, two = asyncio.create_task(first()), asyncio.create_task(second())
    await recorded.wait()
    await asyncio.sleep(0.5)
    assert not two.done()  # waiting on the lock, not reading a sum without the first
    release.set()
    await one
    assert await two == "recovery_exceeds"
    with tenant_scope(alpha.context):
        async with in_transaction():
            amounts = await ProjectRecoveryReceipt.filter(project_id=pid).values_list(
                "amount", flat=True
            )
    assert amounts == [Decimal("60000.00")]


async def test_other_tenants_projects_are_not_found(
    make_client: ClientFactory, tenants: dict[str, TenantFixture]
) -> None:
    alpha, beta = tenants["alpha"], tenants["beta"]
    pid, action = await in_recovery(make_client, alpha, "50000.00")
    email, _ = await new_user(beta, ["general_manager"], "hq")
    before = await snapshot(alpha, pid)
    async with make_client() as client:
        api = Api(client, await sign_in(client, "beta", email), "beta", pid)
        assert (await client.get(projects_url("beta", pid, "default"))).status_code == 404
        for parts, body in (
            (("overdue",), {**NOTICE, "version": 1}),
            (("overdue", "cure"), {"version": 1, "cured_on": "2026-04-01"}),
            (("recoveries",), {"kind": "demand", "started_on": "2026-04-01"}),
            (("recoveries", action, "receipts"), {"amount": "1", "received_on": "2026-04-01"}),
            (("recoveries", action, "close"), {"closed_on": "2026-04-01"}),
        ):
            answer = await api.post(*parts, **body)
            assert answer.status_code == 404, (parts, answer.text)
        totals = await client.get(projects_url("beta", "totals"))
        assert totals.json()["totals"]["compensated"] == "0.00"
    assert await snapshot(alpha, pid) == before


def test_reconciliation_names_each_disagreement() -> None:
    money = Decimal
    taken = (money("100"), money("30"), money("70"))  # compensated, recovered, loss
    clean = reconcile(Facts("WRITTEN_OFF", [], money("100"), [money("30")], taken))
    assert clean.reconciled and clean.outstanding == 0
    late_receipt = reconcile(
        Facts(
            "WRITTEN_OFF",
            [],
            money("100"),
            [money("30"), money("5")],
            taken,
        )
    )
    assert late_receipt.problems == ("changed_after_write_off", "balance_after_write_off")
    assert reconcile(Facts("RECOVERING", [], money("10"), [money("11")])).problems == (
        "recovered_exceeds_compensated",
    )
    assert reconcile(Facts("COMPENSATED")).problems == ("compensation_state_mismatch",)
    assert reconcile(Facts("OVERDUE")).problems == ("overdue_state_mismatch",)
    assert reconcile(Facts("ACTIVE", [money("5")])).problems == ("overdue_state_mismatch",)


async def test_default_routes_are_in_the_openapi_document(make_client: ClientFactory) -> None:
    async with make_client() as client:
        paths = (await client.get("/t/alpha/api/openapi.json")).json()["paths"]
    base = "/t/{slug}/api/projects"
    for path in (
        "/{project_id}/overdue",
        "/{project_id}/compensation",
        "/{project_id}/recoveries/{recovery_id}/receipts",
        "/{project_id}/write-off",
    ):
        assert "409" in paths[base + path]["post"]["responses"], path
    assert "get" in paths[base + "/totals"]
