"""The compiled, immutable plan of one approval chain.

A workflow file that passed the bundle's checks (danbao.definitions.chains) compiles
to frozen, typed nodes; the plan's content hash covers the file and the engine's plan
format, so two published versions with the same chain share one plan and a running
instance stays pinned to exactly the plan it started with.

Parallel and inclusive branches are blocks: each node inside one knows its
*enclosure*, the (branch node, arm) pairs around it from the outside in. The engine
uses it to decide what a return from inside a branch tears down.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from types import MappingProxyType
from typing import Any, Literal

from danbao.definitions.bundle import canonical_json

PLAN_FORMAT = 1
"""Bumped when compiling the same file would give a different plan."""

NodeType = Literal[
    "start", "approve", "handle", "copy", "condition", "branch", "auto", "trigger", "end"
]
Mode = Literal["sequential", "all", "any", "vote"]
SelfApproval = Literal["forbid", "skip", "superior", "allow"]
Dedupe = Literal["none", "consecutive", "anywhere"]

Enclosure = tuple[tuple[str, int], ...]
"""(branch node id, arm index) pairs around a node, outermost first."""


@dataclass(frozen=True)
class AssigneeRule:
    # user | role | department_head | manager_chain | form_user | submitter_choice | submitter
    kind: str
    value: str | None = None
    department: str | None = None
    level: int = 1
    up_to_level: int | None = None
    up_to_role: str | None = None
    field: str | None = None
    candidates: tuple[AssigneeRule, ...] = ()
    min: int = 1
    max: int = 50


@dataclass(frozen=True)
class Vote:
    pass_ratio: Fraction
    quorum: int
    abstain_against: bool
    veto: tuple[AssigneeRule, ...]


@dataclass(frozen=True)
class Branch:
    name: str
    when: str | None
    default: bool
    to: str


@dataclass(frozen=True)
class AutoRule:
    when: str
    then: Literal["approve", "reject"]


@dataclass(frozen=True)
class OnEmpty:
    action: Literal["pass", "reject", "admin", "assignees"]
    assignees: tuple[AssigneeRule, ...] = ()


@dataclass(frozen=True)
class Escalation:
    """One step of an escalation ladder: ``after`` the deadline (same calendar), the task
    goes to (``reassign``) or is shown to (``notify``) ``to`` — the holder's superior when
    ``to`` is empty."""

    after: str
    to: tuple[AssigneeRule, ...] = ()
    action: Literal["reassign", "notify"] = "reassign"


SUPERIOR_AT_DEADLINE = (Escalation("PT0H"),)
"""The ladder of ``on_timeout: escalate`` written without one."""


@dataclass(frozen=True)
class Sla:
    due: str
    workdays: bool
    remind_every: str | None
    remind_max: int
    on_timeout: str
    escalate: tuple[Escalation, ...] = ()


@dataclass(frozen=True)
class Node:
    id: str
    type: NodeType
    name: str
    next: str | None = None
    assignees: tuple[AssigneeRule, ...] = ()
    mode: Mode = "any"
    vote: Vote | None = None
    self_approval: SelfApproval = "forbid"
    dedupe: Dedupe = "none"
    on_empty: OnEmpty = OnEmpty("admin")
    recuse: tuple[str, ...] = ()
    fields: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    require_comment: frozenset[str] = frozenset()
    on_reject: str | None = None
    """None: the instance is rejected; else "submitter", "previous" or a node id."""
    sla: Sla | None = None
    operations: frozenset[str] = frozenset()
    claim: bool = False
    """The assignees are a pool: one claims the task (认领) and decides alone."""
    split: Literal["exclusive", "parallel", "inclusive", "goto"] | None = None
    branches: tuple[Branch, ...] = ()
    rules: tuple[AutoRule, ...] = ()
    otherwise: Literal["approve", "reject"] = "approve"
    event: str | None = None
    send: tuple[str, ...] = ()
    enclosure: Enclosure = ()

    @property
    def is_approval(self) -> bool:
        return self.type in ("approve", "handle")

    def allows(self, operation: str) -> bool:
        return operation in self.operations


ALL_OPERATIONS = frozenset(
    {"return", "transfer", "delegate", "add_signer", "remove_signer", "take_back"}
)
ACTIONS_NEEDING_COMMENT = frozenset(
    {"approve", "reject", "abstain", "return", "transfer", "delegate", "resolve"}
)


@dataclass(frozen=True)
class Plan:
    workflow_id: str
    form_id: str
    hash: str
    start: str
    nodes: Mapping[str, Node]
    resubmit: Literal["restart", "back"]
    workdays: bool

    def node(self, node_id: str) -> Node:
        return self.nodes[node_id]


def plan_hash(workflow: Mapping[str, Any]) -> str:
    payload = canonical_json({"format": PLAN_FORMAT, "workflow": workflow})
    return "sha256:" + hashlib.sha256(payload).hexdigest()


def compile_plan(workflow: Mapping[str, Any]) -> Plan:
    """Compile a checked workflow file (see danbao.definitions.chains) into a plan."""
    settings = workflow.get("settings", {})
    raw_nodes: list[dict[str, Any]] = workflow["nodes"]
    enclosures = _enclosures(raw_nodes)
    nodes = {raw["id"]: _node(raw, settings, enclosures.get(raw["id"], ())) for raw in raw_nodes}
    start = next(n.id for n in nodes.values() if n.type == "start")
    return Plan(
        workflow_id=workflow["id"],
        form_id=workflow["form"],
        hash=plan_hash(workflow),
        start=start,
        nodes=MappingProxyType(nodes),
        resubmit=settings.get("resubmit", "restart"),
        workdays=settings.get("calendar", "workdays") == "workdays",
    )


def _label(value: Mapping[str, str] | None) -> str:
    return value["zh-CN"] if value else ""


def _rule(raw: Mapping[str, Any]) -> AssigneeRule:
    up_to = raw.get("up_to", {})
    return AssigneeRule(
        kind=raw["kind"],
        value=raw.get("value"),
        department=raw.get("department"),
        level=raw.get("level", 1),
        up_to_level=up_to.get("level"),
        up_to_role=up_to.get("role"),
        field=raw.get("field"),
        candidates=tuple(_rule(c) for c in raw.get("candidates", ())),
        min=raw.get("min", 1),
        max=raw.get("max", 50),
    )


def _assignees(raw: Mapping[str, Any]) -> tuple[AssigneeRule, ...]:
    if "assignee" in raw:
        kind, value = next(iter(raw["assignee"].items()))
        return (AssigneeRule(kind=kind, value=value),)
    return tuple(_rule(spec) for spec in raw.get("assignees", ()))


def _on_empty(value: Any) -> OnEmpty:
    if value is None:
        return OnEmpty("admin")
    if isinstance(value, dict):
        return OnEmpty("assignees", tuple(_rule(s) for s in value["assignees"]))
    return OnEmpty(value)


def _ladder(sla: Mapping[str, Any]) -> tuple[Escalation, ...]:
    if sla.get("on_timeout") != "escalate":
        return ()
    steps = sla.get("escalate")
    if not steps:
        return SUPERIOR_AT_DEADLINE
    return tuple(
        Escalation(
            after=step["after"],
            to=() if step.get("to", "superior") == "superior" else _assignees(step["to"]),
            action=step.get("action", "reassign"),
        )
        for step in steps
    )


def _node(raw: Mapping[str, Any], settings: Mapping[str, Any], enclosure: Enclosure) -> Node:
    kind = raw["type"]
    common: dict[str, Any] = {
        "id": raw["id"],
        "name": _label(raw.get("name")),
        "next": raw.get("next"),
        "enclosure": enclosure,
    }
    if kind in ("approve", "countersign", "handle"):
        mode = raw.get("mode", "any")
        vote = None
        if mode == "vote":
            vote = Vote(
                pass_ratio=Fraction(str(raw["pass_ratio"])),
                quorum=raw.get("quorum", 1),
                abstain_against=raw.get("abstain", "excluded") == "against",
                veto=tuple(_rule(s) for s in raw.get("veto", ())),
            )
        comment = raw.get("require_comment", False)
        on_reject = raw.get("on_reject", "end")
        sla = raw.get("sla")
        return Node(
            type="handle" if kind == "handle" else "approve",
            assignees=_assignees(raw),
            mode=mode,
            vote=vote,
            self_approval=raw.get("self_approval", settings.get("self_approval", "forbid")),
            dedupe=raw.get("dedupe", settings.get("dedupe", "none")),
            on_empty=_on_empty(raw.get("on_empty", settings.get("on_empty"))),
            recuse=tuple(raw.get("recuse", ())),
            fields=MappingProxyType(dict(raw.get("fields", {}))),
            require_comment=(
                ACTIONS_NEEDING_COMMENT if comment is True else frozenset(comment or ())
            ),
            on_reject=None if on_reject == "end" else on_reject["return"],
            sla=None
            if sla is None
            else Sla(
                due=sla["due"],
                workdays=sla.get("calendar", settings.get("calendar", "workdays")) == "workdays",
                remind_every=sla.get("remind_every"),
                remind_max=sla.get("remind_max", 0),
                on_timeout=sla.get("on_timeout", "remind"),
                escalate=_ladder(sla),
            ),
            operations=frozenset(raw.get("operations", ALL_OPERATIONS)),
            claim=bool(raw.get("claim", False)),
            **common,
        )
    if kind == "copy":
        return Node(type="copy", assignees=_assignees(raw), on_empty=OnEmpty("pass"), **common)
    if kind in ("condition", "branch"):
        branches = [
            Branch(_label(b.get("name")), b.get("when"), bool(b.get("default")), b["to"])
            for b in raw["branches"]
        ]
        if kind == "condition":
            # The first form: exclusive routing to any later node, the default by id.
            branches.append(Branch("默认", None, True, raw["default"]))
            common["next"] = None
        return Node(
            type=kind,
            split="goto" if kind == "condition" else raw["mode"],
            branches=tuple(branches),
            **common,
        )
    if kind == "auto":
        return Node(
            type="auto",
            rules=tuple(AutoRule(r["when"], r["then"]) for r in raw["rules"]),
            otherwise=raw["otherwise"],
            on_reject=None if raw.get("on_reject", "end") == "end" else raw["on_reject"]["return"],
            **common,
        )
    if kind == "trigger":
        return Node(type="trigger", event=raw["event"], send=tuple(raw.get("send", ())), **common)
    return Node(type=kind, **common)


def _enclosures(raw_nodes: list[dict[str, Any]]) -> dict[str, Enclosure]:
    """For each node inside parallel or inclusive arms, the arms around it, outside in."""
    edges: dict[str, list[str]] = {}
    for raw in raw_nodes:
        targets = [b["to"] for b in raw.get("branches", ())]
        if raw["type"] == "condition":
            targets.append(raw["default"])
        elif "next" in raw:
            targets.append(raw["next"])
        edges[raw["id"]] = targets
    found: dict[str, list[tuple[int, str, int]]] = {}
    for raw in raw_nodes:
        if raw["type"] != "branch" or raw["mode"] == "exclusive":
            continue
        for arm, branch in enumerate(raw["branches"]):
            body = _body(branch["to"], raw["next"], edges)
            for member in body:
                found.setdefault(member, []).append((len(body), raw["id"], arm))
    # An outer arm holds every node of an inner one and more: sort by size, largest first.
    return {
        node: tuple((branch, arm) for _, branch, arm in sorted(items, key=lambda i: -i[0]))
        for node, items in found.items()
    }


def _body(first: str, join_id: str, edges: Mapping[str, list[str]]) -> set[str]:
    if first == join_id:
        return set()
    body, todo = {first}, [first]
    while todo:
        for nxt in edges.get(todo.pop(), ()):
            if nxt != join_id and nxt not in body:
                body.add(nxt)
                todo.append(nxt)
    return body
