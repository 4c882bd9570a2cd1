"""Differences between two bundle versions, for the admin console's diff and audit trail."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Literal

import jsonpatch
import jsonpointer

Op = Literal["add", "remove", "replace"]


@dataclass(frozen=True)
class Change:
    """One change to one file.

    Within a file, changes are JSON Patch operations: each ``pointer`` refers to the
    document as the earlier changes left it, so applying them in order turns the old
    file into the new one. A whole file added or removed is one change with pointer "".
    """

    file: str
    op: Op
    pointer: str
    old: Any = None
    new: Any = None

    def as_patch_operation(self) -> dict[str, Any]:
        if self.op == "remove":
            return {"op": "remove", "path": self.pointer}
        return {"op": self.op, "path": self.pointer, "value": self.new}


def diff_bundles(old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    """Compare two ``Bundle.to_dict()`` shapes (file path -> content)."""
    changes: list[Change] = []
    for file in sorted(old.keys() | new.keys()):
        if file not in new:
            changes.append(Change(file, "remove", "", old=old[file]))
        elif file not in old:
            changes.append(Change(file, "add", "", new=new[file]))
        elif old[file] != new[file]:
            changes += _diff_file(file, old[file], new[file])
    return changes


def _diff_file(file: str, old: Any, new: Any) -> list[Change]:
    # Replay the patch on a copy so that each change can show the value it replaced.
    doc = copy.deepcopy(old)
    changes: list[Change] = []
    for operation in jsonpatch.make_patch(old, new):
        for change in _plain(file, operation, doc):
            changes.append(change)
            doc = jsonpatch.apply_patch(doc, [change.as_patch_operation()])
    return changes


def _plain(file: str, operation: dict[str, Any], doc: Any) -> list[Change]:
    """Rewrite ``move`` and ``copy`` as the add / remove they amount to."""
    op, path = operation["op"], operation["path"]
    if op == "move":
        value = jsonpointer.resolve_pointer(doc, operation["from"])
        return [
            Change(file, "remove", operation["from"], old=value),
            Change(file, "add", path, new=value),
        ]
    if op == "copy":
        value = jsonpointer.resolve_pointer(doc, operation["from"])
        return [Change(file, "add", path, new=copy.deepcopy(value))]
    if op == "remove":
        return [Change(file, "remove", path, old=jsonpointer.resolve_pointer(doc, path))]
    if op == "replace":
        old = jsonpointer.resolve_pointer(doc, path)
        return [Change(file, "replace", path, old=old, new=operation["value"])]
    return [Change(file, "add", path, new=operation["value"])]
