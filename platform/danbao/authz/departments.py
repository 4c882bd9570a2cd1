"""The tenant's department tree, with every subtree computed once at compile time."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from danbao.definitions.graph import reachable


@dataclass(frozen=True, eq=False)
class DepartmentTree:
    """``parents``: id -> parent id (None at a root); ``descendants``: id -> every id below it.

    Descendants are precomputed because a "department and below" scope is asked for on
    every list query, while the tree only changes with a new definition version.
    """

    parents: Mapping[str, str | None]
    descendants: Mapping[str, frozenset[str]]

    @classmethod
    def build(cls, departments: Iterable[Mapping[str, Any]]) -> DepartmentTree:
        parents: dict[str, str | None] = {d["id"]: d.get("parent") for d in departments}
        children: dict[str, list[str]] = {dept: [] for dept in parents}
        for dept, parent in parents.items():
            if parent in children:
                children[parent].append(dept)
        # reachable() stops at cycles, which the bundle cross-checks reject anyway.
        descendants = {dept: frozenset(reachable(dept, children) - {dept}) for dept in parents}
        return cls(MappingProxyType(parents), MappingProxyType(descendants))

    def subtree(self, department: str) -> frozenset[str]:
        """The department and every department below it (just itself if unknown)."""
        return self.descendants.get(department, frozenset()) | {department}
