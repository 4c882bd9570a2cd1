"""What an administrator does to anyone's approval, each with a stated reason:

- terminate (终止): the instance ends as ``terminated``;
- jump (跳转): every live path ends and the instance goes on from the chosen node (an
  approval node, or ``end`` to approve it); a node inside a parallel branch re-opens that
  arm alone, as a return into a finished block does;
- reassign (离职转办, one task): the task goes to another person where it stands (its status,
  what it waits for and who added whom are kept), with a new version.

The caller checks the grant and says so with ``Action.admin``; the engine refuses these
operations otherwise.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .refusals import Refused

if TYPE_CHECKING:
    from .engine import Action, _Engine

LIVE = ("running", "returned")


def dispatch(engine: _Engine, action: Action) -> None:
    if not action.admin:
        raise Refused("not_yours", f"{action.op} is for administrators")
    if action.op == "reassign":
        return reassign(engine, action)
    if not action.comment.strip():
        raise Refused("comment_required", f"{action.op} needs a reason")
    if engine.state.status not in LIVE:
        raise Refused("finished", f"the instance is {engine.state.status}")
    if action.op == "terminate":
        return terminate(engine, action)
    return jump(engine, action)


def _clear(engine: _Engine, reason: str) -> None:
    for task in list(engine.state.tasks.values()):
        engine.close_task(task, reason)
    engine.state.tokens.clear()
    engine.state.runs.clear()
    engine.state.scopes.clear()
    engine.state.groups.clear()
    engine.state.returned_from = None


def terminate(engine: _Engine, action: Action) -> None:
    engine.fact("terminate", user=action.actor, reason=action.comment)
    _clear(engine, "terminated")
    engine.finish("terminated", "")


def jump(engine: _Engine, action: Action) -> None:
    target = action.node or ""
    node = engine.plan.nodes.get(target)
    if node is None or node.type not in ("approve", "handle", "end"):
        raise Refused("bad_target", f"jump: {target!r} is not an approval node or the end")
    here = sorted({t.node for t in engine.state.tokens.values()})
    _clear(engine, "jumped")
    engine.state.status = "running"
    engine.truncate(target)
    engine.fact("jump", user=action.actor, to=target, reason=action.comment, **{"from": here})
    engine.reenter(target, [])


def reassign(engine: _Engine, action: Action) -> None:
    if engine.state.status != "running":
        raise Refused("finished", f"the instance is {engine.state.status}")
    task = engine.state.tasks.get(action.task or "")
    if task is None:
        raise Refused("unknown_task", "no such open task (it may have been handled already)")
    run = engine.state.runs[task.run]
    node = engine.plan.node(task.node)
    new = engine.newcomer(run, node, action.to)
    old = task.user
    seat = run.seat(task.seat)
    if seat is not None and task.seat == old and task.kind in ("decide", "claim"):
        # The person holds the seat themselves (not as someone's proxy): the seat moves.
        seat.user, seat.why = new, f"reassigned from {old}"
        run.veto = [new if v == old else v for v in run.veto]
        run.pool = [[new, f"reassigned from {old}"] if u == old else [u, w] for u, w in run.pool]
        for other in engine.run_tasks(run):
            if other.seat == old:
                other.seat = new
    elif seat is not None and task.kind in ("before", "after"):
        listed = seat.before if task.kind == "before" else seat.after
        listed[listed.index(old)] = new
    task.user, task.why = new, f"reassigned from {old}"
    engine.set_status(task, task.status)  # a new version: the old holder's view is stale
    engine.effects.handed.append(task)
    engine.fact(
        "reassign",
        node=node.id,
        task=task.id,
        user=old,
        to=new,
        by=action.actor,
        reason=action.comment,
    )
