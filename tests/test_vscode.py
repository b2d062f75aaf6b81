"""The VS Code extension in editors/vscode: its manifest, its TextMate grammar against the
language's keywords, and the grammar's own tests (node, vscode-textmate + vscode-oniguruma),
which run when `npm ci` has installed them (.ci/run does)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest
from conftest import ROOT

EXT = ROOT / "editors" / "vscode"


def test_manifest():
    pkg = json.loads((EXT / "package.json").read_text(encoding="utf-8"))
    (lang,) = pkg["contributes"]["languages"]
    assert lang["id"] == "flow" and lang["extensions"] == [".flow"]
    assert (EXT / lang["configuration"]).is_file()
    (grammar,) = pkg["contributes"]["grammars"]
    assert grammar["scopeName"] == "source.flow" and (EXT / grammar["path"]).is_file()
    assert pkg["contributes"]["configuration"]["properties"]["flowc.server.command"]["default"] == ["flowc", "lsp"]
    assert (EXT / pkg["main"]).is_file()
    assert (EXT / "package-lock.json").is_file()  # `npm ci` in CI
    conf = json.loads((EXT / "language-configuration.json").read_text(encoding="utf-8"))
    assert conf["comments"]["lineComment"] == "//"


def test_grammar_knows_every_keyword():
    """Every reserved word of the language (docs/language.md §14) is highlighted as a keyword."""
    from flowc.fmt import _lark

    grammar = json.loads((EXT / "syntaxes" / "flow.tmLanguage.json").read_text(encoding="utf-8"))
    keyword_res = [re.compile(p["match"]) for p in grammar["repository"]["keyword"]["patterns"]]
    declaration_res = [re.compile(p["match"]) for p in grammar["repository"]["declaration"]["patterns"]]
    words = {t.pattern.value for t in _lark().terminals
             if t.pattern.type == "str" and re.fullmatch(r"[a-z_]+", t.pattern.value)}
    assert len(words) > 40
    missing = sorted(w for w in words if not any(r.fullmatch(w) for r in keyword_res)
                     and not any(r.match(f"{w} name") for r in declaration_res))
    assert not missing


def test_grammar_with_vscode_textmate():
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    if not (EXT / "node_modules" / "vscode-textmate").is_dir():
        pytest.skip("editors/vscode/node_modules is missing: run `npm ci` there (.ci/run does)")
    r = subprocess.run([node, "--test", "test/"], cwd=EXT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    assert re.search(r"^# fail 0$", r.stdout, re.M)
