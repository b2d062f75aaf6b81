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


# ---------------------------------------------------------------------------
# Import structure: one-way down the pipeline, and start-up that loads only what it needs


def _flowc_imports() -> dict[str, set[str]]:
    """flowc module -> the flowc modules it imports anywhere in its source (lazy ones too)."""
    import ast

    package = ROOT / "flowc"

    def name_of(path: Path) -> str:
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)

    modules = {name_of(p): p for p in package.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        here = name if path.name == "__init__.py" else name.rpartition(".")[0]
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                base = here.split(".")[: len(here.split(".")) - node.level + 1] if node.level else []
                target = ".".join([*base, *([node.module] if node.module else [])])
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    found.add(sub if sub in modules else target)
            elif isinstance(node, ast.Import):
                found |= {a.name for a in node.names}
        graph[name] = {m for m in found if m in modules and m != name}
    return graph


def test_prebuilt_is_a_leaf():
    """flowc.prebuilt holds the container; the owners (parser, regions, emit) say what they
    ship and tools/prebuild.py enumerates them, so no import circle runs through it."""
    imported = _flowc_imports()["flowc.prebuilt"]
    assert imported <= {"flowc.resources"}, imported
    proc = subprocess.run([sys.executable, "-c", "import sys, flowc.prebuilt; "
                           "print(sorted(m for m in sys.modules if m.startswith('flowc')))"],
                          cwd=ROOT, capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "['flowc', 'flowc.prebuilt']"


@pytest.mark.parametrize("user, used", [("flowc.phones", "flowc.regions"),
                                        ("flowc.interp.session", "flowc.interp.engine")])
def test_imports_go_one_way(user, used):
    graph = _flowc_imports()
    assert used in graph[user] and user not in graph[used]


def test_no_two_pipeline_modules_import_each_other():
    graph = _flowc_imports()
    pipeline = [m for m in graph if not m.startswith("flowc.stats")]  # flowc.stats: not part of the compiler
    mutual = sorted((a, b) for a in pipeline for b in graph[a] if a < b and a in graph.get(b, set()))
    assert mutual == []


def test_flowc_version_loads_no_compiler_dependency():
    """`flowc version` prints two lines: it must not pay for pydantic (typer builds a
    pydantic adapter per parameter of every command), lark or Jinja."""
    code = ("import sys, runpy; sys.argv = ['flowc', 'version']\n"
            "try:\n    runpy.run_module('flowc', run_name='__main__')\n"
            "except SystemExit:\n    pass\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'pydantic', 'lark', 'jinja2', 'pydantic_core'}))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert proc.stdout.splitlines()[0].startswith("flowc ")
    assert proc.stdout.splitlines()[-1] == "[]"


def test_flowc_check_writes_nothing(tmp_path):
    """check is compile --check into a throw-away folder (the compile driver's checks,
    target limits and cross-flow checks): nothing is left behind."""
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-m", "flowc", "check", "examples/small_shop.flow", "-q"], cwd=ROOT,
                          capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_one_command_app_keeps_the_command_line():
    """Only the command given is built (flowc.cli._app_for); its name, options and usage
    errors are as with the whole app."""
    from flowc import cli

    for argv in (["check", "--help"], ["compile", "--help"], ["stats", "--help"]):
        one = subprocess.run([sys.executable, "-m", "flowc", *argv], cwd=ROOT, capture_output=True, text=True)
        assert one.returncode == 0 and f"flowc {argv[0]}" in one.stdout
    bad = subprocess.run([sys.executable, "-m", "flowc", "chek"], cwd=ROOT, capture_output=True, text=True)
    assert bad.returncode == 2 and "check" in bad.stderr
    assert cli._app_for(["--help"]) is cli.app and cli._app_for([]) is cli.app
    assert cli._plain_command(["version"]) is not None and cli._plain_command(["check"]) is None


# ---------------------------------------------------------------------------
# The cache folder stays bounded


def test_prune_removes_least_recently_used_entries_down_to_three_quarters(tmp_path):
    for i in range(10):
        path = tmp_path / f"entry-{i}"
        path.write_bytes(b"x" * 1000)
        os.utime(path, (1000 + i, 1000 + i))
    resources.touch(tmp_path / "entry-0")  # a hit: now the most recently used
    assert resources.prune_cache(tmp_path, limit=20_000) == []  # within the bound: nothing to do
    removed = resources.prune_cache(tmp_path, limit=8_000)
    assert removed == ["entry-1", "entry-2", "entry-3", "entry-4"]
    assert sum(p.stat().st_size for p in tmp_path.iterdir()) <= 6_000
    assert (tmp_path / "entry-0").exists()


def test_a_compile_keeps_the_cache_folder_within_its_bound(tmp_path):
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache"), "FLOWC_CACHE_MAX_MB": "0.05"}
    proc = subprocess.run([sys.executable, "-m", "flowc", "compile", str(EXAMPLE), "--target", "all",
                           "--out", str(tmp_path / "out"), "--year", "2026"], cwd=ROOT, env=env, capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr
    folder = tmp_path / "cache" / "flowc"
    assert sum(p.stat().st_size for p in folder.iterdir()) <= 0.05 * 1024 * 1024
    unbounded = tmp_path / "unbounded"
    subprocess.run([sys.executable, "-m", "flowc", "compile", str(EXAMPLE), "--target", "all",
                    "--out", str(tmp_path / "out2"), "--year", "2026"], cwd=ROOT, check=True, capture_output=True,
                   env={**env, "XDG_CACHE_HOME": str(unbounded), "FLOWC_CACHE_MAX_MB": "1000"})
    assert sum(p.stat().st_size for p in (unbounded / "flowc").iterdir()) > 0.05 * 1024 * 1024  # it did write more
