"""Applying field rules to a record before it leaves the server (pages and API payloads)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .fields import FieldRule, FieldRules, least_permissive

MASK = "*"


def mask_value(value: str) -> str:
    """Keep the head and tail a Chinese back office is used to seeing, star the rest.

    - 18-digit resident ID: first 4 (the region) and last 4:  ``1101**********1234``
    - 11-digit mobile: first 3 (the carrier) and last 4:      ``138****5678``
    - anything else longer than 4 (bank cards, account numbers, names): last 4 only
    - 4 characters or fewer: all starred, since a "tail" would be the whole value

    The length is kept, so a masked value still looks like what it is.
    """
    length = len(value)
    if length == 18 and value[:17].isdigit():
        head, tail = 4, 4
    elif length == 11 and value.isdigit() and value.startswith("1"):
        head, tail = 3, 4
    elif length > 4:
        head, tail = 0, 4
    else:
        head, tail = 0, 0
    return value[:head] + MASK * (length - head - tail) + value[length - tail :]


def apply_field_rules(data: Mapping[str, Any], rules: Mapping[str, str]) -> dict[str, Any]:
    """A copy of ``data`` with hidden fields removed and masked fields masked.

    Readonly and writable fields pass unchanged (editing is the form's concern). A field
    ``rules`` does not name takes ``rules.default`` when ``rules`` is a FieldRules (so a
    user who cannot read the form gets nothing), else passes unchanged. Masking applies
    to scalar values; a masked list or object is replaced by a mask, not walked. The rows
    of a repeating section that is shown are walked for rules naming a row field
    (``shareholders.id_number``), each capped by the section's own rule.
    """
    default = rules.default if isinstance(rules, FieldRules) else FieldRule.WRITABLE
    row_rules = _row_rules(rules)
    result: dict[str, Any] = {}
    for field, value in data.items():
        rule = rules.get(field, default)
        if rule == FieldRule.HIDDEN:
            continue
        if rule == FieldRule.MASKED and value is not None:
            value = _masked(value)
        elif field in row_rules and isinstance(value, list):
            value = [_row(row, row_rules[field], FieldRule(rule)) for row in value]
        result[field] = value
    return result


def row_rule(rules: Mapping[str, str], path: str) -> FieldRule:
    """The rule of the row field ``<array field>.<row field>``: its own, capped by the
    array field's (a hidden section hides its rows' fields, a readonly one makes them
    readonly)."""
    default = rules.default if isinstance(rules, FieldRules) else FieldRule.WRITABLE
    parent = FieldRule(rules.get(path.partition(".")[0], default))
    return least_permissive(FieldRule(rules.get(path, parent)), parent)


def _masked(value: Any) -> Any:
    return mask_value(str(value)) if isinstance(value, str | int) else MASK * 4


def _row_rules(rules: Mapping[str, str]) -> dict[str, dict[str, str]]:
    found: dict[str, dict[str, str]] = {}
    for name, rule in rules.items():
        if "." in name:
            field, _, sub = name.partition(".")
            found.setdefault(field, {})[sub] = rule
    return found


def _row(row: Any, named: Mapping[str, str], parent: FieldRule) -> Any:
    if not isinstance(row, dict):
        return row
    shown: dict[str, Any] = {}
    for sub, value in row.items():
        rule = least_permissive(FieldRule(named.get(sub, parent)), parent)
        if rule == FieldRule.HIDDEN:
            continue
        shown[sub] = _masked(value) if rule == FieldRule.MASKED and value is not None else value
    return shown
