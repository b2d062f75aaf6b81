"""`flowc lsp` over the real protocol: the server runs as a subprocess (`python -m flowc lsp`)
and pytest-lsp drives it with VS Code's client capabilities, feature by feature."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest

pytest.importorskip("pygls")
pytest_lsp = pytest.importorskip("pytest_lsp")

from conftest import EXAMPLES, ROOT  # noqa: E402
from lsprotocol import types as T  # noqa: E402
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities  # noqa: E402

pytestmark = pytest.mark.asyncio(loop_scope="module")

LIB = """\
// shared phones and hours
phone boss 13900001111
group sales {
  strategy round_robin
  ring 25s
  13800000001
  boss
}
schedule office_hours {
  mon-fri 09:00-18:00
}
"""

FLOW = """\
import "lib.flow"

flow shop {
  number 400-600-1234

  step start {
    play "shop/welcome"
    branch time {
      office_hours -> main
      else -> closed
    }
  }

  step main {
    menu {
      prompt "shop/menu"
      1 -> dial sales { failed -> closed }
      2 -> dial boss
    }
  }

  step closed {
    play "shop/closed"
    voicemail 8000
  }
}
"""


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("ws")
    (root / "lib.flow").write_text(LIB, encoding="utf-8")
    (root / "shop.flow").write_text(FLOW, encoding="utf-8")
    (root / "other.flow").write_text(FLOW.replace("shop", "other").replace("400-600-1234", "400-800-1234"),
                                     encoding="utf-8")
    return root


@pytest_lsp.fixture(scope="module", config=ClientServerConfig(server_command=[sys.executable, "-m", "flowc", "lsp"]))
async def client(lsp_client: LanguageClient, workspace: Path):
    await lsp_client.initialize_session(T.InitializeParams(
        capabilities=client_capabilities("visual-studio-code"), root_uri=workspace.as_uri(),
        workspace_folders=[T.WorkspaceFolder(uri=workspace.as_uri(), name="ws")]))
    yield
    await lsp_client.shutdown_session()


async def open_doc(client: LanguageClient, path: Path, text: str | None = None, version: int = 1) -> str:
    uri = path.resolve().as_uri()
    client.diagnostics.pop(uri, None)
    client.text_document_did_open(T.DidOpenTextDocumentParams(T.TextDocumentItem(
        uri=uri, language_id="flow", version=version, text=path.read_text(encoding="utf-8") if text is None else text)))
    await wait_diagnostics(client, uri)
    return uri


async def wait_diagnostics(client: LanguageClient, uri: str, timeout: float = 20.0) -> list[T.Diagnostic]:
    async def loop():
        while uri not in client.diagnostics:
            await client.wait_for_notification("textDocument/publishDiagnostics")
    await asyncio.wait_for(loop(), timeout)
    await asyncio.sleep(0.05)  # the diagnostics of imported files follow in the same burst
    return client.diagnostics[uri]


def close_doc(client: LanguageClient, uri: str) -> None:
    client.text_document_did_close(T.DidCloseTextDocumentParams(T.TextDocumentIdentifier(uri)))


def where(text: str, needle: str, nth: int = 0, offset: int = 0) -> T.Position:
    """Position of the `nth` occurrence of `needle` (plus `offset` characters)."""
    i = -1
    for _ in range(nth + 1):
        i = text.index(needle, i + 1)
    i += offset
    line = text.count("\n", 0, i)
    return T.Position(line, i - (text.rfind("\n", 0, i) + 1))


def doc(uri: str) -> T.TextDocumentIdentifier:
    return T.TextDocumentIdentifier(uri)


# ---------------------------------------------------------------- diagnostics


CHECKED = sorted([*EXAMPLES.rglob("*.flow"), *(ROOT / "tests" / "invalid").glob("*.flow")])


def check_json(paths: list[Path]) -> dict[str, list[dict]]:
    """`flowc check --format json PATHS` (in this process: the same command, faster)."""
    from typer.testing import CliRunner

    from flowc.cli import app

    out = CliRunner().invoke(app, ["check", "--format", "json", *map(str, paths)]).stdout
    by_file: dict[str, list[dict]] = {}
    for r in json.loads(out):
        by_file.setdefault(str(Path(r["filename"]).resolve()), []).append(r)
    return by_file


async def test_diagnostics_equal_flowc_check_json(client: LanguageClient):
    """For every example and every invalid flow, what the server publishes is what
    `flowc check --format json` prints for that file: codes, messages, spans, help."""
    mismatches = []
    compared = 0
    for path in CHECKED:
        if path.name.startswith("E002"):  # not UTF-8: an editor cannot open it as text
            continue
        expected = check_json([path])
        uri = await open_doc(client, path)
        got: dict[str, list] = {}
        for u, diags in client.diagnostics.items():
            p = str(Path(u.removeprefix("file://")).resolve())
            if p in expected or u == uri:
                got[p] = [{"code": d.code, "severity": "error" if d.severity == T.DiagnosticSeverity.Error else "warning",
                           "message": d.data["message"], "help": d.data["help"],
                           "location": {"row": d.range.start.line + 1, "column": d.range.start.character + 1},
                           "end_location": {"row": d.range.end.line + 1, "column": d.range.end.character + 1}}
                          for d in diags]
        want = {p: [{k: r[k] for k in ("code", "severity", "message", "help", "location", "end_location")}
                    for r in rs] for p, rs in expected.items()}
        compared += sum(map(len, want.values()))
        for p in set(want) | set(got):
            a = sorted(want.get(p, []), key=json.dumps)
            b = sorted(got.get(p, []), key=json.dumps)
            if a != b and not (p not in want and not b):
                mismatches.append((path.name, p, a, b))
        close_doc(client, uri)
        await asyncio.sleep(0.01)
    assert not mismatches, json.dumps(mismatches[:2], ensure_ascii=False)
    assert compared >= 50


async def test_diagnostics_follow_edits_and_quick_fix(client: LanguageClient, workspace: Path):
    (workspace / "edit").mkdir()
    (workspace / "edit" / "lib.flow").write_text(LIB, encoding="utf-8")
    path = workspace / "edit" / "edit.flow"
    text = FLOW.replace("else -> closed", "else -> closd")
    path.write_text(text, encoding="utf-8")
    uri = await open_doc(client, path, text)
    diags = client.diagnostics[uri]
    assert [d.code for d in diags] == ["E201"]
    d = diags[0]
    assert d.severity == T.DiagnosticSeverity.Error and "did you mean `closed`" in d.message
    actions = await client.text_document_code_action_async(T.CodeActionParams(
        text_document=doc(uri), range=d.range, context=T.CodeActionContext(diagnostics=[d])))
    assert actions[0].title == "Replace with `closed`" and actions[0].is_preferred
    edit = actions[0].edit.changes[uri][0]
    assert edit.new_text == "closed" and edit.range == d.range

    # Several quick edits: diagnostics come once the typing pauses, for the last version.
    client.diagnostics.pop(uri)
    for v, change in enumerate(["clos", "close", "closed"], start=2):
        client.text_document_did_change(T.DidChangeTextDocumentParams(
            T.VersionedTextDocumentIdentifier(uri=uri, version=v),
            [T.TextDocumentContentChangeWholeDocument(text=FLOW.replace("else -> closed", f"else -> {change}"))]))
    assert list(await wait_diagnostics(client, uri)) == []
    # A warning is a warning.
    client.diagnostics.pop(uri)
    client.text_document_did_change(T.DidChangeTextDocumentParams(
        T.VersionedTextDocumentIdentifier(uri=uri, version=9),
        [T.TextDocumentContentChangeWholeDocument(text=FLOW + "\nlist unused_list {\n  138*\n}\n")]))
    diags = await wait_diagnostics(client, uri)
    assert [(d.code, d.severity) for d in diags] == [("W406", T.DiagnosticSeverity.Warning)]
    close_doc(client, uri)


async def test_errors_in_imported_files(client: LanguageClient, workspace: Path):
    (workspace / "badlib").mkdir()
    lib = workspace / "badlib" / "lib.flow"
    lib.write_text("phone broken 12345\n", encoding="utf-8")
    path = workspace / "badlib" / "main.flow"
    path.write_text('import "lib.flow"\nflow f {\n  number 4008001234\n  step a {\n    hangup\n  }\n}\n', encoding="utf-8")
    uri = await open_doc(client, path)
    lib_diags = client.diagnostics.get(lib.resolve().as_uri())
    assert lib_diags and lib_diags[0].code == "E210" and lib_diags[0].range.start.line == 0
    close_doc(client, uri)


# ---------------------------------------------------------------- hover


async def hover(client, uri, pos) -> str:
    h = await client.text_document_hover_async(T.HoverParams(doc(uri), pos))
    assert h is not None
    return h.contents.value


async def test_hover(client: LanguageClient, workspace: Path):
    shop = workspace / "shop.flow"
    uri = await open_doc(client, shop)
    text = FLOW
    assert "China Unicom" in await hover(client, uri, where(text, "400-600-1234", offset=2))
    boss = await hover(client, uri, where(text, "dial boss", offset=6))
    assert "139 0000 1111" in boss and "mobile" in boss and "China Mobile" in boss and "lib.flow" in boss
    sales = await hover(client, uri, where(text, "dial sales", offset=6))
    assert "round_robin" in sales and "25s" in sales and "2 phones" in sales
    sched = await hover(client, uri, where(text, "office_hours"))
    assert "Monday, Tuesday, Wednesday, Thursday, Friday: 09:00–18:00" in sched
    assert ("opens" in sched) or ("closes" in sched)
    step = await hover(client, uri, where(text, "step closed", offset=6))
    assert "reached from:" in step and "`start`: else ->" in step and "`main`: failed ->" in step
    first = await hover(client, uri, where(text, "step start", offset=6))
    assert "every call starts here" in first
    lib_uri = await open_doc(client, workspace / "lib.flow")
    phone = await hover(client, lib_uri, where(LIB, "13900001111", offset=1))
    assert "canonical number: `13900001111`" in phone and "China Mobile" in phone
    close_doc(client, lib_uri)

    region_flow = workspace / "region.flow"
    region_text = ('flow r {\n  number 4008001234\n\n  step a {\n    branch region {\n      广东 -> b\n'
                   '      shenzhen -> b\n      else -> b\n    }\n  }\n\n  step b {\n    hangup\n  }\n}\n')
    region_flow.write_text(region_text, encoding="utf-8")
    ruri = await open_doc(client, region_flow)
    gd = await hover(client, ruri, where(region_text, "广东"))
    assert "广东" in gd and "Guangdong" in gd and "深圳" in gd and "mobile prefixes" in gd and "0755" in gd
    sz = await hover(client, ruri, where(region_text, "shenzhen"))
    assert "深圳" in sz and "city" in sz
    close_doc(client, ruri)

    ext_text = ('phone li 13811110002\nflow s {\n  number 4008001234\n\n  step start {\n    extension {\n'
                '      101 li\n      102 "021-5080 0103"\n      000 -> start\n    }\n  }\n}\n')
    ext_flow = workspace / "ext.flow"
    ext_flow.write_text(ext_text, encoding="utf-8")
    euri = await open_doc(client, ext_flow)
    assert "rings `li`" in await hover(client, euri, where(ext_text, "101 li"))
    assert "goes to step `start`" in await hover(client, euri, where(ext_text, "000 ->"))
    landline = await hover(client, euri, where(ext_text, "021-5080", offset=1))
    assert "landline" in landline and "021" in landline and "上海" in landline
    close_doc(client, euri)
    close_doc(client, uri)


# ---------------------------------------------------------------- navigation and rename


async def test_definition_references_rename_across_files(client: LanguageClient, workspace: Path):
    shop = workspace / "shop.flow"
    uri = await open_doc(client, shop)
    lib_uri = (workspace / "lib.flow").resolve().as_uri()
    loc = await client.text_document_definition_async(T.DefinitionParams(doc(uri), where(FLOW, "dial sales", offset=6)))
    assert loc.uri == lib_uri and loc.range.start == where(LIB, "group sales", offset=6)
    step = await client.text_document_definition_async(T.DefinitionParams(doc(uri), where(FLOW, "-> closed", offset=3)))
    assert step.uri == uri and step.range.start == where(FLOW, "step closed", offset=5)
    imp = await client.text_document_definition_async(T.DefinitionParams(doc(uri), where(FLOW, "lib.flow")))
    assert imp.uri == lib_uri

    refs = await client.text_document_references_async(T.ReferenceParams(
        text_document=doc(uri), position=where(FLOW, "dial boss", offset=6),
        context=T.ReferenceContext(include_declaration=True)))
    files = sorted((Path(r.uri).name, r.range.start.line) for r in refs)
    # the declaration, the group member in lib.flow, and `dial boss` in shop.flow and other.flow
    assert files == [("lib.flow", 1), ("lib.flow", 6), ("other.flow", 17), ("shop.flow", 17)]

    edit = await client.text_document_rename_async(T.RenameParams(text_document=doc(uri), position=where(FLOW, "dial sales", offset=6),
                                                                  new_name="销售组"))
    changed = {Path(u).name: [e.new_text for e in es] for u, es in edit.changes.items()}
    assert changed == {"lib.flow": ["销售组"], "shop.flow": ["销售组"], "other.flow": ["销售组"]}
    edit = await client.text_document_rename_async(T.RenameParams(text_document=doc(uri), position=where(FLOW, "step main", offset=5),
                                                                  new_name="main_menu"))
    assert {Path(u).name: len(es) for u, es in edit.changes.items()} == {"shop.flow": 2}  # steps are per flow
    edit = await client.text_document_rename_async(T.RenameParams(text_document=doc(uri),
                                                                  position=where(FLOW, "office_hours", offset=2),
                                                                  new_name="opening_hours"))
    assert sorted(Path(u).name for u in edit.changes) == ["lib.flow", "other.flow", "shop.flow"]
    lib_edit = edit.changes[lib_uri][0]
    assert lib_edit.range.start == where(LIB, "schedule office_hours", offset=9)
    with pytest.raises(Exception):
        await client.text_document_rename_async(T.RenameParams(text_document=doc(uri),
                                                               position=where(FLOW, "step main", offset=5),
                                                               new_name="menu"))  # a keyword
    prep = await client.text_document_prepare_rename_async(T.PrepareRenameParams(doc(uri), where(FLOW, "step main", offset=6)))
    assert prep.placeholder == "main"
    close_doc(client, uri)


# ---------------------------------------------------------------- completion


async def complete(client, uri, text: str, pos: T.Position) -> list[str]:
    client.text_document_did_change(T.DidChangeTextDocumentParams(
        T.VersionedTextDocumentIdentifier(uri=uri, version=len(text)),
        [T.TextDocumentContentChangeWholeDocument(text=text)]))
    res = await client.text_document_completion_async(T.CompletionParams(doc(uri), pos))
    return [i.label for i in res.items]


async def test_completion(client: LanguageClient, workspace: Path):
    (workspace / "complete").mkdir()
    (workspace / "complete" / "lib.flow").write_text(LIB, encoding="utf-8")
    path = workspace / "complete" / "complete.flow"
    path.write_text(FLOW, encoding="utf-8")
    uri = await open_doc(client, path)
    # keywords valid in a menu
    text = FLOW.replace('      2 -> dial boss\n', '      2 -> dial boss\n      \n')
    labels = await complete(client, uri, text, where(text, "      \n", offset=6))
    assert {"prompt", "timeout", "retries", "invalid", "no_input", "exhausted"} <= set(labels)
    assert "flow" not in labels and "phone" not in labels
    # step names after goto, and terminals
    text = FLOW.replace("    voicemail 8000\n", "    goto \n")
    labels = await complete(client, uri, text, where(text, "goto \n", offset=5))
    assert {"start", "main", "closed"} <= set(labels) and "sales" not in labels
    # groups and phones after dial, from the imported library
    text = FLOW.replace("2 -> dial boss", "2 -> dial ")
    labels = await complete(client, uri, text, where(text, "2 -> dial ", offset=10))
    assert {"sales", "boss"} <= set(labels)
    # schedules in a time branch
    text = FLOW.replace("office_hours -> main", "off")
    labels = await complete(client, uri, text, where(text, "off", offset=3))
    assert "office_hours" in labels
    # region names in Chinese and pinyin
    text = FLOW.replace("branch time", "branch region").replace("office_hours -> main", "")
    labels = await complete(client, uri, text, where(text, "branch region {\n", offset=16))
    assert {"广东", "guangdong", "深圳", "北京"} <= set(labels)
    # prompts used in the project
    text = FLOW.replace('play "shop/closed"', "play ")
    labels = await complete(client, uri, text, where(text, "play \n", offset=5))
    assert "shop/welcome" in labels and "shop/menu" in labels
    # top level
    labels = await complete(client, uri, "", T.Position(0, 0))
    assert {"flow", "phone", "group", "schedule", "list", "survey", "import"} <= set(labels)
    close_doc(client, uri)


# ---------------------------------------------------------------- outline, folding, formatting, tokens, hints


async def test_symbols_folding_formatting_tokens_hints(client: LanguageClient, workspace: Path):
    path = workspace / "misc.flow"
    ugly = "// a\n// b\nflow f {number 4008001234\nstep a {dial 13800000001}\n step b{ menu { 1 -> a } } }\n"
    path.write_text(ugly, encoding="utf-8")
    uri = await open_doc(client, path)
    syms = await client.text_document_document_symbol_async(T.DocumentSymbolParams(doc(uri)))
    assert [(s.name, [c.name for c in s.children]) for s in syms] == [("f", ["a", "b"])]
    assert syms[0].kind == T.SymbolKind.Module and syms[0].children[0].kind == T.SymbolKind.Function

    folds = await client.text_document_folding_range_async(T.FoldingRangeParams(doc(uri)))
    assert (0, 1, T.FoldingRangeKind.Comment) in [(f.start_line, f.end_line, f.kind) for f in folds]
    assert (2, 4) in [(f.start_line, f.end_line) for f in folds]

    edits = await client.text_document_formatting_async(T.DocumentFormattingParams(
        text_document=doc(uri), options=T.FormattingOptions(tab_size=2, insert_spaces=True)))
    from flowc.fmt import format_text

    assert len(edits) == 1 and edits[0].new_text == format_text(ugly)

    tokens = await client.text_document_semantic_tokens_full_async(T.SemanticTokensParams(doc(uri)))
    data = tokens.data
    assert len(data) % 5 == 0 and len(data) // 5 == 16  # 2 comments + 14 words and `->`
    types = [data[i + 3] for i in range(0, len(data), 5)]
    from flowc.lsp.server import SEMANTIC_TYPES

    assert types[0] == SEMANTIC_TYPES.index("comment") and types[2] == SEMANTIC_TYPES.index("keyword")

    hints = await client.text_document_inlay_hint_async(T.InlayHintParams(
        text_document=doc(uri), range=T.Range(T.Position(0, 0), T.Position(10, 0))))
    labels = [(h.position.line, h.label) for h in hints]
    assert (3, "ring 20s") in labels and (4, "timeout 5s, retries 2") in labels
    close_doc(client, uri)

