"""The demo guarantors' chains, run on the demo people by the simulator: the story the
demo tells (branch manager, risk and legal side by side, the committee over ¥5M; the
fast track with another loan officer; the cap refused at once) is what the engine does."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from danbao.definitions import load_bundle
from danbao.workflow import People, Person
from danbao.workflow.simulate import simulate
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
    assert len(approvers(sim, "committee")) == 6
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
