"""Files every flow shares (Target.shared_outputs: the region table): `flowc compile` writes
them once per output directory, the same bytes whatever flows are compiled, records them in
the manifest, and keeps them when nothing they depend on changed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FLOWC = [sys.executable, "-m", "flowc"]

REGION = """\
flow r{i} {{
  number 400-600-{n:04d}
  step start {{
    branch region {{
      广东 -> {{ dial 13900000001 }}
      else -> {{ hangup }}
    }}
  }}
}}
"""

SHOP = """\
flow s{i} {{
  number 400-600-{n:04d}
  step start {{ dial 13900000002 }}
}}
"""


def project(base: Path, flows: dict[str, str]) -> Path:
    base.mkdir(parents=True, exist_ok=True)
    (base / "flowc.toml").write_text("years = [2026]\n", encoding="utf-8")
    for name, text in flows.items():
        (base / f"{name}.flow").write_text(text, encoding="utf-8")
    return base


def compile_(src: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([*FLOWC, "compile", ".", "--target", "all", "--out", str(out), *extra],
                          cwd=src, capture_output=True, text=True)


def shared(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("flowc-regions.*"))}


def test_one_flow_or_many_write_the_same_shared_files(tmp_path: Path) -> None:
    one = project(tmp_path / "one", {"s0": SHOP.format(i=0, n=1000)})
    many = project(tmp_path / "many", {**{f"r{i}": REGION.format(i=i, n=2000 + i) for i in range(3)},
                                       **{f"s{i}": SHOP.format(i=i, n=3000 + i) for i in range(3)}})
    assert compile_(one, tmp_path / "out1").returncode == 0
    done = compile_(many, tmp_path / "out2")
    assert done.returncode == 0, done.stderr
    a, b = shared(tmp_path / "out1"), shared(tmp_path / "out2")
    assert list(a) == ["asterisk/flowc-regions.conf", "freeswitch/flowc-regions.xml"]
    assert a == b
    # the flows name the shared table instead of carrying one
    conf = (tmp_path / "out2" / "asterisk" / "r0.conf").read_text(encoding="utf-8")
    assert "Gosub(flow--regions,${FLOWC_CALLER},1(${FLOWC_CALLER}))" in conf and len(conf) < 20_000


def test_shared_files_are_kept_when_nothing_changed_and_checked(tmp_path: Path) -> None:
    src = project(tmp_path / "p", {"r0": REGION.format(i=0, n=1000)})
    out = tmp_path / "out"
    assert compile_(src, out).returncode == 0
    before = {p: p.stat().st_ino for p in out.rglob("flowc-regions.*")}
    again = compile_(src, out)
    assert again.returncode == 0 and "0 file(s) written" in again.stderr, again.stderr
    assert {p: p.stat().st_ino for p in out.rglob("flowc-regions.*")} == before
    assert compile_(src, out, "--check").returncode == 0
    (out / "asterisk" / "flowc-regions.conf").write_text("; edited\n", encoding="utf-8")
    stale = compile_(src, out, "--check")
    assert stale.returncode == 1 and "flowc-regions.conf" in stale.stderr, stale.stderr
    assert compile_(src, out).returncode == 0
    assert (out / "asterisk" / "flowc-regions.conf").read_text(encoding="utf-8").startswith("; flowc-regions.conf")


def test_single_target_writes_its_shared_file_at_the_top(tmp_path: Path) -> None:
    src = project(tmp_path / "p", {"r0": REGION.format(i=0, n=1000)})
    out = tmp_path / "out"
    done = subprocess.run([*FLOWC, "compile", ".", "--target", "asterisk", "--out", str(out)], cwd=src,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert (out / "flowc-regions.conf").is_file() and not (out / "flowc-regions.xml").exists()
