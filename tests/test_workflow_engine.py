"""The pure transition logic of approval chains: every operation alone and in the
tricky combinations, without any I/O."""

from __future__ import annotations

from typing import Any

import pytest

from danbao.workflow import Refused
from tests.workflow_helpers import Run, chain, linear, node, role


def approve(name: str, value: str, **extra: Any) -> dict[str, Any]:
    return node(name, "approve", assignees=role(value), **extra)


# --- a straight chain ---------------------------------------------------------------------


def test_sequential_chain_runs_to_the_end() -> None:
    run = Run(linear(approve("risk", "legal"), approve("boss", "gm")))
    assert run.tasks() == {"legal": run.tasks()["legal"]}
    run.do("approve", "legal")
    assert set(run.tasks()) == {"gm"}
    run.do("approve", "gm")
    assert run.status == "approved"
    assert run.state.tasks == {}
    assigned = run.facts("assigned")
    assert {"node": "risk", "user": "legal", "why": "role legal"} in [
        {k: f[k] for k in ("node", "user", "why")} for f in assigned
    ]


def test_reject_ends_the_instance_and_closes_every_task() -> None:
    run = Run(linear(approve("risk", "risk"), approve("boss", "gm")))
    assert set(run.tasks()) == {"r1", "r2", "r3"}  # any (或签) by default
    result = run.do("reject", "r2")
    assert run.status == "rejected"
    assert {t.user for t, _ in result.effects.closed} == {"r1", "r2", "r3"}
    with pytest.raises(Refused) as caught:
        run.do("approve", "r1", task="t1")
    assert caught.value.code == "finished"


def test_state_is_not_changed_by_an_action() -> None:
    run = Run(linear(approve("risk", "legal")))
    before = run.state.to_json()
    run.do("approve", "legal")
    assert run.history[0].state.to_json() == before


# --- approval modes -------------------------------------------------------------------------


def test_any_first_decision_wins() -> None:
    run = Run(linear(approve("risk", "risk", mode="any")))
    run.do("approve", "r3")
    assert run.status == "approved"
    decided = run.facts("decided")
    assert len(decided) == 1 and decided[0]["outcome"] == "approve"


def test_all_needs_everyone_and_one_rejection_fails() -> None:
    run = Run(linear(approve("risk", "risk", mode="all")))
    run.do("approve", "r1")
    run.do("approve", "r2")
    assert run.status == "running" and set(run.tasks()) == {"r3"}
    run.do("approve", "r3")
    assert run.status == "approved"

    run = Run(linear(approve("risk", "risk", mode="all")))
    run.do("approve", "r1")
    run.do("reject", "r2")
    assert run.status == "rejected"


def test_sequential_opens_one_task_at_a_time_in_order() -> None:
    run = Run(linear(approve("risk", "risk", mode="sequential")))
    assert set(run.tasks()) == {"r1"}
    run.do("approve", "r1")
    assert set(run.tasks()) == {"r2"}
    run.do("approve", "r2")
    run.do("approve", "r3")
    assert run.status == "approved"


def vote_node(**extra: Any) -> dict[str, Any]:
    settings = {"pass_ratio": 0.6, "quorum": 3, **extra}
    return node("vote", "countersign", assignees=role("committee"), mode="vote", **settings)


def test_vote_passes_when_certain_and_resolves_once() -> None:
    run = Run(linear(vote_node()))
    for member in ("c1", "c2", "c3"):
        assert run.status == "running"
        run.do("approve", member)
    # 3 of 5 approve: even two rejections leave 3/5 = 0.6 >= 0.6, so it is decided now.
    assert run.status == "approved"
    assert len(run.facts("decided")) == 1
    assert run.facts("decided")[0]["approve"] == 3


def test_vote_fails_as_soon_as_a_pass_is_impossible() -> None:
    run = Run(linear(vote_node()))
    run.do("reject", "c1")
    run.do("reject", "c2")
    assert run.status == "running"  # 3 of 5 could still pass
    run.do("reject", "c3")
    assert run.status == "rejected"


def test_vote_abstentions_excluded_or_against() -> None:
    run = Run(linear(vote_node(pass_ratio=0.75, quorum=3)))
    run.do("abstain", "c1")
    run.do("approve", "c2")
    run.do("approve", "c3")
    run.do("approve", "c4")
    # 3 approve of 3 counted (abstention left out): passes whatever c5 does? 3/4 = .75 yes.
    assert run.status == "approved"

    run = Run(linear(vote_node(pass_ratio=0.75, quorum=3, abstain="against")))
    run.do("abstain", "c1")
    run.do("approve", "c2")
    run.do("approve", "c3")
    run.do("approve", "c4")
    assert run.status == "running"  # 3/5 if c5 rejects, 4/5 if approves
    run.do("reject", "c5")
    assert run.status == "rejected"


def test_vote_quorum_counts_only_cast_votes() -> None:
    run = Run(linear(vote_node(pass_ratio=0.5, quorum=3)))
    run.do("abstain", "c1")
    run.do("abstain", "c2")
    assert run.status == "running"
    run.do("abstain", "c3")  # at most two votes can be cast now: the quorum of three fails
    assert run.status == "rejected"
    assert run.facts("decided")[0]["quorum"] == 3


def test_vote_chair_veto() -> None:
    plan = linear(vote_node(pass_ratio=0.5, quorum=1, veto=[{"kind": "role", "value": "chair"}]))
    run = Run(plan)
    for member in ("c2", "c3", "c4"):
        run.do("approve", member)
    assert run.status == "running"  # the chair may still veto
    run.do("reject", "c1")
    assert run.status == "rejected"
    assert run.facts("decided")[0]["veto"] == "c1"


def test_vote_with_too_few_voters_is_rejected_with_a_reason() -> None:
    run = Run(linear(vote_node(quorum=9)))
    assert run.status == "rejected"
    assert run.facts("quorum_unreachable")[0]["voters"] == 5


# --- branches -------------------------------------------------------------------------------


def routed_chain(split: str) -> Any:
    branches: list[dict[str, Any]] = [
        {"name": {"zh-CN": "大额"}, "when": "amount > 5000000", "to": "committee"},
        {"name": {"zh-CN": "涉农"}, "when": 'industry == "agri"', "to": "agri"},
    ]
    if split != "parallel":
        branches.append({"name": {"zh-CN": "默认"}, "default": True, "to": "plain"})
    return chain(
        node("start", "start", next="route"),
        node("route", "branch", mode=split, branches=branches, next="boss"),
        approve("committee", "committee", next="boss"),
        approve("agri", "risk", next="boss"),
        approve("plain", "legal", next="boss"),
        approve("boss", "gm", next="end"),
        node("end", "end"),
    )


def test_exclusive_branch_explains_the_rule_and_values() -> None:
    run = Run(routed_chain("exclusive"), {"amount": 6_000_000, "industry": "agri"})
    assert run.nodes() == {"committee"}
    routed = run.facts("routed")[0]
    assert routed["to"] == ["committee"]
    assert routed["checked"] == [
        {
            "branch": "大额",
            "rule": "amount > 5000000",
            "values": {"amount": 6000000},
            "result": True,
        }
    ]
    run = Run(routed_chain("exclusive"), {"amount": 100, "industry": "trade"})
    assert run.nodes() == {"plain"}
    assert run.facts("routed")[0]["default"] is True


def test_missing_field_counts_as_false_and_says_why() -> None:
    run = Run(routed_chain("exclusive"), {"industry": "trade"})
    checked = run.facts("routed")[0]["checked"]
    assert checked[0]["result"] is False and "could not evaluate" in checked[0]["error"]
    assert run.nodes() == {"plain"}


def test_inclusive_takes_every_branch_that_holds_and_joins() -> None:
    run = Run(routed_chain("inclusive"), {"amount": 6_000_000, "industry": "agri"})
    assert run.nodes() == {"committee", "agri"}
    run.do("approve", "r1")
    assert run.nodes() == {"committee"}  # the agri arm waits at the join
    assert run.facts("arm_done") and not run.facts("joined")
    run.do("approve", "c4")
    assert run.nodes() == {"boss"} and len(run.facts("joined")) == 1
    run.do("approve", "gm")
    assert run.status == "approved"


def test_parallel_runs_all_arms_and_rejection_in_one_ends_all() -> None:
    run = Run(routed_chain("parallel"))
    assert run.nodes() == {"committee", "agri"}
    run.do("reject", "r1")
    assert run.status == "rejected" and run.state.tasks == {}


def test_legacy_condition_node_routes_to_any_later_node() -> None:
    plan = chain(
        node("start", "start", next="by_amount"),
        node(
            "by_amount",
            "condition",
            branches=[{"when": "amount <= 300000", "to": "fast"}],
            default="slow",
        ),
        approve("fast", "clerk", next="end"),
        approve("slow", "risk", next="end"),
        node("end", "end"),
    )
    assert Run(plan, {"amount": 1000}, submitter="x").nodes() == {"fast"}
    assert Run(plan, {"amount": 10_000_000}).nodes() == {"slow"}


def test_auto_and_trigger_and_copy_nodes() -> None:
    plan = chain(
        node("start", "start", next="screen"),
        node(
            "screen",
            "auto",
            rules=[{"when": "blacklisted == true", "then": "reject"}],
            otherwise="approve",
            next="credit",
        ),
        node("credit", "trigger", event="credit.check", send=["amount"], next="cc"),
        node("cc", "copy", assignees=role("finance"), next="end"),
        node("end", "end"),
    )
    run = Run(plan, {"blacklisted": False, "amount": 5})
    assert run.status == "approved"
    assert run.result.effects.triggers == [
        {"node": "credit", "event": "credit.check", "data": {"amount": 5}}
    ]
    assert run.result.effects.copies == [{"node": "cc", "user": "fin"}]
    assert Run(plan, {"blacklisted": True}).status == "rejected"


# --- assignees and policies -----------------------------------------------------------------


def test_self_approval_forbidden_by_default_and_skip_and_superior() -> None:
    plan = linear(approve("check", "clerk"))
    run = Run(plan)
    assert set(run.tasks()) == {"clerk2"}
    assert {"user": "sub", "why": "self-approval: forbid"}.items() <= run.facts("excluded")[
        0
    ].items()

    solo = linear(node("check", "approve", assignees=[{"kind": "submitter"}], self_approval="skip"))
    assert Run(solo).status == "approved"

    boss = linear(
        node("check", "approve", assignees=[{"kind": "submitter"}], self_approval="superior")
    )
    run = Run(boss)
    assert set(run.tasks()) == {"bh"}  # team has no head: the branch head is the superior


def test_manager_chain_and_department_head() -> None:
    plan = linear(
        node(
            "chain",
            "approve",
            assignees=[{"kind": "manager_chain", "up_to": {"level": 2}}],
            mode="sequential",
        )
    )
    run = Run(plan)
    assert set(run.tasks()) == {"bh"}
    run.do("approve", "bh")
    assert set(run.tasks()) == {"gm"}
    whys = [f["why"] for f in run.facts("assigned")]
    assert whys == ["manager level 1 (head of branch)", "manager level 2 (head of hq)"]

    to_role = linear(
        node(
            "chain",
            "approve",
            assignees=[{"kind": "manager_chain", "up_to": {"role": "branch_head"}}],
        )
    )
    assert set(Run(to_role).tasks()) == {"bh"}

    head = linear(node("h", "approve", assignees=[{"kind": "department_head", "level": 2}]))
    assert set(Run(head).tasks()) == {"bh"}  # team (level 1) has no head; level 2 is branch


def test_form_user_and_named_user_and_submitter_choice() -> None:
    plan = linear(
        node("pm", "approve", assignees=[{"kind": "form_user", "field": "manager"}]),
        node("named", "approve", assignees=[{"kind": "user", "value": "LEGAL@t.demo"}]),
        node(
            "picked",
            "approve",
            assignees=[
                {
                    "kind": "submitter_choice",
                    "candidates": [{"kind": "role", "value": "risk"}],
                    "max": 2,
                }
            ],
            mode="all",
        ),
    )
    run = Run(plan, {"manager": "gm@t.demo"}, choices={"picked": ["r1", "r3@t.demo"]})
    run.do("approve", "gm")
    run.do("approve", "legal")
    assert set(run.tasks()) == {"r1", "r3"}
    with pytest.raises(Refused) as caught:
        Run(plan, {"manager": "gm@t.demo"}, choices={"picked": ["gm"]})
    assert caught.value.code == "bad_choice"
    with pytest.raises(Refused):
        Run(plan, {"manager": "gm@t.demo"}, choices={"picked": []})


def test_dedupe_consecutive_and_anywhere() -> None:
    nodes = (
        approve("a", "legal"),
        approve("b", "risk"),
        node(
            "c",
            "approve",
            assignees=[{"kind": "role", "value": "legal"}, {"kind": "role", "value": "gm"}],
            mode="all",
        ),
    )
    run = Run(linear(*nodes, dedupe="anywhere"))
    run.do("approve", "legal")
    run.do("approve", "r1")
    assert set(run.tasks()) == {"gm"}  # legal already approved at a
    run = Run(linear(*nodes, dedupe="consecutive"))
    run.do("approve", "legal")
    run.do("approve", "r1")
    assert set(run.tasks()) == {"legal", "gm"}  # a was not the node just before


def test_recusal_of_related_parties() -> None:
    plan = linear(vote_node(quorum=2, recuse=["related_staff"]))
    run = Run(plan, {"related_staff": ["c2@t.demo", "c4@t.demo"]})
    assert set(run.tasks()) == {"c1", "c3", "c5"}
    assert {f["user"] for f in run.facts("excluded")} == {"c2", "c4"}


def test_empty_assignees_policies() -> None:
    nobody = [{"kind": "role", "value": "nobody"}]
    assert set(Run(linear(node("n", "approve", assignees=nobody))).tasks()) == {"admin"}
    assert Run(linear(node("n", "approve", assignees=nobody, on_empty="pass"))).status == "approved"
    assert (
        Run(linear(node("n", "approve", assignees=nobody, on_empty="reject"))).status == "rejected"
    )
    # The administrator fallback never makes the submitter approve their own request.
    assert (
        Run(linear(node("n", "approve", assignees=nobody)), submitter="admin").status == "rejected"
    )
    named = {"assignees": [{"kind": "user", "value": "fin@t.demo"}]}
    assert set(Run(linear(node("n", "approve", assignees=nobody, on_empty=named))).tasks()) == {
        "fin"
    }


def test_required_comment() -> None:
    run = Run(linear(approve("risk", "legal", require_comment=["reject"])))
    with pytest.raises(Refused) as caught:
        run.do("reject", "legal")
    assert caught.value.code == "comment_required"
    run.do("reject", "legal", comment="担保物不足")
    assert run.status == "rejected"


# --- refusals ---------------------------------------------------------------------------------


def test_someone_elses_task_stale_version_unknown_operation() -> None:
    run = Run(linear(approve("risk", "legal")))
    task = run.tasks()["legal"]
    for op, actor, kw, code in [
        ("approve", "gm", {"task": task}, "not_yours"),
        ("approve", "legal", {"task": task, "version": 7}, "stale"),
        ("approve", "legal", {"task": "t999"}, "unknown_task"),
        ("explode", "legal", {"task": task}, "not_allowed"),
    ]:
        with pytest.raises(Refused) as caught:
            run.do(op, actor, **kw)
        assert caught.value.code == code
    run.do("approve", "legal", version=1)
    assert run.status == "approved"


# --- returns, resubmission, take back, cancel -----------------------------------------------


def three_steps(**settings: Any) -> Any:
    return linear(approve("a", "legal"), approve("b", "risk"), approve("c", "gm"), **settings)


def test_return_to_submitter_then_restart_or_straight_back() -> None:
    run = Run(three_steps())
    run.do("approve", "legal")
    run.do("return", "r1", to="submitter")
    assert run.status == "returned" and run.state.tasks == {}
    with pytest.raises(Refused):
        run.do("resubmit", "legal")
    run.do("resubmit", "sub")
    assert run.nodes() == {"a"}

    run = Run(three_steps(resubmit="back"))
    run.do("approve", "legal")
    run.do("return", "r1", to="submitter")
    run.do("resubmit", "sub")
    assert run.nodes() == {"b"}


def test_return_to_previous_and_to_a_chosen_node() -> None:
    run = Run(three_steps())
    run.do("approve", "legal")
    run.do("approve", "r2")
    run.do("return", "gm", to="previous")
    assert run.nodes() == {"b"}
    assert set(run.tasks()) == {"r1", "r2", "r3"}
    run.do("approve", "r1")
    run.do("return", "gm", to="a")
    assert run.nodes() == {"a"}
    assert [s.node for s in run.state.trail] == []


def test_return_to_a_node_not_visited_is_refused() -> None:
    run = Run(three_steps())
    run.do("approve", "legal")
    before = run.state.to_json()
    for target in ("c", "nowhere"):
        with pytest.raises(Refused) as caught:
            run.do("return", "r1", to=target)
        assert caught.value.code == "bad_target"
    with pytest.raises(Refused):
        run.do("return", "legal", task="t1", to="previous")
    assert run.state.to_json() == before


def test_on_reject_returns_instead_of_ending() -> None:
    plan = linear(approve("a", "legal"), approve("b", "risk", on_reject={"return": "a"}))
    run = Run(plan)
    run.do("approve", "legal")
    run.do("reject", "r1")
    assert run.status == "running" and run.nodes() == {"a"}


def test_an_automatic_return_to_a_node_never_decided_goes_further_back() -> None:
    nobody = [{"kind": "role", "value": "nobody"}]
    plan = linear(
        approve("z", "legal"),
        node("a", "approve", assignees=nobody, on_empty="pass"),
        node("b", "approve", assignees=nobody, on_empty="reject", on_reject={"return": "a"}),
    )
    run = Run(plan)
    run.do("approve", "legal")  # a passes by itself, b finds nobody and returns
    assert run.nodes() == {"z"}  # a was never decided: back to z, the node before it
    assert run.facts("returned")[-1]["to"] == "z"
    plan = linear(
        node("a", "approve", assignees=nobody, on_empty="pass"),
        node("b", "approve", assignees=nobody, on_empty="reject", on_reject={"return": "a"}),
    )
    assert Run(plan).status == "returned"  # nothing decided before: to the submitter


def test_take_back_before_the_next_approver_acts() -> None:
    run = Run(three_steps())
    run.do("approve", "legal")
    # Opening (reading) the next task changes nothing: take-back is still allowed.
    run.do("take_back", "legal")
    assert run.nodes() == {"a"} and set(run.tasks()) == {"legal"}
    run.do("approve", "legal")
    run.do("approve", "r1")
    with pytest.raises(Refused) as caught:
        run.do("take_back", "legal")
    assert caught.value.code == "not_allowed"


def test_take_back_refused_once_the_next_node_has_a_decision() -> None:
    run = Run(linear(approve("a", "legal"), approve("b", "risk", mode="all")))
    run.do("approve", "legal")
    run.do("approve", "r1")
    with pytest.raises(Refused):
        run.do("take_back", "legal")


def test_take_back_in_a_countersign_keeps_the_other_approvals() -> None:
    run = Run(linear(approve("a", "risk", mode="all"), approve("b", "gm")))
    for member in ("r1", "r2", "r3"):
        run.do("approve", member)
    run.do("take_back", "r3")
    assert set(run.tasks()) == {"r3"}
    run.do("approve", "r3")
    assert run.nodes() == {"b"}


def test_withdraw_and_cancel_by_the_submitter() -> None:
    run = Run(three_steps())
    run.do("withdraw", "sub")
    assert run.status == "returned"
    run.do("resubmit", "sub")
    run.do("approve", "legal")
    with pytest.raises(Refused):
        run.do("withdraw", "sub")
    with pytest.raises(Refused):
        run.do("cancel", "legal")
    run.do("cancel", "sub")
    assert run.status == "cancelled" and run.state.tasks == {}


# --- transfer, delegate, add and remove signers ------------------------------------------------


def test_transfer_hands_the_decision_over() -> None:
    run = Run(linear(approve("a", "legal")))
    run.do("transfer", "legal", to="x@t.demo")
    assert set(run.tasks()) == {"x"}
    run.do("approve", "x")
    assert run.status == "approved"


def test_transfer_to_the_submitter_or_a_participant_is_refused() -> None:
    run = Run(linear(approve("a", "risk")))
    for target in ("sub", "r2", "ghost@t.demo"):
        with pytest.raises(Refused):
            run.do("transfer", "r1", to=target)


def test_delegate_then_resolve_returns_the_decision() -> None:
    run = Run(linear(approve("a", "legal")))
    first = run.state.tasks[run.tasks()["legal"]]
    run.do("delegate", "legal", to="x")
    assert set(run.tasks()) == {"x"} and run.waiting() == {"legal"}
    with pytest.raises(Refused):
        run.do("approve", "x")
    run.do("resolve", "x", comment="材料已核实")
    assert set(run.tasks()) == {"legal"}
    assert run.state.tasks[first.id].version == 3  # waiting, then open again
    with pytest.raises(Refused) as caught:
        run.do("approve", "legal", version=1)
    assert caught.value.code == "stale"
    run.do("approve", "legal", version=3)
    assert run.status == "approved"


def test_add_signer_before_after_alongside() -> None:
    run = Run(linear(approve("a", "legal"), approve("b", "gm")))
    run.do("add_signer", "legal", users=("x",), position="before")
    assert set(run.tasks()) == {"x"} and run.waiting() == {"legal"}
    run.do("approve", "x")
    assert set(run.tasks()) == {"legal"}
    run.do("add_signer", "legal", users=("y",), position="after")
    run.do("approve", "legal")
    assert set(run.tasks()) == {"y"} and run.nodes() == {"a"}
    run.do("approve", "y")
    assert run.nodes() == {"b"}

    run = Run(linear(approve("a", "legal", mode="all"), approve("b", "gm")))
    run.do("add_signer", "legal", users=("x", "y"), position="alongside")
    assert set(run.tasks()) == {"legal", "x", "y"}
    run.do("approve", "legal")
    run.do("approve", "x")
    assert run.nodes() == {"a"}
    run.do("approve", "y")
    assert run.nodes() == {"b"}


def test_signer_added_before_who_rejects_rejects_for_the_seat() -> None:
    run = Run(linear(approve("a", "legal")))
    run.do("add_signer", "legal", users=("x",), position="before")
    run.do("reject", "x")
    assert run.status == "rejected"


def test_add_signer_in_a_vote_adds_a_voter() -> None:
    run = Run(linear(vote_node(pass_ratio=1, quorum=1)))
    run.do("add_signer", "c1", users=("x",), position="alongside")
    for member in ("c1", "c2", "c3", "c4", "c5"):
        run.do("approve", member)
    assert run.status == "running"  # x's vote still counts
    run.do("reject", "x")
    assert run.status == "rejected"


def test_remove_signer() -> None:
    run = Run(linear(approve("a", "risk", mode="all"), approve("b", "gm")))
    run.do("approve", "r1")
    with pytest.raises(Refused):
        run.do("remove_signer", "r2", users=("r1",))  # already acted
    run.do("remove_signer", "r2", users=("r3",))
    assert set(run.tasks("a")) == {"r2"}
    run.do("approve", "r2")
    assert run.nodes() == {"b"}

    vote = Run(linear(vote_node()))
    with pytest.raises(Refused):
        vote.do("remove_signer", "c1", users=("c2",))  # not a voter c1 added


def test_remove_a_signer_added_before_someone_else() -> None:
    run = Run(linear(approve("a", "risk", mode="all"), approve("b", "gm")))
    run.do("approve", "r1")
    run.do("add_signer", "r2", users=("x",), position="before")
    assert run.waiting() == {"r2"}
    run.do("remove_signer", "r3", users=("x",))
    assert set(run.tasks("a")) == {"r2", "r3"} and not run.waiting()
    run.do("remove_signer", "r3", users=("r2",))
    run.do("approve", "r3")
    assert run.nodes() == {"b"}


def test_comment_by_participants_only() -> None:
    run = Run(linear(approve("a", "legal")))
    run.do("comment", "sub", comment="请尽快")
    run.do("comment", "legal", comment="收到")
    with pytest.raises(Refused):
        run.do("comment", "gm", comment="路过")
    assert [f["text"] for f in run.facts("comment")] == ["请尽快", "收到"]
