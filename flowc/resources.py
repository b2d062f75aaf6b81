"""Find the data directories (`grammar/`, `targets/`): in a wheel they are packaged
under `flowc/_data/`, in a source checkout they sit at the repository root."""

from __future__ import annotations

from functools import cache
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


@cache
def data_dir(name: str) -> Path:
    for candidate in (_PACKAGE_DIR / "_data" / name, _PACKAGE_DIR.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"flowc installation is incomplete: no {name}/ directory")


CACHE_LIMIT_MB = 64  # default bound of the cache folder; FLOWC_CACHE_MAX_MB overrides it
_pruned: set[Path] = set()


def cache_dir() -> Path | None:
    """A per-user folder for caches that only speed things up (parser tables, compiled
    templates, region tables, phone verdicts); None when no writable place exists, and then
    nothing is cached. The first use in a process keeps it within its bound (`prune_cache`)."""
    import os
    import tempfile

    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    for folder in (Path(base) / "flowc", Path(tempfile.gettempdir()) / f"flowc-{os.getuid()}"):
        try:
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            if _trusted(folder):
                if folder not in _pruned:
                    _pruned.add(folder)
                    prune_cache(folder)
                return folder
        except OSError:
            continue
    return None


def cache_limit() -> int:
    """The cache folder's bound in bytes (FLOWC_CACHE_MAX_MB, default CACHE_LIMIT_MB; 0: no cache kept)."""
    import os

    try:
        mb = float(os.environ.get("FLOWC_CACHE_MAX_MB", CACHE_LIMIT_MB))
    except ValueError:
        mb = CACHE_LIMIT_MB
    return max(0, int(mb * 1024 * 1024))


def prune_cache(folder: Path, limit: int | None = None) -> list[str]:
    """Keep `folder` within `limit` bytes: when it holds more, remove the least recently used
    entries (oldest modification time: a hit touches its entry) until it holds at most three
    quarters of the limit, so that pruning is rare. Entries are only ever a speed-up; an
    entry in use by another process is at worst computed again. Returns the names removed."""
    import os
    import time

    limit = cache_limit() if limit is None else limit
    try:
        entries = []
        with os.scandir(folder) as it:
            for e in it:
                if e.is_file(follow_symlinks=False):
                    st = e.stat(follow_symlinks=False)
                    entries.append((st.st_mtime, st.st_size, e.name))
    except OSError:
        return []
    total = sum(size for _, size, _ in entries)
    if total <= limit:
        return []
    removed = []
    now = time.time()
    for mtime, size, name in sorted(entries):
        if total <= limit * 3 // 4:
            break
        if name.startswith(".") and now - mtime < 60:  # another process's write in progress
            continue
        try:
            os.unlink(folder / name)
        except OSError:
            continue
        total -= size
        removed.append(name)
    return removed


def touch(path: Path) -> None:
    """Mark a cache entry as used now (the cache is pruned least recently used first)."""
    import os

    try:
        os.utime(path)
    except OSError:
        pass


def note_written(folder: Path) -> None:
    """After writing an entry: prune if the folder went over its bound."""
    prune_cache(folder)


def _trusted(folder: Path) -> bool:
    """Ours alone: the cache holds code (compiled templates, pickled parser tables), and a
    folder in a shared /tmp could have been made by someone else first."""
    import os

    st = folder.stat()
    return st.st_uid == os.getuid() and not st.st_mode & 0o002 and os.access(folder, os.W_OK)


def disk_cached(kind: str, key: str, compute):
    """`compute()` (a JSON-able value), remembered in the cache folder under `kind` and a
    digest of `key`. The caller's key must cover every input, code included: an entry is
    only ever reused for exactly the same inputs. Any cache trouble just recomputes."""
    import hashlib
    import json
    import os

    folder = cache_dir()
    path = folder / f"{kind}-{hashlib.sha256(key.encode()).hexdigest()[:24]}.json" if folder else None
    if path is not None:
        try:
            value = json.loads(path.read_text(encoding="utf-8"))
            touch(path)
            return value
        except (OSError, ValueError):
            pass
    value = compute()
    if path is not None:
        try:
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(value, ensure_ascii=False), encoding="utf-8")
            os.replace(tmp, path)
            note_written(folder)
        except OSError:
            pass
    return value


def source_stamp(*modules) -> str:
    """A digest of modules' source code, for cache keys that must change with the code."""
    import hashlib

    digest = hashlib.sha256()
    for m in modules:
        digest.update(Path(m.__file__).read_bytes())
    return digest.hexdigest()[:16]
