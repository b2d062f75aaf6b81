"""Generated identifiers (flowc/names.py) and per-flow engine namespaces (issue 10, items 3, 6
and 7; issue 12 item 12): readable, never two names on one identifier, within every engine
limit by construction, and each flow's mailboxes, queues and contexts its own."""

from __future__ import annotations

import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

from flowc import names
from flowc.checks import CheckOptions
from flowc.emit import get_target
from flowc.emit.tenancy import clashes, engine_names
from flowc.pipeline import check_text
from flowc.settings import load_settings

ROOT = Path(__file__).resolve().parent.parent
YEARS = [2026]

# The flow of issue 10 item 3: flow and step names of CJK characters whose contexts, cut to
# Asterisk's 79 characters, were one context (and the Goto into it looped forever).
LONG = """
phone 前台 13800000001
flow 优选商城全国客服热线优选商城全国客服热线 {
  number 400-600-1234
  tag 主菜单选择服务中心主菜单选择服务中心主菜单选 = "1"
  step 主菜单选择服务中心主菜单选择服务中心主菜单选择服务中心 {
    menu {
      prompt "m/menu"
      1 -> 主菜单选择服务中心主菜单选择服务中心主菜单选择服务中心一
      2 -> 主菜单选择服务中心主菜单选择服务中心主菜单选择服务中心二
      3 -> { extension { prompt "m/ext" digits 8  12345678 前台 } }
    }
  }
  step 主菜单选择服务中心主菜单选择服务中心主菜单选择服务中心一 {
    branch caller { 138* -> 主菜单选择服务中心主菜单选择服务中心主菜单选择服务中心二 else -> 主菜单选择服务中心主菜单选择服务中心主菜单选择服务中心三 }
  }
  step 主菜单选择服务中心主菜单选择服务中心主菜单选择服务中心二 {
    voicemail 8000
  }
  step 主菜单选择服务中心主菜单选择服务中心主菜单选择服务中心三 {
    dial 前台
  }
}
"""


def flow_of(text: str, path: str = "t.flow"):
    result = check_text(text, path, CheckOptions(years=YEARS))
    assert result.flow is not None, [str(d) for d in result.diagnostics]
    return result.flow


def render(target: str, text: str, path: str = "t.flow", **settings) -> dict[str, str]:
    opts = load_settings(overrides={"years": YEARS, **{f"{target}.{k}": v for k, v in settings.items()}},
                         cwd=ROOT)
    emitter = get_target(target, opts)
    flow = flow_of(text, path)
    problems = emitter.unsupported(flow)
    assert not problems, [d.message for d in problems]
    return emitter.render(flow)


def contexts(conf: str) -> list[str]:
    return re.findall(r"^\[([^\]]+)\]", conf, re.M)


# ---------------------------------------------------------------- the algorithm, pinned


def test_spelling_is_pinned() -> None:
    """The documented algorithm (docs/targets/asterisk.md, "Names"): these identifiers name
    files, contexts, mailbox namespaces and CDR columns on deployed PBXes and must never
    change silently."""
    assert names.ident("main_menu") == "main_menu"
    assert names.ident("main.1") == "main-1"  # a step lifted out of an arm
    assert names.ident("售后热线") == "shouhourexian_5bc687"
    assert names.ident("中心") == "zhongxin_260cca"
    assert names.ident("开") == "kai_39eae6"
    assert names.ident("VIP客户") == "VIP_kehu_c05908"
    assert names.ident("开始.1") == "kaishi-1_b2e2f7"
    assert names.ident("Café") == "Cafe_73473d"
    assert names.ident("优选商城全国客服热线", names.FLOW_MAX) == "youxuanshangcheng_7cbba2"
    assert names.ident("a_very_long_ascii_step_name_over_limit") == "a_very_long_ascii_0ca74e"
    assert names.digest("售后热线") == "5bc687"


def test_pinyin_table_is_current() -> None:
    """flowc/data/pinyin.txt is what tools/build_pinyin.py makes from pypinyin."""
    pytest.importorskip("pypinyin")
    done = subprocess.run([sys.executable, str(ROOT / "tools" / "build_pinyin.py"), "--check"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("pair", [("中心", "u4e2du5fc3"), ("开", "u5f00"), ("开", "kai"), ("Main", "main"),
                                  ("售后", "收后")])
def test_two_names_never_share_an_identifier(pair) -> None:
    """Issue 10.7: `中心` and `u4e2du5fc3` were one CDR variable, flows `开` and `u5f00` one
    file; homophones (售后/收后 are both shouhou) and names differing in case stay apart too."""
    mapping = names.idents(list(pair))
    assert len({v.lower() for v in mapping.values()}) == 2, mapping
    assert names.ident(pair[0], names.FLOW_MAX).lower() != names.ident(pair[1], names.FLOW_MAX).lower() \
        or pair == ("Main", "main")


def test_identifiers_do_not_depend_on_order() -> None:
    pool = ["Main", "main", "开始", "kaishi", "售后", "收后", "a.1", "x" * 40, "中心", "u4e2du5fc3"]
    first = names.idents(pool)
    for seed in range(5):
        shuffled = pool[:]
        random.Random(seed).shuffle(shuffled)
        assert names.idents(shuffled) == first


def test_identifiers_are_safe_everywhere() -> None:
    """Letters, digits, `_` and `-` (never `--`, the helper-context separator) within budget."""
    pool = ["主菜单选择服务中心" * 5, "😀 x", "a" * 100, "ｆｕｌｌ", "Ωmega", "开始.1.busy_2", "_x"]
    for n, i in names.idents(pool).items():
        assert re.fullmatch(r"[A-Za-z0-9_]+(?:-[A-Za-z0-9_]+)*", i), (n, i)
        assert len(i) <= names.STEP_MAX
    assert len(names.ident("主菜单选择服务中心" * 5, names.FLOW_MAX)) <= names.FLOW_MAX
    assert "-" not in names.ident("主菜单选择服务中心" * 5, names.FLOW_MAX)  # flows: never `-`


# ---------------------------------------------------------------- engine limits (item 3)


def test_long_cjk_names_fit_asterisk_context_limit() -> None:
    """Every context (and so queue, music class and mailbox context) fits AST_MAX_CONTEXT
    even with the longest context prefix allowed; none is repeated; every Goto lands."""
    prefix = "p" * names.PREFIX_MAX
    files = render("asterisk", LONG, context_prefix=prefix)
    conf = next(text for rel, text in files.items() if rel.count(".") == 1)
    ctxs = contexts(conf)
    assert ctxs and max(len(c) for c in ctxs) <= names.ENGINE_NAME_MAX, max(ctxs, key=len)
    assert len(ctxs) == len(set(ctxs))
    for target in re.findall(r"Goto\(([^,()$]+),", conf):
        assert target in ctxs, target
    vm = next(text for rel, text in files.items() if rel.endswith(".voicemail.conf"))
    assert all(len(c) <= names.ENGINE_NAME_MAX for c in contexts(vm))
    assert max(len(rel.encode()) for rel in files) < 255


def test_a_context_prefix_that_cannot_fit_is_e502() -> None:
    opts = load_settings(overrides={"years": YEARS, "asterisk.context_prefix": "p" * (names.PREFIX_MAX + 1)},
                         cwd=ROOT)
    problems = get_target("asterisk", opts).unsupported(flow_of(LONG))
    assert [d.code for d in problems] == ["E502"]


def test_flow_id_names_files_and_contexts() -> None:
    text = LONG.replace("number 400-600-1234", "number 400-600-1234\n  id youxuan")
    ast = render("asterisk", text)
    assert sorted(ast) == ["youxuan.conf", "youxuan.voicemail.conf"]
    assert contexts(ast["youxuan.conf"])[0] == "flow-youxuan"
    fs = render("freeswitch", text)
    assert "youxuan.xml" in fs and 'name="flow-youxuan"' in fs["youxuan.xml"]


def test_identifier_collision_is_reported_by_the_checker() -> None:
    # both spelt yiyi, and the first 6 hex digits of their SHA-256 are equal
    result = check_text("flow f { number 400-600-1234 step 乊靾 { goto 亦黳 } step 亦黳 { hangup } }", "t.flow",
                        CheckOptions(years=YEARS))
    assert [d.code for d in result.diagnostics] == ["E230"]


# ---------------------------------------------------------------- reserved and distinct names (item 7)


@pytest.mark.parametrize("flow_name", ["globals", "general", "GENERAL", "zonemessages", "default", "public"])
def test_reserved_section_names_are_never_a_flow_context(flow_name) -> None:
    text = f"flow {flow_name} {{ number 400-600-1234 step s {{ voicemail 8000 }} }}"
    ast = render("asterisk", text, context_prefix="")
    for rel, body in ast.items():
        assert not {c.lower() for c in contexts(body)} & names.RESERVED, (rel, contexts(body))
    fs = render("freeswitch", text, context_prefix="")
    main = fs[next(r for r in fs if "/" not in r)]
    assert re.search(r'<context name="([^"]+)"', main).group(1).lower() not in names.RESERVED


def test_tag_keys_are_distinct_cdr_variables_in_both_targets() -> None:
    text = 'flow f { number 400-600-1234 tag 中心 = "a" tag u4e2du5fc3 = "b" step s { hangup } }'
    ast = "\n".join(render("asterisk", text).values())
    cdr = re.findall(r"CDR\((flowc_tag_\w+)\)=(\w)", ast)
    assert len({var for var, _ in cdr}) == 2, cdr
    fs = "\n".join(render("freeswitch", text).values())
    exported = re.findall(r'data="(flowc_tag_\w+)=(\w)"', fs)
    assert sorted(exported) == sorted(cdr)  # the same CDR names in both engines


def test_flows_open_and_its_escape_have_different_files() -> None:
    a = render("asterisk", "flow 开 { number 400-600-1234 step s { hangup } }")
    b = render("asterisk", "flow u5f00 { number 400-600-1235 step s { hangup } }")
    assert not set(a) & set(b)


# ---------------------------------------------------------------- tenants (item 6)

TENANT = """
phone a 13800000001
group g {{ strategy round_robin  a  13800000002 }}
flow {name} {{
  number {number}
  step start {{
    menu {{ prompt "m" 1 -> vm  2 -> q  3 -> d }}
  }}
  step vm {{ voicemail 8000 }}
  step q {{ queue {{ group g music "hold/music" }} }}
  step d {{ dial g }}
}}
"""


@pytest.mark.parametrize("target", ["asterisk", "freeswitch"])
def test_two_tenants_with_the_same_mailbox_have_two_mailboxes(target) -> None:
    """Issue 10.6: `voicemail 8000` in two flows was one mailbox ([default] 8000 twice,
    <user id="8000"> twice in one domain)."""
    one = render(target, TENANT.format(name="shop_a", number="400-600-1234"))
    two = render(target, TENANT.format(name="shop_b", number="400-600-1235"))
    found = {"a": engine_names(target, one), "b": engine_names(target, two)}
    assert clashes(found) == {}
    boxes = sorted(n for n in found["a"] | found["b"] if n.startswith("mailbox:"))
    assert len(boxes) == 2 and all(b.startswith("mailbox:8000@") for b in boxes), boxes
    kinds = {n.split(":")[0] for n in found["a"]}
    assert {"context", "mailbox", "file"} <= kinds
    assert ("queue" in kinds and "moh" in kinds and "astdb" in kinds) if target == "asterisk" \
        else ("fifo" in kinds and "domain" in kinds and "db" in kinds)


@pytest.mark.parametrize("target,setting,value", [("asterisk", "voicemail_context", "default"),
                                                  ("freeswitch", "voicemail_domain", "$${domain}")])
def test_a_shared_mailbox_namespace_is_a_clash(target, setting, value) -> None:
    """Who shares a namespace on purpose (one voicemail context for every flow) gets the
    clash reported by tenancy.clashes, which `flowc compile` runs over its flows."""
    one = render(target, TENANT.format(name="shop_a", number="400-600-1234"), **{setting: value})
    two = render(target, TENANT.format(name="shop_b", number="400-600-1235"), **{setting: value})
    found = clashes({"a.flow": engine_names(target, one), "b.flow": engine_names(target, two)})
    assert list(found) == [f"mailbox:8000@{value}"] and found[f"mailbox:8000@{value}"] == ["a.flow", "b.flow"]


@pytest.mark.parametrize("target", ["asterisk", "freeswitch"])
def test_the_examples_share_no_engine_name(target) -> None:
    from flowc.pipeline import Workspace

    opts = load_settings(overrides={"years": YEARS}, cwd=ROOT)
    emitter = get_target(target, opts)
    ws = Workspace()
    found = {}
    for path in sorted((ROOT / "examples").glob("*.flow")):
        flow = ws.assemble(path, options=CheckOptions(years=YEARS)).flow
        if flow is not None and not emitter.unsupported(flow):
            found[path.name] = engine_names(target, emitter.render(flow))
    assert len(found) >= 6 and clashes(found) == {}
