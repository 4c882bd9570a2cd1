"""Returns, take-backs and decisions inside parallel branches, and the engine's
invariants under random sequences of actions (hypothesis)."""

from __future__ import annotations

import copy
import dataclasses
import json
from typing import Any, cast

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tortoise.fields import JSONField

from danbao.db.models import WorkflowInstance
from danbao.workflow import Action, Refused, State, act
from tests.workflow_helpers import Run, chain, node, role


def approve(name: str, value: str, **extra: Any) -> dict[str, Any]:
    return node(name, "approve", assignees=role(value), **extra)


def parallel_chain() -> Any:
    return chain(
        node("start", "start", next="pre"),
        approve("pre", "legal", next="split"),
        node(
            "split",
            "branch",
            mode="parallel",
            branches=[{"to": "a0"}, {"to": "a1"}],
            next="boss",
        ),
        approve("a0", "risk", next="a0b"),
        approve("a0b", "branch_head", next="boss"),
        approve("a1", "finance", next="boss"),
        approve("boss", "gm", next="end"),
        node("end", "end"),
    )


def test_return_inside_an_arm_leaves_the_other_arm_alone() -> None:
    run = Run(parallel_chain())
    run.do("approve", "legal")
    assert run.nodes() == {"a0", "a1"}
    run.do("approve", "r1")
    run.do("return", "bh", to="previous")
    assert run.nodes() == {"a0", "a1"}
    assert set(run.tasks("a1")) == {"fin"}


def test_return_out_of_a_parallel_block_ends_every_arm() -> None:
    run = Run(parallel_chain())
    run.do("approve", "legal")
    run.do("approve", "fin")  # arm 1 done, waiting at the join
    run.do("approve", "r1")
    result = run.do("return", "bh", to="pre")
    assert run.nodes() == {"pre"} and not run.state.scopes and not run.state.groups
    assert {t.user for t, _ in result.effects.closed} == {"bh"}
    run.do("approve", "legal")
    assert run.nodes() == {"a0", "a1"}  # the whole block runs again


def test_return_to_a_node_in_the_sibling_arm_is_refused() -> None:
    run = Run(parallel_chain())
    run.do("approve", "legal")
    run.do("approve", "fin")
    run.do("approve", "r1")
    with pytest.raises(Refused) as caught:
        run.do("return", "bh", to="a1")
    assert caught.value.code == "bad_target"


def test_return_after_the_join_reopens_one_arm_only() -> None:
    run = Run(parallel_chain())
    run.do("approve", "legal")
    run.do("approve", "r1")
    run.do("approve", "bh")
    run.do("approve", "fin")
    assert run.nodes() == {"boss"}
    run.do("return", "gm", to="a0b")
    assert run.nodes() == {"a0b"}
    run.do("approve", "bh")
    assert run.nodes() == {"boss"}  # arm 1 stands: it is not asked again
    run.do("approve", "gm")
    assert run.status == "approved"


def test_return_to_submitter_from_an_arm_and_straight_back_reruns_the_block() -> None:
    plan = parallel_chain()
    run = Run(plan)
    run.do("approve", "legal")
    run.do("approve", "fin")
    run.do("return", "r1", to="submitter")
    assert run.status == "returned" and not run.state.tokens
    object.__setattr__(plan, "resubmit", "back")
    run.do("resubmit", "sub")
    assert run.nodes() == {"a0", "a1"}


def test_nested_parallel_blocks_join_in_order() -> None:
    plan = chain(
        node("start", "start", next="outer"),
        node(
            "outer", "branch", mode="parallel", branches=[{"to": "inner"}, {"to": "b"}], next="end"
        ),
        node("inner", "branch", mode="parallel", branches=[{"to": "a1"}, {"to": "a2"}], next="a3"),
        approve("a1", "risk", next="a3"),
        approve("a2", "legal", next="a3"),
        approve("a3", "gm", next="end"),
        approve("b", "finance", next="end"),
        node("end", "end"),
    )
    assert plan.node("a1").enclosure == (("outer", 0), ("inner", 0))
    assert plan.node("a3").enclosure == (("outer", 0),)
    run = Run(plan)
    assert run.nodes() == {"a1", "a2", "b"}
    run.do("approve", "legal")
    run.do("approve", "r2")
    assert run.nodes() == {"a3", "b"}
    run.do("return", "gm", to="a2")  # back into a finished inner arm: only it runs again
    assert run.nodes() == {"a2", "b"}
    run.do("approve", "legal")
    run.do("approve", "gm")
    run.do("approve", "fin")
    assert run.status == "approved"


def test_take_back_inside_an_arm() -> None:
    run = Run(parallel_chain())
    run.do("approve", "legal")
    run.do("approve", "r2")
    run.do("take_back", "r2")
    # The node is as it was before r2 decided: an any-node is open to all three again.
    assert run.nodes() == {"a0", "a1"} and set(run.tasks("a0")) == {"r1", "r2", "r3"}
    assert set(run.tasks("a1")) == {"fin"}


def test_take_back_after_a_split_is_refused() -> None:
    run = Run(parallel_chain())
    run.do("approve", "legal")
    with pytest.raises(Refused):
        run.do("take_back", "legal")


# --- invariants under random actions ------------------------------------------------------

OPS = ["approve", "approve", "approve", "reject", "abstain", "return", "transfer", "delegate"]
OPS += ["resolve", "add_signer", "remove_signer", "take_back", "withdraw", "resubmit", "cancel"]
USERS = ["sub", "x", "y", "legal", "r1", "fin", "gm", "c1", "c2", "c3", "bh"]


def random_chain() -> Any:
    return chain(
        node("start", "start", next="pre"),
        approve("pre", "risk", mode="sequential", next="split"),
        node(
            "split", "branch", mode="parallel", branches=[{"to": "vote"}, {"to": "a1"}], next="boss"
        ),
        node(
            "vote",
            "countersign",
            assignees=role("committee"),
            mode="vote",
            pass_ratio=0.6,
            quorum=3,
            veto=[{"kind": "role", "value": "chair"}],
            next="boss",
        ),
        approve("a1", "finance", mode="all", next="boss"),
        approve("boss", "gm", next="end"),
        node("end", "end"),
    )


STATE_COLUMN = cast(JSONField[Any], WorkflowInstance._meta.fields_map["state"])


def check_invariants(run: Run) -> None:
    state = run.state
    seen = set()
    for task in state.tasks.values():
        key = (task.user, task.run)
        assert key not in seen, f"two live tasks for {key}"
        seen.add(key)
        assert task.run in state.runs
        assert state.runs[task.run].node == task.node
    for run_id, r in state.runs.items():
        assert state.tokens[r.token].run == run_id
        assert len({s.user for s in r.seats}) == len(r.seats)
    if state.status != "running":
        assert not state.tasks and not state.tokens and not state.runs
    else:
        assert state.tokens
    for group, count in state.groups.items():
        assert count >= 1
        assert any(s.group == group for s in state.scopes.values())
    decided = [f.get("run") for f in run.facts("decided")]
    assert len(decided) == len(set(decided)), "a node run resolved twice"
    assert type(state).from_json(state.to_json()) == state
    # to_json is dataclasses.asdict without its deep copies: the same JSON.
    assert state.to_json() == json.loads(json.dumps(dataclasses.asdict(state)))
    # The row's column (msgspec) writes what tortoise's default json.dumps wrote, as JSON.
    saved = STATE_COLUMN.encoder(state.to_json())
    # The store gives the column the State itself: the same bytes as its JSON.
    assert STATE_COLUMN.encoder(state) == saved
    assert json.loads(saved) == json.loads(json.dumps(state.to_json(), separators=(",", ":")))
    assert type(state).from_json(STATE_COLUMN.decoder(saved)) == state


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(st.sampled_from(OPS), st.integers(0, 50), st.sampled_from(USERS)), max_size=40
    )
)
def test_invariants_hold_under_random_actions(steps: list[tuple[str, int, str]]) -> None:
    run = Run(random_chain())
    check_invariants(run)
    for op, pick, other in steps:
        tasks = sorted(run.state.tasks.values(), key=lambda t: t.id)
        task = tasks[pick % len(tasks)] if tasks else None
        actor = (
            task.user
            if task is not None and op not in ("withdraw", "resubmit", "cancel")
            else "sub"
        )
        if op == "take_back":
            actor = other
        action = Action(
            op,
            actor,
            task=task.id if task else None,
            to={"return": ["previous", "submitter", "pre"][pick % 3]}.get(op, other),
            users=(other,),
            position=("before", "after", "alongside")[pick % 3],
        )
        before, given = run.state.to_json(), run.state
        row = copy.deepcopy(before)  # the instance row's JSON, as the store reads it
        owned = State.from_json(row)
        try:
            run.result = act(run.env, run.state, action)
        except Refused:
            assert run.state.to_json() == before
            with pytest.raises(Refused):
                act(run.env, owned, action, in_place=True)
            assert row == before  # the store shows the state as it was from the row
            continue
        # act works on a clone: the state it was given is untouched (nothing shared changed).
        assert given.to_json() == before and run.state is not given
        # The store's way: in place on a state read from the row, the same outcome, the
        # row's JSON untouched.
        mine = act(run.env, owned, action, in_place=True)
        assert mine.state.to_json() == run.result.state.to_json() and row == before
        run.history.append(run.result)
        check_invariants(run)
