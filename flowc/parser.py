"""Source text -> lark parse tree. Every lark exception becomes a diagnostic here (E1xx)."""

from __future__ import annotations

from functools import cache

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from .diagnostics import Diagnostic, FlowcError, error
from .resources import data_dir
from .source import SourceFile

MAX_FILE_CHARS = 5_000_000
MAX_NESTING = 64

# How terminals read in "expected ..." messages; keywords and punctuation print as themselves.
_TERMINAL_WORDS = {
    "NAME": "a name",
    "STRING": 'a quoted string',
    "LITERAL": "a number, key, duration or date",
    "ZONE": "a time zone such as Asia/Shanghai",
    "$END": "the end of the file",
}


# The parser's options; part of the prebuilt parser's key.
_OPTIONS = {"parser": "lalr", "lexer": "contextual", "propagate_positions": False, "maybe_placeholders": True}
_PREBUILT = "flow-parser.bin"


@cache
def _lark() -> Lark:
    """Build the parser once per process: from the parser shipped in flowc/prebuilt/
    when it was made from this grammar by this lark, else from an on-disk cache when
    one is usable, else from the grammar.

    lark runs interegular's terminal-collision analysis whenever that package is
    installed; it only produces warnings, costs seconds, and the test suite already
    builds the grammar in strict mode (tests/test_parser.py), so it is switched off here.
    """
    grammar = _grammar()
    prebuilt = _load_prebuilt(grammar)
    if prebuilt is not None:
        return prebuilt
    return _build(grammar, cache=_cache_path(grammar))


def _grammar() -> str:
    return (data_dir("grammar") / "flow.lark").read_text(encoding="utf-8")


def _build(grammar: str, cache: str | bool = False) -> Lark:
    import lark.lexer

    saved = lark.lexer.has_interegular
    lark.lexer.has_interegular = False
    try:
        return Lark(grammar, **_OPTIONS, cache=cache)
    finally:
        lark.lexer.has_interegular = saved


def _cache_path(grammar: str) -> str | bool:
    """A per-user cache file for the parse tables (lark keys it by grammar and options)."""
    import hashlib

    from .resources import cache_dir

    folder = cache_dir()
    if folder is None:
        return False
    digest = hashlib.sha256(grammar.encode()).hexdigest()[:16]
    return str(folder / f"grammar-{digest}.lark-cache")


def prebuilt_key(grammar: str | None = None) -> str:
    """Everything the shipped parser depends on: lark's version, the options, the grammar.
    (Its payload is lark's own `Lark.save` pickle of plain data, not Python-version specific.)"""
    import hashlib

    import lark

    grammar = _grammar() if grammar is None else grammar
    return (f"lark-parser lark={lark.__version__} options={sorted(_OPTIONS.items())!r} "
            f"grammar-sha256={hashlib.sha256(grammar.encode()).hexdigest()}")


def build_prebuilt() -> bytes:
    """A fresh parser for the shipped file, as `Lark.save` writes it."""
    import io

    out = io.BytesIO()
    _build(_grammar()).save(out)
    return out.getvalue()


def _load_prebuilt(grammar: str) -> Lark | None:
    import io

    from .prebuilt import shipped

    payload = shipped(_PREBUILT, prebuilt_key(grammar))
    if payload is None:
        return None
    try:
        return Lark.load(io.BytesIO(payload))
    except Exception:  # an unreadable file only costs building the parser  # noqa: BLE001
        return None


def prebuilt_artifacts() -> dict:
    """What this module ships in flowc/prebuilt/ (for tools/prebuild.py)."""
    from .prebuilt import Artifact

    return {_PREBUILT: Artifact(prebuilt_key(), build_prebuilt, same_parser)}


def same_parser(a: bytes, b: bytes) -> bool:
    """Whether two saved parsers are the same parser: `Lark.save` output differs from
    build to build (state numbers, set order), so compare a canonical form."""
    import io

    return _canonical(Lark.load(io.BytesIO(a))) == _canonical(Lark.load(io.BytesIO(b)))


def _canonical(parser: Lark):
    """Terminals, rules and the LALR table with states numbered in a fixed walk order."""
    def rule(r):
        o = r.options
        return (r.origin.name, tuple(s.name for s in r.expansion), r.alias, r.order,
                o.keep_all_tokens, o.expand1, o.priority, tuple(o.empty_indices or ()))

    table = parser.parser.parser.parser.parse_table
    number: dict[int, int] = {}
    queue = [table.start_states[s] for s in sorted(table.start_states)]
    rows = []
    while queue:
        state = queue.pop(0)
        if state in number:
            continue
        number[state] = len(number)
        row = []
        for sym, (action, arg) in sorted(table.states[state].items()):
            if action.name == "Shift":
                queue.append(arg)
                row.append((sym, "shift", arg))
            else:
                row.append((sym, action.name, rule(arg)))
        rows.append(row)
    rows = [[(s, a, number[x] if a == "shift" else x) for s, a, x in row] for row in rows]
    terminals = sorted((t.name, t.pattern.type, t.pattern.value, tuple(sorted(t.pattern.flags)), t.priority)
                       for t in parser.terminals)
    options = {k: v for k, v in parser.options.options.items() if k != "cache"}
    return (terminals, sorted(map(rule, parser.rules)), sorted(parser.lexer_conf.ignore),
            {s: number[v] for s, v in table.start_states.items()},
            {s: number[v] for s, v in table.end_states.items()}, rows, sorted(options.items(), key=str))


@cache
def _terminal_word(name: str) -> str:
    if name in _TERMINAL_WORDS:
        return _TERMINAL_WORDS[name]
    for term in _lark().terminals:
        if term.name == name and term.pattern.type == "str":
            return f"`{term.pattern.value}`"
    return name.lower()


def _expected(names: set[str]) -> str:
    # Punctuation first (it is usually the fix), then keywords, then kinds of word.
    # `_X` terminals are the grammar's internals; `__ANON_n` are unnamed literals such as `->`.
    words = sorted({_terminal_word(n) for n in names if not n.startswith("_") or n.startswith("__ANON")},
                   key=lambda w: (not w.startswith("`"), w[1:2].isalpha(), w))
    if not words:
        return ""
    if len(words) > 8:
        words = words[:8] + ["..."]
    return "expected " + ", ".join(words)


def _check_nesting(source: SourceFile) -> Diagnostic | None:
    """LALR itself is iterative, but later tree walks recurse: refuse absurd nesting up front."""
    depth, in_string, line, col = 0, False, 1, 0
    text = source.text
    i = 0
    while i < len(text):
        ch = text[i]
        col += 1
        if ch == "\n":
            line, col, in_string = line + 1, 0, False
        elif in_string:
            if ch == "\\":
                i += 1
                col += 1
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch == "/" and text.startswith("//", i):
            nl = text.find("\n", i)
            if nl < 0:
                break
            col += nl - i - 1
            i = nl - 1
        elif ch == "{":
            depth += 1
            if depth > MAX_NESTING:
                return error("E105", f"blocks are nested more than {MAX_NESTING} levels deep",
                             source.span(line, col), label="too deep",
                             help="move inner blocks into named steps and `goto` them")
        elif ch == "}":
            depth -= 1
        i += 1
    return None


def parse(source: SourceFile) -> Tree:
    """Parse one file; raise FlowcError with a single syntax diagnostic on failure."""
    if len(source.text) > MAX_FILE_CHARS:
        raise FlowcError([error("E106", f"file has {len(source.text)} characters; flowc accepts at most {MAX_FILE_CHARS}",
                                source.span(1, 1))])
    nesting = _check_nesting(source)
    if nesting:
        raise FlowcError([nesting])
    try:
        return _lark().parse(source.text)
    except UnexpectedInput as exc:
        raise FlowcError([_syntax_diagnostic(source, exc)]) from None


def _syntax_diagnostic(source: SourceFile, exc: UnexpectedInput) -> Diagnostic:
    if isinstance(exc, UnexpectedCharacters):
        line, col = exc.line, exc.column
        ch = source.text[exc.pos_in_stream] if 0 <= exc.pos_in_stream < len(source.text) else ""
        if ch == '"':
            return error("E104", "this string is not closed on the same line", source.span(line, col),
                         label="string starts here", help='close it with `"`; strings cannot span lines')
        shown = repr(ch)[1:-1] if ch and not ch.isprintable() else ch
        expected = _expected(set(exc.allowed or ()))
        return error("E102", f"unexpected character `{shown}`" + (f"; {expected}" if expected else ""),
                     source.span(line, col), label="not valid here",
                     help=_character_hint(ch))
    if isinstance(exc, UnexpectedEOF) or (isinstance(exc, UnexpectedToken) and exc.token.type == "$END"):
        expected = _expected(set(getattr(exc, "accepts", None) or getattr(exc, "expected", None) or ()))
        return error("E103", "the file ends too early" + (f"; {expected}" if expected else ""),
                     source.end_span(), label="file ends here",
                     help="a `{` is probably not closed by a matching `}`")
    assert isinstance(exc, UnexpectedToken)
    tok: Token = exc.token
    accepts = set(exc.accepts or exc.expected or ())
    expected = _expected(accepts)
    end_col = (tok.end_column or tok.column + 1) if tok.end_line == tok.line else tok.column + len(str(tok))
    span = source.span(tok.line, tok.column, tok.line, end_col)
    return error("E101", f"unexpected {_describe_token(tok)}" + (f"; {expected}" if expected else ""),
                 span, label="unexpected here", help=_token_hint(tok, accepts))


def _describe_token(tok: Token) -> str:
    word = str(tok)
    if len(word) > 30:
        word = word[:27] + "..."
    return f"`{word}`"


def _character_hint(ch: str) -> str | None:
    if ch in "；，：（）｛｝“”":
        return "this is a full-width (Chinese) punctuation mark; use the ASCII one"
    if ch == "#":
        return "comments start with `//`"
    if ch == "'":
        return 'strings use double quotes: "..."'
    if ch == ";":
        return "statements need no `;`: start the next one on the same or a new line"
    return None


def _token_hint(tok: Token, accepts: set[str]) -> str | None:
    if str(tok).startswith("#") and "LITERAL" not in accepts:
        return "comments start with `//`"
    if tok.type == "LITERAL" and "NAME" in accepts and tok[:1].isdigit():
        return "names cannot start with a digit"
    if tok.type == "LITERAL" and "LITERAL" not in accepts and str(tok).replace("-", "").isdigit():
        return "write a number in one word (`400-800-1234`) or in quotes (`\"0755 1234 5678\"`)"
    if str(tok) in ("ring", "survey") and "LBRACE" in accepts:
        return f"options of a dial go inside its braces: `dial sales {{ {tok} ... }}`"
    if tok.type == "RBRACE" and any(a not in ("RBRACE",) for a in accepts):
        return "a block must end with where the call goes next: `goto`, `hangup`, `menu`, `dial`, `branch`, ..."
    return None
