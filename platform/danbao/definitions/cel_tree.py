"""CEL syntax trees as cel-python parses them: the one parser, and the few facts of its
grammar that every walker of a condition needs.

Two walkers read these trees: ``conditions`` (which fields an expression reads) and
``scope_conditions`` (the subset a records query applies in SQL). They share the parser,
the wrapper rules, the literal tokens and the comparison rules from here, so the two can
not drift apart when cel-python's grammar moves.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

import celpy
from celpy.celparser import CELParseError
from lark import Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedToken

Node = Tree[Token]
Operator = Literal["==", "!=", "<", "<=", ">", ">="]

# Rules that wrap a single child without adding meaning (``relation`` -> ``addition`` -> …).
WRAPPERS = frozenset(
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
    }
)
_WRAPPERS_AND_PARENS = WRAPPERS | {"paren_expr"}
# The ordering and equality rules and the operator each stands for (``in`` is apart).
COMPARISONS: dict[str, Operator] = {
    "relation_eq": "==",
    "relation_ne": "!=",
    "relation_lt": "<",
    "relation_le": "<=",
    "relation_gt": ">",
    "relation_ge": ">=",
}
# Literal tokens and the kind of value each is.
LITERAL_KINDS = {
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


@lru_cache(maxsize=1)
def environment() -> celpy.Environment:
    return celpy.Environment()


def parse(text: str) -> Node:
    """CEL's own parse of ``text``; ConditionSyntaxError with line and column if it fails."""
    try:
        return environment().compile(text)
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


def unwrap(node: Node, *, parens: bool = True) -> Node:
    """The first node below ``node`` that means something; through parentheses too unless
    ``parens`` is false (a walker that must tell ``(a).b`` from ``a.b``)."""
    through = _WRAPPERS_AND_PARENS if parens else WRAPPERS
    while node.data in through and len(node.children) == 1:
        child = node.children[0]
        if not isinstance(child, Tree):
            break
        node = child
    return node


def literal_kind(token: Token) -> str | None:
    """``number``, ``string``, ``bytes``, ``boolean`` or ``null``; None for another token."""
    return LITERAL_KINDS.get(token.type)


def list_items(node: Node) -> list[Node]:
    """The elements of a list literal (``[a, b]``); [] for anything else."""
    inner = unwrap(node)
    if inner.data != "list_lit" or not inner.children:
        return []
    exprlist = inner.children[0]
    if not isinstance(exprlist, Tree):
        return []
    return [c for c in exprlist.children if isinstance(c, Tree)]
