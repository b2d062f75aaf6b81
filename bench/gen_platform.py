"""Generate a realistic platform of N hotline flows (the kinds of examples/*.flow) for benchmarks.

    python bench/gen_platform.py --flows 2000 --out DIR [--seed S]
    cd DIR && flowc check . && flowc compile . --target all --out ../build

writes

    DIR/flowc.toml               marks DIR as the project root (imports stay inside it)
    DIR/common/schedules.flow    shared schedules (office hours, nights, public holidays ...)
    DIR/common/surveys.flow      shared satisfaction surveys
    DIR/common/lists.flow        a shared blacklist
    DIR/tenants/tNNNN.flow       one library per tenant (an enterprise with several hotlines):
                                 its reception phone, agent group and hours
    DIR/flows/fNNNNN_KIND.flow   the flows, each importing common/ and its tenant's library

Kinds, in the proportions of a real platform: small shops (one phone with failover),
multi-level menus, 7x24 support lines with holiday schedules, switchboards with extension
dialling, sales lines with a percentage split, VIP/blacklist lines, queues with a
satisfaction survey, and about 28% national lines with a `branch region` on provinces and
cities (as examples/ecommerce_national.flow). Groups use every strategy. Every flow has its
own 400 number; mailboxes and group (queue) names repeat across flows, as real tenants'
do. Flow i is the same whatever N is (its generator is seeded with the seed and i), so the
400-flow platform is the first 400 flows of the 2,000-flow one.

Every generated file passes `flowc check` without errors or warnings for the current
calendar year (W403 is reported for years the holiday calendar does not cover yet).
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
from pathlib import Path

FLOWS_PER_TENANT = 6
REGION_SHARE = 0.28

PROVINCES = [
    "北京", "天津", "河北", "山西", "内蒙古", "辽宁", "吉林", "黑龙江", "上海", "江苏", "浙江",
    "安徽", "福建", "江西", "山东", "河南", "湖北", "湖南", "广东", "广西", "海南", "重庆",
    "四川", "贵州", "云南", "西藏", "陕西", "甘肃", "青海", "宁夏", "新疆",
]
# (city, its province): cities are put before any arm that names their province (W405).
CITIES = [
    ("深圳", "广东"), ("广州", "广东"), ("东莞", "广东"), ("佛山", "广东"), ("杭州", "浙江"),
    ("宁波", "浙江"), ("温州", "浙江"), ("南京", "江苏"), ("苏州", "江苏"), ("无锡", "江苏"),
    ("成都", "四川"), ("武汉", "湖北"), ("长沙", "湖南"), ("郑州", "河南"), ("西安", "陕西"),
    ("济南", "山东"), ("青岛", "山东"), ("沈阳", "辽宁"), ("大连", "辽宁"), ("哈尔滨", "黑龙江"),
    ("长春", "吉林"), ("石家庄", "河北"), ("太原", "山西"), ("合肥", "安徽"), ("福州", "福建"),
    ("厦门", "福建"), ("南昌", "江西"), ("南宁", "广西"), ("昆明", "云南"), ("贵阳", "贵州"),
    ("兰州", "甘肃"), ("乌鲁木齐", "新疆"), ("呼和浩特", "内蒙古"), ("海口", "海南"),
]
MOBILE_HEADS = ["130", "131", "132", "135", "136", "137", "138", "139", "150", "151", "152", "158",
                "159", "166", "176", "177", "180", "181", "186", "187", "188", "189", "199"]
# Area codes and subscriber lengths libphonenumber accepts.
LANDLINE_CODES = [("010", 8), ("020", 8), ("021", 8), ("022", 8), ("023", 8), ("024", 8), ("025", 8),
                  ("027", 8), ("028", 8), ("029", 8), ("0571", 8), ("0755", 8), ("0512", 8),
                  ("0574", 8), ("0731", 8), ("0531", 8), ("0532", 8), ("0592", 7), ("0871", 8)]
STRATEGIES = ["sequential", "ring_all", "random", "round_robin", "ratio"]
MAILBOXES = ["8000", "9000", "2000", "6001", "3650", "7001", "1000", "service_vm", "sales_vm"]
CARRIER_DIGITS = "016789"  # 4000/4006 Unicom, 4001/4007 Mobile, 4008/4009 Telecom


def hotline(i: int) -> str:
    """A distinct valid 400 number per flow index."""
    head = CARRIER_DIGITS[i % len(CARRIER_DIGITS)]
    body = ((i // len(CARRIER_DIGITS)) * 7919 + 123457) % 1_000_000  # 7919 is prime: a permutation of 0..999999
    digits = f"400{head}{body:06d}"
    return f"{digits[:4]}-{digits[4:7]}-{digits[7:]}"


class Phones:
    """Distinct phone numbers for one flow or library."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.seen: set[str] = set()

    def mobile(self) -> str:
        while True:
            n = self.rng.choice(MOBILE_HEADS) + f"{self.rng.randrange(10**8):08d}"
            if n not in self.seen:
                self.seen.add(n)
                return n

    def landline(self) -> str:
        while True:
            code, length = self.rng.choice(LANDLINE_CODES)
            sub = f"{self.rng.randrange(2, 7)}{self.rng.randrange(1, 10)}{self.rng.randrange(10 ** (length - 2)):0{length - 2}d}"
            n = f"{code}-{sub[:4]} {sub[4:]}"
            if n not in self.seen:
                self.seen.add(n)
                return f'"{n}"'

    def any(self) -> str:
        return self.mobile() if self.rng.random() < 0.5 else self.landline()


def group_decl(name: str, rng: random.Random, phones: Phones, strategy: str | None = None,
               size: tuple[int, int] = (2, 4)) -> str:
    strategy = strategy or rng.choice(STRATEGIES)
    n = rng.randint(*size)
    ring = rng.choice([15, 20]) if strategy != "ring_all" else rng.choice([20, 25, 30])
    if strategy != "ring_all":  # sequential-like strategies ring one phone after another: stay within max_ring
        n = min(n, 60 // ring)
    lines = [f"group {name} {{", f"  strategy {strategy}", f"  ring {ring}s"]
    if strategy == "ratio":
        n = max(n, 2)
        weights = [100 // n] * n
        weights[0] += 100 - sum(weights)
        lines += [f"  {phones.any()} (weight {w})" for w in weights]
    else:
        lines += [f"  {phones.any()}" for _ in range(n)]
    lines.append("}")
    return "\n".join(lines)


COMMON = {
    "common/schedules.flow": """\
// 平台公共时间表：各租户热线共用
schedule office_hours {
  workdays 09:00-12:00, 13:30-18:00
}

schedule long_hours {
  workdays 08:30-20:30
  sat, sun 09:00-17:00
  except 01-01
}

schedule saturday_morning {
  sat 09:00-12:00
  except 01-01
}

schedule night {
  daily 22:00-24:00, 00:00-06:00
}

schedule public_holidays {
  holidays
}
""",
    "common/surveys.flow": """\
// 平台公共满意度评价
survey satisfaction {
  prompt "survey/rate_us"
  keys 1, 2, 3, 4, 5
  timeout 8s
  retries 1
  invalid "survey/invalid"
  thanks "survey/thanks"
}

survey quick_rating {
  prompt "survey/quick_rate"
  keys 1, 2, 3
  thanks "survey/thanks"
}
""",
    "common/lists.flow": """\
// 平台公共黑名单：骚扰号码段
list platform_blacklist {
  "170*"
  "171*"
  "0086-165-0000-0000"
  17000000000
}
""",
}


def tenant_library(t: int, seed: str) -> str:
    rng = random.Random(f"{seed}:tenant:{t}")
    phones = Phones(rng)
    return "\n\n".join([
        f"// 租户 {t} 的公共资源：前台、坐席组、营业时间",
        f"phone t_reception {phones.landline()}",
        group_decl("t_agents", rng, phones, strategy=rng.choice(STRATEGIES)),
        "schedule t_hours {\n  mon-fri 08:30-17:30\n  except 01-01, 10-01..10-03\n}",
    ]) + "\n"


def imports(tenant: int, *common: str) -> list[str]:
    return [f'import "../common/{c}.flow"' for c in common] + [f'import "../tenants/t{tenant:04d}.flow"']


def header(name: str, i: int, title: str, extra: list[str] | None = None) -> list[str]:
    return [f"flow {name} {{", f"  number {hotline(i)}", f'  title "{title} {i}"', *(f"  {x}" for x in extra or [])]


def kind_shop(i, name, rng, phones, tenant):
    decls = [f"phone counter {phones.landline()}", f"phone owner {phones.mobile()}"]
    body = header(name, i, "小店热线") + [
        "  step start {", '    play "shop/welcome"', "    dial counter {", f"      ring {rng.choice([15, 20])}s",
        "      busy -> owner", "      no_answer -> owner", "      failed -> sorry", "    }", "  }",
        "  step owner {", "    dial owner { ring 25s failed -> reception }", "  }",
        "  step reception {", "    dial t_reception { failed -> sorry }", "  }",
        "  step sorry {", '    play "shop/sorry_busy"', f"    voicemail {rng.choice(MAILBOXES)} max 1m", "  }", "}"]
    return imports(tenant), decls, body


def kind_menu(i, name, rng, phones, tenant):
    decls = [group_decl("reservations", rng, phones), group_decl("members_desk", rng, phones, "ring_all"),
             group_decl("complaints", rng, phones, rng.choice(["sequential", "random"]))]
    body = header(name, i, "多级菜单热线", ["max_ring 75s"] if rng.random() < 0.5 else []) + [
        "  step start {", '    play "hotel/welcome"', "    goto main_menu", "  }",
        "  step main_menu {", "    menu {", '      prompt "hotel/main_menu"', "      timeout 5s", "      retries 2",
        "      1 -> booking_menu", "      2 -> member_menu", "      3 -> dial complaints { failed -> complaint_message }",
        "      4 -> dial t_agents { failed -> complaint_message }",
        "      0 -> dial reservations", "      * -> repeat", '      invalid "hotel/invalid"', "      exhausted -> goodbye",
        "    }", "  }",
        "  step booking_menu {", "    menu {", '      prompt "hotel/booking_menu"',
        '      1 -> { tag booking = "new" dial reservations { failed -> busy_message } }',
        '      2 -> { tag booking = "change" dial reservations { failed -> busy_message } }',
        "      # -> back", "      * -> repeat", '      no_input "hotel/no_input"', "      exhausted -> main_menu",
        "    }", "  }",
        "  step member_menu {", "    menu {", '      prompt "hotel/member_menu"',
        "      1 -> dial members_desk { busy -> busy_message no_answer -> busy_message failed -> goodbye }",
        '      2 -> { play "hotel/points_rules" goto member_menu }', "      # -> back", "    }", "  }",
        "  step complaint_message {", "    record retain 180d", '    play "hotel/complaint_leave_message"',
        f"    voicemail {rng.choice(MAILBOXES)} max 5m", "  }",
        "  step busy_message {", '    play "hotel/all_busy"', "    goto main_menu", "  }",
        "  step goodbye {", '    play "hotel/goodbye"', "    hangup", "  }", "}"]
    return imports(tenant), decls, body


def kind_support(i, name, rng, phones, tenant):
    y = 2026
    decls = [group_decl("engineers", rng, phones, rng.choice(["round_robin", "sequential", "ring_all"])),
             f"phone on_call {phones.mobile()}",
             "schedule company_closed {\n"
             f"  {y}-12-31\n  12-24 18:00-24:00\n  {y}-0{rng.randint(5, 8)}-{rng.randint(10, 20)}\n}}"]
    box = rng.choice(MAILBOXES)
    body = header(name, i, "7x24 技术支持", ["timezone Asia/Shanghai", "record retain 180d"]) + [
        "  step start {", '    play "support/welcome"', "    branch time {",
        "      company_closed -> holiday_message", "      public_holidays -> holiday_message",
        "      office_hours -> engineers_desk", "      t_hours -> engineers_desk", "      night -> night_duty",
        "      else -> after_hours", "    }", "  }",
        "  step engineers_desk {", '    tag shift = "day"', "    dial engineers {", "      busy -> after_hours",
        "      failed -> after_hours", "    }", "  }",
        "  step night_duty {", '    tag shift = "night"', '    play "support/night_duty"',
        "    dial on_call { ring 30s failed -> after_hours }", "  }",
        "  step holiday_message {", '    play "support/holiday_notice"',
        f'    voicemail {box} max 3m greeting "support/holiday_greeting"', "  }",
        "  step after_hours {", '    play "support/after_hours"', f"    voicemail {box} max 3m", "  }", "}"]
    return imports(tenant, "schedules"), decls, body


def kind_switchboard(i, name, rng, phones, tenant):
    n = rng.randint(4, 30)
    decls = [f"phone staff{k} {phones.any()}" for k in range(n)]
    decls.append(group_decl("finance", rng, phones, "sequential"))
    exts = [f"      {100 + k} staff{k}" for k in range(n)] + ["      200 finance", "      201 t_agents"]
    body = header(name, i, "企业总机") + [
        "  step start {", '    ringback "corp/company_song"', '    play "corp/welcome"', "    goto dial_extension", "  }",
        "  step dial_extension {", "    extension {", '      prompt "corp/enter_extension"', "      digits 3",
        "      timeout 6s", "      retries 2", "      ring 25s", *exts, "      000 -> operator",
        '      invalid "corp/no_such_extension"', "      no_input -> operator", "      exhausted -> operator",
        "      busy -> extension_busy", "      failed -> operator", "    }", "  }",
        "  step extension_busy {", '    play "corp/extension_busy"', "    goto dial_extension", "  }",
        "  step operator {", "    dial t_reception {", "      ring 30s", "      failed -> message", "    }", "  }",
        "  step message {", '    play "corp/leave_message"', f"    voicemail {rng.choice(MAILBOXES)}", "  }", "}"]
    return imports(tenant), decls, body


def kind_sales(i, name, rng, phones, tenant):
    a = rng.choice([50, 60, 70, 80])
    decls = [group_decl("team_one", rng, phones, "round_robin", (3, 4)),
             group_decl("team_two", rng, phones, "ratio", (2, 3))]
    body = header(name, i, "销售热线", ['tag line = "sales"', "record retain 90d"]) + [
        "  step start {", '    play "sales/welcome"', "    split {", f"      {a}% -> one", f"      {100 - a}% -> two",
        "    }", "  }",
        "  step one {", '    tag team = "一组"', "    dial team_one {", "      failed -> two_backup", "    }", "  }",
        "  step two {", '    tag team = "二组"', "    dial team_two {", "      failed -> voicemail_sales", "    }", "  }",
        "  step two_backup {", "    dial team_two {", "      failed -> voicemail_sales", "    }", "  }",
        "  step voicemail_sales {", '    play "sales/leave_message"', f"    voicemail {rng.choice(MAILBOXES)} max 2m",
        "  }", "}"]
    return imports(tenant), decls, body


def kind_vip(i, name, rng, phones, tenant):
    vips = [phones.mobile() for _ in range(rng.randint(2, 12))]
    decls = ["list vip {\n" + "\n".join(f"  {v}" for v in vips) + "\n}",
             group_decl("vip_managers", rng, phones, "ring_all"),
             group_decl("agents", rng, phones, "round_robin", (3, 4))]
    local = rng.choice(["0571", "0755", "010", "021", "138"])
    body = header(name, i, "信用卡中心", ['tag product = "credit_card"']) + [
        "  step start {", "    branch caller {", "      platform_blacklist -> refuse", "      vip -> vip_service",
        "      withheld -> service_menu", f'      "{local}*" -> local_service', "      else -> service_menu", "    }",
        "  }",
        "  step refuse {", '    tag blocked = "yes"', '    play "bank/call_refused"', "    hangup", "  }",
        "  step vip_service {", '    tag vip = "yes"', '    play "bank/vip_welcome"', "    dial vip_managers {",
        "      survey quick_rating", "      failed -> service_menu", "    }", "  }",
        "  step local_service {", '    tag local = "yes"', "    goto service_menu", "  }",
        "  step service_menu {", "    menu {", '      prompt "bank/service_menu"', "      1 -> dial agents { failed -> sorry }",
        '      2 -> { play "bank/balance_info" hangup }', "      9 -> repeat", "      exhausted -> sorry", "    }", "  }",
        "  step sorry {", '    play "bank/all_busy"', "    hangup", "  }", "}"]
    return imports(tenant, "lists", "surveys"), decls, body


def kind_queue(i, name, rng, phones, tenant):
    decls = [group_decl("after_sales", rng, phones, "sequential", (2, 4))]
    body = header(name, i, "售后服务热线", ["survey satisfaction", "record"]) + [
        "  step start {", '    play "aftersales/welcome"', "    dial after_sales {", "      busy -> wait_in_queue",
        "      no_answer -> wait_in_queue", "      failed -> wait_in_queue", "    }", "  }",
        "  step wait_in_queue {", "    queue {", "      group after_sales", '      music "aftersales/hold_music"',
        f'      announce "aftersales/please_hold" every {rng.choice([20, 30, 45])}s',
        f"      max_wait {rng.choice([2, 3, 5])}m", "      retry 10s", "      timeout -> leave_message", "    }", "  }",
        "  step leave_message {", '    play "aftersales/leave_message"', f"    voicemail {rng.choice(MAILBOXES)} max 2m",
        "  }", "}"]
    return imports(tenant, "surveys"), decls, body


def region_arms(rng: random.Random) -> list[list[str]]:
    """2 to 6 arms of provinces and cities; a city never comes after an arm with its province."""
    n_arms = rng.randint(2, 6)
    provinces = rng.sample(PROVINCES, rng.randint(n_arms, min(len(PROVINCES), n_arms * 4)))
    cities = [c for c, p in rng.sample(CITIES, rng.randint(0, 6)) if p not in provinces]
    city_arms = min(len(cities), rng.randint(0, n_arms - 1))
    arms: list[list[str]] = [[] for _ in range(n_arms)]
    for k, c in enumerate(cities[:max(city_arms, 0) and len(cities)]):
        arms[k % city_arms].append(c)
    rest = range(city_arms, n_arms)
    for k, p in enumerate(provinces):
        arms[rest[k % len(rest)]].append(p)
    return [a for a in arms if a]


def kind_region(i, name, rng, phones, tenant):
    arms = region_arms(rng)
    decls = [group_decl(f"center{k}", rng, phones, rng.choice(STRATEGIES)) for k in range(len(arms))]
    decls.append("schedule promotion_days {\n  11-10..11-12\n  12-30..01-02 09:00-21:00\n}")
    fallback = rng.choice(["main_menu", "wait_queue"])
    lines = header(name, i, "全国客服", ["record retain 30d", 'ringback "mall/ringback_music"']) + [
        "  step start {", '    play "mall/welcome"', "    branch time {",
        "      promotion_days, office_hours -> by_region", "      else -> after_hours", "    }", "  }",
        "  step by_region {", "    branch region {",
        *(f"      {', '.join(a)} -> c{k}" for k, a in enumerate(arms)),
        f"      else -> {fallback}", "    }", "  }"]
    for k in range(len(arms)):
        lines += [f"  step c{k} {{", f'    tag center = "c{k}"', f"    dial center{k} {{ failed -> {fallback} }}", "  }"]
    keys = "\n".join(f"      {k + 1} -> c{k}" for k in range(min(len(arms), 9)))
    if fallback == "main_menu":
        lines += ["  step main_menu {", "    menu {", '      prompt "mall/choose_center"', "      timeout 6s",
                  "      retries 2", keys, "      * -> repeat", '      invalid "mall/invalid_choice"',
                  '      no_input "mall/please_choose"', "      exhausted -> after_hours", "    }", "  }"]
    else:
        lines += ["  step wait_queue {", "    queue {", "      group t_agents", "      max_wait 2m",
                  "      timeout -> after_hours", "    }", "  }"]
    lines += ["  step after_hours {", '    play "mall/closed"', f"    voicemail {rng.choice(MAILBOXES)} max 3m", "  }", "}"]
    return imports(tenant, "schedules"), decls, lines


KINDS = [("shop", kind_shop, 12), ("menu", kind_menu, 14), ("support", kind_support, 12),
         ("switchboard", kind_switchboard, 10), ("sales", kind_sales, 8), ("vip", kind_vip, 8),
         ("queue", kind_queue, 8)]


def flow_text(i: int, seed: str) -> tuple[str, str]:
    """(file name, text) of flow i."""
    rng = random.Random(f"{seed}:flow:{i}")
    if rng.random() < REGION_SHARE:
        kind, make = "region", kind_region
    else:
        kind, make = rng.choices([(k, f) for k, f, _ in KINDS], weights=[w for *_, w in KINDS])[0]
    name = f"f{i:05d}_{kind}"
    phones = Phones(rng)
    imps, decls, body = make(i, name, rng, phones, i // FLOWS_PER_TENANT)
    text = "\n".join([f"// generated platform flow {i} ({kind})", *imps, "", "\n\n".join(decls), "", *body]) + "\n"
    return f"{name}.flow", text


def generate(flows: int, out: Path, seed: str = "1") -> dict[str, int]:
    """Write the platform into `out` (emptied first); returns the count of flows per kind."""
    if out.exists():
        shutil.rmtree(out)
    (out / "common").mkdir(parents=True)
    (out / "tenants").mkdir()
    (out / "flows").mkdir()
    # The project root: imports stay inside it, and flowc runs from here (cd DIR && flowc ...).
    (out / "flowc.toml").write_text("# a generated platform (bench/gen_platform.py)\n", encoding="utf-8")
    for rel, text in COMMON.items():
        (out / rel).write_text(text, encoding="utf-8")
    for t in range((flows + FLOWS_PER_TENANT - 1) // FLOWS_PER_TENANT):
        (out / "tenants" / f"t{t:04d}.flow").write_text(tenant_library(t, seed), encoding="utf-8")
    kinds: dict[str, int] = {}
    for i in range(flows):
        fname, text = flow_text(i, seed)
        (out / "flows" / fname).write_text(text, encoding="utf-8")
        kind = fname.split("_", 1)[1].removesuffix(".flow")
        kinds[kind] = kinds.get(kind, 0) + 1
    return dict(sorted(kinds.items()))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--flows", type=int, required=True, help="number of flows")
    ap.add_argument("--out", type=Path, required=True, help="directory to write (emptied first)")
    ap.add_argument("--seed", default="1", help="seed (any string); the same seed gives the same files")
    args = ap.parse_args(argv)
    kinds = generate(args.flows, args.out, args.seed)
    print(f"{args.flows} flows in {args.out}: " + ", ".join(f"{k} {v}" for k, v in kinds.items()), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
