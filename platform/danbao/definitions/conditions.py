"""Static analysis of CEL conditions: does it parse, which fields does it read.

Definitions only need the names a condition reads (to check them against the form)
and the literals it compares them with (to catch ``amount > "5000000"``); evaluation
belongs to the runtime.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from lark import Token, Tree

from .cel_tree import (
    COMPARISONS,
    ConditionSyntaxError,
    Node,
    list_items,
    literal_kind,
    parse,
    unwrap,
)
from .errors import DefinitionError

# Macros whose first argument binds a variable local to the call, e.g. ``xs.all(x, x > 0)``.
_BINDING_MACROS = frozenset({"all", "exists", "exists_one", "map", "filter"})
# Type names CEL resolves itself (``type(x) == int``); they are not fields.
_BUILTIN_NAMES = frozenset(
    {"int", "uint", "double", "bool", "string", "bytes", "list", "map", "null_type", "type"}
)


# The current row, in the conditions and computations of a repeating section's fields.
ROW = "row"
# Global functions an expression may call: CEL's own, and ours (danbao.forms.expressions).
FUNCTIONS = frozenset(
    {
        "size", "int", "uint", "double", "string", "bool", "bytes", "type", "dyn",
        "duration", "timestamp", "matches", "has",
        "id_age", "id_sex", "sum",
    }
)  # fmt: skip


@dataclass(frozen=True)
class Condition:
    text: str
    names: frozenset[str]
    """Top-level identifiers the expression reads (macro variables excluded)."""
    comparisons: tuple[tuple[str, str], ...]
    """(reference, literal kind) for every ``name <op> literal`` in the expression; the
    reference is ``name`` or, for a field of a map such as the current row, ``row.kind``."""
    members: frozenset[tuple[str, str]] = frozenset()
    """(identifier, key) for every ``identifier.key`` read (macro variables excluded)."""
    functions: frozenset[str] = frozenset()
    """Global functions called, e.g. ``size`` or ``id_age`` (not methods such as ``.map``)."""


@lru_cache(maxsize=4096)
def analyse(text: str) -> Condition:
    """Parse a CEL expression and report what it reads; raise ConditionSyntaxError."""
    tree = parse(text)
    found = _Found()
    try:
        _walk(tree, frozenset(), found)
    except RecursionError:
        raise ConditionSyntaxError("expression is nested too deeply") from None
    return Condition(
        text,
        frozenset(found.names - _BUILTIN_NAMES),
        tuple(found.comparisons),
        frozenset(found.members),
        frozenset(found.functions),
    )


@dataclass
class _Found:
    names: set[str] = field(default_factory=set)
    comparisons: list[tuple[str, str]] = field(default_factory=list)
    members: set[tuple[str, str]] = field(default_factory=set)
    functions: set[str] = field(default_factory=set)


def _walk(node: Node, bound: frozenset[str], found: _Found) -> None:
    names, comparisons = found.names, found.comparisons
    if node.data == "ident":
        name = str(node.children[0])
        if name not in bound:
            names.add(name)
        return
    if node.data == "ident_arg":
        found.functions.add(str(node.children[0]))
    if node.data == "member_dot":
        target, key = node.children
        base = _bare_ident(target) if isinstance(target, Tree) else None
        if base is not None and base not in bound:
            found.members.add((base, str(key)))
    if node.data == "member_dot_arg":
        target, method, *rest = node.children
        arglist = rest[0] if rest and isinstance(rest[0], Tree) else None
        args = [a for a in arglist.children if isinstance(a, Tree)] if arglist else []
        variable = _bare_ident(args[0]) if args else None
        if str(method) in _BINDING_MACROS and variable is not None and isinstance(target, Tree):
            _walk(target, bound, found)
            for arg in args[1:]:
                _walk(arg, bound | {variable}, found)
            return
    if node.data == "relation" and len(node.children) == 2:
        _note_comparison(node, bound, comparisons)
    for child in node.children:
        if isinstance(child, Tree):
            _walk(child, bound, found)


def _note_comparison(node: Node, bound: frozenset[str], comparisons: list[tuple[str, str]]) -> None:
    operator, right = node.children
    if not isinstance(operator, Tree) or not isinstance(right, Tree):
        return
    left = operator.children[0]
    if not isinstance(left, Tree):
        return
    if operator.data in COMPARISONS:
        for name_side, literal_side in ((left, right), (right, left)):
            name, kind = _reference(name_side), _bare_literal(literal_side)
            if name and kind and name.partition(".")[0] not in bound:
                comparisons.append((name, kind))
    elif operator.data == "relation_in":
        name = _reference(left)
        if name and name.partition(".")[0] not in bound:
            for item in list_items(right):
                kind = _bare_literal(item)
                if kind:
                    comparisons.append((name, kind))


def _bare_ident(node: Node) -> str | None:
    inner = unwrap(node)
    return str(inner.children[0]) if inner.data == "ident" else None


def _reference(node: Node) -> str | None:
    """``name`` for a bare identifier, ``name.key`` for one key of it, else None."""
    inner = unwrap(node)
    if inner.data == "ident":
        return str(inner.children[0])
    if inner.data == "member_dot":
        target, key = inner.children
        base = _bare_ident(target) if isinstance(target, Tree) else None
        return f"{base}.{key}" if base is not None else None
    return None


def _bare_literal(node: Node) -> str | None:
    inner = unwrap(node)
    if inner.data != "literal":
        return None
    token = inner.children[0]
    return literal_kind(token) if isinstance(token, Token) else None


def check_condition(
    file: str,
    at: str,
    text: str,
    fields: dict[str, frozenset[str]],
    form_id: str,
    *,
    row: dict[str, frozenset[str]] | None = None,
    rows_of: str = "",
) -> list[DefinitionError]:
    """A CEL condition must parse, read only the form's fields, call only known functions,
    and compare like with like.

    Inside a repeating section (``row`` holds the row's field types, ``rows_of`` names the
    section's field) the expression may also read the current row as ``row.<key>``.
    """
    try:
        condition = analyse(text)
    except ConditionSyntaxError as exc:
        return [DefinitionError(file, at, str(exc))]
    names = condition.names - {ROW} if row is not None else condition.names
    errors = [
        DefinitionError(file, at, _unknown_name(name, form_id))
        for name in sorted(names - fields.keys())
    ]
    errors += [
        DefinitionError(file, at, f"unknown function {name!r}")
        for name in sorted(condition.functions - FUNCTIONS)
    ]
    if row is not None:
        errors += [
            DefinitionError(file, at, f"{key!r} is not a field of the rows of {rows_of!r}")
            for base, key in sorted(condition.members)
            if base == ROW and key not in row
        ]
    for name, kind in dict.fromkeys(condition.comparisons):
        base, _, key = name.partition(".")
        if key:
            types = row.get(key) if row is not None and base == ROW else None
        else:
            types = fields.get(name)
        if types is not None and not compatible(kind, types):
            errors.append(
                DefinitionError(
                    file, at, f"compares {name!r} ({'/'.join(sorted(types))}) with a {kind}"
                )
            )
    return errors


def _unknown_name(name: str, form_id: str) -> str:
    if name == ROW:
        return "'row' (the current row) exists only in the fields of a repeating section"
    return f"{name!r} is not a field of form {form_id!r}"


def compatible(kind: str, types: frozenset[str]) -> bool:
    """Can a literal of this kind be compared with a field of these JSON types?"""
    if kind == "null" or not types:
        return True
    if kind == "number":
        return bool(types & {"number", "integer"})
    return kind in types
