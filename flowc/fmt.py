"""`flowc fmt`: source text -> the same program in one canonical layout, every comment kept.

The formatter works on the concrete syntax tree, not the IR: a second parser built from
the same grammar keeps every token (keywords, braces, commas) and hands comments to a
lexer callback. It only ever changes the whitespace *between* tokens, so the token
sequence, and with it the meaning, is unchanged by construction (tests check the IR too).

Layout:
* two-space indentation; one statement per line; `{` ends the line that opens a block;
* the blocks of declarations are always expanded; the block of a step, a terminal or an
  arm (`step a { hangup }`, `dial x { failed -> y }`, `2 -> { play "a" goto b }`) stays
  on one line when it was written on one line, holds no comment and fits in `WIDTH`
  columns;
* spaces around words and `->`, `=`; none before `,` and `)`, none after `(`, none
  around the `-` of a day range (`mon-fri`);
* blank lines between statements are kept, at most one; declarations with braces and
  steps written over several lines are always set apart by one;
* a comment stays where it was relative to the tokens: on its own line before the next
  token, or at the end of the line of the token before it. Trailing comments of
  consecutive lines at one indentation are aligned when their code widths are close;
* comma lists longer than `WIDTH` columns wrap, continuation lines indented 4 more;
* schedule rules written on one line stay on one line: whether two rules share a line is
  what warning W404 looks at.
"""

from __future__ import annotations

import threading
import unicodedata
from dataclasses import dataclass, field
from functools import cache

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedInput

from .diagnostics import Diagnostic, FlowcError
from .source import SourceFile

WIDTH = 100
INDENT = "  "
CONTINUATION = "    "
ALIGN_SPREAD = 40  # trailing comments are aligned when the code widths differ by at most this
_EXPANDED = {"group_decl", "schedule_decl", "list_decl", "survey_decl", "flow_decl"}
_PUNCT_NO_SPACE_BEFORE = {",", ")"}


def width(text: str) -> int:
    """Display width: CJK characters take two columns."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


@dataclass
class _Comment:
    text: str
    blank_before: bool  # a blank line separates it from what comes before


@dataclass
class _Attach:
    """What surrounds one significant token in the source."""

    leading: list[_Comment] = field(default_factory=list)
    trailing: str | None = None
    newlines_before: int = 0  # between the previous token or comment and this token (or its first leading comment)
    newlines_after_leading: int = 0  # between the last leading comment and the token


_lock = threading.Lock()
_comments: list[Token] = []


@cache
def _lark() -> Lark:
    """A parser of the same grammar that keeps every token and reports comments; its
    tables are cached per user like the checker's (flowc.parser), keyed by the grammar."""
    import hashlib

    import lark.lexer

    from .parser import _grammar
    from .resources import cache_dir

    grammar = _grammar()
    folder = cache_dir()
    cache: str | bool = False
    if folder is not None:
        digest = hashlib.sha256(grammar.encode()).hexdigest()[:16]
        cache = str(folder / f"fmt-grammar-{digest}.lark-cache")
    saved = lark.lexer.has_interegular  # as in parser._build: skip the slow collision analysis
    lark.lexer.has_interegular = False
    try:
        return Lark(grammar, parser="lalr", lexer="contextual", keep_all_tokens=True, maybe_placeholders=True,
                    lexer_callbacks={"COMMENT": _comments.append}, cache=cache)
    finally:
        lark.lexer.has_interegular = saved


def _parse(text: str) -> tuple[Tree, list[Token]]:
    with _lock:
        _comments.clear()
        try:
            tree = _lark().parse(text)
        finally:
            comments = list(_comments)
            _comments.clear()
    return tree, comments


def _tokens(tree: Tree) -> list[Token]:
    out: list[Token] = []
    stack: list = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, Token):
            out.append(node)
        elif isinstance(node, Tree):
            stack.extend(reversed([c for c in node.children if c is not None]))
    return out


class _Formatter:
    def __init__(self, text: str, tree: Tree, comments: list[Token]):
        self.text = text
        self.tree = tree
        self.tokens = _tokens(tree)
        self.att: dict[int, _Attach] = {}  # by start_pos; -1 is the end of the file
        self._attach(comments)
        self.lines: list[list] = []  # [code, trailing comment or None]
        self.cur: str | None = None
        self.cont = ""  # indentation of continuation lines of the current statement

    # ------------------------------------------------------------ comments and blank lines

    def _attach(self, comments: list[Token]) -> None:
        items = sorted([(t.start_pos, 0, t) for t in self.tokens] + [(c.start_pos, 1, c) for c in comments],
                       key=lambda x: x[0])
        prev_line = None  # line of the previous significant token, for trailing comments
        prev_tok: Token | None = None
        pending: list[_Comment] = []
        pending_nl = 0
        last_end = 0
        for _, is_comment, tok in items:
            gap = self.text[last_end:tok.start_pos]
            nl = gap.count("\n")
            if is_comment:
                body = str(tok).rstrip()
                if prev_tok is not None and prev_line == tok.line and not pending and nl == 0:
                    self.att.setdefault(prev_tok.start_pos, _Attach()).trailing = body
                else:
                    if not pending:
                        pending_nl = nl
                    pending.append(_Comment(body, nl >= 2 and (prev_tok is not None or bool(pending))))
            else:
                a = self.att.setdefault(tok.start_pos, _Attach())
                a.leading = pending
                a.newlines_before = pending_nl if pending else nl
                a.newlines_after_leading = nl
                pending = []
                prev_tok = tok
                prev_line = tok.end_line
            last_end = tok.end_pos
        end = self.att.setdefault(-1, _Attach())
        end.leading = pending
        end.newlines_before = pending_nl

    def attach(self, tok: Token) -> _Attach:
        return self.att.get(tok.start_pos) or _Attach()

    # ------------------------------------------------------------ output

    def flush(self) -> None:
        if self.cur is not None:
            self.lines.append([self.cur.rstrip(), None])
            self.cur = None

    def blank(self) -> None:
        self.flush()
        if self.lines and self.lines[-1][0] != "":
            self.lines.append(["", None])

    def new_statement(self, indent: str) -> None:
        self.flush()
        self.cur = indent
        self.cont = indent + CONTINUATION

    def col(self) -> int:
        return width(self.cur if self.cur is not None else self.cont)

    def put(self, text: str, space: bool) -> None:
        if self.cur is None:
            self.cur = self.cont
        elif space and self.cur.strip():
            self.cur += " "
        self.cur += text

    def trailing(self, comment: str) -> None:
        self.lines.append([(self.cur or "").rstrip(), comment])
        self.cur = None

    def own_line_comments(self, comments: list[_Comment], indent: str, first_blank: bool) -> None:
        """Comments on their own lines at `indent`; blank lines between them kept."""
        for i, c in enumerate(comments):
            if (c.blank_before if i else first_blank):
                self.blank()
            self.flush()
            self.lines.append([indent + c.text, None])

    # ------------------------------------------------------------ tokens

    @staticmethod
    def sep(prev: Token | None, tok: Token) -> bool:
        if prev is None:
            return False
        if str(tok) in _PUNCT_NO_SPACE_BEFORE and tok.type not in ("STRING", "LITERAL"):
            return False
        if str(prev) == "(" and prev.type != "STRING":
            return False
        if tok.type == "MINUS" or prev.type == "MINUS":
            return False
        return True

    def token(self, tok: Token, prev: Token | None, skip_leading: bool = False) -> None:
        a = self.attach(tok)
        if a.leading and not skip_leading:
            # A comment inside a statement: on lines of its own at the continuation indent.
            self.flush()
            self.own_line_comments(a.leading, self.cont, False)
        if (self.cur is not None and self.cur.strip() and prev is not None and str(prev) == ","
                and prev.type == "COMMA" and self.col() + 2 + width(str(tok)) > WIDTH):
            self.flush()  # wrap a long comma list
        self.put(str(tok), self.sep(prev, tok))
        if a.trailing is not None:
            self.trailing(a.trailing)

    # ------------------------------------------------------------ flat form (one line)

    def flat(self, node) -> str | None:
        """The node on one line, or None when it cannot be: it holds a comment, or a block
        that must be or was written expanded."""
        toks = _tokens(node) if isinstance(node, Tree) else [node]
        if isinstance(node, Tree) and any(isinstance(n, Tree) and n.data in _EXPANDED | {"step_decl"}
                                          for n in node.iter_subtrees()):
            return None
        out = []
        prev = None
        for tok in toks:
            a = self.attach(tok)
            if a.leading or a.trailing is not None:
                return None
            if str(tok) == "{" and tok.type == "LBRACE" and self._opened_on_new_line(tok):
                return None
            if prev is not None and (self.sep(prev, tok)):
                out.append(" ")
            out.append(str(tok))
            prev = tok
        return "".join(out).replace("{ }", "{}")

    def _opened_on_new_line(self, lbrace: Token) -> bool:
        i = lbrace.end_pos
        text = self.text
        while i < len(text) and text[i] in " \t\r":
            i += 1
        return i < len(text) and text[i] == "\n"

    # ------------------------------------------------------------ structure

    def run(self) -> str:
        items = [c for c in self.tree.children if c is not None]
        self.statements(items, "", top=True)
        end = self.att.get(-1)
        if end and end.leading:
            self.own_line_comments(end.leading, "", bool(self.lines) and end.newlines_before >= 2)
        self.flush()
        self.align()
        while self.lines and self.lines[-1][0] == "" and self.lines[-1][1] is None:
            self.lines.pop()
        if not self.lines:
            return ""
        return "\n".join(code if comment is None else f"{code}{' ' * (2 if code else 0)}{comment}".rstrip()
                         for code, comment in self.lines) + "\n"

    def statements(self, items: list, indent: str, top: bool = False, owner: str | None = None) -> None:
        prev_item = None
        for item in items:
            a = self.attach(_first_token(item))
            if (prev_item is not None and isinstance(item, Tree) and item.data == "schedule_rule"
                    and isinstance(prev_item, Tree) and prev_item.data == "schedule_rule"
                    and not a.leading and a.newlines_before == 0 and self.cur is not None):
                # Rules on one line stay on one line (W404 reads the lines).
                self.node(item, indent, prev=_last_token(prev_item))
                prev_item = item
                continue
            blank = prev_item is not None and (a.newlines_before >= 2 or self.sets_apart(prev_item, item, top, owner,
                                                                                         indent))
            if a.leading:
                self.own_line_comments(a.leading, indent, blank)
                blank = a.newlines_after_leading >= 2
            if blank:
                self.blank()
            self.new_statement(indent)
            self.node(item, indent, prev=None, skip_leading=True)
            prev_item = item

    def node(self, node, indent: str, prev: Token | None, skip_leading: bool = False) -> Token | None:
        """Emit `node` on the current line (continuing it); return its last token."""
        if isinstance(node, Token):
            self.token(node, prev, skip_leading)
            return node
        children = [c for c in node.children if c is not None]
        i = 0
        while i < len(children):
            c = children[i]
            if isinstance(c, Token) and c.type == "LBRACE":
                j = max(k for k, x in enumerate(children) if isinstance(x, Token) and x.type == "RBRACE")
                prev = self.block(node, c, children[i + 1:j], children[j], indent, prev)
                i = j + 1
                continue
            prev = self.node(c, indent, prev, skip_leading=skip_leading and i == 0)
            i += 1
        return prev

    def block(self, owner: Tree, lbrace: Token, stmts: list, rbrace: Token, indent: str,
              prev: Token | None) -> Token:
        if owner.data not in _EXPANDED:
            flat = self.flat_block(lbrace, stmts, rbrace)
            if flat is not None and self.col() + 1 + width(flat) <= WIDTH:
                self.put(flat, self.sep(prev, lbrace))
                trailing = self.attach(rbrace).trailing
                if trailing is not None:
                    self.trailing(trailing)
                return rbrace
        self.token(lbrace, prev)
        inner = indent + INDENT
        self.statements(stmts, inner, owner=owner.data)
        a = self.attach(rbrace)
        if a.leading:
            self.own_line_comments(a.leading, inner, False)
        self.new_statement(indent)
        self.token(rbrace, None, skip_leading=True)
        return rbrace

    def sets_apart(self, prev, item, top: bool, owner: str | None, indent: str) -> bool:
        """Blank lines the layout requires: around braced declarations at the top level,
        around steps written over several lines in a flow."""
        if top:
            return _has_braces(prev) or _has_braces(item)
        if owner == "flow_decl":
            return self.multiline_step(prev, indent) or self.multiline_step(item, indent)
        return False

    def multiline_step(self, node, indent: str) -> bool:
        if not (isinstance(node, Tree) and node.data == "step_decl"):
            return False
        body = _step_body(node)
        children = [c for c in body.children if c is not None]
        flat = self.flat_block(children[0], children[1:-1], children[-1])
        head = f"{indent}step {_name_of(node)} "
        return flat is None or width(head) + width(flat) > WIDTH

    def flat_block(self, lbrace: Token, stmts: list, rbrace: Token) -> str | None:
        if self._opened_on_new_line(lbrace):
            return None
        a, b = self.attach(lbrace), self.attach(rbrace)
        if a.leading or a.trailing is not None or b.leading:
            return None  # (a comment after the `}` stays after it)
        parts = []
        for s in stmts:
            f = self.flat(s)
            if f is None:
                return None
            parts.append(f)
        return "{ " + " ".join(parts) + " }" if parts else "{}"

    def align(self) -> None:
        """Align trailing comments of consecutive lines that share an indentation."""
        i = 0
        lines = self.lines
        while i < len(lines):
            if lines[i][1] is None or not lines[i][0].strip():
                i += 1
                continue
            ind = _indent_of(lines[i][0])
            j = i
            while j < len(lines) and lines[j][1] is not None and lines[j][0].strip() and _indent_of(lines[j][0]) == ind:
                j += 1
            run = lines[i:j]
            widths = [width(code) for code, _ in run]
            if len(run) > 1 and max(widths) - min(widths) <= ALIGN_SPREAD:
                target = max(widths)
                for line, w in zip(run, widths):
                    line[0] = line[0] + " " * (target - w)
            i = j


def _indent_of(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _first_token(node) -> Token:
    if isinstance(node, Token):
        return node
    for c in node.children:
        if c is not None:
            return _first_token(c)
    raise ValueError("empty node")


def _last_token(node) -> Token:
    if isinstance(node, Token):
        return node
    for c in reversed(node.children):
        if c is not None:
            return _last_token(c)
    raise ValueError("empty node")


def _name_of(node: Tree) -> str:
    return next(str(c) for c in node.children if isinstance(c, Token) and c.type == "NAME")


def _step_body(step: Tree) -> Tree:
    return next(c for c in step.children if isinstance(c, Tree) and c.data == "block")


def _has_braces(node) -> bool:
    return isinstance(node, Tree) and node.data in _EXPANDED


def format_text(text: str, path: str = "<input>") -> str:
    """The canonical layout of `text`. Raises FlowcError with the syntax diagnostics
    (the same as `flowc check`'s) when the text does not parse."""
    from .parser import MAX_FILE_CHARS, _check_nesting, _syntax_diagnostic, parse

    source = SourceFile(path, text)
    if len(text) > MAX_FILE_CHARS or _check_nesting(source):
        parse(source)  # raises the checker's E105/E106
    try:
        tree, comments = _parse(text)
    except UnexpectedInput as exc:
        parse(source)  # raises the checker's own syntax diagnostic (E1xx) ...
        raise FlowcError([_syntax_diagnostic(source, exc)]) from None  # ... which it always does
    return _Formatter(text, tree, comments).run()
