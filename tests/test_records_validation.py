"""Record validation: choice lists checked as enums, validators compiled once per form."""

from __future__ import annotations

import gc
import uuid
from typing import Any

from danbao.definitions import Bundle, load_bundle
from danbao.records.definition import _OF_BUNDLE, FormDefinition
from danbao.records.validation import _choices_as_enum, _compiled, validate_data

from .conftest import TEMPLATE

CHOICES = [{"const": "micro", "title": "微型企业"}, {"const": "small", "title": "小型企业"}]


def _form(properties: dict[str, Any], required: list[str] | None = None) -> FormDefinition:
    schema = {"type": "object", "properties": properties, "required": required or []}
    return FormDefinition("f", {"id": "f", "schema": schema, "ui": {"layout": []}})


def _errors(form: FormDefinition, data: dict[str, Any], complete: bool = True) -> list[str]:
    return [
        f"{e.pointer} {e.message}"
        for e in validate_data(form, data, complete=complete, locale="zh-CN")
    ]


def test_a_choice_outside_the_list_is_refused_beside_its_field() -> None:
    form = _form(
        {
            "size": {"type": "string", "title": "企业规模", "oneOf": CHOICES},
            "rows": {
                "type": "array",
                "title": "股东",
                "items": {"type": "object", "properties": {"kind": {"oneOf": CHOICES}}},
            },
        },
        required=["size"],
    )
    assert _errors(form, {"size": "small", "rows": [{"kind": "micro"}]}) == []
    refused = ["/rows/1/kind 股东不是允许的选项", "/size 企业规模不是允许的选项"]
    bad = {"size": "huge", "rows": [{"kind": "small"}, {"kind": "tiny"}]}
    assert _errors(form, bad) == refused
    assert _errors(form, bad, complete=False) == refused
    assert _errors(form, {"size": 3}) == ["/size 企业规模不是允许的选项"]  # as with oneOf


def test_only_plain_lists_of_distinct_strings_become_enums() -> None:
    # Each of these still means oneOf: exactly one option may match.
    twice = [{"const": "a"}, {"const": "a"}]
    numbers = [{"const": 1}, {"const": 1.0}]  # equal in JSON Schema: 1 matches both
    guarded = [{"const": "a", "title": "A"}, {"type": "string", "maxLength": 3}]
    schema = {
        "properties": {
            "twice": {"oneOf": twice},
            "numbers": {"oneOf": numbers},
            "guarded": {"oneOf": guarded},
            "oneOf": {"oneOf": CHOICES},  # a field may carry a keyword's name
        }
    }
    rewritten = _choices_as_enum(schema)["properties"]
    assert rewritten["twice"] == {"oneOf": twice}
    assert rewritten["numbers"] == {"oneOf": numbers}
    assert rewritten["guarded"] == {"oneOf": guarded}
    assert rewritten["oneOf"] == {"enum": ["micro", "small"]}
    form = _form(schema["properties"])
    assert _errors(form, {"twice": "a", "numbers": 1, "guarded": "a"}) == [
        "/guarded guarded不是允许的选项",
        "/numbers numbers不是允许的选项",
        "/twice twice不是允许的选项",
    ]
    assert _errors(form, {"guarded": "xyz", "oneOf": "micro"}) == []


def test_validators_are_compiled_once_per_form_of_a_bundle() -> None:
    files = load_bundle(TEMPLATE).to_dict()
    files["forms/application.json"]["schema"]["$comment"] = uuid.uuid4().hex  # new to the cache
    bundle = Bundle.from_dict(files)
    form = FormDefinition.from_bundle(bundle, "application")
    assert FormDefinition.from_bundle(bundle, "application") is form
    validate_data(form, {}, complete=True, locale="zh-CN")
    compiled = _compiled.cache_info()
    for complete in (True, False, True):
        again = FormDefinition.from_bundle(bundle, "application")
        validate_data(again, {"amount": -1}, complete=complete, locale="en")
    after = _compiled.cache_info()
    assert after.misses == compiled.misses + 1  # the draft's validator, once
    assert after.hits == compiled.hits + 2


def test_a_bundles_forms_go_with_it() -> None:
    bundle = Bundle.from_dict(load_bundle(TEMPLATE).to_dict())
    key = id(bundle)
    FormDefinition.from_bundle(bundle, "application")
    assert key in _OF_BUNDLE
    del bundle
    gc.collect()
    assert key not in _OF_BUNDLE
