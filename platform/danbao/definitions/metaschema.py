"""Validating each definition file against its meta-schema in ``schemas/``.

jsonschema's own messages are written for programmers and can quote a whole
document; these are rewritten to name the offending key and point at it.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from .errors import DefinitionError, join, pointer
from .layout import JSON_KINDS, Kind

DEFAULT_SCHEMAS_DIR = Path(__file__).resolve().parents[3] / "schemas"

_JSON_TYPES = {
    dict: "an object",
    list: "an array",
    str: "a string",
    bool: "a boolean",
    int: "an integer",
    float: "a number",
    type(None): "null",
}
_TYPE_NAMES = {
    "object": "an object",
    "array": "an array",
    "string": "a string",
    "boolean": "a boolean",
    "integer": "an integer",
    "number": "a number",
    "null": "null",
}


@lru_cache(maxsize=8)
def validators(schemas_dir: Path) -> dict[Kind, Draft202012Validator]:
    """Load and compile every meta-schema once per schemas folder."""
    compiled: dict[Kind, Draft202012Validator] = {}
    for kind in JSON_KINDS:
        path = schemas_dir / f"{kind.value}.schema.json"
        # A broken meta-schema is a deployment fault, not the tenant's: let it raise.
        schema = json.loads(path.read_text(encoding="utf-8"))
        Draft202012Validator.check_schema(schema)
        compiled[kind] = Draft202012Validator(schema)
    return compiled


def validate(
    kind: Kind, file: str, content: Any, schemas_dir: Path | None = None
) -> list[DefinitionError]:
    if kind is Kind.TEMPLATE:
        # Templates are text; their checks (syntax, names, filters) are in templates.py.
        if isinstance(content, str):
            return []
        return [DefinitionError(file, "", "a template is HTML text")]
    validator = validators((schemas_dir or DEFAULT_SCHEMAS_DIR).resolve())[kind]
    return translate_all(file, validator.iter_errors(content))


def translate_all(file: str, errors: Any, prefix: str = "") -> list[DefinitionError]:
    """Rewrite jsonschema errors, dropping repeats (``required`` reports one per key)."""
    out: list[DefinitionError] = []
    for error in errors:
        for item in _translate(file, error, prefix):
            if item not in out:
                out.append(item)
    return out


def _translate(file: str, error: ValidationError, prefix: str) -> list[DefinitionError]:
    where = prefix + pointer(*error.absolute_path)
    schema = error.schema if isinstance(error.schema, dict) else {}
    described = schema.get("description")
    instance = error.instance

    def one(message: str, at: str = where) -> list[DefinitionError]:
        return [DefinitionError(file, at, message)]

    # propertyNames errors arrive at the object; point at the offending key instead.
    if "propertyNames" in error.absolute_schema_path and isinstance(instance, str):
        hint = f": expected {described}" if described else ""
        return one(f"key {instance!r} is not allowed here{hint}", join(where, instance))
    match error.validator:
        case "required":
            return [
                DefinitionError(file, where, f"missing required key {key!r}")
                for key in error.validator_value
                if isinstance(instance, dict) and key not in instance
            ]
        case "additionalProperties":
            return [
                DefinitionError(file, join(where, key), f"unknown key {key!r}")
                for key in _extra_keys(instance, schema)
            ]
        case "type":
            wanted = error.validator_value
            names = [wanted] if isinstance(wanted, str) else list(wanted)
            expected = " or ".join(_TYPE_NAMES.get(n, n) for n in names)
            return one(f"expected {expected}, got {_JSON_TYPES.get(type(instance), '?')}")
        case "not" if error.validator_value == {}:
            key = error.absolute_path[-1] if error.absolute_path else ""
            return one(f"key {key!r} {described or 'is not allowed here'}")
        case "enum":
            options = ", ".join(_short(v) for v in error.validator_value)
            return one(f"expected one of {options}; got {_short(instance)}")
        case "const":
            return one(f"expected {_short(error.validator_value)}; got {_short(instance)}")
        case "uniqueItems":
            return one("items must be unique")
        case "oneOf" | "anyOf" if not described and error.context:
            return _translate(file, best_match(error.context), prefix)
    if described:
        return one(f"expected {described}; got {_short(instance)}")
    return one(_clip(error.message))


def _extra_keys(instance: Any, schema: dict[str, Any]) -> list[str]:
    if not isinstance(instance, dict):
        return []
    known = schema.get("properties", {})
    patterns = [re.compile(p) for p in schema.get("patternProperties", {})]
    return [
        key for key in instance if key not in known and not any(p.search(key) for p in patterns)
    ]


def _short(value: Any) -> str:
    return _clip(json.dumps(value, ensure_ascii=False), 60)


def _clip(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
