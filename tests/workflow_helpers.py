"""Small chains and people for the engine tests: a chain is a list of node dicts in the
bundle's own format, compiled exactly as a published one is."""

from __future__ import annotations

from typing import Any

from danbao.workflow import Action, Env, People, Person, Result, State, act, compile_plan, start
from danbao.workflow.plan import Plan

DEPARTMENTS = [
    {"id": "hq", "head_role": "gm"},
    {"id": "branch", "parent": "hq", "head_role": "branch_head"},
    {"id": "team", "parent": "branch"},
]

# id: (roles, department)
STAFF: dict[str, tuple[tuple[str, ...], str]] = {
    "sub": (("clerk",), "team"),
    "clerk2": (("clerk",), "team"),
    "bh": (("branch_head",), "branch"),
    "gm": (("gm",), "hq"),
    "r1": (("risk",), "hq"),
    "r2": (("risk",), "hq"),
    "r3": (("risk",), "hq"),
    "c1": (("committee", "chair"), "hq"),
    "c2": (("committee",), "hq"),
    "c3": (("committee",), "hq"),
    "c4": (("committee",), "hq"),
    "c5": (("committee",), "hq"),
    "legal": (("legal",), "hq"),
    "fin": (("finance",), "hq"),
    "admin": (("admin",), "hq"),
    "x": ((), "hq"),
    "y": ((), "hq"),
}


def people(**extra: tuple[tuple[str, ...], str]) -> People:
    staff = {**STAFF, **extra}
    return People.build(
        (Person(uid, f"{uid}@t.demo", uid, frozenset(r), d) for uid, (r, d) in staff.items()),
        DEPARTMENTS,
    )


def node(node_id: str, kind: str, **extra: Any) -> dict[str, Any]:
    return {"id": node_id, "type": kind, "name": {"zh-CN": node_id}, **extra}


def role(value: str) -> list[dict[str, Any]]:
    return [{"kind": "role", "value": value}]


def chain(*nodes: dict[str, Any], **settings: Any) -> Plan:
    workflow: dict[str, Any] = {
        "id": "wf",
        "name": {"zh-CN": "wf"},
        "form": "f",
        "nodes": list(nodes),
    }
    if settings:
        workflow["settings"] = settings
    return compile_plan(workflow)


def linear(*approvals: dict[str, Any], **settings: Any) -> Plan:
    """start -> the given nodes in order -> end (each node's next filled in)."""
    ids = [a["id"] for a in approvals] + ["end"]
    linked = [{**a, "next": ids[i + 1]} for i, a in enumerate(approvals)]
    return chain(node("start", "start", next=ids[0]), *linked, node("end", "end"), **settings)


NO_TASK = ("resubmit", "cancel", "withdraw", "take_back", "comment", "urge", "jump", "terminate")


class Run:
    """One instance driven through the pure engine, keeping the state between actions."""

    def __init__(
        self,
        plan: Plan,
        data: dict[str, Any] | None = None,
        *,
        submitter: str = "sub",
        who: People | None = None,
        choices: dict[str, list[str]] | None = None,
    ) -> None:
        self.env = Env(plan, who or people(), data or {}, frozenset({"id_number"}))
        self.result: Result = start(self.env, submitter, choices)
        self.submitter = submitter
        self.history: list[Result] = [self.result]

    @property
    def state(self) -> State:
        return self.result.state

    @property
    def status(self) -> str:
        return self.state.status

    def tasks(self, node: str | None = None) -> dict[str, str]:
        """user -> task id of the open tasks (of one node)."""
        return {
            t.user: t.id
            for t in self.state.tasks.values()
            if t.status == "open" and (node is None or t.node == node)
        }

    def waiting(self) -> set[str]:
        return {t.user for t in self.state.tasks.values() if t.status == "waiting"}

    def nodes(self) -> set[str]:
        return {t.node for t in self.state.tasks.values()}

    def do(self, op: str, actor: str, **kw: Any) -> Result:
        task = kw.pop("task", None)
        if task is None and op not in NO_TASK:
            task = self.tasks()[actor]
        self.result = act(self.env, self.state, Action(op, actor, task=task, **kw))
        self.history.append(self.result)
        return self.result

    def facts(self, name: str) -> list[dict[str, Any]]:
        return [f for r in self.history for f in r.effects.facts if f["fact"] == name]
