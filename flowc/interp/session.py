"""Sessions: a compiled flow plus the state that lives across calls.

The only cross-call state of a flow is the round-robin position of each group (S-DIAL-5).
A `Session` keeps it between `call()`s, as Asterisk's AstDB and FreeSWITCH's mod_db do
between calls; `reset()` clears it, like a fresh deployment. A session is a whole platform:
each server (the call's `server`) has its own local positions, and with `state:
postgresql` the platform shares one position per group (S-STATE-1) unless the call's
`state_down` makes it fall back to its server's (S-STATE-2). Everything else (phone
attempt counters, draws, tags) belongs to one call.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

from .. import ir
from .engine import Program, _Call
from .trace import Trace
from .world import World

__all__ = ["FlowLoadError", "Session", "load_flow", "run_call"]


class FlowLoadError(Exception):
    """The flow has errors, so it cannot run. `diagnostics` says why, `sources` has the text
    for rendering them (`flowc.render`)."""

    def __init__(self, path: str, diagnostics: list, sources: dict):
        messages = "; ".join(f"{d.span or d.filename}: {d.code} {d.message}" for d in diagnostics
                             if d.severity.value == "error")
        super().__init__(f"{path} cannot run: {messages or 'no flow in the file'}")
        self.path = path
        self.diagnostics = diagnostics
        self.sources = sources


def load_flow(path: str | Path, text: str | None = None, workspace: Any = None) -> ir.Flow:
    """Parse and check a flow file (or `text` shown as `path`); raise FlowLoadError on errors."""
    from ..pipeline import Workspace

    result = (workspace or Workspace()).assemble(path, text=text)
    if not result.ok or result.flow is None:
        raise FlowLoadError(str(path), result.diagnostics, result.sources)
    return result.flow


class Session:
    """Runs calls of one flow. `Session(flow)` takes a checked `ir.Flow` or a path."""

    def __init__(self, flow: ir.Flow | str | Path):
        if not isinstance(flow, ir.Flow):
            flow = load_flow(flow)
        self.flow = flow
        self.program = Program(flow)
        self.positions: dict[str, int] = {}  # round-robin position per group (S-DIAL-5) on server "1"
        self.servers: dict[str, dict[str, int]] = {}  # the same on the other servers
        self.shared: dict[str, int] = {}  # dials per group in the shared store (S-STATE-1)
        self.calls_made = 0

    def call(self, world: World | None = None, **options: Any) -> Trace:
        """Place one call. Give a `World`, or the harness-style options `World.build` takes
        (`caller=`, `time=`, `dtmf=`, `phones=`, ...)."""
        if world is None:
            world = World.build(**options)
        elif options:
            raise TypeError("give either a World or world options, not both")
        index = self.calls_made
        self.calls_made += 1
        return _Call(self.program, self, world, index).run()

    def calls(self, worlds: Iterable[World]) -> list[Trace]:
        """Several calls one after another, sharing the round-robin positions."""
        return [self.call(w) for w in worlds]

    def reset(self) -> None:
        """Forget the cross-call state, as a newly deployed flow."""
        self.positions.clear()
        self.servers.clear()
        self.shared.clear()
        self.calls_made = 0

    def local_positions(self, server: str) -> dict[str, int]:
        """The round-robin positions kept by one server (its AstDB / mod_db)."""
        return self.positions if server == "1" else self.servers.setdefault(server, {})

    def __repr__(self) -> str:
        return f"<Session {self.flow.name}: {self.calls_made} call(s)>"


def run_call(flow: ir.Flow | str | Path | Session, world: World | None = None, **options: Any) -> Trace:
    """One call in a fresh session (or in `flow` when it is a Session)."""
    session = flow if isinstance(flow, Session) else Session(flow)
    return session.call(world, **options)
