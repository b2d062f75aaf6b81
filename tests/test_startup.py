"""The on-disk caches that make a fresh `flowc` process fast: they must never change
output, and any trouble with the cache folder must just mean doing the work again.
(Speed itself is measured by bench/, not asserted here.)"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import jinja2
import pytest

from flowc import resources
from flowc.checks import CheckOptions
from flowc.emit import get_target
from flowc.emit.base import Target
from flowc.pipeline import check_file
from flowc.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "hotel_chain.flow"
YEARS = [2026, 2027]


@pytest.fixture(scope="module")
def flow():
    result = check_file(EXAMPLE, CheckOptions(years=YEARS))
    assert result.flow is not None
    return result.flow


@pytest.fixture
def fresh_envs(monkeypatch):
    """Jinja environments as in a new process (they are kept per process)."""
    monkeypatch.setattr(Target, "_envs", {})


def render(name: str, flow) -> dict[str, str]:
    Target._envs.clear()
    return get_target(name, Settings(years=YEARS)).render(flow)


def no_compiling(monkeypatch) -> None:
    def refuse(self, *args, **kwargs):
        raise AssertionError("a template was compiled from source")

    monkeypatch.setattr(jinja2.Environment, "compile", refuse)


@pytest.mark.parametrize("name", ["asterisk", "freeswitch"])
def test_templates_are_compiled_once_per_cache(name, flow, fresh_envs, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    first = render(name, flow)
    assert list((tmp_path / "flowc").glob(f"jinja-{name}-*.cache"))
    with monkeypatch.context() as m:
        no_compiling(m)
        assert render(name, flow) == first


@pytest.mark.parametrize("trouble", ["missing folder", "damaged entries"])
def test_cache_trouble_only_costs_time(trouble, flow, fresh_envs, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    expected = render("asterisk", flow)
    entries = list((tmp_path / "flowc").glob("jinja-*.cache"))
    if trouble == "missing folder":  # e.g. removed, or not writable, after flowc found it
        monkeypatch.setattr("flowc.emit.base.cache_dir", lambda: tmp_path / "gone")
    else:
        for path in entries:
            path.write_bytes(path.read_bytes()[:20])
    assert render("asterisk", flow) == expected
    assert not (tmp_path / "gone").exists()


def test_no_cache_folder_at_all(flow, fresh_envs, monkeypatch):
    monkeypatch.setattr("flowc.emit.base.cache_dir", lambda: None)
    assert render("freeswitch", flow) == render_without_cache("freeswitch", flow)


def render_without_cache(name, flow):
    Target._envs.clear()
    target = get_target(name, Settings(years=YEARS))
    target._bytecode_cache = lambda: None
    return target.render(flow)


def test_a_second_process_reuses_the_cache(tmp_path):
    """Two fresh processes sharing a cache folder write the same files."""
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    outputs = []
    for run in ("cold", "warm"):
        out = tmp_path / run
        proc = subprocess.run([sys.executable, "-m", "flowc", "compile", str(EXAMPLE), "--target", "all",
                               "--out", str(out), "--year", "2026"], cwd=ROOT, env=env, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        outputs.append({p.relative_to(out): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()})
    assert outputs[0] == outputs[1] and outputs[0]
    cached = {p.name.split("-")[1] for p in (tmp_path / "cache" / "flowc").glob("jinja-*.cache")}
    assert cached == {"asterisk", "freeswitch"}


def test_cache_dir_refuses_a_folder_others_can_write(tmp_path, monkeypatch):
    """Cached templates and parser tables are code: never load them from a folder that
    someone else could have written (such as one made first in a shared /tmp)."""
    shared = tmp_path / "tmp"
    for folder in (tmp_path / "home" / "flowc", shared / f"flowc-{os.getuid()}"):
        folder.mkdir(parents=True)
        folder.chmod(0o777)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "home"))
    monkeypatch.setattr("tempfile.gettempdir", lambda: str(shared))
    assert resources.cache_dir() is None
    (tmp_path / "home" / "flowc").chmod(0o700)
    assert resources.cache_dir() == tmp_path / "home" / "flowc"


def test_phone_verdicts_are_remembered(tmp_path, monkeypatch):
    """libphonenumber's verdicts are kept in one append-only file per phonenumbers install;
    a damaged line is ignored, and a new process reads the same verdicts back."""
    from flowc import phones

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    for f in (phones._pn_memo_path, phones._pn_memo):
        f.cache_clear()
    numbers = ["13800138000", "05718765432", "01088886666", "19999999999", "02112345678"]
    verdicts = [phones._pn_valid(n) for n in numbers]
    assert verdicts == [phones._pn_check(n) for n in numbers] and True in verdicts and False in verdicts
    path = phones._pn_memo_path()
    assert path.parent == tmp_path / "flowc"
    with open(path, "a") as f:
        f.write("1380013\n")  # a write cut short
    phones._pn_memo.cache_clear()
    monkeypatch.setattr(phones, "_pn_check", lambda n: pytest.fail("asked libphonenumber again"))
    assert [phones._pn_valid(n) for n in numbers] == verdicts
    for f in (phones._pn_memo_path, phones._pn_memo):
        f.cache_clear()
