"""The call record (docs/stats.md): built from an interpreter trace, written as one JSON line per call."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Any, TextIO

from . import RECORD_VERSION

__all__ = ["record_from_trace", "write_records", "call_id_for"]

# Events after a connect that say the conversation is over (the phone or the caller hung
# up, or the flow went on with a survey, a voicemail, another dial or a queue).
_AFTER_TALK = {"play", "hangup", "voicemail", "dial", "queue"}


def call_id_for(flow: str, *parts: Any) -> str:
    """A stable id of a simulated call: the same inputs give the same id, so ingesting the
    records of one run twice adds nothing."""
    text = json.dumps([flow, *parts], ensure_ascii=False, sort_keys=True, default=str)
    return "interp-" + hashlib.sha256(text.encode()).hexdigest()[:20]


def _r(seconds_ms: int) -> float:
    return round(seconds_ms / 1000, 3)


def record_from_trace(trace, *, number: str | None, call_id: str | None = None,
                      source: str = "interp") -> dict[str, Any]:
    """The call record of one simulated call (docs/stats.md, `v` 1)."""
    world = trace.world
    start = world.time
    caller = trace.to_dict()["caller"]
    steps: list[str] = []
    keys: list[dict[str, Any]] = []
    dials: list[dict[str, Any]] = []
    queues: list[dict[str, Any]] = []
    ringing: dict[str, dict[str, Any]] = {}  # phone -> its open dial attempt
    answered_by = None
    answer_t = None
    talk_from = None
    talk_ms = 0
    recording = False
    voicemail = None
    survey = None
    hangup_by = trace.ended_by
    end_ms = trace.duration_ms
    step = None
    for e in trace.events:
        d = e.data
        k = e.kind
        if talk_from is not None and k in _AFTER_TALK:
            talk_ms += e.t - talk_from
            talk_from = None
        if k == "step":
            step = d["step"]
            steps.append(step)
        elif k == "menu":
            if d.get("key") is not None and d["result"] in ("option", "repeat", "back", "extension", "invalid"):
                keys.append({"t": _r(e.t), "step": d["step"], "key": str(d["key"]), "result": d["result"]})
        elif k == "dial":
            for phone in d["phones"]:
                attempt = {"t": _r(e.t), "step": d.get("step", step), "phone": phone, "outcome": None, "ring": None}
                dials.append(attempt)
                ringing[phone] = attempt
        elif k == "result":
            attempt = ringing.pop(d["phone"], None)
            if attempt is not None:
                attempt["outcome"] = d["outcome"]
                attempt["ring"] = round(_r(e.t) - attempt["t"], 3)
        elif k == "connect":
            answered_by = d["phone"]
            if answer_t is None:
                answer_t = _r(e.t)
            talk_from = e.t
        elif k == "queue":
            if d["action"] == "enter":
                queues.append({"step": d.get("step", step), "group": d.get("group"), "enter": _r(e.t),
                               "leave": None, "wait": None, "reason": None})
            elif queues:
                q = queues[-1]
                q["leave"] = _r(e.t)
                q["wait"] = round(q["leave"] - q["enter"], 3)
                q["reason"] = d.get("reason")
        elif k == "record" and d["action"] == "start":
            recording = True
        elif k == "voicemail":
            voicemail = d["box"]
        elif k == "survey":
            survey = d["result"]
        elif k == "hangup":
            hangup_by = d["by"]
            end_ms = e.t
    if talk_from is not None:
        talk_ms += end_ms - talk_from
    for attempt in ringing.values():  # still ringing when the call ended
        attempt["outcome"] = "cancelled"
        attempt["ring"] = round(_r(end_ms) - attempt["t"], 3)
    if call_id is None:
        call_id = call_id_for(trace.flow, world.to_dict() if hasattr(world, "to_dict") else str(world),
                              trace.call_index)
    return {
        "record": "flowc-call",
        "v": RECORD_VERSION,
        "source": source,
        "flow": trace.flow,
        "number": number,
        "call_id": call_id,
        "caller_raw": caller["raw"],
        "caller": caller["digits"] or None,
        "caller_kind": caller["kind"],
        "province": caller["province"],
        "city": caller["city"],
        "start": start.isoformat(timespec="milliseconds"),
        "end": (start + timedelta(milliseconds=end_ms)).isoformat(timespec="milliseconds"),
        "duration": _r(end_ms),
        "steps": steps,
        "keys": keys,
        "dials": dials,
        "answered_by": answered_by,
        "answer_t": answer_t,
        "talk": _r(talk_ms),
        "queues": queues,
        "voicemail": voicemail,
        "survey": survey,
        "recording": f"{call_id}.wav" if recording else None,
        "tags": dict(trace.tags),
        "hangup_by": hangup_by,
    }


def write_records(out: TextIO, records) -> int:
    """Append records as JSON Lines; returns how many."""
    n = 0
    for rec in records:
        out.write(json.dumps(rec, ensure_ascii=False, separators=(",", ":")) + "\n")
        n += 1
    return n


def scenario_records(reports, workspace=None) -> list[dict[str, Any]]:
    """The records of every call `flowc test` simulated, ids from the scenario file, the
    scenario's name and the call's index (stable from run to run)."""
    from ..pipeline import Workspace

    ws = workspace or Workspace()
    out = []
    for r in reports:
        if not r.results:
            continue
        flow = ws.assemble(r.flow_path).flow
        number = flow.hotline.number if flow is not None and flow.hotline else None
        for res in r.results:
            for i, call in enumerate(res.calls):
                cid = call_id_for(call.trace.flow, r.scenario_path, res.scenario.name, i)
                out.append(record_from_trace(call.trace, number=number, call_id=cid))
    return out
