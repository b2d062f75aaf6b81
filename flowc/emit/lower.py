"""Target-neutral lowering shared by the emitters: schedules as boolean expressions over
simple clock tests, holiday calendars expanded into date sets.

Both engines can evaluate the same few primitive tests on the call's local time:
the ISO weekday, the date as YYYYMMDD, the month-day as MMDD, and the time as HHMM.
A schedule becomes an expression tree over those tests (S-TIME-2..5), so the Asterisk
and FreeSWITCH emitters only translate leaves and `and`/`or`/`not` into their syntax.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from .. import holidays, ir

# ------------------------------------------------------------------ expressions


@dataclass(frozen=True)
class Weekday:
    days: tuple[int, ...]  # ISO 1 = Monday .. 7 = Sunday


@dataclass(frozen=True)
class DateIn:
    dates: tuple[str, ...]  # YYYYMMDD, sorted


@dataclass(frozen=True)
class Between:
    """lo <= value <= hi (inclusive) on one clock field."""

    field: str  # "ymd" (YYYYMMDD), "md" (MMDD) or "hm" (HHMM, hi exclusive: see TimeRange)
    lo: int
    hi: int


@dataclass(frozen=True)
class Not:
    expr: "Expr"


@dataclass(frozen=True)
class And:
    items: tuple["Expr", ...]


@dataclass(frozen=True)
class Or:
    items: tuple["Expr", ...]


TRUE = And(())
FALSE = Or(())
Expr = Weekday | DateIn | Between | Not | And | Or


def conj(items) -> Expr:
    items = tuple(i for i in items if i != TRUE)
    if any(i == FALSE for i in items):
        return FALSE
    return items[0] if len(items) == 1 else And(items)


def disj(items) -> Expr:
    items = tuple(i for i in items if i != FALSE)
    if any(i == TRUE for i in items):
        return TRUE
    return items[0] if len(items) == 1 else Or(items)


# ------------------------------------------------------------------ calendars


@dataclass(frozen=True)
class Calendar:
    """The official calendar over the compiled years; uncovered years contribute nothing,
    so `workdays` falls back to Mon-Fri there (S-TIME-5)."""

    holidays: tuple[str, ...]
    adjusted_workdays: tuple[str, ...]
    covered: tuple[int, ...]
    missing: tuple[int, ...]


@cache
def calendar(years: tuple[int, ...]) -> Calendar:
    covered = holidays.covered_years()
    hol, adj, have, missing = [], [], [], []
    for y in sorted(set(years)):
        if y in covered:
            have.append(y)
            hol += [d.strftime("%Y%m%d") for d in holidays.holidays_in(y)]
            adj += [d.strftime("%Y%m%d") for d in holidays.adjusted_workdays_in(y)]
        else:
            missing.append(y)
    return Calendar(tuple(hol), tuple(adj), tuple(have), tuple(missing))


def day_type_expr(day_type: ir.DayType, cal: Calendar) -> Expr:
    hol = DateIn(cal.holidays) if cal.holidays else FALSE
    adj = DateIn(cal.adjusted_workdays) if cal.adjusted_workdays else FALSE
    workday = disj([adj, conj([Weekday((1, 2, 3, 4, 5)), Not(hol) if hol != FALSE else TRUE])])
    if day_type is ir.DayType.HOLIDAY:
        return hol
    if day_type is ir.DayType.WORKDAY:
        return workday
    return Not(workday) if workday != TRUE else FALSE


def _date_range_expr(d: ir.DateRange) -> Expr:
    if d.start_year is not None:
        lo = d.start_year * 10000 + d.start_month * 100 + d.start_day
        hi = d.end_year * 10000 + d.end_month * 100 + d.end_day
        return Between("ymd", lo, hi)
    lo = d.start_month * 100 + d.start_day
    hi = d.end_month * 100 + d.end_day
    if lo <= hi:
        return Between("md", lo, hi)
    return disj([Between("md", lo, 1231), Between("md", 101, hi)])  # wraps over the new year


def _time_expr(t: ir.TimeRange) -> Expr:
    """[start, end) in minutes -> inclusive HHMM bounds (end - 1 minute)."""

    def hhmm(minutes: int) -> int:
        return (minutes // 60) * 100 + minutes % 60

    if t.start < t.end:
        return Between("hm", hhmm(t.start), hhmm(t.end - 1))
    parts = [Between("hm", hhmm(t.start), 2359)]
    if t.end > 0:
        parts.append(Between("hm", 0, hhmm(t.end - 1)))
    return disj(parts)


def rule_expr(rule: ir.ScheduleRule, cal: Calendar) -> Expr:
    days: list[Expr] = []
    if rule.weekdays:
        days.append(Weekday(tuple(rule.weekdays)))
    days += [day_type_expr(t, cal) for t in rule.day_types]
    days += [_date_range_expr(d) for d in rule.dates]
    day_part = disj(days) if (rule.weekdays or rule.day_types or rule.dates) else TRUE
    time_part = disj([_time_expr(t) for t in rule.times]) if rule.times else TRUE
    return conj([day_part, time_part])


def schedule_expr(schedule: ir.Schedule, years: tuple[int, ...]) -> Expr:
    cal = calendar(tuple(years))
    matches = disj([rule_expr(r, cal) for r in schedule.rules])
    if schedule.excepts:
        matches = conj([matches, Not(disj([_date_range_expr(d) for d in schedule.excepts]))])
    return matches


def fields_used(expr: Expr) -> set[str]:
    """Which clock fields an expression reads ("wday", "ymd", "md", "hm")."""
    if isinstance(expr, Weekday):
        return {"wday"}
    if isinstance(expr, DateIn):
        return {"ymd"}
    if isinstance(expr, Between):
        return {expr.field}
    if isinstance(expr, Not):
        return fields_used(expr.expr)
    out: set[str] = set()
    for item in expr.items:
        out |= fields_used(item)
    return out


def compact_date_regex(dates: tuple[str, ...]) -> str:
    """`20261001|20261002|20261003` as a grouped alternation, e.g. `2026(100[1-3])`.

    Dates share year and month prefixes; grouping by them keeps the regex short and its
    meaning obvious to a person reading the dialplan."""
    by_year: dict[str, dict[str, list[str]]] = {}
    for d in dates:
        by_year.setdefault(d[:4], {}).setdefault(d[4:6], []).append(d[6:])
    years = []
    for y, months in sorted(by_year.items()):
        ms = [f"{m}({'|'.join(sorted(days))})" if len(days) > 1 else f"{m}{days[0]}" for m, days in sorted(months.items())]
        years.append(f"{y}({'|'.join(ms)})" if len(ms) > 1 else f"{y}{ms[0]}")
    return "|".join(years)


# ------------------------------------------------------------------ names
# flowc/names.py is the one place that spells identifiers; these names stay for callers.


def ident(name: str) -> str:
    """An engine identifier for a step-like name (flowc.names.ident)."""
    from ..names import ident as _ident

    return _ident(name)


def unique_idents(names: list[str]) -> dict[str, str]:
    """Identifiers for a set of names of one kind (flowc.names.idents)."""
    from ..names import idents

    return idents(names)


# ------------------------------------------------------------------ region branches


def region_arm_ids(branch: ir.Branch) -> tuple[tuple[str, ...], ...]:
    """The region ids each arm of a `branch region` names, in arm order (names the checker
    could not resolve are left out: such a flow never reaches an emitter)."""
    from .. import regions

    out = []
    for arm in branch.arms:
        ids = []
        for c in arm.conditions:
            region = regions.lookup_region(c.text)
            if region is not None and region.id not in ids:
                ids.append(region.id)
        out.append(tuple(ids))
    return tuple(out)


# ------------------------------------------------------------------ recordings


def retention_conflict(flow: ir.Flow) -> tuple[ir.Record, int] | None:
    """S-ACT-3 raises the retention of a running recording; an engine that names the file
    after the retention when recording starts cannot follow. The first `record` (in step
    order) that may start while a recording with fewer days runs, with those days; or None.

    One pass over the step graph's strongly connected components in topological order,
    carrying the fewest days of any `record` that can come before: linear in the flow
    (a search from every step was quadratic: 12,000 steps took 17 s)."""
    from ..checks import edges, strongly_connected

    records = {s.name: [a for a in s.actions if isinstance(a, ir.Record)] for s in flow.steps}
    first = flow.record.retain_days if flow.record is not None else None
    if len({r.retain_days for rs in records.values() for r in rs} | ({first} if first is not None else set())) < 2:
        return None
    graph = {name: [] for name in records}
    for s in flow.steps:
        graph[s.name] = [t for _, t in edges(s) if t in graph]
    order = {name: i for i, name in enumerate(graph)}
    inf = float("inf")
    before = dict.fromkeys(graph, first if first is not None else inf)  # fewest days that can come before
    found: list[tuple[int, ir.Record, int]] = []
    for comp in reversed(strongly_connected(graph)):  # Tarjan yields sinks first
        members = set(comp)
        inside = min((r.retain_days for n in comp for r in records[n]), default=inf)
        entry = min(before[n] for n in comp)
        if len(comp) > 1 or comp[0] in graph[comp[0]]:  # a loop: each record may follow any of them
            entry = min(entry, inside)
        for n in comp:
            running = entry
            for r in records[n]:
                if r.retain_days > running:
                    found.append((order[n], r, running))
                    break
                running = min(running, r.retain_days)
        out = min(entry, inside)
        for n in comp:
            for t in graph[n]:
                if t not in members and out < before[t]:
                    before[t] = out
    if not found:
        return None
    _, rec, fewer = min(found, key=lambda x: x[0])
    return rec, int(fewer)
