"""A project's one timeline: everything that happened to it, newest first.

The audit trail already holds every change (every state change leaves an event), so the
timeline is that trail narrowed to the project: the events about the project itself, its
application record (versions, edits, submission), the approvals of that record (each
decision with its opinion and the route rules that chose the way), its documents and
signatures, its tickets, and whatever a module records about the project under its id
(repayments, warnings, compensation, recovery). Plug-in checks are read from their
results, never their contents. Modules with tables of their own add their object ids
through ``related_objects`` sources.

Read by ``(tenant_id, object_id, seq)`` (migration 0022), a page at a time: ``before`` is
the ``seq`` of the last entry of the previous page.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from danbao.db.models import (
    AftercareTask,
    AuditEvent,
    CounterGuarantee,
    PluginResult,
    Project,
    ProjectDocument,
    ServiceTicket,
    User,
    WorkflowInstance,
)
from danbao.documents.filters import yuan
from danbao.i18n import translate

from .states import state_name

MAX_PAGE = 200

Source = Callable[[Project], Awaitable[list[str]]]
_sources: list[Source] = []


def source(fn: Source) -> Source:
    """Register the ids of more objects whose audit events belong on a project's timeline."""
    _sources.append(fn)
    return fn


async def _ids(rows: Any) -> list[str]:
    return [str(i) for i in await rows.values_list("id", flat=True)]


@source
async def _approvals(project: Project) -> list[str]:
    return await _ids(WorkflowInstance.filter(record_id=project.record_id))


@source
async def _project_rows(project: Project) -> list[str]:
    """Documents, tickets, counter-guarantees and post-loan tasks: rows with their own ids."""
    found: list[str] = []
    for model in (ProjectDocument, ServiceTicket, CounterGuarantee, AftercareTask):
        found += await _ids(model.filter(project_id=project.id))
    return found


async def related_objects(project: Project) -> list[str]:
    found = [str(project.id), str(project.record_id)]
    for fn in _sources:
        found += await fn(project)
    return list(dict.fromkeys(found))


@dataclass(frozen=True)
class Entry:
    seq: int | None
    """The audit event's place in the chain (None: read from another table)."""
    at: dt.datetime
    category: str
    action: str
    title: str
    actor: str
    lines: list[str] = field(default_factory=list)
    link: str | None = None
    """A path under the tenant (``/approvals/<id>``) where the whole story is."""

    def as_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at": self.at.isoformat(),
            "category": self.category,
            "action": self.action,
            "title": self.title,
            "actor": self.actor,
            "lines": self.lines,
            "link": self.link,
        }


@dataclass(frozen=True)
class Page:
    entries: list[Entry]
    next_before: int | None
    """Pass as ``before`` for the next (older) page; None: this was the last."""


async def timeline(
    project: Project, locale: str, *, before: int | None = None, limit: int = 50
) -> Page:
    """One page of the project's timeline, newest first (call in a transaction)."""
    limit = max(1, min(limit, MAX_PAGE))
    rows = AuditEvent.filter(object_id__in=await related_objects(project))
    if before is not None:
        rows = rows.filter(seq__lt=before)
    events = list(await rows.order_by("-seq").limit(limit + 1))
    more = len(events) > limit
    events = events[:limit]
    names = await _names(events)
    entries = [describe(e, locale, names) for e in events]
    if before is None:  # plug-in checks have no event of their own here: newest page only
        entries = _merge(entries, await _checks(project, locale))
    return Page(entries, events[-1].seq if more else None)


def _merge(entries: list[Entry], extra: list[Entry]) -> list[Entry]:
    if not extra:
        return entries
    oldest = entries[-1].at if entries else None
    kept = [e for e in extra if oldest is None or e.at >= oldest]
    return sorted(entries + kept, key=lambda e: e.at, reverse=True)


async def _checks(project: Project, locale: str) -> list[Entry]:
    rows = list(
        await PluginResult.filter(record_id=str(project.record_id))
        .order_by("-created_at")
        .limit(MAX_PAGE)
    )
    users = await User.filter(id__in=list({_uuid_or_none(r.created_by) for r in rows} - {None}))
    names = {str(u.id): u.name for u in users}
    return [
        Entry(
            None,
            row.created_at,
            "check",
            "plugin.result",
            translate(locale, "timeline.plugin.result"),
            names.get(row.created_by, row.created_by),
            [f"{row.plugin_id} · {row.operation}"],
        )
        for row in rows
    ]


def _uuid_or_none(value: str) -> str | None:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


async def _names(events: list[AuditEvent]) -> dict[str, str]:
    ids = {e.actor_id for e in events if e.actor_kind == "user"}
    if not ids:
        return {}
    users = await User.filter(id__in=list(ids)).values_list("id", "name")
    return {str(uid): name for uid, name in users}


CATEGORIES: Mapping[str, str] = {
    "record": "application",
    "workflow": "approval",
    "project": "project",
    "document": "document",
    "ticket": "ticket",
    "attachment": "application",
    "loan": "loan",
    "counter_guarantee": "loan",
    "aftercare": "loan",
}


def describe(event: AuditEvent, locale: str, names: Mapping[str, str]) -> Entry:
    """One audit event as the timeline shows it: a title in the reader's language, who,
    and a few lines of what changed (never field values: those stay behind the record's
    own field rules)."""
    prefix = event.action.split(".", 1)[0]
    data: dict[str, Any] = event.data or {}
    actor = names.get(event.actor_id, event.actor_id if event.actor_kind != "user" else "")
    lines: list[str] = []
    link = None
    title = translate(locale, f"timeline.{event.action}")
    if prefix == "workflow":
        op = event.action.split(".", 1)[1]
        title = translate(locale, f"approval.op.{op}") if op != "timer_fired" else title
        lines = _approval_lines(data, locale)
        link = f"/approvals/{event.object_id}"
    elif event.action == "project.transition":
        title = translate(locale, f"project.event.{data.get('event')}")
        lines = [f"{state_name(data['from'], locale)} → {state_name(data['to'], locale)}"]
        if data.get("reason"):
            lines.append(str(data["reason"]))
    elif event.action == "project.approval_skipped":
        allowed = "、".join(state_name(s, locale) for s in data.get("allowed_from") or [])
        event_name = translate(locale, f"project.event.{data.get('event')}")
        state = state_name(str(data.get("state")), locale)
        why = "timeline.approval_skipped_why"
        lines = [translate(locale, why, event=event_name, state=state, allowed=allowed)]
    elif event.action == "record.created" and data.get("form_version"):
        lines = [translate(locale, "timeline.form_version", version=data["form_version"])]
    elif event.action == "record.updated" and data.get("fields"):
        lines = [", ".join(map(str, data["fields"]))]
    elif event.action == "record.submitted" and data.get("number"):
        lines = [str(data["number"])]
    elif prefix == "ticket":
        lines = _ticket_lines(event.action, data, locale)
    elif prefix == "document":
        lines = [str(data[k]) for k in ("number", "kind", "plugin", "to") if data.get(k)]
    elif prefix == "loan":
        lines = _amount_lines(data, locale)
    elif event.action in DEFAULT_FACTS:
        lines = _default_lines(event.action, data, locale)
    if title == f"timeline.{event.action}":  # no name in the catalogue: the code itself
        title = event.action
    category = CATEGORIES.get(prefix, "project" if event.object_type == "project" else "other")
    return Entry(event.seq, event.at, category, event.action, title, actor, lines, link)


DEFAULT_FACTS: Mapping[str, tuple[str, ...]] = {
    "project.overdue_registered": ("notice_ref", "obliged"),
    "project.overdue_cured": ("cured_on",),
    "project.compensated": ("amount", "paid_on", "bank_receipt_ref"),
    "project.recovery_started": ("reference",),
    "project.recovery_received": ("amount", "received_on"),
    "project.recovery_closed": ("closed_on", "outcome"),
    "project.written_off": ("loss", "written_off_on"),
}
"""Default and recovery (guarantee.default, recovery, write_off): the figures shown."""


def _default_lines(action: str, data: Mapping[str, Any], locale: str) -> list[str]:
    lines = [str(data[k]) for k in DEFAULT_FACTS[action] if data.get(k)]
    if action == "project.recovery_started":
        lines.insert(0, translate(locale, f"project.recovery_kind.{data.get('kind')}"))
    elif action == "project.written_off":
        lines.append(translate(locale, f"project.write_off_basis.{data.get('basis')}"))
    return lines


def _approval_lines(data: Mapping[str, Any], locale: str) -> list[str]:
    lines = []
    for fact in data.get("facts") or []:
        kind = fact.get("fact")
        if fact.get("comment") and kind in ("approve", "reject", "abstain", "return"):
            lines.append(translate(locale, "timeline.opinion", text=fact["comment"]))
        elif kind == "finished":
            lines.append(translate(locale, f"approval.status.{fact.get('status')}"))
        elif kind == "routed":
            rules = [
                c["rule"] for c in fact.get("checked") or [] if c.get("result") and c.get("rule")
            ]
            taken = "、".join(_label(t, locale) for t in fact.get("taken") or [])
            why = "; ".join(rules) or translate(locale, "timeline.route_default")
            lines.append(translate(locale, "timeline.route", to=taken, rule=why))
        elif kind == "auto" and fact.get("rule"):
            lines.append(
                translate(locale, "timeline.route", to=fact.get("decision", ""), rule=fact["rule"])
            )
    return lines


MONEY_KEYS = ("amount", "principal", "interest", "outstanding_after", "outstanding")


def _amount_lines(data: Mapping[str, Any], locale: str) -> list[str]:
    """The sums of a loan event, as 元 with separators (its own facts: no field values)."""
    return [
        translate(locale, f"timeline.money.{key}", amount=yuan(data[key]))
        for key in MONEY_KEYS
        if data.get(key) not in (None, "")
    ]


def _label(value: Any, locale: str) -> str:
    if isinstance(value, Mapping):
        return str(value.get(locale) or value.get("zh-CN") or "")
    return str(value or "")


def _ticket_lines(action: str, data: Mapping[str, Any], locale: str) -> list[str]:
    if action == "ticket.opened":
        return [
            str(data.get("number", "")),
            translate(locale, f"ticket.category.{data.get('category')}"),
        ]
    if action == "ticket.status" or (action == "ticket.replied" and data.get("status")):
        status = data.get("status") or {"from": data.get("from"), "to": data.get("to")}
        if status.get("from") != status.get("to"):
            before = translate(locale, f"ticket.status.{status.get('from')}")
            after = translate(locale, f"ticket.status.{status.get('to')}")
            return [f"{before} → {after}"]
    return []
