"""Static analysis of CEL conditions: does it parse, which fields does it read.

Definitions only need the names a condition reads (to check them against the form)
and the literals it compares them with (to catch ``amount > "5000000"``); evaluation
belongs to the runtime.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import celpy
from celpy.celparser import CELParseError
from lark import Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedToken

from .errors import DefinitionError

# Macros whose first argument binds a variable local to the call, e.g. ``xs.all(x, x > 0)``.
_BINDING_MACROS = frozenset({"all", "exists", "exists_one", "map", "filter"})
# Type names CEL resolves itself (``type(x) == int``); they are not fields.
_BUILTIN_NAMES = frozenset(
    {"int", "uint", "double", "bool", "string", "bytes", "list", "map", "null_type", "type"}
)
# Rules that wrap a single child without adding meaning.
_PASSTHROUGH = frozenset(
    {
        "expr",
        "conditionalor",
        "conditionaland",
        "relation",
        "addition",
        "multiplication",
        "unary",
        "member",
        "primary",
        "paren_expr",
    }
)
_COMPARISONS = frozenset(
    {"relation_lt", "relation_le", "relation_gt", "relation_ge", "relation_eq", "relation_ne"}
)
_LITERAL_KINDS = {
    "INT_LIT": "number",
    "UINT_LIT": "number",
    "FLOAT_LIT": "number",
    "STRING_LIT": "string",
    "MLSTRING_LIT": "string",
    "BYTES_LIT": "bytes",
    "BOOL_LIT": "boolean",
    "NULL_LIT": "null",
}


class ConditionSyntaxError(ValueError):
    pass


@dataclass(frozen=True)
class Condition:
    text: str
    names: frozenset[str]
    """Top-level identifiers the expression reads (macro variables excluded)."""
    comparisons: tuple[tuple[str, str], ...]
    """(identifier, literal kind) for every ``name <op> literal`` in the expression."""


Node = Tree[Token]

_environment: celpy.Environment | None = None


def _parse(text: str) -> Node:
    global _environment
    if _environment is None:
        _environment = celpy.Environment()
    try:
        return _environment.compile(text)
    except CELParseError as exc:
        raise ConditionSyntaxError(f"not a valid CEL expression: {_describe(exc)}") from None


def _describe(exc: CELParseError) -> str:
    # celpy raises from inside lark's handler; the lark error knows the offending token.
    cause = exc.__context__
    if isinstance(cause, UnexpectedToken) and cause.token.type == "$END":
        return "unexpected end of expression"
    if isinstance(cause, UnexpectedToken):
        found = repr(str(cause.token))
    elif isinstance(cause, UnexpectedCharacters):
        found = repr(cause.char)
    else:
        found = "input"
    return f"unexpected {found} at line {exc.line or 1}, column {exc.column or 1}"


@lru_cache(maxsize=4096)
def analyse(text: str) -> Condition:
    """Parse a CEL expression and report what it reads; raise ConditionSyntaxError."""
    tree = _parse(text)
    names: set[str] = set()
    comparisons: list[tuple[str, str]] = []
    try:
        _walk(tree, frozenset(), names, comparisons)
    except RecursionError:
        raise ConditionSyntaxError("expression is nested too deeply") from None
    return Condition(text, frozenset(names - _BUILTIN_NAMES), tuple(comparisons))


def _walk(
    node: Node, bound: frozenset[str], names: set[str], comparisons: list[tuple[str, str]]
) -> None:
    if node.data == "ident":
        name = str(node.children[0])
        if name not in bound:
            names.add(name)
        return
    if node.data == "member_dot_arg":
        target, method, *rest = node.children
        arglist = rest[0] if rest and isinstance(rest[0], Tree) else None
        args = [a for a in arglist.children if isinstance(a, Tree)] if arglist else []
        variable = _bare_ident(args[0]) if args else None
        if str(method) in _BINDING_MACROS and variable is not None and isinstance(target, Tree):
            _walk(target, bound, names, comparisons)
            for arg in args[1:]:
                _walk(arg, bound | {variable}, names, comparisons)
            return
    if node.data == "relation" and len(node.children) == 2:
        _note_comparison(node, bound, comparisons)
    for child in node.children:
        if isinstance(child, Tree):
            _walk(child, bound, names, comparisons)


def _note_comparison(node: Node, bound: frozenset[str], comparisons: list[tuple[str, str]]) -> None:
    operator, right = node.children
    if not isinstance(operator, Tree) or not isinstance(right, Tree):
        return
    left = operator.children[0]
    if not isinstance(left, Tree):
        return
    if operator.data in _COMPARISONS:
        for name_side, literal_side in ((left, right), (right, left)):
            name, kind = _bare_ident(name_side), _bare_literal(literal_side)
            if name and kind and name not in bound:
                comparisons.append((name, kind))
    elif operator.data == "relation_in":
        name = _bare_ident(left)
        if name and name not in bound:
            for item in _list_items(right):
                kind = _bare_literal(item)
                if kind:
                    comparisons.append((name, kind))


def _unwrap(node: Node) -> Node:
    while node.data in _PASSTHROUGH and len(node.children) == 1:
        child = node.children[0]
        if not isinstance(child, Tree):
            break
        node = child
    return node


def _bare_ident(node: Node) -> str | None:
    inner = _unwrap(node)
    return str(inner.children[0]) if inner.data == "ident" else None


def _bare_literal(node: Node) -> str | None:
    inner = _unwrap(node)
    if inner.data != "literal":
        return None
    token = inner.children[0]
    return _LITERAL_KINDS.get(token.type) if isinstance(token, Token) else None


def _list_items(node: Node) -> list[Node]:
    inner = _unwrap(node)
    if inner.data != "list_lit" or not inner.children:
        return []
    exprlist = inner.children[0]
    if not isinstance(exprlist, Tree):
        return []
    return [c for c in exprlist.children if isinstance(c, Tree)]


def check_condition(
    file: str, at: str, text: str, fields: dict[str, frozenset[str]], form_id: str
) -> list[DefinitionError]:
    """A CEL condition must parse, read only the form's fields, and compare like with like."""
    try:
        condition = analyse(text)
    except ConditionSyntaxError as exc:
        return [DefinitionError(file, at, str(exc))]
    errors = [
        DefinitionError(file, at, f"{name!r} is not a field of form {form_id!r}")
        for name in sorted(condition.names - fields.keys())
    ]
    for name, kind in dict.fromkeys(condition.comparisons):
        types = fields.get(name)
        if types is not None and not compatible(kind, types):
            errors.append(
                DefinitionError(
                    file, at, f"compares {name!r} ({'/'.join(sorted(types))}) with a {kind}"
                )
            )
    return errors


def compatible(kind: str, types: frozenset[str]) -> bool:
    """Can a literal of this kind be compared with a field of these JSON types?"""
    if kind == "null" or not types:
        return True
    if kind == "number":
        return bool(types & {"number", "integer"})
    return kind in types
