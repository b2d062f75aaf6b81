"""Semantic checks over one assembled flow: names, limits, reachability, loops, calendars.

`check(flow, options)` returns the flow with references resolved (declared phones put
into groups, `back` pointed at its menu) and every diagnostic found. Each check is a
small function; `CHECKS` lists them in the order they run.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date

from . import ir
from .diagnostics import Diagnostic, error
from .transform import did_you_mean

MAX_OPTIONS = 10
MAX_PHONES = 20
MAX_EXTENSIONS = 1000
# Prompt names become file names in both engines: letters (any script), digits, `_ - . /`.
_PROMPT_OK = re.compile(r"(?!/)(?!.*(?:^|/)\.\.(?:/|\Z))[\w\-./\u3400-\u9fff]{1,128}\Z")
_MAILBOX_OK = re.compile(r"[A-Za-z0-9_]{1,16}\Z")
# FreeSWITCH's XML pre-processor drops every line containing this (any case): a prompt that
# names it would silently lose its `playback`/`read` line
_PREPROCESSOR = re.compile(r"x-pre-process", re.IGNORECASE)
# characters an engine expands when a stored value is read again (FreeSWITCH `${...}`)
_EXPANDS = re.compile(r"[${}]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass
class CheckOptions:
    # Years the flow is compiled for; holiday data must cover the first and should cover all.
    years: list[int] = field(default_factory=lambda: [date.today().year, date.today().year + 1])
    # The file the flow was declared in: unused declarations are reported only for it.
    own_file: str | None = None
    # Declarations that lost items to value errors ("group:g", "step:main"): counting
    # checks (totals, emptiness) skip them rather than report follow-up errors.
    damaged: set[str] = field(default_factory=set)


def check(flow: ir.Flow, options: CheckOptions | None = None) -> tuple[ir.Flow, list[Diagnostic]]:
    options = options or CheckOptions()
    ctx = _Context(flow, options)
    for check_fn in CHECKS:
        ctx.diagnostics.extend(check_fn(ctx))
    return ctx.resolved(), ctx.diagnostics


class _Context:
    def __init__(self, flow: ir.Flow, options: CheckOptions):
        self.flow = flow
        self.options = options
        self.diagnostics: list[Diagnostic] = []
        self.steps = {}
        for s in flow.steps:
            self.steps.setdefault(s.name, s)
        self.used: set[tuple[str, str]] = set()  # (kind, name) of declarations used
        self.back_targets: dict[tuple[str, str], str] = {}  # (step, key) -> parent menu
        # Every step's ways out, computed once: several checks walk the graph.
        self.out: dict[str, list[tuple[str, str]]] = {s.name: list(edges(s)) for s in flow.steps}

    def resolved(self) -> ir.Flow:
        flow = self.flow
        groups = {n: _resolve_group(g, flow.phones) for n, g in flow.groups.items()}
        steps = [_resolve_step(s, flow, self.back_targets) for s in flow.steps]
        return flow.model_copy(update={"groups": groups, "steps": steps})


def _resolve_group(group: ir.Group, phones: dict[str, ir.PhoneDecl]) -> ir.Group:
    members = []
    for m in group.members:
        if not m.phone.number and m.phone.name in phones:
            decl = phones[m.phone.name]
            m = m.model_copy(update={"phone": decl.phone.model_copy(update={"span": m.phone.span})})
        members.append(m)
    return group.model_copy(update={"members": members})


def _resolve_dest(dest: ir.DialTarget, flow: ir.Flow) -> ir.DialTarget:
    if dest.group and dest.group not in flow.groups and dest.group in flow.phones:
        decl = flow.phones[dest.group]
        return ir.DialTarget(phone=decl.phone.model_copy(update={"span": dest.span}), span=dest.span)
    return dest


def _resolve_step(step: ir.Step, flow: ir.Flow, back: dict[tuple[str, str], str]) -> ir.Step:
    t = step.terminal
    if isinstance(t, ir.Dial):
        dest = _resolve_dest(t.dest, flow)
        if dest is t.dest:
            return step
        t = t.model_copy(update={"dest": dest})
    elif isinstance(t, ir.Extension):
        entries = [e.model_copy(update={"dest": _resolve_dest(e.dest, flow)}) if e.dest else e for e in t.entries]
        t = t.model_copy(update={"entries": entries})
    elif isinstance(t, ir.Menu) and any(o.action == "back" for o in t.options):
        options = [o.model_copy(update={"target": back.get((step.name, o.key))}) if o.action == "back" else o
                   for o in t.options]
        t = t.model_copy(update={"options": options})
    else:
        return step
    return step.model_copy(update={"terminal": t})


# ------------------------------------------------------------------ graph helpers


def edges(step: ir.Step) -> Iterator[tuple[str, str]]:
    """(label, target step) for every way out of a step."""
    t = step.terminal
    if isinstance(t, ir.Goto):
        yield "goto", t.target
    elif isinstance(t, ir.Menu):
        for o in t.options:
            if o.action == "goto" and o.target:
                yield f"key {o.key}", o.target
        yield from _input_edges(t)
    elif isinstance(t, ir.Extension):
        for e in t.entries:
            if e.target:
                yield f"extension {e.ext}", e.target
        yield from _input_edges(t)
        for arm in t.outcomes:
            yield arm.outcome.value, arm.target
    elif isinstance(t, (ir.Dial, ir.Queue)):
        for arm in t.outcomes:
            yield arm.outcome.value, arm.target
    elif isinstance(t, ir.Branch):
        for arm in t.arms:
            yield "arm", arm.target
        if t.else_target:
            yield "else", t.else_target
    elif isinstance(t, ir.Split):
        for arm in t.arms:
            yield f"{arm.percent}%", arm.target


def _input_edges(t: ir.Menu | ir.Extension) -> Iterator[tuple[str, str]]:
    """The ways out of a menu or extension step that no key leads to."""
    for label, h in (("invalid", t.invalid), ("no_input", t.no_input)):
        if h.target:
            yield label, h.target
    if t.exhausted:
        yield "exhausted", t.exhausted


def _ends_call(step: ir.Step) -> bool:
    """Can the call end inside this step (a hang-up, a message, or a conversation)?"""
    t = step.terminal
    if isinstance(t, (ir.Hangup, ir.Voicemail, ir.Dial, ir.Queue)):
        return True
    if isinstance(t, ir.Extension) and any(e.dest for e in t.entries):
        return True
    if isinstance(t, (ir.Menu, ir.Extension)) and t.exhausted is None:
        return True  # the default after the last retry is to hang up
    if isinstance(t, ir.Menu) and any(o.action == "back" for o in t.options):
        return True  # leads back to a parent menu, which the loop check sees separately
    return False


def _takes_time(step: ir.Step) -> bool:
    return bool(step.actions and any(isinstance(a, ir.Play) for a in step.actions)) or not isinstance(
        step.terminal, (ir.Goto, ir.Branch, ir.Split))


# ------------------------------------------------------------------ checks


def check_duplicate_steps(ctx: _Context) -> Iterator[Diagnostic]:
    seen: dict[str, ir.Step] = {}
    for s in ctx.flow.steps:
        if s.name in seen:
            first = seen[s.name]
            yield error("E202", f"step `{s.name}` is defined twice", s.span, label="second definition",
                        help=f"the first is at line {first.span.line if first.span else '?'}; rename one")
        else:
            seen[s.name] = s


def check_targets(ctx: _Context) -> Iterator[Diagnostic]:
    names = list(ctx.steps)
    for step in ctx.flow.steps:
        for label, target in ctx.out[step.name]:
            if target not in ctx.steps:
                span = _target_span(step, target)
                yield error("E201", f"`{target}` is not a step of flow `{ctx.flow.name}`", span,
                            label="no step with this name",
                            help=did_you_mean(target, names) or f"define it with `step {target} {{ ... }}`")


def _target_span(step: ir.Step, target: str):
    """Best span for a reference to `target` inside `step`: the arm that names it."""
    t = step.terminal
    for node in _arm_nodes(t):
        if getattr(node, "target", None) == target or getattr(node, "else_target", None) == target:
            return node.span
    return t.span or step.span


def _arm_nodes(t) -> list:
    out = [t]
    for attr in ("options", "outcomes", "arms", "entries"):
        out.extend(getattr(t, attr, []) or [])
    for attr in ("invalid", "no_input"):
        h = getattr(t, attr, None)
        if h is not None:
            out.append(h)
    return out


def check_references(ctx: _Context) -> Iterator[Diagnostic]:
    flow = ctx.flow
    dest_names = list(flow.groups) + list(flow.phones)
    for g in flow.groups.values():
        for m in g.members:
            if not m.phone.number:
                if m.phone.name in flow.phones:
                    ctx.used.add(("phone", m.phone.name))
                else:
                    yield error("E203", f"`{m.phone.name}` is not a declared phone", m.phone.span,
                                help=did_you_mean(m.phone.name, flow.phones) or
                                f"declare it with `phone {m.phone.name} 13800000000`, or write the number here")
    if flow.survey:
        yield from _survey_ref(ctx, flow.survey, flow.span)
    for step in flow.steps:
        t = step.terminal
        dests = []
        if isinstance(t, ir.Dial):
            dests.append(t.dest)
        if isinstance(t, ir.Extension):
            dests.extend(e.dest for e in t.entries if e.dest)
        for d in dests:
            if d.group is not None:
                if d.group in flow.groups:
                    ctx.used.add(("group", d.group))
                elif d.group in flow.phones:
                    ctx.used.add(("phone", d.group))
                else:
                    yield error("E203", f"`{d.group}` is not a declared group or phone", d.span,
                                help=did_you_mean(d.group, dest_names) or
                                f"declare `group {d.group} {{ ... }}`, or dial a number directly")
        if isinstance(t, ir.Queue):
            if t.group is None:
                yield error("E317", "this queue has no group of agents", t.span,
                            help="add `group NAME`: the phones that answer queued callers")
            elif t.group in flow.groups:
                ctx.used.add(("group", t.group))
            else:
                yield error("E203", f"`{t.group}` is not a declared group", t.span,
                            help=did_you_mean(t.group, flow.groups))
        survey = getattr(t, "survey", None)
        if survey:
            yield from _survey_ref(ctx, survey, t.span)


def _survey_ref(ctx: _Context, name: str, span) -> Iterator[Diagnostic]:
    if name in ctx.flow.surveys:
        ctx.used.add(("survey", name))
    else:
        yield error("E206", f"`{name}` is not a declared survey", span,
                    help=did_you_mean(name, ctx.flow.surveys) or f"declare it with `survey {name} {{ prompt \"...\" }}`")


def check_groups(ctx: _Context) -> Iterator[Diagnostic]:
    for g in ctx.flow.groups.values():
        intact = f"group:{g.name}" not in ctx.options.damaged
        if not g.members and intact:
            yield error("E311", f"group `{g.name}` has no phones", g.span, help="list at least one phone number")
            continue
        if not g.members:
            continue
        if len(g.members) > MAX_PHONES:
            yield error("E303", f"group `{g.name}` has {len(g.members)} phones; at most {MAX_PHONES} are allowed",
                        g.members[MAX_PHONES].span, label=f"phone {MAX_PHONES + 1}",
                        help="split the phones into two groups and fail over from one to the other")
        seen: dict[str, ir.Member] = {}
        for m in g.members:
            key = m.phone.number or f"name:{m.phone.name}"
            if key in seen:
                yield error("E202", f"phone {m.phone.number or m.phone.name} is listed twice in group `{g.name}`",
                            m.span, help="list each phone once; use `ratio` weights to favour one")
            seen[key] = m
        if g.strategy is ir.Strategy.RING_ALL:
            own_ring = [m for m in g.members if m.ring is not None]
            if own_ring:
                yield error("E318", f"group `{g.name}` rings every phone together, so a phone cannot have its own ring time",
                            own_ring[0].span, help="set the group's `ring` instead")
        weighted = [m for m in g.members if m.weight is not None]
        if not intact:
            continue
        if g.strategy is ir.Strategy.RATIO:
            missing = [m for m in g.members if m.weight is None]
            if missing:
                yield error("E310", f"phone in ratio group `{g.name}` has no weight", missing[0].span,
                            help="give every phone a share, e.g. `13800000001 (weight 70)`")
            elif sum(m.weight for m in g.members) != 100:
                total = sum(m.weight for m in g.members)
                yield error("E304", f"weights of group `{g.name}` total {total}%, not 100%", g.span,
                            help="shares are percentages of calls: make them add up to 100")
        elif weighted:
            yield error("E310", f"group `{g.name}` is `{g.strategy.value}`, so weights do nothing", weighted[0].span,
                        help="use `strategy ratio` to share calls by weight, or remove the weights")


def check_menus(ctx: _Context) -> Iterator[Diagnostic]:
    for step in ctx.flow.steps:
        t = step.terminal
        if isinstance(t, ir.Menu):
            if not t.options:
                yield error("E315", "this menu has no options", t.span, help="add options such as `1 -> sales`")
            seen: dict[str, ir.MenuOption] = {}
            for o in t.options:
                if o.key in seen:
                    yield error("E301", f"key {o.key} is used twice in this menu", o.span, label="second use",
                                help=f"the first is at line {seen[o.key].span.line}")
                seen[o.key] = o
            real = [o for o in t.options if o.action == "goto"]
            if len(real) > MAX_OPTIONS:
                yield error("E302", f"this menu has {len(real)} options; at most {MAX_OPTIONS} are allowed",
                            real[MAX_OPTIONS].span, help="move some options into a sub-menu")
        elif isinstance(t, ir.Extension):
            if not t.entries:
                yield error("E315", "this extension step has no extensions", t.span,
                            help="map extensions to phones, e.g. `801 13800000001`")
                continue
            if len(t.entries) > MAX_EXTENSIONS:
                yield error("E303", f"{len(t.entries)} extensions; at most {MAX_EXTENSIONS} are allowed", t.span)
            length = t.digits or len(t.entries[0].ext)
            seen_ext: dict[str, ir.ExtensionEntry] = {}
            for e in t.entries:
                if len(e.ext) != length:
                    yield error("E313", f"extension {e.ext} has {len(e.ext)} digits; this step reads {length}",
                                e.span, help="give every extension the same number of digits"
                                + ("" if t.digits else ", or set `digits`"))
                if e.ext in seen_ext:
                    yield error("E301", f"extension {e.ext} is listed twice", e.span)
                seen_ext[e.ext] = e


def check_back(ctx: _Context) -> Iterator[Diagnostic]:
    """`back` goes to the one menu that leads to this menu (through non-menu steps)."""
    parents: dict[str, set[str]] = {}
    for step in ctx.flow.steps:
        if not isinstance(step.terminal, ir.Menu):
            continue
        # Walk forward from each of this menu's options through steps that are not menus.
        stack = [tgt for _, tgt in ctx.out[step.name]]
        seen: set[str] = set()
        while stack:
            name = stack.pop()
            if name in seen or name not in ctx.steps:
                continue
            seen.add(name)
            nxt = ctx.steps[name]
            if isinstance(nxt.terminal, ir.Menu):
                if name != step.name:
                    parents.setdefault(name, set()).add(step.name)
                continue
            stack.extend(tgt for _, tgt in ctx.out[name])
    for step in ctx.flow.steps:
        t = step.terminal
        if not isinstance(t, ir.Menu):
            continue
        for o in t.options:
            if o.action != "back":
                continue
            ps = sorted(parents.get(step.name, ()))
            if len(ps) == 1:
                ctx.back_targets[(step.name, o.key)] = ps[0]
            elif not ps:
                yield error("E312", "`back` has nowhere to go: no menu leads to this one", o.span,
                            help="remove the option, or name the step to go to")
            else:
                yield error("E312", f"`back` is ambiguous: menus {', '.join(f'`{p}`' for p in ps)} all lead here",
                            o.span, help="write the target instead, e.g. `" + o.key + " -> " + ps[0] + "`")


def check_branches(ctx: _Context) -> Iterator[Diagnostic]:
    from . import regions

    flow = ctx.flow
    for step in flow.steps:
        t = step.terminal
        if isinstance(t, ir.Split):
            total = sum(a.percent for a in t.arms)
            if total != 100 and f"step:{step.name.split('.')[0]}" not in ctx.options.damaged:
                yield error("E305", f"split shares total {total}%, not 100%", t.span,
                            help="every call takes exactly one arm: make the shares add up to 100%")
            continue
        if not isinstance(t, ir.Branch):
            continue
        if t.else_target is None:
            yield error("E306", f"this {t.on} branch has no `else` arm", t.span, label="add `else -> ...`",
                        help=_else_hint(t.on))
        seen: dict[str, ir.Condition] = {}
        covered_provinces: set[str] = set()
        for arm in t.arms:
            arm_keys = []
            for c in arm.conditions:
                key = None
                misplaced = _misplaced_condition(t.on, c, flow)
                if misplaced:
                    yield misplaced
                    continue
                if t.on == "time":
                    if c.quoted or c.text not in flow.schedules:
                        yield error("E204", f"`{c.text}` is not a declared schedule", c.span,
                                    help=did_you_mean(c.text, flow.schedules) or
                                    f"declare it with `schedule {c.text} {{ mon-fri 09:00-18:00 }}`")
                        continue
                    ctx.used.add(("schedule", c.text))
                    key = c.text
                elif t.on == "region":
                    region = regions.lookup_region(c.text)
                    candidates = regions.region_candidates(c.text) if region is None else []
                    if region is None and len(candidates) > 1:
                        names = ", ".join(f"`{r.id}` ({r.name_zh})" for r in candidates)
                        yield error("E219", f"`{c.text}` is ambiguous: it names {names}", c.span,
                                    label="ambiguous region", help="write the Chinese name or the id of the one you mean")
                        continue
                    if region is None:
                        sug = regions.suggest_regions(c.text)
                        yield error("E219", f"`{c.text}` is not a Chinese province or city", c.span,
                                    label="unknown region",
                                    help=(f"did you mean {', '.join(f'`{s}`' for s in sug)}?" if sug else
                                          "write a province or city in Chinese (广东, 深圳) or pinyin (guangdong)"))
                        continue
                    key = region.id
                    arm_keys.append((region, c))
                else:  # caller
                    if not c.quoted and c.text in flow.lists:
                        ctx.used.add(("list", c.text))
                        key = f"list:{c.text}"
                    elif not c.quoted and c.text in ("withheld", "anonymous"):
                        key = "withheld"
                    elif not c.quoted and not c.text[:1].isdigit() and not c.text.startswith("+"):
                        yield error("E205", f"`{c.text}` is not a declared list", c.span,
                                    help=did_you_mean(c.text, [*flow.lists, "withheld"]) or
                                    f"declare it with `list {c.text} {{ 13800000001 138* }}`")
                        continue
                    else:
                        from . import literals

                        try:
                            digits, prefix = literals.caller_pattern(c.text)
                        except literals.LiteralError as exc:
                            yield error(exc.code, exc.message, c.span, help=exc.hint)
                            continue
                        key = f"{digits}{'*' if prefix else ''}"
                if key is None:
                    continue
                if key in seen:
                    yield error("E316", f"`{c.text}` already has an arm in this branch", c.span,
                                help=f"the first is at line {seen[key].span.line}; an arm only ever gets the "
                                "calls that no earlier arm took")
                seen[key] = c
            if t.on == "region" and arm_keys and all(
                    r.province_id in covered_provinces and r.level == "city" for r, _ in arm_keys):
                yield error("W405", "every region of this arm is inside a province handled by an earlier arm",
                            arm.span, help="arms are tried in order: move this arm above the province's arm")
            covered_provinces.update(r.id for r, _ in arm_keys if r.level == "province")


def _misplaced_condition(kind: str, c: ir.Condition, flow: ir.Flow) -> Diagnostic | None:
    """E229: a condition that names the wrong kind of thing for this branch."""
    from . import regions

    if kind == "time" and c.quoted and c.text in flow.schedules:
        return error("E229", f"schedule names are written without quotes: `{c.text}`", c.span,
                     help=f"write `{c.text} -> ...`")
    if kind == "region" and not c.quoted and (c.text in flow.lists or c.text in flow.schedules):
        what = "list" if c.text in flow.lists else "schedule"
        other = "caller" if what == "list" else "time"
        return error("E229", f"`{c.text}` is a {what}, but this branch tests the caller's region", c.span,
                     help=f"test it in a `branch {other}`")
    if kind == "caller" and c.text not in flow.lists and not c.text[:1].isdigit() and c.text not in (
            "withheld", "anonymous") and (c.text in flow.schedules or regions.lookup_region(c.text)):
        what = "schedule" if c.text in flow.schedules else "region"
        other = "time" if what == "schedule" else "region"
        return error("E229", f"`{c.text}` is a {what}, but this branch tests the caller's number", c.span,
                     help=f"test it in a `branch {other}`")
    return None


def _else_hint(kind: str) -> str:
    return {
        "time": "say where calls outside every schedule go, e.g. `else -> closed`",
        "region": "callers from other regions, abroad or with a withheld number need somewhere to go",
        "caller": "say where every other caller goes, e.g. `else -> main`",
    }[kind]


def check_schedules(ctx: _Context) -> Iterator[Diagnostic]:
    from . import holidays

    flow = ctx.flow
    uses_calendar = []
    for s in flow.schedules.values():
        if not s.rules:
            yield error("E307", f"schedule `{s.name}` has no rules, so it never matches", s.span,
                        help="add a rule such as `mon-fri 09:00-18:00`")
            continue
        if ("schedule", s.name) in ctx.used and s.uses_calendar():
            uses_calendar.append(s)
        # The comma trap: `mon wed 09:00-12:00` reads as "mon all day" plus "wed 09-12".
        for prev, nxt in zip(s.rules, s.rules[1:]):
            same_line = prev.span and nxt.span and prev.span.end_line == nxt.span.line
            if not same_line:
                continue
            if not prev.times and (prev.weekdays or prev.day_types):
                yield error("W404", "this rule has no hours, so it matches the whole day", prev.span,
                            help="separate days with commas to share the hours that follow: `mon, wed 09:00-12:00`")
            elif prev.times and nxt.times and not (nxt.weekdays or nxt.day_types or nxt.dates):
                yield error("W404", "these hours start a new rule that applies every day", nxt.span,
                            help="separate time ranges with commas to give them the same days: "
                            "`sat 10:00-12:00, 14:00-16:00`")
    if not uses_calendar:
        return
    covered = holidays.covered_years()
    years = ctx.options.years
    first = uses_calendar[0]
    for i, year in enumerate(years):
        if year in covered:
            continue
        notes = (f"calendar data: {holidays.data_version()}, years {covered.start}-{covered.stop - 1}",
                 "without data, `holidays` matches no day and `workdays`/`restdays` are plain Mon-Fri/Sat-Sun "
                 "(docs/semantics.md S-TIME-5)")
        if i == 0:
            yield error("E309", f"schedule `{first.name}` uses the official holiday calendar, which has no data for "
                        f"{year}", first.span, notes=notes,
                        help="upgrade chinesecalendar once the State Council publishes the year, "
                        "or compile with --year for a covered year")
        else:
            yield error("W403", f"the official holiday calendar ends in {covered.stop - 1}; in {year} "
                        f"schedule `{first.name}` cannot know that year's holidays and adjusted working days",
                        first.span, notes=notes,
                        help="recompile when the year's calendar is published (usually each November)")
        break


def check_values(ctx: _Context) -> Iterator[Diagnostic]:
    flow = ctx.flow
    prompts: list[tuple[str, object]] = []
    if flow.ringback:
        prompts.append((flow.ringback, flow.span))
    for sv in flow.surveys.values():
        prompts.extend((p, sv.span) for p in (sv.prompt, sv.invalid, sv.thanks) if p)
    for tag in flow.tags:
        yield from _check_tag(tag)
    for step in flow.steps:
        for a in step.actions:
            if isinstance(a, (ir.Play, ir.Ringback)):
                prompts.append((a.prompt, a.span))
            elif isinstance(a, ir.Tag):
                yield from _check_tag(a)
        t = step.terminal
        if isinstance(t, (ir.Menu, ir.Extension)):
            prompts.extend((p, t.span) for p in (t.prompt, t.invalid.prompt, t.no_input.prompt) if p)
        elif isinstance(t, ir.Queue):
            prompts.extend((p, t.span) for p in (t.music, t.announce) if p)
        elif isinstance(t, ir.Voicemail):
            if t.greeting:
                prompts.append((t.greeting, t.span))
            if not _MAILBOX_OK.match(t.box):
                yield error("E224", f"`{t.box}` is not a valid mailbox", t.span,
                            help="mailboxes are 1 to 16 ASCII letters, digits or `_`, e.g. `8001`")
    for text, span in prompts:
        if not _PROMPT_OK.match(text):
            yield error("E223", f"prompt name `{text[:40]}` cannot be used as a sound file name", span,
                        help="use letters, digits, `_`, `-`, `.` and `/` (no spaces, no `..`, not starting with `/`)")
        elif _PREPROCESSOR.search(text):
            yield error("E223", f"prompt name `{text[:40]}` contains `x-pre-process`", span,
                        help="FreeSWITCH's XML pre-processor drops every line that contains it: rename the file")
    for sv in flow.surveys.values():
        if not sv.keys:
            yield error("E227", f"survey `{sv.name}` accepts no keys", sv.span, help="add `keys 1, 2, 3, 4, 5`")


def _check_tag(tag: ir.Tag) -> Iterator[Diagnostic]:
    if len(tag.key) > 32:
        yield error("E225", f"tag name `{tag.key[:32]}...` has {len(tag.key)} characters; at most 32 are allowed",
                    tag.span)
    if len(tag.value) > 64:
        yield error("E225", f"the value of tag `{tag.key}` has {len(tag.value)} characters; at most 64 are allowed",
                    tag.span)
    if _CONTROL.search(tag.value):
        yield error("E225", f"the value of tag `{tag.key}` has a control character (a newline or tab?)", tag.span,
                    help="tag values are one line of text")
    if _EXPANDS.search(tag.value):
        yield error("E225", f"the value of tag `{tag.key}` contains `$`, `{{` or `}}`", tag.span,
                    help="tags end up in channel variables and CDRs, where an engine would expand `${...}` "
                         "when the value is read (docs/targets/freeswitch.md, \"Caller data and flow text\"); "
                         "write the text without them")


def check_reachability(ctx: _Context) -> Iterator[Diagnostic]:
    if not ctx.flow.steps:
        return
    reached = _reachable(ctx, ctx.flow.steps[0].name)
    for step in ctx.flow.steps:
        if step.name not in reached and not step.synthetic:
            yield error("W401", f"step `{step.name}` is never reached", step.span, label="unreachable",
                        help="nothing leads here from the first step; remove it or add a `goto`")


def _reachable(ctx: _Context, start: str) -> set[str]:
    seen = {start}
    stack = [start]
    while stack:
        s = ctx.steps.get(stack.pop())
        if s is None:
            continue
        targets = [tgt for _, tgt in ctx.out[s.name]]
        if isinstance(s.terminal, ir.Menu):
            targets += [o.target or ctx.back_targets.get((s.name, o.key), "") for o in s.terminal.options
                        if o.action == "back"]
        for tgt in targets:
            if tgt and tgt not in seen:
                seen.add(tgt)
                stack.append(tgt)
    return seen


def check_loops(ctx: _Context) -> Iterator[Diagnostic]:
    """A cycle is inescapable when nothing inside it can end the call or lead out of it, or
    when it passes no time at all (gotos and branches re-decide the same way forever)."""
    graph = {name: [t for _, t in ctx.out[name] if t in ctx.steps] for name in ctx.steps}
    for name, s in ctx.steps.items():
        if isinstance(s.terminal, ir.Menu):
            graph[name] += [ctx.back_targets[(name, o.key)] for o in s.terminal.options
                            if o.action == "back" and (name, o.key) in ctx.back_targets]
    reported: set[str] = set()
    for comp in strongly_connected(graph):
        if len(comp) == 1 and comp[0] not in graph[comp[0]]:
            continue  # not a cycle
        members = set(comp)
        steps = [ctx.steps[n] for n in comp]
        leaves = any(t not in members for n in comp for t in graph[n])
        ends = any(_ends_call(s) for s in steps)
        instant = not any(_takes_time(s) for s in steps) and not any(isinstance(s.terminal, ir.Split) for s in steps)
        if (not leaves and not ends) or instant:
            first = min(steps, key=lambda s: (s.span.line if s.span else 0, s.name))
            if first.name in reported:
                continue
            reported.add(first.name)
            order = _cycle_order(first.name, members, graph)
            path = " -> ".join(order[:6]) + (" -> ..." if len(order) > 6 else f" -> {first.name}")
            why = "without waiting for the caller or letting any time pass" if instant else \
                "and no caller input, timeout or answer can leave it"
            yield error("E308", f"steps loop forever {why}", first.span, label="loop starts here",
                        notes=(f"loop: {path}",),
                        help="give the loop a way out: a menu option, an `exhausted ->` arm, or a hangup")


def _cycle_order(start: str, members: set[str], graph: dict[str, list[str]]) -> list[str]:
    """The steps of a loop in the order a call walks them, from `start`."""
    order, seen, node = [start], {start}, start
    while True:
        nxt = next((t for t in graph[node] if t in members and t not in seen), None)
        if nxt is None:
            return order
        order.append(nxt)
        seen.add(nxt)
        node = nxt


def strongly_connected(graph: dict[str, list[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative (flows can have thousands of steps); components come
    out in reverse topological order (each after every component it leads to)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            succ = graph[node]
            if i < len(succ):
                work.append((node, i + 1))
                nxt = succ[i]
                if nxt not in index:
                    work.append((nxt, 0))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            if low[node] == index[node]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == node:
                        break
                out.append(comp)
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return out


def check_ring_time(ctx: _Context) -> Iterator[Diagnostic]:
    flow = ctx.flow
    totals: dict[tuple[str, float | None], float] = {}
    for step in flow.steps:
        t = step.terminal
        if not isinstance(t, ir.Dial) or t.dest.group not in flow.groups:
            continue
        key = (t.dest.group, t.ring)
        if key not in totals:
            g = flow.groups[t.dest.group]
            rings = [t.ring if t.ring is not None else g.ring_of(m) for m in g.members]
            totals[key] = max(rings, default=0) if g.strategy is ir.Strategy.RING_ALL else sum(rings)
        total = totals[key]
        if total > flow.max_ring:
            yield error("W402", f"callers may ring for {total:g}s before anyone answers "
                        f"(more than max_ring {flow.max_ring:g}s)", t.span,
                        help="shorten the ring times, use `ring_all`, or raise the flow's `max_ring`")


def check_unused(ctx: _Context) -> Iterator[Diagnostic]:
    own = ctx.options.own_file
    flow = ctx.flow
    for kind, table in (("group", flow.groups), ("schedule", flow.schedules), ("list", flow.lists),
                        ("survey", flow.surveys)):
        for name, decl in table.items():
            if (kind, name) in ctx.used or decl.span is None or (own and decl.span.file != own):
                continue
            yield error("W406", f"{kind} `{name}` is never used", decl.span, help="remove it, or use it in a step")


def check_identifiers(ctx: _Context) -> Iterator[Diagnostic]:
    """E230: names of one kind that flowc/names.py cannot give distinct identifiers (only a
    collision of the digest suffix does that: names.py adds it to every name that needs it)."""
    from .names import flow_names

    flow = ctx.flow
    spans = {"step": {n: s.span for n, s in ctx.steps.items()},
             "survey": {n: s.span for n, s in flow.surveys.items()},
             "tag": {}}
    for t in [*flow.tags, *(a for s in flow.steps for a in s.actions if isinstance(a, ir.Tag))]:
        spans["tag"].setdefault(t.key, t.span)
    n = flow_names(flow)
    for kind, group in n.clashes:
        first, *others = group
        same = getattr(n, kind + "s")[first]
        for other in others:
            yield error("E230", f"{kind}s `{first}` and `{other}` would both be `{same}` in the generated "
                        "dialplans", spans[kind].get(other) or flow.span,
                        help=f"rename one of the two {kind}s")


CHECKS = [
    check_duplicate_steps,
    check_identifiers,
    check_targets,
    check_references,
    check_groups,
    check_menus,
    check_back,
    check_branches,
    check_schedules,
    check_values,
    check_reachability,
    check_loops,
    check_ring_time,
    check_unused,
]
