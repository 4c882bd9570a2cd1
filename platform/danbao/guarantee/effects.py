"""What else a transition checks and does, in the transition's own transaction.

Some events stand for a fact that has its own record and its own route: a contract
signed or a letter issued is a document (``documents.issuing``), a disbursement is the
bank's loan record (``guarantee.loan``). Those events are fired only from that route, so
a project can never be 已出函 without its letter, or 在保 without its disbursement
(``EventHasItsRoute`` otherwise). A release (解保) needs the loan repaid or the bank's
release notice recorded (``ReleaseRefused``), and releases the project's
counter-guarantees (注销) and letters (已解保) and cancels its open post-loan tasks.

``before`` runs after the plan and before the state moves (it may refuse); ``after``
runs once the state has moved and the audit event is written.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from danbao.db.models import Project, ProjectDocument, ProjectLoan

from .transitions import Transition

# event -> the route (``via``) that fires it together with its record.
OWN_ROUTES = {
    "sign_contract": "documents",
    "issue_letter": "documents",
    "revoke_letter": "documents",
    "confirm_disbursement": "loan",
    # default (guarantee.default, guarantee.write_off): the bank's notice, the payment, the loss
    "mark_overdue": "overdue",
    "cure_overdue": "overdue",
    "compensate": "compensation",
    "write_off": "write-off",
}


class EventHasItsRoute(Exception):
    """The event is fired by the route that records its fact, not by a bare event."""

    def __init__(self, event: str, route: str) -> None:
        self.event, self.route = event, route
        super().__init__(f"event {event!r} is fired by recording it through {route}")


class ReleaseRefused(Exception):
    """解保 while principal is outstanding and no release notice of the bank is on file."""

    def __init__(self, outstanding: Decimal) -> None:
        self.outstanding = outstanding
        super().__init__(
            f"the loan still has {outstanding} outstanding and the bank sent no release notice"
        )


async def before(project: Project, transition: Transition, *, via: str | None) -> None:
    """Refuse the transition when its fact is missing (raises; nothing has changed)."""
    route = OWN_ROUTES.get(transition.event)
    if route is not None and via != route:
        raise EventHasItsRoute(transition.event, route)
    if transition.event == "release":
        loan = await ProjectLoan.filter(project_id=project.id).first()
        if loan is not None and loan.principal_outstanding > 0 and not loan.release_notice:
            raise ReleaseRefused(Decimal(loan.principal_outstanding))


async def after(project: Project, transition: Transition, user: Any) -> dict[str, Any]:
    """Carry the transition's consequences; answers what was done."""
    if transition.event != "release":
        return {}
    # Imported here: these modules fire events through the service, which imports this one.
    from danbao.documents.status import set_status

    from . import aftercare, counter

    reason = f"项目解保 {project.number}"
    items = await counter.release_all(project, reason)
    letters = await ProjectDocument.filter(project_id=project.id, kind="letter", status="valid")
    for letter in letters:
        await set_status(letter, "released", reason)
    tasks = await aftercare.cancel_open(project, reason)
    return {"counter_guarantees": items, "letters": len(letters), "tasks": tasks}
