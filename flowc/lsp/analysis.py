"""What the language server knows about one file: every name with its role, the blocks, the
imports, and the words for hovers. Built from the formatter's full-token parse tree; no LSP types.

Positions here are 0-based lines and 0-based columns in code points (Python string
indices); the server converts them to the client's UTF-16 units.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from lark import Token, Tree

# Declaration kinds that have names users refer to.
DECL_KINDS = {"phone_decl": "phone", "group_decl": "group", "schedule_decl": "schedule",
              "list_decl": "list", "survey_decl": "survey", "flow_decl": "flow"}


@dataclass
class Occurrence:
    """One NAME (or a phone/region literal) in the file."""

    name: str
    kind: str  # phone, group, schedule, list, survey, flow, step, phone|group, region, number, hotline, prompt
    role: str  # def | ref | value
    line: int
    col: int
    end_line: int
    end_col: int
    token: Token
    flow: str | None = None  # the flow it is in (steps are per flow)
    step: str | None = None  # the step it is in
    context: str = ""  # what it is part of, in words: "menu option 1", "dial", "busy ->"
    quoted: bool = False

    def contains(self, line: int, col: int) -> bool:
        return self.line == line and self.col <= col <= self.end_col


@dataclass
class Block:
    kind: str  # the rule that owns the braces
    name: str | None
    line: int
    col: int
    end_line: int
    end_col: int
    children: list["Block"] = field(default_factory=list)


@dataclass
class FileIndex:
    path: str
    text: str
    occurrences: list[Occurrence]
    blocks: list[Block]  # top-level declarations, steps nested under flows
    imports: list[tuple[str, Occurrence]]  # (relative path, its string token as an occurrence)
    braces: list[tuple[int, int]]  # (line of `{`, line of `}`) for folding
    comments: list[Token]
    tokens: list[Token]
    tree: Tree
    defaults: list[tuple[int, int, str, Tree, str | None]] = field(default_factory=list)  # inlay hint sites

    def at(self, line: int, col: int) -> Occurrence | None:
        for o in self.occurrences:
            if o.contains(line, col):
                return o
        return None

    def definitions(self) -> dict[tuple[str, str], Occurrence]:
        out: dict[tuple[str, str], Occurrence] = {}
        for o in self.occurrences:
            if o.role == "def":
                key = (o.kind if o.kind != "step" else f"step:{o.flow}", o.name)
                out.setdefault(key, o)
        return out

    def decl_tree(self, kind: str, name: str) -> Tree | None:
        for item in self.tree.children:
            if isinstance(item, Tree) and DECL_KINDS.get(item.data) == kind:
                tok = _name_token(item)
                if tok is not None and str(tok) == name:
                    return item
        return None


def _name_token(tree: Tree) -> Token | None:
    for c in tree.children:
        if isinstance(c, Token) and c.type == "NAME":
            return c
    return None


def _pos(tok: Token) -> tuple[int, int, int, int]:
    return tok.line - 1, tok.column - 1, (tok.end_line or tok.line) - 1, (tok.end_column or tok.column + len(tok)) - 1


def index_text(path: str, text: str) -> FileIndex:
    """Index a file; raises lark's UnexpectedInput when it does not parse."""
    from ..fmt import _parse, _tokens

    tree, comments = _parse(text)
    walker = _Walker(path)
    walker.walk(tree)
    braces = []
    stack = []
    tokens = _tokens(tree)
    for t in tokens:
        if t.type == "LBRACE":
            stack.append(t)
        elif t.type == "RBRACE" and stack:
            open_ = stack.pop()
            if t.line > open_.line:
                braces.append((open_.line - 1, t.line - 1))
    return FileIndex(path, text, walker.occ, walker.blocks, walker.imports, braces, comments, tokens, tree,
                     walker.defaults)


class _Walker:
    def __init__(self, path: str):
        self.path = path
        self.occ: list[Occurrence] = []
        self.blocks: list[Block] = []
        self.imports: list[tuple[str, Occurrence]] = []
        self.defaults: list = []
        self.flow: str | None = None
        self.step: str | None = None

    def add(self, tok: Token, kind: str, role: str, context: str = "", quoted: bool = False) -> Occurrence:
        text = str(tok)
        if quoted:
            text = text[1:-1]
        o = Occurrence(text, kind, role, *_pos(tok), token=tok, flow=self.flow, step=self.step,
                       context=context, quoted=quoted)
        self.occ.append(o)
        return o

    def block(self, tree: Tree, kind: str, name: str | None) -> Block:
        toks = [t for t in _iter_tokens(tree)]
        first, last = toks[0], toks[-1]
        return Block(kind, name, first.line - 1, first.column - 1, (last.end_line or last.line) - 1,
                     (last.end_column or last.column + 1) - 1)

    def walk(self, tree: Tree) -> None:
        for item in tree.children:
            if not isinstance(item, Tree):
                continue
            kind = item.data
            if kind == "import_decl":
                tok = item.children[1]
                self.imports.append((str(tok)[1:-1], self.add(tok, "import", "value", quoted=True)))
                continue
            name_tok = _name_token(item)
            decl_kind = DECL_KINDS.get(kind)
            if decl_kind and name_tok is not None:
                self.add(name_tok, decl_kind, "def")
                b = self.block(item, decl_kind, str(name_tok))
                self.blocks.append(b)
                if kind == "flow_decl":
                    self.flow = str(name_tok)
                    self.node(item, ctx={"where": "flow"}, block=b)
                    self.flow = None
                else:
                    self.node(item, ctx={"where": decl_kind}, block=b)

    def node(self, tree: Tree, ctx: dict, block: Block | None = None) -> None:
        kind = tree.data
        children = [c for c in tree.children if c is not None]
        names = [c for c in children if isinstance(c, Token) and c.type == "NAME"]
        if kind == "step_decl":
            self.step = str(names[0])
            self.add(names[0], "step", "def")
            if block is not None:
                block.children.append(self.block(tree, "step", str(names[0])))
        elif kind in ("target_ref",):
            self.add(names[0], "step", "ref", ctx.get("arm", ""))
        elif kind == "goto":
            self.add(names[0], "step", "ref", ctx.get("arm") or "goto")
        elif kind == "phone_name":
            what = "phone" if ctx.get("where") == "group" else "phone|group"
            self.add(names[0], what, "ref", ctx.get("arm") or "dial")
        elif kind == "phone_literal":
            tok = children[0]
            self.add(tok, "number", "value", quoted=tok.type == "STRING")
        elif kind == "phone_decl":
            tok = children[2]
            self.add(tok, "number", "value", quoted=tok.type == "STRING")
        elif kind == "extension_entry":
            dest = children[1] if len(children) > 1 else None
            if isinstance(dest, Tree) and dest.data in ("phone_name", "phone_literal"):
                what = f"rings {'`' + str(dest.children[0]) + '`' if dest.data == 'phone_name' else str(dest.children[0])}"
            else:
                target = children[-1]
                what = "goes to " + (f"step `{target.children[0]}`" if isinstance(target, Tree) and
                                     target.data == "target_ref" else "the block written after it")
            self.add(children[0], "extension", "value", what)
        elif kind == "flow_number":
            tok = children[1]
            self.add(tok, "hotline", "value", quoted=tok.type == "STRING")
        elif kind in ("flow_survey", "dial_survey"):
            self.add(names[0], "survey", "ref", "survey")
        elif kind == "queue_group":
            self.add(names[0], "group", "ref", "queue")
        elif kind == "branch":
            ctx = {**ctx, "branch": str(names[0]) if names else "time"}
        elif kind == "condition_name":
            branch = ctx.get("branch")
            tok = names[0]
            if branch == "time":
                self.add(tok, "schedule", "ref", "branch time")
            elif branch == "caller" and str(tok) not in ("withheld", "anonymous"):
                self.add(tok, "list", "ref", "branch caller")
            elif branch == "region":
                self.add(tok, "region", "value", "branch region")
        elif kind == "condition_text" and ctx.get("branch") == "region":
            tok = children[0]
            self.add(tok, "region", "value", "branch region", quoted=tok.type == "STRING")
        elif kind in ("play_action", "prompt_stmt", "ringback_action", "queue_music", "queue_announce",
                      "survey_thanks", "survey_invalid", "voicemail_greeting", "on_invalid", "on_no_input"):
            for c in children:
                if isinstance(c, Token) and c.type == "STRING":
                    self.add(c, "prompt", "value", quoted=True)
        if kind in ("dial", "menu", "extension", "queue", "voicemail"):
            self.defaults.append((kind, self.flow, self.step, tree, None))
        # What leads where, for hovers on steps: the arm a target is written in.
        arm_ctx = ctx
        if kind == "menu_option":
            arm_ctx = {**ctx, "arm": f"menu option {children[0]}"}
        elif kind == "outcome_arm":
            arm_ctx = {**ctx, "arm": f"{children[0]} ->"}
        elif kind == "branch_arm":
            conds = [str(c.children[0]) for c in children if isinstance(c, Tree) and c.data.startswith("condition")]
            arm_ctx = {**ctx, "arm": f"branch arm {', '.join(conds)}"}
        elif kind == "branch_else":
            arm_ctx = {**ctx, "arm": "else ->"}
        elif kind == "split_arm":
            arm_ctx = {**ctx, "arm": f"split {children[0]}"}
        elif kind in ("on_invalid", "on_no_input", "on_exhausted", "queue_timeout"):
            arm_ctx = {**ctx, "arm": f"{children[0]} ->"}
        elif kind == "extension_entry":
            arm_ctx = {**ctx, "arm": f"extension {children[0]}"}
        elif kind == "group_decl":
            arm_ctx = {**ctx, "where": "group"}
        for c in children:
            if isinstance(c, Tree):
                self.node(c, arm_ctx, block if kind == "flow_decl" else None)
        if kind == "step_decl":
            self.step = None


def _iter_tokens(tree: Tree):
    for c in tree.children:
        if isinstance(c, Token):
            yield c
        elif isinstance(c, Tree):
            yield from _iter_tokens(c)


def resolve_import(base: str, rel: str) -> Path:
    return (Path(base).parent / rel).resolve()


# ---------------------------------------------------------------- words for hovers

_MOBILE_CARRIERS = {
    "China Mobile": "134 135 136 137 138 139 144 147 148 150 151 152 157 158 159 172 178 182 183 184 187 188 195 197 198",
    "China Unicom": "130 131 132 140 145 146 155 156 166 167 171 175 176 185 186 196",
    "China Telecom": "133 141 149 153 173 174 177 180 181 189 190 191 193 199",
    "China Broadnet": "192",
    "virtual operators (MVNO)": "162 165 170",
}
_CARRIER_OF = {p: c for c, ps in _MOBILE_CARRIERS.items() for p in ps.split()}


def phone_words(text: str) -> str:
    """A phone number as flowc reads it: canonical number, kind, carrier or region."""
    from ..phones import PhoneError, normalize_caller, normalize_phone
    from ..regions import area_code_info, area_code_of, get_region, region_of

    try:
        p = normalize_phone(text)
    except PhoneError as exc:
        return f"**not a valid phone number**: {exc.message}"
    lines = [f"**{p.display}** ({p.kind})", f"canonical number: `{p.number}`"]
    if p.kind == "mobile":
        lines.append(f"carrier: {_CARRIER_OF.get(p.number[:3], 'unknown')}")
        where = region_of(normalize_caller(p.number))
        if where:
            prov, city = where
            lines.append("registered in: " + _place(prov, city, get_region))
    else:
        code = area_code_of(p.number)
        info = area_code_info(code) if code else None
        if info:
            cities = "/".join(get_region(c).name_zh for c in info.city_ids) if info.city_ids else ""
            lines.append(f"area code {code}: {get_region(info.province_id).name_zh} {cities}".rstrip())
    return "  \n".join(lines)


def _place(prov: str, city: str | None, get_region) -> str:
    p = get_region(prov)
    if city:
        c = get_region(city)
        return f"{p.name_zh} {c.name_zh} ({p.name_pinyin}, {c.name_pinyin})"
    return f"{p.name_zh} ({p.name_pinyin})"


def hotline_words(text: str) -> str:
    from ..phones import PhoneError, normalize_400

    try:
        h = normalize_400(text)
    except PhoneError as exc:
        return f"**not a valid 400 number**: {exc.message}"
    return f"**{h.display}** (400 hotline)  \ncarrier: {h.carrier}"


def region_words(name: str) -> str:
    from ..regions import _sizes, all_regions, area_codes, area_code_info, get_region, lookup_region, suggest_regions

    r = lookup_region(name)
    if r is None:
        sugg = suggest_regions(name)
        return f"**`{name}` is not a region flowc knows**" + (f"; did you mean {', '.join(sugg)}?" if sugg else "")
    mobile = _sizes().get(r.id, 0)
    if r.level == "province":
        cities = [c for c in all_regions() if c.level == "city" and c.province_id == r.id]
        codes = [c for c in area_codes() if (i := area_code_info(c)) and i.province_id == r.id]
        shown = "、".join(c.name_zh for c in cities[:40]) + (" …" if len(cities) > 40 else "")
        head = f"**{r.name_zh}** ({r.name_pinyin}), province `{r.id}`"
        body = f"{len(cities)} cities: {shown}" if cities else "no cities of its own in the data"
    else:
        p = get_region(r.province_id)
        codes = [c for c in area_codes() if (i := area_code_info(c)) and r.id in i.city_ids]
        head = f"**{r.name_zh}** ({r.name_pinyin}), city `{r.id}` in {p.name_zh} ({p.name_pinyin})"
        body = ""
    lines = [head]
    if body:
        lines.append(body)
    lines.append(f"covers {mobile:,} mobile prefixes (7 digits) and {len(codes)} landline area code"
                 f"{'s' if len(codes) != 1 else ''}" + (f" ({', '.join(codes[:30])}{' …' if len(codes) > 30 else ''})"
                                                       if codes else ""))
    return "  \n".join(lines)


_WEEKDAY_WORDS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def schedule_words(sc, flow_zone: str = "Asia/Shanghai", now=None) -> str:
    """A schedule's rules in plain words and when it next opens or closes."""
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    from ..graph import _date, _hhmm
    from ..interp.engine import _Schedule

    lines = [f"**schedule {sc.name}**" + (f" ({sc.timezone})" if sc.timezone else "")]
    for r in sc.rules:
        days = [_WEEKDAY_WORDS[w - 1] for w in r.weekdays]
        days += [{"workdays": "official working days (incl. 调休 make-up days)", "restdays": "official rest days",
                  "holidays": "public holidays"}[d.value] for d in r.day_types]
        days += [_date(d) for d in r.dates]
        times = ", ".join(f"{_hhmm(t.start)}–{_hhmm(t.end)}" for t in r.times) or "all day"
        lines.append(f"- {', '.join(days) or 'every day'}: {times}")
    if sc.excepts:
        lines.append(f"- never on {', '.join(_date(d) for d in sc.excepts)}")
    if not sc.rules:
        lines.append("- no rules: never open")
        return "  \n".join(lines[:1]) + "\n" + "\n".join(lines[1:])
    zone = ZoneInfo(sc.timezone or flow_zone)
    compiled = _Schedule(sc, zone)
    now = (now or datetime.now(zone)).astimezone(compiled.zone).replace(second=0, microsecond=0)
    no_data: list[int] = []
    state = compiled.matches(now, no_data)
    marks = sorted({0, *(t.start for r in sc.rules for t in r.times), *(t.end % 1440 for r in sc.rules for t in r.times)})
    change = None
    day0 = now.replace(hour=0, minute=0)
    for d in range(0, 400):
        day = day0 + timedelta(days=d)
        for m in marks:
            t = day + timedelta(minutes=m)
            if t <= now:
                continue
            if compiled.matches(t, no_data) != state:
                change = t
                break
        if change:
            break
    verb = "closes" if state else "opens"
    status = "open now" if state else "closed now"
    when = change.strftime("%a %Y-%m-%d %H:%M") if change else "not within a year"
    lines.append(f"\n{status} ({now.strftime('%a %Y-%m-%d %H:%M %Z')}); {verb} {when}")
    return lines[0] + "\n\n" + "\n".join(lines[1:])
