"""Front-end speed: parse + check of every example, a generated large flow, and
`flowc check examples/` and `flowc compile` (both targets) as fresh processes, warm (the
per-user cache folder filled by an earlier run) and cold (an empty cache folder, as on a
fresh machine or a clean clone: only what flowc/prebuilt/ ships helps).

    python bench/bench_frontend.py

Targets (issue 2): under 5 ms per example in-process; under 100 ms for a flow with
500 steps, 50 menus and 200 phones; a fresh `flowc check` close to bare Python start-up.

Measured (noisy shared machine; 15 interleaved cold/warm pairs of
`/usr/bin/time -f "%e %U" python -m flowc compile examples/*.flow --target T --out DIR`,
each pair with a new XDG_CACHE_HOME; median elapsed / user seconds), before and after
shipping the templates precompiled (flowc/prebuilt/<target>-templates.bin):
    asterisk    cold 0.96/0.86 -> 0.86/0.74   warm 0.71/0.60 -> 0.70/0.61
    freeswitch  cold 0.95/0.85 -> 0.95/0.83   warm 0.64/0.54 -> 0.66/0.60
In-process, a cold environment plus loading every template: asterisk 97 -> 27 ms,
freeswitch 20 -> 9 ms (warm, from the bytecode cache: 4.5 -> 6.7 ms, 2 -> 4 ms).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flowc.checks import CheckOptions  # noqa: E402
from flowc.pipeline import Workspace  # noqa: E402

OPTIONS = CheckOptions(years=[2026])


def timed(fn, repeat: int) -> float:
    """Median milliseconds of `repeat` runs (after one warm-up run)."""
    fn()
    samples = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t) * 1000)
    return statistics.median(samples)


def large_flow(steps: int = 500, menus: int = 50, phones: int = 200) -> str:
    """A generated flow: `menus` menus of 9 options, groups holding `phones` phones,
    and plain steps up to `steps` in all."""
    out = []
    per_group = 20
    groups = phones // per_group
    for g in range(groups):
        members = " ".join(f"138{g:04d}{i:04d}" for i in range(per_group))
        out.append(f"group g{g} {{ strategy round_robin ring 2s {members} }}")
    out.append("flow large { number 4008001234 max_ring 600s")
    out.append("  step start { goto m0 }")
    count = 1
    for m in range(menus):
        options = " ".join(f"{k} -> s{m}_{k}" for k in range(1, 10))
        nxt = f"m{m + 1}" if m + 1 < menus else "end"
        out.append(f'  step m{m} {{ menu {{ prompt "p/m{m}" {options} 0 -> {nxt} exhausted -> end }} }}')
        count += 1
    plain = max(0, steps - count - 1)
    per_menu = plain // menus
    for m in range(menus):
        for k in range(1, 10):
            if k <= per_menu:
                out.append(f'  step s{m}_{k} {{ play "p/s{m}_{k}" dial g{(m * 9 + k) % groups} {{ failed -> end }} }}')
            else:
                out.append(f'  step s{m}_{k} {{ play "p/s{m}_{k}" goto end }}')
    out.append('  step end { play "p/bye" hangup }')
    out.append("}")
    return "\n".join(out)


def main() -> None:
    print("parse + check, in-process (median of 50):")
    for path in sorted((ROOT / "examples").glob("*.flow")):
        ms = timed(lambda: Workspace().assemble(path, options=OPTIONS), 50)
        print(f"  {path.name:28s} {ms:6.2f} ms")
    text = large_flow()
    n_steps = text.count("step ")
    result = Workspace().assemble("large.flow", text=text, options=OPTIONS)
    assert result.ok, [str(d.message) for d in result.diagnostics if d.severity.value == "error"][:5]
    ms = timed(lambda: Workspace().assemble("large.flow", text=text, options=OPTIONS), 10)
    print(f"large flow ({n_steps} steps, 50 menus, 200 phones): {ms:.1f} ms")

    def fresh(args, env=None):
        t = time.perf_counter()
        subprocess.run(args, cwd=ROOT, capture_output=True, env=env)
        return (time.perf_counter() - t) * 1000

    def median_fresh(args, runs: int = 7) -> float:
        fresh(args)  # warms the caches in the cache folder (parser tables, templates, phones)
        return statistics.median(fresh(args) for _ in range(runs))

    def median_cold(args, runs: int = 7) -> float:
        """Each run with a new, empty XDG_CACHE_HOME."""
        samples = []
        for _ in range(runs):
            with tempfile.TemporaryDirectory() as cache:
                samples.append(fresh(args, env={**os.environ, "XDG_CACHE_HOME": cache}))
        return statistics.median(samples)

    flowc = [sys.executable, "-m", "flowc"]
    bare = median_fresh([sys.executable, "-c", "pass"])
    check = median_fresh([*flowc, "check", "examples/", "--year", "2026", "-q"])
    print(f"fresh process (median of 7): bare python {bare:.0f} ms, `flowc check examples/` {check:.0f} ms")
    examples = [str(p.relative_to(ROOT)) for p in sorted((ROOT / "examples").glob("*.flow"))]
    with tempfile.TemporaryDirectory() as out:
        for target in ("asterisk", "freeswitch"):
            for label, files in (("examples/small_shop.flow", ["examples/small_shop.flow"]), ("examples/*.flow", examples)):
                args = [*flowc, "compile", *files, "--target", target, "--out", out, "--year", "2026"]
                warm, cold = median_fresh(args), median_cold(args)
                print(f"  `flowc compile {label} --target {target}` warm {warm:.0f} ms, cold cache {cold:.0f} ms")


if __name__ == "__main__":
    main()
