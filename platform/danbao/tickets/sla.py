"""How long the guarantor has to answer and to resolve a ticket, by priority.

Counted on the tenant's working calendar (public holidays and 调休, office hours) like
approval deadlines. Defaults below; ``tenant.json`` ``tickets.sla.<priority>`` may set
``respond`` and ``resolve`` (ISO 8601 durations, checked by the tenant meta-schema).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from danbao.workdays import WorkCalendar

PRIORITIES = ("low", "normal", "high", "urgent")
CATEGORIES = ("consult", "documents", "change", "repayment", "complaint", "other")

DEFAULT_SLA: Mapping[str, tuple[str, str]] = {
    "urgent": ("PT2H", "P1D"),
    "high": ("PT4H", "P2D"),
    "normal": ("P1D", "P5D"),
    "low": ("P2D", "P10D"),
}
"""priority -> (respond within, resolve within), in working time."""


@dataclass(frozen=True)
class Deadlines:
    respond_due_at: dt.datetime
    resolve_due_at: dt.datetime


def deadlines(tenant: Mapping[str, Any], priority: str, opened_at: dt.datetime) -> Deadlines:
    respond, resolve = DEFAULT_SLA[priority]
    custom = tenant.get("tickets", {}).get("sla", {}).get(priority, {})
    calendar = WorkCalendar.from_tenant(tenant)
    return Deadlines(
        calendar.due(opened_at, custom.get("respond", respond)),
        calendar.due(opened_at, custom.get("resolve", resolve)),
    )


def standing(due_at: dt.datetime, done_at: dt.datetime | None, now: dt.datetime) -> str:
    """``met`` (done by the due time), ``breached`` (done late, or not done and past due)
    or ``pending`` (not done, still in time)."""
    if done_at is not None:
        return "met" if done_at <= due_at else "breached"
    return "breached" if now > due_at else "pending"
