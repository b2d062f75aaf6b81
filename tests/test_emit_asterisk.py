"""The Asterisk target (issue 4): snapshots of every example, asterisklint, the structure of
each construct, determinism, and hostile inputs. No engine needed: tests/engine/ runs the
same dialplans in a real Asterisk.

Regenerate the snapshots with `pytest tests/test_emit_asterisk.py --snapshot-update`.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import text_snapshot_extension

from flowc import ir, phones, regions
from flowc.checks import CheckOptions
from flowc.emit import get_target
from flowc.emit.asterisk import TABLE_LIMIT, AsteriskTarget, UnsafeValue, _ere, escape
from flowc.pipeline import check_file, check_text
from flowc.settings import Settings, TargetSettings

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.flow"))
YEARS = [2026, 2027]


@pytest.fixture
def snapshot_conf(snapshot):
    return snapshot.use_extension(text_snapshot_extension("raw"))


def target(**options) -> AsteriskTarget:
    base = {"dial_template": "PJSIP/{number}@trunk", "recording_dir": "/var/spool/asterisk/monitor/flowc"}
    return get_target("asterisk", Settings(years=YEARS, asterisk=TargetSettings(**{**base, **options})))


_FLOWS: dict = {}


def flow_of(path: Path) -> ir.Flow:
    if path not in _FLOWS:
        result = check_file(path, CheckOptions(years=YEARS))
        assert result.flow is not None, [str(d) for d in result.diagnostics]
        _FLOWS[path] = result.flow
    return _FLOWS[path]


def flow_text(text: str) -> ir.Flow:
    result = check_text(text, "t.flow", CheckOptions(years=YEARS))
    assert result.flow is not None, [f"{d.code} {d.message}" for d in result.diagnostics]
    return result.flow


_RENDERED: dict = {}


def render(flow: ir.Flow, **options) -> dict[str, str]:
    t = target(**options)
    assert not t.unsupported(flow), [d.message for d in t.unsupported(flow)]
    return t.render(flow)


def rendered_example(path: Path) -> dict[str, str]:
    if path not in _RENDERED:
        _RENDERED[path] = render(flow_of(path))
    return _RENDERED[path]


# ====================================================================== a small dialplan reader


class Dialplan:
    """Contexts -> extensions -> [(label, app, args)] of generated dialplan (the subset flowc writes)."""

    def __init__(self, text: str):
        self.text = text
        self.contexts: dict[str, dict[str, list[tuple[str | None, str, str]]]] = {}
        self.comments: dict[str, list[str]] = {}
        ctx = exten = None
        for raw in text.splitlines():
            code, _, comment = _split_comment(raw)
            line = code.strip()
            if not line:
                if ctx and comment:
                    self.comments.setdefault(ctx, []).append(comment.strip())
                continue
            m = re.fullmatch(r"\[([^\]]+)\]", line)
            if m:
                ctx = m.group(1)
                assert ctx not in self.contexts, f"context {ctx} twice"
                self.contexts[ctx] = {}
                continue
            m = re.fullmatch(r"exten => ([^,]+),1,(\w+)\((.*)\)", line) or \
                re.fullmatch(r"same => n(?:\((\w+)\))?,(\w+)\((.*)\)", line)
            assert m, f"not dialplan flowc writes: {raw!r}"
            if line.startswith("exten"):
                exten = m.group(1)
                assert exten not in self.contexts[ctx], f"{exten}@{ctx} twice"
                self.contexts[ctx][exten] = [(None, m.group(2), m.group(3))]
            else:
                self.contexts[ctx][exten].append((m.group(1), m.group(2), m.group(3)))

    def apps(self, ctx: str, exten: str = "s") -> list[str]:
        return [app for _, app, _ in self.contexts[ctx][exten]]

    def calls(self, app: str) -> list[tuple[str, str, str]]:
        """(context, extension, args) of every use of an application."""
        return [(c, e, args) for c, extens in self.contexts.items() for e, lines in extens.items()
                for _, a, args in lines if a == app]

    def labels(self, ctx: str, exten: str = "s") -> set[str]:
        return {label for label, _, _ in self.contexts[ctx][exten] if label}


def _split_comment(line: str) -> tuple[str, str, str]:
    """Asterisk's rule: `;` starts a comment unless escaped as `\\;`."""
    i = 0
    while True:
        i = line.find(";", i)
        if i < 0:
            return line, "", ""
        if i > 0 and line[i - 1] == "\\":
            i += 1
            continue
        return line[:i], ";", line[i + 1:]


def jumps(dp: Dialplan):
    """Every literal Goto/GotoIf/Gosub target (context, extension, priority or label)."""
    for ctx, extens in dp.contexts.items():
        for exten, lines in extens.items():
            for _, app, args in lines:
                targets = []
                if app in ("Goto", "Gosub"):
                    targets = [args]
                elif app == "GotoIf":
                    targets = args.rsplit("?", 1)[1].split(":")
                for t in targets:
                    t = re.sub(r"\(.*\)$", "", t)
                    parts = t.split(",")
                    if "${" in t or not t:  # an empty GotoIf branch goes on with the next priority
                        continue
                    if len(parts) == 3:
                        yield ctx, parts[0], parts[1], parts[2]
                    elif len(parts) == 1:
                        yield ctx, ctx, exten, parts[0]


# ====================================================================== snapshots, lint, determinism


def _example_files() -> list[tuple[Path, str]]:
    return [(p, rel) for p in EXAMPLES for rel in sorted(rendered_example(p))]


@pytest.mark.parametrize("path,rel", _example_files(), ids=[rel for _, rel in _example_files()])
def test_snapshot(path: Path, rel: str, snapshot_conf) -> None:
    assert rendered_example(path)[rel] == snapshot_conf


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_output_is_byte_identical(path: Path) -> None:
    again = target().render(check_file(path, CheckOptions(years=YEARS)).flow)
    assert again == rendered_example(path)


@pytest.mark.skipif(shutil.which("asterisklint") is None and not (Path(sys.executable).parent / "asterisklint").exists(),
                    reason="asterisklint is not installed (pip install -e .[dev])")
def test_asterisklint_finds_no_problem(tmp_path: Path) -> None:
    """asterisklint's dialplan-check over every example as an operator deploys it: an
    extensions.conf with [general] and [globals] that #includes the generated files (the
    shared flowc-regions.conf first).
    (Run on a generated file alone it only reports H_DP_GENERAL_MISPLACED and
    H_DP_GLOBALS_MISPLACED: an included file has no [general]/[globals] of its own.)"""
    includes = []
    for rel, text in target().shared_outputs().items():  # the shared region table, included once
        (tmp_path / rel).write_text(text, encoding="utf-8")
        includes.append(f'#include "{rel}"')
    for path in EXAMPLES:
        for rel, text in rendered_example(path).items():
            if rel.count(".") == 1:  # <flow>.conf, not the fragments
                (tmp_path / rel).write_text(text, encoding="utf-8")
                includes.append(f'#include "{rel}"')
    (tmp_path / "extensions.conf").write_text("[general]\nstatic=yes\nwriteprotect=yes\nautofallthrough=yes\n\n"
                                              "[globals]\n\n" + "\n".join(includes) + "\n", encoding="utf-8")
    exe = shutil.which("asterisklint") or str(Path(sys.executable).parent / "asterisklint")
    out = subprocess.run([exe, "dialplan-check", str(tmp_path / "extensions.conf")], capture_output=True, text=True)
    assert out.returncode == 0 and not out.stdout.strip() and not out.stderr.strip(), out.stdout + out.stderr


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_every_literal_jump_lands(path: Path) -> None:
    dp = Dialplan(rendered_example(path)[f"{flow_of(path).name}.conf"])
    for ctx, tctx, exten, prio in jumps(dp):
        assert tctx in dp.contexts, f"{ctx}: jump to missing context {tctx}"
        assert exten in dp.contexts[tctx], f"{ctx}: jump to missing {exten}@{tctx}"
        assert prio == "1" or prio in dp.labels(tctx, exten), f"{ctx}: jump to missing label {prio} in {tctx}"


# ====================================================================== structure of each construct


def dialplan_of(flow: ir.Flow, **options) -> Dialplan:
    return Dialplan(render(flow, **options)[f"{flow.name}.conf"])


SHOP = ROOT / "examples" / "small_shop.flow"


def test_entry_context_step_contexts_and_source_comments() -> None:
    flow = flow_of(SHOP)
    text = rendered_example(SHOP)["small_shop.conf"]
    dp = Dialplan(text)
    assert list(dp.contexts["flow-small_shop"]) == ["4006001234"]
    assert dp.apps("flow-small_shop", "4006001234")[:2] == ["NoOp", "Answer"]
    for step in flow.steps:
        ctx = f"flow-small_shop-{step.name}"
        assert ctx in dp.contexts and list(dp.contexts[ctx]) == ["s"]
        assert f"[{ctx}]\n; small_shop.flow:{step.span.line} step {step.name}\n" in text
    prefixed = dialplan_of(flow, context_prefix="hotline-")
    assert "hotline-small_shop" in prefixed.contexts


def test_play_is_playback_and_menus_read_one_key_without_terminator() -> None:
    flow = flow_text("""
flow m {
  number 400-800-1000
  step start { play "p/hello" goto main }
  step main {
    menu {
      prompt "p/menu"
      timeout 4s
      retries 1
      1 -> sub
      # -> done
      * -> repeat
      invalid "p/bad"
      no_input -> done
      exhausted -> done
    }
  }
  step sub { menu { prompt "p/sub" 9 -> back 1 -> done } }
  step done { hangup }
}""")
    dp = dialplan_of(flow)
    assert ("flow-m-start", "s", "p/hello") in dp.calls("Playback")
    assert not dp.calls("Background") and not dp.calls("WaitExten")
    lines = dp.contexts["flow-m-main--input"]["s"]
    read = [(label, args) for label, app, args in lines if app == "Read"]
    assert read == [("attempt", "FLOWC_KEY,p/menu,1,t,1,4")]  # one key, option t: no terminator, 4 s
    gotos = [args for _, app, args in lines if app == "GotoIf"]
    assert '$["${FLOWC_KEY}" = "#"]?k2' in gotos and '$["${FLOWC_KEY}" = ""]?no_input' in gotos
    by_label = {label: (app, args) for label, app, args in lines if label}
    assert by_label["k1"] == ("Goto", "flow-m-sub,s,1")
    assert by_label["k3"] == ("Goto", "attempt")  # repeat: no failure counted (S-MENU-2)
    assert by_label["invalid"] == ("Playback", "p/bad")
    assert by_label["no_input"] == ("Goto", "flow-m-done,s,1")
    assert by_label["exhausted"] == ("Goto", "flow-m-done,s,1")
    assert '$[${FLOWC_FAILS} <= 1]?attempt' in gotos  # 1 + retries attempts (S-MENU-5)
    assert dp.contexts["flow-m-main"]["s"][1:] == [(None, "Set", "FLOWC_FAILS=0"), (None, "Goto", "flow-m-main--input,s,1")]  # reset on every visit (S-MENU-6)
    sub = {label: args for label, app, args in dp.contexts["flow-m-sub--input"]["s"] if label}
    assert sub["k1"] == "flow-m-main,s,1"  # back -> the parent menu
    # the key is filtered before any use
    assert any(args == "FLOWC_KEY=${FILTER(0-9*#A-D,${FLOWC_KEY})}" for _, _, args in dp.calls("Set"))


def test_extension_reads_digits_until_hash_and_dials() -> None:
    flow = flow_of(ROOT / "examples" / "switchboard.flow")
    dp = Dialplan(rendered_example(ROOT / "examples" / "switchboard.flow")["switchboard.conf"])
    lines = dp.contexts["flow-switchboard-dial_extension--input"]["s"]
    assert [args for _, app, args in lines if app == "Read"] == ["FLOWC_DIGITS,corp/enter_extension,3,,1,6"]
    x101 = dp.contexts["flow-switchboard-dial_extension--x101"]["s"]
    dials = [args for _, app, args in x101 if app == "Dial"]
    assert len(dials) == 1 and dials[0].startswith("PJSIP/13811110001@trunk,25,")
    assert flow.step("dial_extension").terminal.ring == 25


GROUPS = """
group seq { strategy sequential ring 20s 13800000001 13800000002 (ring 7s) 13800000003 }
group rnd { strategy random 13800000011 13800000012 13800000013 }
group rr { strategy round_robin 13800000021 13800000022 }
group ratio { strategy ratio 13800000031 (weight 70) 13800000032 (weight 20) 13800000033 (weight 10) }
group all { strategy ring_all ring 25s 13800000041 13800000042 }
"""


def _dial_flow(group: str, extra: str = "", step_ring: str = "") -> ir.Flow:
    return flow_text(GROUPS + f"""
flow d {{
  number 400-800-1000
  {extra}
  step start {{ dial {group} {{ {step_ring} busy -> b no_answer -> n unreachable -> u }} }}
  step b {{ hangup }}
  step n {{ hangup }}
  step u {{ hangup }}
}}""")


def _dials(dp: Dialplan, ctx: str = "flow-d-start") -> list[tuple[str | None, str, str]]:
    return [(label, *args.split(",", 2)[:2]) for label, app, args in dp.contexts[ctx]["s"] if app == "Dial"]


def test_sequential_dials_one_phone_at_a_time_with_its_ring_time() -> None:
    dp = dialplan_of(_dial_flow("seq"))
    assert [d[1:] for d in _dials(dp)] == [("PJSIP/13800000001@trunk", "20"), ("PJSIP/13800000002@trunk", "7"),
                                           ("PJSIP/13800000003@trunk", "20")]
    overridden = dialplan_of(_dial_flow("seq", step_ring="ring 9s"))
    assert {d[2] for d in _dials(overridden)} == {"9"}  # the step's ring overrides every phone (S-DIAL-2)
    labels = {label: args for label, app, args in dp.contexts["flow-d-start"]["s"] if label}
    assert labels["busy"] == "flow-d-b,s,1" and labels["no_answer"] == "flow-d-n,s,1"
    assert labels["unreachable"] == "flow-d-u,s,1"
    # every Dial records its legs' hang-up causes (Dial option b) and is classified after
    for _, _, args in dp.calls("Dial"):
        assert args.endswith(",b(flow-d--lib^leg^1(${CHANNEL}))")
    assert "dialed" in dp.contexts["flow-d--lib"] and "legend" in dp.contexts["flow-d--lib"]


def test_ring_all_is_one_dial_of_every_phone() -> None:
    dp = dialplan_of(_dial_flow("all"))
    assert [d[1:] for d in _dials(dp)] == [("PJSIP/13800000041@trunk&PJSIP/13800000042@trunk", "25")]


def _start_code(dp: Dialplan) -> list[str]:
    return [args for _, app, args in dp.contexts["flow-d-start"]["s"] if app in ("Set", "Gosub")
            and ("FLOWC_START=" in args or "draw" in args or "DB(" in args)]


def test_random_rotation_from_one_draw() -> None:
    dp = dialplan_of(_dial_flow("rnd"))
    code = _start_code(dp)
    assert code == ["flow-d--lib,draw,1", "FLOWC_START=$[(${FLOWC_R} > 33) + (${FLOWC_R} > 66)]"]
    for r in range(1, 101):  # ceil(r * n / 100) - 1 (S-DIAL-4, S-RAND-1)
        assert (r > 33) + (r > 66) == (r * 3 + 99) // 100 - 1
    assert [label for label, _, _ in _dials(dp)] == ["p0", "p1", "p2"]
    assert "FLOWC_P=$[(${FLOWC_START} + ${FLOWC_I}) % 3]" in [a for _, _, a in dp.calls("Set")]


def test_ratio_first_phone_by_weighted_draw() -> None:
    dp = dialplan_of(_dial_flow("ratio"))
    assert _start_code(dp)[1] == "FLOWC_START=$[(${FLOWC_R} > 70) + (${FLOWC_R} > 90)]"


def test_round_robin_position_in_astdb_moves_on_every_use() -> None:
    dp = dialplan_of(_dial_flow("rr"))
    assert _start_code(dp) == ["FLOWC_START=$[0${FILTER(0-9,${DB(flowc_rr/d/rr)})} % 2]",
                               "DB(flowc_rr/d/rr)=$[(${FLOWC_START} + 1) % 2]"]


def test_round_robin_key_keeps_chinese_flow_and_group_names() -> None:
    # S-DIAL-5: the key is <flow>/<group> as written, in any script (it used to abort the compile)
    flow = flow_text("""
group 轮值 { strategy round_robin ring 3s 13900000001 13900000002 }
flow 轮询线 {
  number 4008-222-333
  step start { dial 轮值 { failed -> bye } }
  step bye { hangup }
}""")
    assert not target().unsupported(flow)
    text = target().render(flow)[next(iter(target().render(flow)))]
    assert "Set(DB(flowc_rr/轮询线/轮值)=$[(${FLOWC_START} + 1) % 2])" in text


def test_draws_come_from_flowc_draws_only_with_test_hooks() -> None:
    flow = _dial_flow("rnd")
    plain = dialplan_of(flow)
    assert "FLOWC_DRAWS" not in plain.text and "FLOWC_LEFT" not in plain.text
    assert plain.contexts["flow-d--lib"]["draw"][0] == (None, "Set", "FLOWC_R=${RAND(1,100)}")
    hooked = dialplan_of(flow, test_hooks=True)
    assert "FLOWC_LEFT=${FILTER(0-9\\x2c,${FLOWC_DRAWS})}" in [a for _, _, a in hooked.calls("Set")]
    assert "${CUT(FLOWC_LEFT,\\,,1)}" in hooked.text


def test_outcome_classification_follows_s_dial_1_and_9() -> None:
    """The `dialed` helper, simulated: DIALSTATUS plus the legs' causes -> outcome."""
    dp = dialplan_of(_dial_flow("all"))
    lines = dp.contexts["flow-d--lib"]["dialed"]

    def classify(status: str, causes: list[int]) -> str:
        env = {"DIALSTATUS": status, "causes": "".join(f"-{c}" for c in causes)}
        labels = {label: i for i, (label, _, _) in enumerate(lines) if label}
        out = "unreachable"
        i = 0
        while i < len(lines):
            _, app, args = lines[i]
            if app == "Set" and args.startswith("FLOWC_OUT="):
                out = args.split("=", 1)[1]
            if app == "Return":
                return out
            if app == "Goto":
                i = labels[args]
                continue
            if app == "GotoIf":
                cond, label = args.split("?")
                m = re.fullmatch(r'\$\["\$\{(\w+)\}" (=|!=) "(\w*)"\]', cond)
                if m:
                    hit = (env[m.group(1)] == m.group(3)) == (m.group(2) == "=")
                else:
                    m = re.fullmatch(r'\$\{REGEX\("(.*)" \$\{causes\}\)\}', cond)
                    hit = re.search(m.group(1), env["causes"]) is not None
                if hit:
                    i = labels[label]
                    continue
            i += 1
        return out

    assert classify("ANSWER", [26]) == "answered"
    assert classify("BUSY", [0]) == "busy"
    assert classify("NOANSWER", [0]) == "no_answer"  # rang for the whole ring time
    assert classify("NOANSWER", [19]) == "no_answer"
    assert classify("CHANUNAVAIL", [18]) == "no_answer"  # SIP 480: no user response
    assert classify("CHANUNAVAIL", [21]) == "unreachable"  # rejected: unreachable, not no answer
    assert classify("CHANUNAVAIL", [20]) == "unreachable"
    assert classify("CONGESTION", [0]) == "unreachable"
    assert classify("NOANSWER", [16]) == "unreachable"  # ended without an answer, normal clearing
    assert classify("CHANUNAVAIL", []) == "unreachable"  # no channel at all
    # ring_all (S-DIAL-9): no answer if any phone gave none, else busy if any was busy
    assert classify("BUSY", [0, 18, 20]) == "no_answer"
    assert classify("BUSY", [0, 21]) == "busy"
    assert classify("NOANSWER", [0, 20]) == "no_answer"
    assert classify("NOANSWER", [17, 16]) == "busy"


def test_survey_keeps_the_caller_and_tags_the_cdr() -> None:
    path = ROOT / "examples" / "service_queue.flow"
    dp = Dialplan(rendered_example(path)["service_queue.conf"])
    for _, _, args in dp.calls("Dial"):
        assert ",g" in args or args.split(",")[2].startswith("g")  # Dial option g (S-SURVEY-2)
    survey = dp.contexts["flow-service_queue--survey-satisfaction"]["s"]
    sets = [args for _, app, args in survey if app == "Set"]
    assert "CDR(flowc_tag_survey)=none" in sets and "CDR(flowc_tag_survey)=${FLOWC_KEY}" in sets
    assert [args for _, app, args in survey if app == "Read"] == ["FLOWC_KEY,survey/rate_us,1,t,1,8"]
    without = dialplan_of(flow_of(SHOP))
    assert all("g" not in args.split(",")[2].split("b(")[0] for _, _, args in without.calls("Dial"))


def test_queue_is_app_queue_ringall_with_the_flow_settings() -> None:
    path = ROOT / "examples" / "service_queue.flow"
    files = rendered_example(path)
    dp = Dialplan(files["service_queue.conf"])
    assert dp.calls("Queue") == [("flow-service_queue-wait_in_queue", "s", "flow-service_queue-wait_in_queue,c,,,180")]
    q = files["service_queue.queues.conf"]
    for line in ("[flow-service_queue-wait_in_queue]", "strategy = ringall", "timeout = 15", "retry = 10",
                 "timeoutpriority = app", "joinempty = yes", "leavewhenempty = no",
                 "musicclass = flow-service_queue-moh1", "periodic-announce = aftersales/please_hold",
                 "periodic-announce-frequency = 30", "member => PJSIP/13700000001@trunk"):
        assert f"\n{line}" in q, line
    local = render(flow_of(path), dial_template="Local/{number}@sim-phones")["service_queue.queues.conf"]
    assert "member => Local/13700000001@sim-phones/n" in local
    moh = files["service_queue.musiconhold.conf"]
    assert "mode = playlist\nentry = /var/lib/asterisk/sounds/aftersales/hold_music" in moh


def test_recording_is_mixmonitor_with_retention_in_the_file_name() -> None:
    path = ROOT / "examples" / "sales_split.flow"
    dp = Dialplan(rendered_example(path)["sales_split.conf"])
    entry = dp.contexts["flow-sales_split"]["4007123456"]
    assert [args for _, app, args in entry if app == "Gosub"] == ["flow-sales_split--lib,record,1(90)"]
    rec = dp.contexts["flow-sales_split--lib"]["record"]
    assert [args for _, app, args in rec if app == "MixMonitor"] == ["${FLOWC_REC}"]
    name = [args for _, app, args in rec if app == "Set" and args.startswith("FLOWC_REC=")][0]
    assert name.startswith("FLOWC_REC=/var/spool/asterisk/monitor/flowc/sales_split-r${ARG1}d-")
    assert "STRFTIME(${EPOCH},Asia/Shanghai," in name and name.endswith(".wav")
    # S-CALL-2 order: tags, then the recording
    apps = [(app, args) for _, app, args in entry]
    assert apps.index(("Set", "CDR(flowc_tag_line)=sales")) < apps.index(("Gosub", "flow-sales_split--lib,record,1(90)"))


def test_raising_the_retention_of_a_running_recording_is_e501() -> None:
    flow = flow_text("""
flow r {
  number 400-800-1000
  record retain 30d
  step start { record retain 90d hangup }
}""")
    problems = target().unsupported(flow)
    assert [d.code for d in problems] == ["E501"] and "S-ACT-3" in problems[0].message
    same = flow_text("""
flow r {
  number 400-800-1000
  record retain 90d
  step start { record retain 30d hangup }
}""")
    assert not target().unsupported(same)


def test_voicemail_box_greeting_and_max_length() -> None:
    path = ROOT / "examples" / "support_24x7.flow"
    files = rendered_example(path)
    dp = Dialplan(files["support_24x7.conf"])
    holiday = dp.contexts["flow-support_24x7-holiday_message"]["s"]
    # S-VM-1: the step ends `max` after VoiceMail starts (TIMEOUT(absolute)), greeting and beep included
    assert [(app, args) for _, app, args in holiday][-4:] == [
        ("Playback", "support/holiday_greeting"), ("Set", "TIMEOUT(absolute)=180"),
        ("VoiceMail", "2000@flow-support_24x7,s"), ("Hangup", "")]  # the flow's own mailbox context
    after = [(app, args) for _, app, args in dp.contexts["flow-support_24x7-after_hours"]["s"]]
    i = after.index(("VoiceMail", "2000@flow-support_24x7,u"))
    assert after[i - 1] == ("Set", "TIMEOUT(absolute)=180")
    assert "\n2000 => ,flowc support_24x7 2000,,,maxsecs=180" in files["support_24x7.voicemail.conf"]
    assert "[flow-support_24x7]" in files["support_24x7.voicemail.conf"]
    # one mailbox with two limits: each step has its own absolute timeout, maxsecs is the longest
    flow = flow_text("""
flow v {
  number 400-800-1000
  step start { menu { 1 -> a 2 -> b } }
  step a { voicemail 100 max 1m }
  step b { voicemail 100 max 90.5s }
}""")
    assert not target().unsupported(flow)
    files = target().render(flow)
    dp = Dialplan(files["v.conf"])
    assert ("Set", "TIMEOUT(absolute)=60") in [(app, args) for _, app, args in dp.contexts["flow-v-a"]["s"]]
    assert ("Set", "TIMEOUT(absolute)=90.5") in [(app, args) for _, app, args in dp.contexts["flow-v-b"]["s"]]
    assert "\n100 => ,flowc v 100,,,maxsecs=91" in files["v.voicemail.conf"]


def test_tags_are_cdr_variables_and_ringback_is_music_on_hold() -> None:
    path = ROOT / "examples" / "ecommerce_national.flow"
    files = rendered_example(path)
    dp = Dialplan(files["ecommerce_national.conf"])
    assert ("flow-ecommerce_national-south", "s", "CDR(flowc_tag_center)=华南") in dp.calls("Set")
    assert ("flow-ecommerce_national", "4008001234", "FLOWC_RB=m(flow-ecommerce_national-moh1)") in dp.calls("Set")
    for _, _, args in dp.calls("Dial"):
        assert ",${FLOWC_RB}b(" in args
    assert "[flow-ecommerce_national-moh1]\n" in files["ecommerce_national.musiconhold.conf"]


def test_time_branch_uses_the_zone_everywhere_and_checks_the_year_of_holidays() -> None:
    path = ROOT / "examples" / "support_24x7.flow"
    text = rendered_example(path)["support_24x7.conf"]
    assert "GotoIfTime" not in text and "IFTIME" not in text
    for m in re.finditer(r"STRFTIME\(([^)]*)\)", text):
        args = m.group(1).split(",")
        assert len(args) == 3 and args[1] == "Asia/Shanghai", m.group(0)
    dp = Dialplan(text)
    start = dp.contexts["flow-support_24x7-start"]["s"]
    conds = [args for _, app, args in start if app == "GotoIf"]
    # company_closed: 2026-12-31 (a full date: year checked) or 12-24 from 18:00
    assert conds[0].startswith("$[(${FLOWC_YMD} = 20261231 | (${FLOWC_MD} = 1224 & ${FLOWC_HM} >= 1800))]")
    # public holidays: the compiled years' holiday dates, year included
    assert re.search(r'\$\{REGEX\("\^\(2026\(01\(01\|02\|03\)\|', conds[1])


def _simulate_time_branch(flow: ir.Flow, step: str, when) -> str:
    """Evaluate the generated conditions in Python for a local datetime."""
    dp = dialplan_of(flow)
    lines = dp.contexts[f"flow-{flow.name}-{step}"]["s"]
    env = {"FLOWC_WD": str(when.isoweekday()), "FLOWC_YMD": when.strftime("%Y%m%d"),
           "FLOWC_MD": when.strftime("%m%d"), "FLOWC_HM": when.strftime("%H%M")}
    labels = {label: args for label, app, args in lines if label}
    for _, app, args in lines:
        if app == "GotoIf":
            cond, label = args.split("]?")
            expr = cond[2:]
            expr = re.sub(r'\$\{REGEX\("([^"]*)" \$\{(\w+)\}\)\}',
                          lambda m: str(int(re.search(m.group(1), env[m.group(2)]) is not None)), expr)
            expr = re.sub(r"\$\{(\w+)\}", lambda m: str(int(env[m.group(1)])), expr)
            expr = expr.replace("&", " and ").replace("|", " or ").replace("!", " not ").replace(" = ", " == ")
            if eval(expr):  # noqa: S307 - arithmetic and comparisons of integers only
                return labels[label].split(",")[0]
        elif app == "Goto" and "," in args:
            return args.split(",")[0]
    raise AssertionError("no arm taken")


def test_time_branch_conditions_match_the_interpreter() -> None:
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    from flowc.interp import Session

    path = ROOT / "examples" / "support_24x7.flow"
    flow = flow_of(path)
    session = Session(flow)
    start = datetime(2026, 9, 28, 0, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    for hours in range(0, 24 * 20, 7):  # three weeks around the national day holiday, every 7 hours
        when = start + timedelta(hours=hours, minutes=(hours * 13) % 60)
        got = _simulate_time_branch(flow, "start", when)
        trace = session.call(time=when.isoformat(), max_seconds=5)
        step = next(e for e in trace.events if e.kind == "branch").get("target")
        assert got == f"flow-support_24x7-{step}", when


def _pattern_sets(pattern: str) -> list[str] | None:
    """`_13[3-57]X.` -> ["1", "3", "3457", "0123456789"] (without the final `.`); None for an
    exact extension."""
    if not pattern.startswith("_"):
        return None
    body, sets, i = pattern[1:].removesuffix("."), [], 0
    while i < len(body):
        ch = body[i]
        if ch == "[":
            j = body.index("]", i)
            chars = re.sub(r"(\d)-(\d)", lambda m: "".join(map(str, range(int(m[1]), int(m[2]) + 1))), body[i + 1:j])
            sets.append("".join(sorted(set(chars))))
            i = j + 1
        else:
            sets.append({"X": "0123456789", "Z": "123456789", "N": "23456789"}.get(ch, ch))
            i += 1
    return sets


def _rank(pattern: str, sets: list[str]) -> list:
    """Asterisk's order of patterns: compared character by character, the one admitting fewer
    digits first is more specific (a digit before a class before `X`), any of them before the
    closing `.`."""
    return [(len(x), x) for x in sets] + ([(99, "")] if pattern.endswith(".") else [])


class _Matcher:
    """Asterisk's most-specific match over the patterns flowc writes, fast enough for every
    number of the data: each pattern is expanded to the digit strings it starts with, and a
    number's candidates are the best pattern per length whose digits it starts with."""

    def __init__(self, dp: Dialplan):
        self.dp = dp
        self.index: dict[str, tuple[dict, dict]] = {}

    def _ctx(self, ctx: str):
        if ctx not in self.index:
            import itertools

            exact, by_len = {}, {}
            for e, lines in self.dp.contexts[ctx].items():
                sets = _pattern_sets(e)
                if sets is None:
                    exact[e] = lines[0]
                    continue
                key = _rank(e, sets)
                table = by_len.setdefault((len(sets), e.endswith(".")), {})
                for digits in itertools.product(*sets):
                    d = "".join(digits)
                    if d not in table or key < table[d][0]:
                        table[d] = (key, lines[0])
            self.index[ctx] = (exact, by_len)
        return self.index[ctx]

    def first(self, ctx: str, number: str):
        """(app, args) of priority 1 of the extension `number` matches in `ctx`."""
        exact, by_len = self._ctx(ctx)
        if number in exact:
            return exact[number][1:]
        found = []
        for (n, open_end), table in by_len.items():
            if (len(number) > n if open_end else len(number) == n) and number[:n] in table:
                found.append(table[number[:n]])
        assert found, (ctx, number)
        return min(found, key=lambda f: f[0])[1][1:]

    def walk(self, ctx: str, number: str) -> tuple[str, str]:
        """Follow Goto(...,${EXTEN:1},1) down a split table: the final (app, args)."""
        while True:
            app, args = self.first(ctx, number)
            if app == "Goto" and args.endswith(",${EXTEN:1},1"):
                ctx, number = args.split(",")[0], number[1:]
                continue
            return app, args


def _lookup(dp: Dialplan, ctx: str, number: str) -> str:
    """The context a number reaches from `ctx` through a split prefix table."""
    app, args = _Matcher(dp).walk(ctx, number)
    assert app == "Goto", (ctx, number, app)
    return args.split(",")[0]


def _every_number() -> list[str]:
    """A number of every 7-digit mobile prefix 1300000-1999999 and of every area code,
    normalised to mobile or landline."""
    numbers = [f"{p}1234" for p in range(1300000, 2000000)]
    numbers += [code + "23456789"[: 11 - len(code)] for code in regions.area_codes()]
    return [n for n in numbers if phones.normalize_caller(n).kind in ("mobile", "landline")]


_SHARED: dict[str, object] = {}


def _shared_codes() -> dict[str, tuple]:
    """number -> (its region_of, the region code flowc-regions.conf returns for it), over
    _every_number()."""
    if "codes" not in _SHARED:
        shared = target().shared_outputs()
        assert list(shared) == ["flowc-regions.conf"]
        dp = Dialplan(shared["flowc-regions.conf"])
        for ctx, extens in dp.contexts.items():
            assert len(extens) <= TABLE_LIMIT + 1, ctx
        m = _Matcher(dp)
        codes = {}
        for n in _every_number():
            app, args = m.walk("flow--regions", n)
            assert app == "Return", (n, app, args)
            folded = re.fullmatch(r"\$\{CUT\(PASSTHRU\(([0-9-]{49})\),-,\$\[\$\{ARG1:6:1\}\+1\]\)\}", args)
            if folded:  # ARG1 is the whole number: the code of its 7th digit
                args = folded.group(1).split("-")[int(n[6])]
            assert re.fullmatch(r"[0-9]{4}", args), (n, app, args)
            caller = phones.normalize_caller(n)
            codes[n] = (caller, regions.region_of(caller), args)
        _SHARED["codes"] = codes
    return _SHARED["codes"]


def test_shared_region_table_gives_every_number_its_region_code() -> None:
    """flowc-regions.conf, read the way Asterisk matches patterns, gives every 7-digit
    mobile prefix and every area code the code of the finest region region_of() knows."""
    codes = _shared_codes()
    assert len(codes) > 490_000
    for n, (caller, _, code) in codes.items():
        assert code == regions.region_code_of(caller), n


_REGION_FLOWS = {
    "cities_first": """
flow f {
  number 400-800-1234
  step start {
    branch region {
      深圳, 成都 -> a
      广东, 吉林市 -> b
      四川, 北京, 海南 -> c
      江苏泰州, 台州 -> d
      else -> e
    }
  }
  step a { hangup }
  step b { hangup }
  step c { hangup }
  step d { hangup }
  step e { hangup }
}
""",
    "province_first": """
flow f {
  number 400-800-1234
  step start {
    branch region {
      广东 -> a
      深圳, 吉林 -> b
      else -> c
    }
  }
  step a { hangup }
  step b { hangup }
  step c { hangup }
}
""",
}


@pytest.mark.parametrize("name", ["ecommerce_national", "country", *_REGION_FLOWS])
def test_region_branch_gives_every_number_its_arm(name: str) -> None:
    """The shared table plus the flow's code -> arm context send every number of the data to
    the arm the interpreter's region lookup gives (S-REG-1), for flows with provinces, cities
    before and after their provinces, and all 31 provinces."""
    from flowc.interp.engine import _region_ids

    if name in _REGION_FLOWS:
        flow = flow_text(_REGION_FLOWS[name])
    else:
        path = ROOT / "examples" / "ecommerce_national.flow" if name == "ecommerce_national" else \
            ROOT / "tests" / "engine" / "scenarios" / "country.flow"
        flow = flow_of(path)
    step = next(s for s in flow.steps if isinstance(s.terminal, ir.Branch) and s.terminal.on == "region")
    t = step.terminal
    dp = dialplan_of(flow)
    ident = re.sub(r"[^A-Za-z0-9_]", "_", flow.name)
    lines = dp.contexts[f"flow-{ident}-{step.name}"]["s"]
    gosub = next(args for _, app, args in lines if app == "Gosub")
    assert gosub == "flow--regions,${FLOWC_CALLER},1(${FLOWC_CALLER})"
    mapping = f"flow-{ident}-{step.name}--r"
    assert len(dp.contexts[mapping]) <= 1 + 31 + len(regions.region_codes())
    m = _Matcher(dp)
    arm_of_code = {}
    for code in sorted({code for _, _, code in _shared_codes().values()}):
        app, args = m.first(mapping, code)
        assert app == "Goto", (code, app)
        arm_of_code[code] = args.split(",")[0]
    arms = [_region_ids(arm.conditions) for arm in t.arms]

    def expected(where) -> str:
        if where is not None:
            for arm, ids in zip(t.arms, arms):
                if where[0] in ids or where[1] in ids:
                    return f"flow-{ident}-{arm.target}"
        return f"flow-{ident}-{t.else_target}"

    memo: dict[tuple[str, str | None] | None, str] = {}
    for n, (_, where, code) in _shared_codes().items():
        if where not in memo:
            memo[where] = expected(where)
        assert arm_of_code[code] == memo[where], (n, code)


def test_caller_branch_numbers_prefixes_lists_and_withheld() -> None:
    flow = flow_text("""
list vip { 13800138000 "1390*" }
list black { "170*" 13901234567 }
flow c {
  number 400-800-1000
  step start {
    branch caller {
      black -> refused
      vip -> vip
      "1380013*" -> prefix
      withheld -> anon
      "02161888888" -> shanghai
      else -> other
    }
  }
  step refused { hangup }
  step vip { hangup }
  step prefix { hangup }
  step anon { hangup }
  step shanghai { hangup }
  step other { hangup }
}""")
    dp = dialplan_of(flow)
    start = dp.contexts["flow-c-start"]["s"]
    assert ('$["${FLOWC_CKIND}" = "withheld"]?withheld') in [a for _, app, a in start if app == "GotoIf"]
    cases = {"13800138000": "vip", "13800138001": "prefix", "13901234567": "refused", "13900000000": "vip",
             "17012345678": "refused", "170": "refused", "02161888888": "shanghai", "13700000000": "other",
             "1": "other", "0086123": "other"}
    for number, step in cases.items():
        assert _lookup(dp, "flow-c-start--c", number) == f"flow-c-{step}", number


# ====================================================================== caller-number normalisation


def _simulate_caller_rules(dp: Dialplan, raw: str) -> tuple[str, str]:
    """The `caller` helper, run in Python: FILTER, the length test, then each rule."""
    lines = dp.contexts[next(c for c in dp.contexts if c.endswith("--lib"))]["caller"]
    labels = {label: i for i, (label, _, _) in enumerate(lines) if label}
    caller = "".join(ch for ch in raw if ch in "0123456789+")
    kind = None
    i = 1
    while True:
        _, app, args = lines[i]
        if app == "GotoIf" and args.startswith("$[${LEN("):
            if len(raw.encode()) != len(caller.encode()):
                i = labels[args.rsplit("?", 1)[1]]
                continue
        elif app == "GotoIf":
            m = re.fullmatch(r'\$\{REGEX\("(.*)" \$\{FLOWC_CALLER\}\)\}\?(\w*)(?::(\w+))?', args)
            hit = re.search(m.group(1), caller)
            if hit and m.group(2) or not hit and m.group(3):
                i = labels[m.group(2) if hit else m.group(3)]
                continue
        elif app == "ExecIf":
            m = re.fullmatch(r'\$\{REGEX\("(.*)" \$\{FLOWC_CALLER\}\)\}\?Set\(FLOWC_CALLER=(\d*)\$\{FLOWC_CALLER:(\d+)\}\)',
                             args)
            if re.search(m.group(1), caller):
                caller = m.group(2) + caller[int(m.group(3)):]
        elif app == "Set" and args.startswith("FLOWC_CKIND="):
            kind = args.split("=", 1)[1]
        elif app == "Set" and args.startswith("FLOWC_CALLER="):
            value = args.split("=", 1)[1]
            m = re.fullmatch(r"(\d*)\$\{FLOWC_CALLER:(\d+)\}", value)
            caller = m.group(1) + caller[int(m.group(2)):] if m else value
        elif app == "Return":
            return caller, kind
        i += 1


CALLER_SAMPLES = ["", "anonymous", "+", "13812345678", "+8613812345678", "008613812345678", "8613812345678",
                  "013812345678", "02161888888", "+862161888888", "862161888888", "2161888888", "075512345678",
                  "+14155550123", "0014155550123", "12345", "138-1234-5678", "1381234567+", "+1+2", "10086",
                  "0757123456", "09991234567", "0086", "86", "075", "99999999999", "+8610123", "01012345678",
                  "８６１３８", "13812345678\x00", "4008001234", "${SHELL(id)}", "1380013800${expr(0)}",
                  "13800138000)", "138,139", "138&139", "<b>", "1" * 20, "1" * 21, "1" * 200, "+" + "8" * 21]


@pytest.mark.parametrize("raw", CALLER_SAMPLES)
def test_caller_normalisation_follows_caller_rules(raw: str) -> None:
    dp = Dialplan(rendered_example(ROOT / "examples" / "vip_line.flow")["vip_line.conf"])
    want = phones.normalize_caller(raw)
    assert _simulate_caller_rules(dp, raw) == (want.digits, want.kind)


def test_caller_rules_translate_to_ere_without_backslashes() -> None:
    for rule in phones.CALLER_RULES:
        ere = _ere(rule.pattern)
        assert "\\" not in ere and '"' not in ere
        for sample in CALLER_SAMPLES + ["+" + s for s in CALLER_SAMPLES]:
            assert bool(re.search(ere, sample)) == bool(re.search(rule.pattern, sample)), (rule.pattern, sample)


def test_split_thresholds() -> None:
    dp = Dialplan(rendered_example(ROOT / "examples" / "sales_split.flow")["sales_split.conf"])
    start = dp.contexts["flow-sales_split-start"]["s"]
    assert [args for _, app, args in start if app == "Gosub"] == ["flow-sales_split--lib,draw,1"]
    assert [args for _, app, args in start if app == "GotoIf"] == ["$[${FLOWC_R} <= 70]?a1"]


# ====================================================================== safety


@pytest.mark.parametrize("value", ["a,b", "a|b", "a;b", "${EXTEN}", "$[1+1]", "x\ny", "a)b", 'a"b', "a\\b", "Set(x)",
                                   "a b", "", "../x", "x&y"])
def test_escape_refuses_unsafe_words(value: str) -> None:
    for kind in ("word", "name", "prompt", "number", "dialstring", "zone"):
        if kind == "dialstring" and value in ("../x", "x&y"):
            continue  # harmless in a Dial string, and `&` joins the phones of a ring-all
        with pytest.raises(UnsafeValue):
            escape(value, kind)


def test_free_text_with_control_characters_is_refused() -> None:
    with pytest.raises(UnsafeValue):
        escape("x)\nsame => n,System(evil)", "text")


@pytest.mark.parametrize("value", ["${SHELL(rm -rf /)}", "$[1]", "{x}", "a$b", "x\ny"])
def test_free_text_that_expands_is_refused(value: str) -> None:
    """The checker refuses `$`, `{`, `}` and control characters in tag values (E225)."""
    with pytest.raises(UnsafeValue):
        escape(value, "text")


@pytest.mark.parametrize("value", ["a,b|c;d", "x) same => n,System(evil)", '"q"',
                                   "back\\slash", " padded ", "%41", "+86", "华南 (总部)", "a^b", "`x`"])
def test_free_text_is_inert(value: str) -> None:
    out = escape(value, "text")
    if out == value:
        assert not re.search(r"[$,;|\\\"'(){}\[\]`^%\n]", out)
    else:
        inner = out[len("${URIDECODE("):-2]
        assert out.startswith("${URIDECODE(") and out.endswith(")}")
        assert not re.search(r"[$,;|\\\"'(){}\[\]`^\s+]", inner), inner
        from urllib.parse import unquote

        assert unquote(inner) == value  # Asterisk's URIDECODE gives the text back


def test_comments_cannot_be_left() -> None:
    assert escape("a\nexten => s,1,System(x)", "comment") == "a?exten => s,1,System(x)"
    assert "\r" not in escape("a\rb\u2028c", "comment")


def _hostile(flow: ir.Flow) -> ir.Flow:
    """Values the front end refuses, put straight into the IR."""
    step = flow.steps[0]
    actions = [ir.Play(prompt="x,1)\nsame => n,System(evil"), ir.Tag(key="k", value="v;${SHELL(id)}|x,y\\")]
    return flow.model_copy(update={"steps": [step.model_copy(update={"actions": actions})] + flow.steps[1:]})


def test_hostile_prompt_is_e501_and_never_rendered() -> None:
    flow = _hostile(flow_of(SHOP))
    t = target()
    problems = t.unsupported(flow)
    assert any(d.code == "E501" and "cannot be written into dialplan safely" in d.message for d in problems)
    with pytest.raises(UnsafeValue):
        t.render(flow)


@pytest.mark.parametrize("field,value", [("box", "8000@other,u"), ("box", "8000)\nsame => n,System(x)")])
def test_hostile_mailbox_is_refused(field: str, value: str) -> None:
    flow = flow_of(SHOP)
    step = flow.steps[-1].model_copy(update={"terminal": ir.Voicemail(box=value)})
    flow = flow.model_copy(update={"steps": flow.steps[:-1] + [step]})
    assert any(d.code == "E501" for d in target().unsupported(flow))
    with pytest.raises(UnsafeValue):
        target().render(flow)


def test_hostile_tag_value_is_encoded_in_the_dialplan() -> None:
    flow = flow_of(SHOP)
    step = flow.steps[0].model_copy(update={"actions": [ir.Tag(key="k", value="v;SHELL(id)|x,y\\")]})
    flow = flow.model_copy(update={"steps": [step] + flow.steps[1:]})
    text = render(flow)["small_shop.conf"]
    line = next(ln for ln in text.splitlines() if "CDR(flowc_tag_k)" in ln)
    code = _split_comment(line)[0]
    assert code.strip() == "same => n,Set(CDR(flowc_tag_k)=${URIDECODE(v%3BSHELL%28id%29%7Cx%2Cy%5C)})"
    Dialplan(text)  # still only dialplan flowc writes


def test_hostile_names_and_numbers_are_refused() -> None:
    flow = flow_of(SHOP)
    bad_step = flow.steps[0].model_copy(update={"name": "start,1,System(x)"})
    assert any(d.code == "E501" for d in target().unsupported(flow.model_copy(update={"steps": [bad_step]})))
    bad_phone = ir.Phone(number="138&Local/x@y", kind="mobile")
    dial = flow.steps[0].terminal.model_copy(update={"dest": ir.DialTarget(phone=bad_phone)})
    step = flow.steps[0].model_copy(update={"terminal": dial})
    with pytest.raises(UnsafeValue):
        target().render(flow.model_copy(update={"steps": [step] + flow.steps[1:]}))


def test_caller_data_only_enters_through_filter() -> None:
    """CALLERID(num) and the digits read are used only inside FILTER() (and LEN() to see
    whether FILTER removed something); everything else reads the filtered copies."""
    for path in EXAMPLES:
        for text in rendered_example(path).values():
            for m in re.finditer(r"\$\{CALLERID\(num\)\}", text):
                before = text[max(0, m.start() - 12):m.start()]
                assert before.endswith(("FILTER(0-9+,", "${LEN(")), before
            for var in ("FLOWC_KEY", "FLOWC_DIGITS"):
                for m in re.finditer(r"\$\{" + var + r"\}", text):
                    line = text[text.rfind("\n", 0, m.start()) + 1:text.find("\n", m.start())]
                    assert "FILTER(" in line or "CDR(flowc_tag_survey)" in line or re.search(
                        r'GotoIf\(\$\["\$\{' + var + r'\}" = ', line), line


def test_unsupported_fractional_queue_times() -> None:
    flow = flow_text("""
group g { 13800000001 }
flow q {
  number 400-800-1000
  step start { queue { group g retry 2.5s max_wait 1m } }
}""")
    assert any("S-Q-2" in d.message for d in target().unsupported(flow))


def test_queue_agents_ring_for_their_own_times() -> None:
    """S-Q-2: app_queue's timeout is the longest ring; a shorter agent's channel gets
    TIMEOUT(absolute) from a pre-dial Gosub (option b), cleared by membergosub on answer."""
    text = """
group g { ring 20s 13800000001 13800000002 (ring 30s) 13800000003 (ring 12s) }
flow q {
  number 400-800-1000
  step start { queue { group g %s } }
}"""
    flow = flow_text(text % "")
    assert not target().unsupported(flow)
    files = render(flow, dial_template="Local/{number}@sim-phones")
    conf = files["q.queues.conf"]
    assert "\ntimeout = 30\n" in conf and "\nmembergosub = flow-q-start--agents  " in conf
    dp = Dialplan(files["q.conf"])
    assert dp.calls("Queue") == [("flow-q-start", "s", "flow-q-start,b(flow-q-start--agents^ring^1),,,300")]
    agents = dp.contexts["flow-q-start--agents"]
    assert [(app, args) for _, app, args in agents["s"]] == [("Set", "TIMEOUT(absolute)=0"), ("Return", "")]
    limits = [args for _, app, args in agents["ring"] if app == "ExecIf"]
    assert limits == ['$["${DIALEDPEERNUMBER}" = "13800000001@sim-phones/n"]?Set(TIMEOUT(absolute)=20)',
                      '$["${DIALEDPEERNUMBER}" = "13800000003@sim-phones/n"]?Set(TIMEOUT(absolute)=12)']
    # the queue's own ring: one time for everybody, no limits to set
    files = render(flow_text(text % "ring 12s"))
    assert "\ntimeout = 12\n" in files["q.queues.conf"] and "membergosub" not in files["q.queues.conf"]
    assert "--agents" not in files["q.conf"]


def test_non_ascii_tag_keys_are_spelt_like_freeswitch() -> None:
    # S-ACT-2: the CDR name is the same in both engines (flowc/names.py): pinyin + digest.
    flow = flow_text('flow f { number 400-800-1234 step a { tag 中心 = "华南" hangup } }')
    text = "\n".join(render(flow).values())
    assert "CDR(flowc_tag_zhongxin_260cca)=华南" in text
