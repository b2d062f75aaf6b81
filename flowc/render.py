"""Render diagnostics for people (`full`, `concise`) and machines (`json`).

The full form follows rustc and ruff: `error[E201]: message`, `--> path:line:col`, the
source line with carets under the span, then `= help:`. Carets are aligned by display
width, so they sit under Chinese text (two columns per character) correctly.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable, Iterable

from .diagnostics import Diagnostic

# What a terminal would act on rather than show: C0/C1 controls (ESC, BEL, CR, backspace, ...;
# a tab stays, snippets expand it), DEL, line and paragraph separators, and the bidirectional
# controls that reorder what is displayed ("Trojan Source").
_UNPRINTABLE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


_JSON_RAW = re.compile("[\x7f-\x9f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """THE place that makes text from a user's files safe to print: every character a terminal
    would act on becomes a visible escape (`\\x1b`, `\\u202e`). Used for every part of a
    diagnostic in every format, and by the CLI for its own messages."""
    return _UNPRINTABLE.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100
                            else f"\\u{ord(m.group()):04x}", text)


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _expand_tabs(text: str) -> str:
    return text.replace("\t", "    ")


def render_full(d: Diagnostic, source_line: Callable[[str, int], str | None], color: bool = False) -> str:
    """One diagnostic with its snippet. `source_line(file, line)` gives the text of a line."""
    sev = d.severity.value
    bold, red, yellow, blue, reset = ("\x1b[1m", "\x1b[31m", "\x1b[33m", "\x1b[34m", "\x1b[0m") if color else ("",) * 5
    tint = red if sev == "error" else yellow
    out = [f"{bold}{tint}{sev}[{d.code}]{reset}{bold}: {printable(d.message)}{reset}"]
    s = d.span
    if s is None:
        if d.filename:
            out.append(f"  --> {printable(d.filename)}")
    else:
        gutter = " " * len(str(s.line))
        out.append(f"{gutter}{blue}-->{reset} {printable(str(s.file))}:{s.line}:{s.col}")
        text = source_line(s.file, s.line)
        if text is not None:
            text = text.rstrip("\r\n")
            end_col = s.end_col if s.end_line == s.line else len(text) + 1
            end_col = max(end_col, s.col + 1)
            before = printable(_expand_tabs(text[: s.col - 1]))
            under = printable(_expand_tabs(text[s.col - 1 : end_col - 1])) or " "
            carets = "^" * max(1, _width(under))
            label = f" {printable(d.label)}" if d.label else ""
            out.append(f"{gutter} {blue}|{reset}")
            out.append(f"{blue}{s.line} |{reset} {printable(_expand_tabs(text))}")
            out.append(f"{gutter} {blue}|{reset} {' ' * _width(before)}{tint}{carets}{label}{reset}")
            out.append(f"{gutter} {blue}|{reset}")
        pad = gutter
    if s is None:
        pad = " "
    for note in d.notes:
        out.append(f"{pad} = note: {printable(note)}")
    if d.help:
        out.append(f"{pad} = help: {printable(d.help)}")
    return "\n".join(out)


def render_concise(d: Diagnostic) -> str:
    where = str(d.span) if d.span else (d.filename or "<input>")
    return printable(f"{where}: {d.severity.value}[{d.code}] {d.message}")


def to_json_record(d: Diagnostic) -> dict:
    """ruff-shaped record; 1-based positions, end exclusive."""
    s = d.span
    return {
        "code": d.code,
        "name": d.name,
        "severity": d.severity.value,
        "message": d.message,
        "filename": d.filename,
        "location": {"row": s.line, "column": s.col} if s else None,
        "end_location": {"row": s.end_line, "column": s.end_col} if s else None,
        "label": d.label,
        "help": d.help,
        "notes": list(d.notes),
    }


def render_json(diagnostics: Iterable[Diagnostic]) -> str:
    # json escapes C0 controls itself; DEL, C1 and bidi controls it leaves raw (valid JSON, but
    # printed as is): they can only be inside strings, where a \\u escape means the same
    text = json.dumps([to_json_record(d) for d in diagnostics], ensure_ascii=False, indent=2)
    return _JSON_RAW.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def summary_line(errors: int, warnings: int, files: int) -> str:
    def plural(n: int, word: str) -> str:
        return f"{n} {word}{'' if n == 1 else 's'}"

    return f"{plural(files, 'file')} checked: {plural(errors, 'error')}, {plural(warnings, 'warning')}"


def _gh_escape(text: str, *, prop: bool = False) -> str:
    """GitHub workflow-command escaping: `%`, CR, LF always; `:` and `,` in properties."""
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text.replace(":", "%3A").replace(",", "%2C") if prop else text


def render_github(d: Diagnostic) -> str:
    """One GitHub Actions workflow annotation (`::error file=...,line=...::message`)."""
    level = "error" if d.severity.value == "error" else "warning"
    props = []
    if d.filename:
        props.append(f"file={_gh_escape(printable(d.filename), prop=True)}")
    s = d.span
    if s is not None:
        props += [f"line={s.line}", f"col={s.col}", f"endLine={s.end_line}", f"endColumn={s.end_col}"]
    props.append(f"title={_gh_escape(f'{d.code} {d.name}', prop=True)}")
    message = d.message + (f" (help: {d.help})" if d.help else "")
    return f"::{level} {','.join(props)}::{_gh_escape(printable(message))}"


def render_sarif(diagnostics: Iterable[Diagnostic], version: str) -> str:
    """A SARIF 2.1.0 log (GitHub code scanning, GitLab, IDEs): one run, one rule per code."""
    from .diagnostics import CODES

    diagnostics = list(diagnostics)
    codes = sorted({d.code for d in diagnostics})
    rules = [{"id": c, "name": CODES[c][0], "shortDescription": {"text": CODES[c][1]},
              } for c in codes]
    results = []
    for d in diagnostics:
        r: dict = {"ruleId": d.code, "ruleIndex": codes.index(d.code),
                   "level": "error" if d.severity.value == "error" else "warning",
                   "message": {"text": d.message + (f"\nhelp: {d.help}" if d.help else "")}}
        if d.filename:
            loc: dict = {"artifactLocation": {"uri": d.filename}}
            if d.span is not None:
                s = d.span
                loc["region"] = {"startLine": s.line, "startColumn": s.col, "endLine": s.end_line, "endColumn": s.end_col}
            r["locations"] = [{"physicalLocation": loc}]
        results.append(r)
    doc = {"$schema": "https://json.schemastore.org/sarif-2.1.0.json", "version": "2.1.0",
           "runs": [{"tool": {"driver": {"name": "flowc", "version": version, "rules": rules}},
                     "results": results}]}
    text = json.dumps(doc, ensure_ascii=False, indent=2)
    return _JSON_RAW.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
