"""Classify and validate the digit-led words of the language (durations, keys, dates, ...).

Each parser returns a value or raises `LiteralError` with a message (and a hint) that the
transformer turns into a diagnostic with the word's span.
"""

from __future__ import annotations

import re
from datetime import date

from .diagnostics import CODES


class LiteralError(ValueError):
    def __init__(self, code: str, message: str, hint: str | None = None):
        assert code in CODES
        super().__init__(message)
        self.code = code
        self.message = message
        self.hint = hint


_DURATION = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h|d)\Z")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def duration(text: str, *, minimum: float = 0.0, maximum: float = 86400.0, what: str = "duration") -> float:
    """`20s`, `1.5m`, `2h`, `30d`, `500ms` -> seconds."""
    m = _DURATION.match(text)
    if not m:
        if text.isdigit():
            raise LiteralError("E212", f"`{text}` has no unit", f"write `{text}s` for seconds or `{text}m` for minutes")
        raise LiteralError("E212", f"`{text}` is not a duration", "durations look like `500ms`, `20s`, `2m`, `1h` or `30d`")
    seconds = float(m.group(1)) * _UNIT_SECONDS[m.group(2)]
    if not minimum <= seconds <= maximum:
        raise LiteralError("E212", f"{what} `{text}` is out of range",
                           f"it must be between {_human(minimum)} and {_human(maximum)}")
    return round(seconds, 3)


def _human(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def days(text: str, *, minimum: int = 1, maximum: int = 3650) -> int:
    """A retention period: `30d` (days), also accepted as weeks of days via `h`? No: whole days only."""
    m = _DURATION.match(text)
    if not m or m.group(2) != "d" or "." in m.group(1):
        raise LiteralError("E212", f"`{text}` is not a number of days", "write retention in whole days, e.g. `30d`")
    n = int(m.group(1))
    if not minimum <= n <= maximum:
        raise LiteralError("E212", f"retention `{text}` is out of range", f"it must be between {minimum}d and {maximum}d")
    return n


def integer(text: str, *, minimum: int, maximum: int, what: str) -> int:
    if not text.isdigit():
        raise LiteralError("E213", f"`{text}` is not a whole number", f"{what} is a whole number from {minimum} to {maximum}")
    n = int(text)
    if not minimum <= n <= maximum:
        raise LiteralError("E213", f"{what} {n} is out of range", f"it must be between {minimum} and {maximum}")
    return n


def percent(text: str) -> int:
    m = re.fullmatch(r"([0-9]+)%", text)
    if not m:
        if re.fullmatch(r"[0-9]+\.[0-9]+%", text):
            raise LiteralError("E214", f"`{text}` is not a whole percentage", "percentages are whole numbers, e.g. `33%`")
        raise LiteralError("E214", f"`{text}` is not a percentage", "write it like `30%`")
    n = int(m.group(1))
    if not 1 <= n <= 100:
        raise LiteralError("E214", f"`{text}` is out of range", "a share is between 1% and 100%")
    return n


def weight(text: str) -> int:
    """A ratio weight: `70` or `70%`."""
    if not re.fullmatch(r"[0-9]+%?", text):
        raise LiteralError("E214", f"`{text}` is not a whole-number weight", "weights are whole percentages, e.g. `70`")
    return percent(text if text.endswith("%") else text + "%")


KEYS = "0123456789*#"


def key(text: str) -> str:
    if len(text) == 1 and text in KEYS:
        return text
    raise LiteralError("E220", f"`{text}` is not a single key",
                       "a menu option is one key: 0-9, * or #; use `extension` for numbers of several digits")


def digit_string(text: str, *, what: str = "extension") -> str:
    if text.isascii() and text.isdigit() and 1 <= len(text) <= 8:
        return text
    raise LiteralError("E220", f"`{text}` is not a valid {what}", f"an {what} is 1 to 8 digits")


_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})\Z")
_MONTHDAY = re.compile(r"([0-9]{2})-([0-9]{2})\Z")


def date_point(text: str) -> tuple[int | None, int, int]:
    """`2026-10-01` -> (2026, 10, 1); `10-01` -> (None, 10, 1) meaning every year."""
    m = _DATE.match(text)
    if m:
        y, mo, d = (int(g) for g in m.groups())
        try:
            date(y, mo, d)
        except ValueError:
            raise LiteralError("E215", f"`{text}` is not a real date") from None
        return y, mo, d
    m = _MONTHDAY.match(text)
    if m:
        mo, d = (int(g) for g in m.groups())
        try:
            date(2024, mo, d)  # a leap year, so 02-29 is accepted
        except ValueError:
            raise LiteralError("E215", f"`{text}` is not a real month and day") from None
        return None, mo, d
    raise LiteralError("E215", f"`{text}` is not a date", "dates look like `2026-10-01`, or `10-01` for every year")


def date_range(text: str) -> tuple[tuple[int | None, int, int], tuple[int | None, int, int]]:
    if ".." in text:
        a, _, b = text.partition("..")
        start, end = date_point(a), date_point(b)
        if (start[0] is None) != (end[0] is None):
            raise LiteralError("E215", f"`{text}` mixes a full date with a month-day",
                               "write both ends as `2026-04-29` or both as `04-29`")
        if start[0] is not None and (start > end):
            raise LiteralError("E215", f"`{text}` ends before it starts")
        return start, end
    p = date_point(text)
    return p, p


_TIME = re.compile(r"([0-9]{1,2}):([0-9]{2})\Z")


def time_of_day(text: str, *, end: bool = False) -> int:
    m = _TIME.match(text)
    if not m:
        raise LiteralError("E215", f"`{text}` is not a time of day", "times look like `09:00` or `18:30`")
    h, mi = int(m.group(1)), int(m.group(2))
    if (h == 24 and mi == 0 and end) or (h < 24 and mi < 60):
        return h * 60 + mi
    raise LiteralError("E215", f"`{text}` is not a time of day", "hours run 00-23 (24:00 only as an end), minutes 00-59")


def time_range(text: str) -> tuple[int, int]:
    a, sep, b = text.partition("-")
    if not sep:
        raise LiteralError("E215", f"`{text}` is not a time range", "write it like `09:00-18:00`")
    start, stop = time_of_day(a), time_of_day(b, end=True)
    if start == stop:
        raise LiteralError("E215", f"`{text}` is empty", "use `00:00-24:00` for the whole day")
    return start, stop


def looks_like_time_range(text: str) -> bool:
    return ":" in text


def caller_pattern(text: str) -> tuple[str, bool]:
    """A caller-list entry: digits, optionally ending in `*` for a prefix. `+`, spaces and
    hyphens are dropped; the digits are matched against the normalised caller number."""
    raw = text.replace(" ", "").replace("-", "")
    prefix = raw.endswith("*")
    digits = raw[:-1] if prefix else raw
    if digits.startswith("+"):
        digits = digits[1:]
    if not (digits.isascii() and digits.isdigit()) or not 1 <= len(digits) <= 20:
        raise LiteralError("E226", f"`{text}` is not a caller number or prefix",
                           "write a number such as `13800000001`, or a prefix such as `138*`")
    return digits, prefix
