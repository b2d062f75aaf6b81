"""Incremental re-parsing for the language server: an edit inside one step's block re-parses
that step only and splices it into the previous parse tree, which the pipeline then
transforms and checks as usual. Anything else (an edit that touches a step's name or its
closing brace, spans steps, lies outside a flow, or does not parse) returns None and the
caller parses the whole file, which also reports the syntax error.

The checker's parse tree keeps no braces, so a step's closing `}` is found by counting
braces in its text from its name on, strings and comments skipped. Tokens after
the step move by the edit's length and line count; the splice is refused when a token
follows the step's `}` on the same line (its column would move too).
"""

from __future__ import annotations

from lark import Token, Tree

from ..parser import MAX_FILE_CHARS, MAX_NESTING, _lark
from ..transform import edge_token


def _close_of(text: str, i: int) -> int:
    """The position of the `}` that closes the block opening at or after `i` (strings and
    comments skipped); -1 if there is none."""
    depth = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "/" and text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
            continue
        if ch == '"':
            i += 1
            while i < n and text[i] not in '"\n':
                i += 2 if text[i] == "\\" else 1
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


def _edge(tree: Tree, end: int) -> Token:
    """The first (`end=0`) or last (`end=-1`) token below a step (transform.edge_token)."""
    token = edge_token(tree, end)
    if token is None:
        raise ValueError("a step without tokens")
    return token


def _tokens(tree: Tree):
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, Token):
            yield node
        elif isinstance(node, Tree):
            stack.extend(c for c in node.children if c is not None)


def update(old_text: str, old_tree: Tree, text: str) -> Tree | None:
    """The parse tree of `text`, made from `old_tree` (the parse of `old_text`, modified in
    place) when the edit lies inside one step's block; None when the caller must parse."""
    if len(text) > MAX_FILE_CHARS or old_text == text:
        return None
    limit = min(len(old_text), len(text))
    a = 0
    while a < limit and old_text[a] == text[a]:
        a += 1
    b = 0
    while b < limit - a and old_text[-1 - b] == text[-1 - b]:
        b += 1
    b_old, b_new = len(old_text) - b, len(text) - b
    found = None
    for flow in old_tree.children:
        if not (isinstance(flow, Tree) and flow.data == "flow_decl"):
            continue
        for i, st in enumerate(flow.children):
            if not (isinstance(st, Tree) and st.data == "step_decl"):
                continue
            name = _edge(st, 0)
            if name.end_pos > a:
                break  # steps are in text order: the edit is before this one
            close = _close_of(old_text, name.end_pos)
            if close < _edge(st, -1).end_pos:
                return None
            if b_old <= close:
                found = (flow, i, name, close)
                break
        if found:
            break
    if found is None:
        return None
    flow, index, name, close = found
    after = close + 1
    while after < len(old_text) and old_text[after] in " \t\r":
        after += 1
    if after < len(old_text) and old_text[after] != "\n" and not old_text.startswith("//", after):
        return None  # something follows the `}` on its line
    delta = len(text) - len(old_text)
    piece = text[name.start_pos:close + delta + 1]
    depth = 0
    for ch in piece:  # braces in strings or comments only make this stricter
        depth += (ch == "{") - (ch == "}")
        if depth > MAX_NESTING - 2:
            return None
    line0, col0 = name.line, name.column - 1
    head = "flow x{step"
    if line0 == 1:
        if col0 < len(head) + 1:
            return None
        prefix = head + " " * (col0 - len(head))
    else:
        prefix = head + "\n" * (line0 - 1) + " " * col0
    try:
        wtree = _lark().parse(prefix + piece + "\n}")
    except Exception:  # a syntax error: the full parse reports it  # noqa: BLE001
        return None
    (wflow,) = wtree.children
    stmts = [c for c in wflow.children[1:] if c is not None]
    if len(stmts) != 1 or not isinstance(stmts[0], Tree) or stmts[0].data != "step_decl":
        return None
    new_step = stmts[0]
    shift = name.start_pos - len(prefix)
    for t in _tokens(new_step):
        t.start_pos += shift
        t.end_pos += shift
    dlines = text.count("\n", a, b_new) - old_text.count("\n", a, b_old)
    if delta or dlines:
        for t in _tokens(old_tree):
            if t.start_pos > close:
                t.start_pos += delta
                t.end_pos += delta
                if dlines:
                    t.line += dlines
                    if t.end_line is not None:
                        t.end_line += dlines
    flow.children[index] = new_step
    return old_tree
