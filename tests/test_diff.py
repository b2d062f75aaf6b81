"""`flowc diff` (issue 15): structural changes in words, behavioural classes, the partition proof.

Each hand-made pair of versions has its affected classes written by hand. The partition
test runs random concrete calls through both versions and checks that every call that
behaves differently lies in a reported class (FLOWC_DIFF_RANDOM_CALLS sets how many; 10,000
by default, 500 when CI is set).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flowc.cli import app
from flowc.diff.behaviour import MAX_SECONDS, Exploration
from flowc.diff.report import diff_flows
from flowc.diff.structural import changes
from flowc.interp import World
from flowc.pipeline import Workspace

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted(p.name for p in (ROOT / "examples").glob("*.flow"))
YEARS = [2026, 2027]
runner = CliRunner()


def flow(name: str, text: str | None = None):
    path = ROOT / "examples" / name
    result = Workspace().assemble(path, text=text)
    assert result.flow is not None, [str(d.message) for d in result.diagnostics]
    return result.flow


def source(name: str) -> str:
    return (ROOT / "examples" / name).read_text(encoding="utf-8")


def edited(name: str, old: str, new: str) -> str:
    text = source(name)
    assert text.count(old) == 1, old
    return text.replace(old, new)


def differing(ex: Exploration):
    return [leaf for leaf in ex.leaves if leaf.differs]


def phones(leaf) -> dict[str, str]:
    return {d[1]: v for d, v in leaf.assign.items() if isinstance(d, tuple) and d[0] == "phone"}


def keys(leaf) -> tuple[str, ...]:
    out, n = [], 1
    while ("keys", n) in leaf.assign:
        out.append(leaf.assign[("keys", n)])
        n += 1
    return tuple(out)


SHOP_SCHEDULE = """
schedule open { workdays 09:00-18:00 }
flow t {
  number 400-600-1234
  step start { branch time { open -> desk else -> closed } }
  step desk { dial 13800000001 { failed -> closed } }
  step closed { voicemail 100 }
}
"""

# ---------------------------------------------------------------- hand-made pairs


def pair_key_change():
    old = flow("hotel_chain.flow")
    new = flow("hotel_chain.flow", edited("hotel_chain.flow", "3 -> dial complaints { failed -> complaint_message }",
                                          "3 -> goodbye"))
    return old, new


def pair_schedule_change():
    old = Workspace().assemble("t.flow", text=SHOP_SCHEDULE).flow
    new = Workspace().assemble("t.flow", text=SHOP_SCHEDULE.replace(
        "workdays 09:00-18:00 }", "workdays 09:00-18:00\n sat 10:00-16:00 }")).flow
    return old, new


def pair_region_moved():
    old = flow("ecommerce_national.flow")
    text = edited("ecommerce_national.flow", "广东, 广西, 海南, 福建 -> south", "广东, 广西, 海南 -> south")
    new = flow("ecommerce_national.flow", text.replace("上海, 江苏, 浙江, anhui -> east",
                                                       "上海, 江苏, 浙江, anhui, 福建 -> east"))
    return old, new


def pair_phone_added():
    old = flow("service_queue.flow")
    new = flow("service_queue.flow", edited("service_queue.flow", "  13700000003\n", "  13700000003\n  13700000004\n"))
    return old, new


def pair_ring_time():
    old = flow("small_shop.flow")
    new = flow("small_shop.flow", edited("small_shop.flow", "ring 15s", "ring 20s"))
    return old, new


def pair_formatting():
    text = source("switchboard.flow")
    text = text.replace("  step operator {", "  // 前台 reception\n\n\n  step   operator   {")
    text = text.replace("      ring 30s\n", "      ring    30s   // thirty seconds\n")
    # move the last step before the one above it: moved lines change nothing
    head, sep, message = text.rpartition("  step message {")
    message_block, _, tail = message.partition("\n  }\n")
    text = head.replace("  // 前台 reception", sep + message_block + "\n  }\n\n  // 前台 reception") + tail
    return flow("switchboard.flow"), flow("switchboard.flow", text)


PAIRS = {"key change": pair_key_change, "schedule change": pair_schedule_change,
         "region moved": pair_region_moved, "phone added": pair_phone_added, "ring time": pair_ring_time}


def test_key_change():
    old, new = pair_key_change()
    fd = diff_flows(old, new, YEARS)
    assert fd.changes == ["menu `main_menu`: key 3 now goes to `goodbye` (was goes to `main_menu.3`)",
                          "inline block `main_menu.3` removed"]
    # every key path that presses 3 at the main menu (after nothing, after a repeat, after an
    # invalid key), and nothing else
    assert sorted(keys(leaf) for leaf in differing(fd.exploration)) == [("*", "3"), ("3",), ("7", "3")]
    assert [g["summary"] for g in fd.groups] == [
        "now hung up after `goodbye` (was voicemail 7001 (rang 13500000001, 13500000002))"
        " - as in the example below; these calls differ whatever happens next"]
    assert fd.groups[0]["classes"] == ["keys 3", "keys *, 3", "keys invalid (7), 3"]


def test_schedule_change():
    old, new = pair_schedule_change()
    fd = diff_flows(old, new, YEARS)
    assert fd.changes == ["schedule `open`: sat 10:00-16:00 added"]
    diff = differing(fd.exploration)
    assert len(diff) == 1
    times = fd.exploration.times
    tc = times.classes[diff[0].assign["time"]]
    # Saturdays 10:00-16:00 that are not adjusted working days (those were open already)
    from flowc.holidays import is_adjusted_workday

    for s, e in tc.segments:
        a = datetime.fromtimestamp(s, tz=times.zone)
        b = datetime.fromtimestamp(e, tz=times.zone)
        assert a.weekday() == 5 and b.date() == a.date()
        assert (a.hour, a.minute) >= (10, 0) and (b.hour, b.minute) <= (16, 0)
        if a.year == 2026:  # the calendar covers 2026: adjusted Saturdays were open already
            assert not is_adjusted_workday(a.date())
    assert "Sat" in fd.groups[0]["classes"][0]
    assert fd.groups[0]["summary"].startswith("now voicemail 100 (rang 13800000001) (was voicemail 100)")


def test_region_moved():
    old, new = pair_region_moved()
    fd = diff_flows(old, new, YEARS)
    assert fd.changes == [
        "step `by_region`: arm 1 now `广东, 广西, 海南` → `south` (was `广东, 广西, 海南, 福建` → `south`)",
        "step `by_region`: arm 3 now `上海, 江苏, 浙江, anhui, 福建` → `east` (was `上海, 江苏, 浙江, anhui` → `east`)"]
    ex = fd.exploration
    diff = differing(ex)
    assert diff
    for leaf in diff:
        assert ex.callers.classes[leaf.assign["caller"]]["labels"] == ["福建"]
        # only when the call reaches the region branch: office hours or promotion days
        assert ex.times.describe(leaf.assign["time"]).endswith("[start → by_region]")
    # 福建 callers now ring the east centre instead of the south centre
    (group,) = fd.groups
    assert group["summary"].startswith("now voicemail 9000 (rang 02166663002, 057188883003, 02166663001) "
                                       "(was voicemail 9000 (rang 02038881001, 075526661002))")
    assert group["summary"].endswith("these calls differ whatever happens next")


def test_phone_added_to_a_group():
    old, new = pair_phone_added()
    fd = diff_flows(old, new, YEARS)
    assert fd.changes == ["group `after_sales`: 13700000004 added"]
    diff = differing(fd.exploration)
    # exactly the calls where none of the three old phones answers: 3 x 3 x 3 ways to fail
    failing = {"busy", "noanswer", "unreachable"}
    assert len(diff) == 27
    assert {tuple(sorted(phones(leaf))) for leaf in diff} == {("13700000001", "13700000002", "13700000003")}
    assert all(set(phones(leaf).values()) <= failing for leaf in diff)


def test_ring_time_changed():
    old, new = pair_ring_time()
    fd = diff_flows(old, new, YEARS)
    assert fd.changes == ["step `start`: ring 15 s → 20 s"]
    diff = differing(fd.exploration)
    # the counter phone does not answer (it now rings 5 s longer), or answers between 15 and 20 s
    assert sorted(phones(leaf)["057187654321"] for leaf in diff) == ["answer:after=17.5:talk=10", "noanswer"]


def test_formatting_only_is_no_behaviour_change():
    old, new = pair_formatting()
    assert changes(old, new) == []
    fd = diff_flows(old, new, YEARS)
    assert fd.status == "same" and fd.groups == [] and fd.exploration is None


@pytest.mark.parametrize("name", EXAMPLES)
def test_a_flow_diffed_with_itself_reports_nothing(name):
    f = flow(name)
    assert changes(f, f) == []
    # explore anyway, without the shortcut for identical code: the explorer itself finds no difference
    fd = diff_flows(f, f, YEARS, force=True, shortcuts=False, max_leaves=300)
    assert fd.groups == [] and len(fd.exploration.leaves) > 1
    assert not differing(fd.exploration)


# ---------------------------------------------------------------- the partition, checked on random calls


def _random_world(rng: random.Random, ex: Exploration) -> World:
    start = datetime(YEARS[0], 1, 1, tzinfo=timezone(timedelta(hours=8)))
    seconds = (datetime(YEARS[-1] + 1, 1, 1, tzinfo=start.tzinfo) - start).total_seconds()
    time = start + timedelta(seconds=rng.randrange(int(seconds)))
    named = [c["rep"] for c in ex.callers.classes] if ex._callers else []
    kind = rng.random()
    if kind < 0.35:
        caller = "1" + rng.choice("3456789") + "".join(rng.choice("0123456789") for _ in range(9))
    elif kind < 0.7:
        from flowc.regions import area_code_info, area_codes

        code = rng.choice(area_codes())
        info = area_code_info(code)
        n = info.subscriber_lengths[0] if info.subscriber_lengths else 8
        caller = code + str(rng.randint(2, 9)) + "".join(rng.choice("0123456789") for _ in range(n - 1))
    elif kind < 0.8:
        caller = rng.choice(["", "anonymous", "+12025550123", "0000"])
    else:
        caller = rng.choice(named or ["13812345678"])
    options = sorted({o.key for f in (ex.old, ex.new) for s in f.steps for o in getattr(s.terminal, "options", [])}
                     | {e.ext for f in (ex.old, ex.new) for s in f.steps for e in getattr(s.terminal, "entries", [])}
                     | {k for f in (ex.old, ex.new) for sv in f.surveys.values() for k in sv.keys})
    pool = options + list("0123456789*")
    pressed = [rng.choice(pool) for _ in range(rng.randint(0, ex.key_depth + 1))]
    numbers = sorted({m.phone.number for f in (ex.old, ex.new) for g in f.groups.values() for m in g.members}
                     | {p.phone.number for f in (ex.old, ex.new) for p in f.phones.values()}
                     | {s.terminal.dest.phone.number for f in (ex.old, ex.new) for s in f.steps
                        if getattr(getattr(s.terminal, "dest", None), "phone", None)})
    behaviours = {}
    for number in numbers:
        b = rng.random()
        behaviours[number] = (f"answer:after={rng.uniform(0.2, 40):.1f}:talk=10" if b < 0.4 else
                              "busy" if b < 0.6 else "noanswer" if b < 0.8 else "unreachable")
    return World.build(caller=caller, time=time, dtmf=[f"{k}@prompt+0.5" for k in pressed], phones=behaviours,
                       default_phone="noanswer", max_seconds=MAX_SECONDS, seed=rng.randrange(10**6))


def _random_calls() -> int:
    if os.environ.get("FLOWC_DIFF_RANDOM_CALLS"):
        return int(os.environ["FLOWC_DIFF_RANDOM_CALLS"])
    return 500 if os.environ.get("CI") else 10_000


def test_random_calls_differ_only_inside_reported_classes():
    total = _random_calls()
    per_pair = max(1, total // len(PAIRS))
    rng = random.Random(15)
    ran = differ = outside_depth = 0
    for name, make in PAIRS.items():
        old, new = make()
        ex = Exploration(old, new, YEARS)
        for _ in range(per_pair):
            world = _random_world(rng, ex)
            leaf, differs = ex.classify(world)
            assert leaf is not None, f"{name}: a call in no explored class: {world.to_dict()}"
            ran += 1
            if leaf.cut and len(world.dtmf) > ex.key_depth:
                outside_depth += 1  # more keys than the explored depth: not claimed either way
                continue
            assert differs == leaf.differs, (
                f"{name}: the call {world.to_dict()} {'differs' if differs else 'does not differ'} "
                f"but its class {leaf.assign} was {'reported' if leaf.differs else 'not reported'}")
            differ += differs
    assert ran == per_pair * len(PAIRS) and differ > 0
    print(f"{ran} random calls in both versions, {differ} behaved differently, all inside reported classes; "
          f"{outside_depth} pressed more keys than explored")


# ---------------------------------------------------------------- the command line


def cli(*args: str):
    return runner.invoke(app, list(args))


def test_cli_text_and_exit_codes(tmp_path):
    new = tmp_path / "small_shop.flow"
    new.write_text(source("small_shop.flow").replace("ring 15s", "ring 20s"), encoding="utf-8")
    r = cli("diff", str(ROOT / "examples/small_shop.flow"), str(new))
    assert r.exit_code == 1, r.output
    assert "  - step `start`: ring 15 s → 20 s" in r.output
    assert "who is affected: 2 of " in r.output and "replay: flowc run " in r.output
    assert r.output.rstrip().endswith("behaviour changed")
    assert cli("diff", str(ROOT / "examples/small_shop.flow"), str(new), "--exit-zero").exit_code == 0
    same = tmp_path / "same.flow"
    same.write_text(source("small_shop.flow").replace("// the 400 number", "// 400 号码"), encoding="utf-8")
    r = cli("diff", str(ROOT / "examples/small_shop.flow"), str(same))
    assert r.exit_code == 0 and r.output.rstrip().endswith("no behaviour change")


def test_cli_json(tmp_path):
    new = tmp_path / "small_shop.flow"
    new.write_text(source("small_shop.flow").replace("ring 15s", "ring 20s"), encoding="utf-8")
    r = cli("diff", str(ROOT / "examples/small_shop.flow"), str(new), "--format", "json")
    doc = json.loads(r.output)
    assert doc["behaviour_changed"] is True
    (f,) = doc["flows"]
    assert f["changes"] == ["step `start`: ring 15 s → 20 s"] and f["classes"] > 2 and f["calls"] > 4
    example = f["differences"][0]["example"]
    assert example["replay_new"].startswith(f"flowc run {new} --caller ")
    assert example["old_events"] != example["new_events"]


def test_replayed_example_gives_the_same_events(tmp_path):
    new = tmp_path / "small_shop.flow"
    new.write_text(source("small_shop.flow").replace("ring 15s", "ring 20s"), encoding="utf-8")
    doc = json.loads(cli("diff", str(ROOT / "examples/small_shop.flow"), str(new), "--format", "json").output)
    example = doc["flows"][0]["differences"][0]["example"]
    import shlex

    argv = shlex.split(example["replay_new"])[1:] + ["--events"]
    r = cli(*argv)
    assert r.exit_code == 0, r.output
    assert [json.loads(line) for line in r.output.splitlines()] == example["new_events"]


def test_usage_errors():
    assert cli("diff", "nope.flow", str(ROOT / "examples/small_shop.flow")).exit_code == 2
    r = cli("diff", "NOREV:examples/", "examples/")
    assert r.exit_code == 2 and "not a git revision" in r.output


def test_directories_and_git_revisions(tmp_path):
    repo = tmp_path / "repo"
    (repo / "flows").mkdir(parents=True)
    (repo / "flows/shop.flow").write_text(source("small_shop.flow"), encoding="utf-8")
    (repo / "flows/hotel.flow").write_text(source("hotel_chain.flow"), encoding="utf-8")

    def git(*args):
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=repo, check=True,
                       capture_output=True)

    git("init", "-q")
    git("add", ".")
    git("commit", "-q", "-m", "one")
    (repo / "flows/shop.flow").write_text(source("small_shop.flow").replace("ring 25s", "ring 30s"), encoding="utf-8")
    (repo / "flows/hotel.flow").unlink()
    (repo / "flows/split.flow").write_text(source("sales_split.flow"), encoding="utf-8")
    cwd = os.getcwd()
    os.chdir(repo)
    try:
        r = cli("diff", "HEAD:flows/", "flows/")
        r_file = cli("diff", "HEAD:flows/shop.flow", "flows/shop.flow", "--format", "json")
    finally:
        os.chdir(cwd)
    assert r.exit_code == 1, r.output
    assert "flow `hotel_chain` removed (400 number 400-988-8666)" in r.output
    assert "flow `sales_split` added (400 number 400-712-3456)" in r.output
    assert "step `owner`: ring 25 s → 30 s" in r.output
    assert "replay: flowc run HEAD:flows/shop.flow " in r.output  # the revision, not a temporary path
    doc = json.loads(r_file.output)
    assert doc["flows"][0]["changes"] == ["step `owner`: ring 25 s → 30 s"]


def test_a_moved_400_number_is_said(tmp_path):
    old, new = tmp_path / "old", tmp_path / "new"
    old.mkdir()
    new.mkdir()
    (old / "a.flow").write_text(source("small_shop.flow"), encoding="utf-8")
    (new / "b.flow").write_text(source("small_shop.flow").replace("flow small_shop", "flow shop_two"), encoding="utf-8")
    r = cli("diff", str(old), str(new))
    assert r.exit_code == 1
    assert f"400 number 400-600-1234 moved from {old / 'a.flow'} to {new / 'b.flow'}" in r.output
    assert "flow `small_shop` removed" in r.output and "flow `shop_two` added" in r.output
