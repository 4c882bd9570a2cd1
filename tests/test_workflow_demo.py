"""The demo guarantors' chains, run on the demo people by the simulator and the engine:
the story the demo tells (branch manager, risk and legal side by side — legal claimed by
one of two counsels — the five-member committee over ¥5M with related people recused and
4 of 5 to pass; the fast track with another loan officer; the cap refused at once) is what
the engine does."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from danbao.definitions import load_bundle
from danbao.workflow import Action, People, Person
from danbao.workflow.engine import Env, act, start
from danbao.workflow.simulate import simulate
from danbao.workflow.state import State
from danbao.workflow.store import plan_of

TENANTS = Path(__file__).resolve().parents[1] / "tenants"


def demo(slug: str) -> tuple[Any, People]:
    bundle = load_bundle(TENANTS / slug)
    entry = next(
        t
        for t in json.loads((TENANTS / "demo.json").read_text("utf-8"))["tenants"]
        if t["slug"] == slug
    )
    people = People.build(
        (
            Person(u["email"], u["email"], u["name"], frozenset(u["roles"]), u["department"])
            for u in entry["users"]
        ),
        bundle.permissions["departments"],
    )
    return plan_of(bundle.workflows["review"]), people


def approvers(sim: Any, node: str) -> list[str]:
    found = next(n for n in sim.nodes if n["node"] == node)
    return sorted(a["user"].split("<")[1].rstrip(">") for a in found["assigned"])


def test_gxdb_branch_project_over_the_limit_goes_to_the_committee() -> None:
    plan, people = demo("gxdb")
    sim = simulate(
        plan,
        people,
        {"branch": "chengdu", "amount": 6_000_000, "related_party": False},
        submitter="account_manager@gxdb.demo",
    )
    assert sim.status == "approved"
    assert [n["node"] for n in sim.nodes] == [
        "branch_review",
        "risk_review",
        "legal_review",
        "committee",
        "gm_approval",
    ]
    assert approvers(sim, "branch_review") == ["branch_manager@gxdb.demo"]
    assert len(approvers(sim, "committee")) == 5
    assert approvers(sim, "legal_review") == ["legal2@gxdb.demo", "legal@gxdb.demo"]  # a pool
    routed = [r for r in sim.route if r["fact"] == "routed"]
    assert (
        routed[-1]["to"] == ["committee"]
        and routed[-1]["checked"][0]["values"]["amount"] == 6_000_000
    )
    assert any(r["fact"] == "copied" for r in sim.route)


def test_gxdb_head_office_project_under_the_limit_skips_branch_and_committee() -> None:
    plan, people = demo("gxdb")
    sim = simulate(plan, people, {"branch": "hq", "amount": 1_000_000}, department="business")
    assert [n["node"] for n in sim.nodes] == ["risk_review", "legal_review", "gm_approval"]


def test_qsnd_fast_track_goes_to_the_other_loan_officer() -> None:
    plan, people = demo("qsnd")
    sim = simulate(
        plan,
        people,
        {"amount": 200_000, "applicant_name": "王五"},
        submitter="loan_officer@qsnd.demo",
    )
    assert approvers(sim, "fast_track") == ["loan_officer2@qsnd.demo"]
    excluded = next(n for n in sim.nodes if n["node"] == "fast_track")["excluded"]
    assert "self-approval" in excluded[0]["why"]
    assert any(r["fact"] == "triggered" and r["event"] == "credit.personal" for r in sim.route)


def test_qsnd_over_the_cap_is_refused_and_the_rest_reach_the_manager() -> None:
    plan, people = demo("qsnd")
    assert (
        simulate(plan, people, {"amount": 5_000_000}, department="qingshan_station").status
        == "rejected"
    )
    sim = simulate(plan, people, {"amount": 1_000_000}, department="qingshan_station")
    assert approvers(sim, "manager_approval") == ["manager@qsnd.demo"]


def test_gxdb_related_people_are_recused_from_the_committee() -> None:
    plan, people = demo("gxdb")
    related = people.by_key("committee2@gxdb.demo")
    assert related is not None
    sim = simulate(
        plan,
        people,
        {"branch": "hq", "amount": 1_000_000, "related_party": True,
         "related_people": [related.id]},
        department="business",
    )  # fmt: skip
    assert [n["node"] for n in sim.nodes][-2:] == ["committee", "gm_approval"]
    committee = next(n for n in sim.nodes if n["node"] == "committee")
    assert len(committee["assigned"]) == 4
    assert [e["why"] for e in committee["excluded"]] == ["recused: related_people"]
    assert "committee2@gxdb.demo" in committee["excluded"][0]["user"]


def _committee(plan: Any, people: People, recused: list[str]) -> tuple[Env, State]:
    """The approval of a ¥6M head-office project, run up to the committee's vote."""
    data = {"branch": "hq", "amount": 6_000_000, "related_people": recused}
    env = Env(plan, people, data)
    submitter = people.by_key("account_manager@gxdb.demo")
    assert submitter is not None
    state = start(env, submitter.id).state
    while not any(t.node == "committee" for t in state.tasks.values()):
        task = min(state.tasks.values(), key=lambda t: int(t.id[1:]))
        op = "claim" if task.kind == "claim" else "approve"
        state = act(env, state, Action(op, task.user, task=task.id, comment="同意")).state
    return env, state


def _vote(env: Env, state: State, user: str, op: str) -> State:
    task = next(t for t in state.tasks.values() if t.user == user and t.node == "committee")
    return act(env, state, Action(op, user, task=task.id, comment="意见")).state


def test_gxdb_committee_passes_with_four_of_five() -> None:
    plan, people = demo("gxdb")
    env, state = _committee(plan, people, [])
    voters = sorted(t.user for t in state.tasks.values() if t.node == "committee")
    assert len(voters) == 5
    chair = people.by_key("committee_member@gxdb.demo")
    assert chair is not None
    others = [v for v in voters if v != chair.id]
    state = _vote(env, state, others[0], "reject")  # one against: four for still pass
    for voter in others[1:]:
        state = _vote(env, state, voter, "approve")
    assert any(t.node == "committee" for t in state.tasks.values())  # 3 for, 1 against
    state = _vote(env, state, chair.id, "approve")
    assert {t.node for t in state.tasks.values()} == {"gm_approval"}


def test_gxdb_committee_two_against_fails() -> None:
    plan, people = demo("gxdb")
    env, state = _committee(plan, people, [])
    chair = people.by_key("committee_member@gxdb.demo")
    assert chair is not None
    others = sorted(
        t.user for t in state.tasks.values() if t.node == "committee" and t.user != chair.id
    )
    state = _vote(env, state, others[0], "reject")
    state = _vote(env, state, others[1], "reject")  # at most 3 of 5 for now: rejected
    assert state.status == "rejected"


def test_gxdb_committee_with_one_recused_needs_all_four() -> None:
    plan, people = demo("gxdb")
    related = people.by_key("committee3@gxdb.demo")
    assert related is not None
    env, state = _committee(plan, people, [related.id])
    voters = sorted(t.user for t in state.tasks.values() if t.node == "committee")
    assert len(voters) == 4 and related.id not in voters
    for voter in voters:
        state = _vote(env, state, voter, "approve")
    assert {t.node for t in state.tasks.values()} == {"gm_approval"}
