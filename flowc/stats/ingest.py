"""Ingest: call records (the interpreter's, Asterisk's, FreeSWITCH's) -> rows of the statistics database."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, BinaryIO, Callable, Iterable, TextIO

from .db import NULL, TABLES, Store

__all__ = ["BadRecord", "IngestResult", "ingest_files", "rows_of"]

BATCH = 50_000
_TRUE, _FALSE = "true", "false"


class BadRecord(ValueError):
    """A line that is not a call record; the message says what is wrong."""


def _n(v: Any) -> Any:
    return NULL if v is None else v


def _num(v: Any, what: str) -> Any:
    if v is None:
        return NULL
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise BadRecord(f"{what} is not a number: {v!r}")
    return v


def _text(v: Any) -> Any:
    if v is None:
        return NULL
    s = str(v)
    return "\\\\N" if s == NULL else s


def rows_of(rec: dict[str, Any]) -> dict[str, list[tuple]]:
    """The rows of one canonical record (docs/stats.md), {table: rows}."""
    if not isinstance(rec, dict):
        raise BadRecord("not a JSON object")
    if rec.get("record") != "flowc-call":
        from .engines import canonical

        rec = canonical(rec)
    v = rec.get("v")
    if v != 1:
        raise BadRecord(f"unknown record version {v!r} (this flowc reads v 1)")
    try:
        source = str(rec["source"])
        cid = str(rec["call_id"])
        start = datetime.fromisoformat(rec["start"])
    except KeyError as exc:
        raise BadRecord(f"missing field {exc.args[0]!r}") from None
    except (TypeError, ValueError):
        raise BadRecord(f"start is not an ISO 8601 time: {rec.get('start')!r}") from None
    off = start.utcoffset()
    offset = NULL if off is None else int(off.total_seconds() // 60)
    start_local = start.replace(tzinfo=None).isoformat(sep=" ", timespec="milliseconds")
    steps = rec.get("steps") or []
    dials = rec.get("dials") or []
    keys = rec.get("keys") or []
    queues = rec.get("queues") or []
    tags = rec.get("tags") or {}
    if not isinstance(steps, list) or not isinstance(dials, list) or not isinstance(keys, list) \
            or not isinstance(queues, list) or not isinstance(tags, dict):
        raise BadRecord("steps, keys, dials, queues must be lists and tags an object")
    if not all(isinstance(x, dict) for x in (*keys, *dials, *queues)):
        raise BadRecord("the items of keys, dials and queues must be objects")
    duration = rec.get("duration")
    _num(duration, "duration")
    answer_t = rec.get("answer_t")
    answered = rec.get("answered_by") is not None
    rings = [d["t"] for d in dials if isinstance(d, dict) and isinstance(d.get("t"), (int, float))]
    rings += [q["enter"] for q in queues if isinstance(q, dict) and isinstance(q.get("enter"), (int, float))]
    first_ring = min(rings) if rings else None
    ring_wait = None
    if first_ring is not None:
        end = answer_t if answered and answer_t is not None else duration
        ring_wait = round(end - first_ring, 3) if isinstance(end, (int, float)) else None
    q = queues[0] if queues and isinstance(queues[0], dict) else None
    hangup_by = rec.get("hangup_by")
    abandoned_in = None
    if hangup_by == "caller" and not answered:
        if q is not None and queues[-1].get("reason") == "caller_hangup":
            abandoned_in = "queue"
        elif any(isinstance(d, dict) and d.get("outcome") == "cancelled" for d in dials):
            abandoned_in = "ringing"
        elif rec.get("voicemail") is None:
            abandoned_in = "menu"
    survey = rec.get("survey")
    score = int(survey) if isinstance(survey, str) and survey.isdigit() and len(survey) == 1 else NULL
    calls = (source, cid, _text(rec.get("flow")), _text(rec.get("number")), _text(rec.get("caller_raw")),
             _text(rec.get("caller")), _text(rec.get("caller_kind")), _text(rec.get("province")),
             _text(rec.get("city")), start_local, offset, _n(duration), _TRUE if answered else _FALSE,
             _text(rec.get("answered_by")), _num(answer_t, "answer_t"), _n(first_ring), _n(ring_wait),
             _num(rec.get("talk"), "talk"), _TRUE if q is not None else _FALSE,
             _text(q.get("group")) if q else NULL, _n(q.get("wait")) if q else NULL,
             _text(q.get("reason")) if q else NULL, _text(rec.get("voicemail")), _text(survey), score,
             _text(rec.get("recording")), _text(hangup_by), _text(steps[-1]) if steps else NULL,
             _n(abandoned_in), " > ".join(map(str, steps)))
    last = len(steps) - 1
    seen_steps: set = set()
    step_rows = []
    for i, s in enumerate(steps):
        s = str(s)
        step_rows.append((source, cid, i, s, _TRUE if i == last else _FALSE, _FALSE if s in seen_steps else _TRUE))
        seen_steps.add(s)
    seen_keys: set = set()
    key_rows = []
    for i, k in enumerate(keys):
        pair = (_text(k.get("step")), _text(k.get("key")))
        key_rows.append((source, cid, i, pair[0], pair[1], _text(k.get("result")),
                         _FALSE if pair in seen_keys else _TRUE))
        seen_keys.add(pair)
    out = {
        "calls": [calls],
        "call_steps": step_rows,
        "call_keys": key_rows,
        "call_dials": [(source, cid, i, _text(d.get("step")), _text(d.get("phone")), _text(d.get("outcome")),
                        _num(d.get("ring"), "ring")) for i, d in enumerate(dials)],
        "call_tags": [(source, cid, str(k), _text(v)) for k, v in sorted(tags.items())],
    }
    return out


@dataclass
class IngestResult:
    lines: int = 0
    records: int = 0
    new: int = 0
    bad: list[str] = field(default_factory=list)


class _Batch:
    def __init__(self) -> None:
        self.tables: dict[str, list[tuple]] = {t: [] for t in TABLES}
        self.size = 0

    def clear(self) -> None:
        for rows in self.tables.values():
            rows.clear()
        self.size = 0

    def add(self, rows: dict[str, list[tuple]]) -> None:
        for t, rs in rows.items():
            self.tables[t].extend(rs)
        self.size += 1


def ingest_stream(store: Store, name: str, stream: BinaryIO, result: IngestResult, seen: set,
                  batch: _Batch, flush: Callable[[], None], first_line: int = 1, follow: bool = False) -> int:
    """Read lines until EOF; returns the next line number."""
    n = first_line
    loads = json.loads
    for line in stream:
        if follow and not line.endswith(b"\n"):
            # a partial last line of a growing file: read it again when it is complete
            stream.seek(stream.tell() - len(line))
            break
        result.lines += 1
        text = line.strip()
        if text:
            try:
                try:
                    rec = loads(text)
                except ValueError as exc:
                    raise BadRecord(f"not JSON ({getattr(exc, 'msg', exc)})") from None
                rows = rows_of(rec)
            except BadRecord as exc:
                result.bad.append(f"{name}:{n}: {exc}")
            else:
                c = rows["calls"][0]
                key = (c[0], c[1])
                result.records += 1
                if key not in seen:
                    seen.add(key)
                    batch.add(rows)
                    if batch.size >= BATCH:
                        flush()
        n += 1
    return n


def ingest_files(store: Store, paths: Iterable[str], *, follow: bool = False, stop: Callable[[], bool] | None = None,
                 progress: TextIO | None = None, report_bad: TextIO | None = sys.stderr,
                 poll: float = 0.5) -> IngestResult:
    """Ingest JSON Lines files of call records; with `follow`, keep reading what is appended
    until `stop()` says so (or Ctrl-C)."""
    result = IngestResult()
    seen: set = set()
    batch = _Batch()
    t0 = time.monotonic()
    last_progress = [t0]

    def flush() -> None:
        if batch.size:
            result.new += store.load(batch.tables)
        batch.clear()
        now = time.monotonic()
        if progress is not None and now - last_progress[0] >= 1.0:
            last_progress[0] = now
            progress.write(f"flowc stats: {result.lines:,} lines, {result.new:,} new calls, "
                           f"{now - t0:.1f} s\n")
            progress.flush()

    def show_bad(start: int) -> None:
        if report_bad is not None:
            for msg in result.bad[start:]:
                report_bad.write(f"{msg}\n")

    streams = []
    for path in paths:
        if store.kind == "duckdb" and not follow:
            from .fastload import fast_load

            done = fast_load(store, path)
            if done is not None:
                result.lines += done[0]
                result.records += done[0]
                result.new += done[1]
                if progress is not None and time.monotonic() - t0 >= 1.0:
                    progress.write(f"flowc stats: {path}: {done[0]:,} lines, {done[1]:,} new calls, "
                                   f"{time.monotonic() - t0:.1f} s\n")
                continue
        f = open(path, "rb")
        streams.append([path, f, 1])
        shown = len(result.bad)
        streams[-1][2] = ingest_stream(store, path, f, result, seen, batch, flush, follow=follow)
        show_bad(shown)
    flush()
    try:
        while follow and not (stop and stop()):
            time.sleep(poll)
            grew = False
            for s in streams:
                shown = len(result.bad)
                before = result.lines
                s[2] = ingest_stream(store, s[0], s[1], result, seen, batch, flush, s[2], follow=True)
                grew |= result.lines > before
                show_bad(shown)
            if grew:
                flush()
    except KeyboardInterrupt:
        flush()
    finally:
        for s in streams:
            s[1].close()
    return result
