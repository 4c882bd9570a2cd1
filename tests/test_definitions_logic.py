"""Definition checks of conditional logic and computed fields: each fault named by file and
JSON pointer, all at once, and nothing published."""

from __future__ import annotations

from typing import Any

from danbao.definitions import validate_bundle_dict

from .test_definitions import errors_of, files, find

FILE = "forms/loan.json"


def with_logic(fields: dict[str, Any], **properties: Any) -> dict[str, Any]:
    """The small bundle of test_definitions, its form given a repeating section and ``fields``."""
    content = files()
    form = content[FILE]
    form["schema"]["properties"].update(
        {
            "related": {"type": "boolean"},
            "note": {"type": "string"},
            "coverage": {"type": "number"},
            "age": {"type": "integer"},
            "items": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "kind": {"type": "string", "enum": ["mortgage", "pledge"]},
                        "value": {"type": "number"},
                        "haircut": {"type": "number"},
                        "net": {"type": "number"},
                    },
                },
            },
            **properties,
        }
    )
    form["ui"]["layout"][0]["fields"] += ["related", "note", "coverage", "age", "items"]
    form["ui"]["fields"] = fields
    return content


def test_valid_logic_passes() -> None:
    validate_bundle_dict(
        with_logic(
            {
                "note": {"visible_when": "related", "required_when": "related == true"},
                "age": {"compute": "id_age(id_number)"},
                "coverage": {"compute": "sum(items.map(i, i.net)) / amount", "places": 4},
                "amount": {"readonly_when": "age > 60"},
                "items": {
                    "items": {
                        "haircut": {"visible_when": 'row.kind == "pledge" && amount > 0'},
                        "net": {"compute": "row.value * (1.0 - row.haircut)"},
                    }
                },
            }
        )
    )


def test_unknown_fields_functions_and_row_keys() -> None:
    errors = errors_of(
        with_logic(
            {
                "note": {"visible_when": "relatd == true", "required_when": "kind == 1"},
                "age": {"compute": "years(id_number)"},
                "items": {"items": {"net": {"compute": "row.valeu * 2"}}},
            }
        )
    )
    find(errors, FILE, "/ui/fields/note/visible_when", "'relatd' is not a field of form 'loan'")
    find(errors, FILE, "/ui/fields/note/required_when", "'kind' is not a field")
    find(errors, FILE, "/ui/fields/age/compute", "unknown function 'years'")
    find(errors, FILE, "/ui/fields/items/items/net/compute", "'valeu' is not a field of the rows")


def test_row_outside_a_repeating_section() -> None:
    errors = errors_of(with_logic({"note": {"visible_when": 'row.kind == "pledge"'}}))
    find(errors, FILE, "/ui/fields/note/visible_when", "exists only in the fields of a repeating")


def test_type_incompatible_comparisons_in_fields_and_rows() -> None:
    errors = errors_of(
        with_logic(
            {
                "note": {"visible_when": 'amount > "5000000"'},
                "items": {"items": {"haircut": {"visible_when": "row.kind == 1"}}},
            }
        )
    )
    find(errors, FILE, "/ui/fields/note/visible_when", "compares 'amount' (number) with a string")
    find(
        errors,
        FILE,
        "/ui/fields/items/items/haircut/visible_when",
        "compares 'row.kind' (string) with a number",
    )


def test_cycles_among_computed_fields() -> None:
    errors = errors_of(
        with_logic(
            {
                "coverage": {"compute": "age * 1.5"},
                "age": {"compute": "int(coverage)"},
                "items": {"items": {"net": {"compute": "row.net + 1.0"}}},
            }
        )
    )
    cycle = [e for e in errors if "computed fields are circular" in e.message]
    assert len(cycle) == 2, errors
    assert {e.pointer for e in cycle} <= {
        "/ui/fields/coverage/compute",
        "/ui/fields/age/compute",
        "/ui/fields/items/items/net/compute",
    }
    find(errors, FILE, "/ui/fields/items/items/net/compute", "items[].net → items[].net")


def test_keys_that_do_not_belong() -> None:
    errors = errors_of(
        with_logic(
            {
                "note": {"items": {"x": {"visible_when": "true"}}, "places": 2},
                "items": {
                    "compute": "1",
                    "items": {
                        "kind": {"readonly_when": "amount > 0"},
                        "ghost": {"visible_when": "true"},
                    },
                },
            }
        )
    )
    find(errors, FILE, "/ui/fields/note/items", "only to a repeating section")
    find(errors, FILE, "/ui/fields/note/places", "only to a computed number")
    find(errors, FILE, "/ui/fields/items/compute", "a computed field holds a number")
    find(errors, FILE, "/ui/fields/items/items/kind/readonly_when", "rows have no identity")
    find(errors, FILE, "/ui/fields/items/items/ghost", "'ghost' is not a field of the rows")


def test_meta_schema_refuses_unknown_logic_keys() -> None:
    errors = errors_of(with_logic({"note": {"hidden_when": "true", "places": 12}}))
    assert any(e.pointer.startswith("/ui/fields/note") for e in errors), errors


def test_syntax_errors_are_reported_where_they_are() -> None:
    errors = errors_of(with_logic({"coverage": {"compute": "amount * (1.0 -"}}))
    find(errors, FILE, "/ui/fields/coverage/compute", "not a valid CEL expression")
