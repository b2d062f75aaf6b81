"""Diff two sides (files, directories, git revisions) and print the result as text or JSON."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from .. import ir
from .behaviour import MAX_LEAVES, Exploration, Leaf, world_command
from .sources import Side, open_side
from .structural import changes

__all__ = ["DiffReport", "FlowDiff", "diff_sides", "diff_flows", "render_text", "render_json"]


@dataclass
class FlowDiff:
    key: str
    old_path: str | None
    new_path: str | None
    changes: list[str]
    exploration: Exploration | None = None
    groups: list[dict] = field(default_factory=list)  # the differing classes, grouped
    status: str = "changed"  # changed, same, added, removed

    @property
    def behaviour_changed(self) -> bool:
        return self.status in ("added", "removed") or bool(self.groups)


@dataclass
class DiffReport:
    old: str
    new: str
    flows: list[FlowDiff]
    notes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def behaviour_changed(self) -> bool:
        return any(f.behaviour_changed for f in self.flows)


# ====================================================================== diffing


def _load(side: Side) -> tuple[dict[str, tuple[ir.Flow, str]], list[str]]:
    from ..pipeline import Workspace
    from ..render import render_concise

    ws = Workspace()
    flows, errors = {}, []
    for key, path in side.files.items():
        result = ws.assemble(path)
        if result.library:
            continue
        if result.flow is None:
            errs = [side.show(render_concise(d)) for d in result.diagnostics if d.severity.value == "error"]
            errors.append(f"{side.show(str(path))}: cannot be diffed, it has errors:\n    " + "\n    ".join(errs))
            continue
        flows[key] = (result.flow, side.show(str(path)))
    return flows, errors


def diff_flows(old: ir.Flow, new: ir.Flow, years: list[int], key: str = "", old_path: str = "",
               new_path: str = "", max_leaves: int = MAX_LEAVES, force: bool = False,
               shortcuts: bool = True) -> FlowDiff:
    """Both parts for one pair of flows. Identical IRs need no calls unless `force`."""
    words = changes(old, new)
    fd = FlowDiff(key, old_path, new_path, words, status="changed" if words else "same")
    if not words and not force:
        return fd
    fd.exploration = ex = Exploration(old, new, years, max_leaves, shortcuts)
    fd.groups = _group(ex, [leaf for leaf in ex.leaves if leaf.differs])
    return fd


def diff_sides(old_spec: str, new_spec: str, years: list[int] | None = None,
               max_leaves: int = MAX_LEAVES) -> DiffReport:
    years = years or [date.today().year, date.today().year + 1]
    old_side, new_side = open_side(old_spec), open_side(new_spec)
    try:
        old, old_errors = _load(old_side)
        new, new_errors = _load(new_side)
        report = DiffReport(old_spec, new_spec, [], errors=old_errors + new_errors)
        pairs: list[tuple[str, str | None, str | None]] = []
        if not old_side.is_dir and not new_side.is_dir:
            pairs = [(next(iter(new or old or {"?": None})), next(iter(old), None), next(iter(new), None))]
        else:
            unmatched_new = [k for k in new if k not in old]
            by_name = {new[k][0].name: k for k in unmatched_new}
            for k in old:
                if k in new:
                    pairs.append((k, k, k))
                elif old[k][0].name in by_name:
                    other = by_name.pop(old[k][0].name)
                    unmatched_new.remove(other)
                    pairs.append((other, k, other))
                else:
                    pairs.append((k, k, None))
            pairs += [(k, None, k) for k in unmatched_new]
        numbers_old = {f.hotline.number: k for k, (f, _) in old.items() if f.hotline}
        numbers_new = {f.hotline.number: k for k, (f, _) in new.items() if f.hotline}
        for number, k in numbers_old.items() if old_side.is_dir or new_side.is_dir else ():
            if number in numbers_new and numbers_new[number] != k:
                n = f"{number[:3]}-{number[3:6]}-{number[6:]}"
                report.notes.append(f"400 number {n} moved from {old[k][1]} to {new[numbers_new[number]][1]}")
        for key, ko, kn in pairs:
            if ko is not None and kn is not None:
                (fo, po), (fn, pn) = old[ko], new[kn]
                report.flows.append(diff_flows(fo, fn, years, key, po, pn, max_leaves))
            elif ko is not None:
                fo, po = old[ko]
                report.flows.append(FlowDiff(key, po, None, [f"flow `{fo.name}` removed ({_num(fo)})"],
                                             status="removed"))
            elif kn is not None:
                fn, pn = new[kn]
                report.flows.append(FlowDiff(key, None, pn, [f"flow `{fn.name}` added ({_num(fn)})"],
                                             status="added"))
        return report
    finally:
        old_side.close()
        new_side.close()


def _num(flow: ir.Flow) -> str:
    if not flow.hotline:
        return "no 400 number"
    n = flow.hotline.number
    return f"400 number {n[:3]}-{n[3:6]}-{n[6:]}"


# ====================================================================== describing classes


def destination(trace) -> str:
    """Where a call ended up, in a few words: `connected to 13800000001`, `voicemail 8000`."""
    connected = trace.connected_to
    box = trace.voicemail_box
    rung = list(dict.fromkeys(p for e in trace.events if e.kind == "dial" for p in e.data["phones"]))
    if connected:
        where = f"connected to {connected}"
    elif box:
        where = f"voicemail {box}"
    else:
        last = next((e.data["prompt"] for e in reversed(trace.events) if e.kind == "play"), None)
        where = "hung up" + (f" after `{last}`" if last else "") if trace.ended_by == "flow" else f"ended by {trace.ended_by}"
    if rung and not connected:
        where += f" (rang {', '.join(rung[:4])}{', ...' if len(rung) > 4 else ''})"
    return where


def describe(ex: Exploration, assign: dict) -> str:
    parts = []
    if "caller" in assign:
        parts.append(ex.callers.describe(assign["caller"]))
    if "time" in assign:
        parts.append(ex.times.describe(assign["time"]))
    keys = []
    n = 1
    while ("keys", n) in assign:
        keys.append(assign[("keys", n)])
        n += 1
    if keys:
        shown = [("then nothing" if k == "none" else f"invalid ({k})" if (i, k) in ex.invalid_keys else k)
                 for i, k in enumerate(keys, 1)]
        parts.append("no key pressed" if keys == ["none"] else "keys " + ", ".join(shown))
    for dim, v in assign.items():
        if isinstance(dim, tuple) and dim[0] == "phone":
            parts.append(f"{dim[1]} {_phone_words(v)}")
    draws = [assign[("draw", i)] for i in range(1, 10) if ("draw", i) in assign]
    for i, r in enumerate(draws, 1):
        parts.append(f"random draw {i} from {r}")
    return "; ".join(parts) or "every call"


def _phone_words(spec: str) -> str:
    if spec.startswith("answer"):
        after = spec.split("after=")[1].split(":")[0]
        return f"answers after {after} s"
    return {"busy": "busy", "noanswer": "does not answer", "unreachable": "unreachable"}.get(spec, spec)


def _first_difference(a: list[dict], b: list[dict]) -> str:
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return f"event {i + 1}: {_event(x)} → {_event(y)}"
    if len(a) != len(b):
        i = min(len(a), len(b))
        return f"event {i + 1}: {_event(a[i]) if i < len(a) else '(none)'} → {_event(b[i]) if i < len(b) else '(none)'}"
    return "same"


def _event(e: dict) -> str:
    fields = " ".join(str(v if not isinstance(v, list) else ",".join(v)) for k, v in e.items() if k not in ("t", "event"))
    return f"{e['t']:g} s {e['event']} {fields}".strip()


def _group(ex: Exploration, leaves: list[Leaf]) -> list[dict]:
    groups: dict[tuple, dict] = {}
    for leaf in leaves:
        old, new = destination(leaf.old_trace), destination(leaf.new_trace)
        key = (old, new) if old != new else (old, new, _first_difference(leaf.old_events, leaf.new_events))
        g = groups.get(key)
        if g is None:
            summary = (f"now {new} (was {old})" if old != new
                       else f"still {new}, but {_first_difference(leaf.old_events, leaf.new_events)}")
            if leaf.early:
                summary += " - as in the example below; these calls differ whatever happens next"
            g = groups[key] = {"summary": summary, "classes": [], "example": leaf}
        g["classes"].append(describe(ex, leaf.assign))
    return list(groups.values())


# ====================================================================== rendering


def _replay(path: str | None, leaf: Leaf, world) -> str:
    return shlex.join(["flowc", "run", path or "?"] + world_command(world))


def side_by_side(a: list[dict], b: list[dict], width: int = 44) -> list[str]:
    rows = [f"  {'old':<{width}} | new"]
    for i in range(max(len(a), len(b))):
        x = _event(a[i]) if i < len(a) else ""
        y = _event(b[i]) if i < len(b) else ""
        mark = " " if i < len(a) and i < len(b) and a[i] == b[i] else "≠"
        rows.append(f"{mark} {x[:width]:<{width}} | {y}")
    return rows


def render_text(report: DiffReport) -> str:
    out: list[str] = []
    for e in report.errors:
        out.append(f"error: {e}")
    for note in report.notes:
        out.append(note)
    for fd in report.flows:
        title = fd.new_path or fd.old_path
        if fd.old_path and fd.new_path and fd.old_path != fd.new_path:
            title = f"{fd.old_path} → {fd.new_path}"
        out.append(f"== {title}")
        if not fd.changes:
            out.append("what changed: nothing (formatting, comments and order aside)")
        else:
            out.append("what changed:")
            out.extend(f"  - {c}" for c in fd.changes)
        ex = fd.exploration
        if fd.status in ("added", "removed"):
            out.append(f"who is affected: every call to this flow's number ({fd.status})")
        elif ex is None:
            out.append("who is affected: nobody: no behaviour change (the checked flows are identical)")
        else:
            n = len(ex.leaves)
            differing = sum(len(g["classes"]) for g in fd.groups)
            head = (f"who is affected: {differing} of {n} classes of calls behave differently"
                    if differing else "who is affected: nobody: no behaviour change")
            out.append(f"{head} ({n} classes explored, {ex.calls} calls run in the interpreter)")
            out.extend(f"  note: {x}" for x in _sampling_notes(ex))
            for i, g in enumerate(fd.groups, 1):
                out.append(f"  {i}. {g['summary']}  [{len(g['classes'])} class{'es' if len(g['classes']) != 1 else ''}]")
                for c in g["classes"][:8]:
                    out.append(f"       - {c}")
                if len(g["classes"]) > 8:
                    out.append(f"       - ... and {len(g['classes']) - 8} more (--format json lists all)")
                leaf = g["example"]
                world = leaf.old_trace.world
                out.append(f"     replay: {_replay(fd.old_path, leaf, world)}")
                out.append(f"             {_replay(fd.new_path, leaf, world)}")
                out.extend("     " + r for r in side_by_side(leaf.old_events, leaf.new_events))
        out.append("")
    changed = report.behaviour_changed
    out.append("behaviour changed" if changed else "no behaviour change")
    return "\n".join(out) + "\n"


def _sampling_notes(ex: Exploration) -> list[str]:
    notes = []
    if ex.cut_depth:
        notes.append(f"{ex.cut_depth} class(es) were not split further after {ex.key_depth} keys (the menus' depth): "
                     "callers pressing more keys are represented by one who stops there")
    if ex.cut_budget:
        notes.append(f"sampled: the budget of {ex.max_leaves} classes was reached (explored breadth first); "
                     f"{ex.cut_budget} class(es) were each represented by one call instead of being split "
                     "further on the phones, keys or draws they read next (--max-classes raises the budget)")
    read: list[str] = []
    if ex._time is not None:
        read.append(f"time ({len(ex.times.classes)} classes over {min(ex.years)}-{max(ex.years)}, from "
                    f"{len(ex.times.starts)} intervals between schedule boundaries)")
    if ex._callers is not None:
        read.append(f"caller ({len(ex.callers.classes)} classes)")
    dims = {d for leaf in ex.leaves for d in leaf.assign if isinstance(d, tuple)}
    attempts = max((d[1] for d in dims if d[0] == "keys" and d[1] != "end"), default=0)
    if attempts:
        read.append(f"keys at up to {attempts} input attempt(s)")
    phones = sorted({d[1] for d in dims if d[0] == "phone"})
    if phones:
        read.append(f"{len(phones)} phone(s) answering, busy, not answering or unreachable")
    draws = max((d[1] for d in dims if d[0] == "draw"), default=0)
    if draws:
        read.append(f"{draws} random draw(s)")
    notes.insert(0, "inputs the versions read: " + ("; ".join(read) if read else "none (every call is alike)"))
    return notes


def render_json(report: DiffReport) -> str:
    flows = []
    for fd in report.flows:
        ex = fd.exploration
        item: dict[str, Any] = {"key": fd.key, "old": fd.old_path, "new": fd.new_path, "status": fd.status,
                                "changes": fd.changes, "behaviour_changed": fd.behaviour_changed}
        if ex is not None:
            item.update(classes=len(ex.leaves), calls=ex.calls, notes=_sampling_notes(ex), differences=[
                {"summary": g["summary"], "classes": g["classes"],
                 "example": {"world": g["example"].old_trace.world.to_dict(),
                             "replay_old": _replay(fd.old_path, g["example"], g["example"].old_trace.world),
                             "replay_new": _replay(fd.new_path, g["example"], g["example"].old_trace.world),
                             "old_events": g["example"].old_events, "new_events": g["example"].new_events}}
                for g in fd.groups])
        flows.append(item)
    doc = {"old": report.old, "new": report.new, "behaviour_changed": report.behaviour_changed,
           "notes": report.notes, "errors": report.errors, "flows": flows}
    return json.dumps(doc, ensure_ascii=False, indent=2) + "\n"
