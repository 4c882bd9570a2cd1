"""A data scope as a filter inside the records query, on PostgreSQL (jsonb) and SQLite (json1).

Each part of a ``DataScope`` becomes ``kind AND condition``; the parts are OR-ed. A
condition's field references become SQL expressions over the record's ``data`` column,
typed by the form's schema (numbers compared as numbers, strings as text in binary
order, booleans as booleans), added to the query as annotations; every compared value
(literals, the user's id, department and roles) is a bound parameter. Field keys are
the only text spelled into the SQL, and only after matching ``_KEY``.

On PostgreSQL an equality (``==``, ``in``, a bare boolean) that no ``!`` negates becomes
jsonb containment, ``data @> {"field": value}``: the same rows, cheaper to test, and the
GIN index on ``data`` can find them.

Missing values follow CEL: a comparison on a field the record lacks (or holds with
another type) is neither true nor false, so neither it nor its negation admits the
record; ``a || b`` admits it when the other side is true (SQL's NULL logic does exactly
that). A condition that reads ``user.department`` admits nothing for a user in no
department (fail closed).
"""

from __future__ import annotations

import operator
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from tortoise.expressions import Q, RawSQL

from danbao.definitions.scope_conditions import (
    And,
    Compare,
    Const,
    FieldRef,
    Has,
    In,
    Node,
    Not,
    Operand,
    Operator,
    Or,
    ScopeCondition,
    Truth,
    UserRef,
    Value,
)

from .departments import DepartmentTree
from .scope import DataScope, Scope, scope_filter

Dialect = Literal["postgres", "sqlite"]
Term = Q | bool
"""A filter, or a constant: True (every row) or False (no row)."""

_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_LOOKUPS = {"==": "", "<": "__lt", "<=": "__lte", ">": "__gt", ">=": "__gte"}
_FLIPPED: Mapping[Operator, Operator] = {
    "==": "==", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="
}  # fmt: skip
_PYTHON: Mapping[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


@dataclass(frozen=True)
class Subject:
    """The acting user, as conditions and kinds see them."""

    user_id: uuid.UUID | str
    department: str | None
    roles: tuple[str, ...]


@dataclass(frozen=True)
class ScopeFilter:
    """``Record.filter(...).annotate(**annotations).filter(q)`` limits a query to a scope."""

    q: Q
    annotations: Mapping[str, RawSQL] = field(default_factory=dict)


EVERY_RECORD = ScopeFilter(Q())
"""The tenant's records of the form, with no data-scope narrowing (the system's view)."""


@dataclass
class _Builder:
    subject: Subject
    tree: DepartmentTree
    dialect: Dialect
    annotations: dict[str, RawSQL] = field(default_factory=dict)
    _names: dict[str, str] = field(default_factory=dict)

    def annotation(self, sql: str) -> str:
        """The annotation name for ``sql``, added once however often it is used."""
        name = self._names.get(sql)
        if name is None:
            name = self._names[sql] = f"scope_{len(self._names)}"
            self.annotations[name] = RawSQL(sql)
        return name

    # --- a part: its kind and its condition -------------------------------------------

    def part(self, scope: Scope) -> Term:
        return _and(self.kind(scope), self.condition(scope.condition))

    def kind(self, scope: Scope) -> Term:
        kwargs = scope_filter(
            scope,
            user_id=self.subject.user_id,
            department=self.subject.department,
            tree=self.tree,
        )
        if kwargs is None:
            return False
        return Q(**kwargs) if kwargs else True

    def condition(self, condition: ScopeCondition | None) -> Term:
        if condition is None:
            return True
        if condition.reads_department and self.subject.department is None:
            return False
        return self.node(condition.node)

    # --- the condition tree -----------------------------------------------------------

    def node(self, node: Node, positive: bool = True) -> Term:
        """``positive``: no ``!`` above this node. There, "unknown" and "false" select the
        same rows, so an equality may take the form the GIN index on ``data`` serves."""
        match node:
            case Const(value=value):
                return value
            case And(left=left, right=right):
                return _and(self.node(left, positive), self.node(right, positive))
            case Or(left=left, right=right):
                return _or(self.node(left, positive), self.node(right, positive))
            case Not(operand=operand):
                return _not(self.node(operand, not positive))
            case Compare():
                return self.compare(node, positive)
            case In(item=item, options=options):
                values = (
                    list(self.subject.roles)
                    if isinstance(options, UserRef)
                    else [v.value for v in options]
                )
                if not isinstance(item, FieldRef):
                    return self.constant(item) in values
                if not values:
                    return False
                if positive and self.dialect == "postgres":
                    term: Term = False
                    for option in values:
                        term = _or(term, _contains(item.path, option))
                    return term
                return _q(f"{self.field(item)}__in", values)
            case Has(field=path):
                return _q(self.annotation(_has_sql(path, self.dialect)), True)
            case Truth(field=ref):
                if positive and self.dialect == "postgres":
                    return _contains(ref.path, True)
                return _q(self.field(ref), True)
        raise TypeError(f"not a scope-condition node: {node!r}")

    def compare(self, node: Compare, positive: bool = True) -> Term:
        op, left, right = node.op, node.left, node.right
        if isinstance(right, FieldRef):
            op, left, right = _FLIPPED[op], right, left
        if not isinstance(left, FieldRef):
            return bool(_PYTHON[op](self.constant(left), self.constant(right)))
        value = self.constant(right)
        if op == "==" and positive and self.dialect == "postgres":
            return _contains(left.path, value)
        name = self.field(left)
        if op == "!=":
            return ~_q(name, value)
        return _q(f"{name}{_LOOKUPS[op]}", value)

    def constant(self, operand: Operand) -> Any:
        if isinstance(operand, Value):
            return operand.value
        if isinstance(operand, UserRef):
            if operand.attr == "id":
                return str(self.subject.user_id)
            if operand.attr == "department":
                return self.subject.department
            return list(self.subject.roles)
        raise TypeError(f"not a constant: {operand!r}")

    def field(self, ref: FieldRef) -> str:
        return self.annotation(_value_sql(ref, self.dialect))


def data_scope_filter(
    scope: DataScope, subject: Subject, tree: DepartmentTree, dialect: Dialect
) -> ScopeFilter | None:
    """The filter for every part of ``scope`` (OR-ed); None means "no rows at all".

    A caller that gets None must return an empty result without querying, never drop the
    filter.
    """
    builder = _Builder(subject, tree, dialect)
    term: Term = False
    for part in scope.parts:
        term = _or(term, builder.part(part))
    return _finish(term, builder)


def part_filters(
    part: Scope, subject: Subject, tree: DepartmentTree, dialect: Dialect
) -> tuple[ScopeFilter | None, ScopeFilter | None]:
    """One part's kind and condition as separate filters, for the explainer to say which
    of the two kept a record out."""
    kind_builder = _Builder(subject, tree, dialect)
    condition_builder = _Builder(subject, tree, dialect)
    return (
        _finish(kind_builder.kind(part), kind_builder),
        _finish(condition_builder.condition(part.condition), condition_builder),
    )


def _contains(path: tuple[str, ...], value: Any) -> Q:
    """``data @> {"a": {"b": value}}``: jsonb equality of the same type (numbers as numbers,
    strings byte for byte), a bound parameter, and served by ``form_record_data_gin``."""
    document: Any = value
    for key in reversed(_checked(path)):
        document = {key: document}
    return _q("data__contains", document)


def _q(lookup: str, value: Any) -> Q:
    kwargs: dict[str, Any] = {lookup: value}
    return Q(**kwargs)


def _finish(term: Term, builder: _Builder) -> ScopeFilter | None:
    if term is False:
        return None
    if term is True:
        return EVERY_RECORD
    return ScopeFilter(term, dict(builder.annotations))


# --- SQL for a field of the record's data ------------------------------------------------


def _checked(path: tuple[str, ...]) -> tuple[str, ...]:
    # Conditions are checked at publish time; this re-check keeps the SQL safe regardless.
    for key in path:
        if not _KEY.fullmatch(key):
            raise ValueError(f"not a field key: {key!r}")
    return path


def _pg_path(path: tuple[str, ...]) -> str:
    return "'{" + ",".join(_checked(path)) + "}'"


def _sqlite_path(path: tuple[str, ...]) -> str:
    return "'$." + ".".join(_checked(path)) + "'"


def _value_sql(ref: FieldRef, dialect: Dialect) -> str:
    """The field's value as SQL of its schema type; NULL when absent or of another type."""
    if dialect == "postgres":
        at = _pg_path(ref.path)
        typeof = f"jsonb_typeof(data #> {at})"
        if ref.type == "number":
            return f"(CASE WHEN {typeof} = 'number' THEN (data #>> {at})::numeric END)"
        if ref.type == "boolean":
            return f"(CASE WHEN {typeof} = 'boolean' THEN (data #>> {at})::boolean END)"
        # Binary order, as SQLite compares: the same condition answers the same everywhere.
        return f"(CASE WHEN {typeof} = 'string' THEN (data #>> {at}) END) COLLATE \"C\""
    at = _sqlite_path(ref.path)
    kinds = {"number": "'integer', 'real'", "boolean": "'true', 'false'", "string": "'text'"}
    return (
        f"(CASE WHEN json_type(data, {at}) IN ({kinds[ref.type]}) "
        f"THEN json_extract(data, {at}) END)"
    )


def _has_sql(path: tuple[str, ...], dialect: Dialect) -> str:
    if dialect == "postgres":
        return f"(COALESCE(jsonb_typeof(data #> {_pg_path(path)}), 'null') <> 'null')"
    return f"(COALESCE(json_type(data, {_sqlite_path(path)}), 'null') <> 'null')"


# --- three-way algebra: constants fold away, so "no rows" never reaches SQL --------------


def _and(left: Term, right: Term) -> Term:
    if left is False or right is False:
        return False
    if left is True:
        return right
    if right is True:
        return left
    return left & right


def _or(left: Term, right: Term) -> Term:
    if left is True or right is True:
        return True
    if left is False:
        return right
    if right is False:
        return left
    return left | right


def _not(term: Term) -> Term:
    if isinstance(term, bool):
        return not term
    return ~term
