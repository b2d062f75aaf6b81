"""The grammar and the parser boundary: LALR without conflicts, spans, syntax errors."""

from __future__ import annotations

import pytest
from conftest import EXAMPLES, ROOT

from flowc.diagnostics import FlowcError
from flowc.parser import parse
from flowc.source import SourceFile


def test_grammar_builds_in_strict_lalr_mode():
    # strict=True fails on any shift/reduce conflict and on terminals that can collide.
    from lark import Lark

    grammar = (ROOT / "grammar" / "flow.lark").read_text(encoding="utf-8")
    Lark(grammar, parser="lalr", lexer="contextual", strict=True, maybe_placeholders=True)


@pytest.mark.parametrize("path", sorted(EXAMPLES.rglob("*.flow")), ids=lambda p: p.name)
def test_examples_parse(path):
    if "invalid" in path.parts:
        pytest.skip("invalid examples are tested in test_diagnostics")
    tree = parse(SourceFile(str(path), path.read_text(encoding="utf-8")))
    assert tree.data == "start"


def syntax_error(text: str):
    with pytest.raises(FlowcError) as exc:
        parse(SourceFile("t.flow", text))
    (d,) = exc.value.diagnostics
    return d


def test_unexpected_token_names_what_was_expected_in_words():
    d = syntax_error("flow f {\n  number 4008001234\n  step a { play welcome hangup }\n}\n")
    assert d.code == "E101"
    assert (d.span.line, d.span.col) == (3, 17)
    assert "a quoted string" in d.message
    assert "__ANON" not in d.message and "STRING" not in d.message


def test_end_of_file_points_past_the_last_character():
    d = syntax_error("flow f {\n  step a { hangup }\n")
    assert d.code == "E103"
    assert (d.span.line, d.span.col) == (2, 20)
    assert "`}`" in d.message


def test_unterminated_string():
    d = syntax_error('flow f { title "abc\n}')
    assert d.code == "E104"
    assert (d.span.line, d.span.col) == (1, 16)


def test_full_width_punctuation_gets_a_hint():
    d = syntax_error("flow f｛ }")
    assert d.code == "E102"
    assert "full-width" in d.help


def test_hash_comment_gets_a_hint():
    d = syntax_error("# 注释\nflow f { }")
    assert d.code == "E101"
    assert "//" in d.help


def test_block_without_terminal_explains_what_a_block_needs():
    d = syntax_error('flow f { number 4008001234 step a { play "x" } }')
    assert d.code == "E101"
    assert "goto" in d.message and "hangup" in d.message


def test_deep_nesting_is_refused_before_parsing():
    text = "flow f { step a " + "{ menu { 1 -> " * 100 + "hangup" + " } }" * 100 + " }"
    d = syntax_error(text)
    assert d.code == "E105"


def test_braces_inside_strings_and_comments_do_not_count_as_nesting():
    text = 'flow f { number 4008001234 // {{{{{{{{\n step a { play "' + "{" * 200 + '" hangup } }'
    parse(SourceFile("t.flow", text))


def test_chinese_names_and_strings_parse():
    tree = parse(SourceFile("t.flow", 'flow 客服 { title "某某公司" step 开始 { tag 渠道 = "官网" hangup } }'))
    assert tree.children[0].children[0] == "客服"


def test_arrow_without_spaces():
    parse(SourceFile("t.flow", "flow f { step a { menu { 1->b 2-> b } } step b { hangup } }"))


def test_spans_are_one_based_with_exclusive_end():
    from flowc.pipeline import check_text

    r = check_text("flow f {\n  number 4008001234\n  step start { goto nowhere }\n}\n")
    (d,) = [d for d in r.diagnostics if d.code == "E201"]
    assert (d.span.line, d.span.col, d.span.end_line, d.span.end_col) == (3, 21, 3, 28)
