"""The runtime operations beyond deciding, in the pure engine: claim and unclaim (认领),
urge (催办), an administrator's jump (跳转), terminate (终止) and reassignment (离职转办),
and standing proxies (代理); alone and in combination."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from danbao.workflow import Refused
from tests.workflow_helpers import Run, chain, linear, node, people, role


def approve(name: str, value: str, **extra: Any) -> dict[str, Any]:
    return node(name, "approve", assignees=role(value), **extra)


def refused(run: Run, op: str, actor: str, **kw: Any) -> str:
    with pytest.raises(Refused) as caught:
        run.do(op, actor, **kw)
    return caught.value.code


def kinds(run: Run) -> dict[str, str]:
    return {t.user: t.kind for t in run.state.tasks.values()}


def on_leave(**proxies: str) -> Any:
    return dataclasses.replace(people(), proxies=proxies)


# --- claim (认领) -----------------------------------------------------------------------------


def test_a_pool_is_claimed_by_one_and_the_others_tasks_go_away() -> None:
    run = Run(linear(approve("risk", "risk", claim=True), approve("boss", "gm")))
    assert kinds(run) == {"r1": "claim", "r2": "claim", "r3": "claim"}
    assert run.facts("offered")[0]["users"] == ["r1", "r2", "r3"]
    # Nobody decides before claiming.
    assert refused(run, "approve", "r1") == "not_allowed"
    assert refused(run, "transfer", "r1", to="x") == "not_allowed"
    task = run.tasks()["r2"]
    result = run.do("claim", "r2")
    assert {t.user for t, _ in result.effects.closed} == {"r1", "r3"}
    assert [(t.id, t.kind, t.version) for t in result.effects.changed] == [(task, "decide", 2)]
    assert kinds(run) == {"r2": "decide"}
    # The version the claimer saw before claiming is stale now.
    assert refused(run, "approve", "r2", version=1) == "stale"
    run.do("approve", "r2", version=2)
    assert set(run.tasks()) == {"gm"}
    assert run.state.trail[-1].approvers == ["r2"]


def test_a_claimed_task_is_the_claimers_only() -> None:
    run = Run(linear(approve("risk", "risk", claim=True)))
    r1_task = run.tasks()["r1"]
    run.do("claim", "r3")
    # r1's task is gone: the double click of a second claimer finds nothing.
    assert refused(run, "claim", "r1", task=r1_task) == "unknown_task"
    assert refused(run, "claim", "r1", task=run.tasks()["r3"]) == "not_yours"
    assert refused(run, "claim", "r3") == "not_allowed"  # already claimed


def test_unclaim_offers_the_task_to_the_pool_again() -> None:
    run = Run(linear(approve("risk", "risk", claim=True)))
    run.do("claim", "r1")
    run.do("unclaim", "r1")
    assert kinds(run) == {"r1": "claim", "r2": "claim", "r3": "claim"}
    assert [len(r.seats) for r in run.state.runs.values()] == [3]
    run.do("claim", "r3")
    run.do("approve", "r3")
    assert run.status == "approved"


def test_unclaim_is_refused_once_the_claimer_acted() -> None:
    run = Run(linear(approve("risk", "risk", claim=True)))
    run.do("claim", "r1")
    run.do("add_signer", "r1", users=("x",), position="alongside")
    assert refused(run, "unclaim", "r1") == "not_allowed"
    run = Run(linear(approve("risk", "risk", claim=True)))
    run.do("claim", "r1")
    mine = run.tasks()["r1"]
    run.do("delegate", "r1", to="x")
    # Waiting on the helper: the task is not open, so it cannot be handed back either.
    assert refused(run, "unclaim", "r1", task=mine) == "not_allowed"


def test_unclaim_of_a_node_that_is_no_pool_is_refused() -> None:
    run = Run(linear(approve("risk", "legal")))
    assert refused(run, "unclaim", "legal") == "not_allowed"
    # A pool of one needs no claim.
    run = Run(linear(approve("risk", "legal", claim=True)))
    assert kinds(run) == {"legal": "decide"}


def test_take_back_after_a_claimed_approval_gives_it_back_to_the_claimer() -> None:
    run = Run(linear(approve("risk", "risk", claim=True), approve("boss", "gm")))
    run.do("claim", "r2")
    run.do("approve", "r2")
    run.do("take_back", "r2")
    assert kinds(run) == {"r2": "decide"}
    run.do("unclaim", "r2")  # the pool is kept with the run
    assert kinds(run) == {"r1": "claim", "r2": "claim", "r3": "claim"}


# --- urge (催办) --------------------------------------------------------------------------------


def test_the_submitter_urges_the_open_tasks() -> None:
    run = Run(linear(approve("risk", "risk", mode="all")))
    result = run.do("urge", "sub", comment="请尽快")
    assert {t.user for t in result.effects.urged} == {"r1", "r2", "r3"}
    assert run.facts("urge")[0]["comment"] == "请尽快"
    assert refused(run, "urge", "r1") == "not_yours"
    one = run.tasks()["r2"]
    result = run.do("urge", "sub", task=one)
    assert [t.user for t in result.effects.urged] == ["r2"]
    assert refused(run, "urge", "sub", task="t99") == "unknown_task"


def test_urging_respects_the_cooling_tasks() -> None:
    run = Run(linear(approve("risk", "risk", mode="all")))
    r1, r2, r3 = (run.tasks()[u] for u in ("r1", "r2", "r3"))
    run.env = dataclasses.replace(run.env, cooling=frozenset({r1, r2}))
    assert refused(run, "urge", "sub", task=r1) == "too_soon"
    result = run.do("urge", "sub")
    assert [t.id for t in result.effects.urged] == [r3]
    run.env = dataclasses.replace(run.env, cooling=frozenset({r1, r2, r3}))
    assert refused(run, "urge", "sub") == "too_soon"


def test_a_finished_instance_is_not_urged() -> None:
    run = Run(linear(approve("risk", "legal")))
    run.do("approve", "legal")
    assert refused(run, "urge", "sub") == "finished"


# --- terminate and jump (终止 / 跳转) ------------------------------------------------------------


def test_terminate_needs_the_grant_and_a_reason() -> None:
    run = Run(linear(approve("risk", "risk"), approve("boss", "gm")))
    assert refused(run, "terminate", "admin", comment="重复申请") == "not_yours"
    assert refused(run, "terminate", "admin", admin=True) == "comment_required"
    result = run.do("terminate", "admin", admin=True, comment="重复申请")
    assert run.status == "terminated" and run.state.tasks == {}
    assert {t.user for t, _ in result.effects.closed} == {"r1", "r2", "r3"}
    assert run.facts("terminate")[0]["reason"] == "重复申请"
    assert refused(run, "terminate", "admin", admin=True, comment="再次") == "finished"
    assert refused(run, "jump", "admin", admin=True, comment="x", node="boss") == "finished"


def test_a_returned_instance_can_be_terminated() -> None:
    run = Run(linear(approve("risk", "legal")))
    run.do("return", "legal", to="submitter")
    assert run.status == "returned"
    run.do("terminate", "admin", admin=True, comment="不再办理")
    assert run.status == "terminated" and run.state.returned_from is None


def test_jump_forward_and_back() -> None:
    run = Run(linear(approve("a", "legal"), approve("b", "risk"), approve("c", "gm")))
    result = run.do("jump", "admin", admin=True, node="c", comment="紧急项目")
    assert set(run.tasks()) == {"gm"}
    assert {t.user for t, _ in result.effects.closed} == {"legal"}
    jumped = run.facts("jump")[0]
    assert jumped["from"] == ["a"] and jumped["to"] == "c" and jumped["reason"] == "紧急项目"
    run.do("jump", "admin", admin=True, node="a", comment="重新审")
    run.do("approve", "legal")
    run.do("approve", "r1")
    assert [s.node for s in run.state.trail] == ["a", "b"]
    run.do("jump", "admin", admin=True, node="a", comment="再审一次")
    assert [s.node for s in run.state.trail] == []  # the path from a on is forgotten
    assert set(run.tasks()) == {"legal"}


def test_jump_refuses_nodes_that_are_not_approvals() -> None:
    run = Run(linear(approve("a", "legal")))
    assert refused(run, "jump", "admin", admin=True, comment="x", node="start") == "bad_target"
    assert refused(run, "jump", "admin", admin=True, comment="x", node="nowhere") == "bad_target"
    assert refused(run, "jump", "admin", admin=True, node="a") == "comment_required"
    run.do("jump", "admin", admin=True, comment="直接通过", node="end")
    assert run.status == "approved"


def test_jump_restarts_a_returned_instance() -> None:
    run = Run(linear(approve("a", "legal"), approve("b", "gm")))
    run.do("return", "legal", to="submitter")
    run.do("jump", "admin", admin=True, node="b", comment="材料已补")
    assert run.status == "running" and set(run.tasks()) == {"gm"}


def test_jump_into_a_parallel_arm_runs_that_arm_alone() -> None:
    plan = chain(
        node("start", "start", next="split"),
        node(
            "split",
            "branch",
            mode="parallel",
            branches=[
                {"name": {"zh-CN": "风控"}, "to": "risk"},
                {"name": {"zh-CN": "法务"}, "to": "law"},
            ],
            next="boss",
        ),
        approve("risk", "risk", next="boss"),
        approve("law", "legal", next="boss"),
        approve("boss", "gm", next="end"),
        node("end", "end"),
    )
    run = Run(plan)
    assert run.nodes() == {"risk", "law"}
    run.do("jump", "admin", admin=True, node="law", comment="风控已线下审")
    assert run.nodes() == {"law"}
    run.do("approve", "legal")
    assert run.nodes() == {"boss"}


# --- reassignment (离职转办) ---------------------------------------------------------------------


def test_reassign_moves_the_seat_with_a_new_version() -> None:
    run = Run(linear(approve("risk", "risk", mode="all")))
    task = run.tasks()["r1"]
    assert refused(run, "reassign", "admin", task=task, to="x") == "not_yours"
    result = run.do("reassign", "admin", admin=True, task=task, to="x", comment="离职")
    assert [(t.id, t.user, t.version) for t in result.effects.handed] == [(task, "x", 2)]
    assert set(run.tasks()) == {"x", "r2", "r3"}
    fact = run.facts("reassign")[0]
    assert (fact["user"], fact["to"], fact["by"], fact["reason"]) == ("r1", "x", "admin", "离职")
    assert refused(run, "approve", "r1", task=task) == "not_yours"
    assert refused(run, "approve", "x", version=1) == "stale"
    for user in ("x", "r2", "r3"):
        run.do("approve", user)
    assert run.status == "approved"
    assert sorted(run.state.trail[-1].approvers) == ["r2", "r3", "x"]


def test_reassign_keeps_a_waiting_task_waiting() -> None:
    run = Run(linear(approve("risk", "legal")))
    run.do("delegate", "legal", to="x")
    holder = next(t for t in run.state.tasks.values() if t.user == "legal")
    run.do("reassign", "admin", admin=True, task=holder.id, to="y")
    assert run.waiting() == {"y"} and set(run.tasks()) == {"x"}
    run.do("resolve", "x")
    run.do("approve", "y")
    assert run.status == "approved"


def test_reassign_a_signer_added_before() -> None:
    run = Run(linear(approve("risk", "legal")))
    run.do("add_signer", "legal", users=("x",), position="before")
    before = run.tasks()["x"]
    run.do("reassign", "admin", admin=True, task=before, to="y")
    seat = next(iter(run.state.runs.values())).seats[0]
    assert seat.before == ["y"]
    run.do("approve", "y")
    run.do("approve", "legal")
    assert run.status == "approved"


def test_reassign_a_voter_carries_the_veto() -> None:
    vote = approve(
        "committee",
        "committee",
        mode="vote",
        pass_ratio=0.6,
        veto=[{"kind": "role", "value": "chair"}],
    )
    run = Run(linear(vote))
    run.do("reassign", "admin", admin=True, task=run.tasks()["c1"], to="x")
    assert next(iter(run.state.runs.values())).veto == ["x"]
    run.do("reject", "x")
    assert run.status == "rejected"


def test_reassign_refuses_participants_the_submitter_and_unknown_people() -> None:
    run = Run(linear(approve("risk", "risk", mode="all")))
    task = run.tasks()["r1"]
    assert refused(run, "reassign", "admin", admin=True, task=task, to="r2") == "bad_target"
    assert refused(run, "reassign", "admin", admin=True, task=task, to="sub") == "bad_target"
    assert refused(run, "reassign", "admin", admin=True, task=task, to="ghost") == "unknown_user"
    assert refused(run, "reassign", "admin", admin=True, task="t99", to="x") == "unknown_task"


def test_reassign_a_claim_task_keeps_the_pool_whole() -> None:
    run = Run(linear(approve("risk", "risk", claim=True)))
    run.do("reassign", "admin", admin=True, task=run.tasks()["r1"], to="x")
    assert kinds(run) == {"x": "claim", "r2": "claim", "r3": "claim"}
    run.do("claim", "x")
    run.do("unclaim", "x")
    assert kinds(run) == {"x": "claim", "r2": "claim", "r3": "claim"}


# --- proxies (代理) ----------------------------------------------------------------------------


def test_new_tasks_of_someone_on_leave_go_to_their_proxy() -> None:
    run = Run(linear(approve("risk", "legal"), approve("boss", "gm")), who=on_leave(legal="x"))
    task = run.state.tasks[run.tasks()["x"]]
    assert (task.user, task.seat) == ("x", "legal")
    assert task.why.startswith("proxy for legal")
    assert run.facts("proxied")[0] == {
        "fact": "proxied",
        "node": "risk",
        "user": "legal",
        "proxy": "x",
    }
    assert refused(run, "approve", "legal", task=task.id) == "not_yours"
    run.do("approve", "x")
    # The decision is the seat's: legal approved, through the proxy.
    assert run.state.trail[-1].approvers == ["legal"]
    assert run.facts("approve")[0]["user"] == "x" and run.facts("approve")[0]["seat"] == "legal"


def test_a_proxy_who_is_the_submitter_is_passed_over() -> None:
    run = Run(linear(approve("risk", "legal")), who=on_leave(legal="sub"))
    assert set(run.tasks()) == {"legal"}
    assert run.facts("not_proxied")[0]["user"] == "legal"


def test_a_proxy_who_takes_part_in_the_node_is_passed_over() -> None:
    run = Run(linear(approve("risk", "risk", mode="all")), who=on_leave(r1="r2"))
    assert set(run.tasks()) == {"r1", "r2", "r3"}
    assert run.facts("not_proxied")[0]["why"] == "the proxy takes part"


def test_transfer_during_a_proxy() -> None:
    run = Run(linear(approve("risk", "legal")), who=on_leave(legal="x", y="gm"))
    # The proxy hands the seat on; the new holder is on leave too, so their proxy gets it.
    run.do("transfer", "x", to="y")
    task = run.state.tasks[run.tasks()["gm"]]
    assert (task.user, task.seat) == ("gm", "y")
    seat = next(iter(run.state.runs.values())).seats[0]
    assert seat.user == "y" and seat.why == "transferred by legal"
    run.do("approve", "gm")
    assert run.status == "approved" and run.state.trail[-1].approvers == ["y"]


def test_a_proxy_claims_for_the_person_on_leave() -> None:
    run = Run(linear(approve("risk", "risk", claim=True)), who=on_leave(r1="x"))
    assert kinds(run) == {"x": "claim", "r2": "claim", "r3": "claim"}
    run.do("claim", "x")
    run.do("approve", "x")
    assert run.state.trail[-1].approvers == ["r1"]


def test_reassign_a_proxys_task_keeps_the_seat() -> None:
    run = Run(linear(approve("risk", "legal")), who=on_leave(legal="x"))
    run.do("reassign", "admin", admin=True, task=run.tasks()["x"], to="y")
    task = run.state.tasks[run.tasks()["y"]]
    assert (task.user, task.seat) == ("y", "legal")


# --- the notifications an action leaves ----------------------------------------------------------


def test_notices_tell_the_new_holders_the_copied_and_the_submitter() -> None:
    from danbao.workflow.notices import notices_of

    plan = linear(approve("risk", "legal"), node("cc", "copy", assignees=role("finance")))
    run = Run(plan)
    started = notices_of(plan, run.result, "sub", "sub")
    assert [(n.user, n.kind, n.title) for n in started] == [("legal", "task", "审批待办：risk")]
    result = run.do("approve", "legal")
    told = {(n.user, n.kind) for n in notices_of(plan, result, "legal", "sub")}
    assert told == {("fin", "copy"), ("sub", "finished")}
    # The actor is never told about their own act: a submitter who cancels hears nothing.
    run = Run(plan)
    assert notices_of(plan, run.do("cancel", "sub"), "sub", "sub") == []
    run = Run(linear(approve("risk", "risk", mode="all")))
    urged = notices_of(run.env.plan, run.do("urge", "sub", comment="快"), "sub", "sub")
    assert {(n.user, n.kind, n.body) for n in urged} == {
        ("r1", "urge", "快"),
        ("r2", "urge", "快"),
        ("r3", "urge", "快"),
    }
