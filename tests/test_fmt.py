"""`flowc fmt`: meaning kept, every comment kept once in place, idempotent, over every flow
of the repository and over generated variants of them (whitespace, blank lines, line breaks
and comments changed wherever the grammar allows)."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import EXAMPLES, ROOT
from typer.testing import CliRunner

from flowc import fmt
from flowc.cli import app
from flowc.diagnostics import FlowcError
from flowc.parser import parse
from flowc.pipeline import Workspace, parse_source
from flowc.source import SourceFile

ALL_FLOWS = sorted(p for p in [*EXAMPLES.rglob("*.flow"), *(ROOT / "tests").rglob("*.flow")])
VARIANTS = 1000  # generated per run (CI), spread over the well-formed flows


def parses(text: str) -> bool:
    try:
        parse(SourceFile("x.flow", text))
        return True
    except FlowcError:
        return False


def read(p: Path) -> str:
    data = p.read_bytes()
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    return data.decode("utf-8")


def well_formed() -> list[Path]:
    out = []
    for p in ALL_FLOWS:
        try:
            text = read(p)
        except UnicodeDecodeError:
            continue
        if "\x00" not in text and parses(text):
            out.append(p)
    return out


WELL_FORMED = well_formed()


def signature(text: str) -> list[tuple]:
    """The tokens and comments in order; each comment marked as trailing (after code on its
    line) or on its own line. Equal signatures = same tokens, same comments, same places."""
    tree, comments = fmt._parse(text)
    items = sorted([(t.start_pos, t) for t in fmt._tokens(tree)] + [(c.start_pos, c) for c in comments],
                   key=lambda x: x[0])
    out: list[tuple] = []
    prev_line = None
    for _, tok in items:
        if tok.type == "COMMENT":
            out.append(("COMMENT", str(tok).rstrip(), "trailing" if prev_line == tok.line else "own-line"))
        else:
            out.append((tok.type, str(tok)))
            prev_line = tok.end_line
    return out


def _strip_spans(value):
    if isinstance(value, dict):
        if set(value) == {"file", "line", "col", "end_line", "end_col"}:
            return None
        return {k: _strip_spans(v) for k, v in value.items() if k != "span"}
    if isinstance(value, (list, tuple)):
        return [_strip_spans(v) for v in value]
    return value


def meaning(text: str, path: str, full: bool = True):
    """The IR of the file without source positions, and (`full`) the checker's verdict
    (codes and messages) for it with its imports: W404 reads line breaks."""
    module, diags, _ = parse_source(SourceFile(path, text))
    checked = Workspace().assemble(path, text=text).diagnostics if full else []
    return (_strip_spans(module.model_dump()), sorted(d.code for d in diags),
            sorted((d.code, d.message) for d in checked))


def assert_formats_well(text: str, path: str, full: bool = True) -> str:
    out = fmt.format_text(text, path)
    assert fmt.format_text(out, path) == out, "not idempotent"
    assert signature(out) == signature(text), "tokens or comments moved, lost or duplicated"
    assert meaning(out, path, full) == meaning(text, path, full), "meaning changed"
    assert out == "" or (out.endswith("\n") and not out.endswith("\n\n"))
    assert not any(line != line.rstrip() for line in out.split("\n")), "trailing whitespace"
    assert "\n\n\n" not in out, "more than one blank line"
    return out


@pytest.mark.parametrize("path", WELL_FORMED, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_flow(path: Path):
    assert_formats_well(read(path), str(path))


def test_examples_are_fmt_clean():
    """The CI check: the examples are in the canonical layout (`flowc fmt --check examples`)."""
    dirty = [str(p) for p in EXAMPLES.rglob("*.flow") if fmt.format_text(read(p), str(p)) != read(p)]
    assert not dirty, f"run `flowc fmt examples/`: {dirty}"


def test_docs_snippets_are_fmt_clean():
    """The ```flow snippets of the docs and README (`python tools/fmt_docs.py --check`)."""
    sys.path.insert(0, str(ROOT / "tools"))
    import fmt_docs

    assert fmt_docs.main(["--check"]) == 0, "run `python tools/fmt_docs.py`"
    formatted = sum(fmt_docs.format_snippet(m.group(1)) is not None
                    for doc in fmt_docs.docs() for m in fmt_docs.FENCE.finditer(doc.read_text(encoding="utf-8")))
    assert formatted >= 30  # most snippets are read (whole files or fragments), not skipped


# ---------------------------------------------------------------- generated variants

SEPARATORS = [" ", " ", " ", "  ", "\t", "\n", "\n", "\n\n", "\n\n\n", "\n    ", " \n\t ", "\r\n"]


def variant(text: str, rng: random.Random) -> str:
    """The same tokens and comments with other whitespace between them, and a few new
    comments (own-line or trailing) in random places."""
    items = signature(text)
    out: list[str] = []
    n = 0
    for i, item in enumerate(items):
        if rng.random() < 0.06 and i:
            n += 1
            if rng.random() < 0.5:
                out.append(f"  // added {n}\n")
            else:
                out.append(f"\n// added {n} 中文\n")
        if item[0] == "COMMENT":
            if item[2] == "trailing" and i:
                out.append(rng.choice([" ", "   ", "\t"]) + item[1] + "\n")
            else:
                out.append("\n" + rng.choice(["", "  ", "\n"]) + item[1] + "\n")
            continue
        if i and not out[-1].endswith("\n"):
            out.append(rng.choice(SEPARATORS))
        elif i:
            out.append(rng.choice(["", "  ", "\n"]))
        out.append(item[1])
    return "".join(out)


def test_generated_variants():
    rng = random.Random(20261204)
    corpus = [(p, read(p)) for p in WELL_FORMED if p.stat().st_size < 6000]
    for k in range(VARIANTS):
        path, text = corpus[k % len(corpus)]
        v = variant(text, rng)
        try:
            out = assert_formats_well(v, str(path), full=k % 10 == 0)
        except AssertionError as exc:
            raise AssertionError(f"variant {k} of {path}:\n{v}") from exc
        assert out.count("// added") == v.count("// added")


# ---------------------------------------------------------------- layout


def test_layout():
    src = ('phone a 13800000001 // mobile\nphone b "0571-8765 4321"\n'
           'group g{strategy ring_all ring 20s a b}\n'
           'schedule s { mon wed 09:00-12:00\n mon - fri 09:00-12:00,13:00-18:00 }\n'
           'flow f {number 4008001234 step start{ play "x" menu{ 1->{play "y" hangup}\n'
           '2 -> dial g {\nfailed -> start } } } }\n')
    assert fmt.format_text(src) == (
        'phone a 13800000001  // mobile\n'
        'phone b "0571-8765 4321"\n'
        '\n'
        'group g {\n'
        '  strategy ring_all\n'
        '  ring 20s\n'
        '  a\n'
        '  b\n'
        '}\n'
        '\n'
        'schedule s {\n'
        '  mon wed 09:00-12:00\n'
        '  mon-fri 09:00-12:00, 13:00-18:00\n'
        '}\n'
        '\n'
        'flow f {\n'
        '  number 4008001234\n'
        '\n'
        '  step start {\n'
        '    play "x"\n'
        '    menu {\n'
        '      1 -> { play "y" hangup }\n'
        '      2 -> dial g {\n'
        '        failed -> start\n'
        '      }\n'
        '    }\n'
        '  }\n'
        '}\n')


def test_comments_everywhere_and_alignment():
    src = ("// head\n\n\n// second\nflow f { // on the brace\n number 4008001234   // n\n title \"t\"  // a title\n"
           " step a {\n  play \"x\" // p\n  // before the terminal\n  dial 13800000001 { ring 20s // r\n"
           "  failed -> b } // after\n  // end of block\n }\n step b { hangup }\n}\n// tail\n")
    out = assert_formats_well(src, "c.flow")
    assert out == ("// head\n\n// second\nflow f {  // on the brace\n"
                   "  number 4008001234  // n\n  title \"t\"          // a title\n\n"
                   "  step a {\n    play \"x\"  // p\n    // before the terminal\n"
                   "    dial 13800000001 {\n      ring 20s  // r\n      failed -> b\n    }  // after\n"
                   "    // end of block\n  }\n\n  step b { hangup }\n}\n// tail\n")


def test_long_lists_wrap():
    days = ", ".join(f"2026-{m:02d}-{d:02d}" for m in range(1, 4) for d in range(1, 8))
    src = f"schedule s {{\n  except {days}\n  mon 09:00-10:00\n}}\n"
    out = assert_formats_well(src, "w.flow")
    lines = out.split("\n")
    assert all(fmt.width(line) <= fmt.WIDTH for line in lines)
    assert lines[2].startswith("      2026-")  # continuation: 4 more than the statement


def test_syntax_error_is_reported_not_formatted():
    with pytest.raises(FlowcError) as exc:
        fmt.format_text("flow f { step a { } }", "bad.flow")
    assert exc.value.diagnostics[0].code == "E101"


# ---------------------------------------------------------------- the command


def test_cli_check_diff_write(tmp_path: Path):
    good = tmp_path / "good.flow"
    good.write_text(read(EXAMPLES / "small_shop.flow"), encoding="utf-8")
    ugly = tmp_path / "ugly.flow"
    ugly.write_text("flow f {number 4008001234 step a {hangup}}", encoding="utf-8")
    bad = tmp_path / "bad.flow"
    bad.write_text("flow f { step a { } }", encoding="utf-8")
    runner = CliRunner()

    r = runner.invoke(app, ["fmt", "--check", str(good), str(ugly)])
    assert r.exit_code == 1 and f"would reformat {ugly}" in r.stdout and str(good) not in r.stdout
    r = runner.invoke(app, ["fmt", "--diff", str(ugly)])
    assert r.exit_code == 1 and "+  step a { hangup }" in r.stdout
    assert ugly.read_text() == "flow f {number 4008001234 step a {hangup}}"  # --check/--diff write nothing

    r = runner.invoke(app, ["fmt", str(tmp_path)])
    assert r.exit_code == 1  # bad.flow has a syntax error
    assert "E101" in r.stderr and "1 with syntax errors" in r.stderr
    assert bad.read_text() == "flow f { step a { } }"  # left untouched
    assert ugly.read_text() == "flow f {\n  number 4008001234\n  step a { hangup }\n}\n"
    r = runner.invoke(app, ["fmt", "--check", str(good), str(ugly)])
    assert r.exit_code == 0


def test_cli_stdin():
    runner = CliRunner()
    r = runner.invoke(app, ["fmt", "-"], input="phone  a   13800000001")
    assert r.exit_code == 0 and r.stdout == "phone a 13800000001\n"
    r = runner.invoke(app, ["fmt", "-", "--stdin-filename", "x.flow"], input="phone a")
    assert r.exit_code == 1 and "x.flow" in r.stderr and r.stdout == ""


def test_cli_examples_clean_subprocess():
    """What CI runs: `flowc fmt --check examples`."""
    r = subprocess.run([sys.executable, "-m", "flowc", "fmt", "--check", str(EXAMPLES)],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stdout + r.stderr


def test_mutated_flows_format_or_report():
    """Broken input never crashes the formatter: it formats (correctly) or reports E1xx."""
    import re as _re

    token = _re.compile(r'"[^"\n]*"|//[^\n]*|[^\s{}(),]+|[{}(),]|\s+')
    rng = random.Random(7)
    corpus = [read(p) for p in WELL_FORMED if p.stat().st_size < 4000]
    formatted = 0
    for k in range(300):
        tokens = token.findall(corpus[k % len(corpus)])
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(len(tokens))
            op = rng.choice(["delete", "duplicate", "swap", "newline", "comment"])
            if op == "delete":
                del tokens[i]
            elif op == "duplicate":
                tokens.insert(i, tokens[i])
            elif op == "swap":
                j = rng.randrange(len(tokens))
                tokens[i], tokens[j] = tokens[j], tokens[i]
            elif op == "newline":
                tokens.insert(i, "\n")
            else:
                tokens.insert(i, " // note\n")
        text = "".join(tokens)
        try:
            out = fmt.format_text(text, "m.flow")
        except FlowcError as exc:
            assert all(d.code.startswith("E1") for d in exc.diagnostics)
            continue
        formatted += 1
        assert fmt.format_text(out, "m.flow") == out
        assert signature(out) == signature(text)
    assert formatted > 30


@pytest.mark.parametrize("path", [p for p in ALL_FLOWS if p not in WELL_FORMED], ids=lambda p: p.name)
def test_files_with_syntax_errors_get_the_checkers_diagnostics(path: Path):
    """`flowc fmt` reports exactly what `flowc check` reports for a file it cannot read."""
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pytest.skip("not UTF-8: the command reports E002 before formatting")
    if "\x00" in text:
        pytest.skip("a NUL byte: the command reports E002 before formatting")
    with pytest.raises(FlowcError) as exc:
        fmt.format_text(text, str(path))
    try:
        parse(SourceFile(str(path), text))
    except FlowcError as expected:
        assert exc.value.diagnostics == expected.diagnostics
