"""Chinese working days for deadlines, and a clock that tests can move.

Public holidays and the weekend days worked instead (调休) come from the maintained
``chinese-calendar`` package, whose data runs as far as the State Council has announced
(at version 1.11: to the end of 2026; each year's schedule is published around November
of the year before). A tenant's ``tenant.json`` may add ``calendar.holidays`` and
``calendar.workdays``: they win over the package, and for a year the package does not
know yet they are the only source besides the weekend, so a guarantor can enter next
year's schedule the day it is announced without waiting for a release.

Times are China Standard Time (Asia/Shanghai); working hours default to 9:00-18:00.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import chinese_calendar

CHINA = ZoneInfo("Asia/Shanghai")
_DURATION = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?)?$")
_MAX_DAYS = 3660  # a deadline further than ten years out is a mistake, not a plan


class Clock(Protocol):
    def now(self) -> dt.datetime: ...


class SystemClock:
    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)


@dataclass
class FixedClock:
    """A clock that only moves when told: deterministic deadlines and timers in tests."""

    current: dt.datetime

    def now(self) -> dt.datetime:
        return self.current

    def advance(self, delta: dt.timedelta) -> None:
        self.current += delta


def _first_year_unknown() -> int:
    last = max(chinese_calendar.constants.holidays)
    return last.year + 1


LIBRARY_UNTIL = _first_year_unknown() - 1
"""The last year the holiday package knows."""


@dataclass(frozen=True)
class WorkCalendar:
    holidays: frozenset[dt.date] = frozenset()
    workdays: frozenset[dt.date] = frozenset()
    start_hour: int = 9
    end_hour: int = 18
    tz: dt.tzinfo = field(default=CHINA)

    @classmethod
    def from_tenant(cls, tenant: Mapping[str, Any]) -> WorkCalendar:
        """From ``tenant.json``'s optional ``calendar`` section (validated by its schema)."""
        section = tenant.get("calendar", {})
        hours = section.get("hours", {})
        return cls(
            holidays=frozenset(_dates(section.get("holidays", ()))),
            workdays=frozenset(_dates(section.get("workdays", ()))),
            start_hour=hours.get("start", 9),
            end_hour=hours.get("end", 18),
        )

    def knows(self, year: int) -> bool:
        """Whether the official schedule of ``year`` is known (package or tenant)."""
        return year <= LIBRARY_UNTIL or any(d.year == year for d in self.holidays)

    def is_workday(self, day: dt.date) -> bool:
        if day in self.workdays:
            return True
        if day in self.holidays:
            return False
        if day.year <= LIBRARY_UNTIL:
            return bool(chinese_calendar.is_workday(day))
        return day.weekday() < 5

    def next_workday(self, day: dt.date) -> dt.date:
        for _ in range(_MAX_DAYS):
            day += dt.timedelta(days=1)
            if self.is_workday(day):
                return day
        raise ValueError("no working day within ten years")

    def add_workdays(self, start: dt.datetime, days: int) -> dt.datetime:
        """``days`` working days after ``start``, at the same time of day. Started on a day
        off, the count begins at the opening of the next working day."""
        local = start.astimezone(self.tz)
        if not self.is_workday(local.date()):
            local = self._opening(self.next_workday(local.date()))
        day = local.date()
        for _ in range(days):
            day = self.next_workday(day)
        return dt.datetime.combine(day, local.timetz()).astimezone(dt.UTC)

    def add_work_hours(self, start: dt.datetime, minutes: int) -> dt.datetime:
        """``minutes`` of office time after ``start``, counted on working days only."""
        local = start.astimezone(self.tz)
        remaining = dt.timedelta(minutes=minutes)
        for _ in range(_MAX_DAYS):
            day = local.date()
            opening, closing = self._opening(day), self._closing(day)
            if self.is_workday(day) and local < closing:
                local = max(local, opening)
                if local + remaining <= closing:
                    return (local + remaining).astimezone(dt.UTC)
                remaining -= closing - local
            local = self._opening(self.next_workday(day))
        raise ValueError("no working time within ten years")

    def due(self, start: dt.datetime, duration: str, *, workdays: bool = True) -> dt.datetime:
        """When a deadline of ``duration`` (ISO 8601: P2D, PT4H, P1DT2H) started at ``start``
        falls due: in working days and office hours, or in plain calendar time."""
        days, minutes = parse_duration(duration)
        if not workdays:
            return (start + dt.timedelta(days=days, minutes=minutes)).astimezone(dt.UTC)
        moment = self.add_workdays(start, days) if days else start
        return self.add_work_hours(moment, minutes) if minutes else moment

    def _opening(self, day: dt.date) -> dt.datetime:
        return dt.datetime.combine(day, dt.time(self.start_hour), self.tz)

    def _closing(self, day: dt.date) -> dt.datetime:
        if self.end_hour == 24:
            return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), self.tz)
        return dt.datetime.combine(day, dt.time(self.end_hour), self.tz)


def parse_duration(text: str) -> tuple[int, int]:
    """``P1DT2H30M`` -> (1 day, 150 minutes); raise ValueError on anything else."""
    match = _DURATION.match(text)
    if match is None or text in ("P", "PT"):
        raise ValueError(f"not a duration in days, hours and minutes: {text!r}")
    days, hours, minutes = (int(g) if g else 0 for g in match.groups())
    return days, hours * 60 + minutes


def _dates(values: Iterable[str]) -> Iterable[dt.date]:
    return (dt.date.fromisoformat(v) for v in values)
