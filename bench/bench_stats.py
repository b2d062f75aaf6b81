"""Benchmark of `flowc stats` (plain script): `python bench/bench_stats.py [--calls N] [--keep DIR]`.

Generates N (default 1,000,000) call records of a busy 400 line (30 days, menus, keys,
sequential dials, a queue, surveys, callers from every province) into a JSON Lines file,
then measures on one core (DuckDB `threads=1`):

* `flowc stats ingest` of the file into a new DuckDB file (target: under 30 s);
* the default report over them (every console view, text format; target: under 2 s);
* ingesting the same file again (nothing new: the idempotency check).

Figures are printed from this run; generation is not timed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flowc.stats.db import open_store  # noqa: E402
from flowc.stats.ingest import ingest_files  # noqa: E402
from flowc.stats.report import build_report, render_table  # noqa: E402

INGEST_TARGET_S = 30.0
REPORT_TARGET_S = 2.0
PLACES = [("北京", "北京"), ("上海", "上海"), ("广东", "广州"), ("广东", "深圳"), ("浙江", "杭州"), ("江苏", "南京"),
          ("四川", "成都"), ("湖北", "武汉"), ("山东", "济南"), ("陕西", "西安"), (None, None)]
PHONES = [f"1380000{i:04d}" for i in range(40)]


def generate(path: Path, n: int, seed: int = 7) -> None:
    rnd = random.Random(seed)
    t0 = datetime(2026, 11, 1)
    dumps = json.dumps
    with open(path, "w", encoding="utf-8") as out:
        for i in range(n):
            start = t0 + timedelta(seconds=rnd.randrange(30 * 86400))
            province, city = rnd.choice(PLACES)
            steps = ["start", "main_menu"]
            keys, dials, queues = [], [], []
            t = 3.0
            key = rnd.choice("1234")
            keys.append({"t": t, "step": "main_menu", "key": key, "result": "option"})
            hangup, answered, answer_t, talk, survey = "caller", None, None, 0.0, None
            roll = rnd.random()
            if roll < 0.08:  # left in the menu
                steps = ["start", "main_menu"]
                keys = []
            elif key == "4":  # the queue
                steps.append("queue_service")
                wait = round(rnd.expovariate(1 / 25), 1)
                reason = "answered" if roll < 0.75 else ("caller_hangup" if roll < 0.92 else "timeout")
                queues.append({"step": "queue_service", "group": "service", "enter": t, "leave": t + wait,
                               "wait": wait, "reason": reason})
                if reason == "answered":
                    answered, answer_t = rnd.choice(PHONES), t + wait
                    talk = round(rnd.expovariate(1 / 120), 1)
                    hangup = rnd.choice(("caller", "phone"))
                t += wait
            else:
                steps.append(f"dial_{key}")
                for attempt in range(rnd.choice((1, 1, 2, 3))):
                    phone = rnd.choice(PHONES)
                    outcome = rnd.choices(("answered", "busy", "noanswer", "unreachable"), (6, 2, 2, 1))[0]
                    ring = round(rnd.uniform(1, 20), 1) if outcome in ("answered", "noanswer") else 0.0
                    dials.append({"t": t, "step": f"dial_{key}", "phone": phone, "outcome": outcome, "ring": ring})
                    t += ring
                    if outcome == "answered":
                        answered, answer_t = phone, t
                        talk = round(rnd.expovariate(1 / 90), 1)
                        hangup = rnd.choice(("caller", "phone"))
                        break
            if answered and rnd.random() < 0.3:
                steps.append("survey")
                survey = rnd.choice("12345")
            duration = round(t + talk + rnd.uniform(0, 5), 1)
            rec = {"record": "flowc-call", "v": 1, "source": "bench", "flow": rnd.choice(("mall", "hotel", "support")),
                   "number": "4008001234", "call_id": f"bench-{i}", "caller_raw": f"139{i:08d}",
                   "caller": f"139{i:08d}", "caller_kind": "mobile", "province": province, "city": city,
                   "start": start.isoformat() + ".000+08:00", "end": None, "duration": duration,
                   "steps": steps, "keys": keys, "dials": dials, "answered_by": answered, "answer_t": answer_t,
                   "talk": talk, "queues": queues, "voicemail": None, "survey": survey, "recording": None,
                   "tags": {"line": "bench"} if i % 10 == 0 else {}, "hangup_by": hangup}
            out.write(dumps(rec, ensure_ascii=False, separators=(",", ":")) + "\n")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=1_000_000)
    ap.add_argument("--keep", type=Path, help="keep the records and the database in this directory")
    args = ap.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="flowc-bench-stats-"))
    work.mkdir(parents=True, exist_ok=True)
    records = work / "calls.jsonl"
    db = work / "stats.duckdb"
    for p in (db, Path(f"{db}.wal")):
        if p.exists():
            p.unlink()
    t = time.perf_counter()
    generate(records, args.calls)
    size = records.stat().st_size
    print(f"generated {args.calls:,} records ({size / 1e6:.0f} MB) in {time.perf_counter() - t:.1f} s (not timed)")

    store = open_store(str(db))
    store.conn.execute("SET threads = 1")  # one core
    # Wall time, and the CPU time of this process (one DuckDB thread + Python): on a shared
    # machine the CPU time is what one core of our own would take.
    t, c = time.perf_counter(), time.process_time()
    result = ingest_files(store, [str(records)], report_bad=sys.stderr)
    ingest_s, ingest_cpu = time.perf_counter() - t, time.process_time() - c
    print(f"ingest: {result.new:,} calls in {ingest_s:.2f} s wall, {ingest_cpu:.2f} s CPU "
          f"({result.new / ingest_s:,.0f} calls/s wall), DuckDB threads=1 "
          f"[target < {INGEST_TARGET_S:.0f} s: {'ok' if ingest_cpu < INGEST_TARGET_S else 'MISSED'}]")
    times = []
    for _ in range(3):
        t, c = time.perf_counter(), time.process_time()
        text = render_table(build_report(store))
        times.append((time.perf_counter() - t, time.process_time() - c))
    report_s, report_cpu = min(times)
    print(f"report (every default view, table): {report_s:.2f} s wall, {report_cpu:.2f} s CPU, best of 3 "
          f"({len(text.splitlines())} lines) "
          f"[target < {REPORT_TARGET_S:.0f} s: {'ok' if report_cpu < REPORT_TARGET_S else 'MISSED'}]")
    print(f"load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    t = time.perf_counter()
    again = ingest_files(store, [str(records)], report_bad=sys.stderr)
    print(f"ingest again: {again.new} new calls in {time.perf_counter() - t:.2f} s")
    store.close()
    if not args.keep:
        for p in work.iterdir():
            p.unlink()
        os.rmdir(work)
    return 0 if ingest_cpu < INGEST_TARGET_S and report_cpu < REPORT_TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
