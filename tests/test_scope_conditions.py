"""Data-scope conditions as definitions: the safe CEL subset, typed by the form's schema,
and every fault a definition error with its JSON pointer, nothing applied."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from danbao.config import REPO_ROOT
from danbao.definitions import BundleInvalid, load_bundle, validate_bundle_dict
from danbao.definitions.scope_conditions import (
    And,
    Compare,
    ConditionSyntaxError,
    FieldRef,
    Has,
    In,
    Not,
    NotInSubset,
    Or,
    Truth,
    UserRef,
    Value,
    compile_condition,
)

SCHEMA: dict[str, Any] = {
    "properties": {
        "amount": {"type": "number"},
        "term": {"type": "integer"},
        "branch": {"type": "string", "oneOf": [{"const": "chengdu"}, {"const": "mianyang"}]},
        "related": {"type": "boolean"},
        "guarantor": {"type": "object", "properties": {"rating": {"type": "integer"}}},
        "id_number": {"type": "string", "x-sensitive": True},
        "owners": {"type": "array", "items": {"type": "string"}},
        "either": {"type": ["string", "number"]},
    }
}
AMOUNT = FieldRef(("amount",), "number")
BRANCH = FieldRef(("branch",), "string")


def test_the_subset_compiles_to_a_typed_tree() -> None:
    node = compile_condition("amount <= 5000000 && branch == user.department", SCHEMA).node
    assert node == And(
        Compare("<=", AMOUNT, Value(5000000)), Compare("==", BRANCH, UserRef("department"))
    )
    node = compile_condition(
        "!(guarantor.rating in [1, 2]) || has(guarantor.rating) || related", SCHEMA
    ).node
    rating = FieldRef(("guarantor", "rating"), "number")
    assert node == Or(
        Or(Not(In(rating, (Value(1), Value(2)))), Has(("guarantor", "rating"))),
        Truth(FieldRef(("related",), "boolean")),
    )
    assert compile_condition("'risk' in user.roles", SCHEMA).node == In(
        Value("risk"), UserRef("roles")
    )
    assert compile_condition("term > 0x10 && amount != -2.5", SCHEMA).node == And(
        Compare(">", FieldRef(("term",), "number"), Value(16)),
        Compare("!=", AMOUNT, Value(-2.5)),
    )
    assert compile_condition("has(owners)", SCHEMA).node == Has(("owners",))
    assert compile_condition("branch == user.department", SCHEMA).reads_department
    assert not compile_condition("amount > 1", SCHEMA).reads_department


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("amount + 1 > 2", "arithmetic (+) is not supported"),
        ("size(branch) > 1", "the function size() is not supported"),
        ("branch.startsWith('c')", "a method call is not supported"),
        ("amount > 1 ? true : false", "conditional operator"),
        ("amount == null", "null is not supported; use has(field)"),
        ("amount == '5'", "compares 'amount' (number) with '5' (string)"),
        ("branch in ['chengdu', 5]", "compares 'branch' (string) with 5 (number)"),
        ("related > false", "booleans have no order"),
        ("amount", "'amount' is not a condition"),
        ("nope == 1", "'nope': the form has no field 'nope'"),
        ("guarantor.score > 1", "'guarantor.score': guarantor has no field 'score'"),
        ("id_number == 'x'", "'id_number' is sensitive (stored encrypted)"),
        ("owners == 'x'", "'owners' is an array"),
        ("guarantor == 1", "'guarantor' is an object"),
        ("either == 'x'", "may hold number/string: one type is needed"),
        ("user.name == 'x'", "user.name: the acting user has only user.id"),
        ("user.roles == 'x'", "user.roles is a list"),
        ("amount == term", "compares two fields"),
        ("branch in [branch]", "may hold only literals"),
        ("amount in []", "never true"),
        ("amount > 1 &&", "not a valid CEL expression: unexpected end of expression"),
    ],
)
def test_outside_the_subset_is_refused_with_a_reason(text: str, message: str) -> None:
    with pytest.raises((NotInSubset, ConditionSyntaxError), match=re.escape(message)):
        compile_condition(text, SCHEMA)


# --- in a bundle: definition errors with pointers -------------------------------------


def _template() -> dict[str, Any]:
    return load_bundle(REPO_ROOT / "tenants" / "_template").to_dict()


def _with_scope(scope: Any, resource: str = "form:application") -> dict[str, Any]:
    files = copy.deepcopy(_template())
    files["permissions.json"]["data_scopes"]["risk_officer"] = {resource: scope}
    return files


AT = "/data_scopes/risk_officer/form:application"


@pytest.mark.parametrize(
    ("scope", "resource", "pointer", "message"),
    [
        ({"condition": "amout > 5000000"}, "form:application", AT + "/condition",
         "'amout': the form has no field 'amout' (form 'application')"),
        ({"condition": "amount > '5000000'"}, "form:application", AT + "/condition",
         "compares 'amount' (number) with '5000000' (string)"),
        ({"condition": "legal_rep_id_number == 'x'"}, "form:application", AT + "/condition",
         "is sensitive"),
        ({"condition": "amount > 1"}, "form:*", "/data_scopes/risk_officer/form:*/condition",
         "needs a named form:<id>"),
        ({"kind": "everything", "condition": "amount > 1"}, "form:application", AT + "/kind",
         "expected one of"),
        ({"kind": "own"}, "form:application", AT, "missing required key 'condition'"),
        ({"condition": "amount > 1", "when": "x"}, "form:application", AT + "/when",
         "unknown key 'when'"),
    ],
)  # fmt: skip
def test_a_bad_condition_is_a_definition_error_with_a_pointer(
    scope: Any, resource: str, pointer: str, message: str
) -> None:
    with pytest.raises(BundleInvalid) as raised:
        validate_bundle_dict(_with_scope(scope, resource))
    found = [(e.file, e.pointer, e.message) for e in raised.value.errors]
    assert any(f == "permissions.json" and p == pointer and message in m for f, p, m in found), (
        found
    )


def test_a_good_condition_validates_and_compiles() -> None:
    scope = {"kind": "department", "condition": "amount <= 5000000 && industry != 'catering'"}
    bundle = validate_bundle_dict(_with_scope(scope))
    assert bundle.permissions["data_scopes"]["risk_officer"]["form:application"] == scope
