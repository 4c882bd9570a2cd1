"""Firing the due timers of approvals: the job ``workflow.timers`` (one tenant a run).

The due-time table (:mod:`.timers`) is the only schedule. A sweep lists the pending rows
whose time has come, then fires each in a transaction of its own: it locks the approval's
row first (as every action does, so the lock order is always instance, then timer),
re-reads the timer and fires it only if it is still pending, marking it ``fired`` in that
same transaction. Two sweeps at once (two workers, a tick that overlaps the last one)
therefore fire each timer exactly once; a timer whose task ended in the meantime is
cancelled instead. A firing that fails rolls back alone and is tried again next sweep.

What firing does, by kind (every firing is an audit event ``workflow.timer_fired``):

- ``remind``: a notification to whoever holds the task (``remind``, k of remind_max);
- ``timeout``: ``on_timeout`` remind — an overdue notification to the holder; approve or
  reject — the ``timeout`` action of the engine as the system actor, which decides the
  node (history, audit and the submitter's notification as for any action);
- ``escalate``: the ladder's step — ``reassign``: the engine's ``reassign`` as the system
  actor to the first person the step names who can take the task (the new holder is told);
  ``notify``: the people it names are told, the task stays.

Notifications go to the tenant's messaging plug-in after the commit, as actions' do.

Who runs sweeps: :func:`tick` enqueues one ``workflow.timers`` job per active tenant under
a per-minute job id (so overlapping ticks and several workers enqueue it once). In
production the long-running arq worker ticks every minute (an arq cron job with a unique
id per run, so one of many workers runs each tick); burst workers never tick. In the
embedded mode the web process ticks itself (:class:`Ticker`) into the in-process runner.
The clock is injectable everywhere: tests move a ``FixedClock`` through a holiday.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from arq.cron import CronJob, cron
from tortoise.transactions import in_transaction

from danbao.audit import record_event
from danbao.crypto.tenant_keys import TenantKeys
from danbao.db.models import (
    Record,
    Tenant,
    WorkflowInstance,
    WorkflowTask,
    WorkflowTimer,
)
from danbao.definitions import Bundle
from danbao.definitions.versions import get_version
from danbao.jobs import JobQueue, job
from danbao.plugins.gateway import PluginGateway
from danbao.records.definition import FormDefinition, FormNotFound
from danbao.records.sensitive import open_data
from danbao.tickets import sla_sweep
from danbao.workdays import Clock, SystemClock

from . import notices
from .deliver import deliver
from .engine import Action
from .people import People, resolve
from .plan import Escalation, Node
from .store import WorkflowError, act_on, load_people, plan_of
from .timeouts import SYSTEM

log = logging.getLogger(__name__)

JOB = "workflow.timers"
BATCH = 200
TICK_SECONDS = 60


@dataclass
class Runtime:
    """What the job needs besides its payload (jobs receive JSON only): the key ring that
    opens record fields, the plug-in call path for notifications, and the clock."""

    keys: TenantKeys | None = None
    gateway: PluginGateway | None = None
    clock: Clock = field(default_factory=SystemClock)


_runtime = Runtime()


def configure(
    keys: TenantKeys, gateway: PluginGateway | None = None, clock: Clock | None = None
) -> None:
    """Called by the web app (embedded mode runs jobs in-process) and ``danbao worker``;
    tests pass a clock they move."""
    global _runtime
    _runtime = Runtime(keys, gateway, clock or SystemClock())


def runtime() -> Runtime:
    return _runtime


@dataclass(frozen=True)
class SweepReport:
    fired: int
    cancelled: int
    skipped: int
    failed: int


async def sweep(rt: Runtime | None = None, *, limit: int = BATCH) -> SweepReport:
    """Fire the due timers of the tenant in context (no transaction open)."""
    rt = rt or _runtime
    now = rt.clock.now().astimezone(dt.UTC)  # as the table holds it (SQLite compares text)
    counts = {"fired": 0, "cancelled": 0, "skipped": 0, "failed": 0}
    bundles: dict[int, Bundle] = {}
    seen: set[uuid.UUID] = set()
    while True:
        async with in_transaction():
            query = WorkflowTimer.filter(status="pending", fire_at__lte=now)
            if seen:  # failed ones wait for the next sweep
                query = query.exclude(id__in=list(seen))
            due = await (
                query.order_by("fire_at", "kind", "step")
                .limit(limit)
                .values_list("id", "instance_id")
            )
        for timer_id, instance_id in due:
            seen.add(timer_id)
            sent: list[str] = []
            try:
                async with in_transaction():
                    outcome = await _fire(timer_id, instance_id, rt, now, bundles, sent)
            except Exception:  # one bad timer must not stop the others; retried next sweep
                log.exception("timer %s failed", timer_id)
                counts["failed"] += 1
                continue
            counts[outcome] += 1
            if sent and rt.gateway is not None:
                try:
                    await deliver(rt.gateway, sent)
                except Exception:  # the list keeps the message, as after an action
                    log.exception("sending timer notifications failed")
        if len(due) < limit:
            break
    return SweepReport(**counts)


async def _fire(
    timer_id: uuid.UUID,
    instance_id: uuid.UUID,
    rt: Runtime,
    now: dt.datetime,
    bundles: dict[int, Bundle],
    sent: list[str],
) -> str:
    instance = await WorkflowInstance.filter(id=instance_id).select_for_update().first()
    timer = await WorkflowTimer.filter(id=timer_id).select_for_update().first()
    if instance is None or timer is None or timer.status != "pending":
        return "skipped"  # another sweep fired or cancelled it while we waited on the lock
    task = await WorkflowTask.filter(instance_id=instance.id, task_key=timer.task_key).first()
    if instance.status != "running" or task is None or task.node_id != timer.node_id:
        await _close(timer, "cancelled", "the task had ended", now)
        return "cancelled"
    bundle = bundles.get(instance.definition_version)
    if bundle is None:
        stored = await get_version(instance.definition_version)
        bundle = bundles[instance.definition_version] = Bundle.from_published(stored.bundle)
    plan = plan_of(bundle.workflows[instance.workflow_id])
    node = plan.nodes.get(timer.node_id)
    if node is None or node.sla is None:  # moved to a chain version without it
        await _close(timer, "cancelled", "the node has no deadline", now)
        return "cancelled"
    # Marked first: an action below that ends the task cancels its *other* timers.
    await _close(timer, "fired", "", now)
    fire = _Firing(instance, timer, task, node, bundle, rt, now, sent)
    outcome = await fire.run()
    await WorkflowTimer.filter(id=timer.id).update(outcome=outcome[:200])
    await record_event(
        "workflow.timer_fired",
        "workflow_instance",
        str(instance.id),
        {
            "timer": str(timer.id),
            "kind": timer.kind,
            "step": timer.step,
            "task": timer.task_key,
            "node": timer.node_id,
            "user": str(task.user_id),
            "due": timer.fire_at.isoformat(),
            "outcome": outcome,
        },
    )
    return "fired"


async def _close(timer: WorkflowTimer, status: str, outcome: str, now: dt.datetime) -> None:
    await WorkflowTimer.filter(id=timer.id).update(status=status, outcome=outcome, done_at=now)


@dataclass
class _Firing:
    instance: WorkflowInstance
    timer: WorkflowTimer
    task: WorkflowTask
    node: Node
    bundle: Bundle
    rt: Runtime
    now: dt.datetime
    sent: list[str]

    @property
    def label(self) -> str:
        return self.node.name or self.node.id

    async def run(self) -> str:
        sla = self.node.sla
        assert sla is not None
        kind = self.timer.kind
        if kind == "remind":
            of = f"{self.timer.step}/{sla.remind_max}"
            await self.tell([str(self.task.user_id)], "remind", f"审批提醒：{self.label}", of)
            return f"reminded {self.task.user_id} ({of})"
        if kind == "timeout" and sla.on_timeout in ("approve", "reject"):
            action = Action(
                "timeout", SYSTEM, task=self.timer.task_key, to=sla.on_timeout, admin=True
            )
            try:
                await self.act(action)
            except WorkflowError as refused:  # fired all the same: retrying cannot help
                return f"timeout {sla.on_timeout} refused: {refused.message}"
            return f"timeout: {sla.on_timeout}"
        if kind == "timeout":
            await self.tell([str(self.task.user_id)], "overdue", f"审批已超时：{self.label}", "")
            return f"overdue: told {self.task.user_id}"
        return await self.escalate(sla.escalate[self.timer.step])

    async def escalate(self, step: Escalation) -> str:
        people = await load_people(self.bundle, self.rt.clock)
        holder = str(self.task.user_id)
        targets = self.targets(step, people, holder)
        n = self.timer.step + 1
        if not targets:
            await self.tell([holder], "overdue", f"审批已超时：{self.label}", "")
            return f"escalation {n}: nobody to escalate to; told {holder}"
        if step.action == "notify":
            title = f"审批超时上报：{self.label}"
            await self.tell(targets, "escalated", title, f"holder {holder}")
            return f"escalation {n}: told {', '.join(targets)}"
        for target in targets:
            action = Action(
                "reassign",
                SYSTEM,
                task=self.timer.task_key,
                to=target,
                comment=f"timeout: escalation {n}",
                admin=True,
            )
            try:
                await self.act(action)
            except WorkflowError as refused:  # already in the node, the submitter …
                log.info("escalation to %s refused: %s", target, refused.message)
                continue
            return f"escalation {n}: reassigned to {target}"
        return f"escalation {n}: none of {', '.join(targets)} could take the task"

    def targets(self, step: Escalation, people: People, holder: str) -> list[str]:
        if not step.to:
            found = [c.user for c in people.superiors(holder)]
        else:
            submitter = str(self.instance.submitter_id)
            found = [
                c.user
                for rule in step.to
                for c in resolve(rule, people, submitter=submitter, data={})
            ]
        return [u for u in dict.fromkeys(found) if u != holder]

    async def act(self, action: Action) -> None:
        record = await Record.get_in_tenant(self.instance.record_id)
        if record is None:
            raise LookupError(f"approval {self.instance.id}: its record is gone")
        if self.rt.keys is None:
            raise RuntimeError("workflow.sweep.configure() was not called in this process")
        data = await open_data(self.rt.keys, record.form_id, record.data)
        try:
            sensitive = FormDefinition.from_bundle(self.bundle, record.form_id).sensitive_fields
        except FormNotFound:
            sensitive = frozenset()
        answer = await act_on(
            self.instance.id,
            action,
            bundle=self.bundle,
            data=data,
            sensitive=sensitive,
            idempotency_key=f"timer:{self.timer.id}:{action.to}",
            clock=self.rt.clock,
        )
        self.sent.extend(answer.notices)

    async def tell(self, users: Sequence[str], kind: str, title: str, body: str) -> None:
        params: dict[str, Any] = {
            "node": self.node.id,
            "task": self.timer.task_key,
            "timer": self.timer.kind,
            "step": self.timer.step,
        }
        written = await notices.write(
            self.instance, [notices.Notice(u, kind, title, body, params) for u in users]
        )
        self.sent.extend(written)


@job(JOB)
async def run_sweep(payload: dict[str, Any]) -> dict[str, int]:
    report = await sweep()
    return vars(report)


async def tick(queue: JobQueue, clock: Clock | None = None) -> int:
    """Enqueue a sweep for every active tenant, once per minute whoever ticks."""
    now = (clock or _runtime.clock).now()
    minute = now.strftime("%Y%m%dT%H%M")
    tenants = await Tenant.filter(status="active").values_list("id", "slug")
    for tenant_id, slug in tenants:
        await queue.enqueue(
            JOB, tenant_id=tenant_id, tenant_slug=slug, payload={}, job_id=f"timers:{minute}"
        )
        # Service tickets' SLA breaches are announced on the same minute.
        await queue.enqueue(
            sla_sweep.JOB,
            tenant_id=tenant_id,
            tenant_slug=slug,
            payload={},
            job_id=f"tickets-sla:{minute}",
        )
    return len(tenants)


def cron_job(queue: JobQueue) -> CronJob:
    """The long-running arq worker's tick, every minute; ``unique``: with several workers
    one of them runs each minute's tick (and the per-tenant job ids dedupe besides)."""

    async def tick_now(ctx: dict[str, Any]) -> None:
        await tick(queue)

    return cron(tick_now, name="cron:workflow.timers.tick", second=0, unique=True)


class Ticker:
    """The embedded mode's tick: a task of the web process, every ``seconds``."""

    def __init__(self, queue: JobQueue, seconds: float = TICK_SECONDS) -> None:
        self.queue, self.seconds = queue, seconds
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self.seconds > 0 and self._task is None:
            self._task = asyncio.create_task(self._loop(), name="workflow-timers-tick")

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.seconds)
            try:
                await tick(self.queue)
            except Exception:  # a database hiccup: the next tick tries again
                log.exception("timer tick failed")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
