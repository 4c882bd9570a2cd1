"""The one table of events that move a project: event → allowed from-states → to-state.

Pure: no I/O. ``plan(state, event)`` answers what an event would do from a state, or
raises ``NotAllowed`` naming the event, the current state and the states it is allowed
from. The service (``guarantee.service``) applies a plan under a row lock; a dry run is
the plan alone. docs/lifecycle.md carries this table, and a test keeps the two equal.

Some events undo an earlier step because the business reversed itself (``reverses``:
a withdrawal, a review reopened, a warning lifted, an overdue cured). Events marked
``needs_approval`` are decisions the tenant's approval chain must take; until the chain
is wired in, the service refuses them without an approval reference.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

from danbao.i18n import translate

from .states import State

S = State


@dataclass(frozen=True)
class Event:
    code: str
    sources: frozenset[State]
    target: State
    needs_approval: bool = False
    reverses: bool = False
    """An undo: the business steps back from an earlier decision or state."""


def _event(
    code: str,
    sources: tuple[State, ...],
    target: State,
    *,
    needs_approval: bool = False,
    reverses: bool = False,
) -> Event:
    return Event(code, frozenset(sources), target, needs_approval, reverses)


_TABLE = (
    # application and review
    _event("accept", (S.DRAFT,), S.SUBMITTED),
    _event("return_to_applicant", (S.SUBMITTED, S.DUE_DILIGENCE), S.DRAFT, reverses=True),
    _event("start_due_diligence", (S.SUBMITTED,), S.DUE_DILIGENCE),
    _event("submit_for_review", (S.DUE_DILIGENCE,), S.UNDER_REVIEW),
    _event("return_to_due_diligence", (S.UNDER_REVIEW,), S.DUE_DILIGENCE, reverses=True),
    _event("approve", (S.UNDER_REVIEW,), S.APPROVED, needs_approval=True),
    _event("reject", (S.UNDER_REVIEW,), S.REJECTED, needs_approval=True),
    _event("reopen_review", (S.APPROVED, S.REJECTED), S.UNDER_REVIEW, reverses=True),
    _event(
        "withdraw",
        (S.DRAFT, S.SUBMITTED, S.DUE_DILIGENCE, S.UNDER_REVIEW, S.APPROVED, S.CONTRACTING),
        S.WITHDRAWN,
        reverses=True,
    ),
    # contract and letter
    _event("start_contracting", (S.APPROVED,), S.CONTRACTING),
    _event("cancel_contracting", (S.CONTRACTING,), S.APPROVED, reverses=True),
    _event("sign_contract", (S.CONTRACTING,), S.CONTRACTED),
    _event("issue_letter", (S.CONTRACTED,), S.LETTER_ISSUED),
    _event("revoke_letter", (S.LETTER_ISSUED,), S.CONTRACTED, reverses=True),
    _event("confirm_disbursement", (S.LETTER_ISSUED,), S.ACTIVE),
    # in force
    _event("raise_warning", (S.ACTIVE,), S.WATCHLIST),
    _event("lift_warning", (S.WATCHLIST,), S.ACTIVE, reverses=True),
    _event("mark_overdue", (S.ACTIVE, S.WATCHLIST), S.OVERDUE),
    _event("cure_overdue", (S.OVERDUE,), S.ACTIVE, reverses=True),
    _event("release", (S.ACTIVE, S.WATCHLIST), S.RELEASED),
    # default
    _event("compensate", (S.OVERDUE,), S.COMPENSATED, needs_approval=True),
    _event("start_recovery", (S.COMPENSATED,), S.RECOVERING),
    _event("close_recovery", (S.RECOVERING,), S.RECOVERY_CLOSED),
    _event("reopen_recovery", (S.RECOVERY_CLOSED,), S.RECOVERING, reverses=True),
    _event("write_off", (S.RECOVERING, S.RECOVERY_CLOSED), S.WRITTEN_OFF, needs_approval=True),
)

EVENTS: MappingProxyType[str, Event] = MappingProxyType({e.code: e for e in _TABLE})
"""Event code -> event, in the table's order (the order docs/lifecycle.md lists them in)."""

TERMINAL = frozenset(State) - {s for e in _TABLE for s in e.sources}
"""States no event leaves."""


class UnknownEvent(LookupError):
    def __init__(self, event: str) -> None:
        self.event = event
        super().__init__(f"no project event {event!r}; events: {', '.join(EVENTS)}")


class NotAllowed(ValueError):
    """The event exists but cannot happen from the current state."""

    def __init__(self, event: Event, state: State) -> None:
        self.event = event
        self.state = state
        self.allowed_from = tuple(s for s in State if s in event.sources)
        super().__init__(
            f"event {event.code!r} is not allowed from state {state.value}; "
            f"it is allowed from: {', '.join(s.value for s in self.allowed_from)}"
        )


@dataclass(frozen=True)
class Transition:
    """What an event does from one state: the plan a dry run shows and the service applies."""

    event: str
    from_state: State
    to_state: State
    needs_approval: bool
    reverses: bool


def event(code: str) -> Event:
    found = EVENTS.get(code)
    if found is None:
        raise UnknownEvent(code)
    return found


def plan(state: State | str, code: str) -> Transition:
    """The transition ``code`` makes from ``state``; UnknownEvent or NotAllowed otherwise."""
    current = State(state)
    found = event(code)
    if current not in found.sources:
        raise NotAllowed(found, current)
    return Transition(found.code, current, found.target, found.needs_approval, found.reverses)


def allowed_events(state: State | str) -> tuple[Event, ...]:
    """The events that can happen from ``state``, in the table's order."""
    current = State(state)
    return tuple(e for e in _TABLE if current in e.sources)


def event_name(code: str, locale: str) -> str:
    return translate(locale, f"project.event.{event(code).code}")
