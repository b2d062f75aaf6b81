"""The interpreter's world, traces, sessions, scenarios, coverage and pytest plugin."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from flowc.interp import Session, World, WorldError, parse_behaviours, parse_dtmf, run_call
from flowc.interp.coverage import Coverage
from flowc.interp.runner import run_scenario_file
from flowc.interp.scenario import load_scenarios
from flowc.pipeline import Workspace
from flowc.pytest_plugin import flow_session, load_flow, place_call, _flowc_flows  # noqa: F401  (fixtures)

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
NORMALIZE = Path("/work/shared/harness/normalize.py")
MONDAY_10 = "2026-11-23T10:00:00+08:00"


def flow_of(text: str, path: str = "t.flow"):
    result = Workspace().assemble(path, text=text)
    assert result.flow is not None, [d.message for d in result.diagnostics]
    return result.flow


# ---------------------------------------------------------------- the harness grammars


def test_dtmf_grammar_follows_the_harness():
    items = parse_dtmf("2@prompt+0.5,1@+2,hangup@+10,123#@exec:Read+0.3,4,5@3,6@context:menu,7@event:QueueCallerJoin")
    assert [(i.keys, i.mode, i.delay_ms) for i in items] == [
        ("2", "trigger", 500), ("1", "rel", 2000), ("hangup", "rel", 10000), ("123#", "trigger", 300),
        ("4", "rel", 1000), ("5", "abs", 3000), ("6", "trigger", 500), ("7", "trigger", 500)]
    assert items[3].triggers == {"input"} and items[6].step == "menu" and items[7].triggers == {"queue"}
    assert parse_dtmf("1")[0].mode == "abs" and parse_dtmf("1")[0].delay_ms == 2000  # first item: 2 s
    assert parse_dtmf("9@app:Playback|Dial")[0].triggers == {"playback", "dial"}
    assert parse_dtmf([{"keys": "1", "when": "answer+4"}])[0].delay_ms == 4000


@pytest.mark.parametrize("bad", ["x@prompt", "1@soon", "1@exec:Frobnicate", "1@event:Nope"])
def test_dtmf_grammar_errors(bad):
    with pytest.raises(WorldError):
        parse_dtmf(bad)


def test_phone_behaviours_follow_the_harness():
    b = parse_behaviours("busy;answer:after=2:talk=forever;answer:3:4;cause:USER_BUSY:after=1;reject;no-answer")
    assert [(x.outcome, x.after_ms, x.talk_ms) for x in b] == [
        ("busy", 0, None), ("answered", 2000, None), ("answered", 3000, 4000), ("busy", 1000, None),
        ("unreachable", 0, None), (None, 0, None)]
    assert parse_behaviours({"behaviour": "answer", "after": 2})[0].after_ms == 2000
    assert parse_behaviours("answer")[0][2:] == (1000, 5000)  # harness defaults: after 1 s, talk 5 s
    for bad in ("explode", "busy:after=-1", "cause:NOT_A_CAUSE", "answer:colour=red", ""):
        with pytest.raises(WorldError):
            parse_behaviours(bad)


def test_world_build_names_the_bad_setting():
    with pytest.raises(WorldError) as exc:
        World.build(phones={"13800000001": "sometimes"})
    assert exc.value.key == "phones"
    with pytest.raises(WorldError) as exc:
        World.build(time="yesterday")
    assert exc.value.key == "time"
    with pytest.raises(WorldError):
        World.build(draws=[0])
    naive = World.build(time="2026-11-23T10:00")
    assert naive.time.utcoffset().total_seconds() == 8 * 3600  # harness default: +08:00


def test_phone_numbers_are_canonicalised():
    world = World.build(phones={"0571-8765 4321": "busy", "+86 139 0000 1111": "noanswer"})
    assert set(world.phones) == {"057187654321", "13900001111"}


# ---------------------------------------------------------------- the call machinery


SHOP = EXAMPLES / "small_shop.flow"


def test_per_attempt_behaviours_count_per_call():
    flow = flow_of('flow t {\n number 400-800-1234\n step a { dial 13800000001 { failed -> b } }\n'
                   ' step b { dial 13800000001 { failed -> c } }\n step c { dial 13800000001 } }')
    s = Session(flow)
    for _ in range(2):  # the counters restart with every call, as in both harnesses
        trace = s.call(time=MONDAY_10, phones={"13800000001": "busy;unreachable;answer:after=1"})
        assert [e["outcome"] for e in trace.observable() if e["event"] == "result"] == ["busy", "unreachable",
                                                                                        "answered"]


def test_same_seed_same_call_and_draws_are_recorded():
    s = Session(EXAMPLES / "sales_split.flow")
    a = s.call(time=MONDAY_10, seed=3, caller_hangup_after=30)
    s.reset()
    b = s.call(time=MONDAY_10, seed=3, caller_hangup_after=30)
    assert a.observable() == b.observable() and a.draws == b.draws and a.draws
    fixed = s.call(time=MONDAY_10, draws=a.draws, seed=99, caller_hangup_after=30)
    s.reset()
    assert [e.data for e in fixed.of("branch")] == [e.data for e in a.of("branch")]


def test_round_robin_persists_across_calls_until_reset():
    s = Session(EXAMPLES / "support_24x7.flow")
    first = lambda: s.call(time=MONDAY_10, default_phone="answer:after=1").connected_to  # noqa: E731
    assert [first() for _ in range(4)] == ["075586000001", "075586000002", "075586000003", "075586000001"]
    s.reset()
    assert first() == "075586000001"
    assert Session(EXAMPLES / "support_24x7.flow").call(time=MONDAY_10,
                                                         default_phone="answer:after=1").connected_to == "075586000001"


QUEUE_FLOW = """
group agents {
  strategy ring_all
  ring 10s
  13700000001
}
survey s { prompt "rate" }
flow t {
  number 400-800-1234
  record
  step a { play "hello" menu { prompt "menu" 1 -> d 2 -> q 3 -> v } }
  step d { dial agents { survey s } }
  step q { queue { group agents max_wait 1m } }
  step v { voicemail 100 }
}
"""


@pytest.mark.parametrize("dtmf, behaviour, at, phase_events", [
    ("", "noanswer", 0.5, []),                                          # during a prompt
    ("", "noanswer", 3.0, []),                                          # waiting in a menu
    ("1@prompt", "noanswer", 5.0, [("result", "cancelled")]),           # phones ringing
    ("1@prompt", "answer:after=1:talk=forever", 9.0, []),               # in conversation
    ("1@prompt", "answer:after=1:talk=2", 5.0, []),                     # in the survey
    ("2@prompt", "noanswer", 20.0, [("queue", "caller_hangup")]),       # in the queue
    ("3@prompt", "noanswer", 20.0, []),                                 # leaving a message
])
def test_caller_hangs_up_in_every_phase(dtmf, behaviour, at, phase_events):
    trace = Session(flow_of(QUEUE_FLOW)).call(time=MONDAY_10, dtmf=dtmf, default_phone=behaviour,
                                                 caller_hangup_after=at)
    events = trace.observable()
    assert events[-1] == {"t": at, "event": "hangup", "by": "caller"}
    assert events[-2] == {"t": at, "event": "record", "action": "stop"}
    teardown = [(e["event"], e.get("outcome") or e.get("reason")) for e in events
                if e["t"] == at and e["event"] in ("result", "queue")]
    assert teardown == phase_events


def test_harness_time_limit_ends_the_call():
    trace = run_call(SHOP, time=MONDAY_10, default_phone="answer:after=1:talk=forever", max_seconds=30)
    assert trace.observable()[-1] == {"t": 30.0, "event": "hangup", "by": "timeout"}


def test_keys_of_one_item_arrive_300_ms_apart_and_unsent_items_are_reported():
    flow = flow_of('flow t {\n number 400-800-1234\n step x { extension { prompt "p" 1234 -> y } }\n'
                   ' step y { hangup } }')
    trace = Session(flow).call(time=MONDAY_10, dtmf="1234@prompt+0.5,5@+1,hangup@+1")
    assert trace.observable()[1] == {"t": 1.6, "event": "input", "digits": "1234"}  # 0.5 + 3*0.3 + 0.15
    assert trace.dtmf_unsent == ["5@+1", "hangup@+1"]


# ---------------------------------------------------------------- the trace


def test_trace_json_is_versioned_and_complete():
    trace = run_call(SHOP, time=MONDAY_10, phones={"057187654321": "busy", "13900001111": "answer:after=2"})
    doc = json.loads(trace.to_json())
    assert doc["trace_version"] == 1 and doc["flow"] == "small_shop"
    assert doc["caller"]["kind"] == "mobile" and doc["world"]["time"] == "2026-11-23T10:00:00+08:00"
    assert doc["summary"]["connected_to"] == "13900001111" and doc["summary"]["ended_by"] == "phone"
    assert {e["event"] for e in doc["events"]} >= {"step", "play", "dial", "result", "connect", "outcome", "hangup"}
    assert trace.played("shop/welcome") and trace.played("welcome") and trace.visited("owner")


def test_observable_lines_are_what_normalize_prints(tmp_path):
    if not NORMALIZE.is_file():
        pytest.skip("the harness's normalize.py is not here")
    trace = run_call(EXAMPLES / "ecommerce_national.flow", time="2026-11-11T22:00:00+08:00", caller="01062345678",
                     phones={"13700002003": "answer:after=6:talk=30", "01088882002": "busy:after=2"})
    mine = tmp_path / "interp.jsonl"
    mine.write_text(trace.observable_jsonl(), encoding="utf-8")
    printed = subprocess.run([sys.executable, str(NORMALIZE), str(mine)], capture_output=True, text=True, check=True)
    assert printed.stdout == trace.observable_jsonl()
    same = subprocess.run([sys.executable, str(NORMALIZE), "--compare", str(mine), str(mine)], capture_output=True,
                          text=True)
    assert same.returncode == 0 and same.stdout.startswith("EQUAL")


PARITY_FLOW = """
group sales {
  strategy sequential
  ring 10s
  13800000001
  13800000002
}
group support {
  strategy ring_all
  ring 20s
  13900000001
  13900000002
}
flow parity {
  number 400-800-1234
  step start { play "parity/welcome" goto choose }
  step choose {
    menu {
      prompt "parity/menu"
      retries 0
      1 -> dial sales { failed -> voicemail 100 }
      2 -> dial support { failed -> { play "parity/sorry" hangup } }
      invalid -> bye
      no_input -> bye
    }
  }
  step bye { play "parity/goodbye" hangup }
}
"""

# The harness's parity example (parity-example/README.md): what real Asterisk 22 and
# FreeSWITCH 1.10 did for these scenarios, normalised (the Asterisk column).
PARITY = {
    "01-sales-busy-then-answer": (
        dict(dtmf="1@prompt+0.5", phones={"13800000001": "busy", "13800000002": "answer:after=2:talk=3"}),
        "0.0 play welcome|1.0 play menu|1.7 input 1|1.7 dial 13800000001|1.7 result 13800000001 busy|"
        "1.7 dial 13800000002|3.7 result 13800000002 answered|3.7 connect 13800000002|6.7 hangup phone"),
    "02-sales-all-fail-voicemail": (
        dict(dtmf="1@prompt+0.5", phones={"13800000001": "noanswer", "13800000002": "unreachable"},
             caller_hangup_after=26),
        "0.0 play welcome|1.0 play menu|1.7 input 1|1.7 dial 13800000001|11.7 result 13800000001 noanswer|"
        "11.7 dial 13800000002|11.7 result 13800000002 unreachable|11.7 voicemail 100|26.0 hangup caller"),
    "03-support-ringall": (
        dict(dtmf="2@prompt+0.5", phones={"13900000001": "noanswer", "13900000002": "answer:after=2:talk=3"}),
        "0.0 play welcome|1.0 play menu|1.7 input 2|1.7 dial 13900000001,13900000002|"
        "3.7 result 13900000002 answered|3.7 result 13900000001 cancelled|3.7 connect 13900000002|6.7 hangup phone"),
    "04-menu-timeout": (dict(), "0.0 play welcome|1.0 play menu|7.0 play goodbye|8.0 hangup flow"),
    "05-key-during-welcome": (dict(dtmf="1@0.5"), "0.0 play welcome|1.0 play menu|7.0 play goodbye|8.0 hangup flow"),
}


@pytest.mark.parametrize("name", PARITY)
def test_matches_the_real_engines_on_the_parity_example(name):
    options, expected = PARITY[name]
    trace = Session(flow_of(PARITY_FLOW)).call(caller="13812345678", time=MONDAY_10, **options)
    got = []
    for e in trace.observable():
        values = [",".join(v) if isinstance(v, list) else str(v) for k, v in e.items() if k not in ("t", "event", "mode")]
        got.append(" ".join([f"{e['t']:.1f}", e["event"], *values]))
    # within 0.2 s of Asterisk's times (keys act at the end of their 150 ms tone in both)
    for mine, real in zip(got, expected.split("|"), strict=True):
        t_mine, rest_mine = mine.split(" ", 1)
        t_real, rest_real = real.split(" ", 1)
        assert rest_mine == rest_real and abs(float(t_mine) - float(t_real)) <= 0.2, (mine, real)


# ---------------------------------------------------------------- coverage


def test_coverage_lists_what_was_never_reached():
    result = Workspace().assemble(EXAMPLES / "small_shop.flow")
    cov = Coverage(result.flow, result.sources)
    assert cov.percent == 0.0 and len(cov.items) == 9
    cov.add(run_call(result.flow, time=MONDAY_10, phones={"057187654321": "answer:after=1"}))
    assert cov.summary() == "22% (2/9)"
    missed = {item.label for item in cov.missed}
    assert "start: busy -> owner" in missed and "step owner" in missed
    where = next(i.where for i in cov.missed if i.label == "start: busy -> owner")
    assert where == "examples/small_shop.flow:15:7" or where.endswith("small_shop.flow:15:7")


def test_coverage_finds_else_and_exhausted_lines():
    result = Workspace().assemble(EXAMPLES / "ecommerce_national.flow")
    labels = {i.label: i.span.line for i in Coverage(result.flow, result.sources).items}
    source = (EXAMPLES / "ecommerce_national.flow").read_text(encoding="utf-8").splitlines()
    assert "else ->" in source[labels["by_region: else -> main_menu"] - 1]
    assert "exhausted" in source[labels["main_menu: exhausted -> after_hours"] - 1]


def test_every_example_has_scenarios_that_pass_and_cover_it_all():
    for flow in sorted(EXAMPLES.glob("*.flow")):
        report = run_scenario_file(flow.with_name(flow.stem + ".scenarios.yaml"))
        assert not report.errors, [f"{d.span}: {d.message}" for d in report.errors]
        failing = [r.scenario.name + "\n" + r.report() for r in report.results if not r.passed]
        assert not failing, failing
        assert report.coverage.percent == 100.0, [i.label for i in report.coverage.missed]


@pytest.mark.parametrize("flow", sorted(p.stem for p in EXAMPLES.glob("*.flow")))
def test_example_traces_snapshot(flow, snapshot):
    report = run_scenario_file(EXAMPLES / f"{flow}.scenarios.yaml")
    traces = {r.scenario.name: [c.trace.observable() for c in r.calls] for r in report.results}
    assert traces == snapshot


# ---------------------------------------------------------------- scenario diagnostics

SHOP_SCENARIOS = """\
defaults:
  time: 2026-11-23T10:00:00+08:00
scenarios:
  - name: ok
    phones: {"057187654321": busy}
"""


def diagnose(tmp_path: Path, text: str) -> list[tuple[int, str]]:
    shutil.copy(SHOP, tmp_path / "small_shop.flow")
    path = tmp_path / "small_shop.scenarios.yaml"
    path.write_text(text, encoding="utf-8")
    report = run_scenario_file(path)
    assert all(d.code in ("E601",) for d in report.errors)
    return [(d.span.line if d.span else 0, d.message) for d in report.errors]


def test_a_good_scenario_file_has_no_diagnostics(tmp_path):
    assert diagnose(tmp_path, SHOP_SCENARIOS) == []


@pytest.mark.parametrize("text, line, words", [
    ("scenarios:\n  - name: x\n    phones: {a: b\n", 4, "not valid YAML"),
    (SHOP_SCENARIOS + "    colour: red\n", 6, "unknown setting `colour`"),
    (SHOP_SCENARIOS + "    phones: {}\n", 6, "given twice"),
    (SHOP_SCENARIOS.replace("057187654321", "13800000009"), 5, "never dials 13800000009"),
    (SHOP_SCENARIOS + "    dtmf: 1@prompt\n", 6, "never reads keys"),
    (SHOP_SCENARIOS + "    dtmf: 1@whenever\n", 6, "bad time"),
    (SHOP_SCENARIOS.replace("busy", "sometimes"), 5, "unknown phone behaviour"),
    (SHOP_SCENARIOS + "    expect:\n      - play: goodbye\n", 7, "never plays `goodbye`"),
    (SHOP_SCENARIOS + "    expect:\n      - connect: \"13800000009\"\n", 7, "never dials 13800000009"),
    (SHOP_SCENARIOS + "    expect:\n      - voicemail: \"100\"\n", 7, "no voicemail box 100"),
    (SHOP_SCENARIOS + "    expect:\n      - explode: now\n", 7, "not an event"),
    (SHOP_SCENARIOS + "    expect:\n      - step: nowhere\n", 7, "no step `nowhere`"),
    (SHOP_SCENARIOS + "  - name: ok\n", 6, "two scenarios are named"),
    (SHOP_SCENARIOS + "    draws: [0]\n", 6, "from 1 to 100"),
])
def test_scenario_file_errors_are_diagnostics(tmp_path, text, line, words):
    found = diagnose(tmp_path, text)
    assert any(at == line and words in message for at, message in found), found


def test_keys_the_flow_does_not_have_are_errors_unless_expected(tmp_path):
    shutil.copy(EXAMPLES / "hotel_chain.flow", tmp_path / "hotel_chain.flow")
    path = tmp_path / "hotel_chain.scenarios.yaml"
    base = "defaults:\n  time: 2026-11-23T10:00:00+08:00\nscenarios:\n  - name: x\n    dtmf: 4@prompt\n"
    path.write_text(base, encoding="utf-8")
    assert [d.message for d in run_scenario_file(path).errors] == [
        "`4@prompt`: 4 is not a key or extension of flow `hotel_chain`"]
    path.write_text(base + "    expect:\n      - input: \"4\"\n", encoding="utf-8")
    assert run_scenario_file(path).errors == []


def test_time_branches_need_a_time(tmp_path):
    shutil.copy(EXAMPLES / "support_24x7.flow", tmp_path / "support_24x7.flow")
    (tmp_path / "common").mkdir()
    shutil.copy(EXAMPLES / "common" / "schedules.flow", tmp_path / "common" / "schedules.flow")
    path = tmp_path / "support_24x7.scenarios.yaml"
    path.write_text("- name: whenever\n", encoding="utf-8")
    assert ["needs a `time`" in d.message for d in run_scenario_file(path).errors] == [True]


def test_failing_scenario_report_shows_expected_and_actual(tmp_path):
    shutil.copy(SHOP, tmp_path / "small_shop.flow")
    path = tmp_path / "small_shop.scenarios.yaml"
    path.write_text(SHOP_SCENARIOS + "    expect:\n      - connect: \"057187654321\"\n    expect_exactly:\n"
                    "      - play: welcome\n", encoding="utf-8")
    [result] = run_scenario_file(path).results
    text = result.report()
    assert not result.passed
    assert "✗ connect phone=057187654321  (line 7)" in text
    assert "result phone=057187654321 outcome=busy" in text  # the actual events
    assert "+dial phones=057187654321 mode=sequential-step t=1" in text  # the exact diff


def test_scenario_calls_share_the_session_and_get_their_own_seed(tmp_path):
    sfile, diags = load_scenarios(tmp_path / "x.scenarios.yaml", text=(
        "- name: three\n  time: 2026-11-23T10:00:00+08:00\n  seed: 5\n  calls:\n    - {}\n    - repeat: 2\n"
        "    - seed: 42\n"))
    assert diags == []
    assert [c.world.seed for c in sfile.scenarios[0].calls] == [5, 6, 7, 42]


# ---------------------------------------------------------------- the pytest plugin


def test_place_call_fixture_keeps_one_session_per_flow(place_call):
    first = place_call(EXAMPLES / "support_24x7.flow", time=MONDAY_10, default_phone="answer:after=1")
    second = place_call(EXAMPLES / "support_24x7.flow", time=MONDAY_10, default_phone="answer:after=1")
    assert (first.connected_to, second.connected_to) == ("075586000001", "075586000002")


def test_flow_session_fixture_gives_fresh_sessions(flow_session):
    a, b = flow_session(SHOP), flow_session(SHOP)
    assert a is not b and a.flow is b.flow  # the checked flow is loaded once


def test_flow_scenarios_option_collects_yaml_files(tmp_path):
    shutil.copy(SHOP, tmp_path / "small_shop.flow")
    shutil.copy(EXAMPLES / "small_shop.scenarios.yaml", tmp_path / "small_shop.scenarios.yaml")
    (tmp_path / "broken.flow").write_text("flow {", encoding="utf-8")
    (tmp_path / "broken.scenarios.yaml").write_text("- name: x\n", encoding="utf-8")
    import os
    from importlib.metadata import entry_points

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    # Installed (pip install -e .), pytest loads the plugin through its pytest11 entry point
    # and `-p` would register it twice; from a bare checkout it has to be named.
    installed = any(ep.value == "flowc.pytest_plugin" for ep in entry_points(group="pytest11"))
    plugin = [] if installed else ["-p", "flowc.pytest_plugin"]
    done = subprocess.run([sys.executable, "-m", "pytest", *plugin, "--flow-scenarios", "-q",
                           "-p", "no:cacheprovider", str(tmp_path)], capture_output=True, text=True, env=env,
                          cwd=tmp_path)
    assert "6 passed" in done.stdout and "1 failed" in done.stdout, done.stdout + done.stderr
    assert "E101" in done.stdout
