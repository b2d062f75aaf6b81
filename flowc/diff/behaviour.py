"""Part 2 of a diff: which calls behave differently, found by running both versions.

The input space of a call is the time it starts, the caller number, the keys pressed at
each input attempt, how each phone behaves, and the random draws. It is partitioned into
classes, lazily, by what the two versions actually read (a decision tree, as differential
reachability does for packets in network verification):

* a call is run in both versions; the first input either trace consulted that is not yet
  fixed is split into its classes, and each class is explored in turn;
* time: the intervals between every boundary of every schedule of both versions over the
  years compiled for (holidays and adjusted workdays included), grouped by which schedules
  match; caller: every region, list, number and prefix either version names, plus withheld,
  foreign and "other" callers, grouped by the arm each branch takes; keys: each option of
  the menu (or extension, survey) reached at that attempt in either version, one invalid
  key, and silence (no more keys); phone: answers (before and between the ring times of
  both versions), busy, no answer, unreachable; draw: each interval of 1..100 that picks a
  different arm or phone in either version.

A leaf of the tree is a class: every call in it reads the same values and so takes the
same path in each version. One representative per class is run; the classes whose
observable events (docs/trace.md) differ are reported. `Exploration.classify` maps any
concrete call to its class, which the tests use to check the partition on random calls.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from typing import Any

from .. import ir
from ..interp import Session, World
from ..interp.engine import Program, _caller_condition, _region_ids
from ..interp.trace import OBSERVABLE_FIELDS, tenths
from ..interp.world import DEFAULT_CALLER, parse_behaviours, parse_dtmf
from .structural import plain

__all__ = ["Exploration", "Leaf", "explore", "world_command"]

ANSWER = "answer:after={:g}:talk=10"
MAX_SECONDS = 3600.0  # long enough for any queue's max_wait: the flow ends the call, not the harness
DEFAULT_PHONE = "noanswer"
MAX_LEAVES = 3_000  # classes per pair of flows before the rest is represented by one call each
INVALID_KEYS = "7890*#123456"


# ====================================================================== time classes


@dataclass
class TimeClass:
    id: int
    vector: tuple[bool, ...]
    segments: list[tuple[int, int]]  # [start, end) in epoch seconds
    rep: datetime


class TimeClasses:
    """The instants of the years compiled for, grouped by which schedules match (both versions)."""

    def __init__(self, old: ir.Flow, new: ir.Flow, years: list[int]):
        self.zone = Program(new).zone
        cols: list[tuple[str, str, Any]] = []
        index: dict[tuple[str, str], int] = {}
        seen: dict[str, int] = {}
        self.branches: list[tuple[str, str, list[tuple[int, ...]], list[str]]] = []
        for tag, flow in (("old", old), ("new", new)):
            prog = Program(flow)
            for name, sc in flow.schedules.items():
                key = repr(plain(sc)) + flow.timezone
                if key not in seen:
                    seen[key] = len(cols)
                    cols.append((name, tag, prog.schedules[name]))
                index[(tag, name)] = seen[key]
            for step in flow.steps:
                t = step.terminal
                if isinstance(t, ir.Branch) and t.on == "time":
                    arms = [tuple(index[(tag, c.text)] for c in arm.conditions if (tag, c.text) in index)
                            for arm in t.arms]
                    targets = [arm.target for arm in t.arms] + [t.else_target or "?"]
                    self.branches.append((tag, step.name, arms, targets))
        self.columns = [c[2] for c in cols]
        first, last = min(years), max(years)
        self.start = int(datetime(first, 1, 1, tzinfo=self.zone).timestamp())
        self.end = int(datetime(last + 1, 1, 1, tzinfo=self.zone).timestamp())
        points = {self.start}
        day0 = date(first, 1, 1) - timedelta(days=1)
        ndays = (date(last + 1, 1, 1) - day0).days + 1
        for sc in self.columns:
            minutes = {0}
            for rule in sc.rules:
                for a, b in rule[3]:
                    minutes.update((a % 1440, b % 1440))
            for i in range(ndays):
                d = day0 + timedelta(days=i)
                base = datetime(d.year, d.month, d.day, tzinfo=sc.zone)
                for m in minutes:
                    t = int((base + timedelta(minutes=m)).timestamp())
                    if self.start < t < self.end:
                        points.add(t)
        bounds = sorted(points)
        self.starts: list[int] = []
        self.vectors: list[tuple[bool, ...]] = []
        for t in bounds:
            v = self.vector_at(t)
            if not self.vectors or self.vectors[-1] != v:
                self.starts.append(t)
                self.vectors.append(v)
        by_vector: dict[tuple, TimeClass] = {}
        for i, (s, vector) in enumerate(zip(self.starts, self.vectors)):
            v = self.signature(vector)
            e = self.starts[i + 1] if i + 1 < len(self.starts) else self.end
            tc = by_vector.get(v)
            if tc is None:
                tc = by_vector[v] = TimeClass(len(by_vector), v, [], None)  # type: ignore[arg-type]
            if tc.segments and tc.segments[-1][1] == s:
                tc.segments[-1] = (tc.segments[-1][0], e)
            else:
                tc.segments.append((s, e))
        for tc in by_vector.values():
            s, e = max(tc.segments, key=lambda x: (min(x[1] - x[0], 3600), -x[0]))
            # a minute in (or half of a short interval): time branches are read a few
            # seconds into the call, which must still be inside the interval
            offset = min(60, (e - s) // 2)
            tc.rep = datetime.fromtimestamp(s + offset, tz=self.zone)
        self.classes = list(by_vector.values())
        self._ids = {tc.vector: tc.id for tc in self.classes}
        self._described: dict[int, str] = {}

    def signature(self, vector: tuple[bool, ...]) -> tuple:
        """The arm every time branch of both versions takes when these schedules match."""
        out = []
        for _tag, _step, arms, _targets in self.branches:
            out.append(next((i for i, cols in enumerate(arms) if any(vector[c] for c in cols)), len(arms)))
        return tuple(out)

    def vector_at(self, t: int) -> tuple[bool, ...]:
        moment = datetime.fromtimestamp(t, tz=timezone.utc)
        return tuple(sc.matches(moment.astimezone(sc.zone), []) for sc in self.columns)

    def lookup(self, moment: datetime) -> int | None:
        t = int(moment.timestamp())
        if not self.start <= t < self.end:
            return None
        return self._ids.get(self.signature(self.vector_at(t)))

    def describe(self, cid: int) -> str:
        found = self._described.get(cid)
        if found is None:
            found = self._described[cid] = self._describe(cid)
        return found

    def _describe(self, cid: int) -> str:
        tc = self.classes[cid]
        arms = []
        for (tag, step, _arms, targets), arm in zip(self.branches, tc.vector):
            arms.append((tag, step, targets[arm]))
        shown = []
        for tag, step, target in arms:
            same = [t for g, s2, t in arms if s2 == step]
            if len(set(same)) == 1 and tag == "new" and any(g == "old" and s2 == step for g, s2, _ in arms):
                continue  # the same in both versions: said once
            both = len(set(same)) == 1 and len(same) > 1
            shown.append(f"{step} → {target}" + ("" if both else f" ({tag})"))
        return f"at {_describe_segments(tc.segments, self.zone)} [{', '.join(shown)}]"


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _day_label(d: date) -> str:
    from ..holidays import HolidayDataMissing, is_adjusted_workday, is_holiday

    try:
        if is_holiday(d):
            return "holidays"
        if is_adjusted_workday(d):
            return "调休 workdays"
    except HolidayDataMissing:
        pass
    return _DAYS[d.weekday()]


def _describe_segments(segments: list[tuple[int, int]], zone) -> str:
    pieces: dict[str, set[str]] = {}
    total = 0
    for s, e in segments:
        t = datetime.fromtimestamp(s, tz=zone)
        stop = datetime.fromtimestamp(e, tz=zone)
        while t < stop:
            midnight = datetime(t.year, t.month, t.day, tzinfo=zone) + timedelta(days=1)
            piece_end = min(stop, midnight)
            span = f"{t:%H:%M}–{'24:00' if piece_end == midnight else format(piece_end, '%H:%M')}"
            pieces.setdefault(span, set()).add(_day_label(t.date()))
            total += 1
            t = piece_end
            if total > 4000:
                break
    out = []
    for span, days in sorted(pieces.items(), key=lambda kv: (-len(kv[1]), kv[0]))[:3]:
        week = [d for d in _DAYS if d in days]
        others = sorted(d for d in days if d not in _DAYS)
        if week == list(_DAYS[:5]):
            week = ["Mon–Fri"]
        elif week == list(_DAYS):
            week = ["every day"]
        elif week == ["Sat", "Sun"]:
            week = ["Sat–Sun"]
        out.append(f"{'/'.join(week + others)} {span}")
    more = len(pieces) - 3
    return "; ".join(out) + (f"; and {more} other time range(s)" if more > 0 else "")


# ====================================================================== caller classes


class CallerClasses:
    """Caller numbers grouped by the arm every region and caller branch of both versions takes."""

    def __init__(self, old: ir.Flow, new: ir.Flow):
        from ..regions import area_code_info, area_codes, get_region

        self.branches = []
        named_cities: set[str] = set()
        numbers: list[str] = []
        for flow in (old, new):
            for step in flow.steps:
                t = step.terminal
                if not isinstance(t, ir.Branch) or t.on == "time":
                    continue
                if t.on == "region":
                    arms = [_region_ids(arm.conditions) for arm in t.arms]
                    named_cities.update(i for ids in arms for i in ids if "." in i)
                    self.branches.append(("region", arms))
                else:
                    arms = [[_caller_condition(c, flow) for c in arm.conditions] for arm in t.arms]
                    self.branches.append(("caller", arms))
                    for arm in t.arms:
                        for c in arm.conditions:
                            numbers.extend(_numbers_of(c, flow))
        # ordinary numbers first, so a class's example is a number a person would call from
        candidates = numbers + [DEFAULT_CALLER]
        for code in area_codes():
            info = area_code_info(code)
            if info and info.subscriber_lengths:
                candidates.append(code + "6" * info.subscriber_lengths[0])
        candidates += ["", "+12025550123"]
        self.classes: list[dict] = []
        self._ids: dict[tuple, int] = {}
        for raw in dict.fromkeys(candidates):
            sig, region, kind = self.signature(raw)
            if kind in ("withheld",):
                label = "withheld callers"
            elif kind == "foreign":
                label = "foreign numbers"
            elif region is None:
                label = f"callers without a region ({kind})"
            else:
                label = get_region(region[0]).name_zh
                if region[1] is not None and region[1] in named_cities:
                    label += " " + get_region(region[1]).name_zh
            cid = self._ids.get(sig)
            if cid is None:
                cid = self._ids[sig] = len(self.classes)
                self.classes.append({"id": cid, "rep": raw, "labels": [], "signature": sig})
            if label not in self.classes[cid]["labels"]:
                self.classes[cid]["labels"].append(label)
            if raw in numbers and f"{raw}" not in self.classes[cid]["labels"]:
                self.classes[cid]["labels"].insert(0, raw)

    @staticmethod
    @lru_cache(maxsize=100_000)
    def _number(raw: str):
        from ..phones import normalize_caller
        from ..regions import region_of

        number = normalize_caller(raw)
        return number, region_of(number)

    def signature(self, raw: str) -> tuple[tuple, Any, str]:
        number, region = self._number(raw)
        digits, withheld = number.digits, number.kind == "withheld"
        sig = []
        for kind, arms in self.branches:
            arm: Any = "else"
            for i, conds in enumerate(arms):
                if kind == "region":
                    if region is not None and (region[0] in conds or (region[1] is not None and region[1] in conds)):
                        arm = i
                        break
                elif any(c(digits, withheld) for c in conds):
                    arm = i
                    break
            sig.append(arm)
        return tuple(sig), region, number.kind

    def lookup(self, raw: str) -> int | None:
        return self._ids.get(self.signature(raw)[0])

    def describe(self, cid: int) -> str:
        c = self.classes[cid]
        if all(a == "else" for a in c["signature"]):
            return f"other callers (e.g. {c['rep'] or 'withheld'})"
        labels = c["labels"]
        shown = ", ".join(labels[:6]) + (f" and {len(labels) - 6} more" if len(labels) > 6 else "")
        return f"callers {shown} (e.g. {c['rep'] or 'withheld'})"


def _numbers_of(c: ir.Condition, flow: ir.Flow) -> list[str]:
    """Concrete caller numbers for a caller condition: the numbers, prefixes filled up, list entries."""
    from ..literals import caller_pattern

    def fill(digits: str, prefix: bool) -> str:
        if not prefix:
            return digits
        return digits + "0" * max(0, (11 if digits.startswith("1") else 12) - len(digits))

    if not c.quoted and c.text in flow.lists:
        return [fill(e.digits, e.prefix) for e in flow.lists[c.text].entries]
    if not c.quoted and c.text in ("withheld", "anonymous"):
        return []
    digits, prefix = caller_pattern(c.text)
    return [fill(digits, prefix)]


# ====================================================================== the exploration


@dataclass
class Leaf:
    assign: dict
    old_events: list[dict]
    new_events: list[dict]
    cut: str | None = None  # why this class was not refined further (depth, budget)
    early: bool = False  # the versions differed before the next input was read: all its calls differ
    old_trace: Any = None
    new_trace: Any = None

    @property
    def differs(self) -> bool:
        return self.old_events != self.new_events


@dataclass
class Node:
    dim: Any
    info: dict
    children: dict = field(default_factory=dict)


class Exploration:
    """The decision tree of one pair of flows, its leaves (classes) and how many calls ran."""

    def __init__(self, old: ir.Flow, new: ir.Flow, years: list[int], max_leaves: int = MAX_LEAVES,
                 shortcuts: bool = True):
        self.old, self.new = old, new
        self.shortcuts = shortcuts
        self.years = years
        self.sessions = (Session(old), Session(new))
        self.max_leaves = max_leaves
        self.calls = 0
        self.leaves: list[Leaf] = []
        self.key_depth = max(_menu_depth(old), _menu_depth(new))
        self.notes: list[str] = []
        self._time: TimeClasses | None = None
        self._callers: CallerClasses | None = None
        self.default_time = datetime(min(years), 11, 23, 10, 0, tzinfo=timezone(timedelta(hours=8)))
        self.cut_depth = 0
        self.cut_budget = 0
        self.cut_differs = 0
        self.cut_same = 0
        self._same_cache: dict = {}
        self.invalid_keys: set[tuple[int, str]] = set()  # (attempt, key) pressed as "an invalid key"
        self.tree: Node | Leaf = self._explore({})

    # ------------------------------------------------------------ dimensions

    @property
    def times(self) -> TimeClasses:
        if self._time is None:
            self._time = TimeClasses(self.old, self.new, self.years)
        return self._time

    @property
    def callers(self) -> CallerClasses:
        if self._callers is None:
            self._callers = CallerClasses(self.old, self.new)
        return self._callers

    def world(self, assign: dict) -> World:
        return _world(self, tuple(sorted(assign.items(), key=lambda kv: repr(kv[0]))))

    def run(self, world: World):
        out = []
        for s in self.sessions:
            s.reset()
            out.append(s.call(world))
        self.calls += 2
        return out

    # ------------------------------------------------------------ the tree

    def _explore(self, root: dict) -> Node | Leaf:
        """Breadth first, so that a budget cuts the deepest refinements, never whole classes."""
        from collections import deque

        queue = deque([(root, None, None)])
        tree: list = []
        while queue:
            assign, parent, value = queue.popleft()
            budget_left = len(self.leaves) + len(queue) < self.max_leaves
            result = self._refine(assign, budget_left)
            if isinstance(result, Node):
                for v in result.info.pop("_values"):
                    child = dict(assign)
                    child[result.dim] = v
                    if result.dim[0] == "keys" and v == "none":
                        child[("keys", "end")] = result.dim[1]
                    queue.append((child, result, v))
            if parent is None:
                tree.append(result)
            else:
                parent.children[value] = result
        return tree[0]

    def _refine(self, assign: dict, budget_left: bool) -> Node | Leaf:
        """One class: a leaf, or the input to split it on (its values in info["_values"])."""
        traces = self.run(self.world(assign))
        for dim, at in _consulted(self, traces, assign):
            if dim in assign:
                continue
            # Two shortcuts keep the tree small, both exact: when the versions already did
            # something different before this input is read, every call of this class differs;
            # when they did the same and run the same code from here on, none does.
            if self.shortcuts and _differ_before(traces, at, dim):
                self.cut_differs += 1
                leaf = self._leaf(assign, traces, None)
                leaf.early = True
                return leaf
            if self.shortcuts and self._same_ahead(traces, at):
                self.cut_same += 1
                return self._leaf(assign, traces, None)
            if dim[0] == "keys" and dim[1] > self.key_depth:
                self.cut_depth += 1
                return self._leaf(assign, traces, f"no keys explored after {self.key_depth}")
            if not budget_left:
                self.cut_budget += 1
                return self._leaf(assign, traces, f"budget of {self.max_leaves} classes reached")
            values, info = _values(self, dim, traces)
            info["_values"] = values
            if dim[0] == "keys" and info["invalid"]:
                self.invalid_keys.add((dim[1], info["invalid"]))
            return Node(dim, info)
        return self._leaf(assign, traces, None)

    def _same_ahead(self, traces, at: list[int]) -> bool:
        """Both traces are identical up to the moment the input is read, and every step they
        ran or can still reach is the same in both versions (with what those steps use)."""
        a, b = traces
        if at[0] != at[1] or at[0] >= len(a.events) or at[1] >= len(b.events):
            return False
        if any(x != y for x, y in zip(a.events[:at[0]], b.events[:at[1]])):
            return False
        steps = [e.data["step"] for e in a.events[:at[0]] if e.kind == "step"]
        if not steps:
            return False
        return self._same_code(frozenset(steps), steps[-1])

    def _same_code(self, visited: frozenset, current: str) -> bool:
        key = (visited, current)
        found = self._same_cache.get(key)
        if found is None:
            found = self._same_cache[key] = _same_code(self.old, self.new, visited, current)
        return found

    def _leaf(self, assign: dict, traces, cut: str | None) -> Leaf:
        a, b = (t.observable() for t in traces)
        leaf = Leaf(assign, a, b, cut)
        if a != b:
            leaf.old_trace, leaf.new_trace = traces
        self.leaves.append(leaf)
        return leaf

    def classify(self, world: World) -> tuple[Leaf | None, bool]:
        """The class of a concrete call, and whether that call differs between the versions."""
        traces = self.run(world)
        differs = traces[0].observable() != traces[1].observable()
        node = self.tree
        while isinstance(node, Node):
            value = _classify(self, node, world, traces)
            node = node.children.get(value)
            if node is None:
                return None, differs
        return node, differs


def _differ_before(traces, at: list[int], dim: Any) -> bool:
    """The observable events before the input is read differ at some position both have.
    A dial without a draw names its phones before any of them rings: it counts too."""
    def upto(trace, i: int) -> list[tuple]:
        events = trace.events
        end = i + 1 if (i < len(events) and dim[0] == "phone" and events[i].kind == "dial"
                        and "draw" not in events[i].data) else i
        return [_obs(e) for e in events[:end] if e.kind in OBSERVABLE_FIELDS]

    a, b = upto(traces[0], at[0]), upto(traces[1], at[1])
    return any(x != y for x, y in zip(a, b))


def _obs(e) -> tuple:
    return (tenths(e.t), e.kind) + tuple(repr(e.data.get(f)) for f in OBSERVABLE_FIELDS[e.kind])


def _same_code(old: ir.Flow, new: ir.Flow, visited: frozenset, current: str) -> bool:
    """The steps already run, every step reachable from `current`, and the declarations
    they use, are the same in both versions (positions aside)."""
    reach = {current}
    todo = [current]
    while todo:
        name = todo.pop()
        for flow in (old, new):
            step = flow.step_map.get(name)
            if step is None:
                return False
            for nxt in _targets(step.terminal):
                if nxt not in reach:
                    reach.add(nxt)
                    todo.append(nxt)
    names = set(visited) | reach
    used: set[tuple[str, str]] = set()
    for name in names:
        a, b = old.step_map.get(name), new.step_map.get(name)
        if a is None or b is None:
            return False
        if name in visited and name not in reach:
            # already run with identical traces: only its actions can have left a different,
            # unseen state behind (a ringback); where it went is in the trace
            if plain(a.actions) != plain(b.actions):
                return False
            continue
        if plain(a) != plain(b):
            return False
        used.update(_uses(a.terminal))
    for kind, name in used:
        if plain(getattr(old, kind).get(name)) != plain(getattr(new, kind).get(name)):
            return False
    return all(plain(getattr(old, f)) == plain(getattr(new, f))
               for f in ("timezone", "max_ring", "survey", "surveys", "phones", "ringback"))


def _uses(t: Any) -> set[tuple[str, str]]:
    out = set()
    for dest in [getattr(t, "dest", None)] + [e.dest for e in getattr(t, "entries", None) or []]:
        if dest is not None and dest.group:
            out.add(("groups", dest.group))
    if isinstance(t, ir.Queue) and t.group:
        out.add(("groups", t.group))
    if isinstance(t, ir.Branch):
        for arm in t.arms:
            for c in arm.conditions:
                out.update({("schedules", c.text), ("lists", c.text)})
    return out


def _menu_depth(flow: ir.Flow) -> int:
    """The most input steps on one path without repeating a step, plus one for a survey."""
    inputs = {s.name for s in flow.steps if isinstance(s.terminal, (ir.Menu, ir.Extension))}
    succ: dict[str, set[str]] = {}
    for s in flow.steps:
        succ[s.name] = set(_targets(s.terminal))
    best = 0

    def walk(name: str, seen: frozenset, depth: int) -> None:
        nonlocal best
        best = max(best, depth)
        if len(seen) > 60:
            return
        for nxt in succ.get(name, ()):
            if nxt not in seen:
                walk(nxt, seen | {nxt}, depth + (nxt in inputs))

    if flow.steps:
        first = flow.steps[0].name
        walk(first, frozenset({first}), int(first in inputs))
    surveys = bool(flow.surveys)
    return max(1, best + int(surveys))


def _targets(t: Any) -> list[str]:
    out = []
    for name in ("target", "exhausted", "else_target"):
        v = getattr(t, name, None)
        if isinstance(v, str):
            out.append(v)
    for h in (getattr(t, "invalid", None), getattr(t, "no_input", None)):
        if h is not None and h.target:
            out.append(h.target)
    for lst in ("options", "entries", "arms", "outcomes"):
        for x in getattr(t, lst, None) or []:
            if getattr(x, "target", None):
                out.append(x.target)
    return out


@lru_cache(maxsize=4096)
def _behaviours(spec: str):
    return parse_behaviours(spec)


@lru_cache(maxsize=4096)
def _dtmf(keys: tuple[str, ...]):
    return parse_dtmf([f"{k}@prompt+0.5" for k in keys])


def _world(ex: Exploration, items: tuple) -> World:
    assign = dict(items)
    t = assign.get("time")
    time = ex.times.classes[t].rep if t is not None else ex.default_time
    c = assign.get("caller")
    caller = ex.callers.classes[c]["rep"] if c is not None else DEFAULT_CALLER
    keys = []
    n = 1
    while ("keys", n) in assign and assign[("keys", n)] != "none":
        keys.append(assign[("keys", n)])
        n += 1
    phones = {d[1]: _behaviours(v) for d, v in assign.items() if d[0] == "phone"}
    draws = []
    n = 1
    while ("draw", n) in assign:
        draws.append(assign[("draw", n)])
        n += 1
    return World(caller=caller, time=time, dtmf=_dtmf(tuple(keys)), phones=phones,
                 default_phone=_behaviours(DEFAULT_PHONE), max_ms=int(MAX_SECONDS * 1000), draws=tuple(draws))


def _consulted(ex: Exploration, traces, assign: dict) -> list[tuple[Any, list[int]]]:
    """The inputs the traces read, in the order they read them (old first), each with the
    index of the event where each trace first read it (the trace's length if it did not)."""
    found: dict[Any, list[int]] = {}
    keys_given = 0
    while ("keys", keys_given + 1) in assign and assign[("keys", keys_given + 1)] != "none":
        keys_given += 1
    ended = ("keys", "end") in assign
    for which, (flow, trace) in enumerate(zip((ex.old, ex.new), traces)):
        draw_n = 0
        unsent = len(trace.dtmf_unsent)

        def read(dim: Any, i: int) -> None:
            slot = found.setdefault(dim, [len(traces[0].events), len(traces[1].events)])
            if slot[which] > i:
                slot[which] = i

        for i, ev in enumerate(trace.events):
            d = ev.data
            kind = ev.kind
            if kind == "branch":
                if d["on"] == "time":
                    read("time", i)
                elif d["on"] in ("region", "caller"):
                    read("caller", i)
                else:
                    draw_n += 1
                    read(("draw", draw_n), i)
            elif kind == "dial":
                if "draw" in d:
                    draw_n += 1
                    read(("draw", draw_n), i)
                for p in d["phones"]:
                    read(("phone", p), i)
            elif kind == "queue" and d.get("action") == "enter" and d.get("group") in flow.groups:
                for m in flow.groups[d["group"]].members:
                    read(("phone", m.phone.number), i)
            elif not ended and unsent == 0 and _timed_out(ev):
                read(("keys", keys_given + 1), _attempt_start(trace, i))
    return list(found.items())


def _attempt_start(trace, i: int) -> int:
    """The event where the input attempt that ended at event i began (its prompt, if any)."""
    j = i
    while j > 0 and trace.events[j - 1].kind in ("play", "discard"):
        j -= 1
    return j


def _timed_out(ev) -> bool:
    """An input attempt that got no key (a menu's or extension's no input, a survey without answer)."""
    if ev.kind == "menu":
        return ev.data["result"] == "no_input"
    return ev.kind == "survey" and ev.data["result"] == "none"


def _attempt_steps(ex: Exploration, traces) -> list[tuple[ir.Flow, Any]]:
    """The menu/extension/survey of the first attempt without a key, in each version."""
    out = []
    for flow, trace in zip((ex.old, ex.new), traces):
        for ev in trace.events:
            if ev.kind == "menu" and ev.data["result"] == "no_input":
                out.append((flow, flow.step(ev.data["step"]).terminal))
                break
            if ev.kind == "survey" and ev.data["result"] == "none":
                out.append((flow, flow.surveys[ev.data["survey"]]))
                break
    return out


def _values(ex: Exploration, dim, traces) -> tuple[list, dict]:
    if dim == "time":
        return [tc.id for tc in ex.times.classes], {}
    if dim == "caller":
        return [c["id"] for c in ex.callers.classes], {}
    kind = dim[0]
    if kind == "keys":
        options: set[str] = set()
        length = 1
        for _flow, t in _attempt_steps(ex, traces):
            if isinstance(t, ir.Menu):
                options.update(o.key for o in t.options)
            elif isinstance(t, ir.Extension):
                options.update(e.ext for e in t.entries)
                length = max(length, t.digits or (len(t.entries[0].ext) if t.entries else 1))
            elif isinstance(t, ir.Survey):
                options.update(t.keys)
        invalid = _invalid_key(options, length)
        values = sorted(options, key=lambda k: (len(k), k)) + ([invalid] if invalid else []) + ["none"]
        return values, {"options": options, "invalid": invalid}
    if kind == "phone":
        number = dim[1]
        rings = set()
        for flow, trace in zip((ex.old, ex.new), traces):
            for ev in trace.events:
                if ev.kind == "dial" and number in ev.data["phones"]:
                    rings.add(float(ev.data["ring"]))
                elif ev.kind == "queue" and ev.data.get("action") == "enter":
                    for step in flow.steps:
                        q = step.terminal
                        if isinstance(q, ir.Queue) and q.group in flow.groups:
                            g = flow.groups[q.group]
                            for m in g.members:
                                if m.phone.number == number:
                                    rings.add(float(q.ring if q.ring is not None else g.ring_of(m)))
        bounds = sorted(rings) or [20.0]
        answers = [ANSWER.format(1)] + [ANSWER.format((a + b) / 2) for a, b in zip(bounds, bounds[1:])]
        return answers + ["busy", "noanswer", "unreachable"], {"bounds": bounds}
    if kind == "draw":
        starts = {1}
        n = dim[1]
        for flow, trace in zip((ex.old, ex.new), traces):
            starts.update(_draw_bounds(flow, trace, n))
        values = sorted(s for s in starts if 1 <= s <= 100)
        return values, {"starts": values}
    raise ValueError(dim)


def _invalid_key(options: set[str], length: int) -> str | None:
    if length == 1:
        return next((k for k in INVALID_KEYS if k not in options and k != "#"), None)
    for d in "9876543210":
        cand = d * length
        if cand not in options:
            return cand
    return None


def _draw_bounds(flow: ir.Flow, trace, n: int) -> set[int]:
    """The first draw of each interval of 1..100 that picks another arm or phone, for the
    n-th draw of this trace (S-RAND-1, S-SPLIT-1, S-DIAL-4, S-DIAL-6)."""
    count = 0
    for ev in trace.events:
        d = ev.data
        if ev.kind == "branch" and d["on"] == "split":
            count += 1
            if count == n:
                t = flow.step(d["step"]).terminal
                running, out = 0, set()
                for arm in t.arms:
                    running += arm.percent
                    out.add(running + 1)
                return out
        elif ev.kind == "dial" and "draw" in d:
            count += 1
            if count == n:
                g = flow.groups[d["group"]]
                k = len(g.members)
                if g.strategy is ir.Strategy.RANDOM:
                    # phone ceil(r*k/100): the next phone starts where r*k/100 passes an integer
                    return {(100 * j) // k + 1 for j in range(1, k)}
                running, out = 0, set()
                for m in g.members:
                    running += m.weight or 0
                    out.add(running + 1)
                return out
    return set()


def _classify(ex: Exploration, node: Node, world: World, traces) -> Any:
    dim = node.dim
    if dim == "time":
        for trace in traces:
            for ev in trace.events:
                if ev.kind == "branch" and ev.data["on"] == "time":
                    return ex.times.lookup(world.time + timedelta(milliseconds=ev.t))
        return ex.times.lookup(world.time)
    if dim == "caller":
        return ex.callers.lookup(world.caller)
    kind = dim[0]
    if kind == "keys":
        n = dim[1]
        if n > len(world.dtmf) or world.dtmf[n - 1].keys == "hangup":
            return "none"
        keys = world.dtmf[n - 1].keys
        return keys if keys in node.info["options"] else node.info["invalid"]
    if kind == "phone":
        b = world.behaviours(dim[1])[0]
        if b.outcome == "answered":
            bounds = node.info["bounds"]
            after = b.after_ms / 1000
            if after >= bounds[-1]:
                return "noanswer"
            i = bisect.bisect_right(bounds, after)
            return ANSWER.format(1) if i == 0 else ANSWER.format((bounds[i - 1] + bounds[i]) / 2)
        return {"busy": "busy", "unreachable": "unreachable"}.get(b.outcome, "noanswer")
    if kind == "draw":
        n = dim[1]
        draws = max((t.draws for t in traces), key=len)
        if n > len(draws):
            return None
        starts = node.info["starts"]
        return starts[bisect.bisect_right(starts, draws[n - 1]) - 1]
    return None


def explore(old: ir.Flow, new: ir.Flow, years: list[int], max_leaves: int = MAX_LEAVES,
            shortcuts: bool = True) -> Exploration:
    return Exploration(old, new, years, max_leaves, shortcuts)


# ====================================================================== replaying a class


def world_command(world: World) -> list[str]:
    """The `flowc run` options that replay this call exactly."""
    args = ["--caller", world.caller or "''", "--at", world.time.isoformat()]
    if world.dtmf:
        args += ["--dtmf", ",".join(i.spec for i in world.dtmf)]
    for number, bs in sorted(world.phones.items()):
        args += ["--phone", f"{number}={';'.join(b.spec for b in bs)}"]
    args += ["--default-phone", DEFAULT_PHONE, "--max-seconds", f"{MAX_SECONDS:g}"]
    for r in world.draws:
        args += ["--draw", str(r)]
    return args
