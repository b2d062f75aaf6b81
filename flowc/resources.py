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
