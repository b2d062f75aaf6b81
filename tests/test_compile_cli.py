"""`flowc compile`: outputs, atomic writing, --check, settings, and nothing written on errors."""

from __future__ import annotations

import os

from conftest import EXAMPLES
from typer.testing import CliRunner

from flowc.cli import app

runner = CliRunner()
SHOP = str(EXAMPLES / "small_shop.flow")
BAD = 'flow f {\n  number 400-800-1234\n  step start { goto nowhere }\n}\n'


def compile_(*args):
    return runner.invoke(app, ["compile", *args, "--year", "2026"])


def test_single_target_writes_into_out(tmp_path):
    r = compile_(SHOP, "--target", "asterisk", "--out", str(tmp_path))
    assert r.exit_code == 0, r.output
    assert (tmp_path / "small_shop.conf").is_file()


def test_all_targets_get_a_folder_each(tmp_path):
    r = compile_(SHOP, "--target", "all", "--out", str(tmp_path))
    assert r.exit_code == 0, r.output
    assert (tmp_path / "asterisk" / "small_shop.conf").is_file()
    assert (tmp_path / "freeswitch" / "small_shop.xml").is_file()


def test_output_is_byte_identical_and_unchanged_files_are_not_rewritten(tmp_path):
    compile_(SHOP, "--target", "all", "--out", str(tmp_path))
    files = sorted(p for p in tmp_path.rglob("*") if p.is_file())
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in files}
    r = compile_(SHOP, "--target", "all", "--out", str(tmp_path))
    assert "0 file(s) written" in r.output
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in files} == before


def test_check_mode_reports_stale_files_and_writes_nothing(tmp_path):
    r = compile_(SHOP, "--target", "asterisk", "--out", str(tmp_path), "--check")
    assert r.exit_code == 1
    assert not (tmp_path / "small_shop.conf").exists()
    compile_(SHOP, "--target", "asterisk", "--out", str(tmp_path))
    assert compile_(SHOP, "--target", "asterisk", "--out", str(tmp_path), "--check").exit_code == 0
    (tmp_path / "small_shop.conf").write_text("; edited by hand\n", encoding="utf-8")
    r = compile_(SHOP, "--target", "asterisk", "--out", str(tmp_path), "--check")
    assert r.exit_code == 1 and "would change" in r.output


def test_an_error_in_one_flow_writes_nothing_at_all(tmp_path):
    bad = tmp_path / "bad.flow"
    bad.write_text(BAD, encoding="utf-8")
    out = tmp_path / "out"
    r = compile_(SHOP, str(bad), "--target", "all", "--out", str(out))
    assert r.exit_code == 1
    assert "E201" in r.output and "nothing written" in r.output
    assert not out.exists()


def test_no_temporary_files_are_left_behind(tmp_path):
    compile_(SHOP, "--target", "all", "--out", str(tmp_path))
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]


def test_dial_template_reaches_the_output(tmp_path):
    r = compile_(SHOP, "--target", "asterisk", "--out", str(tmp_path), "--dial-template", "Local/{number}@sim-phones")
    assert r.exit_code == 0, r.output
    assert "Local/057187654321@sim-phones" in (tmp_path / "small_shop.conf").read_text(encoding="utf-8")


def test_bad_settings_are_usage_errors(tmp_path):
    r = compile_(SHOP, "--target", "asterisk", "--out", str(tmp_path), "--dial-template", "PJSIP/trunk")
    assert r.exit_code == 2 and "{number}" in r.output
    r = compile_(SHOP, "--target", "all", "--out", str(tmp_path), "--dial-template", "X/{number}")
    assert r.exit_code == 2
    r = compile_(SHOP, "--target", "asterisk", "--out", str(tmp_path), "--set", "asterisk.context_prefix=a;b")
    assert r.exit_code == 2


def test_config_file_is_read_from_the_working_directory(tmp_path, monkeypatch):
    (tmp_path / "flowc.toml").write_text('[asterisk]\ncontext_prefix = "hotline-"\n', encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    r = compile_(SHOP, "--target", "asterisk", "--out", "out")
    assert r.exit_code == 0, r.output
    assert "[hotline-small_shop]" in (tmp_path / "out" / "small_shop.conf").read_text(encoding="utf-8")


def test_unwritable_output_is_an_io_error(tmp_path):
    if os.geteuid() == 0:
        blocker = tmp_path / "file"
        blocker.write_text("x", encoding="utf-8")
        r = compile_(SHOP, "--target", "asterisk", "--out", str(blocker / "sub"))
    else:  # pragma: no cover - depends on the user running the tests
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        r = compile_(SHOP, "--target", "asterisk", "--out", str(locked))
    assert r.exit_code == 2


def test_a_library_among_the_files_is_skipped_and_said_so(tmp_path):
    library = str(EXAMPLES / "common" / "schedules.flow")
    r = compile_(library, SHOP, "--target", "asterisk", "--out", str(tmp_path / "out"))
    assert r.exit_code == 0, r.output
    assert "1 flow(s) compiled (1 library skipped: no flow to compile)" in r.output
    # (beside the manifest and the region table every compile writes)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        ".flowc-manifest.json", "flowc-regions.conf", "small_shop.conf"]


def test_imported_paths_are_named_without_dot_dot(tmp_path):
    (tmp_path / "flowc.toml").write_text("", encoding="utf-8")  # the project root: flows/ may import ../lib/
    (tmp_path / "lib").mkdir()
    (tmp_path / "flows").mkdir()
    (tmp_path / "lib" / "shared.flow").write_text("schedule s { mon-fri 09:00-18:00 }\nschedule s2 { oops }\n",
                                                   encoding="utf-8")
    (tmp_path / "flows" / "f.flow").write_text('import "../lib/shared.flow"\n' + BAD, encoding="utf-8")
    r = runner.invoke(app, ["check", str(tmp_path / "flows" / "f.flow")])
    assert r.exit_code == 1
    assert "lib/shared.flow:2:" in r.output and "/../" not in r.output, r.output
