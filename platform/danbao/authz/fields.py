"""Field rules: what a role may do with one field of a form, and how rules combine."""

from __future__ import annotations

from enum import StrEnum


class FieldRule(StrEnum):
    """Listed from least to most permissive: the combining functions rely on this order."""

    HIDDEN = "hidden"
    MASKED = "masked"
    READONLY = "readonly"
    WRITABLE = "writable"


_ORDER = {rule: rank for rank, rule in enumerate(FieldRule)}


def most_permissive(rules: list[FieldRule]) -> FieldRule:
    """A user holding several roles gets the most a role gives; no role gives nothing."""
    return max(rules, key=_ORDER.__getitem__, default=FieldRule.HIDDEN)


def least_permissive(a: FieldRule, b: FieldRule) -> FieldRule:
    return a if _ORDER[a] <= _ORDER[b] else b


class FieldRules(dict[str, FieldRule]):
    """Field key -> rule for one user on one form, with the rule of every unnamed field.

    The permission matrix knows only the fields it names; every other field of the form
    takes ``default`` (writable where the user may update the form, readonly where they
    may only read it, hidden where they may not even read it). Use ``rule(field)``, not
    indexing, to get that fallback.
    """

    def __init__(self, rules: dict[str, FieldRule], default: FieldRule) -> None:
        super().__init__(rules)
        self.default = default

    def rule(self, field: str) -> FieldRule:
        return self.get(field, self.default)

    def __repr__(self) -> str:
        return f"FieldRules({dict(self)!r}, default={self.default.value!r})"
