"""`flowc diff`: what changed between two versions of flows, in words, and which calls now behave differently.

`sources` reads each side (a file, a directory, or `REV:path` from git); `structural`
compares the checked IR without positions (part 1, "what changed"); `behaviour` partitions
the calls of both versions into classes and runs one call per class through both in the
interpreter (part 2, "who is affected"); `report` prints text or JSON. docs/diff.md.
"""

from __future__ import annotations

from .report import DiffReport, FlowDiff, diff_sides

__all__ = ["DiffReport", "FlowDiff", "diff_sides"]
