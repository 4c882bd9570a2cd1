"""The tenant's approval chain drives its projects: when an approval of a project's
application record finishes, the project event its outcome stands for fires (tenant.json
``/project/approvals``: chain -> {approved: event, rejected: event}).

``follow`` runs inside the action that finished the approval (``workflow.store``), in the
same transaction: the approval and the project move together or not at all. The event is
applied by ``service.apply_event`` with the approval as its reference (so the same checks
hold as for a person passing ``approval_id``), as the approver whose action finished the
chain, or as the system when a timer decided it.

A project that is not in a state the event applies from (already withdrawn, returned to
due diligence …) does not stop the approval: the approval finishes and the skip is
audited (``project.approval_skipped``, naming the state and the states the event needs).
Any other failure of the project step (a stale approval, a refused effect) undoes the
whole action: ``ProjectDidNotFollow`` is raised after the action's rows are written, so it
is deliberately *not* a ``WorkflowError`` — callers answer those as refusals and commit,
which would keep a finished approval without its project. It passes through them to the
transaction that rolls it all back (the web layer answers 409
``approval_project_refused``; the timer sweep counts the timer failed and retries it).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from danbao.audit import record_event
from danbao.db.models import Project, User, WorkflowInstance

from .approval_check import ApprovalNotValid
from .effects import EventHasItsRoute, ReleaseRefused
from .service import ProjectRefused, SystemActor, apply_event
from .transitions import NotAllowed

SYSTEM_ACTOR = SystemActor("system:approval_chain")
"""Who fires the event when no person finished the chain (a timeout decided by the sweep)."""


class ProjectDidNotFollow(Exception):
    """The project could not take the chain's decision; the approval action is undone."""

    status, code = 409, "approval_project_refused"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def event_for(tenant: Mapping[str, Any], workflow_id: str, status: str) -> str | None:
    """The project event the chain's outcome fires, or None when tenant.json maps none."""
    section = tenant.get("project")
    if not isinstance(section, Mapping):
        return None
    outcomes = section.get("approvals", {}).get(workflow_id, {})
    event = outcomes.get(status)
    return event if isinstance(event, str) else None


async def follow(instance: WorkflowInstance, tenant: Mapping[str, Any], actor: uuid.UUID) -> None:
    """Fire the project event of a just-finished ``instance`` (no-op when its outcome maps
    to no event or its record has no project). Raises ProjectDidNotFollow."""
    event = event_for(tenant, instance.workflow_id, instance.status)
    if event is None:
        return
    project = await Project.filter(
        tenant_id=instance.tenant_id, record_id=instance.record_id
    ).first()
    if project is None:
        return
    user = await User.filter(id=actor).first()
    reason = f"审批流程 {instance.workflow_id} 结果：{instance.status}（审批单 {instance.id}）"
    try:
        await apply_event(
            project.id,
            event,
            expected_version=None,
            user=user or SYSTEM_ACTOR,
            reason=reason,
            approval_id=instance.id,
        )
    except NotAllowed as refused:
        await record_event(
            "project.approval_skipped",
            "project",
            str(project.id),
            {
                "approval_id": str(instance.id),
                "workflow": instance.workflow_id,
                "outcome": instance.status,
                "event": event,
                "state": refused.state.value,
                "allowed_from": [s.value for s in refused.allowed_from],
                "why": "not_allowed",
            },
        )
    except (ProjectRefused, ApprovalNotValid, EventHasItsRoute, ReleaseRefused) as failed:
        raise ProjectDidNotFollow(
            f"project {project.number} cannot take {event!r} from this approval: {failed}"
        ) from failed
