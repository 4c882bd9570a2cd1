"""Opening, answering, assigning and moving tickets: in the caller's transaction, one
audit event per change, refusals as exceptions (the web layer and the portal turn them
into answers).

Who acts is an ``Actor``: a staff user or a portal applicant. Assigning and the status
actions name the ticket version the caller saw and lock the row, so of two people acting
on one view the second learns what changed. Replies need no version (a conversation, not
an edit), but take the same lock so the status they move is read and written once.
Message bodies stay in ``ticket_reply``; the audit event records their length, never the
text (applicants write ID numbers and phone numbers into them).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from danbao.audit import record_event
from danbao.db.models import Project, ServiceTicket, TicketReply, User
from danbao.definitions import NumberingPattern
from danbao.ids import new_id
from danbao.notifications import Note, leave
from danbao.records.numbering import NoNumberingRule, next_number, pattern_for
from danbao.tenancy.context import current_tenant

from . import sla
from .states import OPENER_ACTIONS, Status, after_reply, plan

DEFAULT_NUMBERING = "GD-{yyyy}-{seq:05}"
MAX_SUBJECT = 200
MAX_BODY = 5000


@dataclass(frozen=True)
class Actor:
    kind: Literal["staff", "applicant"]
    id: uuid.UUID

    @property
    def is_staff(self) -> bool:
        return self.kind == "staff"


class TicketRefused(Exception):
    """Base of the refusals below."""


@dataclass
class Invalid(TicketRefused):
    """Bad fields: each fault as (JSON pointer, message)."""

    faults: list[tuple[str, str]] = field(default_factory=list)

    def __str__(self) -> str:
        return "; ".join(f"{p}: {m}" for p, m in self.faults)


class StaleVersion(TicketRefused):
    def __init__(self, ticket: ServiceTicket) -> None:
        self.ticket = ticket
        super().__init__(f"ticket {ticket.number} is at version {ticket.version}")


class Closed(TicketRefused):
    """A closed ticket takes no more replies: open a new one."""


class NotYours(TicketRefused):
    """An applicant may only reopen or close a ticket they opened."""


class BadAssignee(TicketRefused):
    """The assignee is not an active staff user of this tenant."""


@dataclass(frozen=True)
class Change:
    """A change made, and the notifications a messaging plug-in should send after commit."""

    ticket: ServiceTicket
    notify: list[str]


def check_fields(body: Mapping[str, Any]) -> list[tuple[str, str]]:
    faults: list[tuple[str, str]] = []
    subject = body.get("subject")
    if not isinstance(subject, str) or not subject.strip() or len(subject) > MAX_SUBJECT:
        faults.append(("/subject", f"text of 1-{MAX_SUBJECT} characters"))
    if body.get("category") not in sla.CATEGORIES:
        faults.append(("/category", "one of " + ", ".join(sla.CATEGORIES)))
    if body.get("priority", "normal") not in sla.PRIORITIES:
        faults.append(("/priority", "one of " + ", ".join(sla.PRIORITIES)))
    faults += _check_body(body.get("body"))
    return faults


def _check_body(text: Any) -> list[tuple[str, str]]:
    if not isinstance(text, str) or not text.strip() or len(text) > MAX_BODY:
        return [("/body", f"text of 1-{MAX_BODY} characters")]
    return []


async def open_ticket(
    tenant: Mapping[str, Any],
    project: Project,
    actor: Actor,
    body: Mapping[str, Any],
    *,
    now: dt.datetime,
    assignee: User | None = None,
) -> Change:
    """A new ticket on ``project`` with its first message. Unless someone is named, the
    project's account manager (who created it) answers it."""
    faults = check_fields(body)
    if faults:
        raise Invalid(faults)
    if assignee is None:
        assignee = await User.filter(id=project.created_by, is_active=True).first()
    elif not assignee.is_active:
        raise BadAssignee(str(assignee.id))
    priority = body.get("priority", "normal")
    due = sla.deadlines(tenant, priority, now)
    ticket = ServiceTicket(
        id=new_id(),
        tenant_id=current_tenant().tenant_id,
        project_id=project.id,
        number=await _number(tenant, now),
        subject=body["subject"].strip(),
        category=body["category"],
        priority=priority,
        status=Status.OPEN.value,
        opened_by_kind=actor.kind,
        opened_by=actor.id,
        assignee_id=assignee.id if assignee else None,
        respond_due_at=due.respond_due_at,
        resolve_due_at=due.resolve_due_at,
        created_at=now,
        updated_at=now,
    )
    await ticket.save()
    await _add_reply(ticket, actor, body["body"], internal=False, now=now)
    await record_event(
        "ticket.opened",
        "service_ticket",
        str(ticket.id),
        {
            "number": ticket.number,
            "project_id": str(project.id),
            "category": ticket.category,
            "priority": ticket.priority,
            "opened_by": {"kind": actor.kind, "id": str(actor.id)},
            "assignee_id": _str(ticket.assignee_id),
            "respond_due_at": ticket.respond_due_at.isoformat(),
            "resolve_due_at": ticket.resolve_due_at.isoformat(),
        },
    )
    sent = await notify(ticket, ticket.assignee_id, actor, "ticket_opened")
    return Change(ticket, sent)


async def _number(tenant: Mapping[str, Any], now: dt.datetime) -> str:
    try:
        pattern = pattern_for(dict(tenant), "ticket")
    except NoNumberingRule:
        pattern = NumberingPattern.parse(DEFAULT_NUMBERING)
    return await next_number("ticket", pattern, now.date())


async def reply(
    ticket_id: uuid.UUID,
    actor: Actor,
    text: Any,
    *,
    internal: bool,
    now: dt.datetime,
    visible: Any = None,
) -> Change | None:
    """Add a message (None: no such ticket among ``visible``). Only staff write internal
    notes; the first staff answer the opener can see is the SLA's response."""
    faults = _check_body(text)
    if faults:
        raise Invalid(faults)
    if internal and not actor.is_staff:
        raise Invalid([("/internal", "only staff write internal notes")])
    ticket = await _locked(ticket_id, visible)
    if ticket is None:
        return None
    if ticket.status == Status.CLOSED:
        raise Closed(ticket.number)
    before = ticket.status
    status = after_reply(before, by_staff=actor.is_staff, internal=internal)
    changes: dict[str, Any] = {"status": status.value, "updated_at": now}
    if actor.is_staff and not internal and ticket.first_response_at is None:
        changes["first_response_at"] = now
    await _add_reply(ticket, actor, text, internal=internal, now=now)
    await _update(ticket, changes)
    await record_event(
        "ticket.replied",
        "service_ticket",
        str(ticket.id),
        {
            "by": {"kind": actor.kind, "id": str(actor.id)},
            "internal": internal,
            "length": len(text),
            "status": {"from": before, "to": status.value},
        },
    )
    sent = await notify(ticket, ticket.assignee_id, actor, "ticket_replied")
    return Change(ticket, sent)


async def assign(
    ticket_id: uuid.UUID,
    assignee: User,
    actor: Actor,
    *,
    expected_version: int,
    now: dt.datetime,
    visible: Any = None,
) -> Change | None:
    if not assignee.is_active:
        raise BadAssignee(str(assignee.id))
    ticket = await _locked(ticket_id, visible, expected_version)
    if ticket is None:
        return None
    if ticket.status == Status.CLOSED:
        raise Closed(ticket.number)
    before = ticket.assignee_id
    await _update(ticket, {"assignee_id": assignee.id, "updated_at": now})
    await record_event(
        "ticket.assigned",
        "service_ticket",
        str(ticket.id),
        {"from": _str(before), "to": str(assignee.id), "by": str(actor.id)},
    )
    sent = await notify(ticket, assignee.id, actor, "ticket_assigned")
    return Change(ticket, sent)


async def act(
    ticket_id: uuid.UUID,
    action: str,
    actor: Actor,
    *,
    expected_version: int,
    now: dt.datetime,
    visible: Any = None,
) -> Change | None:
    """Move the ticket by ``action`` (``states.ACTIONS``). Applicants may only reopen or
    close tickets they opened themselves."""
    ticket = await _locked(ticket_id, visible, expected_version)
    if ticket is None:
        return None
    if not actor.is_staff and (
        action not in OPENER_ACTIONS
        or ticket.opened_by_kind != actor.kind
        or ticket.opened_by != actor.id
    ):
        raise NotYours(action)
    before, status = ticket.status, plan(ticket.status, action)
    changes: dict[str, Any] = {"status": status.value, "updated_at": now}
    if status is Status.RESOLVED:
        changes["resolved_at"] = now
    elif status is Status.CLOSED:
        changes["closed_at"] = now
    elif action == "reopen":
        changes["resolved_at"] = None
    await _update(ticket, changes)
    await record_event(
        "ticket.status",
        "service_ticket",
        str(ticket.id),
        {"action": action, "from": before, "to": status.value, "by": str(actor.id)},
    )
    recipient = ticket.assignee_id if actor.id != ticket.assignee_id else None
    sent = await notify(ticket, recipient, actor, f"ticket_{action}")
    return Change(ticket, sent)


async def _locked(
    ticket_id: uuid.UUID, visible: Any, expected_version: int | None = None
) -> ServiceTicket | None:
    rows = (visible if visible is not None else ServiceTicket.all()).filter(id=ticket_id)
    ticket = await rows.select_for_update().first()
    if ticket is not None and expected_version is not None and expected_version != ticket.version:
        raise StaleVersion(ticket)
    return ticket


async def _update(ticket: ServiceTicket, changes: dict[str, Any]) -> None:
    changes["version"] = ticket.version + 1
    await ServiceTicket.filter(id=ticket.id, version=ticket.version).update(**changes)
    for name, value in changes.items():
        setattr(ticket, name, value)


async def _add_reply(
    ticket: ServiceTicket, actor: Actor, text: str, *, internal: bool, now: dt.datetime
) -> None:
    await TicketReply.create(
        id=new_id(),
        tenant_id=ticket.tenant_id,
        ticket_id=ticket.id,
        author_kind=actor.kind,
        author_id=actor.id,
        body=text,
        internal=internal,
        at=now,
    )


async def notify(
    ticket: ServiceTicket, user_id: uuid.UUID | None, actor: Actor, kind: str
) -> list[str]:
    """Tell the assignee (never about their own act) on the internal list, and through the
    messaging plug-in (WeCom …) when the tenant enabled one: the ids to send after commit."""
    if user_id is None or user_id == actor.id:
        return []
    title = f"{TITLES[kind]}：{ticket.number} {ticket.subject}"
    params = {"ticket": str(ticket.id), "number": ticket.number, "project": str(ticket.project_id)}
    return await leave([Note(user_id, kind, title, params=params)])


TITLES = {
    "ticket_opened": "新工单",
    "ticket_replied": "工单有新回复",
    "ticket_assigned": "工单已指派给您",
    "ticket_start": "工单已受理",
    "ticket_wait_customer": "工单待客户回复",
    "ticket_resolve": "工单已解决",
    "ticket_reopen": "工单已重新打开",
    "ticket_close": "工单已关闭",
    "ticket_respond_breached": "工单响应已超时",
    "ticket_resolve_breached": "工单解决已超时",
}
"""zh-CN titles, what a channel shows (pages translate by ``kind`` and ``params``)."""


def _str(value: uuid.UUID | None) -> str | None:
    return None if value is None else str(value)
