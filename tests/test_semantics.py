"""One test per rule of docs/semantics.md, on small inline flows run by the interpreter.

Each test is named after its rule (S-MENU-3 -> test_S_MENU_3). Times are whole seconds
unless a key is involved: the caller's key lands 0.15 s after it is sent (the tone).
"""

from __future__ import annotations

import pytest

from flowc.interp import Session
from flowc.pipeline import Workspace

MONDAY_10 = "2026-11-23T10:00:00+08:00"

PHONES = """
group pair {
  strategy sequential
  ring 10s
  13800000001
  13800000002
}
"""


def session(body: str, decls: str = "", settings: str = "") -> Session:
    text = f"{decls}\nflow t {{\n  number 400-800-1234\n{settings}\n{body}\n}}\n"
    result = Workspace().assemble("t.flow", text=text)
    assert result.flow is not None, [f"{d.code} {d.message}" for d in result.diagnostics]
    return Session(result.flow)


def run(body: str, decls: str = "", settings: str = "", **world):
    world.setdefault("time", MONDAY_10)
    return session(body, decls, settings).call(**world)


def obs(trace) -> list[tuple]:
    """Observable events as (t, event, main values...) for compact asserts."""
    out = []
    for e in trace.observable():
        values = tuple(v for k, v in e.items() if k not in ("t", "event"))
        out.append((e["t"], e["event"], *values))
    return out


def decisions(trace, kind: str) -> list[dict]:
    return [e.data for e in trace.events if e.kind == kind]


# ---------------------------------------------------------------- 1. the call


def test_S_CALL_1():
    trace = run('step a { play "hello" hangup }')
    assert obs(trace) == [(0.0, "play", "hello"), (1.0, "hangup", "flow")]


def test_S_CALL_2():
    trace = run('step a { dial 13800000001 }', settings='tag line = "x"\n record\n ringback "rb/tone"',
                phones={"13800000001": "answer:after=1:talk=1"})
    kinds = [(e.kind, e.data.get("action")) for e in trace.events if e.kind in ("tag", "record", "step")]
    assert kinds[:3] == [("tag", None), ("record", "start"), ("step", None)]
    assert all(e.t == 0 for e in trace.events[:3])
    assert trace.of("dial")[0].data["ringback"] == "rb/tone"


def test_S_CALL_3():
    trace = run('step a { play "one" play "two" goto b }\n step b { play "three" hangup }')
    assert trace.steps == ["a", "b"]
    assert [e["prompt"] for e in trace.observable() if e["event"] == "play"] == ["one", "two", "three"]


@pytest.mark.parametrize("phase, hangup_at, tail", [
    ("prompt", 0.5, []),
    ("ringing", 3.0, [(3.0, "result", "13800000001", "cancelled")]),
    ("conversation", 8.0, []),
])
def test_S_CALL_4(phase, hangup_at, tail):
    trace = run('step a { play "hi" dial 13800000001 { ring 20s failed -> b } }\n step b { play "x" hangup }',
                phones={"13800000001": "answer:after=5:talk=forever"}, caller_hangup_after=hangup_at)
    events = obs(trace)
    assert events[-1] == (hangup_at, "hangup", "caller")
    assert [e for e in events if e[1] == "result" and e[3] == "cancelled"] == tail
    assert "b" not in trace.steps  # no arm after the caller hung up


def test_S_CALL_5():
    flow_end = run('step a { menu { prompt "m" retries 0 1 -> b } }\n step b { hangup }')
    assert flow_end.ended_by == "flow"
    phone_end = run('step a { dial 13800000001 }', phones={"13800000001": "answer:after=1:talk=3"})
    assert obs(phone_end)[-1] == (4.0, "hangup", "phone")


# ---------------------------------------------------------------- 2. actions


def test_S_ACT_1():
    trace = run('step a { play "long" menu { prompt "m" timeout 2s retries 0 1 -> b } }\n step b { hangup }',
                dtmf="1@0.5", prompt_duration={"long": 3})
    assert trace.inputs == []  # pressed during `play`: discarded
    assert [e.data["digit"] for e in trace.of("discard")] == ["1"]
    assert trace.ended_by == "flow" and trace.steps == ["a"]


def test_S_ACT_2():
    trace = run('step a { tag k = "v1" tag k = "v2" tag flag hangup }')
    assert trace.tags == {"k": "v2", "flag": "1"}
    assert all(e.t == 0 for e in trace.of("tag"))


def test_S_ACT_3():
    trace = run('step a { record retain 7d play "p" record retain 90d hangup }')
    records = [e for e in trace.observable() if e["event"] == "record"]
    assert [r["action"] for r in records] == ["start", "stop"]
    assert trace.recording_days == 90


def test_S_ACT_4():
    trace = run('step a { dial 13800000001 { failed -> b } }\n step b { ringback "rb/music" dial 13800000002 }')
    dials = trace.of("dial")
    assert "ringback" not in dials[0].data and dials[1].data["ringback"] == "rb/music"


# ---------------------------------------------------------------- 3. menus

MENU = """
step m {
  menu {
    prompt "menu"
    timeout 4s
    retries 1
    1 -> one
    9 -> repeat
    invalid "bad"
    no_input "nothing"
  }
}
step one { play "one" hangup }
"""


def test_S_MENU_1():
    during = run(MENU, dtmf="1@0.3")  # during the prompt: stops it, is the answer
    assert obs(during)[:3] == [(0.0, "play", "menu"), (0.5, "input", "1"), (0.5, "play", "one")]
    after = run(MENU, dtmf="1@4.7")  # 3.7 s into the 4 s wait after the prompt
    assert (4.9, "input", "1") in obs(after)
    late = run(MENU, dtmf="1@5.2")  # lands at 5.35, after the wait ended at 5.0: no input
    assert late.inputs == [] and obs(late)[1] == (5.0, "play", "nothing")


def test_S_MENU_2():
    trace = run(MENU, dtmf="9@prompt,9@prompt,1@prompt")
    assert [d["result"] for d in decisions(trace, "menu")] == ["repeat", "repeat", "option"]
    assert trace.steps == ["m", "one"]  # repeat never counts a failure (retries 1 would end it)


def test_S_MENU_3():
    trace = run(MENU, dtmf="5@prompt,5@prompt")
    assert [e[2] for e in obs(trace) if e[1] == "play"] == ["menu", "bad", "menu", "bad"]
    assert trace.ended_by == "flow"  # two failures = 1 + retries attempts
    routed = run('step m { menu { prompt "menu" 1 -> x invalid "bad" -> x } }\n step x { play "x" hangup }',
                 dtmf="4@prompt")
    assert [e[2] for e in obs(routed) if e[1] == "play"] == ["menu", "bad", "x"]


def test_S_MENU_4():
    trace = run(MENU)
    plays = [e for e in obs(trace) if e[1] == "play"]
    assert plays == [(0.0, "play", "menu"), (5.0, "play", "nothing"), (6.0, "play", "menu"), (11.0, "play", "nothing")]
    assert ("play", "bad") not in [(e[1], e[2]) for e in plays]


def test_S_MENU_5():
    exhausted = run(MENU.replace('no_input "nothing"', 'exhausted -> one'))
    assert [d["result"] for d in decisions(exhausted, "menu")] == ["no_input", "no_input", "exhausted"]
    assert exhausted.steps[-1] == "one"
    default = run('step m { menu { prompt "p" 1 -> m2 } }\n step m2 { hangup }')
    assert len([e for e in default.observable() if e["event"] == "play"]) == 3  # retries default 2
    assert default.ended_by == "flow"


def test_S_MENU_6():
    flow = ('step m { menu { prompt "menu" retries 1 1 -> side } }\n'
            'step side { play "side" goto m }')
    trace = run(flow, dtmf="7@prompt,1@prompt,7@prompt,hangup@prompt+1")
    # failure 1 of the first visit does not carry into the second visit (else 7 would exhaust it)
    assert [d["result"] for d in decisions(trace, "menu")] == ["invalid", "option", "invalid"]
    assert trace.ended_by == "caller"


def test_S_MENU_7():
    trace = run(MENU, dtmf="5@prompt,1@prompt")
    assert trace.inputs == ["5", "1"]


# ---------------------------------------------------------------- 4. extensions

EXT = """
step x {
  extension {
    prompt "ext"
    timeout 3s
    retries 1
    ring 10s
    101 13800000001
    102 -> other
    invalid "nope"
    busy -> other
  }
}
step other { play "other" hangup }
"""


def test_S_EXT_1():
    trace = run(EXT, dtmf="10@prompt+0.5,1@+2.5", phones={"13800000001": "answer:after=1:talk=1"})
    # 1 and 0 at 0.65/0.95, then 1 at 3.35 (within 3 s of the last digit): one input
    assert trace.inputs == ["101"]
    timeout = run(EXT, dtmf="10@prompt+0.5,1@+3.5")
    assert timeout.inputs[0] == "10"  # 3 s passed after the second digit
    hashed = run(EXT, dtmf="10#@prompt")
    assert hashed.inputs[0] == "10" and obs(hashed)[1] == (1.3, "input", "10")  # at the `#`, not 3 s later


def test_S_EXT_2():
    trace = run(EXT, dtmf="101@prompt", phones={"13800000001": "busy"})
    assert trace.of("dial")[0].data["ring"] == 10.0
    assert trace.steps == ["x", "other"]  # the step's `busy ->` arm
    goto = run(EXT, dtmf="102@prompt")
    assert goto.steps == ["x", "other"] and goto.of("dial") == []


def test_S_EXT_3():
    trace = run(EXT, dtmf="999@prompt")
    assert [d["result"] for d in decisions(trace, "menu")] == ["invalid", "no_input", "exhausted"]
    assert [e[2] for e in obs(trace) if e[1] == "play"] == ["ext", "nope", "ext"]


# ---------------------------------------------------------------- 5. dialling

DIAL_ARMS = 'step a { dial %s busy -> b no_answer -> n unreachable -> u } }\n' \
            'step b { play "b" hangup }\n step n { play "n" hangup }\n step u { play "u" hangup }'


@pytest.mark.parametrize("behaviour, outcome, at", [
    ("answer:after=3", "answered", 3.0),
    ("busy:after=2", "busy", 2.0),
    ("cause:USER_BUSY", "busy", 0.0),
    ("noanswer", "noanswer", 10.0),
    ("cause:19:after=4", "noanswer", 4.0),
    ("unreachable", "unreachable", 0.0),
    ("reject", "unreachable", 0.0),
    ("congestion", "unreachable", 0.0),
    ("cause:1", "unreachable", 0.0),
    ("answer:after=12", "noanswer", 10.0),  # answers too late: the ring time ended first
])
def test_S_DIAL_1(behaviour, outcome, at):
    trace = run(DIAL_ARMS % "13800000001 { ring 10s", phones={"13800000001": behaviour})
    result = next(e for e in obs(trace) if e[1] == "result")
    assert result == (at, "result", "13800000001", outcome)


def test_S_DIAL_2():
    decls = 'group g {\n strategy sequential\n ring 12s\n 13800000001 (ring 5s)\n 13800000002\n}'
    rings = [e.data["ring"] for e in run('step a { dial g }', decls, default_phone="noanswer").of("dial")]
    assert rings == [5.0, 12.0]
    override = [e.data["ring"] for e in run('step a { dial g { ring 8s } }', decls, default_phone="noanswer").of("dial")]
    assert override == [8.0, 8.0]
    direct = run('step a { dial 13800000001 }', default_phone="noanswer")
    assert direct.of("dial")[0].data["ring"] == 20.0


def test_S_DIAL_3():
    trace = run('step a { dial pair }', PHONES, phones={"13800000001": "busy:after=2", "13800000002": "answer:after=1"})
    assert obs(trace)[:5] == [(0.0, "dial", ["13800000001"], "sequential-step"),
                              (2.0, "result", "13800000001", "busy"),
                              (2.0, "dial", ["13800000002"], "sequential-step"),
                              (3.0, "result", "13800000002", "answered"),
                              (3.0, "connect", "13800000002")]


def _first_phones(decls: str, strategy: str, draws: list[int]) -> list[str]:
    s = session('step a { dial g }', decls.replace("STRATEGY", strategy))
    return [s.call(time=MONDAY_10, draws=[r]).of("dial")[0].data["phones"][0] for r in draws]


THREE = 'group g {\n strategy STRATEGY\n 13800000001\n 13800000002\n 13800000003\n}'


def test_S_DIAL_4():
    assert _first_phones(THREE, "random", [1, 33, 34, 66, 67, 100]) == [
        "13800000001", "13800000001", "13800000002", "13800000002", "13800000003", "13800000003"]
    trace = session('step a { dial g }', THREE.replace("STRATEGY", "random")).call(time=MONDAY_10, draws=[50])
    assert [e.data["phones"][0] for e in trace.of("dial")] == ["13800000002", "13800000003", "13800000001"]


def test_S_DIAL_5():
    s = session('step a { dial g { failed -> b } }\n step b { dial g }', THREE.replace("STRATEGY", "round_robin"))
    first = s.call(time=MONDAY_10)
    # both steps share the position: the second dial of the same call starts one phone on
    assert [e.data["phones"][0] for e in first.of("dial")] == [
        "13800000001", "13800000002", "13800000003", "13800000002", "13800000003", "13800000001"]
    assert s.call(time=MONDAY_10).of("dial")[0].data["phones"] == ("13800000003",)
    s.reset()
    assert s.call(time=MONDAY_10).of("dial")[0].data["phones"] == ("13800000001",)


def test_S_DIAL_6():
    decls = 'group g {\n strategy ratio\n 13800000001 (weight 70)\n 13800000002 (weight 30)\n}'
    assert _first_phones(decls, "ratio", [1, 70, 71, 100]) == ["13800000001", "13800000001", "13800000002",
                                                                 "13800000002"]
    trace = session('step a { dial g }', decls).call(time=MONDAY_10, draws=[90])
    assert [e.data["phones"][0] for e in trace.of("dial")] == ["13800000002", "13800000001"]


def test_S_DIAL_7():
    decls = THREE.replace("STRATEGY", "ring_all").replace("{\n", "{\n ring 15s\n", 1)
    trace = run('step a { dial g }', decls,
                phones={"13800000001": "busy:after=1", "13800000002": "answer:after=4", "13800000003": "noanswer"})
    assert obs(trace)[:5] == [(0.0, "dial", ["13800000001", "13800000002", "13800000003"], "simultaneous"),
                              (1.0, "result", "13800000001", "busy"),
                              (4.0, "result", "13800000002", "answered"),
                              (4.0, "result", "13800000003", "cancelled"),
                              (4.0, "connect", "13800000002")]


def test_S_DIAL_8():
    survey = 'survey s { prompt "rate" }'
    with_survey = run('step a { dial 13800000001 { survey s } }', survey,
                      phones={"13800000001": "answer:after=1:talk=2"}, dtmf="4@prompt")
    assert with_survey.survey_result == "4" and with_survey.ended_by == "flow"
    without = run('step a { dial 13800000001 }', phones={"13800000001": "answer:after=1:talk=2"})
    assert without.ended_by == "phone"
    caller_first = run('step a { dial 13800000001 { survey s } }', survey,
                       phones={"13800000001": "answer:after=1:talk=20"}, caller_hangup_after=5)
    assert caller_first.ended_by == "caller" and caller_first.survey_result is None


@pytest.mark.parametrize("behaviours, outcome", [
    (["busy", "noanswer", "unreachable"], "no_answer"),
    (["unreachable", "busy", "unreachable"], "busy"),
    (["unreachable", "reject", "congestion"], "unreachable"),
])
def test_S_DIAL_9(behaviours, outcome):
    decls = THREE.replace("STRATEGY", "sequential")
    trace = run('step a { dial g }', decls, phones=dict(zip(["13800000001", "13800000002", "13800000003"], behaviours)))
    assert decisions(trace, "outcome")[0]["outcome"] == outcome


def test_S_DIAL_10():
    failed_only = 'step a { dial 13800000001 { failed -> f } }\n step f { play "f" hangup }'
    assert run(failed_only, phones={"13800000001": "busy"}).steps == ["a", "f"]
    assert run(DIAL_ARMS % "13800000001 {", phones={"13800000001": "busy"}).steps == ["a", "b"]
    none = run('step a { dial 13800000001 { busy -> f } }\n step f { hangup }')
    assert none.steps == ["a"] and none.ended_by == "flow"


def test_S_DIAL_11():
    seq = run('step a { dial pair }', PHONES, default_phone="unreachable:after=2")
    assert [(e[0], e[1]) for e in obs(seq)[:4]] == [(0.0, "dial"), (2.0, "result"), (2.0, "dial"), (4.0, "result")]
    ring_all = run('step a { dial g }', THREE.replace("STRATEGY", "ring_all"), default_phone="noanswer")
    assert [e[1] for e in obs(ring_all)] == ["dial", "result", "result", "result", "hangup"]


# ---------------------------------------------------------------- random draws


def test_S_RAND_1():
    decls = 'group g {\n strategy random\n' + "".join(f" 1380000000{i}\n" for i in range(1, 8)) + '}'
    firsts = _first_phones(decls, "random", [14, 15, 100])
    # n = 7: r=14 -> ceil(0.98) = 1, r=15 -> ceil(1.05) = 2, r=100 -> 7
    assert firsts == ["13800000001", "13800000002", "13800000007"]


def test_S_RAND_2():
    s = session('step a { split { 50% -> b 50% -> c } }\n step b { hangup }\n step c { hangup }')
    seeded = [s.call(time=MONDAY_10, seed=7).steps[-1] for _ in range(3)]
    assert len(set(seeded)) == 1  # same seed, same draw
    spread = {s.call(time=MONDAY_10, seed=k).steps[-1] for k in range(40)}
    assert spread == {"b", "c"}
    fixed = s.call(time=MONDAY_10, draws=[51])
    assert fixed.steps[-1] == "c" and fixed.draws == [51]


# ---------------------------------------------------------------- 6. branches

SCHEDULES = """
schedule morning { mon-fri 09:00-12:00 }
schedule all_week { daily 08:00-20:00 }
"""


def test_S_BR_1():
    trace = run('step a { branch time { morning -> m all_week -> w else -> e } }\n'
                'step m { hangup }\n step w { hangup }\n step e { hangup }', SCHEDULES)
    assert trace.steps == ["a", "m"]  # both hold; the first written wins
    assert trace.of("branch")[0].t == 0


def test_S_TIME_1():
    s = session('step a { play "p" branch time { morning -> m else -> e } }\n step m { hangup }\n step e { hangup }',
                SCHEDULES)
    # the prompt lasts 40 s: the branch reads 12:00:10, not the call's start 11:59:30
    assert s.call(time="2026-11-23T11:59:30+08:00", prompt_duration={"p": 40}).steps[-1] == "e"
    assert s.call(time="2026-11-23T11:59:00+08:00", prompt_duration={"p": 40}).steps[-1] == "m"


@pytest.mark.parametrize("when, expected", [
    ("2026-11-23T23:00:00+08:00", "on"),   # 22:00-06:00: the evening part
    ("2026-11-24T05:59:00+08:00", "on"),   # the morning part, same date's day test
    ("2026-11-24T06:00:00+08:00", "off"),  # end exclusive
    ("2026-04-30T12:00:00+08:00", "off"),  # except 04-29..05-05
    ("2026-12-31T12:00:00+08:00", "on"),   # 12-30..01-02 wraps the new year
])
def test_S_TIME_2(when, expected):
    decls = ('schedule s {\n daily 22:00-06:00\n 12-30..01-02\n except 04-29..05-05\n}')
    trace = run('step a { branch time { s -> on else -> off } }\n step on { hangup }\n step off { hangup }', decls,
                time=when)
    assert trace.steps[-1] == expected


def test_S_TIME_3():
    decls = 'schedule ny { timezone America/New_York\n daily 09:00-17:00 }\nschedule cn { daily 09:00-17:00 }'
    body = 'step a { branch time { ny -> n else -> x } }\n step n { hangup }\n step x { hangup }'
    # 2026-07-01 22:00 in Beijing is 10:00 EDT (daylight saving in New York)
    assert run(body, decls, time="2026-07-01T22:00:00+08:00").steps[-1] == "n"
    # 2026-12-01 22:00 in Beijing is 09:00 EST
    assert run(body, decls, time="2026-12-01T22:00:00+08:00").steps[-1] == "n"
    assert run(body, decls, time="2026-12-01T21:30:00+08:00").steps[-1] == "x"


@pytest.mark.parametrize("day, kind", [
    ("2026-10-02", "holidays"),   # National Day
    ("2026-10-10", "workdays"),   # Saturday worked to make up for it (调休)
    ("2026-11-23", "workdays"),   # a plain Monday
    ("2026-11-28", "restdays"),   # a plain Saturday
])
def test_S_TIME_4(day, kind):
    decls = 'schedule h { holidays }\nschedule w { workdays }\nschedule r { restdays }'
    trace = run('step a { branch time { h -> holidays w -> workdays r -> restdays else -> none } }\n'
                'step holidays { hangup }\n step workdays { hangup }\n step restdays { hangup }\n step none { hangup }',
                decls, time=f"{day}T10:00:00+08:00")
    assert trace.steps[-1] == kind


def test_S_TIME_5():
    decls = 'schedule h { holidays }\nschedule w { workdays }'
    body = 'step a { branch time { h -> hol w -> work else -> rest } }\n' \
           'step hol { hangup }\n step work { hangup }\n step rest { hangup }'
    new_year = run(body, decls, time="2031-01-01T10:00:00+08:00")  # a Wednesday, no calendar data
    assert new_year.steps[-1] == "work"
    assert new_year.of("branch")[0].data["calendar"] == "no-data"
    assert run(body, decls, time="2031-01-04T10:00:00+08:00").steps[-1] == "rest"  # Saturday
    assert "calendar" not in run(body, decls).of("branch")[0].data


@pytest.mark.parametrize("caller, expected", [
    ("13812345678", "jiangsu"),    # a Jiangsu mobile prefix
    ("02083456789", "guangzhou"),  # Guangzhou area code
    ("+862083456789", "guangzhou"),  # +86 and the area code without its 0
    ("", "other"),                 # withheld
    ("0014155550100", "other"),    # foreign
    ("12345", "other"),            # malformed
])
def test_S_REG_1(caller, expected):
    trace = run('step a { branch region { 广州 -> guangzhou 江苏 -> jiangsu else -> other } }\n'
                'step guangzhou { hangup }\n step jiangsu { hangup }\n step other { hangup }', caller=caller)
    assert trace.steps[-1] == expected


@pytest.mark.parametrize("caller, expected", [
    ("13800138000", "vip"),
    ("+8613800138000", "vip"),       # normalised before it is compared
    ("13912345678", "prefix"),
    ("anonymous", "hidden"),
    ("", "hidden"),
    ("13712345678", "rest"),
])
def test_S_CALLER_1(caller, expected):
    decls = 'list vips { 13800138000 }'
    trace = run('step a { branch caller { vips -> vip "139*" -> prefix withheld -> hidden else -> rest } }\n'
                'step vip { hangup }\n step prefix { hangup }\n step hidden { hangup }\n step rest { hangup }',
                decls, caller=caller)
    assert trace.steps[-1] == expected


def test_S_SPLIT_1():
    s = session('step a { split { 30% -> b 70% -> c } }\n step b { hangup }\n step c { hangup }')
    assert [s.call(time=MONDAY_10, draws=[r]).steps[-1] for r in (1, 30, 31, 100)] == ["b", "b", "c", "c"]
    share = sum(s.call(time=MONDAY_10, seed=k).steps[-1] == "b" for k in range(2000)) / 2000
    assert 0.26 < share < 0.34


# ---------------------------------------------------------------- 7. queue

AGENTS = 'group agents {\n strategy ring_all\n ring 10s\n 13700000001\n 13700000002\n}'
QUEUE = ('step q { queue { group agents music "hold" announce "wait" every 20s max_wait 1m retry 5s '
         'timeout -> out } }\n step out { play "out" hangup }')


def test_S_Q_1():
    trace = run(QUEUE, AGENTS, default_phone="noanswer", caller_hangup_after=3)
    assert obs(trace)[0] == (0.0, "queue", "enter")
    enter = trace.of("queue")[0].data
    assert (enter["music"], enter["announce"], enter["announce_every"]) == ("hold", "wait", 20.0)
    assert not any(e["event"] == "play" for e in trace.observable())  # announcements are inside the queue


def test_S_Q_2():
    # rounds: 0-10 ring, 10-15 pause, 15-25 ring, 25-30 pause, 30-40 ring: answers 2 s into round 3
    trace = run(QUEUE, AGENTS, phones={"13700000002": "noanswer;noanswer;answer:after=2"}, default_phone="noanswer")
    assert (32.0, "connect", "13700000002") in obs(trace)
    cut = run(QUEUE.replace("max_wait 1m", "max_wait 18s"), AGENTS,
              phones={"13700000001": "noanswer;answer:after=5"}, default_phone="noanswer")
    # round 2 starts at 15 s; its answer at 20 s would come after max_wait (18 s)
    assert (18.0, "queue", "leave", "timeout") in obs(cut) and cut.connected_to is None
    # without a queue `ring`, each agent rings for its own time: a round ends when the last
    # agent's ring does (agent 1: 4 s; agent 2: 10 s, busy at once), then 5 s of retry
    own = run(QUEUE, AGENTS.replace("ring_all", "sequential").replace(" 13700000001\n", " 13700000001 (ring 4s)\n"),
              phones={"13700000001": "noanswer;answer:after=1", "13700000002": "busy"})
    assert (10.0, "connect", "13700000001") in obs(own)  # round 1: 0-4 s, pause 4-9 s, round 2 answer at 10 s


def test_S_Q_3():
    answered = run(QUEUE, AGENTS, phones={"13700000001": "answer:after=4:talk=10"})
    assert obs(answered)[1:3] == [(4.0, "connect", "13700000001"), (4.0, "queue", "leave", "answered")]
    assert answered.ended_by == "phone"
    timeout = run(QUEUE, AGENTS, default_phone="busy")
    assert (60.0, "queue", "leave", "timeout") in obs(timeout) and timeout.steps[-1] == "out"
    no_arm = run(QUEUE.replace("timeout -> out", ""), AGENTS, default_phone="busy")
    assert obs(no_arm)[-1] == (60.0, "hangup", "flow")


def test_S_Q_4():
    trace = run(QUEUE, AGENTS, phones={"13700000001": "busy;answer:after=1"})
    assert not any(e["event"] in ("dial", "result") for e in trace.observable())


# ---------------------------------------------------------------- 8. survey

SURVEY = 'survey s { prompt "rate" keys 1, 2 timeout 3s retries 1 invalid "bad" thanks "thanks" }'


def test_S_SURVEY_1():
    flow_level = run('step a { dial 13800000001 }', SURVEY, settings="survey s",
                     phones={"13800000001": "answer:after=1:talk=1"}, dtmf="1@prompt")
    assert flow_level.survey_result == "1"
    other = SURVEY + '\nsurvey other { prompt "other_rate" }'
    step_level = run('step a { dial 13800000001 { survey other } }', other, settings="survey s",
                     phones={"13800000001": "answer:after=1:talk=1"})
    assert step_level.played("other_rate") and not step_level.played("rate")


def test_S_SURVEY_2():
    trace = run('step a { dial 13800000001 { survey s } }', SURVEY, phones={"13800000001": "answer:after=1:talk=5"})
    assert next(e for e in trace.observable() if e["event"] == "play") == {"t": 6.0, "event": "play", "prompt": "rate"}


def test_S_SURVEY_3():
    trace = run('step a { dial 13800000001 { survey s } }', SURVEY, phones={"13800000001": "answer:after=1:talk=1"},
                dtmf="7@prompt")
    assert [e[2] for e in obs(trace) if e[1] == "play"] == ["rate", "bad", "rate"]
    assert trace.survey_result == "none"  # one invalid key, one silence: 1 + retries attempts


def test_S_SURVEY_4():
    trace = run('step a { dial 13800000001 { survey s } }', SURVEY, phones={"13800000001": "answer:after=1:talk=1"},
                dtmf="2@prompt")
    assert trace.tags["survey"] == "2"
    assert decisions(trace, "survey") == [{"survey": "s", "result": "2"}]
    assert [e[1:] for e in obs(trace)[-3:]] == [("input", "2"), ("play", "thanks"), ("hangup", "flow")]
    silent = run('step a { dial 13800000001 { survey s } }', SURVEY, phones={"13800000001": "answer:after=1:talk=1"})
    assert silent.tags["survey"] == "none" and not silent.played("thanks")


# ---------------------------------------------------------------- 9. recording and voicemail


def test_S_REC_1():
    flow_level = run('step a { play "p" hangup }', settings="record")
    assert [(e[0], e[1], e[2]) for e in obs(flow_level) if e[1] == "record"] == [(0.0, "record", "start"),
                                                                                 (1.0, "record", "stop")]
    step_level = run('step a { play "p" record play "q" hangup }')
    assert [(e[0], e[2]) for e in obs(step_level) if e[1] == "record"] == [(1.0, "start"), (2.0, "stop")]


def test_S_VM_1():
    flow_max = run('step a { voicemail 100 max 30s }')
    assert obs(flow_max) == [(0.0, "voicemail", "100"), (30.0, "hangup", "flow")]
    greeting = run('step a { voicemail 100 max 30s greeting "hello" }', prompt_duration={"hello": 4})
    # A custom greeting is an ordinary prompt, played before the voicemail application.
    assert obs(greeting) == [(0.0, "play", "hello"), (4.0, "voicemail", "100"), (34.0, "hangup", "flow")]
    caller = run('step a { voicemail 100 }', caller_hangup_after=12)
    assert obs(caller)[-1] == (12.0, "hangup", "caller")


# ---------------------------------------------------------------- 10. caller numbers


def test_S_NUM_1():
    body = 'step a { branch caller { "13800138000" -> hit else -> miss } }\n step hit { hangup }\n step miss { hangup }'
    for raw in ("13800138000", "+8613800138000", "008613800138000", "8613800138000", "013800138000"):
        assert run(body, caller=raw).steps[-1] == "hit", raw
    assert run(body, caller="138 0013 8000").steps[-1] == "miss"  # non-digits: withheld (N1)
