"""`flowc stats report`: the sections of a report (queries over the statistics database) and their text, CSV and JSON forms."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from .db import Store
from .metrics import CALL_METRICS, DIMENSIONS, call_metric_sql

__all__ = ["Report", "Section", "build_report", "render_csv", "render_json", "render_table", "BY_CHOICES"]

BY_CHOICES = ("hour", "day", "month", "step", "key", "phone", "region", "tag", "flow")
# The metrics of a grouped table (the console's columns).
GROUP_METRICS = ("calls", "answered", "answer_rate", "abandoned", "abandon_rate", "service_level", "asa",
                 "queue_wait_mean", "talk_mean")
LIST_LIMIT = 100


@dataclass
class Section:
    name: str
    title: str
    columns: list[str]
    rows: list[list[Any]]
    chart: str | None = None  # html: "bar", "line", "pie" or None (a table only)


@dataclass
class Report:
    filters: dict[str, Any]
    sections: list[Section] = field(default_factory=list)

    def section(self, name: str) -> Section | None:
        return next((s for s in self.sections if s.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        return {"filters": self.filters,
                "sections": [{"name": s.name, "title": s.title, "columns": s.columns, "rows": s.rows}
                             for s in self.sections]}


def _value(v: Any) -> Any:
    """One cell, the same from DuckDB and PostgreSQL."""
    if isinstance(v, bool) or v is None or isinstance(v, (int, str)):
        return v
    if isinstance(v, (float, Decimal)):
        return round(float(v), 2)
    if isinstance(v, datetime):
        return v.isoformat(sep=" ", timespec="seconds")
    if isinstance(v, date):
        return v.isoformat()
    return str(v)


def _where(flow: str | None, start: str | None, end: str | None) -> tuple[str, list[Any]]:
    parts, params = [], []
    if flow:
        parts.append("c.flow = %s")
        params.append(flow)
    if start:
        parts.append("c.start_local >= CAST(%s AS TIMESTAMP)")
        params.append(start)
    if end:
        parts.append("c.start_local < CAST(%s AS TIMESTAMP)")
        params.append(end)
    return ("WHERE " + " AND ".join(parts)) if parts else "", params


def _time_bound(text: str | None, what: str) -> str | None:
    """--from/--to: a date or a date and time (local wall time of the calls)."""
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{what}: not a date or time: {text!r} (e.g. 2026-11-01 or 2026-11-01T08:00)") from None
    return value.replace(tzinfo=None).isoformat(sep=" ")


def build_report(store: Store, *, flow: str | None = None, start: str | None = None, end: str | None = None,
                 by: str | None = None, threshold: float = 20.0, short_abandon: float = 5.0) -> Report:
    start_s, end_s = _time_bound(start, "--from"), _time_bound(end, "--to")
    where, params = _where(flow, start_s, end_s)
    rep = Report({"flow": flow, "from": start_s, "to": end_s, "by": by, "threshold": threshold,
                  "short_abandon": short_abandon})
    labels = {m.name: m.label for m in CALL_METRICS}

    def q(sql: str, p: list[Any] | None = None) -> tuple[list[str], list[list[Any]]]:
        cols, rows = store.query(sql, params if p is None else p)
        return cols, [[_value(v) for v in r] for r in rows]

    def add(name: str, title: str, sql: str, chart: str | None = None) -> None:
        cols, rows = q(sql)
        rep.sections.append(Section(name, title, cols, rows, chart))

    # summary: one row, every metric
    cols, rows = q(f"SELECT\n  {call_metric_sql(threshold, short_abandon)}\nFROM calls c {where}")
    rep.sections.append(Section("summary", "总览 summary", ["metric", "value"],
                                [[labels[c], v] for c, v in zip(cols, rows[0])]))

    group_metrics = [m for m in CALL_METRICS if m.name in GROUP_METRICS]

    def by_dim(dim: str, chart: str | None, title: str) -> None:
        exprs, join, names = DIMENSIONS[dim]
        sel = ", ".join(f"{e} AS {n}" for e, n in zip(exprs, names.split(",")))
        group = ", ".join(str(i + 1) for i in range(len(exprs)))
        sql = (f"SELECT {sel},\n  {call_metric_sql(threshold, short_abandon, group_metrics)}\n"
               f"FROM calls c {join} {where} GROUP BY {group} ORDER BY {group}")
        cols, rows = q(sql)
        if dim == "month":
            rows = [[r[0][:7] if r[0] else r[0], *r[1:]] for r in rows]
        if dim == "hour":  # all 24 hours, as consoles draw them
            have = {int(r[0]): r[1:] for r in rows}
            empty = [0 if m.name in ("calls", "answered", "abandoned") else None for m in group_metrics]
            rows = [[h, *have.get(h, empty)] for h in range(24)]
        rep.sections.append(Section(f"by_{dim}", title, cols, rows, chart))

    titles = {"hour": "分时段 calls by hour", "day": "按日 calls by day", "month": "按月 calls by month",
              "region": "地区分布 calls by province and city", "flow": "按流程 calls by flow",
              "step": "按节点 calls by step", "key": "按键 calls by menu key", "tag": "按标签 calls by tag"}
    charts = {"hour": "bar", "day": "line", "month": "bar", "region": "bar", "flow": "bar", "step": "bar",
              "key": "bar", "tag": "bar"}
    wanted = [by] if by else ["hour", "day", "month", "region"]
    for dim in wanted:
        if dim in DIMENSIONS:
            by_dim(dim, charts[dim], titles[dim])
    call_join = f"JOIN calls c ON c.id = x.id {where}"
    # tables that need nothing of the call but the filters skip the join without filters
    only_filter = call_join if where else "WHERE true"
    if by in (None, "phone"):
        add("phones", "号码接听 phones: attempts and outcomes",
            "SELECT x.phone, count(*) AS attempts, "
            "count(*) FILTER (WHERE x.outcome = 'answered') AS answered, "
            "count(*) FILTER (WHERE x.outcome = 'busy') AS busy, "
            "count(*) FILTER (WHERE x.outcome = 'noanswer') AS no_answer, "
            "count(*) FILTER (WHERE x.outcome = 'unreachable') AS unreachable, "
            "count(*) FILTER (WHERE x.outcome = 'cancelled') AS cancelled, "
            "avg(x.ring) AS ring_mean, percentile_cont(0.9) WITHIN GROUP (ORDER BY x.ring) AS ring_p90 "
            f"FROM call_dials x {only_filter} GROUP BY x.phone ORDER BY attempts DESC, x.phone", "bar")
    if by in (None, "key"):
        add("keys", "按键选择 key choices per menu",
            "SELECT x.step AS menu, x.key, count(*) AS presses, count(*) FILTER (WHERE x.first_press) AS calls "
            f"FROM call_keys x {only_filter} GROUP BY x.step, x.key ORDER BY x.step, x.key", "bar")
        add("funnel_keys", "按键流失 drop-off per menu key",
            "SELECT x.step AS menu, x.key, count(*) AS calls, count(*) FILTER (WHERE c.answered) AS answered, "
            "count(*) FILTER (WHERE c.abandoned_in IS NOT NULL) AS abandoned, "
            "count(*) FILTER (WHERE c.voicemail IS NOT NULL) AS voicemail "
            f"FROM call_keys x {call_join} AND x.first_press "
            "GROUP BY x.step, x.key ORDER BY x.step, x.key", None)
    if by in (None, "step"):
        add("funnel_steps", "节点流失漏斗 drop-off funnel per step",
            "SELECT x.step, count(*) FILTER (WHERE x.first_visit) AS reached, "
            "count(*) FILTER (WHERE x.is_last) AS ended_here, "
            "count(*) FILTER (WHERE x.is_last AND c.abandoned_in IS NOT NULL) AS abandoned_here, "
            "count(*) FILTER (WHERE x.first_visit AND c.answered) AS answered_after "
            f"FROM call_steps x {call_join} GROUP BY x.step ORDER BY reached DESC, x.step", "funnel")
    if by is None:
        add("survey", "满意度 survey answers",
            f"SELECT c.survey AS answer, count(*) AS calls FROM calls c {where}"
            f"{' AND' if where else ' WHERE'} c.survey IS NOT NULL GROUP BY c.survey ORDER BY c.survey", "pie")
        add("queues", "排队等待 queue waits",
            "SELECT c.queue_group AS queue, count(*) AS queued, "
            "count(*) FILTER (WHERE c.queue_reason = 'answered') AS answered, "
            "count(*) FILTER (WHERE c.abandoned_in = 'queue') AS abandoned, "
            "count(*) FILTER (WHERE c.queue_reason = 'timeout') AS timeout, "
            "avg(c.queue_wait) AS wait_mean_all, "
            "avg(c.queue_wait) FILTER (WHERE c.queue_reason = 'answered') AS wait_mean_answered, "
            "percentile_cont(0.9) WITHIN GROUP (ORDER BY c.queue_wait) AS wait_p90 "
            f"FROM calls c {where}{' AND' if where else ' WHERE'} c.queued "
            "GROUP BY c.queue_group ORDER BY c.queue_group", None)
        listing = ("SELECT c.start_local AS start, c.flow, c.caller, c.province, c.city, c.last_step, "
                   "c.hangup_by, c.abandoned_in, c.ring_wait, c.duration, c.call_id FROM calls c ")
        cond = f"{where}{' AND' if where else ' WHERE'}"
        add("unanswered", "未接来电 unanswered calls",
            f"{listing}{cond} NOT c.answered ORDER BY c.start_local DESC, c.call_id LIMIT {LIST_LIMIT}")
        add("abandoned", "放弃来电 abandoned calls",
            f"{listing}{cond} c.abandoned_in IS NOT NULL ORDER BY c.start_local DESC, c.call_id LIMIT {LIST_LIMIT}")
    return rep


# ------------------------------------------------------------------ renderers


def _cell(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.1f}" if abs(v) < 1e15 else str(v)
    return str(v)


def _width(s: str) -> int:
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in s)


def render_table(rep: Report) -> str:
    out = []
    for s in rep.sections:
        out.append(f"== {s.title}")
        cells = [s.columns] + [[_cell(v) for v in r] for r in s.rows]
        widths = [max(_width(str(row[i])) for row in cells) for i in range(len(s.columns))]
        for j, row in enumerate(cells):
            line = "  ".join(str(v) + " " * (widths[i] - _width(str(v))) for i, v in enumerate(row))
            out.append(line.rstrip())
            if j == 0:
                out.append("  ".join("-" * w for w in widths))
        if not s.rows:
            out.append("(none)")
        out.append("")
    return "\n".join(out)


def render_csv(rep: Report) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    for s in rep.sections:
        w.writerow([f"# {s.name}"])
        w.writerow(s.columns)
        w.writerows(s.rows)
        w.writerow([])
    return buf.getvalue()


def render_json(rep: Report) -> str:
    return json.dumps(rep.to_dict(), ensure_ascii=False, indent=2) + "\n"
