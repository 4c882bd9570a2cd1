"""Applying field rules to a record before it leaves the server (pages and API payloads)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .fields import FieldRule, FieldRules

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
    to scalar values; a masked list or object is replaced by a mask, not walked.
    """
    default = rules.default if isinstance(rules, FieldRules) else FieldRule.WRITABLE
    result: dict[str, Any] = {}
    for field, value in data.items():
        rule = rules.get(field, default)
        if rule == FieldRule.HIDDEN:
            continue
        if rule == FieldRule.MASKED and value is not None:
            value = mask_value(str(value)) if isinstance(value, str | int) else MASK * 4
        result[field] = value
    return result
