"""Parse tree -> IR `Module`. One method per grammar rule; no cross-node semantics here.

This is where the LITERAL words are classified (`literals`), phone numbers normalised
(`phones`) and inline blocks lifted into synthetic steps, so that the IR every later
phase sees has plain values and every target is a step name. Value errors are collected
as diagnostics and the offending item is dropped, so one run reports as many as it can.
"""

from __future__ import annotations

from difflib import get_close_matches

from lark import Token, Tree

from . import ir, literals
from .diagnostics import Diagnostic, error
from .names import FLOW_ID, FLOW_MAX
from .phones import PhoneError, normalize_400, normalize_phone
from .source import SourceFile, Span

KEYWORDS = frozenset(
    """import phone group strategy ring weight schedule timezone except list survey keys thanks
    invalid prompt timeout retries flow number title max_ring step play tag record retain ringback
    goto hangup menu repeat back no_input exhausted dial extension digits branch else split queue
    music announce every max_wait retry voicemail max greeting""".split()
)

WEEKDAYS = {"mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6, "sun": 7}
WEEKDAY_ALIASES = {
    "monday": "mon", "tuesday": "tue", "wednesday": "wed", "thursday": "thu", "friday": "fri",
    "saturday": "sat", "sunday": "sun", "tues": "tue", "thur": "thu", "thurs": "thu",
    "周一": "mon", "周二": "tue", "周三": "wed", "周四": "thu", "周五": "fri", "周六": "sat", "周日": "sun",
    "星期一": "mon", "星期二": "tue", "星期三": "wed", "星期四": "thu", "星期五": "fri", "星期六": "sat",
    "星期日": "sun", "星期天": "sun", "周天": "sun",
}
DAY_WORDS = {
    "workdays": ir.DayType.WORKDAY, "workday": ir.DayType.WORKDAY, "工作日": ir.DayType.WORKDAY,
    "restdays": ir.DayType.RESTDAY, "restday": ir.DayType.RESTDAY, "休息日": ir.DayType.RESTDAY,
    "holidays": ir.DayType.HOLIDAY, "holiday": ir.DayType.HOLIDAY, "节假日": ir.DayType.HOLIDAY,
}
ALL_DAYS = {"daily", "everyday", "每天"}
STRATEGY_ALIASES = {"roundrobin": "round_robin", "ringall": "ring_all",
                    "weighted": "ratio", "hunt": "sequential", "order": "sequential"}
OUTCOMES = {o.value: o for o in ir.Outcome}
BRANCH_KINDS = ("time", "region", "caller")


def edge_token(tree: Tree, end: int) -> Token | None:
    """The first (`end=0`) or last (`end=-1`) token below `tree`, skipping empty optionals."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, Token):
            return node
        if isinstance(node, Tree):
            children = [c for c in node.children if c is not None]
            # Push so that the wanted edge is popped first.
            stack.extend(children if end == -1 else reversed(children))
    return None


def did_you_mean(word: str, choices) -> str | None:
    match = get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"did you mean `{match[0]}`?" if match else None


def unquote(token: Token) -> str:
    body = str(token)[1:-1]
    if "\\" not in body:
        return body
    out, i = [], 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            out.append({"n": "\n", "t": "\t", '"': '"', "\\": "\\"}.get(nxt, "\\" + nxt))
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


class Transformer:
    def __init__(self, source: SourceFile):
        self.source = source
        self.diagnostics: list[Diagnostic] = []
        # Declarations ("group:g", "step:main", "file") that lost an item to a value error:
        # the checker skips counting checks on them instead of piling on follow-up errors.
        self.damaged: set[str] = set()
        self._decl = "file"
        self._anchor = source.span(1, 1)  # span of the step being built, for wordless rules
        self._lifted: list[ir.Step | str] = []  # a str is a slot still being filled

    # ------------------------------------------------------------ helpers

    def span(self, node: Tree | Token) -> Span:
        """A token's span, or a rule's from its first to its last token.

        Computed here, only for the nodes that need one, instead of by lark's
        `propagate_positions` on every reduction (that halves the parse time). Keywords
        and braces are not in the tree, so a rule's span starts at its first word after
        the keyword; a rule with no word at all (`hangup`, `menu { }`) gets the span of
        the step it is in.
        """
        if isinstance(node, Token):
            return Span(file=self.source.path, line=node.line, col=node.column,
                        end_line=node.end_line or node.line, end_col=node.end_column or node.column + 1)
        first, last = edge_token(node, 0), edge_token(node, -1)
        if first is None:
            return self._anchor
        return Span(file=self.source.path, line=first.line, col=first.column,
                    end_line=last.end_line or last.line, end_col=last.end_column or last.column + 1)

    def report(self, code: str, message: str, node, *, label: str | None = None, help: str | None = None) -> None:
        self.damaged.add(self._decl)
        self.damaged.add("file")
        self.diagnostics.append(error(code, message, self.span(node) if node is not None else None,
                                      label=label, help=help))

    def literal(self, parse, token: Token, *args, **kwargs):
        """Run a `literals` parser on a token; report and return None on failure."""
        try:
            return parse(str(token), *args, **kwargs)
        except literals.LiteralError as exc:
            self.report(exc.code, exc.message, token, help=exc.hint)
            return None

    def name(self, token: Token, what: str) -> str:
        text = str(token)
        if text in KEYWORDS:
            self.report("E207", f"`{text}` is a keyword of the language and cannot name a {what}", token,
                        help=f"choose another name, e.g. `{text}_{what}`")
        return text

    def setting(self, seen: dict[str, Tree], key: str, node: Tree, where: str) -> bool:
        """Record a once-only setting; report a duplicate. Returns True if it is the first."""
        if key in seen:
            first = seen[key]
            self.report("E228", f"`{key}` is set twice in this {where}", node,
                        help=f"the first is at line {self.span(first).line}; keep one")
            return False
        seen[key] = node
        return True

    def prompt(self, token: Token) -> str:
        return unquote(token)

    # ------------------------------------------------------------ module

    def module(self, tree: Tree) -> ir.Module:
        parts: dict[str, list] = {"imports": [], "phones": [], "groups": [], "schedules": [], "lists": [],
                                  "surveys": [], "flows": []}
        for item in tree.children:
            kind = item.data
            self._decl = "file"
            if kind == "import_decl":
                parts["imports"].append((unquote(item.children[0]), self.span(item)))
            elif kind == "phone_decl":
                decl = self.phone_decl(item)
                if decl:
                    parts["phones"].append(decl)
            elif kind == "group_decl":
                parts["groups"].append(self.group_decl(item))
            elif kind == "schedule_decl":
                parts["schedules"].append(self.schedule_decl(item))
            elif kind == "list_decl":
                parts["lists"].append(self.list_decl(item))
            elif kind == "survey_decl":
                parts["surveys"].append(self.survey_decl(item))
            elif kind == "flow_decl":
                parts["flows"].append(self.flow_decl(item))
        return ir.Module(path=self.source.path, span=self.source.span(1, 1), **parts)

    # ------------------------------------------------------------ phones

    def phone(self, token: Token) -> ir.Phone | None:
        text = unquote(token) if token.type == "STRING" else str(token)
        try:
            p = normalize_phone(text)
        except PhoneError as exc:
            self.report("E210", exc.message, token, label="not a valid phone number", help=exc.hint)
            return None
        return ir.Phone(number=p.number, kind=p.kind, span=self.span(token))

    def phone_decl(self, tree: Tree) -> ir.PhoneDecl | None:
        name_tok, num_tok = tree.children
        phone = self.phone(num_tok)
        if phone is None:
            return None
        name = self.name(name_tok, "phone")
        return ir.PhoneDecl(name=name, phone=phone.model_copy(update={"name": name}), span=self.span(name_tok))

    def dial_target(self, tree: Tree) -> ir.DialTarget | None:
        """`phone_name` (a group or a declared phone, resolved by the checker) or `phone_literal`."""
        (tok,) = tree.children
        if tree.data == "phone_name":
            return ir.DialTarget(group=str(tok), span=self.span(tok))
        phone = self.phone(tok)
        return ir.DialTarget(phone=phone, span=self.span(tok)) if phone else None

    # ------------------------------------------------------------ groups

    def group_decl(self, tree: Tree) -> ir.Group:
        name_tok, *stmts = tree.children
        self._decl = f"group:{name_tok}"
        fields: dict = {"members": []}
        seen: dict[str, Tree] = {}
        for st in stmts:
            if st.data == "group_strategy":
                if self.setting(seen, "strategy", st, "group"):
                    strategy = self.strategy(st.children[0])
                    if strategy:
                        fields["strategy"] = strategy
            elif st.data == "group_ring":
                if self.setting(seen, "ring", st, "group"):
                    ring = self.literal(literals.duration, st.children[0], minimum=1, maximum=600, what="ring time")
                    if ring is not None:
                        fields["ring"] = ring
            elif st.data == "member":
                member = self.member(st)
                if member:
                    fields["members"].append(member)
        if "strategy" in seen and "strategy" not in fields and any(m.weight for m in fields["members"]):
            # A misspelt strategy of a weighted group was meant to be `ratio`: assume so,
            # rather than cascade into "weights do nothing".
            fields["strategy"] = ir.Strategy.RATIO
        return ir.Group(name=self.name(name_tok, "group"), span=self.span(name_tok), **fields)

    def strategy(self, token: Token) -> ir.Strategy | None:
        word = str(token).lower()
        word = STRATEGY_ALIASES.get(word, word)
        try:
            return ir.Strategy(word)
        except ValueError:
            choices = [s.value for s in ir.Strategy]
            self.report("E217", f"`{token}` is not a distribution strategy", token,
                        help=did_you_mean(word, choices) or "choose one of: " + ", ".join(choices))
            return None

    def member(self, tree: Tree) -> ir.Member | None:
        ref, *options = tree.children
        (tok,) = ref.children
        if ref.data == "phone_name":
            # A declared phone, resolved by the checker; keep the name in a placeholder phone.
            phone = ir.Phone(number="", kind="mobile", name=str(tok), span=self.span(tok))
        else:
            phone = self.phone(tok)
            if phone is None:
                return None
        fields: dict = {}
        seen: dict[str, Tree] = {}
        for opt in options:
            if opt is None:
                continue
            if not self.setting(seen, opt.data.removeprefix("member_"), opt, "phone's options"):
                continue
            if opt.data == "member_weight":
                fields["weight"] = self.literal(literals.weight, opt.children[0])
            elif opt.data == "member_ring":
                fields["ring"] = self.literal(literals.duration, opt.children[0], minimum=1, maximum=600, what="ring time")
        return ir.Member(phone=phone, span=self.span(tree), **fields)

    # ------------------------------------------------------------ schedules

    def schedule_decl(self, tree: Tree) -> ir.Schedule:
        name_tok, *stmts = tree.children
        self._decl = f"schedule:{name_tok}"
        rules: list[ir.ScheduleRule] = []
        excepts: list[ir.DateRange] = []
        timezone = None
        seen: dict[str, Tree] = {}
        for st in stmts:
            if st.data == "schedule_timezone":
                if self.setting(seen, "timezone", st, "schedule"):
                    timezone = self.timezone(st.children[0])
            elif st.data == "schedule_except":
                for lit in st.children:
                    dr = self.date_range(lit.children[0])
                    if dr:
                        excepts.append(dr)
            elif st.data == "schedule_rule":
                self.schedule_rule(st, rules)
        return ir.Schedule(name=self.name(name_tok, "schedule"), timezone=timezone, rules=rules,
                           excepts=excepts, span=self.span(name_tok))

    def timezone(self, token: Token) -> str | None:
        from .timezones import is_valid_timezone

        zone = unquote(token) if token.type == "STRING" else str(token)
        if not is_valid_timezone(zone):
            self.report("E216", f"`{zone}` is not a time zone name", token,
                        help="use an IANA name such as `Asia/Shanghai` or `Asia/Urumqi`")
            return None
        return zone

    def schedule_rule(self, tree: Tree, rules: list[ir.ScheduleRule]) -> None:
        """Days first, then times. A rule of times only continues the rule before it when that
        rule has days and no times yet (`workdays 09:00-18:00` is written without a comma)."""
        weekdays: list[int] = []
        day_types: list[ir.DayType] = []
        dates: list[ir.DateRange] = []
        times: list[ir.TimeRange] = []
        has_days = False
        all_days = False
        for item in tree.children:
            if item.data == "day_word":
                tok = item.children[0]
                if times:
                    self.report("E215", "days must come before the times of a rule", tok,
                                help="start a new rule on its own, without the comma before it")
                    continue
                has_days = True
                word = str(tok)
                low = WEEKDAY_ALIASES.get(word.lower(), word.lower())
                if low in WEEKDAYS:
                    weekdays.append(WEEKDAYS[low])
                elif word.lower() in DAY_WORDS or word in DAY_WORDS:
                    day_types.append(DAY_WORDS.get(word.lower()) or DAY_WORDS[word])
                elif low in ALL_DAYS or word in ALL_DAYS:
                    all_days = True
                else:
                    self.report("E218", f"`{word}` is not a day", tok,
                                help=did_you_mean(low, [*WEEKDAYS, "workdays", "restdays", "holidays", "daily"])
                                or "days are mon..sun, a range like mon-fri, workdays, restdays, holidays or daily")
            elif item.data == "day_range":
                a, b = item.children
                has_days = True
                ia, ib = (WEEKDAYS.get(WEEKDAY_ALIASES.get(str(t).lower(), str(t).lower())) for t in (a, b))
                if ia is None or ib is None:
                    bad = a if ia is None else b
                    self.report("E218", f"`{bad}` is not a weekday", bad,
                                help=did_you_mean(str(bad).lower(), WEEKDAYS) or "weekdays are mon tue wed thu fri sat sun")
                    continue
                # mon-fri; a wrapping range such as fri-mon means fri sat sun mon.
                d = ia
                while True:
                    weekdays.append(d)
                    if d == ib:
                        break
                    d = d % 7 + 1
            else:  # schedule_literal
                tok = item.children[0]
                text = str(tok)
                if literals.looks_like_time_range(text):
                    tr = self.literal(literals.time_range, tok)
                    if tr:
                        times.append(ir.TimeRange(start=tr[0], end=tr[1], span=self.span(tok)))
                else:
                    if times:
                        self.report("E215", "dates must come before the times of a rule", tok)
                        continue
                    has_days = True
                    dr = self.date_range(tok)
                    if dr:
                        dates.append(dr)
        if not has_days and rules and not rules[-1].times:
            # `workdays 09:00-18:00`: these times belong to the rule just before.
            rules[-1] = rules[-1].model_copy(update={"times": times})
            return
        if all_days and (weekdays or day_types or dates):
            all_days = False  # `daily` next to other days adds nothing
        rules.append(ir.ScheduleRule(weekdays=sorted(set(weekdays)), day_types=list(dict.fromkeys(day_types)),
                                     dates=dates, times=times, span=self.span(tree)))

    def date_range(self, token: Token) -> ir.DateRange | None:
        r = self.literal(literals.date_range, token)
        if r is None:
            return None
        (y1, m1, d1), (y2, m2, d2) = r
        return ir.DateRange(start_year=y1, start_month=m1, start_day=d1, end_year=y2, end_month=m2, end_day=d2,
                            span=self.span(token))

    # ------------------------------------------------------------ lists and surveys

    def list_decl(self, tree: Tree) -> ir.CallerList:
        from .phones import normalize_caller

        name_tok, *entries = tree.children
        out: list[ir.CallerEntry] = []
        for e in entries:
            tok = e.children[0]
            text = unquote(tok) if tok.type == "STRING" else str(tok)
            parsed = self.literal(literals.caller_pattern, Token(tok.type, text, tok.start_pos, tok.line, tok.column,
                                                                 tok.end_line, tok.end_column, tok.end_pos))
            if parsed is None:
                continue
            digits, prefix = parsed
            if not prefix:
                digits = normalize_caller(digits).digits or digits
            out.append(ir.CallerEntry(digits=digits, prefix=prefix, span=self.span(tok)))
        return ir.CallerList(name=self.name(name_tok, "list"), entries=out, span=self.span(name_tok))

    def survey_decl(self, tree: Tree) -> ir.Survey:
        name_tok, *stmts = tree.children
        fields: dict = {}
        seen: dict[str, Tree] = {}
        for st in stmts:
            key = st.data.removeprefix("survey_").removesuffix("_stmt")
            if not self.setting(seen, key, st, "survey"):
                continue
            if st.data == "prompt_stmt":
                fields["prompt"] = self.prompt(st.children[0])
            elif st.data == "timeout_stmt":
                fields["timeout"] = self.literal(literals.duration, st.children[0], minimum=1, maximum=60, what="timeout")
            elif st.data == "retries_stmt":
                fields["retries"] = self.literal(literals.integer, st.children[0], minimum=0, maximum=9, what="retries")
            elif st.data == "survey_keys":
                keys = [self.literal(literals.key, k) for k in st.children]
                fields["keys"] = [k for k in keys if k]
            elif st.data == "survey_thanks":
                fields["thanks"] = self.prompt(st.children[0])
            elif st.data == "survey_invalid":
                fields["invalid"] = self.prompt(st.children[0])
        fields = {k: v for k, v in fields.items() if v is not None}
        if "prompt" not in fields:
            self.report("E227", f"survey `{name_tok}` has no `prompt`", name_tok,
                        help='add `prompt "survey_question"`: the caller must hear what to press')
            fields["prompt"] = ""
        return ir.Survey(name=self.name(name_tok, "survey"), span=self.span(name_tok), **fields)

    # ------------------------------------------------------------ flows and steps

    def flow_decl(self, tree: Tree) -> ir.Flow:
        name_tok, *stmts = tree.children
        self._decl = "flow"
        fields: dict = {"tags": []}
        seen: dict[str, Tree] = {}
        steps: list[ir.Step] = []
        for st in stmts:
            kind = st.data
            if kind == "step_decl":
                steps.extend(self.step_decl(st))
                self._decl = "flow"
                continue
            if kind == "tag_action":
                tag = self.tag(st)
                if tag:
                    fields["tags"].append(tag)
                continue
            key = kind.removeprefix("flow_").removesuffix("_action")
            if not self.setting(seen, key, st, "flow"):
                continue
            arg = st.children[0] if st.children else None
            if kind == "flow_number":
                text = unquote(arg) if arg.type == "STRING" else str(arg)
                try:
                    h = normalize_400(text)
                    fields["hotline"] = ir.Hotline(number=h.number, carrier=h.carrier, span=self.span(arg))
                except PhoneError as exc:
                    self.report("E211", exc.message, arg, label="not a valid 400 number", help=exc.hint)
            elif kind == "flow_id":
                ident = str(arg)
                if FLOW_ID.match(ident) and len(ident) <= FLOW_MAX:
                    fields["id"] = ident
                else:
                    self.report("E231", f"`{ident[:40]}` cannot be the flow's id", arg,
                                label=f"not 1 to {FLOW_MAX} lower-case ASCII letters, digits or `_`",
                                help="the id names the flow's files and contexts: e.g. `id shouhou`")
            elif kind == "flow_title":
                fields["title"] = unquote(arg)
            elif kind == "flow_timezone":
                zone = self.timezone(arg)
                if zone:
                    fields["timezone"] = zone
            elif kind == "flow_max_ring":
                v = self.literal(literals.duration, arg, minimum=5, maximum=3600, what="max_ring")
                if v is not None:
                    fields["max_ring"] = v
            elif kind == "flow_survey":
                fields["survey"] = str(arg)
            elif kind == "record_action":
                fields["record"] = self.record(st)
            elif kind == "ringback_action":
                fields["ringback"] = self.prompt(arg)
        if "number" not in seen:
            self.report("E227", f"flow `{name_tok}` has no `number`", name_tok,
                        help="add the 400 number it answers, e.g. `number 400-800-1234`")
        if not steps:
            self.report("E227", f"flow `{name_tok}` has no steps", name_tok,
                        help="add `step start { ... }`; the first step is where every call begins")
        return ir.Flow(name=self.name(name_tok, "flow"), steps=steps, span=self.span(name_tok),
                       **{k: v for k, v in fields.items() if v is not None})

    def step_decl(self, tree: Tree) -> list[ir.Step]:
        name_tok, block = tree.children
        self._decl = f"step:{name_tok}"
        self._anchor = self.span(name_tok)
        name = self.name(name_tok, "step")
        self._lifted = []
        actions, terminal = self.block(block, name)
        step = ir.Step(name=name, actions=actions, terminal=terminal, span=self.span(name_tok))
        lifted, self._lifted = self._lifted, []
        return [step, *lifted]

    def block(self, tree: Tree, owner: str):
        *action_trees, terminal_tree = tree.children
        actions = [a for a in (self.action(t) for t in action_trees) if a is not None]
        return actions, self.terminal(terminal_tree, owner)

    def action(self, tree: Tree):
        kind = tree.data
        if kind == "play_action":
            return ir.Play(prompt=self.prompt(tree.children[0]), span=self.span(tree))
        if kind == "tag_action":
            return self.tag(tree)
        if kind == "record_action":
            return self.record(tree)
        if kind == "ringback_action":
            return ir.Ringback(prompt=self.prompt(tree.children[0]), span=self.span(tree))
        raise AssertionError(kind)

    def tag(self, tree: Tree) -> ir.Tag | None:
        key_tok, value_tok = tree.children
        value = unquote(value_tok) if value_tok is not None else "1"
        return ir.Tag(key=str(key_tok), value=value, span=self.span(tree))

    def record(self, tree: Tree) -> ir.Record:
        (arg,) = tree.children
        days = self.literal(literals.days, arg) if arg is not None else None
        return ir.Record(retain_days=days or 30, span=self.span(tree))

    # ------------------------------------------------------------ targets

    def target(self, node, owner: str, label: str) -> str:
        """The step an arm leads to; inline blocks and terminals become synthetic steps."""
        if isinstance(node, Tree) and node.data == "target_ref":
            return str(node.children[0])
        if isinstance(node, Tree) and node.data == "goto":
            return str(node.children[1])
        name = self.unique_name(f"{owner}.{label}")
        # Keep the parent before the steps lifted out of it: reserve the slot first.
        slot = len(self._lifted)
        self._lifted.append(name)
        if node.data == "block":
            actions, terminal = self.block(node, name)
        else:
            actions, terminal = [], self.terminal(node, name)
        self._lifted[slot] = ir.Step(name=name, actions=actions, terminal=terminal, synthetic=True,
                                     span=self.span(node))
        return name

    def unique_name(self, name: str) -> str:
        taken = {s if isinstance(s, str) else s.name for s in self._lifted}
        if name not in taken:
            return name
        n = 2
        while f"{name}_{n}" in taken:
            n += 1
        return f"{name}_{n}"

    # ------------------------------------------------------------ terminals

    def terminal(self, tree: Tree, owner: str):
        return getattr(self, f"terminal_{tree.data}")(tree, owner)

    def terminal_goto(self, tree: Tree, owner: str) -> ir.Goto:
        return ir.Goto(target=str(tree.children[1]), span=self.span(tree.children[1]))

    def terminal_hangup(self, tree: Tree, owner: str) -> ir.Hangup:
        return ir.Hangup(span=self.span(tree))

    def input_settings(self, st: Tree, fields: dict, seen: dict, owner: str, where: str) -> bool:
        """prompt / timeout / retries / invalid / no_input / exhausted, shared by menu and extension."""
        kind = st.data
        if kind == "prompt_stmt":
            if self.setting(seen, "prompt", st, where):
                fields["prompt"] = self.prompt(st.children[0])
        elif kind == "timeout_stmt":
            if self.setting(seen, "timeout", st, where):
                fields["timeout"] = self.literal(literals.duration, st.children[0], minimum=1, maximum=60, what="timeout")
        elif kind == "retries_stmt":
            if self.setting(seen, "retries", st, where):
                fields["retries"] = self.literal(literals.integer, st.children[0], minimum=0, maximum=9, what="retries")
        elif kind in ("on_invalid", "on_no_input"):
            key = "invalid" if kind == "on_invalid" else "no_input"
            if self.setting(seen, key, st, where):
                prompt_tok, target = st.children
                if prompt_tok is None and target is None:
                    self.report("E227", f"`{key}` needs a prompt, a target or both", st,
                                help=f'e.g. `{key} "sorry_invalid"` or `{key} -> operator`')
                    return True
                fields[key] = ir.InputHandler(
                    prompt=self.prompt(prompt_tok) if prompt_tok is not None else None,
                    target=self.target(target, owner, key) if target is not None else None,
                    span=self.span(st))
        elif kind == "on_exhausted":
            if self.setting(seen, "exhausted", st, where):
                fields["exhausted"] = self.target(st.children[0], owner, "exhausted")
        else:
            return False
        return True

    def terminal_menu(self, tree: Tree, owner: str) -> ir.Menu:
        fields: dict = {"options": []}
        seen: dict[str, Tree] = {}
        for st in tree.children[1:]:  # after the `menu` keyword
            if self.input_settings(st, fields, seen, owner, "menu"):
                continue
            if st.data == "menu_option":
                key_tok, target = st.children
                key = self.literal(literals.key, key_tok)
                if key is None:
                    continue
                label = {"*": "star", "#": "pound"}.get(key, key)
                span = self.span(st)
                if isinstance(target, Tree) and target.data in ("repeat", "back"):
                    fields["options"].append(ir.MenuOption(key=key, action=target.data, span=span))
                else:
                    fields["options"].append(ir.MenuOption(key=key, target=self.target(target, owner, label), span=span))
        return ir.Menu(span=self.span(tree), **{k: v for k, v in fields.items() if v is not None})

    def outcome_arm(self, st: Tree, owner: str, allowed: dict[str, ir.Outcome]) -> ir.OutcomeArm | None:
        word_tok, target = st.children
        word = str(word_tok)
        outcome = allowed.get(word)
        if outcome is None:
            self.report("E221", f"`{word}` is not an outcome here", word_tok,
                        help=did_you_mean(word, allowed) or "outcomes are: " + ", ".join(allowed))
            return None
        return ir.OutcomeArm(outcome=outcome, target=self.target(target, owner, word), span=self.span(st))

    def terminal_dial(self, tree: Tree, owner: str) -> ir.Dial:
        _, ref, *stmts = tree.children
        dest = self.dial_target(ref) or ir.DialTarget(span=self.span(ref))
        fields: dict = {"outcomes": []}
        seen: dict[str, Tree] = {}
        for st in stmts:
            if st is None:
                continue
            self.dial_setting(st, fields, seen, owner, "dial", OUTCOMES)
        return ir.Dial(dest=dest, span=self.span(tree), **{k: v for k, v in fields.items() if v is not None})

    def dial_setting(self, st: Tree, fields: dict, seen: dict, owner: str, where: str, outcomes) -> bool:
        if st.data == "dial_ring":
            if self.setting(seen, "ring", st, where):
                fields["ring"] = self.literal(literals.duration, st.children[0], minimum=1, maximum=600, what="ring time")
        elif st.data == "dial_survey":
            if self.setting(seen, "survey", st, where):
                fields["survey"] = str(st.children[0])
        elif st.data == "outcome_arm":
            arm = self.outcome_arm(st, owner, outcomes)
            if arm:
                if any(a.outcome == arm.outcome for a in fields["outcomes"]):
                    self.report("E228", f"`{arm.outcome.value}` is handled twice", st)
                else:
                    fields["outcomes"].append(arm)
        else:
            return False
        return True

    def terminal_extension(self, tree: Tree, owner: str) -> ir.Extension:
        fields: dict = {"entries": [], "outcomes": []}
        seen: dict[str, Tree] = {}
        for st in tree.children[1:]:
            if self.input_settings(st, fields, seen, owner, "extension"):
                continue
            if self.dial_setting(st, fields, seen, owner, "extension", OUTCOMES):
                continue
            if st.data == "extension_digits":
                if self.setting(seen, "digits", st, "extension"):
                    fields["digits"] = self.literal(literals.integer, st.children[0], minimum=1, maximum=8, what="digits")
            elif st.data == "extension_entry":
                ext_tok, dest = st.children
                ext = self.literal(literals.digit_string, ext_tok)
                if ext is None:
                    continue
                if isinstance(dest, Tree) and dest.data in ("phone_name", "phone_literal"):
                    target = self.dial_target(dest)
                    if target:
                        fields["entries"].append(ir.ExtensionEntry(ext=ext, dest=target, span=self.span(st)))
                else:
                    fields["entries"].append(ir.ExtensionEntry(ext=ext, target=self.target(dest, owner, ext),
                                                               span=self.span(st)))
        return ir.Extension(span=self.span(tree), **{k: v for k, v in fields.items() if v is not None})

    def terminal_branch(self, tree: Tree, owner: str) -> ir.Branch:
        _, kind_tok, *arms = tree.children
        kind = str(kind_tok)
        if kind not in BRANCH_KINDS:
            self.report("E222", f"`{kind}` is not a kind of branch", kind_tok,
                        help=did_you_mean(kind, BRANCH_KINDS) or "branch on `time`, `region` or `caller`")
            kind = "time"
        out: list[ir.BranchArm] = []
        else_target = None
        for i, arm in enumerate(arms, 1):
            if arm.data == "branch_else":
                if else_target is not None:
                    self.report("E228", "this branch has two `else` arms", arm)
                    continue
                else_target = self.target(arm.children[0], owner, "else")
                continue
            *conds, target = arm.children
            conditions = []
            for c in conds:
                tok = c.children[0]
                quoted = tok.type == "STRING"
                text = unquote(tok) if quoted else str(tok)
                if kind == "caller" and c.data == "condition_text":
                    text = self.caller_condition(text, tok)
                    if text is None:
                        continue
                conditions.append(ir.Condition(text=text, quoted=quoted, span=self.span(tok)))
            label = conditions[0].text if conditions and conditions[0].text.replace("_", "").isalnum() else f"arm{i}"
            out.append(ir.BranchArm(conditions=conditions, target=self.target(target, owner, label), span=self.span(arm)))
        return ir.Branch(on=kind, arms=out, else_target=else_target, span=self.span(tree))

    def caller_condition(self, text: str, tok: Token) -> str | None:
        """A number or prefix in a caller branch, normalised like list entries: exact
        numbers as the caller normalisation rules would leave them, prefixes as digits."""
        from .phones import normalize_caller

        try:
            digits, prefix = literals.caller_pattern(text)
        except literals.LiteralError as exc:
            self.report(exc.code, exc.message, tok, help=exc.hint)
            return None
        if prefix:
            return digits + "*"
        return normalize_caller(digits).digits or digits

    def terminal_split(self, tree: Tree, owner: str) -> ir.Split:
        arms = []
        for arm in tree.children[1:]:
            pct_tok, target = arm.children
            pct = self.literal(literals.percent, pct_tok)
            if pct is None:
                continue
            arms.append(ir.SplitArm(percent=pct, target=self.target(target, owner, f"p{pct}"), span=self.span(arm)))
        return ir.Split(arms=arms, span=self.span(tree))

    def terminal_queue(self, tree: Tree, owner: str) -> ir.Queue:
        fields: dict = {"outcomes": []}
        seen: dict[str, Tree] = {}
        queue_outcomes = {"timeout": ir.Outcome.FAILED, "failed": ir.Outcome.FAILED}
        for st in tree.children[1:]:
            if self.dial_setting(st, fields, seen, owner, "queue", queue_outcomes):
                continue
            kind = st.data
            if kind == "queue_timeout":
                if any(a.outcome is ir.Outcome.FAILED for a in fields["outcomes"]):
                    self.report("E228", "`timeout` is handled twice", st)
                else:
                    fields["outcomes"].append(ir.OutcomeArm(outcome=ir.Outcome.FAILED, span=self.span(st),
                                                            target=self.target(st.children[0], owner, "timeout")))
                continue
            key = kind.removeprefix("queue_")
            if not self.setting(seen, key, st, "queue"):
                continue
            arg = st.children[0]
            if kind == "queue_group":
                fields["group"] = str(arg)
            elif kind == "queue_music":
                fields["music"] = self.prompt(arg)
            elif kind == "queue_announce":
                fields["announce"] = self.prompt(arg)
                if st.children[1] is not None:
                    fields["announce_every"] = self.literal(literals.duration, st.children[1], minimum=10, maximum=600,
                                                            what="announcement interval")
            elif kind == "queue_max_wait":
                fields["max_wait"] = self.literal(literals.duration, arg, minimum=10, maximum=3600, what="max_wait")
            elif kind == "queue_retry":
                fields["retry"] = self.literal(literals.duration, arg, minimum=1, maximum=300, what="retry")
        return ir.Queue(span=self.span(tree), **{k: v for k, v in fields.items() if v is not None})

    def terminal_voicemail(self, tree: Tree, owner: str) -> ir.Voicemail:
        _, box_tok, *options = tree.children
        fields: dict = {}
        seen: dict[str, Tree] = {}
        for opt in options:
            if not self.setting(seen, opt.data, opt, "voicemail"):
                continue
            if opt.data == "voicemail_max":
                v = self.literal(literals.duration, opt.children[0], minimum=5, maximum=3600, what="message length")
                if v is not None:
                    fields["max_length"] = v
            else:
                fields["greeting"] = self.prompt(opt.children[0])
        return ir.Voicemail(box=str(box_tok), span=self.span(tree), **fields)


def transform(source: SourceFile, tree: Tree) -> tuple[ir.Module, list[Diagnostic], set[str]]:
    """The module, the value errors, and the declarations those errors damaged."""
    t = Transformer(source)
    module = t.module(tree)
    return module, t.diagnostics, t.damaged
