"""The project transition table, exhaustively: every event from every state.

EXPECTED is written out by hand, independently of ``guarantee.transitions``, so a change
to the table in the code fails here until this file (and docs/lifecycle.md) agree.
"""

from __future__ import annotations

import itertools
import json

import pytest

from danbao.config import REPO_ROOT
from danbao.guarantee import doc
from danbao.guarantee.states import INITIAL, State, state_name
from danbao.guarantee.transitions import (
    EVENTS,
    TERMINAL,
    NotAllowed,
    UnknownEvent,
    allowed_events,
    event_name,
    plan,
)

S = State
# event -> (from-states, to-state, needs approval, undo)
EXPECTED: dict[str, tuple[set[State], State, bool, bool]] = {
    "accept": ({S.DRAFT}, S.SUBMITTED, False, False),
    "return_to_applicant": ({S.SUBMITTED, S.DUE_DILIGENCE}, S.DRAFT, False, True),
    "start_due_diligence": ({S.SUBMITTED}, S.DUE_DILIGENCE, False, False),
    "submit_for_review": ({S.DUE_DILIGENCE}, S.UNDER_REVIEW, False, False),
    "return_to_due_diligence": ({S.UNDER_REVIEW}, S.DUE_DILIGENCE, False, True),
    "approve": ({S.UNDER_REVIEW}, S.APPROVED, True, False),
    "reject": ({S.UNDER_REVIEW}, S.REJECTED, True, False),
    "reopen_review": ({S.APPROVED, S.REJECTED}, S.UNDER_REVIEW, False, True),
    "withdraw": (
        {S.DRAFT, S.SUBMITTED, S.DUE_DILIGENCE, S.UNDER_REVIEW, S.APPROVED, S.CONTRACTING},
        S.WITHDRAWN,
        False,
        True,
    ),
    "start_contracting": ({S.APPROVED}, S.CONTRACTING, False, False),
    "cancel_contracting": ({S.CONTRACTING}, S.APPROVED, False, True),
    "sign_contract": ({S.CONTRACTING}, S.CONTRACTED, False, False),
    "issue_letter": ({S.CONTRACTED}, S.LETTER_ISSUED, False, False),
    "revoke_letter": ({S.LETTER_ISSUED}, S.CONTRACTED, False, True),
    "confirm_disbursement": ({S.LETTER_ISSUED}, S.ACTIVE, False, False),
    "raise_warning": ({S.ACTIVE}, S.WATCHLIST, False, False),
    "lift_warning": ({S.WATCHLIST}, S.ACTIVE, False, True),
    "mark_overdue": ({S.ACTIVE, S.WATCHLIST}, S.OVERDUE, False, False),
    "cure_overdue": ({S.OVERDUE}, S.ACTIVE, False, True),
    "release": ({S.ACTIVE, S.WATCHLIST}, S.RELEASED, False, False),
    "compensate": ({S.OVERDUE}, S.COMPENSATED, True, False),
    "start_recovery": ({S.COMPENSATED}, S.RECOVERING, False, False),
    "close_recovery": ({S.RECOVERING}, S.RECOVERY_CLOSED, False, False),
    "reopen_recovery": ({S.RECOVERY_CLOSED}, S.RECOVERING, False, True),
    "write_off": ({S.RECOVERING, S.RECOVERY_CLOSED}, S.WRITTEN_OFF, True, False),
}


def test_the_table_has_exactly_the_expected_events() -> None:
    assert list(EVENTS) == list(EXPECTED)


def test_state_codes_are_explicit_and_complete() -> None:
    assert [s.value for s in State] == [
        "DRAFT", "SUBMITTED", "DUE_DILIGENCE", "UNDER_REVIEW", "APPROVED", "REJECTED",
        "WITHDRAWN", "CONTRACTING", "CONTRACTED", "LETTER_ISSUED", "ACTIVE", "WATCHLIST",
        "OVERDUE", "COMPENSATED", "RECOVERING", "RELEASED", "RECOVERY_CLOSED", "WRITTEN_OFF",
    ]  # fmt: skip
    assert INITIAL is State.DRAFT


@pytest.mark.parametrize(
    ("state", "code"), list(itertools.product(list(State), list(EXPECTED))), ids=str
)
def test_every_event_from_every_state(state: State, code: str) -> None:
    sources, target, needs_approval, undo = EXPECTED[code]
    if state in sources:
        transition = plan(state, code)
        assert (transition.event, transition.from_state, transition.to_state) == (
            code,
            state,
            target,
        )
        assert transition.needs_approval is needs_approval
        assert transition.reverses is undo
        assert code in [e.code for e in allowed_events(state)]
    else:
        with pytest.raises(NotAllowed) as refused:
            plan(state.value, code)  # codes as stored (text) are accepted too
        message = str(refused.value)
        assert f"event {code!r}" in message
        assert f"from state {state.value}" in message
        for source in sources:
            assert source.value in message.split("allowed from:")[1]
        assert set(refused.value.allowed_from) == sources
        assert code not in [e.code for e in allowed_events(state)]


def test_an_unknown_event_or_state_is_refused_by_name() -> None:
    with pytest.raises(UnknownEvent, match="no project event 'fly'"):
        plan(State.ACTIVE, "fly")
    with pytest.raises(ValueError, match="NOT_A_STATE"):
        plan("NOT_A_STATE", "accept")


def test_terminal_states_and_reachability() -> None:
    assert {S.WITHDRAWN, S.RELEASED, S.WRITTEN_OFF} == TERMINAL
    edges = {s: {e.target for e in allowed_events(s)} for s in State}
    seen, todo = {INITIAL}, [INITIAL]
    while todo:
        for nxt in edges[todo.pop()] - seen:
            seen.add(nxt)
            todo.append(nxt)
    assert seen == set(State), "every state is reachable from DRAFT"
    for state in State:
        reach, todo = {state}, [state]
        while todo:
            for nxt in edges[todo.pop()] - reach:
                reach.add(nxt)
                todo.append(nxt)
        assert reach & TERMINAL, f"{state} can never end"


def test_every_state_and_event_has_a_chinese_and_english_name() -> None:
    for locale in ("zh-CN", "en"):
        catalogue = json.loads((REPO_ROOT / "console/i18n" / f"{locale}.json").read_text("utf-8"))
        for state in State:
            assert f"project.state.{state.value}" in catalogue, (locale, state)
            assert state_name(state, locale) != f"project.state.{state.value}"
        for code in EVENTS:
            assert f"project.event.{code}" in catalogue, (locale, code)
    assert state_name(State.ACTIVE, "zh-CN") == "在保"
    assert event_name("compensate", "zh-CN") == "代偿"
    assert event_name("compensate", "en") == "Compensate"


def test_docs_lifecycle_carries_the_table_from_the_code() -> None:
    text = doc.DOC.read_text(encoding="utf-8")
    assert doc.section(text) == doc.transitions_markdown(), (
        "docs/lifecycle.md is out of date: run python -m danbao.guarantee.doc"
    )
    # and the doc's rows say what EXPECTED says
    for code, (_, target, needs_approval, _) in EXPECTED.items():
        row = next(line for line in text.splitlines() if line.startswith(f"| `{code}` |"))
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[3].startswith(f"`{target.value}`")
        assert (cells[4] == "yes") is needs_approval
