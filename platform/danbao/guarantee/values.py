"""Reading a request body's values for the in-force records (counter-guarantees, the
loan, repayments, tasks): exact decimals, dates, codes and text, each fault named by its
JSON pointer, every fault of the body at once, nothing taken from a body with any.

Money is a decimal of yuan with at most two places (a JSON number or a string; never a
float on the way in: numbers are parsed from their text), ratios 0..1 with at most six.
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

FEN = Decimal("0.01")
MAX_MONEY = Decimal("1e17")
MAX_TEXT = 500


@dataclass(frozen=True)
class Fault:
    pointer: str
    message: str

    def as_json(self) -> dict[str, str]:
        return {"pointer": self.pointer, "message": self.message}


class Invalid(ValueError):
    """The body's faults, each by pointer."""

    def __init__(self, faults: list[Fault]) -> None:
        self.faults = faults
        super().__init__("; ".join(f"{f.pointer}: {f.message}" for f in faults))


def decimal_of(raw: Any) -> Decimal | None:
    """A finite Decimal of a JSON number or numeric string, else None (bools refused)."""
    if isinstance(raw, bool) or not isinstance(raw, int | float | str | Decimal):
        return None
    try:
        # str() of a parsed JSON float gives its shortest text: 0.1 stays 0.1, not the binary.
        value = Decimal(str(raw).strip())
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


@dataclass
class Reader:
    """Collects values and faults from one JSON object."""

    body: dict[str, Any]
    faults: list[Fault] = field(default_factory=list)

    def fault(self, key: str, message: str) -> None:
        self.faults.append(Fault("/" + key, message))

    def present(self, key: str) -> bool:
        return key in self.body and self.body[key] is not None

    def money(self, key: str, *, required: bool = True, positive: bool = False) -> Decimal | None:
        if not self.present(key):
            if required:
                self.fault(key, "required: an amount in yuan")
            return None
        value = decimal_of(self.body[key])
        if value is None:
            self.fault(key, 'an amount in yuan, e.g. "1500000.00"')
        elif value < 0 or (positive and value == 0):
            self.fault(key, "must be greater than 0" if positive else "must not be negative")
        elif value != value.quantize(FEN):
            self.fault(key, "at most two decimals (yuan and fen)")
        elif value >= MAX_MONEY:
            self.fault(key, "too large")
        else:
            return value.quantize(FEN)
        return None

    def ratio(self, key: str, *, required: bool = True) -> Decimal | None:
        if not self.present(key):
            if required:
                self.fault(key, "required: a ratio between 0 and 1")
            return None
        value = decimal_of(self.body[key])
        if value is None or not Decimal(0) <= value <= Decimal(1):
            self.fault(key, "a ratio between 0 and 1 (0.3 for 30%)")
        elif value != value.quantize(Decimal("0.000001")):
            self.fault(key, "at most six decimals")
        else:
            return value
        return None

    def text(self, key: str, *, required: bool = True, max_length: int = MAX_TEXT) -> str | None:
        if not self.present(key):
            if required:
                self.fault(key, "required")
            return None
        raw = self.body[key]
        if not isinstance(raw, str) or not raw.strip():
            self.fault(key, "a non-empty text")
        elif len(raw) > max_length:
            self.fault(key, f"at most {max_length} characters")
        else:
            return raw.strip()
        return None

    def choice(self, key: str, codes: tuple[str, ...], *, required: bool = True) -> str | None:
        if not self.present(key):
            if required:
                self.fault(key, "required: one of " + ", ".join(codes))
            return None
        raw = self.body[key]
        if raw not in codes:
            self.fault(key, "one of " + ", ".join(codes))
            return None
        return str(raw)

    def date(self, key: str, *, required: bool = True) -> dt.date | None:
        if not self.present(key):
            if required:
                self.fault(key, "required: a date YYYY-MM-DD")
            return None
        raw = self.body[key]
        try:
            if not isinstance(raw, str) or len(raw) != 10:
                raise ValueError(raw)
            return dt.date.fromisoformat(raw)
        except ValueError:
            self.fault(key, "a date YYYY-MM-DD")
            return None

    def integer(self, key: str, low: int, high: int, *, required: bool = True) -> int | None:
        if not self.present(key):
            if required:
                self.fault(key, f"required: a whole number {low}-{high}")
            return None
        raw = self.body[key]
        if isinstance(raw, bool) or not isinstance(raw, int) or not low <= raw <= high:
            self.fault(key, f"a whole number {low}-{high}")
            return None
        return raw

    def unknown(self, allowed: set[str]) -> None:
        for key in sorted(set(self.body) - allowed):
            self.fault(key, "unknown key")

    def check(self) -> None:
        if self.faults:
            raise Invalid(self.faults)


def add_months(day: dt.date, months: int) -> dt.date:
    """The same day ``months`` later, or that month's last day (31 Jan + 1 → 28/29 Feb)."""
    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))
