"""Tenant dictionaries: coded choices (industries, regions, collateral types) for form fields.

A dictionary file (``dictionaries/<id>.json``, meta-schema ``schemas/dictionary.schema.json``)
holds items with a code and zh-CN/en labels; items may nest, so regions run province >
city > district. A field names one with ``"x-dictionary": "<id>"`` and stores codes, never
labels, so renaming an item changes no record.

The same shape serves the tenant's departments (``permissions.json``), so a department
picker is validated and rendered exactly like a dictionary field.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from types import MappingProxyType
from typing import Any

DEPARTMENTS = "departments"
"""The name under which a form's lookups hold the tenant's department tree."""


@dataclass(frozen=True)
class Item:
    code: str
    labels: Mapping[str, str]
    parent: str | None
    depth: int
    retired: bool

    def label(self, locale: str) -> str:
        return self.labels.get(locale) or self.labels["zh-CN"]


@dataclass(frozen=True, eq=False)
class Dictionary:
    """One dictionary, flattened: items in document order, each knowing its parent."""

    dict_id: str
    title: Mapping[str, str]
    items: tuple[Item, ...]
    levels: tuple[Mapping[str, str], ...] = ()

    @classmethod
    def from_json(cls, content: Mapping[str, Any]) -> Dictionary:
        """From a dictionary file that passed its meta-schema."""
        flat: list[Item] = []

        def walk(items: list[dict[str, Any]], parent: str | None, depth: int) -> None:
            for raw in items:
                flat.append(
                    Item(
                        code=raw["code"],
                        labels=MappingProxyType(dict(raw["label"])),
                        parent=parent,
                        depth=depth,
                        retired=bool(raw.get("retired", False)),
                    )
                )
                walk(raw.get("items", []), raw["code"], depth + 1)

        walk(list(content["items"]), None, 0)
        return cls(
            dict_id=content["id"],
            title=MappingProxyType(dict(content["title"])),
            items=tuple(flat),
            levels=tuple(MappingProxyType(dict(level)) for level in content.get("levels", [])),
        )

    @classmethod
    def from_departments(cls, departments: list[Mapping[str, Any]]) -> Dictionary:
        """The department list of ``permissions.json`` (parent links, not nesting)."""
        nested: dict[str | None, list[Mapping[str, Any]]] = {}
        ids = {d["id"] for d in departments}
        for dept in departments:
            parent = dept.get("parent")
            nested.setdefault(parent if parent in ids else None, []).append(dept)
        flat: list[Item] = []
        seen: set[str] = set()

        def walk(parent: str | None, depth: int) -> None:
            for dept in nested.get(parent, []):
                if dept["id"] in seen:  # a cycle; the bundle's cross-check refuses those
                    continue
                seen.add(dept["id"])
                labels = dict(dept.get("name") or {"zh-CN": dept["id"]})
                flat.append(Item(dept["id"], MappingProxyType(labels), parent, depth, False))
                walk(dept["id"], depth + 1)

        walk(None, 0)
        title = {"zh-CN": "部门", "en": "Departments"}
        return cls(DEPARTMENTS, MappingProxyType(title), tuple(flat))

    @cached_property
    def by_code(self) -> Mapping[str, Item]:
        return MappingProxyType({item.code: item for item in self.items})

    @cached_property
    def codes(self) -> frozenset[str]:
        return frozenset(self.by_code)

    @cached_property
    def hierarchical(self) -> bool:
        return any(item.depth for item in self.items)

    @cached_property
    def content_hash(self) -> str:
        flat = [[i.code, dict(i.labels), i.parent, i.retired] for i in self.items]
        raw = json.dumps([self.dict_id, flat], sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(raw.encode("utf-8")).hexdigest()

    def __hash__(self) -> int:
        return hash(self.content_hash)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Dictionary) and other.content_hash == self.content_hash

    def path(self, code: str) -> list[Item]:
        """The item and its ancestors, outermost first (empty for an unknown code)."""
        chain: list[Item] = []
        item = self.by_code.get(code)
        while item is not None and len(chain) <= len(self.items):
            chain.append(item)
            item = self.by_code.get(item.parent) if item.parent else None
        return chain[::-1]

    def display(self, code: str, locale: str) -> str:
        """``四川省 / 成都市 / 武侯区`` for a nested code; the code itself when unknown."""
        chain = self.path(code)
        return " / ".join(i.label(locale) for i in chain) if chain else code

    def children(self, parent: str | None) -> Iterator[Item]:
        return (i for i in self.items if i.parent == parent)

    def options(self, locale: str, *, keep: str | None = None) -> list[tuple[str, str]]:
        """(code, label) for a flat list: nested items show their whole path.

        Retired items are left out except ``keep`` (the value a record already holds).
        """
        return [
            (i.code, self.display(i.code, locale) if i.depth else i.label(locale))
            for i in self.items
            if not i.retired or i.code == keep
        ]

    def tree(self, locale: str) -> list[dict[str, Any]]:
        """Nested ``{c, l, k}`` (code, label, kids) for the browser's cascading pickers."""
        kids: dict[str | None, list[dict[str, Any]]] = {}
        for item in self.items:
            if item.retired:
                continue
            node: dict[str, Any] = {"c": item.code, "l": item.label(locale)}
            kids.setdefault(item.parent, []).append(node)
        for nodes in kids.values():
            for node in nodes:
                if node["c"] in kids:
                    node["k"] = kids[node["c"]]
        return kids.get(None, [])

    def level_names(self, locale: str) -> list[str]:
        return [level.get(locale) or level["zh-CN"] for level in self.levels]


class Lookups(Mapping[str, Dictionary]):
    """The dictionaries a form may name, by id, plus the departments: hashable by content,
    so validators compiled for them are cached and shared between equal definitions."""

    def __init__(self, dictionaries: Mapping[str, Dictionary]) -> None:
        self._items = dict(dictionaries)
        self._key = tuple(sorted((k, d.content_hash) for k, d in self._items.items()))

    def __getitem__(self, key: str) -> Dictionary:
        return self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        return hash(self._key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Lookups) and other._key == self._key


EMPTY = Lookups({})


def lookups_of(
    dictionaries: Mapping[str, Mapping[str, Any]], departments: list[Mapping[str, Any]]
) -> Lookups:
    built = {dict_id: Dictionary.from_json(raw) for dict_id, raw in dictionaries.items()}
    built[DEPARTMENTS] = Dictionary.from_departments(departments)
    return Lookups(built)


def coded_source(prop: Mapping[str, Any], lookups: Lookups) -> Dictionary | None:
    """The dictionary (or the department tree) a field's codes come from, if any."""
    name = prop.get("x-dictionary")
    if prop.get("x-picker") == "department":
        name = DEPARTMENTS
    return lookups.get(name) if isinstance(name, str) else None
