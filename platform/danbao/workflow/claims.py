"""认领: a node whose assignees are a pool (a role, a department). Each candidate holds a
*claim* task; the first to claim takes the seat and decides alone, the others' tasks go
away. The claimer may give it back (unclaim) while they have not acted, which offers it to
the whole pool again. A node with a single candidate needs no claim: it opens as usual.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .refusals import Refused
from .state import Run, Seat, Task

if TYPE_CHECKING:
    from .engine import Action, _Engine
    from .plan import Node


def open_pool(engine: _Engine, run: Run) -> None:
    run.pool = [[seat.user, seat.why] for seat in run.seats]
    for seat in run.seats:
        engine.open_task(run, seat.user, seat.user, "claim", seat.why)
    engine.fact("offered", node=run.node, users=[seat.user for seat in run.seats])


def claim(engine: _Engine, action: Action, task: Task, run: Run, node: Node) -> None:
    if task.kind != "claim":
        raise Refused("not_allowed", "this task is not offered to a group")
    seat = run.seat(task.seat)
    if seat is None:
        raise Refused("not_allowed", "no seat")
    for other in engine.run_tasks(run):
        if other.id != task.id:
            engine.close_task(other, f"claimed by {action.actor}")
    run.seats = [seat]
    task.kind = "decide"
    engine.set_status(task, "open")  # a new version: from here on it is an ordinary task
    engine.fact("claim", node=node.id, user=action.actor, seat=seat.user)


def unclaim(engine: _Engine, action: Action, task: Task, run: Run, node: Node) -> None:
    if not run.pool or task.kind != "decide":
        raise Refused("not_allowed", "nothing claimed here to give back")
    seat = run.seat(task.seat)
    if seat is None or len(run.seats) != 1:
        raise Refused("not_allowed", "others were added to this node; transfer it instead")
    if seat.decision != "pending" or seat.before or seat.after or seat.held:
        raise Refused("not_allowed", "you have already acted on it; transfer it instead")
    engine.close_task(task, "unclaimed")
    run.seats = [Seat(user, why) for user, why in run.pool]
    for again in run.seats:
        engine.open_task(run, again.user, again.user, "claim", again.why)
    engine.fact("unclaim", node=node.id, user=action.actor, seat=seat.user)
