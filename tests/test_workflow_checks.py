"""Before publishing: a chain's faults are reported like every definition error, with the
file and a JSON pointer; and a valid chain compiles to a plan with a stable hash."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from danbao.definitions import load_bundle, validate_bundle_dict
from danbao.workflow import compile_plan
from tests.test_definitions import errors_of, files, find, node

WF = "workflows/review.json"
TENANTS = Path(__file__).resolve().parents[1] / "tenants"


def with_nodes(*nodes: dict[str, Any], **settings: Any) -> dict[str, Any]:
    content = files()
    content[WF]["nodes"] = list(nodes)
    if settings:
        content[WF]["settings"] = settings
    return content


def approver(node_id: str, nxt: str, **extra: Any) -> dict[str, Any]:
    return node(
        node_id, "approve", assignees=[{"kind": "role", "value": "clerk"}], next=nxt, **extra
    )


def split(mode: str, branches: list[dict[str, Any]], nxt: str) -> dict[str, Any]:
    return node("route", "branch", mode=mode, branches=branches, next=nxt)


START, END = node("start", "start", next="route"), node("end", "end")


def test_a_full_chain_validates_and_compiles() -> None:
    content = with_nodes(
        START,
        split(
            "inclusive",
            [
                {"when": "amount > 5000000", "to": "a"},
                {"default": True, "to": "b"},
            ],
            "vote",
        ),
        approver("a", "vote", mode="sequential", fields={"amount": "read", "name": "write"}),
        node(
            "b",
            "handle",
            assignees=[{"kind": "manager_chain", "up_to": {"role": "approver"}}],
            on_empty="admin",
            next="vote",
        ),
        node(
            "vote",
            "approve",
            assignees=[{"kind": "role", "value": "approver"}],
            mode="vote",
            pass_ratio=0.67,
            quorum=3,
            abstain="against",
            veto=[{"kind": "user", "value": "chair@t.demo"}],
            require_comment=["reject"],
            on_reject={"return": "a"},
            sla={"due": "P2D", "remind_every": "PT4H", "remind_max": 3, "on_timeout": "escalate"},
            next="auto",
        ),
        node(
            "auto",
            "auto",
            rules=[{"when": "amount < 0", "then": "reject"}],
            otherwise="approve",
            next="cc",
        ),
        node(
            "cc",
            "copy",
            assignees=[{"kind": "form_user", "field": "name"}],
            next="end",
        ),
        END,
    )
    bundle = validate_bundle_dict(content)
    plan = compile_plan(bundle.workflows["review"])
    assert plan.node("a").enclosure == (("route", 0),)
    assert plan.node("vote").on_reject == "a"
    assert compile_plan(bundle.workflows["review"]).hash == plan.hash
    other = bundle.to_dict()
    other[WF]["nodes"][2]["mode"] = "all"
    assert compile_plan(other[WF]).hash != plan.hash


@pytest.mark.parametrize("slug", ["gxdb", "qsnd", "_template"])
def test_shipped_chains_compile(slug: str) -> None:
    bundle = load_bundle(TENANTS / slug)
    for workflow in bundle.workflows.values():
        plan = compile_plan(workflow)
        assert plan.hash.startswith("sha256:")


CASES = [
    (
        with_nodes(
            START,
            split("exclusive", [{"when": "amount > 5", "to": "a"}], "end"),
            approver("a", "end"),
            END,
        ),
        "/nodes/1/branches",
        "no default branch",
    ),
    (
        with_nodes(
            START,
            split("parallel", [{"when": "amount > 5", "to": "a"}], "end"),
            approver("a", "end"),
            END,
        ),
        "/nodes/1/branches/0/when",
        "parallel branches all run",
    ),
    (
        with_nodes(
            START,
            split(
                "exclusive",
                [{"when": 'amount > "5"', "to": "a"}, {"default": True, "to": "end"}],
                "end",
            ),
            approver("a", "end"),
            END,
        ),
        "/nodes/1/branches/0/when",
        "compares 'amount' (number) with a string",
    ),
    (
        with_nodes(
            START,
            split(
                "exclusive",
                [{"when": "turnover > 5", "to": "a"}, {"default": True, "to": "end"}],
                "end",
            ),
            approver("a", "end"),
            END,
        ),
        "/nodes/1/branches/0/when",
        "'turnover' is not a field",
    ),
    (
        with_nodes(
            START,
            split("parallel", [{"to": "a"}, {"to": "b"}], "c"),
            approver("a", "end"),
            approver("b", "c"),
            approver("c", "end"),
            END,
        ),
        "/nodes/1/branches/0/to",
        "without meeting the others at 'c'",
    ),
    (
        with_nodes(
            START,
            split("parallel", [{"to": "a"}, {"to": "b"}], "c"),
            approver("a", "b"),
            approver("b", "c"),
            approver("c", "end"),
            END,
        ),
        "/nodes/1/branches/1/to",
        "in two branches",
    ),
    (
        with_nodes(
            START,
            split("exclusive", [{"default": True, "to": "a"}], "end"),
            approver("a", "end"),
            approver("lost", "end"),
            END,
        ),
        "/nodes/3",
        "cannot be reached",
    ),
    (
        with_nodes(
            START,
            split("exclusive", [{"default": True, "to": "a"}], "end"),
            node("a", "approve", assignees=[{"kind": "role", "value": "cfo"}], next="end"),
            END,
        ),
        "/nodes/2/assignees/0/value",
        "no role 'cfo'",
    ),
    (
        with_nodes(
            START,
            split("exclusive", [{"default": True, "to": "a"}], "end"),
            node(
                "a", "approve", assignees=[{"kind": "form_user", "field": "industry"}], next="end"
            ),
            END,
        ),
        "/nodes/2/assignees/0",
        "may find nobody to act (the form field 'industry' is optional)",
    ),
    (
        with_nodes(
            START,
            split("exclusive", [{"default": True, "to": "a"}], "end"),
            node("a", "approve", assignees=[{"kind": "form_user", "field": "amount"}], next="end"),
            END,
        ),
        "/nodes/2/assignees/0/field",
        "cannot name a person",
    ),
    (
        with_nodes(
            START,
            split("exclusive", [{"default": True, "to": "a"}], "end"),
            node("a", "approve", assignees=[{"kind": "submitter"}], next="end"),
            END,
        ),
        "/nodes/2",
        "self-approval loop",
    ),
    (
        with_nodes(
            START,
            split("exclusive", [{"default": True, "to": "a"}], "end"),
            node(
                "a",
                "approve",
                assignees=[{"kind": "department_head", "department": "mars"}],
                next="end",
            ),
            END,
        ),
        "/nodes/2/assignees/0/department",
        "no department 'mars'",
    ),
    (
        with_nodes(
            START,
            split("exclusive", [{"default": True, "to": "a"}], "end"),
            approver("a", "b", on_reject={"return": "b"}),
            approver("b", "end"),
            END,
        ),
        "/nodes/2/on_reject/return",
        "does not come before",
    ),
    (
        with_nodes(
            START,
            split("exclusive", [{"default": True, "to": "a"}], "end"),
            approver("a", "end", fields={"salary": "read"}, recuse=["ghost"]),
            END,
        ),
        "/nodes/2/fields/salary",
        "not a field of form",
    ),
    (
        with_nodes(
            START,
            split("exclusive", [{"default": True, "to": "a"}], "end"),
            approver("a", "end", mode="vote"),
            END,
        ),
        "/nodes/2",
        "missing required key 'pass_ratio'",
    ),
    (
        with_nodes(
            START,
            split("exclusive", [{"default": True, "to": "a"}], "end"),
            approver("a", "end", sla={"due": "2 days"}),
            END,
        ),
        "/nodes/2/sla/due",
        "ISO 8601 duration",
    ),
    (
        with_nodes(
            START,
            split("exclusive", [{"default": True, "to": "a"}], "end"),
            node("a", "approve", assignees=[{"kind": "manager_chain"}], next="end"),
            END,
        ),
        "/nodes/2/assignees/0",
        "missing required key 'up_to'",
    ),
    *[
        (
            with_nodes(
                START,
                split("exclusive", [{"default": True, "to": "a"}], "end"),
                node(
                    "a", kind, assignees=[{"kind": "role", "value": "clerk"}], sla=sla, next="end"
                ),
                END,
            ),
            "/nodes/2/sla" + pointer,
            fragment,
        )
        for kind, sla, pointer, fragment in (
            ("approve", {"due": "P1D", "remind_every": "PT4H"}, "/remind_every", "remind_max"),
            ("approve", {"due": "P1D", "remind_max": 2}, "/remind_max", "needs remind_every"),
            (
                "approve",
                {"due": "P1D", "remind_every": "PT0H", "remind_max": 1},
                "/remind_every",
                "zero",
            ),
            ("handle", {"due": "P1D", "on_timeout": "reject"}, "/on_timeout", "cannot be rejected"),
            (
                "approve",
                {"due": "P1D", "escalate": [{"after": "PT0H"}]},
                "/escalate",
                'needs "on_timeout": "escalate"',
            ),
            (
                "approve",
                {
                    "due": "P1D",
                    "on_timeout": "escalate",
                    "escalate": [{"after": "P1D"}, {"after": "PT4H"}],
                },
                "/escalate/1/after",
                "later than the one before",
            ),
            (
                "approve",
                {
                    "due": "P1D",
                    "on_timeout": "escalate",
                    "escalate": [
                        {
                            "after": "PT0H",
                            "to": {"assignees": [{"kind": "role", "value": "nobody"}]},
                        }
                    ],
                },
                "/escalate/0/to/assignees/0/value",
                "no role 'nobody'",
            ),
            (
                "approve",
                {
                    "due": "P1D",
                    "on_timeout": "escalate",
                    "escalate": [{"after": "PT0H", "to": "boss"}],
                },
                "/escalate/0/to",
                "",
            ),
        )
    ],
]


@pytest.mark.parametrize(("content", "pointer", "fragment"), CASES)
def test_chain_faults_are_reported_with_pointers(
    content: dict[str, Any], pointer: str, fragment: str
) -> None:
    find(errors_of(content), WF, pointer, fragment)


def test_an_on_empty_policy_answers_the_possibly_empty_warning() -> None:
    content = with_nodes(
        START,
        split("exclusive", [{"default": True, "to": "a"}], "end"),
        node("a", "approve", assignees=[{"kind": "form_user", "field": "industry"}], next="end"),
        END,
        on_empty="pass",
    )
    validate_bundle_dict(content)
