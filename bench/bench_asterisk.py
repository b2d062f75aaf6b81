"""Benchmark of the Asterisk target (issue 4): compile time per flow and the cost of a
whole-country region table.

    python bench/bench_asterisk.py            # compile figures, with the per-user cache folder
    python bench/bench_asterisk.py --cold     # the same with a new, empty cache folder (a CI runner)
    FLOWC_ASTERISK_PREFIX=/opt/flowc-engines/asterisk python bench/bench_asterisk.py --engine

Figures printed:
* every example compiled to Asterisk in one process (parse, check, render), per flow:
  target < 20 ms a flow (the first flow pays for imports and data loading; the figure is the
  median over repeated runs of the warm compiler, plus the cold first run);
* a flow whose region branch has all 31 provinces, each its own arm: build of the prefix table
  plus rendering, target < 1 s; and its size (prefixes, contexts, lines);
* with --engine: Asterisk's boot (dialplan load) with that flow minus the boot with a small
  flow, and the time of a lookup, through the shared harness.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

YEARS = [2026, 2027]


def country_flow_text() -> str:
    """A flow with one region branch: every province of mainland China its own arm."""
    from flowc import regions

    provinces = [r for r in regions.all_regions() if r.level == "province"]
    arms = "\n".join(f"      {p.name_zh} -> p{i}" for i, p in enumerate(provinces))
    steps = "\n".join(f'  step p{i} {{ play "country/p{i}" hangup }}' for i in range(len(provinces)))
    return f"""// every province its own arm (bench_asterisk.py)
flow country {{
  number 400-800-0031
  step start {{
    branch region {{
{arms}
      else -> other
    }}
  }}
{steps}
  step other {{ play "country/other" hangup }}
}}
"""


def _target(**overrides):
    from flowc.emit import get_target
    from flowc.settings import load_settings

    opts = {"years": YEARS}
    opts.update({f"asterisk.{k}": v for k, v in overrides.items()})
    return get_target("asterisk", load_settings(overrides=opts, cwd=ROOT))


def compile_path(path: Path, target) -> dict[str, str]:
    from flowc.checks import CheckOptions
    from flowc.pipeline import check_file

    result = check_file(path, CheckOptions(years=YEARS))
    assert result.flow is not None, [str(d) for d in result.diagnostics]
    assert not target.unsupported(result.flow)
    return target.render(result.flow)


def bench_examples(repeat: int = 5) -> dict:
    target = _target()
    flows = sorted((ROOT / "examples").glob("*.flow"))
    t0 = time.perf_counter()
    for f in flows:
        compile_path(f, target)
    cold = (time.perf_counter() - t0) / len(flows)
    per_flow: dict[str, float] = {}
    for f in flows:
        times = []
        for _ in range(repeat):
            t = time.perf_counter()
            compile_path(f, target)
            times.append(time.perf_counter() - t)
        per_flow[f.stem] = statistics.median(times)
    return {"cold_ms_per_flow": cold * 1000, "warm_ms": {k: v * 1000 for k, v in per_flow.items()}}


def bench_cli() -> dict:
    """`flowc compile examples/ --target asterisk` in a fresh process: wall time per flow."""
    flows = sorted((ROOT / "examples").glob("*.flow"))
    with tempfile.TemporaryDirectory() as out:
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "flowc", "compile", *map(str, flows), "--target", "asterisk",
                        "--out", out, "--year", str(YEARS[0]), "--year", str(YEARS[1])],
                       cwd=ROOT, check=True, capture_output=True)
        total = time.perf_counter() - t
    return {"flows": len(flows), "total_s": total}


def bench_country() -> dict:
    from flowc.pipeline import check_text
    from flowc.checks import CheckOptions

    text = country_flow_text()
    target = _target()
    t = time.perf_counter()
    result = check_text(text, "country.flow", CheckOptions(years=YEARS))
    checked = time.perf_counter() - t
    assert result.flow is not None, [str(d) for d in result.diagnostics]
    t = time.perf_counter()
    files = target.render(result.flow)
    rendered = time.perf_counter() - t
    conf = files["country.conf"]
    return {"check_s": checked, "render_s": rendered, "total_s": checked + rendered,
            "lines": conf.count("\n"), "bytes": len(conf.encode()), "contexts": conf.count("\n[") + 1,
            "patterns": conf.count("\nexten => _"), "text": text}


def bench_engine(country_text: str) -> dict | None:
    """Boot time with the whole-country table minus with small_shop, and one lookup."""
    prefix = os.environ.get("FLOWC_ASTERISK_PREFIX")
    harness = Path(os.environ.get("FLOWC_HARNESS_DIR", "/work/shared/harness")) / "asterisk" / "run_scenario.py"
    if not prefix or not harness.is_file():
        return None
    sys.path.insert(0, str(ROOT / "tests" / "engine"))
    from test_asterisk_engine import compile_for_engine  # noqa: E402

    work = Path(tempfile.mkdtemp(prefix="flowc-bench-asterisk-"))
    (work / "country.flow").write_text(country_text, encoding="utf-8")
    big = compile_for_engine(work / "country.flow", work / "big")
    small = compile_for_engine(ROOT / "examples" / "small_shop.flow", work / "small")
    env = dict(os.environ, FLOWC_ASTERISK_PREFIX=prefix)

    def boot(c) -> float:
        out = subprocess.run([sys.executable, str(harness), "--dialplan", str(c.dialplan), "--conf-dir", str(c.dir),
                              "--context", c.context, "--exten", c.exten, "--check-only", "--strict"],
                             capture_output=True, text=True, env=env)
        return json.loads(out.stdout)["asterisk"]["boot_seconds"]

    boots_big = [boot(big) for _ in range(3)]
    boots_small = [boot(small) for _ in range(3)]
    # one call from a Guangzhou mobile: time from the branch step to the arm's first step
    out = subprocess.run([sys.executable, str(harness), "--dialplan", str(big.dialplan), "--conf-dir", str(big.dir),
                          "--context", big.context, "--exten", big.exten, "--caller", "13802880000",
                          "--max-seconds", "10"], capture_output=True, text=True, env=env)
    trace = json.loads(out.stdout)
    steps = trace.get("steps", [])
    start = next((s["t"] for s in steps if s["context"].endswith("-start")), None)
    arm = next((s for s in steps if s["context"].startswith(big.context + "-p") and "-start" not in s["context"]), None)
    lookup_steps = [s for s in steps if "--r" in s["context"]]
    return {"boot_big_s": min(boots_big), "boot_small_s": min(boots_small),
            "table_load_s": min(boots_big) - min(boots_small),
            "lookup_ms": (arm["t"] - start) * 1000 if arm and start is not None else None,
            "lookup_steps": len(lookup_steps), "arm": arm["context"] if arm else None}


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _common import cache_state, use_cold_cache

    cold_cache = use_cold_cache() if "--cold" in argv else None  # a fresh machine: an empty cache folder
    print(cache_state(), "(--cold: a new, empty one)" if cold_cache is not None else "")
    ex = bench_examples()
    print(f"examples, cold (first run, imports and data included): {ex['cold_ms_per_flow']:.1f} ms a flow")
    for name, ms in ex["warm_ms"].items():
        print(f"  {name:22} {ms:7.1f} ms  {'ok' if ms < 20 else 'SLOW (target < 20 ms)'}")
    cli = bench_cli()
    print(f"flowc compile of all {cli['flows']} examples in a fresh process (interpreter start-up included): "
          f"{cli['total_s']:.2f} s = {cli['total_s'] * 1000 / cli['flows']:.0f} ms a flow")
    country = bench_country()
    print(f"whole-country region branch (31 arms): check {country['check_s']*1000:.0f} ms + render "
          f"{country['render_s']*1000:.0f} ms = {country['total_s']:.2f} s "
          f"({'ok' if country['total_s'] < 1 else 'SLOW (target < 1 s)'}); "
          f"{country['patterns']} patterns in {country['contexts']} contexts, {country['lines']} lines, "
          f"{country['bytes'] / 1e6:.1f} MB")
    if "--engine" in argv:
        eng = bench_engine(country["text"])
        if eng is None:
            print("engine: skipped (set FLOWC_ASTERISK_PREFIX)")
        else:
            print(f"engine: boot {eng['boot_big_s']:.2f} s with the table, {eng['boot_small_s']:.2f} s without: "
                  f"the table loads in {eng['table_load_s']:.2f} s; a lookup took {eng['lookup_ms']:.1f} ms "
                  f"over {eng['lookup_steps']} table steps (to {eng['arm']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
