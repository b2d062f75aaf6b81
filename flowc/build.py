"""The compile driver: flow files -> one output directory, all or nothing (docs/deploy.md).

`flowc compile` calls `build()`. The output directory is replaced as a whole:

- every file of the new output is made in a staging folder beside it (same file system),
  then the staging folder and the output directory trade places in one atomic
  `renameat2(RENAME_EXCHANGE)`; a reader, an engine reload or a `kill -9` sees the complete
  old output or the complete new one, never a mix (`_swap` has the two-rename fallback for
  systems without it, repaired at the next run);
- `.<out>.flowc/lock` beside the output is held (`fcntl.flock`) for the whole run, so two
  compiles into one directory run one after the other;
- `.flowc-manifest.json` in the output records, per flow, its source (relative to the
  project root), a fingerprint of everything its output depends on, its imports, its 400
  number, its engine-wide names and its files with their sha256. A flow whose fingerprint
  did not change and whose files are intact is not parsed again (incremental compile); the
  records of flows compiled earlier take part in the cross-flow checks (one 400 number,
  one engine name per flow); files of flows that no longer exist are reported, and
  removed with `--prune`;
- each flow's files go to the staging folder as they are rendered and its IR is dropped,
  so memory does not grow with the number of flows.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import hashlib
import json
import os
import re
import shutil
import stat
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from . import __version__
from .diagnostics import Diagnostic, error, has_errors
from .project import project_path, project_root
from .source import SourceFile, Span

# The parser, checker and emitters are imported only when a flow has to be compiled: a
# compile where nothing changed does not pay for loading them.

MANIFEST = ".flowc-manifest.json"
SHARED = ":shared"  # the manifest's record of the files every flow shares (Target.shared_outputs)
MANIFEST_FORMAT = 1
FINGERPRINT_FORMAT = 1


class BuildError(Exception):
    """A usage or I/O problem with the output directory: printed as one line, exit 2."""


# ---------------------------------------------------------------- outcome


@dataclass(frozen=True)
class FileStatus:
    """A file of the output directory that is not what this compile makes it."""

    path: str  # relative to the output directory, `/` separators
    status: str  # stale | missing | orphan | unknown
    flow: str | None = None  # the flow's source, relative to the project root
    reason: str = ""


@dataclass
class Outcome:
    results: list = field(default_factory=list)  # pipeline.Result of files with diagnostics (cli.report)
    errors: bool = False
    flows: int = 0  # flows named on the command line that have output
    reused: int = 0  # of those, skipped because nothing they depend on changed
    libraries: int = 0
    written: int = 0
    unchanged: int = 0
    removed: int = 0
    files: list[FileStatus] = field(default_factory=list)  # stale, missing, orphan, unknown files
    swapped: bool = False

    @property
    def check_failed(self) -> bool:
        return any(f.status != "unknown" for f in self.files)


# ---------------------------------------------------------------- fingerprints

_DEPENDENCIES = ("lark", "jinja2", "markupsafe", "pydantic", "pydantic_core", "phonenumbers",
                 "chinesecalendar", "tzdata")


def toolchain_stamp() -> str:
    """A digest of everything besides a flow and its settings that its output depends on:
    flowc's code and data (the package's sources, grammar/, targets/, flowc/data/), and the
    versions of the libraries that parse, check and render (installed dist-info names)."""
    from .resources import data_dir

    package = Path(__file__).resolve().parent
    digest = hashlib.sha256(f"flowc {__version__} python {sys.version_info[:2]}\n".encode())
    roots = [package, data_dir("grammar"), data_dir("targets")]
    for base in roots:
        files = []
        for folder, dirs, names in os.walk(base):
            dirs[:] = sorted(d for d in dirs if d not in ("__pycache__", "prebuilt", "_data"))
            files += [os.path.join(folder, n) for n in names if not n.endswith((".pyc", ".bin"))
                      or folder.endswith("data")]
        for f in sorted(files):
            digest.update(f"{os.path.relpath(f, base)}\0".encode())
            with open(f, "rb") as fh:
                digest.update(hashlib.sha256(fh.read()).digest())
    digest.update(repr(sorted(_dist_versions().items())).encode())
    return digest.hexdigest()


def _dist_versions() -> dict[str, str]:
    """{package: version} from the `*.dist-info` folders on sys.path (importlib.metadata
    takes ~150 ms to answer the same)."""
    found: dict[str, str] = {}
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for n in names:
            if n.endswith(".dist-info"):
                name, _, version = n[: -len(".dist-info")].partition("-")
                key = re.sub(r"[-_.]+", "_", name).lower()
                if key in _DEPENDENCIES and key not in found:
                    found[key] = version
    return found


class _Digests:
    """sha256 of source files, each read once per run (libraries are shared by many flows).
    Keyed by the path as root + relative path: the same file is always named so."""

    def __init__(self) -> None:
        self.cache: dict[str, str | None] = {}

    def of(self, path: str, data: bytes | None = None) -> str | None:
        if path not in self.cache:
            if data is None:
                try:
                    with open(path, "rb") as f:
                        data = f.read()
                except OSError:
                    self.cache[path] = None
                    return None
            self.cache[path] = hashlib.sha256(data).hexdigest()
        return self.cache[path]


def fingerprint(env_key: str, rel: str, source_digest: str, imports: dict[str, str | None]) -> str:
    h = hashlib.sha256(f"flowc-fingerprint {FINGERPRINT_FORMAT}\n{env_key}\n{rel}\n{source_digest}\n".encode())
    for path in sorted(imports):
        h.update(f"{path}\0{imports[path]}\n".encode())
    return h.hexdigest()


# ---------------------------------------------------------------- the output directory


def _renameat2_exchange() -> Callable[[str, str], None] | None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    at_fdcwd, rename_exchange = -100, 2

    def exchange(a: str, b: str) -> None:
        if fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) != 0:
            e = ctypes.get_errno()
            raise OSError(e, os.strerror(e), a)

    return exchange


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class OutputDir:
    """The output directory, its lock and its working folder `.<name>.flowc/` beside it
    (`lock`, `stage/` while a compile builds, `stat.json`: a cache of file stats)."""

    def __init__(self, out: Path):
        self.typed = out
        self.path = Path(os.path.realpath(out))  # a symlinked output is replaced where it points
        if self.path.parent == self.path or os.path.ismount(self.path):
            raise BuildError(f"{out}: flowc replaces the whole output directory, so it cannot be a mount point "
                             "or the root folder; use a folder inside it as --out")
        if self.path.exists() and not self.path.is_dir():
            raise BuildError(f"{out}: not a directory")
        for parent in self.path.parents:
            if (parent / MANIFEST).is_file():
                raise BuildError(f"{out} is inside {parent}, an output directory flowc manages as a whole; "
                                 f"compile into {parent} instead (with --target all for both engines)")
        self.work = self.path.parent / f".{self.path.name}.flowc"
        self.stage = self.work / "stage"
        self.old = self.work / "old"
        self.trash = self.work / "trash"
        self.lock_fd: int | None = None
        self.stats: dict[str, list] = {}
        self.stats_dirty = False

    # -- locking and recovery

    def lock(self, shared: bool, say: Callable[[str], None]) -> bool:
        """Hold the lock (exclusive to compile, shared to --check). False when the working
        folder cannot be made (a read-only place: fine for --check)."""
        try:
            self.work.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.work / "lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            if shared:
                return False
            raise BuildError(f"cannot create {self.work}: {exc.strerror}") from None
        mode = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
        except BlockingIOError:
            say(f"flowc: waiting for another flowc run on {self.typed} to finish")
            fcntl.flock(fd, mode)
        self.lock_fd = fd
        return True

    def unlock(self) -> None:
        if self.lock_fd is not None:
            os.close(self.lock_fd)  # closing releases the flock
            self.lock_fd = None

    def recover(self) -> None:
        """Repair what a killed run left (needs the exclusive lock): an output moved aside
        by the two-rename fallback comes back, and leftover staging is removed."""
        if not self.path.exists() and self.old.is_dir():
            os.rename(self.old, self.path)
        for leftover in (self.stage, self.old, self.trash):
            if leftover.exists():
                shutil.rmtree(leftover, ignore_errors=True)

    # -- reading

    def walk(self) -> tuple[list[str], list[Path]]:
        """Every file (relative, sorted) and every folder of the output."""
        files: list[str] = []
        folders: list[Path] = []
        if not self.path.is_dir():
            return files, folders
        for folder, dirs, names in os.walk(self.path):
            folders.append(Path(folder))
            # A symbolic link to a folder is carried over as the link it is, like a file.
            links = [d for d in dirs if os.path.islink(os.path.join(folder, d))]
            dirs[:] = sorted(d for d in dirs if d not in links)
            rel = os.path.relpath(folder, self.path)
            for n in [*names, *links]:
                files.append(n if rel == "." else f"{rel}/{n}".replace(os.sep, "/"))
        files.sort()
        return files, folders

    def read_only_folder(self, folders: Iterable[Path]) -> Path | None:
        """The first folder flowc could not replace: one without write permission (its
        mode, even for root: someone marked it read-only) or on a read-only file system."""
        for f in [self.path.parent, *folders]:
            try:
                mode = f.stat().st_mode
            except OSError:
                continue
            if not mode & stat.S_IWUSR or not os.access(f, os.W_OK):
                return f
        return None

    def load_manifest(self) -> tuple[dict | None, bytes | None]:
        try:
            raw = (self.path / MANIFEST).read_bytes()
        except OSError:
            return None, None
        try:
            data = json.loads(raw)
            if data.get("format") != MANIFEST_FORMAT or not isinstance(data.get("flows"), dict):
                return None, raw
            return data, raw
        except ValueError:
            return None, raw

    def load_stats(self) -> None:
        try:
            self.stats = json.loads((self.work / "stat.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            self.stats = {}

    def save_stats(self, keep: Iterable[str]) -> None:
        keep = set(keep)
        stats = {k: v for k, v in self.stats.items() if k in keep}
        if not self.stats_dirty and len(stats) == len(self.stats):
            return
        tmp = self.work / f"stat.json.{os.getpid()}"
        try:
            tmp.write_text(json.dumps(stats, sort_keys=True), encoding="utf-8")
            os.replace(tmp, self.work / "stat.json")
        except OSError:
            pass

    def intact(self, rel: str, sha: str) -> bool:
        """Whether the output file `rel` holds content `sha`: a stat that matches the cache
        saves reading it (size, mtime and inode, as git's index does)."""
        p = self.path / rel
        try:
            st = p.stat()
        except OSError:
            return False
        key = [st.st_size, st.st_mtime_ns, st.st_ino]
        cached = self.stats.get(rel)
        if cached is not None and cached[:3] == key:
            return cached[3] == sha
        try:
            digest = hashlib.sha256(p.read_bytes()).hexdigest()
        except OSError:
            return False
        self.stats[rel] = [*key, digest]
        self.stats_dirty = True
        return digest == sha

    def remember(self, rel: str, sha: str) -> None:
        """Record the stat of a file just put in place (after the swap)."""
        try:
            st = (self.path / rel).stat()
        except OSError:
            return
        self.stats[rel] = [st.st_size, st.st_mtime_ns, st.st_ino, sha]
        self.stats_dirty = True

    # -- staging and swapping

    def open_stage(self) -> Staging:
        if self.stage.exists():
            shutil.rmtree(self.stage)
        self.stage.mkdir()
        return Staging(self.stage)

    def swap(self, staging: Staging) -> None:
        """Put the staging folder in place of the output directory, atomically."""
        staging.sync()
        _copy_folder_modes(self.path, staging.root)
        if not self.path.exists():
            os.rename(staging.root, self.path)
        else:
            exchange = _renameat2_exchange()
            try:
                if exchange is None:
                    raise OSError(errno.ENOSYS, "renameat2 is not available")
                exchange(str(staging.root), str(self.path))
                os.rename(staging.root, self.trash)  # now the old output
            except OSError as exc:
                if exc.errno not in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
                    raise
                # No atomic exchange here: move the old output aside, then the new one in.
                # A kill between the two leaves `old`, which recover() puts back.
                os.rename(self.path, self.old)
                os.rename(staging.root, self.path)
                os.rename(self.old, self.trash)
        _fsync_dir(self.path.parent)
        shutil.rmtree(self.trash, ignore_errors=True)


def _copy_folder_modes(old: Path, new: Path) -> None:
    """The new folders keep the permissions (and, for root, the owners) of the old ones:
    a deploy may have made them readable to the engine's group."""
    if not old.is_dir():
        return
    for folder, dirs, _ in os.walk(new):
        rel = os.path.relpath(folder, new)
        try:
            st = (old / rel).stat()
        except OSError:
            continue
        try:
            os.chmod(folder, stat.S_IMODE(st.st_mode))
            if os.geteuid() == 0:
                os.chown(folder, st.st_uid, st.st_gid)
        except OSError:
            pass


class Staging:
    """The folder the new output is built in. Files are written as they are made."""

    # Past this many written files one syncfs() is cheaper than an fsync() per file.
    FSYNC_EACH = 200

    def __init__(self, root: Path):
        self.root = root
        self.folders: set[str] = {""}
        self.written: list[str] = []

    def _folder(self, rel: str) -> Path:
        dest = self.root / rel
        parent = os.path.dirname(rel)
        if parent not in self.folders:
            dest.parent.mkdir(parents=True, exist_ok=True)
            while parent and parent not in self.folders:
                self.folders.add(parent)
                parent = os.path.dirname(parent)
        return dest

    def write(self, rel: str, data: bytes) -> None:
        dest = self._folder(rel)
        fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        try:
            os.fchmod(fd, 0o644)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
        self.written.append(rel)

    def link(self, rel: str, source: Path) -> None:
        """An unchanged file: a hard link to the one in the current output, so it keeps its
        inode and modification time (a copy where links are not possible)."""
        dest = self._folder(rel)
        try:
            os.link(source, dest, follow_symlinks=False)
        except OSError:
            shutil.copy2(source, dest)

    def sync(self) -> None:
        """Make the new files durable before they become the output (a power cut after the
        swap must not leave empty files)."""
        if len(self.written) > self.FSYNC_EACH:
            try:
                libc = ctypes.CDLL(None, use_errno=True)
                fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY)
                try:
                    if libc.syncfs(fd) == 0:
                        return
                finally:
                    os.close(fd)
            except (OSError, AttributeError):
                pass
            os.sync()
            return
        for rel in self.written:
            fd = os.open(self.root / rel, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        for folder in self.folders:
            _fsync_dir(self.root / folder)


# ---------------------------------------------------------------- loading flows


def _workspace():
    """The pipeline's workspace, naming every file relative to its project root (so output
    does not depend on how a path was typed) and noting which files each flow reads."""
    from .pipeline import Workspace

    class _Workspace(Workspace):
        def __init__(self) -> None:
            super().__init__()
            self.touched: list[Path] = []
            self.flow_root = Path("/")

        def read(self, path: Path, display: str):
            self.touched.append(path)
            return super().read(path, project_path(path, self.flow_root))

    return _Workspace()


def _number_record(flow) -> dict | None:
    h = flow.hotline
    if h is None:
        return None
    rec = {"value": h.number}
    if h.span is not None:
        rec.update(line=h.span.line, col=h.span.col, end_line=h.span.end_line, end_col=h.span.end_col)
    return rec


def _engine_names(target: str, files: dict[str, str]) -> list[str]:
    """`kind:name` of the engine-wide objects (contexts, mailboxes, queues, music classes,
    database keys ...) that one flow's files define in an engine (flowc/emit/tenancy.py);
    files are checked by the driver itself, with their target folder."""
    from .emit.tenancy import engine_names

    return sorted(n for n in engine_names(target, files) if not n.startswith("file:"))


# ---------------------------------------------------------------- the driver


def build(paths: list[Path], settings, targets: list[str], out: Path, *, check: bool = False,
          prune: bool = False, say: Callable[[str], None] = lambda s: None) -> Outcome:
    """Compile `paths` into `out` with `settings` (a settings.Settings) for `targets`, or
    with `check`, compare and write nothing."""
    outdir = OutputDir(out)
    locked = outdir.lock(shared=check, say=say)
    try:
        if locked and not check:
            outdir.recover()
        job = _Build(outdir, paths, settings, targets, check, prune, say)
        try:
            return job.run()
        except BaseException:
            job._discard()  # (a kill -9 leaves it to the next run's recover())
            raise
    finally:
        outdir.unlock()


class _Build:
    def __init__(self, outdir: OutputDir, paths, settings, targets, check, prune, say):
        self.out = outdir
        self.paths = paths
        self.settings = settings
        self.targets = list(targets)
        self.multi = len(self.targets) > 1
        self._emitters: dict | None = None
        self.check = check
        self.prune = prune
        self.say = say
        self.outcome = Outcome()
        self.digests = _Digests()
        self.env_key = hashlib.sha256(
            f"{toolchain_stamp()}\n{settings.model_dump_json()}\n{','.join(self.targets)}".encode()).hexdigest()
        self.staging: Staging | None = None
        self.claimed: dict[str, str] = {}  # output file -> flow that makes it
        self.records: dict[str, dict] = {}  # flow source -> manifest record (this run)
        self.keep: dict[str, str] = {}  # output file -> sha, unchanged and still in the output
        self.diag_sources: dict[str, SourceFile] = {}

    # -- helpers

    @property
    def emitters(self) -> dict:
        if self._emitters is None:
            from .emit import get_target

            self._emitters = {name: get_target(name, self.settings) for name in self.targets}
        return self._emitters

    def stage(self) -> Staging:
        if self.staging is None:
            self.staging = self.out.open_stage()
        return self.staging

    def diagnose(self, display: str, diagnostics: list[Diagnostic], sources: dict[str, SourceFile],
                 policy: bool = False) -> None:
        """Record a flow's diagnostics; with `policy`, after the user's warning settings and
        inline suppressions (diagnostics.apply_policy), once all of the flow's are known."""
        from .pipeline import Result

        if policy:
            from .diagnostics import apply_policy

            diagnostics = apply_policy(diagnostics, self.settings.ignore, self.settings.error, sources, [display])
        if not diagnostics:
            return
        files = {display} | {d.filename for d in diagnostics if d.filename}
        self.diag_sources.update({f: sources[f] for f in files if f in sources})
        self.outcome.results.append(Result(display, None, diagnostics, self.diag_sources))
        if has_errors(diagnostics):
            self.outcome.errors = True

    # -- the run

    def run(self) -> Outcome:
        o = self.outcome
        files_before, folders = self.out.walk()
        if not self.check:
            ro = self.out.read_only_folder(folders)
            if ro is not None:
                raise BuildError(f"{ro} is read-only: flowc replaces the whole output directory {self.out.typed}, "
                                 "so it needs write access to it, its folders and the folder it is in; "
                                 "nothing was changed")
        manifest, manifest_raw = self.out.load_manifest()
        if manifest_raw is not None and manifest is None:
            self.say(f"flowc: warning: {self.out.typed / MANIFEST} is unreadable or from another flowc version; "
                     "every flow is compiled again")
        old_flows: dict[str, dict] = dict(manifest["flows"]) if manifest else {}
        old_outputs = {f: (src, sha) for src, rec in old_flows.items() for f, sha in rec["outputs"].items()}
        if manifest and manifest.get("targets") != self.targets and old_flows:
            if not self.prune:
                raise BuildError(f"{self.out.typed} holds output for --target {'all' if len(manifest['targets']) > 1 else manifest['targets'][0]}, "
                                 f"this compile is for --target {'all' if self.multi else self.targets[0]}; "
                                 "use another --out, or --prune to replace everything in it")
            old_flows = {}
        self.out.load_stats()

        ws = None
        years = list(self.settings.years)
        named: list[str] = []
        for p in self.paths:
            # Named relative to the flow's project root (flowc/project.py), as imports are
            # confined to it; the record keeps where that root is, seen from the output.
            froot = project_root(Path(p).parent)
            rel = project_path(p, froot)
            if rel in self.records or rel in named:
                continue
            named.append(rel)
            if self._reuse(rel, p, froot, old_flows.get(rel)):
                if old_flows[rel].get("library"):
                    o.libraries += 1
                else:
                    o.flows += 1
                    o.reused += 1
                continue
            from .checks import CheckOptions

            ws = ws or _workspace()
            ws.touched = []
            ws.flow_root = froot
            result = ws.assemble(p, options=CheckOptions(years=years), display=rel)
            ws.modules.pop(Path(p).resolve(), None)  # its own module: memory stays flat
            if result.library:
                o.libraries += 1
            if result.flow is None:  # (a flow's own are recorded with its targets' in _compile)
                self.diagnose(rel, result.diagnostics, result.sources, policy=True)
            flow = result.flow
            imports = {project_path(t, froot) for t in ws.touched} - {rel}
            if flow is None:
                ws.sources.pop(rel, None)
                if result.library and not has_errors(result.diagnostics):
                    # Remembered so that the next run need not check it again either.
                    self.records[rel] = {"library": True, "imports": sorted(imports), "outputs": {},
                                         "root": self._root_field(froot),
                                         "fingerprint": self._fingerprint(rel, froot, sorted(imports))}
                continue
            o.flows += 1
            self._compile(rel, froot, flow, sorted(imports), result)
            ws.sources.pop(rel, None)
            del flow, result

        self._shared(old_flows.get(SHARED))
        # Flows recorded by earlier runs and not named now stay, unless their source is gone
        # and --prune says to drop them.
        orphans: set[str] = set()
        for src, rec in sorted(old_flows.items()):
            if src in named or src == SHARED:
                continue
            if not self._source_path(src, rec).exists():
                if rec.get("library"):
                    continue  # nothing of it is in the output
                orphans.add(src)
                if self.prune:
                    continue
            self.records[src] = rec
            for f, sha in rec["outputs"].items():
                if f in self.claimed and self.claimed[f] != src:
                    self._conflict_file(f, self.claimed[f], src)
                self.claimed.setdefault(f, src)
                self.keep.setdefault(f, sha)
        self._cross_flow_checks()
        if o.errors:
            self._discard()
            return o

        # Files of the output that no flow makes any more, and files flowc did not write.
        new_outputs = {f for rec in self.records.values() for f in rec["outputs"]}
        for f in files_before:
            if f == MANIFEST or f in new_outputs:
                continue
            if f in old_outputs:
                src = old_outputs[f][0]
                # (the shared record is made again by every compile, like a named flow)
                why = ("its flow no longer makes it" if src in named or src == SHARED
                       else "its flow's source no longer exists")
                o.files.append(FileStatus(f, "orphan", src, why))
            else:
                o.files.append(FileStatus(f, "unknown", None, "not written by flowc (not in its manifest)"))
        for src in sorted(orphans & set(self.records)):
            for f in self.records[src]["outputs"]:
                if f not in files_before:
                    continue
                if not any(s.path == f for s in o.files):
                    o.files.append(FileStatus(f, "orphan", src, "its flow's source no longer exists (kept: use --prune)"))
        o.files.sort(key=lambda s: (s.path, s.status))

        manifest_bytes = self._manifest_bytes()
        if self.check:
            # Only the files count: a manifest whose fingerprints differ (another flowc or
            # library version) with the same files is not drift.
            return o

        removed = {s.path for s in o.files if s.status == "orphan"
                   and (s.flow in named or s.flow == SHARED or s.flow not in self.records)}
        o.removed = len(removed)
        changed = bool(self.staging and self.staging.written) or bool(removed) or manifest_bytes != manifest_raw
        if not changed:
            self._discard()
            self.out.save_stats(files_before)
            return o
        staging = self.stage()
        for f, sha in sorted(self.keep.items()):
            staging.link(f, self.out.path / f)
        for s in o.files:
            if s.path in self.keep:
                continue
            if s.status == "unknown" or (s.status == "orphan" and s.path not in removed):
                staging.link(s.path, self.out.path / s.path)
        staging.write(MANIFEST, manifest_bytes)
        staging.written.pop()  # the manifest is not one of the flows' files
        written = list(staging.written)
        self.out.swap(staging)
        self.staging = None
        o.swapped = True
        for f in written:
            src = self.claimed.get(f)
            if src is not None:
                self.out.remember(f, self.records[src]["outputs"][f])
        files_after = [f for rec in self.records.values() for f in rec["outputs"]]
        self.out.save_stats(files_after)
        o.files = [s for s in o.files if s.path not in removed]
        return o

    def _discard(self) -> None:
        if self.staging is not None:
            shutil.rmtree(self.staging.root, ignore_errors=True)
            self.staging = None

    # -- one flow

    def _root_field(self, froot: Path) -> str:
        """Where a flow's project root is, relative to the output directory's folder (the
        manifest moves with a checkout that holds both)."""
        return Path(os.path.relpath(froot, self.out.path.parent)).as_posix()

    def _root_of(self, rec: dict) -> Path:
        return Path(os.path.normpath(self.out.path.parent / rec.get("root", ".")))

    def _source_path(self, rel: str, rec: dict) -> Path:
        return Path(rel) if os.path.isabs(rel) else self._root_of(rec) / rel

    def _reuse(self, rel: str, p: Path, froot: Path, rec: dict | None) -> bool:
        """Keep a flow's recorded output when nothing it depends on changed and its files
        are intact: no parsing, no checking, no rendering."""
        if rec is None:
            return False
        try:
            data = Path(p).read_bytes()
        except OSError:
            return False
        if rec.get("root") != self._root_field(froot):
            return False
        base = str(froot)
        imports = {i: self.digests.of(os.path.join(base, i)) for i in rec.get("imports", [])}
        if None in imports.values():
            return False
        digest = self.digests.of(os.path.join(base, rel), data)
        if fingerprint(self.env_key, rel, digest or "", imports) != rec.get("fingerprint"):
            return False
        if not all(self.out.intact(f, sha) for f, sha in rec["outputs"].items()):
            return False
        for f, sha in rec["outputs"].items():
            if f in self.claimed:
                self._conflict_file(f, self.claimed[f], rel)
            self.claimed[f] = rel
            self.keep[f] = sha
        self.records[rel] = rec
        self.outcome.unchanged += len(rec["outputs"])
        return True

    def _compile(self, rel: str, froot: Path, flow, imports: list[str], result) -> None:
        o = self.outcome
        outputs: dict[str, str] = {}
        names: dict[str, list[str]] = {}
        # The checks' and every target's diagnostics together: suppressions and warning
        # settings apply to all of them at once.
        extra = [d for emitter in self.emitters.values() for d in emitter.unsupported(flow)]
        self.diagnose(rel, list(dict.fromkeys([*result.diagnostics, *extra])), result.sources, policy=True)
        for name, emitter in self.emitters.items():
            if o.errors:
                continue  # once anything failed nothing is written: only diagnostics matter
            files = emitter.render(flow)
            names[name] = _engine_names(name, files)
            for out_rel, text in files.items():
                self._output(name, out_rel, text, rel, outputs)
            del files
        self.records[rel] = {
            "root": self._root_field(froot),
            "fingerprint": self._fingerprint(rel, froot, imports),
            "imports": imports,
            "number": _number_record(flow),
            "names": names,
            "outputs": outputs,
        }

    def _fingerprint(self, rel: str, froot: Path, imports: list[str]) -> str:
        def digest(path: str) -> str | None:
            return self.digests.of(os.path.join(str(froot), path))

        return fingerprint(self.env_key, rel, digest(rel) or "", {i: digest(i) for i in imports})

    def _output(self, target: str, out_rel: str, text: str, owner: str, outputs: dict[str, str]) -> None:
        """One rendered file of `owner` (a flow, or SHARED): claimed in the output directory
        (E702 when another owner made the same file), recorded with its sha256, then placed."""
        dest = f"{target}/{out_rel}" if self.multi else out_rel
        if dest in self.claimed and self.claimed[dest] != owner:
            self._conflict_file(dest, self.claimed[dest], owner)
            return
        self.claimed[dest] = owner
        data = text.encode("utf-8")
        sha = hashlib.sha256(data).hexdigest()
        outputs[dest] = sha
        self._place(dest, data, sha)

    def _place(self, dest: str, data: bytes, sha: str) -> None:
        """Compare (--check) or stage one rendered file."""
        o = self.outcome
        if self.check:
            p = self.out.path / dest
            if not p.exists():
                o.files.append(FileStatus(dest, "missing", self.claimed[dest]))
            elif not self.out.intact(dest, sha):
                o.files.append(FileStatus(dest, "stale", self.claimed[dest]))
            else:
                o.unchanged += 1
            return
        if self.out.intact(dest, sha):
            self.keep[dest] = sha
            o.unchanged += 1
        else:
            self.stage().write(dest, data)
            o.written += 1

    def _shared(self, rec: dict | None) -> None:
        """The files every flow shares (Target.shared_outputs: the region table), written
        once whatever flows are compiled. They depend only on the settings and flowc itself,
        so they are made again only when the environment's key changed or a file is not
        intact."""
        if rec is not None and rec.get("fingerprint") == self.env_key and \
                all(self.out.intact(f, sha) for f, sha in rec["outputs"].items()):
            for f, sha in rec["outputs"].items():
                self.claimed[f] = SHARED
                self.keep[f] = sha
            self.records[SHARED] = rec
            self.outcome.unchanged += len(rec["outputs"])
            return
        outputs: dict[str, str] = {}
        for name, emitter in self.emitters.items():
            for out_rel, text in emitter.shared_outputs().items():
                self._output(name, out_rel, text, SHARED, outputs)
        self.records[SHARED] = {"fingerprint": self.env_key, "imports": [], "outputs": outputs}

    # -- across flows

    def _conflict_file(self, dest: str, first: str, second: str) -> None:
        self._add_cross(error("E702", f"`{first}` and `{second}` both generate `{dest}`",
                              None, help="rename one of the flows (file names come from the flow's name)"),
                        second)

    def _add_cross(self, d: Diagnostic, file: str) -> None:
        if d.span is None:
            d = Diagnostic(code=d.code, message=d.message, span=None, label=d.label, help=d.help,
                           notes=d.notes, file=file)
        self.diagnose(file, [d], self._source_for(file))

    def _source_for(self, rel: str) -> dict[str, SourceFile]:
        if rel in self.diag_sources:
            return {}
        try:
            text = self._source_path(rel, self.records.get(rel, {})).read_bytes().decode("utf-8", errors="replace")
        except OSError:
            return {}
        return {rel: SourceFile(rel, text)}

    def _cross_flow_checks(self) -> None:
        """One 400 number per flow and one owner per engine-wide name, over every flow the
        output directory will hold (those compiled now and those kept from earlier runs)."""
        numbers: dict[str, list[str]] = {}
        names: dict[tuple[str, str], list[str]] = {}
        for src, rec in sorted(self.records.items()):
            num = rec.get("number")
            if num:
                numbers.setdefault(num["value"], []).append(src)
            for target, values in rec.get("names", {}).items():
                for v in values:
                    names.setdefault((target, v), []).append(src)
        for number, flows in sorted(numbers.items()):
            if len(flows) < 2:
                continue
            shown = f"400-{number[3:6]}-{number[6:]}" if len(number) == 10 and number.startswith("400") else number
            for src in flows:
                others = [f for f in flows if f != src]
                where = [self._where(f) for f in others]
                rec = self.records[src]["number"]
                span = (Span(src, rec["line"], rec["col"], rec.get("end_line", rec["line"]), rec.get("end_col", rec["col"] + 1))
                        if "line" in rec else None)
                self._add_cross(error("E701", f"the 400 number {shown} is also the number of {', '.join(others)}",
                                      span, label="the same number as another flow in this output directory",
                                      notes=tuple(f"the other is at {w}" for w in where),
                                      help="a 400 number reaches exactly one flow: change one of them, or compile "
                                           "them into different output directories"), src)
        for (target, value), flows in sorted(names.items()):
            if len(flows) < 2:
                continue
            kind, _, name = value.partition(":")
            for src in flows:
                others = [f for f in flows if f != src]
                self._add_cross(error("E702", f"{target}: {kind} `{name}` is also defined by {', '.join(others)}", None,
                                      help="two flows on one PBX cannot share an engine-wide name: rename one "
                                           "flow, or check the settings that name shared objects "
                                           "(voicemail_context, voicemail_domain, moh_class)"), src)

    def _where(self, src: str) -> str:
        num = self.records[src].get("number") or {}
        return f"{src}:{num['line']}:{num['col']}" if "line" in num else src

    def _manifest_bytes(self) -> bytes:
        """Sorted, one line per flow (diffs of a committed output show which flows changed);
        json's C encoder (indent= would use the slow Python one: 2,000 flows cost 0.5 s)."""
        def line(value) -> str:
            return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))

        flows = ",\n".join(f"  {line(src)}: {line(self.records[src])}" for src in sorted(self.records))
        head = {"format": MANIFEST_FORMAT, "generator": f"flowc {__version__}", "targets": self.targets}
        fields = "".join(f" {line(k)}: {line(v)},\n" for k, v in sorted(head.items()))
        return ("{\n" + fields + ' "flows": {\n' + flows + ("\n" if flows else "") + " }\n}\n").encode("utf-8")
