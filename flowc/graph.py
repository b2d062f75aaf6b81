"""Draw a checked flow: a graph model of steps and edges, rendered as dot, Mermaid or JSON.

`build(flow, sources)` turns an `ir.Flow` into a `Graph` (nodes with labels and `file:line`,
edges labelled with what takes them). Overlays mark it: `overlay_coverage` with a
`Coverage` of the flow's scenarios, `overlay_path` with the trace of one call.
`to_dot`, `to_mermaid` and `to_json` render it as text (deterministic, no program needed);
`render_image` runs Graphviz's `dot` for svg/png. Used by `flowc graph` (docs/graph.md).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass, field
from typing import Any, Iterable

from . import ir

__all__ = ["Graph", "GraphError", "build", "overlay_coverage", "overlay_path", "render_image",
           "to_dot", "to_json", "to_mermaid", "FONT", "LONG_MENU"]

FONT = "Noto Sans CJK SC"  # Debian: fonts-noto-cjk; any CJK font fontconfig finds also works
LONG_MENU = 5  # a menu or extension with this many keys is drawn as a cluster with its inline blocks
ENTRY, HANGUP, CONNECTED = "entry:", "end:hangup", "end:connected"


class GraphError(Exception):
    """A drawing that cannot be made (no `dot` program, Graphviz failed); the message says why."""


@dataclass
class Node:
    id: str
    kind: str  # entry, step, end, declaration
    title: str
    lines: list[str] = field(default_factory=list)
    where: str | None = None  # file:line
    url: str | None = None
    cluster: str | None = None
    marks: list[str] = field(default_factory=list)  # unreachable, covered, missed, path
    events: list[str] = field(default_factory=list)  # the path overlay's events at this node

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "title": self.title, "lines": self.lines, "where": self.where,
                "url": self.url, "cluster": self.cluster, "marks": self.marks, "events": self.events}


@dataclass
class Edge:
    src: str
    dst: str
    label: str
    kind: str = "flow"  # flow, uses
    key: tuple | None = None  # the coverage item this edge is (interp/coverage.py keys)
    marks: list[str] = field(default_factory=list)
    order: list[int] = field(default_factory=list)  # when the path overlay took it

    def to_dict(self) -> dict[str, Any]:
        return {"from": self.src, "to": self.dst, "label": self.label, "kind": self.kind,
                "key": list(self.key) if self.key else None, "marks": self.marks, "order": self.order}


@dataclass
class Graph:
    name: str
    title: str
    nodes: dict[str, Node] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)
    clusters: dict[str, str] = field(default_factory=dict)  # id -> label, in drawing order
    notes: list[str] = field(default_factory=list)  # lines under the title (overlay summaries)

    def add(self, node: Node) -> Node:
        self.nodes.setdefault(node.id, node)
        return self.nodes[node.id]

    def to_dict(self) -> dict[str, Any]:
        return {"flow": self.name, "title": self.title, "notes": self.notes,
                "clusters": [{"id": k, "label": v} for k, v in self.clusters.items()],
                "nodes": [n.to_dict() for n in self.nodes.values()],
                "edges": [e.to_dict() for e in self.edges]}


# ====================================================================== building


def _secs(x: float | None) -> str:
    if x is None:
        return "?"
    return f"{int(x)} s" if float(x).is_integer() else f"{x:g} s"


def _where(span) -> tuple[str | None, str | None]:
    if span is None:
        return None, None
    return f"{span.file}:{span.line}", f"{span.file}#L{span.line}"


def _region_name(text: str) -> str:
    from .regions import lookup_region

    region = lookup_region(text)
    return region.name_zh if region is not None else text


def _date(d: ir.DateRange) -> str:
    def one(y, m, day):
        return f"{y}-{m:02d}-{day:02d}" if y else f"{m:02d}-{day:02d}"

    a, b = one(d.start_year, d.start_month, d.start_day), one(d.end_year, d.end_month, d.end_day)
    return a if a == b else f"{a}..{b}"


_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def schedule_text(sc: ir.Schedule) -> str:
    """A schedule in one line, as the language writes it: `workdays 09:00-12:00, 13:30-18:00`."""
    parts = []
    for r in sc.rules:
        days = [_WEEKDAYS[w - 1] for w in r.weekdays] + [d.value for d in r.day_types] + [_date(d) for d in r.dates]
        times = ", ".join(f"{_hhmm(t.start)}-{_hhmm(t.end)}" for t in r.times)
        parts.append(" ".join(x for x in (",".join(days) or "daily", times) if x))
    if sc.excepts:
        parts.append("except " + ", ".join(_date(d) for d in sc.excepts))
    if sc.timezone:
        parts.append(f"({sc.timezone})")
    return "; ".join(parts) or "never"


class _Builder:
    def __init__(self, flow: ir.Flow, own_file: str | None):
        self.flow = flow
        self.own = own_file if own_file is not None else (flow.span.file if flow.span else None)
        title = flow.title or flow.name
        self.g = Graph(flow.name, title)
        self.libraries: dict[str, str] = {}  # library file -> cluster id

    # ------------------------------------------------------------ helpers

    def _origin(self, decl) -> str | None:
        """The library a declaration was imported from (None: the flow's own file)."""
        span = getattr(decl, "span", None)
        if span is None or span.file == self.own:
            return None
        return span.file

    def _uses(self, step_id: str, kind: str, decl, lines: list[str]) -> None:
        """An imported declaration: a node in its library's cluster, and a dotted edge to it."""
        lib = self._origin(decl)
        if lib is None:
            return
        cluster = self.libraries.get(lib)
        if cluster is None:
            cluster = self.libraries[lib] = f"lib{len(self.libraries)}"
            self.g.clusters[cluster] = f"import {lib}"
        where, url = _where(decl.span)
        node_id = f"{kind}:{decl.name}"
        self.g.add(Node(node_id, "declaration", f"{kind} {decl.name}", lines, where, url, cluster))
        if not any(e.src == step_id and e.dst == node_id for e in self.g.edges):
            self.g.edges.append(Edge(step_id, node_id, "", "uses"))

    def _phone(self, p: ir.Phone) -> str:
        return f"{p.name} {p.number}" if p.name else p.number

    def _group_lines(self, group: ir.Group, ring: float | None) -> list[str]:
        total = sum(m.weight or 0 for m in group.members)
        out = [f"  {group.strategy.value}, ring {_secs(ring if ring is not None else group.ring)}"]
        for m in group.members:
            extra = []
            if ring is None and m.ring is not None:
                extra.append(f"ring {_secs(m.ring)}")
            if group.strategy is ir.Strategy.RATIO and total:
                extra.append(f"{round(100 * (m.weight or 0) / total)}%")
            out.append(f"  - {self._phone(m.phone)}" + (f" ({', '.join(extra)})" if extra else ""))
        return out

    def _dest_lines(self, step_id: str, dest: ir.DialTarget | None, ring: float | None, head: str) -> list[str]:
        if dest is None:
            return []
        if dest.phone is not None:
            phone_decl = self.flow.phones.get(dest.phone.name) if dest.phone.name else None
            origin = self._origin(phone_decl) if phone_decl else None
            if phone_decl is not None and origin:
                self._uses(step_id, "phone", phone_decl, [dest.phone.number])
            tail = f" (from {origin})" if origin else ""
            return [f"{head} {self._phone(dest.phone)}, ring {_secs(ring if ring is not None else 20.0)}{tail}"]
        group = self.flow.groups.get(dest.group)
        if group is None:
            return [f"{head} group {dest.group}"]
        origin = self._origin(group)
        if origin:
            self._uses(step_id, "group", group, self._group_lines(group, None))
        tail = f" (from {origin})" if origin else ""
        return [f"{head} group {group.name}{tail}"] + self._group_lines(group, ring)

    def _survey_line(self, name: str | None) -> list[str]:
        return [f"survey {name}"] if name else []

    def _edge(self, src: str, dst: str | None, label: str, key: tuple | None = None) -> None:
        dst = dst or HANGUP
        if dst in (HANGUP, CONNECTED):
            # one small end node per step: edges to a shared end node would cross the whole
            # drawing, and Graphviz's layout of a large flow would take minutes
            dst = f"{dst}:{src[len('step:'):]}"
        self.g.edges.append(Edge(src, dst, label, "flow", key))

    # ------------------------------------------------------------ the flow

    def build(self) -> Graph:
        flow, g = self.flow, self.g
        number = flow.hotline.number if flow.hotline else None
        shown = f"{number[:3]}-{number[3:6]}-{number[6:]}" if number else "(no 400 number)"
        where, url = _where(flow.hotline.span if flow.hotline else flow.span)
        lines = [f"flow {flow.name}"]
        if flow.title:
            lines.append(flow.title)
        if flow.timezone != "Asia/Shanghai":
            lines.append(f"timezone {flow.timezone}")
        if flow.record:
            lines.append(f"record every call ({flow.record.retain_days} d)")
        if flow.ringback:
            lines.append(f"ringback {flow.ringback}")
        if flow.survey:
            lines.append(f"survey {flow.survey} after each conversation")
        for t in flow.tags:
            lines.append(f"tag {t.key} = {t.value}")
        g.add(Node(ENTRY, "entry", f"☎ {shown}", lines, where, url))
        long_menus = {s.name for s in flow.steps
                      if isinstance(s.terminal, ir.Menu) and len(s.terminal.options) >= LONG_MENU
                      or isinstance(s.terminal, ir.Extension) and len(s.terminal.entries) >= LONG_MENU}
        for name in sorted(long_menus, key=[s.name for s in flow.steps].index):
            g.clusters[f"menu:{name}"] = f"menu {name}"
        for step in flow.steps:
            owner = next((m for m in long_menus if step.name == m or step.name.startswith(m + ".")), None)
            self._step(step, f"menu:{owner}" if owner else None)
        if flow.steps:
            g.edges.insert(0, Edge(ENTRY, f"step:{flow.steps[0].name}", "call"))
        for e in list(g.edges):
            if e.dst.startswith(CONNECTED + ":"):
                g.add(Node(e.dst, "end", "conversation"))
            elif e.dst.startswith(HANGUP + ":"):
                g.add(Node(e.dst, "end", "hang up"))
        self._reachability()
        return g

    def _step(self, step: ir.Step, cluster: str | None) -> None:
        sid = f"step:{step.name}"
        lines: list[str] = []
        for a in step.actions:
            if isinstance(a, ir.Play):
                lines.append(f"play {a.prompt}")
            elif isinstance(a, ir.Tag):
                lines.append(f"tag {a.key} = {a.value}")
            elif isinstance(a, ir.Record):
                lines.append(f"record ({a.retain_days} d)")
            else:
                lines.append(f"ringback {a.prompt}")
        t = step.terminal
        name = step.name
        method = getattr(self, f"_t_{t.kind}")
        lines.extend(method(sid, name, t))
        where, url = _where(step.span)
        title = f"{name} (inline)" if step.synthetic else name
        self.g.add(Node(sid, "step", title, lines, where, url, cluster))

    def _target(self, name: str | None) -> str | None:
        return f"step:{name}" if name else None

    def _t_goto(self, sid, name, t: ir.Goto):
        self._edge(sid, self._target(t.target), "goto")
        return []

    def _t_hangup(self, sid, name, t: ir.Hangup):
        self._edge(sid, HANGUP, "hangup")
        return ["hangup"]

    def _handlers(self, sid, name, t) -> list[str]:
        lines = []
        for label, key, h in (("invalid", "invalid", t.invalid), ("timeout", "no_input", t.no_input)):
            if h.prompt:
                lines.append(f"{label}: play {h.prompt}")
            if h.target:
                self._edge(sid, self._target(h.target), label, (key, name))
        self._edge(sid, self._target(t.exhausted), "exhausted", ("exhausted", name))
        return lines

    def _t_menu(self, sid, name, t: ir.Menu):
        head = f"menu, timeout {_secs(t.timeout)}, {t.retries} retries"
        lines = [head] + ([f"prompt {t.prompt}"] if t.prompt else [])
        for o in t.options:
            if o.action == "repeat":
                self._edge(sid, sid, f"{o.key}: repeat", ("key", name, o.key))
            elif o.action == "back":
                self._edge(sid, self._target(o.target), f"{o.key}: back", ("key", name, o.key))
            else:
                self._edge(sid, self._target(o.target), f"key {o.key}", ("key", name, o.key))
        return lines + self._handlers(sid, name, t)

    def _outcomes(self, sid, name, arms: list[ir.OutcomeArm], survey: str | None, *, queue: bool = False) -> None:
        survey = survey or self.flow.survey
        self._edge(sid, CONNECTED, "answered" + (f" → survey {survey}" if survey else ""), ("outcome", name, "answered"))
        if queue:
            target = next((a.target for a in arms if a.outcome is ir.Outcome.FAILED), None)
            self._edge(sid, self._target(target), "timeout", ("outcome", name, "failed" if target else "-"))
            return
        labels = {"busy": "busy", "no_answer": "no answer", "unreachable": "unreachable", "failed": "failed"}
        written = {a.outcome.value for a in arms}
        for a in arms:
            label = labels[a.outcome.value]
            if a.outcome is ir.Outcome.FAILED and written - {"failed"}:
                label = "other failures"
            self._edge(sid, self._target(a.target), label, ("outcome", name, a.outcome.value))
        if "failed" not in written:
            missing = [labels[o] for o in ("busy", "no_answer", "unreachable") if o not in written]
            if missing:
                self._edge(sid, HANGUP, " / ".join(missing), ("outcome", name, "-"))

    def _t_dial(self, sid, name, t: ir.Dial):
        lines = self._dest_lines(sid, t.dest, t.ring, "dial")
        self._outcomes(sid, name, t.outcomes, t.survey)
        return lines + self._survey_line(t.survey)

    def _t_extension(self, sid, name, t: ir.Extension):
        digits = t.digits or (len(t.entries[0].ext) if t.entries else 1)
        head = f"extension, {digits} digits, timeout {_secs(t.timeout)}, {t.retries} retries"
        if t.ring is not None:
            head += f", ring {_secs(t.ring)}"
        lines = [head] + ([f"prompt {t.prompt}"] if t.prompt else [])
        for e in t.entries:
            if e.target:
                self._edge(sid, self._target(e.target), f"ext {e.ext}", ("key", name, e.ext))
            else:
                lines.extend(self._dest_lines(sid, e.dest, t.ring, f"{e.ext} →"))
        if any(e.dest for e in t.entries):
            self._outcomes(sid, name, t.outcomes, t.survey)
        return lines + self._survey_line(t.survey) + self._handlers(sid, name, t)

    def _t_branch(self, sid, name, t: ir.Branch):
        lines = [f"branch {t.on}"]
        for i, arm in enumerate(t.arms):
            self._edge(sid, self._target(arm.target), self._conditions(sid, t.on, arm.conditions, lines),
                       ("arm", name, i))
        if t.else_target:
            self._edge(sid, self._target(t.else_target), "else", ("arm", name, "else"))
        return lines

    def _conditions(self, sid, on: str, conditions: list[ir.Condition], lines: list[str]) -> str:
        words = []
        for c in conditions:
            if on == "time" and c.text in self.flow.schedules:
                sc = self.flow.schedules[c.text]
                origin = self._origin(sc)
                if origin:
                    self._uses(sid, "schedule", sc, [schedule_text(sc)])
                entry = f"{sc.name}: {schedule_text(sc)}" + (f" (from {origin})" if origin else "")
                if entry not in lines:
                    lines.append(entry)
                words.append(c.text)
            elif on == "region":
                words.append(_region_name(c.text))  # region names, never their prefixes
            elif not c.quoted and c.text in self.flow.lists:
                lst = self.flow.lists[c.text]
                origin = self._origin(lst)
                entries = [e.digits + ("*" if e.prefix else "") for e in lst.entries]
                if origin:
                    self._uses(sid, "list", lst, entries)
                n = len(entries)
                lines.append(f"list {lst.name}: {', '.join(entries[:6])}{', ...' if n > 6 else ''} ({n})"
                             + (f" (from {origin})" if origin else ""))
                words.append(f"list {c.text}")
            else:
                words.append(c.text)
        return ", ".join(words)

    def _t_split(self, sid, name, t: ir.Split):
        for i, arm in enumerate(t.arms):
            self._edge(sid, self._target(arm.target), f"{arm.percent}%", ("arm", name, i))
        return ["split (one random draw)"]

    def _t_queue(self, sid, name, t: ir.Queue):
        lines = self._dest_lines(sid, ir.DialTarget(group=t.group) if t.group else None, t.ring, "queue")
        if not lines:
            lines = ["queue"]
        settings = [f"max wait {_secs(t.max_wait)}", f"retry {_secs(t.retry)}"]
        if t.music:
            settings.insert(0, f"music {t.music}")
        if t.announce:
            settings.append(f"announce {t.announce}" + (f" every {_secs(t.announce_every)}" if t.announce_every else ""))
        lines.extend(settings)
        self._outcomes(sid, name, t.outcomes, t.survey, queue=True)
        return lines + self._survey_line(t.survey)

    def _t_voicemail(self, sid, name, t: ir.Voicemail):
        line = f"voicemail {t.box} (max {_secs(t.max_length)})"
        return [line] + ([f"greeting {t.greeting}"] if t.greeting else [])

    def _reachability(self) -> None:
        out: dict[str, list[str]] = {}
        for e in self.g.edges:
            if e.kind == "flow":
                out.setdefault(e.src, []).append(e.dst)
        seen, todo = {ENTRY}, [ENTRY]
        while todo:
            for nxt in out.get(todo.pop(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        for node in self.g.nodes.values():
            if node.kind == "step" and node.id not in seen:
                node.marks.append("unreachable")
                node.lines.append("⚠ unreachable: no path from the entry")


def build(flow: ir.Flow, own_file: str | None = None) -> Graph:
    """The graph of a checked flow. `own_file` is the flow's file as spans name it (default:
    the flow's span); declarations from other files are drawn as imported."""
    return _Builder(flow, own_file).build()


# ====================================================================== overlays


def _edge_index(g: Graph) -> dict[tuple, Edge]:
    return {e.key: e for e in g.edges if e.key is not None}


def overlay_coverage(g: Graph, coverage) -> None:
    """Colour what the scenarios reached; mark what they never reach (interp/coverage.py)."""
    hit, items = coverage.hit, {i.key for i in coverage.items}
    for node in g.nodes.values():
        if node.kind != "step":
            continue
        name = node.id[len("step:"):]
        if ("step", name) in hit:
            node.marks.append("covered")
        else:
            node.marks.append("missed")
            node.lines.append("✗ never reached by the scenarios")
    for e in g.edges:
        if e.kind != "flow":
            continue
        src = g.nodes.get(e.src)
        if e.key is not None and e.key in items:
            ok = e.key in hit
        else:
            ok = src is not None and "covered" in src.marks if src and src.kind == "step" else e.src == ENTRY
        e.marks.append("covered" if ok else "missed")
    g.notes.append(f"scenario coverage {coverage.summary()}")


_EVENT_TEXT = {
    "play": lambda d: f"play {d['prompt']}",
    "input": lambda d: f"keys {d['digits']}",
    "dial": lambda d: "ring " + ", ".join(d["phones"]),
    "result": lambda d: f"{d['phone']} {d['outcome']}",
    "connect": lambda d: f"connected to {d['phone']}",
    "queue": lambda d: f"queue {d['action']}" + (f" ({d['reason']})" if d.get("reason") else ""),
    "record": lambda d: f"record {d['action']}",
    "voicemail": lambda d: f"voicemail {d['box']}",
    "hangup": lambda d: f"hang up by {d['by']}",
}


def overlay_path(g: Graph, trace) -> None:
    """Draw one call's path: the edges it took numbered in order, its events at each step."""
    edges = _edge_index(g)
    by_pair: dict[tuple[str, str], Edge] = {}
    for e in g.edges:
        if e.kind == "flow":
            by_pair.setdefault((e.src, e.dst), e)
    current = ENTRY
    pending: Edge | None = g.edges[0] if g.edges and g.edges[0].src == ENTRY else None
    hops = 0
    number = 0

    def take(edge: Edge | None) -> None:
        nonlocal hops
        if edge is not None:
            hops += 1
            edge.order.append(hops)
            if "path" not in edge.marks:
                edge.marks.append("path")

    g.nodes[ENTRY].marks.append("path")
    for ev in trace.events:
        d = ev.data
        if ev.kind == "step":
            nxt = f"step:{d['step']}"
            edge = pending if pending is not None and pending.dst == nxt else by_pair.get((current, nxt))
            take(edge)
            pending = None
            current = nxt
            node = g.nodes.get(nxt)
            if node is not None and "path" not in node.marks:
                node.marks.append("path")
            continue
        step = current[len("step:"):]
        if ev.kind == "menu":
            result = d["result"]
            key = ("key", step, d["key"]) if result in ("option", "repeat", "back", "extension") else (result, step)
            pending = edges.get(key)
            if result == "repeat":
                take(pending)
                pending = None
        elif ev.kind == "branch":
            pending = edges.get(("arm", step, d["arm"]))
        elif ev.kind == "outcome":
            arm = "answered" if d["outcome"] == "answered" else (d["arm"] or "-")
            pending = edges.get(("outcome", step, arm))
        elif ev.kind in _EVENT_TEXT:
            number += 1
            g.nodes[current].events.append(f"{number}. {ev.t / 1000:.1f} s {_EVENT_TEXT[ev.kind](d)}")
            if ev.kind == "hangup" and pending is not None and pending.dst.startswith("end:"):
                take(pending)
                end = g.nodes.get(pending.dst)
                if end is not None and "path" not in end.marks:
                    end.marks.append("path")
                pending = None
    world = trace.world
    g.notes.append(f"one call: caller {world.caller or '(withheld)'} at {world.time.isoformat(timespec='minutes')}"
                   + (f", keys {','.join(i.spec for i in world.dtmf)}" if world.dtmf else ""))


# ====================================================================== rendering

_STYLE = {  # mark -> (node attributes, edge attributes), later marks win
    "unreachable": ('style="rounded,dashed" color="#999999" fontcolor="#777777"', 'color="#999999" style=dashed'),
    "covered": ('style="rounded,filled" fillcolor="#e3f4e1" color="#2e7d32"', 'color="#2e7d32" penwidth=1.6'),
    "missed": ('style="rounded,filled,dashed" fillcolor="#fdecea" color="#c62828"',
               'color="#c62828" style=dashed fontcolor="#c62828"'),
    "path": ('style="rounded,filled,bold" fillcolor="#fff4d6" color="#e65100" penwidth=2',
             'color="#e65100" penwidth=2.4 fontcolor="#e65100"'),
}
_SHAPES = {"entry": 'shape=box style="rounded,filled,bold" fillcolor="#e8eaf6"',
           "end": 'shape=oval style=filled fillcolor="#eeeeee" fontsize=9 margin="0.05,0.02" height=0.3',
           "declaration": 'shape=note style=filled fillcolor="#f5f5f5" fontsize=9',
           "step": 'shape=box style=rounded'}


LARGE = 200  # nodes; above this Graphviz is told to spend less on its layout (seconds, not minutes)
_LARGE = " nslimit=0.2 nslimit1=0.2 mclimit=0.1 searchsize=5"


def _dot_str(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _dot_label(node: Node) -> str:
    body = [node.title]
    rest = node.lines + node.events + ([node.where] if node.where else [])
    esc = [x.replace("\\", "\\\\").replace('"', '\\"') for x in body + rest]
    # the title centred, every other line left-aligned (\l ends a left-aligned line)
    return '"' + esc[0] + ("\\n" + "\\l".join(esc[1:]) + "\\l" if rest else "") + '"'


def _edge_label(e: Edge) -> str:
    order = " ".join(f"({n})" for n in e.order)
    return " ".join(x for x in (order, e.label) if x)


def to_dot(g: Graph) -> str:
    """Graphviz dot text (UTF-8; the font is named so CJK renders in svg/png)."""
    title = g.title if g.title == g.name else f"{g.title} ({g.name})"
    label = "\\n".join(x.replace('"', '\\"') for x in [title] + g.notes)
    out = [f"digraph {_dot_str(g.name)} {{",
           f'  graph [label="{label}" labelloc=t fontsize=14 fontname="{FONT}" rankdir=TB nodesep=0.35 '
           'ranksep=0.45 charset="UTF-8"' + (_LARGE if len(g.nodes) > LARGE else "") + "];",
           f'  node [fontname="{FONT}" fontsize=10 margin="0.12,0.06"];',
           f'  edge [fontname="{FONT}" fontsize=9];']

    def node_line(n: Node, indent: str) -> str:
        attrs = [f"label={_dot_label(n)}", _SHAPES[n.kind]]
        for mark in n.marks:
            attrs.append(_STYLE[mark][0])
        if n.url:
            attrs.append(f"URL={_dot_str(n.url)} tooltip={_dot_str(n.where or '')}")
        return f"{indent}{_dot_str(n.id)} [{' '.join(attrs)}];"

    clustered: dict[str | None, list[Node]] = {}
    for n in g.nodes.values():
        clustered.setdefault(n.cluster, []).append(n)
    for n in clustered.get(None, []):
        out.append(node_line(n, "  "))
    for i, (cid, clabel) in enumerate(g.clusters.items()):
        members = clustered.get(cid, [])
        if not members:
            continue
        style = 'style="dashed,rounded" color="#5c6bc0"' if cid.startswith("lib") else 'style=rounded color="#aaaaaa"'
        out.append(f"  subgraph cluster_{i} {{")
        out.append(f"    label={_dot_str(clabel)} {style} fontsize=10;")
        out.extend(node_line(n, "    ") for n in members)
        out.append("  }")
    for e in g.edges:
        attrs = []
        label = _edge_label(e)
        if label:
            attrs.append(f"label={_dot_str(label)}")
        if e.kind == "uses":
            attrs.append('style=dotted arrowhead=none color="#7986cb"')
        for mark in e.marks:
            attrs.append(_STYLE[mark][1])
        out.append(f"  {_dot_str(e.src)} -> {_dot_str(e.dst)}" + (f" [{' '.join(attrs)}]" if attrs else "") + ";")
    out.append("}")
    return "\n".join(out) + "\n"


def _mm_text(text: str) -> str:
    """Text inside a Mermaid label: entity codes for what Mermaid would read as syntax."""
    return (text.replace("&", "#amp;").replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")
            .replace("|", "#124;"))


_MM_CLASSES = {
    "unreachable": "stroke-dasharray:4 3,stroke:#999,color:#777",
    "covered": "fill:#e3f4e1,stroke:#2e7d32",
    "missed": "fill:#fdecea,stroke:#c62828,stroke-dasharray:4 3",
    "path": "fill:#fff4d6,stroke:#e65100,stroke-width:2px",
    "declaration": "fill:#f5f5f5,stroke:#7986cb",
    "entry": "fill:#e8eaf6,stroke:#3949ab,stroke-width:2px",
}


def to_mermaid(g: Graph) -> str:
    """A Mermaid flowchart (renders in GitHub/GitLab Markdown inside ```mermaid fences)."""
    ids = {nid: f"n{i}" for i, nid in enumerate(g.nodes)}
    title = g.title if g.title == g.name else f"{g.title} ({g.name})"
    out = ["---", f"title: {json.dumps(' / '.join([title] + g.notes), ensure_ascii=False)}", "---",
           "flowchart TD"]

    def node_line(n: Node, indent: str) -> str:
        text = "<br/>".join([f"<b>{_mm_text(n.title)}</b>"] + [_mm_text(x) for x in n.lines + n.events]
                            + ([f"<i>{_mm_text(n.where)}</i>"] if n.where else []))
        open_, close = {"entry": ("([", "])"), "end": ("((", "))"), "declaration": ("[/", "/]")}.get(n.kind, ("[", "]"))
        return f'{indent}{ids[n.id]}{open_}"{text}"{close}'

    clustered: dict[str | None, list[Node]] = {}
    for n in g.nodes.values():
        clustered.setdefault(n.cluster, []).append(n)
    out.extend(node_line(n, "  ") for n in clustered.get(None, []))
    for i, (cid, clabel) in enumerate(g.clusters.items()):
        members = clustered.get(cid, [])
        if members:
            out.append(f'  subgraph c{i}["{_mm_text(clabel)}"]')
            out.extend(node_line(n, "    ") for n in members)
            out.append("  end")
    link_styles: dict[str, list[int]] = {}
    for i, e in enumerate(g.edges):
        label = _edge_label(e)
        arrow = "-.-" if e.kind == "uses" else "-->"
        out.append(f"  {ids[e.src]} {arrow}" + (f"|\"{_mm_text(label)}\"|" if label else "") + f" {ids[e.dst]}")
        for mark in e.marks:
            link_styles.setdefault(mark, []).append(i)
    for mark, style in _MM_CLASSES.items():
        out.append(f"  classDef {mark} {style}")
    for mark in _MM_CLASSES:
        members = [ids[n.id] for n in g.nodes.values() if mark in n.marks or n.kind == mark]
        if members:
            out.append(f"  class {','.join(members)} {mark}")
    edge_style = {"covered": "stroke:#2e7d32", "missed": "stroke:#c62828,stroke-dasharray:4 3",
                  "unreachable": "stroke:#999", "path": "stroke:#e65100,stroke-width:3px"}
    for mark in edge_style:
        if mark in link_styles:
            out.append(f"  linkStyle {','.join(map(str, link_styles[mark]))} {edge_style[mark]}")
    for n in g.nodes.values():
        if n.url:
            out.append(f'  click {ids[n.id]} href "{_mm_text(n.url)}" "{_mm_text(n.where or "")}"')
    return "\n".join(out) + "\n"


def to_json(g: Graph) -> str:
    return json.dumps(g.to_dict(), ensure_ascii=False, indent=2) + "\n"


def dot_program() -> str | None:
    return shutil.which("dot")


def render_image(dot_text: str, fmt: str, program: str | None = None) -> bytes:
    """svg or png bytes from dot text through Graphviz's `dot`; GraphError when it cannot."""
    exe = program or dot_program()
    if exe is None:
        raise GraphError(
            f"--format {fmt} needs Graphviz's `dot` program, which is not on PATH.\n"
            "  install it: apt-get install graphviz fonts-noto-cjk (Debian/Ubuntu), dnf install graphviz "
            "google-noto-sans-cjk-fonts (Fedora), brew install graphviz (macOS)\n"
            "  or draw without it: --format dot (Graphviz text), --format mermaid (GitHub/GitLab Markdown), "
            "--format json")
    try:
        done = subprocess.run([exe, f"-T{fmt}"], input=dot_text.encode("utf-8"), capture_output=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise GraphError(f"Graphviz `dot` could not run: {exc}") from None
    if done.returncode != 0:
        raise GraphError("Graphviz `dot` failed: " + done.stderr.decode("utf-8", "replace").strip())
    return done.stdout


def iter_formats() -> Iterable[str]:
    return ("svg", "png", "dot", "mermaid", "json")
