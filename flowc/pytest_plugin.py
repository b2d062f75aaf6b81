"""pytest plugin for flow tests (docs/testing.md), registered as the `pytest11` entry point.

Fixtures for ordinary pytest tests:

    def test_busy_counter_goes_to_owner(place_call):
        trace = place_call("flows/small_shop.flow", time="2026-11-23T10:00:00+08:00",
                           phones={"057187654321": "busy", "13900001111": "answer:after=2"})
        assert trace.connected_to == "13900001111"
        assert trace.played("shop/welcome")

    def test_trace_snapshot(place_call, snapshot):          # syrupy
        assert place_call("flows/shop.flow", time="2026-11-23T10:00:00+08:00").observable() == snapshot

* `load_flow(path)` -> the checked `ir.Flow` (compiled once per test run and path);
* `flow_session(path)` -> a new `flowc.interp.Session` (round-robin state of its own);
* `place_call(path_or_session, world=None, **world_options)` -> `Trace`; calls to the same
  path within one test share a session, so round-robin moves on from call to call.

With `pytest --flow-scenarios`, every `*.scenarios.yaml` becomes a test file whose
scenarios are test items. The plugin imports flowc only when a fixture or item needs it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("flowc", "flowc call flows")
    group.addoption("--flow-scenarios", action="store_true", default=False,
                    help="collect *.scenarios.yaml files next to .flow files as tests (one item per scenario)")


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def _flowc_flows() -> dict[str, Any]:
    """Checked flows by resolved path, shared by the whole test run."""
    return {}


@pytest.fixture
def load_flow(_flowc_flows: dict[str, Any]) -> Callable[..., Any]:
    """`load_flow(path)` -> the checked flow; fails the test with the diagnostics on errors."""
    from flowc.interp import FlowLoadError
    from flowc.interp import load_flow as _load

    def load(path: str | Path) -> Any:
        key = str(Path(path).resolve())
        if key not in _flowc_flows:
            try:
                _flowc_flows[key] = _load(path)
            except FlowLoadError as exc:
                pytest.fail(_render(exc.diagnostics, exc.sources), pytrace=False)
        return _flowc_flows[key]

    return load


@pytest.fixture
def flow_session(load_flow: Callable[..., Any]) -> Callable[..., Any]:
    """`flow_session(path)` -> a new Session of that flow."""
    from flowc.interp import Session

    return lambda path: Session(load_flow(path))


@pytest.fixture
def place_call(flow_session: Callable[..., Any]) -> Callable[..., Any]:
    """`place_call(path_or_session, world=None, **options)` -> the Trace of one call."""
    from flowc.interp import Session, WorldError

    sessions: dict[str, Any] = {}

    def call(flow: Any, world: Any = None, **options: Any) -> Any:
        if isinstance(flow, Session):
            session = flow
        else:
            key = str(Path(flow).resolve())
            session = sessions.get(key) or sessions.setdefault(key, flow_session(flow))
        try:
            return session.call(world, **options)
        except WorldError as exc:
            pytest.fail(f"bad call setting {exc.key}: {exc.message}", pytrace=False)

    return call


def _render(diagnostics: list, sources: dict) -> str:
    from flowc.render import render_full

    def line_of(file: str, line: int) -> str | None:
        src = sources.get(file)
        return src.line_text(line) if src else None

    return "\n\n".join(render_full(d, line_of) for d in diagnostics if d.severity.value == "error")


# ---------------------------------------------------------------- --flow-scenarios


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if parent.config.getoption("flow_scenarios") and file_path.name.endswith(".scenarios.yaml"):
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


class ScenarioFile(pytest.File):
    """A `NAME.scenarios.yaml`: one item per scenario, or one failing item for its errors."""

    def collect(self):
        from flowc.interp import Session
        from flowc.interp.runner import load_checked

        sfile, result, report = load_checked(self.path)
        if report.errors or sfile is None or result is None:
            yield ScenarioFileErrors.from_parent(self, name="errors", text=_render(report.errors, report.sources))
            return
        session = Session(result.flow)
        for scenario in sfile.scenarios:
            yield ScenarioItem.from_parent(self, name=scenario.name, scenario=scenario, flow_session=session)


class ScenarioFailed(Exception):
    pass


class ScenarioItem(pytest.Item):
    def __init__(self, *, scenario: Any, flow_session: Any, **kwargs: Any):
        super().__init__(**kwargs)
        # Plugins written for test functions read `item.funcargs` (pytest-lsp 1.0's
        # pytest_runtest_call wrapper does not even yield without it): scenarios have none.
        self.funcargs: dict[str, Any] = {}
        self.scenario = scenario
        self.flow_session = flow_session  # `session` is pytest's own

    def runtest(self) -> None:
        from flowc.interp.scenario import run_scenario

        result = run_scenario(self.flow_session, self.scenario)
        if not result.passed:
            raise ScenarioFailed(result.report())

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, ScenarioFailed):
            return f"scenario `{self.scenario.name}` failed:\n{excinfo.value}"
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, self.scenario.span.line - 1, f"scenario: {self.scenario.name}"


class ScenarioFileErrors(pytest.Item):
    def __init__(self, *, text: str, **kwargs: Any):
        super().__init__(**kwargs)
        self.funcargs: dict[str, Any] = {}  # see ScenarioItem.funcargs
        self.text = text

    def runtest(self) -> None:
        raise ScenarioFailed(self.text)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        return str(excinfo.value)

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, "scenario file errors"
