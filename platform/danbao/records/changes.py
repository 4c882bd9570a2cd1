"""What an edit changed, field by field: for the audit trail and the write guard."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from danbao.authz.fields import FieldRule, FieldRules
from danbao.records.validation import pointer_of

CHANGED = "[changed]"
SENSITIVE = "[sensitive]"
_MISSING = object()


@dataclass(frozen=True)
class FieldChange:
    field: str
    old: Any
    new: Any

    @property
    def pointer(self) -> str:
        return pointer_of([self.field])


def diff_fields(old: dict[str, Any], new: dict[str, Any]) -> list[FieldChange]:
    """Top-level fields whose value differs (added and removed ones have None on one side)."""
    changes = []
    for field in sorted(old.keys() | new.keys()):
        before, after = old.get(field, _MISSING), new.get(field, _MISSING)
        if before != after:
            changes.append(
                FieldChange(
                    field,
                    None if before is _MISSING else before,
                    None if after is _MISSING else after,
                )
            )
    return changes


def not_writable(changes: list[FieldChange], rules: FieldRules) -> list[FieldChange]:
    """Changes to fields the caller may see at most (hidden, masked or readonly)."""
    return [c for c in changes if rules.rule(c.field) != FieldRule.WRITABLE]


def audit_changes(
    changes: list[FieldChange],
    sensitive: frozenset[str],
    sensitive_rows: Mapping[str, frozenset[str]] | None = None,
) -> list[dict[str, Any]]:
    """The change list for an audit event; sensitive fields say only that they changed, and
    the sensitive cells of repeating sections read ``[sensitive]``."""
    rows = sensitive_rows or {}
    return [
        {"pointer": c.pointer, "old": CHANGED, "new": CHANGED}
        if c.field in sensitive
        else {
            "pointer": c.pointer,
            "old": _redacted(c.old, rows.get(c.field)),
            "new": _redacted(c.new, rows.get(c.field)),
        }
        for c in changes
    ]


def _redacted(value: Any, subs: frozenset[str] | None) -> Any:
    if not subs or not isinstance(value, list):
        return value
    return [
        {k: SENSITIVE if k in subs and v is not None else v for k, v in row.items()}
        if isinstance(row, dict)
        else row
        for row in value
    ]
