"""`flowc run` and `flowc test`: output, exit codes (0 ok, 1 failures or errors, 2 usage)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from flowc.cli import app

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
SHOP = str(EXAMPLES / "small_shop.flow")
AT = "2026-11-23T10:00+08:00"

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args))


# ---------------------------------------------------------------- flowc run


def test_run_prints_a_readable_trace():
    r = run("run", SHOP, "--at", AT, "--phone", "0571-8765 4321=busy", "--phone", "13900001111=answer:after=3:talk=20")
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert lines[0].startswith("flow small_shop: call from 13812345678 (mobile")
    assert "     1.0  result     057187654321 busy" in lines
    assert "     4.0  connect    13900001111" in lines
    assert lines[-1] == "    24.0  hangup     by phone (the phone hung up)"


def test_run_events_are_normalised_json_lines():
    r = run("run", SHOP, "--at", AT, "--phone", "057187654321=answer:after=2:talk=5", "--events")
    assert r.exit_code == 0
    events = [json.loads(line) for line in r.output.splitlines()]
    assert events == [
        {"t": 0.0, "event": "play", "prompt": "welcome"},
        {"t": 1.0, "event": "dial", "phones": ["057187654321"], "mode": "sequential-step"},
        {"t": 3.0, "event": "result", "phone": "057187654321", "outcome": "answered"},
        {"t": 3.0, "event": "connect", "phone": "057187654321"},
        {"t": 8.0, "event": "hangup", "by": "phone"},
    ]


def test_run_json_trace_with_keys_and_draws():
    r = run("run", str(EXAMPLES / "hotel_chain.flow"), "--at", AT, "--press", "1", "--press", "1", "--json",
            "--caller", "02887654321")
    doc = json.loads(r.output)
    assert doc["trace_version"] == 1 and doc["caller"]["province"] == "四川"
    assert [e["digits"] for e in doc["events"] if e["event"] == "input"] == ["1", "1"]
    split = run("run", str(EXAMPLES / "sales_split.flow"), "--at", AT, "--draw", "95", "--draw", "20", "--json",
                "--caller-hangup-after", "5")
    branch = next(e for e in json.loads(split.output)["events"] if e["event"] == "branch")
    assert (branch["target"], branch["draw"]) == ("two", 95)


def test_run_chinese_text_survives():
    r = run("run", str(EXAMPLES / "sales_split.flow"), "--at", AT, "--draw", "10", "--caller-hangup-after", "3")
    assert "team = 一组" in r.output


def test_run_usage_errors_exit_2():
    assert run("run", SHOP, "--phone", "13800000001=sometimes").exit_code == 2
    assert run("run", SHOP, "--press", "1", "--dtmf", "1@prompt").exit_code == 2
    assert run("run", SHOP, "--at", "tomorrow").exit_code == 2
    assert run("run", "no/such.flow").exit_code == 2
    assert run("run", SHOP, "--json", "--events").exit_code == 2


def test_run_a_flow_with_errors_exits_1(tmp_path):
    bad = tmp_path / "bad.flow"
    bad.write_text('flow f {\n  number 400-800-1234\n  step start { goto nowhere }\n}\n', encoding="utf-8")
    r = run("run", str(bad))
    assert r.exit_code == 1 and "E201" in r.output


# ---------------------------------------------------------------- flowc test


def test_test_examples_all_pass_with_full_coverage():
    r = run("test", str(EXAMPLES), "--coverage")
    assert r.exit_code == 0, r.output
    assert "  PASS  the counter answers" in r.output
    assert r.output.count("100% (") == len(list(EXAMPLES.glob("*.flow")))
    last = r.output.splitlines()[-1]
    assert last.endswith(" passed, 0 failed") and int(last.split()[0]) >= 60


def _failing_copy(tmp_path: Path) -> Path:
    shutil.copy(SHOP, tmp_path / "small_shop.flow")
    path = tmp_path / "small_shop.scenarios.yaml"
    path.write_text("defaults:\n  time: 2026-11-23T10:00:00+08:00\nscenarios:\n"
                    "  - name: passes\n    expect: [{play: welcome}]\n"
                    "  - name: fails\n    expect: [{connect: \"13900001111\"}]\n", encoding="utf-8")
    return path


def test_test_reports_failures_with_a_diff_and_exits_1(tmp_path):
    path = _failing_copy(tmp_path)
    r = run("test", str(path))
    assert r.exit_code == 1
    assert "  PASS  passes" in r.output and "  FAIL  fails  (line 6)" in r.output
    assert "✗ connect phone=13900001111" in r.output
    assert r.output.splitlines()[-1] == "1 passed, 1 failed"


def test_test_json_format(tmp_path):
    path = _failing_copy(tmp_path)
    doc = json.loads(run("test", str(tmp_path / "small_shop.flow"), "--format", "json", "--coverage").output)
    assert (doc["passed"], doc["failed"]) == (1, 1)
    [file] = doc["files"]
    assert file["scenarios_file"] == str(path) and file["coverage"]["total"] == 9
    assert [s["passed"] for s in file["scenarios"]] == [True, False]


def test_test_broken_scenario_file_is_a_failure_with_diagnostics(tmp_path):
    shutil.copy(SHOP, tmp_path / "small_shop.flow")
    (tmp_path / "small_shop.scenarios.yaml").write_text("- name: x\n  phones: {\"13800000009\": busy}\n",
                                                         encoding="utf-8")
    r = run("test", str(tmp_path))
    assert r.exit_code == 1
    assert "error[E601]: flow `small_shop` never dials 13800000009" in r.output
    assert "small_shop.scenarios.yaml:2:" in r.output


def test_test_usage_errors_exit_2(tmp_path):
    assert run("test", str(tmp_path)).exit_code == 2  # no scenario files
    assert run("test", str(tmp_path / "missing")).exit_code == 2
    (tmp_path / "lonely.flow").write_text("", encoding="utf-8")
    assert run("test", str(tmp_path / "lonely.flow")).exit_code == 2  # a flow without scenarios


def test_test_examples_as_a_fresh_process():
    done = subprocess.run([sys.executable, "-m", "flowc", "test", "examples/", "-q"], cwd=ROOT, capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[-1].endswith(" passed, 0 failed")
