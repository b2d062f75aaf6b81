"""Format the ```flow snippets of the docs and the README with `flowc fmt` (`--check`: only report).

A snippet is a whole file, or a fragment the docs place inside a flow (steps, settings) or
inside a step (a terminal such as `menu { ... }`): fragments are formatted inside such a
wrapper and unwrapped again. Snippets that do not parse in any of these ways are left alone.

    python tools/fmt_docs.py          # rewrite
    python tools/fmt_docs.py --check  # exit 1 and list the snippets that would change
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flowc.diagnostics import FlowcError  # noqa: E402
from flowc.fmt import format_text  # noqa: E402

FENCE = re.compile(r"^```flow\n(.*?)^```", re.S | re.M)
WRAPPERS = [("", "", 0), ("flow wrapper__ {\n", "}\n", 1), ("flow wrapper__ {\nstep wrapper__ {\n", "}\n}\n", 2)]


def format_snippet(text: str) -> str | None:
    """The snippet in the canonical layout, or None if it is not flow code flowc can read."""
    for head, tail, depth in WRAPPERS:
        try:
            out = format_text(head + text + tail)
        except FlowcError:
            continue
        if not depth:
            return out
        lines = out.split("\n")[depth:-(depth + 1)]
        pad = "  " * depth
        if not all(line.startswith(pad) or not line for line in lines):
            return None
        return "\n".join(line[len(pad):] for line in lines) + "\n"
    return None


def docs() -> list[Path]:
    return sorted((ROOT / "docs").rglob("*.md")) + [ROOT / "README.md"]


def main(argv: list[str]) -> int:
    check = "--check" in argv
    dirty = []
    for doc in docs():
        text = doc.read_text(encoding="utf-8")

        def fix(m: re.Match) -> str:
            out = format_snippet(m.group(1))
            if out is None or out == m.group(1):
                return m.group(0)
            line = text[: m.start()].count("\n") + 1
            dirty.append(f"{doc.relative_to(ROOT)}:{line}")
            return "```flow\n" + out + "```"

        new = FENCE.sub(fix, text)
        if new != text and not check:
            doc.write_text(new, encoding="utf-8")
    for d in dirty:
        print(("would reformat " if check else "reformatted ") + d)
    return 1 if check and dirty else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
