"""Every diagnostic code has a failing example in tests/invalid/, and the examples
in examples/ are clean.

`tests/invalid/<CODE>_<slug>.flow` must produce CODE. Its full rendered output (what
`flowc check` prints) is kept as a syrupy snapshot in
`tests/__snapshots__/test_diagnostics/`; after a deliberate change of a message run
`pytest tests/test_diagnostics.py --snapshot-update` and review the diff.
Codes that no single file's content can produce are listed in SKIPPED with the reason,
and most of them have a dedicated test below.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import pytest  # noqa: E402
from conftest import text_snapshot_extension  # noqa: E402

from flowc.checks import CheckOptions  # noqa: E402
from flowc.diagnostics import CODES, Severity  # noqa: E402
from flowc.parser import MAX_FILE_CHARS  # noqa: E402
from flowc.pipeline import Result, Workspace  # noqa: E402
from flowc.render import render_full  # noqa: E402

EXAMPLES = ROOT / "examples"
INVALID = ROOT / "tests" / "invalid"
INVALID_FILES = sorted(INVALID.glob("*.flow"))
VALID_FILES = sorted(p for p in EXAMPLES.rglob("*.flow") if INVALID not in p.parents)
YEARS = [2026]  # a year the holiday calendar covers, so the results do not depend on today

# Codes without a file in tests/invalid/, and why.
SKIPPED: dict[str, str] = {
    "W407": "made by the warning settings of check/compile (diagnostics.apply_policy), not by checking one "
            "file; see tests/test_cli_ci.py",
    "E001": "the file cannot be read (permissions, I/O error, vanished): a property of the file system, "
            "not of a file's content; see test_e001_unreadable_file",
    "E106": "needs a file of more than 5,000,000 characters, too large to keep in the repository; "
            "see test_e106_file_too_large",
    "E229": "registered, but no check emits it yet: a condition of the wrong kind is reported as "
            "E204/E205/E219 (e.g. a quoted schedule name in `branch time`)",
    "E309": "depends on the --year the flow is compiled for, not on the file; see test_holiday_calendar_years",
    "W403": "depends on the --year the flow is compiled for, not on the file; see test_holiday_calendar_years",
    "E501": "reported by `flowc compile` (a target's emitter), not by checking a file",
    "E502": "reported by `flowc compile` for a setting (context_prefix), not by checking a file; see "
            "tests/test_names.py",
    "E601": "reported for scenario files of `flowc test`, not for .flow files",
    "E701": "a conflict between two flows compiled into one output directory; see tests/test_build.py",
    "E702": "a conflict between two flows compiled into one output directory; see tests/test_build.py",
}

# Exact positions (line, column; 1-based) of the diagnostic named by a handful of files.
POSITIONS: dict[str, tuple[int, int]] = {
    "E002_invalid_encoding": (1, 5),          # after `// ` and the one GBK pair that happens to be valid UTF-8
    "E101_unexpected_token": (8, 9),          # `sales` in `1 sales`
    "E102_unexpected_character": (3, 22),     # the full-width comma
    "E104_unterminated_string": (6, 10),      # the opening quote
    "E105_too_deeply_nested": (37, 72),       # the 65th `{`
    "E201_undefined_step": (8, 7),            # the option `1 -> saels`
    "E219_unknown_region": (7, 7),            # 深川 (carets must sit under Chinese text)
    "E316_duplicate_condition": (8, 11),      # the second 广东
    "W404_all_day_rule": (3, 3),              # the day-only rule `mon`
}


@pytest.fixture
def text_snapshot(snapshot):
    return snapshot.use_extension(text_snapshot_extension("txt"))


@pytest.fixture(autouse=True)
def _at_repo_root(monkeypatch):
    # Paths are given relative to the repository root, so rendered output is stable.
    monkeypatch.chdir(ROOT)


def code_of(path: Path) -> str:
    return path.name.split("_", 1)[0]


def check(path: Path, years: list[int] | None = None) -> Result:
    rel = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    return Workspace().assemble(rel, options=CheckOptions(years=years or YEARS))


def rendered(result: Result) -> str:
    def line_of(file: str, line: int) -> str | None:
        src = result.sources.get(file)
        return src.line_text(line) if src else None

    diagnostics = sorted(result.diagnostics, key=lambda d: d.sort_key())
    return "\n\n".join(render_full(d, line_of, color=False) for d in diagnostics) + "\n"


# ---------------------------------------------------------------- tests/invalid


@pytest.mark.parametrize("path", INVALID_FILES, ids=lambda p: p.stem)
def test_invalid_example_produces_its_code(path: Path) -> None:
    code = code_of(path)
    assert code in CODES, f"{path.name}: {code} is not a registered diagnostic code"
    result = check(path)
    codes = [d.code for d in result.diagnostics]
    assert code in codes, f"{path.name} should produce {code}, got {codes}"
    if code.startswith("W"):
        # A warning example is otherwise a valid flow.
        errors = [d for d in result.diagnostics if d.severity is Severity.ERROR]
        assert not errors, f"{path.name} should only warn, got {[d.code for d in errors]}"
    else:
        assert not result.ok


@pytest.mark.parametrize("stem", sorted(POSITIONS))
def test_position(stem: str) -> None:
    path = INVALID / f"{stem}.flow"
    code = code_of(path)
    result = check(path)
    found = [(d.span.line, d.span.col) for d in result.diagnostics if d.code == code and d.span]
    assert POSITIONS[stem] in found, f"{stem}: {code} at {found}, expected {POSITIONS[stem]}"


@pytest.mark.parametrize("path", INVALID_FILES, ids=lambda p: p.stem)
def test_rendered_output(path: Path, text_snapshot) -> None:
    assert rendered(check(path)) == text_snapshot


def test_every_code_is_covered() -> None:
    with_file = {code_of(p) for p in INVALID_FILES}
    missing = sorted(set(CODES) - with_file - set(SKIPPED))
    assert not missing, f"codes with neither an tests/invalid/ file nor a SKIPPED reason: {missing}"
    both = sorted(with_file & set(SKIPPED))
    assert not both, f"codes with a file that are still listed in SKIPPED: {both}"
    stale = sorted(set(SKIPPED) - set(CODES))
    assert not stale, f"SKIPPED lists codes that are not registered: {stale}"


def test_one_file_per_code() -> None:
    seen: dict[str, str] = {}
    for p in INVALID_FILES:
        assert code_of(p) not in seen, f"{p.name} and {seen[code_of(p)]} are both for {code_of(p)}"
        seen[code_of(p)] = p.name


# ---------------------------------------------------------------- codes without a file


def test_e001_unreadable_file(tmp_path: Path) -> None:
    result = Workspace().assemble(tmp_path / "gone.flow", options=CheckOptions(years=YEARS))
    assert [d.code for d in result.diagnostics] == ["E001"]
    d = result.diagnostics[0]
    assert d.span is None and d.filename == str(tmp_path / "gone.flow")


def test_e106_file_too_large(tmp_path: Path) -> None:
    path = tmp_path / "huge.flow"
    comment = "// " + "x" * 96 + "\n"
    path.write_text(comment * (MAX_FILE_CHARS // len(comment) + 1) + "flow f { }\n", encoding="utf-8")
    result = Workspace().assemble(path, options=CheckOptions(years=YEARS))
    assert [d.code for d in result.diagnostics] == ["E106"]
    assert (result.diagnostics[0].span.line, result.diagnostics[0].span.col) == (1, 1)


def test_holiday_calendar_years() -> None:
    from flowc.holidays import covered_years

    uncovered = covered_years().stop + 5
    # support_24x7 branches on `office_hours`, which uses `workdays`.
    path = EXAMPLES / "support_24x7.flow"
    first = [d.code for d in check(path, years=[uncovered]).diagnostics]
    assert "E309" in first
    later = check(path, years=[2026, uncovered])
    assert "W403" in [d.code for d in later.diagnostics]
    assert not [d for d in later.diagnostics if d.severity is Severity.ERROR]


# ---------------------------------------------------------------- valid examples


@pytest.mark.parametrize("path", VALID_FILES, ids=lambda p: str(p.relative_to(EXAMPLES)))
def test_valid_example_has_no_errors(path: Path) -> None:
    result = check(path)
    errors = [f"{d.code} {d.message}" for d in result.diagnostics if d.severity is Severity.ERROR]
    assert not errors
    assert result.ok


# ---------------------------------------------------------------- documentation

DOCS = ROOT / "docs"


def test_every_code_is_documented() -> None:
    text = (DOCS / "diagnostics.md").read_text(encoding="utf-8")
    for code, (name, _) in CODES.items():
        assert f"\n### {code} {name}\n" in text, f"docs/diagnostics.md has no section `### {code} {name}`"


def _flow_blocks(path: Path) -> list[tuple[int, str, str]]:
    """(line, heading, text) of every ```flow block of a markdown file."""
    out, heading, block, start = [], "", None, 0
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if block is None and line.startswith("#"):
            heading = line
        elif block is None and line.strip() == "```flow":
            block, start = [], i
        elif block is not None and line.strip() == "```":
            out.append((start, heading, "\n".join(block) + "\n"))
            block = None
        elif block is not None:
            block.append(line)
    return out


_DECLARATIONS = ("import", "phone", "group", "schedule", "list", "survey")
_FLOW_SETTINGS = ("number", "title", "timezone", "max_ring", "record", "ringback", "tag")


def _as_file(text: str) -> str:
    """Doc examples may be fragments: a step, or a terminal, with declarations before it.
    Wrap them into a flow so that they can be checked."""
    import re

    if re.search(r"^\s*flow\s+\S+\s*\{", text, re.M):
        return text
    lines = text.splitlines()
    code = [ln.strip() for ln in lines if ln.strip() and not ln.strip().startswith("//")]
    first = code[0].split()[0] if code else ""
    step = next((i for i, ln in enumerate(lines) if re.match(r"\s*step\b", ln)), None)
    if step is not None:
        return "\n".join(lines[:step]) + "\nflow demo {\n  number 400-800-1234\n" + "\n".join(lines[step:]) + "\n}\n"
    if first in _DECLARATIONS:
        return text  # a library
    if first in _FLOW_SETTINGS:
        return "flow demo {\n" + text + "\n  step start { hangup }\n}\n"
    return "flow demo {\n  number 400-800-1234\n  step demo {\n" + text + "\n  }\n}\n"


# What a doc example may leave undefined, and a stand-in that makes it complete.
_STUBS = {
    "E201": ("is not a step", "  step {} {{ hangup }}\n", "steps"),
    "E203": ("is not a declared", "group {} {{ 13800000009 }}\n", "top"),
    "E204": ("is not a declared schedule", "schedule {} {{ daily }}\n", "top"),
    "E205": ("is not a declared list", "list {} {{ 13800000009 }}\n", "top"),
    "E206": ("is not a declared survey", 'survey {} {{ prompt "s/q" }}\n', "top"),
}


def _check_doc_example(text: str, path: Path, stub: bool) -> Result:
    import re

    for _ in range(10):
        path.write_text(text, encoding="utf-8")
        result = Workspace().assemble(path, options=CheckOptions(years=YEARS))
        if not stub:
            return result
        added = set()
        for d in result.diagnostics:
            if d.code not in _STUBS or _STUBS[d.code][0] not in d.message:
                continue
            name = re.match(r"`([^`]+)`", d.message)
            stub_text = _STUBS[d.code][1].format(name.group(1)) if name else None
            if not stub_text or stub_text in added:
                continue
            added.add(stub_text)
            if _STUBS[d.code][2] == "steps":
                end = text.rstrip().rfind("}")
                text = text[:end] + stub_text + "}\n"
            else:
                text = stub_text + text
        if not added:
            return result
    return result


def _doc_cases(name: str):
    return [pytest.param(name, line, heading, text, id=f"{name}:{line}")
            for line, heading, text in _flow_blocks(DOCS / name)]


@pytest.mark.parametrize("doc, line, heading, text", _doc_cases("language.md") + _doc_cases("diagnostics.md"))
def test_doc_example(doc: str, line: int, heading: str, text: str, tmp_path: Path) -> None:
    """Examples in the docs compile; in docs/diagnostics.md, the first example of a code's
    section produces that code (names the example leaves undefined are stubbed in the
    examples that must compile, never in those that must fail)."""
    import re

    first = text.splitlines()[0] if text else ""
    target = re.match(r"//\s*file:\s*(\S+)", first)  # `// file: common/hours.flow` (imports)
    path = tmp_path / (target.group(1) if target else "example.flow")
    path.parent.mkdir(parents=True, exist_ok=True)
    if doc == "language.md":
        # Libraries written by earlier examples are imported by later ones.
        for _, _, earlier in _flow_blocks(DOCS / doc):
            m = re.match(r"//\s*file:\s*(\S+)", earlier.splitlines()[0])
            if m and earlier != text:
                (tmp_path / m.group(1)).parent.mkdir(parents=True, exist_ok=True)
                (tmp_path / m.group(1)).write_text(earlier, encoding="utf-8")
    section = re.match(r"###\s+([EW]\d{3})\s", heading)
    expected = section.group(1) if doc == "diagnostics.md" and section else None
    if expected:
        blocks = [b for b in _flow_blocks(DOCS / doc) if b[1] == heading]
        if blocks[0][0] == line:
            result = _check_doc_example(_as_file(text), path, stub=False)
            assert expected in [d.code for d in result.diagnostics], f"{doc}:{line} should produce {expected}"
            return
    result = _check_doc_example(_as_file(text), path, stub=True)
    errors = [f"{d.code} {d.message}" for d in result.diagnostics if d.severity is Severity.ERROR]
    assert not errors, f"{doc}:{line} does not compile"
