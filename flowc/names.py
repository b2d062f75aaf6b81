"""Engine identifiers for what users name (flows, steps, surveys, tags): readable ASCII, never
two names on one identifier, and short enough for every engine limit by construction.

The one place that turns a name from a .flow into a name an engine sees (a context, a file
name, a queue, a mailbox context, a CDR variable). The checker (E230) and both emitters use
it, so what the checker accepts is what the emitters write. docs/targets/asterisk.md,
"Names", documents the algorithm; it is part of flowc's compatibility promise:

1. A name made of ASCII letters, digits and `_` is used as written (`main_menu`).
2. Any other name is spelt in ASCII, CJK characters by their pinyin (flowc/data/pinyin.txt,
   first reading, no tones: 售后热线 -> shouhourexian), other letters without accents, and
   anything else as `x<hex>`; then `_` and the first 6 hex digits of the SHA-256 of the
   name's UTF-8 bytes are appended (shouhourexian_3c5d2b). The digest depends only on the
   name, so identifiers do not depend on the order of declarations or on other files, and
   two names that read alike (同音字, `中心` and `zhongxin`) still differ.
3. A step lifted out of an arm (`main.1`) is spelt part by part, the parts joined by `-`.
4. An identifier longer than its budget (FLOW_MAX, STEP_MAX, TAG_MAX) keeps its first
   characters and ends with `_` + digest.
5. Names of one kind in one flow whose identifiers would still be equal ignoring case
   (`Main` and `main`) all take the digest suffix; what remains equal after that (a digest
   collision) is error E230.

A flow's own identifier can be given explicitly (`id shouhou` in the flow, E231 when
malformed); it is then used as written.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from . import ir

HASH_LEN = 6
FLOW_MAX = 24  # flow identifiers: file names, the entry context, mailbox contexts, fifos
STEP_MAX = 24  # steps and surveys: the `<flow>-<step>` part of context and extension names
TAG_MAX = 32  # tag keys: CDR variables `flowc_tag_<key>`
# Asterisk: AST_MAX_CONTEXT / AST_MAX_EXTENSION / MAX_MUSICCLASS are 80 bytes with the NUL
# (include/asterisk/channel.h), and app_voicemail's context and mailbox ids the same.
ENGINE_NAME_MAX = 79
# The longest a context name gets past `<prefix><flow>-<step>`: `--x` + an extension's digits,
# `--agents`, `--input`, `--r` + prefix digits (see flowc/emit/asterisk.py); the budgets
# above leave this much room under ENGINE_NAME_MAX for a context_prefix of PREFIX_MAX.
SUFFIX_MAX = 14
PREFIX_MAX = ENGINE_NAME_MAX - FLOW_MAX - 1 - STEP_MAX - SUFFIX_MAX  # 16
# Names an engine reads as something else than a context/section of ours, compared ignoring
# case: Asterisk extensions.conf [general] and [globals] (pbx/pbx_config.c), voicemail.conf
# [general] and [zonemessages] (apps/app_voicemail.c); the contexts of a stock FreeSWITCH
# (`default`, `public`, `features`), which a flow's context must not merge into.
RESERVED = frozenset({"general", "globals", "zonemessages", "default", "public", "features"})
FLOW_ID = re.compile(r"[a-z][a-z0-9_]*\Z")  # an explicit `id`: lower case, so file names never differ by case only

_VERBATIM = re.compile(r"[A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)*\Z")  # parts of a lifted name joined by `.`
_PINYIN = Path(__file__).with_name("data") / "pinyin.txt"


def digest(name: str) -> str:
    """The stable suffix of a name: the first HASH_LEN hex digits of SHA-256(UTF-8 name)."""
    return hashlib.sha256(name.encode("utf-8")).hexdigest()[:HASH_LEN]


@cache
def _pinyin_lines() -> tuple[tuple[str, str], ...]:
    lines = _PINYIN.read_text(encoding="utf-8").splitlines()
    return tuple((s, chars) for s, _, chars in (line.partition(" ") for line in lines if line and line[0] != "#"))


@cache
def _syllable(ch: str) -> str | None:
    # A scan of ~400 lines per distinct character: cheaper than building a dict of 27,000
    # entries for the handful of characters a flow uses.
    for syllable, chars in _pinyin_lines():
        if ch in chars:
            return syllable
    return None


def spell(text: str) -> str:
    """`text` in readable ASCII: ASCII letters, digits and `_` as written, CJK characters in
    pinyin (客户 -> kehu), letters without accents (é -> e), anything else `x<hex>`; a `_`
    where pinyin meets a written letter (VIP客户 -> VIP_kehu)."""
    out: list[str] = []
    prev = ""  # kind of the previous piece: "a" written, "p" pinyin, "x" code point
    for ch in unicodedata.normalize("NFKC", text):
        if ch.isascii() and (ch.isalnum() or ch == "_"):
            piece, kind = ch, "a"
        else:
            syllable = _syllable(ch)
            if syllable:
                piece, kind = syllable, "p"
            else:
                base = "".join(c for c in unicodedata.normalize("NFKD", ch) if c.isascii() and c.isalnum())
                piece, kind = (base, "a") if base else (f"x{ord(ch):x}", "x")
        if out and prev and kind != prev and out[-1][-1].isalpha() and piece[0].isalpha():
            out.append("_")
        out.append(piece)
        prev = kind
    return "".join(out)


def _with_digest(readable: str, name: str, limit: int) -> str:
    head = readable[: limit - HASH_LEN - 1].rstrip("_-")
    return f"{head or 'x'}_{digest(name)}"


def ident(name: str, limit: int = STEP_MAX) -> str:
    """The identifier of one name on its own (rules 1-4 of the module docstring)."""
    if _VERBATIM.match(name):
        form = name.replace(".", "-")
        return form if len(form) <= limit else _with_digest(form, name, limit)
    return _with_digest("-".join(spell(p) or "x" for p in name.split(".")), name, limit)


def idents(names, limit: int = STEP_MAX) -> dict[str, str]:
    """ident() of each name, those equal ignoring case given the digest suffix (rule 5).
    Depends only on the set of names, not on their order."""
    out = {n: ident(n, limit) for n in names}
    if len({i.lower() for i in out.values()}) == len(out):
        return out  # the usual case: nothing to disambiguate
    for group in collisions(out):
        for n in group:
            if not out[n].endswith("_" + digest(n)):
                out[n] = _with_digest(out[n], n, limit)
    return out


def collisions(mapping: dict[str, str]) -> list[list[str]]:
    """Groups of names that share an identifier (ignoring case), each sorted."""
    groups: dict[str, list[str]] = defaultdict(list)
    for n, i in mapping.items():
        groups[i.lower()].append(n)
    return sorted(sorted(g) for g in groups.values() if len(g) > 1)


def flow_ident(flow: ir.Flow) -> str:
    """The flow's identifier: its `id` when given, else ident(name) within FLOW_MAX."""
    return flow.id if getattr(flow, "id", None) else ident(flow.name, FLOW_MAX)


def tag_keys(flow: ir.Flow) -> list[str]:
    """Every tag key the flow sets (flow-level and in steps), once each."""
    keys = dict.fromkeys(t.key for t in flow.tags)
    for s in flow.steps:
        for a in s.actions:
            if isinstance(a, ir.Tag):
                keys.setdefault(a.key)
    return list(keys)


@dataclass(frozen=True)
class FlowNames:
    """The identifiers of one flow's names, as both targets use them."""

    flow: str
    steps: dict[str, str]
    surveys: dict[str, str]
    tags: dict[str, str]
    clashes: list[tuple[str, list[str]]] = field(default_factory=list)  # (kind, names) for E230

    def entry(self, prefix: str, flow_name: str) -> str:
        """The flow's entry context (and per-flow namespace): `<prefix><flow>`, with the
        digest appended when that is a reserved section name (RESERVED)."""
        name = prefix + self.flow
        return f"{name}_{digest(flow_name)}" if name.lower() in RESERVED else name


def flow_names(flow: ir.Flow) -> FlowNames:
    steps = idents([s.name for s in flow.steps], STEP_MAX)
    surveys = idents(sorted(flow.surveys), STEP_MAX)
    tags = idents(tag_keys(flow), TAG_MAX)
    clashes = [(kind, group) for kind, mapping in (("step", steps), ("survey", surveys), ("tag", tags))
               for group in collisions(mapping)]
    return FlowNames(flow_ident(flow), steps, surveys, tags, clashes)
