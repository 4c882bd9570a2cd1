"""What an edit changed, field by field: for the audit trail and the write guard."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from danbao.authz.fields import FieldRule, FieldRules
from danbao.records.validation import pointer_of

CHANGED = "[changed]"
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


def audit_changes(changes: list[FieldChange], sensitive: frozenset[str]) -> list[dict[str, Any]]:
    """The change list for an audit event; sensitive fields say only that they changed."""
    return [
        {"pointer": c.pointer, "old": CHANGED, "new": CHANGED}
        if c.field in sensitive
        else {"pointer": c.pointer, "old": c.old, "new": c.new}
        for c in changes
    ]
