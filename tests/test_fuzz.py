"""The front end never crashes: whatever bytes a file holds, the result is diagnostics.

Mutations of the real examples (truncations, deleted, duplicated and swapped tokens,
spliced bytes) and random input are pushed through the whole pipeline: decode, parse,
transform, assemble, check. Hypothesis runs derandomized so CI is repeatable.
"""

from __future__ import annotations

import re

from conftest import EXAMPLES
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flowc.checks import CheckOptions
from flowc.diagnostics import CODES
from flowc.pipeline import Workspace, decode

SOURCES = [p.read_text(encoding="utf-8") for p in sorted(EXAMPLES.glob("*.flow"))]
TOKEN = re.compile(r'"[^"\n]*"|//[^\n]*|[^\s{}(),]+|[{}(),]|\s+')
FUZZ = settings(max_examples=150, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def run_pipeline(text: str) -> None:
    result = Workspace().assemble(str(EXAMPLES / "fuzz.flow"), text=text, options=CheckOptions(years=[2026]))
    lines = text.split("\n")
    for d in result.diagnostics:
        assert d.code in CODES
        assert d.message
        if d.span is not None:
            assert 1 <= d.span.line <= len(lines) + 1
            assert d.span.col >= 1


def run_bytes(data: bytes) -> None:
    source, diags = decode("fuzz.flow", data)
    if source is None:
        assert diags and diags[0].code == "E002"
    else:
        run_pipeline(source.text)


@FUZZ
@given(st.sampled_from(SOURCES), st.data())
def test_truncated_examples(text, data):
    cut = data.draw(st.integers(0, len(text)))
    run_pipeline(text[:cut])


@FUZZ
@given(st.sampled_from(SOURCES), st.data())
def test_token_mutations(text, data):
    tokens = TOKEN.findall(text)
    for _ in range(data.draw(st.integers(1, 4))):
        if not tokens:
            break
        i = data.draw(st.integers(0, len(tokens) - 1))
        op = data.draw(st.sampled_from(["delete", "duplicate", "swap", "replace"]))
        if op == "delete":
            del tokens[i]
        elif op == "duplicate":
            tokens.insert(i, tokens[i])
        elif op == "swap":
            j = data.draw(st.integers(0, len(tokens) - 1))
            tokens[i], tokens[j] = tokens[j], tokens[i]
        else:
            tokens[i] = data.draw(st.sampled_from(
                ["{", "}", "->", "1", "*", "#", "99999999999", "0s", "101%", "25:61-00:00", "13-45",
                 "2026-02-30", "else", "menu", "dial", '""', '"../../etc/passwd"', "广东", "0", "-", ".."]))
    run_pipeline("".join(tokens))


@FUZZ
@given(st.binary(max_size=400))
def test_random_bytes(data):
    run_bytes(data)


@FUZZ
@given(st.sampled_from(SOURCES), st.binary(min_size=1, max_size=12), st.data())
def test_spliced_bytes(text, junk, data):
    raw = text.encode("utf-8")
    at = data.draw(st.integers(0, len(raw)))
    run_bytes(raw[:at] + junk + raw[at:])


@FUZZ
@given(st.text(alphabet=st.sampled_from(list('{}()->,"=.:*#%+0123456789 \n\tabc广东flowstepmenudial')), max_size=300))
def test_random_text(text):
    run_pipeline(text)


def test_deep_nesting_is_a_diagnostic():
    text = "flow f { number 4008001234 step a " + "{ menu { 1 -> " * 2000 + "hangup" + " } }" * 2000 + " }"
    run_pipeline(text)


def test_huge_file_is_a_diagnostic():
    text = "// " + "x" * 6_000_000
    result = Workspace().assemble("huge.flow", text=text)
    assert [d.code for d in result.diagnostics] == ["E106"]


def test_many_steps_is_fine():
    steps = "\n".join(f"step s{i} {{ goto s{i + 1} }}" for i in range(3000))
    text = f'flow f {{ number 4008001234 {steps} step s3000 {{ play "x" hangup }} }}'
    result = Workspace().assemble("many.flow", text=text)
    assert not [d for d in result.diagnostics if d.code.startswith("E")]
