"""Real-engine tests of the Asterisk target (issue 4): every example's dialplan loads in a real
Asterisk 22 without a warning, and every scenario gives the same observable events in
Asterisk as in flowc's interpreter (`normalize.py --compare`, tolerance 1.5 s).

    FLOWC_ASTERISK_PREFIX=/opt/flowc-engines/asterisk pytest tests/engine/test_asterisk_engine.py
    FLOWC_ASTERISK_PREFIX=... python tests/engine/test_asterisk_engine.py [-j 8] [-k vip] [--keep DIR]

Skipped cleanly when FLOWC_ASTERISK_PREFIX is unset or holds no Asterisk, or when the shared
harness (FLOWC_HARNESS_DIR, default /work/shared/harness) is missing: CI has neither.

Cases come from `examples/*.scenarios.yaml` (the interpreter's scenario files) and from
`tests/engine/scenarios/*.json` (World.build keywords plus `"flow"`, for what the examples do
not exercise). Each flow is compiled with `--dial-template 'Local/{number}@sim-phones'
--test-hooks`; the interpreter's random draws of each call are handed to Asterisk as the
global FLOWC_DRAWS (S-RAND-2); `context:STEP` key triggers are translated to the step's
context. The generated fragments are loaded the way docs/targets/asterisk.md says: queues.conf,
voicemail.conf and musiconhold.conf `#include` them. Prompts are silent 1 s files (the
harness makes those of Playback/Read; this module makes the music-on-hold and queue ones).

The scenarios run in real time (a queue scenario waits its 3 minutes), so the parity test
runs every case in a thread pool once (FLOWC_ENGINE_JOBS, default 8) and each parametrized
test reads its case's verdict. The whole module takes about as long as the longest scenario.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from engine_common import forward_clock  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

HARNESS = Path(os.environ.get("FLOWC_HARNESS_DIR", "/work/shared/harness"))
RUN = HARNESS / "asterisk" / "run_scenario.py"
NORMALIZE = HARNESS / "normalize.py"
EXAMPLES = ROOT / "examples"
EXTRA = Path(__file__).resolve().parent / "scenarios"
YEARS = [2026, 2027]
TOLERANCE = "1.5"
TEMPLATE = "Local/{number}@sim-phones"


def engine_prefix() -> Path | None:
    """The Asterisk install prefix, if it holds a runnable Asterisk and the harness is there."""
    prefix = os.environ.get("FLOWC_ASTERISK_PREFIX")
    if not prefix or not RUN.is_file() or not NORMALIZE.is_file():
        return None
    binary = Path(prefix) / "sbin" / "asterisk"
    if not binary.is_file() or not os.access(binary, os.X_OK):
        return None
    try:
        ok = subprocess.run([str(binary), "-V"], capture_output=True, text=True, timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        ok = False
    return Path(prefix) if ok else None


PREFIX = engine_prefix()
pytestmark = [
    pytest.mark.engine,
    pytest.mark.skipif(PREFIX is None, reason="no Asterisk: set FLOWC_ASTERISK_PREFIX to an install prefix "
                                              "(and FLOWC_HARNESS_DIR to the shared harness)"),
]


# ====================================================================== compiling for the harness


@dataclass
class Compiled:
    flow: object  # ir.Flow
    dir: Path  # --conf-dir: wrappers, fragments and dialplan.conf
    dialplan: Path
    context: str
    exten: str
    names: object  # asterisk._Names
    prompts: list[str]  # prompt files the harness does not make (music on hold, queue announcements)


def compile_for_engine(flow_path: Path, out: Path, **settings) -> Compiled:
    """The flow's Asterisk files plus the wrappers an operator would write."""
    from flowc.checks import CheckOptions
    from flowc.emit import get_target
    from flowc.emit.asterisk import _Names
    from flowc.pipeline import check_file
    from flowc.settings import load_settings

    overrides = {"asterisk.dial_template": TEMPLATE, "asterisk.test_hooks": True, "years": YEARS}
    overrides.update({f"asterisk.{k}": v for k, v in settings.items()})
    opts = load_settings(overrides=overrides, cwd=ROOT)
    result = check_file(flow_path, CheckOptions(years=YEARS))
    assert result.flow is not None, [str(d) for d in result.diagnostics]
    target = get_target("asterisk", opts)
    problems = target.unsupported(result.flow)
    assert not problems, [d.message for d in problems]
    files = target.render(result.flow)
    out.mkdir(parents=True, exist_ok=True)
    base = _Names(result.flow, opts.asterisk.context_prefix).flow_ident
    for rel, text in files.items():
        (out / rel).write_text(text, encoding="utf-8")
    dialplan = out / "dialplan.conf"
    (out / f"{base}.conf").rename(dialplan)
    if "flowc-regions.conf" in dialplan.read_text(encoding="utf-8"):  # the shared region table, as deployed
        for rel, text in target.shared_outputs().items():
            (out / rel).write_text(text, encoding="utf-8")
        dialplan.write_text('#include "flowc-regions.conf"\n' + dialplan.read_text(encoding="utf-8"), encoding="utf-8")
    inc = lambda kind: f'#include "{base}.{kind}.conf"\n' if f"{base}.{kind}.conf" in files else ""  # noqa: E731
    (out / "queues.conf").write_text("[general]\n" + inc("queues"), encoding="utf-8")
    (out / "voicemail.conf").write_text("[general]\nformat = wav\nmaxsilence = 0\n" + inc("voicemail"),
                                        encoding="utf-8")
    (out / "musiconhold.conf").write_text("[general]\n\n[default]\nmode = files\ndirectory = moh\n" + inc("musiconhold"),
                                          encoding="utf-8")
    names = _Names(result.flow, opts.asterisk.context_prefix)
    prompts = []
    for text in files.values():
        prompts += re.findall(r"^entry = /var/lib/asterisk/sounds/(\S+)$", text, re.M)
        prompts += re.findall(r"^periodic-announce = (\S+)$", text, re.M)
    return Compiled(result.flow, out, dialplan, names.entry,
                    result.flow.hotline.number if result.flow.hotline else "s", names, prompts)


def _refused(flow_path: Path) -> str:
    """The E501 messages of a flow the Asterisk target cannot express exactly, if any."""
    from flowc.checks import CheckOptions
    from flowc.emit import get_target
    from flowc.pipeline import check_file
    from flowc.settings import load_settings

    result = check_file(flow_path, CheckOptions(years=YEARS))
    if result.flow is None:
        return ""
    opts = load_settings(overrides={"asterisk.dial_template": TEMPLATE, "years": YEARS}, cwd=ROOT)
    return "; ".join(d.message for d in get_target("asterisk", opts).unsupported(result.flow))


def write_silence(path: Path, seconds: float) -> None:
    """A signed-linear 8 kHz file of silence (what the harness makes for prompts)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\0" * int(16000 * seconds))


def harness_call(world, compiled: Compiled) -> tuple[dict, str | None]:
    """A World (as the interpreter parsed it) as one harness call, or why it cannot be."""
    d = world.to_dict()
    items = []
    for item in [s.strip() for s in d["dtmf"].split(",") if s.strip()]:
        keys, sep, when = item.partition("@")
        m = re.fullmatch(r"context:([^+]+)(\+[\d.]+)?", when)
        if m:
            step = m.group(1)
            if step not in compiled.names.step:
                return {}, f"`{item}`: no step {step}"
            when = f"context:{compiled.names.step[step]}{m.group(2) or ''}"
        m = re.fullmatch(r"(exec|app):([\w|-]+)(\+[\d.]+)?", when)
        if m:
            apps = sorted({_APP.get(a.lower(), a) for a in m.group(2).split("|")})
            when = "app:" + "|".join(apps) + (m.group(3) or "")
        m = re.fullmatch(r"event:(\w+)(\+[\d.]+)?", when)
        if m and m.group(1) in _EVENT:
            when = f"event:{_EVENT[m.group(1)]}{m.group(2) or ''}"
        items.append(f"{keys}@{when}" if sep else keys)
    call = {"caller": d["caller"], "time": d["time"], "dtmf": ",".join(items), "phones": d["phones"],
            "default_phone": d["default_phone"], "max_seconds": d["max_seconds"]}
    if d["caller_hangup_after"] is not None:
        call["caller_hangup_after"] = d["caller_hangup_after"]
    return call, None


_APP = {"background": "Read", "read": "Read", "waitexten": "Read", "readexten": "Read",
        "play_and_get_digits": "Read", "playback": "Playback", "dial": "Dial", "bridge": "Dial",
        "queue": "Queue", "fifo": "Queue", "callcenter": "Queue", "voicemail": "VoiceMail"}
_EVENT = {"queue": "QueueCallerJoin", "dial": "DialBegin", "connect": "BridgeEnter"}


# ====================================================================== cases


@dataclass
class Case:
    id: str
    flow: Path
    worlds: list  # interp World, one per call
    extras: list = field(default_factory=list)  # harness-only keys of each call (restart_before, ...)
    skip: str | None = None
    prompt_seconds: float = 1.0
    prompt_duration: dict = field(default_factory=dict)


def example_cases() -> list[Case]:
    from flowc.interp.scenario import load_scenarios

    cases = []
    for path in sorted(EXAMPLES.glob("*.scenarios.yaml")):
        sfile, _diags = load_scenarios(path)
        if sfile is None:
            continue
        flow = EXAMPLES / (path.name[: -len(".scenarios.yaml")] + ".flow")
        for sc in sfile.scenarios:
            worlds = [spec.world for spec in sc.calls]  # `repeat` is already expanded
            first = sc.calls[0].world if sc.calls else None
            cases.append(Case(f"{flow.stem}: {sc.name}", flow, worlds,
                              prompt_seconds=first.prompt_ms / 1000 if first else 1.0,
                              prompt_duration={k: v / 1000 for k, v in first.prompt_duration_ms.items()} if first else {}))
    return cases


def extra_cases() -> list[Case]:
    """tests/engine/scenarios/*.json: {"flow": "examples/x.flow" or "tests/engine/flows/y.flow",
    "name": ..., World.build keywords, or "calls": [{World.build keywords}, ...]}."""
    from flowc.interp import World

    cases = []
    for path in sorted(EXTRA.glob("*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        base = {k: v for k, v in doc.items() if k not in ("flow", "name", "description", "calls")}
        worlds, extras = [], []
        for item in doc.get("calls") or [{}]:
            merged = {**base, **item}
            extras.append({k: merged.pop(k) for k in HARNESS_ONLY if k in merged})
            worlds.append(World.build(**merged))
        cases.append(Case(f"{path.stem}: {doc.get('name', '')}", ROOT / doc["flow"], worlds, extras,
                          prompt_seconds=worlds[0].prompt_ms / 1000))
    return cases


# The caller IDs the Asterisk harness can set (run_scenario.py refuses others).
# The harness carries any caller ID but a line break or NUL exactly into the flow; Asterisk's
# CALLERID() drops leading and trailing blanks (see its README, "Caller ID")
_HARNESS_CALLER = re.compile(r"(?:[^\s\x00](?:[^\n\x00]*[^\s\x00])?)?")

# Differences that are not the dialplan's, reported to the lead (docs/targets/asterisk.md):
KNOWN_DIFFERENCES = {
    # normalize.py's group_digits() splits the last digit of a multi-digit Read off when the
    # next prompt starts in the same millisecond: the log's ms timestamp of the prompt is <=
    # the AMI µs time of the digit. The interpreter's events are the right ones.
    "switchboard: three unknown extensions exhaust the menu, then reception answers": "normalize.py digit-grouping race",
    "switchboard-short-entry-pound": "normalize.py digit-grouping race",
    "switchboard: a short entry ended with the pound key is no extension": "normalize.py digit-grouping race",
    # VoiceMail's own prompts around the message are not modelled by the interpreter: the beep
    # (about 0.9 s) before it and `auth-thankyou` (about 1 s) when it reaches its maximum, so
    # the hang-up after a full-length message comes about 1.8 s later in Asterisk.
    "support-voicemail-max": "VoiceMail's beep and closing prompt are not modelled by the interpreter",
}


def known_difference(case: "Case") -> str | None:
    return next((why for key, why in KNOWN_DIFFERENCES.items() if case.id.startswith(key)), None)


# Keys of a scenario that only the harness reads.
HARNESS_ONLY = ("restart_before", "caller_audio", "caller_name", "caller_var", "description")


@lru_cache(maxsize=1)
def all_cases() -> tuple[Case, ...]:
    return tuple(example_cases() + extra_cases())


# ====================================================================== running


@dataclass
class Outcome:
    case: Case
    verdict: str  # EQUAL / DIFFERENT / SKIPPED / ERROR
    detail: str = ""
    work: Path | None = None
    seconds: float = 0.0


def _env() -> dict:
    return dict(os.environ, FLOWC_ASTERISK_PREFIX=str(PREFIX))


def run_case(case: Case, work: Path) -> Outcome:
    """Interpreter and Asterisk on one case; EQUAL when normalize.py --compare says so."""
    from flowc.interp import Session

    started = time.monotonic()
    if case.skip:
        return Outcome(case, "SKIPPED", case.skip)
    work.mkdir(parents=True, exist_ok=True)
    refused = _refused(case.flow)
    if refused:
        return Outcome(case, "SKIPPED", "the Asterisk target refuses this flow (E501): " + refused)
    compiled = compile_for_engine(case.flow, work / "conf")
    sounds = work / "sounds"
    for prompt in compiled.prompts:
        write_silence(sounds / (prompt + ".sln"), case.prompt_seconds)
    # The harness links a --sounds-dir folder (mall/ of the ringback music) into its instance
    # and then makes no stand-in inside it: the dialplan's other prompts there are made here.
    folders = {p.split("/")[0] for p in compiled.prompts if "/" in p}
    text = compiled.dialplan.read_text(encoding="utf-8")
    named = re.findall(r"(?:Playback|Background)\(([\w./-]+)", text) + re.findall(r"Read\(\w+,([\w./-]+)", text)
    for prompt in sorted(set(named) - set(compiled.prompts)):
        if prompt.split("/")[0] in folders:
            write_silence(sounds / (prompt + ".sln"), case.prompt_seconds)
    session = Session(compiled.flow)
    interp_lines, calls, notes = [], [], []
    placed = [(w, case.extras[i] if case.extras else {}) for i, w in enumerate(case.worlds)
              if _HARNESS_CALLER.fullmatch(w.caller or "")]
    if len(placed) < len(case.worlds):
        notes.append("calls the harness cannot place left out on both sides (caller IDs with other characters): "
                     + ", ".join(repr(w.caller) for w in case.worlds if not _HARNESS_CALLER.fullmatch(w.caller or "")))
    traces = []
    for i, (world, extra) in enumerate(placed):
        trace = session.call(world)
        traces.append(trace)
        if len(placed) > 1:
            interp_lines.append(json.dumps({"event": "call", "index": i}))
        interp_lines += [json.dumps(e, ensure_ascii=False) for e in trace.observable()]
        call, why = harness_call(world, compiled)
        if why:
            return Outcome(case, "SKIPPED", why)
        call["var"] = ["FLOWC_DRAWS=" + ",".join(str(d) for d in trace.draws)]
        call.update(extra)
        calls.append(call)
    forward_clock(calls)
    interp = work / "interp.jsonl"
    interp.write_text("\n".join(interp_lines) + "\n", encoding="utf-8")
    scenario = {"dialplan": str(compiled.dialplan), "conf_dir": str(compiled.dir), "context": compiled.context,
                "exten": compiled.exten, "prompt_seconds": case.prompt_seconds, "sounds_dir": [str(sounds)]}
    sounds.mkdir(exist_ok=True)
    durations = _durations(case, compiled.flow)
    if durations:
        scenario["prompt_duration"] = [f"{k}={v:g}" for k, v in durations.items()]
    if len(calls) == 1:
        scenario.update(calls[0])
    else:
        scenario["max_seconds"] = max(c["max_seconds"] for c in calls)
        scenario["calls"] = calls
    sc_path = work / "scenario.json"
    sc_path.write_text(json.dumps(scenario, ensure_ascii=False, indent=1), encoding="utf-8")
    engine = work / "engine.json"
    markers = work / "markers"  # a hostile caller ID or text that runs leaves a file here
    markers.mkdir(exist_ok=True)
    with open(engine, "w") as f:
        rc = subprocess.run([sys.executable, str(RUN), "--scenario", str(sc_path), "--pretty"],
                            stdout=f, stderr=subprocess.PIPE, text=True,
                            env=dict(_env(), HARNESS_MARKER_DIR=str(markers))).returncode
    if any(markers.iterdir()):
        return Outcome(case, "EXECUTED", "something ran what a caller sent: HARNESS_MARKER_DIR holds "
                       + ", ".join(sorted(p.name for p in markers.iterdir())), work)
    if rc != 0:
        return Outcome(case, "ERROR", f"harness exit {rc}: {engine.read_text()[:400]}", work)
    problems = _run_problems(json.loads(engine.read_text())) + caller_problems(traces, json.loads(engine.read_text()))
    cmp_ = subprocess.run([sys.executable, str(NORMALIZE), "--compare", str(interp), str(engine),
                           "--tolerance", TOLERANCE, "--show"], capture_output=True, text=True)
    (work / "compare.txt").write_text(cmp_.stdout + cmp_.stderr, encoding="utf-8")
    last = (cmp_.stdout.strip().splitlines() or ["?"])[-1]
    verdict = "EQUAL" if cmp_.returncode == 0 else "DIFFERENT" if cmp_.returncode == 1 else "ERROR"
    if verdict == "EQUAL" and problems:
        verdict, last = "ERROR", "; ".join(problems)
    detail = last if verdict != "EQUAL" else ""
    return Outcome(case, verdict, "; ".join([detail] * bool(detail) + notes), work, time.monotonic() - started)


def _durations(case: Case, flow) -> dict[str, float]:
    """The interpreter's per-prompt lengths (by name or basename) as the harness's file names."""
    if not case.prompt_duration:
        return {}
    import os.path

    out = {}
    for name in _prompts(flow):
        for key in (name, os.path.basename(name)):
            if key in case.prompt_duration:
                out[name] = case.prompt_duration[key]
                break
    return out


def _prompts(flow) -> set[str]:
    from flowc import ir

    found = {flow.ringback} if flow.ringback else set()
    for s in flow.steps:
        found |= {a.prompt for a in s.actions if isinstance(a, (ir.Play, ir.Ringback))}
        t = s.terminal
        if isinstance(t, (ir.Menu, ir.Extension)):
            found |= {p for p in (t.prompt, t.invalid.prompt, t.no_input.prompt) if p}
        elif isinstance(t, ir.Voicemail) and t.greeting:
            found.add(t.greeting)
    for sv in flow.surveys.values():
        found |= {p for p in (sv.prompt, sv.invalid, sv.thanks) if p}
    return found


# Run-time warnings that do not come from the dialplan: app_dial forwarding a frame to a Local
# channel the harness's simulated phone is tearing down; and the recording loop of VoiceMail
# when TIMEOUT(absolute) ends the call (S-VM-1) while no audio frame is arriving: its poll
# wakes up to a millisecond before the deadline (main/channel.c rounds it down), so both of
# its waits return "nothing" and it logs this before it sees the hang-up.
BENIGN_WARNINGS = ("Unable to forward frametype", "No audio available on ")


def caller_problems(traces, doc: dict) -> list[str]:
    """The normalised caller the dialplan kept (FLOWC_CALLER, FLOWC_CKIND) must be the
    interpreter's, whatever the caller sent (S-NUM-1)."""
    from flowc.phones import normalize_caller

    out = []
    for i, (trace, call) in enumerate(zip(traces, doc.get("calls") or [doc])):
        got = call.get("variables") or {}
        if "FLOWC_CKIND" in got:
            want = normalize_caller(trace.caller)
            if (got.get("FLOWC_CALLER") or "", got["FLOWC_CKIND"]) != (want.digits, want.kind):
                out.append(f"call {i} caller {trace.caller!r}: stored {got.get('FLOWC_CALLER')!r} "
                           f"{got['FLOWC_CKIND']!r}, the interpreter {want.digits!r} {want.kind!r}")
    return out


def _run_problems(trace: dict) -> list[str]:
    """Warnings or errors Asterisk logged during the calls (a generated dialplan has none)."""
    out = []
    dp = trace.get("dialplan") or {}
    for key in ("warnings", "jump_problems", "unknown_applications", "unknown_functions",
                "queues_referenced_but_undefined", "mailboxes_referenced_but_undefined"):
        if dp.get(key):
            out.append(f"dialplan {key}: {json.dumps(dp[key], ensure_ascii=False)[:300]}")
    for call in trace.get("calls") or [trace]:
        for w in call.get("log_warnings_and_errors") or []:
            text = w.get("message", str(w)) if isinstance(w, dict) else str(w)
            if any(benign in text for benign in BENIGN_WARNINGS):
                continue
            out.append(text[:200])
    return out


def run_all(cases, base: Path, jobs: int) -> list[Outcome]:
    def one(i_case):
        i, case = i_case
        try:
            return run_case(case, base / f"{i:03d}")
        except Exception as exc:  # noqa: BLE001 - reported as the case's verdict
            return Outcome(case, "ERROR", f"{type(exc).__name__}: {exc}", base / f"{i:03d}")

    longest_first = sorted(enumerate(cases), key=lambda ic: -_expected_seconds(ic[1]))
    with ThreadPoolExecutor(jobs) as pool:
        results = dict(zip([i for i, _ in longest_first], pool.map(one, longest_first)))
    return [results[i] for i in range(len(cases))]


def _expected_seconds(case: Case) -> float:
    return sum(w.max_ms for w in case.worlds) / 1000


# ====================================================================== tests


def _example_flows() -> list[Path]:
    """The examples and the engine tests' own flows."""
    return sorted(EXAMPLES.glob("*.flow")) + sorted(EXTRA.glob("*.flow"))


@pytest.mark.parametrize("flow_path", _example_flows(), ids=lambda p: p.stem)
def test_example_loads_without_warnings(flow_path: Path, tmp_path: Path) -> None:
    """`run_scenario.py --check-only --strict`: no load warning, no unknown application or
    function, no jump to a missing context/extension/label, queues and mailboxes defined."""
    refused = _refused(flow_path)
    if refused:
        pytest.skip("the Asterisk target refuses this flow (E501): " + refused)
    compiled = compile_for_engine(flow_path, tmp_path / "conf")
    out = subprocess.run([sys.executable, str(RUN), "--dialplan", str(compiled.dialplan), "--conf-dir",
                          str(compiled.dir), "--context", compiled.context, "--exten", compiled.exten,
                          "--check-only", "--strict"], capture_output=True, text=True, env=_env())
    report = json.loads(out.stdout)
    dp = report.get("dialplan", {})
    assert out.returncode == 0, json.dumps({k: dp.get(k) for k in ("warnings", "jump_problems",
                                                                     "unknown_applications", "unknown_functions",
                                                                     "queues_referenced_but_undefined",
                                                                     "mailboxes_referenced_but_undefined")},
                                           indent=1) + report.get("message", "")
    assert dp.get("loaded") and not dp.get("warnings") and not dp.get("jump_problems")


TENANT = """
group agents {{ 13900000021 13900000022 }}
flow {name} {{
  number {number}
  step start {{ menu {{ prompt "t/menu" 1 -> vm  2 -> q }} }}
  step vm {{ voicemail 8000 max 10s }}
  step q {{ queue {{ group agents music "t/hold" max_wait 30s timeout -> vm }} }}
}}
"""


def _two_tenants(base: Path, **settings) -> subprocess.CompletedProcess:
    """Two flows that both use `voicemail 8000` and a queue, loaded into one Asterisk the way
    docs/targets/asterisk.md deploys several flows (issue 10.6)."""
    both = base / "both"
    both.mkdir(parents=True)
    dialplans, includes = [], {"queues": [], "voicemail": [], "musiconhold": []}
    for name, number in (("tenant_a", "4006001111"), ("tenant_b", "4006002222")):
        src = base / f"{name}.flow"
        src.write_text(TENANT.format(name=name, number=number), encoding="utf-8")
        compiled = compile_for_engine(src, base / name, **settings)
        dialplans.append(compiled.dialplan.read_text(encoding="utf-8"))
        for f in (base / name).iterdir():
            kind = f.name.rsplit(".", 2)[-2] if f.name.count(".") == 2 else None
            if kind in includes:
                (both / f.name).write_text(f.read_text(encoding="utf-8"), encoding="utf-8")
                includes[kind].append(f'#include "{f.name}"\n')
    (both / "dialplan.conf").write_text("\n".join(dialplans), encoding="utf-8")
    (both / "queues.conf").write_text("[general]\n" + "".join(includes["queues"]), encoding="utf-8")
    (both / "voicemail.conf").write_text("[general]\nformat = wav\nmaxsilence = 0\n" + "".join(includes["voicemail"]),
                                         encoding="utf-8")
    (both / "musiconhold.conf").write_text("[general]\n\n[default]\nmode = files\ndirectory = moh\n"
                                           + "".join(includes["musiconhold"]), encoding="utf-8")
    return subprocess.run([sys.executable, str(RUN), "--dialplan", str(both / "dialplan.conf"), "--conf-dir",
                           str(both), "--context", "flow-tenant_a", "--exten", "4006001111", "--check-only",
                           "--strict"], capture_output=True, text=True, env=_env())


def test_two_tenants_with_one_mailbox_number_load_together(tmp_path: Path) -> None:
    """Issue 10.6: each flow's `voicemail 8000` is its own mailbox (a voicemail context per
    flow), and its queue and music class its own: both flows load into one Asterisk without a
    warning, where one shared voicemail context ("Ignoring duplicated mailbox 8000 in context
    default") is refused by the same check."""
    done = _two_tenants(tmp_path / "own")
    report = json.loads(done.stdout)
    dp = report.get("dialplan", {})
    assert done.returncode == 0 and not dp.get("warnings"), json.dumps(dp, ensure_ascii=False)[:2000]
    shared = _two_tenants(tmp_path / "shared", voicemail_context="default")
    assert shared.returncode != 0 and "duplicated mailbox" in shared.stdout, shared.stdout[-2000:]


@pytest.fixture(scope="module")
def parity_results(request, tmp_path_factory) -> dict[str, Outcome]:
    """Runs the selected cases (all, or those `-k` kept) in parallel, once."""
    keep = os.environ.get("FLOWC_ENGINE_KEEP")
    base = Path(keep) if keep else tmp_path_factory.mktemp("asterisk-parity")
    selected = {item.callspec.params["case_id"] for item in request.session.items
                if getattr(item, "originalname", "") == "test_parity_with_interpreter"}
    cases = [c for c in all_cases() if c.id in selected]
    outcomes = run_all(cases, base, int(os.environ.get("FLOWC_ENGINE_JOBS", "8")))
    (base / "results.txt").write_text("\n".join(f"{o.verdict:9} {o.case.id}  {o.detail}" for o in outcomes) + "\n")
    return {o.case.id: o for o in outcomes}


def _case_ids() -> list[str]:
    try:
        return [c.id for c in all_cases()] if PREFIX is not None else []
    except Exception:  # noqa: BLE001 - collection must not fail where the interpreter is absent
        return []


@pytest.mark.parametrize("case_id", _case_ids())
def test_parity_with_interpreter(case_id: str, parity_results: dict[str, Outcome]) -> None:
    outcome = parity_results[case_id]
    if outcome.verdict == "SKIPPED":
        pytest.skip(outcome.detail)
    if outcome.verdict == "DIFFERENT" and known_difference(outcome.case):
        pytest.xfail(f"known difference, not the dialplan's: {known_difference(outcome.case)}")
    compare = (outcome.work / "compare.txt") if outcome.work else None
    shown = compare.read_text() if compare and compare.exists() else ""
    assert outcome.verdict == "EQUAL", f"{outcome.verdict}: {outcome.detail}\n{shown}"


def test_whole_country_table_loads_fast(tmp_path: Path) -> None:
    """A region branch with all 31 provinces (one arm each) loads in well under a second
    more than an empty flow, and a lookup is a handful of steps."""
    from bench.bench_asterisk import country_flow_text  # the same flow the benchmark compiles

    flow_file = tmp_path / "country.flow"
    flow_file.write_text(country_flow_text(), encoding="utf-8")
    compiled = compile_for_engine(flow_file, tmp_path / "conf")
    small = compile_for_engine(EXAMPLES / "small_shop.flow", tmp_path / "small")

    def boot(c: Compiled) -> float:
        out = subprocess.run([sys.executable, str(RUN), "--dialplan", str(c.dialplan), "--conf-dir", str(c.dir),
                              "--context", c.context, "--exten", c.exten, "--check-only", "--strict"],
                             capture_output=True, text=True, env=_env())
        assert out.returncode == 0, out.stdout[-2000:]
        return json.loads(out.stdout)["asterisk"]["boot_seconds"]

    extra = min(boot(compiled) for _ in range(2)) - min(boot(small) for _ in range(2))
    assert extra < 1.0, f"the whole-country table adds {extra:.2f}s to Asterisk's boot"


# ====================================================================== script


def main(argv=None) -> int:
    import argparse

    ap = argparse.ArgumentParser(description="Asterisk vs interpreter parity for every scenario")
    ap.add_argument("-j", "--jobs", type=int, default=8)
    ap.add_argument("-k", default="", help="only cases whose id contains this text")
    ap.add_argument("--keep", help="keep each case's files under this directory")
    a = ap.parse_args(argv)
    if PREFIX is None:
        print("no Asterisk: set FLOWC_ASTERISK_PREFIX (and FLOWC_HARNESS_DIR)")
        return 2
    cases = [c for c in all_cases() if a.k in c.id]
    base = Path(a.keep) if a.keep else Path(tempfile.mkdtemp(prefix="flowc-asterisk-parity-"))
    base.mkdir(parents=True, exist_ok=True)
    outcomes = run_all(cases, base, a.jobs)
    counts: dict[str, int] = {}
    for i, o in enumerate(outcomes):
        verdict = "KNOWN" if o.verdict == "DIFFERENT" and known_difference(o.case) else o.verdict
        counts[verdict] = counts.get(verdict, 0) + 1
        why = f" [{known_difference(o.case)}]" if verdict == "KNOWN" else ""
        print(f"{verdict:9} {i:03d} {o.case.id}{why}" + (f"  -- {o.detail}" if o.detail else ""))
    print(", ".join(f"{v} {k}" for k, v in sorted(counts.items())), f"(files in {base})")
    return 0 if not any(counts.get(v) for v in ("DIFFERENT", "ERROR", "EXECUTED")) else 1


if __name__ == "__main__":
    sys.exit(main())
