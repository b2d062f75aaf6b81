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


def cache_dir() -> Path | None:
    """A per-user folder for caches that only speed things up (parser tables, compiled
    templates, region tables); None when no writable place exists, and then nothing is cached."""
    import os
    import tempfile

    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    for folder in (Path(base) / "flowc", Path(tempfile.gettempdir()) / f"flowc-{os.getuid()}"):
        try:
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            if _trusted(folder):
                return folder
        except OSError:
            continue
    return None


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
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            pass
    value = compute()
    if path is not None:
        try:
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(value, ensure_ascii=False), encoding="utf-8")
            os.replace(tmp, path)
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
