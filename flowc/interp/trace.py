"""The trace of one simulated call: ordered events with simulated times (docs/trace.md).

Two kinds of events share one list:

* observable events, exactly the vocabulary and field names of the harness's NORMALIZE.md
  (`play`, `input`, `dial`, `result`, `connect`, `queue`, `record`, `voicemail`, `hangup`):
  what the caller and the phones could observe, so an interpreter run compares with a real
  engine run (`observable()`, `observable_jsonl()`, then `normalize.py --compare`);
* decision events for people (`step`, `branch`, `outcome`, `menu`, `tag`, `survey`,
  `discard`): which arm was taken and why. They never take part in engine comparisons.

Times are kept as whole milliseconds since the answer; the JSON form gives seconds with
millisecond precision, the observable form seconds rounded to 0.1 as the normaliser does.
"""

from __future__ import annotations

import json
import os
from typing import Any, Iterator

__all__ = ["Event", "OBSERVABLE_FIELDS", "TRACE_VERSION", "Trace", "observable_line", "prompt_name"]

TRACE_VERSION = 1

# Observable event -> its fields, as NORMALIZE.md names them.
OBSERVABLE_FIELDS: dict[str, tuple[str, ...]] = {
    "play": ("prompt",),
    "input": ("digits",),
    "dial": ("phones", "mode"),
    "result": ("phone", "outcome"),
    "connect": ("phone",),
    "queue": ("action", "reason"),
    "record": ("action",),
    "voicemail": ("box",),
    "hangup": ("by",),
}
# normalize.py's key order.
_FIELD_ORDER = ("prompt", "phones", "mode", "phone", "outcome", "action", "reason", "box", "digits", "by")


def prompt_name(path: str) -> str:
    """The prompt as the normaliser names it: no directory, no extension (`mall/welcome` ->
    `welcome`, `a/menu.wav` -> `menu`)."""
    base = os.path.basename(str(path).rstrip("/"))
    stem, ext = os.path.splitext(base)
    return stem if ext else base


def tenths(ms: int) -> float:
    """Milliseconds -> seconds rounded half up to 0.1 (exact on integers, unlike round())."""
    return ((ms + 50) // 100) / 10


class Event:
    """One trace event: `t` in whole milliseconds since the answer, `kind`, and its fields."""

    __slots__ = ("t", "kind", "data")

    def __init__(self, t: int, kind: str, data: dict[str, Any]):
        self.t = t
        self.kind = kind
        self.data = data

    @property
    def seconds(self) -> float:
        return self.t / 1000

    @property
    def observable(self) -> bool:
        return self.kind in OBSERVABLE_FIELDS

    def get(self, name: str, default: Any = None) -> Any:
        return self.data.get(name, default)

    def to_dict(self) -> dict[str, Any]:
        return {"t": self.t / 1000, "event": self.kind, **self.data}

    def __repr__(self) -> str:
        fields = " ".join(f"{k}={v!r}" for k, v in self.data.items())
        return f"<{self.t / 1000:.3f} {self.kind} {fields}>"

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Event) and (self.t, self.kind, self.data) == (other.t, other.kind, other.data))

    __hash__ = None  # type: ignore[assignment]


def causal_observable(events: list[Event]) -> list[tuple[int, Event]]:
    """(ms, event) of the observable events in the one canonical order (docs/trace.md): the
    order the flow did them, as normalize.py orders an engine's events by its `seq`; times
    never go back along it; teardown after the hang-up placed at it, the hang-up last."""
    hangup_t = next((e.t for e in events if e.kind == "hangup"), None)
    rows, last = [], 0
    for e in events:
        if e.kind in OBSERVABLE_FIELDS and e.kind != "hangup":
            last = max(last, e.t if hangup_t is None else min(e.t, hangup_t))
            rows.append((last, e))
    return rows + [(e.t, e) for e in events if e.kind == "hangup"]


def observable_line(event: dict[str, Any]) -> str:
    """One normalised event exactly as normalize.py prints it."""
    return json.dumps(event, ensure_ascii=False)


class Trace:
    """The result of one call: its events in the order they happened, and a summary."""

    def __init__(self, flow: str, events: list[Event], *, ended_by: str, duration_ms: int,
                 tags: dict[str, str], caller: str, world: Any, draws: list[int],
                 dtmf_unsent: list[str], call_index: int = 0, recording_days: int | None = None):
        self.flow = flow
        self.events = events
        self.ended_by = ended_by
        self.duration_ms = duration_ms
        self.tags = tags
        self.caller = caller  # the caller ID as the world gave it
        self.world = world  # the World this call ran in
        self.draws = draws
        self.dtmf_unsent = dtmf_unsent
        self.call_index = call_index
        self.recording_days = recording_days

    # ------------------------------------------------------------ questions tests ask

    @property
    def connected_to(self) -> str | None:
        """The phone the caller was last connected to (dial or queue), else None."""
        phone = None
        for e in self.events:
            if e.kind == "connect":
                phone = e.data["phone"]
        return phone

    @property
    def hangup_by(self) -> str:
        return self.ended_by

    @property
    def duration(self) -> float:
        return self.duration_ms / 1000

    @property
    def prompts(self) -> list[str]:
        """Prompts played, as written in the flow (`mall/welcome`), in order."""
        return [e.data["file"] for e in self.events if e.kind == "play"]

    @property
    def steps(self) -> list[str]:
        """Steps entered, in order (inline blocks have names such as `main_menu.1`)."""
        return [e.data["step"] for e in self.events if e.kind == "step"]

    @property
    def voicemail_box(self) -> str | None:
        return next((e.data["box"] for e in self.events if e.kind == "voicemail"), None)

    @property
    def survey_result(self) -> str | None:
        return next((e.data["result"] for e in self.events if e.kind == "survey"), None)

    @property
    def inputs(self) -> list[str]:
        return [e.data["digits"] for e in self.events if e.kind == "input"]

    def played(self, prompt: str) -> bool:
        """Was `prompt` played? Matches the name as written or its basename."""
        return any(e.kind == "play" and prompt in (e.data["file"], e.data["prompt"]) for e in self.events)

    def visited(self, step: str) -> bool:
        return any(e.kind == "step" and e.data["step"] == step for e in self.events)

    def of(self, kind: str) -> list[Event]:
        return [e for e in self.events if e.kind == kind]

    def __iter__(self) -> Iterator[Event]:
        return iter(self.events)

    def __len__(self) -> int:
        return len(self.events)

    # ------------------------------------------------------------ the observable view

    def observable(self) -> list[dict[str, Any]]:
        """What normalize.py would print for an engine run of the same call: observable
        events only, in causal order (the order the flow did them, as the normaliser orders
        an engine's events by its `seq`), times never going back, teardown placed at the
        hang-up and the hang-up last; keys `t`, `event`, then the fields in the normaliser's
        order."""
        out = []
        for t, e in causal_observable(self.events):
            row: dict[str, Any] = {"t": tenths(t), "event": e.kind}
            data = e.data
            for name in _FIELD_ORDER:
                if name in data and name in OBSERVABLE_FIELDS[e.kind]:
                    value = data[name]
                    row[name] = list(value) if isinstance(value, tuple) else value
            out.append(row)
        return out

    def observable_jsonl(self) -> str:
        return "".join(observable_line(e) + "\n" for e in self.observable())

    # ------------------------------------------------------------ JSON

    def to_dict(self) -> dict[str, Any]:
        """The versioned JSON form (docs/trace.md)."""
        return {
            "trace_version": TRACE_VERSION,
            "flow": self.flow,
            "call_index": self.call_index,
            "world": self.world.to_dict() if hasattr(self.world, "to_dict") else self.world,
            "caller": _caller_summary(self.caller),
            "events": [_jsonable(e.to_dict()) for e in self.events],
            "summary": {
                "ended_by": self.ended_by,
                "duration": self.duration_ms / 1000,
                "connected_to": self.connected_to,
                "voicemail": self.voicemail_box,
                "survey": self.survey_result,
                "tags": dict(self.tags),
                "recording_retain_days": self.recording_days,
                "draws": list(self.draws),
                "dtmf_unsent": list(self.dtmf_unsent),
            },
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=indent)

    # ------------------------------------------------------------ for people

    def render(self, *, decisions: bool = True) -> str:
        """One line per event: time, event, what happened. Plain UTF-8 (Chinese prompt
        names and tags print as they are); decision events indented under the timeline."""
        lines = []
        for e in self.events:
            if not decisions and not e.observable:
                continue
            label = e.kind if e.observable else f"· {e.kind}"
            lines.append(f"{tenths(e.t):8.1f}  {label:<10} {describe(e)}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<Trace {self.flow}: {len(self.events)} events, ended by {self.ended_by} at {self.duration:.1f}s>"


def _caller_summary(raw: str) -> dict[str, Any]:
    """The caller ID, its normalised form and region (S-NUM-1, S-REG-1)."""
    from ..phones import normalize_caller
    from ..regions import get_region, region_of

    number = normalize_caller(raw)
    region = region_of(number)
    return {
        "raw": raw,
        "digits": number.digits,
        "kind": number.kind,
        "province": get_region(region[0]).name_zh if region else None,
        "city": get_region(region[1]).name_zh if region and region[1] else None,
    }


def _jsonable(d: dict[str, Any]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}


def _secs(seconds: float | None) -> str:
    return "forever" if seconds is None else f"{seconds:g}s"


def describe(e: Event) -> str:
    """A short readable account of one event."""
    d = e.data
    k = e.kind
    if k == "step":
        return d["step"]
    if k == "play":
        return d["file"]
    if k == "input":
        return f"{d['digits']}"
    if k == "dial":
        joiner = " + " if d["mode"] == "simultaneous" else ", "
        how = f" [{d['strategy']}" + (f", draw {d['draw']}" if "draw" in d else "") + "]" if d.get("strategy") else ""
        return f"{joiner.join(d['phones'])} (ring {_secs(d.get('ring'))}){how}"
    if k == "result":
        return f"{d['phone']} {d['outcome']}"
    if k == "connect":
        return d["phone"]
    if k == "queue":
        return d["action"] + (f" ({d['reason']})" if "reason" in d else f" {d['group']}" if "group" in d else "")
    if k == "record":
        return d["action"] + (f" (keep {d['retain_days']}d)" if "retain_days" in d else "")
    if k == "voicemail":
        extra = f", greeting {d['greeting']}" if d.get("greeting") else ""
        return f"box {d['box']} (max {_secs(d.get('max'))}{extra})"
    if k == "hangup":
        return f"by {d['by']}" + (f" ({d['why']})" if d.get("why") else "")
    if k == "branch":
        return f"{d['on']} -> {d['target']} ({d['why']})"
    if k == "outcome":
        target = f" -> {d['target']}" if d.get("target") else ""
        return f"{d['step']}: {d['outcome']}{target}"
    if k == "menu":
        what = d["result"] + (f" {d['key']}" if d.get("key") else "")
        target = f" -> {d['target']}" if d.get("target") else ""
        return f"{d['step']} attempt {d['attempt']}: {what}{target}"
    if k == "tag":
        return f"{d['key']} = {d['value']}"
    if k == "survey":
        return f"{d['survey']}: {d['result']}"
    if k == "discard":
        return f"key {d['digit']} ignored ({d['during']})"
    return " ".join(f"{a}={b}" for a, b in d.items())
