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
    """A per-user folder for caches that only speed things up (parser tables, region
    tables); None when no writable place exists, and then nothing is cached."""
    import os
    import tempfile

    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    for folder in (Path(base) / "flowc", Path(tempfile.gettempdir()) / f"flowc-{os.getuid()}"):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            if os.access(folder, os.W_OK):
                return folder
        except OSError:
            continue
    return None
