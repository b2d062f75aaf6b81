"""Phone numbers in flowc: numbers admins write, the hotline's own 400 number,
and the run-time classification of inbound caller IDs.

* `normalize_phone` validates a mobile or landline written in a .flow file
  (compile time; uses phonenumbers) and returns its canonical national digits.
* `normalize_400` validates the flow's own 400 number and names its carrier.
* `normalize_caller` classifies a caller ID at run time.  It is driven by
  `CALLER_RULES`, an ordered list of (regex, replacement, kind) rules that the
  Asterisk and FreeSWITCH emitters translate into dialplan conditions, so the
  interpreter and both dialplans share one algorithm (docs/regions.md).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, NamedTuple

if TYPE_CHECKING:
    from flowc.regions import AreaCode

__all__ = [
    "CALLER_RULES",
    "CallerKind",
    "CallerNumber",
    "CallerRule",
    "Hotline",
    "Phone",
    "PhoneError",
    "normalize_400",
    "normalize_caller",
    "normalize_phone",
]

CallerKind = Literal["mobile", "landline", "withheld", "foreign", "unknown"]


class PhoneError(ValueError):
    """An invalid phone number in a flow; `hint` suggests a fix when there is one."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


@dataclass(frozen=True)
class Phone:
    number: str  # national digits: "13800000001", "01088886666"
    kind: Literal["mobile", "landline"]
    display: str  # "138 0000 0001", "010 8888 6666"


@dataclass(frozen=True)
class Hotline:
    number: str  # "4008001234"
    carrier: str  # "China Telecom"
    display: str  # "400-800-1234"


class CallerNumber(NamedTuple):
    """A classified caller ID (a NamedTuple: immutable and cheap to build per call)."""

    raw: str | None  # as received
    digits: str  # normalised: national form, or 00... for foreign, "" if withheld
    kind: CallerKind


# ---------------------------------------------------------------------------
# Numbers written in flows

_SEPARATORS = re.compile(r"[\s\-()]")
_ALLOWED = re.compile(r"[0-9\s\-()+]")
_EMERGENCY = {"110": "police", "119": "fire", "120": "ambulance", "122": "traffic police"}


def _clean(text: str, what: str) -> tuple[str, bool]:
    """NFKC (full-width digits), check characters; return (digits, had '+')."""
    if not isinstance(text, str):
        raise PhoneError(f"{what} must be text, got {type(text).__name__}")
    s = unicodedata.normalize("NFKC", text).strip()
    if not s:
        raise PhoneError(f"empty {what}")
    text = text.strip()
    bad = next((ch for ch in s if not _ALLOWED.fullmatch(ch)), None)
    if bad is not None:
        hint = ("extensions can't be part of the number" if bad in "转分#,;xXeE" else
                "use only digits, spaces, hyphens, parentheses and a leading +")
        raise PhoneError(f"{what} {text} contains {bad!r}", hint)
    if "+" in s[1:]:
        raise PhoneError(f"{what} {text} has a '+' that is not at the start")
    if s.count("(") != s.count(")") or s.count("(") > 1:
        raise PhoneError(f"{what} {text} has unbalanced parentheses",
                         "put only the area code in parentheses: (021)12345678")
    return _SEPARATORS.sub("", s.lstrip("+")), s.startswith("+")


def _national(digits: str, plus: bool, text: str) -> str:
    """Strip +86 / 0086 / 86 and restore the trunk 0 of landlines written without it."""
    if digits.startswith("0086") or plus and digits.startswith("86"):
        rest = digits[4:] if digits.startswith("0086") else digits[2:]
    elif digits.startswith("86") and len(digits) in (12, 13):  # 86 + 10/11 national digits
        rest = digits[2:]
    elif plus or digits.startswith("00"):
        raise PhoneError(f"{text} is not a mainland China number",
                         "only +86 numbers can be configured")
    else:
        return digits
    if not rest:
        raise PhoneError(f"{text} has a country code but no number")
    if rest.startswith(("400", "800", "95", "96")):
        return rest  # non-geographic: rejected as a service number next
    if rest[0] in "23456789" or rest.startswith("10"):
        return "0" + rest  # +86 10 8888 6666 -> 010 8888 6666
    return rest  # mobile, or an extra trunk 0 written after +86


def normalize_phone(text: str) -> Phone:
    """Validate a mobile or landline number written in a flow; raise PhoneError.

    Accepts +86 / 0086 / 86 prefixes, spaces, hyphens and one pair of
    parentheses: "+86 138-0000-0001", "010-88886666", "(021)12345678",
    "+86 10 8888 6666".  Service numbers (95xxx, 400/800, 110, short codes)
    are rejected: a flow can't transfer to them.
    """
    digits, plus = _clean(text, "phone number")
    text = text.strip()  # as shown in messages
    number = _national(digits, plus, text)
    _reject_service(number, text)
    if number[0] == "1":
        return _mobile(number, text)
    if number[0] == "0":
        return _landline(number, text)
    raise PhoneError(f"landline {text} has no area code",
                     f"write it with its area code, e.g. 010-{number}" if len(number) == 8 else None)


def _reject_service(number: str, text: str) -> None:
    if number.startswith(("400", "800")) and len(number) == 10:
        raise PhoneError(f"{text} is a {number[:3]} service number, not a phone a flow can "
                         "transfer to", "use the landline or mobile that answers it")
    if number.startswith(("95", "96")):
        raise PhoneError(f"{text} is a {number[:2]}xxx service number, not a phone a flow can "
                         "transfer to")
    if number in _EMERGENCY:
        raise PhoneError(f"{number} is the {_EMERGENCY[number]} emergency number; flows can't "
                         "transfer to it")
    if number[0] == "1" and len(number) <= 6:
        kind = "carrier service" if number.startswith("100") else "service"
        raise PhoneError(f"{text} is a {kind} short code, not a phone a flow can transfer to")


def _mobile(number: str, text: str) -> Phone:
    if number[1] in "012":
        if number.startswith("10"):
            raise PhoneError(f"{text} looks like a Beijing landline without its 0",
                             f"write 0{number}")
        raise PhoneError(f"{text}: mobile numbers start with 13-19, not {number[:2]}")
    if len(number) != 11:
        raise PhoneError(f"mobile number {text} has {len(number)} digits; "
                         "mobile numbers have 11")
    if not _pn_valid(number):
        raise PhoneError(f"mobile number {text} is not in an allocated number range",
                         "check for a typo")
    return Phone(number, "mobile", f"{number[:3]} {number[3:7]} {number[7:]}")


def _landline(number: str, text: str) -> Phone:
    from flowc import regions

    if number.startswith("00"):
        raise PhoneError(f"{text} is an international number", "only +86 numbers can be configured")
    code = number[:3] if number[1] in "12" else number[:4]  # 010, 02X: 3-digit codes
    info = regions.area_code_info(code)
    if info is None:
        raise PhoneError(f"landline {text}: {code} is not a Chinese area code")
    place = _place(info)
    if not info.subscriber_lengths:
        raise PhoneError(f"landline {text}: area code {code} ({place}) is no longer in use")
    local = number[len(code):]
    if not local:
        raise PhoneError(f"landline {text} has an area code but no number")
    if len(local) not in info.subscriber_lengths:
        need = " or ".join(map(str, info.subscriber_lengths))
        raise PhoneError(f"landline {text} has {len(local)} digits after area code {code}; "
                         f"{place} numbers have {need}")
    if local[0] == "0":  # libphonenumber lets this through; 0 is the trunk prefix
        raise PhoneError(f"landline {text}: the number after area code {code} starts with 0",
                         "write the area code's 0 only once")
    if not _pn_valid(number):
        raise PhoneError(f"landline {text} is not a valid {place} number", "check for a typo")
    split = 4 if len(local) == 8 else 3
    return Phone(number, "landline", f"{code} {local[:split]} {local[split:]}")


def _place(info: AreaCode) -> str:
    from flowc import regions

    names = [regions.get_region(c).name_pinyin for c in info.city_ids]
    return "/".join(names[:3]) + ("/..." if len(names) > 3 else "")


def _pn_valid(national: str) -> bool:
    """libphonenumber's verdict, remembered on disk: importing phonenumbers and loading
    its metadata is most of checking a flow's phones in a fresh process."""
    if not (national.isascii() and national.isdigit()):
        return _pn_check(national)
    memo = _pn_memo()
    if national not in memo:
        memo[national] = _pn_check(national)
        _pn_remember(national, memo[national])
    return memo[national]


def _pn_check(national: str) -> bool:
    import phonenumbers  # compile-time only: keeps `import flowc` fast

    try:
        return phonenumbers.is_valid_number(phonenumbers.parse(national, "CN"))
    except phonenumbers.NumberParseException:
        return False


@functools.cache
def _pn_memo_path():
    """One file per phonenumbers installation (its files' sizes and times) and version of
    this module (its source: `_pn_check` decides the verdicts), so an upgrade or a change
    starts afresh; None when there is no cache folder."""
    import hashlib
    import importlib.util
    import os
    import sys

    from .resources import cache_dir, source_stamp

    folder = cache_dir()
    spec = importlib.util.find_spec("phonenumbers")
    if folder is None or spec is None or spec.origin is None:
        return None
    package = os.path.dirname(spec.origin)
    stamp = hashlib.sha256(source_stamp(sys.modules[__name__]).encode())
    for name in ("__init__.py", "phonenumberutil.py", os.path.join("data", "region_CN.py")):
        st = os.stat(os.path.join(package, name))
        stamp.update(f"{name}:{st.st_size}:{st.st_mtime_ns}|".encode())
    return folder / f"phones-valid-{stamp.hexdigest()[:24]}.txt"


@functools.cache
def _pn_memo() -> dict[str, bool]:
    """Lines "DIGITS 0|1"; a damaged line (say, a write cut short) is ignored."""
    memo: dict[str, bool] = {}
    try:
        path = _pn_memo_path()
        text = path.read_text(encoding="ascii") if path else ""
    except (OSError, ValueError):
        return memo
    for line in text.splitlines():
        digits, _, verdict = line.partition(" ")
        if digits.isdigit() and verdict in ("0", "1"):
            memo[digits] = verdict == "1"
    return memo


def _pn_remember(national: str, valid: bool) -> None:
    """Append one line: a single O_APPEND write, so concurrent processes don't mix lines."""
    import os

    try:
        path = _pn_memo_path()
        if path is None:
            return
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, f"{national} {int(valid)}\n".encode("ascii"))
        finally:
            os.close(fd)
    except (OSError, ValueError):
        pass


# ---------------------------------------------------------------------------
# The hotline's own 400 number

CARRIERS_400 = {
    "4000": "China Unicom",
    "4006": "China Unicom",
    "4001": "China Mobile",
    "4007": "China Mobile",
    "4008": "China Telecom",
    "4009": "China Telecom",
}


def normalize_400(text: str) -> Hotline:
    """Validate the flow's 400 number ("400-800-1234", "400 800 1234"); raise PhoneError."""
    digits, plus = _clean(text, "400 number")
    text = text.strip()  # as shown in messages
    if plus or digits.startswith("86") or digits.startswith("00"):
        raise PhoneError(f"400 number {text} has a country code; 400 numbers are domestic only",
                         "write it as 400-xxx-xxxx")
    if not digits.startswith("400"):
        hint = "flowc hotlines are 400 numbers" if digits.startswith("800") else None
        raise PhoneError(f"{text} is not a 400 number (400 numbers start with 400)", hint)
    if len(digits) != 10:
        raise PhoneError(f"400 number {text} has {len(digits)} digits; 400 numbers have 10")
    carrier = CARRIERS_400.get(digits[:4])
    if carrier is None:
        raise PhoneError(f"400 number {text}: prefix {digits[:4]} is not allocated",
                         "400 numbers start 4000/4006 (China Unicom), 4001/4007 (China Mobile) "
                         "or 4008/4009 (China Telecom)")
    return Hotline(digits, carrier, f"{digits[:3]}-{digits[3:6]}-{digits[6:]}")


# ---------------------------------------------------------------------------
# Caller IDs at run time


class CallerRule(NamedTuple):
    """One step of the caller-ID algorithm.

    `pattern` is searched in the current string, in the POSIX ERE subset that PCRE, Python
    and regcomp read alike (group 1 is the only capture that matters); `$` always means the
    very end of the string (as in POSIX: `re_end` turns it into Python's `\\Z` and PCRE's
    `\\z`, which would otherwise also match before a final newline). On a match the string
    becomes `replacement` with "$1" replaced by group 1. A rule with a kind ends the
    algorithm with that kind; kind None rewrites and goes on with the next rule. A rule
    with `otherwise` ends the algorithm with that kind (and no digits) when it does *not*
    match: the first rule, the only one that reads the raw caller ID, lets through only
    what its group 1 can hold (digits and a leading `+`), so caller data never reaches the
    rules after it, or a dialplan, in any other shape.
    """

    pattern: str
    replacement: str
    kind: CallerKind | None
    otherwise: CallerKind | None = None

    @property
    def offset(self) -> int | None:
        """Characters before group 1 in every match (for ${s:offset} in Asterisk),
        or None when the rule has no group."""
        head = self.pattern.split("|")[0]
        if "(" not in head:
            return None
        return len(head[1:head.index("(")].replace("\\", ""))


MAX_CALLER_DIGITS = 20  # longer than any number with a country code (E.164: 15 digits)


def re_end(pattern: str, end: str) -> str:
    """A rule's pattern with its end-of-string anchors `$` spelt `end` (`\\Z` for Python,
    `\\z` for PCRE). Rules use `$` only as an anchor, never as a literal."""
    return pattern.replace("$", end)


def _caller_rules() -> list[CallerRule]:
    from flowc import regions

    codes = regions.area_codes()
    short = [c[1:] for c in codes if len(c) == 3]
    long_ = [c[1:] for c in codes if len(c) == 4]
    landline = (f"^(0({_prefix_regex(short)})[0-9]{{7,9}}|"
                f"0({_prefix_regex(long_)})[0-9]{{6,8}})$")
    return [
        # N1: the raw caller ID. Only ASCII digits with an optional leading + (at most
        # MAX_CALLER_DIGITS of them) go on; anything else (empty, anonymous, letters,
        # spaces, `${...}`, quotes, a second +, a longer string) is withheld here
        CallerRule(rf"^(\+?[0-9]{{1,{MAX_CALLER_DIGITS}}})$", "$1", None, "withheld"),
        # all zeros too: FreeSWITCH gives a caller without a number `0000000000`
        CallerRule(r"^\+?0*$", "", "withheld"),
        CallerRule(r"^\+([0-9]+)$", "00$1", None),
        CallerRule(r"^0086([0-9]*)$", "86$1", None),
        CallerRule(r"^86(1[3-9][0-9]{9})$", "$1", "mobile"),
        CallerRule(r"^86([1-9][0-9]{9,10})$", "0$1", None),
        CallerRule(r"^(00[1-9][0-9]*)$", "$1", "foreign"),
        CallerRule(r"^0(1[3-9][0-9]{9})$", "$1", "mobile"),
        CallerRule(r"^(1[3-9][0-9]{9})$", "$1", "mobile"),
        CallerRule(landline, "$1", "landline"),
        CallerRule(r"^([0-9]*)$", "$1", "unknown"),
    ]


def _prefix_regex(strings: list[str]) -> str:
    """Trie-shaped alternation of digit strings of equal length: ['10','20','21'] -> '10|2[01]'."""
    if not strings[0]:
        return ""
    groups: dict[str, list[str]] = {}
    for s in strings:
        groups.setdefault(s[0], []).append(s[1:])
    by_tail: dict[str, list[str]] = {}
    for first, rests in groups.items():
        tail = _prefix_regex(rests)
        if len(rests) > 1 and "|" in tail:
            tail = f"({tail})"
        by_tail.setdefault(tail, []).append(first)
    parts = [_digit_class(ds) + tail for tail, ds in by_tail.items()]
    return "|".join(parts)


def _digit_class(digits: list[str]) -> str:
    if len(digits) == 1:
        return digits[0]
    nums = sorted(int(d) for d in digits)
    out, i = [], 0
    while i < len(nums):
        j = i
        while j + 1 < len(nums) and nums[j + 1] == nums[j] + 1:
            j += 1
        out.append(f"{nums[i]}-{nums[j]}" if j - i >= 2 else "".join(map(str, nums[i:j + 1])))
        i = j + 1
    return "[" + "".join(out) + "]"


@functools.cache
def _compiled() -> tuple[tuple[re.Pattern[str], str, CallerKind | None, CallerKind | None], ...]:
    return tuple((re.compile(re_end(r.pattern, r"\Z")), r.replacement, r.kind, r.otherwise)
                 for r in _caller_rules_cached())


def normalize_caller(raw: str | None) -> CallerNumber:
    """Classify an inbound caller ID by running CALLER_RULES; never raises."""
    s = "" if raw is None else raw if isinstance(raw, str) else str(raw)
    for pattern, replacement, kind, otherwise in _compiled():
        m = pattern.search(s)
        if m is None:
            if otherwise is not None:
                return CallerNumber(raw, "", otherwise)
            continue
        s = replacement.replace("$1", m.group(1) or "") if m.re.groups else replacement
        if kind is not None:
            return CallerNumber(raw, s, kind)
    return CallerNumber(raw, s, "unknown")  # unreachable: the last rule matches any digits


def __getattr__(name: str):
    # CALLER_RULES embeds the area-code list, so it is built on first access.
    if name == "CALLER_RULES":
        return list(_caller_rules_cached())
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@functools.cache
def _caller_rules_cached() -> list[CallerRule]:
    return _caller_rules()
