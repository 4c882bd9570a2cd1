"""Approvals on PostgreSQL: pinned instances, one row per live task, idempotent actions,
stale versions refused with the current state, exactly one winner under concurrency,
every step in the audit trail, deadlines on working days."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest
from tortoise import connections
from tortoise.transactions import in_transaction

from danbao.db.models import AuditEvent, Record, WorkflowAction, WorkflowInstance, WorkflowTask
from danbao.definitions import Bundle, load_bundle
from danbao.tenancy.context import Principal, tenant_scope
from danbao.workdays import CHINA, FixedClock
from danbao.workflow import Action
from danbao.workflow.store import (
    Conflict,
    Forbidden,
    KeyReused,
    NotFound,
    act_on,
    current,
    inbox,
    start_instance,
)

from .conftest import TEMPLATE, TenantFixture
from .records_helpers import new_user

T = TypeVar("T")


def user(email: str) -> list[dict[str, Any]]:
    return [{"kind": "user", "value": email}]


def bundle_with(nodes: list[dict[str, Any]]) -> Bundle:
    files = load_bundle(TEMPLATE).to_dict()
    files["workflows/review.json"]["nodes"] = nodes
    return Bundle.from_dict(files)


def step(node_id: str, kind: str, **extra: Any) -> dict[str, Any]:
    return {"id": node_id, "type": kind, "name": {"zh-CN": node_id}, **extra}


class Place:
    """A tenant with fresh people and a submitted record, and helpers to act as someone."""

    def __init__(self, tenant: TenantFixture) -> None:
        self.tenant = tenant
        self.ids: dict[str, uuid.UUID] = {}
        self.emails: dict[str, str] = {}
        self.record_id: uuid.UUID | None = None

    async def people(self, *names: str) -> None:
        for name in names:
            email, uid = await new_user(self.tenant, ["risk_officer"])
            self.ids[name], self.emails[name] = uid, email

    async def as_(self, name: str, work: Callable[[], Awaitable[T]]) -> T:
        ctx = self.tenant.context.acting_as(Principal("user", str(self.ids[name])))
        with tenant_scope(ctx):
            async with in_transaction():
                return await work()

    async def record(self) -> uuid.UUID:
        async def make() -> uuid.UUID:
            rec = await Record.create(
                form_id="application",
                form_version=1,
                status="submitted",
                data={"amount": 6000000},
                created_by=self.ids["sub"],
            )
            return rec.id

        self.record_id = await self.as_("sub", make)
        return self.record_id

    async def start(
        self, bundle: Bundle, key: str = "start-1", clock: Any = None, *, again: bool = False
    ) -> dict[str, Any]:
        record = self.record_id if again and self.record_id else await self.record()

        async def go() -> dict[str, Any]:
            answer = await start_instance(
                bundle=bundle,
                version=1,
                workflow_id="review",
                record_id=record,
                submitter_id=self.ids["sub"],
                data={"amount": 6000000},
                idempotency_key=key,
                clock=clock,
            )
            return answer.body

        return await self.as_("sub", go)

    async def act(
        self, name: str, bundle: Bundle, instance: str, op: str, key: str, **kw: Any
    ) -> dict[str, Any]:
        action = Action(op, str(self.ids[name]), **kw)

        async def go() -> dict[str, Any]:
            answer = await act_on(
                uuid.UUID(instance),
                action,
                bundle=bundle,
                data={"amount": 6000000},
                idempotency_key=key,
            )
            return answer.body

        return await self.as_(name, go)


def task_of(body: dict[str, Any], place: Place, name: str) -> dict[str, Any]:
    uid = str(place.ids[name])
    return next(t for t in body["instance"]["tasks"] if t["user"] == uid)


async def rows(place: Place, instance: str) -> tuple[int, int, int]:
    async def count() -> tuple[int, int, int]:
        iid = uuid.UUID(instance)
        tasks = await WorkflowTask.filter(instance_id=iid).count()
        actions = await WorkflowAction.filter(instance_id=iid).count()
        events = await AuditEvent.filter(object_id=instance).count()
        return tasks, actions, events

    return await place.as_("sub", count)


@pytest.fixture
async def place(app: object, tenants: dict[str, TenantFixture]) -> Place:
    made = Place(tenants["alpha"])
    await made.people("sub", "a", "b", "c")
    return made


def two_step(place: Place, mode: str = "any") -> Bundle:
    return bundle_with(
        [
            step("start", "start", next="first"),
            step(
                "first",
                "approve",
                assignees=user(place.emails["a"]) + user(place.emails["b"]),
                mode=mode,
                next="second",
            ),
            step("second", "approve", assignees=user(place.emails["c"]), next="end"),
            step("end", "end"),
        ]
    )


async def test_an_approval_runs_to_the_end_with_rows_log_and_audit(place: Place) -> None:
    bundle = two_step(place, "all")
    body = await place.start(bundle)
    instance = body["instance"]["id"]
    assert {t["user"] for t in body["instance"]["tasks"]} == {
        str(place.ids["a"]),
        str(place.ids["b"]),
    }
    assert await rows(place, instance) == (2, 1, 1)

    async def mine() -> list[dict[str, Any]]:
        return await inbox(place.ids["a"])

    assert [t["node"] for t in await place.as_("a", mine)] == ["first"]
    for name, key in (("a", "k1"), ("b", "k2")):
        task = task_of(body, place, name)
        body = await place.act(
            name, bundle, instance, "approve", key, task=task["task"], version=task["version"]
        )
    task = task_of(body, place, "c")
    body = await place.act("c", bundle, instance, "approve", "k3", task=task["task"], version=1)
    assert body["instance"]["status"] == "approved"
    assert await rows(place, instance) == (0, 4, 4)

    async def stored() -> tuple[str, Any]:
        inst = await WorkflowInstance.get(id=uuid.UUID(instance))
        events = (
            await AuditEvent.filter(object_id=instance)
            .order_by("seq")
            .values_list("action", flat=True)
        )
        return inst.status, events

    status, events = await place.as_("sub", stored)
    assert status == "approved"
    assert events == ["workflow.start", "workflow.approve", "workflow.approve", "workflow.approve"]


async def test_a_repeated_key_answers_the_same_and_a_reused_key_is_refused(place: Place) -> None:
    bundle = two_step(place)
    body = await place.start(bundle)
    again = await place.start(bundle, again=True)  # the same key: the same instance
    assert again == body
    with pytest.raises(KeyReused):  # the same key for another record
        await place.start(bundle)
    instance = body["instance"]["id"]
    task = task_of(body, place, "a")
    first = await place.act("a", bundle, instance, "approve", "dbl", task=task["task"], version=1)
    second = await place.act("a", bundle, instance, "approve", "dbl", task=task["task"], version=1)
    assert first == second
    assert await rows(place, instance) == (1, 2, 2)
    with pytest.raises(KeyReused):
        await place.act("a", bundle, instance, "reject", "dbl", task=task["task"], version=1)


async def test_stale_version_and_handled_task_get_409_with_the_current_state(place: Place) -> None:
    bundle = two_step(place)
    body = await place.start(bundle)
    instance = body["instance"]["id"]
    task = task_of(body, place, "a")
    with pytest.raises(Conflict) as caught:
        await place.act("a", bundle, instance, "approve", "s1", task=task["task"], version=9)
    assert caught.value.current is not None and caught.value.current["revision"] == 1
    await place.act("b", bundle, instance, "approve", "s2", task=task_of(body, place, "b")["task"])
    with pytest.raises(Conflict) as caught:
        await place.act("a", bundle, instance, "approve", "s3", task=task["task"], version=1)
    assert caught.value.current is not None
    assert [t["node"] for t in caught.value.current["tasks"]] == ["second"]
    assert await rows(place, instance) == (1, 2, 2)  # the refusals wrote nothing


async def test_someone_elses_task_is_forbidden(place: Place) -> None:
    bundle = two_step(place)
    body = await place.start(bundle)
    task = task_of(body, place, "a")
    with pytest.raises(Forbidden):
        await place.act("c", bundle, body["instance"]["id"], "approve", "f1", task=task["task"])


async def test_two_approvers_at_once_exactly_one_wins(place: Place) -> None:
    bundle = two_step(place, "any")
    body = await place.start(bundle)
    instance = body["instance"]["id"]
    answers = await asyncio.gather(
        *(
            place.act(
                name,
                bundle,
                instance,
                "approve",
                f"race-{name}",
                task=task_of(body, place, name)["task"],
                version=1,
            )
            for name in ("a", "b")
        ),
        return_exceptions=True,
    )
    wins = [a for a in answers if isinstance(a, dict)]
    losses = [a for a in answers if isinstance(a, Conflict)]
    assert len(wins) == 1 and len(losses) == 1, answers
    assert await rows(place, instance) == (1, 2, 2)


async def test_a_double_click_counts_once(place: Place) -> None:
    bundle = two_step(place, "all")
    body = await place.start(bundle)
    instance = body["instance"]["id"]
    task = task_of(body, place, "a")
    answers = await asyncio.gather(
        *(
            place.act("a", bundle, instance, "approve", "click", task=task["task"], version=1)
            for _ in range(2)
        )
    )
    assert answers[0] == answers[1]
    assert await rows(place, instance) == (1, 2, 2)


async def test_another_tenant_sees_nothing(place: Place, tenants: dict[str, TenantFixture]) -> None:
    body = await place.start(two_step(place))
    with tenant_scope(tenants["beta"].context):
        async with in_transaction():
            with pytest.raises(NotFound):
                await current(uuid.UUID(body["instance"]["id"]))
            assert (
                await WorkflowTask.filter(instance_id=uuid.UUID(body["instance"]["id"])).count()
                == 0
            )


async def test_due_times_count_working_days(place: Place) -> None:
    bundle = bundle_with(
        [
            step("start", "start", next="first"),
            step(
                "first",
                "approve",
                assignees=user(place.emails["a"]),
                sla={"due": "P2D"},
                next="end",
            ),
            step("end", "end"),
        ]
    )
    clock = FixedClock(dt.datetime(2026, 9, 30, 10, tzinfo=CHINA))
    await place.start(bundle, clock=clock)

    async def mine() -> list[dict[str, Any]]:
        return await inbox(place.ids["a"])

    (task,) = await place.as_("a", mine)
    assert dt.datetime.fromisoformat(task["due_at"]) == dt.datetime(2026, 10, 9, 10, tzinfo=CHINA)


async def test_the_state_column_keeps_any_text_through_postgresql(place: Place) -> None:
    """The state column's own encoder (msgspec, UTF-8 as is) through jsonb and back."""
    bundle = two_step(place, "all")
    body = await place.start(bundle)
    instance = body["instance"]["id"]
    task = task_of(body, place, "a")
    opinion = '同意。"引号" \\ 反斜杠\n换行\t\u2028 🙂'
    await place.act(
        "a", bundle, instance, "approve", "k1", task=task["task"], version=1, comment=opinion
    )

    async def stored() -> tuple[dict[str, Any], str]:
        inst = await WorkflowInstance.get(id=uuid.UUID(instance))
        conn = connections.get("default")
        raw = await conn.execute_query_dict(
            "SELECT state::text AS s FROM workflow_instance WHERE id = $1", [instance]
        )
        return inst.state, raw[0]["s"]

    state, text = await place.as_("sub", stored)
    (seat,) = [s for r in state["runs"].values() for s in r["seats"] if s["decision"] != "pending"]
    assert seat["comment"] == opinion
    assert json.loads(text) == state  # jsonb holds what the column wrote, as JSON
