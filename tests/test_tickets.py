"""Service tickets: opened on a project, answered within the SLA on the working calendar,
assigned with a notification through the messaging plug-in, moved by the status table;
stale versions, closed tickets, bad fields and other people's tickets refused."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest
from starlette.applications import Starlette

from danbao.db.models import AuditEvent, ServiceTicket
from danbao.plugins.sandbox.messaging import SandboxMessaging
from danbao.tenancy.context import tenant_scope
from danbao.tickets import sla, sla_sweep
from danbao.tickets.states import ACTIONS, ActionNotAllowed, Status, after_reply, plan
from danbao.workdays import CHINA, FixedClock
from danbao.workflow import sweep as timer_sweep

from .conftest import ClientFactory, TenantFixture, sign_in
from .projects_helpers import projects_url, submitted_record
from .test_approvals_operations import Desk, clients, make_desk


@pytest.fixture(scope="module")
async def desk(app: Starlette) -> Desk:
    return await make_desk(clients(app))


async def new_project(desk: Desk, who: str = "am") -> str:
    rid = await submitted_record(desk.make_client, desk.tenant, desk.email[who])
    made = await desk.call(who, "POST", "/projects", json={"record_id": rid})
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


async def open_ticket(desk: Desk, who: str, project: str, **fields: Any) -> dict[str, Any]:
    body = {"subject": "放款时间咨询", "category": "consult", "body": "请问何时放款？", **fields}
    opened = await desk.call(who, "POST", f"/projects/{project}/tickets", json=body)
    assert opened.status_code == 201, opened.text
    ticket: dict[str, Any] = opened.json()
    return ticket


def china(year: int, month: int, day: int, hour: int, minute: int) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=CHINA)


def test_the_status_table() -> None:
    assert plan("open", "start") is Status.IN_PROGRESS
    assert plan("resolved", "reopen") is Status.IN_PROGRESS
    for action, (sources, target) in ACTIONS.items():
        for status in Status:
            if status in sources:
                assert plan(status.value, action) is target
            else:
                with pytest.raises(ActionNotAllowed) as refused:
                    plan(status.value, action)
                assert action in str(refused.value) and status.value in str(refused.value)
    # Replies: staff answers start work, the opener's answer brings a ticket back.
    assert after_reply("open", by_staff=True, internal=False) is Status.IN_PROGRESS
    assert after_reply("open", by_staff=True, internal=True) is Status.OPEN
    assert after_reply("waiting_customer", by_staff=False, internal=False) is Status.IN_PROGRESS
    assert after_reply("resolved", by_staff=False, internal=False) is Status.IN_PROGRESS
    assert after_reply("waiting_customer", by_staff=True, internal=False) is Status.WAITING_CUSTOMER


def test_sla_deadlines_skip_the_national_day_holiday() -> None:
    # 2025: 1-8 October off, Saturday 11 October worked (调休).
    opened = china(2025, 9, 30, 17, 30)
    normal = sla.deadlines({}, "normal", opened)
    assert normal.respond_due_at == china(2025, 10, 9, 17, 30)
    assert normal.resolve_due_at == china(2025, 10, 14, 17, 30)  # 9, 10, 11 (Sat), 13, 14
    custom = {"tickets": {"sla": {"urgent": {"respond": "PT1H"}}}}
    urgent = sla.deadlines(custom, "urgent", opened)
    assert urgent.respond_due_at == china(2025, 10, 9, 9, 30)  # 30 min left on the 30th
    assert urgent.resolve_due_at == china(2025, 10, 9, 17, 30)  # the default P1D stays
    due = normal.respond_due_at
    assert sla.standing(due, None, due - dt.timedelta(minutes=1)) == "pending"
    assert sla.standing(due, None, due + dt.timedelta(minutes=1)) == "breached"
    assert sla.standing(due, due, due + dt.timedelta(days=9)) == "met"
    assert sla.standing(due, due + dt.timedelta(seconds=1), due) == "breached"


async def test_a_ticket_from_open_to_closed(desk: Desk) -> None:
    project = await new_project(desk)
    ticket = await open_ticket(desk, "gm", project, priority="high")
    tid = ticket["id"]
    assert ticket["number"].startswith(f"GD-{dt.date.today().year}-")
    assert ticket["status"] == {"code": "open", "name": "待受理"}
    assert ticket["assignee_id"] == desk.id["am"]  # the project's account manager
    assert ticket["sla"]["respond"]["standing"] == "pending"
    opened_at = dt.datetime.fromisoformat(ticket["created_at"])
    expected = sla.deadlines({}, "high", opened_at)
    assert dt.datetime.fromisoformat(ticket["sla"]["respond"]["due_at"]) == expected.respond_due_at

    note = await desk.call(
        "am", "POST", f"/tickets/{tid}/replies", json={"body": "内部：查放款计划", "internal": True}
    )
    assert note.status_code == 200 and note.json()["status"]["code"] == "open"
    answered = await desk.call(
        "am", "POST", f"/tickets/{tid}/replies", json={"body": "预计下周放款"}
    )
    body = answered.json()
    assert body["status"]["code"] == "in_progress" and body["first_response_at"] is not None
    assert body["sla"]["respond"]["standing"] == "met"

    version = body["version"]
    stale = await desk.call(
        "am", "POST", f"/tickets/{tid}/actions/resolve", json={"version": version - 1}
    )
    assert stale.status_code == 409 and stale.json()["error"]["code"] == "ticket_stale"
    resolved = await desk.call(
        "am", "POST", f"/tickets/{tid}/actions/resolve", json={"version": version}
    )
    assert resolved.status_code == 200 and resolved.json()["status"]["code"] == "resolved"
    version = resolved.json()["version"]
    start = await desk.call(
        "am", "POST", f"/tickets/{tid}/actions/start", json={"version": version}
    )
    assert start.status_code == 409 and start.json()["error"]["code"] == "ticket_not_allowed"
    unknown = await desk.call(
        "am", "POST", f"/tickets/{tid}/actions/escalate", json={"version": version}
    )
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "ticket_unknown_action"
    closed = await desk.call(
        "am", "POST", f"/tickets/{tid}/actions/close", json={"version": version}
    )
    assert closed.json()["status"]["code"] == "closed" and closed.json()["closed_at"]
    late = await desk.call("am", "POST", f"/tickets/{tid}/replies", json={"body": "补充"})
    assert late.status_code == 409 and late.json()["error"]["code"] == "ticket_closed"

    shown = (await desk.call("gm", "GET", f"/tickets/{tid}")).json()
    assert [(r["body"], r["internal"]) for r in shown["replies"]] == [
        ("请问何时放款？", False),
        ("内部：查放款计划", True),
        ("预计下周放款", False),
    ]

    async def trail() -> list[AuditEvent]:
        return list(await AuditEvent.filter(object_id=tid).order_by("seq"))

    events = await desk.db(trail)
    assert [e.action for e in events] == [
        "ticket.opened",
        "ticket.replied",
        "ticket.replied",
        "ticket.status",
        "ticket.status",
    ]
    assert not any("放款" in str(e.data) for e in events)  # lengths, never the messages


async def test_assigning_notifies_through_the_messaging_plugin(desk: Desk) -> None:
    project = await new_project(desk)
    ticket = await open_ticket(desk, "am", project)
    assert ticket["assignee_id"] == desk.id["am"]
    enabled = await desk.call(
        "admin", "PUT", "/plugins/sandbox.messaging", json={"settings": {"sender": "担保云"}}
    )
    assert enabled.status_code == 200, enabled.text
    SandboxMessaging.outbox.clear()
    path = f"/tickets/{ticket['id']}/assign"
    given = await desk.call("gm", "POST", path, json={"assignee_id": desk.id["am2"], "version": 1})
    assert given.status_code == 200, given.text
    title = f"工单已指派给您：{ticket['number']} 放款时间咨询"
    assert ((desk.email["am2"],), title) in [
        (m.recipients, m.title) for _, m in SandboxMessaging.outbox
    ]
    newest = (await desk.notifications("am2"))["items"][0]
    assert newest["kind"] == "ticket_assigned" and newest["delivery"] == "sent"
    assert newest["params"]["ticket"] == ticket["id"]
    # The assignee sees it in their list although the project is not in their data scope.
    mine = (await desk.call("am2", "GET", "/tickets", params={"mine": "1"})).json()
    assert [t["id"] for t in mine["items"]] == [ticket["id"]]
    # Only people who may read tickets can take one; a stale view is refused.
    nobody = await desk.call("gm", "POST", path, json={"assignee_id": desk.id["fin"], "version": 2})
    assert nobody.status_code == 422
    assert nobody.json()["error"]["details"][0]["pointer"] == "/assignee_id"
    stale = await desk.call("gm", "POST", path, json={"assignee_id": desk.id["am3"], "version": 1})
    assert stale.status_code == 409 and stale.json()["error"]["details"][0]["version"] == 2


async def test_two_assignments_of_one_view_one_wins(desk: Desk) -> None:
    project = await new_project(desk)
    ticket = await open_ticket(desk, "am", project)
    path = f"/tickets/{ticket['id']}/assign"
    answers = await asyncio.gather(
        desk.call("gm", "POST", path, json={"assignee_id": desk.id["am2"], "version": 1}),
        desk.call("gm", "POST", path, json={"assignee_id": desk.id["am3"], "version": 1}),
    )
    assert sorted(a.status_code for a in answers) == [200, 409]

    async def row() -> ServiceTicket | None:
        return await ServiceTicket.get_in_tenant(ticket["id"])

    stored = await desk.db(row)
    assert stored is not None and stored.version == 2
    winner = next(a for a in answers if a.status_code == 200).json()
    assert str(stored.assignee_id) == winner["assignee_id"]


async def test_bad_fields_are_named_and_nothing_is_written(desk: Desk) -> None:
    project = await new_project(desk)
    bad = {"subject": "", "category": "weather", "priority": "asap", "body": "x" * 5001}
    refused = await desk.call("am", "POST", f"/projects/{project}/tickets", json=bad)
    assert refused.status_code == 422
    pointers = [d["pointer"] for d in refused.json()["error"]["details"]]
    assert pointers == ["/subject", "/category", "/priority", "/body"]
    listed = (await desk.call("am", "GET", "/tickets", params={"project_id": project})).json()
    assert listed["total"] == 0
    empty = await desk.call(
        "am",
        "POST",
        f"/projects/{project}/tickets",
        json={"subject": "a", "category": "other", "body": " "},
    )
    assert empty.json()["error"]["details"] == [
        {"pointer": "/body", "message": "text of 1-5000 characters"}
    ]


async def test_overdue_filter_lists_live_tickets_past_due(desk: Desk) -> None:
    project = await new_project(desk)
    late = await open_ticket(desk, "am", project, subject="迟了")
    await open_ticket(desk, "am", project, subject="还早")

    async def age() -> None:
        past = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
        await ServiceTicket.filter(id=late["id"]).update(respond_due_at=past)

    await desk.db(age)
    overdue = (
        await desk.call("am", "GET", "/tickets", params={"overdue": "1", "project_id": project})
    ).json()
    assert [t["subject"] for t in overdue["items"]] == ["迟了"]
    assert overdue["items"][0]["sla"]["respond"]["standing"] == "breached"
    bad = await desk.call("am", "GET", "/tickets", params={"status": "lost"})
    assert bad.status_code == 400


async def test_other_people_and_other_tenants_see_nothing(
    desk: Desk, make_client: ClientFactory, tenants: dict[str, TenantFixture]
) -> None:
    project = await new_project(desk)
    ticket = await open_ticket(desk, "am", project)
    tid = ticket["id"]
    # am2's data scope is their own applications: another manager's ticket is not there.
    for method, path, body in (
        ("GET", f"/tickets/{tid}", None),
        ("POST", f"/tickets/{tid}/replies", {"body": "我来看看"}),
        ("POST", f"/tickets/{tid}/actions/close", {"version": 1}),
        (
            "POST",
            f"/projects/{project}/tickets",
            {"subject": "s", "category": "other", "body": "b"},
        ),
    ):
        answer = await desk.call("am2", method, path, json=body)
        assert answer.status_code == 404, (path, answer.text)
    refused = await desk.call("fin", "GET", "/tickets")  # finance holds no ticket rights
    assert refused.status_code == 403
    beta = tenants["beta"]
    async with make_client() as client:
        csrf = {"X-CSRF-Token": await sign_in(client, "beta", beta.manager_email)}
        for path in (f"/t/beta/api/tickets/{tid}", f"/t/{desk.tenant.slug}/api/tickets/{tid}"):
            answer = await client.get(path, headers=csrf)
            assert answer.status_code in (401, 404), (path, answer.status_code)
            assert tid not in answer.text
        listed = await client.get("/t/beta/api/tickets", headers=csrf)
        assert listed.status_code == 200 and tid not in listed.text
        opened = await client.post(
            projects_url("beta", project, "tickets"),
            json={"subject": "s", "category": "other", "body": "b"},
            headers=csrf,
        )
        assert opened.status_code == 404
    untouched = (await desk.call("am", "GET", f"/tickets/{tid}")).json()
    assert untouched["version"] == 1 and len(untouched["replies"]) == 1


async def test_openapi_documents_the_ticket_routes(desk: Desk) -> None:
    document = (await desk.call("am", "GET", "/openapi.json")).json()
    for path in (
        "/tickets",
        "/tickets/{ticket_id}",
        "/tickets/{ticket_id}/replies",
        "/tickets/{ticket_id}/assign",
        "/tickets/{ticket_id}/actions/{action}",
        "/projects/{project_id}/tickets",
    ):
        assert "/t/{slug}/api" + path in document["paths"], path


async def test_sla_breaches_are_announced_once_each(app: Starlette) -> None:
    desk = await make_desk(clients(app))  # its own guarantor: no other ticket breaches
    project = await new_project(desk)
    ticket = await open_ticket(desk, "gm", project, subject="超时未复")
    tid = ticket["id"]
    due = dt.datetime.fromisoformat(ticket["sla"]["respond"]["due_at"])
    clock = FixedClock(due + dt.timedelta(minutes=1))

    async def sweep_twice() -> list[dict[str, int]]:
        with tenant_scope(desk.tenant.context):
            return list(
                await asyncio.gather(sla_sweep.sweep(clock, None), sla_sweep.sweep(clock, None))
            )

    reports = await sweep_twice()
    assert sorted(r["announced"] for r in reports) == [0, 1]
    assert (await sweep_twice()) == [{"announced": 0}, {"announced": 0}]
    told = [
        n for n in (await desk.notifications("am"))["items"] if n["params"].get("ticket") == tid
    ]
    assert [n["kind"] for n in told] == ["ticket_respond_breached", "ticket_opened"]
    assert told[0]["title"] == "工单响应已超时：" + ticket["number"] + " 超时未复"

    # Once answered, no second respond alert; past the resolution time, one resolve alert.
    await desk.call("am", "POST", f"/tickets/{tid}/replies", json={"body": "抱歉，已处理"})
    resolve_due = dt.datetime.fromisoformat(ticket["sla"]["resolve"]["due_at"])
    clock.current = resolve_due + dt.timedelta(minutes=1)
    assert sum(r["announced"] for r in await sweep_twice()) == 1

    async def trail() -> list[tuple[str, Any]]:
        rows = await AuditEvent.filter(object_id=tid, action="ticket.sla_breached").order_by("seq")
        return [(row.data["which"], row.data["told"]) for row in rows]

    assert await desk.db(trail) == [("respond", desk.id["am"]), ("resolve", desk.id["am"])]


async def test_the_minute_tick_enqueues_the_ticket_sweep_too() -> None:
    asked: list[tuple[str, str]] = []

    class Recording:
        async def enqueue(self, name: str, **kw: Any) -> None:
            asked.append((name, kw["job_id"]))

    count = await timer_sweep.tick(
        Recording(), FixedClock(dt.datetime(2026, 11, 2, 1, 2, tzinfo=dt.UTC))
    )  # type: ignore[arg-type]
    assert count >= 1
    assert ("tickets.sla", "tickets-sla:20261102T0102") in asked
    assert ("workflow.timers", "timers:20261102T0102") in asked
