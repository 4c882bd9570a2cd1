"""The filters a document template may use: money, capitals, dates in Chinese, masking.

Each takes what a record holds (numbers from JSON, ISO date text) and never raises on an
empty value: an unfilled optional field shows as a dash, so a preview still renders.
Names are declared in ``danbao.definitions.templates.FILTERS`` (checked at publish time).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from danbao.forms.money import format_wan, format_yuan, parse_amount, to_chinese_capitals

EMPTY = "—"
_DIGITS = "〇一二三四五六七八九"


def _amount(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    return parse_amount(value, allow_negative=True)


def yuan(value: Any) -> str:
    """``1,000,000.00``."""
    amount = _amount(value)
    return EMPTY if amount is None else format_yuan(amount)


def wan(value: Any, places: int = 2) -> str:
    """``100.00万元``, rounded half-up."""
    amount = _amount(value)
    return EMPTY if amount is None else format_wan(amount, places)


def capitals(value: Any) -> str:
    """``人民币壹佰万元整``."""
    amount = _amount(value)
    return EMPTY if amount is None else to_chinese_capitals(amount)


def _date(value: Any) -> dt.date | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def cn_date(value: Any) -> str:
    """``2026年11月28日``."""
    day = _date(value)
    return EMPTY if day is None else f"{day.year}年{day.month}月{day.day}日"


def _small(number: int) -> str:
    """1-31 as a contract writes it: 十一, 二十八, 三十一."""
    tens, units = divmod(number, 10)
    head = "" if tens == 0 else ("十" if tens == 1 else _DIGITS[tens] + "十")
    return head + (_DIGITS[units] if units else "") if number >= 10 else _DIGITS[units]


def cn_date_upper(value: Any) -> str:
    """``二〇二六年十一月二十八日``, as the date under a seal is written."""
    day = _date(value)
    if day is None:
        return EMPTY
    year = "".join(_DIGITS[int(d)] for d in str(day.year))
    return f"{year}年{_small(day.month)}月{_small(day.day)}日"


def mask(value: Any, keep_start: int = 1, keep_end: int = 1) -> str:
    """``张*三`` / ``5101**********1234``: what a public page may show of a name or number."""
    if value is None or value == "":
        return EMPTY
    text = str(value)
    if len(text) <= keep_start + keep_end:
        return text[:1] + "*" * (len(text) - 1)
    return text[:keep_start] + "*" * (len(text) - keep_start - keep_end) + text[-keep_end:]


FILTERS: dict[str, Callable[..., str]] = {
    "yuan": yuan,
    "wan": wan,
    "capitals": capitals,
    "cn_date": cn_date,
    "cn_date_upper": cn_date_upper,
    "mask": mask,
}
