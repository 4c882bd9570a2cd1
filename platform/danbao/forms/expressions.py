"""The expression language of form definitions at run time: CEL with Danbao's rules.

Conditions and computed fields are CEL, evaluated by cel-python here and by cel-js in
the browser (``console/static/logic.js``). The two must agree on every value, so this
module pins down the corners where CEL implementations differ (docs/forms.md, "The
expression language"); ``tests/logic_cases.json`` is evaluated on both sides.

- Every number of a record is a ``double``; an ``int`` meeting a ``double`` (a literal,
  ``size()``, ``id_age()``) is promoted, so ``amount * 2`` and ``term_months == 12`` work.
- Equality is CEL's heterogeneous equality: values of different kinds are unequal
  (``null == "x"`` is false, ``true == 1`` is false), numbers compare by value.
- Ordering compares numbers with numbers and strings with strings; anything else is an
  error, and so is arithmetic on null.
- Functions beyond CEL's: ``id_age(s)``, ``id_sex(s)``, ``sum(list)``.
- A computed number is rounded by :func:`round_result` (15 significant digits, then
  half-up to the field's places).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date
from decimal import ROUND_HALF_UP, Context, Decimal
from functools import lru_cache
from typing import Any

import celpy
from celpy import celtypes
from celpy.evaluation import CELEvalError, base_functions

from danbao.forms.identifiers import id_facts, today_in_china
from danbao.forms.invalid import InvalidValue

# The significant digits a double carries reliably; a spreadsheet shows no more either.
SIGNIFICANT = 15
_SIGNIFICANT = Context(prec=SIGNIFICANT, rounding=ROUND_HALF_UP)
_EXACT = Context(prec=60, rounding=ROUND_HALF_UP)
# Larger results are refused (null): no amount a form holds comes near.
LIMIT = 10**18

_today: ContextVar[date | None] = ContextVar("danbao_expression_today", default=None)


class ExpressionError(ValueError):
    """The expression could not give a value for this data (a type error, a bad ID …)."""


# ---------------------------------------------------------------- values in and out


def to_cel(value: Any) -> Any:
    """A JSON value as CEL sees it: every number a double."""
    if value is None:
        return None
    if isinstance(value, bool):
        return celtypes.BoolType(value)
    if isinstance(value, int | float | Decimal):
        return celtypes.DoubleType(float(value))
    if isinstance(value, str):
        return celtypes.StringType(value)
    if isinstance(value, list | tuple):
        return celtypes.ListType([to_cel(v) for v in value])
    if isinstance(value, Mapping):
        return celtypes.MapType({celtypes.StringType(k): to_cel(v) for k, v in value.items()})
    raise TypeError(f"not a JSON value: {type(value).__name__}")


def from_cel(value: Any) -> Any:
    """A CEL result as plain JSON-able Python (an ``int`` stays an int, a double a float)."""
    if isinstance(value, CELEvalError):
        raise ExpressionError(str(value.args[0]) if value.args else "evaluation error")
    kind = _kind(value)
    if kind == "null":
        return None
    if kind == "bool":
        return bool(value)
    if kind == "number":
        return float(value) if isinstance(value, float) else int(value)
    if kind == "string":
        return str(value)
    if kind == "list":
        return [from_cel(v) for v in value]
    if kind == "map":
        return {str(k): from_cel(v) for k, v in value.items()}
    raise ExpressionError(f"a value of type {type(value).__name__} cannot leave an expression")


# ---------------------------------------------------------------- the rules of numbers


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool | celtypes.BoolType):  # BoolType is an int: test it first
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bytes):
        return "bytes"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "map"
    return type(value).__name__


def _numbers(a: Any, b: Any) -> tuple[Any, Any]:
    """Both numbers, an int promoted when it meets a double; TypeError otherwise."""
    if _kind(a) != "number" or _kind(b) != "number":
        raise TypeError("no such overload")
    if isinstance(a, float) or isinstance(b, float):
        return celtypes.DoubleType(float(a)), celtypes.DoubleType(float(b))
    return celtypes.IntType(a), celtypes.IntType(b)


def _arithmetic(op: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    base = base_functions[{"add": "_+_", "sub": "_-_", "mul": "_*_", "truediv": "_/_"}[op.__name__]]

    def apply(a: Any, b: Any) -> Any:
        if _kind(a) == "number" or _kind(b) == "number":
            a, b = _numbers(a, b)
        elif _kind(a) != _kind(b) or _kind(a) in ("null", "bool", "map"):
            raise TypeError("no such overload")
        return _wrap(base(a, b))

    return apply


def _wrap(value: Any) -> Any:
    """cel-python's operators may answer plain Python values; give them their CEL type."""
    kind = _kind(value)
    if kind == "number":
        return celtypes.DoubleType(value) if isinstance(value, float) else celtypes.IntType(value)
    if kind == "string" and not isinstance(value, celtypes.StringType):
        return celtypes.StringType(value)
    return value


def _equal(a: Any, b: Any) -> bool:
    kind = _kind(a)
    if kind != _kind(b):
        return False
    if kind == "number":
        return float(a) == float(b)
    if kind == "list":
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    if kind == "map":
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    return bool(a == b)


def _ordering(op: Callable[[Any, Any], bool]) -> Callable[[Any, Any], Any]:
    def compare(a: Any, b: Any) -> Any:
        kind = _kind(a)
        if kind == "number" and _kind(b) == "number":
            return celtypes.BoolType(op(float(a), float(b)))
        if kind != _kind(b) or kind not in ("string", "bool", "bytes"):
            raise TypeError("no such overload")
        return celtypes.BoolType(op(a, b))

    return compare


def _in(item: Any, container: Any) -> Any:
    if isinstance(container, list):
        return celtypes.BoolType(any(_equal(item, v) for v in container))
    if isinstance(container, dict):
        return celtypes.BoolType(any(_equal(item, k) for k in container))
    raise TypeError("no such overload")


def _modulo(a: Any, b: Any) -> Any:
    if not (isinstance(a, celtypes.IntType) and isinstance(b, celtypes.IntType)):
        raise TypeError("no such overload")
    return base_functions["_%_"](a, b)


# ---------------------------------------------------------------- our functions


def _error(message: str) -> CELEvalError:
    return CELEvalError(message, ValueError, ())


def _id(value: Any) -> Any:
    if not isinstance(value, str):
        return _error("not an ID number")
    on = _today.get() or today_in_china()
    try:
        return id_facts(str(value), on)
    except InvalidValue:
        return _error("not a valid resident ID number")


def id_age(value: Any) -> Any:
    """Whole years (周岁) on today's date in China of the holder of a resident ID number."""
    facts = _id(value)
    return facts if isinstance(facts, CELEvalError) else celtypes.IntType(facts.age)


def id_sex(value: Any) -> Any:
    """``"male"`` or ``"female"``, from the 17th digit of a resident ID number."""
    facts = _id(value)
    return facts if isinstance(facts, CELEvalError) else celtypes.StringType(facts.sex)


def sum_of(values: Any) -> Any:
    """The numbers of a list added left to right as doubles; nulls are skipped."""
    if not isinstance(values, list):
        return _error("sum() takes a list")
    total = 0.0
    for value in values:
        if value is None:
            continue
        if _kind(value) != "number":
            return _error("sum() adds numbers only")
        total += float(value)
    return celtypes.DoubleType(total)


FUNCTIONS: dict[str, Any] = {
    "_+_": _arithmetic(operator.add),
    "_-_": _arithmetic(operator.sub),
    "_*_": _arithmetic(operator.mul),
    "_/_": _arithmetic(operator.truediv),
    "_%_": _modulo,
    "_==_": lambda a, b: celtypes.BoolType(_equal(a, b)),
    "_!=_": lambda a, b: celtypes.BoolType(not _equal(a, b)),
    "_<_": _ordering(operator.lt),
    "_<=_": _ordering(operator.le),
    "_>_": _ordering(operator.gt),
    "_>=_": _ordering(operator.ge),
    "_in_": _in,
    "id_age": id_age,
    "id_sex": id_sex,
    "sum": sum_of,
}
"""Overrides and additions to cel-python's functions (names as the static checks know them)."""

CUSTOM_FUNCTIONS = frozenset({"id_age", "id_sex", "sum"})


# ---------------------------------------------------------------- evaluation


_environment = celpy.Environment()


@lru_cache(maxsize=4096)
def _program(text: str) -> Any:
    # Compiled once per expression text: definitions are immutable once published.
    return _environment.program(_environment.compile(text), functions=FUNCTIONS)


@contextmanager
def evaluation_day(on: date) -> Iterator[None]:
    """Evaluate with ``on`` as today's date (tests and re-evaluation of old records)."""
    token = _today.set(on)
    try:
        yield
    finally:
        _today.reset(token)


@lru_cache(maxsize=4096)
def _names(text: str) -> frozenset[str]:
    """Every identifier in the expression: a superset of the variables it can read (it also
    holds function, macro and member names, which match no variable or do no harm)."""
    tree = _environment.compile(text)
    return frozenset(str(t) for t in tree.scan_values(lambda v: getattr(v, "type", "") == "IDENT"))


def evaluate(text: str, variables: Mapping[str, Any]) -> Any:
    """The value of ``text`` with ``variables`` (JSON values); ExpressionError if none.

    Only the variables the expression names are converted to CEL values: a form passes
    every field (a whole record, rows included) to each of its conditions.
    """
    names = _names(text)
    activation = {name: to_cel(value) for name, value in variables.items() if name in names}
    try:
        result = _program(text).evaluate(activation)
    except CELEvalError as exc:
        raise ExpressionError(str(exc.args[0]) if exc.args else "evaluation error") from None
    except (TypeError, ValueError, KeyError, ArithmeticError, RecursionError) as exc:
        raise ExpressionError(f"{type(exc).__name__}: {exc}") from None
    return from_cel(result)


def holds(text: str, variables: Mapping[str, Any]) -> bool:
    """A condition holds only when it evaluates to true; null, errors and non-booleans do not."""
    try:
        return evaluate(text, variables) is True
    except ExpressionError:
        return False


def round_result(value: Any, places: int) -> Decimal | None:
    """A computed number as stored: its shortest decimal text, rounded half-up (四舍五入)
    first to 15 significant digits (which drops binary noise: ``0.1 + 0.2`` is 0.3), then to
    ``places``. None for anything that is not a finite number below 10^18 in size."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    if abs(value) >= LIMIT:
        return None
    exact = Decimal(repr(float(value))) if isinstance(value, float) else Decimal(value)
    rounded = _SIGNIFICANT.plus(exact).quantize(Decimal(1).scaleb(-places), context=_EXACT)
    return rounded.copy_abs() if rounded.is_zero() else rounded
