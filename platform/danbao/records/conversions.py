"""Type conversions a record migration may apply to one value.

Each conversion names the JSON types it reads and the ones it can give, so a mapping is
checked against both form versions before any record is read; a value that does not
convert (``"约三百万"`` as a number) is a per-record failure with a message in zh-CN and
English, never a guess. Numbers go through ``Decimal`` from their shortest text, so
``yuan_to_wan`` of 12,345.67 is exactly 1.234567, and money keeps its two places.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Context, Decimal, InvalidOperation
from types import MappingProxyType
from typing import Any

from danbao.forms.invalid import Invalid, InvalidValue
from danbao.forms.money import parse_amount

_EXACT = Context(prec=60)
_TEN_THOUSAND = Decimal(10000)
_MAX_TEXT = 60
NUMBERS = frozenset({"number", "integer"})
STRING = frozenset({"string"})


class NotConvertible(ValueError):
    def __init__(self, zh: str, en: str) -> None:
        super().__init__(en)
        self.invalid = Invalid("migration.convert", zh, en)


def _decimal(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise NotConvertible("不是数字", "not a number")
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, int):
        return Decimal(value)
    # Full-width digits, spaces and thousands separators are how people type numbers.
    text = "".join(unicodedata.normalize("NFKC", value).split()).replace(",", "")
    if not text or len(text) > _MAX_TEXT:
        raise NotConvertible("不是数字", "not a number")
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise NotConvertible("不是数字", "not a number") from None
    if not number.is_finite():
        raise NotConvertible("不是有限的数字", "not a finite number")
    return number


def _json_number(number: Decimal) -> int | float:
    """An integral value as a JSON integer, anything else as the float of its text."""
    if number == number.to_integral_value():
        return int(number)
    return float(number)


def string_to_number(value: Any) -> Any:
    return _json_number(_decimal(value))


def string_to_integer(value: Any) -> Any:
    number = _decimal(value)
    if number != number.to_integral_value():
        raise NotConvertible("不是整数", "not a whole number")
    return int(number)


def number_to_string(value: Any) -> Any:
    number = _decimal(value)
    # Plain notation: 3000000, not 3E+6.
    return format(number.normalize(_EXACT), "f") if number else "0"


def _amount(value: Any) -> Decimal:
    try:
        return parse_amount(value)
    except InvalidValue as exc:
        raise NotConvertible(exc.invalid.zh, exc.invalid.en) from None


def number_to_money_string(value: Any) -> Any:
    """Yuan with exactly two places, ``"3000000.00"`` (more places are refused, not rounded)."""
    return f"{_amount(value):f}"


def money_string_to_number(value: Any) -> Any:
    """``"¥1,000,000.00"``, ``"100万元"`` … as a number of yuan."""
    return _json_number(_amount(value))


def yuan_to_wan(value: Any) -> Any:
    return _json_number(_decimal(value).scaleb(-4, context=_EXACT))


def wan_to_yuan(value: Any) -> Any:
    yuan = _decimal(value) * _TEN_THOUSAND
    return _json_number(_amount(format(yuan, "f")))


@dataclass(frozen=True)
class Conversion:
    name: str
    reads: frozenset[str]
    gives: frozenset[str]
    apply: Callable[[Any], Any]


CONVERSIONS: Mapping[str, Conversion] = MappingProxyType(
    {
        c.name: c
        for c in (
            Conversion("string_to_number", STRING, NUMBERS, string_to_number),
            Conversion("string_to_integer", STRING, NUMBERS, string_to_integer),
            Conversion("number_to_string", NUMBERS, STRING, number_to_string),
            Conversion("number_to_money_string", NUMBERS, STRING, number_to_money_string),
            Conversion("money_string_to_number", STRING, NUMBERS, money_string_to_number),
            Conversion("yuan_to_wan", NUMBERS, NUMBERS, yuan_to_wan),
            Conversion("wan_to_yuan", NUMBERS, NUMBERS, wan_to_yuan),
        )
    }
)
