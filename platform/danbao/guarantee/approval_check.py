"""Whether an approval reference may carry a project event that needs the chain's decision.

The reference must name an approval of this tenant, run on the project's own application
record, finished with the outcome the event stands for, and finished while the project
was in its current state: an approval decided before the project last moved (for
instance the one that approved it before the review was reopened) cannot be used again.
"""

from __future__ import annotations

import uuid

from danbao.db.models import Project, WorkflowInstance
from danbao.definitions.project import APPROVAL_EVENTS

DEFAULT_OUTCOME = "approved"


class ApprovalNotValid(Exception):
    """The approval reference does not carry the event; ``why`` is a reason code."""

    def __init__(self, event: str, why: str, **params: str) -> None:
        self.event, self.why, self.params = event, why, params
        super().__init__(f"approval for {event!r} refused: {why} {params}".rstrip())


def outcome_for(event: str) -> str:
    return APPROVAL_EVENTS.get(event, DEFAULT_OUTCOME)


async def check_approval(project: Project, event: str, approval_id: uuid.UUID) -> None:
    """Raise ApprovalNotValid unless ``approval_id`` carries ``event`` for ``project``."""
    instance = await WorkflowInstance.filter(tenant_id=project.tenant_id, id=approval_id).first()
    if instance is None or instance.record_id != project.record_id:
        raise ApprovalNotValid(event, "other_record")
    needed = outcome_for(event)
    if instance.status != needed:
        raise ApprovalNotValid(event, "outcome", status=instance.status, needed=needed)
    if instance.finished_at is None or instance.finished_at < project.updated_at:
        raise ApprovalNotValid(event, "earlier", state=project.state)
