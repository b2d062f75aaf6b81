"""The two sides of a diff: a flow file, a directory of flows, or `REV:path` read from git.

A git side is read with `git ls-tree` and `git archive` (no checkout, the work tree is not
touched): every `.flow` file of the revision is unpacked into a temporary directory, so
imports between files resolve as they did in that revision.
"""

from __future__ import annotations

import io
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Side", "SourceError", "open_side"]


class SourceError(Exception):
    """A side that cannot be read (no such path, not a git revision); the message says why."""


@dataclass
class Side:
    spec: str  # as the user wrote it
    files: dict[str, Path]  # match key (path inside the side) -> file on disk
    is_dir: bool
    shown: dict[str, str] = field(default_factory=dict)  # on-disk path -> what reports print
    tmp: tempfile.TemporaryDirectory | None = None

    def show(self, text: str) -> str:
        for real, shown in self.shown.items():
            text = text.replace(real, shown)
        return text

    def close(self) -> None:
        if self.tmp is not None:
            self.tmp.cleanup()
            self.tmp = None


def _git(args: list[str], cwd: Path) -> bytes:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SourceError(f"cannot run git: {exc}") from None
    if done.returncode != 0:
        raise SourceError(done.stderr.decode("utf-8", "replace").strip() or f"git {' '.join(args)} failed")
    return done.stdout


def _flow_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.flow") if p.is_file())


def open_side(spec: str, cwd: Path | None = None) -> Side:
    """Read one side. A path that exists is read from disk; otherwise `REV:path` from git."""
    cwd = cwd or Path.cwd()
    p = Path(spec)
    if p.exists():
        if p.is_dir():
            files = {str(f.relative_to(p)): f for f in _flow_files(p)}
            if not files:
                raise SourceError(f"{spec}: no .flow files in this directory")
            return Side(spec, files, True)
        return Side(spec, {p.name: p}, False)
    rev, sep, path = spec.partition(":")
    if not sep or not rev:
        raise SourceError(f"{spec}: no such file or directory (a git revision is written REV:path, e.g. HEAD~1:flows/)")
    top = Path(_git(["rev-parse", "--show-toplevel"], cwd).decode().strip())
    try:
        _git(["rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"], top)
    except SourceError:
        raise SourceError(f"{spec}: `{rev}` is not a git revision here, and no such file exists") from None
    if path.startswith("./"):  # git's REV:./path is relative to the current directory
        path = str((cwd / path).resolve().relative_to(top.resolve()))
    path = path.strip("/")
    listed = _git(["ls-tree", "-r", "--name-only", "-z", rev], top).decode("utf-8").split("\0")
    flows = [f for f in listed if f.endswith(".flow")]
    inside = [f for f in flows if not path or f == path or f.startswith(path + "/")]
    if not inside:
        raise SourceError(f"{spec}: no .flow file at `{path or '.'}` in {rev}")
    tmp = tempfile.TemporaryDirectory(prefix="flowc-diff-")
    data = _git(["archive", "--format=tar", rev, "--", *flows], top)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for member in tar.getmembers():
            if member.isfile() and member.name.endswith(".flow") and ".." not in Path(member.name).parts:
                dest = Path(tmp.name) / member.name
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_bytes(tar.extractfile(member).read())
    root = Path(tmp.name)
    is_dir = not (len(inside) == 1 and inside[0] == path)
    if is_dir:
        base = root / path if path else root
        files = {str((root / f).relative_to(base)): root / f for f in inside}
    else:
        files = {Path(path).name: root / path}
    return Side(spec, files, is_dir, {str(root) + "/": f"{rev}:"}, tmp)
