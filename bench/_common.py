"""Shared by the benchmarks: the state of the cache folder they run with, and interleaved
fresh-process timings (so that each figure has its baseline measured in the same run, on
the same noisy machine)."""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def cache_state(folder: Path | None = None) -> str:
    """One line: which cache folder, how full, and what of it matters (cold = empty)."""
    if folder is None:
        sys.path.insert(0, str(ROOT))
        from flowc.resources import cache_dir

        folder = cache_dir()
    if folder is None or not folder.is_dir():
        return "cache folder: none (nothing is cached: every run is cold)"
    files = [p for p in folder.iterdir() if p.is_file()]
    size = sum(p.stat().st_size for p in files)
    kinds: dict[str, int] = {}
    for p in files:
        kinds[p.name.split("-")[0]] = kinds.get(p.name.split("-")[0], 0) + 1
    state = "cold (empty)" if not files else "warm"
    detail = ", ".join(f"{k} {n}" for k, n in sorted(kinds.items()))
    return f"cache folder {folder}: {state}, {len(files)} entries, {size / 1e6:.1f} MB ({detail})"


def use_cold_cache() -> tempfile.TemporaryDirectory:
    """Point this process (and its children) at a new, empty cache folder."""
    tmp = tempfile.TemporaryDirectory(prefix="flowc-bench-cache-")
    os.environ["XDG_CACHE_HOME"] = tmp.name
    return tmp


def bytecode_state() -> str:
    """PYTHONDONTWRITEBYTECODE makes every fresh process compile flowc's modules from source
    (an installed wheel has them compiled): say which case the figures are."""
    compiled = (ROOT / "flowc" / "__pycache__").is_dir()
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        return ("bytecode: PYTHONDONTWRITEBYTECODE is set; flowc's modules "
                + ("use the .pyc files present (python -m compileall flowc)" if compiled else "are compiled from source in every process"))
    return "bytecode: written and reused as usual"


def fresh(cmds: dict, rounds: int, env: dict | None = None) -> dict[str, tuple[float, float]]:
    """{label: (median wall ms, median cpu ms)} of fresh processes, the commands interleaved
    round by round so that machine noise hits all of them alike; one warm-up round first."""
    samples: dict[str, list[tuple[float, float]]] = {k: [] for k in cmds}
    for r in range(rounds + 1):
        for label, args in cmds.items():
            extra = (env or {}).get(label)
            extra = extra() if callable(extra) else extra  # e.g. a new empty cache folder per run
            argv = args() if callable(args) else args  # e.g. a new output folder per run
            r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            t = time.perf_counter()
            subprocess.run(argv, cwd=ROOT, capture_output=True, env={**os.environ, **extra} if extra else None)
            wall = (time.perf_counter() - t) * 1000
            r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = (r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime) * 1000
            if r:
                samples[label].append((wall, cpu))
    return {k: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v)) for k, v in samples.items()}
