"""Data-scope conditions: the safe subset of CEL that a records query can apply in SQL.

A role's data scope for a form may carry a condition over the record's fields and the
acting user, e.g. ``amount <= 5000000 && branch == user.department``. It must become a
filter *inside* the records query, so only what SQL can express exactly is accepted:

- ``&&``, ``||``, ``!`` and parentheses;
- ``==``, ``!=``, ``<``, ``<=``, ``>``, ``>=`` between a field and a literal or a
  ``user.*`` value (or between two such constants);
- ``x in [literal, …]``, ``x in user.roles``;
- ``has(field)`` (present and not null) and a bare boolean field;
- field references, nested ``a.b`` through the form's ``properties``;
  ``user.id``, ``user.department``, ``user.roles``; int, float, string and bool literals.

Parsing is CEL's own (cel-python); this module only walks the tree and refuses anything
else (arithmetic, functions, macros, ternaries, indexes, maps, null) with a message that
names it. Field types come from the form's JSON Schema and decide how SQL compares them
(numbers as numbers, strings as text, booleans as booleans); a literal of another type
is an error. Sensitive fields are stored encrypted, so no condition can read them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from lark import Token, Tree

from .cel_tree import (
    COMPARISONS,
    ConditionSyntaxError,
    Operator,
    environment,
    list_items,
    literal_kind,
    parse,
    unwrap,
)
from .conditions import analyse

FieldType = Literal["number", "string", "boolean"]
Scalar = int | float | str | bool
UserAttr = Literal["id", "department", "roles"]

_USER_ATTRS: dict[str, UserAttr] = {"id": "id", "department": "department", "roles": "roles"}
# What a refused construct is called in messages.
_CONSTRUCTS = {
    "addition_add": "arithmetic (+)",
    "addition_sub": "arithmetic (-)",
    "multiplication_mul": "arithmetic (*)",
    "multiplication_div": "arithmetic (/)",
    "multiplication_mod": "arithmetic (%)",
    "unary_neg": "negation (-)",
    "member_dot_arg": "a method call",
    "member_index": "indexing ([…])",
    "member_object": "a message literal",
    "map_lit": "a map literal",
    "dot_ident": "a qualified name",
    "dot_ident_arg": "a function call",
}


class NotInSubset(ValueError):
    """The condition parses as CEL but is outside what a data scope can apply in SQL."""


# --- the tree a condition compiles to ---------------------------------------------------


@dataclass(frozen=True)
class FieldRef:
    path: tuple[str, ...]
    type: FieldType


@dataclass(frozen=True)
class UserRef:
    attr: UserAttr


@dataclass(frozen=True)
class Value:
    value: Scalar


Operand = FieldRef | UserRef | Value


@dataclass(frozen=True)
class Compare:
    op: Operator
    left: Operand
    right: Operand


@dataclass(frozen=True)
class In:
    item: Operand
    options: tuple[Value, ...] | UserRef  # a list of literals, or user.roles


@dataclass(frozen=True)
class Has:
    field: tuple[str, ...]


@dataclass(frozen=True)
class Truth:
    """A bare boolean field: true when the field is true."""

    field: FieldRef


@dataclass(frozen=True)
class Const:
    value: bool


@dataclass(frozen=True)
class And:
    left: Node
    right: Node


@dataclass(frozen=True)
class Or:
    left: Node
    right: Node


@dataclass(frozen=True)
class Not:
    operand: Node


Node = Compare | In | Has | Truth | Const | And | Or | Not


@dataclass(frozen=True)
class ScopeCondition:
    """A checked condition: its text (for explanations) and its tree (for SQL)."""

    text: str
    node: Node

    @property
    def reads_department(self) -> bool:
        return _reads(self.node, "department")


def _reads(node: Node, attr: str) -> bool:
    match node:
        case Compare(left=left, right=right):
            return any(isinstance(o, UserRef) and o.attr == attr for o in (left, right))
        case In(item=item, options=options):
            return any(isinstance(o, UserRef) and o.attr == attr for o in (item, options))
        case And(left=left, right=right) | Or(left=left, right=right):
            return _reads(left, attr) or _reads(right, attr)
        case Not(operand=operand):
            return _reads(operand, attr)
    return False


# --- compiling ----------------------------------------------------------------------------

Schema = Mapping[str, Any]


def compile_condition(text: str, schema: Schema) -> ScopeCondition:
    """Check ``text`` against the form's JSON Schema and build its tree.

    Raises ConditionSyntaxError (not CEL) or NotInSubset (CEL, but not applicable in SQL,
    or naming fields the form lacks, or comparing unlike types); each message says what.
    """
    analyse(text)  # CEL's own parser; raises ConditionSyntaxError with line and column
    tree = parse(text)
    try:
        node = _Compiler(schema).boolean(tree)
    except RecursionError:
        raise NotInSubset("expression is nested too deeply") from None
    return ScopeCondition(text, node)


@lru_cache(maxsize=1024)
def _literal(token_text: str) -> Scalar:
    """A literal's value as CEL reads it (escapes, raw and triple-quoted strings, 0x…)."""
    env = environment()
    result = env.program(env.compile(token_text)).evaluate({})
    if isinstance(result, bool):
        return bool(result)
    if isinstance(result, int):
        return int(result)
    if isinstance(result, float):
        return float(result)
    return str(result)


class _Compiler:
    def __init__(self, schema: Schema) -> None:
        self.schema = schema

    # Boolean positions: the whole condition, operands of && || !.
    def boolean(self, node: Tree[Token]) -> Node:
        node = self._step(node)
        kind = node.data
        if kind == "expr" and len(node.children) == 3:
            raise NotInSubset("the conditional operator (? :) is not supported")
        if kind == "conditionalor" and len(node.children) == 2:
            left, right = node.children
            return Or(self.boolean(_tree(left)), self.boolean(_tree(right)))
        if kind == "conditionaland" and len(node.children) == 2:
            left, right = node.children
            return And(self.boolean(_tree(left)), self.boolean(_tree(right)))
        if kind == "unary" and len(node.children) == 2:
            sign, inner = node.children
            if _tree(sign).data != "unary_not":
                raise NotInSubset(_refused(_tree(sign).data))
            return Not(self.boolean(_tree(inner)))
        if kind == "relation" and len(node.children) == 2:
            return self._relation(node)
        if kind == "paren_expr":
            return self.boolean(_tree(node.children[0]))
        if kind == "ident_arg":
            return self._has(node)
        if kind == "literal":
            value = self._value(node)
            if not isinstance(value.value, bool):
                raise NotInSubset(f"{_short(node)} is not a condition (true or false)")
            return Const(value.value)
        operand = self._operand(node)
        if isinstance(operand, FieldRef) and operand.type == "boolean":
            return Truth(operand)
        raise NotInSubset(f"{_describe(operand)} is not a condition; compare it with something")

    def _step(self, node: Tree[Token]) -> Tree[Token]:
        # Not through parentheses: ``(a).b``, ``has((a))`` and ``[(1)]`` stay refused.
        return unwrap(node, parens=False)

    def _relation(self, node: Tree[Token]) -> Node:
        # relation -> [relation_<op> -> [left], right]
        operator, right_tree = (_tree(c) for c in node.children)
        left_tree = _tree(operator.children[0])
        if operator.data == "relation_in":
            return self._in(left_tree, right_tree)
        op = COMPARISONS.get(operator.data)
        if op is None:
            raise NotInSubset(_refused(operator.data))
        left, right = self._operand(left_tree), self._operand(right_tree)
        for side in (left, right):
            if isinstance(side, UserRef) and side.attr == "roles":
                raise NotInSubset("user.roles is a list: use 'x in user.roles'")
        _check_comparable(op, left, right)
        return Compare(op, left, right)

    def _in(self, left_tree: Tree[Token], right_tree: Tree[Token]) -> Node:
        item = self._operand(left_tree)
        if isinstance(item, UserRef) and item.attr == "roles":
            raise NotInSubset("user.roles is a list; it cannot be looked up in another")
        right = self._step(right_tree)
        if right.data == "list_lit":
            values = tuple(self._list_value(c) for c in list_items(right))
            if not values:
                raise NotInSubset("'in []' is never true; write false instead")
            for value in values:
                _check_comparable("==", item, value)
            return In(item, values)
        options = self._operand(right)
        if isinstance(options, UserRef) and options.attr == "roles":
            _check_comparable("==", item, UserRef("id"))  # a role id is a string
            return In(item, options)
        raise NotInSubset("'in' needs a list of literals or user.roles on its right")

    def _has(self, node: Tree[Token]) -> Node:
        name, *rest = node.children
        if str(name) != "has":
            raise NotInSubset(f"the function {name!s}() is not supported")
        args = [_tree(a) for a in _tree(rest[0]).children] if rest else []
        if len(args) != 1:
            raise NotInSubset("has() takes one field")
        path = self._path(self._step(args[0]))
        if path is None or path[0] == "user":
            raise NotInSubset("has() takes a field of the form, e.g. has(guarantor.name)")
        self._field_schema(path)
        return Has(path)

    def _operand(self, node: Tree[Token]) -> Operand:
        node = self._step(node)
        if node.data == "literal":
            return self._value(node)
        if node.data == "paren_expr":
            return self._operand(_tree(node.children[0]))
        path = self._path(node)
        if path is None:
            raise NotInSubset(_refused_node(node))
        if path[0] == "user":
            attr = _USER_ATTRS.get(path[1]) if len(path) == 2 else None
            if attr is None:
                raise NotInSubset(
                    f"{'.'.join(path)}: the acting user has only user.id, "
                    "user.department and user.roles"
                )
            return UserRef(attr)
        return FieldRef(path, self._scalar_type(path))

    def _list_value(self, node: Tree[Token]) -> Value:
        node = self._step(node)
        if node.data != "literal":
            raise NotInSubset("the list after 'in' may hold only literals")
        return self._value(node)

    def _value(self, node: Tree[Token]) -> Value:
        token = node.children[0]
        if not isinstance(token, Token):
            raise NotInSubset(_refused(node.data))
        kind = literal_kind(token)
        if kind == "boolean":
            return Value(str(token) == "true")
        if kind == "null":
            raise NotInSubset("null is not supported; use has(field) or !has(field)")
        if kind not in ("number", "string"):
            raise NotInSubset(
                f"{token.type.removesuffix('_LIT').lower()} literals are not supported"
            )
        return Value(_literal(str(token)))

    def _path(self, node: Tree[Token]) -> tuple[str, ...] | None:
        """``a.b.c`` as ("a", "b", "c"); None for anything else."""
        if node.data == "ident":
            return (str(node.children[0]),)
        if node.data == "member_dot":
            target, name = node.children
            head = self._path(self._step(_tree(target)))
            return None if head is None else (*head, str(name))
        return None

    def _field_schema(self, path: tuple[str, ...]) -> Mapping[str, Any]:
        current: Mapping[str, Any] = self.schema
        for depth, name in enumerate(path):
            properties = current.get("properties")
            sub = properties.get(name) if isinstance(properties, Mapping) else None
            if not isinstance(sub, Mapping):
                where = ".".join(path[:depth]) or "the form"
                raise NotInSubset(f"{'.'.join(path)!r}: {where} has no field {name!r}")
            current = sub
        if current.get("x-sensitive") is True:
            raise NotInSubset(
                f"{'.'.join(path)!r} is sensitive (stored encrypted): "
                "a data-scope condition cannot read it"
            )
        return current

    def _scalar_type(self, path: tuple[str, ...]) -> FieldType:
        types = _types(self._field_schema(path)) - {"null"}
        name = ".".join(path)
        if types <= {"number", "integer"} and types:
            return "number"
        if types == {"string"}:
            return "string"
        if types == {"boolean"}:
            return "boolean"
        if len(types) > 1:
            raise NotInSubset(f"{name!r} may hold {'/'.join(sorted(types))}: one type is needed")
        if types:
            kind = next(iter(types))
            article = "an" if kind in ("object", "array") else "a"
            raise NotInSubset(f"{name!r} is {article} {kind}: only single values can be compared")
        raise NotInSubset(f"{name!r} declares no type in the form's schema")


def _types(schema: Mapping[str, Any]) -> frozenset[str]:
    declared = schema.get("type")
    if isinstance(declared, str):
        return frozenset({declared})
    if isinstance(declared, list):
        return frozenset(str(t) for t in declared)
    values = schema.get("enum") or [
        c["const"] for c in schema.get("oneOf", []) if isinstance(c, Mapping) and "const" in c
    ]
    kinds = {
        "boolean" if isinstance(v, bool) else "number" if isinstance(v, int | float) else
        "string" if isinstance(v, str) else "other"
        for v in values
    }  # fmt: skip
    return frozenset(kinds)


def _operand_type(operand: Operand) -> FieldType:
    if isinstance(operand, FieldRef):
        return operand.type
    if isinstance(operand, UserRef):
        return "string"
    value = operand.value
    if isinstance(value, bool):
        return "boolean"
    return "number" if isinstance(value, int | float) else "string"


def _check_comparable(op: Operator, left: Operand, right: Operand) -> None:
    if isinstance(left, FieldRef) and isinstance(right, FieldRef):
        raise NotInSubset(
            f"compares two fields ({_describe(left)}, {_describe(right)}): "
            "compare a field with a literal or a user.* value"
        )
    left_type, right_type = _operand_type(left), _operand_type(right)
    if left_type != right_type:
        field = left if isinstance(left, FieldRef) else right
        other = right if field is left else left
        raise NotInSubset(
            f"compares {_describe(field)} ({_operand_type(field)}) "
            f"with {_describe(other)} ({_operand_type(other)})"
        )
    if left_type == "boolean" and op not in ("==", "!="):
        raise NotInSubset(f"booleans have no order: {op} cannot compare them")


def _describe(operand: Operand) -> str:
    if isinstance(operand, FieldRef):
        return repr(".".join(operand.path))
    if isinstance(operand, UserRef):
        return f"user.{operand.attr}"
    return repr(operand.value)


def _tree(node: Tree[Token] | Token) -> Tree[Token]:
    if not isinstance(node, Tree):
        raise NotInSubset(f"unexpected {str(node)!r}")
    return node


def _refused_node(node: Tree[Token]) -> str:
    if node.data == "ident_arg":
        return f"the function {node.children[0]}() is not supported in a data-scope condition"
    first = node.children[0] if node.children else None
    if isinstance(first, Tree) and first.data in _CONSTRUCTS:
        return _refused(first.data)
    return _refused(node.data)


def _refused(rule: str) -> str:
    what = _CONSTRUCTS.get(rule, rule.replace("_", " "))
    return f"{what} is not supported in a data-scope condition"


def _short(node: Tree[Token]) -> str:
    token = node.children[0]
    return str(token) if isinstance(token, Token) else node.data


__all__ = ["ConditionSyntaxError", "NotInSubset", "ScopeCondition", "compile_condition"]
