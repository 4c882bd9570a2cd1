"""Checks on a form's embedded JSON Schema and on its layout.

The embedded schema validates real records later, so a typo in it (``"maxLenght"``)
would silently switch validation off: unknown keywords are errors, like everywhere
else in a bundle. References stay inside the form; nothing is fetched.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.validators import validator_for

from .attachments import definition_problems
from .conditions import check_condition
from .errors import DefinitionError, join, pointer
from .fieldkinds import check_vocabulary, declared_type
from .formlogic import check_logic
from .metaschema import translate_all

_KEYWORDS = frozenset(
    {
        # core
        "$schema",
        "$ref",
        "$anchor",
        "$comment",
        "$defs",
        # applicators
        "prefixItems",
        "items",
        "contains",
        "additionalProperties",
        "properties",
        "patternProperties",
        "dependentSchemas",
        "propertyNames",
        "if",
        "then",
        "else",
        "allOf",
        "anyOf",
        "oneOf",
        "not",
        "unevaluatedItems",
        "unevaluatedProperties",
        # validation
        "type",
        "const",
        "enum",
        "multipleOf",
        "maximum",
        "exclusiveMaximum",
        "minimum",
        "exclusiveMinimum",
        "maxLength",
        "minLength",
        "pattern",
        "maxItems",
        "minItems",
        "uniqueItems",
        "maxContains",
        "minContains",
        "maxProperties",
        "minProperties",
        "required",
        "dependentRequired",
        # annotations
        "title",
        "description",
        "default",
        "deprecated",
        "readOnly",
        "writeOnly",
        "examples",
        "format",
        "contentEncoding",
        "contentMediaType",
        "contentSchema",
    }
)
_SINGLE = (
    "additionalProperties",
    "propertyNames",
    "items",
    "contains",
    "if",
    "then",
    "else",
    "not",
    "unevaluatedItems",
    "unevaluatedProperties",
    "contentSchema",
)
_MAPS = ("properties", "patternProperties", "$defs", "dependentSchemas")
_LISTS = ("prefixItems", "allOf", "anyOf", "oneOf")
# These change how references resolve; a form has no use for them.
_UNSUPPORTED = frozenset({"$id", "$vocabulary", "$dynamicRef", "$dynamicAnchor"})
_DIALECT = "https://json-schema.org/draft/2020-12/schema"


@lru_cache(maxsize=1)
def _schema_checker() -> Any:
    meta = Draft202012Validator.META_SCHEMA
    cls = validator_for(meta)
    # The format checker catches invalid regular expressions in "pattern".
    return cls(meta, format_checker=cls.FORMAT_CHECKER)


def check_form(file: str, form: dict[str, Any]) -> list[DefinitionError]:
    """All checks local to one form file (which already passed its meta-schema)."""
    schema = form["schema"]
    errors = translate_all(file, _schema_checker().iter_errors(schema), prefix="/schema")
    if errors:
        return errors
    errors += _check_keywords(file, schema)
    errors += _check_layout(file, form, field_types(schema))
    return errors


def field_types(schema: dict[str, Any]) -> dict[str, frozenset[str]]:
    """Top-level field key -> the JSON types it may hold (empty when not stated)."""
    return {name: _types_of(sub) for name, sub in schema.get("properties", {}).items()}


def _types_of(sub: Any) -> frozenset[str]:
    if not isinstance(sub, dict):
        return frozenset()
    declared = sub.get("type") or declared_type(sub)
    if isinstance(declared, str):
        return frozenset({declared})
    if isinstance(declared, list):
        return frozenset(declared)
    # Enumerations written as oneOf [{const, title}] or enum: infer from the values.
    values = sub.get("enum") or [
        choice["const"]
        for choice in sub.get("oneOf", [])
        if isinstance(choice, dict) and "const" in choice
    ]
    return frozenset(_json_type(v) for v in values)


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "null" if value is None else "object"


def _subschemas(node: dict[str, Any], where: str) -> Iterator[tuple[Any, str, bool]]:
    """Direct subschemas as (schema, pointer, is it a named property)."""
    for key in _SINGLE:
        if key in node:
            yield node[key], join(where, key), False
    for key in _MAPS:
        for name, sub in node.get(key, {}).items():
            yield sub, join(where, key, name), key == "properties"
    for key in _LISTS:
        for index, sub in enumerate(node.get(key, [])):
            yield sub, join(where, key, index), False


def _check_keywords(file: str, schema: dict[str, Any]) -> list[DefinitionError]:
    errors: list[DefinitionError] = []
    stack: list[tuple[Any, str, bool]] = [(schema, "/schema", False)]
    while stack:
        node, where, is_property = stack.pop()
        if not isinstance(node, dict):
            continue
        errors += check_vocabulary(file, where, node, is_property)
        for key, value in node.items():
            at = join(where, key)
            if key in _UNSUPPORTED:
                errors.append(
                    DefinitionError(file, at, f"{key!r} is not supported in form schemas")
                )
            elif key == "$ref" and not str(value).startswith("#"):
                errors.append(
                    DefinitionError(
                        file, at, "references must stay inside the form (start with '#')"
                    )
                )
            elif key == "$schema" and value != _DIALECT:
                errors.append(DefinitionError(file, at, f"form schemas use {_DIALECT}"))
            elif key == "x-sensitive":
                errors += _check_sensitive(file, at, value, node, is_property)
            elif key == "x-attachment":
                top_level = is_property and where.count("/") == 3  # /schema/properties/<key>
                errors += [
                    DefinitionError(file, at, problem)
                    for problem in definition_problems(value, node, top_level)
                ]
            elif key not in _KEYWORDS and not key.startswith("x-"):
                errors.append(DefinitionError(file, at, f"unknown JSON Schema keyword {key!r}"))
        stack.extend(_subschemas(node, where))
    return sorted(errors, key=lambda e: e.pointer)


def _check_sensitive(
    file: str, at: str, value: Any, node: dict[str, Any], is_property: bool
) -> list[DefinitionError]:
    if not isinstance(value, bool):
        return [DefinitionError(file, at, "x-sensitive must be true or false")]
    if value and not (is_property and "string" in _types_of(node)):
        return [DefinitionError(file, at, "x-sensitive applies only to properties of type string")]
    return []


def _check_layout(
    file: str, form: dict[str, Any], fields: dict[str, frozenset[str]]
) -> list[DefinitionError]:
    errors: list[DefinitionError] = []

    def error(at: str, message: str) -> None:
        errors.append(DefinitionError(file, at, message))

    ui = form["ui"]
    placed: dict[str, str] = {}
    section_ids: set[str] = set()
    for index, section in enumerate(ui["layout"]):
        at = pointer("ui", "layout", index)
        if section["id"] in section_ids:
            error(join(at, "id"), f"duplicate section id {section['id']!r}")
        section_ids.add(section["id"])
        for position, name in enumerate(section["fields"]):
            field_at = join(at, "fields", position)
            if name not in fields:
                error(field_at, f"{name!r} is not a property of the schema")
            elif name in placed:
                error(field_at, f"{name!r} is already placed at {placed[name]}")
            else:
                placed[name] = field_at
        if "visible_when" in section:
            errors += check_condition(
                file, join(at, "visible_when"), section["visible_when"], fields, form["id"]
            )
    for name in ui.get("fields", {}):
        if name not in fields:
            error(pointer("ui", "fields", name), f"{name!r} is not a property of the schema")
    return errors + check_logic(file, form, fields)
