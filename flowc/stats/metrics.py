"""Every statistic of `flowc stats report`, defined once in SQL (docs/stats.md lists them with their numerators and denominators)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Metric", "CALL_METRICS", "DIMENSIONS", "call_metric_sql"]


@dataclass(frozen=True)
class Metric:
    name: str
    sql: str  # over the calls table `c`; {T} = service-level threshold, {S} = short-abandon limit (seconds)
    label: str  # for people (console wording)
    numerator: str = ""
    denominator: str = ""
    asterisk: str = ""
    connect: str = ""  # Amazon Connect's name
    unit: str = ""  # "", "%", "s"


def _rate(num: str, den: str) -> str:
    return f"CAST({num} AS DOUBLE PRECISION) * 100 / NULLIF({den}, 0)"


def _p90(x: str, where: str) -> str:
    return f"percentile_cont(0.9) WITHIN GROUP (ORDER BY {x}) FILTER (WHERE {where})"


_ANSWERED = "count(*) FILTER (WHERE c.answered)"
_OFFERED = "count(*) FILTER (WHERE c.first_ring_t IS NOT NULL)"
_SHORT = "count(*) FILTER (WHERE c.abandoned_in IN ('queue', 'ringing') AND c.ring_wait < {S})"
_IN_SL = "count(*) FILTER (WHERE c.answered AND c.ring_wait <= {T})"
_ABANDONED = "count(*) FILTER (WHERE c.abandoned_in IS NOT NULL)"
_QUEUED = "count(*) FILTER (WHERE c.queued)"
_Q_ABANDONED = "count(*) FILTER (WHERE c.abandoned_in = 'queue')"

CALL_METRICS: list[Metric] = [
    Metric("calls", "count(*)", "呼入量 calls", "every call record", "",
           "CDR records of the 400 number", "Contacts incoming"),
    Metric("answered", _ANSWERED, "接通 answered", "calls connected to a phone (dial or queue)", "",
           "CDR disposition ANSWERED at a phone; queue_log CONNECT", "Contacts handled"),
    Metric("answer_rate", _rate(_ANSWERED, "count(*)"), "接通率 answer rate", "answered", "calls",
           "", "Contacts handled / Contacts incoming", "%"),
    Metric("offered", _OFFERED, "转人工 offered", "calls that rang a phone or entered a queue", "",
           "", "Contacts queued (when every dial is a queue)"),
    Metric("abandoned", _ABANDONED, "放弃 abandoned", "unanswered calls the caller hung up (not after voicemail)",
           "", "", "Contacts abandoned (queue part)"),
    Metric("abandoned_menu", "count(*) FILTER (WHERE c.abandoned_in = 'menu')", "IVR中放弃 in a menu",
           "caller hung up in prompts/menus, before any phone rang", ""),
    Metric("abandoned_ringing", "count(*) FILTER (WHERE c.abandoned_in = 'ringing')", "振铃中放弃 while ringing",
           "caller hung up while a phone rang", "", "CDR NO ANSWER with hangup by caller"),
    Metric("abandoned_queue", _Q_ABANDONED, "排队中放弃 in the queue", "caller hung up while queued", "",
           "queue_log ABANDON", "Contacts abandoned in queue"),
    Metric("abandon_rate", _rate(_ABANDONED, "count(*)"), "放弃率 abandon rate", "abandoned", "calls", "", "", "%"),
    Metric("queued", _QUEUED, "排队 queued", "calls that entered a queue", "", "queue_log ENTERQUEUE",
           "Contacts queued"),
    Metric("queue_abandon_rate", _rate(_Q_ABANDONED, _QUEUED), "排队放弃率 queue abandonment",
           "abandoned_queue", "queued", "queue_log ABANDON / ENTERQUEUE", "Contacts abandoned % (abandoned / queued)",
           "%"),
    Metric("service_level", _rate(_IN_SL, f"({_OFFERED} - {_SHORT})"), "服务水平 service level",
           "answered with ring_wait <= T (default 20 s)",
           "offered - short abandons (abandoned while ringing/queued with ring_wait < S, default 5 s)",
           "queues.conf servicelevel (Asterisk counts answered within T / answered+abandoned)",
           "Service level X seconds (answered within X / queued; Connect keeps short abandons in)", "%"),
    Metric("asa", "avg(c.ring_wait) FILTER (WHERE c.answered)", "平均应答速度 ASA",
           "sum of ring_wait of answered calls", "answered",
           "queue_log CONNECT holdtime (queue only)", "Average queue answer time", "s"),
    Metric("wait_p90", _p90("c.ring_wait", "c.answered"), "应答等待P90 answer wait p90",
           "90th percentile of ring_wait, answered calls", "", "", "", "s"),
    Metric("queue_wait_mean", "avg(c.queue_wait) FILTER (WHERE c.queued)", "平均排队时长 queue wait (all)",
           "sum of queue_wait of queued calls", "queued", "queue_log holdtime/waittime",
           "Average queue abandon/answer time", "s"),
    Metric("queue_wait_answered", "avg(c.queue_wait) FILTER (WHERE c.queued AND c.queue_reason = 'answered')",
           "接通排队时长 queue wait (answered)", "sum of queue_wait of queued, answered calls",
           "queued calls answered from the queue", "queue_log CONNECT holdtime", "Average queue answer time", "s"),
    Metric("queue_wait_p90", _p90("c.queue_wait", "c.queued"), "排队P90 queue wait p90",
           "90th percentile of queue_wait, queued calls", "", "", "", "s"),
    Metric("talk_mean", "avg(c.talk) FILTER (WHERE c.answered)", "平均通话时长 talk (mean)",
           "sum of talk of answered calls", "answered", "CDR billsec of the answered leg",
           "Average handle time (talk part)", "s"),
    Metric("talk_total", "sum(c.talk)", "通话总时长 talk (total)", "sum of talk", "", "CDR billsec", "", "s"),
    Metric("voicemails", "count(*) FILTER (WHERE c.voicemail IS NOT NULL)", "留言 voicemail", "calls sent to voicemail",
           ""),
    Metric("surveyed", "count(*) FILTER (WHERE c.survey_score IS NOT NULL)", "评价数 surveys",
           "calls with a survey key", ""),
    Metric("survey_mean", "avg(CAST(c.survey_score AS DOUBLE PRECISION))", "满意度均分 survey mean",
           "sum of survey keys", "surveyed"),
]

# --by: the SQL of a dimension over calls `c`, its joins, and its column names.
DIMENSIONS: dict[str, tuple[list[str], str, str]] = {
    # name: (select expressions, FROM extra join, column labels)
    "hour": (["EXTRACT(HOUR FROM c.start_local)"], "", "hour"),
    "day": (["CAST(c.start_local AS DATE)"], "", "day"),
    "month": (["date_trunc('month', c.start_local)"], "", "month"),
    "flow": (["c.flow"], "", "flow"),
    "region": (["c.province", "c.city"], "", "province,city"),
    "province": (["c.province"], "", "province"),
    "step": (["s.step"], "JOIN call_steps s ON s.id = c.id AND s.first_visit", "step"),
    "key": (["k.step", "k.key"], "JOIN call_keys k ON k.id = c.id AND k.first_press", "menu,key"),
    "tag": (["t.key", "t.value"], "JOIN call_tags t ON t.id = c.id", "tag,value"),
}


def call_metric_sql(threshold: float, short_abandon: float, metrics: list[Metric] | None = None) -> str:
    """The SELECT list of the call metrics with the thresholds filled in (numbers only)."""
    t, s = float(threshold), float(short_abandon)
    return ",\n  ".join(f"{m.sql.replace('{T}', repr(t)).replace('{S}', repr(s))} AS {m.name}"
                        for m in (metrics or CALL_METRICS))
