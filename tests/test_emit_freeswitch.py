"""The FreeSWITCH target without an engine: snapshots of every example, XML well-formedness,
one structural test per construct, cross-checks of the generated regexes against the
interpreter's own decisions, hostile inputs, and E501.

Snapshots live in `tests/__snapshots__/test_emit_freeswitch/` (one `.xml` file each); after a
deliberate change run `pytest tests/test_emit_freeswitch.py --snapshot-update` and review the
diff. Real-engine parity is tests/engine/test_freeswitch_engine.py.
"""

from __future__ import annotations

import random
import re
import sys
import textwrap
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from conftest import text_snapshot_extension  # noqa: E402

from flowc import ir  # noqa: E402
from flowc.checks import CheckOptions  # noqa: E402
from flowc.emit import get_target  # noqa: E402
from flowc.emit import freeswitch as fs  # noqa: E402
from flowc.pipeline import check_file, check_text  # noqa: E402
from flowc.settings import Settings, load_settings  # noqa: E402

EXAMPLES = sorted((ROOT / "examples").glob("*.flow"))
YEARS = [2026, 2027]


@pytest.fixture
def xml_snapshot(snapshot):
    return snapshot.use_extension(text_snapshot_extension("xml"))


@pytest.fixture(autouse=True)
def _at_repo_root(monkeypatch):
    monkeypatch.chdir(ROOT)  # source paths in comments are relative to the repository root


def target(**fs_settings):
    if fs_settings:
        return get_target("freeswitch", load_settings(overrides={"years": YEARS, **{
            f"freeswitch.{k}": v for k, v in fs_settings.items()}}, cwd=ROOT))
    return get_target("freeswitch", Settings(years=YEARS))


def example_flow(path: Path) -> ir.Flow:
    result = check_file(path.relative_to(ROOT), CheckOptions(years=YEARS))
    assert result.flow is not None, result.diagnostics
    return result.flow


def flow_of(text: str) -> ir.Flow:
    result = check_text(textwrap.dedent(text), "t.flow", CheckOptions(years=YEARS))
    assert result.flow is not None, [str(d) for d in result.diagnostics]
    return result.flow


def render(text: str, **fs_settings) -> dict[str, str]:
    t = target(**fs_settings)
    flow = flow_of(text)
    assert t.unsupported(flow) == []
    return t.render(flow)


def dialplan(text: str, **fs_settings) -> ET.Element:
    files = render(text, **fs_settings)
    main = [v for k, v in files.items() if "/" not in k]
    return ET.fromstring(main[0])


def ext(root: ET.Element, name: str) -> ET.Element:
    found = [e for e in root.iter("extension") if e.get("name") == name]
    assert found, f"no extension {name}: {[e.get('name') for e in root.iter('extension')]}"
    return found[0]


def actions(el: ET.Element, tag: str = "action") -> list[tuple[str, str]]:
    return [(a.get("application"), a.get("data", "")) for a in el.iter(tag)]


def conditions(e: ET.Element) -> list[ET.Element]:
    return list(e.findall("condition"))


# ====================================================================== snapshots and XML


def _outputs():
    out = []
    for path in EXAMPLES:
        files = target().render(example_flow(path))
        for rel in sorted(files):
            kind = rel.split("/")[0] if "/" in rel else ""
            out.append((f"{path.stem}-{kind}" if kind else path.stem, files[rel]))
    return out


OUTPUTS = _outputs()


@pytest.mark.parametrize("name,text", OUTPUTS, ids=[n for n, _ in OUTPUTS])
def test_example_snapshot(name, text, xml_snapshot):
    assert text == xml_snapshot


@pytest.mark.parametrize("name,text", OUTPUTS, ids=[n for n, _ in OUTPUTS])
def test_every_output_parses_as_xml(name, text):
    ET.fromstring(text)
    lines = text.splitlines()
    # FreeSWITCH's pre-processor drops every line holding <include>, </include> or <?
    for line in lines:
        if "<include>" in line or "</include>" in line:
            assert line.strip() in ("<include>", "</include>"), line
        if "<?" in line:
            assert line.startswith("<?xml"), line
    assert "<include>" in lines and "</include>" in lines


def test_output_is_byte_identical():
    for path in EXAMPLES:
        flow = example_flow(path)
        assert target().render(flow) == target().render(example_flow(path))


def test_every_step_has_its_extension_and_source_comment():
    for path in EXAMPLES:
        flow = example_flow(path)
        text = target().render(flow)[f"{fs.lower.ident(flow.name)}.xml"]
        root = ET.fromstring(text)
        names = {e.get("name") for e in root.iter("extension")}
        for step in flow.steps:
            ident = fs.lower.unique_idents([s.name for s in flow.steps])[step.name]
            assert ident in names
            assert f"<!-- {step.span.file}:{step.span.line} step {step.name} -->" in text


def test_entry_matches_the_400_number_in_its_context():
    for path in EXAMPLES:
        flow = example_flow(path)
        root = ET.fromstring(target().render(flow)[f"{flow.name}.xml"])
        ctx = root.find("context")
        assert ctx.get("name") == f"flow-{flow.name}"
        entry = ctx.find("extension")
        c = entry.find("condition")
        assert (c.get("field"), c.get("expression")) == ("destination_number", f"^{flow.hotline.number}$")
        assert actions(c)[0] == ("answer", "")


def test_no_unknown_applications_and_no_datetime_field():
    known = {"answer", "set", "export", "unset", "playback", "read", "bridge", "transfer", "hangup", "db",
             "record_session", "fifo", "voicemail", "sched_hangup", "execute_extension"}
    for _, text in OUTPUTS:
        root = ET.fromstring(text)
        for a in list(root.iter("action")) + list(root.iter("anti-action")):
            assert a.get("application") in known
        for c in root.iter("condition"):
            assert "date-time" not in c.attrib
        assert "play_and_get_digits" not in text


# ====================================================================== constructs

SHOP = """
flow shop {
  number 400-600-1234
  tag line = "sales"
  record retain 90d
  ringback "shop/ring"
  step start { play "shop/welcome" dial 13900001111 { ring 15s busy -> sorry failed -> sorry } }
  step sorry { play "shop/sorry" hangup }
}
"""


def test_entry_sets_tags_then_recording_then_ringback():
    root = dialplan(SHOP)
    acts = actions(ext(root, "4006001234"))
    apps = [a for a, _ in acts]
    assert apps.index("export") < apps.index("record_session") < [d for _, d in acts].index(
        "transfer_ringback=$${sound_prefix}/shop/ring.wav".replace("$${sound_prefix}", "$${sounds_dir}/flowc"))
    assert ("export", "flowc_tag_line=sales") in acts
    rec = dict(acts)["record_session"]
    assert "-r90d-" in rec and rec.startswith("$${recordings_dir}/flowc/shop-")
    # S-REC-1: marked as running, so a step's `record` does not start a second one
    assert acts.index(("set", "flowc_recording=yes")) < apps.index("record_session")
    assert ("set", "continue_on_fail=true") in acts and ("set", "playback_terminators=none") in acts
    assert ("set", "preserve_originated_vars=false") in acts  # originate_causes per bridge
    assert acts[-1] == ("transfer", "shop~start XML flow-shop")


def test_single_phone_dial_uses_leg_timeout_and_classifies_causes():
    root = dialplan(SHOP, dial_template="loopback/{number}/sim-phones")
    acts = actions(ext(root, "start"))
    bridge = dict(acts)["bridge"]
    # S-DIAL-2: ring 15 s; the clock read just before the bridge picks leg_timeout 14 or 15
    assert bridge == ("{originate_timeout=17}[leg_timeout=${cond(${flowc_ring_clock:-6:1} >= 5 ? 15 : 14)}]"
                      "loopback/13900001111/sim-phones")
    assert acts[acts.index(("bridge", bridge)) - 1] == ("set", "flowc_ring_clock=${strmicroepoch()}")
    outcome = conditions(ext(root, "start~outcome"))
    # busy -> sorry, no_answer/unreachable -> failed -> sorry: one target, one condition
    assert len(outcome) == 2 and actions(outcome[1]) == [("transfer", "shop~sorry XML flow-shop")]


def test_prompts_absolute_by_default_relative_when_prompt_dir_empty():
    root = dialplan(SHOP)
    assert ("playback", "$${sounds_dir}/flowc/shop/welcome.wav") in actions(root)
    root = dialplan(SHOP, prompt_dir="")
    assert ("playback", "shop/welcome.wav") in actions(root)
    assert ("set", "transfer_ringback=$${sound_prefix}/shop/ring.wav") in actions(root)


GROUPS = """
group seq { strategy sequential ring 20s 13800000001 13800000002 (ring 25s) 13800000003 }
group rnd { strategy random ring 20s 13800000001 13800000002 13800000003 }
group rr { strategy round_robin ring 20s 13800000001 13800000002 13800000003 }
group rat { strategy ratio ring 20s 13800000001 (weight 70) 13800000002 (weight 30) }
group all { strategy ring_all ring 30s 13800000001 13800000002 }
flow g {
  number 400-600-1234
  step start { menu { prompt "m" 1 -> a 2 -> b 3 -> c 4 -> d 5 -> e } }
  step a { dial seq { busy -> x no_answer -> y unreachable -> z } }
  step b { dial rnd { failed -> x } }
  step c { dial rr { failed -> x } }
  step d { dial rat { failed -> x } }
  step e { dial all { failed -> x } }
  step x { hangup }
  step y { hangup }
  step z { hangup }
}
"""


def bridges(e: ET.Element) -> list[str]:
    return [d for a, d in actions(e) if a == "bridge"]


def legs(bridge: str) -> list[tuple[int, str]]:
    """(leg_timeout, number) per leg; a leg whose timeout depends on the clock (the first
    group's, see FreeSwitchTarget.bridge) counts with the value it takes early in a second."""
    out = []
    for t, n in re.findall(r"\[leg_timeout=(\d+|\$\{cond\([^)]*\)\})\]sofia/gateway/trunk/(\d+)", bridge):
        m = re.fullmatch(r"\$\{cond\(\$\{flowc_ring_clock:-6:1\} >= 5 \? (\d+) : (\d+)\)\}", t)
        if m:
            assert int(m.group(1)) == int(m.group(2)) + 1
            t = m.group(2)
        out.append((int(t), n))
    return out


def test_sequential_rings_each_phone_its_own_time_in_order():
    root = dialplan(GROUPS)
    (b,) = bridges(ext(root, "a"))
    assert "|" in b and "," not in b.split("}", 1)[1]
    assert legs(b) == [(19, "13800000001"), (24, "13800000002"), (19, "13800000003")]
    assert b.startswith("{originate_timeout=27}")  # above every leg, so each leg ends with its own cause


def test_outcome_classification_is_s_dial_9():
    root = dialplan(GROUPS)
    conds = conditions(ext(root, "a~outcome"))
    assert conds[1].get("field") == "${originate_causes}"
    noanswer = re.compile(conds[1].get("expression"))
    busy = re.compile(conds[2].get("expression"))
    causes = "ARRAY::u1;USER_BUSY|:u2;ALLOTTED_TIMEOUT|:u3;SUBSCRIBER_ABSENT"
    assert noanswer.search(causes) and busy.search(causes)
    assert not noanswer.search("ARRAY::u1;USER_BUSY|:u3;CALL_REJECTED")
    assert busy.search("ARRAY::u1;USER_BUSY|:u3;CALL_REJECTED")
    assert not busy.search("ARRAY::u3;NORMAL_CIRCUIT_CONGESTION")
    assert noanswer.search("u;NO_ANSWER") and noanswer.search("u;NO_USER_RESPONSE")
    targets = [actions(c)[0][1].split()[0] for c in conds[1:]]
    assert targets == ["g~y", "g~x", "g~z"]  # no_answer, then busy, else unreachable


def fs_expand(text: str, variables: dict[str, object]) -> str:
    """FreeSWITCH's variable expansion, for what the dial steps use: `${v}`, `${v[i]}` (an
    ARRAY:: variable's element), `${v:-6:1}`, `${expr(mod(A+B,N))}`, `${cond(A >= B ? X : Y)}`;
    the innermost `${...}` first, as switch_channel_expand_variables does for nested names."""
    def one(m):
        body = m.group(1)
        if body.startswith("expr(mod("):
            a, n = re.fullmatch(r"expr\(mod\((.+),(\d+)\)\)", body).groups()
            return str(eval(a, {}) % int(n))  # noqa: S307 (digits and + only)
        if body.startswith("cond("):
            a, op, b, x, y = re.fullmatch(r"cond\((\S+) (>=) (\S+) \? (\S+) : (\S+)\)", body).groups()
            return x if int(a) >= int(b) else y
        if (sub := re.fullmatch(r"(\w+):(-?\d+):(\d+)", body)):
            value = str(variables[sub.group(1)])
            start = int(sub.group(2))
            return value[start:start + int(sub.group(3))] if start >= 0 else value[len(value) + start:][:int(sub.group(3))]
        if (item := re.fullmatch(r"(\w+)\[(\d+)\]", body)):
            return variables[item.group(1)][int(item.group(2))]
        return str(variables[body])

    while "${" in text:
        text = re.sub(r"\$\{([^${}]*)\}", one, text, count=1)
    return text


def run_dial(e: ET.Element, variables: dict[str, object]) -> str:
    """The dial string of a dial step's extension, for the condition fields in `variables`
    (`flowc_draw`, or `flowc_first` for round_robin): conditions and their `set`s in
    order, as the dialplan's hunt and execution run them; the variables given are fixed
    (the draw, the position, the clock: no `db`, `expr(rand…)` or `strmicroepoch()`)."""
    fixed = set(variables)
    for c in conditions(e)[1:]:
        field = c.get("field")
        holds = field is None or re.search(c.get("expression"), fs_expand(field, variables))
        for a in (c.findall("action") if holds else c.findall("anti-action")):
            app, data = a.get("application"), a.get("data", "")
            if app == "set":
                name, value = data.split("=", 1)
                if name in fixed:
                    continue
                if value.startswith("ARRAY::"):
                    variables[name] = value[7:].split("|:")
                else:
                    variables[name] = fs_expand(value, variables)
            elif app == "bridge":
                return fs_expand(data, variables)
        if holds and c.get("break") == "on-true" or not holds and c.get("break") in (None, "on-false"):
            break
    raise AssertionError("no bridge")


def firsts_and_orders(e: ET.Element, var: str, values, clock="0000000000000000") -> list[list[tuple[int, str]]]:
    return [legs(run_dial(e, {var: v, "flowc_ring_clock": clock})) for v in values]


def rotation(numbers: list[str], k: int) -> list[str]:
    return numbers[k:] + numbers[:k]


PHONES3 = ["13800000001", "13800000002", "13800000003"]


def test_random_one_draw_then_rotation():
    root = dialplan(GROUPS)
    e = ext(root, "b")
    assert any("flowc_draw=${expr(randomize" in d for _, d in actions(e))
    assert "FLOWC_DRAWS" not in ET.tostring(root, encoding="unicode")  # test hooks are off by default
    assert len(bridges(e)) == 1  # one dial string, whatever phone comes first
    for r in range(1, 101):  # S-RAND-1: phone ceil(r*n/100), then the others in order, wrapping
        (order,) = firsts_and_orders(e, "flowc_draw", [r])
        assert [n for _, n in order] == rotation(PHONES3, (r * 3 + 99) // 100 - 1), r
        assert [t for t, _ in order] == [19, 19, 19]


def test_ratio_weighted_first_phone():
    root = dialplan(GROUPS)
    e = ext(root, "d")
    firsts = [order[0][1] for order in firsts_and_orders(e, "flowc_draw", range(1, 101))]
    assert firsts == ["13800000001"] * 70 + ["13800000002"] * 30
    assert [n for _, n in firsts_and_orders(e, "flowc_draw", [71])[0]] == ["13800000002", "13800000001"]


def test_round_robin_position_in_mod_db():
    root = dialplan(GROUPS)
    acts = actions(ext(root, "c"))
    assert ("set", "flowc_first=${expr(mod(0${db(select/flowc_rr/g\\/rr)},3))}") in acts
    assert ("db", "insert/flowc_rr/g\\/rr/${expr(mod(${flowc_first}+1,3))}") in acts
    for k in range(3):
        (order,) = firsts_and_orders(ext(root, "c"), "flowc_first", [k])
        assert [n for _, n in order] == rotation(PHONES3, k)


def test_rotation_keeps_each_phones_ring_time_and_the_first_legs_clock_rule():
    """S-DIAL-2 in any rotation: the first leg rings N (N - 1 early in a second, see
    FreeSwitchTarget.bridge), every later leg N - 1, each phone its own N."""
    root = dialplan("""
group rr { strategy round_robin ring 20s 13800000001 13800000002 (ring 25s) 13800000003 (ring 30s) }
flow g { number 400-600-1234 max_ring 120s step start { dial rr { failed -> x } } step x { hangup } }""")
    e = ext(root, "start")
    rings = {"13800000001": 20, "13800000002": 25, "13800000003": 30}
    for clock, early in (("1700000000100000", True), ("1700000000700000", False)):
        for k in range(3):
            dial = run_dial(e, {"flowc_first": k, "flowc_ring_clock": clock})
            assert dial.startswith("{originate_timeout=32}")
            got = re.findall(r"\[leg_timeout=(\d+)\]sofia/gateway/trunk/(\d+)", dial)
            want = rotation(PHONES3, k)
            assert [n for _, n in got] == want
            assert int(got[0][0]) == rings[want[0]] - (1 if early else 0)
            assert [int(t) for t, _ in got[1:]] == [rings[n] - 1 for n in want[1:]]


def test_dial_steps_grow_linearly_with_the_group():
    """One dial string per step, not one per possible first phone (S-DIAL-4..6)."""
    def size(n: int, strategy: str) -> int:
        phones = " ".join(f"1380000{i:04d}" for i in range(n))
        root = dialplan(f"""
group g {{ strategy {strategy} ring 5s {phones} }}
flow f {{ number 400-600-1234 max_ring 600s step start {{ dial g {{ failed -> x }} }} step x {{ hangup }} }}""")
        return len(ET.tostring(ext(root, "start")))
    for strategy in ("round_robin", "random"):
        small, large = size(5, strategy), size(20, strategy)
        assert large < 4.5 * small, (strategy, small, large)


def test_ring_all_one_bridge_with_every_phone():
    root = dialplan(GROUPS)
    (b,) = bridges(ext(root, "e"))
    assert "|" not in b and legs(b) == [(29, "13800000001"), (29, "13800000002")]


def test_test_hooks_read_fixed_draws():
    root = dialplan(GROUPS, test_hooks=True)
    cond = next(c for c in conditions(ext(root, "b")) if c.get("field") == "${FLOWC_DRAWS}")
    rx = re.compile(cond.get("expression"))
    m = rx.match("37,80")
    assert m.groups() == ("37", "80")
    assert not rx.match("0") and not rx.match("101") and not rx.match("5,${x}")
    assert [a.get("data") for a in cond.findall("anti-action")][0].startswith("flowc_draw=${expr(")


MENU = """
flow m {
  number 400-600-1234
  step main {
    menu {
      prompt "m/main"
      timeout 4s
      retries 1
      1 -> sub
      * -> repeat
      # -> sub
      invalid "m/invalid"
      no_input "m/silence"
      exhausted -> bye
    }
  }
  step sub { menu { prompt "m/sub" 9 -> back 1 -> bye } }
  step bye { hangup }
}
"""


def test_menu_reads_one_key_and_never_plays_invalid_on_no_input():
    root = dialplan(MENU)
    assert actions(ext(root, "main")) == [("set", "flowc_tries=2"), ("transfer", "m~main~attempt XML flow-m")]
    (read,) = [d for a, d in actions(ext(root, "main~attempt")) if a == "read"]
    # min 1, max 1 key, prompt, variable, timeout after the prompt, no terminator a caller can send
    assert read == "1 1 $${sounds_dir}/flowc/m/main.wav flowc_key 4000 Z 4000"
    conds = conditions(ext(root, "main~key"))
    by_expr = {c.get("expression"): c for c in conds[1:]}
    assert actions(by_expr[r"^1$"]) == [("transfer", "m~sub XML flow-m")]
    assert actions(by_expr[r"^\*$"]) == [("transfer", "m~main~attempt XML flow-m")]  # repeat: no failure
    assert actions(by_expr[r"^#$"]) == [("transfer", "m~sub XML flow-m")]
    no_input = by_expr["^$"]
    assert actions(no_input)[0] == ("playback", "$${sounds_dir}/flowc/m/silence.wav")
    assert "invalid" not in ET.tostring(no_input, encoding="unicode")
    invalid = conds[-1]
    assert invalid.get("field") is None
    assert actions(invalid) == [("playback", "$${sounds_dir}/flowc/m/invalid.wav"),
                                ("transfer", "m~main~failed XML flow-m")]
    failed = conditions(ext(root, "main~failed"))
    assert failed[0].find("action").get("inline") == "true"
    assert actions(failed[1]) == [("transfer", "m~bye XML flow-m")]  # exhausted
    assert actions(failed[1], "anti-action") == [("transfer", "m~main~attempt XML flow-m")]


def test_menu_back_goes_to_parent_and_silence_prompt_is_silence():
    root = dialplan(MENU)
    conds = conditions(ext(root, "sub~key"))
    back = next(c for c in conds if c.get("expression") == "^9$")
    assert actions(back) == [("transfer", "m~main XML flow-m")]  # re-entering resets the count (S-MENU-6)
    exhausted = conditions(ext(root, "sub~failed"))[1]
    assert actions(exhausted) == [("hangup", "NORMAL_CLEARING")]


EXT = """
phone zhang 13811110001
group fin { strategy sequential ring 15s "021-5080 0201" "021-5080 0202" }
flow sw {
  number 400-820-5080
  step start {
    extension {
      prompt "corp/ext"
      digits 3
      timeout 6s
      ring 25s
      101 zhang
      200 fin
      000 -> op
      busy -> op
      failed -> op
    }
  }
  step op { hangup }
}
"""


def test_extension_collects_digits_and_dials_per_entry():
    root = dialplan(EXT)
    (read,) = [d for a, d in actions(ext(root, "start~attempt")) if a == "read"]
    assert read == "1 3 $${sounds_dir}/flowc/corp/ext.wav flowc_digits 6000 # 6000"
    conds = conditions(ext(root, "start~digits"))
    assert [c.get("expression") for c in conds[1:4]] == ["^101$", "^200$", "^000$"]
    assert actions(conds[1]) == [("transfer", "sw~start~ext101 XML flow-sw")]
    assert actions(conds[3]) == [("transfer", "sw~op XML flow-sw")]
    (b,) = bridges(ext(root, "start~ext200"))
    assert [t for t, _ in legs(b)] == [24, 24]  # the extension's ring overrides the group's
    assert ext(root, "start~ext101~outcome") is not None


TIME = """
schedule office { workdays 09:00-12:00, 13:30-18:00 }
schedule night { daily 22:00-06:00 }
schedule xmas { 12-24 18:00-24:00 2026-12-31 except 2026-12-25 }
schedule ny { timezone America/New_York mon-fri 09:00-17:00 }
flow t {
  number 400-600-1234
  step start { play "w" branch time { xmas -> a office, ny -> b night -> c else -> d } }
  step a { hangup }
  step b { hangup }
  step c { hangup }
  step d { hangup }
}
"""


def test_time_branch_after_the_steps_actions_in_each_zone():
    root = dialplan(TIME)
    assert actions(ext(root, "start")) == [("playback", "$${sounds_dir}/flowc/w.wav"),
                                          ("transfer", "t~start~branch XML flow-t")]
    b = ext(root, "start~branch")
    sets = [d for a, d in actions(b) if a == "set"]
    assert sets == ["flowc_now=${strftime_tz(Asia/Shanghai %u %Y%m%d %H%M)}",
                    "flowc_now_1=${strftime_tz(America/New_York %u %Y%m%d %H%M)}"]
    any_arm = next(c for c in conditions(b) if c.get("regex") == "any")
    assert [r.get("field") for r in any_arm.findall("regex")] == ["${flowc_now}", "${flowc_now_1}"]


def test_time_regexes_agree_with_the_interpreter():
    """Every arm's regex on FreeSWITCH's clock string decides like the interpreter's
    schedule matcher, over random moments of the compiled years (holidays included)."""
    from flowc.interp.engine import _Schedule

    flow = flow_of(TIME)
    root = ET.fromstring(target().render(flow)["t.xml"])
    arms = [c for c in conditions(ext(root, "start~branch")) if c.get("break") == "on-true"]
    zones = {"${flowc_now}": ZoneInfo("Asia/Shanghai"), "${flowc_now_1}": ZoneInfo("America/New_York")}
    scheds = {n: _Schedule(flow.schedules[n], ZoneInfo("Asia/Shanghai")) for n in flow.schedules}
    order = [["xmas"], ["office", "ny"], ["night"]]
    rng = random.Random(5)
    start = datetime(2026, 1, 1, tzinfo=ZoneInfo("UTC"))
    moments = [start + timedelta(minutes=rng.randrange(2 * 365 * 24 * 60)) for _ in range(3000)]
    moments += [datetime(2026, 12, 24, 10, 0, tzinfo=ZoneInfo("UTC")), datetime(2026, 10, 10, 2, 0, tzinfo=ZoneInfo("UTC"))]
    for m in moments:
        want = next((i for i, names in enumerate(order)
                     if any(scheds[n].matches(m.astimezone(scheds[n].zone), []) for n in names)), None)
        got = None
        for i, c in enumerate(arms):
            tests = c.findall("regex") or [c]
            if any(re.match(r.get("expression"), m.astimezone(zones[r.get("field")]).strftime("%u %Y%m%d %H%M"))
                   for r in tests):
                got = i
                break
        assert got == want, m


def test_digit_ranges():
    for lo, hi, width in [(900, 1159, 4), (0, 559, 4), (2200, 2359, 4), (1001, 1008, 4), (20261001, 20261008, 8),
                          (101, 1231, 4), (20261228, 20270103, 8)]:
        rx = re.compile("^" + fs.digit_range(str(lo).zfill(width), str(hi).zfill(width)) + "$")
        for v in range(max(0, lo - 300), hi + 300):
            assert bool(rx.match(str(v).zfill(width))) == (lo <= v <= hi), (lo, hi, v)
    for lo, hi in [(1, 33), (34, 66), (67, 100), (1, 100), (71, 100), (5, 9), (10, 10)]:
        rx = re.compile("^" + fs.int_range(lo, hi) + "$")
        assert [r for r in range(0, 120) if rx.match(str(r))] == list(range(lo, hi + 1))


REGION = """
flow r {
  number 400-800-1234
  step start { branch region { 广东, 广西 -> south 深圳 -> sz 北京, 上海 -> north else -> other } }
  step south { hangup }
  step sz { hangup }
  step north { hangup }
  step other { hangup }
}
"""


def simulate_caller_rules(entry: ET.Element, raw: str) -> tuple[str, str]:
    """mod_dialplan_xml's hunt over the entry's inline rules: a field without `$` is read
    from the caller profile, `${var}` from the variables; search (PCRE's `\\z` is Python's
    `\\Z`), `$1` substitution, anti-actions, and break (on-false unless said otherwise)."""
    v = {"caller_id_number": raw, "flowc_caller": "", "flowc_caller_kind": ""}
    conds = conditions(entry)[1:]
    for c in conds:
        field = c.get("field")
        value = v[field[2:-1]] if field.startswith("${") else v[field]
        m = re.search(c.get("expression").replace("\\z", "\\Z"), value)
        for a in c.findall("action" if m else "anti-action"):
            name, _, data = a.get("data").partition("=")
            assert "${" not in data  # nothing the caller sent is expanded
            v[name] = data.replace("$1", m.group(1) or "") if m and "(" in c.get("expression") else data
        brk = c.get("break", "on-false")
        if (m and brk == "on-true") or (not m and brk == "on-false"):
            break
    return v["flowc_caller"], v["flowc_caller_kind"]


CALLERS = ["13812345678", "+8613812345678", "008613812345678", "8613812345678", "013812345678",
           "02088886666", "+862088886666", "075512345678", "01088886666", "0755123", "", "anonymous",
           "+14155550100", "0044207", "4008001234", "12345", "1381234567x", "+", "86755123456789",
           "${system(touch /tmp/x)}", "1380013800${expr(0)}", "13800138000\n", "1" * 20, "1" * 21, "1" * 200,
           "0000000000", ")", "|", "&", "<b>"]


def test_caller_normalisation_follows_caller_rules():
    from flowc.phones import normalize_caller

    root = dialplan(REGION)
    entry = ext(root, "4008001234")
    for raw in CALLERS:
        want = normalize_caller(raw)
        assert simulate_caller_rules(entry, raw) == (want.digits, want.kind), raw


_SHARED: dict[str, dict] = {}


def _shared_region_code(number: str) -> str:
    """What `execute_extension <number> XML flow--regions-<first 4 digits>` sets flowc_region
    to: mod_dialplan_xml's hunt over flowc-regions.xml (the first condition that holds, each
    `break="on-true"`; the last has no test)."""
    if not _SHARED:
        from flowc.emit import get_target
        from flowc.settings import load_settings

        shared = get_target("freeswitch", load_settings(cwd=ROOT)).shared_outputs()
        assert list(shared) == ["flowc-regions.xml"]
        text = shared["flowc-regions.xml"]
        ET.fromstring(text)  # well-formed
        current: list = []
        for line in text.splitlines():
            m = re.fullmatch(r'  <context name="([^"]+)"><extension name="[0-9]+">', line)
            if m:
                current = _SHARED.setdefault(m.group(1), [])
                continue
            m = re.fullmatch(r'    <condition(?: field="destination_number" expression="([^"]+)" break="on-true")?>'
                             r'<action application="set" data="flowc_region=([0-9]{4})"/></condition>', line)
            if m:
                assert not current or current[-1][0] is not None, "only the last condition has no test"
                current.append((re.compile(m.group(1)).match if m.group(1) else None, m.group(2)))
        assert all(rows[-1][0] is None for rows in _SHARED.values())
    for match, code in _SHARED[f"flow--regions-{number[:4]}"]:
        if match is None or match(number):
            return code
    raise AssertionError(number)


_NUMBERS: dict[str, tuple] = {}


def _every_number() -> dict[str, tuple]:
    """{number: (normalised caller, region_of, the shared table's code)} for a number of every
    7-digit mobile prefix 1300000-1999999 and of every area code."""
    if not _NUMBERS:
        from flowc import regions
        from flowc.phones import normalize_caller

        for n in [f"{p}1234" for p in range(1300000, 2000000)] + \
                [code + "23456789"[: 11 - len(code)] for code in regions.area_codes()]:
            c = normalize_caller(n)
            if c.kind in ("mobile", "landline"):
                _NUMBERS[n] = (c, regions.region_of(c), _shared_region_code(c.digits))
    return _NUMBERS


def test_shared_region_table_gives_every_number_its_region_code():
    """flowc-regions.xml, hunted the way mod_dialplan_xml does, gives every 7-digit mobile
    prefix and every area code the code of the finest region region_of() knows."""
    from flowc import regions

    numbers = _every_number()
    assert len(numbers) > 490_000
    for n, (c, _, code) in numbers.items():
        assert code == regions.region_code_of(c), n


def test_region_arms_agree_with_the_interpreter():
    """The step's lookup (only mobile and landline numbers, digits through captures), the
    shared table and the `~region` extension send every number of the data, and odd caller
    IDs, to the arm the interpreter gives (S-REG-1)."""
    from flowc import regions
    from flowc.phones import normalize_caller

    root = dialplan(REGION)
    entry = ext(root, "4008001234")
    step = conditions(ext(root, "start"))
    lookup = step[1]
    assert lookup.get("field") == "${flowc_caller_kind}/${flowc_caller}" and lookup.get("break") == "on-true"
    assert actions(lookup) == [("set", "flowc_region=0000"),
                               ("execute_extension", "$1$2 XML flow--regions-$1"),
                               ("transfer", "r~start~region XML flow-r")]
    assert actions(step[2]) == [("transfer", "r~other XML flow-r")]
    arms = [c for c in conditions(ext(root, "start~region")) if c.get("break") == "on-true"]
    # 深圳 lies inside 广东, an earlier arm (W405): its arm never holds and has no condition
    assert [c.get("field") for c in arms] == ["${flowc_region}", "${flowc_region}"]
    targets = {0: "south", 1: "north"}
    ids = [{"guangdong", "guangxi"}, {"beijing", "shanghai"}]
    def arm_of(code: str):
        return next((i for i, c in enumerate(arms) if re.search(c.get("expression"), code)), None)

    def want_of(region):
        return None if region is None else \
            next((i for i, s in enumerate(ids) if region[0] in s or region[1] in s), None)

    for raw in CALLERS:  # odd caller IDs: through the entry's normalisation
        digits, kind = simulate_caller_rules(entry, raw)
        m = re.search(lookup.get("expression"), f"{kind}/{digits}")
        got = None if m is None else arm_of(_shared_region_code(m.group(1) + m.group(2)))
        assert got == want_of(regions.region_of(normalize_caller(raw))), raw
    memo: dict = {}
    for n, (c, region, _) in _every_number().items():
        m = re.search(lookup.get("expression"), f"{c.kind}/{c.digits}")
        assert m is not None and m.group(1) + m.group(2) == c.digits, n
        code = _every_number()[n][2]
        if code not in memo:
            memo[code] = arm_of(code)
        assert memo[code] == want_of(region), (n, targets.get(want_of(region)))


CALLER = """
list vip { 13800138000 "+86 139 0013 9000" "021-6188 8888" }
list black { "170*" 16500000000 }
flow v {
  number 400-195-5888
  step start { branch caller { black -> refuse vip, "+8613700000000" -> vip withheld -> svc "0571*" -> local else -> svc } }
  step refuse { hangup }
  step vip { hangup }
  step svc { hangup }
  step local { hangup }
}
"""


def test_caller_arms():
    root = dialplan(CALLER)
    arms = [c for c in conditions(ext(root, "start")) if c.get("break") == "on-true"]
    assert arms[0].get("expression") == "^(?:16500000000$|170)"
    assert arms[1].get("expression") == "^(?:13800138000|13900139000|02161888888|13700000000)$"
    withheld = arms[2]
    assert withheld.get("field") == "${flowc_caller_kind}" and withheld.get("expression") == "^withheld$"
    assert arms[3].get("expression") == "^0571"


def test_split_draw_ranges():
    root = dialplan("""
        flow s { number 400-712-3456
          step start { split { 70% -> a 30% -> b } }
          step a { hangup } step b { hangup } }""")
    conds = conditions(ext(root, "start"))
    first = next(c for c in conds if c.get("field") == "${flowc_draw}")
    assert [r for r in range(1, 101) if re.fullmatch(first.get("expression"), str(r))] == list(range(1, 71))
    assert actions(conds[-1]) == [("transfer", "s~b XML flow-s")]


QUEUE = """
group agents { strategy sequential ring 15s 13700000001 13700000002 }
survey rate { prompt "s/rate" keys 1, 2, 3 timeout 8s retries 1 invalid "s/invalid" thanks "s/thanks" }
flow q {
  number 400-036-5365
  survey rate
  step start {
    queue { group agents music "q/music" announce "q/hold" every 30s max_wait 3m retry 10s timeout -> vm }
  }
  step vm { voicemail 3650 max 2m greeting "q/greeting" }
}
"""


def test_queue_is_a_fifo_with_outbound_members_and_orbit():
    files = render(QUEUE, dial_template="loopback/{number}/sim-phones")
    root = ET.fromstring(files["q.xml"])
    acts = dict(actions(ext(root, "start")))
    assert acts["fifo"] == "flow-q~start in"
    sets = [d for a, d in actions(ext(root, "start")) if a == "set"]
    assert "fifo_music=$${sounds_dir}/flowc/q/music.wav" in sets
    assert "fifo_chime_list=$${sounds_dir}/flowc/q/hold.wav" in sets and "fifo_chime_freq=30" in sets
    assert "fifo_orbit_exten=q~start~timeout:180" in sets
    assert "transfer_after_bridge=q~~survey~rate:XML:flow-q" in sets  # S-SURVEY-2 after a queue
    assert actions(ext(root, "start~timeout")) == [("unset", "transfer_after_bridge"), ("transfer", "q~vm XML flow-q")]
    fifo = ET.fromstring(files["fifo/q.xml"])
    node = fifo.find("fifo")
    assert node.get("name") == "flow-q~start" and node.get("outbound_strategy") == "ringall"
    assert node.get("outbound_per_cycle") == "2" and node.get("retry_delay") == "9"  # + 1 s = retry 10s
    members = node.findall("member")
    # ring 15s: a member rings between timeout and timeout + 1 s; no wrap-up lag after a call
    assert [(m.get("timeout"), m.get("lag")) for m in members] == [("14", "0"), ("14", "0")]
    uids = [re.fullmatch(r"\{fifo_outbound_uuid=([0-9a-f]{32}),originate_timeout=16\}\[leg_timeout=14\]"
                         r"loopback/(\d+)/sim-phones",
                         m.text).groups()
            for m in members]
    assert [n for _, n in uids] == ["13700000001", "13700000002"]
    assert len({u for u, _ in uids}) == 2  # mod_fifo keys members by these 32 characters


def test_voicemail_greeting_max_and_directory():
    files = render(QUEUE)
    root = ET.fromstring(files["q.xml"])
    sets = [d for a, d in actions(ext(root, "vm")) if a == "set"]
    acts = actions(ext(root, "vm"))
    # S-VM-1: the step ends `max` after the voicemail application starts, greeting and beep included
    assert acts[acts.index(("voicemail", "default flow-q 3650")) - 1] == ("sched_hangup", "+120 NORMAL_CLEARING")
    assert not any(d.startswith("execute_on_record_start") for d in sets)
    assert acts[0] == ("playback", "$${sounds_dir}/flowc/q/greeting.wav")  # S-VM-1: an ordinary prompt
    assert "skip_greeting=true" in sets and "skip_instructions=true" in sets
    # the flow's own directory domain (issue 10.6): another flow's box 3650 is another box
    assert ("voicemail", "default flow-q 3650") in actions(ext(root, "vm"))
    directory = ET.fromstring(files["directory/q.xml"])
    assert directory.find("domain").get("name") == "flow-q"
    user = directory.find("domain/users/user")
    params = {p.get("name"): p.get("value") for p in user.iter("param")}
    assert user.get("id") == "3650" and params["sip-forbid-register"] == "true"


def test_survey_after_a_dial_keeps_the_caller():
    root = dialplan("""
        survey rate { prompt "s/rate" }
        flow d { number 400-600-1234
          step start { dial 13900001111 { survey rate } } }""")
    assert ("set", "hangup_after_bridge=false") in actions(ext(root, "start"))
    first = conditions(ext(root, "start~outcome"))[1]
    assert (first.get("field"), first.get("expression")) == ("${originate_disposition}", "^SUCCESS$")
    key = conditions(ext(root, "~survey~rate~key"))
    assert key[1].get("expression") == "^([12345])$"
    assert actions(key[1])[0] == ("export", "flowc_tag_survey=$1")
    failed = conditions(ext(root, "~survey~rate~failed"))[1]
    assert actions(failed) == [("export", "flowc_tag_survey=none"), ("hangup", "NORMAL_CLEARING")]


def test_record_action_only_when_no_recording_runs():
    root = dialplan("""
        flow d { number 400-600-1234
          step start { play "a" record play "b" goto next }
          step next { record hangup } }""")
    conds = conditions(ext(root, "start"))
    rec = next(c for c in conds if c.get("field") == "${flowc_recording}")
    assert rec.get("expression") == "^$" and rec.find("action").get("inline") == "true"
    apps = [a for c in conds for a, _ in actions(c)]
    assert apps == ["playback", "set", "set", "set", "record_session", "playback", "transfer"]


# ====================================================================== hostile inputs

HOSTILE_VALUES = [
    "${system(rm -rf /)}", "$${hostname}", "\"/><action application=\"hangup\"/>", "</include>",
    "<X-PRE-PROCESS cmd=\"include\" data=\"/etc/passwd\"/>", "$1 and $2", "a\\b", "x|y,z", "--", "'quoted'",
    "{a=b}sofia/x", "tab\there", "  padded  ",
]


@pytest.mark.parametrize("value", HOSTILE_VALUES)
def test_hostile_tag_values_stay_data(value):
    src = 'flow h { number 400-600-1234 tag t = "%s" step s { tag u = "%s" hangup } }' % (
        value.replace("\\", "\\\\").replace('"', '\\"'), value.replace("\\", "\\\\").replace('"', '\\"'))
    result = check_text(src, "h.flow", CheckOptions(years=YEARS))
    if result.flow is None:
        pytest.skip("the checker refuses this value already")
    text = target().render(result.flow)["h.xml"]
    root = ET.fromstring(text)  # well-formed, nothing closed early
    exports = [d for a, d in actions(root) if a == "export"]
    assert len(exports) == 2 and len(list(root.iter("extension"))) == 2
    for data in exports:
        name, _, v = data.partition("=")
        assert name in ("flowc_tag_t", "flowc_tag_u")
        if v != value:  # anything unsafe is percent-encoded, decoded at run time only
            assert v.startswith("${url_decode(") and v.endswith(")}")
            inner = v[len("${url_decode("):-2]
            assert re.fullmatch(r"[A-Za-z0-9%._~-]*", inner)
            from urllib.parse import unquote
            assert unquote(inner) == fs._CONTROL.sub("", value)
    for line in text.splitlines():  # the pre-processor sees no directive, no global
        assert "<X-PRE-PROCESS" not in line and "<include>" not in line.strip()[1:]
        assert "$${hostname}" not in line


def test_hostile_title_and_path_in_comments():
    src = 'flow h { number 400-600-1234 title "--><action/><!-- $${x} <X-PRE-PROCESS cmd=\\"set\\" data=\\"a=b\\"/>" step s { hangup } }'
    result = check_text(src, "we--ird$${x}.flow", CheckOptions(years=YEARS))
    text = target().render(result.flow)["h.xml"]
    root = ET.fromstring(text)
    assert len(list(root.iter("action"))) == len([a for a in root.iter("action") if a.get("application")])
    comments = re.findall(r"<!--(.*?)-->", text, re.S)
    for c in comments:
        assert "--" not in c and "$${" not in c and "<X-PRE" not in c


def test_cjk_names_become_identifiers():
    text = render("""
        flow 热线 { number 400-600-1234
          step 开始 { tag 中心 = "华南" goto 结束 }
          step 结束 { hangup } }""")
    main = next(v for k, v in text.items() if "/" not in k)
    root = ET.fromstring(main)
    # readable pinyin plus a digest of the name (flowc/names.py)
    assert {e.get("name") for e in root.iter("extension")} >= {"kaishi_d2bb02", "jieshu_c7b24e"}
    assert ("export", "flowc_tag_zhongxin_260cca=华南") in actions(root)  # the same CDR name as Asterisk
    assert root.find("context").get("name") == "flow-rexian_4334e1"


def test_unsafe_values_in_the_ir_are_refused_not_emitted():
    flow = flow_of(SHOP)
    bad = flow.model_copy(update={"steps": [flow.steps[0].model_copy(update={
        "actions": [ir.Play(prompt="a b${x}")]}), *flow.steps[1:]]})
    with pytest.raises(fs.EmitError):
        target().render(bad)
    with pytest.raises(fs.EmitError):
        fs.fs_token("x,y")
    with pytest.raises(fs.EmitError):
        fs.fs_regex_literal("a$b")
    assert fs.fs_regex_literal("*") == r"\*" and fs.fs_regex_literal("1.2") == r"1\.2"


def test_caller_data_never_in_application_data():
    for _, text in OUTPUTS:
        root = ET.fromstring(text)
        for a in list(root.iter("action")) + list(root.iter("anti-action")):
            data = a.get("data", "")
            if "${caller_id_number}" in data:
                assert data == "flowc_caller=${caller_id_number}" and a.get("inline") == "true"
            for var in ("${flowc_key}", "${flowc_digits}", "${flowc_caller}"):
                assert var not in data


# ====================================================================== E501


def codes(text: str, **fs_settings) -> list[str]:
    t = target(**fs_settings)
    return [d.message for d in t.unsupported(flow_of(text))]


def test_e501_fractional_or_short_ring():
    assert any("leg_timeout" in m for m in codes(
        'flow d { number 400-600-1234 step s { dial 13900001111 { ring 1.5s } } }'))
    assert any("leg_timeout" in m for m in codes(
        'flow d { number 400-600-1234 step s { dial 13900001111 { ring 1s } } }'))


def test_queue_agents_ring_for_their_own_times():
    """S-Q-2: each member's own [leg_timeout] (ring - 1: it ends between t and t + 1 s) comes
    after the block mod_fifo writes from the member timeout (at least 10 s, else it uses 60 s),
    so it holds; the round's originate_timeout is above every agent's ring."""
    files = render("""
        group a { ring 5s 13700000001 13700000002 (ring 12s) 13700000003 (ring 2s) }
        flow q { number 400-600-1234 step s { queue { group a } } }""")
    members = ET.fromstring(files["fifo/q.xml"]).find("fifo").findall("member")
    assert [m.get("timeout") for m in members] == ["10", "11", "10"]
    assert [re.search(r"\[leg_timeout=(\d+)\]", m.text).group(1) for m in members] == ["4", "11", "1"]
    assert all(",originate_timeout=13}" in m.text for m in members)
    assert not codes("""
        group a { ring 5s 13700000001 13700000002 (ring 12s) }
        flow q { number 400-600-1234 step s { queue { group a } } }""")


def test_e501_menu_timeout_below_one_second():
    flow = flow_of('flow d { number 400-600-1234 step s { menu { timeout 1s 1 -> t } } step t { hangup } }')
    step = flow.steps[0]
    short = flow.model_copy(update={"steps": [step.model_copy(update={
        "terminal": step.terminal.model_copy(update={"timeout": 0.5})}), flow.steps[1]]})
    assert any("read" in d.message for d in target().unsupported(short))  # the checker refuses it too (E212)


def test_e501_retention_raise():
    msgs = codes("""
        flow d { number 400-600-1234 record
          step s { play "a" goto t }
          step t { record retain 180d hangup } }""")
    assert any("S-ACT-3" in m for m in msgs)
    assert codes("""
        flow d { number 400-600-1234 record retain 180d
          step s { record retain 30d hangup } }""") == []


def test_dial_template_with_variables_is_a_settings_error():
    from flowc.settings import SettingsError

    with pytest.raises(SettingsError, match="freeswitch.dial_template"):
        codes(SHOP, dial_template="{x=y}sofia/{number}")


def test_examples_compile_without_e501():
    for path in EXAMPLES:
        assert target().unsupported(example_flow(path)) == []
