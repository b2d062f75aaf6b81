"""Build flowc/data/pinyin.txt, the table that spells Chinese names of flows, steps and tags
as readable ASCII in generated identifiers (flowc/names.py), from the `pypinyin` package.

Run at development time, not at install or run time:

    python tools/build_pinyin.py            # writes flowc/data/pinyin.txt
    python tools/build_pinyin.py --check    # exit 1 if the file is stale

Identifiers name files, contexts, mailboxes and CDR variables on a deployed PBX, so they
must not change when a user upgrades a library: flowc ships this table and only a flowc
release that regenerates it (noted in CHANGELOG.md) can change a spelling.

Each character of the CJK Unified Ideographs (U+4E00-9FFF), Extension A (U+3400-4DBF) and
the Compatibility Ideographs (U+F900-FAFF) that pypinyin knows gets its first (most common)
reading without tone marks, `ü` as `v` (pypinyin's Style.NORMAL): 行 -> xing, 绿 -> lv.
Readings of single characters, not of words: a table of words would change more often.

Format: one line per syllable, `<syllable> <characters with that first reading>`, sorted.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "flowc" / "data" / "pinyin.txt"
BLOCKS = ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF))


def build() -> str:
    import pypinyin
    from pypinyin import Style
    from pypinyin.pinyin_dict import pinyin_dict
    from pypinyin.style import convert

    by_syllable: dict[str, list[str]] = defaultdict(list)
    for lo, hi in BLOCKS:
        for cp in range(lo, hi + 1):
            readings = pinyin_dict.get(cp)
            if not readings:
                continue
            syllable = convert(readings.split(",")[0], Style.NORMAL, strict=True)
            if not syllable.isascii() or not syllable.isalpha():
                continue
            by_syllable[syllable.lower()].append(chr(cp))
    head = f"# flowc pinyin table: first readings of single characters, from pypinyin {pypinyin.__version__}\n"
    return head + "".join(f"{s} {''.join(chars)}\n" for s, chars in sorted(by_syllable.items()))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if flowc/data/pinyin.txt is stale")
    args = ap.parse_args()
    text = build()
    if args.check:
        current = OUT.read_text(encoding="utf-8") if OUT.is_file() else ""
        # the version line may differ: the table is what matters
        if current.split("\n", 1)[-1] != text.split("\n", 1)[-1]:
            sys.stderr.write(f"{OUT} is stale: run python tools/build_pinyin.py\n")
            return 1
        return 0
    OUT.write_text(text, encoding="utf-8")
    sys.stderr.write(f"wrote {OUT} ({len(text.encode())} bytes)\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
