"""flowc stats: the call record from the interpreter, ingest (idempotent, malformed lines, follow),
reports identical from DuckDB and PostgreSQL, the HTML page rendered in headless Chromium."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from flowc.interp import Session, World

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
FLOWC = [sys.executable, "-m", "flowc"]

duckdb = pytest.importorskip("duckdb", reason="duckdb is not installed (pip install -e '.[dev]')")

from flowc.stats.db import open_store  # noqa: E402
from flowc.stats.ingest import ingest_files, rows_of  # noqa: E402
from flowc.stats.record import record_from_trace, scenario_records  # noqa: E402
from flowc.stats.report import build_report, render_csv, render_json, render_table  # noqa: E402


def flowc(*args, **kw):
    return subprocess.run([*FLOWC, *map(str, args)], capture_output=True, text=True, cwd=kw.pop("cwd", ROOT), **kw)


@pytest.fixture(scope="module")
def golden(tmp_path_factory) -> Path:
    """The records of every example scenario (`flowc test examples/ --cdr`): the golden records."""
    path = tmp_path_factory.mktemp("golden") / "calls.jsonl"
    r = flowc("test", EXAMPLES, "-q", "--cdr", path)
    assert r.returncode == 0, r.stdout + r.stderr
    return path


# ------------------------------------------------------------------ the record


def test_record_of_a_failover_call():
    session = Session(EXAMPLES / "small_shop.flow")
    trace = session.call(World.build(time="2026-11-23T10:00+08:00", caller="13812345678",
                                     phones=["057187654321=busy", "13900001111=answer:after=3:talk=20"]))
    rec = record_from_trace(trace, number=session.flow.hotline.number)
    assert rec["v"] == 1 and rec["source"] == "interp" and rec["flow"] == "small_shop"
    assert rec["number"] == "4006001234"
    assert (rec["caller"], rec["province"], rec["city"]) == ("13812345678", "江苏", "连云港")
    assert rec["start"] == "2026-11-23T10:00:00.000+08:00" and rec["duration"] == 24.0
    assert rec["steps"] == ["start", "owner"]
    assert [(d["phone"], d["outcome"], d["ring"]) for d in rec["dials"]] == [
        ("057187654321", "busy", 0.0), ("13900001111", "answered", 3.0)]
    assert (rec["answered_by"], rec["answer_t"], rec["talk"], rec["hangup_by"]) == ("13900001111", 4.0, 20.0, "phone")
    # the same call gives the same id: ingesting one run twice adds nothing
    again = record_from_trace(Session(EXAMPLES / "small_shop.flow").call(trace.world), number="4006001234")
    assert again["call_id"] == rec["call_id"]


def test_record_of_menu_keys_and_queue():
    session = Session(EXAMPLES / "service_queue.flow")
    trace = session.call(World.build(time="2026-11-23T10:00+08:00", default_phone="busy", caller_hangup_after=60))
    rec = record_from_trace(trace, number=None)
    assert rec["queues"] and rec["queues"][0]["reason"] == "caller_hangup"
    row = rows_of(rec)["calls"][0]
    assert row[row.__len__() - 2] == "queue"  # abandoned_in
    hotel = Session(EXAMPLES / "hotel_chain.flow").call(
        World.build(time="2026-11-23T10:00+08:00", dtmf="1@prompt+0.5,2@prompt+0.5", default_phone="answer:after=5:talk=10"))
    rec = record_from_trace(hotel, number="4009888666")
    assert [(k["step"], k["key"]) for k in rec["keys"]] == [("main_menu", "1"), ("booking_menu", "2")]
    assert rec["tags"] == {"booking": "change"}


def test_run_and_test_write_records(tmp_path):
    cdr = tmp_path / "c.jsonl"
    r = flowc("run", EXAMPLES / "small_shop.flow", "--at", "2026-11-23T10:00+08:00", "--cdr", cdr)
    assert r.returncode == 0, r.stderr
    r = flowc("test", EXAMPLES / "small_shop.flow", "-q", "--cdr", cdr)
    assert r.returncode == 0, r.stderr
    lines = cdr.read_text(encoding="utf-8").splitlines()
    recs = [json.loads(x) for x in lines]
    assert len(recs) > 2 and all(x["record"] == "flowc-call" and x["flow"] == "small_shop" for x in recs)
    assert len({x["call_id"] for x in recs}) == len(recs)
    r = flowc("run", EXAMPLES / "small_shop.flow", "--cdr", tmp_path / "no" / "such" / "dir.jsonl")
    assert r.returncode == 2 and "--cdr" in r.stderr and "Traceback" not in r.stderr


# ------------------------------------------------------------------ ingest


def test_ingest_is_idempotent_and_reports_malformed_lines(golden, tmp_path):
    bad = tmp_path / "bad.jsonl"
    good = golden.read_text(encoding="utf-8").splitlines()
    bad.write_text("\n".join([good[0], "{not json", '{"record": "flowc-call", "v": 1}', "[1, 2]",
                              '{"record": "flowc-call", "v": 9}', good[1]]) + "\n", encoding="utf-8")
    db = tmp_path / "s.duckdb"
    r = flowc("stats", "ingest", golden, "--db", db)
    assert r.returncode == 0, r.stderr
    assert f"{len(good)} new calls" in r.stderr
    r = flowc("stats", "ingest", golden, "--db", db)
    assert r.returncode == 0 and " 0 new calls" in r.stderr
    r = flowc("stats", "ingest", bad, "--db", db)
    assert r.returncode == 1
    assert f"{bad}:2: not JSON" in r.stderr
    assert f"{bad}:3: missing field 'source'" in r.stderr
    assert f"{bad}:4: not a JSON object" in r.stderr
    assert f"{bad}:5: unknown record version 9" in r.stderr
    assert "4 malformed line(s) skipped" in r.stderr and " 0 new calls" in r.stderr
    store = open_store(str(db))
    try:
        assert store.query("SELECT count(*) FROM calls")[1][0][0] == len(good)
        assert store.query("SELECT max(version) FROM flowc_stats_migrations")[1][0][0] == 1
    finally:
        store.close()


def test_follow_reads_what_is_appended(golden, tmp_path):
    lines = golden.read_text(encoding="utf-8").splitlines(keepends=True)
    growing = tmp_path / "growing.jsonl"
    growing.write_text("".join(lines[:3]), encoding="utf-8")
    store = open_store(str(tmp_path / "f.duckdb"))
    done = threading.Event()
    result = {}

    def run():
        result["r"] = ingest_files(store, [str(growing)], follow=True, stop=done.is_set, poll=0.05)

    t = threading.Thread(target=run)
    t.start()
    try:
        with open(growing, "a", encoding="utf-8") as f:
            f.write(lines[3][:20])  # half a line: not read until complete
            f.flush()
            time.sleep(0.3)
            f.write(lines[3][20:] + "".join(lines[4:6]))
        time.sleep(0.5)
    finally:
        done.set()
        t.join(10)
    assert result["r"].new == 6 and not result["r"].bad
    assert store.query("SELECT count(*) FROM calls")[1][0][0] == 6
    store.close()


# ------------------------------------------------------------------ reports


def _report_texts(store):
    out = {}
    for by in (None, "hour", "day", "month", "step", "key", "phone", "region", "tag", "flow"):
        rep = build_report(store, by=by)
        out[by] = (render_json(rep), render_csv(rep), render_table(rep))
    rep = build_report(store, flow="hotel_chain", start="2026-11-01", end="2026-12-01T00:00", threshold=5)
    out["filtered"] = (render_json(rep),)
    return out


@pytest.fixture(scope="module")
def duck_reports(golden, tmp_path_factory):
    store = open_store(str(tmp_path_factory.mktemp("duck") / "s.duckdb"))
    ingest_files(store, [str(golden)], report_bad=None)
    try:
        yield _report_texts(store)
    finally:
        store.close()


def test_report_numbers(duck_reports):
    doc = json.loads(duck_reports[None][0])
    summary = dict(doc["sections"][0]["rows"])
    assert summary["呼入量 calls"] > 50
    assert 0 < summary["接通率 answer rate"] < 100
    assert summary["接通率 answer rate"] == round(100 * summary["接通 answered"] / summary["呼入量 calls"], 2)
    assert summary["排队 queued"] >= 1
    names = [s["name"] for s in doc["sections"]]
    assert names == ["summary", "by_hour", "by_day", "by_month", "by_region", "phones", "keys", "funnel_keys",
                     "funnel_steps", "survey", "queues", "unanswered", "abandoned"]
    funnel = {r[0]: r for r in next(s for s in doc["sections"] if s["name"] == "funnel_steps")["rows"]}
    assert funnel["start"][1] == summary["呼入量 calls"]  # every call enters its first step
    filtered = json.loads(duck_reports["filtered"][0])
    assert filtered["filters"]["flow"] == "hotel_chain"
    assert dict(filtered["sections"][0]["rows"])["呼入量 calls"] < summary["呼入量 calls"]


def test_report_cli_formats_and_errors(golden, tmp_path):
    db = tmp_path / "c.duckdb"
    assert flowc("stats", "ingest", golden, "--db", db, "-q").returncode == 0
    r = flowc("stats", "report", "--db", db, "--by", "hour", "--format", "csv")
    assert r.returncode == 0 and r.stdout.startswith("# summary\nmetric,value\n") and "# by_hour" in r.stdout
    r = flowc("stats", "report", "--db", db, "--from", "yesterday")
    assert r.returncode == 2 and "--from: not a date or time" in r.stderr and "Traceback" not in r.stderr
    r = flowc("stats", "report", "--db", "postgresql://nobody@127.0.0.1:1/none")
    assert r.returncode == 2 and "cannot connect" in r.stderr and "Traceback" not in r.stderr


def test_reports_identical_from_duckdb_and_postgresql(golden, duck_reports):
    from pgcluster import PgCluster, skip_reason

    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    with PgCluster() as pg:
        url = pg.reset("flowc_stats")
        r = flowc("stats", "ingest", golden, "--db", url)
        assert r.returncode == 0, r.stderr
        r = flowc("stats", "ingest", golden, "--db", url)
        assert r.returncode == 0 and " 0 new calls" in r.stderr
        store = open_store(url)
        try:
            pg_reports = _report_texts(store)
        finally:
            store.close()
    for key, texts in duck_reports.items():
        assert pg_reports[key] == texts, f"--by {key}: DuckDB and PostgreSQL differ"


# ------------------------------------------------------------------ HTML in a browser


def test_html_report_renders_in_chromium(golden, tmp_path):
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    if not os.path.exists(chromium):
        pytest.skip("Debian's chromium is not installed (apt-get install chromium; .ci/run does)")
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    db = tmp_path / "h.duckdb"
    page_path = tmp_path / "report.html"
    assert flowc("stats", "ingest", golden, "--db", db, "-q").returncode == 0
    r = flowc("stats", "report", "--db", db, "--format", "html", "--out", page_path)
    assert r.returncode == 0, r.stderr
    text = page_path.read_text(encoding="utf-8")
    assert "<script src" not in text and "http://" not in text.split("<script>")[0]
    problems: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("pageerror", lambda e: problems.append(f"script error: {e}"))
            page.on("console", lambda m: problems.append(f"console: {m.text}") if m.type == "error" else None)
            page.on("request", lambda q: None if q.url.startswith(("file:", "data:", "about:"))
                    else problems.append(f"network request: {q.url}"))
            page.goto(page_path.as_uri())
            page.wait_for_selector("body[data-charts-ready]", timeout=15000)
            charts = page.evaluate("Array.from(document.querySelectorAll('canvas')).map("
                                   "c => [c.dataset.section, !!Chart.getChart(c), c.width > 0 && c.height > 0])")
            if os.environ.get("FLOWC_STATS_SCREENSHOT"):
                page.set_viewport_size({"width": 1280, "height": 1500})
                page.screenshot(path=os.environ["FLOWC_STATS_SCREENSHOT"])
        finally:
            browser.close()
    assert not problems, problems
    assert [c[0] for c in charts] == ["by_hour", "by_day", "by_month", "by_region", "phones", "keys",
                                      "funnel_steps", "survey"]
    assert all(c[1] and c[2] for c in charts), charts


def test_stats_not_imported_by_version():
    code = "import sys; from flowc.cli import app; print(any(m.startswith(('flowc.stats', 'duckdb', 'psycopg')) for m in sys.modules))"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.stdout.strip() == "False", r.stderr


def test_fast_and_line_by_line_ingest_give_the_same_rows(golden, tmp_path, monkeypatch):
    """DuckDB reads clean files itself (flowc/stats/fastload.py); other files go through
    rows_of line by line. Both must give the same rows."""
    from flowc.stats import fastload
    from flowc.stats.db import TABLES

    fast = open_store(str(tmp_path / "fast.duckdb"))
    assert fastload.fast_load(fast, str(golden)) is not None  # the golden file takes the fast path
    slow = open_store(str(tmp_path / "slow.duckdb"))
    monkeypatch.setattr(fastload, "fast_load", lambda store, path: None)
    ingest_files(slow, [str(golden)], report_bad=None)
    try:
        for table, cols in TABLES.items():  # ids are numbers given at ingest: compare by (source, call_id)
            sql = (f"SELECT c.source, c.call_id, {', '.join('x.' + c for c in cols[1:])} FROM {table} x "
                   "JOIN calls c ON c.id = x.id ORDER BY ALL")
            rows = fast.query(sql)[1]
            assert rows and rows == slow.query(sql)[1], table
    finally:
        fast.close()
        slow.close()
