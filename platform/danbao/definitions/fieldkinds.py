"""The field vocabulary a form adds to JSON Schema, and its checks.

- ``"x-kind"``: a compound field the runtime knows — ``date_range`` (``{start, end}``, end
  not before start), ``address`` (``{region, detail}``, the region a dictionary code) and
  ``richtext`` (sanitised HTML). The author writes only the kind (plus a title, limits);
  the runtime supplies the rest of the schema (``danbao.forms.kinds``).
- ``"x-dictionary": "<id>"``: the value is a code of ``dictionaries/<id>.json`` (a string,
  or an array of strings for multiple choice; on an address, its region).
- ``"x-picker": "user" | "department"``: the value is the id of a user or a department of
  the tenant (a string, or an array of strings).
"""

from __future__ import annotations

from typing import Any

from .errors import DefinitionError, join

KIND_TYPES = {"date_range": "object", "address": "object", "richtext": "string"}
PICKERS = ("user", "department")
RESERVED_DICTIONARIES = frozenset({"departments", "users"})
"""Names a tenant dictionary may not take: the pickers' own sources."""

# What an author may still say beside "x-kind" (the runtime supplies the structure).
_KIND_EXTRAS = {
    "date_range": frozenset({"type", "title", "description", "x-kind", "$comment"}),
    "address": frozenset({"type", "title", "description", "x-kind", "x-dictionary", "$comment"}),
    "richtext": frozenset(
        {"type", "title", "description", "x-kind", "minLength", "maxLength", "$comment"}
    ),
}


def declared_type(node: dict[str, Any]) -> str | None:
    """The type an ``x-kind`` implies when the author did not write one."""
    kind = node.get("x-kind")
    return KIND_TYPES.get(kind) if isinstance(kind, str) else None


def _strings(node: dict[str, Any]) -> str | None:
    """``"single"`` for a string, ``"multiple"`` for an array of strings, else None."""
    if node.get("type") == "string":
        return "single"
    items = node.get("items")
    if node.get("type") == "array" and isinstance(items, dict) and items.get("type") == "string":
        return "multiple"
    return None


def check_vocabulary(
    file: str, at: str, node: dict[str, Any], is_property: bool
) -> list[DefinitionError]:
    """Checks on the ``x-kind``, ``x-dictionary`` and ``x-picker`` of one subschema."""
    errors: list[DefinitionError] = []

    def error(key: str, message: str) -> None:
        errors.append(DefinitionError(file, join(at, key), message))

    kind = node.get("x-kind")
    # A field of the form itself, not a column of a repeating section.
    top_level = at.startswith("/schema/properties/") and at.count("/") == 3
    if "x-kind" in node:
        if kind not in KIND_TYPES:
            error("x-kind", f"x-kind must be one of {', '.join(KIND_TYPES)}")
        elif not (is_property and top_level):
            error("x-kind", "x-kind applies only to a field of the form (not inside one)")
        else:
            for key in sorted(set(node) - _KIND_EXTRAS[kind]):
                if not key.startswith("x-"):
                    error(key, f"{key!r} is supplied by x-kind {kind!r}; leave it out")
            if node.get("type", KIND_TYPES[kind]) != KIND_TYPES[kind]:
                error("type", f"x-kind {kind!r} is of type {KIND_TYPES[kind]!r}")
    if "x-dictionary" in node:
        value = node["x-dictionary"]
        if not isinstance(value, str) or not value:
            error("x-dictionary", "x-dictionary must name a dictionary (dictionaries/<id>.json)")
        elif kind != "address" and _strings(node) is None:
            error(
                "x-dictionary",
                "x-dictionary applies to a string, an array of strings or an address",
            )
        elif "x-picker" in node:
            error("x-picker", "a field takes either x-dictionary or x-picker, not both")
    elif kind == "address":
        error("x-kind", 'an address names its regions with x-dictionary (e.g. "regions")')
    if "x-picker" in node:
        value = node["x-picker"]
        if value not in PICKERS:
            error("x-picker", f"x-picker must be one of {', '.join(PICKERS)}")
        elif _strings(node) is None:
            error("x-picker", "x-picker applies to a string or an array of strings")
        elif value == "user" and not top_level:
            error("x-picker", "a user picker is a field of the form (not inside one)")
    return errors


def dictionary_references(schema: dict[str, Any], base: str = "/schema") -> list[tuple[str, str]]:
    """(pointer of the ``x-dictionary`` key, dictionary id) everywhere in a form's schema."""
    found: list[tuple[str, str]] = []
    stack: list[tuple[Any, str]] = [(schema, base)]
    while stack:
        node, where = stack.pop()
        if isinstance(node, dict):
            if isinstance(node.get("x-dictionary"), str):
                found.append((join(where, "x-dictionary"), node["x-dictionary"]))
            stack.extend(
                (value, join(where, key)) for key, value in node.items() if key != "x-dictionary"
            )
        elif isinstance(node, list):
            stack.extend((value, join(where, index)) for index, value in enumerate(node))
    return sorted(found)
