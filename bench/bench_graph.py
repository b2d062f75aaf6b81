"""Benchmark of `flowc graph` (plain script): `python bench/bench_graph.py`.

Generates a 500-step flow (menus, dials of groups, time/region/caller branches, splits,
inline blocks) and prints the time to draw it: in-process (parse + check + graph + dot and
Mermaid text, best of 5) and as a fresh `flowc graph --format dot` process. Target: under
1 s. Also prints the time of Graphviz's own layout (`--format svg`) for information.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flowc import graph as G  # noqa: E402
from flowc.pipeline import Workspace  # noqa: E402

BASELINE_S = 1.0


def big_flow(steps: int = 500) -> str:
    out = ["schedule open { workdays 09:00-18:00 }", "list vip { 13800138000 \"139*\" }"]
    for g in range(10):
        out.append(f"group team{g} {{ strategy {('sequential', 'ring_all', 'random', 'round_robin')[g % 4]} "
                   f"ring 20s 138{g:04d}0001 138{g:04d}0002 138{g:04d}0003 }}")
    out.append("flow big {\n  number 400-600-1234\n  title \"大型热线\"")
    for i in range(steps):
        nxt, nxt2 = f"s{min(i + 1, steps - 1)}", f"s{min(i + 2, steps - 1)}"
        kind = i % 6
        if i == steps - 1:
            body = 'play "bye"\n    hangup'
        elif kind == 0:
            body = (f'menu {{ prompt "m{i}" 1 -> {nxt} 2 -> {nxt2} 3 -> {{ play "x{i}" goto {nxt} }} '
                    f'* -> repeat exhausted -> {nxt} }}')
        elif kind == 1:
            body = f"dial team{i % 10} {{ busy -> {nxt} failed -> {nxt2} }}"
        elif kind == 2:
            body = f"branch time {{ open -> {nxt} else -> {nxt2} }}"
        elif kind == 3:
            body = f"branch region {{ 广东, 北京 -> {nxt} 浙江 -> {nxt2} else -> {nxt} }}"
        elif kind == 4:
            body = f"branch caller {{ vip -> {nxt} withheld -> {nxt2} else -> {nxt} }}"
        else:
            body = f"split {{ 60% -> {nxt} 40% -> {nxt2} }}"
        out.append(f"  step s{i} {{\n    {body}\n  }}")
    out.append("}")
    return "\n".join(out) + "\n"


def main() -> None:
    text = big_flow()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.flow"
        path.write_text(text, encoding="utf-8")
        best = float("inf")
        for _ in range(5):
            t0 = time.perf_counter()
            result = Workspace().assemble(path)
            assert result.flow is not None, [str(d.message) for d in result.diagnostics][:3]
            g = G.build(result.flow, str(path))
            G.to_dot(g)
            G.to_mermaid(g)
            best = min(best, time.perf_counter() - t0)
        steps = len(result.flow.steps)
        print(f"graph of a {steps}-step flow in-process (parse+check+draw dot and mermaid): "
              f"{best * 1000:.0f} ms (baseline < {BASELINE_S * 1000:.0f} ms)")
        flowc = [str(ROOT / ".venv/bin/flowc")] if (ROOT / ".venv/bin/flowc").exists() else \
            [sys.executable, "-m", "flowc"]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        def child_cpu() -> float:
            r = resource.getrusage(resource.RUSAGE_CHILDREN)
            return r.ru_utime + r.ru_stime

        c0, t0 = child_cpu(), time.perf_counter()
        subprocess.run(flowc + ["graph", str(path), "--format", "dot", "--out", str(Path(tmp) / "big.dot")],
                       check=True, env=env)
        fresh, cpu = time.perf_counter() - t0, child_cpu() - c0
        print(f"`flowc graph --format dot` of the same flow, fresh process: {fresh * 1000:.0f} ms wall, "
              f"{cpu * 1000:.0f} ms CPU (baseline < {BASELINE_S * 1000:.0f} ms)")
        if shutil.which("dot"):
            c0, t0 = child_cpu(), time.perf_counter()
            subprocess.run(flowc + ["graph", str(path), "--format", "svg", "--out", str(Path(tmp) / "big.svg")],
                           check=True, env=env)
            print(f"`flowc graph --format svg` (Graphviz's layout of every node included): "
                  f"{(time.perf_counter() - t0) * 1000:.0f} ms wall, {(child_cpu() - c0) * 1000:.0f} ms CPU "
                  "(for information)")
        verdict = "OK" if max(best, cpu) < BASELINE_S else "SLOW"
        print(f"{verdict}: a {steps}-step flow draws in under {BASELINE_S:.0f} s" if verdict == "OK"
              else f"{verdict}: over {BASELINE_S:.0f} s")


if __name__ == "__main__":
    main()
