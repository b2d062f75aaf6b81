"""The compile driver (flowc/build.py) as a deploy pipeline uses it, with real `flowc`
processes: all or nothing under kill -9, concurrent compiles, a read-only folder, the
manifest (--prune, --check orphans, JSON), incremental skipping, cross-flow checks and
output that does not depend on how a path was typed."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FLOWC = [sys.executable, "-m", "flowc"]
MANIFEST = ".flowc-manifest.json"

LIB = """\
phone lib_desk "0571-8765 4321"
schedule office { mon-fri 09:00-18:00 }
"""


def flow_text(i: int, variant: str = "a", number: int | None = None) -> str:
    """A small valid flow; `variant` changes its output, `number` its 400 number."""
    n = 1000 + i if number is None else number
    return f"""\
import "lib/shared.flow"
phone p{i} 1390000{i:04d}
flow f{i} {{
  number 400-600-{n:04d}
  step start {{
    play "v{variant}/welcome_{i}"
    branch time {{
      office -> {{ dial p{i} {{ ring 15s failed -> bye }} }}
      else -> {{ dial lib_desk {{ failed -> bye }} }}
    }}
  }}
  step bye {{
    play "bye"
    hangup
  }}
}}
"""


def make_project(base: Path, n: int, variant: str = "a") -> Path:
    """A project (flowc.toml marks its root) with `n` flows importing one library."""
    base.mkdir(parents=True, exist_ok=True)
    (base / "flowc.toml").write_text("years = [2026]\n", encoding="utf-8")
    (base / "flows" / "lib").mkdir(parents=True, exist_ok=True)
    (base / "flows" / "lib" / "shared.flow").write_text(LIB, encoding="utf-8")
    for i in range(n):
        (base / "flows" / f"f{i:03d}.flow").write_text(flow_text(i, variant), encoding="utf-8")
    return base


def flowc(*args, cwd: Path, check: bool = False, **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    r = subprocess.run([*FLOWC, *map(str, args)], cwd=cwd, env=env, capture_output=True, text=True, **kw)
    if check:
        assert r.returncode == 0, r.stderr
    return r


def compile_(cwd: Path, *args, **kw) -> subprocess.CompletedProcess:
    return flowc("compile", "flows", "--target", "all", "--out", "out", *args, cwd=cwd, **kw)


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` (relative path -> content); the manifest without its
    fingerprints, which include flowc's own code (that others may be editing while the
    tests run: comparing two compiles made a minute apart must not depend on it)."""
    if not folder.exists():
        return {}
    files = {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
    if MANIFEST in files:
        m = json.loads(files[MANIFEST])
        for rec in m["flows"].values():
            rec.pop("fingerprint", None)
        files[MANIFEST] = json.dumps(m, sort_keys=True).encode()
    return files


def manifest(project: Path, out: str = "out") -> dict:
    return json.loads((project / out / MANIFEST).read_text(encoding="utf-8"))


def flows_in(m: dict) -> list[str]:
    """The flows (not libraries, not the files all flows share) a manifest records."""
    return sorted(k for k, rec in m["flows"].items() if not k.startswith(":") and not rec.get("library"))


# ---------------------------------------------------------------- all or nothing


def test_kill_9_at_any_moment_leaves_the_old_or_the_new_output(tmp_path):
    """kill -9 at random moments of a compile of many flows: the output directory is always
    exactly the complete old output or the complete new one, and the next run finishes."""
    n = 30
    old_ref = snapshot_of_compile(tmp_path / "ref_old", n, "a")
    started = time.monotonic()
    new_ref = snapshot_of_compile(tmp_path / "ref_new", n, "b")
    duration = time.monotonic() - started  # of a whole compile, on this machine now
    assert old_ref != new_ref and len(new_ref) > n
    work = make_project(tmp_path / "work", n, "a")
    compile_(work, check=True)
    rng = random.Random(int(os.environ.get("FLOWC_KILL_SEED", "1234")))
    outcomes = set()
    for round_ in range(int(os.environ.get("FLOWC_KILL_ROUNDS", "5"))):
        variant = "b" if round_ % 2 == 0 else "a"
        for i in range(n):
            (work / "flows" / f"f{i:03d}.flow").write_text(flow_text(i, variant), encoding="utf-8")
        before = snapshot(work / "out")
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        proc = subprocess.Popen([*FLOWC, "compile", "flows", "--target", "all", "--out", "out"], cwd=work, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.2, 1.2) * duration)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        after = snapshot(work / "out")
        assert after in (old_ref, new_ref), f"round {round_}: a mix of old and new output"
        assert after == before or after == (new_ref if variant == "b" else old_ref)
        outcomes.add("new" if after != before else "old")
        assert not [p for p in (work / "out").rglob("*") if p.name.endswith(".tmp")]
        # The next run repairs whatever was left and finishes the job.
        compile_(work, check=True)
        assert snapshot(work / "out") == (new_ref if variant == "b" else old_ref)
        assert not (work / ".out.flowc" / "stage").exists()
    print("kill -9 outcomes:", sorted(outcomes))
    assert outcomes  # (which ones occur depends on the machine's speed)


def snapshot_of_compile(project: Path, n: int, variant: str) -> dict[str, bytes]:
    make_project(project, n, variant)
    compile_(project, check=True)
    return snapshot(project / "out")


def test_leftover_staging_of_a_killed_run_is_cleaned(tmp_path):
    p = make_project(tmp_path / "p", 2)
    compile_(p, check=True)
    stage = p / ".out.flowc" / "stage"
    stage.mkdir()
    (stage / "half.conf").write_text("; half\n", encoding="utf-8")
    compile_(p, check=True)
    assert not stage.exists()


def test_an_output_moved_aside_by_a_killed_fallback_swap_is_restored(tmp_path):
    """Where the atomic exchange is not available the swap is two renames; a run killed
    between them left the old output in .out.flowc/old, which the next run puts back."""
    p = make_project(tmp_path / "p", 2)
    compile_(p, check=True)
    before = snapshot(p / "out")
    os.rename(p / "out", p / ".out.flowc" / "old")
    r = compile_(p, "--check")
    assert r.returncode == 1  # --check changes nothing ...
    compile_(p, check=True)  # ... a compile repairs
    assert snapshot(p / "out") == before


def test_concurrent_compiles_into_one_directory_run_one_after_the_other(tmp_path):
    """Two compiles of different flows into one directory at once: both succeed and the
    result holds both (the second sees the first's manifest), never a mix of halves."""
    p = make_project(tmp_path / "p", 12)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    first = [f"flows/f{i:03d}.flow" for i in range(6)]
    second = [f"flows/f{i:03d}.flow" for i in range(6, 12)]
    procs = [subprocess.Popen([*FLOWC, "compile", *files, "--target", "all", "--out", "out"], cwd=p, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for files in (first, second)]
    results = [proc.communicate(timeout=300) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], results
    assert flows_in(manifest(p)) == sorted(first + second)
    ref = make_project(tmp_path / "ref", 12)
    flowc("compile", *first, *second, "--target", "all", "--out", "out", cwd=ref, check=True)
    assert snapshot(p / "out") == snapshot(ref / "out")


def test_a_read_only_folder_fails_before_anything_changes(tmp_path):
    p = make_project(tmp_path / "p", 3)
    compile_(p, check=True)
    before = snapshot(p / "out")
    for i in range(3):
        (p / "flows" / f"f{i:03d}.flow").write_text(flow_text(i, "b"), encoding="utf-8")
    fs = p / "out" / "freeswitch"
    fs.chmod(0o555)
    try:
        r = compile_(p)
    finally:
        fs.chmod(0o755)
    assert r.returncode == 2, r.stderr
    assert "read-only" in r.stderr and "nothing was changed" in r.stderr
    assert snapshot(p / "out") == before
    assert not (p / ".out.flowc" / "stage").exists()


def test_unchanged_files_keep_their_inode_and_time(tmp_path):
    p = make_project(tmp_path / "p", 3)
    compile_(p, check=True)
    keep = p / "out" / "asterisk" / "f1.conf"
    st = keep.stat()
    (p / "flows" / "f000.flow").write_text(flow_text(0, "b"), encoding="utf-8")
    r = compile_(p, check=True)
    assert "2 file(s) written" in r.stderr  # f0.conf and f0.xml
    assert (keep.stat().st_ino, keep.stat().st_mtime_ns) == (st.st_ino, st.st_mtime_ns)


# ---------------------------------------------------------------- manifest, prune, --check


def test_manifest_records_each_flow(tmp_path):
    p = make_project(tmp_path / "p", 2)
    compile_(p, check=True)
    m = manifest(p)
    assert m["targets"] == ["asterisk", "freeswitch"]
    rec = m["flows"]["flows/f001.flow"]
    assert rec["imports"] == ["flows/lib/shared.flow"]
    assert rec["number"]["value"] == "4006001001" and rec["number"]["line"] == 4
    assert set(rec["outputs"]) >= {"asterisk/f1.conf", "freeswitch/f1.xml"} or set(rec["outputs"]) >= {
        "asterisk/f001.conf"} or rec["outputs"]
    for f, sha in rec["outputs"].items():
        import hashlib

        assert hashlib.sha256((p / "out" / f).read_bytes()).hexdigest() == sha
    assert m["flows"]["flows/lib/shared.flow"]["library"] is True


def test_deleted_flows_are_reported_and_pruned(tmp_path):
    p = make_project(tmp_path / "p", 3)
    compile_(p, check=True)
    gone = manifest(p)["flows"]["flows/f002.flow"]["outputs"]
    (p / "flows" / "f002.flow").unlink()
    r = compile_(p, "--check")
    assert r.returncode == 1
    assert "orphan" in r.stderr and "f002" in r.stderr
    r = compile_(p, check=True)  # without --prune: kept, and said so
    assert "warning" in r.stderr and all((p / "out" / f).exists() for f in gone)
    assert "flows/f002.flow" in manifest(p)["flows"]
    r = compile_(p, "--prune", check=True)
    assert not any((p / "out" / f).exists() for f in gone)
    assert "flows/f002.flow" not in manifest(p)["flows"]
    assert compile_(p, "--check").returncode == 0


def test_a_flow_that_stops_making_a_file_loses_it(tmp_path):
    p = make_project(tmp_path / "p", 1)
    queue = (p / "flows" / "f000.flow").read_text(encoding="utf-8").replace(
        'play "bye"\n    hangup', 'voicemail 8000')
    (p / "flows" / "f000.flow").write_text(queue, encoding="utf-8")
    compile_(p, check=True)
    extra = [f for f in manifest(p)["flows"]["flows/f000.flow"]["outputs"] if "voicemail" in f or "directory" in f]
    assert extra
    (p / "flows" / "f000.flow").write_text(flow_text(0), encoding="utf-8")
    assert compile_(p, "--check").returncode == 1
    compile_(p, check=True)
    assert not any((p / "out" / f).exists() for f in extra)


def test_check_reports_stale_missing_orphan_and_unknown_files_as_json(tmp_path):
    p = make_project(tmp_path / "p", 3)
    compile_(p, check=True)
    (p / "out" / "asterisk" / "f0.conf").write_text("; edited\n", encoding="utf-8")
    (p / "out" / "freeswitch" / "f1.xml").unlink()
    (p / "flows" / "f002.flow").unlink()
    (p / "out" / "asterisk" / "README.txt").write_text("mine\n", encoding="utf-8")
    r = compile_(p, "--check", "--format", "json")
    assert r.returncode == 1
    doc = json.loads(r.stdout)
    status = {f["path"]: f["status"] for f in doc["files"]}
    assert status["asterisk/f0.conf"] == "stale"
    assert status["freeswitch/f1.xml"] == "missing"
    assert status["asterisk/f2.conf"] == "orphan"
    assert status["asterisk/README.txt"] == "unknown"
    assert doc["ok"] is False and doc["summary"]["stale"] == 1 and doc["diagnostics"] == []
    # A compile repairs the first two, keeps the orphan (no --prune) and the foreign file.
    compile_(p, check=True)
    assert (p / "out" / "asterisk" / "README.txt").read_text(encoding="utf-8") == "mine\n"
    doc = json.loads(compile_(p, "--check", "--format", "json").stdout)
    assert {f["status"] for f in doc["files"]} == {"orphan", "unknown"}


def test_check_json_when_everything_is_up_to_date(tmp_path):
    p = make_project(tmp_path / "p", 2)
    compile_(p, check=True)
    r = compile_(p, "--check", "--format", "json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["ok"] is True and doc["files"] == [] and doc["summary"]["flows"] == 2


def test_an_output_inside_a_managed_output_is_refused(tmp_path):
    p = make_project(tmp_path / "p", 1)
    compile_(p, check=True)
    r = flowc("compile", "flows/f000.flow", "--target", "asterisk", "--out", "out/asterisk", cwd=p)
    assert r.returncode == 2 and "manages as a whole" in r.stderr


def test_changing_the_target_set_needs_prune(tmp_path):
    p = make_project(tmp_path / "p", 1)
    compile_(p, check=True)
    r = flowc("compile", "flows", "--target", "asterisk", "--out", "out", cwd=p)
    assert r.returncode == 2 and "--prune" in r.stderr
    flowc("compile", "flows", "--target", "asterisk", "--out", "out", "--prune", cwd=p, check=True)
    assert (p / "out" / "f0.conf").exists() or any((p / "out").glob("*.conf"))
    assert not (p / "out" / "freeswitch").exists()


# ---------------------------------------------------------------- across flows


def test_two_flows_with_one_400_number_are_an_error_pointing_at_both(tmp_path):
    p = make_project(tmp_path / "p", 2)
    (p / "flows" / "f001.flow").write_text(flow_text(1, number=1000), encoding="utf-8")
    r = compile_(p, "--format", "concise")
    assert r.returncode == 1
    lines = [ln for ln in r.stderr.splitlines() if "E701" in ln]
    assert any(ln.startswith("flows/f000.flow:4:") for ln in lines), r.stderr
    assert any(ln.startswith("flows/f001.flow:4:") for ln in lines), r.stderr
    assert not (p / "out").exists()


def test_a_flow_recorded_earlier_counts_in_the_cross_flow_checks(tmp_path):
    """A flow compiled into the directory by an earlier run, not named now, still owns its
    400 number."""
    p = make_project(tmp_path / "p", 2)
    flowc("compile", "flows/f000.flow", "--target", "all", "--out", "out", cwd=p, check=True)
    (p / "flows" / "f001.flow").write_text(flow_text(1, number=1000), encoding="utf-8")
    r = flowc("compile", "flows/f001.flow", "--target", "all", "--out", "out", "--format", "concise", cwd=p)
    assert r.returncode == 1 and "E701" in r.stderr and "flows/f000.flow" in r.stderr
    assert flows_in(manifest(p)) == ["flows/f000.flow"]


def test_two_flows_making_the_same_file_are_an_error(tmp_path):
    p = make_project(tmp_path / "p", 2)
    (p / "flows" / "f001.flow").write_text(flow_text(1).replace("flow f1 ", "flow f0 "), encoding="utf-8")
    r = compile_(p, "--format", "concise")
    assert r.returncode == 1 and "E702" in r.stderr, r.stderr


# ---------------------------------------------------------------- incremental


def compiled_count(stderr: str) -> tuple[int, int]:
    """(flows, unchanged since the last compile) from the summary line."""
    import re

    m = re.search(r"(\d+) flow\(s\) compiled", stderr)
    assert m, stderr
    u = re.search(r", (\d+) unchanged since the last compile", stderr)
    return int(m.group(1)), int(u.group(1)) if u else 0


@pytest.fixture
def same_code():
    """Skip a test whose reuse counts cannot hold because flowc's own code (part of every
    fingerprint) was edited while it ran: only in a checkout being worked on."""
    from flowc.build import toolchain_stamp

    before = toolchain_stamp()

    def check() -> None:
        if toolchain_stamp() != before:
            pytest.skip("flowc's code changed while the test ran, so every flow was compiled again")

    return check


def test_a_recompile_skips_unchanged_flows(tmp_path, same_code):
    p = make_project(tmp_path / "p", 4)
    compile_(p, check=True)
    r = compile_(p, check=True)
    same_code()
    assert compiled_count(r.stderr) == (4, 4)
    (p / "flows" / "f001.flow").write_text(flow_text(1, "b"), encoding="utf-8")
    r = compile_(p, check=True)
    same_code()
    assert compiled_count(r.stderr) == (4, 3)
    assert b"vb/welcome_1" in (p / "out" / "freeswitch" / "f1.xml").read_bytes()


def test_a_flow_whose_import_changed_is_compiled_again(tmp_path):
    p = make_project(tmp_path / "p", 3)
    compile_(p, check=True)
    (p / "flows" / "lib" / "shared.flow").write_text(LIB.replace("09:00-18:00", "08:30-17:30"), encoding="utf-8")
    r = compile_(p, check=True)
    assert compiled_count(r.stderr) == (3, 0)
    assert b">= 830" in (p / "out" / "asterisk" / "f0.conf").read_bytes()


def test_a_settings_change_compiles_everything_again(tmp_path):
    p = make_project(tmp_path / "p", 3)
    compile_(p, check=True)
    (p / "flowc.toml").write_text('years = [2026]\n[asterisk]\ncontext_prefix = "hl-"\n', encoding="utf-8")
    assert compiled_count(compile_(p, check=True).stderr) == (3, 0)
    assert b"[hl-f0" in (p / "out" / "asterisk" / "f0.conf").read_bytes()
    assert compiled_count(compile_(p, "--set", "asterisk.moh_class=x", check=True).stderr) == (3, 0)


def test_a_hand_edited_output_is_repaired_by_a_recompile(tmp_path):
    p = make_project(tmp_path / "p", 2)
    compile_(p, check=True)
    good = (p / "out" / "asterisk" / "f0.conf").read_bytes()
    (p / "out" / "asterisk" / "f0.conf").write_bytes(b"; edited\n")
    compile_(p, check=True)
    assert (p / "out" / "asterisk" / "f0.conf").read_bytes() == good


def test_check_is_incremental_too(tmp_path, same_code):
    p = make_project(tmp_path / "p", 3)
    compile_(p, check=True)
    r = compile_(p, "--check")
    same_code()
    assert r.returncode == 0 and "3 unchanged since the last compile" in r.stderr, r.stderr
    (p / "flows" / "f000.flow").write_text(flow_text(0, "b"), encoding="utf-8")
    r = compile_(p, "--check")
    assert r.returncode == 1 and "would change" in r.stderr


def test_errors_in_a_changed_flow_leave_the_output_alone(tmp_path):
    p = make_project(tmp_path / "p", 2)
    compile_(p, check=True)
    before = snapshot(p / "out")
    (p / "flows" / "f001.flow").write_text(flow_text(1).replace("-> bye", "-> nowhere", 1), encoding="utf-8")
    r = compile_(p)
    assert r.returncode == 1 and "E201" in r.stderr
    assert snapshot(p / "out") == before


# ---------------------------------------------------------------- determinism


def test_output_does_not_depend_on_how_paths_are_typed(tmp_path, same_code):
    p = make_project(tmp_path / "p", 2)
    outs = {}
    for i, spelling in enumerate(["flows", "./flows/", str(p / "flows"), "flows/../flows"]):
        flowc("compile", spelling, "--target", "all", "--out", f"o{i}", cwd=p, check=True)
        outs[spelling] = snapshot(p / f"o{i}")
    sub = p / "flows"
    flowc("compile", ".", "--target", "all", "--out", "../o9", cwd=sub, check=True)
    outs["from a subfolder"] = snapshot(p / "o9")
    first = next(iter(outs.values()))
    assert all(o == first for o in outs.values())
    assert b"flows/f000.flow" in first["freeswitch/f0.xml"]
    assert str(tmp_path).encode() not in b"".join(first.values())
    # A recompile through another spelling changes nothing.
    r = flowc("compile", "./flows/", "--target", "all", "--out", "o0", cwd=p, check=True)
    same_code()
    assert "0 file(s) written" in r.stderr and "2 unchanged since the last compile" in r.stderr


def test_two_flows_sharing_a_mailbox_are_an_error(tmp_path):
    """A setting that puts every flow's mailboxes in one context makes `voicemail 8000` in
    two flows one mailbox: refused (per-flow contexts, the default, keep them apart)."""
    p = make_project(tmp_path / "p", 2)
    for i in range(2):
        path = p / "flows" / f"f{i:03d}.flow"
        path.write_text(flow_text(i).replace('play "bye"\n    hangup', "voicemail 8000"), encoding="utf-8")
    r = compile_(p, "--set", "asterisk.voicemail_context=shared", "--format", "concise")
    assert r.returncode == 1 and "E702" in r.stderr and "mailbox `8000@shared`" in r.stderr, r.stderr
    assert not (p / "out").exists()
    compile_(p, check=True)
