"""Part 1 of a diff: what changed between two checked flows, in words.

Compares the IR with every source position left out, so formatting, comments and moved
lines or declarations change nothing. Steps, groups, schedules, lists and surveys are
matched by name, menu options by key, group members by number, outcome arms by outcome.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from pydantic import BaseModel

from .. import ir
from ..graph import schedule_text

__all__ = ["canonical", "changes", "plain"]


def plain(x: Any) -> Any:
    """The IR as plain data without spans (what "the same flow" means here)."""
    if isinstance(x, BaseModel):
        return {k: plain(getattr(x, k)) for k in type(x).model_fields if k != "span"}
    if isinstance(x, dict):
        return {k: plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [plain(v) for v in x]
    if isinstance(x, Enum):
        return x.value
    return x


def canonical(flow: ir.Flow) -> dict:
    """A flow as plain data where only meaning counts: no spans, steps by name (the entry
    kept apart), so moving a step or a declaration changes nothing."""
    data = plain(flow)
    steps = data.pop("steps")
    data["entry"] = steps[0]["name"] if steps else None
    data["steps"] = {s["name"]: s for s in steps}
    return data


def _s(x: Any) -> str:
    if x is None:
        return "none"
    if isinstance(x, float):
        return f"{x:g} s"
    if isinstance(x, Enum):
        return str(x.value)
    return str(x)


def _fields(old: Any, new: Any, names: tuple[str, ...], prefix: str) -> list[str]:
    out = []
    for name in names:
        a, b = getattr(old, name), getattr(new, name)
        if plain(a) != plain(b):
            out.append(f"{prefix}{name.replace('_', ' ')} {_s(a)} → {_s(b)}")
    return out


def _number(h: ir.Hotline | None) -> str:
    if h is None:
        return "none"
    n = h.number
    return f"{n[:3]}-{n[3:6]}-{n[6:]}"


def _dest(d: ir.DialTarget | None) -> str:
    if d is None:
        return "nothing"
    if d.group:
        return f"group `{d.group}`"
    p = d.phone
    return f"`{p.name}` {p.number}" if p.name else p.number


def terminal_summary(t: Any) -> str:
    """A terminal in a few words: `dial group sales`, `menu (3 keys)`, `voicemail 8000`."""
    if isinstance(t, ir.Goto):
        return f"goto `{t.target}`"
    if isinstance(t, ir.Hangup):
        return "hangup"
    if isinstance(t, ir.Menu):
        return f"menu ({len(t.options)} keys)"
    if isinstance(t, ir.Dial):
        return f"dial {_dest(t.dest)}"
    if isinstance(t, ir.Extension):
        return f"extension ({len(t.entries)} extensions)"
    if isinstance(t, ir.Branch):
        return f"branch {t.on}"
    if isinstance(t, ir.Split):
        return "split " + " / ".join(f"{a.percent}%" for a in t.arms)
    if isinstance(t, ir.Queue):
        return f"queue group `{t.group}`"
    if isinstance(t, ir.Voicemail):
        return f"voicemail {t.box}"
    return t.kind


def _action(a: Any) -> str:
    if isinstance(a, ir.Play):
        return f"play `{a.prompt}`"
    if isinstance(a, ir.Tag):
        return f"tag {a.key} = {a.value}"
    if isinstance(a, ir.Record):
        return f"record ({a.retain_days} d)"
    return f"ringback `{a.prompt}`"


def _keyed(old: list, new: list, key, what: str, show, prefix: str) -> list[str]:
    """Lists matched by a key: added, removed, changed."""
    a = {key(x): x for x in old}
    b = {key(x): x for x in new}
    out = []
    for k in a:
        if k not in b:
            out.append(f"{prefix}{what} {k} removed (was {show(a[k])})")
        elif plain(a[k]) != plain(b[k]):
            out.append(f"{prefix}{what} {k} now {show(b[k])} (was {show(a[k])})")
    for k in b:
        if k not in a:
            out.append(f"{prefix}{what} {k} added: {show(b[k])}")
    return out


def _option(o: ir.MenuOption) -> str:
    return f"goes to `{o.target}`" if o.action == "goto" else f"does `{o.action}`"


def _arm(a: ir.OutcomeArm) -> str:
    return f"goes to `{a.target}`"


def _handlers(old, new, p: str) -> list[str]:
    out = []
    for name in ("invalid", "no_input"):
        a, b = getattr(old, name), getattr(new, name)
        if plain(a) != plain(b):
            def show(h):
                parts = ([f"play `{h.prompt}`"] if h.prompt else []) + ([f"go to `{h.target}`"] if h.target else ["retry"])
                return ", ".join(parts)
            out.append(f"{p}{name.replace('_', ' ')}: {show(b)} (was {show(a)})")
    if old.exhausted != new.exhausted:
        out.append(f"{p}when retries are exhausted: {('go to `' + new.exhausted + '`') if new.exhausted else 'hang up'}"
                   f" (was {('`' + old.exhausted + '`') if old.exhausted else 'hang up'})")
    return out


def _terminal(name: str, a: Any, b: Any) -> list[str]:
    p = f"{'menu' if isinstance(b, ir.Menu) else 'step'} `{name}`: "
    if type(a) is not type(b):
        return [f"step `{name}`: now {terminal_summary(b)} (was {terminal_summary(a)})"]
    if plain(a) == plain(b):
        return []
    if isinstance(a, ir.Goto):
        return [f"{p}now goes to `{b.target}` (was `{a.target}`)"]
    if isinstance(a, ir.Menu):
        return (_fields(a, b, ("prompt", "timeout", "retries"), p)
                + _keyed(a.options, b.options, lambda o: o.key, "key", _option, p) + _handlers(a, b, p))
    if isinstance(a, (ir.Dial, ir.Extension, ir.Queue)):
        out = []
        if isinstance(a, ir.Dial) and plain(a.dest) != plain(b.dest):
            out.append(f"{p}now dials {_dest(b.dest)} (was {_dest(a.dest)})")
        if isinstance(a, ir.Extension):
            out += _fields(a, b, ("prompt", "digits", "timeout", "retries"), p)
            out += _keyed(a.entries, b.entries, lambda e: e.ext, "extension",
                          lambda e: f"goes to `{e.target}`" if e.target else f"rings {_dest(e.dest)}", p)
            out += _handlers(a, b, p)
        if isinstance(a, ir.Queue):
            out += _fields(a, b, ("group", "music", "announce", "announce_every", "max_wait", "retry"), p)
        out += _fields(a, b, ("ring", "survey"), p)
        out += _keyed(a.outcomes, b.outcomes, lambda x: x.outcome.value, "on", _arm, p)
        return out
    if isinstance(a, ir.Branch):
        out = []
        conds = lambda arm: ", ".join(c.text for c in arm.conditions)  # noqa: E731
        for i in range(max(len(a.arms), len(b.arms))):
            x = a.arms[i] if i < len(a.arms) else None
            y = b.arms[i] if i < len(b.arms) else None
            if x is None:
                out.append(f"{p}arm `{conds(y)}` → `{y.target}` added")
            elif y is None:
                out.append(f"{p}arm `{conds(x)}` → `{x.target}` removed")
            elif plain(x.conditions) != plain(y.conditions):
                out.append(f"{p}arm {i + 1} now `{conds(y)}` → `{y.target}` (was `{conds(x)}` → `{x.target}`)")
            elif x.target != y.target:
                out.append(f"{p}`{conds(y)}` now goes to `{y.target}` (was `{x.target}`)")
        if a.else_target != b.else_target:
            out.append(f"{p}else now goes to `{b.else_target}` (was `{a.else_target}`)")
        return out
    if isinstance(a, ir.Split):
        show = lambda t: ", ".join(f"{x.percent}% → `{x.target}`" for x in t.arms)  # noqa: E731
        return [f"{p}split now {show(b)} (was {show(a)})"]
    if isinstance(a, ir.Voicemail):
        return _fields(a, b, ("box", "max_length", "greeting"), p)
    return [f"{p}changed"]


def _member(m: ir.Member) -> str:
    extra = [f"weight {m.weight}"] if m.weight is not None else []
    extra += [f"ring {m.ring:g} s"] if m.ring is not None else []
    return m.phone.number + (f" ({', '.join(extra)})" if extra else "")


def _group(name: str, a: ir.Group, b: ir.Group) -> list[str]:
    p = f"group `{name}`: "
    out = []
    if a.strategy != b.strategy:
        out.append(f"{p}strategy {a.strategy.value} → {b.strategy.value}")
    if a.ring != b.ring:
        out.append(f"{p}ring {a.ring:g} s → {b.ring:g} s")
    old = {m.phone.number: m for m in a.members}
    new = {m.phone.number: m for m in b.members}
    added = [_member(m) for n, m in new.items() if n not in old]
    removed = [_member(m) for n, m in old.items() if n not in new]
    if added:
        out.append(f"{p}{', '.join(added)} added")
    if removed:
        out.append(f"{p}{', '.join(removed)} removed")
    for n in old:
        if n in new and plain(old[n]) != plain(new[n]):
            a_m, b_m = old[n], new[n]
            parts = []
            if a_m.weight != b_m.weight:
                parts.append(f"weight {a_m.weight if a_m.weight is not None else 'none'} → "
                             f"{b_m.weight if b_m.weight is not None else 'none'}")
            if a_m.ring != b_m.ring:
                parts.append(f"ring {_s(a_m.ring) if a_m.ring is not None else 'the group’s'} → "
                             f"{_s(b_m.ring) if b_m.ring is not None else 'the group’s'}")
            if a_m.phone.name != b_m.phone.name:
                parts.append(f"named `{b_m.phone.name}` (was `{a_m.phone.name}`)")
            out.append(f"{p}{n}: {', '.join(parts) or 'changed'}")
    common_old = [n for n in old if n in new]
    common_new = [n for n in new if n in old]
    if common_old != common_new:
        out.append(f"{p}order now {', '.join(common_new)} (was {', '.join(common_old)})")
    return out


def _rule_texts(sc: ir.Schedule) -> list[str]:
    return [schedule_text(ir.Schedule(name=sc.name, rules=[r])) for r in sc.rules]


def _schedule(name: str, a: ir.Schedule, b: ir.Schedule) -> list[str]:
    p = f"schedule `{name}`: "
    out = []
    ra, rb = _rule_texts(a), _rule_texts(b)
    out += [f"{p}{t} added" for t in rb if t not in ra]
    out += [f"{p}{t} removed" for t in ra if t not in rb]
    ea = [plain(d) for d in a.excepts]
    eb = [plain(d) for d in b.excepts]
    if ea != eb:
        show = lambda sc: schedule_text(ir.Schedule(name="x", excepts=sc.excepts)).replace("never; ", "")  # noqa: E731
        out.append(f"{p}{show(b)} (was {show(a) if a.excepts else 'no exceptions'})")
    if a.timezone != b.timezone:
        out.append(f"{p}timezone {a.timezone or 'the flow'}'s → {b.timezone or 'the flow'}'s")
    if not out:
        out.append(f"{p}rules reordered")
    return out


def _declared(kind: str, old: dict, new: dict, compare) -> list[str]:
    out = []
    for name in old:
        if name not in new:
            out.append(f"{kind} `{name}` removed")
        elif plain(old[name]) != plain(new[name]):
            out.extend(compare(name, old[name], new[name]))
    out += [f"{kind} `{name}` added" for name in new if name not in old]
    return out


def changes(old: ir.Flow, new: ir.Flow) -> list[str]:
    """Every difference between two checked flows, one sentence each (empty: the same flow)."""
    if canonical(old) == canonical(new):
        return []
    out: list[str] = []
    if plain(old.hotline) != plain(new.hotline):
        out.append(f"400 number {_number(old.hotline)} → {_number(new.hotline)}")
    if old.name != new.name:
        out.append(f"flow renamed `{old.name}` → `{new.name}`")
    out += _fields(old, new, ("title", "timezone", "max_ring", "survey", "ringback"), "flow: ")
    if plain(old.record) != plain(new.record):
        show = lambda r: f"every call recorded ({r.retain_days} d)" if r else "no recording"  # noqa: E731
        out.append(f"flow: {show(new.record)} (was {show(old.record)})")
    if plain(old.tags) != plain(new.tags):
        out.append(f"flow: tags {', '.join(f'{t.key}={t.value}' for t in new.tags) or 'none'} "
                   f"(was {', '.join(f'{t.key}={t.value}' for t in old.tags) or 'none'})")
    if old.steps and new.steps and old.steps[0].name != new.steps[0].name:
        out.append(f"calls now start at step `{new.steps[0].name}` (was `{old.steps[0].name}`)")
    a, b = old.step_map, new.step_map
    for name, step in a.items():
        what = "inline block" if step.synthetic else "step"
        if name not in b:
            out.append(f"{what} `{name}` removed")
            continue
        other = b[name]
        if plain(step.actions) != plain(other.actions):
            out.append(f"{what} `{name}`: now {', '.join(map(_action, other.actions)) or 'no actions'} before its "
                       f"{terminal_summary(other.terminal)} (was {', '.join(map(_action, step.actions)) or 'none'})")
        out += _terminal(name, step.terminal, other.terminal)
    for name, step in b.items():
        if name not in a:
            out.append(f"{'inline block' if step.synthetic else 'step'} `{name}` added: "
                       f"{terminal_summary(step.terminal)}")
    out += _declared("group", old.groups, new.groups, _group)
    out += _declared("phone", old.phones, new.phones,
                     lambda n, x, y: [f"phone `{n}`: {x.phone.number} → {y.phone.number}"])
    out += _declared("schedule", old.schedules, new.schedules, _schedule)
    out += _declared("list", old.lists, new.lists, lambda n, x, y: _list(n, x, y))
    out += _declared("survey", old.surveys, new.surveys,
                     lambda n, x, y: _fields(x, y, ("prompt", "keys", "timeout", "retries", "invalid", "thanks"),
                                             f"survey `{n}`: "))
    return out or ["only the order of declarations changed"]


def _list(name: str, a: ir.CallerList, b: ir.CallerList) -> list[str]:
    show = lambda e: e.digits + ("*" if e.prefix else "")  # noqa: E731
    x, y = [show(e) for e in a.entries], [show(e) for e in b.entries]
    out = [f"list `{name}`: {', '.join(e for e in y if e not in x)} added"] if any(e not in x for e in y) else []
    if any(e not in y for e in x):
        out.append(f"list `{name}`: {', '.join(e for e in x if e not in y)} removed")
    return out
