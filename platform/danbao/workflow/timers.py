"""The due-time table of approvals (``workflow_timer``): what a task's ``sla`` will do and
when, written in the transaction that opens the task and cancelled in the one that closes
it. The sweep (:mod:`.sweep`) fires the rows that fell due.

For a task opened at *t* with ``sla`` (every time counted in the node's calendar — Chinese
working days and office hours, or calendar time):

- ``remind`` *k* (1 … ``remind_max``) at *t* + *k* × ``remind_every``: a reminder to
  whoever holds the task then;
- ``timeout`` at the deadline *t* + ``due`` (``on_timeout`` remind, approve or reject);
- ``escalate`` *i* at the deadline + ``escalate[i].after`` (``on_timeout`` escalate;
  without a ladder one step to the holder's superior at the deadline).

Only seat holders' tasks (``decide``, ``claim``) are timed. A task handed to someone else
where it stands (reassigned, claimed, delegated and back)
keeps its rows: the deadline belongs to the task, and a reminder goes to whoever holds it
when it fires. A task that ends (approved, rejected, transferred, returned, taken back,
the approval finished, terminated or jumped) has its pending rows cancelled.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from danbao.db.models import WorkflowInstance, WorkflowTimer
from danbao.workdays import WorkCalendar, parse_duration

from .engine import Effects
from .plan import Plan, Sla
from .state import Task

TIMED = frozenset({"decide", "claim"})
"""Tasks that hold a seat (or offer one) have deadlines; a delegate's or an added signer's
lateness shows on the seat holder's task."""

Due = tuple[str, int, dt.datetime]
"""(kind, step, fire_at)."""


def deadline(calendar: WorkCalendar, sla: Sla, opened: dt.datetime) -> dt.datetime:
    return calendar.due(opened, sla.due, workdays=sla.workdays)


def schedule(calendar: WorkCalendar, sla: Sla, opened: dt.datetime) -> list[Due]:
    """Every due time of a task opened at ``opened`` under ``sla`` (pure)."""
    due = deadline(calendar, sla, opened)
    found: list[Due] = []
    if sla.remind_every and sla.remind_max:
        days, minutes = parse_duration(sla.remind_every)
        for k in range(1, sla.remind_max + 1):
            span = f"P{days * k}DT{minutes * k}M"
            found.append(("remind", k, calendar.due(opened, span, workdays=sla.workdays)))
    if sla.on_timeout == "escalate":
        for index, step in enumerate(sla.escalate):
            found.append(("escalate", index, calendar.due(due, step.after, workdays=sla.workdays)))
    else:
        found.append(("timeout", 0, due))
    # UTC always: SQLite (the embedded mode) compares the stored text, offset and all.
    return [(kind, step, at.astimezone(dt.UTC)) for kind, step, at in found]


async def follow(
    instance: WorkflowInstance,
    plan: Plan,
    tenant: Mapping[str, Any],
    effects: Effects,
    now: dt.datetime,
) -> None:
    """Keep the table in step with one action's effects (inside its transaction). Nodes
    without an ``sla`` cost nothing: no query is made for their tasks."""
    timed = [(t, r) for t, r in effects.closed if t.kind in TIMED and plan.node(t.node).sla]
    for reason, keys in _closed_by_reason(timed):
        await WorkflowTimer.filter(
            instance_id=instance.id, task_key__in=keys, status="pending"
        ).update(status="cancelled", done_at=now, outcome=f"task {reason}"[:200])
    opened = [
        (task, sla)
        for task in effects.opened
        if task.kind in TIMED and (sla := plan.node(task.node).sla) is not None
    ]
    if not opened:
        return
    calendar = WorkCalendar.from_tenant(tenant)
    await WorkflowTimer.bulk_create(
        [
            WorkflowTimer(
                tenant_id=instance.tenant_id,
                instance_id=instance.id,
                task_key=task.id,
                node_id=task.node,
                kind=kind,
                step=step,
                fire_at=fire_at,
            )
            for task, sla in opened
            for kind, step, fire_at in schedule(calendar, sla, now)
        ]
    )


def _closed_by_reason(closed: Iterable[tuple[Task, str]]) -> list[tuple[str, list[str]]]:
    grouped: dict[str, list[str]] = {}
    for task, reason in closed:
        grouped.setdefault(reason, []).append(task.id)
    return list(grouped.items())
