"""Benchmark of `flowc diff` (plain script): `python bench/bench_diff.py`.

For every example: the time to diff it against a changed version of itself (one ring time,
one menu key, one schedule or group changed, as a reviewer would) and against itself with
the exploration forced (every class explored, no shortcut for identical flows). Then the
whole examples/ directory against a changed copy, as a fresh `flowc diff` process.
Targets: under 2 s per pair, under 10 s for the directory.
"""

from __future__ import annotations

import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flowc.diff.report import diff_flows  # noqa: E402
from flowc.pipeline import Workspace  # noqa: E402

YEARS = [2026, 2027]
PAIR_S, DIR_S = 2.0, 10.0


def changed(text: str) -> str:
    """A small edit of a flow that changes behaviour: a ring time, else a menu key, else a split."""
    for pattern, repl in ((r"ring (\d+)s", lambda m: f"ring {int(m.group(1)) + 5}s"),
                          (r"(\n\s+)1 -> ", r"\g<1>4 -> "),
                          (r"70% -> one\n(\s+)30%", r"60% -> one\n\g<1>40%")):
        new, n = re.subn(pattern, repl, text, count=1)
        if n:
            return new
    return text + "\n"


def main() -> None:
    worst = 0.0
    for path in sorted((ROOT / "examples").glob("*.flow")):
        text = path.read_text(encoding="utf-8")
        t0, c0 = time.perf_counter(), time.process_time()
        old = Workspace().assemble(path).flow
        new = Workspace().assemble(path, text=changed(text)).flow
        fd = diff_flows(old, new, YEARS)
        t_change, c_change = time.perf_counter() - t0, time.process_time() - c0
        c0 = time.process_time()
        same = diff_flows(old, old, YEARS, force=True)
        c_self = time.process_time() - c0
        ex = fd.exploration
        worst = max(worst, c_change, c_self)
        sampled = " sampled" if ex and ex.cut_budget else ""
        print(f"{path.name:26} changed: {c_change * 1000:5.0f} ms CPU ({t_change * 1000:5.0f} wall; "
              f"{len(ex.leaves) if ex else 0} classes{sampled}, {ex.calls if ex else 0} calls, "
              f"{sum(len(g['classes']) for g in fd.groups)} differ)   itself, forced: {c_self * 1000:4.0f} ms CPU")
    print(f"slowest pair: {worst * 1000:.0f} ms CPU (baseline < {PAIR_S * 1000:.0f} ms; wall time is longer on "
          "a machine shared with other work)")
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "examples"
        shutil.copytree(ROOT / "examples", copy)
        for f in copy.glob("*.flow"):
            f.write_text(changed(f.read_text(encoding="utf-8")), encoding="utf-8")
        flowc = [str(ROOT / ".venv/bin/flowc")] if (ROOT / ".venv/bin/flowc").exists() else \
            [sys.executable, "-m", "flowc"]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        subprocess.run(flowc + ["diff", str(ROOT / "examples"), str(copy), "--exit-zero", "--year", "2026",
                                "--year", "2027"], check=True, stdout=subprocess.DEVNULL,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
        wall = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    print(f"`flowc diff examples/ <changed copy>`, fresh process: {wall * 1000:.0f} ms wall, {cpu * 1000:.0f} ms CPU "
          f"(baseline < {DIR_S * 1000:.0f} ms)")
    ok = worst < PAIR_S and cpu < DIR_S
    print("OK" if ok else "SLOW")


if __name__ == "__main__":
    main()
