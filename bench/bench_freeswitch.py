"""FreeSWITCH target speed: every example compiled to XML in one process, and a flow whose
region branch has all 31 provinces as arms.

    python bench/bench_freeswitch.py            # with the per-user cache folder (its state is printed)
    python bench/bench_freeswitch.py --cold     # with a new, empty cache folder (a CI runner)

Targets (issue 5): under 20 ms a flow; the whole-country region branch under 1 s.
"Compile" is what `flowc compile --target freeswitch` does per flow after reading the
file: check it (front end), the E501 checks, and render every output file.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flowc.checks import CheckOptions  # noqa: E402
from flowc.emit import get_target  # noqa: E402
from flowc.pipeline import Workspace  # noqa: E402
from flowc.settings import Settings  # noqa: E402

YEARS = [2026, 2027]
OPTIONS = CheckOptions(years=YEARS)


def timed(fn, repeat: int) -> tuple[float, float]:
    """(first run, median of `repeat` later runs) in milliseconds."""
    t = time.perf_counter()
    fn()
    first = (time.perf_counter() - t) * 1000
    samples = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t) * 1000)
    return first, statistics.median(samples)


def compile_path(path: Path, ws: Workspace):
    result = ws.assemble(path, options=OPTIONS)
    assert result.flow is not None, result.diagnostics
    target = get_target("freeswitch", Settings(years=YEARS))
    assert not target.unsupported(result.flow)
    return target.render(result.flow)


def country_flow() -> str:
    from flowc import regions

    provinces = [r for r in regions.all_regions() if r.level == "province"]
    arms = "\n".join(f"      {p.name_zh} -> p{i}" for i, p in enumerate(provinces))
    steps = "\n".join(f'  step p{i} {{ play "r/p{i}" hangup }}' for i in range(len(provinces)))
    return (f"flow country {{\n  number 400-800-1234\n  step start {{\n    branch region {{\n{arms}\n"
            f"      else -> other\n    }}\n  }}\n{steps}\n  step other {{ hangup }}\n}}\n")


def main() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _common import cache_state, use_cold_cache

    cold_cache = use_cold_cache() if "--cold" in sys.argv else None  # a fresh machine: an empty cache folder
    print(cache_state(), "(--cold: a new, empty one)" if cold_cache is not None else "")
    examples = sorted((ROOT / "examples").glob("*.flow"))
    ws = Workspace()
    cold = {}
    t0 = time.perf_counter()
    for p in examples:  # the first pass pays for imports, grammar, templates, region and holiday data
        t = time.perf_counter()
        compile_path(p, ws)
        cold[p] = (time.perf_counter() - t) * 1000
    total = (time.perf_counter() - t0) * 1000
    print(f"{'example':24} {'cold ms':>8} {'warm ms':>8} {'render ms':>10} {'bytes':>8}")
    worst = 0.0
    for p in examples:
        _, full = timed(lambda: compile_path(p, Workspace()), 20)
        result = Workspace().assemble(p, options=OPTIONS)
        target = get_target("freeswitch", Settings(years=YEARS))
        _, render = timed(lambda: target.render(result.flow), 20)
        size = sum(len(t.encode()) for t in target.render(result.flow).values())
        worst = max(worst, full)
        print(f"{p.stem:24} {cold[p]:8.2f} {full:8.2f} {render:10.2f} {size:8d}")
    print(f"first pass over {len(examples)} examples: {total:.0f} ms ({total / len(examples):.1f} ms a flow); "
          f"warm: slowest {worst:.2f} ms a flow (target < 20 ms)")

    text = country_flow()

    def country():
        result = Workspace().assemble("country.flow", text=text, options=OPTIONS)
        assert result.flow is not None, result.diagnostics
        return get_target("freeswitch", Settings(years=YEARS)).render(result.flow)

    first, median = timed(country, 3)
    size = len(country()["country.xml"].encode())
    print(f"whole-country region branch (31 arms): first {first:.0f} ms, then {median:.0f} ms, "
          f"{size} bytes (target < 1000 ms)")


if __name__ == "__main__":
    main()
