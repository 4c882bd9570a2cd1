"""Reading the facts of a default, a compensation or a recovery from a request body.

Every fault is collected with its JSON pointer and the whole body is refused at once
(``AttributesInvalid``, the same shape as a project's attributes), so a caller learns
everything wrong in one answer and nothing is half-taken. Money is ``Decimal`` in yuan
with at most two decimals (fen), given as a JSON string or number, never a float in
our hands.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from danbao.definitions.errors import pointer
from danbao.forms.identifiers import today_in_china

from .attributes import CENT, MAX_AMOUNT, AttributeFault, AttributesInvalid

MAX_TEXT = 1000


class Reader:
    """Typed reads of one JSON object; ``done()`` raises if any read failed."""

    def __init__(self, body: Mapping[str, Any], base: str = "") -> None:
        self.body = body
        self.base = base
        self.faults: list[AttributeFault] = []

    def fault(self, name: str | int, message: str) -> None:
        self.faults.append(AttributeFault(self.base + pointer(name), message))

    def _raw(self, name: str, required: bool) -> Any:
        raw = self.body.get(name)
        if (raw is None or raw == "") and required:
            self.fault(name, f"{name} is required")
        return None if raw == "" else raw

    def money(self, name: str, *, required: bool = True, zero: bool = False) -> Decimal | None:
        """An amount in yuan: above 0 (or at least 0 with ``zero``), at most two decimals."""
        raw = self._raw(name, required)
        if raw is None:
            return None
        if isinstance(raw, bool) or not isinstance(raw, int | float | str):
            self.fault(name, f'{name} must be an amount (a number or a string like "1234.56")')
            return None
        try:
            value = Decimal(str(raw).strip())
        except InvalidOperation:
            self.fault(name, f"{name} must be an amount, not {str(raw)[:40]!r}")
            return None
        low_ok = value >= 0 if zero else value > 0
        if not value.is_finite() or not low_ok or value > MAX_AMOUNT:
            floor = "0 or more" if zero else "above 0"
            self.fault(name, f"{name} must be {floor} and below 10^18")
            return None
        if value != value.quantize(CENT):
            self.fault(name, f"{name} has more than two decimals (fen)")
            return None
        return value.quantize(CENT)

    def day(self, name: str, *, required: bool = True, not_after_today: bool = True) -> date | None:
        """A calendar date ``YYYY-MM-DD``; not in the future (China time) unless allowed."""
        raw = self._raw(name, required)
        if raw is None:
            return None
        try:
            value = date.fromisoformat(raw) if isinstance(raw, str) and len(raw) == 10 else None
        except ValueError:
            value = None
        if value is None:
            self.fault(name, f"{name} must be a date like 2026-05-31")
            return None
        if not_after_today and value > today_in_china():
            self.fault(name, f"{name} is in the future")
            return None
        return value

    def text(self, name: str, *, required: bool = False, limit: int = 100) -> str | None:
        raw = self._raw(name, required)
        if raw is None:
            return None
        if not isinstance(raw, str) or len(raw.strip()) > limit:
            self.fault(name, f"{name} must be text of at most {limit} characters")
            return None
        text = raw.strip()
        if not text and required:
            self.fault(name, f"{name} is required")
        return text or None

    def integer(self, name: str, *, low: int = 1, high: int = 100_000) -> int | None:
        raw = self._raw(name, True)
        if raw is None:
            return None
        if isinstance(raw, bool) or not isinstance(raw, int) or not low <= raw <= high:
            self.fault(name, f"{name} must be a whole number from {low} to {high}")
            return None
        return raw

    def choice(self, name: str, choices: tuple[str, ...]) -> str | None:
        raw = self._raw(name, True)
        if raw is None:
            return None
        if raw not in choices:
            self.fault(name, f"{name} must be one of: {', '.join(choices)}")
            return None
        return str(raw)

    def done(self) -> None:
        if self.faults:
            raise AttributesInvalid(self.faults)


def reader(body: Any) -> Reader:
    """A reader of ``body``; a body that is not an object is one fault at the root."""
    if isinstance(body, Mapping):
        return Reader(body)
    found = Reader({})
    found.faults.append(AttributeFault("", "expected a JSON object"))
    found.done()
    return found  # pragma: no cover - done() raised
