"""Hostile input against the checker and both emitters (issue 10, items 1, 2, 4, 5, 11).

Each item has a test that fails on the code before the fix; the property test at the end
runs hostile strings in every text slot of a flow through check + compile of both targets:
a diagnostic, or output that keeps the escaping invariants, never an internal error.
The same callers run in the real engines in tests/engine (scenarios/hostile-*.json).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from flowc import phones
from flowc.checks import CheckOptions
from flowc.cli import app
from flowc.emit import get_target
from flowc.emit.asterisk import UnsafeValue, escape
from flowc.emit.freeswitch import EmitError, fs_comment, fs_text
from flowc.pipeline import check_text
from flowc.render import printable, render_concise, render_full, render_json
from flowc.settings import SettingsError, load_settings

YEARS = [2026, 2027]

HOSTILE = [
    "${system(touch /tmp/flowc-pwned)}", "1380013800${expr(0)}", "${url_decode(%24%7Bsystem(id)%7D)}",
    "$${base_dir}", "${SHELL(id)}", "$[1+1]", "13800138000)", "138|139", "138&139", "138,139", "138;139",
    "<b>13800138000</b>", "x-pre-process", "X-PRE-PROCESS", "<include>", "</include>", "<?xml", "<!--#exec \"id\"-->",
    '"', "'", "\\", "\n", "\r", "\x1b[31m", "\x07", "\x00", "\u202e", "1" * 200, "", "anonymous", "$1", "%41",
    "--", "]]>", "{x}", "a b", "１３８００１３８０００",
]

SMALL = """
phone p1 13900001111
flow h {
  number 400-800-1234
  step start {
    branch caller {
      "13800138000" -> vip
      withheld -> anon
      else -> other
    }
  }
  step vip { play "x/vip" hangup }
  step anon { play "x/anon" hangup }
  step other { play "x/other" dial p1 }
}
"""


def flow_of(text: str):
    result = check_text(text, "h.flow", CheckOptions(years=YEARS))
    return result


def codes(text: str) -> list[str]:
    return [d.code for d in flow_of(text).diagnostics]


def render(name: str, text: str, **options) -> dict[str, str]:
    result = flow_of(text)
    assert result.flow is not None, result.diagnostics
    overrides = {"years": YEARS, **{f"{name}.{k}": v for k, v in options.items()}}
    target = get_target(name, load_settings(overrides=overrides))
    assert target.unsupported(result.flow) == []
    return target.render(result.flow)


# ====================================================================== item 1: caller data


@pytest.mark.parametrize("raw", HOSTILE + ["13800138000", "+8613800138000", "0" * 10, "1" * 20, "1" * 21])
def test_hostile_callers_are_withheld_or_digits(raw: str) -> None:
    """S-NUM-1: whatever the caller sends, the normalised number is digits only, and anything
    that is not ASCII digits with a leading + (at most 20) is withheld."""
    c = phones.normalize_caller(raw)
    assert re.fullmatch(r"[0-9]*", c.digits)
    if not re.fullmatch(r"\+?[0-9]{1,20}", raw):
        assert c == phones.CallerNumber(raw, "", "withheld")


def test_freeswitch_reads_the_caller_id_only_as_a_condition_field() -> None:
    """Before the fix the entry did `set flowc_caller=${caller_id_number}`: FreeSWITCH expands
    the value again, so a caller ID `${system(...)}` ran a command."""
    text = render("freeswitch", SMALL, dial_template="loopback/{number}/sim")["h.xml"]
    root = ET.fromstring(text)
    for el in root.iter():
        data = el.get("data") or ""
        # no action reads anything a caller or a SIP header can set
        assert not re.search(r"\$\{(caller_id|effective_caller|destination_number|sip_|ani|rdnis)", data), data
    fields = [c for c in root.iter("condition") if c.get("field") == "caller_id_number"]
    assert len(fields) == 1
    (cond,) = fields
    # its only capture holds digits and a leading + (and nothing else can match)
    assert cond.get("expression") == r"^(\+?[0-9]{1,20})\z"
    assert [a.get("data") for a in cond.findall("action")] == ["flowc_caller=$1"]
    assert {a.get("data") for a in cond.findall("anti-action")} == {"flowc_caller=", "flowc_caller_kind=withheld"}
    # every later field is a flowc variable built from digit captures
    for c in root.iter("condition"):
        f = c.get("field") or ""
        assert f in ("", "caller_id_number", "destination_number") or re.fullmatch(r"(\$\{flowc_[a-z_]+\}/?)+", f), f


def _simulate_fs(text: str, raw: str) -> tuple[str, str]:
    """mod_dialplan_xml over the entry's inline caller rules (field, \\z, $1, anti, break)."""
    root = ET.fromstring(text)
    entry = next(e for e in root.iter("extension") if e.get("name") == "4008001234")
    v = {"caller_id_number": raw, "flowc_caller": "", "flowc_caller_kind": ""}
    for c in list(entry.iter("condition"))[1:]:
        f = c.get("field")
        if f is None:
            continue
        value = v[f[2:-1]] if f.startswith("${") else v[f]
        m = re.search(c.get("expression").replace(r"\z", r"\Z"), value)
        for a in c.findall("action" if m else "anti-action"):
            name, _, data = a.get("data").partition("=")
            v[name] = data.replace("$1", m.group(1)) if m and "(" in c.get("expression") else data
        brk = c.get("break", "on-false")
        if (m and brk == "on-true") or (not m and brk == "on-false"):
            break
    return v["flowc_caller"], v["flowc_caller_kind"]


@pytest.mark.parametrize("raw", HOSTILE)
def test_freeswitch_normalises_hostile_callers_as_the_interpreter(raw: str) -> None:
    text = render("freeswitch", SMALL, dial_template="loopback/{number}/sim")["h.xml"]
    want = phones.normalize_caller(raw)
    got = _simulate_fs(text, raw)
    assert got == (want.digits, want.kind)
    assert re.fullmatch(r"[0-9]*", got[0])  # what later `${flowc_caller}` fields expand to


def test_asterisk_caller_data_always_passes_filter() -> None:
    """CALLERID(num), CALLERID(name) and EXTEN reach no application argument unfiltered."""
    for text in render("asterisk", SMALL).values():
        for line in text.splitlines():
            code = line.split(";", 1)[0] if not line.lstrip().startswith("exten => _") else line
            for m in re.finditer(r"\$\{CALLERID\((num|name|all|ani)\)\}", code):
                before = code[:m.start()]
                assert m.group(1) == "num" and (before.endswith("${FILTER(0-9+,") or before.endswith("${LEN(")), line
            assert "CALLERID(name)" not in code and "${EXTEN}" not in code.replace("${EXTEN:1}", ""), line


# ====================================================================== item 2: tag values


@pytest.mark.parametrize("value", ["${system touch x}", "a$b", "{x}", "x}", "$${base_dir}"])
def test_tag_values_that_an_engine_would_expand_are_refused(value: str) -> None:
    """Before the fix `tag t = "${system touch x}"` compiled to `${url_decode(%24%7B...)}`,
    which stores a live `${system ...}` for the next reader (a CDR template)."""
    src = SMALL.replace('step vip { play "x/vip" hangup }', 'step vip { tag t = "%s" hangup }' % value)
    assert "E225" in codes(src)
    with pytest.raises(EmitError):
        fs_text(value)
    with pytest.raises(UnsafeValue):
        escape(value, "text")


def test_tag_values_stay_readable_and_inert() -> None:
    src = SMALL.replace('step vip { play "x/vip" hangup }',
                        'step vip { tag t = "华南 VIP 客户" tag u = "a\\"b;c,d|e\\\\f" tag w = "X-Pre-Process" hangup }')
    fs = render("freeswitch", src, dial_template="loopback/{number}/sim")["h.xml"]
    ast = render("asterisk", src)["h.conf"]
    assert 'data="flowc_tag_t=华南 VIP 客户"' in fs  # Chinese stays readable in the CDR
    assert "Set(CDR(flowc_tag_t)=华南 VIP 客户)" in ast
    for v in re.findall(r'data="flowc_tag_[uw]=([^"]*)"', fs):
        assert re.fullmatch(r"\$\{url_decode\((?:[A-Za-z0-9]|%[0-9A-F]{2})*\)\}", v), v


# ====================================================================== item 4: dial templates


@pytest.mark.parametrize("target, template", [
    ("asterisk", "Local/{number}@x&Local/13999999999@x"),
    ("asterisk", "PJSIP/{number}@trunk,30"),
    ("asterisk", "PJSIP/{number}@trunk)"),
    ("asterisk", "PJSIP/${EXTEN}{number}"),
    ("freeswitch", "loopback/{number}/x:_:loopback/13999999999/x"),
    ("freeswitch", "sofia/gw/{number},sofia/gw/13999999999"),
    ("freeswitch", "sofia/gw/{number}|sofia/gw/13999999999"),
    ("freeswitch", "[leg_timeout=1]sofia/gw/{number}"),
    ("freeswitch", "{origination_caller_id_number=1}sofia/gw/{number}"),
    ("freeswitch", "sofia/gw/X-PRE-PROCESS/{number}"),
])
def test_a_dial_template_is_exactly_one_channel(target: str, template: str) -> None:
    with pytest.raises(SettingsError, match=re.escape(f"{target}.dial_template")):
        load_settings(overrides={f"{target}.dial_template": template})


def test_one_channel_templates_still_work() -> None:
    load_settings(overrides={"asterisk.dial_template": "Local/{number}@phones/n",
                             "freeswitch.dial_template": "sofia/gateway/trunk/{number}"})


# ====================================================================== item 5: the pre-processor


def test_prompt_names_the_preprocessor_acts_on_are_refused() -> None:
    """Before the fix the menu's `read` line held `X-Pre-Process` and FreeSWITCH dropped it."""
    src = SMALL.replace('play "x/vip"', 'play "menu/X-Pre-Process"')
    assert "E223" in codes(src)


def test_comments_and_text_never_hold_preprocessor_input() -> None:
    assert "x-pre-process" not in fs_comment("a X-pre-process b").lower()
    assert "x-pre-process" not in fs_text("x-pre-process").lower()
    src = SMALL.replace("flow h {", 'flow h {\n  title "x-pre-process <include> <?php"')
    for text in render("freeswitch", src, dial_template="loopback/{number}/sim").values():
        for line in text.splitlines()[1:]:
            assert line.strip() in ("<include>", "</include>") or not re.search(
                r"x-pre-process|<include>|</include>|<\?|<!--#", line, re.I), line


# ====================================================================== item 11: internal errors


def test_a_prompt_with_a_final_newline_is_a_diagnostic() -> None:
    """`$` matched before a final newline: `play "p/x\\n"` passed the check and crashed the
    FreeSWITCH emitter."""
    src = SMALL.replace('play "x/vip"', 'play "p/x\\n"')
    assert "E223" in codes(src)


@pytest.mark.parametrize("args, option", [
    (["--set", "asterisk=x"], "asterisk"),
    (["--set", "freeswitch=1"], "freeswitch"),
    (["--set", "years=abc"], "years"),
    (["--set", "years=0"], "years"),
    (["--set", "asterisk.test_hooks=maybe"], "asterisk.test_hooks"),
    (["--set", "asterisk.nosuch=1"], "asterisk.nosuch"),
    (["--prompt-dir", "/"], "prompt_dir"),
    (["--prompt-dir", "a//b"], "prompt_dir"),
    (["--prompt-dir", "a\n"], "prompt_dir"),
    (["--dial-template", "Local/{number}@x&Local/1@x"], "asterisk.dial_template"),
])
def test_bad_settings_are_usage_errors(tmp_path, args: list[str], option: str) -> None:
    flow = tmp_path / "h.flow"
    flow.write_text(SMALL, encoding="utf-8")
    target = ["--target", "asterisk"] if "--dial-template" in args else ["--target", "all"]
    result = CliRunner().invoke(app, ["compile", str(flow), *target, "--out", str(tmp_path / "out"), *args])
    assert result.exit_code == 2, result.output
    assert "internal error" not in result.output and (option in result.output or "--" + option.replace("_", "-") in result.output), result.output


def test_years_can_be_set_as_a_list(tmp_path) -> None:
    assert load_settings(overrides={"years": "2026,2027"}).years == [2026, 2027]
    assert load_settings(overrides={"years": "[2026]"}).years == [2026]


def test_diagnostics_escape_control_characters() -> None:
    src = SMALL.replace('play "x/vip"', 'play "p\x1b[2J\x07"').replace("flow h {", "flow h { // \u202e")
    result = flow_of(src)
    (d,) = [d for d in result.diagnostics if d.code == "E223"]
    lines = {1 + i: line for i, line in enumerate(src.splitlines())}
    for out in (render_full(d, lambda f, n: lines.get(n)), render_concise(d), render_json([d])):
        assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202e]", out), out
    assert "\\x1b[2J\\x07" in render_full(d, lambda f, n: lines.get(n))
    assert printable("a\u202eb\rc") == "a\\u202eb\\x0dc"


# ====================================================================== everything at once


def _flow_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t") + '"'


TEMPLATE = """
phone p1 13900001111
group g {{ strategy ring_all ring 20s p1 }}
list l {{ {C} }}
survey s {{ prompt {P} keys 1, 2 invalid {P} thanks {P} }}
flow h {{
  number 400-800-1234
  title {T}
  ringback {P}
  tag k = {V}
  step start {{
    play {P}
    tag k2 = {V}
    branch caller {{ {C} -> m l -> m withheld -> m else -> m }}
  }}
  step m {{
    menu {{ prompt {P} 1 -> d 2 -> q invalid {P} no_input {P} exhausted -> vm }}
  }}
  step d {{ dial g {{ survey s failed -> vm }} }}
  step q {{ queue {{ group g music {P} announce {P} every 30s timeout -> vm }} }}
  step vm {{ voicemail 8000 max 1m greeting {P} }}
}}
"""

_text = st.one_of(st.sampled_from(HOSTILE), st.text(max_size=12), st.sampled_from(["x/ok", "13800138000", "138*"]))


def _fs_invariants(files: dict[str, str]) -> None:
    for name, text in files.items():
        ET.fromstring(text)  # well-formed: nothing closed early
        for line in text.splitlines()[1:]:
            assert line.strip() in ("<include>", "</include>") or not re.search(
                r"x-pre-process|<include>|</include>|<\?|<!--#", line, re.I), (name, line)
        for el in ET.fromstring(text).iter():
            for key, value in el.attrib.items():
                assert not re.search(r"[\x00-\x1f]", value), (name, key, value)
                if key == "data":  # the only `${...}` in action data are flowc's own
                    for m in re.finditer(r"\$\$\{([a-z_]+)", value):  # load-time globals from settings
                        assert m.group(1) in ("sounds_dir", "recordings_dir", "sound_prefix", "hold_music",
                                              "domain"), value
                    for m in re.finditer(r"(?<!\$)\$\{([a-z_]+)", value):
                        assert m.group(1) in ("url_decode", "cond", "strmicroepoch", "expr", "db", "strftime",
                                              "uuid", "flowc_tries", "flowc_first", "strftime_tz",
                                              "flowc_ring_clock", "flowc_recording"), value


def _asterisk_invariants(files: dict[str, str]) -> None:
    for name, text in files.items():
        for line in text.splitlines():
            assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", line), (name, line)
            code = line.split("  ; ", 1)[0] if not line.startswith(";") else ""
            assert "SHELL(" not in code and "system(" not in code and "$[1+1]" not in code, (name, line)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(t=_text, v=_text, p=_text, c=_text)
def test_hostile_text_in_every_slot_gives_a_diagnostic_or_safe_output(t: str, v: str, p: str, c: str) -> None:
    src = TEMPLATE.format(T=_flow_string(t), V=_flow_string(v), P=_flow_string(p), C=_flow_string(c))
    result = check_text(src, "h.flow", CheckOptions(years=YEARS))
    if result.flow is None:
        assert result.diagnostics  # refused with a diagnostic, not an exception
        return
    for name, check in (("asterisk", _asterisk_invariants), ("freeswitch", _fs_invariants)):
        target = get_target(name, load_settings(overrides={"years": YEARS}))
        if target.unsupported(result.flow):
            continue  # E501: refused with a diagnostic
        check(target.render(result.flow))
