"""Data scope: which records of a form a user sees, as a filter the query applies.

The filter goes into the query itself (never "load, then drop what the user may not
see"), so pagination, counts and reports are right and hidden rows never leave the
database.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from danbao.definitions.errors import join
from danbao.definitions.scope_conditions import ScopeCondition

from .departments import DepartmentTree


class ScopeKind(StrEnum):
    """Listed from narrowest to widest: ``widest`` relies on this order."""

    NONE = "none"
    OWN = "own"
    DEPARTMENT = "department"
    DEPARTMENT_TREE = "department_tree"
    ALL = "all"


_WIDTH = {kind: rank for rank, kind in enumerate(ScopeKind)}


@dataclass(frozen=True)
class Scope:
    """A kind of scope, where it came from, and (once resolved) the departments it covers.

    ``role`` is the held role whose scope decided and ``pointer`` the JSON pointer into
    permissions.json that declared it (None when the role reads without a declared
    scope, which means "own"), so the explainer can name both.
    """

    kind: ScopeKind
    departments: frozenset[str] | None = None
    role: str | None = None
    pointer: str | None = None
    condition: ScopeCondition | None = None
    """Narrows the kind: a record is in this scope when it is in the kind *and* the
    condition holds for it."""

    @property
    def condition_pointer(self) -> str | None:
        if self.condition is None or self.pointer is None:
            return None
        return join(self.pointer, "condition")

    def resolve(self, department: str | None, tree: DepartmentTree) -> Scope:
        """The departments this scope covers for a user in ``department``."""
        if self.kind is ScopeKind.DEPARTMENT and department is not None:
            return replace(self, departments=frozenset({department}))
        if self.kind is ScopeKind.DEPARTMENT_TREE and department is not None:
            return replace(self, departments=tree.subtree(department))
        return self


NOTHING = Scope(ScopeKind.NONE)


def widest(scopes: list[Scope]) -> Scope:
    """Several roles: the user sees what the most generous of them sees."""
    return max(scopes, key=lambda s: _WIDTH[s.kind], default=NOTHING)


@dataclass(frozen=True)
class DataScope:
    """What a user sees of one resource: the union of ``parts``; no parts, nothing.

    Kinds alone are nested (own within department within … all), so of the parts without
    a condition only the widest is kept. A conditioned part is not comparable with the
    others and stays beside them, unless an unconditioned ``all`` covers everything.
    """

    parts: tuple[Scope, ...]

    @classmethod
    def union(cls, scopes: list[Scope]) -> DataScope:
        plain = [s for s in scopes if s.condition is None]
        best = widest(plain) if plain else None
        if best is not None and best.kind is ScopeKind.ALL:
            return cls((best,))
        parts = [best] if best is not None else []
        seen = set()
        for scope in scopes:
            if scope.condition is not None and (scope.kind, scope.condition) not in seen:
                seen.add((scope.kind, scope.condition))
                parts.append(scope)
        return cls(tuple(parts))

    @property
    def widest(self) -> Scope:
        """The widest part by kind (conditions aside); NOTHING when there is none."""
        return widest(list(self.parts))


def scope_filter(
    scope: Scope, *, user_id: uuid.UUID | str, department: str | None, tree: DepartmentTree
) -> dict[str, Any] | None:
    """Tortoise filter kwargs limiting a records query to ``scope``; None means "no rows".

    Contract with the records table (built by the forms issue): every record carries
    ``created_by`` (the creating user's id) and ``department`` (the department id the
    record belongs to, from its creator's department at creation). The result goes
    straight into ``.filter(**kwargs)`` next to the tenant filter; a caller that gets
    None must return an empty result without querying, never drop the filter.

    - own -> ``{"created_by": user_id}``
    - department -> ``{"department": department}``
    - department_tree -> ``{"department__in": [department and every department below]}``
    - all -> ``{}`` (every record of the tenant; the tenant filter still applies)
    - none -> None

    A user in no department who holds a department scope sees the records they created:
    nothing they did not already know, and never "every record with no department".
    """
    if scope.kind is ScopeKind.NONE:
        return None
    if scope.kind is ScopeKind.ALL:
        return {}
    if scope.kind is ScopeKind.OWN or department is None:
        return {"created_by": user_id}
    if scope.kind is ScopeKind.DEPARTMENT:
        return {"department": department}
    covered = scope.resolve(department, tree).departments or frozenset({department})
    return {"department__in": sorted(covered)}
