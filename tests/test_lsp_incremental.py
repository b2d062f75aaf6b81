"""The language server's incremental parse (flowc/lsp/incremental.py) gives exactly the tree
a full parse gives, positions included, for edits inside steps; it declines the rest."""

from __future__ import annotations

import random
import sys

from conftest import EXAMPLES, ROOT

from flowc.lsp.incremental import update
from flowc.parser import _lark

sys.path.insert(0, str(ROOT / "bench"))


def shape(tree):
    out = []

    def walk(node, depth):
        if hasattr(node, "data"):
            out.append((depth, node.data))
            for c in node.children:
                walk(c, depth + 1)
        elif node is None:
            out.append((depth, None))
        else:
            out.append((depth, node.type, str(node), node.line, node.column, node.end_line, node.end_column,
                        node.start_pos, node.end_pos))

    walk(tree, 0)
    return out


EDITS = ['play "x"\n    ', "\n", "  ", 'tag a = "b" ', "// comment\n", "hangup", "}", "{", '"', "->", "menu {",
         "\n\n\n", "x", "中文 ", "1 -> a "]


def test_incremental_parse_equals_full_parse():
    from bench_frontend import large_flow

    rng = random.Random(3)
    texts = [large_flow(steps=80, menus=8, phones=40)] + [p.read_text(encoding="utf-8") for p in sorted(EXAMPLES.glob("*.flow"))]
    used = declined = 0
    for k in range(400):
        text = texts[k % len(texts)]
        tree = _lark().parse(text)
        for _ in range(3):
            i = rng.randrange(len(text))
            if rng.random() < 0.6:  # a harmless edit at a space: it usually still parses
                spaces = [j for j in range(max(0, i - 80), min(len(text), i + 80)) if text[j] in " \n"]
                i = rng.choice(spaces) if spaces else i
                new = text[:i] + rng.choice([" ", "\n", "\n\n  ", "  // note 中文\n", 'play "x" ', "\n"]) + text[i:]
            elif rng.random() < 0.5:
                new = text[:i] + rng.choice(EDITS) + text[i:]
            else:
                new = text[:i] + text[i + rng.randint(1, 6):]
            try:
                expected = _lark().parse(new)
            except Exception:
                expected = None
            got = update(text, tree, new)
            if got is None:
                declined += 1
                if expected is None:
                    break
                tree = expected
            else:
                used += 1
                assert expected is not None, "spliced a text that does not parse"
                assert shape(got) == shape(expected)
                tree = got
            text = new
    assert used > 100 and declined > 50
