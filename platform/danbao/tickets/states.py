"""What a ticket can be, and the one table of actions that move it.

Pure: no I/O. ``plan(status, action)`` answers the status an action leads to from the
current one, or raises ``ActionNotAllowed`` naming both. Replies move a ticket too (a
staff answer starts work, an applicant's answer re-opens it): ``after_reply`` says how.
"""

from __future__ import annotations

from enum import StrEnum
from types import MappingProxyType

from danbao.i18n import translate


class Status(StrEnum):
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    WAITING_CUSTOMER = "waiting_customer"
    RESOLVED = "resolved"
    CLOSED = "closed"


S = Status
LIVE = frozenset({S.OPEN, S.IN_PROGRESS, S.WAITING_CUSTOMER})
"""The ticket still needs the guarantor: its SLA clock runs."""

ACTIONS: MappingProxyType[str, tuple[frozenset[Status], Status]] = MappingProxyType(
    {
        "start": (frozenset({S.OPEN}), S.IN_PROGRESS),
        "wait_customer": (frozenset({S.OPEN, S.IN_PROGRESS}), S.WAITING_CUSTOMER),
        "resolve": (LIVE, S.RESOLVED),
        "reopen": (frozenset({S.RESOLVED}), S.IN_PROGRESS),
        "close": (LIVE | {S.RESOLVED}, S.CLOSED),
    }
)
"""Action -> (statuses it is allowed from, status it leads to)."""

OPENER_ACTIONS = frozenset({"reopen", "close"})
"""What the person who opened a ticket may do to it themselves (an applicant's own)."""


class UnknownAction(LookupError):
    def __init__(self, action: str) -> None:
        self.action = action
        super().__init__(f"no ticket action {action!r}; actions: {', '.join(ACTIONS)}")


class ActionNotAllowed(ValueError):
    def __init__(self, action: str, status: Status) -> None:
        self.action, self.status = action, status
        self.allowed_from = tuple(s for s in Status if s in ACTIONS[action][0])
        super().__init__(
            f"ticket action {action!r} is not allowed from status {status.value}; "
            f"it is allowed from: {', '.join(s.value for s in self.allowed_from)}"
        )


def plan(status: str, action: str) -> Status:
    if action not in ACTIONS:
        raise UnknownAction(action)
    sources, target = ACTIONS[action]
    current = Status(status)
    if current not in sources:
        raise ActionNotAllowed(action, current)
    return target


def after_reply(status: str, *, by_staff: bool, internal: bool) -> Status:
    """The status a reply leaves: a staff answer the opener sees starts work on an open
    ticket; the opener's answer puts a waiting or resolved ticket back in progress."""
    current = Status(status)
    if internal:
        return current
    if by_staff:
        return S.IN_PROGRESS if current is S.OPEN else current
    if current in (S.WAITING_CUSTOMER, S.RESOLVED):
        return S.IN_PROGRESS
    return current


def status_name(status: str, locale: str) -> str:
    return translate(locale, f"ticket.status.{Status(status).value}")
