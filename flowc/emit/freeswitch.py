"""FreeSWITCH target: a checked flow -> XML dialplan (one context per flow) plus the snippets
some features need (a mod_fifo queue definition, voicemail mailboxes).

How a flow runs in the XML dialplan (docs/targets/freeswitch.md has the long version):

* The context `<context_prefix><flow>` holds one entry extension, matching the hotline's 400
  number as `destination_number`, and one extension per step, named after the step. A step
  that needs a decision taken after something ran (a key read, a bridge's result) has helper
  extensions `<step>~<phase>`. Steps reach each other with `transfer <flow>~<step> XML <ctx>`,
  so every decision is a plain dialplan hunt over channel variables.
* The dialplan hunts an extension before it runs its actions; only `inline="true"` actions run
  during the hunt. Inline `set`s therefore compute what later conditions of the same extension
  read (the normalised caller number, a random draw, a round-robin position, the local time).
* Every decision of docs/semantics.md is made in this module; templates only print the view
  model. Escaping lives in one place, the "escaping" section below: XML by Jinja's autoescape,
  everything FreeSWITCH would interpret (`${...}`, `$${...}`, regex metacharacters, argument
  separators) by `fs_text`, `fs_token`, `fs_regex_literal` and `fs_comment`. Caller data (caller
  number, keys pressed) only ever appears in condition fields, never in application data.

A rule FreeSWITCH cannot express exactly with its stock modules is refused by `unsupported()`
with E501 naming the rule, never emitted approximately.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import re
from dataclasses import dataclass

from .. import ir
from ..names import flow_names
from ..diagnostics import Diagnostic
from ..gcpause import gc_paused
from . import lower, state
from .base import Target, region_table_key, region_table_text

# ====================================================================== escaping (the one place)

_TEXT_OK = re.compile(r"[\w\u3000-\u303f\uff01-\uff5e.,:;!?@%+=()/ -]*")
_TOKEN_OK = re.compile(r"[\w./:@+~=-]+")
_ZONE_OK = re.compile(r"[A-Za-z0-9_+\-]+(?:/[A-Za-z0-9_+\-]+)*")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class EmitError(ValueError):
    """A value reached the emitter that no check let through: a bug, never user-facing."""


# FreeSWITCH's XML pre-processor (switch_xml.c preprocess()) drops every line that contains
# `<include>`, `</include>` or `<?`, and every line that contains `x-pre-process` (any case)
# without being its directive; `<!--#` starts a directive too. Generated text must never hold
# them: `<` is escaped by autoescape, the rest by the functions below, and render() checks it.
_PREPROCESSOR = re.compile(r"x-pre-process|<include>|</include>|<\?|<!--#", re.IGNORECASE)
_EXPANDS = re.compile(r"[${}]")


def fs_text(value: str) -> str:
    """Free text (a tag value) as the value part of `set`/`export` data.

    FreeSWITCH expands `${...}` in application data, again whenever a variable holding `${`
    is read (a CDR template, a later condition: switch_channel_expand_variables), the XML
    pre-processor expands `$${...}`, and the dialplan substitutes `$1` after a capturing
    condition. So a value may never hold `$`, `{` or `}` (the checker refuses them, E225) nor
    control characters; for anything else, text made only of letters, digits, CJK and harmless
    punctuation is written as is, and the rest (quotes, `\\`, `x-pre-process`...) percent-
    encoded and decoded at run time by `${url_decode(...)}`: the variable then holds the text
    exactly, readable in a CDR and inert wherever it is read.
    """
    if _CONTROL.search(value) or _EXPANDS.search(value):
        raise EmitError(f"text {value[:40]!r} has control characters, `$`, `{{` or `}}`")
    if _TEXT_OK.fullmatch(value) and value == value.strip() and not _PREPROCESSOR.search(value):
        return value
    encoded = "".join(ch if ch.isascii() and ch.isalnum() else "".join(f"%{b:02X}" for b in ch.encode())
                      for ch in value)
    return "${url_decode(%s)}" % encoded


def fs_token(value: str) -> str:
    """One argument of an application (a file path, a mailbox, a fifo name): no spaces, no `$`,
    quotes, braces, commas or pipes. Raises EmitError otherwise: checks and settings validation
    should have refused the value already."""
    if not _TOKEN_OK.fullmatch(value) or ".." in value.split("/") or _PREPROCESSOR.search(value):
        raise EmitError(f"unsafe application argument {value!r}")
    return value


_REGEX_META = re.compile(r"([\\^.|?*+()\[\]{}])")


def fs_regex_literal(value: str) -> str:
    """A literal (menu key, caller number, 400 number, step name) inside a PCRE condition:
    metacharacters get a backslash. `$` is refused: FreeSWITCH expands variables in the
    expression before PCRE sees it, so no escape of `$` survives reliably."""
    if "$" in value or _CONTROL.search(value):
        raise EmitError(f"unsafe regex literal {value!r}")
    return _REGEX_META.sub(r"\\\1", value)


def fs_comment(value: str) -> str:
    """Text inside an XML comment: no `--` (ends the comment), no `$` (the pre-processor
    expands `$${...}` even in comments), no control characters, no `x-pre-process` (its
    hyphens become `_`). `<` and `&` are escaped by autoescape, so no `<include>`, `<?` or
    `<!--#` can appear either."""
    value = _CONTROL.sub(" ", value).replace("$", "\uff04")
    value = _PREPROCESSOR.sub(lambda m: m.group(0).replace("-", "_"), value)
    while "--" in value:
        value = value.replace("--", "- -")
    return value.rstrip("-")


def check_preprocessor_safe(name: str, text: str) -> str:
    """The whole generated file: only the template's own `<?xml ...?>`, `<include>` and
    `</include>` lines (meant to be dropped) may hold what the pre-processor acts on."""
    for n, line in enumerate(text.splitlines(), 1):
        if line.strip() in ("<include>", "</include>") or (n == 1 and line.startswith("<?xml ")):
            continue
        if _PREPROCESSOR.search(line):
            raise EmitError(f"{name}:{n}: the FreeSWITCH pre-processor would act on this line: {line.strip()[:80]!r}")
    return text


_GLOBAL = re.compile(r"\$\$\{[a-z_]+\}")


def _path_setting(value: str) -> str:
    """A directory or domain setting: settings.py allows safe characters only, after an
    optional leading $${global} (expanded by FreeSWITCH's pre-processor at load time)."""
    m = _GLOBAL.match(value)
    head, rest = (m.group(0), value[m.end():]) if m else ("", value)
    return head + (fs_token(rest) if rest else "")


# ====================================================================== view model


@dataclass
class Action:
    app: str
    data: str = ""
    inline: bool = False


@dataclass
class Regex:
    field: str
    expression: str


@dataclass
class Condition:
    field: str | None = None
    expression: str | None = None
    brk: str | None = None  # break="on-true" | "never"; None = FreeSWITCH's default on-false
    regex: str | None = None  # "any" with `regexes`
    regexes: list[Regex] = dataclasses.field(default_factory=list)
    actions: list[Action] = dataclasses.field(default_factory=list)
    anti: list[Action] = dataclasses.field(default_factory=list)
    comment: str | None = None


@dataclass
class Extension:
    name: str
    conditions: list[Condition]
    comment: str | None = None  # `<file>:<line> step <name>` on a step's first extension


@dataclass
class Member:
    text: str  # the originate string
    timeout: int
    lag: int


@dataclass
class Fifo:
    name: str
    comment: str
    members: list[Member]
    retry_delay: int


# ====================================================================== constants

DIGITS_NONE = "Z"  # a `read` terminator no phone can send: every key (`#`, `*`) is a menu key
CHINA_RINGBACK = "%(1000,4000,450)"  # GB 450 Hz, 1 s on 4 s off: the ring tone callers expect
NOANSWER_CAUSES = ("NO_ANSWER", "NO_USER_RESPONSE", "ALLOTTED_TIMEOUT")  # S-DIAL-1
BUSY_CAUSES = ("USER_BUSY",)
AUDIO_EXT = {"wav", "mp3", "ogg", "gsm", "ul", "al", "ulaw", "alaw", "r8", "r16", "sln", "raw", "au", "opus"}
MAX_TRANSFERS = 100000  # each step hop is one transfer; FreeSWITCH's default limit is 70
CLOCK_FORMAT = "%u %Y%m%d %H%M"  # "4 20261001 0930": ISO weekday, date, time of day
CLOCK_OFFSET = {"wday": 0, "ymd": 2, "md": 6, "hm": 11}
RING_CLOCK = "flowc_ring_clock"  # epoch microseconds just before a bridge (see bridge())
FIFO_MIN_RING = 10  # mod_fifo ignores a member timeout below 10 s (and uses 60 s)


# ====================================================================== regex helpers


def _group(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else "(?:" + "|".join(parts) + ")"


def _digit_class(lo: str, hi: str) -> str:
    if lo == hi:
        return lo
    if lo == "0" and hi == "9":
        return r"\d"
    return f"[{lo}-{hi}]" if int(hi) - int(lo) > 1 else f"[{lo}{hi}]"


def digit_range(lo: str, hi: str) -> str:
    """A regex for the fixed-width digit strings from `lo` to `hi` inclusive."""
    assert len(lo) == len(hi) and lo <= hi, (lo, hi)
    if not lo:
        return ""
    if lo[0] == hi[0]:
        return lo[0] + digit_range(lo[1:], hi[1:])
    rest = len(lo) - 1
    if rest == 0:
        return _digit_class(lo, hi)
    low_full, high_full = lo[1:] == "0" * rest, hi[1:] == "9" * rest
    parts = []
    first = int(lo[0]) + (0 if low_full else 1)
    last = int(hi[0]) - (0 if high_full else 1)
    if not low_full:
        parts.append(lo[0] + _wrap(digit_range(lo[1:], "9" * rest)))
    if first <= last:
        parts.append(_digit_class(str(first), str(last)) + (r"\d" if rest == 1 else r"\d{%d}" % rest))
    if not high_full:
        parts.append(hi[0] + _wrap(digit_range("0" * rest, hi[1:])))
    return _group(parts)


def _wrap(r: str) -> str:
    return r if "|" not in r or (r.startswith("(?:") and _balanced_group(r)) else f"(?:{r})"


def _balanced_group(r: str) -> bool:
    depth = 0
    for i, ch in enumerate(r):
        if ch == "\\":
            continue
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0 and i != len(r) - 1:
                return False
    return True


def int_range(lo: int, hi: int) -> str:
    """A regex for the decimal numbers lo..hi (no leading zeros), e.g. draws 1..100."""
    parts = []
    width = 1
    while 10 ** (width - 1) <= hi:
        a, b = max(lo, 10 ** (width - 1) if width > 1 else 0), min(hi, 10 ** width - 1)
        if a <= b:
            parts.append(digit_range(str(a), str(b)))
        width += 1
    return _group(parts)


def pick_ranges(cumulative: list[int]) -> list[tuple[int, int]]:
    """S-RAND-1: the draws r (1..100) that pick each entry, given running totals of percents."""
    out, lo = [], 1
    for total in cumulative:
        out.append((lo, total))
        lo = total + 1
    return out


def random_ranges(n: int) -> list[tuple[int, int]]:
    """S-DIAL-4: phone ceil(r * n / 100) for r in 1..100, as (lo, hi) per phone."""
    return pick_ranges([i * 100 // n for i in range(1, n + 1)])


def time_regex(expr: lower.Expr) -> str:
    """A lowered schedule as lookaheads over the clock string (CLOCK_FORMAT)."""
    if isinstance(expr, lower.Weekday):
        days = sorted(set(expr.days))
        return "(?=[%s])" % "".join(str(d) for d in days)
    if isinstance(expr, lower.DateIn):
        return "(?=.{%d}(?:%s))" % (CLOCK_OFFSET["ymd"], lower.compact_date_regex(expr.dates))
    if isinstance(expr, lower.Between):
        width = {"ymd": 8, "md": 4, "hm": 4}[expr.field]
        body = digit_range(str(expr.lo).zfill(width), str(expr.hi).zfill(width))
        return "(?=.{%d}%s)" % (CLOCK_OFFSET[expr.field], _wrap(body))
    if isinstance(expr, lower.Not):
        return "(?!%s)" % time_regex(expr.expr)
    if isinstance(expr, lower.And):
        return "".join(time_regex(i) for i in expr.items)
    if isinstance(expr, lower.Or):
        if not expr.items:
            return "(?!)"
        return "(?:" + "|".join(time_regex(i) for i in expr.items) + ")"
    raise TypeError(expr)


# ====================================================================== the target


class FreeSwitchTarget(Target):
    name = "freeswitch"

    def configure_env(self, env) -> None:
        env.filters["fs_comment"] = fs_comment
        env.filters["fs_text"] = fs_text
        env.filters["fs_token"] = fs_token
        env.filters["fs_regex_literal"] = fs_regex_literal

    # ------------------------------------------------------------------ E501

    @gc_paused
    def unsupported(self, flow: ir.Flow) -> list[Diagnostic]:
        return list(_Unsupported(self, flow).run())

    # ------------------------------------------------------------------ render

    def shared_outputs(self) -> dict[str, str]:
        """The region table every flow's `branch region` uses (see "regions" above)."""
        out = {REGIONS_FILE: shared_regions_xml(self.options.context_prefix)}
        if self.options.state == "postgresql":  # S-STATE-1: docs/deploy.md "Several servers"
            out[state.SCHEMA_FILE] = state.schema_text()
            out[state.LUA_FILE] = state.lua_text(self.options.state_dsn)
            out[state.ODBC_INI_FILE] = state.odbc_ini_text(self.options.state_dsn)
        return out

    @gc_paused
    def render(self, flow: ir.Flow) -> dict[str, str]:
        b = _Builder(self, flow)
        view = b.build()
        out = {f"{b.flow_id}.xml": self.env.get_template("flow.xml.j2").render(**view)}
        if b.fifos:
            out[f"fifo/{b.flow_id}.xml"] = self.env.get_template("fifo.xml.j2").render(
                flow=flow, context=b.context, fifos=b.fifos)
        if b.mailboxes:
            out[f"directory/{b.flow_id}.xml"] = self.env.get_template("directory.xml.j2").render(
                flow=flow, context=b.context, mailboxes=b.mailboxes, domain=b.voicemail_domain,
                own_domain=not self.options.voicemail_domain)
        return {name: check_preprocessor_safe(name, text) for name, text in out.items()}


# ====================================================================== E501 checks


def _seconds(value: float) -> bool:
    return float(value).is_integer()


class _Unsupported:
    def __init__(self, target: FreeSwitchTarget, flow: ir.Flow):
        self.t = target
        self.flow = flow

    def run(self):
        flow, t = self.flow, self.t
        opts = t.options
        template = opts.dial_template.replace("{number}", "0")
        if not _TOKEN_OK.fullmatch(template) or "[" in template or "{" in template or ":_:" in template:
            yield t.e501(f"dial_template `{opts.dial_template}` cannot be embedded in a bridge dial string",
                         flow.span, help="use letters, digits and `/ . : @ _ - +` around {number}")
        if flow.hotline is None:
            yield t.e501("the flow has no `number`, so no entry extension can match it", flow.span,
                         help="add `number 400-xxx-xxxx`")
        for step in flow.steps:
            yield from self.step(step)
        yield from self.recordings()

    def step(self, step: ir.Step):
        term = step.terminal
        t = self.t
        if isinstance(term, (ir.Menu, ir.Extension)) and term.timeout < 1:
            yield t.e501(f"`timeout {term.timeout:g}s`: FreeSWITCH `read` waits at least 1 s (S-MENU-1)", term.span,
                         help="use a timeout of 1 s or more")
        if isinstance(term, ir.Dial):
            yield from self.rings(term.dest, term.ring, term.span)
        if isinstance(term, ir.Extension):
            for e in term.entries:
                if e.dest is not None:
                    yield from self.rings(e.dest, term.ring, e.span or term.span)
        if isinstance(term, ir.Queue):
            yield from self.queue(term)
        if isinstance(term, ir.Voicemail) and not _seconds(term.max_length):
            yield t.e501(f"voicemail `max {term.max_length:g}s`: FreeSWITCH schedules the end of a voicemail "
                         "in whole seconds (S-VM-1)", term.span, help="use whole seconds")
        for sv_name in self.surveys_of(term):
            sv = self.flow.surveys.get(sv_name)
            if sv is not None and sv.timeout < 1:
                yield t.e501(f"survey `{sv.name}` timeout {sv.timeout:g}s: FreeSWITCH `read` waits at least 1 s "
                             "(S-SURVEY-3)", sv.span)

    def surveys_of(self, term) -> list[str]:
        if isinstance(term, (ir.Dial, ir.Extension, ir.Queue)):
            name = term.survey or self.flow.survey
            return [name] if name else []
        return []

    def rings(self, dest: ir.DialTarget, ring: float | None, span):
        for number, seconds in _ring_times(self.flow, dest, ring):
            if not _seconds(seconds) or seconds < 2:
                yield self.t.e501(
                    f"ring time {seconds:g}s of {number}: FreeSWITCH's `leg_timeout` counts whole seconds, "
                    "and flowc needs at least 2 s (S-DIAL-2)", span, help="use whole seconds, 2 s or more")
                return

    def queue(self, q: ir.Queue):
        t = self.t
        group = self.flow.groups.get(q.group or "")
        if group is not None:
            rings = [q.ring if q.ring is not None else group.ring_of(m) for m in group.members]
            if not all(_seconds(r) and r >= 2 for r in rings):
                yield t.e501(f"queue ring times {', '.join(f'{r:g}s' for r in rings)}: FreeSWITCH rings queue "
                             "members for whole seconds, at least 2 s (S-Q-2)", q.span, help="use whole seconds")
        for what, value, least in (("retry", q.retry, 1), ("max_wait", q.max_wait, 1),
                                   ("announce every", q.announce_every or 30, 1)):
            if not _seconds(value) or value < least:
                yield t.e501(f"queue `{what} {value:g}s`: mod_fifo counts whole seconds, at least {least} s (S-Q-1/2)",
                             q.span, help="use whole seconds")

    def recordings(self):
        """S-ACT-3 raises a running recording's retention, which is in its file name; FreeSWITCH
        cannot rename a file it is writing. Refuse flows where that can happen."""
        conflict = lower.retention_conflict(self.flow)
        if conflict is not None:
            rec, fewer = conflict
            yield self.t.e501(
                f"`record retain {rec.retain_days}d` may run while a recording kept {fewer} days is running; FreeSWITCH "
                "cannot rename the file it is writing to raise its retention (S-ACT-3)", rec.span,
                help=f"give every `record` of this flow the same retention (e.g. `retain {rec.retain_days}d`)")


# ====================================================================== regions (S-REG-1)
#
# One table for the whole platform, written once per output directory (flowc-regions.xml):
# a context `<prefix>-regions-<first 4 digits>` per 4-digit start a normalised mobile or
# landline number can have, whose extensions set `flowc_region` to the code of the caller's
# region (regions.region_codes). Exceptions come first, each a small trie-shaped regex over the
# rest of the 7-digit prefix; the last extension, without a condition, is the head's most
# common code. A flow runs it with `execute_extension <digits> XML <prefix>-regions-<head>` and
# maps the code to an arm in its own `<step>~region` extension.

REGIONS_FILE = "flowc-regions.xml"


def shared_regions_context(prefix: str) -> str:
    """The shared contexts are `<this>-<head>` (`flow--regions-1380` with the default prefix:
    a flow's context is `<prefix><flow>`, and a flow name cannot start with `-`)."""
    return f"{prefix}-regions"


def _suffix_regex(suffixes: list[str]) -> str:
    """Equal-length digit strings -> a regex matching a string starting with any of them;
    complete subtrees collapse (all ten digits below a node: nothing more to test)."""
    if not suffixes or not suffixes[0]:
        return ""
    by_digit: dict[str, list[str]] = {}
    for x in suffixes:
        by_digit.setdefault(x[0], []).append(x[1:])
    tails: dict[str, list[str]] = {}
    for d, rest in sorted(by_digit.items()):
        full = len(rest) == 10 ** len(rest[0])
        tails.setdefault("" if full else _suffix_regex(rest), []).append(d)
    if len(tails) == 1 and "" in tails and len(tails[""]) == 10:
        return ""
    parts = []
    for tail, digits in sorted(tails.items(), key=lambda item: item[1][0]):
        parts.append(_fs_digit_class(digits) + _wrap(tail))
    return parts[0] if len(parts) == 1 else "(?:" + "|".join(parts) + ")"


def _fs_digit_class(digits: list[str]) -> str:
    if len(digits) == 1:
        return digits[0]
    nums = sorted(int(d) for d in digits)
    runs: list[list[int]] = []
    for n in nums:
        if runs and n == runs[-1][-1] + 1:
            runs[-1].append(n)
        else:
            runs.append([n])
    return "[" + "".join(f"{r[0]}-{r[-1]}" if len(r) > 2 else "".join(map(str, r)) for r in runs) + "]"


def _region_heads() -> list[tuple[str, list[tuple[str, str]]]]:
    """[(head, [(regex after the head, code), ...])]: per head the codes of its numbers
    (`_head_rows`)."""
    from .. import regions

    table = regions.shared_region_table()
    none = regions.NO_REGION_CODE
    # the code of every 7-digit mobile prefix: shorter entries first, longer ones override
    label = [none] * 700_000
    for prefix, code in sorted((e for e in table.entries if e[0][0] == "1"), key=lambda e: len(e[0])):
        width = 10 ** (7 - len(prefix))
        start = int(prefix) * width - 1_300_000
        if start >= 0:
            label[start:start + width] = [code] * width
    heads: list[tuple[str, list[tuple[str, str]]]] = []
    for first in range(1300, 2000):  # mobiles: 1[3-9] and 9 digits; the 7-digit prefix decides
        codes: dict[str, list[str]] = {}
        base = (first - 1300) * 1000
        for rest in range(1000):
            codes.setdefault(label[base + rest], []).append(f"{rest:03d}")
        heads.append((str(first), _head_rows(codes)))
    for code in regions.area_codes():  # landlines: the area code decides
        region = table.lookup(code) or none
        for head in ([code] if len(code) == 4 else [code + d for d in "0123456789"]):
            heads.append((head, [("", region)]))
    return sorted(heads)


def _head_rows(codes: dict[str, list[str]]) -> list[tuple[str, str]]:
    """The codes of one head, the most frequent first (a lookup tries them in order), each
    with its regex; the last, the least frequent, is the catch-all without one."""
    order = sorted(codes, key=lambda c: (-len(codes[c]), c))
    return [(_suffix_regex(sorted(codes[c])), c) for c in order[:-1]] + [("", order[-1])]


REGIONS_ARTIFACT = "freeswitch-regions.bin"


def shared_regions_key(prefix: str) -> str:
    """Every input of flowc-regions.xml (see base.region_table_key)."""
    return region_table_key("freeswitch-regions", prefix, (
        _build_shared_xml, _region_heads, _head_rows, _suffix_regex, _fs_digit_class, _wrap, _balanced_group,
        _region_name, shared_regions_context, fs_comment, fs_token, check_preprocessor_safe))


@functools.lru_cache(maxsize=8)
def shared_regions_xml(prefix: str) -> str:
    """flowc-regions.xml: the same text for every flow and every compile with this prefix."""
    return region_table_text(REGIONS_ARTIFACT, shared_regions_key(prefix), lambda: _build_shared_xml(prefix))


def shared_artifact() -> tuple[str, str, object]:
    """(name, key, build) of the shipped flowc-regions.xml (the default context prefix)."""
    from ..settings import Settings

    prefix = Settings().freeswitch.context_prefix
    return REGIONS_ARTIFACT, shared_regions_key(prefix), lambda: _build_shared_xml(prefix).encode()


def _build_shared_xml(prefix: str) -> str:
    from xml.sax.saxutils import escape as xml_escape

    from .. import regions

    heads = _region_heads()
    base = fs_token(shared_regions_context(prefix))
    names = {code: _region_name(rid) for rid, code in regions.region_codes().items()}
    names[regions.NO_REGION_CODE] = "no region"
    legend = "\n".join(f"    {code} {names[code]}" for code in sorted(names))
    out = ["<include>",
           "<!--",
           "  flowc-regions.xml: where a caller is, for every flow of the platform (S-REG-1).",
           "  FreeSWITCH XML dialplan generated by flowc: do not edit. The same file for every flow and every",
           "  compile (it depends only on flowc's region data, docs/regions.md, and the context prefix).",
           "  Deploy (docs/targets/freeswitch.md): put it in the dialplan directory next to the flows' files.",
           f"  A flow runs `execute_extension <number> XML {fs_comment(base)}-<its first 4 digits>`, which sets",
           "  flowc_region to the region code: the city's, else the province's (a landline area code several",
           f"  cities share), {regions.NO_REGION_CODE} for a prefix the data does not place.",
           "  Region codes: the province's GB/T 2260 code, then 00 for the province, else flowc's number of",
           "  the city:",
           xml_escape(fs_comment(legend)),
           "-->"]
    for head, rows in heads:  # one extension: the first condition that holds sets the code
        out.append(f'  <context name="{base}-{head}"><extension name="{head}">')
        for regex, code in rows:
            if not re.fullmatch(r"[0-9\[\]\-(?:|)]*", regex) or not code.isdigit():
                raise EmitError(f"unexpected region row {regex!r} {code!r}")
            cond = f' field="destination_number" expression="^{head}{regex}" break="on-true"' if regex else ""
            out.append(f'    <condition{cond}><action application="set" data="flowc_region={code}"/></condition>')
        out.append("  </extension></context>")
    out.append("</include>")
    return check_preprocessor_safe(REGIONS_FILE, "\n".join(out) + "\n")


def _region_name(region_id: str) -> str:
    from .. import regions

    r = regions.get_region(region_id)
    return r.name_zh if r.level == "province" else f"{regions.get_region(r.province_id).name_zh} {r.name_zh}"


def _no_region() -> str:
    from .. import regions

    return regions.NO_REGION_CODE


def region_code_regex(codes: list[str]) -> str:
    """Region codes -> one anchored regex; a province all of whose codes are listed is `PP[0-9]{2}`."""
    from .. import regions

    all_codes: dict[str, set[str]] = {}
    for code in regions.region_codes().values():
        all_codes.setdefault(code[:2], set()).add(code)
    mine: dict[str, list[str]] = {}
    for code in codes:
        mine.setdefault(code[:2], []).append(code)
    parts = []
    for pp, listed in sorted(mine.items()):
        if set(listed) == all_codes[pp]:
            parts.append(f"{pp}[0-9]{{2}}")
        else:
            parts.append(pp + (listed[0][2:] if len(listed) == 1 else
                               "(?:" + "|".join(sorted(c[2:] for c in listed)) + ")"))
    return "^(?:" + "|".join(parts) + ")$"


def _ring_times(flow: ir.Flow, dest: ir.DialTarget, ring: float | None) -> list[tuple[str, float]]:
    """S-DIAL-2: (number, ring seconds) in written order."""
    if dest.phone is not None:
        return [(dest.phone.number, ring if ring is not None else 20.0)]
    group = flow.groups[dest.group]
    if group.strategy is ir.Strategy.RING_ALL:
        return [(m.phone.number, ring if ring is not None else group.ring) for m in group.members]
    return [(m.phone.number, ring if ring is not None else group.ring_of(m)) for m in group.members]


# ====================================================================== the builder


class _Builder:
    """IR -> view model for one flow. Method per construct: `<kind>_step`."""

    def __init__(self, target: FreeSwitchTarget, flow: ir.Flow):
        self.target = target
        self.opts = target.options
        self.flow = flow
        self.years = target.years
        n = flow_names(flow)  # flowc/names.py: readable, unique, within every limit
        self.flow_id = n.flow
        self.context = fs_token(n.entry(self.opts.context_prefix, flow.name))
        self.regions_context = fs_token(shared_regions_context(self.opts.context_prefix))
        self.step_ids = n.steps
        self.survey_ids = n.surveys
        # directory domain of the flow's mailboxes: its own (the context's name) unless
        # voicemail_domain says otherwise, so that two tenants' `voicemail 8000` are two boxes
        self.voicemail_domain = _path_setting(self.opts.voicemail_domain) or self.context
        self.tag_ids = n.tags
        self.extensions: list[Extension] = []
        self.fifos: list[Fifo] = []
        self.mailboxes: list[str] = []
        self.surveys_used: list[str] = []
        self.prompt_dir = _path_setting(self.opts.prompt_dir)
        self.recording_dir = _path_setting(self.opts.recording_dir)

    # ------------------------------------------------------------------ names

    def dest(self, step: str, *phase: str) -> str:
        return "~".join([self.flow_id, self.step_ids[step], *phase])

    def survey_dest(self, survey: str, *phase: str) -> str:
        return "~".join([self.flow_id, "", "survey", self.survey_ids[survey], *phase])

    def goto(self, step: str, *phase: str) -> Action:
        return Action("transfer", f"{self.dest(step, *phase)} XML {self.context}")

    def goto_dest(self, dest: str) -> Action:
        return Action("transfer", f"{dest} XML {self.context}")

    def match(self, dest: str, actions: list[Action] | None = None) -> Condition:
        return Condition("destination_number", f"^{fs_regex_literal(dest)}$", actions=list(actions or []))

    @staticmethod
    def hangup() -> Action:
        return Action("hangup", "NORMAL_CLEARING")

    def where(self, node) -> str:
        span = node.span
        return f"{span.file}:{span.line}" if span is not None else "?"

    # ------------------------------------------------------------------ files

    def prompt(self, name: str) -> str:
        """A prompt as `playback`/`read` take it: under prompt_dir, `.wav` unless it has an
        audio extension. Relative when prompt_dir is empty (FreeSWITCH's sound_prefix)."""
        base = name.rsplit("/", 1)[-1]
        ext = base.rsplit(".", 1)[-1].lower() if "." in base else ""
        path = name if ext in AUDIO_EXT else f"{name}.wav"
        fs_token(path)
        return f"{self.prompt_dir}/{path}" if self.prompt_dir else path

    def abs_prompt(self, name: str) -> str:
        """For what needs an absolute path (ringback, voicemail greeting)."""
        path = self.prompt(name)
        return path if self.prompt_dir else f"$${{sound_prefix}}/{path}"

    def dial_leg(self, number: str) -> str:
        """One phone's channel: `,` `|` (bridge) and `:_:` (enterprise originate) would add a
        second destination; settings refuse such templates, this catches a bug."""
        leg = fs_token(self.opts.dial_template.replace("{number}", fs_token(number)))
        if ":_:" in leg:
            raise EmitError(f"dial template {self.opts.dial_template!r} names more than one channel")
        return leg

    # ------------------------------------------------------------------ build

    def build(self) -> dict:
        flow = self.flow
        self.extensions.append(self.entry())
        for step in flow.steps:
            self.extensions += self.step(step)
        for name in self.surveys_used:
            self.extensions += self.survey(flow.surveys[name])
        return {
            "flow": flow,
            "flow_id": self.flow_id,
            "context": self.context,
            "source": flow.span.file if flow.span else "",
            "extensions": self.extensions,
            "test_hooks": self.opts.test_hooks,
            "fifo": bool(self.fifos),
            "mailboxes": self.mailboxes,
        }

    # ------------------------------------------------------------------ entry (S-CALL-1, S-CALL-2)

    def entry(self) -> Extension:
        flow = self.flow
        number = flow.hotline.number if flow.hotline else ""
        acts = [
            Action("answer"),
            Action("set", f"flowc_flow={fs_text(flow.name)}"),
            Action("set", f"max_session_transfers={MAX_TRANSFERS}"),
            Action("set", "playback_terminators=none"),
            Action("set", "continue_on_fail=true"),
            Action("set", "preserve_originated_vars=false"),
            Action("set", f"timezone={self.zone(flow.timezone)}"),
        ]
        acts += [self.tag(t) for t in flow.tags]
        if flow.record is not None:  # S-REC-1: a step's `record` must see this one running
            acts += [Action("set", "flowc_recording=yes"), *self.record_start(flow.record.retain_days)]
        ringback = self.abs_prompt(flow.ringback) if flow.ringback else CHINA_RINGBACK
        acts.append(Action("set", f"transfer_ringback={ringback}"))
        acts.append(self.goto(flow.entry.name))
        first = Condition("destination_number", f"^{fs_regex_literal(number)}$", actions=acts)
        conds = [first]
        if self.uses_caller():
            conds += self.caller_rules()
        return Extension(number or self.flow_id, conds,
                         comment=f"{self.where(flow)} flow {flow.name}: the hotline answers (S-CALL-1)")

    def uses_caller(self) -> bool:
        return any(isinstance(s.terminal, ir.Branch) and s.terminal.on in ("region", "caller")
                   for s in self.flow.steps)

    def caller_rules(self) -> list[Condition]:
        """S-NUM-1: phones.CALLER_RULES, in order, as inline rewrites of flowc_caller.

        The caller ID is read only as the condition field `caller_id_number` of the first
        rule (a field without `$` is taken from the caller profile as is, never expanded);
        its group 1 can hold only digits and a leading `+`, and the rest is withheld by
        the anti-actions. Every later value of flowc_caller is built from such captures,
        so the `${flowc_caller}` fields of the later rules and branches expand to digits.
        """
        from .. import phones

        rules = phones.CALLER_RULES
        first = rules[0]
        if (first.otherwise is None or first.replacement != "$1" or re.search(first.pattern, "1a")
                or not re.fullmatch(r"\^\(\\\+\?\[0-9\]\{1,[0-9]+\}\)\$", first.pattern)):
            raise EmitError(f"CALLER_RULES[0] {first.pattern!r} must capture digits and a leading + only")
        conds = []
        for i, rule in enumerate(rules):
            expression = phones.re_end(rule.pattern, r"\z")
            if "${" in expression or not set(rule.replacement) <= set("0123456789$"):
                raise EmitError(f"caller rule {rule.pattern!r} cannot be written safely")
            acts = [Action("set", f"flowc_caller={rule.replacement}", inline=True)]
            if rule.kind is not None:
                acts.append(Action("set", f"flowc_caller_kind={rule.kind}", inline=True))
            anti = []
            if rule.otherwise is not None:
                anti = [Action("set", "flowc_caller=", inline=True),
                        Action("set", f"flowc_caller_kind={rule.otherwise}", inline=True)]
            # a rule with `otherwise` stops the rules either way (break on-false after its
            # anti-actions, FreeSWITCH's default); a terminal rule stops when it holds
            brk = "on-true" if rule.kind else None if rule.otherwise else "never"
            conds.append(Condition("caller_id_number" if i == 0 else "${flowc_caller}", expression, brk=brk,
                                   actions=acts, anti=anti,
                                   comment=None if i else "the caller number, normalised by the rules N1-N11 "
                                   "(docs/regions.md) into flowc_caller, flowc_caller_kind; caller_id_number "
                                   "is read here only, as a condition field"))
        return conds

    def zone(self, name: str) -> str:
        if not _ZONE_OK.fullmatch(name):
            raise EmitError(f"unsafe time zone {name!r}")
        return name

    # ------------------------------------------------------------------ actions (§2)

    def tag(self, t: ir.Tag) -> Action:
        # The same CDR name as the Asterisk target (flowc/names.py spells the key).
        return Action("export", f"flowc_tag_{fs_token(self.tag_ids[t.key])}={fs_text(t.value)}")

    def record_start(self, days: int) -> list[Action]:
        """S-ACT-3: the whole call, both directions, retention in the name and metadata."""
        path = f"{self.recording_dir}/{self.flow_id}-r{int(days)}d-${{strftime(%Y%m%d-%H%M%S)}}-${{uuid}}" \
               f".{fs_token(self.opts.recording_format)}"
        return [
            Action("set", f"flowc_record_retain_days={int(days)}"),
            Action("set", f"RECORD_COMMENT=flowc retain {int(days)}d"),
            Action("record_session", path),
        ]

    def actions(self, step: ir.Step) -> list[Condition]:
        """A step's actions as conditions, in order. `record` only starts when no recording
        runs (S-ACT-3); the inline marker makes a second `record` of the same step see it."""
        conds: list[Condition] = []
        current: list[Action] = []
        for a in step.actions:
            if isinstance(a, ir.Play):
                current.append(Action("playback", self.prompt(a.prompt)))
            elif isinstance(a, ir.Tag):
                current.append(self.tag(a))
            elif isinstance(a, ir.Ringback):
                current.append(Action("set", f"transfer_ringback={self.abs_prompt(a.prompt)}"))
            elif isinstance(a, ir.Record):
                if current:
                    conds.append(Condition(actions=current, brk="never"))
                    current = []
                conds.append(Condition("${flowc_recording}", "^$", brk="never", comment="record, unless a recording runs",
                                       actions=[Action("set", "flowc_recording=yes", inline=True),
                                                *self.record_start(a.retain_days)]))
        if current:
            conds.append(Condition(actions=current, brk="never"))
        return conds

    # ------------------------------------------------------------------ steps

    def step(self, step: ir.Step) -> list[Extension]:
        kind = step.terminal.kind
        exts = getattr(self, f"{kind}_step")(step, step.terminal)
        exts[0].comment = f"{self.where(step)} step {step.name}"
        return exts

    def simple(self, step: ir.Step, tail: list[Action], pre: list[Condition] | None = None) -> Extension:
        """One extension: the step's actions, then `tail` (the terminal's actions)."""
        conds = [self.match(self.dest(step.name))]
        conds += self.actions(step)
        conds += pre or []
        conds.append(Condition(actions=tail))
        return Extension(self.step_ids[step.name], self._merge(conds))

    @staticmethod
    def _merge(conds: list[Condition]) -> list[Condition]:
        """Fold unconditional action groups into the destination condition before them, so a
        simple step reads as one condition."""
        out = [conds[0]]
        for c in conds[1:]:
            prev = out[-1]
            plain = c.field is None and not c.regexes and not c.anti and not c.comment
            if plain and prev.field == "destination_number" and prev is out[0] and not any(a.inline for a in c.actions):
                prev.actions = prev.actions + c.actions
            else:
                out.append(c)
        return out

    def goto_step(self, step: ir.Step, t: ir.Goto) -> list[Extension]:
        return [self.simple(step, [self.goto(t.target)])]

    def hangup_step(self, step: ir.Step, t: ir.Hangup) -> list[Extension]:
        return [self.simple(step, [self.hangup()])]  # S-CALL-5

    # ------------------------------------------------------------------ menus (§3)

    def attempts(self, step: ir.Step, retries: int, first: str) -> Extension:
        """The step's own extension: its actions, a fresh failure count (S-MENU-6), the first attempt."""
        return self.simple(step, [Action("set", f"flowc_tries={int(retries) + 1}"), self.goto(step.name, first)])

    def failed(self, dest: str, retry: Action, exhausted: list[Action]) -> Extension:
        """One failed attempt: count it, then retry or give up (S-MENU-5)."""
        return Extension(dest.split("~", 1)[1], [
            self.match(dest, [Action("set", "flowc_tries=${expr(${flowc_tries}-1)}", inline=True)]),
            Condition("${flowc_tries}", "^0$", actions=exhausted, anti=[retry],
                      comment="attempts left after this failure"),
        ])

    def handler(self, h: ir.InputHandler, fail_dest: str) -> list[Action]:
        """S-MENU-3/4: the handler's prompt, then its target or one more failure."""
        acts = [Action("playback", self.prompt(h.prompt))] if h.prompt else []
        acts.append(self.goto(h.target) if h.target else self.goto_dest(fail_dest))
        return acts

    def exhausted(self, target: str | None) -> list[Action]:
        return [self.goto(target)] if target else [self.hangup()]

    def read(self, prompt: str | None, var: str, timeout: float, max_digits: int, terminators: str) -> Action:
        """S-MENU-1/S-EXT-1: `read` plays the prompt (a key stops it and counts), then waits
        `timeout` after the prompt for the first key and after each key for the next. Unlike
        play_and_get_digits it never plays an invalid-input file on a timeout (S-MENU-4)."""
        ms = int(round(timeout * 1000))
        file = self.prompt(prompt) if prompt else "silence"
        return Action("read", f"1 {int(max_digits)} {file} {var} {ms} {terminators} {ms}")

    def menu_step(self, step: ir.Step, t: ir.Menu) -> list[Extension]:
        name = step.name
        attempt, key, fail = self.dest(name, "attempt"), self.dest(name, "key"), self.dest(name, "failed")
        exts = [self.attempts(step, t.retries, "attempt")]
        exts.append(Extension(f"{self.step_ids[name]}~attempt", [self.match(attempt, [
            self.read(t.prompt, "flowc_key", t.timeout, 1, DIGITS_NONE), self.goto_dest(key)])]))
        conds = [Condition("destination_number", f"^{fs_regex_literal(key)}$")]
        for o in t.options:
            if o.action == "repeat":  # S-MENU-2: a new attempt, no failure counted
                acts = [self.goto_dest(attempt)]
            else:  # goto, or `back` resolved by the checker to the parent menu
                acts = [self.goto(o.target)]
            conds.append(Condition("${flowc_key}", f"^{fs_regex_literal(o.key)}$", brk="on-true", actions=acts,
                                   comment=f"key {o.key}: {o.action}" + (f" {o.target}" if o.target else "")))
        conds.append(Condition("${flowc_key}", "^$", brk="on-true", actions=self.handler(t.no_input, fail),
                               comment="no key within the timeout (S-MENU-4)"))
        conds.append(Condition(actions=self.handler(t.invalid, fail), comment="any other key (S-MENU-3)"))
        exts.append(Extension(f"{self.step_ids[name]}~key", conds))
        exts.append(self.failed(fail, self.goto_dest(attempt), self.exhausted(t.exhausted)))
        return exts

    # ------------------------------------------------------------------ dial by extension (§4)

    def extension_step(self, step: ir.Step, t: ir.Extension) -> list[Extension]:
        name = step.name
        attempt, digits, fail = self.dest(name, "attempt"), self.dest(name, "digits"), self.dest(name, "failed")
        need = t.digits or (len(t.entries[0].ext) if t.entries else 1)
        exts = [self.attempts(step, t.retries, "attempt")]
        exts.append(Extension(f"{self.step_ids[name]}~attempt", [self.match(attempt, [
            self.read(t.prompt, "flowc_digits", t.timeout, need, "#"), self.goto_dest(digits)])]))
        conds = [Condition("destination_number", f"^{fs_regex_literal(digits)}$")]
        dials: list[Extension] = []
        for e in t.entries:
            if e.target is not None:
                acts = [self.goto(e.target)]
                what = f"-> {e.target}"
            else:
                sub = self.dest(name, f"ext{e.ext}")
                acts = [self.goto_dest(sub)]
                what = f"dial {e.dest.group or e.dest.phone.name or e.dest.phone.number}"
                dials += self.dial(sub, f"{self.step_ids[name]}~ext{e.ext}", e.dest, t.ring, t.outcomes,
                                   t.survey, [])
            conds.append(Condition("${flowc_digits}", f"^{fs_regex_literal(e.ext)}$", brk="on-true", actions=acts,
                                   comment=f"extension {e.ext}: {what}"))
        conds.append(Condition("${flowc_digits}", "^$", brk="on-true", actions=self.handler(t.no_input, fail),
                               comment="no digit (S-EXT-3)"))
        conds.append(Condition(actions=self.handler(t.invalid, fail), comment="digits that match no extension (S-EXT-3)"))
        exts.append(Extension(f"{self.step_ids[name]}~digits", conds))
        exts.append(self.failed(fail, self.goto_dest(attempt), self.exhausted(t.exhausted)))
        return exts + dials

    # ------------------------------------------------------------------ dialling (§5)

    def dial_step(self, step: ir.Step, t: ir.Dial) -> list[Extension]:
        return self.dial(self.dest(step.name), self.step_ids[step.name], t.dest, t.ring, t.outcomes, t.survey,
                         self.actions(step))

    def dial(self, dest: str, ext_name: str, target: ir.DialTarget, ring: float | None,
             outcomes: list[ir.OutcomeArm], survey: str | None, pre: list[Condition]) -> list[Extension]:
        flow = self.flow
        legs = [(n, int(s)) for n, s in _ring_times(flow, target, ring)]
        group = flow.groups[target.group] if target.group else None
        strategy = group.strategy if group else ir.Strategy.SEQUENTIAL
        survey_name = survey or flow.survey  # S-SURVEY-1
        if survey_name and survey_name not in self.surveys_used:
            self.surveys_used.append(survey_name)
        outcome_dest = f"{dest}~outcome"
        # the clock is read just before the bridge: see bridge()
        setup = [Action("set", f"hangup_after_bridge={'false' if survey_name else 'true'}"),
                 Action("set", f"{RING_CLOCK}=${{strmicroepoch()}}")]
        tail = [self.goto_dest(outcome_dest)]
        conds = [self.match(dest), *pre]
        n = len(legs)
        if strategy is ir.Strategy.RING_ALL:
            conds.append(Condition(actions=setup + [Action("bridge", self.bridge(legs, simultaneous=True))] + tail,
                                   comment=f"ring_all: every phone at once (S-DIAL-7)"))
        elif strategy is ir.Strategy.SEQUENTIAL or n == 1:
            conds.append(Condition(actions=setup + [Action("bridge", self.bridge(legs))] + tail,
                                   comment="sequential: one phone at a time, in order (S-DIAL-3)"))
        else:
            # S-DIAL-4/5/6: pick the first phone k (0-based) into flowc_first, then one bridge
            # of the rotation k, k+1, ... written once, with the phones in arrays indexed at
            # run time: the step grows linearly with the group (one bridge per k was n^2).
            if strategy is ir.Strategy.ROUND_ROBIN and self.opts.state == "postgresql":
                script = self.opts.state_script
                conds.append(Condition(brk="never", comment=f"round_robin: the platform's position in PostgreSQL "
                                       f"({script}, S-STATE-1), else mod_db realm flowc_rr, key "
                                       f"{flow.name}/{group.name} (S-STATE-2); sets flowc_first", actions=[
                    Action("lua", f"{script} {fs_token(flow.name)} {fs_token(group.name)} {n}"),
                ]))
            elif strategy is ir.Strategy.ROUND_ROBIN:
                key = f"{fs_token(flow.name)}\\/{fs_token(group.name)}"
                conds.append(Condition(brk="never", comment=f"round_robin: the position in mod_db realm flowc_rr, "
                                       f"key {flow.name}/{group.name}, moves on every dial (S-DIAL-5)", actions=[
                    Action("set", f"flowc_first=${{expr(mod(0${{db(select/flowc_rr/{key})}},{n}))}}", inline=True),
                    Action("db", f"insert/flowc_rr/{key}/${{expr(mod(${{flowc_first}}+1,{n}))}}"),
                ]))
            else:
                if strategy is ir.Strategy.RANDOM:
                    ranges = random_ranges(n)
                    why = "random: one draw r picks phone ceil(r*n/100) (S-DIAL-4)"
                else:
                    running, cumulative = 0, []
                    for m in group.members:
                        running += m.weight or 0
                        cumulative.append(running)
                    ranges = pick_ranges(cumulative)
                    why = "ratio: one draw r picks the first phone whose running total reaches r (S-DIAL-6)"
                conds += self.draw(why)
                live = [k for k in range(n) if ranges[k][0] <= ranges[k][1]]  # a weight of 0 never comes first
                conds.append(Condition(brk="never", comment=f"draw {ranges[live[-1]][0]}-{ranges[live[-1]][1]}: "
                                       f"{legs[live[-1]][0]} first, unless a range below holds",
                                       actions=[Action("set", f"flowc_first={live[-1]}", inline=True)]))
                for k in live[:-1]:
                    lo, hi = ranges[k]
                    conds.append(Condition("${flowc_draw}", f"^{int_range(lo, hi)}$", brk="never",
                                           actions=[Action("set", f"flowc_first={k}", inline=True)],
                                           comment=f"draw {lo}-{hi}: {legs[k][0]} first"))
            conds.append(Condition(actions=setup[:1] + self.rotation_setup(legs) + setup[1:]
                                   + [Action("bridge", self.rotated_bridge(legs))] + tail,
                                   comment="the phones from flowc_first on, wrapping around"))
        exts = [Extension(ext_name, self._merge(conds))]
        exts.append(self.outcome(outcome_dest, f"{ext_name}~outcome", outcomes, survey_name))
        return exts

    def bridge(self, legs: list[tuple[str, int]], simultaneous: bool = False) -> str:
        """One `bridge`: `|` for a sequence (one dial per phone, the next when one fails), `,`
        for ring_all. Each leg rings its own time N with `leg_timeout` t, which FreeSWITCH
        checks against whole-second clocks: the ring ends at the (t + 1)th second tick after
        the leg started, after t + 1 - f seconds for a start f into a second. The first group
        starts with the bridge: f is read just before it (RING_CLOCK, microseconds) and t is
        N - 1 when f is under half a second, else N, so the ring ends within half a second of
        N. A later group of a sequence starts when the one before ended, on a second tick when
        that one rang out, so t = N - 1. The whole attempt's originate_timeout stays above
        every leg so each leg ends with its own cause in originate_causes (S-DIAL-2)."""
        parts = []
        for k, (number, ring) in enumerate(legs):
            if simultaneous or k == 0:
                timeout = f"${{cond(${{{RING_CLOCK}:-6:1}} >= 5 ? {ring} : {max(1, ring - 1)})}}"
            else:
                timeout = str(max(1, ring - 1))
            parts.append(f"[leg_timeout={timeout}]{self.dial_leg(number)}")
        longest = max(s for _, s in legs)
        return "{originate_timeout=%d}" % (longest + 2) + ("," if simultaneous else "|").join(parts)

    def rotation_setup(self, legs: list[tuple[str, int]]) -> list[Action]:
        """The arrays rotated_bridge() indexes: each phone's channel, its ring time as the
        first of the sequence (N, and N - 1 early in a second: see bridge()) and its leg as
        a later one; then the index of the phone at each later position, (k + j) mod n."""
        n = len(legs)
        channels = [self.dial_leg(number) for number, _ in legs]
        later = [f"[leg_timeout={max(1, ring - 1)}]{channel}" for channel, (_, ring) in zip(channels, legs)]
        return [
            Action("set", "flowc_legs=ARRAY::" + "|:".join(later)),
            Action("set", "flowc_chans=ARRAY::" + "|:".join(channels)),
            Action("set", "flowc_rings=ARRAY::" + "|:".join(str(ring) for _, ring in legs)),
            Action("set", "flowc_rings1=ARRAY::" + "|:".join(str(max(1, ring - 1)) for _, ring in legs)),
            *(Action("set", f"flowc_at{j}=${{expr(mod(${{flowc_first}}+{j},{n}))}}") for j in range(1, n)),
        ]

    @staticmethod
    def rotated_bridge(legs: list[tuple[str, int]]) -> str:
        """bridge() for the rotation starting at phone flowc_first, through the arrays of
        rotation_setup() (FreeSWITCH expands `${flowc_legs[${flowc_at1}]}` to element
        flowc_at1 of the array): the same dial string as bridge(rotation), in one copy."""
        first = (f"[leg_timeout=${{cond(${{{RING_CLOCK}:-6:1}} >= 5 ? ${{flowc_rings[${{flowc_first}}]}} : "
                 f"${{flowc_rings1[${{flowc_first}}]}})}}]${{flowc_chans[${{flowc_first}}]}}")
        rest = [f"${{flowc_legs[${{flowc_at{j}}}]}}" for j in range(1, len(legs))]
        longest = max(s for _, s in legs)
        return "{originate_timeout=%d}" % (longest + 2) + "|".join([first, *rest])

    def outcome(self, dest: str, name: str, outcomes: list[ir.OutcomeArm], survey: str | None) -> Extension:
        """S-DIAL-8..10: after the bridge. originate_causes lists `uuid;CAUSE` for every leg."""
        arms = {a.outcome: a.target for a in outcomes}
        targets = {o: arms.get(o, arms.get(ir.Outcome.FAILED))  # S-DIAL-10: its own arm, else failed
                   for o in (ir.Outcome.NO_ANSWER, ir.Outcome.BUSY, ir.Outcome.UNREACHABLE)}
        conds = [self.match(dest)]
        if survey:
            conds.append(Condition("${originate_disposition}", "^SUCCESS$", brk="on-true",
                                   actions=[self.goto_dest(self.survey_dest(survey))],
                                   comment=f"the phone answered and hung up: survey {survey} (S-SURVEY-2)"))

        def go(o):
            return [self.goto(targets[o])] if targets[o] else [self.hangup()]

        if len(set(targets.values())) == 1:
            conds.append(Condition(actions=go(ir.Outcome.UNREACHABLE), comment="every phone failed (S-DIAL-9/10)"))
        else:
            conds.append(Condition("${originate_causes}", ";(?:%s)(?:\\||$)" % "|".join(NOANSWER_CAUSES),
                                   brk="on-true", actions=go(ir.Outcome.NO_ANSWER),
                                   comment="a phone gave no answer: no_answer (S-DIAL-9)"))
            conds.append(Condition("${originate_causes}", ";(?:%s)(?:\\||$)" % "|".join(BUSY_CAUSES),
                                   brk="on-true", actions=go(ir.Outcome.BUSY), comment="else a phone was busy: busy"))
            conds.append(Condition(actions=go(ir.Outcome.UNREACHABLE), comment="else: unreachable"))
        return Extension(name, conds)

    def draw(self, why: str) -> list[Condition]:
        """S-RAND-1/2: one whole number 1..100 into flowc_draw, from FLOWC_DRAWS when test hooks
        are compiled in, else from mod_expr's generator."""
        rand = Action("set", "flowc_draw=${expr(randomize(&flowc);floor(rand(&flowc)*100)+1)}", inline=True)
        if not self.opts.test_hooks:
            return [Condition(brk="never", actions=[rand], comment=why)]
        return [Condition("${FLOWC_DRAWS}", r"^\s*(100|[1-9][0-9]?)\s*(?:,([0-9,\s]*))?$", brk="never",
                          comment=why + "; test hooks: the next fixed draw of FLOWC_DRAWS (S-RAND-2)",
                          actions=[Action("set", "flowc_draw=$1", inline=True),
                                   Action("set", "FLOWC_DRAWS=$2", inline=True)],
                          anti=[rand])]

    # ------------------------------------------------------------------ branches (§6)

    def branch_step(self, step: ir.Step, t: ir.Branch) -> list[Extension]:
        name = step.name
        if t.on == "region":
            return self.region_step(step, t)
        arms = getattr(self, f"{t.on}_arms")(t)
        arms.append(Condition(actions=[self.goto(t.else_target)] if t.else_target else [self.hangup()],
                              comment="else"))
        if t.on == "time" and step.actions:
            # S-TIME-1: the moment after the step's actions ran, so decide in a second hunt
            first = self.simple(step, [self.goto(name, "branch")])
            dest = self.dest(name, "branch")
            return [first, Extension(f"{self.step_ids[name]}~branch", [self.match(dest), *arms])]
        conds = [self.match(self.dest(name)), *self.actions(step), *arms]
        return [Extension(self.step_ids[name], self._merge(conds))]

    def time_arms(self, t: ir.Branch) -> list[Condition]:
        """S-TIME-1..5: the local clock of each zone as `%u %Y%m%d %H%M` (strftime_tz takes the
        zone by name, so date-time's server-zone trap never applies) and one regex per arm."""
        flow = self.flow
        zones: dict[str, str] = {}
        conds: list[Condition] = []
        for arm in t.arms:
            for c in arm.conditions:
                sc = flow.schedules[c.text]
                zone = sc.timezone or flow.timezone
                if zone not in zones:
                    zones[zone] = "flowc_now" if not zones else f"flowc_now_{len(zones)}"
        conds.append(Condition(brk="never", comment="local time: ISO weekday, date, time of day", actions=[
            Action("set", f"{var}=${{strftime_tz({self.zone(zone)} {CLOCK_FORMAT})}}", inline=True)
            for zone, var in zones.items()]))
        for i, arm in enumerate(t.arms, 1):
            regexes = []
            for c in arm.conditions:
                sc = flow.schedules[c.text]
                var = zones[sc.timezone or flow.timezone]
                regexes.append(Regex(f"${{{var}}}", "^" + time_regex(lower.schedule_expr(sc, self.years))))
            conds.append(self.any_of(regexes, [self.goto(arm.target)],
                                     f"arm {i}: " + ", ".join(c.text for c in arm.conditions)))
        return conds

    @staticmethod
    def any_of(regexes: list[Regex], actions: list[Action], comment: str) -> Condition:
        if len(regexes) == 1:
            return Condition(regexes[0].field, regexes[0].expression, brk="on-true", actions=actions, comment=comment)
        return Condition(regex="any", regexes=regexes, brk="on-true", actions=actions, comment=comment)

    def region_step(self, step: ir.Step, t: ir.Branch) -> list[Extension]:
        """S-REG-1: the shared table (flowc-regions.xml) sets flowc_region to the caller's region
        code; `<step>~region` maps the codes the arms name to the arms. Only mobile and
        landline numbers have a region; the captures hand over digits only."""
        name = step.name
        lookup = Condition("${flowc_caller_kind}/${flowc_caller}", "^(?:mobile|landline)/([0-9]{4})([0-9]*)$",
                           brk="on-true", comment="the caller's region code, from the shared table", actions=[
                               Action("set", f"flowc_region={_no_region()}"),
                               Action("execute_extension", f"$1$2 XML {self.regions_context}-$1"),
                               self.goto(name, "region")])
        other = Condition(actions=[self.goto(t.else_target)] if t.else_target else [self.hangup()],
                          comment="else: withheld, foreign or unknown callers have no region")
        first = Extension(self.step_ids[name], self._merge([self.match(self.dest(name)), *self.actions(step),
                                                            lookup, other]))
        arms = self.region_arms(t)
        arms.append(Condition(actions=[self.goto(t.else_target)] if t.else_target else [self.hangup()],
                              comment="else"))
        return [first, Extension(f"{self.step_ids[name]}~region", [self.match(self.dest(name, "region")), *arms])]

    def region_arms(self, t: ir.Branch) -> list[Condition]:
        """One condition per arm on the region code; an arm whose codes all go to earlier arms
        never holds and is left out."""
        from .. import regions

        arm_of = regions.codes_to_arms(lower.region_arm_ids(t))
        conds = []
        for i, arm in enumerate(t.arms):
            codes = [code for code, a in arm_of.items() if a == i]
            if codes:
                conds.append(Condition("${flowc_region}", region_code_regex(codes), brk="on-true",
                                       actions=[self.goto(arm.target)],
                                       comment=f"arm {i + 1}: " + ", ".join(c.text for c in arm.conditions)))
        return conds

    def caller_arms(self, t: ir.Branch) -> list[Condition]:
        """S-CALLER-1: the normalised number equals a number, starts with a prefix, is in a
        list; `withheld` is the kind the normalisation gave."""
        from .. import literals, phones

        flow = self.flow
        conds = []
        for i, arm in enumerate(t.arms, 1):
            exact: list[str] = []
            prefixes: list[str] = []
            withheld = False
            for c in arm.conditions:
                if not c.quoted and c.text in flow.lists:
                    for e in flow.lists[c.text].entries:
                        (prefixes if e.prefix else exact).append(e.digits)
                elif not c.quoted and c.text in ("withheld", "anonymous"):
                    withheld = True
                else:  # a number is written like list entries: normalised; a prefix as written
                    digits, prefix = literals.caller_pattern(c.text)
                    if prefix:
                        prefixes.append(digits)
                    else:
                        exact.append(phones.normalize_caller(digits).digits or digits)
            regexes = []
            if withheld:
                regexes.append(Regex("${flowc_caller_kind}", "^withheld$"))
            parts = []
            if exact:
                parts.append(_group([fs_regex_literal(d) for d in dict.fromkeys(exact)]) + "$")
            parts += [fs_regex_literal(p) for p in dict.fromkeys(prefixes)]
            if parts:
                regexes.append(Regex("${flowc_caller}", "^" + _group(parts)))
            if not regexes:
                continue
            conds.append(self.any_of(regexes, [self.goto(arm.target)],
                                     f"arm {i}: " + ", ".join(c.text for c in arm.conditions)))
        return conds

    def split_step(self, step: ir.Step, t: ir.Split) -> list[Extension]:
        """S-SPLIT-1: one draw picks the arm."""
        running, cumulative = 0, []
        for a in t.arms:
            running += a.percent
            cumulative.append(running)
        conds = [self.match(self.dest(step.name)), *self.actions(step),
                 *self.draw("split: one draw r picks the first arm whose running total reaches r (S-SPLIT-1)")]
        ranges = pick_ranges(cumulative)
        live = [(a, r) for a, r in zip(t.arms, ranges) if r[0] <= r[1]]
        for k, (a, (lo, hi)) in enumerate(live):
            last = k == len(live) - 1
            conds.append(Condition(None if last else "${flowc_draw}", None if last else f"^{int_range(lo, hi)}$",
                                   brk=None if last else "on-true", actions=[self.goto(a.target)],
                                   comment=f"{a.percent}%: draw {lo}-{hi}"))
        return [Extension(self.step_ids[step.name], self._merge(conds))]

    # ------------------------------------------------------------------ queue (§7)

    def queue_step(self, step: ir.Step, t: ir.Queue) -> list[Extension]:
        """S-Q-1..4 with mod_fifo: the caller waits in `fifo <name> in` (its push/timeout/abort
        and bridge events are the queue events); the group's phones are the fifo's outbound
        members, rung all at once (ringall) for their ring time, again `retry` s after a round
        failed (retry_delay = retry - 1: mod_fifo adds 1 s); `fifo_orbit_exten` ends the wait
        after max_wait, which cancels a ring in progress."""
        flow = self.flow
        group = flow.groups[t.group]
        fifo = f"{self.context}~{self.step_ids[step.name]}"
        members = []
        rings = [int(t.ring if t.ring is not None else group.ring_of(m)) for m in group.members]
        for i, (m, ring) in enumerate(zip(group.members, rings), 1):
            # mod_fifo keeps at most 32 characters of fifo_outbound_uuid (an MD5's length) and
            # keys members by it across all fifos: a digest of fifo and position is unique
            uid = hashlib.md5(f"{fifo}~{i}".encode()).hexdigest()
            # Measured on whole-second clocks: a leg's leg_timeout t ends its ring between t and
            # t + 1 s, the round's originate_timeout T between T - 1 and T s. So each agent gets
            # leg_timeout = ring - 1 and the round a timeout above every agent's. mod_fifo writes
            # its own `[leg_timeout=<member timeout>]` before the member string and takes no
            # member timeout under 10 s; originate applies every [] block in order, so the
            # member's own block, which comes last, is the one that holds.
            members.append(Member(f"{{fifo_outbound_uuid={uid},originate_timeout={max(rings) + 1}}}"
                                  f"[leg_timeout={ring - 1}]{self.dial_leg(m.phone.number)}",
                                  max(ring - 1, FIFO_MIN_RING), 0))
        # after a failed round mod_fifo waits retry_delay + lag + 1 s; after a conversation
        # only lag + 1 s (its wrap-up time), so the retry goes into retry_delay and lag is 0
        self.fifos.append(Fifo(fs_token(fifo), f"{self.where(step)} step {step.name}: queue for group {group.name}",
                               members, max(0, int(t.retry) - 1)))
        if t.music:
            music = self.prompt(t.music)
        elif self.opts.moh_class == "default":
            music = "$${hold_music}"
        else:
            music = f"local_stream://{fs_token(self.opts.moh_class)}"
        timeout_dest = self.dest(step.name, "timeout")
        survey = t.survey or flow.survey
        if survey and survey not in self.surveys_used:
            self.surveys_used.append(survey)
        acts = [Action("set", f"fifo_music={music}")]
        if t.announce:
            acts += [Action("set", f"fifo_chime_list={self.prompt(t.announce)}"),
                     Action("set", f"fifo_chime_freq={int(t.announce_every or 30)}")]
        acts += [
            Action("set", f"fifo_orbit_exten={timeout_dest}:{int(t.max_wait)}"),
            Action("set", "fifo_orbit_dialplan=XML"),
            Action("set", f"fifo_orbit_context={self.context}"),
        ]
        if survey:
            acts.append(Action("set", f"transfer_after_bridge={self.survey_dest(survey)}:XML:{self.context}"))
        acts.append(Action("fifo", f"{fifo} in"))
        target = t.outcomes[0].target if t.outcomes else None  # `timeout ->` (stored as failed)
        first = self.simple(step, acts)
        leave = [Action("unset", "transfer_after_bridge")] if survey else []  # later dials have their own
        after = Extension(f"{self.step_ids[step.name]}~timeout", [self.match(timeout_dest, [
            *leave, self.goto(target) if target else self.hangup()])])
        after.conditions[0].comment = "max_wait passed without an answer (S-Q-3)"
        return [first, after]

    # ------------------------------------------------------------------ voicemail (§9)

    def voicemail_step(self, step: ir.Step, t: ir.Voicemail) -> list[Extension]:
        """S-VM-1: a custom greeting is an ordinary `playback` that replaces the mailbox's
        greeting and instructions (skip_greeting, skip_instructions); then mod_voicemail: its
        standard greeting when there was no custom one, a beep, the recording. The end at
        `max` is scheduled as the application starts (its greeting and beep count towards
        `max`); the prompts mod_voicemail plays after a message (urgent?, saved, goodbye,
        listen/re-record) are switched off."""
        box = fs_token(t.box)
        if box not in self.mailboxes:
            self.mailboxes.append(box)
        acts = [Action("playback", self.prompt(t.greeting))] if t.greeting else []
        acts += [Action("set", "skip_record_urgent_check=true"), Action("set", "skip_record_check=true"),
                 Action("set", "voicemail_skip_goodbye=true")]
        if t.greeting:
            acts += [Action("set", "skip_greeting=true"), Action("set", "skip_instructions=true")]
        acts += [Action("sched_hangup", f"+{int(t.max_length)} NORMAL_CLEARING"),
                 Action("voicemail", f"{fs_token(self.opts.voicemail_profile)} {self.voicemail_domain} {box}"),
                 self.hangup()]
        return [self.simple(step, acts)]

    # ------------------------------------------------------------------ survey (§8)

    def survey(self, sv: ir.Survey) -> list[Extension]:
        """S-SURVEY-2..4: a one-key menu after the conversation; the result is the tag `survey`."""
        ident = self.survey_ids[sv.name]
        start, attempt = self.survey_dest(sv.name), self.survey_dest(sv.name, "attempt")
        key, fail = self.survey_dest(sv.name, "key"), self.survey_dest(sv.name, "failed")
        name = f"~survey~{ident}"
        keys = "".join(dict.fromkeys(sv.keys))
        valid = Condition("${flowc_key}", f"^([{''.join(fs_regex_literal(k) for k in keys)}])$", brk="on-true",
                          comment=f"a valid rating: keys {', '.join(sv.keys)}", actions=[
                              Action("export", "flowc_tag_survey=$1"),
                              *([Action("playback", self.prompt(sv.thanks))] if sv.thanks else []),
                              self.hangup()])
        exts = [
            Extension(name, [self.match(start, [Action("set", f"flowc_tries={int(sv.retries) + 1}"),
                                                self.goto_dest(attempt)])],
                      comment=f"{self.where(sv)} survey {sv.name}"),
            Extension(f"{name}~attempt", [self.match(attempt, [
                self.read(sv.prompt, "flowc_key", sv.timeout, 1, DIGITS_NONE), self.goto_dest(key)])]),
            Extension(f"{name}~key", [
                self.match(key), valid,
                Condition("${flowc_key}", "^$", brk="on-true", actions=[self.goto_dest(fail)], comment="no key"),
                Condition(actions=[*([Action("playback", self.prompt(sv.invalid))] if sv.invalid else []),
                                   self.goto_dest(fail)], comment="an invalid key"),
            ]),
            self.failed(fail, self.goto_dest(attempt),
                        [Action("export", "flowc_tag_survey=none"), self.hangup()]),
        ]
        exts[-1].name = f"{name}~failed"
        return exts
