"""`flowc graph` (issue 15): snapshots of every example in dot and Mermaid, overlays, CJK in SVG.

Regenerate the snapshots with `pytest tests/test_graph.py --snapshot-update`.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import text_snapshot_extension
from flowc import graph as G
from flowc.cli import app
from flowc.interp import Session, World
from flowc.interp.runner import run_scenario_file
from flowc.pipeline import Workspace

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted(p.name for p in (ROOT / "examples").glob("*.flow"))
AT = "2026-11-23T10:00+08:00"
runner = CliRunner()
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz `dot` is not installed")


@pytest.fixture(autouse=True)
def _in_repo(monkeypatch):
    monkeypatch.chdir(ROOT)  # spans, hence file:line and links, name examples/... as in the docs


def graph_of(name: str, text: str | None = None) -> G.Graph:
    path = f"examples/{name}"
    result = Workspace().assemble(path, text=text)
    assert result.flow is not None, result.diagnostics
    return G.build(result.flow, path)


def cli(*args: str):
    return runner.invoke(app, list(args))


# ---------------------------------------------------------------- snapshots and determinism


@pytest.mark.parametrize("name", EXAMPLES)
def test_dot_snapshot(name, snapshot):
    r = cli("graph", f"examples/{name}", "--format", "dot")
    assert r.exit_code == 0, r.output
    assert r.output == snapshot(extension_class=text_snapshot_extension("dot"))


@pytest.mark.parametrize("name", EXAMPLES)
def test_mermaid_snapshot(name, snapshot):
    r = cli("graph", f"examples/{name}", "--format", "mermaid")
    assert r.exit_code == 0, r.output
    assert r.output.startswith("---\ntitle: ")
    assert "\nflowchart TD\n" in r.output
    assert r.output == snapshot(extension_class=text_snapshot_extension("mmd"))


@pytest.mark.parametrize("name", EXAMPLES)
def test_every_step_has_file_line_and_the_entry_is_explicit(name):
    g = graph_of(name)
    data = json.loads(G.to_json(g))
    steps = [n for n in data["nodes"] if n["kind"] == "step"]
    assert steps and all(n["where"].startswith("examples/") and n["url"].endswith(f"#L{n['where'].split(':')[1]}")
                         for n in steps)
    entry = data["edges"][0]
    assert entry["from"] == "entry:" and entry["label"] == "call" and entry["to"] == steps[0]["id"]
    assert data["nodes"][0]["title"].startswith("☎ 400-")
    # the same input draws the same bytes
    assert G.to_dot(graph_of(name)) == G.to_dot(g) and G.to_mermaid(graph_of(name)) == G.to_mermaid(g)


def test_edges_say_what_takes_them():
    labels = {(e.src, e.dst, e.label) for e in graph_of("hotel_chain.flow").edges}
    assert ("step:main_menu", "step:booking_menu", "key 1") in labels
    assert ("step:main_menu", "step:main_menu", "*: repeat") in labels
    assert ("step:booking_menu", "step:main_menu", "#: back") in labels
    assert ("step:main_menu", "step:goodbye", "exhausted") in labels
    assert ("step:member_menu.1", "step:busy_message", "no answer") in labels
    assert ("step:member_menu.1", "step:goodbye", "other failures") in labels
    assert ("step:main_menu.0", "end:hangup:main_menu.0", "busy / no answer / unreachable") in labels
    shop = {(e.src, e.dst, e.label) for e in graph_of("small_shop.flow").edges}
    assert ("step:start", "end:connected:start", "answered") in shop
    split = {(e.dst, e.label) for e in graph_of("sales_split.flow").edges if e.src == "step:start"}
    assert split == {("step:one", "70%"), ("step:two", "30%")}
    queue = {(e.dst, e.label) for e in graph_of("service_queue.flow").edges if e.src == "step:wait_in_queue"}
    assert queue == {("end:connected:wait_in_queue", "answered → survey satisfaction"), ("step:leave_message", "timeout")}
    switchboard = {(e.dst, e.label) for e in graph_of("switchboard.flow").edges if e.src == "step:dial_extension"}
    assert ("step:operator", "ext 000") in switchboard and ("step:operator", "timeout") in switchboard


def test_nodes_name_phones_groups_strategies_and_settings():
    nodes = graph_of("sales_split.flow").nodes
    assert nodes["step:two"].lines == ["tag team = 二组", "dial group team_two", "  ratio, ring 20 s",
                                       "  - 13900000001 (70%)", "  - 01066881234 (ring 15 s, 30%)"]
    shop = graph_of("small_shop.flow").nodes
    assert "dial shop_counter 057187654321, ring 15 s" in shop["step:start"].lines
    q = graph_of("service_queue.flow").nodes["step:wait_in_queue"].lines
    assert "music aftersales/hold_music" in q and "announce aftersales/please_hold every 30 s" in q
    assert "max wait 180 s" in q
    vm = graph_of("support_24x7.flow").nodes["step:holiday_message"].lines
    assert vm[-2:] == ["voicemail 2000 (max 180 s)", "greeting support/holiday_greeting"]


def test_region_branch_is_summarised_by_region_names():
    g = graph_of("ecommerce_national.flow")
    labels = [e.label for e in g.edges if e.src == "step:by_region"]
    assert labels == ["广东, 广西, 海南, 福建", "北京, 天津, 河北, 山西, 内蒙古", "上海, 江苏, 浙江, 安徽", "else"]
    assert not any(ch.isdigit() for label in labels for ch in label)


def test_imported_declarations_are_clustered_with_their_origin():
    g = graph_of("support_24x7.flow")
    assert list(g.clusters.values()) == ["import examples/common/schedules.flow"]
    lib = [n for n in g.nodes.values() if n.cluster == "lib0"]
    assert {n.title for n in lib} == {"schedule public_holidays", "schedule office_hours", "schedule night"}
    assert all(n.where.startswith("examples/common/schedules.flow:") for n in lib)
    assert ("step:start", "schedule:night") in {(e.src, e.dst) for e in g.edges if e.kind == "uses"}
    start = g.nodes["step:start"].lines
    assert "office_hours: workdays 09:00-12:00, 13:30-18:00 (from examples/common/schedules.flow)" in start
    assert "company_closed: 2026-12-31; 12-24 18:00-24:00" in start
    dot = G.to_dot(g)
    assert 'label="import examples/common/schedules.flow"' in dot


def test_long_menus_are_clusters_with_their_inline_blocks():
    g = graph_of("hotel_chain.flow")
    assert g.clusters == {"menu:main_menu": "menu main_menu"}
    assert {n.id for n in g.nodes.values() if n.cluster == "menu:main_menu"} == {
        "step:main_menu", "step:main_menu.3", "step:main_menu.0"}


def test_unreachable_steps_are_marked():
    text = (ROOT / "examples/small_shop.flow").read_text() .replace("step sorry {", "step orphan { hangup }\n  step sorry {")
    g = graph_of("small_shop.flow", text)
    assert g.nodes["step:orphan"].marks == ["unreachable"]
    assert "⚠ unreachable: no path from the entry" in g.nodes["step:orphan"].lines
    assert all(not n.marks for n in g.nodes.values() if n.id != "step:orphan")
    assert '"step:orphan" [label=' in G.to_dot(g) and "class n" in G.to_mermaid(g)


def test_labels_escape_quotes_and_mermaid_syntax():
    text = (ROOT / "examples/small_shop.flow").read_text().replace('"杭州小王水果店"', '"A \\"quoted\\" <b>|x|</b>"')
    g = graph_of("small_shop.flow", text)
    dot = G.to_dot(g)
    assert 'label="A \\"quoted\\" <b>|x|</b> (small_shop)' in dot
    mm = G.to_mermaid(g)
    assert "A #quot;quoted#quot; #lt;b#gt;#124;x#124;#lt;/b#gt;" in mm


# ---------------------------------------------------------------- overlays


def test_coverage_overlay_marks_reached_and_missed():
    g = graph_of("hotel_chain.flow")
    cov = run_scenario_file(ROOT / "examples/hotel_chain.scenarios.yaml").coverage
    G.overlay_coverage(g, cov)
    hit = {("step", n.id[5:]) in cov.hit for n in g.nodes.values() if n.kind == "step"}
    assert hit == {True, False} or hit == {True}
    for n in g.nodes.values():
        if n.kind == "step":
            assert ("covered" if ("step", n.id[5:]) in cov.hit else "missed") in n.marks
    missed_items = {i.key for i in cov.missed}
    for e in g.edges:
        if e.key in missed_items:
            assert e.marks == ["missed"]
    assert g.notes == [f"scenario coverage {cov.summary()}"]


def test_coverage_cli_colours_the_drawing():
    r = cli("graph", "examples/small_shop.flow", "--coverage", "--format", "dot")
    assert r.exit_code == 0, r.output
    assert "scenario coverage 100%" in r.output and 'fillcolor="#e3f4e1"' in r.output


def test_path_overlay_numbers_the_edges_and_lists_events():
    r = cli("graph", "examples/small_shop.flow", "--format", "json", "--at", AT,
            "--phone", "057187654321=busy", "--phone", "13900001111=answer:after=3:talk=20")
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    taken = [(e["from"], e["to"], e["order"]) for e in data["edges"] if e["order"]]
    assert taken == [("entry:", "step:start", [1]), ("step:start", "step:owner", [2]),
                     ("step:owner", "end:connected:owner", [3])]
    nodes = {n["id"]: n for n in data["nodes"]}
    assert nodes["step:start"]["events"] == ["1. 0.0 s play welcome", "2. 1.0 s ring 057187654321",
                                             "3. 1.0 s 057187654321 busy"]
    assert nodes["step:owner"]["events"][-1] == "7. 24.0 s hang up by phone"
    assert "path" in nodes["end:connected:owner"]["marks"] and "path" not in nodes["step:sorry"]["marks"]
    assert data["notes"] == ["one call: caller 13812345678 at 2026-11-23T10:00+08:00"]


def test_path_overlay_follows_menu_keys():
    g = graph_of("hotel_chain.flow")
    flow = Workspace().assemble("examples/hotel_chain.flow").flow
    trace = Session(flow).call(World.build(time=AT, dtmf=["2@prompt+0.5", "1@prompt+0.5"],
                                           phones={"02885550101": "busy", "02885550102": "busy"}))
    G.overlay_path(g, trace)
    order = sorted((n, e.label) for e in g.edges for n in e.order)
    assert order[:4] == [(1, "call"), (2, "goto"), (3, "key 2"), (4, "key 1")]
    assert order[4] == (5, "busy")


def test_bad_call_option_is_a_usage_error():
    r = cli("graph", "examples/small_shop.flow", "--format", "dot", "--phone", "nonsense")
    assert r.exit_code == 2
    assert "--phone" in r.output


# ---------------------------------------------------------------- svg / png through Graphviz


@needs_dot
def test_svg_has_cjk_text_and_file_line_links(tmp_path):
    out = tmp_path / "shop.svg"
    r = cli("graph", "examples/small_shop.flow", "--out", str(out))
    assert r.exit_code == 0, r.output
    svg = out.read_text(encoding="utf-8")
    assert ">杭州小王水果店</text>" in svg  # the CJK label is text, not outlines
    assert 'xlink:href="examples/small_shop.flow#L11"' in svg
    assert 'font-family="Noto Sans CJK SC' in svg
    again = tmp_path / "again.svg"
    assert cli("graph", "examples/small_shop.flow", "--out", str(again)).exit_code == 0
    assert again.read_bytes() == out.read_bytes()


@needs_dot
def test_png(tmp_path):
    out = tmp_path / "hotel.png"
    r = cli("graph", "examples/hotel_chain.flow", "--format", "png", "--out", str(out))
    assert r.exit_code == 0, r.output
    assert out.read_bytes().startswith(b"\x89PNG\r\n")


def test_without_dot_a_clear_error_names_the_alternatives(monkeypatch):
    monkeypatch.setattr(G.shutil, "which", lambda name: None)
    r = cli("graph", "examples/small_shop.flow", "--format", "svg")
    assert r.exit_code == 2
    assert "needs Graphviz's `dot` program" in r.output
    assert "apt-get install graphviz fonts-noto-cjk" in r.output
    assert "--format dot" in r.output and "--format mermaid" in r.output
    assert "Traceback" not in r.output


def test_a_flow_with_errors_is_reported_not_drawn(tmp_path):
    bad = tmp_path / "bad.flow"
    bad.write_text("flow x {\n  number 400-600-1234\n  step a { goto nowhere }\n}\n")
    r = cli("graph", str(bad), "--format", "dot")
    assert r.exit_code == 1
    assert "E2" in r.output and "digraph" not in r.output


def test_missing_file_is_usage_error():
    assert cli("graph", "nope.flow").exit_code == 2


def test_coverage_without_scenarios_is_a_usage_error(tmp_path):
    flow = tmp_path / "shop.flow"
    flow.write_text((ROOT / "examples/small_shop.flow").read_text(encoding="utf-8"), encoding="utf-8")
    r = cli("graph", str(flow), "--coverage", "--format", "dot")
    assert r.exit_code == 2 and "no scenario file" in r.output


def test_path_flag_alone_draws_the_default_call():
    r = cli("graph", "examples/small_shop.flow", "--path", "--at", AT, "--format", "dot")
    assert r.exit_code == 0, r.output
    assert '"entry:" -> "step:start" [label="(1) call"' in r.output
    assert "one call: caller 13812345678 at 2026-11-23T10:00+08:00" in r.output
