"""The simulated world around one call: who calls when, what the caller does, how phones behave.

The grammars are exactly those of the real-engine harnesses (`/work/shared/harness`,
`asterisk/README.md` "--dtmf grammar" and "--phone behaviours"), so one scenario drives the
interpreter, the Asterisk harness and the FreeSWITCH harness alike:

* caller actions (`--dtmf`): comma-separated items `KEYS[@WHEN]`; `KEYS` are DTMF digits
  `0-9*#A-D` or the word `hangup`. The digits of one item are sent 300 ms apart (150 ms
  tone, 150 ms gap); the flow receives a digit at the end of its tone, as Asterisk does.
  `WHEN` forms and what they mean to the interpreter:

  | WHEN | the item starts |
  |---|---|
  | `N`, `answer[+N]` | N s after the answer (at once if that moment has passed) |
  | `+N` | N s after the previous item's last digit was sent (after the answer for the first) |
  | `prompt[+N]` | N s (default 0.5) after the next input attempt starts: a menu, extension or survey attempt (its prompt, or its wait when it has none) |
  | `exec:APP[+N]`, `app:A|B[+N]` | the same, with APP naming the kind of moment: an input application (`Background`, `Read`, `WaitExten`, `play_and_get_digits`, `read`, ...) is an input attempt, `Playback`/`playback` a `play` action, `Dial`/`bridge` a dial, `Queue`/`fifo`/`callcenter` entering a queue, `VoiceMail`/`voicemail` voicemail |
  | `context:STEP[+N]` | N s (default 0.5) after the flow enters step STEP |
  | `event:NAME[+N]` | N s (default 0.5) after the next `NAME` event: `QueueCallerJoin`, `DialBegin`, `AgentConnect`/`BridgeEnter`, or an interpreter event name (`queue`, `dial`, `connect`, `voicemail`, `play`) |

  "Next" means the first such moment after the previous item's last digit was sent. Without
  `WHEN` an item is `2` (first item) or `+1` (later items), as in both harnesses.
* phone behaviours (`--phone NUMBER=B1;B2;...`, the Nth ring of that number in a call uses
  Bn, the last one repeats): `answer[:after=S][:talk=S|forever]` (positional
  `answer:AFTER:TALK`; defaults 1 s and 5 s), `busy[:after=S]`, `congestion[:after=S]`,
  `noanswer`, `unreachable[:after=S][:cause=C]`, `reject[:after=S][:cause=C]`,
  `cause:C[:after=S]`. Each is classified once into the outcome of docs/semantics.md S-DIAL-1.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, Mapping, NamedTuple

__all__ = [
    "CAUSES", "DEFAULT_CALLER", "DtmfItem", "PhoneBehaviour", "World", "WorldError",
    "parse_behaviours", "parse_dtmf", "parse_time",
]

DEFAULT_CALLER = "13812345678"  # the harnesses' default caller
DTMF_TONE_MS = 150  # harness --dtmf-ms
DTMF_STEP_MS = 300  # tone + harness --dtmf-gap-ms: one digit of an item every 300 ms

# Q.850 cause names the harnesses accept (`cause:USER_BUSY`).
CAUSES = {
    "UNALLOCATED_NUMBER": 1, "NO_ROUTE_TRANSIT_NET": 2, "NO_ROUTE_DESTINATION": 3,
    "NORMAL_CLEARING": 16, "USER_BUSY": 17, "NO_USER_RESPONSE": 18, "NO_ANSWER": 19,
    "SUBSCRIBER_ABSENT": 20, "CALL_REJECTED": 21, "NUMBER_CHANGED": 22,
    "DESTINATION_OUT_OF_ORDER": 27, "INVALID_NUMBER_FORMAT": 28, "FACILITY_REJECTED": 29,
    "NORMAL_UNSPECIFIED": 31, "NORMAL_CIRCUIT_CONGESTION": 34, "NETWORK_OUT_OF_ORDER": 38,
    "NORMAL_TEMPORARY_FAILURE": 41, "SWITCH_CONGESTION": 42, "UNREGISTERED": 20,
}
_KIND_ALIASES = {"no-answer": "noanswer", "no_answer": "noanswer", "ring": "noanswer",
                 "unavailable": "unreachable", "chanunavail": "unreachable", "off": "unreachable",
                 "answered": "answer"}
_KINDS = ("answer", "busy", "congestion", "noanswer", "unreachable", "reject", "cause")


class WorldError(ValueError):
    """A scenario value that does not follow the harness grammar. `key` names the setting."""

    def __init__(self, message: str, key: str | None = None):
        super().__init__(message)
        self.message = message
        self.key = key


# ------------------------------------------------------------------ phones


class PhoneBehaviour(NamedTuple):
    """What one ring of a phone does, already classified (S-DIAL-1).

    `outcome` is what the phone reports at `after_ms` after it starts ringing: `answered`,
    `busy`, `noanswer` or `unreachable`; `None` means it rings until the ring time ends.
    `talk_ms` is the conversation length after an answer (None: until someone else hangs up).
    """

    spec: str
    outcome: str | None
    after_ms: int
    talk_ms: int | None


def _outcome_of_cause(cause: int) -> str:
    if cause == 17:
        return "busy"
    if cause in (18, 19):
        return "noanswer"
    return "unreachable"


def _seconds(value: Any, what: str) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise WorldError(f"{what}: expected a number of seconds, got {value!r}") from None
    if x < 0 or x != x or x == float("inf"):
        raise WorldError(f"{what}: must be a finite number >= 0, got {value!r}")
    return x


def _ms(seconds: float) -> int:
    return int(round(seconds * 1000))


def _cause(value: Any, what: str) -> int:
    s = str(value).strip().upper()
    if s.isdigit():
        return int(s)
    if s in CAUSES:
        return CAUSES[s]
    raise WorldError(f"{what}: unknown hangup cause {value!r} (a Q.850 number or one of "
                     f"{', '.join(sorted(CAUSES))})")


def _split_behaviour(spec: Any) -> tuple[str, dict[str, Any], list[str]]:
    if isinstance(spec, Mapping):
        fields = {str(k).lower(): v for k, v in spec.items()}
        kind = str(fields.pop("behaviour", fields.pop("kind", ""))).strip().lower()
        return kind, fields, []
    parts = [p.strip() for p in str(spec).strip().split(":")]
    fields, positional = {}, []
    for p in parts[1:]:
        if not p:
            continue
        if "=" in p:
            k, v = p.split("=", 1)
            fields[k.strip().lower()] = v.strip()
        else:
            positional.append(p)
    return parts[0].lower(), fields, positional


def parse_behaviour(spec: Any) -> PhoneBehaviour:
    """One ring's behaviour: `busy`, `answer:after=2:talk=30`, `cause:USER_BUSY:after=3`, or a
    mapping `{"behaviour": "answer", "after": 2}` as in harness scenario files."""
    text = spec if isinstance(spec, str) else str(dict(spec)) if isinstance(spec, Mapping) else str(spec)
    raw_kind, fields, pos = _split_behaviour(spec)
    kind = _KIND_ALIASES.get(raw_kind, raw_kind)
    if kind not in _KINDS:
        raise WorldError(f"unknown phone behaviour {text!r} (want one of {', '.join(_KINDS)})")

    def take(name: str, index: int, default: Any) -> Any:
        if name in fields:
            return fields.pop(name)
        return pos[index] if len(pos) > index else default

    if kind == "answer":
        after = _seconds(fields.pop("ring", None) if "ring" in fields else take("after", 0, 1), "answer after")
        talk_raw = take("talk", 1, 5)
        fields.pop("keys", None)  # the phone's own keys go to the phone leg, not to the flow
        fields.pop("keys_after", None)
        forever = str(talk_raw).strip().lower() in ("forever", "0", "inf")
        talk = None if forever else _ms(_seconds(talk_raw, "answer talk"))
        result = PhoneBehaviour(text, "answered", _ms(after), talk)
    elif kind in ("busy", "congestion"):
        after = _ms(_seconds(take("after", 0, 0), f"{kind} after"))
        result = PhoneBehaviour(text, "busy" if kind == "busy" else "unreachable", after, None)
    elif kind == "noanswer":
        result = PhoneBehaviour(text, None, 0, None)
    elif kind in ("unreachable", "reject"):
        after = _ms(_seconds(take("after", 0, 0), f"{kind} after"))
        cause = _cause(fields.pop("cause", "SUBSCRIBER_ABSENT" if kind == "unreachable" else "CALL_REJECTED"), kind)
        result = PhoneBehaviour(text, _outcome_of_cause(cause), after, None)
    else:  # cause:C[:after=S]
        cause = _cause(take("cause", 0, 16), "cause")
        after = _ms(_seconds(take("after", 1, 0), "cause after"))
        result = PhoneBehaviour(text, _outcome_of_cause(cause), after, None)
    if fields:
        raise WorldError(f"phone behaviour {text!r}: unknown setting(s) {', '.join(sorted(fields))}")
    return result


def parse_behaviours(spec: Any) -> tuple[PhoneBehaviour, ...]:
    """A per-attempt list: `"busy;busy;answer"`, or a list of strings and mappings."""
    if isinstance(spec, (list, tuple)):
        items = list(spec)
    elif isinstance(spec, Mapping):
        items = [spec]
    else:
        items = [x for x in str(spec).split(";") if x.strip()]
    if not items:
        raise WorldError("empty phone behaviour")
    return tuple(parse_behaviour(x) for x in items)


# ------------------------------------------------------------------ caller actions

# Trigger kinds the engine reports; `exec:`/`app:` names map onto them.
_APP_TRIGGERS = {
    **{a: "input" for a in ("background", "read", "readexten", "waitexten", "controlplayback",
                            "backgrounddetect", "waitdigit", "play_and_get_digits", "ivr",
                            "play_and_detect_speech")},
    "playback": "playback",
    "dial": "dial", "bridge": "dial", "originate": "dial",
    "queue": "queue", "fifo": "queue", "callcenter": "queue",
    "voicemail": "voicemail",
}
_EVENT_TRIGGERS = {
    "queuecallerjoin": "queue", "queue": "queue",
    "dialbegin": "dial", "dial": "dial",
    "agentconnect": "connect", "bridgeenter": "connect", "connect": "connect",
    "voicemail": "voicemail", "play": "playback",
}
_DELAY = r"(?:\+(\d+(?:\.\d+)?))?"
_RE_APP = re.compile(r"(?:exec|app):([\w|-]+)" + _DELAY)
_RE_PROMPT = re.compile(r"prompt" + _DELAY)
_RE_CONTEXT = re.compile(r"context:([^+]+)" + _DELAY)
_RE_EVENT = re.compile(r"event:(\w+)" + _DELAY)
_RE_ANSWER = re.compile(r"answer" + _DELAY)
_RE_REL = re.compile(r"\+(\d+(?:\.\d+)?)")
_RE_ABS = re.compile(r"\d+(?:\.\d+)?")
_RE_KEYS = re.compile(r"[0-9*#A-Da-d]+")


class DtmfItem(NamedTuple):
    """One caller action. `mode`: `abs` (delay after answer), `rel` (delay after the previous
    item), `trigger` (delay after the next moment of kind `triggers`, or entering `step`)."""

    spec: str  # as written, for messages: `2@prompt+0.5`
    keys: str  # digits, or "hangup"
    mode: str
    delay_ms: int
    triggers: frozenset[str] = frozenset()
    step: str | None = None


def parse_dtmf(spec: Any) -> tuple[DtmfItem, ...]:
    """`2@prompt+0.5,1@+2,hangup@+10` (or a list of such strings / {keys, when} mappings)."""
    if not spec:
        return ()
    raw = list(spec) if isinstance(spec, (list, tuple)) else str(spec).split(",")
    items: list[DtmfItem] = []
    for entry in raw:
        if isinstance(entry, Mapping):
            keys, when = str(entry.get("keys", "")).strip(), str(entry.get("when", "") or "").strip()
            text = f"{keys}@{when}" if when else keys
        else:
            text = str(entry).strip()
            if not text:
                continue
            keys, _, when = text.partition("@")
            keys, when = keys.strip(), when.strip()
        items.append(_dtmf_item(text, keys, when or ("2" if not items else "+1")))
    return tuple(items)


def _dtmf_item(text: str, keys: str, when: str) -> DtmfItem:
    if keys.lower() in ("hangup", "h"):
        keys = "hangup"
    elif not _RE_KEYS.fullmatch(keys):
        raise WorldError(f"bad keys {keys!r} in {text!r}: DTMF digits 0-9 * # A-D, or `hangup`")
    else:
        keys = keys.upper()
    if m := _RE_APP.fullmatch(when):
        kinds = set()
        for app in m.group(1).split("|"):
            kind = _APP_TRIGGERS.get(app.lower())
            if kind is None:
                raise WorldError(f"`{when}` in {text!r}: the interpreter has no moment for application "
                                 f"`{app}` (known: {', '.join(sorted(_APP_TRIGGERS))})")
            kinds.add(kind)
        return DtmfItem(text, keys, "trigger", _ms(float(m.group(2) or 0.5)), frozenset(kinds))
    if m := _RE_PROMPT.fullmatch(when):
        return DtmfItem(text, keys, "trigger", _ms(float(m.group(1) or 0.5)), frozenset({"input"}))
    if m := _RE_CONTEXT.fullmatch(when):
        return DtmfItem(text, keys, "trigger", _ms(float(m.group(2) or 0.5)), frozenset({"step"}),
                        m.group(1).strip())
    if m := _RE_EVENT.fullmatch(when):
        kind = _EVENT_TRIGGERS.get(m.group(1).lower())
        if kind is None:
            raise WorldError(f"`{when}` in {text!r}: unknown event (known: {', '.join(sorted(_EVENT_TRIGGERS))})")
        return DtmfItem(text, keys, "trigger", _ms(float(m.group(2) or 0.5)), frozenset({kind}))
    if m := _RE_ANSWER.fullmatch(when):
        return DtmfItem(text, keys, "abs", _ms(float(m.group(1) or 0)))
    if _RE_REL.fullmatch(when):
        return DtmfItem(text, keys, "rel", _ms(float(when[1:])))
    if _RE_ABS.fullmatch(when):
        return DtmfItem(text, keys, "abs", _ms(float(when)))
    raise WorldError(f"bad time `{when}` in {text!r} (N, +N, prompt[+N], exec:APP[+N], "
                     "context:STEP[+N], event:NAME[+N] or answer[+N])")


# ------------------------------------------------------------------ time


def parse_time(value: Any) -> datetime:
    """ISO 8601 wall-clock time of the call; a naive time is Beijing time (+08:00) as in the
    harnesses."""
    if isinstance(value, datetime):
        t = value
    else:
        s = str(value).strip()
        if "T" not in s and " " in s:
            s = s.replace(" ", "T", 1)
        if s.endswith(("Z", "z")):
            s = s[:-1] + "+00:00"
        try:
            t = datetime.fromisoformat(s)
        except ValueError:
            raise WorldError(f"bad time {value!r} (want ISO 8601, e.g. 2026-11-23T10:00:00+08:00)") from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=timezone(timedelta(hours=8)))
    return t


# ------------------------------------------------------------------ the world


@dataclass(frozen=True)
class World:
    """Everything outside the flow for one call. Build it with `World.build(...)`, which
    parses the harness grammars; the fields hold parsed values in milliseconds."""

    caller: str = DEFAULT_CALLER
    time: datetime = field(default_factory=lambda: datetime.now(timezone(timedelta(hours=8))))
    dtmf: tuple[DtmfItem, ...] = ()
    phones: Mapping[str, tuple[PhoneBehaviour, ...]] = field(default_factory=dict)
    default_phone: tuple[PhoneBehaviour, ...] = (PhoneBehaviour("unreachable", "unreachable", 0, None),)
    caller_hangup_after_ms: int | None = None
    prompt_ms: int = 1000
    prompt_duration_ms: Mapping[str, int] = field(default_factory=dict)
    max_ms: int = 120_000
    seed: int = 0
    draws: tuple[int, ...] = ()
    # the platform (S-STATE-1/2): which server takes the call, where round-robin positions
    # live ("local" or "postgresql"), and whether that database is unreachable for this call
    server: str = "1"
    state: str = "local"
    state_down: bool = False

    @classmethod
    def build(cls, *, caller: str | None = None, time: Any = None, dtmf: Any = None,
              phones: Mapping[str, Any] | Iterable[str] | None = None, default_phone: Any = None,
              caller_hangup_after: Any = None, prompt_seconds: Any = None,
              prompt_duration: Mapping[str, Any] | None = None, max_seconds: Any = None,
              seed: Any = None, draws: Iterable[Any] | None = None, server: Any = None,
              state: Any = None, state_down: Any = None) -> "World":
        """Parse harness-style values; raises WorldError naming the bad setting."""
        kwargs: dict[str, Any] = {}
        with _setting("caller"):
            if caller is not None:
                kwargs["caller"] = str(caller)
        with _setting("time"):
            if time is not None:
                kwargs["time"] = parse_time(time)
        with _setting("dtmf"):
            kwargs["dtmf"] = parse_dtmf(dtmf)
        with _setting("phones"):
            kwargs["phones"] = _parse_phones(phones or {})
        with _setting("default_phone"):
            if default_phone is not None:
                kwargs["default_phone"] = parse_behaviours(default_phone)
        with _setting("caller_hangup_after"):
            if caller_hangup_after is not None:
                kwargs["caller_hangup_after_ms"] = _ms(_seconds(caller_hangup_after, "caller_hangup_after"))
        with _setting("prompt_seconds"):
            if prompt_seconds is not None:
                kwargs["prompt_ms"] = _ms(_seconds(prompt_seconds, "prompt_seconds"))
        with _setting("prompt_duration"):
            kwargs["prompt_duration_ms"] = {str(k): _ms(_seconds(v, f"prompt_duration {k}"))
                                            for k, v in (prompt_duration or {}).items()}
        with _setting("max_seconds"):
            if max_seconds is not None:
                kwargs["max_ms"] = _ms(_seconds(max_seconds, "max_seconds"))
        with _setting("seed"):
            if seed is not None:
                kwargs["seed"] = _integer(seed, "seed")
        with _setting("draws"):
            kwargs["draws"] = tuple(_draw(d) for d in (draws or ()))
        with _setting("server"):
            if server is not None:
                if isinstance(server, bool) or not isinstance(server, (str, int)) or not str(server).strip():
                    raise WorldError(f"server: expected a server name such as 1 or pbx-b, got {server!r}")
                kwargs["server"] = str(server).strip()
        with _setting("state"):
            if state is not None:
                if state not in ("local", "postgresql"):
                    raise WorldError(f"state: expected local or postgresql, got {state!r}")
                kwargs["state"] = state
        with _setting("state_down"):
            if state_down is not None:
                if not isinstance(state_down, bool):
                    raise WorldError(f"state_down: expected true or false, got {state_down!r}")
                kwargs["state_down"] = state_down
        return cls(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        """The world in the harness's scenario vocabulary (what a trace echoes as its input)."""
        return {
            "caller": self.caller,
            "time": self.time.isoformat(),
            "dtmf": ",".join(item.spec for item in self.dtmf),
            "phones": {n: ";".join(b.spec for b in bs) for n, bs in self.phones.items()},
            "default_phone": ";".join(b.spec for b in self.default_phone),
            "caller_hangup_after": None if self.caller_hangup_after_ms is None else self.caller_hangup_after_ms / 1000,
            "prompt_seconds": self.prompt_ms / 1000,
            "prompt_duration": {k: v / 1000 for k, v in self.prompt_duration_ms.items()},
            "max_seconds": self.max_ms / 1000,
            "seed": self.seed,
            "draws": list(self.draws),
            # the platform settings only when they differ from one server with local state
            **({"server": self.server} if self.server != "1" else {}),
            **({"state": self.state} if self.state != "local" else {}),
            **({"state_down": True} if self.state_down else {}),
        }

    def behaviours(self, number: str) -> tuple[PhoneBehaviour, ...]:
        return self.phones.get(number) or self.default_phone

    def prompt_length_ms(self, name: str, basename: str) -> int:
        """`prompt_duration` by the name as written (`mall/welcome`) or its basename, else
        `prompt_seconds` (the harnesses' `--prompt-duration` / `--prompt-seconds`)."""
        durations = self.prompt_duration_ms
        if durations:
            found = durations.get(name)
            if found is None:
                found = durations.get(basename)
            if found is not None:
                return found
        return self.prompt_ms


class _setting:
    """Context manager that tags a WorldError with the setting being parsed."""

    def __init__(self, key: str):
        self.key = key

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type, exc, tb) -> bool:
        if isinstance(exc, WorldError) and exc.key is None:
            exc.key = self.key
        return False


def _integer(value: Any, what: str) -> int:
    if isinstance(value, bool):
        raise WorldError(f"{what}: expected a whole number, got {value!r}")
    try:
        return int(str(value).strip())
    except ValueError:
        raise WorldError(f"{what}: expected a whole number, got {value!r}") from None


def _draw(value: Any) -> int:
    r = _integer(value, "draws")
    if not 1 <= r <= 100:
        raise WorldError(f"draws: every draw is a whole number from 1 to 100 (S-RAND-1), got {r}")
    return r


def _parse_phones(phones: Mapping[str, Any] | Iterable[str]) -> dict[str, tuple[PhoneBehaviour, ...]]:
    """`{"13800000001": "busy"}` or `["13800000001=busy", ...]` (the `--phone` form)."""
    if isinstance(phones, Mapping):
        pairs = [(str(k), v) for k, v in phones.items()]
    else:
        pairs = []
        for item in phones:
            number, sep, behaviour = str(item).partition("=")
            if not sep:
                raise WorldError(f"phone {item!r}: write NUMBER=BEHAVIOUR, e.g. 13800000001=busy")
            pairs.append((number.strip(), behaviour))
    out = {}
    for number, behaviour in pairs:
        try:
            out[canonical_number(number)] = parse_behaviours(behaviour)
        except WorldError as exc:
            raise WorldError(f"phone {number}: {exc.message}") from None
    return out


def canonical_number(text: str) -> str:
    """A phone number as flows store it (`0571-8765 4321` -> `057187654321`); numbers that are
    not valid flow phones are kept as their digits, so a scenario can still name them."""
    from ..phones import PhoneError, normalize_phone

    try:
        return normalize_phone(text).number
    except PhoneError:
        digits = re.sub(r"[\s\-()]", "", str(text))
        return digits
