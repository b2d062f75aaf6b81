"""Semantic checks and the IR they produce: resolution, lifting, schedules, imports, loops."""

from __future__ import annotations

import pytest

from flowc import ir
from flowc.checks import CheckOptions
from flowc.pipeline import Workspace

HEAD = "flow f {\n  number 400-800-1234\n"


def check(body: str, decls: str = "", years=(2026,)):
    text = decls + "\n" + HEAD + body + "\n}\n"
    return Workspace().assemble("t.flow", text=text, options=CheckOptions(years=list(years)))


def codes(result) -> list[str]:
    return [d.code for d in result.diagnostics]


def test_inline_blocks_become_synthetic_steps_with_readable_names():
    r = check('step main { menu { 1 -> { play "a" hangup } 2 -> dial 13800000001 { busy -> hangup } } }')
    assert r.ok, r.diagnostics
    names = [s.name for s in r.flow.steps]
    assert names == ["main", "main.1", "main.2", "main.2.busy"]
    assert r.flow.step("main.1").synthetic
    assert r.flow.step("main").terminal.options[0].target == "main.1"


def test_goto_in_an_arm_targets_the_step_directly():
    r = check('step a { menu { 1 -> goto b } } step b { hangup }')
    assert r.flow.step("a").terminal.options[0].target == "b"


def test_back_resolves_to_the_single_parent_menu():
    r = check('step top { menu { 1 -> sub } } step sub { play "x" goto submenu } '
              'step submenu { menu { # -> back 1 -> hangup } }')
    assert r.ok, r.diagnostics
    (back,) = [o for o in r.flow.step("submenu").terminal.options if o.action == "back"]
    assert back.target == "top"


def test_back_with_two_parents_is_ambiguous():
    r = check('step a { menu { 1 -> c 2 -> b } } step b { menu { 1 -> c } } step c { menu { # -> back 1 -> hangup } }')
    assert "E312" in codes(r)


def test_declared_phones_are_resolved_into_groups_and_dials():
    r = check('step a { dial g { failed -> b } } step b { dial boss }',
              'phone boss 13900000001\nphone desk "010-8888 6666"\ngroup g { desk boss }')
    assert r.ok, r.diagnostics
    assert [m.phone.number for m in r.flow.groups["g"].members] == ["01088886666", "13900000001"]
    assert r.flow.step("b").terminal.dest.phone.number == "13900000001"


def test_schedule_times_attach_to_the_days_before_them():
    r = check('step a { branch time { s -> hangup else -> hangup } }',
              'schedule s { workdays 09:00-12:00, 13:30-18:00 sat, sun 10:00-12:00 22:00-06:00 except 10-01..10-07 }')
    assert r.ok, r.diagnostics
    rules = r.flow.schedules["s"].rules
    assert len(rules) == 3
    assert rules[0].day_types == [ir.DayType.WORKDAY] and [(t.start, t.end) for t in rules[0].times] == [(540, 720), (810, 1080)]
    assert rules[1].weekdays == [6, 7] and len(rules[1].times) == 1
    assert rules[2].weekdays == [] and (rules[2].times[0].start, rules[2].times[0].end) == (1320, 360)
    (exc,) = r.flow.schedules["s"].excepts
    assert (exc.start_month, exc.start_day, exc.end_month, exc.end_day) == (10, 1, 10, 7)


def test_weekday_ranges_wrap_and_chinese_aliases():
    r = check('step a { branch time { s -> hangup else -> hangup } }', 'schedule s { fri-mon, 周三 08:00-09:00 }')
    assert r.flow.schedules["s"].rules[0].weekdays == [1, 3, 5, 6, 7]


def test_the_comma_trap_is_a_warning():
    r = check('step a { branch time { s -> hangup else -> hangup } }', 'schedule s { mon wed 09:00-12:00 }')
    assert "W404" in codes(r)


def test_holiday_calendar_missing_for_the_first_year_is_an_error():
    r = check('step a { branch time { s -> hangup else -> hangup } }', 'schedule s { holidays }', years=(2099,))
    assert "E309" in codes(r)


def test_holiday_calendar_missing_for_a_later_year_is_a_warning():
    r = check('step a { branch time { s -> hangup else -> hangup } }', 'schedule s { workdays }', years=(2026, 2099))
    assert "W403" in codes(r) and "E309" not in codes(r)


def test_plain_weekday_schedules_need_no_calendar():
    r = check('step a { branch time { s -> hangup else -> hangup } }', 'schedule s { mon-fri }', years=(2099,))
    assert r.ok


@pytest.mark.parametrize("body,code", [
    ("step a { goto a }", "E308"),
    ("step a { goto b } step b { branch caller { withheld -> a else -> a } }", "E308"),
    ('step a { play "x" goto a }', "E308"),
])
def test_inescapable_loops(body, code):
    assert code in codes(check(body))


@pytest.mark.parametrize("body", [
    'step a { menu { 1 -> a 2 -> hangup } }',                      # the caller can leave
    'step a { dial 13800000001 { failed -> b } } step b { play "sorry" goto a }',  # an answer ends it
    'step a { split { 50% -> a 50% -> hangup } }',                  # random exit
])
def test_loops_with_a_way_out_are_fine(body):
    assert "E308" not in codes(check(body))


def test_unreachable_step_is_a_warning():
    r = check('step a { hangup } step b { hangup }')
    assert codes(r) == ["W401"] and r.ok


def test_ring_all_refuses_per_phone_ring_times():
    r = check('step a { dial g }', 'group g { strategy ring_all 13800000001 (ring 10s) 13800000002 }')
    assert "E318" in codes(r)


def test_ratio_weights_must_total_100():
    r = check('step a { dial g }', 'group g { strategy ratio 13800000001 (weight 70) 13800000002 (weight 20) }')
    assert "E304" in codes(r)


def test_total_ring_time_longer_than_max_ring_warns():
    r = check('step a { dial g }', 'group g { ring 25s 13800000001 13800000002 13800000003 }')
    assert "W402" in codes(r)


def test_region_arms_resolve_chinese_and_pinyin_names():
    r = check('step a { branch region { 广东, shenzhen -> hangup beijing -> hangup else -> hangup } }')
    assert r.ok, r.diagnostics


def test_unknown_region_suggests_a_name():
    r = check('step a { branch region { 广冬 -> hangup else -> hangup } }')
    (d,) = [d for d in r.diagnostics if d.code == "E219"]
    assert d.help and "广东" in d.help


def test_city_after_its_province_is_shadowed():
    r = check('step a { branch region { 广东 -> hangup 深圳 -> hangup else -> hangup } }')
    assert "W405" in codes(r)


def test_imports_merge_declarations_and_detect_duplicates(tmp_path):
    lib = tmp_path / "lib.flow"
    lib.write_text('group g { 13800000001 }\nschedule s { mon-fri }\n', encoding="utf-8")
    main = tmp_path / "main.flow"
    main.write_text('import "lib.flow"\nflow f { number 4008001234 step a { dial g } }\n', encoding="utf-8")
    r = Workspace().assemble(main)
    assert r.ok, r.diagnostics
    assert "g" in r.flow.groups
    main.write_text('import "lib.flow"\ngroup g { 13800000002 }\nflow f { number 4008001234 step a { dial g } }\n',
                    encoding="utf-8")
    assert "E202" in codes(Workspace().assemble(main))


def test_import_cycles_and_flows_in_libraries_are_errors(tmp_path):
    (tmp_path / "a.flow").write_text('import "b.flow"\ngroup ga { 13800000001 }\n', encoding="utf-8")
    (tmp_path / "b.flow").write_text('import "a.flow"\ngroup gb { 13800000002 }\n', encoding="utf-8")
    (tmp_path / "c.flow").write_text('flow other { number 4008001235 step a { hangup } }\n', encoding="utf-8")
    main = tmp_path / "main.flow"
    main.write_text('import "a.flow"\nimport "c.flow"\nflow f { number 4008001234 step a { hangup } }\n',
                    encoding="utf-8")
    assert codes(Workspace().assemble(main)).count("E003") == 2


def test_library_files_are_checked_without_a_flow(tmp_path):
    lib = tmp_path / "lib.flow"
    lib.write_text('group g { strategy ratio 13800000001 (weight 50) }\n', encoding="utf-8")
    r = Workspace().assemble(lib)
    assert r.library and codes(r) == ["E304"]


def test_value_errors_do_not_hide_later_check_errors():
    r = check('step a { menu { 1 -> nowhere 12 -> a } }')
    assert {"E201", "E220"} <= set(codes(r))


def test_hostile_prompt_and_mailbox_names_are_refused():
    r = check('step a { play "../../etc/passwd" play "x,y" play "a;b" play "${EXTEN}" hangup }')
    assert codes(r).count("E223") == 4


def test_long_mailbox_is_refused():
    assert "E224" in codes(check("step a { voicemail abcdefghijklmnopq }"))


def test_ir_round_trips_through_json():
    r = check('step main { menu { 1 -> { play "a" hangup } 2 -> dial 13800000001 } }')
    again = ir.Flow.model_validate_json(r.flow.model_dump_json())
    assert again == r.flow
