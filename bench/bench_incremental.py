"""Incremental compile and memory of `flowc compile` on generated platforms (bench/gen_platform.py).

    python bench/bench_incremental.py                 # N = 400 and 2000
    python bench/bench_incremental.py --flows 400     # one size

For each N, in fresh `flowc` processes (wall time, CPU time user+sys, peak RSS of the child
from wait4), into a new output directory:

    full      compile everything, per-user cache folder empty (a fresh CI runner)
    full      compile everything again into a new directory, cache now warm
    no change recompile, nothing changed
    one flow  recompile after one flow's prompt changed (its files differ)
    library   recompile after one tenant library changed (its flows are recompiled)
    check     --check with nothing changed, and after one flow changed (exit 1)

Each figure is printed with the baseline measured in the same run: a process that imports
flowc's dependencies and exits (`import lark, pydantic, jinja2, typer`), so noisy machines
can be compared. Targets (issue 11): no change and one changed at 2,000 flows under 3 s /
4 s, peak memory under 250 MB and independent of N.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from gen_platform import generate  # noqa: E402


def run(args: list[str], cwd: Path, env: dict) -> tuple[float, float, float, int, str]:
    """(wall s, cpu s, peak MB, exit code, stderr's last line) of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(args, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    stderr = b""
    # wait4 gives this child's own rusage (peak RSS, CPU), whatever else runs.
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    stderr = proc.stderr.read() if proc.stderr else b""
    proc.returncode = os.waitstatus_to_exitcode(status)
    last = stderr.decode(errors="replace").strip().splitlines()[-1:] or [""]
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, proc.returncode, last[0]


def snapshot_code(work: Path) -> Path:
    """A copy of flowc's code, grammar and templates for this run: every figure is of one
    version of flowc even while the checkout is being edited (flowc's code is part of each
    flow's fingerprint)."""
    src = work / "src"
    if not src.exists():
        ignore = shutil.ignore_patterns("__pycache__")
        for name in ("flowc", "grammar", "targets"):
            shutil.copytree(ROOT / name, src / name, ignore=ignore)
    return src


def flowc(*args: str) -> list[str]:
    return [sys.executable, "-m", "flowc", *args]


def bench(n: int, work: Path, cache: Path, cold: bool = True) -> None:
    plat = work / f"p{n}"
    if plat.exists():
        shutil.rmtree(plat)
    plat.mkdir(parents=True)
    (plat / ".git").mkdir()  # the project root
    counts = generate(n, plat / "plat")
    env = {**os.environ, "XDG_CACHE_HOME": str(cache), "PYTHONPATH": str(snapshot_code(work))}
    shutil.rmtree(cache, ignore_errors=True)
    cache.mkdir()
    baseline = run([sys.executable, "-c", "import lark, pydantic, jinja2, typer"], plat, env)
    compile_ = flowc("compile", "plat", "--target", "all", "--out", "out")
    rows = []

    def measure(label: str, args: list[str] = compile_, expect: int = 0) -> None:
        wall, cpu, peak, code, last = run(args, plat, env)
        if code != expect:
            raise SystemExit(f"{label}: exit {code}, expected {expect}: {last}")
        rows.append((label, wall, cpu, peak, last))

    if cold:
        measure("full compile, empty cache folder")
        shutil.rmtree(plat / "out")
        shutil.rmtree(plat / ".out.flowc")
    else:
        run(flowc("version"), plat, env)
    cache_files = sum(1 for _ in cache.rglob("*"))
    measure(f"full compile, cache folder: {cache_files} files")
    measure("recompile, nothing changed")
    measure("--check, nothing changed", [*compile_, "--check"])
    flow = sorted((plat / "plat" / "flows").glob("*.flow"))[n // 2]
    text = flow.read_text(encoding="utf-8")
    changed = text.replace('  title "', '  title "changed ', 1)
    assert changed != text, flow
    flow.write_text(changed, encoding="utf-8")
    measure("--check, one flow changed", [*compile_, "--check"], expect=1)
    measure("recompile, one flow changed")
    lib = sorted((plat / "plat" / "tenants").glob("*.flow"))[0]
    lib.write_text(lib.read_text(encoding="utf-8") + "\n// touched\n", encoding="utf-8")
    measure("recompile, one tenant library changed")
    size = sum(p.stat().st_size for p in (plat / "out").rglob("*") if p.is_file())
    files = sum(1 for p in (plat / "out").rglob("*") if p.is_file())

    print(f"\n## N = {n} flows ({', '.join(f'{k} {v}' for k, v in sorted(counts.items()))})")
    print(f"output: {files} files, {size / 1e6:.1f} MB; baseline process (import lark, pydantic, jinja2, typer): "
          f"{baseline[0]:.2f} s wall, {baseline[1]:.2f} s cpu, {baseline[2]:.0f} MB")
    print(f"{'run':<44} {'wall s':>7} {'cpu s':>7} {'x base':>7} {'peak MB':>8}  summary")
    for label, wall, cpu, peak, last in rows:
        print(f"{label:<44} {wall:7.2f} {cpu:7.2f} {cpu / baseline[1]:7.1f} {peak:8.0f}  {last[:90]}")
    sys.stdout.flush()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--flows", type=int, action="append", help="platform size (repeatable; default 400 and 2000)")
    ap.add_argument("--no-cold", action="store_true", help="skip the compile with an empty cache folder")
    ap.add_argument("--keep", type=Path, help="work in this folder and keep it (default: a temporary one)")
    args = ap.parse_args()
    sizes = args.flows or [400, 2000]
    work = args.keep or Path(tempfile.mkdtemp(prefix="flowc-bench-inc-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; "
          f"each run is a new `flowc` process; cache = a fresh XDG_CACHE_HOME per N (state given per row)")
    try:
        for n in sizes:
            bench(n, work, work / f"cache{n}", cold=not args.no_cold)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
