"""Row fields a caller may not write, inside a repeating section the caller may write.

Field rules can name a row field (``shareholders.id_number``: masked for some role), while
the section itself stays writable: that role adds, edits and removes shareholders, but
never sees or sets their ID numbers. Rows have no identity of their own, so two rules keep
the stored values right:

- ``keep_masked``: a cell sent back exactly as the caller was shown it (the mask of the
  stored value at the same row position) means "unchanged" and takes the stored value.
  The staff pages go further and carry such cells by their original row index
  (``form_pages.data_from_form``), which survives removed rows.
- ``refused_cells``: otherwise every value of such a row field must be one the record
  already holds there, each used once: rows may be kept, moved or removed, never given a
  value the caller could not write.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from danbao.authz.fields import FieldRule, FieldRules
from danbao.authz.masking import apply_field_rules, row_rule
from danbao.records.validation import pointer_of


def locked_row_fields(rules: FieldRules, data: dict[str, Any]) -> dict[str, list[str]]:
    """Array field -> its row fields the caller may not write (named by a rule)."""
    found: dict[str, list[str]] = {}
    for name in rules:
        field, dot, sub = name.partition(".")
        if (
            dot
            and isinstance(data.get(field), list)
            and row_rule(rules, name) != FieldRule.WRITABLE
        ):
            found.setdefault(field, []).append(sub)
    return found


def keep_masked(old: dict[str, Any], new: dict[str, Any], rules: FieldRules) -> dict[str, Any]:
    """``new`` with each locked cell that repeats what the caller was shown put back."""
    locked = locked_row_fields(rules, new)
    if not locked:
        return new
    shown = apply_field_rules(old, rules)
    result = dict(new)
    for field, subs in locked.items():
        before, seen = old.get(field), shown.get(field)
        if not isinstance(before, list) or not isinstance(seen, list):
            continue
        rows = []
        for i, row in enumerate(result[field]):
            if isinstance(row, dict) and i < len(before) and isinstance(before[i], dict):
                row = dict(row)
                for sub in subs:
                    was_shown = seen[i].get(sub) if isinstance(seen[i], dict) else None
                    if sub in row and sub in before[i] and row[sub] == was_shown:
                        row[sub] = before[i][sub]
            rows.append(row)
        result[field] = rows
    return result


def refused_cells(old: dict[str, Any], new: dict[str, Any], rules: FieldRules) -> list[str]:
    """Pointers of locked cells whose value the record does not already hold there."""
    refused = []
    for field, subs in locked_row_fields(rules, new).items():
        stored = old.get(field)
        before: list[Any] = stored if isinstance(stored, list) else []
        for sub in subs:
            stock = Counter(_key(r.get(sub)) for r in before if isinstance(r, dict) and sub in r)
            for i, row in enumerate(new[field]):
                if not isinstance(row, dict) or sub not in row:
                    continue
                key = _key(row[sub])
                if stock[key] > 0:
                    stock[key] -= 1
                else:
                    refused.append(pointer_of([field, i, sub]))
    return refused


def _key(value: Any) -> str:
    return repr(value)
