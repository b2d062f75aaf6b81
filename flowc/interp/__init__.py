"""Run flows on a laptop: the interpreter, its simulated world, traces, scenarios, coverage.

    from flowc.interp import Session, World, run_call

    session = Session("examples/small_shop.flow")
    trace = session.call(caller="13812345678", time="2026-11-23T10:00:00+08:00",
                         phones={"057187654321": "busy", "13900001111": "answer:after=3:talk=20"})
    trace.connected_to          # '13900001111'
    trace.observable()          # what normalize.py prints for an engine run

docs/semantics.md is the contract the engine implements, docs/trace.md the trace schema,
docs/testing.md the scenario files, `flowc run`, `flowc test` and the pytest plugin.
"""

from .engine import FlowRuntimeError, Program
from .session import FlowLoadError, Session, load_flow, run_call
from .trace import TRACE_VERSION, Event, Trace
from .world import PhoneBehaviour, World, WorldError, parse_behaviours, parse_dtmf

__all__ = [
    "TRACE_VERSION", "Event", "FlowLoadError", "FlowRuntimeError", "PhoneBehaviour", "Program", "Session",
    "Trace", "World", "WorldError", "load_flow", "parse_behaviours", "parse_dtmf", "run_call",
]
