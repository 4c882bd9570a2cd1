"""Deciding a node from its seats: sequential, all (会签), any (或签) and vote (票签).

A vote resolves as soon as its outcome is certain whatever the voters still pending
do, and never before; a veto holder still to vote keeps a pass uncertain.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Literal

from .plan import Node
from .state import Run

Outcome = Literal["approve", "reject"]


@dataclass(frozen=True)
class Tally:
    outcome: Outcome | None
    detail: dict[str, Any]


def decide(node: Node, run: Run) -> Tally:
    decisions = [s.decision for s in run.seats]
    if node.mode == "any":
        made = [d for d in decisions if d in ("approve", "reject")]
        return Tally(made[0] if made else None, {"mode": "any"})  # type: ignore[arg-type]
    if node.mode in ("all", "sequential"):
        if "reject" in decisions:
            return Tally("reject", {"mode": node.mode})
        if all(d == "approve" for d in decisions):
            return Tally("approve", {"mode": node.mode})
        return Tally(None, {"mode": node.mode})
    return _vote(node, run)


def _vote(node: Node, run: Run) -> Tally:
    assert node.vote is not None  # compile_plan gives every vote node its rule
    rule = node.vote
    approve = sum(s.decision == "approve" for s in run.seats)
    reject = sum(s.decision == "reject" for s in run.seats)
    abstain = sum(s.decision == "abstain" for s in run.seats)
    pending = sum(s.decision == "pending" for s in run.seats)
    detail: dict[str, Any] = {
        "mode": "vote",
        "approve": approve,
        "reject": reject,
        "abstain": abstain,
        "pending": pending,
        "pass_ratio": str(rule.pass_ratio),
        "quorum": rule.quorum,
    }
    vetoed = [s.user for s in run.seats if s.user in run.veto and s.decision == "reject"]
    if vetoed:
        return Tally("reject", {**detail, "veto": vetoed[0]})

    def passes(a: int, r: int, s: int) -> bool:
        counted = a + r + (s if rule.abstain_against else 0)
        return a + r >= rule.quorum and counted > 0 and Fraction(a, counted) >= rule.pass_ratio

    results = {
        passes(approve + x, reject + y, abstain + pending - x - y)
        for x in range(pending + 1)
        for y in range(pending + 1 - x)
    }
    if any(s.user in run.veto and s.decision == "pending" for s in run.seats):
        results.add(False)  # a veto still to come could fail it
    if results == {True}:
        return Tally("approve", detail)
    if results == {False}:
        return Tally("reject", detail)
    return Tally(None, detail)
