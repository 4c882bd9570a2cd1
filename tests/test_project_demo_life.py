"""A whole guarantee in the demo guarantor 广信担保 (tenants/gxdb as shipped), from the
application to the release (解保), through its real approval chain, its own contract and
letter, and its post-loan rules; the amounts reconcile at every step."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import httpx
from starlette.applications import Starlette
from tortoise.transactions import in_transaction

from danbao.audit import verify_chain
from danbao.db.models import AuditEvent, LoanInstallment, LoanRepayment, Project
from danbao.definitions import load_bundle
from danbao.forms.identifiers import today_in_china
from danbao.guarantee.loan import outstanding
from danbao.guarantee.values import add_months
from danbao.plugins.local_pades import LocalPadesSigner, seal_settings
from danbao.plugins.pades import new_seal
from danbao.plugins.sandbox.judicial import SandboxCourtRecords
from danbao.plugins.tenant_config import configure
from danbao.services import Services
from danbao.tenancy.context import tenant_scope

from .conftest import ClientFactory
from .projects_helpers import projects_url
from .records_helpers import records_url
from .test_approval_pages import GXDB, Gx, act, as_user, demo_guarantor
from .test_form_logic import APPLICATION

D = Decimal
AMOUNT = D("1200000.00")


async def call(
    make_client: ClientFactory, gx: Gx, who: str, method: str, url: str, body: Any = None
) -> httpx.Response:
    async with as_user(make_client, gx, who) as (client, headers):
        if method == "GET":
            return await client.get(url)
        if method == "PATCH":
            return await client.patch(url, json=body, headers=headers)
        extra = {"Idempotency-Key": uuid.uuid4().hex} if url.endswith("/approval") else {}
        return await client.post(url, json=body, headers={**headers, **extra})


async def test_a_guarantee_from_application_to_release_in_the_demo_tenant(
    app: Starlette, make_client: ClientFactory
) -> None:
    services: Services = app.state.services
    gx = await demo_guarantor()
    slug = gx.slug
    name = load_bundle(GXDB).tenant["name"]["zh-CN"]
    with tenant_scope(gx.tenant.context):
        async with in_transaction():
            seal = seal_settings(new_seal(name), name)
            await configure(services.keys, LocalPadesSigner, settings=seal)
            await configure(services.keys, SandboxCourtRecords, settings={})

    async def ok(who: str, method: str, url: str, body: Any = None, status: int = 200) -> Any:
        answer = await call(make_client, gx, who, method, url, body)
        assert answer.status_code == status, (url, answer.text)
        return answer.json()

    project_state: dict[str, Any] = {}

    async def fire(who: str, event: str, **body: Any) -> None:
        moved = await ok(
            who,
            "POST",
            projects_url(slug, pid, "events", event),
            {"version": project_state["version"], **body},
        )
        project_state.update(moved["project"])

    # 1. The account manager fills in and submits the application, and makes the project.
    data = {
        **APPLICATION,
        "branch": "hq",
        "amount": int(AMOUNT),
        "bank_risk_share_pct": 20,
    }
    made = await ok("am", "POST", records_url(slug), {"data": data}, 201)
    record_id = made["id"]
    await ok("am", "POST", records_url(slug, record_id, "submit"))
    project = await ok("am", "POST", projects_url(slug), {"record_id": record_id}, 201)
    pid = project["id"]
    project_state.update(project)
    assert project["attributes"]["bank_risk_share"] == "0.200000"
    for event in ("accept", "start_due_diligence"):
        await fire("am", event)

    # 2. Due diligence: the risk officer takes the counter-guarantees.
    items_url = projects_url(slug, pid, "counter-guarantees")
    flat = await ok(
        "risk",
        "POST",
        items_url,
        {
            "kind": "mortgage",
            "asset": "real_estate",
            "description": "成都市高新区天府大道 1000 号 2 栋 1 单元 1801 室",
            "owner": "王建国",
            "valuation": "1500000.00",
            "haircut": "0.3",
            "registration": "registering",
        },
        201,
    )
    await ok(
        "risk",
        "POST",
        items_url,
        {
            "kind": "guarantee",
            "asset": "person",
            "description": "实际控制人及其配偶连带责任保证",
            "owner": "王建国",
            "valuation": "600000",
            "haircut": "0.5",
        },
        201,
    )
    registered = await ok(
        "risk",
        "PATCH",
        f"{items_url}/{flat['item']['id']}",
        {
            "version": 1,
            "registration": "registered",
            "certificate_no": "川(2026)成都市不动产证明第0088888号",
            "registered_on": today_in_china().isoformat(),
        },
    )
    # 1,500,000 × 0.7 + 600,000 × 0.5 = 1,350,000 over 1,200,000 guaranteed
    assert registered["coverage"]["effective_value"] == "1350000.00"
    assert registered["coverage"]["ratio"] == "1.1250"

    # 3. Review through the guarantor's own chain: risk, legal, general manager.
    await fire("am", "submit_for_review")
    started = await ok("am", "POST", records_url(slug, record_id, "approval"), None, 201)
    instance = started["instance"]["id"]
    await act(make_client, gx, "risk", instance, comment="风险可控，同意")
    await act(make_client, gx, "legal", instance, comment="合同条款合规")
    finished = await act(make_client, gx, "gm", instance, comment="同意")
    assert finished["instance"]["status"] == "approved"
    # The general manager's approval finished the chain and moved the project with it.
    project_state.update(await ok("am", "GET", projects_url(slug, pid)))
    assert project_state["state"]["code"] == "APPROVED"
    await fire("am", "start_contracting")

    # 4. The contract signed (account manager) and the letter issued (finance).
    documents = records_url(slug, record_id, "documents")
    contract = await ok("am", "POST", documents, {"document": "contract"}, 201)
    letter = await ok("fin", "POST", documents, {"document": "letter"}, 201)
    assert contract["project_id"] == letter["project_id"] == pid
    async with make_client() as visitor:
        page = await visitor.get(f"/t/{slug}/verify/{letter['verify_token']}")
    assert 'data-status="valid"' in page.text
    project_state.update(await ok("am", "GET", projects_url(slug, pid)))
    assert project_state["state"]["code"] == "LETTER_ISSUED"

    # 5. The bank disbursed three months ago; equal principal over 12 months.
    disbursed_on = add_months(today_in_china(), -3)
    loan_url = projects_url(slug, pid, "loan")
    disbursed = await ok(
        "am",
        "POST",
        loan_url,
        {
            "version": project_state["version"],
            "disbursed_on": disbursed_on.isoformat(),
            "amount": str(AMOUNT),
            "bank_reference": "ICBC-SC-2026-00123",
            "method": "equal_principal",
            "annual_rate": "0.0435",
        },
        201,
    )
    loan = disbursed["loan"]
    assert disbursed["project"]["state"]["code"] == "ACTIVE"
    assert {x["principal"] for x in loan["schedule"]} == {"100000.00"}
    assert loan["guarantor_liability"] == "960000.00"  # the bank keeps 20%
    tasks = await ok("am", "GET", projects_url(slug, pid, "tasks"))
    counts: dict[str, int] = {}
    for task in tasks["items"]:
        counts[task["rule"]] = counts.get(task["rule"], 0) + 1
    # quarterly visits, half-year statements (a small enterprise), yearly insurance
    # (a mortgage is held); no monthly phone call under ¥5,000,000
    assert counts == {"site_visit": 4, "financials": 2, "collateral_insurance": 1}

    # 6. Three instalments paid on their dates by finance; one visit done.
    repay = projects_url(slug, pid, "loan", "repayments")
    for line in loan["schedule"][:3]:
        interest = line["interest"]
        await ok(
            "fin",
            "POST",
            repay,
            {"paid_on": line["due_on"], "principal": line["principal"], "interest": interest},
            201,
        )
    visit = next(t for t in tasks["items"] if t["rule"] == "site_visit")
    await ok(
        "am",
        "POST",
        projects_url(slug, pid, "tasks", visit["id"], "done"),
        {"note": "生产经营正常，抵押房产现状良好"},
    )
    check = await ok("risk", "POST", projects_url(slug, pid, "warnings", "check"), {})
    assert check["signals"] == [] and check["raised"] is False
    assert check["court"]["checked"] is True
    loan = (await ok("am", "GET", loan_url))["loan"]
    assert loan["outstanding"] == "900000.00" and loan["overdue_days"] == 0
    assert loan["guarantor_liability"] == "720000.00"
    with tenant_scope(gx.tenant.context):
        async with in_transaction():
            row = await Project.get(id=pid)
            assert await outstanding(row) == D("900000.00")

    # 7. Too much is refused; the rest is repaid early; the guarantee is released.
    too_much = await call(
        make_client,
        gx,
        "fin",
        "POST",
        repay,
        {"paid_on": today_in_china().isoformat(), "principal": "900000.01"},
    )
    assert too_much.status_code == 422
    assert too_much.json()["error"]["code"] == "repayment_exceeds_outstanding"
    rest = await ok(
        "fin",
        "POST",
        repay,
        {"paid_on": today_in_china().isoformat(), "principal": "900000.00"},
        201,
    )
    assert rest["repayment"]["early"] is True and rest["loan"]["outstanding"] == "0.00"
    project_state.update(await ok("am", "GET", projects_url(slug, pid)))
    released = await ok(
        "am",
        "POST",
        projects_url(slug, pid, "release"),
        {"version": project_state["version"], "basis": "repaid", "reason": "贷款已结清"},
    )
    assert released["project"]["state"]["code"] == "RELEASED"
    items = await ok("am", "GET", items_url)
    assert {i["registration"] for i in items["items"]} == {"cancelled"}
    async with make_client() as visitor:
        page = await visitor.get(f"/t/{slug}/verify/{letter['verify_token']}")
    assert 'data-status="released"' in page.text

    # The totals reconcile: disbursed = Σ repayments = Σ schedule paid; outstanding 0.
    with tenant_scope(gx.tenant.context):
        async with in_transaction():
            payments = await LoanRepayment.filter(project_id=pid)
            lines = await LoanInstallment.filter(project_id=pid)
            moves = await AuditEvent.filter(action="project.transition", object_id=pid).order_by(
                "seq"
            )
            chain = await verify_chain()
    assert sum((D(p.principal) for p in payments), D(0)) == AMOUNT
    assert sum((D(x.principal_paid) for x in lines), D(0)) == AMOUNT
    assert sum((D(x.principal) for x in lines), D(0)) == AMOUNT
    assert [p.outstanding_after for p in payments][-1] == D("0.00")
    assert [m.data["event"] for m in moves] == [
        "accept",
        "start_due_diligence",
        "submit_for_review",
        "approve",
        "start_contracting",
        "sign_contract",
        "issue_letter",
        "confirm_disbursement",
        "release",
    ]
    assert moves[3].data["approval_id"] == instance
    assert "审批流程 review" in moves[3].data["reason"]
    assert chain.ok
