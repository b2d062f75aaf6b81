"""The official Chinese calendar: public holidays and adjusted working days (调休).

Data comes from the chinese-calendar package, which publishes each year's calendar once
the State Council announces it (usually in November for the next year) and raises for
years it does not have. Here that becomes `HolidayDataMissing`, which the checker turns
into a diagnostic: a flow must never silently treat an unknown holiday as a workday.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import cache


class HolidayDataMissing(LookupError):
    def __init__(self, year: int, covered: range):
        super().__init__(f"the official holiday calendar has no data for {year} "
                         f"(chinese-calendar covers {covered.start}-{covered.stop - 1})")
        self.year = year
        self.covered = covered


@cache
def _tables() -> tuple[frozenset[date], frozenset[date], range]:
    from chinese_calendar import constants

    holidays = frozenset(constants.holidays)
    workdays = frozenset(constants.workdays)
    years = sorted({d.year for d in holidays})
    return holidays, workdays, range(years[0], years[-1] + 1)


def covered_years() -> range:
    return _tables()[2]


def data_version() -> str:
    import chinese_calendar

    found = getattr(chinese_calendar, "__version__", None)  # importlib.metadata costs ~20 ms of `flowc version`
    if found:
        return f"chinesecalendar {found}"
    try:
        from importlib.metadata import version

        return f"chinesecalendar {version('chinesecalendar')}"
    except Exception:  # pragma: no cover - metadata missing in odd installs
        return "chinesecalendar"


def _require(year: int) -> None:
    covered = covered_years()
    if year not in covered:
        raise HolidayDataMissing(year, covered)


def is_holiday(day: date) -> bool:
    """A statutory public holiday (法定节假日), including the days off moved next to it."""
    _require(day.year)
    return day in _tables()[0]


def is_adjusted_workday(day: date) -> bool:
    """A Saturday or Sunday that is a working day because of a holiday swap (调休上班)."""
    _require(day.year)
    return day in _tables()[1]


def is_workday(day: date) -> bool:
    """工作日: Mon-Fri that is not a holiday, or an adjusted working day."""
    if is_adjusted_workday(day):
        return True
    return day.isoweekday() <= 5 and not is_holiday(day)


def is_restday(day: date) -> bool:
    """休息日: every day that is not a working day (weekends and holidays)."""
    return not is_workday(day)


def holidays_in(year: int) -> list[date]:
    _require(year)
    return sorted(d for d in _tables()[0] if d.year == year)


def adjusted_workdays_in(year: int) -> list[date]:
    _require(year)
    return sorted(d for d in _tables()[1] if d.year == year)


def days_of(year: int):
    d = date(year, 1, 1)
    while d.year == year:
        yield d
        d += timedelta(days=1)
