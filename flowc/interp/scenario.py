"""Scenario files: the tests users keep next to their flows (`NAME.scenarios.yaml`).

A scenario is the harnesses' inputs (caller, time, dtmf, phones, ...) plus what must
happen (`expect`: observable or decision events that must appear in that order;
`expect_exactly`: the complete observable trace). docs/testing.md describes the format.

Loading never raises on bad input: YAML errors, unknown keys, values that break the harness
grammars, and references to phones, keys, prompts, steps or mailboxes the flow does not
have all become E601 diagnostics with file:line:col, rendered like flow diagnostics.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterator

from .. import ir
from ..diagnostics import Diagnostic, error
from ..source import SourceFile, Span
from .trace import OBSERVABLE_FIELDS, Event, Trace, prompt_name, tenths
from .world import World, WorldError, canonical_number

__all__ = ["CallSpec", "Expectation", "Scenario", "ScenarioFile", "ScenarioResult", "flow_path_for",
           "load_scenarios", "run_scenario", "scenario_path_for", "validate_against_flow"]

SUFFIX = ".scenarios.yaml"

# Settings of a call, as the harnesses name them.
WORLD_KEYS = ("caller", "time", "dtmf", "phones", "default_phone", "caller_hangup_after", "prompt_seconds",
              "prompt_duration", "max_seconds", "seed", "draws", "server", "state", "state_down")
# Harness settings with no meaning for the interpreter; accepted so one file can drive both.
IGNORED_KEYS = ("caller_name", "caller_audio", "caller_var", "restart_before")
SCENARIO_KEYS = ("name", "description", "calls", "expect", "expect_exactly", "tolerance", *WORLD_KEYS, *IGNORED_KEYS)
CALL_KEYS = ("description", "repeat", "expect", "expect_exactly", *WORLD_KEYS, *IGNORED_KEYS)
FILE_KEYS = ("flow", "defaults", "scenarios")

DECISION_FIELDS: dict[str, tuple[str, ...]] = {
    "step": ("step",),
    "branch": ("step", "on", "arm", "target", "calendar", "draw"),
    "outcome": ("step", "outcome", "arm", "target"),
    "menu": ("step", "attempt", "result", "key", "target"),
    "tag": ("key", "value"),
    "survey": ("survey", "result"),
}
# Extra fields the full trace has on observable events, also allowed in expectations.
_EXTRA_FIELDS = {"dial": ("ring", "group", "strategy", "step", "draw", "position", "state"), "hangup": ("why",),
                 "play": ("file",), "queue": ("group",)}
# The field a scalar stands for: `- play: welcome`, `- hangup: phone`.
_SHORTHAND = {"play": "prompt", "input": "digits", "dial": "phones", "connect": "phone", "queue": "action",
              "record": "action", "voicemail": "box", "hangup": "by", "step": "step", "branch": "target",
              "survey": "result", "outcome": "outcome"}


# ====================================================================== data


@dataclass
class Expectation:
    kind: str
    fields: dict[str, Any]
    span: Span
    t: float | None = None
    tolerance: float = 0.0

    @property
    def observable(self) -> bool:
        return self.kind in OBSERVABLE_FIELDS

    def matches(self, e: Event) -> bool:
        if e.kind != self.kind:
            return False
        if self.t is not None and abs(tenths(e.t) - self.t) > self.tolerance + 1e-9:
            return False
        for name, want in self.fields.items():
            got = e.data.get(name)
            if name == "prompt":
                if want not in (got, e.data.get("file")):
                    return False
            elif name == "phones":
                if list(got or ()) != want:
                    return False
            elif not _same_value(got, want):
                return False
        return True

    def __str__(self) -> str:
        parts = [self.kind] + [f"{k}={_show(v)}" for k, v in self.fields.items()]
        if self.t is not None:
            parts.append(f"t={self.t:g}" + (f"±{self.tolerance:g}" if self.tolerance else ""))
        return " ".join(parts)


def _same_value(got: Any, want: str) -> bool:
    """Expected values are text as written; numbers compare as numbers (`ring: 25` = 25.0)."""
    if got is None:
        return want == ""
    if isinstance(got, (int, float)) and not isinstance(got, bool):
        try:
            return float(want) == float(got)
        except ValueError:
            return False
    return str(got) == want


def _show(value: Any) -> str:
    return ",".join(value) if isinstance(value, list) else str(value)


@dataclass
class CallSpec:
    world: World
    expect: list[Expectation]
    expect_exactly: list[Expectation] | None
    span: Span
    description: str | None = None
    acknowledged_inputs: set[str] = field(default_factory=set)


@dataclass
class Scenario:
    name: str
    file: str
    span: Span
    calls: list[CallSpec]
    description: str | None = None

    @property
    def id(self) -> str:
        return f"{self.file}::{self.name}"


@dataclass
class ScenarioFile:
    path: str
    flow_path: str
    source: SourceFile
    scenarios: list[Scenario]
    flow_span: Span | None = None
    # where each world setting was written, for diagnostics about its value
    _nodes: list[tuple[Scenario, CallSpec, dict[str, Any]]] = field(default_factory=list)


# ====================================================================== YAML with positions


def _yaml():
    import yaml

    return yaml


class _Reader:
    """Turns a composed YAML node tree into Python values, reporting what is wrong."""

    def __init__(self, source: SourceFile):
        self.source = source
        self.diagnostics: list[Diagnostic] = []

    def span(self, node) -> Span:
        s, e = node.start_mark, node.end_mark
        return self.source.span(s.line + 1, s.column + 1, e.line + 1, max(e.column + 1, s.column + 2)
                                if e.line == s.line else e.column + 1)

    def fail(self, node, message: str, help: str | None = None) -> None:
        self.diagnostics.append(error("E601", message, self.span(node), help=help))

    def mapping(self, node, what: str, allowed: tuple[str, ...]) -> dict[str, Any] | None:
        """{key: value node} of a mapping node, reporting non-mappings and unknown keys."""
        yaml = _yaml()
        if not isinstance(node, yaml.MappingNode):
            self.fail(node, f"{what} must be a mapping of settings")
            return None
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key not in allowed:
                from ..transform import did_you_mean

                self.fail(key_node, f"unknown setting `{key}` in {what}",
                          help=did_you_mean(key, allowed) or f"known settings: {', '.join(allowed)}")
                continue
            if key in out:
                self.fail(key_node, f"`{key}` is given twice in {what}")
                continue
            out[key] = (key_node, value_node)
        return out

    def value(self, node) -> Any:
        """Plain Python value of a node; timestamps stay text (World parses them)."""
        yaml = _yaml()
        if isinstance(node, yaml.ScalarNode):
            tag = node.tag
            if tag.endswith(":int"):
                return int(node.value.replace("_", ""), 0) if not node.value.startswith("0") or node.value == "0" \
                    else node.value
            if tag.endswith(":float"):
                return float(node.value)
            if tag.endswith(":bool"):
                return node.value.lower() in ("true", "yes", "on")
            if tag.endswith(":null"):
                return None
            return node.value
        if isinstance(node, yaml.SequenceNode):
            return [self.value(n) for n in node.value]
        return {str(k.value): self.value(v) for k, v in node.value}


def _compose(source: SourceFile) -> tuple[Any, list[Diagnostic]]:
    yaml = _yaml()
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        return yaml.compose(source.text, Loader=loader), []
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = getattr(exc, "problem", None) or str(exc)
        context = getattr(exc, "context", None)
        message = f"this is not valid YAML: {problem}" + (f" ({context})" if context else "")
        return None, [error("E601", message, source.span(line, col),
                            help="scenario files are YAML: check indentation, and quote values with `:`, `#` or `*`")]


# ====================================================================== loading


def scenario_path_for(flow_path: str | Path) -> Path:
    p = Path(flow_path)
    return p.with_name(p.name[: -len(".flow")] + SUFFIX if p.name.endswith(".flow") else p.name + SUFFIX)


def flow_path_for(scenario_path: str | Path) -> Path:
    p = Path(scenario_path)
    stem = p.name[: -len(SUFFIX)] if p.name.endswith(SUFFIX) else p.stem
    return p.with_name(stem + ".flow")


def load_scenarios(path: str | Path, text: str | None = None) -> tuple[ScenarioFile | None, list[Diagnostic]]:
    """Read a scenario file. Returns the scenarios that could be read and every problem."""
    display = str(path)
    if text is None:
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            return None, [Diagnostic(code="E601", message=f"cannot read {display}: {exc.strerror or exc}",
                                     file=display)]
        from ..pipeline import decode

        source, diags = decode(display, data)
        if source is None:
            return None, diags
    else:
        source = SourceFile(display, text)
    root, diags = _compose(source)
    if diags:
        return None, diags
    reader = _Reader(source)
    flow_path = flow_path_for(path)
    sfile = ScenarioFile(display, str(flow_path), source, [])
    if root is None:
        reader.diagnostics.append(error("E601", "the scenario file is empty", source.span(1, 1),
                                        help="list scenarios: `- name: ...`"))
        return sfile, reader.diagnostics
    yaml = _yaml()
    defaults: dict[str, Any] = {}
    scenario_nodes = root
    if isinstance(root, yaml.MappingNode):
        top = reader.mapping(root, "the scenario file", FILE_KEYS) or {}
        if "flow" in top:
            key_node, value_node = top["flow"]
            sfile.flow_path = str(Path(display).parent / str(reader.value(value_node)))
            sfile.flow_span = reader.span(value_node)
        if "defaults" in top:
            defaults = reader.mapping(top["defaults"][1], "`defaults`", WORLD_KEYS + IGNORED_KEYS + ("tolerance",)) or {}
        if "scenarios" not in top:
            reader.fail(root, "the scenario file has no `scenarios` list")
            return sfile, reader.diagnostics
        scenario_nodes = top["scenarios"][1]
    if not isinstance(scenario_nodes, yaml.SequenceNode):
        reader.fail(scenario_nodes, "scenarios must be a list (`- name: ...`)")
        return sfile, reader.diagnostics
    names: dict[str, Span] = {}
    for node in scenario_nodes.value:
        scenario = _scenario(reader, node, defaults, sfile)
        if scenario is None:
            continue
        if scenario.name in names:
            reader.fail(node, f"two scenarios are named `{scenario.name}`",
                        help=f"the first is at line {names[scenario.name].line}; names identify scenarios")
            continue
        names[scenario.name] = scenario.span
        sfile.scenarios.append(scenario)
    return sfile, reader.diagnostics


def _scenario(reader: _Reader, node, defaults: dict[str, Any], sfile: ScenarioFile) -> Scenario | None:
    settings = reader.mapping(node, "a scenario", SCENARIO_KEYS)
    if settings is None:
        return None
    if "name" not in settings:
        reader.fail(node, "this scenario has no `name`", help="add `name: what this call checks`")
        return None
    name = str(reader.value(settings["name"][1]))
    scenario = Scenario(name, sfile.path, reader.span(settings["name"][1]), [],
                        _text(reader, settings.get("description")))
    merged = {**defaults, **settings}
    tolerance = _tolerance(reader, merged.get("tolerance"))
    common_expect = _expectations(reader, settings.get("expect"), tolerance)
    common_exact = _expectations(reader, settings.get("expect_exactly"), tolerance) if "expect_exactly" in settings \
        else None
    call_nodes = settings.get("calls")
    items = [({}, node)]
    if call_nodes is not None:
        yaml = _yaml()
        if not isinstance(call_nodes[1], yaml.SequenceNode) or not call_nodes[1].value:
            reader.fail(call_nodes[1], "`calls` must be a non-empty list of calls")
            return None
        items = []
        for call_node in call_nodes[1].value:
            call_settings = reader.mapping(call_node, "a call", CALL_KEYS)
            if call_settings is not None:
                items.append((call_settings, call_node))
    for call_settings, call_node in items:
        spec_nodes = _world_nodes(merged, call_settings)
        world = _world(reader, spec_nodes)
        if world is None:
            continue
        explicit_seed = "seed" in call_settings
        expect = common_expect + _expectations(reader, call_settings.get("expect"), tolerance)
        exact = common_exact
        if "expect_exactly" in call_settings:
            exact = _expectations(reader, call_settings.get("expect_exactly"), tolerance)
        repeat = _repeat(reader, call_settings.get("repeat"))
        for _ in range(repeat):
            # call N of a scenario draws with seed + N unless the call fixes its own seed
            call_world = world if explicit_seed else replace(world, seed=world.seed + len(scenario.calls))
            spec = CallSpec(call_world, expect, exact, reader.span(call_node),
                            _text(reader, call_settings.get("description")))
            spec.acknowledged_inputs = {str(e.fields["digits"]) for e in expect + (exact or [])
                                        if e.kind == "input" and "digits" in e.fields}
            scenario.calls.append(spec)
            sfile._nodes.append((scenario, spec, spec_nodes))
    return scenario


def _text(reader: _Reader, pair) -> str | None:
    return None if pair is None else str(reader.value(pair[1]))


def _tolerance(reader: _Reader, pair) -> float:
    if pair is None:
        return 0.0
    value = reader.value(pair[1])
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        reader.fail(pair[1], "`tolerance` is a number of seconds >= 0")
        return 0.0
    return float(value)


def _repeat(reader: _Reader, pair) -> int:
    if pair is None:
        return 1
    value = reader.value(pair[1])
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 10_000:
        reader.fail(pair[1], "`repeat` is a whole number from 1 to 10000")
        return 1
    return value


def _world_nodes(merged: dict[str, Any], call: dict[str, Any]) -> dict[str, Any]:
    """World settings of one call: the call's own over the scenario's over the defaults;
    `phones` are merged number by number, as the harnesses do."""
    out = {k: v for k, v in merged.items() if k in WORLD_KEYS}
    for key, pair in call.items():
        if key not in WORLD_KEYS:
            continue
        if key == "phones" and "phones" in out:
            out["phones"] = ("merge", out["phones"], pair)
        else:
            out[key] = pair
    return out


def _world(reader: _Reader, nodes: dict[str, Any]) -> World | None:
    values: dict[str, Any] = {}
    for key, pair in nodes.items():
        if key == "phones" and pair[0] == "merge":
            base, own = reader.value(pair[1][1]), reader.value(pair[2][1])
            if not isinstance(base, dict) or not isinstance(own, dict):
                reader.fail(pair[2][1], "`phones` maps numbers to behaviours: `\"13800000001\": busy`")
                return None
            values[key] = {**base, **own}
            continue
        values[key] = reader.value(pair[1])
    for key in ("phones", "prompt_duration"):
        if key in values and not isinstance(values[key], dict):
            reader.fail(_node(nodes[key]), f"`{key}` maps names to values, e.g. `\"13800000001\": busy`")
            return None
    if "draws" in values and not isinstance(values["draws"], list):
        reader.fail(_node(nodes["draws"]), "`draws` is a list of whole numbers 1..100, e.g. `[37, 80]`")
        return None
    try:
        return World.build(**values)
    except WorldError as exc:
        node = _node(nodes[exc.key]) if exc.key in nodes else None
        if exc.key == "phones":
            node = _bad_phone_entry(reader, nodes["phones"]) or node
        reader.diagnostics.append(error("E601", exc.message, reader.span(node) if node is not None else None,
                                        help=_WORLD_HELP.get(exc.key)))
        return None


def _bad_phone_entry(reader: _Reader, pair):
    """The value node of the first phone whose behaviour does not parse."""
    from .world import parse_behaviours

    yaml = _yaml()
    mappings = [pair[1][1], pair[2][1]] if pair[0] == "merge" else [pair[1]]
    for mapping in mappings:
        if not isinstance(mapping, yaml.MappingNode):
            continue
        for _key, value in mapping.value:
            try:
                parse_behaviours(reader.value(value))
            except WorldError:
                return value
    return None


def _node(pair):
    return pair[2][1] if pair[0] == "merge" else pair[1]


_WORLD_HELP = {
    "dtmf": "items are KEYS[@WHEN]: `2@prompt+0.5`, `1@+2`, `hangup@+10` (docs/testing.md)",
    "phones": "behaviours: answer[:after=S][:talk=S|forever], busy, noanswer, unreachable, reject, cause:C; "
              "a list `busy;answer` is per attempt",
    "default_phone": "behaviours: answer[:after=S][:talk=S|forever], busy, noanswer, unreachable, reject, cause:C",
    "time": "ISO 8601 with its offset, e.g. 2026-11-23T10:00:00+08:00",
}


def _expectations(reader: _Reader, pair, tolerance: float) -> list[Expectation]:
    if pair is None:
        return []
    yaml = _yaml()
    node = pair[1]
    if not isinstance(node, yaml.SequenceNode):
        reader.fail(node, "expectations are a list of events: `- play: welcome`")
        return []
    out = []
    for item in node.value:
        exp = _expectation(reader, item, tolerance)
        if exp is not None:
            out.append(exp)
    return out


def _expectation(reader: _Reader, node, tolerance: float) -> Expectation | None:
    yaml = _yaml()
    kinds = {**{k: v + _EXTRA_FIELDS.get(k, ()) for k, v in OBSERVABLE_FIELDS.items()}, **DECISION_FIELDS}
    if not isinstance(node, yaml.MappingNode):
        reader.fail(node, "an expectation is one event: `- play: welcome` or `- connect: {phone: \"13800000002\"}`")
        return None
    event_pairs = [(k, v) for k, v in node.value if str(k.value) not in ("t", "tolerance")]
    if len(event_pairs) != 1:
        reader.fail(node, "an expectation names exactly one event",
                    help=f"events: {', '.join(kinds)}")
        return None
    key_node, value_node = event_pairs[0]
    kind = str(key_node.value)
    if kind not in kinds:
        from ..transform import did_you_mean

        reader.fail(key_node, f"`{kind}` is not an event of the trace",
                    help=did_you_mean(kind, kinds) or f"events: {', '.join(kinds)}")
        return None
    exp = Expectation(kind, {}, reader.span(node), tolerance=tolerance)
    for k, v in node.value:
        if str(k.value) in ("t", "tolerance"):
            _set_time(reader, exp, str(k.value), v)
    if isinstance(value_node, yaml.MappingNode):
        for k, v in value_node.value:
            name = str(k.value)
            if name in ("t", "tolerance"):
                _set_time(reader, exp, name, v)
            elif name not in kinds[kind]:
                reader.fail(k, f"`{kind}` events have no field `{name}`", help=f"fields: {', '.join(kinds[kind])}")
                return None
            else:
                exp.fields[name] = _field_value(kind, name, reader.value(v))
    else:
        short = _SHORTHAND.get(kind)
        raw = reader.value(value_node)
        if kind == "tag" and isinstance(raw, str) and "=" in raw:
            k, _, v = raw.partition("=")
            exp.fields.update(key=k.strip(), value=v.strip())
        elif short is None:
            reader.fail(value_node, f"write the fields of a `{kind}` event: `{kind}: {{{', '.join(kinds[kind])}}}`")
            return None
        elif raw is not None:
            exp.fields[short] = _field_value(kind, short, raw)
    return exp


def _set_time(reader: _Reader, exp: Expectation, name: str, node) -> None:
    value = reader.value(node)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        reader.fail(node, f"`{name}` is a number of seconds since the answer")
        return
    if name == "t":
        exp.t = float(value)
    else:
        exp.tolerance = float(value)


def _field_value(kind: str, name: str, value: Any) -> Any:
    if name == "phones":
        items = value if isinstance(value, list) else [value]
        return [canonical_number(str(v)) for v in items]
    if name == "phone":
        return canonical_number(str(value))
    text = "" if value is None else str(value)
    if name == "outcome":  # both spellings: the normaliser's `noanswer`, the language's `no_answer`
        if kind == "result" and text == "no_answer":
            return "noanswer"
        if kind == "outcome" and text == "noanswer":
            return "no_answer"
    return text


# ====================================================================== checking against the flow


@dataclass
class _FlowFacts:
    numbers: set[str]
    prompts: set[str]
    boxes: set[str]
    steps: set[str]
    tags: set[str]
    keys: set[str]
    extensions: set[str]
    reads_keys: bool
    uses_time: bool


def _facts(flow: ir.Flow) -> _FlowFacts:
    numbers = {m.phone.number for g in flow.groups.values() for m in g.members}
    numbers |= {d.phone.number for d in flow.phones.values()}
    prompts = {p for p in (flow.ringback,) if p}
    for sv in flow.surveys.values():
        prompts |= {p for p in (sv.prompt, sv.invalid, sv.thanks) if p}
    boxes, tags, keys, extensions = set(), {t.key for t in flow.tags}, set(), set()
    reads = False
    uses_time = False
    if flow.surveys:
        tags.add("survey")
        for sv in flow.surveys.values():
            keys |= set(sv.keys)
        reads = True
    for step in flow.steps:
        for a in step.actions:
            if isinstance(a, (ir.Play, ir.Ringback)):
                prompts.add(a.prompt)
            elif isinstance(a, ir.Tag):
                tags.add(a.key)
        t = step.terminal
        if isinstance(t, (ir.Menu, ir.Extension)):
            reads = True
            prompts |= {p for p in (t.prompt, t.invalid.prompt, t.no_input.prompt) if p}
        if isinstance(t, ir.Menu):
            keys |= {o.key for o in t.options}
        elif isinstance(t, ir.Extension):
            extensions |= {e.ext for e in t.entries}
            numbers |= {e.dest.phone.number for e in t.entries if e.dest and e.dest.phone}
        elif isinstance(t, ir.Dial) and t.dest.phone:
            numbers.add(t.dest.phone.number)
        elif isinstance(t, ir.Voicemail):
            boxes.add(t.box)
            if t.greeting:
                prompts.add(t.greeting)
        elif isinstance(t, ir.Queue):
            prompts |= {p for p in (t.music, t.announce) if p}
        elif isinstance(t, ir.Branch) and t.on == "time":
            uses_time = True
    prompts |= {prompt_name(p) for p in prompts}
    return _FlowFacts(numbers, prompts, boxes, {s.name for s in flow.steps}, tags, keys, extensions, reads,
                      uses_time)


def validate_against_flow(sfile: ScenarioFile, flow: ir.Flow) -> list[Diagnostic]:
    """A scenario that names a phone, key, prompt, mailbox, step or tag the flow does not
    have would test nothing: each such reference is an E601 error."""
    facts = _facts(flow)
    out: list[Diagnostic] = []
    seen: set[tuple] = set()

    def report(span: Span | None, message: str, help: str | None = None) -> None:
        key = (span.line if span else 0, span.col if span else 0, message)
        if key not in seen:
            seen.add(key)
            out.append(error("E601", message, span, help=help))

    reader = _Reader(sfile.source)
    for scenario, spec, nodes in sfile._nodes:
        if facts.uses_time and "time" not in nodes:
            report(scenario.span, f"flow `{flow.name}` branches on the time of day, so scenario "
                   f"`{scenario.name}` needs a `time`", help="add e.g. `time: 2026-11-23T10:00:00+08:00`")
        _check_phones(spec, nodes, facts, flow, reader, report)
        _check_dtmf(spec, nodes, facts, flow, reader, report)
        for exp in spec.expect + (spec.expect_exactly or []):
            problem = _expectation_problem(exp, facts)
            if problem:
                report(exp.span, problem[0], problem[1])
    return out


def _check_phones(spec: CallSpec, nodes, facts: _FlowFacts, flow: ir.Flow, reader: _Reader, report) -> None:
    if "phones" not in nodes:
        return
    yaml = _yaml()
    pair = nodes["phones"]
    mapping_nodes = [pair[1][1], pair[2][1]] if pair[0] == "merge" else [pair[1]]
    for mapping in mapping_nodes:
        if not isinstance(mapping, yaml.MappingNode):
            continue
        for key_node, _value in mapping.value:
            number = canonical_number(str(key_node.value))
            if number not in facts.numbers:
                from ..transform import did_you_mean

                report(reader.span(key_node), f"flow `{flow.name}` never dials {key_node.value}",
                       did_you_mean(number, sorted(facts.numbers)) or
                       f"its phones: {', '.join(sorted(facts.numbers)) or 'none'}")


def _check_dtmf(spec: CallSpec, nodes, facts: _FlowFacts, flow: ir.Flow, reader: _Reader, report) -> None:
    if "dtmf" not in nodes:
        return
    span = reader.span(_node(nodes["dtmf"]))
    for item in spec.world.dtmf:
        if item.step is not None and item.step not in facts.steps:
            report(span, f"`{item.spec}` waits for step `{item.step}`, which flow `{flow.name}` does not have")
        if item.keys == "hangup":
            continue
        if not facts.reads_keys:
            report(span, f"flow `{flow.name}` never reads keys, so `{item.spec}` tests nothing",
                   "remove the keys; only menus, extensions and surveys read keys")
            continue
        keys = item.keys[:-1] if item.keys.endswith("#") and len(item.keys) > 1 else item.keys
        known = keys in facts.keys or keys in facts.extensions
        if not known and item.keys not in spec.acknowledged_inputs and keys not in spec.acknowledged_inputs:
            options = sorted(facts.keys | facts.extensions)
            report(span, f"`{item.spec}`: {keys} is not a key or extension of flow `{flow.name}`",
                   f"the flow reads {', '.join(options)}; to test invalid input on purpose, expect it: "
                   f"`- input: \"{keys}\"`")


def _expectation_problem(exp: Expectation, facts: _FlowFacts) -> tuple[str, str | None] | None:
    f = exp.fields
    if exp.kind == "play" and "prompt" in f and f["prompt"] not in facts.prompts:
        return f"the flow never plays `{f['prompt']}`", _nearest(f["prompt"], facts.prompts)
    for number in ([f["phone"]] if "phone" in f else []) + list(f.get("phones", [])):
        if number not in facts.numbers:
            return f"the flow never dials {number}", _nearest(number, facts.numbers)
    if exp.kind == "voicemail" and "box" in f and f["box"] not in facts.boxes:
        return f"the flow has no voicemail box {f['box']}", _nearest(f["box"], facts.boxes)
    for name in ("step", "target"):
        if name in f and f[name] and f[name] not in facts.steps:
            return f"the flow has no step `{f[name]}`", _nearest(f[name], facts.steps)
    if exp.kind == "tag" and "key" in f and f["key"] not in facts.tags:
        return f"the flow never sets tag `{f['key']}`", _nearest(f["key"], facts.tags)
    if exp.kind == "menu" and "key" in f and f.get("result") in ("option", "repeat", "back", "") \
            and f["key"] not in facts.keys:
        return f"no menu of the flow has key {f['key']}", None
    return None


def _nearest(word: str, options) -> str | None:
    from ..transform import did_you_mean

    return did_you_mean(word, sorted(options))


# ====================================================================== running


@dataclass
class CallOutcome:
    index: int
    trace: Trace
    problems: list[str]
    checklist: list[tuple[bool, Expectation]]


@dataclass
class ScenarioResult:
    scenario: Scenario
    calls: list[CallOutcome]
    error: str | None = None

    @property
    def passed(self) -> bool:
        return self.error is None and not any(c.problems for c in self.calls)

    def report(self) -> str:
        """What went wrong, for people: per failing call the expectations with ✓/✗, and the
        trace that actually happened (or a diff for `expect_exactly`)."""
        if self.error:
            return self.error
        lines = []
        for call in self.calls:
            if not call.problems:
                continue
            if len(self.calls) > 1:
                lines.append(f"call {call.index + 1}:")
            lines.extend(call.problems)
        return "\n".join(lines)


def run_scenario(session, scenario: Scenario) -> ScenarioResult:
    """Run every call of a scenario in a fresh session state and check its expectations."""
    from .engine import FlowRuntimeError

    session.reset()
    outcomes = []
    for i, spec in enumerate(scenario.calls):
        try:
            trace = session.call(spec.world)
        except FlowRuntimeError as exc:
            return ScenarioResult(scenario, outcomes, f"call {i + 1}: {exc}")
        problems, checklist = check_trace(trace, spec)
        outcomes.append(CallOutcome(i, trace, problems, checklist))
    return ScenarioResult(scenario, outcomes)


def check_trace(trace: Trace, spec: CallSpec) -> tuple[list[str], list[tuple[bool, Expectation]]]:
    """`expect` is checked against the order things happened (observable events among
    themselves, decisions among themselves); `expect_exactly` against the normalised
    observable trace, exactly as `normalize.py` orders it."""
    happened = [e for e in trace.events if e.kind in OBSERVABLE_FIELDS]
    decisions = [e for e in trace.events if e.kind in DECISION_FIELDS]
    checklist = _subsequence(spec.expect, happened, decisions)
    problems: list[str] = []
    if not all(ok for ok, _ in checklist):
        problems.append("expected, in this order (✗ = not found after the events above it):")
        for ok, exp in checklist:
            problems.append(f"  {'✓' if ok else '✗'} {exp}  (line {exp.span.line})")
        problems.append("actual events (· = decisions):")
        problems.extend(f"  {_line(e)}" for e in trace.events if e.kind in OBSERVABLE_FIELDS or e.kind in DECISION_FIELDS)
    if spec.expect_exactly is not None:
        problems.extend(_exact_diff(spec.expect_exactly, normalised_events(trace)))
    return problems, checklist


def normalised_events(trace: Trace) -> list[Event]:
    """Observable events in the canonical causal order (normalize.py's), teardown at the hang-up."""
    from .trace import causal_observable

    return [Event(t, e.kind, e.data) for t, e in causal_observable(trace.events)]


def _subsequence(expected: list[Expectation], observable: list[Event], decisions: list[Event]):
    """Observable expectations must appear in this order among the observable events,
    decision expectations among the decisions (docs/testing.md)."""
    positions = {True: 0, False: 0}
    lists = {True: observable, False: decisions}
    out = []
    for exp in expected:
        events, start = lists[exp.observable], positions[exp.observable]
        found = next((i for i in range(start, len(events)) if exp.matches(events[i])), None)
        if found is None:
            out.append((False, exp))
        else:
            positions[exp.observable] = found + 1
            out.append((True, exp))
    return out


def _line(e: Event) -> str:
    fields = OBSERVABLE_FIELDS.get(e.kind) or DECISION_FIELDS.get(e.kind, ())
    shown = " ".join(f"{k}={_show(list(e.data[k]) if isinstance(e.data[k], tuple) else e.data[k])}"
                     for k in fields if e.data.get(k) is not None)
    marker = "" if e.kind in OBSERVABLE_FIELDS else "· "
    return f"{tenths(e.t):6.1f}  {marker}{e.kind} {shown}"


def _exact_diff(expected: list[Expectation], observable: list[Event]) -> list[str]:
    ok = len(expected) == len(observable) and all(x.matches(e) for x, e in zip(expected, observable))
    if ok:
        return []
    want = [str(x) for x in expected]
    got = []
    for i, e in enumerate(observable):
        exp = expected[i] if i < len(expected) else None
        got.append(str(exp) if exp is not None and exp.matches(e) else _describe_as_expectation(e))
    diff = difflib.unified_diff(want, got, "expected", "actual", lineterm="", n=2)
    return ["expect_exactly differs (- expected, + actual):", *("  " + d for d in list(diff)[2:])]


def _describe_as_expectation(e: Event) -> str:
    fields = " ".join(f"{k}={_show(list(e.data[k]) if isinstance(e.data[k], tuple) else e.data[k])}"
                      for k in OBSERVABLE_FIELDS[e.kind] if k in e.data)
    return f"{e.kind} {fields} t={tenths(e.t):g}"


def iter_scenario_files(paths: list[Path]) -> Iterator[Path]:
    """Scenario files named by `paths`: the files themselves, the sibling of a `.flow`, or every
    `*.scenarios.yaml` below a directory (sorted)."""
    for p in paths:
        if p.is_dir():
            yield from sorted(q for q in p.rglob("*" + SUFFIX) if q.is_file())
        elif p.name.endswith(".flow"):
            yield scenario_path_for(p)
        else:
            yield p
