"""Scaling in the number of steps: every phase of one flow (parse, transform, check, and
per target the E501 pass and rendering) on generated flows of 1k, 10k and 50k steps,
in CPU seconds and microseconds per step, and the ratio of each phase's cost per step to
its cost per step at the smallest size, measured in this run. A near-linear phase keeps
that ratio near 1 (allow ~2 for a busy machine and larger working sets); a quadratic one
shows ~10 at 10k and ~50 at 50k (before the fix the Asterisk E501 pass took 109 s at 10k).

    python bench/bench_scale.py                  # 1000 10000 50000 steps
    python bench/bench_scale.py 1000 20000       # other sizes (the first is the baseline)

Each size runs in a fresh process (no heap or cache left over from another size), after
one warm-up of the same phases on a small flow; the cache folder is whatever the per-user
one holds (the per-size figures do not use it: no template or region table is involved
that a warm-up has not already loaded). The generated flows mix menus with a key back to
an earlier menu (so the step graph has large cycles), recordings (the flow's 90 days, then 30 in steps: the S-ACT-3 pass walks the whole graph),
dials of phones and groups with failover, tags and plain steps.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PHASES = ["parse", "transform", "check", "asterisk e501", "asterisk render", "freeswitch e501", "freeswitch render"]


def scale_flow(steps: int) -> str:
    """A valid flow of `steps` steps (plus `start` and `end`), every step reachable."""
    out = ['phone p0 13800000000', 'phone p1 "0571-8765 4321"',
           "group g0 { strategy round_robin ring 10s 13800000001 13800000002 13800000003 }",
           "group g1 { strategy sequential ring 10s 13800000004 13800000005 }",
           "flow big { number 4008001234 record retain 90d", "  step start { goto s0 }"]
    for i in range(steps):
        nxt = f"s{i + 1}" if i + 1 < steps else "end"
        k = i % 10
        if k == 0:
            back = f"s{i - 10}" if i >= 10 else "start"
            body = (f'menu {{ prompt "p/m{i}" 1 -> {nxt} 2 -> s{min(i + 2, steps - 1)} 9 -> {back} '
                    '* -> repeat exhausted -> end }')
        elif k == 3:
            body = f'record retain 30d play "p/r{i}" goto {nxt}'
        elif k == 5:
            body = f"dial g{(i // 10) % 2} {{ failed -> {nxt} }}"
        elif k == 7:
            body = f'tag t{i} = "v{i}" dial p{(i // 10) % 2} {{ busy -> {nxt} no_answer -> {nxt} failed -> end }}'
        else:
            body = f'play "p/s{i}" goto {nxt}'
        out.append(f"  step s{i} {{ {body} }}")
    out.append('  step end { play "p/bye" voicemail 8000 }')
    out.append("}")
    return "\n".join(out) + "\n"


def measure(steps: int) -> dict[str, float]:
    """CPU seconds of each phase for a flow of `steps` steps, run as the pipeline runs them."""
    from flowc.checks import CheckOptions, check
    from flowc.emit import get_target
    from flowc.gcpause import paused
    from flowc.parser import parse
    from flowc.settings import Settings
    from flowc.source import SourceFile
    from flowc.transform import transform

    settings = Settings(years=[2026])
    targets = [get_target(name, settings) for name in ("asterisk", "freeswitch")]

    def run(text: str, times: dict[str, float]) -> None:
        def phase(name, fn):
            t = time.process_time()
            value = fn()
            times[name] = times.get(name, 0.0) + time.process_time() - t
            return value

        source = SourceFile("scale.flow", text)
        with paused():  # as Workspace.assemble runs these phases (flowc/gcpause.py)
            tree = phase("parse", lambda: parse(source))
            module, diags, _ = phase("transform", lambda: transform(source, tree))
            assert module is not None and not diags, diags[:3]
            decls = {k: {d.name: d for d in getattr(module, k)} for k in ("phones", "groups", "schedules", "lists",
                                                                           "surveys")}
            flow_in = module.flows[0].model_copy(update=decls)
            opts = CheckOptions(years=[2026])
            opts.own_file = "scale.flow"
            flow, problems = phase("check", lambda: check(flow_in, opts))
            assert not [d for d in problems if d.severity.value == "error"], problems[:3]
        for target in targets:
            problems = phase(f"{target.name} e501", lambda: target.unsupported(flow))
            assert not problems, [p.message for p in problems][:3]
            phase(f"{target.name} render", lambda: target.render(flow))

    run(scale_flow(50), {})  # warm-up: templates, parser tables, phone data
    times: dict[str, float] = {}
    run(scale_flow(steps), times)
    return times


def main(argv: list[str]) -> None:
    if argv[:1] == ["--child"]:
        print(json.dumps(measure(int(argv[1]))))
        return
    sizes = [int(a) for a in argv] or [1000, 10000, 50000]
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _common import cache_state

    print(cache_state(), "(no phase measured reads it after the warm-up)")
    print(f"per-phase CPU time of one flow, each size in a fresh process ({sys.executable})")
    print(f"{'steps':>7} " + " ".join(f"{p:>17}" for p in PHASES))
    per_step: dict[int, dict[str, float]] = {}
    for n in sizes:
        proc = subprocess.run([sys.executable, __file__, "--child", str(n)], capture_output=True, text=True, cwd=ROOT)
        if proc.returncode != 0:
            print(f"{n:>7} failed:\n{proc.stderr[-2000:]}")
            continue
        times = json.loads(proc.stdout)
        per_step[n] = {p: times[p] / n * 1e6 for p in PHASES}
        print(f"{n:>7} " + " ".join(f"{times[p]:>9.2f}s {per_step[n][p]:>4.0f}us" for p in PHASES)
              + f"   total {sum(times.values()):.1f}s")
    if len(per_step) > 1:
        base = min(per_step)
        print(f"cost per step relative to {base} steps (1.0 = linear):")
        for n in sorted(per_step):
            if n != base:
                print(f"{n:>7} " + " ".join(f"{per_step[n][p] / per_step[base][p]:>17.2f}" for p in PHASES))


if __name__ == "__main__":
    main(sys.argv[1:])
