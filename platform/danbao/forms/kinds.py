"""The schemas behind ``x-kind`` fields, filled in before a record is validated.

An author writes ``{"title": "担保期间", "x-kind": "date_range"}``; validation sees the
whole structure below, so drafts, ``required`` and messages work as for any object. The
one rule JSON Schema cannot say — a range's end not before its start — is the
``x-kind`` keyword's own check in :mod:`danbao.records.validation`.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from datetime import date
from typing import Any

from danbao.forms.richtext import plain_text

DATE_RANGE = "date_range"
ADDRESS = "address"
RICHTEXT = "richtext"

ADDRESS_DETAIL_MAX = 200
RICHTEXT_MAX = 20000
_MAPS = ("properties", "patternProperties", "$defs", "dependentSchemas")


def _structure(node: dict[str, Any]) -> dict[str, Any]:
    kind = node["x-kind"]
    if kind == DATE_RANGE:
        day = {"type": "string", "format": "date"}
        return {
            "type": "object",
            "properties": {"start": dict(day), "end": dict(day)},
            "required": ["start", "end"],
            "additionalProperties": False,
        }
    if kind == ADDRESS:
        return {
            "type": "object",
            "properties": {
                "region": {"type": "string", "x-dictionary": node["x-dictionary"]},
                "detail": {"type": "string", "minLength": 1, "maxLength": ADDRESS_DETAIL_MAX},
            },
            "required": ["region", "detail"],
            "additionalProperties": False,
        }
    return {"type": "string", "maxLength": node.get("maxLength", RICHTEXT_MAX)}


def expand(schema: Any) -> Any:
    """A copy of ``schema`` with every ``x-kind`` property given its structure."""
    if isinstance(schema, list):
        return [expand(v) for v in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _MAPS and isinstance(value, dict):
            out[key] = {name: expand(sub) for name, sub in value.items()}
        else:
            out[key] = expand(value)
    if isinstance(out.get("x-kind"), str) and out["x-kind"] in (DATE_RANGE, ADDRESS, RICHTEXT):
        structure = _structure(out)
        if out["x-kind"] == ADDRESS:
            out.pop("x-dictionary", None)  # it now sits on the region
        out.update(copy.deepcopy(structure))
    return out


def kind_of(prop: Any) -> str | None:
    kind = prop.get("x-kind") if isinstance(prop, dict) else None
    return kind if isinstance(kind, str) else None


def range_is_reversed(value: Any) -> bool:
    """True when a date range's end is before its start (both valid dates)."""
    if not isinstance(value, dict):
        return False
    try:
        start = date.fromisoformat(str(value["start"]))
        end = date.fromisoformat(str(value["end"]))
    except (KeyError, ValueError):
        return False  # a missing or malformed date is the format's and required's to report
    return end < start


def as_text(kind: str, value: Any, names: Mapping[str, str] | None = None) -> str:
    """One line for a list or an export: ``2026-01-01 ~ 2026-12-31``, ``四川省 / … 1号``.

    ``names``: region code -> its display, for an address.
    """
    if kind == DATE_RANGE and isinstance(value, dict):
        return f"{value.get('start', '')} ~ {value.get('end', '')}"
    if kind == ADDRESS and isinstance(value, dict):
        region = str(value.get("region", ""))
        shown = (names or {}).get(region, region)
        return " ".join(p for p in (shown, str(value.get("detail", ""))) if p)
    if kind == RICHTEXT and isinstance(value, str):
        return plain_text(value)
    return "" if value is None else str(value)
