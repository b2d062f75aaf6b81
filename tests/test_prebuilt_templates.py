"""The templates shipped precompiled in flowc/prebuilt/<target>-templates.bin (see
flowc/emit/base.py): they must match the current templates, Jinja and environment code
(else run `python tools/prebuild.py`), be used when they match, and a missing, damaged or
mismatching one must just mean compiling the templates, with byte-identical output.
(Speed itself is measured by bench/bench_frontend.py, not asserted here.)"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import json
import shutil
from pathlib import Path

import jinja2
import pytest

from flowc import prebuilt
from flowc.checks import CheckOptions
from flowc.emit import TARGET_NAMES, get_target
from flowc.emit import base as emit_base
from flowc.emit.base import Target, _PrecompiledLoader
from flowc.pipeline import check_file
from flowc.resources import data_dir
from flowc.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
YEARS = [2026, 2027]
REFRESH = "stale: run `python tools/prebuild.py` and commit flowc/prebuilt/"


def _target(name: str) -> Target:
    return get_target(name, Settings(years=YEARS))


@pytest.fixture(scope="module")
def flows():
    out = []
    for path in sorted((ROOT / "examples").glob("*.flow")):
        result = check_file(path, CheckOptions(years=YEARS))
        assert result.flow is not None, path
        out.append(result.flow)
    return out


@pytest.fixture
def fresh(monkeypatch, tmp_path):
    """As a new process on a new machine: no environment yet, an empty cache folder."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(Target, "_envs", {})
    return tmp_path


def _render_all(name: str, flows) -> tuple[dict, Target]:
    Target._envs.clear()
    target = _target(name)
    return {(flow.name, path): text for flow in flows for path, text in target.render(flow).items()}, target


@pytest.fixture(scope="module")
def expected(flows):
    """Every example rendered the way flowc did before templates were shipped: Jinja
    compiles them from source (no artifact, no bytecode cache)."""
    saved_envs, saved_dir = Target._envs, prebuilt.PREBUILT_DIR
    Target._envs, prebuilt.PREBUILT_DIR = {}, ROOT / "no-such-folder"
    saved_bcc = Target._bytecode_cache
    Target._bytecode_cache = lambda self: None
    try:
        out = {}
        for name in TARGET_NAMES:
            out[name], target = _render_all(name, flows)
            assert type(target.env.loader) is jinja2.FileSystemLoader
        return out
    finally:
        Target._envs, prebuilt.PREBUILT_DIR = saved_envs, saved_dir
        Target._bytecode_cache = saved_bcc


def _count_compiles(monkeypatch) -> list[str]:
    compiled: list[str] = []
    real = jinja2.Environment.compile

    def compile(self, source, name=None, *args, **kwargs):
        compiled.append(name)
        return real(self, source, name, *args, **kwargs)

    monkeypatch.setattr(jinja2.Environment, "compile", compile)
    return compiled


def _jinja_version(key: str) -> str:
    return next(part for part in key.split() if part.startswith("jinja="))


# ---------------------------------------------------------------------------
# Freshness


@pytest.mark.parametrize("name", TARGET_NAMES)
def test_shipped_templates_match_the_templates_jinja_and_code(name):
    target = _target(name)
    key = target.templates_key()
    blob = (prebuilt.PREBUILT_DIR / target.templates_artifact).read_bytes()
    stored = prebuilt.stored_key(blob)
    assert stored is not None, f"flowc/prebuilt/{target.templates_artifact} is damaged: {REFRESH}"
    # Templates and our code must match; another Jinja only means the file is not used
    # with the Jinja installed here (flowc then compiles the templates).
    without_jinja = [part for part in key.split() if not part.startswith("jinja=")]
    assert [part for part in stored.split() if not part.startswith("jinja=")] == without_jinja, \
        f"templates or environment code changed: {REFRESH}"
    if _jinja_version(stored) != _jinja_version(key):
        pytest.skip(f"{target.templates_artifact} was built with {_jinja_version(stored)}, "
                    f"{_jinja_version(key)} is installed: it is not used here")
    payload = prebuilt.decode(blob, key)
    assert payload is not None, f"flowc/prebuilt/{target.templates_artifact} is damaged: {REFRESH}"
    assert payload == target.build_templates(), f"flowc/prebuilt/{target.templates_artifact} differs: {REFRESH}"


def test_the_key_covers_every_input(tmp_path, monkeypatch):
    target = _target("asterisk")
    key = target.templates_key()
    assert key == _target("asterisk").templates_key()  # stable
    assert _target("freeswitch").templates_key() != key

    # a template's text
    folder = tmp_path / "asterisk"
    shutil.copytree(data_dir("targets") / "asterisk", folder)
    (folder / "_hangup.j2").write_text((folder / "_hangup.j2").read_text(encoding="utf-8") + " ", encoding="utf-8")
    env = target._bare_env()
    env.loader = jinja2.FileSystemLoader(str(folder))
    assert target.templates_key(env) != key
    # a new template
    shutil.copy(data_dir("targets") / "asterisk" / "_hangup.j2", folder / "_new.j2")
    (folder / "_hangup.j2").unlink()
    shutil.copy(data_dir("targets") / "asterisk" / "_hangup.j2", folder / "_hangup.j2")
    assert target.templates_key(env) != key
    # Jinja's version, our code
    monkeypatch.setattr(jinja2, "__version__", jinja2.__version__ + ".other")
    assert target.templates_key() != key
    monkeypatch.undo()
    monkeypatch.setattr(emit_base, "_code_closure", lambda fn, seen=None: "other code")
    assert target.templates_key() != key


def test_generated_code_does_not_name_files():
    """The payload is the same wherever it is built (the file name is given at `compile`)."""
    for name in TARGET_NAMES:
        payload = prebuilt.shipped(_target(name).templates_artifact, _target(name).templates_key())
        if payload is None:
            pytest.skip("shipped templates were built with another Jinja")
        text = payload.decode()
        assert str(ROOT) not in text and str(data_dir("targets")) not in text


# ---------------------------------------------------------------------------
# Using them, and falling back


@pytest.mark.parametrize("name", TARGET_NAMES)
def test_shipped_templates_are_used(name, flows, expected, fresh, monkeypatch):
    if prebuilt.shipped(_target(name).templates_artifact, _target(name).templates_key()) is None:
        pytest.skip("shipped templates were built with another Jinja")

    def refuse(*args, **kwargs):
        raise AssertionError("Jinja compiled a template although a matching artifact is shipped")

    monkeypatch.setattr(jinja2.Environment, "compile", refuse)
    monkeypatch.setattr(jinja2.Environment, "_generate", refuse)
    out, target = _render_all(name, flows)
    assert out == expected[name]
    loader = target.env.loader
    assert type(loader) is _PrecompiledLoader and loader.compiled
    # names, files and what each template finds through the loader are the plain loader's
    plain = jinja2.FileSystemLoader(loader.searchpath)
    assert loader.list_templates() == plain.list_templates()
    assert set(loader.compiled) == {n for n in plain.list_templates() if n.endswith(".j2")}
    for template in loader.compiled:
        assert target.env.get_template(template).filename == plain.get_source(target.env, template)[1]
        assert target.env.get_template(template).name == template
    with pytest.raises(jinja2.TemplateNotFound):
        target.env.get_template("_no_such_step.j2")


@pytest.mark.parametrize("name", TARGET_NAMES)
def test_then_the_bytecode_cache_serves_the_next_process(name, flows, expected, fresh, monkeypatch):
    _render_all(name, flows)
    assert list((fresh / "cache" / "flowc").glob(f"jinja-{name}-*.cache"))
    compiled = []
    real = compile

    def spy(source, filename, mode, *args, **kwargs):
        compiled.append(filename)
        return real(source, filename, mode, *args, **kwargs)

    monkeypatch.setattr("builtins.compile", spy)
    out, _ = _render_all(name, flows)
    assert out == expected[name]
    assert not [f for f in compiled if str(f).endswith(".j2")]


@pytest.mark.parametrize("name", TARGET_NAMES)
def test_missing_templates_fall_back(name, flows, expected, fresh, monkeypatch):
    monkeypatch.setattr(prebuilt, "PREBUILT_DIR", fresh / "none")
    compiled = _count_compiles(monkeypatch)
    out, target = _render_all(name, flows)
    assert out == expected[name]
    assert type(target.env.loader) is jinja2.FileSystemLoader
    assert compiled  # by Jinja, as before


@pytest.mark.parametrize("trouble", ["truncated", "not json", "wrong shape", "not python", "wrong jinja", "wrong code"])
def test_damaged_or_mismatching_templates_fall_back(trouble, flows, expected, fresh, monkeypatch):
    name = "asterisk"
    target = _target(name)
    key, good = target.templates_key(), target.build_templates()
    folder = fresh / "prebuilt"
    folder.mkdir()
    blob = {
        "truncated": lambda: prebuilt.encode(key, good)[:-5],
        "not json": lambda: prebuilt.encode(key, b"\x80 not json"),
        "wrong shape": lambda: prebuilt.encode(key, b'{"flow.conf.j2": 3}'),
        "not python": lambda: prebuilt.encode(key, json.dumps(
            {n: [d, "def root(:\n"] for n, (d, _) in json.loads(good).items()}).encode()),
        "wrong jinja": lambda: prebuilt.encode(key.replace(" jinja=", " jinja=0.0+"), good),
        "wrong code": lambda: prebuilt.encode(key.replace(" code=", " code=0"), good),
    }[trouble]()
    (folder / target.templates_artifact).write_bytes(blob)
    monkeypatch.setattr(prebuilt, "PREBUILT_DIR", folder)
    compiled = _count_compiles(monkeypatch)
    out, target = _render_all(name, flows)
    assert out == expected[name]
    assert compiled  # by Jinja, as before
    if trouble == "not python":  # the key matched, each template's code did not compile
        assert type(target.env.loader) is _PrecompiledLoader
    else:
        assert type(target.env.loader) is jinja2.FileSystemLoader


def test_a_template_changed_after_loading_the_artifact_is_compiled(flows, expected, fresh, monkeypatch):
    """The loader checks each template's source against the sha256 its code was made from."""
    target = _target("asterisk")
    env = target.env
    if type(env.loader) is not _PrecompiledLoader:
        pytest.skip("shipped templates were built with another Jinja")
    digest, _ = env.loader.compiled["_hangup.j2"]
    env.loader.compiled["_hangup.j2"] = ("0" * 64, "raise AssertionError('stale code used')\n")
    compiled = _count_compiles(monkeypatch)
    out = {(flow.name, path): text for flow in flows for path, text in target.render(flow).items()}
    assert out == expected["asterisk"]
    assert compiled == ["_hangup.j2"]


def test_templates_compiled_from_shipped_code_equal_jinjas():
    """`compile` of the shipped source is the code Jinja's compiler makes."""
    target = _target("freeswitch")
    env = target._bare_env()
    payload = json.loads(target.build_templates())
    for name, (_, code) in payload.items():
        source, filename, _ = env.loader.get_source(env, name)
        assert compile(code, filename, "exec").co_code == env.compile(source, name, filename).co_code


# ---------------------------------------------------------------------------
# tools/prebuild.py: it enumerates what each owner ships; flowc.prebuilt knows only the container


def _tool():
    spec = importlib.util.spec_from_file_location("prebuild_tool", ROOT / "tools" / "prebuild.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # only imports: main() runs under __main__
    return module


def test_the_tool_enumerates_every_owner():
    tool = _tool()
    assert set(tool.artifacts()) == {"flow-parser.bin", "mobile-dag.bin", "asterisk-regions.bin",
                                     "freeswitch-regions.bin", *(
        get_target(name, Settings()).templates_artifact for name in TARGET_NAMES)}
    assert tool.prebuilt.__file__ == prebuilt.__file__ and not hasattr(tool.prebuilt, "artifacts")


def test_refresh_writes_only_what_is_stale(tmp_path, monkeypatch):
    tool = _tool()
    shipped_dir, folder = prebuilt.PREBUILT_DIR, tmp_path / "prebuilt"
    shutil.copytree(shipped_dir, folder, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    monkeypatch.setattr(prebuilt, "PREBUILT_DIR", folder)
    stale_here = tool.stale()  # e.g. the parser or templates if built with another lark/Jinja
    (folder / "asterisk-templates.bin").unlink()
    (folder / "freeswitch-templates.bin").write_bytes(b"junk")
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    assert tool.main(["--check"]) == 1
    written = tool.refresh()
    assert set(written) == {"asterisk-templates.bin", "freeswitch-templates.bin", *stale_here}
    assert tool.stale() == [] and tool.main(["--check"]) == 0
    for name, data in before.items():
        if name not in written:
            assert (folder / name).read_bytes() == data
    if "asterisk-templates.bin" not in stale_here:
        for name in ("asterisk-templates.bin", "freeswitch-templates.bin"):
            assert (folder / name).read_bytes() == (shipped_dir / name).read_bytes()


def test_the_key_covers_filters_not_the_whole_emitter():
    """The shipped templates go stale when what Jinja bakes in changes (options, filters and
    what they call), not when a view builder elsewhere in the emitter module is edited."""
    from flowc.emit import asterisk, freeswitch
    from flowc.emit.base import _code_closure

    for module, fn in ((asterisk, asterisk.escape), (freeswitch, freeswitch.fs_text)):
        closure = _code_closure(fn)
        assert closure.startswith(f"def {fn.__name__}(")
        assert "class _Builder" not in closure and "def render(" not in closure
    code = "\n".join(f"print(get_target('{n}', Settings()).templates_key())" for n in TARGET_NAMES)
    keys = {subprocess.run([sys.executable, "-c", "from flowc.emit import get_target\n"
                            "from flowc.settings import Settings\n" + code], cwd=ROOT, capture_output=True, text=True,
                           env={**os.environ, "PYTHONHASHSEED": seed}, check=True).stdout for seed in ("1", "2")}
    assert len(keys) == 1  # no set's order (hash seed) in the key
