"""Real-engine parity of the FreeSWITCH target: every example's scenarios, run in a real
FreeSWITCH through the shared harness and in flowc's interpreter, must give the same
observable events (`normalize.py --compare`, tolerance 1.5 s).

    FLOWC_FS_PREFIX=/opt/flowc-engines/freeswitch pytest tests/engine/test_freeswitch_engine.py -m engine
    FLOWC_FS_PREFIX=... python tests/engine/test_freeswitch_engine.py [-j 6] [-k vip] [--keep DIR]

Skipped cleanly when FLOWC_FS_PREFIX is unset or does not hold a FreeSWITCH (CI has none).

Cases come from `examples/*.scenarios.yaml` (the interpreter's scenario files, converted to
the harness's options) and from `tests/engine/scenarios/*.json` (harness-style scenarios for
what the example files cannot say to a real engine). A scenario the harness cannot drive
(keys sent on a trigger it does not have, `context:STEP` or `event:`; a per-prompt duration)
is listed with the reason instead of being run. The pytest module runs the selected cases
once, in parallel (FLOWC_ENGINE_JOBS, default 6), longest first, and each test reads its
case's verdict.

Each flow is compiled with `--dial-template 'loopback/{number}/sim-phones' --test-hooks` and
an empty prompt directory (the harness creates silent prompts relative to its sound_prefix).
The interpreter's random draws of each call are handed to FreeSWITCH as FLOWC_DRAWS, so
both executions take the same random decisions (S-RAND-2). Queue and voicemail snippets are
wrapped into the harness's `--extra-conf` / `--directory` blocks.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from engine_common import forward_clock  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

HARNESS = Path(os.environ.get("FLOWC_HARNESS_DIR", "/work/shared/harness"))
EXAMPLES = ROOT / "examples"
EXTRA = Path(__file__).resolve().parent / "scenarios"
YEARS = [2026, 2027]
TOLERANCE = "1.5"


def engine_prefix() -> Path | None:
    prefix = os.environ.get("FLOWC_FS_PREFIX")
    if not prefix:
        return None
    p = Path(prefix)
    if not (p / "bin" / "freeswitch").is_file() or not (HARNESS / "freeswitch" / "run_scenario.py").is_file():
        return None
    return p


pytestmark = [
    pytest.mark.engine,
    pytest.mark.skipif(engine_prefix() is None,
                       reason="no FreeSWITCH: set FLOWC_FS_PREFIX to an install prefix (and the harness)"),
]


# ====================================================================== cases


@dataclass
class Case:
    id: str
    flow: Path
    calls: list[dict]  # World.build keyword arguments, one dict per call
    skip: str | None = None
    description: str = ""
    max_seconds: float = 120.0
    prompt_seconds: float = 1.0


_APP_MAP = {"background": "read", "read": "read", "waitexten": "read", "readexten": "read",
            "play_and_get_digits": "read", "playback": "playback", "dial": "bridge", "bridge": "bridge",
            "queue": "fifo", "fifo": "fifo", "voicemail": "voicemail"}


def harness_dtmf(spec: str) -> tuple[str, float | None, str | None]:
    """(harness --dtmf, caller_hangup_after, why not) for an interpreter dtmf string. The
    harness presses an item's keys one by one (150 ms tone, 150 ms gap, as the interpreter) and
    takes `hangup` at any trigger; only `context:`/`event:` have no FreeSWITCH equivalent."""
    items = []
    for item in [s.strip() for s in spec.split(",") if s.strip()]:
        keys, sep, when = item.partition("@")
        if when.startswith("answer"):
            when = when[len("answer"):].lstrip("+") or "0"
        if when.startswith(("context:", "event:")):
            return "", None, f"`{item}`: the FreeSWITCH harness has no trigger `{when.split(':')[0]}:`"
        m = re.fullmatch(r"(?:exec|app):([\w|-]+)(\+[\d.]+)?", when)
        if m:
            apps = {_APP_MAP.get(a.lower()) for a in m.group(1).split("|")}
            if None in apps:
                return "", None, f"`{item}`: no FreeSWITCH application for {m.group(1)}"
            when = "exec:" + "|".join(sorted(apps)) + (m.group(2) or "")
        items.append(f"{keys}@{when}" if sep else keys)
    return ",".join(items), None, None


def _behaviour(spec: str) -> str | None:
    """An interpreter phone behaviour in the FreeSWITCH harness's grammar, or None."""
    out = []
    for one in spec.split(";"):
        kind, _, rest = one.strip().partition(":")
        if kind in ("answer", "busy", "noanswer", "unreachable", "reject"):
            out.append(one.strip())
        elif kind == "congestion":
            out.append("reject:cause=NORMAL_CIRCUIT_CONGESTION" + (":" + rest if rest else ""))
        elif kind == "cause":
            cause, _, more = rest.partition(":")
            out.append(f"reject:cause={cause}" + (":" + more if more else ""))
        else:
            return None
    return ";".join(out)


def world_to_harness(world) -> tuple[dict, str | None]:
    """A World (as the interpreter parsed it) as one harness call; or why it cannot be."""
    d = world.to_dict()
    if d["prompt_duration"]:
        return {}, "per-prompt durations: the harness has one prompt length"
    dtmf, hangup, why = harness_dtmf(d["dtmf"])
    if why:
        return {}, why
    call = {"caller": d["caller"], "time": d["time"], "dtmf": dtmf}
    if hangup is not None and d["caller_hangup_after"] is not None:
        hangup = min(hangup, d["caller_hangup_after"])
    elif hangup is None:
        hangup = d["caller_hangup_after"]
    if hangup is not None:
        call["caller_hangup_after"] = hangup
    phones = {}
    for number, spec in d["phones"].items():
        b = _behaviour(spec)
        if b is None:
            return {}, f"phone behaviour `{spec}` has no harness equivalent"
        phones[number] = b
    call["phones"] = phones
    default = _behaviour(d["default_phone"])
    if default is None:
        return {}, f"phone behaviour `{d['default_phone']}` has no harness equivalent"
    call["default_phone"] = default
    call["max_seconds"] = d["max_seconds"]
    return call, None


def example_cases() -> list[Case]:
    from flowc.interp.scenario import load_scenarios

    cases = []
    for path in sorted(EXAMPLES.glob("*.scenarios.yaml")):
        sfile, diags = load_scenarios(path)
        if sfile is None:
            continue
        flow = EXAMPLES / (path.name[: -len(".scenarios.yaml")] + ".flow")
        for sc in sfile.scenarios:
            calls, why = [], None
            for spec in sc.calls:
                call, why = world_to_harness(spec.world)
                if why:
                    break
                call["_world"] = spec.world
                calls.append(call)
            cases.append(Case(f"{flow.stem}: {sc.name}", flow, calls, skip=why,
                              prompt_seconds=sc.calls[0].world.prompt_ms / 1000 if sc.calls else 1.0))
    return cases


HARNESS_ONLY = ("restart_before",)  # no meaning for the interpreter (its session state survives)


def extra_cases() -> list[Case]:
    """tests/engine/scenarios/*.json: {"flow": "examples/x.flow", "name": ..., world keys, or
    "calls": [{world keys}, ...]} - the interpreter's World.build keywords."""
    from flowc.interp import World

    cases = []
    for path in sorted(EXTRA.glob("*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        base = {k: v for k, v in doc.items() if k not in ("flow", "name", "description", "calls")}
        calls, why = [], None
        for item in doc.get("calls") or [{}]:
            harness_only = {k: item[k] for k in HARNESS_ONLY if k in item}
            world = World.build(**{**base, **{k: v for k, v in item.items() if k not in HARNESS_ONLY}})
            call, why = world_to_harness(world)
            if why:
                break
            call.update(harness_only)
            call["_world"] = world
            calls.append(call)
        cases.append(Case(f"{path.stem}: {doc.get('name', '')}", ROOT / doc["flow"], calls, skip=why,
                          description=doc.get("description", "")))
    return cases


def all_cases() -> list[Case]:
    return example_cases() + extra_cases()


# ====================================================================== compile


class Unsupported(Exception):
    """The flow uses something the FreeSWITCH target refuses with E501."""


def compile_for_engine(flow_path: Path, out: Path) -> dict:
    """The flow's FreeSWITCH files as the harness takes them."""
    from flowc.emit import get_target
    from flowc.pipeline import check_file
    from flowc.checks import CheckOptions
    from flowc.settings import load_settings

    settings = load_settings(overrides={"freeswitch.dial_template": "loopback/{number}/sim-phones",
                                        "freeswitch.test_hooks": True, "freeswitch.prompt_dir": "",
                                        "years": YEARS}, cwd=ROOT)
    result = check_file(flow_path, CheckOptions(years=YEARS))
    assert result.flow is not None, result.diagnostics
    target = get_target("freeswitch", settings)
    problems = [d for d in target.unsupported(result.flow)]
    if problems:
        raise Unsupported("; ".join(d.message for d in problems))
    files = target.render(result.flow)
    main = next(rel for rel in files if "/" not in rel)
    if "execute_extension" in files[main]:  # the shared region table: the harness takes one dialplan file
        shared = target.shared_outputs()["flowc-regions.xml"]
        contexts = shared[shared.index("-->\n") + 4:shared.rindex("</include>")]
        head, tail = files[main].rsplit("</include>", 1)
        files[main] = head + contexts + "</include>" + tail
    out.mkdir(parents=True, exist_ok=True)
    info = {"flow": result.flow}
    for rel, text in files.items():
        p = out / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")
        if "/" not in rel:
            info["dialplan"] = p
            info["context"] = re.search(r'<context name="([^"]+)"', text).group(1)
        elif rel.startswith("fifo/"):
            fifo = out / "fifo.conf.xml"
            body = text.replace("<include>", "").replace("</include>", "")
            fifo.write_text('<configuration name="fifo.conf" description="flowc test">\n'
                            '<settings><param name="delete-all-outbound-member-on-startup" value="false"/></settings>\n'
                            f"<fifos>\n{body}\n</fifos>\n</configuration>\n", encoding="utf-8")
            info.setdefault("extra_conf", []).append(str(fifo))
        elif rel.startswith("directory/"):
            body = text.replace("<include>", "").replace("</include>", "")
            d = out / "directory.xml"
            if "<domain " in body:  # the flow's own domain (the default), beside the harness's usual one
                d.write_text(body + '\n<domain name="$${domain}">\n<params><param name="dial-string" '
                             'value="loopback/${dialed_user}/sim-phones"/></params>\n'
                             '<groups><group name="default"><users/></group></groups>\n</domain>\n',
                             encoding="utf-8")
            else:  # users for a shared voicemail_domain
                d.write_text('<domain name="$${domain}">\n<params><param name="dial-string" '
                             'value="loopback/${dialed_user}/sim-phones"/></params>\n'
                             f"<groups><group name=\"default\"><users>\n{body}\n</users></group></groups>\n"
                             "</domain>\n", encoding="utf-8")
            info["directory"] = str(d)
    # mod_voicemail as docs/targets/freeswitch.md asks: no silence detection, long messages
    vm = out / "voicemail.conf.xml"
    vm.write_text(VOICEMAIL_CONF % (out / "storage"), encoding="utf-8")
    info.setdefault("extra_conf", []).append(str(vm))
    info["dest"] = result.flow.hotline.number
    return info


VOICEMAIL_CONF = """<configuration name="voicemail.conf" description="flowc test">
<settings/>
<profiles><profile name="default">
  <param name="file-extension" value="wav"/>
  <param name="terminator-key" value="#"/>
  <param name="max-login-attempts" value="3"/>
  <param name="digit-timeout" value="10000"/>
  <param name="min-record-len" value="0"/>
  <param name="max-record-len" value="3600"/>
  <param name="max-retries" value="3"/>
  <param name="tone-spec" value="%%(1000, 0, 640)"/>
  <param name="callback-dialplan" value="XML"/>
  <param name="callback-context" value="default"/>
  <param name="record-silence-threshold" value="0"/>
  <param name="record-silence-hits" value="0"/>
  <param name="skip-greet-key" value="#"/>
  <param name="storage-dir" value="%s"/>
</profile></profiles>
</configuration>
"""


# ====================================================================== run


@dataclass
class Outcome:
    case: Case
    verdict: str  # EQUAL / DIFFERENT / SKIPPED / ERROR
    detail: str = ""
    files: dict = field(default_factory=dict)


def run_case(case: Case, work: Path) -> Outcome:
    from flowc.interp import Session

    if case.skip:
        return Outcome(case, "SKIPPED", case.skip)
    work.mkdir(parents=True, exist_ok=True)
    try:
        info = compile_for_engine(case.flow, work / "out")
    except Unsupported as exc:
        return Outcome(case, "E501", str(exc))
    session = Session(info["flow"])
    interp_lines = []
    calls = []
    traces = []
    for i, call in enumerate(case.calls):
        trace = session.call(call["_world"])
        traces.append(trace)
        if len(case.calls) > 1:
            interp_lines.append(json.dumps({"event": "call", "index": i}))
        interp_lines += [json.dumps(e, ensure_ascii=False) for e in trace.observable()]
        c = {k: v for k, v in call.items() if not k.startswith("_")}
        if trace.draws:
            c["caller_var"] = ["FLOWC_DRAWS=" + ",".join(str(d) for d in trace.draws)]
        calls.append(c)
    forward_clock(calls)
    interp = work / "interp.jsonl"
    interp.write_text("\n".join(interp_lines) + "\n", encoding="utf-8")
    scenario = {"dialplan": str(info["dialplan"]), "context": info["context"], "dest": info["dest"],
                "prompt_seconds": case.prompt_seconds, "extra_conf": info.get("extra_conf", [])}
    if "directory" in info:
        scenario["directory"] = info["directory"]
    if len(calls) == 1:
        scenario.update(calls[0])
    else:
        scenario["max_seconds"] = max(c.get("max_seconds", 120) for c in calls)
        scenario["calls"] = calls
    sc_path = work / "scenario.json"
    sc_path.write_text(json.dumps(scenario, ensure_ascii=False, indent=1), encoding="utf-8")
    engine = work / "engine.json"
    markers = work / "markers"  # a hostile caller ID or text that runs leaves a file here
    markers.mkdir(exist_ok=True)
    env = dict(os.environ, FLOWC_FS_PREFIX=str(engine_prefix()), HARNESS_MARKER_DIR=str(markers))
    with open(engine, "w") as f:
        rc = subprocess.run([sys.executable, str(HARNESS / "freeswitch" / "run_scenario.py"), "--scenario",
                             str(sc_path), "--keep" if os.environ.get("FLOWC_KEEP") else "--pretty"],
                            stdout=f, stderr=subprocess.PIPE, text=True, env=env).returncode
    files = {"interp": interp, "engine": engine, "scenario": sc_path, "dialplan": info["dialplan"]}
    if any(markers.iterdir()):
        return Outcome(case, "EXECUTED", "something ran what a caller sent: HARNESS_MARKER_DIR holds "
                       + ", ".join(sorted(p.name for p in markers.iterdir())), files)
    if rc != 0:
        return Outcome(case, "ERROR", f"harness exit {rc}: {engine.read_text()[:500]}", files)
    cmp_ = subprocess.run([sys.executable, str(HARNESS / "normalize.py"), "--compare", str(interp), str(engine),
                           "--tolerance", TOLERANCE, "--show"], capture_output=True, text=True)
    (work / "compare.txt").write_text(cmp_.stdout + cmp_.stderr, encoding="utf-8")
    last = (cmp_.stdout.strip().splitlines() or ["?"])[-1]
    verdict = "EQUAL" if cmp_.returncode == 0 else "DIFFERENT" if cmp_.returncode == 1 else "ERROR"
    stored = variable_problems(traces, json.loads(engine.read_text(encoding="utf-8")))
    if verdict == "EQUAL" and stored:
        verdict, last = "DIFFERENT", "; ".join(stored)[:600]
    return Outcome(case, verdict, last if verdict != "EQUAL" else "", files)


def variable_problems(traces, doc: dict) -> list[str]:
    """What the dialplan stored must be what the interpreter computed: the normalised caller
    number and kind (S-NUM-1: FreeSWITCH reads the caller ID in a condition only, and keeps
    digits), and every tag's value exactly (`flowc_tag_*`, what a CDR gets)."""
    from flowc.phones import normalize_caller

    out = []
    for i, (trace, call) in enumerate(zip(traces, doc.get("calls") or [doc])):
        got = call.get("variables") or {}
        if "flowc_caller_kind" in got:
            want = normalize_caller(trace.caller)
            if (got.get("flowc_caller") or "", got["flowc_caller_kind"]) != (want.digits, want.kind):
                out.append(f"call {i} caller {trace.caller!r}: stored {got.get('flowc_caller')!r} "
                           f"{got['flowc_caller_kind']!r}, the interpreter {want.digits!r} {want.kind!r}")
        for key, value in trace.tags.items():
            if re.fullmatch(r"[A-Za-z0-9_]+", key) and got.get(f"flowc_tag_{key}") != value:
                out.append(f"call {i}: flowc_tag_{key} = {got.get(f'flowc_tag_{key}')!r}, the tag is {value!r}")
    return out


def run_all(cases, base: Path, jobs: int) -> list[Outcome]:
    """Every case once, `jobs` at a time, longest first (the scenarios run in real time)."""
    from concurrent.futures import ThreadPoolExecutor

    def one(i_case):
        i, case = i_case
        try:
            return run_case(case, base / f"{i:03d}")
        except Exception as exc:  # noqa: BLE001 - reported as the case's verdict
            return Outcome(case, "ERROR", f"{type(exc).__name__}: {exc}")

    longest_first = sorted(enumerate(cases), key=lambda ic: -sum(c.get("max_seconds", 120) for c in ic[1].calls))
    with ThreadPoolExecutor(jobs) as pool:
        results = dict(zip([i for i, _ in longest_first], pool.map(one, longest_first)))
    return [results[i] for i in range(len(cases))]


def _case_ids(cases):
    return [c.id for c in cases]


try:
    CASES = all_cases() if engine_prefix() is not None else []
except Exception:  # noqa: BLE001 - collection must not fail where the interpreter is absent
    CASES = []


@pytest.fixture(scope="module")
def parity_results(request, tmp_path_factory) -> dict[str, Outcome]:
    """Runs the selected cases (all, or those `-k` kept) in parallel, once
    (FLOWC_ENGINE_JOBS, default 6: each FreeSWITCH mostly waits in real time)."""
    keep = os.environ.get("FLOWC_ENGINE_KEEP")
    base = Path(keep) if keep else tmp_path_factory.mktemp("fs-parity")
    selected = {item.callspec.params["case"].id for item in request.session.items
                if getattr(item, "originalname", "") == "test_freeswitch_parity"}
    cases = [c for c in CASES if c.id in selected]
    outcomes = run_all(cases, base, int(os.environ.get("FLOWC_ENGINE_JOBS", "6")))
    (base / "results.txt").write_text("\n".join(f"{o.verdict:9} {o.case.id}  {o.detail}" for o in outcomes) + "\n")
    return {o.case.id: o for o in outcomes}


@pytest.mark.parametrize("case", CASES, ids=_case_ids(CASES))
def test_freeswitch_parity(case: Case, parity_results: dict[str, Outcome]) -> None:
    if case.skip:
        pytest.skip(case.skip)
    outcome = parity_results[case.id]
    if outcome.verdict == "E501":
        pytest.skip(f"E501: {outcome.detail}")
    compare = outcome.files.get("interp")
    shown = (compare.parent / "compare.txt").read_text() if compare and (compare.parent / "compare.txt").exists() else ""
    assert outcome.verdict == "EQUAL", f"{outcome.verdict}: {outcome.detail}\n{shown}"


# ====================================================================== script


def main(argv=None) -> int:
    import argparse

    ap = argparse.ArgumentParser(description="FreeSWITCH vs interpreter parity for every scenario")
    ap.add_argument("-j", "--jobs", type=int, default=6)
    ap.add_argument("-k", default="", help="only cases whose id matches this regex")
    ap.add_argument("--keep", help="keep each case's files under this directory")
    a = ap.parse_args(argv)
    if engine_prefix() is None:
        print("no FreeSWITCH: set FLOWC_FS_PREFIX")
        return 2
    cases = [c for c in all_cases() if re.search(a.k, c.id)]
    base = Path(a.keep) if a.keep else Path(tempfile.mkdtemp(prefix="flowc-fs-parity-"))
    base.mkdir(parents=True, exist_ok=True)
    outcomes = run_all(cases, base, a.jobs)
    counts: dict[str, int] = {}
    for i, o in enumerate(outcomes):
        counts[o.verdict] = counts.get(o.verdict, 0) + 1
        print(f"{o.verdict:9} {i:03d} {o.case.id}" + (f"  -- {o.detail}" if o.detail else ""))
    print(", ".join(f"{v} {k}" for k, v in sorted(counts.items())), f"(files in {base})")
    return 0 if not any(counts.get(v) for v in ("DIFFERENT", "ERROR", "EXECUTED")) else 1


if __name__ == "__main__":
    sys.exit(main())


# ====================================================================== tenants (issue 10.6)

TENANT = """
flow {name} {{
  number {number}
  step start {{ voicemail 8000 max 10s }}
}}
"""


@pytest.mark.skipif(engine_prefix() is None, reason="no FreeSWITCH: set FLOWC_FS_PREFIX")
def test_two_tenants_with_one_mailbox_number_keep_their_messages_apart(tmp_path: Path) -> None:
    """Two flows with `voicemail 8000`, loaded into one FreeSWITCH as deployed (both contexts,
    both directory files): a call to each leaves its message in its own flow's box, never in
    one shared `8000`."""
    infos = []
    for name, number in (("tenant_a", "4006001111"), ("tenant_b", "4006002222")):
        src = tmp_path / f"{name}.flow"
        src.write_text(TENANT.format(name=name, number=number), encoding="utf-8")
        infos.append(compile_for_engine(src, tmp_path / name))
    both = tmp_path / "both"
    both.mkdir()
    dialplan = both / "dialplan.xml"  # one <include> holding both flows' contexts
    texts = [Path(i["dialplan"]).read_text(encoding="utf-8") for i in infos]
    inner = [re.sub(r"(?m)^(<\?xml[^>]*\?>|\s*</?include>)\s*\n", "", t) for t in texts]
    dialplan.write_text('<?xml version="1.0" encoding="utf-8"?>\n<include>\n' + "".join(inner) + "</include>\n",
                        encoding="utf-8")
    domains = "".join((tmp_path / name / "directory" / f"{name}.xml").read_text(encoding="utf-8")
                      .replace("<include>", "").replace("</include>", "") for name in ("tenant_a", "tenant_b"))
    assert domains.count("<domain ") == 2
    directory = both / "directory.xml"
    directory.write_text(domains, encoding="utf-8")
    calls = [{"context": i["context"], "dest": i["dest"], "caller": "13812345678", "caller_hangup_after": 5}
             for i in infos]
    scenario = {"dialplan": str(dialplan), "directory": str(directory), "extra_conf": infos[0]["extra_conf"],
                "prompt_seconds": 1, "max_seconds": 20, "calls": calls}
    sc_path = both / "scenario.json"
    sc_path.write_text(json.dumps(scenario, indent=1), encoding="utf-8")
    done = subprocess.run([sys.executable, str(HARNESS / "freeswitch" / "run_scenario.py"), "--scenario",
                           str(sc_path)], capture_output=True, text=True,
                          env=dict(os.environ, FLOWC_FS_PREFIX=str(engine_prefix())))
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    storage = tmp_path / "tenant_a" / "storage"  # the voicemail.conf.xml of the run
    boxes = {p.relative_to(storage).as_posix(): len(list(p.glob("msg_*"))) for p in storage.glob("*/8000")}
    assert boxes == {"flow-tenant_a/8000": 1, "flow-tenant_b/8000": 1}, boxes
