"""How a refused ticket change is answered, the same on the API, the staff pages and the
portal: which status, which error code, which details."""

from __future__ import annotations

from typing import Any

from danbao.tickets import service
from danbao.tickets.states import ActionNotAllowed, status_name
from danbao.web.errors import HttpError

REFUSED = (service.TicketRefused, ActionNotAllowed)
"""What the ticket service refuses with; ``refusal`` turns each into its answer."""


def refusal(exc: Exception, locale: str) -> HttpError:
    if isinstance(exc, service.Invalid):
        details = [{"pointer": p, "message": m} for p, m in exc.faults]
        return HttpError(422, "invalid", details=details)
    if isinstance(exc, service.BadAssignee):
        message = "an active user who may read tickets"
        return HttpError(422, "invalid", details=[{"pointer": "/assignee_id", "message": message}])
    if isinstance(exc, service.StaleVersion):
        ticket = exc.ticket
        params: dict[str, Any] = {"number": ticket.number, "version": ticket.version}
        name = status_name(ticket.status, locale)
        current = {"status": ticket.status, "version": ticket.version, "name": name}
        return HttpError(409, "ticket_stale", params=params, details=[current])
    if isinstance(exc, service.Closed):
        return HttpError(409, "ticket_closed")
    if isinstance(exc, ActionNotAllowed):
        allowed = ", ".join(s.value for s in exc.allowed_from)
        params = {"action": exc.action, "status": exc.status.value, "allowed": allowed}
        return HttpError(409, "ticket_not_allowed", params=params)
    return HttpError(404, "not_found")  # NotYours: as if the ticket were not there


def found(change: service.Change | None) -> service.Change:
    """The change made, or 404 when the ticket is not among those the caller sees."""
    if change is None:
        raise HttpError(404, "not_found")
    return change
