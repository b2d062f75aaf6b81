"""What both real-engine runners share (imported by test_asterisk_engine.py and
test_freeswitch_engine.py, which also run as scripts from this folder)."""

from __future__ import annotations

from datetime import datetime


def forward_clock(calls: list[dict]) -> None:
    """The harness's clock only moves forward within a run: a call timed before an earlier
    call of the scenario gets `restart_before` (a new engine started shortly before its time,
    the harness's way to go back; AstDB and mod_db survive it, mod_hash does not). A call at
    a time already passed just runs on the clock (the harness's rule)."""
    latest = None
    for call in calls:
        when = datetime.fromisoformat(call["time"]) if call.get("time") else None
        if when is None:
            continue
        if latest is not None and when < latest:
            call["restart_before"] = True
            latest = when
        elif call.get("restart_before") or latest is None or when > latest:
            latest = when
