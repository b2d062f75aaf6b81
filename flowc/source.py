"""Source text and positions: `SourceFile` holds one file's text, `Span` a range in it."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property



@dataclass(frozen=True, slots=True)
class Span:
    """A range of source text. Lines and columns are 1-based; the end is exclusive.

    A plain dataclass, not a pydantic model: thousands are made per file and pydantic
    validates them (as part of the IR) anyway when a flow is loaded from JSON."""

    file: str
    line: int
    col: int
    end_line: int
    end_col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(frozen=True)
class SourceFile:
    """One input file. `path` is what diagnostics print; `text` is already decoded."""

    path: str
    text: str

    @cached_property
    def lines(self) -> list[str]:
        return self.text.split("\n")

    def line_text(self, line: int) -> str:
        """The text of 1-based `line`, without its newline ('' when out of range)."""
        if 1 <= line <= len(self.lines):
            return self.lines[line - 1].rstrip("\r")
        return ""

    def span(self, line: int, col: int, end_line: int | None = None, end_col: int | None = None) -> Span:
        return Span(
            file=self.path,
            line=line,
            col=col,
            end_line=end_line if end_line is not None else line,
            end_col=end_col if end_col is not None else col + 1,
        )

    def end_span(self) -> Span:
        """A one-character span just past the last character (where EOF errors point)."""
        lines = self.lines
        last = len(lines)
        # Point after the last non-empty line so the caret lands under real text.
        while last > 1 and not lines[last - 1].strip():
            last -= 1
        col = len(lines[last - 1].rstrip("\r")) + 1 if lines else 1
        return self.span(last, col)
