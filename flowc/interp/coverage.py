"""Flow coverage: which parts of a flow the scenarios exercised.

The items of a flow are what its author wrote and a test should reach: every named step;
every menu option (per key), and the `invalid`, `no_input` and `exhausted` handlers that
are written; every extension; every branch arm including `else`; every split arm; and for
each step that rings phones, a conversation (`answered`) and each outcome arm written
(`busy ->`, `no_answer ->`, `unreachable ->`, `failed ->`, a queue's `timeout ->`).
Inline blocks are covered through the option or arm that leads into them.

Hits come from the decision events of traces (`step`, `menu`, `branch`, `outcome`), so
measuring coverage costs nothing while calls run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

from .. import ir
from ..source import SourceFile, Span
from .trace import Trace

__all__ = ["Coverage", "CoverageItem"]


@dataclass(frozen=True)
class CoverageItem:
    key: tuple
    label: str
    span: Span | None

    @property
    def where(self) -> str:
        s = self.span
        return f"{s.file}:{s.line}:{s.col}" if s else "?"


class Coverage:
    """Coverage items of one flow and the ones that traces reached."""

    def __init__(self, flow: ir.Flow, sources: dict[str, SourceFile] | None = None):
        self.flow = flow
        self._sources = sources or {}
        self.items: list[CoverageItem] = list(self._collect())
        self._keys = {item.key for item in self.items}
        self.hit: set[tuple] = set()

    # ------------------------------------------------------------ items

    def _collect(self) -> Iterable[CoverageItem]:
        for step in self.flow.steps:
            t = step.terminal
            name = step.name
            if not step.synthetic:
                yield CoverageItem(("step", name), f"step {name}", step.span)
            if isinstance(t, ir.Menu):
                for o in t.options:
                    what = o.target if o.action == "goto" else o.action
                    yield CoverageItem(("key", name, o.key), f"{name}: key {o.key} -> {what}", o.span)
                yield from self._handlers(name, t)
            elif isinstance(t, ir.Extension):
                for e in t.entries:
                    yield CoverageItem(("key", name, e.ext), f"{name}: extension {e.ext}", e.span)
                yield from self._handlers(name, t)
                if any(e.dest for e in t.entries):
                    yield from self._outcomes(name, t, t.outcomes)
            elif isinstance(t, ir.Dial):
                yield from self._outcomes(name, t, t.outcomes)
            elif isinstance(t, ir.Queue):
                yield CoverageItem(("outcome", name, "answered"), f"{name}: an agent answers", t.span)
                for arm in t.outcomes:
                    yield CoverageItem(("outcome", name, arm.outcome.value), f"{name}: timeout -> {arm.target}",
                                       arm.span)
            elif isinstance(t, ir.Branch):
                for i, arm in enumerate(t.arms):
                    conds = ", ".join(c.text for c in arm.conditions)
                    yield CoverageItem(("arm", name, i), f"{name}: {conds} -> {arm.target}", arm.span)
                if t.else_target:
                    yield CoverageItem(("arm", name, "else"), f"{name}: else -> {t.else_target}",
                                       self._word_span(t.span, "else"))
            elif isinstance(t, ir.Split):
                for i, arm in enumerate(t.arms):
                    yield CoverageItem(("arm", name, i), f"{name}: {arm.percent}% -> {arm.target}", arm.span)

    def _handlers(self, name: str, t: ir.Menu | ir.Extension) -> Iterable[CoverageItem]:
        for label, h in (("invalid", t.invalid), ("no_input", t.no_input)):
            if h.prompt or h.target:
                yield CoverageItem((label, name), f"{name}: {label}" + (f" -> {h.target}" if h.target else ""),
                                   h.span or self._word_span(t.span, label))
        if t.exhausted:
            yield CoverageItem(("exhausted", name), f"{name}: exhausted -> {t.exhausted}",
                               self._word_span(t.span, "exhausted"))

    def _outcomes(self, name: str, t, arms: list[ir.OutcomeArm]) -> Iterable[CoverageItem]:
        yield CoverageItem(("outcome", name, "answered"), f"{name}: a phone answers", t.span)
        for arm in arms:
            yield CoverageItem(("outcome", name, arm.outcome.value), f"{name}: {arm.outcome.value} -> {arm.target}",
                               arm.span)

    def _word_span(self, span: Span | None, word: str) -> Span | None:
        """The first line inside `span` where `word` is written (for arms without a span)."""
        if span is None or span.file not in self._sources:
            return span
        src = self._sources[span.file]
        pattern = re.compile(rf"\b{re.escape(word)}\b")
        for line in range(span.line, span.end_line + 1):
            m = pattern.search(src.line_text(line))
            if m:
                return src.span(line, m.start() + 1, line, m.end() + 1)
        return span

    # ------------------------------------------------------------ hits

    def add(self, trace: Trace) -> None:
        hit = self.hit
        for e in trace.events:
            kind = e.kind
            d = e.data
            if kind == "step":
                hit.add(("step", d["step"]))
            elif kind == "menu":
                result = d["result"]
                if result in ("option", "repeat", "back", "extension"):
                    hit.add(("key", d["step"], d["key"]))
                else:
                    hit.add((result, d["step"]))
            elif kind == "branch":
                hit.add(("arm", d["step"], d["arm"]))
            elif kind == "outcome":
                if d["outcome"] == "answered":
                    hit.add(("outcome", d["step"], "answered"))
                elif d["arm"]:
                    hit.add(("outcome", d["step"], d["arm"]))

    # ------------------------------------------------------------ results

    @property
    def covered(self) -> list[CoverageItem]:
        return [i for i in self.items if i.key in self.hit]

    @property
    def missed(self) -> list[CoverageItem]:
        return [i for i in self.items if i.key not in self.hit]

    @property
    def percent(self) -> float:
        return 100.0 * len(self.covered) / len(self.items) if self.items else 100.0

    def summary(self) -> str:
        return f"{self.percent:.0f}% ({len(self.covered)}/{len(self.items)})"

    def to_dict(self) -> dict:
        return {
            "flow": self.flow.name,
            "percent": round(self.percent, 1),
            "covered": len(self.covered),
            "total": len(self.items),
            "missed": [{"where": i.where, "what": i.label} for i in self.missed],
        }
