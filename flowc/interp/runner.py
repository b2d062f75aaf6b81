"""Run scenario files: load the flow and its scenarios, run them, measure coverage.

Shared by `flowc test` and the pytest plugin. A file whose flow or scenarios have errors
runs nothing and reports its diagnostics instead; it counts as one failure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..diagnostics import Diagnostic, Severity
from .coverage import Coverage
from .scenario import ScenarioResult, load_scenarios, run_scenario, validate_against_flow

__all__ = ["FileReport", "run_scenario_file", "load_checked"]


@dataclass
class FileReport:
    scenario_path: str
    flow_path: str
    diagnostics: list[Diagnostic] = field(default_factory=list)
    sources: dict[str, Any] = field(default_factory=dict)
    results: list[ScenarioResult] = field(default_factory=list)
    coverage: Coverage | None = None

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity is Severity.ERROR]

    @property
    def passed(self) -> int:
        return sum(1 for r in self.results if r.passed)

    @property
    def failed(self) -> int:
        return sum(1 for r in self.results if not r.passed) + (1 if self.errors else 0)


def load_checked(path: str | Path, workspace: Any = None):
    """(ScenarioFile or None, flow or None, report) with every diagnostic of both files."""
    from ..pipeline import Workspace

    ws = workspace or Workspace()
    sfile, diags = load_scenarios(path)
    flow_path = sfile.flow_path if sfile else str(Path(path))
    report = FileReport(str(path), flow_path, list(diags))
    if sfile is not None:
        report.sources[sfile.path] = sfile.source
    if sfile is None:
        return None, None, report
    if not Path(sfile.flow_path).is_file():
        from ..diagnostics import error

        report.diagnostics.append(error("E601", f"no flow for these scenarios: {sfile.flow_path} does not exist",
                                        sfile.flow_span or sfile.source.span(1, 1),
                                        help="put NAME.scenarios.yaml next to NAME.flow, or name it: `flow: x.flow`"))
        return sfile, None, report
    result = ws.assemble(sfile.flow_path)
    report.sources.update(result.sources)
    report.diagnostics.extend(d for d in result.diagnostics if d.severity is Severity.ERROR)
    if result.flow is None:
        return sfile, None, report
    report.diagnostics.extend(validate_against_flow(sfile, result.flow))
    return sfile, result, report


def run_scenario_file(path: str | Path, workspace: Any = None) -> FileReport:
    """Run every scenario of one file; coverage accumulates over all of them."""
    from .session import Session

    sfile, result, report = load_checked(path, workspace)
    if result is None or report.errors or sfile is None:
        return report
    session = Session(result.flow)
    report.coverage = Coverage(result.flow, result.sources)
    for scenario in sfile.scenarios:
        outcome = run_scenario(session, scenario)
        report.results.append(outcome)
        for call in outcome.calls:
            report.coverage.add(call.trace)
    return report

