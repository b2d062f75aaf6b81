"""Diagnostics: what every phase reports. One record type, one registry of stable codes.

A code never changes meaning. E1xx are syntax errors, E2xx bad names and values,
E3xx flow-semantics errors, W4xx warnings, E5xx features a target cannot express,
E6xx run-time (interpreter and scenario) errors. `docs/diagnostics.md` lists them all.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from enum import Enum

from .source import Span


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"


# code -> (kebab-case name, one-line summary). The summary is for docs and `flowc explain`.
CODES: dict[str, tuple[str, str]] = {
    # E0xx: reading files
    "E001": ("unreadable-file", "a flow file or an imported file cannot be read"),
    "E002": ("invalid-encoding", "the file is not valid UTF-8"),
    "E003": ("import-failed", "an import names a file that is missing, not a library, or imports itself"),
    "E004": ("import-outside-project", "an import names a file outside the project root"),
    # E1xx: syntax
    "E101": ("unexpected-token", "the parser found a word or symbol where it expected something else"),
    "E102": ("unexpected-character", "a character that no word of the language starts with"),
    "E103": ("unexpected-end-of-file", "the file ended in the middle of a declaration"),
    "E104": ("unterminated-string", "a string is not closed by `\"` on the same line"),
    "E105": ("too-deeply-nested", "blocks nested deeper than flowc accepts"),
    "E106": ("file-too-large", "the file is larger than flowc accepts"),
    # E2xx: names and values
    "E201": ("undefined-step", "a step that the flow does not define"),
    "E202": ("duplicate-name", "two declarations of the same kind share a name"),
    "E203": ("undefined-phone-or-group", "a phone or group name that is not declared"),
    "E204": ("undefined-schedule", "a time branch names a schedule that is not declared"),
    "E205": ("undefined-list", "a caller branch names a list that is not declared"),
    "E206": ("undefined-survey", "a survey that is not declared"),
    "E207": ("reserved-name", "a name that the language uses as a keyword"),
    "E210": ("invalid-phone", "not a valid Chinese mobile or landline number"),
    "E211": ("invalid-hotline-number", "not a valid 400 number"),
    "E212": ("invalid-duration", "not a duration such as `20s`, `2m` or `30d`, or out of range"),
    "E213": ("invalid-number", "not a whole number in the allowed range"),
    "E214": ("invalid-percent", "not a percentage such as `30%`"),
    "E215": ("invalid-date-or-time", "a malformed or impossible date, day or time of day"),
    "E216": ("invalid-timezone", "not an IANA time zone name"),
    "E217": ("unknown-strategy", "not a distribution strategy"),
    "E218": ("unknown-day", "not a weekday or day type"),
    "E219": ("unknown-region", "not a Chinese province or city"),
    "E220": ("invalid-key", "not a key the caller can press"),
    "E221": ("unknown-outcome", "not a dial outcome (busy, no_answer, unreachable, failed)"),
    "E222": ("unknown-branch-kind", "not a branch kind (time, region, caller)"),
    "E223": ("invalid-prompt-name", "a prompt name with characters a dialplan cannot carry safely"),
    "E224": ("invalid-mailbox", "a voicemail box that is not 1 to 16 ASCII letters, digits or `_`"),
    "E225": ("invalid-tag", "a statistics tag name or value that is too long or has control characters"),
    "E226": ("invalid-caller-pattern", "not a caller number or prefix pattern such as `138*`"),
    "E227": ("missing-setting", "a required setting is missing"),
    "E228": ("duplicate-setting", "a setting given twice in one block"),
    "E229": ("invalid-condition", "a branch condition of the wrong kind for this branch"),
    "E230": ("identifier-collision", "two names of one kind would become the same engine identifier"),
    "E231": ("invalid-id", "a flow `id` that is not 1 to 24 lower-case ASCII letters, digits or `_`"),
    # E3xx: flow semantics
    "E301": ("duplicate-menu-key", "two options of one menu use the same key"),
    "E302": ("too-many-options", "a menu with more than 10 options"),
    "E303": ("too-many-phones", "more than 20 phones in one group, or more than 1000 extensions in one step"),
    "E304": ("weights-not-100", "ratio weights that do not total 100"),
    "E305": ("split-not-100", "split percentages that do not total 100"),
    "E306": ("missing-else", "a branch without an `else` arm"),
    "E307": ("empty-schedule", "a schedule with no rules, so it never matches"),
    "E308": ("inescapable-loop", "steps that loop forever with no caller input, timeout or way out"),
    "E309": ("holiday-data-missing", "the official holiday calendar does not cover a year the flow is compiled for"),
    "E310": ("weights-misused", "weights on a group that is not `ratio`, or a ratio phone without one"),
    "E311": ("empty-group", "a group with no phones"),
    "E312": ("invalid-back", "`back` in a menu that no single menu leads to"),
    "E313": ("extension-length", "an extension whose length differs from `digits`"),
    "E314": ("flow-count", "a file to compile must hold exactly one flow"),
    "E315": ("empty-menu", "a menu or extension step with no options"),
    "E316": ("duplicate-condition", "the same condition in two arms of one branch"),
    "E317": ("queue-without-group", "a queue with no group of agents"),
    "E318": ("ring-all-per-phone-ring", "a per-phone ring time in a `ring_all` group, where every phone rings together"),
    # W4xx: warnings
    "W401": ("unreachable-step", "a step that no path from the flow's start reaches"),
    "W402": ("ring-time-too-long", "callers would wait longer than `max_ring` before anyone can answer"),
    "W403": ("holiday-data-ends", "the holiday calendar ends before a year the flow may run in"),
    "W404": ("all-day-rule", "a schedule rule with days but no hours, followed by another on the same line"),
    "W405": ("shadowed-arm", "a branch arm whose conditions are all covered by earlier arms"),
    "W406": ("unused-declaration", "a group, schedule, list or survey that nothing uses"),
    "W407": ("unused-suppression", "a `// flowc: ignore[CODE]` comment that silences nothing"),
    # E5xx: targets
    "E501": ("unsupported-on-target", "a feature the chosen target cannot express exactly"),
    "E502": ("name-too-long", "a generated engine name cannot fit the engine's length limit"),
    # E6xx: running flows and scenarios
    "E601": ("invalid-scenario", "a scenario file that is malformed or refers to things the flow lacks"),
    # E7xx: across the flows of one output directory
    "E701": ("duplicate-hotline-number", "two flows in one output directory have the same 400 number"),
    "E702": ("duplicate-engine-name", "two flows in one output directory define the same engine-wide name or file"),
}


@dataclass(frozen=True)
class Diagnostic:
    code: str
    message: str
    span: Span | None = None
    label: str | None = None  # text printed under the caret
    help: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)
    # Set for diagnostics without a source span, so the renderer still names the file.
    file: str | None = None
    # A warning made an error by `error = [...]` or --warnings-as-errors (apply_policy)
    as_error: bool = False

    @property
    def severity(self) -> Severity:
        return Severity.WARNING if self.code.startswith("W") and not self.as_error else Severity.ERROR

    @property
    def name(self) -> str:
        return CODES[self.code][0]

    @property
    def filename(self) -> str | None:
        return self.span.file if self.span is not None else self.file

    def sort_key(self) -> tuple:
        s = self.span
        return (self.filename or "", s.line if s else 0, s.col if s else 0, self.code)


def error(code: str, message: str, span: Span | None = None, *, label: str | None = None,
          help: str | None = None, notes: tuple[str, ...] = ()) -> Diagnostic:
    """The one constructor every phase uses; it refuses codes that are not registered."""
    if code not in CODES:  # a programming error, caught by tests
        raise KeyError(f"unregistered diagnostic code {code}")
    return Diagnostic(code=code, message=message, span=span, label=label, help=help, notes=notes)


def has_errors(diagnostics: list[Diagnostic]) -> bool:
    return any(d.severity is Severity.ERROR for d in diagnostics)


class FlowcError(Exception):
    """Raised to stop a phase early; carries the diagnostics collected so far."""

    def __init__(self, diagnostics: list[Diagnostic]):
        super().__init__("; ".join(d.message for d in diagnostics))
        self.diagnostics = diagnostics


# `// flowc: ignore[W403]` or `// flowc: ignore[W403, W406]` on a line silences those warnings
# there (docs/diagnostics.md "Managing warnings"); modelled on ruff's `# noqa: CODE`.
_SUPPRESS = re.compile(r"//\s*flowc:\s*ignore\[([^\]]*)\]")


def suppressions(text: str) -> dict[int, tuple[list[str], int]]:
    """line -> (codes, column of the comment) of every suppression comment in `text`."""
    found: dict[int, tuple[list[str], int]] = {}
    if "flowc:" not in text:
        return found
    for n, line in enumerate(text.splitlines(), 1):
        m = _SUPPRESS.search(line)
        if m:
            found[n] = ([c.strip().upper() for c in m.group(1).split(",") if c.strip()], m.start() + 1)
    return found


def apply_policy(diagnostics: list[Diagnostic], ignore=(), error_codes=(), sources: dict | None = None,
                 files: Iterable[str] | None = None) -> list[Diagnostic]:
    """The user's control over warnings: inline `// flowc: ignore[CODE]` comments (on any
    line of the diagnostic's span), `ignore = [...]` and `error = [...]` (`W*`: every
    warning). Errors cannot be silenced. Suppression comments in `files` (default: every
    file of `sources`) that silence nothing are reported as W407."""
    sources = sources or {}
    ignore, error_codes = set(ignore), set(error_codes)
    names = list(files) if files is not None else list(sources)
    marks = {f: suppressions(sources[f].text) for f in names if f in sources}
    for d in diagnostics:
        if d.filename in sources and d.filename not in marks:
            marks[d.filename] = suppressions(sources[d.filename].text)
    used: set[tuple[str, int, str]] = set()
    kept: list[Diagnostic] = []
    for d in diagnostics:
        if d.code.startswith("W"):
            s = d.span
            hit = None
            if s is not None:
                for line in range(s.line, (s.end_line or s.line) + 1):
                    codes = marks.get(s.file, {}).get(line, ([], 0))[0]
                    if d.code in codes:
                        hit = (s.file, line, d.code)
                        break
            if hit:
                used.add(hit)
                continue
        kept.append(d)
    for f, lines in marks.items():
        src = sources.get(f)
        for line, (codes, col) in lines.items():
            for code in codes:
                if (f, line, code) in used:
                    continue
                why = ("only warnings can be silenced" if code.startswith("E") and code in CODES
                       else "no such diagnostic code" if code not in CODES
                       else f"there is no {code} on this line")
                kept.append(Diagnostic("W407", f"unused suppression of {code}: {why}",
                                       src.span(line, col) if src is not None else None,
                                       help="remove it from the comment", file=f))
    out = []
    for d in kept:
        if d.code.startswith("W"):
            if d.code in ignore:
                continue
            if d.code in error_codes or "W*" in error_codes:
                d = replace(d, as_error=True)
        out.append(d)
    return out
