"""The driver: path -> SourceFile -> parse tree -> Module -> assembled Flow -> checked Flow.

Only this module and `cli` touch the file system. Each phase collects what it can; the
driver stops between phases when one reported errors. Imported files are loaded once per
`Workspace`, so checking a thousand flows that share one library parses it once.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from . import ir
from .checks import CheckOptions, check
from .diagnostics import Diagnostic, FlowcError, error, has_errors
from .gcpause import gc_paused
from .parser import parse
from .project import project_root
from .source import SourceFile
from .transform import transform


@dataclass
class Result:
    """What checking one file produced. `flow` is None when errors stopped the pipeline."""

    path: str
    flow: ir.Flow | None
    diagnostics: list[Diagnostic]
    sources: dict[str, SourceFile] = field(default_factory=dict)
    library: bool = False  # a file of shared declarations, with no flow of its own

    @property
    def ok(self) -> bool:
        return (self.flow is not None or self.library) and not has_errors(self.diagnostics)


def decode(path: str, data: bytes) -> tuple[SourceFile | None, list[Diagnostic]]:
    """UTF-8 (a BOM is allowed); anything else is E002 pointing at the first bad byte."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        good = data[: exc.start].decode("utf-8", errors="replace")
        line = good.count("\n") + 1
        col = len(good) - (good.rfind("\n") + 1) + 1
        src = SourceFile(path, good)
        return None, [error("E002", f"byte 0x{data[exc.start]:02x} at offset {exc.start} is not valid UTF-8",
                            src.span(line, col), help="save the file as UTF-8 (GBK/GB18030 files must be converted)")]
    if "\x00" in text:
        i = text.index("\x00")
        before = text[:i]
        src = SourceFile(path, text)
        line = before.count("\n") + 1
        return None, [error("E002", "the file contains a NUL byte; it is not a text file",
                            src.span(line, len(before) - (before.rfind("\n") + 1) + 1))]
    return SourceFile(path, text), []


Loaded = tuple[ir.Module | None, list[Diagnostic], set[str]]  # module, diagnostics, damaged declarations


def parse_source(source: SourceFile) -> Loaded:
    try:
        tree = parse(source)
    except FlowcError as exc:
        return None, exc.diagnostics, set()
    try:
        return transform(source, tree)
    except RecursionError:
        return None, [error("E105", "the file is nested too deeply to process", source.span(1, 1))], set()


class Workspace:
    """Loads files and their imports, caching modules by resolved path."""

    def __init__(self, root: Path | None = None) -> None:
        self.modules: dict[Path, Loaded] = {}
        self.sources: dict[str, SourceFile] = {}
        # The folder imports may not leave (E004); None: each flow's project root
        # (flowc/project.py: the nearest flowc.toml, [tool.flowc] or .git above the flow file,
        # else the flow file's own folder).
        self.root = Path(os.path.realpath(root)) if root is not None else None

    def read(self, path: Path, display: str) -> Loaded:
        key = path.resolve()
        if key in self.modules:
            return self.modules[key]
        try:
            data = path.read_bytes()
        except OSError as exc:
            result: Loaded = (None, [_unreadable(display, exc)], set())
        else:
            source, diags = decode(display, data)
            if source is None:
                result = (None, diags, set())
            else:
                self.sources[display] = source
                result = parse_source(source)
        self.modules[key] = result
        return result

    def load_text(self, display: str, text: str) -> Loaded:
        source = SourceFile(display, text)
        self.sources[display] = source
        return parse_source(source)

    @gc_paused  # linear in the flow's size (flowc/gcpause.py)
    def assemble(self, path: str | Path, text: str | None = None,
                 options: CheckOptions | None = None, display: str | None = None) -> Result:
        """Load a flow file with its imports, merge the declarations, then check it.
        `display` names the file in diagnostics and spans (default: `path` as given)."""
        display = str(path) if display is None else display
        p = Path(path)
        module, diags, damaged = self.load_text(display, text) if text is not None else self.read(p, display)
        diags = list(diags)
        damaged = set(damaged)
        if module is None:
            return Result(display, None, diags, self.sources)
        decls: dict[str, dict[str, object]] = {k: {} for k in ("phones", "groups", "schedules", "lists", "surveys")}
        self._merge(module, decls, diags)
        root = self.root if self.root is not None else project_root(p.parent)
        self._imports(module, p.parent, decls, diags, damaged, chain=[p.resolve()], root=root)
        opts = options or CheckOptions()
        opts.damaged = damaged
        if not module.flows and (module.imports or any(decls.values()) or "file" in damaged):
            return self._check_library(display, decls, diags, opts)
        if len(module.flows) != 1:
            if not module.flows:
                diags.append(Diagnostic(code="E314", message="this file has no `flow` to compile", file=display,
                                        help="add `flow NAME { ... }`, or import this file from a flow file"))
            else:
                second = module.flows[1]
                diags.append(error("E314", "a file holds one flow; this is the second", second.span,
                                   help="move each flow into its own file"))
        if not module.flows or any(d.code in ("E003", "E314") for d in diags):
            return Result(display, None, diags, self.sources)
        # Value errors dropped only the bad items, so the checks still find the rest.
        flow = module.flows[0].model_copy(update=decls)
        opts.own_file = display
        flow, check_diags = check(flow, opts)
        diags.extend(check_diags)
        return Result(display, None if has_errors(diags) else flow, diags, self.sources)

    def _check_library(self, display: str, decls: dict, diags: list[Diagnostic],
                       options: CheckOptions | None) -> Result:
        """A library is checked as a flow without steps: groups, schedules and values."""
        if not has_errors(diags):
            opts = options or CheckOptions()
            opts.own_file = None
            lib = ir.Flow(name="library", **decls)
            _, check_diags = check(lib, opts)
            diags.extend(d for d in check_diags if d.code != "W406")
        return Result(display, None, diags, self.sources, library=True)

    def _merge(self, module: ir.Module, decls: dict, diags: list[Diagnostic]) -> None:
        for kind in decls:
            table = decls[kind]
            for decl in getattr(module, kind):
                if decl.name in table:
                    first = table[decl.name]
                    where = first.span
                    diags.append(error("E202", f"{kind[:-1]} `{decl.name}` is declared twice", decl.span,
                                       label="second declaration",
                                       help=f"the first is at {where}" if where else None))
                else:
                    table[decl.name] = decl

    def _imports(self, module: ir.Module, base: Path, decls: dict, diags: list[Diagnostic], damaged: set[str],
                 chain: list[Path], root: Path) -> None:
        for rel, span in module.imports:
            target = Path(os.path.normpath(base / rel))  # messages name `../lib.flow` as a plain path
            # Before anything looks at the file: an import may only read the project's own flow
            # files (not /etc/passwd, not a symlink out of the project, not a `.env` beside it),
            # and a diagnostic must not reveal whether a file outside exists.
            real = Path(os.path.realpath(target))
            if not real.is_relative_to(root):
                diags.append(error("E004", f"cannot import `{rel}`: it is outside the project", span,
                                   label="outside the project root",
                                   help=f"imports stay inside the project root, {_shown(root)} (symbolic links count "
                                        "where they point): move the library into the project, or put a "
                                        "flowc.toml in the project's top folder"))
                continue
            if target.suffix != ".flow" or real.suffix != ".flow":
                diags.append(error("E003", f"cannot import `{rel}`: only `.flow` files can be imported", span,
                                   help="libraries are .flow files holding phones, groups, schedules, lists "
                                        "and surveys"))
                continue
            if target.resolve() in chain:
                cycle = " -> ".join(p.name for p in chain[chain.index(target.resolve()):] + [target.resolve()])
                diags.append(error("E003", f"importing `{rel}` here closes an import cycle: {cycle}", span,
                                   help="a library cannot import a file that imports it; move the shared part "
                                   "into a third file"))
                continue
            if not target.is_file():
                diags.append(error("E003", f"cannot import `{rel}`: no such file", span,
                                   help="paths are relative to the importing file's folder "
                                   f"({Path(span.file).parent if span is not None and span.file else base})"))
                continue
            lib, lib_diags, lib_damaged = self.read(target, str(target))
            damaged |= {d for d in lib_damaged if d != "file"}
            if lib_diags:
                diags.extend(d for d in lib_diags if d not in diags)
            if lib is None:
                continue
            if lib.flows:
                diags.append(error("E003", f"`{rel}` defines a flow; only libraries (no `flow`) can be imported", span))
                continue
            self._merge(lib, decls, diags)
            self._imports(lib, target.parent, decls, diags, damaged, chain + [target.resolve()], root)


def _shown(folder: Path) -> str:
    """A folder as messages name it: relative to the current directory when inside it."""
    rel = os.path.relpath(folder)
    return folder.as_posix() if rel == ".." or rel.startswith("../") else f"{rel}/" if rel != "." else "./"


def _unreadable(display: str, exc: OSError) -> Diagnostic:
    reason = exc.strerror or exc.__class__.__name__
    return Diagnostic(code="E001", message=f"cannot read {display}: {reason}", file=display)


def check_file(path: str | Path, options: CheckOptions | None = None) -> Result:
    return Workspace().assemble(path, options=options)


def check_text(text: str, path: str = "<input>", options: CheckOptions | None = None) -> Result:
    return Workspace().assemble(path, text=text, options=options)
