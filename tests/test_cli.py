"""`flowc` command line: exit codes, output formats, file discovery."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import EXAMPLES, ROOT
from typer.testing import CliRunner

from flowc.cli import app

runner = CliRunner()

BAD = 'flow f {\n  number 400-800-1234\n  step start { goto nowhere }\n}\n'
GOOD = 'flow f {\n  number 400-800-1234\n  step start { play "hi" hangup }\n}\n'


def run(*args):
    return runner.invoke(app, list(args))


VALID_EXAMPLES = sorted(EXAMPLES.glob("*.flow")) + sorted((EXAMPLES / "common").glob("*.flow"))


def test_check_examples_exits_0():
    r = run("check", *map(str, VALID_EXAMPLES), "--year", "2026", "--format", "concise")
    assert r.exit_code == 0, r.output
    assert "0 errors" in r.output


def test_check_error_exits_1_with_snippet(tmp_path):
    f = tmp_path / "bad.flow"
    f.write_text(BAD, encoding="utf-8")
    r = run("check", str(f))
    assert r.exit_code == 1
    assert "error[E201]" in r.output
    assert "--> bad.flow:3:21" in r.output  # named from the project root, as compile names it
    assert "3 |   step start { goto nowhere }" in r.output
    assert "^^^^^^^" in r.output


def test_concise_format_is_one_line_per_diagnostic(tmp_path):
    f = tmp_path / "bad.flow"
    f.write_text(BAD, encoding="utf-8")
    r = run("check", str(f), "--format", "concise", "--quiet")
    assert r.output.strip() == "bad.flow:3:21: error[E201] `nowhere` is not a step of flow `f`"


def test_json_format(tmp_path):
    f = tmp_path / "bad.flow"
    f.write_text(BAD, encoding="utf-8")
    r = subprocess.run([sys.executable, "-m", "flowc", "check", str(f), "--format", "json"],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 1
    (record,) = json.loads(r.stdout)
    assert record["code"] == "E201"
    assert record["name"] == "undefined-step"
    assert record["severity"] == "error"
    assert record["location"] == {"row": 3, "column": 21}
    assert record["end_location"] == {"row": 3, "column": 28}
    assert record["filename"] == "bad.flow"


def test_warnings_do_not_fail(tmp_path):
    f = tmp_path / "w.flow"
    f.write_text(GOOD + "\n", encoding="utf-8")
    f.write_text(GOOD.replace('step start { play "hi" hangup }',
                              'step start { play "hi" hangup } step orphan { hangup }'), encoding="utf-8")
    r = run("check", str(f))
    assert r.exit_code == 0
    assert "warning[W401]" in r.output


def test_missing_file_is_usage_error_2(tmp_path):
    r = run("check", str(tmp_path / "nope.flow"))
    assert r.exit_code == 2
    assert "no such file" in r.output


def test_directory_without_flows_is_usage_error_2(tmp_path):
    r = run("check", str(tmp_path))
    assert r.exit_code == 2


def test_unknown_option_is_usage_error_2():
    r = subprocess.run([sys.executable, "-m", "flowc", "check", "--bogus"], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr


def test_directory_means_every_flow_below_it(tmp_path):
    (tmp_path / "a.flow").write_text(GOOD, encoding="utf-8")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.flow").write_text(BAD, encoding="utf-8")
    r = run("check", str(tmp_path), "--format", "concise")
    assert r.exit_code == 1
    assert "2 files checked: 1 error" in r.output


def test_non_utf8_file_is_a_diagnostic_not_a_crash(tmp_path):
    f = tmp_path / "gbk.flow"
    f.write_bytes('// 中文注释\nflow f { }'.encode("gbk"))
    r = run("check", str(f), "--format", "concise")
    assert r.exit_code == 1
    assert "E002" in r.output


def test_schema_is_json_schema_of_the_ir():
    r = run("schema")
    assert r.exit_code == 0
    schema = json.loads(r.output)
    assert schema["title"] == "Flow"
    assert "Step" in schema["$defs"]


def test_dump_prints_the_checked_ir(tmp_path):
    f = tmp_path / "g.flow"
    f.write_text(GOOD, encoding="utf-8")
    r = run("dump", str(f))
    assert r.exit_code == 0
    ir = json.loads(r.output)
    assert ir["hotline"]["number"] == "4008001234"
    assert ir["steps"][0]["terminal"]["kind"] == "hangup"


def test_version():
    r = run("version")
    assert r.exit_code == 0
    assert r.output.startswith("flowc ")
