"""The pure transition logic: (plan, state, action) -> (new state, effects). No I/O.

``start`` begins an instance; ``act`` applies one action to a copy of the state and
returns the copy with the effects: tasks opened, changed (new version) and closed,
copies and integration events to send, and *facts* — what happened and why (the rule
and values that chose a route, why each person was chosen or left out, how a node was
decided). The store persists the state and tasks and writes the facts to the audit
trail; nothing here reads a clock, a database or a random source, so the same inputs
always give the same result.

Refusals raise :class:`Refused` with a code the web layer maps to a status; a refused
action leaves the given state untouched.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from . import admin, claims, timeouts, urge
from .people import Chosen, People, named_in_fields, resolve, resolve_ids
from .plan import AssigneeRule, Enclosure, Node, Plan
from .refusals import Refused
from .rules import evaluate
from .state import Run, Scope, Seat, State, Step, Task, Token, run_json
from .votes import decide

OPERATIONS = frozenset(
    {
        "approve",
        "reject",
        "abstain",
        "return",
        "resubmit",
        "withdraw",
        "take_back",
        "cancel",
        "transfer",
        "delegate",
        "resolve",
        "add_signer",
        "remove_signer",
        "comment",
        "claim",
        "unclaim",
        "urge",
        "jump",
        "terminate",
        "reassign",
        "timeout",
    }
)
TASK_OPERATIONS = frozenset(
    {"approve", "reject", "abstain", "return", "transfer", "delegate", "resolve"}
    | {"add_signer", "remove_signer", "claim", "unclaim"}
)
ADMIN_OPERATIONS = frozenset({"jump", "terminate", "reassign"})
"""Operations an administrator takes on anyone's approval (the caller checks the grant)."""


@dataclass(frozen=True)
class Env:
    """What an action is decided on besides the state: the plan, the people, the record."""

    plan: Plan
    people: People
    data: Mapping[str, Any]
    sensitive: frozenset[str] = frozenset()
    cooling: frozenset[str] = frozenset()
    """Tasks urged too recently to be urged again (the store knows the clock)."""


@dataclass(frozen=True)
class Action:
    op: str
    actor: str
    task: str | None = None
    version: int | None = None
    comment: str = ""
    to: str | None = None
    """return: "submitter", "previous" or a node id; transfer / delegate: a person."""
    users: tuple[str, ...] = ()
    """add_signer / remove_signer: people (ids or e-mails)."""
    position: Literal["before", "after", "alongside"] | None = None
    node: str | None = None
    """take_back: which node to take back (optional when there is one); jump: the target."""
    admin: bool = False
    """The caller holds the administrator's grant (jump, terminate, reassign)."""


@dataclass
class Effects:
    opened: list[Task] = field(default_factory=list)
    changed: list[Task] = field(default_factory=list)
    closed: list[tuple[Task, str]] = field(default_factory=list)
    facts: list[dict[str, Any]] = field(default_factory=list)
    copies: list[dict[str, Any]] = field(default_factory=list)
    triggers: list[dict[str, Any]] = field(default_factory=list)
    urged: list[Task] = field(default_factory=list)
    handed: list[Task] = field(default_factory=list)
    """Tasks given to another person in place (reassigned), for their notification."""


@dataclass
class Result:
    state: State
    effects: Effects


def start(env: Env, submitter: str, choices: Mapping[str, Sequence[str]] | None = None) -> Result:
    """Begin an instance for ``submitter``; ``choices``: node id -> people they picked."""
    engine = _Engine(env, State(submitter=submitter))
    engine.begin(dict(choices or {}))
    return Result(engine.state, engine.effects)


def act(env: Env, state: State, action: Action, *, in_place: bool = False) -> Result:
    """Apply ``action`` to a copy of ``state``; ``in_place``: to ``state`` itself, for a
    caller that gives it away (the store, which reads it from the row for this one action:
    the copy was a tenth of an approval's time). A refusal may then leave it half-changed:
    read it again from its JSON."""
    if action.op not in OPERATIONS:
        raise Refused("not_allowed", f"unknown operation {action.op!r}")
    engine = _Engine(env, state if in_place else state.clone())
    engine.dispatch(action)
    return Result(engine.state, engine.effects)


def compatible(a: Sequence[Sequence[Any]], b: Sequence[Sequence[Any]]) -> bool:
    """Two places are on one path unless they sit in different arms of one branch."""
    return all(tuple(x) == tuple(y) for x, y in zip(a, b, strict=False))


class _Engine:
    def __init__(self, env: Env, state: State) -> None:
        self.env, self.plan, self.state = env, env.plan, state
        self.effects = Effects()
        self.automatic_returns = 0

    # --- bookkeeping ---------------------------------------------------------------------

    def fact(self, name: str, /, **data: Any) -> None:
        self.effects.facts.append({"fact": name, **data})

    def open_task(self, run: Run, user: str, seat: str, kind: str, why: str) -> Task:
        holder = self.proxy_for(run, user)
        if holder != user:
            why = f"proxy for {user}: {why}"
            self.fact("proxied", node=run.node, user=user, proxy=holder)
            user = holder
        task = Task(
            id=self.state.new_id("t"),
            node=run.node,
            run=run.id,
            user=user,
            seat=seat,
            kind=kind,  # type: ignore[arg-type]
            why=why,
        )
        self.state.tasks[task.id] = task
        self.effects.opened.append(task)
        return task

    def proxy_for(self, run: Run, user: str) -> str:
        """Who receives a new task of ``user``: their active proxy (one step, never the
        submitter where self-approval is forbidden), else themselves."""
        proxy = self.env.people.proxies.get(user)
        if proxy is None or proxy == user or proxy not in self.env.people.persons:
            return user
        involved = {s.user for s in run.seats} | {t.user for t in self.run_tasks(run)}
        if proxy in involved:
            # Nobody holds two tasks in one node: the person on leave keeps this one.
            self.fact("not_proxied", node=run.node, user=user, why="the proxy takes part")
            return user
        node = self.plan.node(run.node)
        if (
            proxy == self.state.submitter
            and node.type == "approve"
            and node.self_approval != "allow"
        ):
            self.fact("not_proxied", node=run.node, user=user, why="the proxy is the submitter")
            return user
        return proxy

    def close_task(self, task: Task, reason: str) -> None:
        if self.state.tasks.pop(task.id, None) is None:
            return
        if task in self.effects.opened:
            self.effects.opened.remove(task)
        else:
            self.effects.closed.append((task, reason))
        if task in self.effects.changed:
            self.effects.changed.remove(task)

    def set_status(self, task: Task, status: Literal["open", "waiting"]) -> None:
        task.status = status
        if task not in self.effects.opened:
            task.version += 1
            if task not in self.effects.changed:
                self.effects.changed.append(task)

    def run_tasks(self, run: Run) -> list[Task]:
        return [t for t in self.state.tasks.values() if t.run == run.id]

    def seat_task(self, run: Run, seat: str, kind: str = "decide") -> Task | None:
        return next((t for t in self.run_tasks(run) if t.seat == seat and t.kind == kind), None)

    def new_token(self, node: str, scopes: list[str]) -> Token:
        token = Token(id=self.state.new_id("k"), node=node, scopes=list(scopes))
        self.state.tokens[token.id] = token
        return token

    def kill_token(self, token: Token, reason: str) -> None:
        if token.run is not None and token.run in self.state.runs:
            run = self.state.runs.pop(token.run)
            for task in self.run_tasks(run):
                self.close_task(task, reason)
        self.state.tokens.pop(token.id, None)

    def person(self, key: str | None) -> str:
        found = self.env.people.by_key(key or "")
        if found is None:
            raise Refused("unknown_user", f"no active user {key!r} in this tenant")
        return found.id

    # --- moving through the chain ----------------------------------------------------------

    def begin(self, choices: dict[str, Sequence[str]]) -> None:
        self.state.choices = self._checked_choices(choices)
        self.fact("started", submitter=self.state.submitter, plan=self.plan.hash)
        self.enter(self.new_token(self.plan.start, []), self.plan.start)

    def _checked_choices(self, choices: dict[str, Sequence[str]]) -> dict[str, list[str]]:
        checked: dict[str, list[str]] = {}
        # Chains tend to offer the same candidates at every node: resolve each set once.
        candidates: dict[tuple[AssigneeRule, ...], set[str]] = {}
        for node in self.plan.nodes.values():
            for rule in node.assignees:
                if rule.kind != "submitter_choice":
                    continue
                picked = [self.person(key) for key in choices.get(node.id, ())]
                allowed = candidates.get(rule.candidates)
                if allowed is None:
                    allowed = candidates[rule.candidates] = set().union(
                        *(
                            resolve_ids(
                                candidate,
                                self.env.people,
                                submitter=self.state.submitter,
                                data=self.env.data,
                            )
                            for candidate in rule.candidates
                        )
                    )
                outside = [p for p in picked if p not in allowed]
                if outside:
                    raise Refused("bad_choice", f"{node.id}: {outside[0]} is not a candidate")
                if not rule.min <= len(set(picked)) <= rule.max:
                    raise Refused(
                        "bad_choice",
                        f"{node.id}: choose between {rule.min} and {rule.max} approvers",
                    )
                checked[node.id] = list(dict.fromkeys(picked))
        return checked

    def enter(self, token: Token, node_id: str) -> None:
        while self.state.status == "running":
            if token.scopes:
                scope = self.state.scopes[token.scopes[-1]]
                if node_id == scope.join:
                    token = self._arrive(token, scope)  # type: ignore[assignment]
                    if token is None:
                        return
                    continue
            node = self.plan.node(node_id)
            token.node = node_id
            match node.type:
                case "start" | "trigger" | "copy":
                    self._pass_through(node)
                    node_id = node.next or ""
                case "end":
                    self.finish("approved", node.id)
                    return
                case "approve" | "handle":
                    outcome = self._open_run(token, node)
                    if outcome is None:
                        return
                    if outcome == "reject":
                        self.node_rejected(token, node)
                        return
                    node_id = node.next or ""
                case "auto":
                    if self._auto(node) == "reject":
                        self.node_rejected(token, node)
                        return
                    node_id = node.next or ""
                case "condition" | "branch":
                    if node.split in ("goto", "exclusive"):
                        node_id = self._route(node)[0]
                    else:
                        self._split(token, node)
                        return

    def _arrive(self, token: Token, scope: Scope) -> Token | None:
        """An arm reached the join: the last arm to arrive continues past it."""
        self.state.tokens.pop(token.id, None)
        del self.state.scopes[scope.id]
        self.state.groups[scope.group] -= 1
        self.fact("arm_done", node=scope.branch, arm=scope.arm)
        if self.state.groups[scope.group] > 0:
            return None
        del self.state.groups[scope.group]
        self.fact("joined", node=scope.branch, at=scope.join)
        return self.new_token(scope.join, token.scopes[:-1])

    def _pass_through(self, node: Node) -> None:
        if node.type == "copy":
            for chosen in self._resolve_all(node):
                self.effects.copies.append({"node": node.id, "user": chosen.user})
                self.fact("copied", node=node.id, user=chosen.user, why=chosen.why)
        elif node.type == "trigger":
            values = {name: self.env.data.get(name) for name in node.send}
            self.effects.triggers.append({"node": node.id, "event": node.event, "data": values})
            self.fact("triggered", node=node.id, event=node.event, fields=list(node.send))

    def _route(self, node: Node) -> list[str]:
        """The branches taken: exclusive (and goto) the first that holds, inclusive every one
        that holds, parallel all; the default when none holds."""
        taken: list[int] = []
        checked = []
        for index, branch in enumerate(node.branches):
            if node.split == "parallel":
                taken.append(index)
                continue
            if branch.when is None:
                continue
            outcome = evaluate(branch.when, self.env.data, self.env.sensitive)
            checked.append({"branch": branch.name, **outcome.explain()})
            if outcome.result:
                taken.append(index)
                if node.split != "inclusive":
                    break
        if not taken and node.split != "parallel":
            taken = [i for i, b in enumerate(node.branches) if b.default][:1]
        self.fact(
            "routed",
            node=node.id,
            split=node.split,
            taken=[node.branches[i].name or node.branches[i].to for i in taken],
            to=[node.branches[i].to for i in taken],
            checked=checked,
            default=bool(taken) and node.branches[taken[0]].default,
        )
        return [node.branches[i].to for i in taken]

    def _split(self, token: Token, node: Node) -> None:
        targets = self._route(node)
        arms = [i for i, b in enumerate(node.branches) if b.to in targets]
        self.state.tokens.pop(token.id, None)
        group = self.state.new_id("g")
        self.state.groups[group] = len(arms)
        children = []
        for arm in arms:
            scope = Scope(self.state.new_id("s"), node.id, arm, node.next or "", group)
            self.state.scopes[scope.id] = scope
            children.append((self.new_token(node.id, [*token.scopes, scope.id]), arm))
        for child, arm in children:
            # An earlier arm may have ended the instance or returned out of this block.
            if self.state.status != "running" or child.id not in self.state.tokens:
                return
            self.enter(child, node.branches[arm].to)

    def _auto(self, node: Node) -> str:
        for rule in node.rules:
            outcome = evaluate(rule.when, self.env.data, self.env.sensitive)
            if outcome.result:
                self.fact("auto", node=node.id, decision=rule.then, **outcome.explain())
                return rule.then
        self.fact("auto", node=node.id, decision=node.otherwise, rule="otherwise")
        return node.otherwise

    # --- opening and deciding an approval node ---------------------------------------------

    def _resolve_all(self, node: Node) -> list[Chosen]:
        found: dict[str, Chosen] = {}
        for rule in node.assignees:
            for chosen in resolve(
                rule,
                self.env.people,
                submitter=self.state.submitter,
                data=self.env.data,
                chosen=self.state.choices.get(node.id, ()),
            ):
                found.setdefault(chosen.user, chosen)
        return list(found.values())

    def _open_run(self, token: Token, node: Node) -> str | None:
        """Open the node's run; or, when policy decides it at once, the outcome."""
        chosen = self._resolve_all(node)
        for c in chosen:
            self.fact("assigned", node=node.id, user=c.user, why=c.why)
        chosen, auto = self._apply_policies(node, chosen)
        if auto is not None:
            return auto
        if not chosen:
            chosen, auto = self._on_empty(node)
            if auto is not None:
                return auto
        run = Run(
            id=self.state.new_id("r"),
            node=node.id,
            token=token.id,
            seats=[Seat(c.user, c.why) for c in chosen],
        )
        if node.vote is not None:
            vetoes = {
                c.user
                for rule in node.vote.veto
                for c in resolve(
                    rule, self.env.people, submitter=self.state.submitter, data=self.env.data
                )
            }
            run.veto = [s.user for s in run.seats if s.user in vetoes]
            if len(run.seats) < node.vote.quorum:
                self.fact("quorum_unreachable", node=node.id, voters=len(run.seats))
                return "reject"
        self.state.runs[run.id] = run
        token.run = run.id
        if node.claim and len(run.seats) > 1:
            claims.open_pool(self, run)
            return None
        targets = run.seats[:1] if node.mode == "sequential" else run.seats
        for seat in targets:
            self.open_task(run, seat.user, seat.user, "decide", seat.why)
        return None

    def _apply_policies(self, node: Node, chosen: list[Chosen]) -> tuple[list[Chosen], str | None]:
        submitter = self.state.submitter
        recused = named_in_fields(node.recuse, self.env.data, self.env.people)
        kept = []
        for c in chosen:
            if c.user in recused:
                self.fact("excluded", node=node.id, user=c.user, why=f"recused: {recused[c.user]}")
            else:
                kept.append(c)
        if node.type != "approve":
            return kept, None
        if any(c.user == submitter for c in kept) and node.self_approval != "allow":
            kept = [c for c in kept if c.user != submitter]
            policy = node.self_approval
            self.fact("excluded", node=node.id, user=submitter, why=f"self-approval: {policy}")
            if policy == "skip" and not kept:
                self.fact("passed", node=node.id, why="self-approval skipped")
                return [], "approve"
            if policy == "superior":
                for boss in self.env.people.superiors(submitter):
                    if all(c.user != boss.user for c in kept):
                        kept.append(boss)
                        self.fact("assigned", node=node.id, user=boss.user, why=boss.why)
        if node.dedupe != "none" and kept:
            done = self._approved_before(node)
            dupes = [c for c in kept if c.user in done]
            for c in dupes:
                self.fact(
                    "excluded", node=node.id, user=c.user, why=f"already approved ({node.dedupe})"
                )
            kept = [c for c in kept if c.user not in done]
            if dupes and not kept:
                self.fact("passed", node=node.id, why="every approver already approved")
                return [], "approve"
        return kept, None

    def _approved_before(self, node: Node) -> set[str]:
        steps = [s for s in self.state.trail if compatible(s.enclosure, node.enclosure)]
        if node.dedupe == "consecutive":
            steps = steps[-1:]
        return {user for step in steps for user in step.approvers}

    def _on_empty(self, node: Node) -> tuple[list[Chosen], str | None]:
        policy = node.on_empty
        if policy.action in ("pass", "reject"):
            self.fact("empty", node=node.id, then=policy.action)
            return [], "approve" if policy.action == "pass" else "reject"
        if policy.action == "admin":
            found = [
                Chosen(p.id, "nobody else: the administrator")
                for p in self.env.people.with_role("admin")
            ]
        else:
            found = [
                c
                for rule in policy.assignees
                for c in resolve(
                    rule, self.env.people, submitter=self.state.submitter, data=self.env.data
                )
            ]
            found = list({c.user: c for c in found}.values())
        if node.type == "approve" and node.self_approval != "allow":
            # The fallback does not open a way around the self-approval rule.
            found = [c for c in found if c.user != self.state.submitter]
        self.fact("empty", node=node.id, then=policy.action, users=[c.user for c in found])
        if not found:
            return [], "reject"
        return found, None

    def after_decision(self, run: Run, actor: str) -> None:
        node = self.plan.node(run.node)
        tally = decide(node, run)
        if tally.outcome is None:
            if node.mode == "sequential":
                nxt = run.pending()[0]
                if self.seat_task(run, nxt.user) is None:
                    self.open_task(run, nxt.user, nxt.user, "decide", nxt.why)
            return
        self.complete_run(run, tally.outcome, actor, tally.detail)

    def complete_run(self, run: Run, outcome: str, actor: str, detail: dict[str, Any]) -> None:
        node = self.plan.node(run.node)
        for task in self.run_tasks(run):
            self.close_task(task, "node decided")
        del self.state.runs[run.id]
        token = self.state.tokens[run.token]
        token.run = None
        self.fact("decided", node=node.id, run=run.id, outcome=outcome, **detail)
        if outcome == "reject":
            self.node_rejected(token, node)
            return
        approvers = [s.user for s in run.seats if s.decision == "approve"]
        self.state.trail.append(Step(node.id, _enc(node.enclosure), approvers))
        token.back = {"node": node.id, "actor": actor, "run": run_json(run)}
        self.enter(token, node.next or "")

    def node_rejected(self, token: Token, node: Node) -> None:
        if node.on_reject is None:
            self.finish("rejected", node.id)
            return
        # A node that rejects by itself (nobody to act, quorum out of reach) and returns to
        # one that passes by itself would loop within one action: stop it, rejected.
        self.automatic_returns += 1
        if self.automatic_returns > len(self.plan.nodes):
            self.fact("loop", node=node.id, to=node.on_reject)
            self.finish("rejected", node.id)
            return
        # The configured target may have been routed around or passed by itself: then the
        # node decided before it, and failing that the submitter.
        steps = [s for s in self.state.trail if compatible(s.enclosure, node.enclosure)]
        target = node.on_reject
        if target not in ("submitter", "previous") and all(s.node != target for s in steps):
            target = "previous"
        if target == "previous" and not steps:
            target = "submitter"
        self.return_to(token, target, node.id)

    def finish(self, status: str, at: str) -> None:
        for task in list(self.state.tasks.values()):
            self.close_task(task, status)
        self.state.tokens.clear()
        self.state.runs.clear()
        self.state.scopes.clear()
        self.state.groups.clear()
        self.state.status = status  # type: ignore[assignment]
        self.fact("finished", status=status, at=at)

    # --- returns ------------------------------------------------------------------------

    def return_to(self, token: Token, target: str, origin: str) -> None:
        if target == "submitter":
            self.finish("returned", origin)
            self.state.returned_from = origin
            return
        here = self.plan.node(origin).enclosure
        steps = [s for s in self.state.trail if compatible(s.enclosure, here)]
        if target == "previous":
            if not steps:
                raise Refused("bad_target", "nothing was approved before this node on its path")
            target = steps[-1].node
        elif target not in self.plan.nodes:
            raise Refused("bad_target", f"no node {target!r} in this chain")
        elif all(s.node != target for s in steps):
            raise Refused("bad_target", f"{target!r} has not been reached on this path")
        enclosure = self.plan.node(target).enclosure
        scopes = [self.state.scopes[s] for s in token.scopes]
        keep = 0
        while (
            keep < len(scopes)
            and keep < len(enclosure)
            and (scopes[keep].branch, scopes[keep].arm) == enclosure[keep]
        ):
            keep += 1
        if (
            keep < len(scopes)
            and keep < len(enclosure)
            and scopes[keep].branch == enclosure[keep][0]
        ):
            raise Refused("bad_target", f"{target!r} is in a parallel branch beside this one")
        if keep < len(scopes):
            self._tear_down(scopes[keep].group)
        self.kill_token(token, "returned")
        self.truncate(target)
        self.fact("returned", node=origin, to=target)
        self.reenter(target, token.scopes[:keep])

    def reenter(self, target: str, keep: list[str]) -> None:
        """Place a new token at ``target``, re-opening (one arm at a time) any finished
        branch blocks around it that are not live."""
        scopes = list(keep)
        enclosure = self.plan.node(target).enclosure
        for branch, arm in enclosure[len(keep) :]:
            group = self.state.new_id("g")
            self.state.groups[group] = 1
            join = self.plan.node(branch).next or ""
            scope = Scope(self.state.new_id("s"), branch, arm, join, group)
            self.state.scopes[scope.id] = scope
            scopes.append(scope.id)
        self.enter(self.new_token(target, scopes), target)

    def _tear_down(self, group: str) -> None:
        """End every path inside one branch split (all its arms and what they split into)."""
        for token in list(self.state.tokens.values()):
            hits = [i for i, s in enumerate(token.scopes) if self.state.scopes[s].group == group]
            if hits:
                for scope_id in token.scopes[hits[0] :]:
                    scope = self.state.scopes.pop(scope_id, None)
                    if scope is not None:
                        self.state.groups.pop(scope.group, None)
                self.kill_token(token, "returned")
        for scope in [s for s in self.state.scopes.values() if s.group == group]:
            del self.state.scopes[scope.id]
        self.state.groups.pop(group, None)

    def truncate(self, target: str) -> None:
        """Forget the steps from the last visit of ``target`` on (on the same path)."""
        enclosure = self.plan.node(target).enclosure
        trail = self.state.trail
        marks = [
            i
            for i, s in enumerate(trail)
            if s.node == target or any(branch == target for branch, _ in s.enclosure)
        ]
        if not marks:
            return
        first = marks[-1] if trail[marks[-1]].node == target else marks[0]
        self.state.trail = trail[:first] + [
            s for s in trail[first:] if not compatible(s.enclosure, enclosure)
        ]

    # --- actions -------------------------------------------------------------------------

    def dispatch(self, action: Action) -> None:
        op = action.op
        if op in ADMIN_OPERATIONS:
            return admin.dispatch(self, action)
        if op == "timeout":
            return timeouts.timeout(self, action)
        if op == "resubmit":
            return self.resubmit(action)
        if op == "cancel":
            return self.cancel(action)
        if self.state.status != "running":
            raise Refused("finished", f"the instance is {self.state.status}")
        if op == "withdraw":
            return self.withdraw(action)
        if op == "take_back":
            return self.take_back(action)
        if op == "comment":
            return self.comment(action)
        if op == "urge":
            return urge.urge(self, action)
        task = self._task(action)
        node = self.plan.node(task.node)
        if op in node.require_comment and not action.comment.strip():
            raise Refused("comment_required", f"{node.name or node.id}: a comment is required")
        run = self.state.runs[task.run]
        handler = getattr(self, f"op_{op}")
        handler(action, task, run, node)
        return None

    def _task(self, action: Action) -> Task:
        task = self.state.tasks.get(action.task or "")
        if task is None:
            raise Refused("unknown_task", "no such open task (it may have been handled already)")
        if task.user != action.actor:
            raise Refused("not_yours", "this task is assigned to someone else")
        if action.version is not None and action.version != task.version:
            raise Refused("stale", "the task changed since you saw it")
        if task.status != "open":
            raise Refused("not_allowed", "this task waits for someone else first")
        if task.kind == "claim" and action.op != "claim":
            raise Refused("not_allowed", "claim this task first (it is offered to a group)")
        return task

    def _need(self, node: Node, operation: str) -> None:
        if not node.allows(operation):
            raise Refused("not_allowed", f"{operation} is not allowed at {node.id}")

    def _need_decide(self, task: Task, what: str) -> None:
        if task.kind != "decide":
            raise Refused("not_allowed", f"only the assignee of the node can {what}")

    def op_claim(self, action: Action, task: Task, run: Run, node: Node) -> None:
        claims.claim(self, action, task, run, node)

    def op_unclaim(self, action: Action, task: Task, run: Run, node: Node) -> None:
        claims.unclaim(self, action, task, run, node)

    def op_approve(self, action: Action, task: Task, run: Run, node: Node) -> None:
        seat = run.seat(task.seat)
        if seat is None or task.kind == "delegate":
            raise Refused("not_allowed", "a delegated task is resolved, not approved")
        self.close_task(task, "approved")
        self.fact(
            "approve",
            node=node.id,
            user=action.actor,
            seat=seat.user,
            kind=task.kind,
            **_opinion(action),
        )
        if task.kind == "before":
            seat.before.remove(task.user)
            if not seat.before:
                holder = self.seat_task(run, seat.user)
                if holder is not None:
                    self.set_status(holder, "open")
            return
        if task.kind == "after":
            seat.after.remove(task.user)
            if seat.after:
                return
            seat.held = False
        elif seat.after:
            seat.held = True
            for user in seat.after:
                self.open_task(run, user, seat.user, "after", f"added after {seat.user}")
            return
        seat.decision = "approve"
        seat.comment = action.comment
        self.after_decision(run, action.actor)

    def op_reject(self, action: Action, task: Task, run: Run, node: Node) -> None:
        if node.type == "handle":
            raise Refused("not_allowed", "a handle node is done or returned, not rejected")
        self._decide_against(action, task, run, node, "reject")

    def op_abstain(self, action: Action, task: Task, run: Run, node: Node) -> None:
        if node.mode != "vote" or task.kind != "decide":
            raise Refused("not_allowed", "only a voter can abstain")
        self._decide_against(action, task, run, node, "abstain")

    def _decide_against(
        self, action: Action, task: Task, run: Run, node: Node, decision: str
    ) -> None:
        seat = run.seat(task.seat)
        if seat is None or task.kind == "delegate":
            raise Refused("not_allowed", "a delegated task is resolved, not decided")
        for other in self.run_tasks(run):
            if other.seat == seat.user:
                self.close_task(other, decision)
        seat.before.clear()
        seat.after.clear()
        seat.held = False
        seat.decision = decision  # type: ignore[assignment]
        seat.comment = action.comment
        self.fact(
            decision,
            node=node.id,
            user=action.actor,
            seat=seat.user,
            kind=task.kind,
            **_opinion(action),
        )
        self.after_decision(run, action.actor)

    def op_return(self, action: Action, task: Task, run: Run, node: Node) -> None:
        self._need(node, "return")
        self._need_decide(task, "return it")
        token = self.state.tokens[run.token]
        self.fact("return", node=node.id, user=action.actor, **_opinion(action))
        self.return_to(token, action.to or "previous", node.id)

    def op_transfer(self, action: Action, task: Task, run: Run, node: Node) -> None:
        self._need(node, "transfer")
        self._need_decide(task, "transfer it")
        new = self.newcomer(run, node, action.to)
        seat = run.seat(task.seat)
        if seat is None:
            raise Refused("not_allowed", "no seat")
        old = seat.user
        seat.user, seat.why = new, f"transferred by {old}"
        run.veto = [new if v == old else v for v in run.veto]
        for other in self.run_tasks(run):
            if other.seat == old:
                other.seat = new
        self.close_task(task, "transferred")
        self.open_task(run, new, new, "decide", seat.why)
        self.fact("transfer", node=node.id, user=old, to=new, comment=action.comment)

    def op_delegate(self, action: Action, task: Task, run: Run, node: Node) -> None:
        self._need(node, "delegate")
        self._need_decide(task, "delegate it")
        helper = self.newcomer(run, node, action.to)
        self.set_status(task, "waiting")
        self.open_task(run, helper, task.seat, "delegate", f"delegated by {task.user}")
        self.fact("delegate", node=node.id, user=task.user, to=helper)

    def op_resolve(self, action: Action, task: Task, run: Run, node: Node) -> None:
        if task.kind != "delegate":
            raise Refused("not_allowed", "only a delegated task is resolved")
        self.close_task(task, "resolved")
        holder = self.seat_task(run, task.seat)
        if holder is not None:
            self.set_status(holder, "open")
        self.fact("resolve", node=node.id, user=task.user, seat=task.seat, comment=action.comment)

    def op_add_signer(self, action: Action, task: Task, run: Run, node: Node) -> None:
        self._need(node, "add_signer")
        self._need_decide(task, "add signers")
        if action.position not in ("before", "after", "alongside") or not action.users:
            raise Refused("bad_target", "add_signer needs users and a position")
        seat = run.seat(task.seat)
        if seat is None:
            raise Refused("not_allowed", "no seat")
        added: list[str] = []
        for key in action.users:
            user = self.newcomer(run, node, key)
            if user in added:
                continue
            added.append(user)
        why = f"added {action.position} by {seat.user}"
        if action.position == "alongside":
            at = run.seats.index(seat) + 1
            for offset, user in enumerate(added):
                run.seats.insert(at + offset, Seat(user, why, added_by=seat.user))
                if node.mode != "sequential":
                    self.open_task(run, user, user, "decide", why)
        elif action.position == "before":
            seat.before += added
            self.set_status(task, "waiting")
            for user in added:
                self.open_task(run, user, seat.user, "before", why)
        else:
            seat.after += added
        self.fact("add_signer", node=node.id, user=seat.user, position=action.position, added=added)

    def op_remove_signer(self, action: Action, task: Task, run: Run, node: Node) -> None:
        self._need(node, "remove_signer")
        self._need_decide(task, "remove signers")
        for key in action.users:
            user = self.person(key)
            seat = run.seat(user)
            if seat is not None:
                self._remove_seat(run, node, seat, action.actor)
                continue
            holder = next((s for s in run.seats if user in s.before or user in s.after), None)
            if holder is None:
                raise Refused("bad_target", f"{key} is not a signer of this node")
            for listed in (holder.before, holder.after):
                if user in listed:
                    listed.remove(user)
            for other in self.run_tasks(run):
                if other.user == user and other.seat == holder.user:
                    self.close_task(other, "removed")
            if not holder.before:
                waiting = self.seat_task(run, holder.user)
                if waiting is not None and waiting.status == "waiting":
                    self.set_status(waiting, "open")
            self.fact("remove_signer", node=node.id, user=action.actor, removed=user)
        if self.state.runs.get(run.id) is run:
            self.after_decision(run, action.actor)

    def _remove_seat(self, run: Run, node: Node, seat: Seat, actor: str) -> None:
        if seat.user == actor:
            raise Refused("bad_target", "you cannot remove yourself; transfer instead")
        if seat.decision != "pending" or seat.held:
            raise Refused("bad_target", f"{seat.user} has already acted")
        if node.mode == "vote" and seat.added_by != actor:
            raise Refused("bad_target", "in a vote you may remove only voters you added")
        if len(run.seats) == 1:
            raise Refused("bad_target", "the node needs at least one signer")
        for other in self.run_tasks(run):
            if other.seat == seat.user:
                self.close_task(other, "removed")
        run.seats.remove(seat)
        run.veto = [v for v in run.veto if v != seat.user]
        self.fact("remove_signer", node=node.id, user=actor, removed=seat.user)

    def newcomer(self, run: Run, node: Node, key: str | None) -> str:
        """A person joining a run: active, not already in it, not the submitter when
        self-approval is forbidden there."""
        user = self.person(key)
        involved = {s.user for s in run.seats} | {t.user for t in self.run_tasks(run)}
        involved |= {u for s in run.seats for u in (*s.before, *s.after)}
        if user in involved:
            raise Refused("bad_target", f"{user} already takes part in this node")
        if (
            user == self.state.submitter
            and node.type == "approve"
            and node.self_approval != "allow"
        ):
            raise Refused("bad_target", "the submitter cannot approve their own request")
        return user

    def resubmit(self, action: Action) -> None:
        if self.state.status != "returned":
            raise Refused("finished", f"the instance is {self.state.status}, not returned")
        if action.actor != self.state.submitter:
            raise Refused("not_yours", "only the submitter resubmits")
        self.state.status = "running"
        origin, self.state.returned_from = self.state.returned_from, None
        if self.plan.resubmit == "back" and origin is not None:
            enclosure = self.plan.node(origin).enclosure
            target = enclosure[0][0] if enclosure else origin
            self.truncate(target)
            self.fact("resubmitted", to=target, policy="back")
            self.enter(self.new_token(target, []), target)
            return
        self.state.trail = []
        self.fact("resubmitted", to=self.plan.start, policy="restart")
        self.enter(self.new_token(self.plan.start, []), self.plan.start)

    def cancel(self, action: Action) -> None:
        if action.actor != self.state.submitter:
            raise Refused("not_yours", "only the submitter cancels")
        if self.state.status not in ("running", "returned"):
            raise Refused("finished", f"the instance is {self.state.status}")
        self.finish("cancelled", "")

    def withdraw(self, action: Action) -> None:
        if action.actor != self.state.submitter:
            raise Refused("not_yours", "only the submitter withdraws")
        if self.state.trail or not all(r.untouched() for r in self.state.runs.values()):
            raise Refused("not_allowed", "an approver has already acted; ask them to return it")
        self.finish("returned", "")
        self.state.returned_from = None

    def take_back(self, action: Action) -> None:
        tokens = [
            t
            for t in self.state.tokens.values()
            if t.back
            and t.back["actor"] == action.actor
            and (action.node is None or t.back["node"] == action.node)
        ]
        if not tokens:
            raise Refused("not_allowed", "nothing of yours to take back")
        token = tokens[0]
        run = self.state.runs.get(token.run or "")
        if run is None or not run.untouched():
            raise Refused("not_allowed", "the next approver has already acted")
        back = token.back or {}
        self.kill_token(token, "taken back")
        self.state.tokens[token.id] = token
        raw = back["run"]
        restored = Run(
            id=self.state.new_id("r"),
            node=raw["node"],
            token=token.id,
            # ``back`` is never changed in place: the seats get lists of their own.
            seats=[
                Seat(**{**s, "before": list(s["before"]), "after": list(s["after"])})
                for s in raw["seats"]
            ],
            veto=list(raw["veto"]),
            pool=[list(p) for p in raw.get("pool", ())],
        )
        for seat in restored.seats:
            if seat.user == action.actor:
                seat.decision, seat.comment, seat.held = "pending", "", False
        node = self.plan.node(restored.node)
        self.state.runs[restored.id] = restored
        token.run, token.node, token.back = restored.id, node.id, None
        for index in range(len(self.state.trail) - 1, -1, -1):
            if self.state.trail[index].node == node.id:
                del self.state.trail[index]
                break
        pending = restored.pending()
        targets = pending[:1] if node.mode == "sequential" else pending
        if node.mode == "sequential":
            targets = [s for s in restored.seats if s.user == action.actor] or targets
        for seat in targets:
            self.open_task(restored, seat.user, seat.user, "decide", seat.why)
        self.fact("take_back", node=node.id, user=action.actor)

    def comment(self, action: Action) -> None:
        if not action.comment.strip():
            raise Refused("comment_required", "an empty comment")
        involved = {self.state.submitter} | {t.user for t in self.state.tasks.values()}
        involved |= {u for s in self.state.trail for u in s.approvers}
        if action.actor not in involved:
            raise Refused("not_yours", "only the submitter and the approvers may comment")
        self.fact("comment", user=action.actor, text=action.comment)


def _enc(enclosure: Enclosure) -> list[list[Any]]:
    return [[branch, arm] for branch, arm in enclosure]


def _opinion(action: Action) -> dict[str, str]:
    """The approver's opinion (审批意见) goes into the decision's fact, so the history shows
    why next to who and what."""
    return {"comment": action.comment} if action.comment else {}
