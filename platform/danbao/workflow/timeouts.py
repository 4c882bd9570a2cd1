"""What a deadline does when nobody acted in time (``sla.on_timeout``), as a system action:
``approve`` or ``reject`` decides the task's node as it stands, whoever else is still to
act there, with the reason ``timeout`` in the history. Escalation reuses ``reassign``
(admin.py) with the same system actor; reminders change nothing and never reach here.

Only the timer sweep sends ``timeout`` (``Action.admin`` set, actor :data:`SYSTEM`); the
web layer never sets ``admin`` for it, so a person asking for it is refused.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .refusals import Refused

if TYPE_CHECKING:
    from .engine import Action, _Engine

SYSTEM = "00000000-0000-0000-0000-000000000000"
"""The actor of what timers do (the nil UUID: no user can hold it)."""


def timeout(engine: _Engine, action: Action) -> None:
    if not action.admin or action.actor != SYSTEM:
        raise Refused("not_yours", "deadlines are applied by the system")
    if engine.state.status != "running":
        raise Refused("finished", f"the instance is {engine.state.status}")
    task = engine.state.tasks.get(action.task or "")
    if task is None:
        raise Refused("unknown_task", "no such open task (it may have been handled already)")
    node = engine.plan.node(task.node)
    decision = action.to
    if decision not in ("approve", "reject"):
        raise Refused("bad_target", f"timeout: {decision!r} is neither approve nor reject")
    if decision == "reject" and node.type == "handle":
        raise Refused("not_allowed", "a handle node is done or returned, not rejected")
    run = engine.state.runs[task.run]
    engine.fact(
        "timeout",
        node=node.id,
        task=task.id,
        user=task.user,
        then=decision,
        reason="timeout",
        due=action.comment,
    )
    engine.complete_run(run, decision, action.actor, {"by": "timeout"})
