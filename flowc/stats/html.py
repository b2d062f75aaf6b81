"""`flowc stats report --format html`: one self-contained page (Chart.js inlined, no network) with charts and tables."""

from __future__ import annotations

import html
import json
from importlib import resources

from .report import Report

__all__ = ["render_html", "CHART_SECTIONS"]

# Sections drawn as charts: section -> (chart type, label columns, value columns).
CHART_SECTIONS: dict[str, tuple[str, list[str], list[str]]] = {
    "by_hour": ("bar", ["hour"], ["calls", "answered", "answer_rate"]),
    "by_day": ("line", ["day"], ["calls", "answered", "answer_rate"]),
    "by_month": ("bar", ["month"], ["calls", "answered", "answer_rate"]),
    "by_region": ("hbar", ["province", "city"], ["calls", "answered"]),
    "by_flow": ("bar", ["flow"], ["calls", "answered", "answer_rate"]),
    "by_step": ("hbar", ["step"], ["calls", "answered"]),
    "by_key": ("bar", ["menu", "key"], ["calls", "answered"]),
    "by_tag": ("bar", ["tag", "value"], ["calls", "answered"]),
    "phones": ("stacked", ["phone"], ["answered", "busy", "no_answer", "unreachable", "cancelled"]),
    "keys": ("bar", ["menu", "key"], ["presses"]),
    "funnel_steps": ("hbar", ["step"], ["reached", "ended_here", "abandoned_here"]),
    "survey": ("doughnut", ["answer"], ["calls"]),
}

_KPIS = ("呼入量 calls", "接通率 answer rate", "放弃率 abandon rate", "服务水平 service level",
         "平均应答速度 ASA", "平均通话时长 talk (mean)", "满意度均分 survey mean")

_CSS = """
body{font-family:"Noto Sans CJK SC","PingFang SC","Microsoft YaHei",system-ui,sans-serif;margin:0;background:#f4f6f9;color:#1f2933}
header{background:#1f4e79;color:#fff;padding:16px 24px}header h1{margin:0;font-size:22px}header p{margin:4px 0 0;opacity:.85;font-size:13px}
main{padding:16px 24px;max-width:1400px}
.kpis{display:flex;flex-wrap:wrap;gap:12px;margin-bottom:16px}
.kpi{background:#fff;border-radius:6px;padding:12px 16px;min-width:150px;box-shadow:0 1px 2px rgba(0,0,0,.08)}
.kpi b{display:block;font-size:24px;color:#1f4e79}.kpi span{font-size:12px;color:#52606d}
section{background:#fff;border-radius:6px;padding:12px 16px;margin-bottom:16px;box-shadow:0 1px 2px rgba(0,0,0,.08)}
section h2{font-size:16px;margin:0 0 8px}.chart{position:relative;height:320px}
table{border-collapse:collapse;font-size:12px;margin-top:8px;width:100%}th,td{border-bottom:1px solid #e4e7eb;padding:3px 8px;text-align:left}
th{background:#f0f4f8}td.n{text-align:right;font-variant-numeric:tabular-nums}
details summary{cursor:pointer;font-size:12px;color:#52606d;margin-top:6px}
"""

_JS = r"""
(function(){
  var data = JSON.parse(document.getElementById('flowc-data').textContent);
  var palette = ['#1f77b4','#2ca02c','#d62728','#ff7f0e','#9467bd','#8c564b','#e377c2','#7f7f7f','#bcbd22','#17becf'];
  data.charts.forEach(function(c){
    var canvas = document.getElementById('chart-' + c.section);
    var rateIdx = c.values.indexOf('answer_rate');
    var datasets = c.values.map(function(v, i){
      var ds = {label: v, data: c.series[i], backgroundColor: palette[i % palette.length],
                borderColor: palette[i % palette.length]};
      if (c.type === 'doughnut') { ds.backgroundColor = c.labels.map(function(_, j){ return palette[j % palette.length]; }); }
      if (i === rateIdx && c.type !== 'doughnut') { ds.type = 'line'; ds.yAxisID = 'rate'; ds.label = 'answer_rate %'; }
      return ds;
    });
    var type = c.type === 'hbar' || c.type === 'stacked' ? 'bar' : c.type;
    var options = {responsive: true, maintainAspectRatio: false, animation: false,
                   plugins: {legend: {position: 'bottom'}}};
    if (type !== 'doughnut') {
      options.scales = {x: {stacked: c.type === 'stacked'}, y: {stacked: c.type === 'stacked', beginAtZero: true}};
      if (c.type === 'hbar') { options.indexAxis = 'y'; }
      if (rateIdx >= 0) { options.scales.rate = {position: 'right', min: 0, max: 100, grid: {drawOnChartArea: false}}; }
    }
    new Chart(canvas, {type: type, data: {labels: c.labels, datasets: datasets}, options: options});
  });
  document.body.setAttribute('data-charts-ready', String(data.charts.length));
})();
"""


def _chart_js() -> str:
    text = resources.files("flowc.stats").joinpath("static/chart.umd.min.js").read_text(encoding="utf-8")
    # the page opens offline: no source map to look for
    return "\n".join(line for line in text.splitlines() if not line.startswith("//# sourceMappingURL"))


def _script_safe(text: str) -> str:
    return text.replace("</", "<\\/")


def _fmt(v) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.1f}"
    return str(v)


def _table(columns, rows) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in columns)
    body = "".join("<tr>" + "".join(
        f'<td class="n">{_fmt(v)}</td>' if isinstance(v, (int, float)) and not isinstance(v, bool)
        else f"<td>{html.escape(_fmt(v))}</td>" for v in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(rep: Report, *, title: str = "flowc 通话统计 call statistics") -> str:
    charts = []
    parts = []
    summary = rep.section("summary")
    kpis = {k: v for k, v in summary.rows} if summary else {}
    cards = "".join(f"<div class=\"kpi\"><b>{html.escape(_fmt(kpis.get(k)))}"
                    f"{'%' if 'rate' in k or 'level' in k else ''}</b><span>{html.escape(k)}</span></div>"
                    for k in _KPIS if k in kpis)
    for s in rep.sections:
        spec = CHART_SECTIONS.get(s.name)
        chart_html = ""
        if spec and s.rows:
            kind, label_cols, value_cols = spec
            li = [s.columns.index(c) for c in label_cols if c in s.columns]
            vi = [c for c in value_cols if c in s.columns]
            rows = s.rows[:40]  # a readable chart; the table below has every row
            charts.append({
                "section": s.name, "type": kind, "values": vi,
                "labels": [" ".join(_fmt(r[i]) for i in li) for r in rows],
                "series": [[r[s.columns.index(v)] for r in rows] for v in vi],
            })
            chart_html = f'<div class="chart"><canvas id="chart-{s.name}" data-section="{s.name}"></canvas></div>'
        table = _table(s.columns, s.rows) if s.rows else "<p>(none)</p>"
        if chart_html or s.name == "summary":  # the chart (or the cards above) come first
            table = f"<details><summary>table ({len(s.rows)} rows)</summary>{table}</details>"
        parts.append(f'<section id="{s.name}"><h2>{html.escape(s.title)}</h2>{chart_html}{table}</section>')
    f = rep.filters
    scope = ", ".join(f"{k} {v}" for k, v in f.items() if v not in (None, ""))
    data = _script_safe(json.dumps({"charts": charts}, ensure_ascii=False))
    return (
        "<!DOCTYPE html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\">"
        f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{html.escape(title)}</title>"
        f"<style>{_CSS}</style></head><body>"
        f"<header><h1>{html.escape(title)}</h1><p>{html.escape(scope)}</p></header><main>"
        f"<div class=\"kpis\">{cards}</div>{''.join(parts)}</main>"
        f"<script type=\"application/json\" id=\"flowc-data\">{data}</script>"
        f"<script>{_script_safe(_chart_js())}</script><script>{_JS}</script>"
        "</body></html>\n"
    )
