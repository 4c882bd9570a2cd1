"""Moving a running approval from the plan it is pinned to onto a newer one (版本迁移).

An approval stays on the plan it started with unless an administrator moves it. A move
takes a *node mapping* (old node id -> new node id, or null to forget a passed node);
a node the mapping does not name maps to the node of the same id when the new version
has one of the same kind. The rules, checked for each approval before anything moves:

- **Live nodes** (where a path stands now, with its open tasks) move by themselves only
  when the new version has the node *unchanged* (everything but its name and ``next``:
  the route onward is the new version's). A live node that is gone or changed needs an
  explicit entry (map it to itself to accept the change); it can never be forgotten.
- **Passed nodes** (the trail used by returns, "previous" and de-duplication, and the
  node an approval was returned from) map by id; one the new version lacks needs an
  entry: another node, or null to forget it (a return can no longer go back there).
- **Not yet reached nodes** are simply the new version's: nothing to map.
- **Parallel and inclusive blocks**: a live node inside one must land in the same arm of
  the same block (the block node mapped, its split mode, number of arms and join
  unchanged), and a live node outside every block must land outside every block.
- Two live paths may not land on one node; kinds must match (approval to approve/handle,
  branch to branch of the same mode, auto to auto).
- **Tasks**: a live node landing on an approval node with the same type, mode, vote and
  claim settings keeps its run as it is (the same people, tasks, versions and decisions
  given so far). Otherwise the old tasks close (``migrated``) and the node is entered
  afresh under the new definition: its assignees resolved again, decisions given there
  stay in the history but no longer count. Decided tasks are history either way.
- A take-back (拿回) offer survives only onto a node that keeps its run.

Pure like the engine: :func:`review` says what would happen (the dry run) and
:func:`migrate` does it to a copy of the state.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from .engine import Env, Result, _Engine
from .plan import Node, Plan
from .state import State, Step, Task

NodeMapping = dict[str, str | None]
LIVE = ("running", "returned")
_IGNORED = frozenset({"id", "name", "next", "enclosure"})


@dataclass(frozen=True)
class Problem:
    """Why an approval (or a whole mapping) cannot move; ``pointer`` names the entry."""

    pointer: str
    code: str
    message: str

    def as_json(self) -> dict[str, str]:
        return {"pointer": self.pointer, "code": self.code, "message": self.message}


@dataclass(frozen=True)
class Move:
    """Where one live path lands: ``how`` unchanged (by itself) or mapped; ``tasks``
    kept (the run as it is) or reopened (assignees resolved again)."""

    token: str
    node: str
    to: str
    how: str
    tasks: str

    def as_json(self) -> dict[str, str]:
        return {"token": self.token, "node": self.node, "to": self.to}


@dataclass
class Review:
    moves: list[Move] = field(default_factory=list)
    forgotten: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def can_move(self) -> bool:
        return not self.problems


class MappingRefused(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(f"{p.pointer}: {p.message}" for p in problems))
        self.problems = problems


def _pointer(node_id: str) -> str:
    return "/mapping/" + node_id.replace("~", "~0").replace("/", "~1")


def kind(node: Node) -> str:
    return "approval" if node.is_approval else node.type


def differences(old: Node, new: Node) -> list[str]:
    """What changed in a node, besides its name and where it leads."""
    return [
        f.name
        for f in fields(Node)
        if f.name not in _IGNORED and getattr(old, f.name) != getattr(new, f.name)
    ]


def keeps_run(old: Node, new: Node) -> bool:
    """The run of ``old`` stands as it is on ``new``: same type, mode, vote and claim."""
    return (
        new.is_approval
        and old.type == new.type
        and old.mode == new.mode
        and old.vote == new.vote
        and old.claim == new.claim
    )


def check_mapping(old: Plan, new: Plan, raw: Any) -> NodeMapping:
    """The mapping as sent, checked on its own (per approval checks come later)."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise MappingRefused([Problem("/mapping", "invalid", "an object {old node: new node}")])
    problems: list[Problem] = []
    checked: NodeMapping = {}
    for source, target in sorted(raw.items()):
        pointer = _pointer(str(source))
        if source not in old.nodes:
            message = f"no node {source!r} in the old chain"
            problems.append(Problem(pointer, "unknown_node", message))
            continue
        if target is None:
            checked[source] = None
            continue
        if not isinstance(target, str) or target not in new.nodes:
            message = f"no node {target!r} in the new chain"
            problems.append(Problem(pointer, "unknown_node", message))
            continue
        a, b = old.node(source), new.node(target)
        if kind(a) != kind(b) or a.split != b.split:
            message = f"{source} ({kind(a)}) cannot become {target} ({kind(b)})"
            problems.append(Problem(pointer, "wrong_kind", message))
            continue
        checked[source] = target
    if problems:
        raise MappingRefused(problems)
    return checked


class _Targets:
    """Where each old node goes: the mapping's entry, else the same id of the same kind."""

    def __init__(self, old: Plan, new: Plan, mapping: Mapping[str, str | None]) -> None:
        self.old, self.new, self.mapping = old, new, mapping

    def explicit(self, node_id: str) -> bool:
        return node_id in self.mapping

    def of(self, node_id: str) -> str | None:
        if node_id in self.mapping:
            return self.mapping[node_id]
        same, before = self.new.nodes.get(node_id), self.old.nodes.get(node_id)
        if same is None or before is None:
            return None
        return node_id if kind(same) == kind(before) and same.split == before.split else None


def review(old: Plan, new: Plan, state: State, mapping: Mapping[str, str | None]) -> Review:
    """Whether this approval can move, where each live path lands, and why not if not."""
    found = Review()
    if state.status not in LIVE:
        found.problems.append(Problem("", "finished", f"the approval is {state.status}"))
        return found
    targets = _Targets(old, new, mapping)
    landed: dict[str, str] = {}
    for token in sorted(state.tokens.values(), key=lambda t: _order(t.id)):
        where = token.node
        pointer = _pointer(where)
        to = targets.of(where)
        if targets.explicit(where):
            if to is None:
                message = f"{where} is where the approval stands: map it to a node, not null"
                found.problems.append(Problem(pointer, "live_dropped", message))
                continue
            how = "mapped"
        elif to is None:
            message = f"the approval stands at {where}, which the new chain lacks: map it"
            found.problems.append(Problem(pointer, "live_missing", message))
            continue
        else:
            changed = differences(old.node(where), new.node(to))
            if changed:
                message = (
                    f"the approval stands at {where}, which changed ({', '.join(changed)}): "
                    "map it explicitly (to itself to accept the change)"
                )
                found.problems.append(Problem(pointer, "live_changed", message))
                continue
            how = "unchanged"
        block = _block_problem(old, new, state, token.scopes, to, targets)
        if block:
            found.problems.append(Problem(pointer, "block_changed", f"{where}: {block}"))
            continue
        if to in landed:
            message = f"{where} and {landed[to]} would both stand at {to}"
            found.problems.append(Problem(pointer, "paths_meet", message))
            continue
        landed[to] = where
        tasks = "kept" if keeps_run(old.node(where), new.node(to)) else "reopened"
        found.moves.append(Move(token.id, where, to, how, tasks))
    passed = [s.node for s in state.trail]
    if state.returned_from:
        passed.append(state.returned_from)
    for node_id in dict.fromkeys(passed):
        if targets.of(node_id) is not None:
            continue
        if targets.explicit(node_id):
            found.forgotten.append(node_id)
            continue
        message = (
            f"{node_id} was passed and the new chain lacks it: map it to a node, "
            "or to null to forget it (a return cannot go back there)"
        )
        found.problems.append(Problem(_pointer(node_id), "passed_missing", message))
    return found


def _order(key: str) -> tuple[int, str]:
    digits = key.lstrip("abcdefghijklmnopqrstuvwxyz")
    return (int(digits) if digits.isdigit() else 0, key)


def _block_problem(
    old: Plan, new: Plan, state: State, scopes: list[str], to: str, targets: _Targets
) -> str:
    """Why landing on ``to`` would break the parallel blocks around the path, or ''."""
    expected = []
    for scope_id in scopes:
        scope = state.scopes[scope_id]
        branch = targets.of(scope.branch)
        if branch is None:
            return f"its block {scope.branch} is not in the new chain"
        before, after = old.node(scope.branch), new.node(branch)
        if (
            before.split != after.split
            or len(before.branches) != len(after.branches)
            or after.next != targets.of(before.next or "")
        ):
            return f"its block {scope.branch} changed shape (mode, arms or join)"
        expected.append((branch, scope.arm))
    if tuple(expected) != new.node(to).enclosure:
        if not expected:
            return f"{to} is inside a parallel block; a path outside blocks must land outside"
        return f"{to} is not in arm {expected[-1][1]} of block {expected[-1][0]}"
    return ""


@dataclass
class Migrated:
    """The moved state and its effects (tasks closed and opened, facts), the review it
    followed, and the kept tasks whose node id changed (their rows follow)."""

    result: Result
    review: Review
    relabelled: list[Task]


def migrate(
    env: Env,
    old: Plan,
    state: State,
    mapping: Mapping[str, str | None],
    *,
    versions: tuple[int, int],
    actor: str,
) -> Migrated:
    """Move a copy of ``state`` from ``old`` onto ``env.plan``; MappingRefused if it cannot."""
    new = env.plan
    found = review(old, new, state, mapping)
    if not found.can_move:
        raise MappingRefused(found.problems)
    engine = _Engine(env, state.clone())
    moved = engine.state
    targets = _Targets(old, new, mapping)
    engine.fact(
        "migrated",
        user=actor,
        from_plan=old.hash,
        to_plan=new.hash,
        from_version=versions[0],
        to_version=versions[1],
        mapping=dict(mapping),
        moves=[{**m.as_json(), "how": m.how, "tasks": m.tasks} for m in found.moves],
        forgotten=found.forgotten,
    )
    moved.trail = [
        Step(to, [[b, a] for b, a in new.node(to).enclosure], step.approvers)
        for step in moved.trail
        if (to := targets.of(step.node)) is not None
    ]
    if moved.returned_from is not None:
        moved.returned_from = targets.of(moved.returned_from)
    moved.choices = {
        to: picked
        for node_id, picked in moved.choices.items()
        if (to := targets.of(node_id)) is not None and new.node(to).is_approval
    }
    for key, scope in list(moved.scopes.items()):
        branch = targets.of(scope.branch) or scope.branch
        moved.scopes[key] = replace(scope, branch=branch, join=new.node(branch).next or "")
    relabelled: list[Task] = []
    reopen = []
    for move in found.moves:
        token = moved.tokens[move.token]
        token.back = _carry_take_back(token.back, old, new, targets)
        token.node = move.to
        run = moved.runs.get(token.run or "")
        if run is not None and move.tasks == "kept":
            run.node = move.to
            for task in engine.run_tasks(run):
                if task.node != move.to:
                    task.node = move.to
                    relabelled.append(task)
            continue
        if run is not None:
            for task in engine.run_tasks(run):
                engine.close_task(task, "migrated")
            del moved.runs[run.id]
        token.run, token.back = None, None
        reopen.append(token)
    for token in reopen:
        # Entering may decide the node at once (nobody to ask, de-duplication) and go on.
        if moved.status == "running" and token.id in moved.tokens:
            engine.enter(token, token.node)
    return Migrated(Result(moved, engine.effects), found, relabelled)


def _carry_take_back(
    back: dict[str, Any] | None, old: Plan, new: Plan, targets: _Targets
) -> dict[str, Any] | None:
    """A take-back offer moved onto a node its saved run still fits, else none (a new
    dict: offers are shared between states and never changed in place)."""
    if back is None:
        return None
    to = targets.of(back["node"])
    if to is None or not keeps_run(old.node(back["node"]), new.node(to)):
        return None
    return {**back, "node": to, "run": {**back["run"], "node": to}}


def mappable(old: Plan, new: Plan) -> list[dict[str, Any]]:
    """The old nodes a running approval can stand at or have passed (approval, auto and
    branch nodes), each with what it becomes by default, whether it changed, and the new
    nodes it may be mapped to: the rows of the console's mapping editor."""
    rows = []
    for node in old.nodes.values():
        if not (node.is_approval or node.type in ("auto", "branch")):
            continue
        same = _Targets(old, new, {}).of(node.id)
        changed = differences(node, new.node(same)) if same else []
        rows.append(
            {
                "id": node.id,
                "name": node.name,
                "kind": kind(node),
                "default": same,
                "state": "missing" if same is None else ("changed" if changed else "same"),
                "changed": changed,
                "options": [
                    (n.id, n.name)
                    for n in new.nodes.values()
                    if kind(n) == kind(node) and n.split == node.split
                ],
            }
        )
    return rows
