"""The artifacts shipped in flowc/prebuilt/: they must match the current grammar, data and
code (else run `python tools/prebuild.py`), and a missing, damaged or mismatching one must
just mean computing the value (then the per-user cache), with the same results.
(Speed itself is measured by bench/bench_frontend.py, not asserted here.)"""

from __future__ import annotations

import shutil
from pathlib import Path

import lark
import pytest
from lark import Lark

from flowc import parser, prebuilt, regions
from flowc.source import SourceFile

ROOT = Path(__file__).resolve().parent.parent


def _tool():
    """tools/prebuild.py, which enumerates what each owner ships."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("prebuild_tool", ROOT / "tools" / "prebuild.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # only imports: main() runs under __main__
    return module


tool = _tool()

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "ecommerce_national.flow"
REFRESH = "stale: run `python tools/prebuild.py` and commit flowc/prebuilt/"


def _clear() -> None:
    for fn in (parser._lark, parser._terminal_word, regions._mobile_dag):
        fn.cache_clear()


@pytest.fixture
def fresh(monkeypatch, tmp_path):
    """As a new process on a new machine: nothing loaded, an empty cache folder."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    _clear()
    yield tmp_path
    _clear()


def _parse_example():
    return parser.parse(SourceFile(str(EXAMPLE), EXAMPLE.read_text(encoding="utf-8")))


def _syntax_error() -> str:
    with pytest.raises(parser.FlowcError) as info:
        parser.parse(SourceFile("bad.flow", "flow f { number 4008001234\n step s { goto }\n"))
    return str(info.value.diagnostics[0].message)


ARMS = {
    "south": ["guangdong", "guangxi", "hainan", "fujian"],
    "north": ["beijing", "tianjin", "hebei", "shanxi"],
    "east": ["shanghai", "jiangsu", "zhejiang.hangzhou", "anhui.hefei"],
}


def _table():
    targets = {label: [regions.get_region(r) for r in ids] for label, ids in ARMS.items()}
    table = regions._build_prefix_table(targets)
    return table.labels, table.entries


@pytest.fixture(scope="module")
def expected():
    """Results with whatever this process has loaded (shipped artifacts when they match)."""
    return _parse_example(), _syntax_error(), _table()


def _lark_version(key: str) -> str:
    return key.split()[1]


# ---------------------------------------------------------------------------
# Freshness


def test_shipped_mobile_dag_matches_the_data_and_code():
    key, build, same = tool.artifacts()["mobile-dag.bin"]
    payload = prebuilt.shipped("mobile-dag.bin", key)
    assert payload is not None, f"flowc/prebuilt/mobile-dag.bin has another key than {key!r}: {REFRESH}"
    assert same(payload, build()), f"flowc/prebuilt/mobile-dag.bin differs from the data: {REFRESH}"


def test_shipped_parser_matches_the_grammar():
    key, build, same = tool.artifacts()["flow-parser.bin"]
    blob = (prebuilt.PREBUILT_DIR / "flow-parser.bin").read_bytes()
    stored = prebuilt.stored_key(blob)
    assert stored is not None, f"flowc/prebuilt/flow-parser.bin is damaged: {REFRESH}"
    # The grammar and options must match; another lark version only means the file is
    # not used with the lark installed here (flowc then builds the parser).
    assert stored.split()[2:] == key.split()[2:], f"grammar or parser options changed: {REFRESH}"
    if _lark_version(stored) != _lark_version(key):
        pytest.skip(f"flow-parser.bin was built with {_lark_version(stored)}, "
                    f"{_lark_version(key)} is installed: it is not used here")
    payload = prebuilt.decode(blob, key)
    assert payload is not None, f"flowc/prebuilt/flow-parser.bin is damaged: {REFRESH}"
    assert same(payload, build()), f"flowc/prebuilt/flow-parser.bin is another parser: {REFRESH}"


def test_same_parser_tells_grammars_apart():
    grammar = parser._grammar()
    changed = grammar.replace('"hangup"', '"hangup" | "bye"', 1)
    assert changed != grammar
    a, b = parser.build_prebuilt(), parser.build_prebuilt()
    assert parser.same_parser(a, b)  # bytes may differ, the parser does not

    import io

    other = io.BytesIO()
    parser._build(changed).save(other)
    assert not parser.same_parser(a, other.getvalue())


# ---------------------------------------------------------------------------
# Using them, and falling back


def test_shipped_artifacts_are_used(fresh, expected, monkeypatch):
    key = parser.prebuilt_key()
    if prebuilt.shipped("flow-parser.bin", key) is None:
        pytest.skip("the shipped parser was built with another lark")

    def refuse(*args, **kwargs):
        raise AssertionError("computed although a matching artifact is shipped")

    monkeypatch.setattr(parser, "_build", refuse)
    monkeypatch.setattr(regions, "build_mobile_dag", refuse)
    assert (_parse_example(), _syntax_error(), _table()) == expected
    assert not list((fresh / "cache").glob("flowc/prebuilt-*"))  # nothing to remember


def test_missing_artifacts_fall_back_then_use_the_cache(fresh, expected, monkeypatch):
    monkeypatch.setattr(prebuilt, "PREBUILT_DIR", fresh / "none")
    assert (_parse_example(), _syntax_error(), _table()) == expected
    assert list((fresh / "cache").glob("flowc/prebuilt-mobile-dag.bin-*"))
    assert list((fresh / "cache").glob("flowc/grammar-*.lark-cache"))  # lark's own cache

    _clear()  # a second process: the DAG comes from the cache folder

    def refuse(*args, **kwargs):
        raise AssertionError("computed although the cache folder has it")

    monkeypatch.setattr(regions, "build_mobile_dag", refuse)
    assert _table() == expected[2]


def test_mismatching_artifacts_are_ignored(fresh, expected, monkeypatch):
    built = {"parser": 0, "dag": 0}
    real_build, real_dag = parser._build, regions.build_mobile_dag

    def build(*args, **kwargs):
        built["parser"] += 1
        return real_build(*args, **kwargs)

    def dag():
        built["dag"] += 1
        return real_dag()

    monkeypatch.setattr(parser, "_build", build)
    monkeypatch.setattr(regions, "build_mobile_dag", dag)
    monkeypatch.setattr(lark, "__version__", lark.__version__ + ".other")  # an upgraded lark
    monkeypatch.setattr(regions, "_MOBILE_DAG_FORMAT", regions._MOBILE_DAG_FORMAT + 1000)  # other data
    assert (_parse_example(), _syntax_error(), _table()) == expected
    assert built == {"parser": 1, "dag": 1}


def test_damaged_artifacts_are_ignored(fresh, expected, monkeypatch):
    folder = fresh / "prebuilt"
    folder.mkdir()
    monkeypatch.setattr(prebuilt, "PREBUILT_DIR", folder)
    # The right keys with unusable payloads: truncated zlib, and zlib of garbage.
    (folder / "mobile-dag.bin").write_bytes(prebuilt.encode(regions.mobile_dag_key(), b"H")[:-3])
    (folder / "flow-parser.bin").write_bytes(prebuilt.encode(parser.prebuilt_key(), b"not a pickle"))
    assert prebuilt.shipped("mobile-dag.bin", regions.mobile_dag_key()) is None
    assert (_parse_example(), _syntax_error(), _table()) == expected


def test_the_container_checks_its_key(tmp_path):
    blob = prebuilt.encode("k 1", b"payload")
    assert prebuilt.decode(blob, "k 1") == b"payload"
    assert prebuilt.decode(blob, "k 2") is None
    assert prebuilt.decode(blob, "k") is None
    assert prebuilt.decode(b"junk" + blob, "k 1") is None
    assert prebuilt.stored_key(blob) == "k 1"
    with pytest.raises(ValueError):
        prebuilt.encode("two\nlines", b"")


def test_refresh_writes_only_what_is_stale(tmp_path, monkeypatch):
    shipped_dir, folder = prebuilt.PREBUILT_DIR, tmp_path / "prebuilt"
    shutil.copytree(shipped_dir, folder, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    monkeypatch.setattr(prebuilt, "PREBUILT_DIR", folder)
    (folder / "mobile-dag.bin").unlink()
    # besides the deleted one, whatever was built with another lark or Jinja than the one here
    expected = [name for name, (key, _, _) in tool.artifacts().items()
                if name == "mobile-dag.bin" or prebuilt.shipped(name, key) is None]
    before = (folder / "flow-parser.bin").read_bytes()
    assert tool.refresh() == expected
    assert tool.stale() == []
    if "flow-parser.bin" not in expected:
        assert (folder / "flow-parser.bin").read_bytes() == before
    assert (folder / "mobile-dag.bin").read_bytes() == (shipped_dir / "mobile-dag.bin").read_bytes()


def test_loaded_parser_is_a_lark_parser():
    assert isinstance(parser._lark(), Lark)
