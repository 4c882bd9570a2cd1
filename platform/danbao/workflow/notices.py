"""The notifications an action leaves: a task given to someone (opened, or reassigned to
them), an urge, a copy (抄送), and the end of the approval for its submitter. Written to
the internal notification list in the action's transaction; when the tenant enabled a
messaging plug-in they are marked ``pending`` and :mod:`.deliver` sends them after the
commit. Titles are zh-CN (what a channel shows); ``params`` let pages say it in any locale.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from danbao.db.models import WorkflowInstance
from danbao.notifications import Note, leave

from .engine import Result
from .plan import Plan

FINISHED = {
    "approved": "已通过",
    "rejected": "已拒绝",
    "returned": "已退回",
    "cancelled": "已撤销",
    "terminated": "已终止",
}


@dataclass(frozen=True)
class Notice:
    user: str
    kind: str
    title: str
    body: str = ""
    params: dict[str, Any] = field(default_factory=dict)


def notices_of(plan: Plan, result: Result, actor: str, submitter: str) -> list[Notice]:
    """What the effects of one action tell whom (never the actor about their own act)."""
    effects, found = result.effects, []

    def name(node: str) -> str:
        return plan.node(node).name or node

    for task in [*effects.opened, *effects.handed]:
        params = {"node": task.node, "task": task.id, "kind": task.kind, "why": task.why}
        found.append(Notice(task.user, "task", f"审批待办：{name(task.node)}", task.why, params))
    urge = next((f for f in effects.facts if f["fact"] == "urge"), None)
    for task in effects.urged:
        comment = urge["comment"] if urge else ""
        params = {"node": task.node, "task": task.id, "comment": comment}
        found.append(Notice(task.user, "urge", f"催办：{name(task.node)}", comment, params))
    for copy in effects.copies:
        params = {"node": copy["node"]}
        found.append(Notice(copy["user"], "copy", f"抄送：{name(copy['node'])}", "", params))
    for fact in effects.facts:
        if fact["fact"] == "finished" and fact["status"] in FINISHED:
            title = f"审批{FINISHED[fact['status']]}：{plan.workflow_id}"
            params = {"status": fact["status"], "at": fact["at"]}
            found.append(Notice(submitter, "finished", title, "", params))
    return [n for n in found if n.user != actor]


async def write(instance: WorkflowInstance, notices: list[Notice]) -> list[str]:
    """Store the notices; the ids of those a messaging plug-in should send."""
    about = {"instance": str(instance.id), "workflow": instance.workflow_id}
    return await leave(
        [
            Note(uuid.UUID(n.user), n.kind, n.title, n.body, {**n.params, **about}, instance.id)
            for n in notices
        ]
    )
