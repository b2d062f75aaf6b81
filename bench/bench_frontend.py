"""Front-end speed, every figure measured in this run next to its baseline:

* parse + check of every example in-process (median of 50);
* the generated large flow (500 steps, 50 menus, 200 phones): parse + check, and rendering
  for each target (goal: under 100 ms each);
* fresh processes, interleaved round by round with their baselines: bare `python -c pass`,
  `import typer`, the import floor of flowc's dependencies (`import lark, pydantic, jinja2,
  typer`), `flowc version` (goal: within 1.1x of `import typer`), `flowc check FILE` (goal:
  within 1.3x of the floor), `flowc compile` warm (the cache folder of an earlier round) and
  cold (a new empty cache folder each run: a fresh machine or CI runner; goal: within 1.3x
  of warm). Wall and CPU medians: CPU time is the steadier figure on a shared machine.

    python bench/bench_frontend.py [--rounds N]

It prints the cache folder and bytecode state it ran with.
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


def main(argv: list[str] | None = None) -> None:
    import argparse

    from _common import bytecode_state, cache_state, fresh

    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=9)
    rounds = ap.parse_args(argv).rounds
    print(cache_state())
    print(bytecode_state())
    print("parse + check, in-process (median of 50):")
    for path in sorted((ROOT / "examples").glob("*.flow")):
        ms = timed(lambda: Workspace().assemble(path, options=OPTIONS), 50)
        print(f"  {path.name:28s} {ms:6.2f} ms")
    text = large_flow()
    n_steps = text.count("step ")
    result = Workspace().assemble("large.flow", text=text, options=OPTIONS)
    assert result.ok, [str(d.message) for d in result.diagnostics if d.severity.value == "error"][:5]
    ms = timed(lambda: Workspace().assemble("large.flow", text=text, options=OPTIONS), 10)
    print(f"large flow ({n_steps} steps, 50 menus, 200 phones): parse + check {ms:.1f} ms")
    from flowc.emit import get_target
    from flowc.settings import Settings

    for name in ("asterisk", "freeswitch"):
        target = get_target(name, Settings(years=[2026]))
        out = target.render(result.flow)
        ms = timed(lambda: target.render(result.flow), 5)
        size = sum(len(v.encode()) for v in out.values())
        print(f"  render {name:10s} {ms:6.1f} ms, {size / 1e6:.2f} MB  (goal < 100 ms)")

    py = sys.executable
    flowc = [py, "-m", "flowc"]
    examples = [str(p.relative_to(ROOT)) for p in sorted((ROOT / "examples").glob("*.flow"))]
    def compile_all() -> list[str]:  # a new output folder each run: a full compile, not an incremental one
        out_dir = tempfile.mkdtemp(prefix="flowc-bench-out-")
        return [*flowc, "compile", *examples, "--target", "all", "--out", out_dir, "--year", "2026"]

    cmds = {
        "python -c pass": [py, "-c", "pass"],
        "import typer": [py, "-c", "import typer"],
        "floor: import lark, pydantic, jinja2, typer": [py, "-c", "import lark, pydantic, jinja2, typer"],
        "flowc version": [*flowc, "version"],
        "flowc check examples/small_shop.flow": [*flowc, "check", "examples/small_shop.flow", "-q"],
        "flowc compile examples/*.flow, warm cache": compile_all,
        "flowc compile examples/*.flow, cold cache": compile_all,
    }
    warm = tempfile.mkdtemp(prefix="flowc-bench-warm-")
    env = {label: {"XDG_CACHE_HOME": warm} for label in cmds}
    env["flowc compile examples/*.flow, cold cache"] = lambda: {"XDG_CACHE_HOME": tempfile.mkdtemp(prefix="flowc-bench-cold-")}
    got = fresh(cmds, rounds, env)
    print(f"fresh processes, {rounds} interleaved rounds (medians; the warm cache folder is {warm}):")
    for label, (wall, cpu) in got.items():
        print(f"  {label:45s} wall {wall:7.0f} ms  cpu {cpu:7.0f} ms")

    def ratio(a: str, b: str, goal: float) -> None:
        (wa, ca), (wb, cb) = got[a], got[b]
        print(f"  {a} / {b}: wall {wa / wb:.2f}x, cpu {ca / cb:.2f}x  (goal {goal}x)")

    print("ratios, measured in this run:")
    ratio("flowc version", "import typer", 1.1)
    ratio("flowc check examples/small_shop.flow", "floor: import lark, pydantic, jinja2, typer", 1.3)
    ratio("flowc compile examples/*.flow, cold cache", "flowc compile examples/*.flow, warm cache", 1.3)


if __name__ == "__main__":
    main()
