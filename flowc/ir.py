"""The IR: typed, validated pydantic models of a flow. Every node carries its source span.

A flow is a set of named steps; each step is a straight line of actions ending in one
terminal that says where the call goes next. Inline blocks written inside arms are lifted
into steps with synthetic names (`main.1`, `sales.busy`), so every target in the IR is a
step name. Durations are seconds (floats), percentages whole numbers.
"""

from __future__ import annotations

import copy
from enum import Enum
from functools import cached_property
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, GetPydanticSchema

from .source import Span

IR_VERSION = 1

_span_schema: list = []


def _same_span_schema(source, handler):
    """Pydantic generates a plain dataclass's schema again for every model that has one,
    which was half the cost of importing this module. Every IR model has Node's config, so
    the schema is the same each time: generate it once, hand out copies."""
    if not _span_schema:
        schema = handler(source)  # a reference into this model's definitions
        _span_schema.append(copy.deepcopy(handler.resolve_ref_schema(schema)))
        return schema
    return copy.deepcopy(_span_schema[0])


SpanField = Annotated[Span, GetPydanticSchema(_same_span_schema)]


class Node(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    span: SpanField | None = None


# ------------------------------------------------------------------ phones and groups


class Strategy(str, Enum):
    SEQUENTIAL = "sequential"
    RANDOM = "random"
    ROUND_ROBIN = "round_robin"
    RATIO = "ratio"
    RING_ALL = "ring_all"


class Phone(Node):
    """A real phone, in canonical national form (`13800000001`, `01088886666`)."""

    number: str
    kind: Literal["mobile", "landline"]
    name: str | None = None  # the `phone NAME ...` declaration it came from, if any


class Member(Node):
    phone: Phone
    weight: int | None = None
    ring: float | None = None  # this phone's ring timeout; None = the group's


class Group(Node):
    name: str
    strategy: Strategy = Strategy.SEQUENTIAL
    ring: float = 20.0
    members: list[Member] = []

    def ring_of(self, member: Member) -> float:
        return member.ring if member.ring is not None else self.ring


class PhoneDecl(Node):
    name: str
    phone: Phone


# ------------------------------------------------------------------ schedules


class DayType(str, Enum):
    """Day types of the official Chinese calendar (chinese-calendar)."""

    WORKDAY = "workdays"   # Mon-Fri that are not holidays, plus adjusted working days (调休)
    RESTDAY = "restdays"   # Sat/Sun that are not adjusted working days, plus holidays
    HOLIDAY = "holidays"   # statutory public holidays only


class DateRange(Node):
    """Inclusive range of dates. `year` None means every year (`12-24`, `04-29..05-05`).

    A month-day range whose end is before its start wraps over the new year
    (`12-30..01-02`). Ranges are contiguous days, never "day 29..5 of months 4..5".
    """

    start_year: int | None = None
    start_month: int
    start_day: int
    end_year: int | None = None
    end_month: int
    end_day: int


class TimeRange(Node):
    """Minutes since local midnight, start inclusive, end exclusive; end may be 1440.

    start > end crosses midnight: `22:00-06:00` is 22:00-24:00 and 00:00-06:00 of the
    same calendar day (the day part of the rule is tested on the current date).
    """

    start: int
    end: int


class ScheduleRule(Node):
    """Matches when the day matches (any weekday, day type or date listed; all days when
    none is listed) and the time of day is in one of `times` (all day when empty)."""

    weekdays: list[int] = []  # ISO: 1 = Monday ... 7 = Sunday
    day_types: list[DayType] = []
    dates: list[DateRange] = []
    times: list[TimeRange] = []


class Schedule(Node):
    name: str
    timezone: str | None = None  # None = the flow's zone
    rules: list[ScheduleRule] = []
    excepts: list[DateRange] = []

    def uses_calendar(self) -> bool:
        return any(r.day_types for r in self.rules)


# ------------------------------------------------------------------ caller lists and surveys


class CallerEntry(Node):
    """An exact normalised caller number, or a prefix (`138*`)."""

    digits: str
    prefix: bool = False


class CallerList(Node):
    name: str
    entries: list[CallerEntry] = []


class Survey(Node):
    name: str
    prompt: str
    keys: list[str] = ["1", "2", "3", "4", "5"]
    timeout: float = 5.0
    retries: int = 1
    invalid: str | None = None
    thanks: str | None = None


# ------------------------------------------------------------------ actions


class Play(Node):
    kind: Literal["play"] = "play"
    prompt: str


class Tag(Node):
    kind: Literal["tag"] = "tag"
    key: str
    value: str = "1"


class Record(Node):
    kind: Literal["record"] = "record"
    retain_days: int = 30


class Ringback(Node):
    kind: Literal["ringback"] = "ringback"
    prompt: str


Action = Annotated[Union[Play, Tag, Record, Ringback], Field(discriminator="kind")]


# ------------------------------------------------------------------ terminals


class Goto(Node):
    kind: Literal["goto"] = "goto"
    target: str


class Hangup(Node):
    kind: Literal["hangup"] = "hangup"


class InputHandler(Node):
    """What a menu or extension does on invalid input / no input: play `prompt` (if any),
    then go to `target`, or try again when `target` is None."""

    prompt: str | None = None
    target: str | None = None


class MenuOption(Node):
    key: str
    action: Literal["goto", "repeat", "back"] = "goto"
    target: str | None = None  # for `back`, filled in by the checker (the parent menu)


class Menu(Node):
    kind: Literal["menu"] = "menu"
    prompt: str | None = None
    timeout: float = 5.0
    retries: int = 2
    options: list[MenuOption] = []
    invalid: InputHandler = InputHandler()
    no_input: InputHandler = InputHandler()
    exhausted: str | None = None  # None = hang up


class Outcome(str, Enum):
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    UNREACHABLE = "unreachable"
    FAILED = "failed"  # any failure without its own arm


class OutcomeArm(Node):
    outcome: Outcome
    target: str


class DialTarget(Node):
    """Either a declared group (by name) or one phone."""

    group: str | None = None
    phone: Phone | None = None


class Dial(Node):
    kind: Literal["dial"] = "dial"
    dest: DialTarget
    ring: float | None = None  # overrides the ring time of every phone
    survey: str | None = None
    outcomes: list[OutcomeArm] = []

    def target_for(self, outcome: Outcome) -> str | None:
        for arm in self.outcomes:
            if arm.outcome == outcome:
                return arm.target
        for arm in self.outcomes:
            if arm.outcome == Outcome.FAILED:
                return arm.target
        return None


class ExtensionEntry(Node):
    ext: str
    dest: DialTarget | None = None  # ring this phone or group ...
    target: str | None = None       # ... or go to this step


class Extension(Node):
    kind: Literal["extension"] = "extension"
    prompt: str | None = None
    digits: int | None = None  # None = the length of the extensions
    timeout: float = 5.0
    retries: int = 2
    ring: float | None = None
    survey: str | None = None
    entries: list[ExtensionEntry] = []
    invalid: InputHandler = InputHandler()
    no_input: InputHandler = InputHandler()
    exhausted: str | None = None
    outcomes: list[OutcomeArm] = []


class Condition(Node):
    """One condition of a branch arm, as written: a name (schedule, region, list,
    `withheld`) or a text (region name in quotes, caller number or `138*`)."""

    text: str
    quoted: bool = False


class BranchArm(Node):
    conditions: list[Condition]
    target: str


class Branch(Node):
    kind: Literal["branch"] = "branch"
    on: Literal["time", "region", "caller"]
    arms: list[BranchArm] = []
    else_target: str | None = None


class SplitArm(Node):
    percent: int
    target: str


class Split(Node):
    kind: Literal["split"] = "split"
    arms: list[SplitArm] = []


class Queue(Node):
    kind: Literal["queue"] = "queue"
    group: str | None = None
    music: str | None = None
    announce: str | None = None
    announce_every: float | None = None
    max_wait: float = 300.0
    retry: float = 5.0
    ring: float | None = None
    survey: str | None = None
    outcomes: list[OutcomeArm] = []  # `timeout -> ...` is stored as `failed`


class Voicemail(Node):
    kind: Literal["voicemail"] = "voicemail"
    box: str
    max_length: float = 120.0
    greeting: str | None = None


Terminal = Annotated[
    Union[Goto, Hangup, Menu, Dial, Extension, Branch, Split, Queue, Voicemail],
    Field(discriminator="kind"),
]


class Step(Node):
    name: str
    actions: list[Action] = []
    terminal: Terminal
    synthetic: bool = False  # lifted from an inline block


# ------------------------------------------------------------------ the flow


class Hotline(Node):
    number: str  # 10 digits
    carrier: str


class Flow(Node):
    """One call flow with every declaration it uses (its own and imported ones)."""

    ir_version: int = IR_VERSION
    name: str
    id: str | None = None  # `id`: the flow's identifier in generated names (flowc/names.py)
    hotline: Hotline | None = None
    title: str | None = None
    timezone: str = "Asia/Shanghai"
    max_ring: float = 60.0
    survey: str | None = None
    record: Record | None = None
    ringback: str | None = None
    tags: list[Tag] = []
    steps: list[Step] = []  # the first is the entry
    groups: dict[str, Group] = {}
    phones: dict[str, PhoneDecl] = {}
    schedules: dict[str, Schedule] = {}
    lists: dict[str, CallerList] = {}
    surveys: dict[str, Survey] = {}

    @property
    def entry(self) -> Step:
        return self.steps[0]

    @cached_property
    def step_map(self) -> dict[str, Step]:
        return {s.name: s for s in self.steps}

    def step(self, name: str) -> Step:
        return self.step_map[name]


class Module(Node):
    """One parsed file: its top-level declarations, before imports are merged."""

    path: str
    imports: list[tuple[str, Span]] = []
    phones: list[PhoneDecl] = []
    groups: list[Group] = []
    schedules: list[Schedule] = []
    lists: list[CallerList] = []
    surveys: list[Survey] = []
    flows: list[Flow] = []
