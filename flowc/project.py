"""The project root: the one folder that paths in diagnostics, generated output and the
output manifest are relative to, and that imports may not leave.

The root is the nearest folder, from the current directory upwards, that holds a
`flowc.toml`, a `pyproject.toml` with a `[tool.flowc]` table, or a `.git` (folder or file);
without any, the current directory itself. Symbolic links are resolved, so `gen/`,
`./gen/` and `/abs/path/gen/` name the same files the same way.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path


def _has_flowc_table(pyproject: Path) -> bool:
    try:
        import tomllib

        return "flowc" in tomllib.loads(pyproject.read_text(encoding="utf-8")).get("tool", {})
    except (OSError, UnicodeDecodeError, ValueError):
        return False


@cache
def _root_from(start: str) -> Path:
    here = Path(start)
    for folder in (here, *here.parents):
        if (folder / "flowc.toml").is_file() or (folder / ".git").exists():
            return folder
        p = folder / "pyproject.toml"
        if p.is_file() and _has_flowc_table(p):
            return folder
    return here


def project_root(start: str | Path | None = None) -> Path:
    """The project root for `start` (default: the current directory), resolved."""
    return _root_from(os.path.realpath(start if start is not None else os.getcwd()))


def project_path(path: str | Path, root: Path | None = None) -> str:
    """`path` as generated output and manifests name it: relative to the project root
    with `/` separators when it lies inside it, else its resolved absolute path."""
    root = project_root() if root is None else root
    real = os.path.realpath(path)
    try:
        rel = Path(real).relative_to(root)
    except ValueError:
        return Path(real).as_posix()
    return rel.as_posix()
