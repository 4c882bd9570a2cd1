"""Pre-publish checks of an approval chain (``workflows/<id>.json``), run on a file that
passed its meta-schema.

Beyond "every id exists": conditions must parse and compare like with like, the
graph must be sound (one start, no cycle, nothing unreachable), branch blocks must be
well nested (parallel and inclusive branches meet again at the branch node's ``next``
and nothing jumps into or out of them), exclusive and inclusive branches need a
default, a node that may find nobody to act needs an ``on_empty`` policy, and an
approval that only the submitter could give, with self-approval forbidden, can never
pass. Each fault names the file and a JSON pointer, like every definition error.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

from danbao.workdays import parse_duration

from .conditions import check_condition
from .errors import DefinitionError, join, pointer
from .graph import find_cycles, reachable

Fields = dict[str, frozenset[str]]

APPROVAL_TYPES = frozenset({"approve", "countersign", "handle"})
ROUTING_TYPES = frozenset({"condition", "branch"})


class ChainCatalog(Protocol):
    """What the checks need to know about the rest of the bundle."""

    forms: Any

    def fields_of(self, form_id: str) -> Fields | None: ...

    def role_ids(self) -> set[str] | None: ...


def check_workflow(
    file: str, workflow: dict[str, Any], catalog: ChainCatalog
) -> list[DefinitionError]:
    nodes: list[dict[str, Any]] = workflow["nodes"]
    errors: list[DefinitionError] = []
    form_id = workflow["form"]
    fields: Fields | None = None
    required: frozenset[str] = frozenset()
    if form_id not in catalog.forms:
        errors.append(DefinitionError(file, "/form", f"no form {form_id!r} in forms/"))
    else:
        fields = catalog.fields_of(form_id)
        form = catalog.forms.get(form_id)
        if form:
            required = frozenset(form["schema"].get("required", []))
    checker = _Checker(file, form_id, fields, required, catalog, workflow.get("settings", {}))
    errors += checker.unique_ids(nodes)
    node_ids = {n["id"] for n in nodes}
    edges: dict[str, list[str]] = {}
    for index, node in enumerate(nodes):
        at = pointer("nodes", index)
        targets = [(join(at, key), node[key]) for key in ("next", "default") if key in node]
        for position, branch in enumerate(node.get("branches", [])):
            targets.append((join(at, "branches", position, "to"), branch["to"]))
        for target_at, target in targets:
            if target not in node_ids:
                errors.append(
                    DefinitionError(file, target_at, f"no node {target!r} in this workflow")
                )
        edges.setdefault(node["id"], []).extend(target for _, target in targets)
        errors += checker.node(at, node)
    graph_errors = _graph(file, nodes, edges)
    errors += graph_errors
    if not graph_errors and not any(e.message.startswith("no node") for e in errors):
        errors += _blocks(file, nodes, edges)
        errors += _returns(file, nodes, edges)
    return errors


class _Checker:
    def __init__(
        self,
        file: str,
        form_id: str,
        fields: Fields | None,
        required: frozenset[str],
        catalog: ChainCatalog,
        settings: dict[str, Any],
    ) -> None:
        self.file, self.form_id, self.fields, self.required = file, form_id, fields, required
        self.roles = catalog.role_ids()
        perms = getattr(catalog, "permissions", None) or {}
        departments = perms.get("departments", [])
        self.departments = {d["id"] for d in departments} if perms else None
        self.headed = {d["id"] for d in departments if "head_role" in d}
        self.settings = settings

    def error(self, at: str, message: str) -> DefinitionError:
        return DefinitionError(self.file, at, message)

    def unique_ids(self, nodes: list[dict[str, Any]]) -> list[DefinitionError]:
        first: dict[str, int] = {}
        errors = []
        for index, node in enumerate(nodes):
            if node["id"] in first:
                earlier = pointer("nodes", first[node["id"]])
                errors.append(
                    self.error(
                        pointer("nodes", index, "id"),
                        f"duplicate node id {node['id']!r} (first at {earlier})",
                    )
                )
            else:
                first[node["id"]] = index
        return errors

    def condition(self, at: str, text: str) -> list[DefinitionError]:
        if self.fields is None:
            return []
        return check_condition(self.file, at, text, self.fields, self.form_id)

    def field(self, at: str, name: str, *, user: bool = False) -> list[DefinitionError]:
        if self.fields is None:
            return []
        if name not in self.fields:
            return [self.error(at, f"{name!r} is not a field of form {self.form_id!r}")]
        types = self.fields[name]
        if user and types and not types & {"string", "array"}:
            return [self.error(at, f"{name!r} cannot name a person: it is not text")]
        return []

    def role(self, at: str, role: str) -> list[DefinitionError]:
        if self.roles is not None and role not in self.roles:
            return [self.error(at, f"no role {role!r} in permissions.json")]
        return []

    def node(self, at: str, node: dict[str, Any]) -> list[DefinitionError]:
        errors: list[DefinitionError] = []
        kind = node["type"]
        for position, branch in enumerate(node.get("branches", [])):
            if "when" in branch:
                errors += self.condition(join(at, "branches", position, "when"), branch["when"])
        for position, rule in enumerate(node.get("rules", [])):
            errors += self.condition(join(at, "rules", position, "when"), rule["when"])
        if kind == "branch":
            errors += self.branch(at, node)
        specs = list(_specs(node, at))
        for spec_at, spec in specs:
            errors += self.spec(spec_at, spec)
        for position, spec in enumerate(node.get("veto", [])):
            errors += self.spec(join(at, "veto", position), spec)
        on_empty = node.get("on_empty", self.settings.get("on_empty"))
        if isinstance(node.get("on_empty"), dict):
            for position, spec in enumerate(node["on_empty"]["assignees"]):
                errors += self.spec(join(at, "on_empty", "assignees", position), spec)
        for position, name in enumerate(node.get("recuse", [])):
            errors += self.field(join(at, "recuse", position), name, user=True)
        for name in node.get("fields", {}):
            errors += self.field(join(at, "fields", name), name)
        for position, name in enumerate(node.get("send", [])):
            errors += self.field(join(at, "send", position), name)
        if kind in APPROVAL_TYPES and on_empty is None:
            for spec_at, reason in self.may_be_empty(specs):
                errors.append(
                    self.error(
                        spec_at,
                        f"may find nobody to act ({reason}); set on_empty on the node or in "
                        "settings",
                    )
                )
        if kind in ("approve", "countersign"):
            errors += self.self_approval(at, node, specs)
        if "sla" in node:
            errors += self.sla(join(at, "sla"), kind, node["sla"])
        if kind == "handle" and node.get("mode") == "vote":
            errors.append(self.error(join(at, "mode"), "a handle node cannot vote"))
        return errors

    def sla(self, at: str, kind: str, sla: dict[str, Any]) -> list[DefinitionError]:
        """Deadlines whose timers could never do what they say."""
        errors = []
        every, most = sla.get("remind_every"), sla.get("remind_max", 0)
        if every is not None and not most:
            errors.append(self.error(join(at, "remind_every"), "sends nothing: set remind_max"))
        if most and every is None:
            errors.append(self.error(join(at, "remind_max"), "remind_max needs remind_every"))
        if every is not None and _length(every) == (0, 0):
            errors.append(self.error(join(at, "remind_every"), "a zero interval"))
        timeout = sla.get("on_timeout", "remind")
        if timeout == "reject" and kind == "handle":
            errors.append(self.error(join(at, "on_timeout"), "a handle node cannot be rejected"))
        ladder = sla.get("escalate", [])
        if ladder and timeout != "escalate":
            errors.append(
                self.error(join(at, "escalate"), 'a ladder needs "on_timeout": "escalate"')
            )
        for position, step in enumerate(ladder):
            here = join(at, "escalate", position)
            if position and _length(step["after"]) <= _length(ladder[position - 1]["after"]):
                errors.append(
                    self.error(join(here, "after"), "steps must come later than the one before")
                )
            target = step.get("to", "superior")
            if isinstance(target, dict):
                for index, spec in enumerate(target["assignees"]):
                    errors += self.spec(join(here, "to", "assignees", index), spec)
        return errors

    def branch(self, at: str, node: dict[str, Any]) -> list[DefinitionError]:
        mode, branches = node["mode"], node["branches"]
        defaults = [i for i, b in enumerate(branches) if b.get("default")]
        errors = []
        if mode == "parallel":
            errors += [
                self.error(join(at, "branches", i, key), "parallel branches all run: no " + key)
                for i, b in enumerate(branches)
                for key in ("when", "default")
                if key in b
            ]
            return errors
        if not defaults:
            errors.append(
                self.error(
                    join(at, "branches"),
                    f"no default branch: when no condition holds the {mode} branch has "
                    'nowhere to go; mark one branch "default": true',
                )
            )
        errors += [
            self.error(join(at, "branches", i), "a second default branch") for i in defaults[1:]
        ]
        errors += [
            self.error(join(at, "branches", i), "a branch needs a condition (when) or default")
            for i, b in enumerate(branches)
            if "when" not in b and not b.get("default")
        ]
        errors += [
            self.error(join(at, "branches", i, "when"), "the default branch takes no condition")
            for i, b in enumerate(branches)
            if "when" in b and b.get("default")
        ]
        return errors

    def spec(self, at: str, spec: dict[str, Any]) -> list[DefinitionError]:
        errors: list[DefinitionError] = []
        kind = spec["kind"]
        if kind == "role":
            # The short form {"role": "x"} points at its one key.
            errors += self.role(join(at, "role" if spec.get("_legacy") else "value"), spec["value"])
        elif kind == "manager_chain" and "role" in spec["up_to"]:
            errors += self.role(join(at, "up_to", "role"), spec["up_to"]["role"])
        elif kind == "department_head" and "department" in spec:
            if self.departments is not None and spec["department"] not in self.departments:
                errors.append(
                    self.error(
                        join(at, "department"),
                        f"no department {spec['department']!r} in permissions.json",
                    )
                )
        elif kind == "form_user":
            errors += self.field(join(at, "field"), spec["field"], user=True)
        elif kind == "submitter_choice":
            for position, candidate in enumerate(spec["candidates"]):
                errors += self.spec(join(at, "candidates", position), candidate)
            if spec.get("min", 1) > spec.get("max", 50):
                errors.append(self.error(join(at, "min"), "min is more than max"))
        return errors

    def may_be_empty(self, specs: list[tuple[str, dict[str, Any]]]) -> Iterator[tuple[str, str]]:
        """Assignee rules that can resolve to nobody for reasons the bundle itself shows.

        Roles are not flagged (users change at run time); a node is flagged only when
        every rule it has can come out empty.
        """
        reasons = []
        for spec_at, spec in specs:
            reason = self._empty_reason(spec)
            if reason is None:
                return
            reasons.append((spec_at, reason))
        yield from reasons[:1]

    def _empty_reason(self, spec: dict[str, Any]) -> str | None:
        kind = spec["kind"]
        if kind == "form_user" and spec["field"] not in self.required:
            return f"the form field {spec['field']!r} is optional"
        if kind in ("department_head", "manager_chain") and self.departments is not None:
            target = spec.get("department")
            if target is not None and target not in self.headed:
                return f"department {target!r} has no head_role"
            if target is None and self.headed != self.departments:
                return "some departments have no head_role"
        if kind == "submitter_choice" and spec.get("min", 1) == 0:
            return "the submitter may choose nobody"
        return None

    def self_approval(
        self, at: str, node: dict[str, Any], specs: list[tuple[str, dict[str, Any]]]
    ) -> list[DefinitionError]:
        policy = node.get("self_approval", self.settings.get("self_approval", "forbid"))
        if policy != "forbid" or not specs:
            return []
        if all(spec["kind"] == "submitter" for _, spec in specs):
            return [
                self.error(
                    at,
                    "self-approval loop: only the submitter could approve, and self-approval "
                    "is forbidden; name other approvers or set self_approval",
                )
            ]
        return []


def _length(duration: str) -> tuple[int, int]:
    """(days, minutes) of a duration the meta-schema accepted, for ordering."""
    return parse_duration(duration)


def _specs(node: dict[str, Any], at: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """The node's assignee rules in the long form, with where each was written."""
    legacy = node.get("assignee")
    if legacy is not None:
        kind, value = next(iter(legacy.items()))
        yield join(at, "assignee"), {"kind": kind, "value": value, "_legacy": True}
    for position, spec in enumerate(node.get("assignees", [])):
        yield join(at, "assignees", position), spec


def _graph(
    file: str, nodes: list[dict[str, Any]], edges: dict[str, list[str]]
) -> list[DefinitionError]:
    starts = [i for i, n in enumerate(nodes) if n["type"] == "start"]
    if not starts:
        return [DefinitionError(file, "/nodes", "no start node")]
    errors = [
        DefinitionError(file, pointer("nodes", i, "type"), "a second start node; there must be one")
        for i in starts[1:]
    ]
    places = {n["id"]: pointer("nodes", i) for i, n in reversed(list(enumerate(nodes)))}

    errors += [
        DefinitionError(file, places[cycle[0]], f"the chain is circular: {' → '.join(cycle)}")
        for cycle in find_cycles(edges)
    ]
    seen = reachable(nodes[starts[0]]["id"], edges)
    errors += [
        DefinitionError(file, pointer("nodes", i), f"node {n['id']!r} cannot be reached from start")
        for i, n in enumerate(nodes)
        if n["id"] not in seen and n["type"] != "start"
    ]
    return errors


def _blocks(
    file: str, nodes: list[dict[str, Any]], edges: dict[str, list[str]]
) -> list[DefinitionError]:
    """Parallel and inclusive branches run side by side and must meet again at the branch
    node's ``next``: every path of a branch stays inside it until then, and nothing from
    outside jumps in."""
    errors: list[DefinitionError] = []
    index_of = {n["id"]: i for i, n in enumerate(nodes)}
    types = {n["id"]: n["type"] for n in nodes}
    predecessors: dict[str, set[str]] = {}
    for source, targets in edges.items():
        for target in targets:
            predecessors.setdefault(target, set()).add(source)
    for node in nodes:
        if node["type"] != "branch" or node["mode"] == "exclusive":
            continue
        join_id = node["next"]
        at = pointer("nodes", index_of[node["id"]])
        claimed: dict[str, int] = {}
        for position, branch in enumerate(node["branches"]):
            body = _body(branch["to"], join_id, edges)
            branch_at = join(at, "branches", position, "to")
            ends = sorted(n for n in body if types.get(n) == "end")
            if ends:
                errors.append(
                    DefinitionError(
                        file,
                        branch_at,
                        f"this branch can end the chain at {ends[0]!r} without meeting the "
                        f"others at {join_id!r}",
                    )
                )
                continue
            for member in sorted(body):
                if member in claimed and claimed[member] != position:
                    errors.append(
                        DefinitionError(
                            file,
                            branch_at,
                            f"node {member!r} is in two branches of {node['id']!r}",
                        )
                    )
                    break
                claimed[member] = position
                outside = predecessors.get(member, set()) - body - {node["id"]}
                if outside:
                    errors.append(
                        DefinitionError(
                            file,
                            pointer("nodes", index_of[member]),
                            f"node {member!r} is inside a branch of {node['id']!r} but "
                            f"{sorted(outside)[0]!r} leads into it from outside",
                        )
                    )
    return errors


def _body(first: str, join_id: str, edges: dict[str, list[str]]) -> set[str]:
    if first == join_id:
        return set()
    body = {first}
    todo = [first]
    while todo:
        for nxt in edges.get(todo.pop(), ()):
            if nxt != join_id and nxt not in body:
                body.add(nxt)
                todo.append(nxt)
    return body


def _returns(
    file: str, nodes: list[dict[str, Any]], edges: dict[str, list[str]]
) -> list[DefinitionError]:
    """``on_reject: {"return": <node>}`` must send the instance back, never forward or to itself."""
    errors = []

    for index, node in enumerate(nodes):
        target = (
            node.get("on_reject", {}).get("return")
            if isinstance(node.get("on_reject"), dict)
            else None
        )
        if target is None or target in ("submitter", "previous"):
            continue
        at = pointer("nodes", index, "on_reject", "return")
        if target not in edges:
            errors.append(DefinitionError(file, at, f"no node {target!r} in this workflow"))
        elif target == node["id"] or node["id"] not in reachable(target, edges):
            errors.append(
                DefinitionError(file, at, f"{target!r} does not come before {node['id']!r}")
            )
        elif {n["id"]: n["type"] for n in nodes}[target] not in APPROVAL_TYPES:
            errors.append(DefinitionError(file, at, f"{target!r} is not an approval node"))
    return errors
