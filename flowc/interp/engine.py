"""The interpreter: runs a checked flow (the IR) against a `World` on a simulated clock.

Every rule of docs/semantics.md (S-...) is implemented here; comments name the rule.
`Program` compiles a flow once into plain Python objects (durations in whole milliseconds,
dial orders rotated in advance, branch conditions resolved), so that one call is a short
walk over small objects with no pydantic, no copying and no sleeping: `Session` keeps a
`Program` and runs many calls against it. `_Call` holds the state of one call.

The clock only moves forward, inside `_Call.advance()`, which is also where the caller acts:
keys arrive, the caller hangs up, or the harness's time limit ends the call (S-CALL-4).
"""

from __future__ import annotations

import bisect
import random
from datetime import date, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from .. import ir
from .trace import Event, Trace, prompt_name
from .world import DTMF_STEP_MS, DTMF_TONE_MS, DtmfItem, World



class Session(Protocol):
    """What a call needs of the session it runs in (flowc.interp.session.Session, which uses
    this module; this module does not import it): state shared by its calls."""

    shared: dict

    def local_positions(self, server: str) -> dict: ...

__all__ = ["FlowRuntimeError", "Program"]

INF = float("inf")
_STEP_BUDGET = 100_000  # steps and attempts per call before a flow is declared runaway
_QUEUE_DEFAULT_RING_MS = 20_000


class FlowRuntimeError(RuntimeError):
    """The flow cannot go on (e.g. it loops without time passing); a flowc bug or a flow
    the checker should have refused."""


class _CallEnded(Exception):
    """Raised to end the call from anywhere; the teardown runs in one place."""

    def __init__(self, t: int, by: str, why: str):
        self.t = t
        self.by = by
        self.why = why


def _ms(seconds: float) -> int:
    return int(round(seconds * 1000))


# ====================================================================== compiled flow


class Program:
    """A flow compiled for execution. Built once per Session; shared by all its calls."""

    def __init__(self, flow: ir.Flow):
        self.flow = flow
        self.name = flow.name
        self.entry = flow.steps[0].name
        self.zone = _zone(flow.timezone)
        self.tags = tuple((t.key, t.value) for t in flow.tags)  # S-CALL-2
        self.record_days = flow.record.retain_days if flow.record else None
        self.ringback = flow.ringback
        self.survey = flow.survey
        self.surveys = {name: _Survey(sv) for name, sv in flow.surveys.items()}
        self.schedules = {name: _Schedule(sc, self.zone) for name, sc in flow.schedules.items()}
        self._plans: dict[tuple, _DialPlan] = {}
        self.steps: dict[str, _Step] = {s.name: _Step(s, self) for s in flow.steps}
        self._callers: dict[str, Any] = {}
        self._draws: dict[int, Any] = {}

    def plan(self, dest: ir.DialTarget, ring: float | None) -> "_DialPlan":
        """The dial plan for a group or phone with an optional step `ring` (S-DIAL-2)."""
        key = (dest.group, dest.phone.number if dest.phone else None, ring)
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = _DialPlan(dest, ring, self.flow)
        return plan

    def seeded_draws(self, seed: int):
        """`nth(i)` -> the i-th draw of the generator seeded with `seed`. The sequence is
        cached per seed, so a call does not pay for seeding a new generator."""
        found = self._draws.get(seed)
        if found is None:
            rng, drawn = random.Random(seed), []

            def nth(i: int) -> int:
                while len(drawn) <= i:
                    drawn.append(rng.randint(1, 100))
                return drawn[i]

            found = nth
            if len(self._draws) < 10_000:
                self._draws[seed] = found
        return found

    def caller_info(self, raw: str) -> tuple[Any, tuple[str, str | None] | None]:
        """(CallerNumber, region) of a caller ID, cached: S-NUM-1, S-REG-1."""
        found = self._callers.get(raw)
        if found is None:
            from ..phones import normalize_caller
            from ..regions import region_of

            number = normalize_caller(raw)
            found = (number, region_of(number))
            if len(self._callers) < 100_000:
                self._callers[raw] = found
        return found


def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


class _Step:
    __slots__ = ("name", "synthetic", "actions", "terminal")

    def __init__(self, step: ir.Step, prog: Program):
        self.name = step.name
        self.synthetic = step.synthetic
        self.actions = tuple(_action(a) for a in step.actions)
        self.terminal = _terminal(step, prog)


# ---------------------------------------------------------------------- actions (§2)


class _Play:
    __slots__ = ("file", "prompt")

    def __init__(self, file: str):
        self.file = file
        self.prompt = prompt_name(file)

    def run(self, call: "_Call") -> None:
        call.play(self.file, self.prompt)


class _Tag:
    __slots__ = ("key", "value")

    def __init__(self, key: str, value: str):
        self.key, self.value = key, value

    def run(self, call: "_Call") -> None:
        call.tag(self.key, self.value)


class _Record:
    __slots__ = ("days",)

    def __init__(self, days: int):
        self.days = days

    def run(self, call: "_Call") -> None:
        call.record(self.days)


class _Ringback:
    __slots__ = ("prompt",)

    def __init__(self, prompt: str):
        self.prompt = prompt

    def run(self, call: "_Call") -> None:
        call.ringback = self.prompt  # S-ACT-4


def _action(a: Any):
    if isinstance(a, ir.Play):
        return _Play(a.prompt)
    if isinstance(a, ir.Tag):
        return _Tag(a.key, a.value)
    if isinstance(a, ir.Record):
        return _Record(a.retain_days)
    return _Ringback(a.prompt)


# ---------------------------------------------------------------------- terminals


def _terminal(step: ir.Step, prog: Program):
    t = step.terminal
    kind = {ir.Goto: _Goto, ir.Hangup: _HangupT, ir.Menu: _MenuT, ir.Extension: _ExtensionT,
            ir.Dial: _DialT, ir.Branch: _BranchT, ir.Split: _SplitT, ir.Queue: _QueueT,
            ir.Voicemail: _VoicemailT}[type(t)]
    return kind(step.name, t, prog)


class _Goto:
    __slots__ = ("target",)

    def __init__(self, name: str, t: ir.Goto, prog: Program):
        self.target = t.target

    def run(self, call: "_Call") -> str:
        return self.target


class _HangupT:
    __slots__ = ()

    def __init__(self, name: str, t: ir.Hangup, prog: Program):
        pass

    def run(self, call: "_Call") -> str:
        call.end("flow", "hangup")  # S-CALL-5


class _Handler:
    """What invalid input or no input does (S-MENU-3, S-MENU-4)."""

    __slots__ = ("prompt", "basename", "target")

    def __init__(self, h: ir.InputHandler):
        self.prompt = h.prompt
        self.basename = prompt_name(h.prompt) if h.prompt else None
        self.target = h.target


class _InputStep:
    """What menus and extension steps share: a prompt, attempts, and their handlers."""

    __slots__ = ("step", "prompt", "basename", "timeout", "retries", "invalid", "no_input", "exhausted")

    def __init__(self, name: str, t: ir.Menu | ir.Extension):
        self.step = name
        self.prompt = t.prompt
        self.basename = prompt_name(t.prompt) if t.prompt else None
        self.timeout = _ms(t.timeout)
        self.retries = t.retries
        self.invalid = _Handler(t.invalid)
        self.no_input = _Handler(t.no_input)
        self.exhausted = t.exhausted


class _MenuT(_InputStep):
    """§3: one key per attempt; options, invalid, no input, retries, exhaustion."""

    __slots__ = ("options",)

    def __init__(self, name: str, t: ir.Menu, prog: Program):
        super().__init__(name, t)
        self.options = {o.key: ("option" if o.action == "goto" else o.action, o.target) for o in t.options}

    def run(self, call: "_Call") -> str:
        failures = 0  # S-MENU-6: per visit
        attempt = 0
        while True:
            attempt += 1
            call.spend()
            key = call.collect_key(self.prompt, self.basename, self.timeout)
            if key is None:
                result, handler = "no_input", self.no_input  # S-MENU-4
            else:
                call.emit("input", {"digits": key})  # S-MENU-7
                option = self.options.get(key)
                if option is not None:  # S-MENU-2
                    action, target = option
                    call.emit("menu", {"step": self.step, "attempt": attempt, "result": action, "key": key,
                                       "target": target})
                    if action == "repeat":
                        continue
                    return target
                result, handler = "invalid", self.invalid  # S-MENU-3
            target = call.fail_input(self.step, attempt, result, key, handler)
            if target is not None:
                return target
            failures += 1
            if failures > self.retries:  # S-MENU-5
                return call.exhausted(self.step, attempt, self.exhausted)


class _ExtensionT(_InputStep):
    """§4: digits until `digits` are pressed or `#`; extensions ring phones or go to steps."""

    __slots__ = ("need", "entries", "arms", "survey")

    def __init__(self, name: str, t: ir.Extension, prog: Program):
        super().__init__(name, t)
        self.need = t.digits or (len(t.entries[0].ext) if t.entries else 1)
        # S-EXT-2: a phone or group rings with the step's `ring` (else the group's rules)
        self.entries = {e.ext: (e.target, prog.plan(e.dest, t.ring) if e.dest else None) for e in t.entries}
        self.arms = _arms(t.outcomes)
        self.survey = t.survey

    def run(self, call: "_Call") -> str | None:
        failures = 0
        attempt = 0
        while True:
            attempt += 1
            call.spend()
            pressed = call.collect_digits(self.prompt, self.basename, self.timeout, self.need)
            if pressed is None:
                result, handler, key = "no_input", self.no_input, None  # S-EXT-3
            else:
                shown, digits = pressed
                call.emit_at(call.last_key_at, "input", {"digits": shown})
                entry = self.entries.get(digits)
                if entry is not None:  # S-EXT-2
                    target, plan = entry
                    call.emit("menu", {"step": self.step, "attempt": attempt, "result": "extension",
                                       "key": digits, "target": target})
                    if target is not None:
                        return target
                    return call.dial(self.step, plan, self.arms, self.survey)
                key = digits
                # only `#`: no digit at all is no input (S-EXT-3)
                result, handler = ("invalid", self.invalid) if digits else ("no_input", self.no_input)
            target = call.fail_input(self.step, attempt, result, key, handler)
            if target is not None:
                return target
            failures += 1
            if failures > self.retries:
                return call.exhausted(self.step, attempt, self.exhausted)


def _arms(outcomes: list[ir.OutcomeArm]) -> dict[str, str]:
    return {arm.outcome.value: arm.target for arm in outcomes}


class _DialPlan:
    """The phones of one dial destination with their ring times, and how to order them."""

    __slots__ = ("group", "strategy", "simultaneous", "rotations", "cumulative", "ring_all_ms", "numbers")

    def __init__(self, dest: ir.DialTarget, ring: float | None, flow: ir.Flow):
        if dest.phone is not None:  # S-DIAL-2: a phone dialled directly rings `ring`, default 20 s
            members = [(dest.phone.number, _ms(ring if ring is not None else 20.0))]
            self.group, self.strategy, weights = None, ir.Strategy.SEQUENTIAL, [100]
            group_ring = members[0][1]
        else:
            group = flow.groups[dest.group]
            members = [(m.phone.number, _ms(ring if ring is not None else group.ring_of(m))) for m in group.members]
            self.group, self.strategy = group.name, group.strategy
            weights = [m.weight or 0 for m in group.members]
            group_ring = _ms(ring if ring is not None else group.ring)
        self.numbers = tuple(n for n, _ in members)
        self.simultaneous = self.strategy is ir.Strategy.RING_ALL
        self.ring_all_ms = group_ring  # S-DIAL-7: the group's ring (or the step's)
        self.rotations = tuple(tuple(members[i:] + members[:i]) for i in range(len(members)))
        running, self.cumulative = 0, []
        for w in weights:
            running += w
            self.cumulative.append(running)

    def order(self, call: "_Call") -> tuple[tuple[tuple[str, int], ...], dict[str, Any]]:
        """The phones in dial order for this call, and what decided it (S-DIAL-3..6)."""
        s = self.strategy
        n = len(self.rotations)
        if s is ir.Strategy.RANDOM:  # S-DIAL-4, S-RAND-1: phone ceil(r*n/100)
            r = call.draw()
            return self.rotations[(r * n + 99) // 100 - 1], {"draw": r}
        if s is ir.Strategy.ROUND_ROBIN:  # S-DIAL-5: the position moves on every dial
            world, session = call.world, call.session
            if world.state == "postgresql" and not world.state_down:  # S-STATE-1: one per platform
                dials = session.shared.get(self.group, 0)
                session.shared[self.group] = dials + 1
                return self.rotations[dials % n], {"position": dials % n + 1, "state": "shared"}
            positions = session.local_positions(world.server)  # this server's AstDB / mod_db
            i = positions.get(self.group, 0) % n
            positions[self.group] = (i + 1) % n
            if world.state == "postgresql":  # S-STATE-2: the store is down
                return self.rotations[i], {"position": i + 1, "state": "fallback"}
            return self.rotations[i], {"position": i + 1}
        if s is ir.Strategy.RATIO:  # S-DIAL-6: first running total that reaches r
            r = call.draw()
            i = next(k for k, total in enumerate(self.cumulative) if total >= r)
            return self.rotations[i], {"draw": r}
        return self.rotations[0], {}


class _DialT:
    """§5: `dial GROUP|PHONE { ring, outcome arms, survey }`."""

    __slots__ = ("step", "plan", "arms", "survey")

    def __init__(self, name: str, t: ir.Dial, prog: Program):
        self.step = name
        self.plan = prog.plan(t.dest, t.ring)
        self.arms = _arms(t.outcomes)
        self.survey = t.survey

    def run(self, call: "_Call") -> str | None:
        return call.dial(self.step, self.plan, self.arms, self.survey)


class _BranchT:
    """§6: the first arm whose condition holds, else `else` (S-BR-1)."""

    __slots__ = ("step", "on", "arms", "else_target", "prog")

    def __init__(self, name: str, t: ir.Branch, prog: Program):
        self.step = name
        self.on = t.on
        self.prog = prog
        self.else_target = t.else_target
        if t.on == "time":
            self.arms = tuple((tuple(prog.schedules[c.text] for c in arm.conditions if c.text in prog.schedules),
                               arm.target) for arm in t.arms)
        elif t.on == "region":
            self.arms = tuple((_region_ids(arm.conditions), arm.target) for arm in t.arms)
        else:
            self.arms = tuple((tuple(_caller_condition(c, prog.flow) for c in arm.conditions), arm.target)
                              for arm in t.arms)

    def run(self, call: "_Call") -> str:
        if self.on == "time":
            arm, why, extra = self._time(call)
        elif self.on == "region":
            arm, why, extra = self._region(call)
        else:
            arm, why, extra = self._caller(call)
        target = self.else_target if arm == "else" else self.arms[arm][1]
        call.emit("branch", {"step": self.step, "on": self.on, "arm": arm, "target": target, "why": why, **extra})
        return target

    def _time(self, call: "_Call"):
        """S-TIME-1..5: the call's start plus the time elapsed, in each schedule's zone."""
        no_data: list[int] = []
        for i, (schedules, _target) in enumerate(self.arms):
            for sc in schedules:
                local = call.local_time(sc.zone)
                if sc.matches(local, no_data):
                    extra = {"calendar": "no-data"} if no_data else {}
                    return i, f"{sc.name} matches {_when(local)}", extra
        local = call.local_time(self.prog.zone)
        extra = {"calendar": "no-data"} if no_data else {}
        return "else", f"no schedule matches {_when(local)}", extra

    def _region(self, call: "_Call"):
        """S-REG-1: by the caller's mobile prefix or area code; no region takes `else`."""
        number, region = call.caller()
        if region is None:
            return "else", f"caller {number.digits or '(withheld)'} ({number.kind}) has no region", {}
        for i, (ids, _target) in enumerate(self.arms):
            if region[0] in ids or (region[1] is not None and region[1] in ids):
                return i, f"caller {number.digits} is in {_region_label(region)}", {}
        return "else", f"caller {number.digits} is in {_region_label(region)}, which no arm lists", {}

    def _caller(self, call: "_Call"):
        """S-CALLER-1: the normalised caller number against numbers, prefixes, lists, withheld."""
        number, _region = call.caller()
        digits, withheld = number.digits, number.kind == "withheld"
        for i, (conditions, _target) in enumerate(self.arms):
            for cond in conditions:
                why = cond(digits, withheld)
                if why:
                    return i, why, {}
        return "else", f"caller {digits or '(withheld)'} matches no arm", {}


def _when(local: datetime) -> str:
    return f"{local:%Y-%m-%d %a %H:%M} {local.tzinfo}"


def _region_ids(conditions: list[ir.Condition]) -> frozenset[str]:
    from ..regions import lookup_region

    ids = set()
    for c in conditions:
        region = lookup_region(c.text)
        if region is not None:
            ids.add(region.id)
    return frozenset(ids)


def _region_label(region: tuple[str, str | None]) -> str:
    from ..regions import get_region

    names = [get_region(region[0]).name_zh]
    if region[1] is not None:
        names.append(get_region(region[1]).name_zh)
    return "/".join(names)


def _caller_condition(c: ir.Condition, flow: ir.Flow):
    """A predicate (digits, withheld) -> reason or None for one condition of a caller arm."""
    if not c.quoted and c.text in flow.lists:
        name = c.text
        exact = frozenset(e.digits for e in flow.lists[name].entries if not e.prefix)
        prefixes = tuple(e.digits for e in flow.lists[name].entries if e.prefix)

        def in_list(digits: str, withheld: bool) -> str | None:
            if withheld or not digits:
                return None
            if digits in exact or digits.startswith(prefixes):
                return f"caller {digits} is in list {name}"
            return None

        return in_list
    if not c.quoted and c.text in ("withheld", "anonymous"):
        return lambda digits, withheld: "caller number is withheld" if withheld else None
    from ..literals import caller_pattern
    from ..phones import normalize_caller

    digits_of, prefix = caller_pattern(c.text)
    if prefix:
        return lambda digits, withheld: (f"caller {digits} starts with {digits_of}"
                                         if not withheld and digits.startswith(digits_of) else None)
    wanted = normalize_caller(digits_of).digits or digits_of  # written like list entries
    return lambda digits, withheld: f"caller is {wanted}" if not withheld and digits == wanted else None


class _Schedule:
    """S-TIME-2: a schedule compiled to plain tuples."""

    __slots__ = ("name", "zone", "rules", "excepts", "uses_calendar")

    def __init__(self, sc: ir.Schedule, flow_zone: ZoneInfo):
        self.name = sc.name
        self.zone = _zone(sc.timezone) if sc.timezone else flow_zone  # S-TIME-3
        self.rules = tuple((frozenset(r.weekdays), tuple(d.value for d in r.day_types),
                            tuple(_date_range(d) for d in r.dates), tuple((t.start, t.end) for t in r.times))
                           for r in sc.rules)
        self.excepts = tuple(_date_range(d) for d in sc.excepts)
        self.uses_calendar = sc.uses_calendar()

    def matches(self, local: datetime, no_data: list[int]) -> bool:
        day = local.date()
        if any(inside(day) for inside in self.excepts):
            return False
        minute = local.hour * 60 + local.minute
        for weekdays, day_types, dates, times in self.rules:
            if weekdays or day_types or dates:
                if not (day.isoweekday() in weekdays or any(inside(day) for inside in dates)
                        or (day_types and _day_type_matches(day, day_types, no_data))):
                    continue
            if not times or any(_in_time(minute, start, end) for start, end in times):
                return True
        return False


def _in_time(minute: int, start: int, end: int) -> bool:
    if start <= end:
        return start <= minute < end
    return minute >= start or minute < end  # crosses midnight, same calendar date (S-TIME-2)


def _date_range(d: ir.DateRange):
    """A predicate for a date range (S-TIME-2): with years, those days; without, every year,
    wrapping over the new year when the end is before the start."""
    if d.start_year is not None and d.end_year is not None:
        first = date(d.start_year, d.start_month, d.start_day)
        last = date(d.end_year, d.end_month, d.end_day)
        return lambda day: first <= day <= last
    lo, hi = (d.start_month, d.start_day), (d.end_month, d.end_day)
    if lo <= hi:
        return lambda day: lo <= (day.month, day.day) <= hi
    return lambda day: (day.month, day.day) >= lo or (day.month, day.day) <= hi


def _day_type_matches(day: date, day_types: tuple[str, ...], no_data: list[int]) -> bool:
    """S-TIME-4 from the official calendar; S-TIME-5 plain weekdays where it has no data."""
    from .. import holidays

    if day.year in holidays.covered_years():
        for kind in day_types:
            if kind == "holidays" and holidays.is_holiday(day):
                return True
            if kind == "workdays" and holidays.is_workday(day):
                return True
            if kind == "restdays" and holidays.is_restday(day):
                return True
        return False
    if day.year not in no_data:
        no_data.append(day.year)
    weekend = day.isoweekday() >= 6
    return ("workdays" in day_types and not weekend) or ("restdays" in day_types and weekend)


class _SplitT:
    """S-SPLIT-1: one draw picks the arm."""

    __slots__ = ("step", "arms")

    def __init__(self, name: str, t: ir.Split, prog: Program):
        self.step = name
        running, arms = 0, []
        for arm in t.arms:
            running += arm.percent
            arms.append((running, arm.target, arm.percent))
        self.arms = tuple(arms)

    def run(self, call: "_Call") -> str:
        r = call.draw()
        for i, (total, target, percent) in enumerate(self.arms):
            if total >= r:
                call.emit("branch", {"step": self.step, "on": "split", "arm": i, "target": target,
                                     "why": f"draw {r} falls in the {percent}% arm", "draw": r})
                return target
        raise FlowRuntimeError(f"split in step {self.step} does not total 100%")


class _QueueT:
    """§7: rounds of ringing every agent, `retry` pauses, `max_wait`."""

    __slots__ = ("step", "group", "agents", "music", "announce", "every", "max_wait", "retry", "timeout_target",
                 "survey")

    def __init__(self, name: str, t: ir.Queue, prog: Program):
        self.step = name
        group = prog.flow.groups[t.group]
        self.group = group.name
        default = t.ring
        self.agents = tuple((m.phone.number, _ms(default if default is not None else group.ring_of(m)))
                            for m in group.members)
        self.music, self.announce, self.every = t.music, t.announce, t.announce_every
        self.max_wait = _ms(t.max_wait)
        self.retry = _ms(t.retry)
        self.timeout_target = _arms(t.outcomes).get("failed")  # `timeout ->` is stored as `failed`
        self.survey = t.survey

    def run(self, call: "_Call") -> str | None:
        return call.queue(self)


class _VoicemailT:
    __slots__ = ("box", "max_ms", "greeting")

    def __init__(self, name: str, t: ir.Voicemail, prog: Program):
        self.box, self.max_ms, self.greeting = t.box, _ms(t.max_length), t.greeting

    def run(self, call: "_Call") -> None:
        call.voicemail(self)


class _Survey:
    __slots__ = ("name", "prompt", "basename", "keys", "timeout", "retries", "invalid", "thanks")

    def __init__(self, sv: ir.Survey):
        self.name = sv.name
        self.prompt, self.basename = sv.prompt, prompt_name(sv.prompt)
        self.keys = frozenset(sv.keys)
        self.timeout = _ms(sv.timeout)
        self.retries = sv.retries
        self.invalid, self.thanks = sv.invalid, sv.thanks


# ====================================================================== one call


class _Script:
    """The caller's keys and hang-ups on the clock (world.py explains the grammar).

    Items are performed one after another. An item waiting for a moment (`prompt`, `exec:`,
    ...) gets its time when the engine reports that moment; the others get theirs as soon as
    the item before them has one. `actions` is the resulting time line of (t, seq, key, item).
    """

    __slots__ = ("items", "next", "last_send", "actions", "pos", "waiting", "sent")

    def __init__(self, items: tuple[DtmfItem, ...]):
        self.items = items
        self.next = 0  # first item without a time yet
        self.last_send = -1  # when the previous item's last digit was sent (-1: none yet)
        self.actions: list[tuple[int, int, str, int]] = []
        self.pos = 0
        self.sent: set[int] = set()
        self.waiting: frozenset[str] = frozenset()
        self._schedule_static()

    def _schedule_static(self) -> None:
        items = self.items
        while self.next < len(items):
            item = items[self.next]
            if item.mode == "trigger":
                self.waiting = item.triggers
                return
            base = max(self.last_send, 0)
            due = max(item.delay_ms, base) if item.mode == "abs" else base + item.delay_ms
            self._schedule(item, due)
        self.waiting = frozenset()

    def _schedule(self, item: DtmfItem, due: int) -> None:
        index = self.next
        self.next += 1
        if item.keys == "hangup":
            bisect.insort(self.actions, (due, len(self.actions), "hangup", index), lo=self.pos)
            self.next = len(self.items)  # nothing after a hang-up is ever performed
            return
        for i, key in enumerate(item.keys):
            bisect.insort(self.actions, (due + i * DTMF_STEP_MS + DTMF_TONE_MS, len(self.actions), key, index),
                          lo=self.pos)
        self.last_send = due + (len(item.keys) - 1) * DTMF_STEP_MS

    def moment(self, kind: str, t: int, step: str | None) -> None:
        """The engine reached a moment of `kind` at t: it may start the waiting item."""
        item = self.items[self.next]
        if item.step is not None and item.step != step:
            return
        if t <= self.last_send:
            return  # "next" moment: only those after the previous item was sent
        self._schedule(item, t + item.delay_ms)
        self._schedule_static()

    def unsent(self) -> list[str]:
        return [item.spec for i, item in enumerate(self.items) if i not in self.sent]


class _Call:
    """The state of one call while it runs."""

    def __init__(self, prog: Program, session: "Session", world: World, index: int):
        self.prog = prog
        self.session = session
        self.world = world
        self.index = index
        self.now = 0
        self.events: list[Event] = []
        self.tags: dict[str, str] = {}
        self.recording_days: int | None = None
        self.ringback: str | None = prog.ringback
        self.ringing: list[str] = []
        self.in_queue = False
        self.rings: dict[str, int] = {}  # rings per number in this call (per-attempt behaviours)
        self.draws: list[int] = []
        self._fixed = world.draws
        self._rng = None  # the seeded draws, fetched on the first draw
        self.script = _Script(world.dtmf)
        self.budget = _STEP_BUDGET
        self.last_key_at = 0
        self._local: tuple | None = None
        caller_end = world.caller_hangup_after_ms
        if caller_end is not None and caller_end <= world.max_ms:
            self.stop_at, self.stop_by = caller_end, "caller"
        else:
            self.stop_at, self.stop_by = world.max_ms, "timeout"

    # ------------------------------------------------------------ running

    def run(self) -> Trace:
        prog = self.prog
        try:
            for key, value in prog.tags:  # S-CALL-2: tags, then record, then ringback
                self.tag(key, value)
            if prog.record_days is not None:
                self.record(prog.record_days)
            name: str | None = prog.entry
            steps = prog.steps
            while True:  # S-CALL-3
                self.spend()
                step = steps[name]
                self.emit("step", {"step": name})
                if "step" in self.script.waiting:
                    self.script.moment("step", self.now, name)
                for action in step.actions:
                    action.run(self)
                name = step.terminal.run(self)
                if name is None:
                    raise FlowRuntimeError(f"step {step.name} ended without a way on")
        except _CallEnded as end:
            self._teardown(end)
        return Trace(prog.name, self.events, ended_by=self.events[-1].data["by"], duration_ms=self.now,
                     tags=self.tags, caller=self.world.caller, world=self.world, draws=self.draws,
                     dtmf_unsent=self.script.unsent(), call_index=self.index,
                     recording_days=self.recording_days)

    def _teardown(self, end: _CallEnded) -> None:
        """S-CALL-4: whatever runs stops at once; then the hang-up."""
        self.now = end.t
        for number in self.ringing:
            self.emit("result", {"phone": number, "outcome": "cancelled"})
        self.ringing = []
        if self.in_queue:
            self.in_queue = False
            self.emit("queue", {"action": "leave", "reason": "caller_hangup" if end.by == "caller" else "other"})
        if self.recording_days is not None:
            self.emit("record", {"action": "stop"})  # S-REC-1
        self.emit("hangup", {"by": end.by, "why": end.why})

    def end(self, by: str, why: str):
        raise _CallEnded(self.now, by, why)

    def spend(self) -> None:
        self.budget -= 1
        if self.budget < 0:
            raise FlowRuntimeError(f"flow {self.prog.name} ran {_STEP_BUDGET} steps or attempts in one call; "
                                   "it loops without letting time pass")

    # ------------------------------------------------------------ events and the clock

    def emit(self, kind: str, data: dict[str, Any]) -> None:
        self.events.append(Event(self.now, kind, data))

    def emit_at(self, t: int, kind: str, data: dict[str, Any]) -> None:
        self.events.append(Event(t, kind, data))

    def moment(self, kind: str) -> None:
        if kind in self.script.waiting:
            self.script.moment(kind, self.now, None)

    def advance(self, until: float, listen: bool, during: str) -> str | None:
        """Move the clock to `until`. Returns the first key received before it when `listen`
        (the clock then stands at the key); keys while not listening are discarded (S-ACT-1).
        Raises _CallEnded when the caller hangs up or the time limit passes on the way; a
        hang-up at the very moment something else would happen comes first."""
        script = self.script
        actions = script.actions
        while True:
            if script.pos < len(actions):
                t, _seq, key, item = actions[script.pos]
            else:
                t, key, item = INF, None, -1
            if self.stop_at <= t:
                if self.stop_at <= until:
                    raise _CallEnded(self.stop_at, self.stop_by, "the caller hung up" if self.stop_by == "caller"
                                     else "the harness time limit (max_seconds) passed")
                break
            if key == "hangup":
                if t > until:
                    break
                script.pos += 1
                script.sent.add(item)
                raise _CallEnded(t, "caller", "the caller hung up")
            if t >= until:
                break
            script.pos += 1
            script.sent.add(item)
            if listen:
                self.now = t
                self.last_key_at = t
                return key
            self.events.append(Event(t, "discard", {"digit": key, "during": during}))
        self.now = until
        return None

    # ------------------------------------------------------------ actions

    def play(self, file: str, basename: str) -> None:
        """S-ACT-1: played to its end; keys meanwhile are discarded."""
        self.emit("play", {"prompt": basename, "file": file})
        self.moment("playback")
        self.advance(self.now + self.world.prompt_length_ms(file, basename), False, "play")

    def tag(self, key: str, value: str) -> None:
        self.tags[key] = value  # S-ACT-2
        self.emit("tag", {"key": key, "value": value})

    def record(self, days: int) -> None:
        """S-ACT-3, S-REC-1: one recording per call; a second `record` only raises retention."""
        if self.recording_days is None:
            self.recording_days = days
            self.emit("record", {"action": "start", "retain_days": days})
        else:
            self.recording_days = max(self.recording_days, days)

    # ------------------------------------------------------------ caller input

    def collect_key(self, prompt: str | None, basename: str | None, timeout: int) -> str | None:
        """One attempt of S-MENU-1: the prompt (a key stops it), then `timeout` for a key."""
        self.moment("input")
        if prompt is not None:
            self.emit("play", {"prompt": basename, "file": prompt})
            key = self.advance(self.now + self.world.prompt_length_ms(prompt, basename), True, "prompt")
            if key is not None:
                return key
        return self.advance(self.now + timeout, True, "wait")

    def collect_digits(self, prompt: str | None, basename: str | None, timeout: int,
                       need: int) -> tuple[str, str] | None:
        """One attempt of S-EXT-1. Returns (digits as the trace shows them, digits without
        `#`), or None when no key came at all."""
        key = self.collect_key(prompt, basename, timeout)
        if key is None:
            return None
        digits = ""
        while key is not None:
            if key == "#":
                return (digits or "#"), digits
            digits += key
            if len(digits) >= need:
                break
            key = self.advance(self.now + timeout, True, "wait")
        return digits, digits

    def fail_input(self, step: str, attempt: int, result: str, key: str | None, handler: _Handler) -> str | None:
        """S-MENU-3/4: the handler's prompt, then its target; None = count a failure."""
        self.emit("menu", {"step": step, "attempt": attempt, "result": result, "key": key, "target": handler.target})
        if handler.prompt is not None:
            self.play(handler.prompt, handler.basename)
        return handler.target

    def exhausted(self, step: str, attempt: int, target: str | None) -> str:
        self.emit("menu", {"step": step, "attempt": attempt, "result": "exhausted", "key": None, "target": target})
        if target is None:
            self.end("flow", f"menu {step}: retries exhausted")  # S-MENU-5
        return target

    # ------------------------------------------------------------ random draws (S-RAND-*)

    def draw(self) -> int:
        """The scenario's fixed draws first, then the seeded generator's (S-RAND-2)."""
        n = len(self.draws)
        if n < len(self._fixed):
            r = self._fixed[n]
        else:
            if self._rng is None:
                self._rng = self.prog.seeded_draws(self.world.seed)
            r = self._rng(n - len(self._fixed))
        self.draws.append(r)
        return r

    # ------------------------------------------------------------ phones (§5)

    def ring(self, number: str, ring_ms: int) -> tuple[str, int, int | None]:
        """One attempt (S-DIAL-1): (outcome, ms after the ring started, talk ms)."""
        n = self.rings.get(number, 0)
        self.rings[number] = n + 1
        behaviours = self.world.phones.get(number) or self.world.default_phone
        b = behaviours[n] if n < len(behaviours) else behaviours[-1]
        if b.outcome is None or b.after_ms >= ring_ms:
            return "noanswer", ring_ms, None
        return b.outcome, b.after_ms, b.talk_ms

    def dial(self, step: str, plan: _DialPlan, arms: dict[str, str], survey: str | None) -> str:
        order, decided = plan.order(self)
        base = {"step": step}
        if plan.group is not None:
            base.update(group=plan.group, strategy=plan.strategy.value, **decided)
        if self.ringback is not None:
            base["ringback"] = self.ringback
        if plan.simultaneous:
            answered, outcomes = self._ring_all(order, plan.ring_all_ms, base)
        else:
            answered, outcomes = self._ring_in_turn(order, base)
        if answered is not None:
            self.emit("outcome", {"step": step, "outcome": "answered", "arm": None, "target": None})
            self.converse(answered, survey)
        # S-DIAL-9: no_answer beats busy beats unreachable
        outcome = "no_answer" if "noanswer" in outcomes else "busy" if "busy" in outcomes else "unreachable"
        arm = outcome if outcome in arms else "failed" if "failed" in arms else None  # S-DIAL-10
        target = arms.get(arm) if arm else None
        self.emit("outcome", {"step": step, "outcome": outcome, "arm": arm, "target": target})
        if target is None:
            self.end("flow", f"every phone failed ({outcome}) and the step has no arm for it")
        return target

    def _ring_in_turn(self, order, base: dict) -> tuple[Any, set[str]]:
        """S-DIAL-3/11: one phone at a time; the next rings when the previous failed."""
        outcomes: set[str] = set()
        extra = base  # the strategy and its draw are told once, on the first phone
        for number, ring_ms in order:
            self.emit("dial", {"phones": (number,), "mode": "sequential-step", "ring": ring_ms / 1000, **extra})
            extra = {"step": base["step"]}
            self.moment("dial")
            outcome, after, talk = self.ring(number, ring_ms)
            self.ringing = [number]
            self.advance(self.now + after, False, "ringing")
            self.ringing = []
            self.emit("result", {"phone": number, "outcome": outcome})
            if outcome == "answered":
                self._connect(number)
                return (number, talk), outcomes
            outcomes.add(outcome)
        return None, outcomes

    def _ring_all(self, order, ring_ms: int, base: dict) -> tuple[Any, set[str]]:
        """S-DIAL-7: every phone at once; the first answer wins, the others are cancelled."""
        numbers = tuple(n for n, _ in order)
        self.emit("dial", {"phones": numbers, "mode": "simultaneous", "ring": ring_ms / 1000, **base})
        self.moment("dial")
        start = self.now
        rung = [(self.ring(n, ring_ms), i, n) for i, n in enumerate(numbers)]
        answers = [(after, i) for (outcome, after, _t), i, _n in rung if outcome == "answered"]
        win = min(answers) if answers else None
        failures = sorted((after, i) for (outcome, after, _t), i, _n in rung
                          if outcome != "answered" and (win is None or after < win[0]))
        self.ringing = list(numbers)
        outcomes: set[str] = set()
        for after, i in failures:
            self.advance(start + after, False, "ringing")
            (outcome, _a, _t), _i, number = rung[i]
            self.ringing.remove(number)
            self.emit("result", {"phone": number, "outcome": outcome})
            outcomes.add(outcome)
        if win is None:
            return None, outcomes
        self.advance(start + win[0], False, "ringing")
        (_o, _a, talk), _i, winner = rung[win[1]]
        self.ringing.remove(winner)
        self.emit("result", {"phone": winner, "outcome": "answered"})
        for number in self.ringing:
            self.emit("result", {"phone": number, "outcome": "cancelled"})
        self.ringing = []
        self._connect(winner)
        return (winner, talk), outcomes

    def _connect(self, number: str) -> None:
        self.emit("connect", {"phone": number})
        self.moment("connect")

    def converse(self, answered: tuple[str, int | None], survey: str | None) -> None:
        """S-DIAL-8: talk until the phone hangs up (then the survey) or the caller does."""
        _number, talk = answered
        self.advance(INF if talk is None else self.now + talk, False, "conversation")
        name = survey or self.prog.survey  # S-SURVEY-1
        if name is not None:
            self.run_survey(self.prog.surveys[name])
        self.end("phone", "the phone hung up")

    # ------------------------------------------------------------ §7 queue

    def queue(self, q: _QueueT) -> str:
        self.emit("queue", {"action": "enter", "step": q.step, "group": q.group, "music": q.music,
                            "announce": q.announce, "announce_every": q.every})
        self.moment("queue")
        self.in_queue = True
        deadline = self.now + q.max_wait
        start = self.now
        behaviours = self.world.phones
        while True:
            self.spend()
            rung = [(self.ring(n, ring), n) for n, ring in q.agents]  # S-Q-2: all agents at once
            answers = [(after, i) for i, ((outcome, after, _t), _n) in enumerate(rung) if outcome == "answered"]
            if answers:
                after, i = min(answers)
                if start + after < deadline:  # a ring still going at max_wait is cancelled
                    self.advance(start + after, False, "queue")
                    (_o, _a, talk), number = rung[i]
                    self.in_queue = False
                    self._connect(number)
                    self.emit("queue", {"action": "leave", "reason": "answered"})  # S-Q-3
                    self.emit("outcome", {"step": q.step, "outcome": "answered", "arm": None, "target": None})
                    self.converse((number, talk), q.survey)
            round_end = start + max(after for (_o, after, _t), _n in rung)
            next_start = round_end + q.retry
            steady = all(self.rings[n] >= len(behaviours.get(n) or self.world.default_phone) for n, _ in q.agents)
            if next_start >= deadline or (steady and not answers):
                break  # every later round would be the same: nobody answers before max_wait
            self.advance(next_start, False, "queue")
            start = next_start
        self.advance(deadline, False, "queue")
        self.in_queue = False
        self.emit("queue", {"action": "leave", "reason": "timeout"})
        target = q.timeout_target
        self.emit("outcome", {"step": q.step, "outcome": "timeout", "arm": "failed" if target else None,
                              "target": target})
        if target is None:
            self.end("flow", "nobody answered within max_wait")
        return target

    # ------------------------------------------------------------ §8 survey, §9 voicemail

    def run_survey(self, sv: _Survey) -> None:
        failures = 0
        result = None
        while failures <= sv.retries:  # S-SURVEY-3: 1 + retries attempts
            self.spend()
            key = self.collect_key(sv.prompt, sv.basename, sv.timeout)
            if key is None:
                failures += 1
                continue
            self.emit("input", {"digits": key})
            if key in sv.keys:
                result = key
                break
            if sv.invalid:
                self.play(sv.invalid, prompt_name(sv.invalid))
            failures += 1
        value = result or "none"
        self.tag("survey", value)  # S-SURVEY-4
        self.emit("survey", {"survey": sv.name, "result": value})
        if result is not None and sv.thanks:
            self.play(sv.thanks, prompt_name(sv.thanks))
        self.end("flow", "survey finished")

    def voicemail(self, vm: _VoicemailT) -> None:
        """S-VM-1: a custom greeting is played like any prompt (and replaces the mailbox's
        own), then at most `max` of message; the caller may hang up at any point."""
        if vm.greeting:
            self.play(vm.greeting, prompt_name(vm.greeting))
        self.emit("voicemail", {"box": vm.box, "greeting": vm.greeting, "max": vm.max_ms / 1000})
        self.moment("voicemail")
        self.advance(self.now + vm.max_ms, False, "voicemail")
        self.end("flow", "the message reached its maximum length")

    # ------------------------------------------------------------ what branches read

    def caller(self):
        return self.prog.caller_info(self.world.caller)

    def local_time(self, zone: ZoneInfo) -> datetime:
        """The current moment in `zone` (S-TIME-1: the call's start plus the time elapsed)."""
        key = (self.now, zone)
        if self._local is not None and self._local[0] == key:
            return self._local[1]
        local = (self.world.time + timedelta(milliseconds=self.now)).astimezone(zone)
        self._local = (key, local)
        return local
