"""Tests for flowc.phones: configured numbers, 400 numbers, caller-ID rules."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowc import phones, regions
from flowc.phones import (
    CallerNumber,
    CallerRule,
    Hotline,
    Phone,
    PhoneError,
    normalize_400,
    normalize_caller,
    normalize_phone,
)

# ---------------------------------------------------------------------------
# normalize_phone


@pytest.mark.parametrize(
    "text, number, kind, display",
    [
        ("13800000001", "13800000001", "mobile", "138 0000 0001"),
        ("+86 138-0000-0001", "13800000001", "mobile", "138 0000 0001"),
        ("+8613800000001", "13800000001", "mobile", "138 0000 0001"),
        ("0086 138 0000 0001", "13800000001", "mobile", "138 0000 0001"),
        ("86 138 0000 0001", "13800000001", "mobile", "138 0000 0001"),
        ("138-0000-0001", "13800000001", "mobile", "138 0000 0001"),
        ("１３８００００００01", "13800000001", "mobile", "138 0000 0001"),  # full-width
        ("  199 1234 5678 ", "19912345678", "mobile", "199 1234 5678"),
        ("010-88886666", "01088886666", "landline", "010 8888 6666"),
        ("0755 1234 5678", "075512345678", "landline", "0755 1234 5678"),
        ("(021)12345678", "02112345678", "landline", "021 1234 5678"),
        ("(0755) 2345-6789", "075523456789", "landline", "0755 2345 6789"),
        ("+86 10 8888 6666", "01088886666", "landline", "010 8888 6666"),
        ("+86 755 1234 5678", "075512345678", "landline", "0755 1234 5678"),
        ("+86 (0)10 8888 6666", "01088886666", "landline", "010 8888 6666"),
        ("86 10 8888 6666", "01088886666", "landline", "010 8888 6666"),
        ("0391-2345678", "03912345678", "landline", "0391 234 5678"),  # 7-digit city
    ],
)
def test_normalize_phone_accepts(text: str, number: str, kind: str, display: str) -> None:
    assert normalize_phone(text) == Phone(number, kind, display)


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "empty phone number"),
        ("   ", "empty phone number"),
        ("010-8888666", "has 7 digits after area code 010; Beijing numbers have 8"),
        ("0571 1234567", "has 7 digits after area code 0571; Hangzhou numbers have 8"),
        ("0391 12345678", "has 8 digits after area code 0391; Jiaozuo/Jiyuan numbers have 7"),
        ("0755-01234567", "starts with 0"),
        ("02612345678", "026 is not a Chinese area code"),
        ("03001234567", "0300 is not a Chinese area code"),
        ("0634 1234567", "area code 0634 (Jinan) is no longer in use"),
        ("0755", "has an area code but no number"),
        ("1380000000", "has 10 digits; mobile numbers have 11"),
        ("138000000012", "has 12 digits; mobile numbers have 11"),
        ("12812345678", "mobile numbers start with 13-19, not 12"),
        ("14912345678", "not in an allocated number range"),
        ("95588", "95xxx service number"),
        ("96123", "96xxx service number"),
        ("4008001234", "400 service number"),
        ("800-820-8820", "800 service number"),
        ("+86 400 800 1234", "400 service number"),
        ("+86 95588", "95xxx service number"),
        ("110", "police emergency number"),
        ("120", "ambulance emergency number"),
        ("10086", "carrier service short code"),
        ("12345", "service short code"),
        ("88886666", "has no area code"),
        ("86886666", "has no area code"),  # local number, not 86 + number
        ("+44 20 7946 0000", "is not a mainland China number"),
        ("0044 20 7946 0000", "is not a mainland China number"),
        ("+86", "country code but no number"),
        ("138 0000 0001 转 123", "contains '转'"),
        ("138.0000.0001", "contains '.'"),
        ("1+38", "'+' that is not at the start"),
        ("(021 12345678", "unbalanced parentheses"),
        ("1088886666", "Beijing landline without its 0"),
    ],
)
def test_normalize_phone_rejects(text: str, message: str) -> None:
    with pytest.raises(PhoneError) as info:
        normalize_phone(text)
    assert message in info.value.message
    assert str(info.value) == info.value.message


@pytest.mark.parametrize(
    "text, hint",
    [
        ("88886666", "010-88886666"),
        ("1088886666", "01088886666"),
        ("138 0000 0001 ext 5", "extensions"),
        ("+44 20 7946 0000", "+86"),
    ],
)
def test_phone_error_hints(text: str, hint: str) -> None:
    with pytest.raises(PhoneError) as info:
        normalize_phone(text)
    assert hint in (info.value.hint or "")


def test_phone_error_is_value_error() -> None:
    assert issubclass(PhoneError, ValueError)
    assert PhoneError("m").hint is None


def test_every_area_code_accepts_a_number_of_its_length() -> None:
    for code in regions.area_codes():
        info = regions.area_code_info(code)
        for length in info.subscriber_lengths:
            phone = normalize_phone(code + "8" + "6" * (length - 1))
            assert phone.kind == "landline" and phone.number.startswith(code)


# ---------------------------------------------------------------------------
# normalize_400


@pytest.mark.parametrize(
    "text, number, carrier",
    [
        ("400-800-1234", "4008001234", "China Telecom"),
        ("400 800 1234", "4008001234", "China Telecom"),
        ("4008001234", "4008001234", "China Telecom"),
        ("4009001234", "4009001234", "China Telecom"),
        ("4000123456", "4000123456", "China Unicom"),
        ("4006123456", "4006123456", "China Unicom"),
        ("4001123456", "4001123456", "China Mobile"),
        ("400-7123-456", "4007123456", "China Mobile"),
    ],
)
def test_normalize_400_accepts(text: str, number: str, carrier: str) -> None:
    display = f"{number[:3]}-{number[3:6]}-{number[6:]}"
    assert normalize_400(text) == Hotline(number, carrier, display)


@pytest.mark.parametrize(
    "text, message",
    [
        ("400-200-1234", "prefix 4002 is not allocated"),
        ("4003001234", "prefix 4003 is not allocated"),
        ("4005001234", "prefix 4005 is not allocated"),
        ("400800123", "has 9 digits; 400 numbers have 10"),
        ("40080012345", "has 11 digits"),
        ("800-820-8820", "is not a 400 number"),
        ("13800000001", "is not a 400 number"),
        ("+86 400 800 1234", "country code"),
        ("400-800-1234 ext 1", "contains"),
        ("", "empty 400 number"),
    ],
)
def test_normalize_400_rejects(text: str, message: str) -> None:
    with pytest.raises(PhoneError) as info:
        normalize_400(text)
    assert message in info.value.message


def test_normalize_400_names_allowed_prefixes() -> None:
    with pytest.raises(PhoneError) as info:
        normalize_400("4002001234")
    for prefix in ("4000", "4001", "4006", "4007", "4008", "4009"):
        assert prefix in info.value.hint


# ---------------------------------------------------------------------------
# Caller rules


@pytest.mark.parametrize(
    "raw, digits, kind",
    [
        # rule 1: withheld -- absent, empty, lone "+", any non-digit, misplaced "+"
        (None, "", "withheld"),
        ("", "", "withheld"),
        ("+", "", "withheld"),
        ("0000000000", "", "withheld"),  # FreeSWITCH's number for a caller without one
        ("0", "", "withheld"),
        ("+000", "", "withheld"),
        ("anonymous", "", "withheld"),
        ("Anonymous", "", "withheld"),
        ("unknown", "", "withheld"),
        ("private", "", "withheld"),
        ("138 0000 0001", "", "withheld"),
        ("13800000001\n", "", "withheld"),
        ("sip:13800000001@pbx", "", "withheld"),
        ("1+2", "", "withheld"),
        ("++8613800000001", "", "withheld"),
        ("١٣٨٠٠٠٠٠٠٠١", "", "withheld"),  # non-ASCII digits are junk too
        # rules 2-4: +, 0086 and 86 before a mobile
        ("+8613800000001", "13800000001", "mobile"),
        ("008613800000001", "13800000001", "mobile"),
        ("8613800000001", "13800000001", "mobile"),
        # rule 5: 86 before a landline without its 0
        ("861088886666", "01088886666", "landline"),
        ("+861088886666", "01088886666", "landline"),
        ("8675512345678", "075512345678", "landline"),
        ("0086571 12345678".replace(" ", ""), "057112345678", "landline"),
        ("862612345678", "02612345678", "unknown"),  # 026 is no area code
        # rule 6: other country codes
        ("+441234567890", "00441234567890", "foreign"),
        ("0014155550123", "0014155550123", "foreign"),
        ("+85223456789", "0085223456789", "foreign"),  # Hong Kong is foreign here
        # rule 7: trunk 0 before a mobile
        ("013800000001", "13800000001", "mobile"),
        # rule 8: mobile
        ("13800000001", "13800000001", "mobile"),
        ("19912345678", "19912345678", "mobile"),
        ("14000000000", "14000000000", "mobile"),  # mobile even if not in phone.dat
        # rule 9: landline with a known area code, 10-12 digits
        ("01088886666", "01088886666", "landline"),
        ("075512345678", "075512345678", "landline"),
        ("03912345678", "03912345678", "landline"),
        ("0755123456", "0755123456", "landline"),
        ("0755123456789", "0755123456789", "unknown"),  # 13 digits
        ("02612345678", "02612345678", "unknown"),
        ("03001234567", "03001234567", "unknown"),
        # rule 10: anything else
        ("12345", "12345", "unknown"),
        ("10086", "10086", "unknown"),
        ("4008001234", "4008001234", "unknown"),
        ("12812345678", "12812345678", "unknown"),
        ("+86", "86", "unknown"),
        ("0086", "86", "unknown"),
        ("00", "", "withheld"),  # only zeros
        ("000441234", "000441234", "unknown"),
        # hostile or oversized caller IDs never get past rule 1 (S-NUM-1)
        ("${system(touch /tmp/x)}", "", "withheld"),
        ("1380013800${expr(0)}", "", "withheld"),
        ("$${base_dir}", "", "withheld"),
        ("13800138000)", "", "withheld"),
        ("138|139", "", "withheld"),
        ("138&139", "", "withheld"),
        ("<b>13800138000</b>", "", "withheld"),
        ("13800138000\n", "", "withheld"),
        ("\n13800138000", "", "withheld"),
        ("1" * 20, "1" * 20, "unknown"),  # the longest caller ID that goes on
        ("1" * 21, "", "withheld"),
        ("1" * 200, "", "withheld"),
        ("+" + "8" * 20, "00" + "8" * 20, "foreign"),
        ("+" + "8" * 21, "", "withheld"),
    ],
)
def test_caller_rules(raw: str | None, digits: str, kind: str) -> None:
    assert normalize_caller(raw) == CallerNumber(raw, digits, kind)


def test_caller_rules_shape() -> None:
    rules = phones.CALLER_RULES
    assert len(rules) == 11
    assert all(isinstance(r, CallerRule) and len(r) == 4 for r in rules)
    assert rules[-1].kind == "unknown" and rules[-1].pattern == "^([0-9]*)$"
    assert [r.kind for r in rules].count(None) == 4
    # only the first rule reads the raw caller ID; it passes digits and a leading + only
    assert rules[0].otherwise == "withheld" and all(r.otherwise is None for r in rules[1:])
    for rule in rules:
        assert "(?" not in rule.pattern and "\\d" not in rule.pattern  # POSIX ERE subset
        assert rule.replacement.count("$1") <= 1
        assert rule.pattern.count("$") == 1 and rule.pattern.endswith("$")  # `$` is the end anchor only
        re.compile(rule.pattern)
    phones.CALLER_RULES.clear()  # a copy: callers can't break the algorithm
    assert len(phones.CALLER_RULES) == 11


@pytest.mark.parametrize(
    "raw", ["+8613800000001", "008613800000001", "8613800000001", "861088886666",
            "+441234567890", "013800000001", "13800000001", "075512345678", "123"])
def test_rule_offsets_locate_group_one(raw: str) -> None:
    """Asterisk has no captures: ${s:offset} must equal $1 for every rule that fires."""
    s = raw
    for rule in phones.CALLER_RULES:
        m = re.search(phones.re_end(rule.pattern, r"\Z"), s)
        if m is None:
            if rule.otherwise:
                break
            continue
        if rule.offset is not None:
            assert m.start(1) == rule.offset and m.group(1) == s[rule.offset:]
        s = rule.replacement.replace("$1", m.group(1) or "")
        if rule.kind is not None:
            break


def test_landline_rule_knows_exactly_the_area_codes() -> None:
    known = set(regions.area_codes())
    (rule,) = [r for r in phones.CALLER_RULES if r.kind == "landline"]
    pattern = re.compile(rule.pattern)
    three = [f"0{n}" for n in range(10, 30)]  # 01x, 02x: 3-digit codes
    four = [f"0{n}" for n in range(300, 1000)]
    assert known <= set(three + four)
    for code in three + four:
        number = code + "23456789"[: 11 - len(code)]
        assert bool(pattern.search(number)) == (code in known), code


@pytest.mark.skipif(shutil.which("grep") is None, reason="needs grep -E")
def test_rules_are_posix_ere() -> None:
    """Asterisk's REGEX() is POSIX ERE: grep -E must agree with Python's re."""
    samples = ["+8613800000001", "0086", "861088886666", "0014155550123", "013800000001",
               "13800000001", "075512345678", "02612345678", "anonymous", "", "1+2", "+"]
    for rule in phones.CALLER_RULES:
        proc = subprocess.run(["grep", "-E", "-n", "-e", rule.pattern],
                              input="\n".join(samples) + "\n", capture_output=True, text=True)
        assert proc.returncode in (0, 1), proc.stderr
        grep_hits = {int(line.split(":")[0]) - 1 for line in proc.stdout.splitlines()}
        py_hits = {i for i, s in enumerate(samples) if re.search(rule.pattern, s)}
        assert grep_hits == py_hits, rule.pattern


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.none(), st.text(), st.from_regex(r"\A\+?[0-9]{0,16}\Z"),
                 st.builds(lambda p, n: p + n, st.sampled_from(["", "+", "0", "00", "86", "0086", "+86"]),
                           st.from_regex(r"\A1[3-9][0-9]{9}\Z|\A0[1-9][0-9]{8,10}\Z"))))
def test_normalize_caller_total_and_idempotent(raw: str | None) -> None:
    first = normalize_caller(raw)
    assert first.kind in ("mobile", "landline", "withheld", "foreign", "unknown")
    again = normalize_caller(first.digits)
    assert again.digits == first.digits and again.kind == first.kind
    if first.kind == "mobile":
        assert re.fullmatch(r"1[3-9][0-9]{9}", first.digits)
    if first.kind == "landline":
        assert regions.area_code_of(first.digits) is not None


def test_normalize_caller_accepts_any_object() -> None:
    assert normalize_caller(13800000001).kind == "mobile"  # type: ignore[arg-type]
