"""Imports stay inside the project (issue 10, item 8): `../../../../etc/passwd`, absolute
paths and symbolic links out of the project are refused (E004) before the file is read, only
`.flow` files are imported (E003), and no diagnostic shows a line of a file that is not one
of the project's flows."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from flowc.cli import app
from flowc.pipeline import Workspace, check_file

runner = CliRunner()
FLOW = 'flow f {\n  number 400-600-1234\n  step s { dial t }\n}\n'
LIB = "group t { 13800000001 }\n"
SECRET = "root:x:0:0:secret-password-hash:/root:/bin/bash\nAWS_SECRET=abc123\n"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """tmp/proj (a flowc.toml marks it) with flows/ and lib/; tmp/outside beside it."""
    proj = tmp_path / "proj"
    (proj / "flows").mkdir(parents=True)
    (proj / "lib").mkdir()
    (proj / "flowc.toml").write_text("", encoding="utf-8")
    (proj / "lib" / "t.flow").write_text(LIB, encoding="utf-8")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "t.flow").write_text(LIB, encoding="utf-8")
    (tmp_path / "outside" / "passwd").write_text(SECRET, encoding="utf-8")
    return proj


def check(project: Path, import_line: str) -> tuple[list[str], str]:
    f = project / "flows" / "f.flow"
    f.write_text(import_line + "\n" + FLOW, encoding="utf-8")
    result = check_file(f)
    out = runner.invoke(app, ["check", str(f)]).output
    return [d.code for d in result.diagnostics], out


def test_inside_the_project_is_fine(project: Path) -> None:
    codes, _ = check(project, 'import "../lib/t.flow"')
    assert codes == []


@pytest.mark.parametrize("path", ["../../outside/t.flow", "../../outside/passwd", "../../../../../../../etc/passwd",
                                  "/etc/passwd", "{outside}/t.flow"])
def test_outside_the_project_is_e004_and_never_read(project: Path, path: str) -> None:
    path = path.format(outside=project.parent / "outside")
    codes, out = check(project, f'import "{path}"')
    assert codes[0] == "E004", codes
    assert "secret" not in out and "root:x" not in out and "AWS" not in out, out


def test_a_missing_file_outside_is_not_told_apart(project: Path) -> None:
    codes, out = check(project, 'import "../../outside/nothing_here.flow"')
    assert codes[0] == "E004" and "no such file" not in out


def test_symbolic_links_count_where_they_point(project: Path) -> None:
    (project / "lib" / "escape.flow").symlink_to(project.parent / "outside" / "t.flow")
    (project / "lib" / "fine.flow").symlink_to(project / "lib" / "t.flow")
    assert check(project, 'import "../lib/escape.flow"')[0][0] == "E004"
    assert check(project, 'import "../lib/fine.flow"')[0] == []


def test_only_flow_files_are_imported_and_never_shown(project: Path) -> None:
    (project / ".env").write_text(SECRET, encoding="utf-8")
    (project / "lib" / "secret.flow").symlink_to(project / ".env")
    for path in ("../.env", "../lib/secret.flow"):
        codes, out = check(project, f'import "{path}"')
        assert codes[0] == "E003", codes
        assert "secret" not in out.replace("secret.flow", "") and "AWS" not in out, out


def test_the_root_is_the_flow_folder_without_a_marker(tmp_path: Path) -> None:
    """No flowc.toml, [tool.flowc] or .git above: only the flow's own folder (and below)."""
    (tmp_path / "flows" / "sub").mkdir(parents=True)
    (tmp_path / "lib.flow").write_text(LIB, encoding="utf-8")
    (tmp_path / "flows" / "sub" / "t.flow").write_text(LIB, encoding="utf-8")
    f = tmp_path / "flows" / "f.flow"
    f.write_text('import "sub/t.flow"\n' + FLOW, encoding="utf-8")
    assert check_file(f).diagnostics == []
    f.write_text('import "../lib.flow"\n' + FLOW, encoding="utf-8")
    assert [d.code for d in check_file(f).diagnostics][0] == "E004"
    # a Workspace can be given the root explicitly
    assert Workspace(root=tmp_path).assemble(f).diagnostics == []


def test_pyproject_with_tool_flowc_marks_the_root(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.flowc]\nyears = [2026]\n", encoding="utf-8")
    (tmp_path / "flows").mkdir()
    (tmp_path / "lib.flow").write_text(LIB, encoding="utf-8")
    f = tmp_path / "flows" / "f.flow"
    f.write_text('import "../lib.flow"\n' + FLOW, encoding="utf-8")
    assert check_file(f).diagnostics == []


def test_library_imports_are_held_to_the_same_root(project: Path) -> None:
    """A library inside the project that imports out of it is refused too."""
    (project / "lib" / "t.flow").write_text('import "../../outside/passwd"\n' + LIB, encoding="utf-8")
    codes, out = check(project, 'import "../lib/t.flow"')
    assert "E004" in codes and "secret" not in out


def test_cwd_does_not_matter(project: Path, monkeypatch) -> None:
    monkeypatch.chdir(project.parent)
    assert check(project, 'import "../lib/t.flow"')[0] == []
    assert check(project, 'import "../../outside/t.flow"')[0][0] == "E004"
