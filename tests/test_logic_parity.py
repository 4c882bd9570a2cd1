"""One expression language, two evaluators, the same answers.

``tests/logic_cases.json`` is evaluated by the server (cel-python, danbao.forms.expressions
and danbao.records.logic) and, in real Chromium, by the page's modules (cel-js,
console/static/logic.js), and both must give the value the table expects: conditions,
computed numbers and their rounding, the custom functions, rows, null and missing values,
and whole forms with the hidden-value rule.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser

from danbao.definitions.conditions import FUNCTIONS
from danbao.forms.expressions import (
    CUSTOM_FUNCTIONS,
    ExpressionError,
    evaluate,
    evaluation_day,
    holds,
    round_result,
)
from danbao.records.logic import FormLogic

CASES: dict[str, Any] = json.loads(
    (Path(__file__).parent / "logic_cases.json").read_text(encoding="utf-8")
)
TODAY = date.fromisoformat(CASES["today"])


def _same(got: Any, expected: Any) -> bool:
    """JSON equality that tells true from 1 (Python's == does not)."""
    if isinstance(expected, bool) or isinstance(got, bool):
        return got is expected
    if isinstance(expected, list):
        return (
            isinstance(got, list)
            and len(got) == len(expected)
            and all(_same(g, e) for g, e in zip(got, expected, strict=True))
        )
    if isinstance(expected, dict):
        return (
            isinstance(got, dict)
            and got.keys() == expected.keys()
            and all(_same(got[k], expected[k]) for k in expected)
        )
    return bool(got == expected)


def _outcome(case: dict[str, Any], got: Any, failed: bool) -> str | None:
    """None when ``got`` is what the case expects, else what went wrong."""
    if case.get("error"):
        return None if failed else f"expected an error, got {got!r}"
    if failed:
        return f"expected {case['value']!r}, got an error: {got}"
    return None if _same(got, case["value"]) else f"expected {case['value']!r}, got {got!r}"


@pytest.mark.parametrize("case", CASES["expressions"], ids=lambda c: c["expr"])
def test_server_expressions(case: dict[str, Any]) -> None:
    with evaluation_day(TODAY):
        try:
            got, failed = evaluate(case["expr"], case["data"]), False
        except ExpressionError as exc:
            got, failed = str(exc), True
        assert _outcome(case, got, failed) is None, _outcome(case, got, failed)
        # A condition holds exactly when the value is true; an error never holds.
        assert holds(case["expr"], case["data"]) is (not failed and got is True)


@pytest.mark.parametrize("case", CASES["rounding"], ids=lambda c: f"{c['value']}@{c['places']}")
def test_server_rounding(case: dict[str, Any]) -> None:
    rounded = round_result(case["value"], case["places"])
    text = None if rounded is None else f"{rounded:.{case['places']}f}"
    assert text == case["text"]


@pytest.mark.parametrize("form", CASES["forms"], ids=lambda f: f["name"])
def test_server_forms(form: dict[str, Any]) -> None:
    logic = FormLogic.from_content(form["form"])
    with evaluation_day(TODAY):
        for case in form["cases"]:
            result = logic.run(case["data"])
            assert _same(result.values, case["values"]), result.values
            assert result.state.as_json() == case["state"]


def test_the_static_checks_know_every_function_the_runtime_adds() -> None:
    assert CUSTOM_FUNCTIONS <= FUNCTIONS


def test_only_the_variables_an_expression_names_are_converted() -> None:
    """A form hands every field (a whole record, rows included) to each of its conditions;
    only the fields an expression names become CEL values, which is most of its cost."""

    class NotJson:
        pass

    variables = {"amount": 6_000_000, "rows": [{"kind": "mortgage"}], "unread": NotJson()}
    assert holds('amount > 5000000.0 && rows.exists(r, r.kind == "mortgage")', variables)
    with pytest.raises(TypeError):  # a field it names is converted as before
        evaluate("unread == null", variables)


# Runs in the page: the modules as the generated forms load them, from /static and /vendor.
_IN_BROWSER = """
async (cases) => {
  const m = await import("/static/logic.js");
  m.setToday(cases.today);
  const expressions = cases.expressions.map((c) => {
    try { return {value: m.evaluate(c.expr, c.data), holds: m.holds(c.expr, c.data)}; }
    catch (e) { return {error: String(e && e.message || e), holds: m.holds(c.expr, c.data)}; }
  });
  const rounding = cases.rounding.map((c) => {
    const r = m.roundResult(c.value, c.places);
    return r === null ? null : r.toFixed(c.places);
  });
  const forms = cases.forms.map((f) => {
    const logic = new m.FormLogic(f.spec);
    return f.cases.map((c) => logic.run(c.data));
  });
  return {expressions, rounding, forms};
}
"""


async def test_the_browser_gives_the_same_answers(base_url: str, browser: Browser) -> None:
    cases = {
        **CASES,
        # The browser receives the spec the server builds from the definition, as a page does.
        "forms": [{**f, "spec": FormLogic.from_content(f["form"]).spec} for f in CASES["forms"]],
    }
    context = await browser.new_context()
    page = await context.new_page()
    await page.goto(f"{base_url}/t/alpha/login")
    answers = await page.evaluate(_IN_BROWSER, cases)
    await context.close()

    problems = []
    for case, answer in zip(CASES["expressions"], answers["expressions"], strict=True):
        failed = "error" in answer
        problem = _outcome(case, answer.get("error") if failed else answer["value"], failed)
        if problem:
            problems.append(f"{case['expr']} with {case['data']}: {problem}")
        expected_holds = not case.get("error") and case.get("value") is True
        if answer["holds"] is not expected_holds:
            problems.append(f"{case['expr']}: holds() gave {answer['holds']}")
    for case, text in zip(CASES["rounding"], answers["rounding"], strict=True):
        if text != case["text"]:
            problems.append(f"round {case['value']} to {case['places']}: {text}")
    for form, results in zip(CASES["forms"], answers["forms"], strict=True):
        for case, result in zip(form["cases"], results, strict=True):
            if not _same(result["values"], case["values"]):
                problems.append(f"{form['name']}: values {result['values']}")
            if result["state"] != case["state"]:
                problems.append(f"{form['name']}: state {result['state']}")
    assert not problems, "\n".join(problems)
