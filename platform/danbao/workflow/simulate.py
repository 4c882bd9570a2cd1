"""The simulator: "who would approve a ¥5,000,000 project from this department, and
through which route?" — answered by running the pure engine with everyone approving.

Nothing is stored: the plan, the tenant's people and the record data go in; the route
(each rule with the values that decided it) and each node's approvers (each with the
reason they were chosen or left out) come out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .engine import Action, Env, Refused, act, start
from .people import People, Person
from .plan import Plan

SIMULATED = "simulated-submitter"
_MAX_STEPS = 500


@dataclass
class Simulation:
    status: str
    route: list[dict[str, Any]] = field(default_factory=list)
    nodes: list[dict[str, Any]] = field(default_factory=list)
    facts: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, "route": self.route, "nodes": self.nodes}


def simulate(
    plan: Plan,
    people: People,
    data: Mapping[str, Any],
    *,
    department: str | None = None,
    roles: Sequence[str] = (),
    submitter: str | None = None,
    choices: Mapping[str, Sequence[str]] | None = None,
    sensitive: frozenset[str] = frozenset(),
) -> Simulation:
    """Run the chain for a submitter (a real user, or a made-up one in ``department``)
    with every approver approving, and report the way it went."""
    if submitter is None:
        stand_in = Person(
            SIMULATED, "simulated@invalid", "模拟提交人", frozenset(roles), department
        )
        people = People({**people.persons, SIMULATED: stand_in}, people.departments)
        submitter = SIMULATED
    env = Env(plan, people, data, sensitive)
    result = start(env, submitter, choices)
    facts = list(result.effects.facts)
    steps = 0
    while result.state.status == "running" and steps < _MAX_STEPS:
        task = min(
            (t for t in result.state.tasks.values() if t.status == "open"),
            key=lambda t: int(t.id[1:]),
            default=None,
        )
        if task is None:
            break
        # A pool's task (认领) is claimed first; the claimer then approves like anyone.
        op = {"delegate": "resolve", "claim": "claim"}.get(task.kind, "approve")
        try:
            result = act(env, result.state, Action(op, task.user, task=task.id))
        except Refused:  # e.g. a comment is required: the simulator says "approve" anyway
            result = act(env, result.state, Action(op, task.user, task=task.id, comment="模拟"))
        facts += result.effects.facts
        steps += 1
    return _report(result.state.status, facts, people)


def _report(status: str, facts: list[dict[str, Any]], people: People) -> Simulation:
    sim = Simulation(status, facts=facts)
    by_node: dict[str, dict[str, Any]] = {}

    def entry(node: str) -> dict[str, Any]:
        if node not in by_node:
            by_node[node] = {"node": node, "assigned": [], "excluded": [], "outcome": None}
            sim.nodes.append(by_node[node])
        return by_node[node]

    def who(user: str) -> str:
        person = people.persons.get(user)
        return f"{person.name} <{person.email}>" if person else user

    for fact in facts:
        kind = fact["fact"]
        if kind in ("routed", "auto", "triggered", "copied", "empty", "quorum_unreachable"):
            sim.route.append({k: v for k, v in fact.items() if k != "facts"})
        if kind == "assigned":
            entry(fact["node"])["assigned"].append({"user": who(fact["user"]), "why": fact["why"]})
        elif kind == "excluded":
            node = entry(fact["node"])
            node["assigned"] = [a for a in node["assigned"] if a["user"] != who(fact["user"])]
            node["excluded"].append({"user": who(fact["user"]), "why": fact["why"]})
        elif kind in ("decided", "passed"):
            entry(fact["node"])["outcome"] = fact.get("outcome", "approve")
    return sim
