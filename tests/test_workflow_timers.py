"""Deadlines, reminders and escalation ladders on PostgreSQL, under a clock the tests move:
a task opened the day before National Day falls due on the right working day after the
Golden Week, nothing fires early while the clock steps through the holiday, reminders
fire on schedule, the timeout fires exactly once with two sweeps at once, a ladder
escalates step by step, timers go when their task does, one tenant's sweep never touches
another's rows, and the sweep runs through the in-process runner and an arq worker."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from starlette.applications import Starlette
from tortoise.transactions import in_transaction

from danbao.db.models import (
    AuditEvent,
    Notification,
    Record,
    WorkflowAction,
    WorkflowTask,
    WorkflowTimer,
)
from danbao.definitions import Bundle, load_bundle
from danbao.definitions.versions import publish
from danbao.jobs import ArqQueue, InlineQueue
from danbao.jobs.worker import run_worker
from danbao.plugins.sandbox.messaging import SandboxMessaging
from danbao.provisioning import create_tenant
from danbao.tenancy.context import Principal, tenant_scope
from danbao.workdays import CHINA, FixedClock, WorkCalendar
from danbao.workflow import Action, sweep, timers
from danbao.workflow.plan import Sla
from danbao.workflow.store import act_on, start_instance
from danbao.workflow.timeouts import SYSTEM

from .conftest import PASSWORD, REDIS_URL, TEMPLATE, TenantFixture, sign_in
from .records_helpers import new_user

EVE = dt.datetime(2026, 9, 30, 10, tzinfo=CHINA)  # Wednesday, the day before National Day


def at(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=CHINA)  # type: ignore[arg-type,misc]


# --- the schedule alone -------------------------------------------------------------------------


def test_the_schedule_skips_the_golden_week_and_lands_on_the_adjusted_working_day() -> None:
    calendar = WorkCalendar()
    # P2D: the holiday (1-7 October) is skipped; P3D: Saturday 10 October is worked (调休).
    assert calendar.due(EVE, "P2D") == at(2026, 10, 9, 10)
    assert calendar.due(EVE, "P3D") == at(2026, 10, 10, 10)
    assert calendar.due(EVE, "P3D", workdays=False) == at(2026, 10, 3, 10)
    sla = Sla("P3D", True, "PT4H", 3, "approve")
    assert timers.schedule(calendar, sla, EVE) == [
        ("remind", 1, at(2026, 9, 30, 14)),
        ("remind", 2, at(2026, 9, 30, 18)),  # office hours end at 18:00
        ("remind", 3, at(2026, 10, 8, 13)),  # 4 more office hours after the holiday
        ("timeout", 0, at(2026, 10, 10, 10)),
    ]


# --- a guarantor of its own ---------------------------------------------------------------------


class Desk:
    """A guarantor made from the template with a chain of the test's own, published."""

    def __init__(self, tenant: TenantFixture) -> None:
        self.tenant = tenant
        self.id: dict[str, uuid.UUID] = {}
        self.email: dict[str, str] = {}

    async def add(self, name: str, roles: list[str], department: str) -> None:
        self.email[name], self.id[name] = await new_user(self.tenant, roles, department)

    async def db(self, work: Any) -> Any:
        with tenant_scope(self.tenant.context):
            async with in_transaction():
                return await work()

    async def publish(self, nodes: list[dict[str, Any]]) -> tuple[int, Bundle]:
        files = load_bundle(TEMPLATE).to_dict()
        files["workflows/review.json"]["nodes"] = nodes
        for department in files["permissions.json"]["departments"]:
            if department["id"] == "hq":
                department["head_role"] = "general_manager"
        bundle = Bundle.from_dict(files)
        with tenant_scope(self.tenant.context):
            version, _ = await publish(bundle, note="timers test")
        return version.number, bundle

    async def start(
        self, nodes: list[dict[str, Any]], clock: FixedClock
    ) -> tuple[str, Bundle, dict[str, Any]]:
        number, bundle = await self.publish(nodes)
        ctx = self.tenant.context.acting_as(Principal("user", str(self.id["sub"])))

        async def go() -> dict[str, Any]:
            record = await Record.create(
                form_id="application",
                form_version=number,
                status="submitted",
                data={"amount": 6000000},
                created_by=self.id["sub"],
            )
            answer = await start_instance(
                bundle=bundle,
                version=number,
                workflow_id="review",
                record_id=record.id,
                submitter_id=self.id["sub"],
                data={"amount": 6000000},
                idempotency_key=f"start-{uuid.uuid4().hex}",
                clock=clock,
            )
            return answer.body

        with tenant_scope(ctx):
            async with in_transaction():
                body = await go()
        return body["instance"]["id"], bundle, body

    async def act(
        self, name: str, bundle: Bundle, instance: str, clock: FixedClock, **kw: Any
    ) -> dict[str, Any]:
        action = Action(actor=str(self.id[name]), **kw)
        ctx = self.tenant.context.acting_as(Principal("user", str(self.id[name])))
        with tenant_scope(ctx):
            async with in_transaction():
                answer = await act_on(
                    uuid.UUID(instance),
                    action,
                    bundle=bundle,
                    data={"amount": 6000000},
                    idempotency_key=uuid.uuid4().hex,
                    clock=clock,
                )
        return answer.body

    async def sweep(self, rt: sweep.Runtime) -> sweep.SweepReport:
        with tenant_scope(self.tenant.context.acting_as(Principal.system("job:test"))):
            return await sweep.sweep(rt)

    async def timers(self, instance: str) -> list[tuple[str, int, str, str]]:
        async def read() -> list[tuple[str, int, str, str]]:
            rows = await WorkflowTimer.filter(instance_id=uuid.UUID(instance)).order_by(
                "fire_at", "kind", "step"
            )
            return [(r.kind, r.step, r.task_key, r.status) for r in rows]

        result: list[tuple[str, int, str, str]] = await self.db(read)
        return result

    async def notes(self, name: str, instance: str) -> list[tuple[str, str]]:
        async def read() -> list[tuple[str, str]]:
            rows = await Notification.filter(
                user_id=self.id[name], instance_id=uuid.UUID(instance)
            ).order_by("created_at")
            return [(r.kind, r.title) for r in rows]

        result: list[tuple[str, str]] = await self.db(read)
        return result

    async def tasks(self, instance: str) -> list[tuple[str, uuid.UUID]]:
        async def read() -> list[tuple[str, uuid.UUID]]:
            rows = await WorkflowTask.filter(instance_id=uuid.UUID(instance)).order_by("task_key")
            return [(r.node_id, r.user_id) for r in rows]

        result: list[tuple[str, uuid.UUID]] = await self.db(read)
        return result


async def make_desk() -> Desk:
    slug = f"tmr{uuid.uuid4().hex[:8]}"
    tenant, _ = await create_tenant(
        slug, TEMPLATE, admin_email=f"admin@{slug}.test", admin_password=PASSWORD, operator="tests"
    )
    desk = Desk(TenantFixture(slug, tenant.id, f"admin@{slug}.test", ""))
    await desk.add("sub", ["account_manager"], "business")
    for name in ("r1", "r2"):
        await desk.add(name, ["risk_officer"], "risk")
    await desk.add("gm", ["general_manager"], "hq")
    await desk.add("legal", ["legal"], "legal")
    return desk


@pytest.fixture(scope="module")
async def desk(app: Starlette) -> Desk:
    return await make_desk()


@pytest.fixture(scope="module")
async def other(app: Starlette) -> Desk:
    return await make_desk()


def runtime(app: Starlette, clock: FixedClock) -> sweep.Runtime:
    return sweep.Runtime(app.state.services.keys, None, clock)


def step(node_id: str, kind: str, **extra: Any) -> dict[str, Any]:
    return {"id": node_id, "type": kind, "name": {"zh-CN": node_id}, **extra}


def by(desk: Desk, name: str) -> list[dict[str, Any]]:
    return [{"kind": "user", "value": desk.email[name]}]


def chain(desk: Desk, sla: dict[str, Any], *, second: bool = True) -> list[dict[str, Any]]:
    after = "second" if second else "end"
    nodes = [
        step("start", "start", next="first"),
        step("first", "approve", assignees=by(desk, "r1"), sla=sla, next=after),
    ]
    if second:
        nodes.append(step("second", "approve", assignees=by(desk, "r2"), next="end"))
    return [*nodes, step("end", "end")]


async def states(desk: Desk, instance: str) -> list[tuple[str, int, str]]:
    return [(kind, n, status) for kind, n, _, status in await desk.timers(instance)]


async def outcomes(desk: Desk) -> list[str]:
    async def read() -> list[str]:
        return list(await WorkflowTimer.all().values_list("outcome", flat=True))  # type: ignore[arg-type]

    result: list[str] = await desk.db(read)
    return result


async def audit(desk: Desk, instance: str, action: str) -> list[dict[str, Any]]:
    async def read() -> list[dict[str, Any]]:
        rows = await AuditEvent.filter(object_id=instance, action=action).order_by("seq")
        return [row.data for row in rows]

    result: list[dict[str, Any]] = await desk.db(read)
    return result


# --- across a Golden Week -----------------------------------------------------------------------


async def test_timers_across_the_golden_week(app: Starlette) -> None:
    desk = await make_desk()  # a guarantor of its own: every sweep count below is exact
    clock = FixedClock(EVE)
    sla = {"due": "P3D", "remind_every": "PT4H", "remind_max": 3, "on_timeout": "approve"}
    instance, _, body = await desk.start(chain(desk, sla), clock)
    (task,) = body["instance"]["tasks"]

    async def due_at() -> dt.datetime:
        row = await WorkflowTask.get(instance_id=uuid.UUID(instance), task_key=task["task"])
        assert row.due_at is not None
        return row.due_at

    assert await desk.db(due_at) == at(2026, 10, 10, 10)  # Saturday, a worked day (调休)
    assert [t[:2] for t in await desk.timers(instance)] == [
        ("remind", 1),
        ("remind", 2),
        ("remind", 3),
        ("timeout", 0),
    ]
    rt = runtime(app, clock)

    async def sweep_at(moment: dt.datetime) -> sweep.SweepReport:
        clock.current = moment
        return await desk.sweep(rt)

    assert (await sweep_at(at(2026, 9, 30, 13, 59))).fired == 0
    assert (await sweep_at(at(2026, 9, 30, 14))).fired == 1
    assert await desk.notes("r1", instance) == [
        ("task", "审批待办：first"),
        ("remind", "审批提醒：first"),
    ]
    assert (await sweep_at(at(2026, 9, 30, 20))).fired == 1  # the 18:00 reminder
    # Through the holiday, day by day: nothing is due.
    for day in range(1, 8):
        for hour in (9, 12, 18, 23):
            assert (await sweep_at(at(2026, 10, day, hour))).fired == 0, (day, hour)
    assert (await sweep_at(at(2026, 10, 8, 12, 59))).fired == 0
    assert (await sweep_at(at(2026, 10, 8, 13))).fired == 1  # the third reminder
    assert (await sweep_at(at(2026, 10, 10, 9, 59))).fired == 0  # Friday passed, not yet due
    assert await desk.tasks(instance) == [("first", desk.id["r1"])]

    # The deadline, with two sweeps at once: the node is approved exactly once.
    clock.current = at(2026, 10, 10, 10)
    reports = await asyncio.gather(desk.sweep(rt), desk.sweep(rt))
    assert sorted(r.fired for r in reports) == [0, 1], reports
    assert await desk.tasks(instance) == [("second", desk.id["r2"])], await outcomes(desk)

    async def system_actions() -> list[tuple[str, list[dict[str, Any]]]]:
        rows = await WorkflowAction.filter(instance_id=uuid.UUID(instance), actor_id=SYSTEM)
        return [(r.op, r.facts) for r in rows]

    ((op, facts),) = await desk.db(system_actions)
    assert op == "timeout"
    timeout = next(f for f in facts if f["fact"] == "timeout")
    assert timeout["reason"] == "timeout" and timeout["then"] == "approve"
    assert timeout["user"] == str(desk.id["r1"])
    assert any(f["fact"] == "decided" and f["by"] == "timeout" for f in facts)
    assert len(await audit(desk, instance, "workflow.timeout")) == 1
    fired = await audit(desk, instance, "workflow.timer_fired")
    assert [(e["kind"], e["step"]) for e in fired] == [
        ("remind", 1),
        ("remind", 2),
        ("remind", 3),
        ("timeout", 0),
    ]
    assert all(t[3] == "fired" for t in await desk.timers(instance))
    # Later sweeps find nothing more (the second node has no deadline).
    assert (await sweep_at(at(2026, 12, 31, 12))).fired == 0
    # The approval page's timeline shows what the deadline did, and as whom.
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        await sign_in(client, desk.tenant.slug, desk.email["sub"])
        page = await client.get(f"/t/{desk.tenant.slug}/approvals/{instance}")
    assert page.status_code == 200
    assert "系统（审批时限）" in page.text and "超时自动处理" in page.text


async def test_a_timeout_can_reject_and_a_remind_timeout_only_tells(
    app: Starlette, desk: Desk
) -> None:
    clock = FixedClock(at(2026, 10, 12, 10))  # Monday
    rt = runtime(app, clock)
    rejecting, _, _ = await desk.start(chain(desk, {"due": "PT2H", "on_timeout": "reject"}), clock)
    telling, _, _ = await desk.start(chain(desk, {"due": "PT2H"}), clock)
    clock.current = at(2026, 10, 12, 12)
    assert (await desk.sweep(rt)).fired == 2

    async def statuses() -> dict[str, str]:
        from danbao.db.models import WorkflowInstance

        rows = await WorkflowInstance.filter(id__in=[rejecting, telling])
        return {str(r.id): r.status for r in rows}

    assert await desk.db(statuses) == {rejecting: "rejected", telling: "running"}
    assert ("finished", "审批已拒绝：review") in await desk.notes("sub", rejecting)
    assert ("overdue", "审批已超时：first") in await desk.notes("r1", telling)


# --- escalation ---------------------------------------------------------------------------------


async def test_an_escalation_ladder_tells_then_reassigns(app: Starlette, desk: Desk) -> None:
    clock = FixedClock(at(2026, 10, 12, 10))
    sla = {
        "due": "PT4H",
        "on_timeout": "escalate",
        "escalate": [
            {"after": "PT0H", "action": "notify"},  # the holder's superior: the GM
            {"after": "PT2H", "to": {"assignees": by(desk, "legal")}},
        ],
    }
    instance, bundle, _ = await desk.start(chain(desk, sla, second=False), clock)
    assert [t[:2] for t in await desk.timers(instance)] == [("escalate", 0), ("escalate", 1)]
    rt = runtime(app, clock)
    clock.current = at(2026, 10, 12, 13, 59)
    assert (await desk.sweep(rt)).fired == 0
    clock.current = at(2026, 10, 12, 14)
    assert (await desk.sweep(rt)).fired == 1
    assert await desk.notes("gm", instance) == [("escalated", "审批超时上报：first")]
    assert await desk.tasks(instance) == [("first", desk.id["r1"])]  # told, not moved
    clock.current = at(2026, 10, 12, 16)
    assert (await desk.sweep(rt)).fired == 1
    assert await desk.tasks(instance) == [("first", desk.id["legal"])]
    assert ("task", "审批待办：first") in await desk.notes("legal", instance)
    (event,) = await audit(desk, instance, "workflow.reassign")
    (fact,) = [f for f in event["facts"] if f["fact"] == "reassign"]
    assert fact["by"] == SYSTEM and fact["reason"] == "timeout: escalation 2"
    assert fact["user"] == str(desk.id["r1"]) and fact["to"] == str(desk.id["legal"])
    # The new holder decides as usual.
    (task,) = [t for t in (await current_tasks(desk, instance))]
    done = await desk.act(
        "legal", bundle, instance, clock, op="approve", task=task["task"], version=task["version"]
    )
    assert done["instance"]["status"] == "approved"


async def test_escalate_without_a_ladder_goes_to_the_superior(app: Starlette, desk: Desk) -> None:
    clock = FixedClock(at(2026, 10, 12, 10))
    instance, _, _ = await desk.start(
        chain(desk, {"due": "PT1H", "on_timeout": "escalate"}, second=False), clock
    )
    clock.current = at(2026, 10, 12, 11)
    assert (await desk.sweep(runtime(app, clock))).fired == 1
    assert await desk.tasks(instance) == [("first", desk.id["gm"])]


async def current_tasks(desk: Desk, instance: str) -> list[dict[str, Any]]:
    from danbao.workflow.store import current

    view: dict[str, Any] = await desk.db(lambda: current(uuid.UUID(instance)))
    tasks: list[dict[str, Any]] = view["tasks"]
    return tasks


# --- timers end with their task -----------------------------------------------------------------


async def test_timers_are_cancelled_when_the_task_is_done(app: Starlette, desk: Desk) -> None:
    clock = FixedClock(at(2026, 10, 12, 10))
    sla = {"due": "P1D", "remind_every": "PT1H", "remind_max": 2, "on_timeout": "reject"}
    instance, bundle, body = await desk.start(chain(desk, sla), clock)
    (task,) = body["instance"]["tasks"]
    await desk.act("r1", bundle, instance, clock, op="approve", task=task["task"], version=1)
    assert {t[3] for t in await desk.timers(instance)} == {"cancelled"}
    clock.current = at(2026, 12, 31, 12)
    await desk.sweep(runtime(app, clock))
    assert {t[3] for t in await desk.timers(instance)} == {"cancelled"}
    assert await desk.tasks(instance) == [("second", desk.id["r2"])]

    # A transfer ends the task: its timers go, the new holder's deadline starts anew.
    clock.current = at(2026, 10, 12, 10)
    instance, bundle, body = await desk.start(chain(desk, sla), clock)
    (task,) = body["instance"]["tasks"]
    await desk.act(
        "r1", bundle, instance, clock, op="transfer", task=task["task"], to=desk.email["r2"]
    )
    states = await desk.timers(instance)
    assert {s for _, _, key, s in states if key == task["task"]} == {"cancelled"}
    assert {s for _, _, key, s in states if key != task["task"]} == {"pending"}
    # An administrator's terminate ends every task, and every timer with it.
    await desk.act("gm", bundle, instance, clock, op="terminate", comment="项目撤销", admin=True)
    assert {t[3] for t in await desk.timers(instance)} == {"cancelled"}


# --- walls --------------------------------------------------------------------------------------


async def test_one_tenants_sweep_never_touches_anothers_rows(
    app: Starlette, desk: Desk, other: Desk
) -> None:
    clock = FixedClock(at(2026, 10, 12, 10))
    sla = {"due": "PT1H", "on_timeout": "approve"}
    mine, _, _ = await desk.start(chain(desk, sla, second=False), clock)
    theirs, _, _ = await other.start(chain(other, sla, second=False), clock)
    clock.current = at(2026, 10, 12, 12)
    rt = runtime(app, clock)
    await desk.sweep(rt)
    assert await states(desk, mine) == [("timeout", 0, "fired")]
    assert await states(other, theirs) == [("timeout", 0, "pending")]
    assert await desk.timers(theirs) == []  # and cannot even see them
    await other.sweep(rt)
    assert await states(other, theirs) == [("timeout", 0, "fired")]


# --- the job, in-process and on arq -------------------------------------------------------------


@pytest.fixture
async def configured(app: Starlette) -> AsyncIterator[FixedClock]:
    """The job's runtime with a clock the test moves (restored afterwards)."""
    clock = FixedClock(at(2026, 10, 12, 10))
    services = app.state.services
    sweep.configure(services.keys, None, clock)
    yield clock
    sweep.configure(services.keys, services.plugins)


async def test_the_embedded_runner_ticks_and_sweeps(
    app: Starlette, desk: Desk, configured: FixedClock
) -> None:
    instance, _, _ = await desk.start(
        chain(desk, {"due": "PT1H", "on_timeout": "approve"}, second=False), configured
    )
    configured.current = at(2026, 10, 12, 11)
    queue = InlineQueue()
    try:
        assert await sweep.tick(queue) >= 2
        await sweep.tick(queue)  # the same minute again: deduplicated
        await queue.drain()
        assert not queue.failures, queue.failures
    finally:
        await queue.close()
    assert await states(desk, instance) == [("timeout", 0, "fired")]
    assert len(await audit(desk, instance, "workflow.timeout")) == 1

    ticker = sweep.Ticker(InlineQueue(), seconds=0.01)  # the web process's loop
    ticker.start()
    await asyncio.sleep(0.05)
    await ticker.stop()


async def test_an_arq_worker_sweeps(app: Starlette, desk: Desk, configured: FixedClock) -> None:
    instance, _, _ = await desk.start(
        chain(desk, {"due": "PT1H", "remind_every": "PT30M", "remind_max": 1}, second=False),
        configured,
    )
    configured.current = at(2026, 10, 12, 11)
    queue = ArqQueue(REDIS_URL)
    try:
        await sweep.tick(queue)
        run = await run_worker(REDIS_URL, burst=True, poll_delay=0.05)
    finally:
        await queue.close()
    assert run.failed == 0
    assert await states(desk, instance) == [("remind", 1, "fired"), ("timeout", 0, "fired")]
    assert [k for k, _ in await desk.notes("r1", instance)] == ["task", "remind", "overdue"]
    redis = Redis.from_url(REDIS_URL)
    try:
        assert await redis.zcard("arq:queue") == 0
    finally:
        await redis.aclose()


def test_the_cron_tick_is_for_long_running_workers_only() -> None:
    from danbao.jobs.worker import worker_settings

    cron = sweep.cron_job(ArqQueue(REDIS_URL))
    assert cron.name == "cron:workflow.timers.tick" and cron.unique
    assert worker_settings(REDIS_URL, cron_jobs=[cron])["cron_jobs"] == [cron]
    assert worker_settings(REDIS_URL)["cron_jobs"] is None


def test_the_demo_chain_escalates_risk_review_as_the_readme_says() -> None:
    from pathlib import Path

    from danbao.workflow.store import plan_of

    bundle = load_bundle(Path(__file__).resolve().parents[1] / "tenants" / "gxdb")
    sla = plan_of(bundle.workflows["review"]).node("risk_review").sla
    assert sla is not None and sla.workdays and sla.on_timeout == "escalate"
    (tell, move) = sla.escalate
    assert (tell.after, tell.to, tell.action) == ("PT0H", (), "notify")
    assert (move.after, move.action) == ("P1D", "reassign")
    assert [(r.kind, r.value) for r in move.to] == [("role", "general_manager")]
    assert timers.schedule(WorkCalendar(), sla, EVE)[-2:] == [
        ("escalate", 0, at(2026, 10, 9, 10)),  # P2D after the eve of the holiday: Friday
        ("escalate", 1, at(2026, 10, 10, 10)),  # a working day later: the 调休 Saturday
    ]


async def test_timer_notices_go_through_the_messaging_plug_in(app: Starlette) -> None:
    desk = await make_desk()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        csrf = await sign_in(client, desk.tenant.slug, desk.tenant.admin_email)
        enabled = await client.put(
            f"/t/{desk.tenant.slug}/api/plugins/sandbox.messaging",
            json={"settings": {"sender": "担保云"}},
            headers={"X-CSRF-Token": csrf},
        )
    assert enabled.status_code == 200, enabled.text
    clock = FixedClock(at(2026, 10, 12, 10))
    sla = {"due": "P1D", "remind_every": "PT1H", "remind_max": 1}
    instance, _, _ = await desk.start(chain(desk, sla, second=False), clock)
    SandboxMessaging.outbox.clear()
    clock.current = at(2026, 10, 12, 11)
    rt = sweep.Runtime(app.state.services.keys, app.state.services.plugins, clock)
    assert (await desk.sweep(rt)).fired == 1
    assert [(m.recipients, m.title) for _, m in SandboxMessaging.outbox] == [
        ((desk.email["r1"],), "审批提醒：first")
    ]

    async def deliveries() -> list[tuple[str, str]]:
        rows = await Notification.filter(instance_id=uuid.UUID(instance)).order_by("created_at")
        return [(r.kind, r.delivery) for r in rows]

    assert await desk.db(deliveries) == [("task", "pending"), ("remind", "sent")]
