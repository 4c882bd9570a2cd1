"""Checking a record's data against its form's JSON Schema.

A draft may be incomplete, so saving one checks only the fields that are present (type,
format, limits; ``required`` is dropped at every depth); submitting checks the whole
schema. Each refusal is a :class:`FieldError` with a JSON pointer and a message in the
caller's language, never the value itself (ID numbers must not be reflected).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jsonschema import Draft202012Validator, ValidationError, validators

from danbao.forms import InvalidValue, format_checker
from danbao.forms.dictionaries import DEPARTMENTS, Lookups
from danbao.forms.kinds import DATE_RANGE, expand, range_is_reversed
from danbao.records.definition import FormDefinition
from danbao.records.messages import field_message

# Keywords that make a value mandatory; a draft drops them.
_MANDATORY = ("required", "dependentRequired")


@dataclass(frozen=True)
class FieldError:
    pointer: str
    message: str

    def as_json(self) -> dict[str, str]:
        return {"pointer": self.pointer, "message": self.message}


def pointer_of(path: list[str | int] | tuple[str | int, ...]) -> str:
    """RFC 6901: ``~`` and ``/`` in a key are escaped."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)


def validate_data(
    form: FormDefinition, data: dict[str, Any], *, complete: bool, locale: str
) -> list[FieldError]:
    """Every problem with ``data``, one per field (the most specific), by pointer."""
    found: dict[str, tuple[str, FieldError]] = {}
    for key in data:
        if key not in form.properties:
            found[pointer_of([key])] = ("unknown", _error(form, [key], "unknown", locale))
    for error in _validator(form, complete).iter_errors(data):
        for path, keyword, limit in _expand(error):
            pointer = pointer_of(path)
            current = found.get(pointer)
            # A format check says more than a pattern; otherwise the first one stands.
            if current is None or (keyword == "format" and current[0] != "format"):
                found[pointer] = (keyword, _error(form, path, keyword, locale, limit, error))
    return [found[p][1] for p in sorted(found)]


def _expand(error: ValidationError) -> list[tuple[list[str | int], str, object]]:
    path = list(error.absolute_path)
    keyword = str(error.validator)
    if keyword == "required" and isinstance(error.instance, dict):
        missing = [n for n in error.validator_value if n not in error.instance]
        return [([*path, name], keyword, None) for name in missing]
    return [(path, keyword, error.validator_value)]


def _error(
    form: FormDefinition,
    path: list[str | int],
    keyword: str,
    locale: str,
    limit: object = "",
    error: ValidationError | None = None,
) -> FieldError:
    pointer = pointer_of(path)
    if keyword == "format" and error is not None and isinstance(error.cause, InvalidValue):
        # Our formats explain themselves (checksum, birth date …) without the value.
        label = form.label(str(path[0]), locale) if path else ""
        reason = error.cause.invalid.message(locale)
        return FieldError(pointer, f"{label}：{reason}" if locale != "en" else f"{label}: {reason}")
    label = form.label(str(path[0]), locale) if path else form.form_id
    return FieldError(pointer, field_message(keyword, locale, label, limit))


def _validator(form: FormDefinition, complete: bool) -> Draft202012Validator:
    return _compiled(form.schema_json, complete, form.lookups)


@lru_cache(maxsize=256)
def _compiled(schema_json: bytes, complete: bool, lookups: Lookups) -> Draft202012Validator:
    # Keyed by content, so a new definition version simply compiles anew.
    schema = _choices_as_enum(expand(json.loads(schema_json)))
    if not complete:
        schema = _without_mandatory(schema)
    cls = validators.extend(Draft202012Validator, _keywords(lookups))
    validator: Draft202012Validator = cls(schema, format_checker=format_checker())
    return validator


def _keywords(lookups: Lookups) -> dict[str, Any]:
    """Our ``x-`` keywords as jsonschema keywords, bound to one version's dictionaries."""

    def codes_in(name: str, instance: Any) -> Iterator[ValidationError]:
        dictionary = lookups.get(name)
        values = instance if isinstance(instance, list) else [instance]
        for index, value in enumerate(values):
            if not isinstance(value, str):
                continue  # "type" reports it
            if dictionary is None or value not in dictionary.codes:
                path = [index] if isinstance(instance, list) else []
                yield ValidationError(f"not a code of {name!r}", path=path)

    def dictionary(_v: Any, name: Any, instance: Any, _s: Any) -> Iterator[ValidationError]:
        yield from codes_in(str(name), instance)

    def picker(_v: Any, which: Any, instance: Any, _s: Any) -> Iterator[ValidationError]:
        # Users live in the database: records.references checks them, asynchronously.
        if which == "department":
            yield from codes_in(DEPARTMENTS, instance)

    def kind(_v: Any, name: Any, instance: Any, _s: Any) -> Iterator[ValidationError]:
        if name == DATE_RANGE and range_is_reversed(instance):
            yield ValidationError("the end is before the start", path=["end"])

    return {"x-dictionary": dictionary, "x-picker": picker, "x-kind": kind}


# Keywords whose value maps names (field keys, definitions) to subschemas: a field may
# well be called "required", so their keys are never dropped.
_NAME_MAPS = ("properties", "patternProperties", "$defs", "dependentSchemas")


def _without_mandatory(schema: Any) -> Any:
    if isinstance(schema, list):
        return [_without_mandatory(v) for v in schema]
    if not isinstance(schema, dict):
        return schema
    return {
        key: (
            {name: _without_mandatory(sub) for name, sub in value.items()}
            if key in _NAME_MAPS and isinstance(value, dict)
            else _without_mandatory(value)
        )
        for key, value in schema.items()
        if key not in _MANDATORY
    }


# Keywords whose values are data, not subschemas: never rewritten.
_DATA = ("const", "enum", "default", "examples")
# What a choice may carry besides its constant without changing what it accepts.
_ANNOTATIONS = frozenset({"const", "title", "description", "$comment", "deprecated"})


def _choices_as_enum(schema: Any) -> Any:
    """Choice lists written as ``oneOf`` of ``{const, title}`` become the equivalent ``enum``.

    jsonschema checks each option of a ``oneOf`` as a subschema and builds an error for
    every option that does not match, which made choices the costliest fields of a form
    (a 150-field form validated in half the time without it). With distinct string
    constants a value matches exactly one option iff it is one of them, and a refusal
    reads the same (``oneOf`` and ``enum`` share their message).
    """
    if isinstance(schema, list):
        return [_choices_as_enum(v) for v in schema]
    if not isinstance(schema, dict):
        return schema
    result: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "oneOf" and "enum" not in schema and _is_choice_list(value):
            result["enum"] = [option["const"] for option in value]
        elif key in _NAME_MAPS and isinstance(value, dict):
            result[key] = {name: _choices_as_enum(sub) for name, sub in value.items()}
        elif key in _DATA or key.startswith("x-"):
            result[key] = value
        else:
            result[key] = _choices_as_enum(value)
    return result


def _is_choice_list(options: Any) -> bool:
    if not isinstance(options, list) or not options:
        return False
    constants = []
    for option in options:
        if not isinstance(option, dict) or not isinstance(option.get("const"), str):
            return False
        if any(k not in _ANNOTATIONS and not k.startswith("x-") for k in option):
            return False
        constants.append(option["const"])
    return len(set(constants)) == len(constants)
