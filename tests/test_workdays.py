"""Deadlines on Chinese working days: holidays and 调休 from the maintained package, the
tenant's own additions for years it does not know yet, and a clock tests can move."""

from __future__ import annotations

import datetime as dt

import pytest

from danbao.definitions import validate_bundle_dict
from danbao.workdays import CHINA, LIBRARY_UNTIL, FixedClock, WorkCalendar, parse_duration
from tests.test_definitions import errors_of, files, find


def cst(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=CHINA)


def test_golden_week_2026_and_the_weekend_worked_after_it() -> None:
    cal = WorkCalendar()
    assert LIBRARY_UNTIL >= 2026
    start = cst(2026, 9, 30, 10)  # the Wednesday before National Day
    assert cal.due(start, "P1D") == cst(2026, 10, 8, 10)
    assert cal.due(start, "P2D") == cst(2026, 10, 9, 10)
    assert cal.due(start, "P3D") == cst(2026, 10, 10, 10)  # Saturday 10 October is worked
    assert cal.due(start, "PT10H") == cst(2026, 10, 8, 11)  # 8 hours on the 30th, 2 on the 8th
    assert cal.due(start, "P2D", workdays=False) == cst(2026, 10, 2, 10)


def test_mid_autumn_festival_and_a_start_on_a_day_off() -> None:
    cal = WorkCalendar()
    # Friday 25 September 2026 is the Mid-Autumn Festival: started then, counting begins
    # at the opening of Monday the 28th.
    assert cal.due(cst(2026, 9, 25, 15), "P1D") == cst(2026, 9, 29, 9)
    assert cal.due(cst(2026, 9, 25, 15), "PT2H") == cst(2026, 9, 28, 11)
    assert cal.due(cst(2026, 9, 24, 17), "PT2H") == cst(2026, 9, 28, 10)


def test_a_year_the_package_does_not_know_uses_the_tenants_schedule() -> None:
    year = LIBRARY_UNTIL + 1
    plain = WorkCalendar()
    assert not plain.knows(year)
    # Without the schedule only weekends are days off.
    first_of_may = dt.date(year, 5, 1)
    tenant = {
        "calendar": {
            "holidays": [f"{year}-05-0{d}" for d in range(1, 6)],
            "workdays": [f"{year}-04-25"],
            "hours": {"start": 8, "end": 17},
        }
    }
    cal = WorkCalendar.from_tenant(tenant)
    assert cal.knows(year)
    assert all(not cal.is_workday(first_of_may + dt.timedelta(days=d)) for d in range(5))
    assert cal.is_workday(dt.date(year, 4, 25))
    after = dt.date(year, 5, 6)
    while after.weekday() >= 5:
        after += dt.timedelta(days=1)
    start = dt.datetime(year, 4, 30, 16, tzinfo=CHINA)
    if cal.is_workday(start.date()):
        # One office hour (8 to 17) left on 30 April, the second after the May holiday.
        assert cal.due(start, "PT2H") == dt.datetime.combine(after, dt.time(9), CHINA)
    assert cal.due(start, "P1D") == dt.datetime.combine(after, dt.time(16), CHINA)


def test_tenant_overrides_win_over_the_package() -> None:
    cal = WorkCalendar.from_tenant(
        {"calendar": {"holidays": ["2026-09-30"], "workdays": ["2026-10-03"]}}
    )
    assert not cal.is_workday(dt.date(2026, 9, 30))
    assert cal.is_workday(dt.date(2026, 10, 3))


def test_fixed_clock_moves_only_when_told() -> None:
    clock = FixedClock(cst(2026, 9, 30, 10))
    due = WorkCalendar().due(clock.now(), "P2D")
    clock.advance(dt.timedelta(days=8))
    assert clock.now() < due
    clock.advance(dt.timedelta(days=1))
    assert clock.now() >= due


@pytest.mark.parametrize("text", ["2D", "P", "PT", "P1W", "P-1D", "PT1S"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_tenant_calendar_in_the_bundle() -> None:
    content = files()
    content["tenant.json"]["calendar"] = {"holidays": ["2027-10-01"], "workdays": ["2027-09-26"]}
    validate_bundle_dict(content)
    content["tenant.json"]["calendar"] = {"holidays": ["2027-10-01", "1 Oct"]}
    find(errors_of(content), "tenant.json", "/calendar/holidays/1", "YYYY-MM-DD")
    content["tenant.json"]["calendar"] = {"holidays": ["2027-02-30"]}
    find(errors_of(content), "tenant.json", "/calendar/holidays/0", "not a date")
