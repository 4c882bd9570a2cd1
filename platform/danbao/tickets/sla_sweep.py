"""Announcing SLA breaches: the job ``tickets.sla``, one tenant a run, every minute.

A live ticket whose response (not yet answered) or resolution due time has passed is
announced once per due time: its assignee (else the project's account manager) is told on
the notification list and through the messaging plug-in, and ``ticket.sla_breached`` goes
into the audit trail. Each ticket is handled in a transaction of its own under its row
lock, and the ``*_alerted_at`` column is set in it, so two sweeps at once announce a
breach exactly once. The minute tick of the approval timers enqueues this job too
(``workflow.sweep.tick``), in production and in the embedded mode alike.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from danbao.audit import record_event
from danbao.db.models import Project, ServiceTicket, User
from danbao.jobs import job
from danbao.plugins.gateway import PluginGateway
from danbao.workdays import Clock
from danbao.workflow.deliver import deliver

from .service import Actor, notify
from .states import LIVE

JOB = "tickets.sla"
BATCH = 200
SYSTEM = Actor("staff", uuid.UUID(int=0))
"""The sweep acts as no one: every person it tells is told."""


def _breaches(ticket: ServiceTicket, now: dt.datetime) -> list[str]:
    found = []
    unanswered = ticket.first_response_at is None and ticket.respond_alerted_at is None
    if unanswered and ticket.respond_due_at < now:
        found.append("respond")
    if ticket.resolve_due_at < now and ticket.resolve_alerted_at is None:
        found.append("resolve")
    return found


async def sweep(clock: Clock, gateway: PluginGateway | None) -> dict[str, int]:
    """Announce the tenant's new breaches (tenant in context, no transaction open)."""
    now = clock.now().astimezone(dt.UTC)  # as the table holds it (SQLite compares text)
    unanswered = Q(
        first_response_at__isnull=True, respond_due_at__lt=now, respond_alerted_at__isnull=True
    )
    late = Q(resolve_due_at__lt=now, resolve_alerted_at__isnull=True)
    async with in_transaction():
        ids = await (
            ServiceTicket.filter(
                Q(unanswered, late, join_type=Q.OR), status__in=[s.value for s in LIVE]
            )
            .order_by("resolve_due_at")
            .limit(BATCH)
            .values_list("id", flat=True)
        )
    announced, sent = 0, []
    for ticket_id in ids:
        async with in_transaction():
            ticket = await ServiceTicket.filter(id=ticket_id).select_for_update().first()
            if ticket is None or ticket.status not in {s.value for s in LIVE}:
                continue
            for which in _breaches(ticket, now):
                sent += await _announce(ticket, which, now)
                announced += 1
    if gateway is not None and sent:
        await deliver(gateway, sent)
    return {"announced": announced}


async def _announce(ticket: ServiceTicket, which: str, now: dt.datetime) -> list[str]:
    column = f"{which}_alerted_at"
    await ServiceTicket.filter(id=ticket.id).update(**{column: now})
    setattr(ticket, column, now)
    due = ticket.respond_due_at if which == "respond" else ticket.resolve_due_at
    recipient = ticket.assignee_id or await _account_manager(ticket)
    await record_event(
        "ticket.sla_breached",
        "service_ticket",
        str(ticket.id),
        {
            "which": which,
            "due_at": due.isoformat(),
            "told": None if recipient is None else str(recipient),
        },
    )
    return await notify(ticket, recipient, SYSTEM, f"ticket_{which}_breached")


async def _account_manager(ticket: ServiceTicket) -> uuid.UUID | None:
    project = await Project.filter(id=ticket.project_id).first()
    if project is None:
        return None
    manager = await User.filter(id=project.created_by, is_active=True).first()
    return manager.id if manager else None


@job(JOB)
async def run_sweep(payload: dict[str, Any]) -> dict[str, int]:
    from danbao.workflow.sweep import runtime  # the clock and call path the worker set up

    rt = runtime()
    return await sweep(rt.clock, rt.gateway)
