"""The state of one running instance: plain data, saved as JSON after every action.

It holds only what is live (tokens, node runs, open tasks, the path taken so far for
returns), never the history, so it does not grow with the number of actions: the
history is the action log and the audit trail.

- A *token* marks where a path of the chain stands; parallel and inclusive branches
  give one token per arm, each inside a *scope* that counts the arms still running.
- A *run* is one approval node being decided for one token; its *seats* are the people
  whose decisions count (for a vote, the voters).
- A *task* is one person's live to-do: deciding a seat, helping a seat decide
  (delegated to them, or added before or after the seat's holder), or claiming a seat
  of a pool (认领). A task's user may act for the seat's holder as their proxy (代理).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

Status = Literal["running", "approved", "rejected", "returned", "cancelled", "terminated"]
TaskKind = Literal["decide", "delegate", "before", "after", "claim"]
Decision = Literal["pending", "approve", "reject", "abstain"]
_T = TypeVar("_T")


@dataclass
class Task:
    id: str
    node: str
    run: str
    user: str
    seat: str
    """The seat this task serves: the user whose decision it is (its own user for decide)."""
    kind: TaskKind = "decide"
    status: Literal["open", "waiting"] = "open"
    version: int = 1
    why: str = ""


@dataclass
class Seat:
    user: str
    why: str
    decision: Decision = "pending"
    comment: str = ""
    before: list[str] = field(default_factory=list)
    """People added before this seat: each must approve before its holder decides."""
    after: list[str] = field(default_factory=list)
    """People added after: the holder's approval counts once they all approve."""
    held: bool = False
    """The holder approved and the after-signers are deciding."""
    added_by: str | None = None


@dataclass
class Run:
    id: str
    node: str
    token: str
    seats: list[Seat]
    veto: list[str] = field(default_factory=list)
    pool: list[list[str]] = field(default_factory=list)
    """A claim node's candidates as [user, why]: each holds a claim task until one claims
    (the seats shrink to the claimer); kept so that an unclaim can open the pool again."""

    def seat(self, user: str) -> Seat | None:
        return next((s for s in self.seats if s.user == user), None)

    def pending(self) -> list[Seat]:
        return [s for s in self.seats if s.decision == "pending"]

    def untouched(self) -> bool:
        """Nobody has decided, delegated or added anyone here yet."""
        return all(
            s.decision == "pending" and not s.before and not s.after and not s.held
            for s in self.seats
        )


@dataclass
class Token:
    id: str
    node: str
    scopes: list[str] = field(default_factory=list)
    run: str | None = None
    back: dict[str, Any] | None = None
    """The last node this token passed by one person's decision: {"node", "actor", "run"};
    that person may take it back (拿回) while the next node is untouched."""


@dataclass(frozen=True)
class Scope:
    id: str
    branch: str
    arm: int
    join: str
    group: str
    """Scopes of the arms of one branch split share a group; ``open`` counts its arms."""


@dataclass(frozen=True)
class Step:
    """A node passed on the way (for returns, "previous" and de-duplication)."""

    node: str
    enclosure: list[list[Any]]
    approvers: list[str]


@dataclass
class State:
    submitter: str
    status: Status = "running"
    tokens: dict[str, Token] = field(default_factory=dict)
    runs: dict[str, Run] = field(default_factory=dict)
    scopes: dict[str, Scope] = field(default_factory=dict)
    groups: dict[str, int] = field(default_factory=dict)
    """Branch split id -> arms still running."""
    tasks: dict[str, Task] = field(default_factory=dict)
    trail: list[Step] = field(default_factory=list)
    returned_from: str | None = None
    choices: dict[str, list[str]] = field(default_factory=dict)
    counter: int = 0

    def new_id(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def to_json(self) -> dict[str, Any]:
        """The JSON the store saves: what ``dataclasses.asdict`` gives (the invariants test
        checks it), built field by field because it runs after every action: asdict, and
        then a generic walk of the dataclasses, were most of an approval's time
        (bench/workflow.py)."""
        return {
            "submitter": self.submitter,
            "status": self.status,
            "tokens": {k: _token_json(t) for k, t in self.tokens.items()},
            "runs": {k: run_json(r) for k, r in self.runs.items()},
            "scopes": {k: vars(s).copy() for k, s in self.scopes.items()},
            "groups": dict(self.groups),
            "tasks": {k: vars(t).copy() for k, t in self.tasks.items()},
            "trail": [
                {
                    "node": s.node,
                    "enclosure": [list(e) for e in s.enclosure],
                    "approvers": list(s.approvers),
                }
                for s in self.trail
            ],
            "returned_from": self.returned_from,
            "choices": {k: list(v) for k, v in self.choices.items()},
            "counter": self.counter,
        }

    def clone(self) -> State:
        """A copy an action may change freely (``act`` works on one, so that a refused
        action leaves the given state as it was). Steps and scopes are frozen and a token's
        ``back`` and the choices are never changed in place once made, so those are shared."""
        return State(
            self.submitter,
            self.status,
            {k: _token_clone(t) for k, t in self.tokens.items()},
            {k: _run_clone(r) for k, r in self.runs.items()},
            dict(self.scopes),
            dict(self.groups),
            {k: _shallow(t) for k, t in self.tasks.items()},
            list(self.trail),
            self.returned_from,
            dict(self.choices),
            self.counter,
        )

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> State:
        """The state a saved JSON describes, sharing with ``raw`` only what is never changed
        in place (see ``clone``): the store changes it in place and may read ``raw`` after."""
        raw = dict(raw)
        raw["tokens"] = {k: Token(**v) for k, v in raw["tokens"].items()}
        raw["runs"] = {
            k: Run(**{**v, "seats": [Seat(**s) for s in v["seats"]]})
            for k, v in raw["runs"].items()
        }
        raw["scopes"] = {k: Scope(**v) for k, v in raw["scopes"].items()}
        raw["tasks"] = {k: Task(**v) for k, v in raw["tasks"].items()}
        raw["trail"] = [Step(**s) for s in raw["trail"]]
        return cls(**raw).clone()

    def live_tasks(self) -> list[Task]:
        return list(self.tasks.values())


def _shallow(obj: _T) -> _T:
    """A copy of a dataclass instance sharing its field values (no ``__init__`` call)."""
    new = object.__new__(type(obj))
    new.__dict__.update(obj.__dict__)
    return new


def _token_clone(token: Token) -> Token:
    new = _shallow(token)
    new.scopes = list(token.scopes)
    return new


def _seat_clone(seat: Seat) -> Seat:
    new = _shallow(seat)
    new.before, new.after = list(seat.before), list(seat.after)
    return new


def _run_clone(run: Run) -> Run:
    new = _shallow(run)
    new.seats = [_seat_clone(s) for s in run.seats]
    new.veto, new.pool = list(run.veto), list(run.pool)
    return new


def _token_json(token: Token) -> dict[str, Any]:
    raw = vars(token).copy()
    raw["scopes"] = list(token.scopes)
    return raw


def _seat_json(seat: Seat) -> dict[str, Any]:
    raw = vars(seat).copy()
    raw["before"], raw["after"] = list(seat.before), list(seat.after)
    return raw


def run_json(run: Run) -> dict[str, Any]:
    raw = vars(run).copy()
    raw["seats"] = [_seat_json(s) for s in run.seats]
    raw["veto"] = list(run.veto)
    raw["pool"] = [list(p) for p in run.pool]
    return raw
