"""flowc in a CI pipeline (issue 13): check = compile minus writing, warning control,
machine formats, CLI habits. Every test runs the real console script."""

from __future__ import annotations

import json
import os
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FLOWC = ROOT / ".venv" / "bin" / "flowc"

GOOD = 'flow shop {\n  number 400-800-1234\n  step start {\n    dial 13800000001\n  }\n}\n'
UNREACHABLE = GOOD.replace("  }\n}\n", "  }\n  step old {\n    hangup\n  }\n}\n")
HALF_SECOND = GOOD.replace("dial 13800000001", "dial 13800000001 { ring 2.5s }")


def flowc(*args: str, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOWC_")}
    return subprocess.run([str(FLOWC), *args], cwd=cwd, input=stdin, capture_output=True, text=True, env=env)


def project(tmp_path: Path, flow: str, toml: str = "") -> Path:
    (tmp_path / "flowc.toml").write_text(toml, encoding="utf-8")
    (tmp_path / "f.flow").write_text(flow, encoding="utf-8")
    return tmp_path


# ---- 1. check = compile minus writing


def test_check_reports_the_target_errors_compile_reports(tmp_path):
    p = project(tmp_path, HALF_SECOND)
    c = flowc("compile", "f.flow", "--target", "freeswitch", "-o", "out", "-f", "concise", cwd=p)
    assert c.returncode == 1 and "E501" in c.stderr
    r = flowc("check", "f.flow", "-f", "concise", cwd=p)  # default: every target
    assert r.returncode == 1 and "E501" in r.stderr
    assert flowc("check", "f.flow", "--target", "asterisk", cwd=p).returncode == 0
    assert sorted(x.name for x in p.iterdir()) == ["f.flow", "flowc.toml", "out"] or not (p / "out").exists()


def test_check_target_and_years_come_from_the_config_file(tmp_path):
    p = project(tmp_path, HALF_SECOND, 'target = "asterisk"\n')
    assert flowc("check", "f.flow", cwd=p).returncode == 0
    assert flowc("compile", "f.flow", "-o", "out", cwd=p).returncode == 0  # --target from the config too
    p2 = tmp_path / "years"
    p2.mkdir()
    holidays = ('schedule s { holidays }\nflow shop {\n  number 400-800-1234\n'
                '  step a {\n    branch time {\n      s -> hangup\n      else -> hangup\n    }\n  }\n}\n')
    project(p2, holidays, "years = [2099]\n")
    r = flowc("check", "f.flow", "-f", "concise", cwd=p2)
    assert r.returncode == 1 and "E309" in r.stderr  # the years of flowc.toml, as compile


def test_compile_without_a_target_anywhere_is_a_usage_error(tmp_path):
    r = flowc("compile", "f.flow", cwd=project(tmp_path, GOOD))
    assert r.returncode == 2 and "--target is required" in r.stderr


# ---- 2. warnings under control


def test_ignore_and_error_in_the_config_file(tmp_path):
    p = project(tmp_path, UNREACHABLE, 'ignore = ["W401"]\n')
    r = flowc("check", "f.flow", cwd=p)
    assert r.returncode == 0 and "W401" not in r.stderr
    project(tmp_path, UNREACHABLE, 'error = ["W401"]\n')
    r = flowc("check", "f.flow", "-f", "concise", cwd=p)
    assert r.returncode == 1 and "error[W401]" in r.stderr
    c = flowc("compile", "f.flow", "-t", "asterisk", "-o", "out", cwd=p)
    assert c.returncode == 1 and not (p / "out").exists()


def test_inline_suppression_and_unused_suppression(tmp_path):
    p = project(tmp_path, UNREACHABLE.replace("step old {", "step old {  // flowc: ignore[W401]"))
    r = flowc("check", "f.flow", cwd=p)
    assert r.returncode == 0 and "W401" not in r.stderr and "0 warnings" in r.stderr
    project(tmp_path, GOOD.replace("step start {", "step start {  // flowc: ignore[W401]"))
    r = flowc("check", "f.flow", "-f", "concise", cwd=p)
    assert "f.flow:3:17: warning[W407] unused suppression of W401" in r.stderr


def test_warnings_as_errors(tmp_path):
    p = project(tmp_path, UNREACHABLE)
    assert flowc("check", "f.flow", cwd=p).returncode == 0
    r = flowc("check", "f.flow", "--warnings-as-errors", "-f", "concise", cwd=p)
    assert r.returncode == 1 and "error[W401]" in r.stderr


def test_only_warning_codes_can_be_ignored(tmp_path):
    r = flowc("check", "f.flow", cwd=project(tmp_path, GOOD, 'ignore = ["E201"]\n'))
    assert r.returncode == 2 and "ignore: E201: only warning codes" in r.stderr


# ---- 3. machine formats


def test_github_annotations(tmp_path):
    r = flowc("check", "f.flow", "-f", "github", cwd=project(tmp_path, UNREACHABLE))
    assert r.stdout.startswith("::warning file=f.flow,line=6,col=8,endLine=6,endColumn=11,title=W401 unreachable-step::")


def test_sarif(tmp_path):
    r = flowc("check", "f.flow", "-f", "sarif", cwd=project(tmp_path, UNREACHABLE))
    doc = json.loads(r.stdout)
    assert doc["version"] == "2.1.0"
    (res,) = doc["runs"][0]["results"]
    assert res["ruleId"] == "W401" and res["level"] == "warning"
    assert res["locations"][0]["physicalLocation"]["region"]["startLine"] == 6


def test_compile_check_json(tmp_path):
    p = project(tmp_path, GOOD)
    r = flowc("compile", "f.flow", "-t", "asterisk", "-o", "out", "--check", "--format", "json", cwd=p)
    assert r.returncode == 1 and json.loads(r.stdout)["summary"]["missing"] >= 1


def test_test_junit_and_fail_under(tmp_path):
    junit = tmp_path / "junit.xml"
    r = flowc("test", "examples/small_shop.flow", "--junit", str(junit), "--coverage", "--fail-under", "1", cwd=ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
    suites = ET.parse(junit).getroot()
    assert suites.tag == "testsuites" and int(suites.get("tests")) > 0 and suites.get("failures") == "0"
    r = flowc("test", "examples/small_shop.flow", "--fail-under", "100.1", cwd=ROOT)
    assert r.returncode == 1 and "coverage" in r.stdout + r.stderr


# ---- 4. CLI habits


def test_version_and_short_help(tmp_path):
    assert flowc("--version", cwd=tmp_path).stdout.startswith("flowc ")
    assert "Usage: flowc" in flowc("-h", cwd=tmp_path).stdout
    assert "Usage: flowc check" in flowc("check", "-h", cwd=tmp_path).stdout
    assert "--install-completion" in flowc("--help", cwd=tmp_path).stdout
    v = flowc("version", cwd=tmp_path).stdout
    assert "holiday calendar" in v and "region data" in v


def test_shell_completion_script(tmp_path):
    r = flowc("--show-completion", "bash", cwd=tmp_path)
    assert r.returncode == 0 and "_flowc_completion" in r.stdout


def test_stdin_for_check_dump_run(tmp_path):
    r = flowc("check", "-", "-f", "concise", cwd=tmp_path, stdin=HALF_SECOND)
    assert r.returncode == 1 and "<stdin>:4" in r.stderr and "E501" in r.stderr
    assert json.loads(flowc("dump", "-", cwd=tmp_path, stdin=GOOD).stdout)["name"] == "shop"
    assert "dial" in flowc("run", "-", cwd=tmp_path, stdin=GOOD).stdout


def test_settings_errors_name_the_option(tmp_path):
    p = project(tmp_path, GOOD)
    r = flowc("compile", "f.flow", "-t", "asterisk", "--set", "asterisk.prompt_dir=../x", cwd=p)
    assert r.returncode == 2 and "--set asterisk.prompt_dir=../x: " in r.stderr and "flowc.toml" not in r.stderr
    r = flowc("compile", "f.flow", "-t", "asterisk", "--prompt-dir", "../x", cwd=p)
    assert "--prompt-dir: " in r.stderr
    project(p, GOOD, '[asterisk]\nprompt_dir = "../x"\nfoo = 1\n')
    r = flowc("compile", "f.flow", "-t", "asterisk", cwd=p)
    assert "flowc.toml" in r.stderr and "asterisk.prompt_dir" in r.stderr and "asterisk.foo: unknown setting" in r.stderr
    for text in ("Extra inputs are not permitted", "Value error,", "Input should be"):
        assert text not in r.stderr


def test_dump_and_run_of_a_library_say_what_to_do(tmp_path):
    for cmd in ("dump", "run"):
        r = flowc(cmd, "examples/common/schedules.flow", cwd=ROOT)
        assert r.returncode == 2 and "is a library" in r.stderr and "0 errors" not in r.stderr
