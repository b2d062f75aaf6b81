"""Benchmark of the interpreter (plain script): `python bench/bench_interp.py`.

Prints simulated calls per second on example flows in-process on one core (target:
>= 20,000/s on a typical flow), and the wall time of `flowc test examples/` as a fresh
process (target: well under a second).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flowc.interp import Session, World  # noqa: E402

CASES = {
    "small_shop: counter busy, owner answers": (
        "examples/small_shop.flow",
        dict(phones={"057187654321": "busy", "13900001111": "answer:after=3:talk=20"})),
    "hotel_chain: two menus, sequential desk": (
        "examples/hotel_chain.flow",
        dict(dtmf="1@prompt+0.5,1@prompt+0.5", phones={"02885550001": "busy", "02885550002": "answer:after=2"})),
    "sales_split: split, round robin, ratio, voicemail": (
        "examples/sales_split.flow", dict(caller_hangup_after=60)),
    "vip_line: caller branch, menu, round robin": (
        "examples/vip_line.flow", dict(caller="057187650000", dtmf="1@prompt", default_phone="answer:after=2")),
    "ecommerce_national: time + region branch, ring-all": (
        "examples/ecommerce_national.flow",
        dict(caller="01062345678", phones={"13700002003": "answer:after=6:talk=30"})),
}


def calls_per_second(path: str, options: dict, seconds: float = 1.0) -> float:
    session = Session(ROOT / path)
    world = World.build(time="2026-11-23T10:00:00+08:00", **options)
    for _ in range(200):  # warm caches (caller classification, zone data)
        session.call(world)
    n, start = 0, time.perf_counter()
    while True:
        for _ in range(1000):
            session.call(world)
        n += 1000
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return n / elapsed


def fresh_process_test() -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "flowc", "test", "examples/", "-q"], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    print(f"python {sys.version.split()[0]}, pid {os.getpid()}, one core")
    for label, (path, options) in CASES.items():
        print(f"  {calls_per_second(path, options):>9,.0f} calls/s  {label}")
    runs = sorted(fresh_process_test() for _ in range(3))
    print(f"  flowc test examples/ (fresh process, best of 3): {runs[0]:.2f} s")


if __name__ == "__main__":
    main()
