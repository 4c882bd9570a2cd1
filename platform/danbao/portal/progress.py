"""A project's progress as an applicant should read it: a few plain steps, the state in
plain words, and a timeline of the changes that concern them. Internal matters stay out:
who decided, their opinions and reasons, and the watch list (an applicant sees a watched
guarantee simply as in force)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from danbao.db.models import AuditEvent, Project, ProjectDocument, Record
from danbao.guarantee.states import State

CHINA = ZoneInfo("Asia/Shanghai")
STEPS = ("apply", "accept", "review", "approve", "contract", "letter", "in_force", "closed")

# How many of STEPS are behind a project in each state.
_DONE = {
    State.DRAFT: 1,
    State.SUBMITTED: 2,
    State.DUE_DILIGENCE: 2,
    State.UNDER_REVIEW: 2,
    State.APPROVED: 4,
    State.REJECTED: 3,
    State.WITHDRAWN: 1,
    State.CONTRACTING: 4,
    State.CONTRACTED: 5,
    State.LETTER_ISSUED: 6,
    State.ACTIVE: 7,
    State.WATCHLIST: 7,
    State.OVERDUE: 7,
    State.COMPENSATED: 7,
    State.RECOVERING: 7,
    State.RECOVERY_CLOSED: 7,
    State.WRITTEN_OFF: 7,
    State.RELEASED: 8,
}
# Ended without reaching the last step: the steps stop, the page says why.
STOPPED = frozenset({State.REJECTED, State.WITHDRAWN})
# What the applicant is told instead of the internal state.
_SHOWN_AS = {State.WATCHLIST: State.ACTIVE}
# Events that stay internal: the warning list is the guarantor's own business.
_INTERNAL_EVENTS = frozenset({"raise_warning", "lift_warning"})


@dataclass(frozen=True)
class Step:
    key: str
    status: str  # done | current | todo | stopped


@dataclass(frozen=True)
class Moment:
    at: datetime
    key: str  # an i18n key under portal.timeline.
    params: dict[str, str]


def shown_state(state: str | None, record: Record) -> str:
    """The code the applicant's words are looked up by: a project state, or the
    application's own status (``RECORD_DRAFT``, ``RECORD_SUBMITTED``) before a project."""
    if state is None:
        return "RECORD_DRAFT" if record.status == "draft" else "RECORD_SUBMITTED"
    return _SHOWN_AS.get(State(state), State(state)).value


def steps(state: str | None, record: Record) -> list[Step]:
    if state is None:
        done = 0 if record.status == "draft" else 1
        stopped = False
    else:
        done = _DONE[State(state)]
        stopped = State(state) in STOPPED
    found = []
    for i, key in enumerate(STEPS):
        if i < done:
            status = "done"
        elif i == done:
            status = "stopped" if stopped else "current"
        else:
            status = "todo"
        found.append(Step(key, status))
    return found


async def timeline(
    project: Project | None, record: Record, documents: list[ProjectDocument]
) -> list[Moment]:
    """Newest first: submitted, each public state change, each document issued."""
    moments = []
    if record.submitted_at is not None:
        moments.append(Moment(record.submitted_at, "submitted", {"number": record.number or ""}))
    if project is not None:
        events = await AuditEvent.filter(
            object_type="project", object_id=str(project.id), action="project.transition"
        ).order_by("seq")
        for event in events:
            data = event.data or {}
            name = str(data.get("event", ""))
            if name in _INTERNAL_EVENTS or "to" not in data:
                continue
            moments.append(
                Moment(
                    event.at, "transition", {"event": name, "to": shown_state(data["to"], record)}
                )
            )
    for document in documents:
        moments.append(Moment(document.issued_at, "issued", {"number": document.number}))
    return sorted(moments, key=lambda m: m.at, reverse=True)


def local_time(at: datetime) -> str:
    return at.astimezone(CHINA).strftime("%Y-%m-%d %H:%M")
