"""Moving a running approval onto a newer plan, engine only: what moves by itself, what
needs a mapping, refusals with the entry they concern, tasks kept or opened again."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from danbao.workflow.migrate import MappingRefused, check_mapping, migrate, review
from danbao.workflow.plan import Plan
from tests.workflow_helpers import Run, chain, linear, node, role


def approve(name: str, value: str, **extra: Any) -> dict[str, Any]:
    return node(name, "approve", assignees=role(value), **extra)


V1 = linear(approve("risk", "risk"), approve("legal_review", "legal"), approve("boss", "gm"))


def move(run: Run, new: Plan, mapping: dict[str, str | None] | None = None) -> Any:
    """Migrate the run onto ``new``; afterwards the run acts on the new plan."""
    env = dataclasses.replace(run.env, plan=new)
    done = migrate(env, run.env.plan, run.state, mapping or {}, versions=(1, 2), actor="admin")
    run.env = env
    run.result = done.result
    run.history.append(done.result)
    return done


def problems(run: Run, new: Plan, mapping: dict[str, str | None] | None = None) -> list[Any]:
    return [p.as_json() for p in review(run.env.plan, new, run.state, mapping or {}).problems]


def test_not_yet_reached_nodes_follow_the_new_version_by_themselves() -> None:
    run = Run(V1)
    run.do("approve", "r1")
    assert run.nodes() == {"legal_review"}
    tasks_before = dict(run.state.tasks)
    # v2: the boss step is replaced by a two-step end of the chain; legal_review unchanged.
    new = linear(
        approve("risk", "risk"),
        approve("legal_review", "legal"),
        approve("finance", "finance"),
        approve("ceo", "gm"),
    )
    found = review(V1, new, run.state, {})
    assert found.can_move
    assert [(m.node, m.to, m.how, m.tasks) for m in found.moves] == [
        ("legal_review", "legal_review", "unchanged", "kept")
    ]
    done = move(run, new)
    assert done.result.state.tasks == tasks_before  # same task, same version, same person
    assert not done.result.effects.opened and not done.result.effects.closed
    (fact,) = [f for f in done.result.effects.facts if f["fact"] == "migrated"]
    assert fact["from_plan"] == V1.hash and fact["to_plan"] == new.hash
    run.do("approve", "legal")
    assert run.nodes() == {"finance"}  # the new route onward
    run.do("approve", "fin")
    run.do("approve", "gm")
    assert run.status == "approved"


def test_a_changed_live_node_needs_an_explicit_mapping() -> None:
    run = Run(V1)
    run.do("approve", "r1")
    new = linear(approve("risk", "risk"), approve("legal_review", "finance"), approve("boss", "gm"))
    (problem,) = problems(run, new)
    assert problem["pointer"] == "/mapping/legal_review" and problem["code"] == "live_changed"
    assert "assignees" in problem["message"]
    with pytest.raises(MappingRefused):
        move(run, new)
    # Mapped to itself: accepted, and the run with its people is kept (same mode).
    done = move(run, new, {"legal_review": "legal_review"})
    assert {t.user for t in done.result.state.tasks.values()} == {"legal"}
    assert done.review.moves[0].how == "mapped"


def test_a_live_node_gone_from_the_new_version_is_refused_until_mapped() -> None:
    run = Run(V1)
    run.do("approve", "r1")
    new = linear(approve("risk", "risk"), approve("compliance", "legal"), approve("boss", "gm"))
    (problem,) = problems(run, new)
    assert problem == {
        "pointer": "/mapping/legal_review",
        "code": "live_missing",
        "message": "the approval stands at legal_review, which the new chain lacks: map it",
    }
    assert problems(run, new, {"legal_review": None})[0]["code"] == "live_dropped"
    done = move(run, new, {"legal_review": "compliance"})
    (task,) = done.result.state.tasks.values()
    assert (task.node, task.user) == ("compliance", "legal")
    assert done.relabelled == [task]
    run.do("approve", "legal")
    assert run.nodes() == {"boss"}


def test_a_passed_node_gone_needs_a_mapping_or_null_and_then_returns_skip_it() -> None:
    run = Run(V1)
    run.do("approve", "r1")
    run.do("approve", "legal")
    assert run.nodes() == {"boss"}
    new = linear(approve("credit", "risk"), approve("legal_review", "legal"), approve("boss", "gm"))
    (problem,) = problems(run, new)
    assert (problem["pointer"], problem["code"]) == ("/mapping/risk", "passed_missing")
    done = move(run, new, {"risk": None})
    assert done.review.forgotten == ["risk"]
    assert [s.node for s in done.result.state.trail] == ["legal_review"]
    run.do("return", "gm", to="legal_review")
    assert run.nodes() == {"legal_review"}
    run2 = Run(V1)
    run2.do("approve", "r1")
    run2.do("approve", "legal")
    move(run2, new, {"risk": "credit"})
    run2.do("return", "gm", to="credit")  # the passed node under its new id
    assert run2.nodes() == {"credit"}


def test_a_mode_change_opens_the_node_again_with_people_resolved_anew() -> None:
    plan = linear(approve("committee", "committee", mode="all"), approve("boss", "gm"))
    run = Run(plan)
    run.do("approve", "c1")  # one of five has approved
    new = linear(
        approve("committee", "committee", mode="vote", pass_ratio=0.5, quorum=2),
        approve("boss", "gm"),
    )
    done = move(run, new, {"committee": "committee"})
    assert done.review.moves[0].tasks == "reopened"
    closed = {t.user for t, why in done.result.effects.closed if why == "migrated"}
    assert closed == {"c2", "c3", "c4", "c5"}
    # c1's approval stays in the history but does not count: every member votes again.
    assert {t.user for t in done.result.effects.opened} == {"c1", "c2", "c3", "c4", "c5"}
    for voter in ("c1", "c2", "c3"):
        run.do("approve", voter)
    assert run.nodes() == {"boss"}  # three of five: the half is certain


def test_finished_approvals_do_not_move() -> None:
    run = Run(linear(approve("risk", "risk")))
    run.do("approve", "r1")
    assert problems(run, V1)[0]["code"] == "finished"


def test_returned_approvals_move_with_their_origin() -> None:
    run = Run(V1, submitter="sub")
    run.do("approve", "r1")
    run.do("return", "legal", to="submitter")
    assert run.status == "returned"
    new = linear(approve("risk", "risk"), approve("compliance", "legal"), approve("boss", "gm"))
    assert problems(run, new)[0]["pointer"] == "/mapping/legal_review"
    done = move(run, new, {"legal_review": "compliance"})
    assert done.result.state.returned_from == "compliance"
    run.do("resubmit", "sub")
    assert run.nodes() == {"risk"}  # restart (the chain's default)


def parallel(arms: int = 2, join: str = "boss") -> Plan:
    branches = [{"to": "a0"}, {"to": "a1"}, {"to": "a2"}][:arms]
    nodes = [
        node("start", "start", next="split"),
        node("split", "branch", mode="parallel", branches=branches, next=join),
        approve("a0", "risk", next=join),
        approve("a1", "finance", next=join),
        approve("a2", "legal", next=join),
        approve("boss", "gm", next="end"),
        node("end", "end"),
    ]
    if arms < 3:
        nodes = [n for n in nodes if n["id"] != "a2"]
    return chain(*nodes)


def test_inside_a_parallel_block_the_arms_must_keep_their_shape() -> None:
    run = Run(parallel())
    run.do("approve", "fin")  # arm 1 is done, arm 0 waits at a0
    assert run.nodes() == {"a0"}
    codes = {p["code"] for p in problems(run, parallel(arms=3))}
    assert codes == {"block_changed"}
    assert problems(run, parallel(arms=3))[0]["pointer"] == "/mapping/a0"
    assert not problems(run, parallel())  # the same block: moves by itself
    # Landing outside the block, or in the other arm, is refused too.
    assert problems(run, parallel(), {"a0": "boss"})[0]["code"] == "block_changed"
    assert problems(run, parallel(), {"a0": "a1"})[0]["code"] == "block_changed"
    done = move(run, parallel())
    assert done.result.state.groups == run.state.groups
    run.do("approve", "r1")
    assert run.nodes() == {"boss"}  # the join still counts the arm already done


ARMS = [{"to": "a0"}, {"to": "a1"}]


def test_two_live_paths_cannot_land_on_one_node() -> None:
    run = Run(parallel())
    assert run.nodes() == {"a0", "a1"}
    new = chain(
        node("start", "start", next="split"),
        node("split", "branch", mode="parallel", branches=ARMS, next="boss"),
        approve("a0", "risk", next="boss"),
        approve("a1", "legal", next="boss"),
        approve("boss", "gm", next="end"),
        node("end", "end"),
    )
    found = problems(run, new, {"a1": "a0"})
    assert {p["code"] for p in found} == {"block_changed"}


def test_the_mapping_itself_is_checked_with_pointers() -> None:
    new = linear(approve("risk", "risk"), approve("boss", "gm"))
    with pytest.raises(MappingRefused) as caught:
        check_mapping(V1, new, {"nope": "risk", "risk": "ghost", "boss": "end"})
    assert [(p.pointer, p.code) for p in caught.value.problems] == [
        ("/mapping/boss", "wrong_kind"),
        ("/mapping/nope", "unknown_node"),
        ("/mapping/risk", "unknown_node"),
    ]
    assert check_mapping(V1, new, {"legal_review": None}) == {"legal_review": None}
    with pytest.raises(MappingRefused):
        check_mapping(V1, new, ["risk"])


def test_a_take_back_offer_survives_onto_a_node_that_keeps_its_run() -> None:
    run = Run(V1)
    run.do("approve", "r1")
    move(run, V1)
    run.do("take_back", "r1")
    assert run.nodes() == {"risk"}
    run2 = Run(V1)
    run2.do("approve", "r1")
    changed = linear(
        approve("risk", "risk", mode="all"), approve("legal_review", "legal"), approve("boss", "gm")
    )
    move(run2, changed)
    with pytest.raises(Exception, match="nothing of yours"):
        run2.do("take_back", "r1")
