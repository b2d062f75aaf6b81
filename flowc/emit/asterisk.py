"""The Asterisk target: a checked flow -> dialplan for stock Asterisk 20/22 (pbx_config).

Output per flow (docs/targets/asterisk.md):

* `<flow>.conf`: the dialplan, to `#include` from extensions.conf. The entry context is
  `<prefix><flow>` with the 400 number as its extension; every step is a context
  `<prefix><flow>-<step>` (extension `s`) headed by a `; <file>:<line> step <name>` comment;
  helpers shared by the flow's steps live in `<prefix><flow>--lib`, surveys in
  `<prefix><flow>--survey-<name>`, prefix tables in `<step context>-r…` / `-c`.
* `<flow>.queues.conf`, `<flow>.voicemail.conf`, `<flow>.musiconhold.conf`: the queues,
  mailboxes and music-on-hold classes the flow needs, each to `#include` in that file.

Every construct is plain dialplan (no AGI): Read for menus and extensions, Dial one phone
at a time for sequential-type strategies (the start picked by RAND, AstDB or a weighted
draw), Dial(A&B) for ring-all, Queue, MixMonitor, VoiceMail. The phone outcome of
docs/semantics.md S-DIAL-1/9 is decided from DIALSTATUS plus each leg's hang-up cause,
which a pre-dial handler (`Dial(…,b())`) records with a hang-up handler on the leg.

Safety: every value interpolated into the dialplan goes through `escape()` (the Jinja
filter `dp`), the one place that validates names, prompts, numbers and generated code
and encodes free text; caller data (CALLERID(num), digits read) only ever enters through
FILTER(). Decisions (labels, order, thresholds, tables) are made here; the templates in
targets/asterisk/ only loop and interpolate.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from .. import ir
from ..diagnostics import Diagnostic, error
from ..names import ENGINE_NAME_MAX, PREFIX_MAX, flow_names
from ..gcpause import gc_paused
from . import lower, state
from .base import Target, region_table_key, region_table_text

__all__ = ["AsteriskTarget", "UnsafeValue", "escape"]


# ====================================================================== escaping


class UnsafeValue(ValueError):
    """A value that cannot be written into dialplan safely (a bug upstream if it happens:
    `unsupported()` reports such values as E501 before `render()` is called)."""


_KINDS = {
    # contexts, labels, variable names, queue and music classes, mailboxes, option letters
    "word": re.compile(r"[A-Za-z0-9_.\-]+\Z"),
    # names from the .flow (steps, groups, flows): letters of any script, digits, `_ . -`
    "name": re.compile(r"[\w.\-]+\Z"),
    # AstDB family/key
    "dbkey": re.compile(r"[\w.\-]+(?:/[\w.\-]+)+\Z"),
    # a sound file name without extension, relative to the sounds dir or absolute
    "prompt": re.compile(r"/?(?!.*(?:^|/)\.\.(?:/|$))[\w\-.]+(?:/[\w\-.]+)*\Z"),
    "number": re.compile(r"[0-9]+\Z"),
    # a Dial/Queue member string made from the dial template (checked by settings)
    "dialstring": re.compile(r"[A-Za-z0-9_\-./@:+#*&]+\Z"),
    "zone": re.compile(r"[A-Za-z]+(?:/[A-Za-z0-9_+\-]+)+\Z"),
    # dialplan written by this module (expressions, options, patterns): no comment,
    # no line break, no backslash, no quote other than the REGEX delimiter; letters of other
    # scripts (an AstDB key made of Chinese flow and group names) mean nothing to the parser
    "code": re.compile(r"[A-Za-z0-9_\-.${}\[\]()<>=!&|:\"+*/%,^?# ~@\u00a0-\u2027\u202a-\U0010ffff]*\Z"),
    # the rows of a prefix table: `exten => <digits or pattern>,1,<Goto, Hangup or Return>  ; note`
    # (Return(<region code>) in the shared region table, `_44XX` patterns in a flow's code map)
    "table": re.compile(r"(?:exten => (?:_X|_X\.|_[0-9]*(?:\[[0-9\-]+\]|N|Z)?\.|_[0-9]*X+|[0-9]+),1,"
                        r"(?:Goto\([A-Za-z0-9_.\-]+,(?:s|\$\{EXTEN:1\}),1\)|Hangup\(\)|Return\([0-9]+\)"
                        r"|Return\(\$\{CUT\(PASSTHRU\([0-9]{4}(?:-[0-9]{4}){9}\),-,\$\[\$\{ARG1:6:1\}\+1\]\)\}\))"
                        r"(?:  ; [\w.\- :…()]*)?(?:\n|\Z))+\Z"),
}
# free text that may stay literal in a Set() value: no expansion, quote, escape or separator
_PLAIN_TEXT = re.compile(r"[^\x00-\x1f\x7f$,;\\\"'(){}\[\]|`^%]+\Z")
_URI_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")


def escape(value, kind: str = "word") -> str:
    """THE escaping point of the Asterisk target (Jinja filter `dp`).

    * `word`, `name`, `dbkey`, `prompt`, `number`, `dialstring`, `zone`, `code`: the value
      must already be safe in an application argument: it is returned unchanged or
      `UnsafeValue` is raised. None of these admits `;`, `,`, `|`, `\\`, a quote (except
      the `"` of REGEX in generated `code`), a line break or `${` from user data.
    * `text`: free text (tag values) for the value of a Set(): returned as is when it has
      no character the dialplan treats specially, else as `${URIDECODE(…)}` with every such
      ASCII character percent-encoded, so it reaches the CDR unchanged and inert. Control
      characters, `$`, `{` and `}` raise UnsafeValue (the checker refuses them, E225).
    * `comment`: the rest of a `;` comment line: line breaks and control characters become
      `?` (a comment cannot be left otherwise).
    """
    text = str(value)
    if kind == "comment":
        return _CONTROL.sub("?", text)
    if kind == "text":
        if _CONTROL.search(text) or any(ch in text for ch in "${}"):
            # the checker refuses these in tag values (E225): a CDR value that other
            # software may expand again must not hold `${`
            raise UnsafeValue(f"text {text[:40]!r} has control characters, `$`, `{{` or `}}`")
        if _PLAIN_TEXT.match(text) and text == text.strip():
            return text
        encoded = "".join(ch if ch in _URI_SAFE or ord(ch) > 0x7f else f"%{ord(ch):02X}" for ch in text)
        return "${URIDECODE(" + encoded + ")}"
    pattern = _KINDS.get(kind)
    if pattern is None:
        raise ValueError(f"unknown escaping kind {kind!r}")
    if not pattern.match(text) or (kind not in ("code", "table") and "${" in text):
        raise UnsafeValue(f"{kind} {text[:60]!r} cannot be written into Asterisk dialplan safely")
    return text


def _safe(value, kind: str) -> bool:
    try:
        escape(value, kind)
        return True
    except UnsafeValue:
        return False


# ====================================================================== small helpers

DEFAULT_SOUNDS_DIR = "/var/lib/asterisk/sounds"  # astdatadir/sounds of a stock install


def secs(x: float) -> str:
    """Seconds as Asterisk reads them: `15`, `2.5`."""
    return f"{x:g}" if x != int(x) else str(int(x))


def _basename(file: str | None) -> str:
    return PurePosixPath(str(file or "flow")).name


def _line(node) -> int:
    return node.span.line if node is not None and node.span is not None else 0




def _phone_label(phone: ir.Phone) -> str:
    return f"{phone.number} ({phone.name})" if phone.name else phone.number


# ====================================================================== view model


@dataclass
class Leg:
    dial: str  # dial string, e.g. PJSIP/13800000001@trunk
    ring: str
    label: str  # comment text


@dataclass
class DialView:
    mode: str  # single | sequence | rotate | ringall
    legs: list[Leg]
    options: str
    about: str  # comment
    start: list[str] = field(default_factory=list)  # code lines that set FLOWC_START (rotate)
    start_comment: str = ""
    outcome_targets: dict[str, str | None] = field(default_factory=dict)  # busy/no_answer/unreachable
    same_target: bool = False
    survey: str | None = None  # survey context
    lib: str = ""  # the flow's helper context


class _Names:
    """Context names of one flow (flowc/names.py spells them): all unique, dialplan-safe and
    within AST_MAX_CONTEXT; the entry context is also the flow's voicemail context."""

    def __init__(self, flow: ir.Flow, prefix: str, voicemail_context: str = ""):
        n = flow_names(flow)
        self.flow_ident = n.flow
        self.entry = n.entry(prefix, flow.name)
        self.step = {name: f"{self.entry}-{i}" for name, i in n.steps.items()}
        self.lib = f"{self.entry}--lib"
        self.survey = {name: f"{self.entry}--survey-{i}" for name, i in n.surveys.items()}
        self.tag = {key: f"flowc_tag_{i}" for key, i in n.tags.items()}  # CDR variables (S-ACT-2)
        # voicemail.conf context of the flow's mailboxes: its own unless voicemail_context says
        # otherwise, so that two tenants' `voicemail 8000` are two mailboxes
        self.voicemail = voicemail_context or self.entry


# ====================================================================== the target


class AsteriskTarget(Target):
    name = "asterisk"

    def configure_env(self, env) -> None:
        env.filters["dp"] = escape
        env.filters["chomp"] = lambda text: str(text).rstrip("\n")  # a macro's lines, without the last newline

    # ------------------------------------------------------------------ E501

    @gc_paused
    def unsupported(self, flow: ir.Flow) -> list[Diagnostic]:
        """Rules of docs/semantics.md that this flow needs and stock Asterisk cannot do
        exactly, and values the dialplan cannot carry (see `escape`)."""
        out: list[Diagnostic] = []
        opts = self.options

        def need(ok: bool, message: str, node, help: str | None = None) -> None:
            if not ok:
                out.append(self.e501(message, node.span if node is not None else flow.span, help=help))

        for step in flow.steps:
            t = step.terminal
            if isinstance(t, ir.Queue):
                group = flow.groups.get(t.group or "")
                rings = _queue_rings(t, group)
                ring = max(rings) if rings else 20.0
                for what, value in (("max_wait", t.max_wait), ("retry", t.retry), ("ring", ring),
                                    ("announce every", t.announce_every)):
                    need(value is None or (value == int(value) and value >= 1),
                         f"S-Q-2: app_queue counts `{what}` in whole seconds (>= 1s), not {secs(value or 0)}s",
                         t, help="use whole seconds")
            if isinstance(t, (ir.Menu, ir.Extension)):
                need(t.timeout > 0, "S-MENU-1: Read() cannot wait 0 seconds for a key", t,
                     help="give a timeout of at least 1ms")
            for ring, node in self._ring_times(flow, step):
                need(ring > 0, "S-DIAL-2: Dial() cannot ring for 0 seconds (it would ring forever)", node)
        for sv in flow.surveys.values():
            need(sv.timeout > 0, "S-SURVEY-3: Read() cannot wait 0 seconds for a key", sv)
        out.extend(self._retention_problems(flow))
        # values the dialplan cannot carry
        for text, node, kind in self._values(flow):
            need(_safe(text, kind), f"`{str(text)[:40]}` cannot be written into dialplan safely", node,
                 help="use letters, digits, `_`, `-`, `.` and `/`")
        if opts.dial_template.count("{number}") != 1 or "&" in opts.dial_template or \
                not _safe(opts.dial_template.replace("{number}", "1"), "dialstring"):
            need(False, f"the dial template `{opts.dial_template}` cannot be used in Dial()", None)
        out.extend(self._name_problems(flow))
        return out

    def _name_problems(self, flow: ir.Flow) -> list[Diagnostic]:
        """E502: flowc/names.py keeps `<flow>-<step>` and its helpers' suffixes within
        PREFIX_MAX characters of AST_MAX_CONTEXT; only the settings can go beyond."""
        opts = self.options
        out = []
        if len(opts.context_prefix) > PREFIX_MAX:
            out.append(error("E502", f"asterisk: the context prefix `{opts.context_prefix}` is longer than "
                             f"{PREFIX_MAX} characters: context names could exceed Asterisk's {ENGINE_NAME_MAX}",
                             flow.span, help=f"use a prefix of at most {PREFIX_MAX} characters (context_prefix)"))
        if len(opts.voicemail_context) > ENGINE_NAME_MAX:
            out.append(error("E502", f"asterisk: the voicemail context `{opts.voicemail_context[:40]}…` is longer "
                             f"than Asterisk's {ENGINE_NAME_MAX} characters", flow.span,
                             help="shorten voicemail_context, or leave it empty (a context per flow)"))
        return out

    def _ring_times(self, flow: ir.Flow, step: ir.Step):
        t = step.terminal
        if isinstance(t, ir.Dial):
            for leg in self._legs_of(flow, t.dest, t.ring):
                yield leg[1], t
        elif isinstance(t, ir.Extension):
            for e in t.entries:
                if e.dest:
                    for leg in self._legs_of(flow, e.dest, t.ring):
                        yield leg[1], e

    def _retention_problems(self, flow: ir.Flow) -> list[Diagnostic]:
        """S-ACT-3 raises the retention of a running recording; Asterisk writes it into the
        file name when MixMonitor starts and cannot rename the file, so a flow where a
        later `record` asks for more days than an earlier one is refused."""
        conflict = lower.retention_conflict(flow)
        if conflict is None:
            return []
        rec, _ = conflict
        return [self.e501("S-ACT-3: a later `record` may raise the retention of a running recording; Asterisk "
                          "names the file (…-r<days>d-…) when MixMonitor starts and cannot rename it", rec.span,
                          help="give every `record` of the flow the same `retain`")]

    def _values(self, flow: ir.Flow):
        """(text, node, escaping kind) of every .flow value that reaches the dialplan."""
        yield flow.name, flow, "name"
        for s in flow.steps:
            yield s.name, s, "name"
            for a in s.actions:
                if isinstance(a, (ir.Play, ir.Ringback)):
                    yield a.prompt, a, "prompt"
                elif isinstance(a, ir.Tag):
                    yield a.key, a, "name"
                    yield a.value, a, "text"
            t = s.terminal
            if isinstance(t, (ir.Menu, ir.Extension)):
                for p in (t.prompt, t.invalid.prompt, t.no_input.prompt):
                    if p:
                        yield p, t, "prompt"
            elif isinstance(t, ir.Queue):
                for p in (t.music, t.announce):
                    if p:
                        yield p, t, "prompt"
            elif isinstance(t, ir.Voicemail):
                yield t.box, t, "word"
                if t.greeting:
                    yield t.greeting, t, "prompt"
            dests = [t.dest] if isinstance(t, ir.Dial) else \
                [e.dest for e in t.entries if e.dest] if isinstance(t, ir.Extension) else []
            for d in dests:
                if d.phone is not None:
                    yield d.phone.number, d, "number"
        if flow.ringback:
            yield flow.ringback, flow, "prompt"
        for tag in flow.tags:
            yield tag.key, tag, "name"
            yield tag.value, tag, "text"
        for g in flow.groups.values():
            yield g.name, g, "name"
            for m in g.members:
                yield m.phone.number, m, "number"
        for sv in flow.surveys.values():
            for p in (sv.prompt, sv.invalid, sv.thanks):
                if p:
                    yield p, sv, "prompt"
        for sc in flow.schedules.values():
            yield sc.timezone or flow.timezone, sc, "zone"
        yield flow.timezone, flow, "zone"
        if flow.hotline:
            yield flow.hotline.number, flow.hotline, "number"

    # ------------------------------------------------------------------ render

    @gc_paused
    def render(self, flow: ir.Flow) -> dict[str, str]:
        view = _Builder(self, flow).build()
        base = view["names"].flow_ident
        out = {f"{base}.conf": self.env.get_template("flow.conf.j2").render(**view)}
        if view["queues"]:
            out[f"{base}.queues.conf"] = self.env.get_template("queues.conf.j2").render(**view)
        if view["mailboxes"]:
            out[f"{base}.voicemail.conf"] = self.env.get_template("voicemail.conf.j2").render(**view)
        if view["moh"]:
            out[f"{base}.musiconhold.conf"] = self.env.get_template("musiconhold.conf.j2").render(**view)
        return out

    def shared_outputs(self) -> dict[str, str]:
        """The region table every flow's `branch region` uses (see "regions" below)."""
        out = {REGIONS_FILE: shared_regions_text(self.options.context_prefix)}
        if self.options.state == "postgresql":  # S-STATE-1: docs/deploy.md "Several servers"
            out[state.SCHEMA_FILE] = state.schema_text()
            out[state.FUNC_ODBC_FILE] = state.func_odbc_text(self.options.state_dsn)
            out[state.RES_ODBC_FILE] = state.res_odbc_text(self.options.state_dsn)
            out[state.ODBC_INI_FILE] = state.odbc_ini_text(self.options.state_dsn)
        return out

    # ------------------------------------------------------------------ shared with the builder

    def _legs_of(self, flow: ir.Flow, dest: ir.DialTarget, step_ring: float | None):
        """[(phone, ring seconds)] in written order (S-DIAL-2)."""
        if dest.phone is not None:
            return [(dest.phone, step_ring if step_ring is not None else 20.0)]
        group = flow.groups[dest.group]
        return [(m.phone, step_ring if step_ring is not None else group.ring_of(m)) for m in group.members]


def _queue_rings(t: ir.Queue, group: ir.Group | None) -> set[float]:
    """S-Q-2: every agent rings for the queue's `ring`, else for its own ring time in the group."""
    if t.ring is not None:
        return {t.ring}
    return {group.ring_of(m) for m in group.members} if group else set()


# ====================================================================== builder


class _Builder:
    """Turns one flow into the view the templates render (dicts and small dataclasses)."""

    def __init__(self, target: AsteriskTarget, flow: ir.Flow):
        self.t = target
        self.flow = flow
        self.opts = target.options
        self.names = _Names(flow, self.opts.context_prefix, self.opts.voicemail_context)
        self.file = _basename(flow.span.file if flow.span else None)
        self.moh: dict[str, dict] = {}  # prompt -> class view
        self.lib: set[str] = set()
        self.used_surveys: list[str] = []
        self.tables: list[dict] = []
        self.subcontexts: list[dict] = []
        self.queues: list[dict] = []
        self.mailboxes: dict[str, dict] = {}
        self.uses_ringback = bool(flow.ringback) or any(
            isinstance(a, ir.Ringback) for s in flow.steps for a in s.actions)
        self.uses_caller = any(isinstance(s.terminal, ir.Branch) and s.terminal.on in ("region", "caller")
                               for s in flow.steps)

    # -------------------------------------------------------------- basics

    def goto(self, step: str | None) -> str:
        """Dialplan to go to a step, or to end the call (S-CALL-5)."""
        if step is None:
            return "Hangup()"
        return f"Goto({escape(self.names.step[step], 'word')},s,1)"

    def prompt(self, name: str) -> str:
        escape(name, "prompt")
        return f"{self.opts.prompt_dir}/{name}" if self.opts.prompt_dir else name

    def absolute_prompt(self, name: str) -> str:
        """Music-on-hold playlists take only absolute paths (res_musiconhold): the prompt
        directory when it is absolute, else Asterisk's default sounds directory."""
        path = self.prompt(name)
        return path if path.startswith("/") else f"{DEFAULT_SOUNDS_DIR}/{path}"

    def moh_class(self, prompt: str, why: str, node) -> str:
        if prompt not in self.moh:
            name = f"{self.names.entry}-moh{len(self.moh) + 1}"
            self.moh[prompt] = {"name": name, "entry": self.absolute_prompt(prompt), "prompt": prompt,
                                "why": why, "line": _line(node)}
        return self.moh[prompt]["name"]

    def survey_for(self, name: str | None) -> str | None:
        """S-SURVEY-1: the step's survey, else the flow's."""
        name = name or self.flow.survey
        if name is None:
            return None
        if name not in self.used_surveys:
            self.used_surveys.append(name)
        return self.names.survey[name]

    # -------------------------------------------------------------- the flow

    def build(self) -> dict:
        flow = self.flow
        entry = self.entry_view()
        steps = [self.step_view(s) for s in flow.steps]
        surveys = [self.survey_view(flow.surveys[n]) for n in self.used_surveys]
        if surveys:
            self.lib.add("survey")
        return {
            "flow": {"name": flow.name, "title": flow.title, "file": self.file, "line": _line(flow),
                     "hotline": flow.hotline.number if flow.hotline else None,
                     "carrier": flow.hotline.carrier if flow.hotline else None,
                     "timezone": flow.timezone},
            "names": self.names,
            "settings": self.opts,
            "entry": entry,
            "steps": steps,
            "subcontexts": self.subcontexts,
            "lib": self.lib_view(),
            "surveys": surveys,
            "tables": self.tables,
            "queues": self.queues,
            "mailboxes": list(self.mailboxes.values()),
            "voicemail_context": self.names.voicemail,
            "moh": list(self.moh.values()),
            "regions": any(isinstance(s.terminal, ir.Branch) and s.terminal.on == "region" for s in flow.steps),
        }

    def entry_view(self) -> dict:
        """S-CALL-1/2: answer, then tags, recording, ringback, in that order."""
        flow = self.flow
        actions = [self.action_view(tag, flow_level=True) for tag in flow.tags]
        if flow.record:
            actions.append(self.action_view(flow.record, flow_level=True))
        if flow.ringback:
            actions.append(self.action_view(ir.Ringback(prompt=flow.ringback, span=flow.span), flow_level=True))
        draws = self.opts.test_hooks and self.needs_draws()
        if self.uses_caller:
            self.lib.add("caller")
        return {"exten": flow.hotline.number if flow.hotline else "s", "actions": actions,
                "draws": draws, "caller": self.uses_caller,
                "first": self.goto(flow.entry.name) if flow.steps else "Hangup()"}

    def needs_draws(self) -> bool:
        for s in self.flow.steps:
            t = s.terminal
            if isinstance(t, ir.Split):
                return True
            dests = [t.dest] if isinstance(t, ir.Dial) else [e.dest for e in t.entries if e.dest] \
                if isinstance(t, ir.Extension) else []
            for d in dests:
                if d.group and self.flow.groups[d.group].strategy in (ir.Strategy.RANDOM, ir.Strategy.RATIO):
                    return True
        return False

    # -------------------------------------------------------------- actions

    def action_view(self, a, flow_level: bool = False) -> dict:
        """One action (S-ACT-*) for the `action` macro of _macros.j2."""
        where = "flow " if flow_level else ""
        if isinstance(a, ir.Play):
            return {"kind": "play", "prompt": self.prompt(a.prompt)}
        if isinstance(a, ir.Tag):
            return {"kind": "tag", "var": self.names.tag[a.key], "value": a.value,
                    "about": f"{where}tag {a.key} = \"{a.value}\" (S-ACT-2)"}
        if isinstance(a, ir.Record):
            self.lib.add("record")
            return {"kind": "record", "days": a.retain_days, "lib": self.names.lib,
                    "about": f"{where}record retain {a.retain_days}d (S-ACT-3)"}
        if isinstance(a, ir.Ringback):
            return {"kind": "ringback", "class": self.moh_class(a.prompt, "ringback", a),
                    "about": f"{where}ringback \"{a.prompt}\" for every later dial (S-ACT-4)"}
        raise TypeError(a)

    # -------------------------------------------------------------- steps

    def step_view(self, step: ir.Step) -> dict:
        t = step.terminal
        view = {"name": step.name, "ctx": self.names.step[step.name], "line": _line(step),
                "synthetic": step.synthetic, "kind": t.kind, "actions": [], "extra": {}}
        view["actions"] = [self.action_view(a) for a in step.actions]
        view["t"] = getattr(self, f"{t.kind}_view")(step, t, view)
        return view

    def goto_view(self, step, t: ir.Goto, view):
        return {"next": self.goto(t.target), "target": t.target}

    def hangup_view(self, step, t: ir.Hangup, view):
        return {}

    # ---- menus (S-MENU-*)

    def _handler(self, h: ir.InputHandler) -> dict:
        return {"prompt": self.prompt(h.prompt) if h.prompt else None,
                "next": self.goto(h.target) if h.target else None}

    def menu_view(self, step, t: ir.Menu, view):
        options = []
        for o in t.options:
            if o.action == "repeat":
                options.append({"key": o.key, "next": "Goto(attempt)", "what": "repeat"})
            else:
                what = "back" if o.action == "back" else f"-> {o.target}"
                options.append({"key": o.key, "next": self.goto(o.target), "what": what})
        return {"input": f"{self.names.step[step.name]}--input", "step": step.name,
                "prompt": self.prompt(t.prompt) if t.prompt else "", "timeout": secs(t.timeout),
                "retries": t.retries, "options": options, "invalid": self._handler(t.invalid),
                "no_input": self._handler(t.no_input), "exhausted": self.goto(t.exhausted)}

    # ---- extensions (S-EXT-*)

    def extension_view(self, step, t: ir.Extension, view):
        digits = t.digits or max((len(e.ext) for e in t.entries), default=1)
        entries = []
        for e in t.entries:
            if e.target:
                entries.append({"ext": e.ext, "next": self.goto(e.target), "what": f"-> {e.target}"})
                continue
            ctx = f"{self.names.step[step.name]}--x{e.ext}"
            dial = self.make_dial(e.dest, t.ring, t.survey, t.outcomes, e)
            self.subcontexts.append({"ctx": ctx, "comment": f"extension {e.ext} of step {step.name}: "
                                     f"dial {dial.about}", "line": _line(e), "dial": dial,
                                     "noop": f"step {step.name} extension {e.ext}"})
            entries.append({"ext": e.ext, "next": f"Goto({escape(ctx, 'word')},s,1)", "what": f"dial {dial.about}"})
        return {"input": f"{self.names.step[step.name]}--input", "step": step.name,
                "prompt": self.prompt(t.prompt) if t.prompt else "", "timeout": secs(t.timeout),
                "digits": digits, "retries": t.retries, "entries": entries,
                "invalid": self._handler(t.invalid), "no_input": self._handler(t.no_input),
                "exhausted": self.goto(t.exhausted)}

    # ---- dialling (S-DIAL-*)

    def make_dial(self, dest: ir.DialTarget, step_ring, survey, outcomes, node) -> DialView:
        flow = self.flow
        self.lib.update({"dialed", "leg"})
        legs = [Leg(escape(self.dialstring(p.number), "dialstring"), secs(ring), _phone_label(p))
                for p, ring in self.t._legs_of(flow, dest, step_ring)]
        survey_ctx = self.survey_for(survey)
        options = ("${FLOWC_RB}" if self.uses_ringback else "") + ("g" if survey_ctx else "") + \
            f"b({self.names.lib}^leg^1(${{CHANNEL}}))"
        probe = ir.Dial(dest=dest, outcomes=outcomes)
        targets = {o: probe.target_for(ir.Outcome(o)) for o in ("busy", "no_answer", "unreachable")}
        view = DialView(mode="single", legs=legs, options=escape(options, "code"), about="",
                        outcome_targets={o: self.goto(x) for o, x in targets.items()},
                        same_target=len(set(targets.values())) == 1, survey=survey_ctx, lib=self.names.lib)
        if dest.phone is not None:
            view.about = f"phone {_phone_label(dest.phone)}"
            return view
        group = flow.groups[dest.group]
        n = len(legs)
        view.about = f"group {group.name} ({group.strategy.value}, {n} phone{'s' if n != 1 else ''})"
        if group.strategy is ir.Strategy.RING_ALL:
            view.mode = "ringall"
            view.legs = [Leg("&".join(l.dial for l in legs), legs[0].ring, ", ".join(l.label for l in legs))]
        elif group.strategy is ir.Strategy.SEQUENTIAL or n == 1:
            view.mode = "sequence" if n > 1 else "single"
        else:
            view.mode = "rotate"
            view.start, view.start_comment = self.start_lines(group, n)
        return view

    def dialstring(self, number: str) -> str:
        """One phone's channel; `&` joins several of them only for ring_all (settings and
        unsupported() refuse a template that is more than one channel)."""
        escape(number, "number")
        leg = self.opts.dial_template.replace("{number}", number)
        if "&" in leg:
            raise UnsafeValue(f"dial template {self.opts.dial_template!r} names more than one channel")
        return leg

    def start_lines(self, group: ir.Group, n: int) -> tuple[list[str], str]:
        """Code that sets FLOWC_START, the index of the first phone (S-DIAL-4/5/6)."""
        if group.strategy is ir.Strategy.ROUND_ROBIN:
            key = escape(f"flowc_rr/{self.flow.name}/{group.name}", "dbkey")
            if self.opts.state == "postgresql":
                return self.shared_start_lines(group, n, key)
            return ([f"Set(FLOWC_START=$[0${{FILTER(0-9,${{DB({key})}})}} % {n}])",
                     f"Set(DB({key})=$[(${{FLOWC_START}} + 1) % {n}])"],
                    f"round_robin: position in AstDB {key}, moved on every use (S-DIAL-5)")
        self.lib.add("draw")
        if group.strategy is ir.Strategy.RANDOM:
            bounds = [(i * 100) // n for i in range(1, n)]  # phone i+1 first when r > bounds[i-1]
            why = "random: one draw r, phone ceil(r*n/100) first (S-DIAL-4, S-RAND-1)"
        else:
            running, bounds = 0, []
            for m in group.members[:-1]:
                running += m.weight or 0
                bounds.append(running)
            why = "ratio: one weighted draw picks the first phone (S-DIAL-6, S-RAND-1)"
        count = " + ".join(f"(${{FLOWC_R}} > {b})" for b in bounds) or "0"
        return [f"Gosub({self.names.lib},draw,1)", f"Set(FLOWC_START=$[{count}])"], why

    def shared_start_lines(self, group: ir.Group, n: int, key: str) -> tuple[list[str], str]:
        """S-STATE-1/2: the platform's position from PostgreSQL (func_odbc FLOWC_RR, one atomic
        statement); when the database cannot be reached, this server's AstDB position,
        with a WARNING in the log."""
        flow_arg, group_arg = escape(self.flow.name, "name"), escape(group.name, "name")
        down = '$["${FLOWC_RRS}" = ""]'
        return ([f"Set(FLOWC_RRS=${{FILTER(0-9,${{FLOWC_RR({flow_arg},{group_arg})}})}})",
                 f"ExecIf({down}?Log(WARNING,flowc shared state unreachable - round_robin {key} starts at "
                 "the local AstDB position (S-STATE-2)))",
                 f"Set(FLOWC_START=$[0${{FILTER(0-9,${{IF({down}?${{DB({key})}}:${{FLOWC_RRS}})}})}} % {n}])",
                 f"ExecIf({down}?Set(DB({key})=$[(${{FLOWC_START}} + 1) % {n}]))"],
                f"round_robin: the platform's position in PostgreSQL (func_odbc FLOWC_RR, S-STATE-1), "
                f"else AstDB {key} (S-STATE-2)")

    def dial_view(self, step, t: ir.Dial, view):
        return {"dial": self.make_dial(t.dest, t.ring, t.survey, t.outcomes, t)}

    # ---- branches (S-BR-1, S-TIME-*, S-REG-1, S-CALLER-1), split (S-SPLIT-1)

    def branch_view(self, step, t: ir.Branch, view):
        return getattr(self, f"_branch_{t.on}")(step, t)

    def _branch_time(self, step, t: ir.Branch):
        flow = self.flow
        zones: list[str] = []
        fields: dict[str, set[str]] = {}
        arms = []
        for arm in t.arms:
            conds = []
            for c in arm.conditions:
                sc = flow.schedules[c.text]
                zone = sc.timezone or flow.timezone
                if zone not in zones:
                    zones.append(zone)
                expr = lower.schedule_expr(sc, self.t.years)
                fields.setdefault(zone, set()).update(lower.fields_used(expr))
                conds.append((sc.name, zone, expr))
            arms.append((conds, arm.target))
        names = {z: ("" if i == 0 else f"_{i + 1}") for i, z in enumerate(zones)}
        sets = []
        for z in zones:
            used = fields.get(z, set())
            sfx = names[z]
            zq = escape(z, "zone")
            if "wday" in used:
                sets.append((f"FLOWC_WD{sfx}", f"${{STRFTIME(${{FLOWC_EPOCH}},{zq},%u)}}", f"ISO weekday in {z}"))
            if "ymd" in used:
                sets.append((f"FLOWC_YMD{sfx}", f"${{STRFTIME(${{FLOWC_EPOCH}},{zq},%Y%m%d)}}", f"date in {z}"))
            if "md" in used:
                src = f"${{FLOWC_YMD{sfx}:4:4}}" if "ymd" in used else f"${{STRFTIME(${{FLOWC_EPOCH}},{zq},%m%d)}}"
                sets.append((f"FLOWC_MD{sfx}", src, f"month and day in {z}"))
            if "hm" in used:
                sets.append((f"FLOWC_HM{sfx}", f"${{STRFTIME(${{FLOWC_EPOCH}},{zq},%H%M)}}", f"time of day in {z}"))
        out_arms = []
        for conds, target in arms:
            parts, about = [], []
            for name, zone, expr in conds:
                parts.append(_time_code(expr, names[zone]))
                about.append(f"{name}" + (f" ({zone})" if zone != flow.timezone else ""))
            cond = parts[0] if len(parts) == 1 else "(" + " | ".join(parts) + ")"
            out_arms.append({"cond": escape(cond, "code"), "next": self.goto(target), "about": ", ".join(about),
                             "target": target})
        return {"on": "time", "sets": [(escape(v, "word"), escape(s, "code"), c) for v, s, c in sets],
                "arms": out_arms, "else": self.goto(t.else_target), "else_target": t.else_target,
                "epoch": bool(sets)}

    def _branch_region(self, step, t: ir.Branch):
        """S-REG-1: the shared table (flowc-regions.conf) turns the caller into a region code;
        a small context of this flow maps the codes its arms name to the arms."""
        ctx = f"{self.names.step[step.name]}--r"
        rows = region_mapping_rows(lower.region_arm_ids(t), [self.goto(arm.target) for arm in t.arms],
                                   self.goto(t.else_target))
        self.tables.append({"ctx": ctx, "comment": f"region codes (flowc-regions.conf) -> arms of step {step.name} "
                                                   "(S-REG-1); any other code: else", "body": "\n".join(rows)})
        about = [", ".join(c.text for c in arm.conditions) + f" -> {arm.target}" for arm in t.arms]
        return {"on": "region", "table": ctx, "regions": shared_regions_context(self.opts.context_prefix),
                "else": self.goto(t.else_target), "about": about, "else_target": t.else_target}

    def _branch_caller(self, step, t: ir.Branch):
        from ..literals import caller_pattern
        from ..phones import normalize_caller

        flow = self.flow
        exact: list[tuple[str, int]] = []
        prefixes: list[tuple[str, int]] = []
        withheld_arm = None
        about = []
        for i, arm in enumerate(t.arms):
            for c in arm.conditions:
                if not c.quoted and c.text in flow.lists:
                    for e in flow.lists[c.text].entries:
                        (prefixes if e.prefix else exact).append((e.digits, i))
                elif not c.quoted and c.text in ("withheld", "anonymous"):
                    if withheld_arm is None:
                        withheld_arm = i
                else:
                    digits, prefix = caller_pattern(c.text)
                    if prefix:
                        prefixes.append((digits, i))
                    else:
                        exact.append((normalize_caller(digits).digits or digits, i))
            about.append(", ".join(c.text for c in arm.conditions) + f" -> {arm.target}")

        def first_arm(number: str, is_prefix: bool) -> int | None:
            """The arm semantics gives a number (or every longer number for a prefix)."""
            best = None
            for digits, i in prefixes:
                if number.startswith(digits) and (best is None or i < best):
                    best = i
            if not is_prefix:
                for digits, i in exact:
                    if digits == number and (best is None or i < best):
                        best = i
            return best

        rows: dict[str, str] = {}
        for digits, _ in prefixes:
            rows[f"_{digits}."] = str(first_arm(digits, True))
        for digits in sorted({d for d, _ in exact} | {d for d, _ in prefixes}):
            rows[digits] = str(first_arm(digits, False))
        actions = {str(i): self.goto(arm.target) for i, arm in enumerate(t.arms)}
        ctx = f"{self.names.step[step.name]}--c"
        body = [f"exten => {p},1,{actions[a]}" for p, a in sorted(rows.items())]
        body += [f"exten => {p},1,{self.goto(t.else_target)}  ; any other number: else" for p in ("_X", "_X.")]
        self.tables.append({"ctx": ctx, "comment": f"caller numbers of step {step.name} (S-CALLER-1): "
                            "exact numbers and prefixes, the most specific pattern wins", "body": "\n".join(body)})
        withheld = self.goto(t.arms[withheld_arm].target if withheld_arm is not None else t.else_target)
        return {"on": "caller", "table": ctx, "withheld": withheld, "about": about,
                "else": self.goto(t.else_target), "else_target": t.else_target}

    def split_view(self, step, t: ir.Split, view):
        self.lib.add("draw")
        running, arms = 0, []
        for arm in t.arms:
            running += arm.percent
            arms.append({"upto": running, "percent": arm.percent, "next": self.goto(arm.target), "target": arm.target})
        return {"arms": arms}

    # ---- queue (S-Q-*)

    def queue_view(self, step, t: ir.Queue, view):
        """S-Q-2: app_queue rings every member for the queue's `timeout`, the longest ring time.
        Agents that ring for less get TIMEOUT(absolute) on their own channel before it is
        called (the Queue option b(): a pre-dial Gosub on the new channel, which finds the
        agent by DIALEDPEERNUMBER, the member string after `Tech/`), so app_queue sees their
        ring end like a no-answer; the queue's membergosub clears it when an agent answers."""
        flow = self.flow
        group = flow.groups[t.group]
        name = self.names.step[step.name]
        music = self.moh_class(t.music, "queue music", t) if t.music else self.opts.moh_class
        members, shorter = [], []
        longest = max(_queue_rings(t, group))
        for m in group.members:
            dial = self.dialstring(m.phone.number)
            if dial.startswith("Local/") and not dial.endswith("/n"):
                dial += "/n"
            ring = t.ring if t.ring is not None else group.ring_of(m)
            members.append({"dial": escape(dial, "dialstring"), "label": _phone_label(m.phone), "ring": secs(ring)})
            if ring < longest:
                shorter.append({"peer": escape(dial.split("/", 1)[1], "dialstring"), "ring": secs(ring),
                                "label": _phone_label(m.phone)})
        agents = f"{name}--agents" if shorter else None
        self.queues.append({
            "name": name, "step": step.name, "line": _line(t), "group": group.name, "members": members,
            "ring": secs(longest), "retry": secs(t.retry), "music": escape(music, "word"),
            "announce": self.prompt(t.announce) if t.announce else None,
            "every": secs(t.announce_every) if t.announce_every else None, "agents": agents,
        })
        survey = self.survey_for(t.survey)
        probe = ir.Dial(dest=ir.DialTarget(group=t.group), outcomes=t.outcomes)
        options = ("c" if survey else "") + (f"b({agents}^ring^1)" if agents else "")
        return {"queue": name, "options": options, "max_wait": secs(t.max_wait),
                "timeout": self.goto(probe.target_for(ir.Outcome.FAILED)), "survey": survey,
                "group": group.name, "agents": agents, "shorter": shorter, "longest": secs(longest)}

    # ---- voicemail (S-VM-1)

    def voicemail_view(self, step, t: ir.Voicemail, view):
        box = escape(t.box, "word")
        # maxsecs bounds the recording; the step's own end is TIMEOUT(absolute) (S-VM-1), so a
        # mailbox used by several steps takes the longest of their limits
        maxsecs = str(math.ceil(t.max_length))
        entry = self.mailboxes.setdefault(box, {"box": box, "max": maxsecs, "line": _line(t), "step": step.name})
        if int(maxsecs) > int(entry["max"]):
            entry.update(max=maxsecs, line=_line(t), step=step.name)
        return {"box": box, "context": escape(self.names.voicemail, "word"),
                "greeting": self.prompt(t.greeting) if t.greeting else None, "max": secs(t.max_length)}

    # -------------------------------------------------------------- surveys and the library

    def survey_view(self, sv: ir.Survey) -> dict:
        return {"ctx": self.names.survey[sv.name], "name": sv.name, "line": _line(sv), "prompt": self.prompt(sv.prompt),
                "accepted": sv.keys, "timeout": secs(sv.timeout), "retries": sv.retries,
                "invalid": self.prompt(sv.invalid) if sv.invalid else None,
                "thanks": self.prompt(sv.thanks) if sv.thanks else None}

    def lib_view(self) -> dict:
        from ..phones import CALLER_RULES

        view = {"ctx": self.names.lib, "parts": sorted(self.lib), "test_hooks": self.opts.test_hooks}
        if "record" in self.lib:
            view["record_file"] = escape(
                f"{self.opts.recording_dir}/{self.names.flow_ident}-r${{ARG1}}d-"
                f"${{STRFTIME(${{EPOCH}},{escape(self.flow.timezone, 'zone')},%Y%m%d-%H%M%S)}}-${{UNIQUEID}}."
                f"{self.opts.recording_format}", "code")
        if "caller" in self.lib:
            view["rules"] = caller_rules_view(CALLER_RULES)
        return view


# ====================================================================== time (S-TIME-*)


def _time_code(expr: lower.Expr, sfx: str) -> str:
    """A lower.py schedule expression as an Asterisk `$[…]` condition over FLOWC_WD/YMD/MD/HM."""
    var = {"wday": f"${{FLOWC_WD{sfx}}}", "ymd": f"${{FLOWC_YMD{sfx}}}", "md": f"${{FLOWC_MD{sfx}}}",
           "hm": f"${{FLOWC_HM{sfx}}}"}
    if isinstance(expr, lower.Weekday):
        runs = _runs(sorted(set(expr.days)))
        parts = [f"{var['wday']} = {a}" if a == b else f"({var['wday']} >= {a} & {var['wday']} <= {b})"
                 for a, b in runs]
        return parts[0] if len(parts) == 1 else "(" + " | ".join(parts) + ")"
    if isinstance(expr, lower.DateIn):
        return f"${{REGEX(\"^({lower.compact_date_regex(expr.dates)})$\" {var['ymd']})}}"
    if isinstance(expr, lower.Between):
        v = var[expr.field]
        top = {"hm": 2359, "md": 1231}.get(expr.field)
        if expr.lo == expr.hi:
            return f"{v} = {expr.lo}"
        if expr.lo <= 0 and expr.field != "ymd":
            return f"{v} <= {expr.hi}"
        if top is not None and expr.hi >= top:
            return f"{v} >= {expr.lo}"
        return f"({v} >= {expr.lo} & {v} <= {expr.hi})"
    if isinstance(expr, lower.Not):
        inner = _time_code(expr.expr, sfx)
        return f"!{inner}" if inner.startswith("(") and inner.endswith(")") and _balanced(inner[1:-1]) \
            else f"!({inner})"
    if isinstance(expr, lower.And):
        if not expr.items:
            return "1"
        parts = [_time_code(i, sfx) for i in expr.items]
        return parts[0] if len(parts) == 1 else "(" + " & ".join(parts) + ")"
    if isinstance(expr, lower.Or):
        if not expr.items:
            return "0"
        parts = [_time_code(i, sfx) for i in expr.items]
        return parts[0] if len(parts) == 1 else "(" + " | ".join(parts) + ")"
    raise TypeError(expr)


def _balanced(text: str) -> bool:
    depth = 0
    for ch in text:
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth < 0:
            return False
    return depth == 0


def _runs(values: list[int]) -> list[tuple[int, int]]:
    runs: list[list[int]] = []
    for v in values:
        if runs and v == runs[-1][1] + 1:
            runs[-1][1] = v
        else:
            runs.append([v, v])
    return [(a, b) for a, b in runs]


# ====================================================================== prefix tables (S-REG-1)

# Most patterns in one context: Asterisk's matcher slows down sharply with thousands of
# patterns per context (engine-notes.md), so a table is split by leading digits into
# contexts of at most this many patterns; a lookup costs one Goto per level.
TABLE_LIMIT = 400


_NAMED_CLASSES = {"123456789": "Z", "23456789": "N"}  # Asterisk's own names (asterisklint's canonical form)


def _digit_set(digits: str) -> str:
    """Sorted distinct digits as one pattern character in asterisklint's canonical form:
    `5`, `[1345]`, `[0-4678]` (runs of four or more as ranges), `Z` for 1-9, `N` for 2-9."""
    if len(digits) == 1:
        return digits
    if digits in _NAMED_CLASSES:
        return _NAMED_CLASSES[digits]
    runs: list[str] = []
    i = 0
    while i < len(digits):
        j = i
        while j + 1 < len(digits) and ord(digits[j + 1]) == ord(digits[j]) + 1:
            j += 1
        runs.append(digits[i] + "-" + digits[j] if j - i >= 3 else digits[i:j + 1])
        i = j + 1
    return "[" + "".join(runs) + "]"


@functools.lru_cache(maxsize=1024)  # at most 1023 sets of digits; tables ask for them tens of thousands of times
def _classes(digits: str) -> tuple[str, ...]:
    """The pattern characters for sibling digits (sorted) that share one action. All ten
    would be `X`, a duplicate of the context's `_X.` default, so they become two classes."""
    if len(digits) == 10:
        return _digit_set(digits[:5]), _digit_set(digits[5:])
    return (_digit_set(digits),)


def _split_table(base: str, entries: list[tuple[str, str]], actions: dict[str, str], else_next: str) -> list[dict]:
    """Longest-prefix entries (prefix, label) -> contexts `<base><digits>` of extension patterns.

    Each context matches the rest of the number after its digits: `_X.` is the default (the
    label of the longest entry above it, or the else arm), `_<rest>.` an entry; Asterisk's
    most-specific-pattern rule gives the longest prefix. Sibling entries that have no longer
    entry below them and share a label are one pattern with a digit class (`_13801[3-9].`):
    at the class's position a longer entry has a single digit, which Asterisk ranks as more
    specific, so the longest prefix still wins. A context with more than TABLE_LIMIT entries
    dispatches on the next digit instead (`Goto(<base><digits+d>,${EXTEN:1},1)`). Tables have
    tens of thousands of rows, so each context's rows are written here as one `body` (the
    template checks it with `dp("table")`)."""
    out: list[dict] = []
    for p, label in entries:
        if not p.isdigit() or label not in actions:
            raise UnsafeValue(f"prefix table entry {p!r} -> {label!r}")
    entries = sorted(entries)
    prefixes = [p for p, _ in entries]
    # a leaf has no longer entry below it (sorted: it would come right after it)
    leaf = [i + 1 == len(prefixes) or not prefixes[i + 1].startswith(prefixes[i]) for i in range(len(prefixes))]

    def leaf_rows(n: int, lo: int, hi: int) -> list[str]:
        """entries[lo:hi] as rows of one context (their first n digits are its prefix)."""
        groups: dict[tuple[str, str], list[str]] = {}  # (parent, label) -> last digits of leaves
        order: list[tuple[str, str] | int] = []
        for i in range(lo, hi):
            p, label = entries[i]
            if leaf[i]:
                key = (p[n:-1], label)
                if key not in groups:
                    groups[key] = []
                    order.append(key)
                groups[key].append(p[-1])
            else:
                order.append(i)
        rows = []
        for item in order:
            if isinstance(item, int):
                p, label = entries[item]
                rows.append(f"exten => _{p[n:]}.,1,{actions[label]}")
            else:
                parent, label = item
                for cls in _classes("".join(groups[item])):
                    rows.append(f"exten => _{parent}{cls}.,1,{actions[label]}")
        return rows

    def node(prefix: str, lo: int, hi: int, default_next: str, default_about: str) -> None:
        """entries[lo:hi] all start with `prefix` and are longer than it."""
        view = {"ctx": base + prefix, "comment": (f"numbers starting {prefix}" if prefix else
                                                  "every mobile and landline number") +
                f"; otherwise {default_about}"}
        out.append(view)
        n = len(prefix)
        rows = [f"exten => _X.,1,{default_next}"]
        if hi - lo <= TABLE_LIMIT:
            rows += leaf_rows(n, lo, hi)
        else:
            ends: dict[str, list[str]] = {}  # next -> digits whose whole subtree goes there
            i = lo
            while i < hi:
                d = entries[i][0][n]
                j = i
                while j < hi and entries[j][0][n] == d:
                    j += 1
                child = prefix + d
                own = entries[i][1] if len(entries[i][0]) == n + 1 else None  # sorted: the shortest first
                k = i + 1 if own is not None else i
                child_next = actions[own] if own is not None else default_next
                child_about = f"{child}… ({own})" if own is not None else default_about
                if k < j:
                    rows.append(f"exten => _{d}.,1,Goto({base + child},${{EXTEN:1}},1)  ; {child}…: {j - k} entries")
                    node(child, k, j, child_next, child_about)
                else:
                    ends.setdefault(child_next, []).append(d)
                i = j
            for next_, digits in ends.items():
                rows += [f"exten => _{cls}.,1,{next_}" for cls in _classes("".join(digits))]
        view["body"] = "\n".join(rows)

    node("", 0, len(entries), else_next, "no region: else")
    return out


# ====================================================================== regions (S-REG-1)
#
# One table for the whole platform, written once per output directory (flowc-regions.conf):
# contexts `<prefix>-regions…` map a normalised mobile or landline number to the code of its
# region (regions.region_codes: the city, else the province), split by leading digits like
# any prefix table so that each context holds at most TABLE_LIMIT patterns. A flow reaches it
# with Gosub and gets the code back in GOSUB_RETVAL; its own `--r` context maps codes to arms.

REGIONS_FILE = "flowc-regions.conf"


def shared_regions_context(prefix: str) -> str:
    """The entry context of the shared table (`flow--regions` with the default prefix: a
    flow's contexts are `<prefix><flow>…`, and a flow name cannot start with `-`)."""
    return f"{prefix}-regions"


def region_mapping_rows(arm_ids, arm_next: list[str], else_next: str) -> list[str]:
    """The rows of a flow's code -> arm context: `_XXXX` (any code) is the else arm; a
    province whose codes (the province itself and all its cities) go to one arm is one
    `_PPXX` pattern; other codes are exact extensions, more specific than any pattern."""
    from .. import regions

    arm_of = regions.codes_to_arms(arm_ids)
    by_code = {code: rid for rid, code in regions.region_codes().items()}
    provinces: dict[str, list[str]] = {}
    for code in by_code:
        provinces.setdefault(code[:2], []).append(code)
    rows = [f"exten => _XXXX,1,{else_next}"]
    for pp, codes in sorted(provinces.items()):
        arms = {arm_of.get(code) for code in codes}
        default = arm_of.get(pp + "00")
        if len(arms) == 1 and default is not None:
            rows.append(f"exten => _{pp}XX,1,{arm_next[default]}  ; {_region_name(by_code[pp + '00'])}")
            continue
        # the province's own code decides the pattern when it takes an arm; cities differ
        if default is not None:
            rows.append(f"exten => _{pp}XX,1,{arm_next[default]}  ; {_region_name(by_code[pp + '00'])}")
        for code in sorted(codes):
            arm = arm_of.get(code)
            if code.endswith("00") or arm == default:
                continue
            rows.append(f"exten => {code},1,{arm_next[arm] if arm is not None else else_next}"
                        f"  ; {_region_name(by_code[code])}")
    return rows


def _region_name(region_id: str) -> str:
    from .. import regions

    r = regions.get_region(region_id)
    return r.name_zh if r.level == "province" else f"{regions.get_region(r.province_id).name_zh} {r.name_zh}"


def _last_digit_rows(table) -> tuple[list[tuple[str, str]], set[str]]:
    """The table's entries with every 6-digit prefix that has 7-digit exceptions folded into
    one entry labelled `=` + the ten codes of its 7th digit: one pattern instead of up to
    eleven (a default and its exceptions), which is what Asterisk's memory and reload time
    follow (133,008 7-digit entries sit under 24,366 such prefixes)."""
    from .. import regions

    entries = dict(table.entries)
    parents: dict[str, dict[str, str]] = {}
    for prefix, code in table.entries:
        if len(prefix) == 7:
            parents.setdefault(prefix[:6], {})[prefix[6]] = code
    for parent, kids in parents.items():
        effective = table.lookup(parent) or regions.NO_REGION_CODE
        for digit in kids:
            del entries[parent + digit]
        entries[parent] = "=" + "".join(kids.get(d, effective) for d in "0123456789")
    return sorted(entries.items()), set(entries.values())


def _region_return(label: str) -> str:
    """Return(<code>), or for a folded 6-digit prefix the code of the caller's 7th digit
    (ARG1 is the whole number: Gosub(<table>,<number>,1(<number>))): field 7th digit + 1
    of the ten codes."""
    if not label.startswith("="):
        return f"Return({label})"
    codes = "-".join(label[1 + 4 * i:5 + 4 * i] for i in range(10))
    return f"Return(${{CUT(PASSTHRU({codes}),-,$[${{ARG1:6:1}}+1])}})"


REGIONS_ARTIFACT = "asterisk-regions.bin"


def shared_regions_key(prefix: str) -> str:
    """Every input of flowc-regions.conf (see base.region_table_key)."""
    return region_table_key("asterisk-regions", prefix, (
        _build_shared_text, _last_digit_rows, _region_return, _split_table, _classes, _digit_set, _region_name,
        shared_regions_context), extra=str(TABLE_LIMIT))


@functools.lru_cache(maxsize=8)
def shared_regions_text(prefix: str) -> str:
    """flowc-regions.conf: the same text for every flow and every compile with this prefix."""
    return region_table_text(REGIONS_ARTIFACT, shared_regions_key(prefix), lambda: _build_shared_text(prefix))


def shared_artifact() -> tuple[str, str, object]:
    """(name, key, build) of the shipped flowc-regions.conf (the default context prefix)."""
    from ..settings import Settings

    prefix = Settings().asterisk.context_prefix
    return REGIONS_ARTIFACT, shared_regions_key(prefix), lambda: _build_shared_text(prefix).encode()


def _build_shared_text(prefix: str) -> str:
    from .. import regions

    top = shared_regions_context(prefix)

    def compute() -> list:
        entries, labels = _last_digit_rows(regions.shared_region_table())
        actions = {label: _region_return(label) for label in labels}
        views = _split_table(top + "-", entries, actions, f"Return({regions.NO_REGION_CODE})")
        views[0]["ctx"] = top
        return [[v["ctx"], v["comment"], v["body"]] for v in views]

    views = compute()
    legend = [f";   {code} {_region_name(rid)}" for rid, code in
              sorted(regions.region_codes().items(), key=lambda item: item[1])]
    head = [
        "; flowc-regions.conf: where a caller is, for every flow of the platform (S-REG-1).",
        "; Asterisk dialplan generated by flowc: do not edit. The same file for every flow and every compile",
        "; (it depends only on flowc's region data, docs/regions.md, and the context prefix).",
        ";",
        "; Deploy (docs/targets/asterisk.md): #include it once in extensions.conf, before the flows' files.",
        f"; A flow calls Gosub({top},<number>,1(<number>)) with a normalised mobile or landline number and gets the region code",
        f"; in GOSUB_RETVAL: the city's, else the province's (a landline area code several cities share),",
        f"; {regions.NO_REGION_CODE} for a number the data does not place. Entries: {len(regions.shared_region_table().entries)}"
        f" prefixes in {len(views)} contexts; each context holds at most {TABLE_LIMIT} patterns. A 6-digit prefix",
        "; whose 7-digit prefixes differ is one pattern: its ten codes, the 7th digit's cut out of them.",
        ";",
        "; Region codes: the province's GB/T 2260 code, then 00 for the province, else flowc's number of the city:",
        *legend,
    ]
    parts = ["\n".join(head)]
    for ctx, comment, body in views:
        parts.append(f"[{escape(ctx, 'word')}]\n; {escape(comment, 'comment')}\n{escape(body, 'table')}")
    return "\n\n".join(parts) + "\n"


# ====================================================================== caller numbers (S-NUM-1)

_ERE_ESCAPES = set("+.*?(){}|$[")


def _ere(pattern: str) -> str:
    """A CALLER_RULES pattern for Asterisk's REGEX(): `\\X` becomes the bracket `[X]` (the
    dialplan would eat the backslash); the rest is POSIX ERE already."""

    def repl(m: re.Match) -> str:
        ch = m.group(1)
        if ch not in _ERE_ESCAPES:
            raise ValueError(f"cannot translate \\{ch} in caller rule {pattern!r}")
        return f"[{ch}]"

    out = re.sub(r"\\(.)", repl, pattern)
    if "\\" in out or '"' in out:
        raise ValueError(f"caller rule {pattern!r} has a backslash or quote left")
    return out


def caller_rules_view(rules) -> list[dict]:
    """phones.CALLER_RULES, in order, as REGEX() tests on FLOWC_CALLER (digits and `+` only:
    the raw CALLERID(num) has been through FILTER). Rule 1 must refuse every number with
    another character (its `otherwise`), which the dialplan detects by the length FILTER
    removed: LEN() and FILTER() both take the whole substituted value (the function's
    arguments end at the last `)`; FILTER's second argument is the raw rest, commas and
    all), so the lengths differ exactly when a character other than 0-9 and + was there."""
    first = rules[0]
    if re.search(first.pattern, "1a") or first.otherwise is None or first.kind is not None:
        raise ValueError("CALLER_RULES[0] must refuse any character other than digits and + (otherwise)")
    out = []
    for i, r in enumerate(rules):
        if "$1" in r.replacement:
            head, tail = r.replacement.split("$1", 1)
            if tail or not r.pattern.endswith(")$") or r.offset is None:
                raise ValueError(f"caller rule {r.pattern!r}: group 1 must end the number")
            new = f"{head}${{FLOWC_CALLER:{r.offset}}}" if (head or r.offset) else None
        else:
            new = r.replacement
            if not re.fullmatch(r"[0-9]*", new):
                raise ValueError(f"caller rule {r.pattern!r}: unexpected replacement {r.replacement!r}")
        out.append({"n": i + 1, "source": r.pattern, "regex": escape(_ere(r.pattern), "code"),
                    "kind": r.kind, "set": None if new is None else escape(new, "code"),
                    "replacement": r.replacement, "label": f"n{i + 1}",
                    "otherwise": r.otherwise, "else_label": f"n{i + 1}else" if r.otherwise else None})
    return out
