"""Render diagnostics for people (`full`, `concise`) and machines (`json`).

The full form follows rustc and ruff: `error[E201]: message`, `--> path:line:col`, the
source line with carets under the span, then `= help:`. Carets are aligned by display
width, so they sit under Chinese text (two columns per character) correctly.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Callable, Iterable

from .diagnostics import Diagnostic


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _expand_tabs(text: str) -> str:
    return text.replace("\t", "    ")


def render_full(d: Diagnostic, source_line: Callable[[str, int], str | None], color: bool = False) -> str:
    """One diagnostic with its snippet. `source_line(file, line)` gives the text of a line."""
    sev = d.severity.value
    bold, red, yellow, blue, reset = ("\x1b[1m", "\x1b[31m", "\x1b[33m", "\x1b[34m", "\x1b[0m") if color else ("",) * 5
    tint = red if sev == "error" else yellow
    out = [f"{bold}{tint}{sev}[{d.code}]{reset}{bold}: {d.message}{reset}"]
    s = d.span
    if s is None:
        if d.filename:
            out.append(f"  --> {d.filename}")
    else:
        gutter = " " * len(str(s.line))
        out.append(f"{gutter}{blue}-->{reset} {s.file}:{s.line}:{s.col}")
        text = source_line(s.file, s.line)
        if text is not None:
            text = text.rstrip("\r\n")
            end_col = s.end_col if s.end_line == s.line else len(text) + 1
            end_col = max(end_col, s.col + 1)
            before = _expand_tabs(text[: s.col - 1])
            under = _expand_tabs(text[s.col - 1 : end_col - 1]) or " "
            carets = "^" * max(1, _width(under))
            label = f" {d.label}" if d.label else ""
            out.append(f"{gutter} {blue}|{reset}")
            out.append(f"{blue}{s.line} |{reset} {_expand_tabs(text)}")
            out.append(f"{gutter} {blue}|{reset} {' ' * _width(before)}{tint}{carets}{label}{reset}")
            out.append(f"{gutter} {blue}|{reset}")
        pad = gutter
    if s is None:
        pad = " "
    for note in d.notes:
        out.append(f"{pad} = note: {note}")
    if d.help:
        out.append(f"{pad} = help: {d.help}")
    return "\n".join(out)


def render_concise(d: Diagnostic) -> str:
    where = str(d.span) if d.span else (d.filename or "<input>")
    return f"{where}: {d.severity.value}[{d.code}] {d.message}"


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
    return json.dumps([to_json_record(d) for d in diagnostics], ensure_ascii=False, indent=2)


def summary_line(errors: int, warnings: int, files: int) -> str:
    def plural(n: int, word: str) -> str:
        return f"{n} {word}{'' if n == 1 else 's'}"

    return f"{plural(files, 'file')} checked: {plural(errors, 'error')}, {plural(warnings, 'warning')}"
