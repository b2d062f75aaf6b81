"""The language server: pygls handlers that answer from the pipeline (diagnostics), the
formatter (formatting) and `analysis` (names, hovers, completion). Positions sent to the
client are in UTF-16 code units, as LSP requires.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from urllib.parse import unquote, urlparse

from lark import Token
from lark.exceptions import UnexpectedInput
from lsprotocol import types as T
from pygls.lsp.server import LanguageServer

from .. import __version__
from .analysis import FileIndex, Occurrence, hotline_words, index_text, phone_words, region_words, schedule_words

# A change waits this long for the next one before the check starts; changes that arrive
# while a check runs are coalesced into the next check (only the newest version is published).
DEBOUNCE_SECONDS = 0.015
PROMPT_KEYWORDS = {"play", "prompt", "ringback", "music", "announce", "greeting", "thanks", "invalid", "no_input"}
KIND_WORDS = {"phone": "phone", "group": "group", "schedule": "schedule", "list": "list", "survey": "survey",
              "flow": "flow", "step": "step"}
SEMANTIC_TYPES = ["keyword", "function", "variable", "class", "enum", "type", "event", "namespace", "string",
                  "number", "comment", "enumMember", "parameter", "operator"]
SEMANTIC_MODIFIERS = ["declaration", "defaultLibrary"]
_KIND_TO_SEMANTIC = {"step": "function", "phone": "variable", "group": "class", "phone|group": "class",
                     "schedule": "enum", "list": "type", "survey": "event", "flow": "namespace",
                     "region": "enumMember"}
_SYMBOL_KINDS = {"phone": T.SymbolKind.Variable, "group": T.SymbolKind.Class, "schedule": T.SymbolKind.Enum,
                 "list": T.SymbolKind.Array, "survey": T.SymbolKind.Event, "flow": T.SymbolKind.Module,
                 "step": T.SymbolKind.Function}


def uri_to_path(uri: str) -> str:
    return unquote(urlparse(uri).path)


def resolved_path(uri: str) -> str:
    """The file behind `uri`, resolved: the key of buffers, parses and indexes."""
    return str(Path(uri_to_path(uri)).resolve())


def path_to_uri(path: str) -> str:
    return Path(path).resolve().as_uri()


def utf16_col(line_text: str, col: int) -> int:
    """A code-point column as UTF-16 code units."""
    prefix = line_text[:col]
    return col + sum(1 for ch in prefix if ord(ch) > 0xFFFF)


def codepoint_col(line_text: str, units: int) -> int:
    col = 0
    n = 0
    for ch in line_text:
        if n >= units:
            break
        n += 2 if ord(ch) > 0xFFFF else 1
        col += 1
    return col


class FlowServer(LanguageServer):
    def __init__(self):
        super().__init__("flowc", __version__, text_document_sync_kind=T.TextDocumentSyncKind.Incremental)
        self.indexes: dict[str, FileIndex] = {}  # path -> the last index that parsed
        self.pending: dict[str, asyncio.Task] = {}
        self.published: dict[str, set[str]] = {}  # document uri -> uris it published diagnostics for
        self.depends: dict[str, set[str]] = {}  # document path -> files its check read
        self.modules: dict[tuple[str, str], object] = {}
        self.debounce = DEBOUNCE_SECONDS
        self._files_listed: tuple[float, set[str]] | None = None
        self.trees: dict[str, tuple[str, object]] = {}  # path -> (text, parse tree) of its last check

    # ------------------------------------------------------------ documents and indexes

    def open_text(self, path: str) -> str | None:
        uri = path_to_uri(path)
        doc = self.workspace.text_documents.get(uri)
        return doc.source if doc is not None else None

    def text(self, path: str) -> str | None:
        text = self.open_text(path)
        if text is not None:
            return text
        try:
            return Path(path).read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError):
            return None

    def index(self, path: str) -> FileIndex | None:
        path = str(Path(path).resolve())
        text = self.text(path)
        cached = self.indexes.get(path)
        if text is None:
            return cached
        if cached is not None and cached.text == text:
            return cached
        try:
            idx = index_text(path, text)
        except (UnexpectedInput, RecursionError):
            return cached  # keep answering from the last version that parsed
        self.indexes[path] = idx
        return idx

    def closure(self, path: str) -> list[str]:
        """The file and every file it imports, transitively."""
        out: list[str] = []
        todo = [str(Path(path).resolve())]
        while todo:
            p = todo.pop(0)
            if p in out:
                continue
            out.append(p)
            idx = self.index(p)
            if idx is None:
                continue
            for rel, _ in idx.imports:
                todo.append(str((Path(p).parent / rel).resolve()))
        return out

    def workspace_files(self) -> list[str]:
        """The open documents and the .flow files of the workspace folders (hidden folders,
        node_modules and virtual environments skipped; listed at most every 2 seconds)."""
        import os
        import time

        now = time.monotonic()
        if self._files_listed is None or now - self._files_listed[0] > 2.0:
            found: set[str] = set()
            roots = [uri_to_path(f.uri) for f in self.workspace.folders.values()]
            if not roots and self.workspace.root_path:
                roots = [self.workspace.root_path]
            for root in roots:
                for folder, dirs, names in os.walk(root):
                    dirs[:] = [d for d in dirs if not d.startswith(".") and d not in ("node_modules", "__pycache__")
                               and not os.path.exists(os.path.join(folder, d, "pyvenv.cfg"))]
                    found.update(str(Path(folder, n).resolve()) for n in names if n.endswith(".flow"))
                    if len(found) > 5000:
                        break
            self._files_listed = (now, found)
        files = set(self._files_listed[1]) | {resolved_path(u) for u in self.workspace.text_documents}
        return sorted(files)

    def module(self, path: str):
        from ..pipeline import parse_source
        from ..source import SourceFile

        text = self.text(path) or ""
        key = (path, text)
        if key not in self.modules:
            if len(self.modules) > 64:
                self.modules.clear()
            self.modules[key] = parse_source(SourceFile(path, text))[0]
        return self.modules[key]

    # ------------------------------------------------------------ names

    def definition_of(self, path: str, occ: Occurrence) -> tuple[str, Occurrence] | None:
        if occ.role == "def":
            return path, occ
        if occ.role != "ref":
            return None
        if occ.kind == "step":
            idx = self.index(path)
            for o in idx.occurrences if idx else []:
                if o.role == "def" and o.kind == "step" and o.name == occ.name and o.flow == occ.flow:
                    return path, o
            return None
        kinds = ["group", "phone"] if occ.kind == "phone|group" else [occ.kind]
        files = self.closure(path)
        for kind in kinds:
            for f in files:
                idx = self.index(f)
                if idx is None:
                    continue
                for o in idx.occurrences:
                    if o.role == "def" and o.kind == kind and o.name == occ.name:
                        return f, o
        return None

    def references(self, path: str, occ: Occurrence, include_declaration: bool = True) -> list[tuple[str, Occurrence]]:
        target = self.definition_of(path, occ)
        if target is None:
            return []
        def_path, d = target
        if d.kind == "step":
            files = [def_path]
        else:
            files = [f for f in self.workspace_files() if def_path in self.closure(f)]
            for f in self.closure(path):
                if f not in files:
                    files.append(f)
        out = []
        for f in files:
            idx = self.index(f)
            if idx is None:
                continue
            for o in idx.occurrences:
                if o.name != d.name or o.role not in ("def", "ref"):
                    continue
                if o.role == "def" and not include_declaration:
                    continue
                if o.role == "def" and (f != def_path or o.kind != d.kind or o.flow != d.flow):
                    continue
                if o.role == "ref":
                    r = self.definition_of(f, o)
                    if r is None or r[0] != def_path or r[1] is not d and (r[1].line, r[1].col) != (d.line, d.col):
                        continue
                out.append((f, o))
        return out

    # ------------------------------------------------------------ positions

    def lsp_range(self, path: str, line: int, col: int, end_line: int, end_col: int) -> T.Range:
        lines = (self.text(path) or "").split("\n")

        def at(i: int) -> str:
            return lines[i] if 0 <= i < len(lines) else ""

        return T.Range(T.Position(line, utf16_col(at(line), col)), T.Position(end_line, utf16_col(at(end_line), end_col)))

    def occ_range(self, path: str, o: Occurrence) -> T.Range:
        return self.lsp_range(path, o.line, o.col, o.end_line, o.end_col)

    def location(self, uri: str, pos: T.Position) -> tuple[str, FileIndex | None, int, int]:
        path = resolved_path(uri)
        idx = self.index(path)
        text = self.text(path) or ""
        lines = text.split("\n")
        line_text = lines[pos.line] if pos.line < len(lines) else ""
        return path, idx, pos.line, codepoint_col(line_text, pos.character)


server = FlowServer()


# ---------------------------------------------------------------- diagnostics


def _check(ls: FlowServer, path: str, text: str):
    from ..checks import CheckOptions
    from ..diagnostics import FlowcError, error
    from ..parser import parse
    from ..pipeline import Workspace, parse_source
    from ..source import SourceFile
    from ..transform import transform
    from .incremental import update

    class Buffers(Workspace):
        """Reads open editors' buffers instead of the files on disk, and parses the edited
        document incrementally when the edit lies inside one step (lsp/incremental.py)."""

        def load_text(self, display: str, text: str):
            source = SourceFile(display, text)
            self.sources[display] = source
            previous = ls.trees.pop(display, None)
            tree = update(previous[0], previous[1], text) if previous else None
            if tree is None:
                try:
                    tree = parse(source)
                except FlowcError as exc:
                    return None, exc.diagnostics, set()
            ls.trees[display] = (text, tree)
            try:
                return transform(source, tree)
            except RecursionError:
                return None, [error("E105", "the file is nested too deeply to process", source.span(1, 1))], set()

        def read(self, p: Path, display: str):
            buffered = ls.open_text(str(p.resolve()))
            if buffered is None:
                return super().read(p, display)
            key = p.resolve()
            if key not in self.modules:
                source = SourceFile(display, buffered)
                self.sources[display] = source
                self.modules[key] = parse_source(source)
            return self.modules[key]

    return Buffers().assemble(path, text=text, options=CheckOptions())


def _as_check_names(text: str | None, file: str | None) -> str | None:
    """The server names files by absolute path (its URIs); a message or hint that names a
    file says it as `flowc check` does: relative to the project root."""
    if not text or not file:
        return text
    from ..project import project_root

    root = str(project_root(Path(file).parent))
    return text.replace(root.rstrip("/") + "/", "")


def to_lsp_diagnostic(ls: FlowServer, d) -> T.Diagnostic:
    s = d.span
    if s is None:
        rng = T.Range(T.Position(0, 0), T.Position(0, 0))
    else:
        rng = ls.lsp_range(s.file, s.line - 1, s.col - 1, s.end_line - 1, s.end_col - 1)
    import dataclasses

    file = s.file if s is not None else d.file
    d = dataclasses.replace(d, message=_as_check_names(d.message, file), help=_as_check_names(d.help, file))
    message = d.message + (f"\nhelp: {d.help}" if d.help else "")
    return T.Diagnostic(
        range=rng, message=message, code=d.code, source="flowc",
        severity=T.DiagnosticSeverity.Error if d.severity.value == "error" else T.DiagnosticSeverity.Warning,
        data={"name": d.name, "help": d.help, "label": d.label, "message": d.message},
        tags=[T.DiagnosticTag.Unnecessary] if d.code in ("W401", "W406") else None,
    )


def publish(ls: FlowServer, uri: str, version: int | None) -> None:
    path = resolved_path(uri)
    doc = ls.workspace.text_documents.get(uri)
    if doc is None:
        return
    result = _check(ls, path, doc.source)
    if doc.version != version:
        return  # a newer edit is on its way
    ls.depends[path] = {str(Path(f).resolve()) for f in result.sources}
    by_uri: dict[str, list[T.Diagnostic]] = {uri: []}
    for d in dict.fromkeys(sorted(result.diagnostics, key=lambda d: d.sort_key())):
        target = path_to_uri(d.filename) if d.filename else uri
        by_uri.setdefault(target, []).append(to_lsp_diagnostic(ls, d))
    for stale in ls.published.get(uri, set()) - set(by_uri):
        ls.text_document_publish_diagnostics(T.PublishDiagnosticsParams(uri=stale, diagnostics=[]))
    ls.published[uri] = set(by_uri)
    for target, diags in by_uri.items():
        ls.text_document_publish_diagnostics(T.PublishDiagnosticsParams(
            uri=target, diagnostics=diags, version=version if target == uri else None))


def schedule_check(ls: FlowServer, uri: str, delay: float) -> None:
    old = ls.pending.pop(uri, None)
    if old is not None:
        old.cancel()
    doc = ls.workspace.text_documents.get(uri)
    version = doc.version if doc else None

    async def run():
        if delay:
            await asyncio.sleep(delay)
        publish(ls, uri, version)

    ls.pending[uri] = asyncio.ensure_future(run())


def recheck_dependents(ls: FlowServer, uri: str) -> None:
    path = resolved_path(uri)
    for other in list(ls.workspace.text_documents):
        if other != uri and path in ls.depends.get(resolved_path(other), ()):
            schedule_check(ls, other, ls.debounce)


@server.feature(T.TEXT_DOCUMENT_DID_OPEN)
async def did_open(ls: FlowServer, params: T.DidOpenTextDocumentParams):
    schedule_check(ls, params.text_document.uri, 0)


@server.feature(T.TEXT_DOCUMENT_DID_CHANGE)
async def did_change(ls: FlowServer, params: T.DidChangeTextDocumentParams):
    schedule_check(ls, params.text_document.uri, ls.debounce)
    recheck_dependents(ls, params.text_document.uri)


@server.feature(T.TEXT_DOCUMENT_DID_SAVE)
async def did_save(ls: FlowServer, params: T.DidSaveTextDocumentParams):
    schedule_check(ls, params.text_document.uri, 0)


@server.feature(T.WORKSPACE_DID_CHANGE_WATCHED_FILES)
async def did_change_watched_files(ls: FlowServer, params: T.DidChangeWatchedFilesParams):
    ls._files_listed = None  # a .flow file appeared, went or changed on disk
    for uri in list(ls.workspace.text_documents):
        schedule_check(ls, uri, ls.debounce)


@server.feature(T.TEXT_DOCUMENT_DID_CLOSE)
async def did_close(ls: FlowServer, params: T.DidCloseTextDocumentParams):
    uri = params.text_document.uri
    task = ls.pending.pop(uri, None)
    if task:
        task.cancel()
    for target in ls.published.pop(uri, set()):
        ls.text_document_publish_diagnostics(T.PublishDiagnosticsParams(uri=target, diagnostics=[]))


# ---------------------------------------------------------------- quick fixes

_SUGGESTION = re.compile(r"`([^`]+)`")


@server.feature(T.TEXT_DOCUMENT_CODE_ACTION, T.CodeActionOptions(code_action_kinds=[T.CodeActionKind.QuickFix]))
def code_action(ls: FlowServer, params: T.CodeActionParams):
    actions = []
    for d in params.context.diagnostics:
        help_ = (d.data or {}).get("help") if isinstance(d.data, dict) else None
        if not help_ or "did you mean" not in help_:
            continue
        for i, word in enumerate(_SUGGESTION.findall(help_.split("did you mean", 1)[1])):
            actions.append(T.CodeAction(
                title=f"Replace with `{word}`", kind=T.CodeActionKind.QuickFix, diagnostics=[d],
                is_preferred=i == 0,
                edit=T.WorkspaceEdit(changes={params.text_document.uri: [T.TextEdit(range=d.range, new_text=word)]})))
    return actions


# ---------------------------------------------------------------- hover


@server.feature(T.TEXT_DOCUMENT_HOVER)
def hover(ls: FlowServer, params: T.HoverParams):
    path, idx, line, col = ls.location(params.text_document.uri, params.position)
    if idx is None:
        return None
    occ = idx.at(line, col)
    if occ is None:
        return None
    text = hover_text(ls, path, idx, occ)
    if not text:
        return None
    return T.Hover(contents=T.MarkupContent(kind=T.MarkupKind.Markdown, value=text), range=ls.occ_range(path, occ))


def hover_text(ls: FlowServer, path: str, idx: FileIndex, occ: Occurrence) -> str | None:
    if occ.kind == "number":
        return phone_words(occ.name)
    if occ.kind == "hotline":
        return hotline_words(occ.name)
    if occ.kind == "extension":
        return f"extension **{occ.name}** (keyed by the caller in step `{occ.step}`): {occ.context}"
    if occ.kind == "region":
        return region_words(occ.name)
    if occ.kind == "prompt":
        uses = sum(1 for f in ls.workspace_files() for o in (ls.index(f).occurrences if ls.index(f) else [])
                   if o.kind == "prompt" and o.name == occ.name)
        return f"prompt `{occ.name}`: used {uses} time{'s' if uses != 1 else ''} in the project"
    if occ.kind == "import":
        target = (Path(path).parent / occ.name).resolve()
        return f"imports `{target}`" + ("" if target.is_file() else " (**no such file**)")
    target = ls.definition_of(path, occ)
    if target is None:
        return f"`{occ.name}`: not declared" if occ.role == "ref" else None
    def_path, d = target
    where = "" if def_path == path else f"  \n*from `{Path(def_path).name}`*"
    didx = ls.index(def_path)
    if d.kind == "step":
        return step_hover(idx, d) + where
    tree = didx.decl_tree(d.kind, d.name) if didx else None
    if d.kind == "phone" and tree is not None:
        num = tree.children[2]
        body = str(num)[1:-1] if num.type == "STRING" else str(num)
        return f"phone **{d.name}**  \n" + phone_words(body) + where
    if d.kind == "group":
        g = next((g for g in ls.module(def_path).groups if g.name == d.name), None) if ls.module(def_path) else None
        if g is None:
            return f"group **{d.name}**" + where
        members = ", ".join((m.phone.name or m.phone.number) + (f" (weight {m.weight})" if m.weight else "")
                            + (f" (ring {m.ring:g}s)" if m.ring else "") for m in g.members)
        return (f"group **{d.name}**: {g.strategy.value}, each phone rings {g.ring:g}s  \n"
                f"{len(g.members)} phone{'s' if len(g.members) != 1 else ''}: {members}" + where)
    if d.kind == "schedule":
        sc = next((s for s in ls.module(def_path).schedules if s.name == d.name), None) if ls.module(def_path) else None
        if sc is None:
            return f"schedule **{d.name}**" + where
        zone = "Asia/Shanghai"
        m = ls.module(path)
        if m is not None and m.flows:
            zone = m.flows[0].timezone
        try:
            return schedule_words(sc, zone) + where
        except Exception:  # an invalid zone or date is reported by the checker  # noqa: BLE001
            return f"schedule **{d.name}**" + where
    if d.kind == "list":
        lst = next((x for x in ls.module(def_path).lists if x.name == d.name), None) if ls.module(def_path) else None
        if lst is None:
            return f"list **{d.name}**" + where
        shown = ", ".join(e.digits + ("*" if e.prefix and not e.digits.endswith("*") else "") for e in lst.entries[:10])
        return f"caller list **{d.name}**: {len(lst.entries)} entr{'y' if len(lst.entries) == 1 else 'ies'}  \n{shown}" + where
    if d.kind == "survey":
        s = next((x for x in ls.module(def_path).surveys if x.name == d.name), None) if ls.module(def_path) else None
        if s is None:
            return f"survey **{d.name}**" + where
        return (f"survey **{d.name}**: prompt `{s.prompt}`, keys {', '.join(s.keys)}, timeout {s.timeout:g}s, "
                f"retries {s.retries}" + where)
    if d.kind == "flow":
        m = ls.module(def_path)
        f = next((x for x in m.flows if x.name == d.name), None) if m else None
        if f is None:
            return f"flow **{d.name}**"
        number = f.hotline and hotline_words(f.hotline.number)
        return f"flow **{d.name}**" + (f" — {f.title}" if f.title else "") + (f"  \n{number}" if number else "") + \
            f"  \n{len([s for s in f.steps if not s.synthetic])} steps"
    return None


def step_hover(idx: FileIndex, d: Occurrence) -> str:
    refs = [o for o in idx.occurrences if o.role == "ref" and o.kind == "step" and o.name == d.name and o.flow == d.flow]
    first = next((o for o in idx.occurrences if o.role == "def" and o.kind == "step" and o.flow == d.flow), None)
    lines = [f"step **{d.name}**" + (f" of flow `{d.flow}`" if d.flow else "")]
    if first is d:
        lines.append("the first step: every call starts here")
    if refs:
        lines.append("reached from:")
        for o in refs[:20]:
            lines.append(f"- `{o.step}`: {o.context or 'goto'} (line {o.line + 1})")
        if len(refs) > 20:
            lines.append(f"- … and {len(refs) - 20} more")
    elif first is not d:
        lines.append("nothing leads here (unreachable)")
    return "\n".join(lines)


# ---------------------------------------------------------------- definition, references, rename


@server.feature(T.TEXT_DOCUMENT_DEFINITION)
def definition(ls: FlowServer, params: T.DefinitionParams):
    path, idx, line, col = ls.location(params.text_document.uri, params.position)
    occ = idx.at(line, col) if idx else None
    if occ is None:
        return None
    if occ.kind == "import":
        file = (Path(path).parent / occ.name).resolve()
        return T.Location(uri=file.as_uri(), range=T.Range(T.Position(0, 0), T.Position(0, 0))) if file.is_file() else None
    target = ls.definition_of(path, occ)
    if target is None:
        return None
    def_path, d = target
    return T.Location(uri=path_to_uri(def_path), range=ls.occ_range(def_path, d))


@server.feature(T.TEXT_DOCUMENT_REFERENCES)
def references(ls: FlowServer, params: T.ReferenceParams):
    path, idx, line, col = ls.location(params.text_document.uri, params.position)
    occ = idx.at(line, col) if idx else None
    if occ is None:
        return None
    return [T.Location(uri=path_to_uri(f), range=ls.occ_range(f, o))
            for f, o in ls.references(path, occ, params.context.include_declaration)]


@server.feature(T.TEXT_DOCUMENT_PREPARE_RENAME)
def prepare_rename(ls: FlowServer, params: T.PrepareRenameParams):
    path, idx, line, col = ls.location(params.text_document.uri, params.position)
    occ = idx.at(line, col) if idx else None
    if occ is None or occ.role not in ("def", "ref") or ls.definition_of(path, occ) is None:
        return None
    return T.PrepareRenamePlaceholder(range=ls.occ_range(path, occ), placeholder=occ.name)


@server.feature(T.TEXT_DOCUMENT_RENAME)
def rename(ls: FlowServer, params: T.RenameParams):
    from ..transform import KEYWORDS

    path, idx, line, col = ls.location(params.text_document.uri, params.position)
    occ = idx.at(line, col) if idx else None
    if occ is None:
        return None
    new = params.new_name
    if not re.fullmatch(r"[^\W\d]\w*", new) or new in KEYWORDS:
        raise ValueError(f"`{new}` cannot be a name (a letter or _ first, then letters, digits, _; not a keyword)")
    changes: dict[str, list[T.TextEdit]] = {}
    for f, o in ls.references(path, occ, True):
        changes.setdefault(path_to_uri(f), []).append(T.TextEdit(range=ls.occ_range(f, o), new_text=new))
    return T.WorkspaceEdit(changes=changes) if changes else None


# ---------------------------------------------------------------- completion


def _keyword_terminals() -> dict[str, str]:
    from ..fmt import _lark

    return {t.name: t.pattern.value for t in _lark().terminals
            if t.pattern.type == "str" and re.fullmatch(r"[a-z_]+", t.pattern.value)}


@server.feature(T.TEXT_DOCUMENT_COMPLETION, T.CompletionOptions(trigger_characters=[" ", '"', ">"]))
def completion(ls: FlowServer, params: T.CompletionParams):
    path, idx, line, col = ls.location(params.text_document.uri, params.position)
    text = ls.text(path) or ""
    lines = text.split("\n")
    offset = sum(len(x) + 1 for x in lines[:line]) + col
    return T.CompletionList(is_incomplete=False, items=complete(ls, path, text, offset))


def complete(ls: FlowServer, path: str, text: str, offset: int) -> list[T.CompletionItem]:
    from ..fmt import _comments, _lark, _lock
    from ..regions import all_regions

    before = text[:offset]
    in_string = before.count('"', before.rfind("\n") + 1) % 2 == 1
    if in_string:
        before = before[: before.rfind('"')]
    m = re.search(r"[^\W\d]\w*$", before)
    if m:
        before = before[: m.start()]
    seen: list[Token] = []
    with _lock:
        _comments.clear()
        ip = _lark().parse_interactive(before)
        try:
            for tok in ip.iter_parse():
                seen.append(tok)
        except UnexpectedInput:
            return []
        finally:
            _comments.clear()
        accepts = ip.accepts()
    keywords = _keyword_terminals()
    items: list[T.CompletionItem] = []
    if not in_string:
        for name in sorted(accepts):
            if name in keywords:
                items.append(T.CompletionItem(label=keywords[name], kind=T.CompletionItemKind.Keyword))
    prev = str(seen[-1]) if seen else ""
    context = _brace_context(seen)
    if "STRING" in accepts and prev in PROMPT_KEYWORDS:
        prompts: set[str] = set()
        for f in ls.workspace_files():
            fi = ls.index(f)
            if fi:
                prompts.update(o.name for o in fi.occurrences if o.kind == "prompt")
        for p in sorted(prompts):
            items.append(T.CompletionItem(label=p, kind=T.CompletionItemKind.File, detail="prompt",
                                          insert_text=p if in_string else f'"{p}"'))
    if "NAME" not in accepts or in_string:
        return items
    names = _names_in_scope(ls, path)
    flow = _current_flow(seen)
    wanted: list[str]
    if prev in ("goto", "->", "exhausted"):
        wanted = ["step"]
    elif prev == "dial" or (prev in ("->",) and context == "extension") or context == "extension_entry":
        wanted = ["group", "phone"]
    elif prev == "survey":
        wanted = ["survey"]
    elif prev == "group":
        wanted = ["group"]
    elif prev == "strategy":
        return items + [T.CompletionItem(label=s, kind=T.CompletionItemKind.EnumMember)
                        for s in ("sequential", "random", "round_robin", "ratio", "ring_all")]
    elif prev == "branch":
        return items + [T.CompletionItem(label=s, kind=T.CompletionItemKind.EnumMember) for s in ("time", "region", "caller")]
    elif context == "branch time":
        wanted = ["schedule"]
    elif context == "branch caller":
        items.append(T.CompletionItem(label="withheld", kind=T.CompletionItemKind.EnumMember))
        wanted = ["list"]
    elif context == "branch region":
        for r in all_regions():
            detail = r.name_pinyin if r.level == "province" else f"{r.name_pinyin}, city"
            items.append(T.CompletionItem(label=r.name_zh, kind=T.CompletionItemKind.EnumMember, detail=detail,
                                          sort_text=("0" if r.level == "province" else "1") + r.name_pinyin))
            if re.fullmatch(r"[A-Za-z]+", r.name_pinyin) and r.level == "province":
                items.append(T.CompletionItem(label=r.name_pinyin.lower(), kind=T.CompletionItemKind.EnumMember,
                                              detail=r.name_zh, sort_text="0" + r.name_pinyin))
        return items
    elif context == "group":
        wanted = ["phone"]
    elif context == "schedule":
        return items + [T.CompletionItem(label=d, kind=T.CompletionItemKind.EnumMember, detail="day")
                        for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun", "workdays", "restdays", "holidays",
                                  "daily", "周一", "周二", "周三", "周四", "周五", "周六", "周日", "工作日", "休息日",
                                  "节假日", "每天")]
    elif context in ("menu", "dial", "queue", "extension", "block"):
        wanted = ["step"]
    else:
        wanted = ["step", "group", "phone", "schedule", "list", "survey"]
    for kind in wanted:
        for name, detail in names.get(kind, []):
            if kind == "step" and detail != flow:
                continue
            items.append(T.CompletionItem(label=name, kind=_COMPLETION_KINDS[kind], detail=kind))
    return items


_COMPLETION_KINDS = {"step": T.CompletionItemKind.Function, "phone": T.CompletionItemKind.Variable,
                     "group": T.CompletionItemKind.Class, "schedule": T.CompletionItemKind.Enum,
                     "list": T.CompletionItemKind.Struct, "survey": T.CompletionItemKind.Event}


def _brace_context(seen: list[Token]) -> str | None:
    stack: list[str] = []
    for i, t in enumerate(seen):
        if t.type == "LBRACE":
            j = i - 1
            words = []
            while j >= 0 and seen[j].type not in ("LBRACE", "RBRACE") and len(words) < 3:
                words.insert(0, str(seen[j]))
                j -= 1
            if len(words) >= 2 and words[-2] == "branch":
                stack.append(f"branch {words[-1]}")
            elif words and words[-1] in ("menu", "extension", "queue", "split"):
                stack.append(words[-1])
            elif len(words) >= 2 and words[0] in ("group", "schedule", "list", "survey", "flow", "step") and \
                    words[-2] == words[0]:
                stack.append(words[0])
            elif len(words) >= 2 and words[-2] == "dial" or (len(words) >= 3 and words[-3] == "dial"):
                stack.append("dial")
            else:
                stack.append("block")
        elif t.type == "RBRACE" and stack:
            stack.pop()
    return stack[-1] if stack else None


def _current_flow(seen: list[Token]) -> str | None:
    for i in range(len(seen) - 1, 0, -1):
        if str(seen[i - 1]) == "flow" and seen[i].type == "NAME":
            return str(seen[i])
    return None


def _names_in_scope(ls: FlowServer, path: str) -> dict[str, list[tuple[str, str | None]]]:
    out: dict[str, list[tuple[str, str | None]]] = {}
    for f in ls.closure(path):
        idx = ls.index(f)
        if idx is None:
            continue
        for o in idx.occurrences:
            if o.role == "def" and (o.kind != "step" or f == str(Path(path).resolve())):
                out.setdefault(o.kind, []).append((o.name, o.flow if o.kind == "step" else Path(f).name))
    return out


# ---------------------------------------------------------------- outline, folding, formatting


@server.feature(T.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
def document_symbol(ls: FlowServer, params: T.DocumentSymbolParams):
    path = resolved_path(params.text_document.uri)
    idx = ls.index(path)
    if idx is None:
        return []
    defs = {(o.kind, o.name, o.flow if o.kind == "step" else None): o for o in idx.occurrences if o.role == "def"}

    def symbol(b, flow=None) -> T.DocumentSymbol:
        o = defs.get((b.kind, b.name, flow if b.kind == "step" else None))
        sel = ls.occ_range(path, o) if o else ls.lsp_range(path, b.line, b.col, b.line, b.col)
        return T.DocumentSymbol(name=b.name or b.kind, detail=b.kind, kind=_SYMBOL_KINDS.get(b.kind, T.SymbolKind.Object),
                                range=ls.lsp_range(path, b.line, b.col, b.end_line, b.end_col), selection_range=sel,
                                children=[symbol(c, b.name) for c in b.children])

    return [symbol(b) for b in idx.blocks]


@server.feature(T.TEXT_DOCUMENT_FOLDING_RANGE)
def folding_range(ls: FlowServer, params: T.FoldingRangeParams):
    path = resolved_path(params.text_document.uri)
    idx = ls.index(path)
    if idx is None:
        return []
    out = [T.FoldingRange(start_line=a, end_line=b, kind=T.FoldingRangeKind.Region) for a, b in idx.braces]
    lines = idx.text.split("\n")
    run: list[int] = []
    for c in [*idx.comments, None]:
        line = c.line - 1 if c is not None else None
        own = line is not None and lines[line].lstrip().startswith("//")
        if own and run and line == run[-1] + 1:
            run.append(line)
            continue
        if len(run) > 1:
            out.append(T.FoldingRange(start_line=run[0], end_line=run[-1], kind=T.FoldingRangeKind.Comment))
        run = [line] if own else []
    return out


@server.feature(T.TEXT_DOCUMENT_FORMATTING)
def formatting(ls: FlowServer, params: T.DocumentFormattingParams):
    from ..diagnostics import FlowcError
    from ..fmt import format_text

    path = resolved_path(params.text_document.uri)
    text = ls.text(path)
    if text is None:
        return None
    try:
        out = format_text(text, path)
    except FlowcError:
        return None  # the diagnostics already show why
    if out == text:
        return []
    lines = text.split("\n")
    end = T.Position(len(lines) - 1, utf16_col(lines[-1], len(lines[-1])))
    return [T.TextEdit(range=T.Range(T.Position(0, 0), end), new_text=out)]


# ---------------------------------------------------------------- semantic tokens


@server.feature(T.TEXT_DOCUMENT_SEMANTIC_TOKENS_FULL,
                T.SemanticTokensLegend(token_types=SEMANTIC_TYPES, token_modifiers=SEMANTIC_MODIFIERS))
def semantic_tokens(ls: FlowServer, params: T.SemanticTokensParams):
    path = resolved_path(params.text_document.uri)
    idx = ls.index(path)
    if idx is None:
        return T.SemanticTokens(data=[])
    return T.SemanticTokens(data=encode_semantic_tokens(idx))


def encode_semantic_tokens(idx: FileIndex) -> list[int]:
    keywords = set(_keyword_terminals())
    occ = {(o.line, o.col): o for o in idx.occurrences}
    entries = []
    for t in [*idx.tokens, *idx.comments]:
        line, col = t.line - 1, t.column - 1
        mods = 0
        if t.type == "COMMENT":
            kind = "comment"
        elif t.type == "STRING":
            kind = "string"
        elif t.type == "LITERAL":
            kind = "number"
        elif t.type in keywords or t.type in ("GOTO", "HANGUP", "MENU", "DIAL", "EXTENSION", "BRANCH", "SPLIT",
                                                 "QUEUE", "VOICEMAIL"):
            kind = "keyword"
        elif str(t) == "->":
            kind = "operator"
        elif t.type in ("NAME", "ZONE"):
            o = occ.get((line, col))
            kind = _KIND_TO_SEMANTIC.get(o.kind, "parameter") if o else "parameter"
            if o and o.role == "def":
                mods = 1
        else:
            continue
        entries.append((line, col, len(str(t).rstrip()), SEMANTIC_TYPES.index(kind), mods))
    entries.sort()
    lines = idx.text.split("\n")
    data: list[int] = []
    prev_line = prev_col = 0
    for line, col, length, kind, mods in entries:
        text = lines[line] if line < len(lines) else ""
        ucol = utf16_col(text, col)
        ulen = utf16_col(text, col + length) - ucol
        data += [line - prev_line, ucol - prev_col if line == prev_line else ucol, ulen, kind, mods]
        prev_line, prev_col = line, ucol
    return data


# ---------------------------------------------------------------- inlay hints


@server.feature(T.TEXT_DOCUMENT_INLAY_HINT)
def inlay_hint(ls: FlowServer, params: T.InlayHintParams):
    path = resolved_path(params.text_document.uri)
    idx = ls.index(path)
    if idx is None:
        return []
    out = []
    start, end = params.range.start.line, params.range.end.line
    for line, col, label in default_hints(ls, path, idx):
        if start <= line <= end:
            pos = ls.lsp_range(path, line, col, line, col).start
            out.append(T.InlayHint(position=pos, label=label, kind=T.InlayHintKind.Parameter, padding_left=True,
                                   tooltip="default: not written in the flow"))
    return out


_DEFAULTS = {
    "menu": [("timeout", "5s"), ("retries", "2")],
    "extension": [("timeout", "5s"), ("retries", "2")],
    "queue": [("max_wait", "5m"), ("retry", "5s")],
}


def default_hints(ls: FlowServer, path: str, idx: FileIndex) -> list[tuple[int, int, str]]:
    """(line, col, label) after the word that opens a terminal, for what it inherits or defaults to."""
    from lark import Tree

    hints = []
    for kind, _flow, _step, tree, _ in idx.defaults:
        children = [c for c in tree.children if c is not None]
        stmts = {c.data for c in children if isinstance(c, Tree)}
        if kind == "dial":
            ref = children[1]
            anchor = ref.children[0] if isinstance(ref, Tree) else ref
            if "dial_ring" in stmts:
                continue
            label = "ring " + _ring_of(ls, path, ref)
        elif kind == "voicemail":
            if any(isinstance(c, Tree) and c.data == "voicemail_max" for c in children):
                continue
            anchor, label = children[1], "max 2m"
        else:
            written = {s.removeprefix("queue_").removesuffix("_stmt") for s in stmts}
            missing = [f"{k} {v}" for k, v in _DEFAULTS.get(kind, []) if k not in written]
            if kind == "queue" and "dial_ring" not in stmts:
                group = next((c.children[1] for c in children if isinstance(c, Tree) and c.data == "queue_group"), None)
                if group is not None:
                    missing.append("ring " + _group_ring(ls, path, str(group)))
            if not missing:
                continue
            anchor = next(c for c in children if isinstance(c, Token) and c.type == "LBRACE")
            label = ", ".join(missing)
        hints.append(((anchor.end_line or anchor.line) - 1, (anchor.end_column or anchor.column + 1) - 1, label))
    return hints


def _ring_of(ls: FlowServer, path: str, ref) -> str:
    tok = ref.children[0]
    if ref.data == "phone_name":
        occ = Occurrence(str(tok), "phone|group", "ref", 0, 0, 0, 0, tok)
        target = ls.definition_of(path, occ)
        if target and target[1].kind == "group":
            return _group_ring(ls, path, str(tok))
    return "20s"


def _group_ring(ls: FlowServer, path: str, name: str) -> str:
    for f in ls.closure(path):
        m = ls.module(f)
        for g in (m.groups if m else []):
            if g.name == name:
                per = {m_.ring for m_ in g.members if m_.ring is not None}
                return f"{g.ring:g}s" + (" (some phones their own)" if per else "") + f" from group {name}"
    return "20s"


def main() -> None:
    server.start_io()
