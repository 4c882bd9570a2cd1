"""催办: the submitter urges the people holding open tasks. Nothing moves; the store sends
each urged person a notification. The clock lives in the store: it tells the engine which
tasks were urged too recently (``Env.cooling``), so urging is rate-limited per task.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .refusals import Refused

if TYPE_CHECKING:
    from .engine import Action, _Engine


def urge(engine: _Engine, action: Action) -> None:
    if action.actor != engine.state.submitter:
        raise Refused("not_yours", "only the submitter urges")
    live = [t for t in engine.state.tasks.values() if t.status == "open"]
    if action.task is not None:
        live = [t for t in live if t.id == action.task]
        if not live:
            raise Refused("unknown_task", "no such open task (it may have been handled already)")
    fresh = [t for t in live if t.id not in engine.env.cooling]
    if not fresh:
        raise Refused("too_soon", "urged recently; try again later")
    engine.effects.urged.extend(fresh)
    engine.fact(
        "urge",
        user=action.actor,
        tasks=[t.id for t in fresh],
        users=[t.user for t in fresh],
        comment=action.comment,
    )
