"""Benchmark of a whole platform (issue 11): N generated flows compiled to both targets, and,
with a real Asterisk, what the output costs the PBX.

    python bench/bench_platform.py [--flows 100,400,2000] [--seed 1] [--work DIR]
    FLOWC_ASTERISK_PREFIX=/opt/flowc-engines/asterisk python bench/bench_platform.py --flows 400,2000

For each N, a platform from bench/gen_platform.py (the same N gives the same files) is
compiled with `flowc compile DIR --target all` in a fresh process each time, and the run
prints what it measured, each figure next to a baseline measured in the same run:

* output: bytes per target (and the shared files among them), Asterisk extensions
  (`exten =>` lines), priorities and contexts, FreeSWITCH extensions and contexts;
  baseline: the same figures per flow, against one small flow (examples/small_shop.flow);
* compile: cpu time (user+sys) and peak memory (ru_maxrss) of the child process, with a
  warm cache folder; baseline: compiling examples/small_shop.flow alone in the same way;
* recompile into the same output directory with nothing changed, and with one flow changed
  (its title); baseline: the full compile above. Whether flowc skips unchanged flows shows
  in the ratio; the run does not assume it;
* compile with an empty cache folder (XDG_CACHE_HOME pointing at a new directory) against
  the warm compile, and the size of the cache folder afterwards;
* with FLOWC_ASTERISK_PREFIX: a private Asterisk (own asterisk.conf in a temp directory,
  modules autoloaded as the engine tests do) boots the platform's Asterisk output as
  docs/deploy.md says (the shared flowc-regions.conf, then every flow); resident memory
  (VmRSS) after boot and after each of 10 `dialplan reload`s, and the wall time of each
  reload (until the CLI command returns), with glibc's default malloc arenas and with
  MALLOC_ARENA_MAX=2; baseline: the same Asterisk with examples/small_shop.flow compiled
  alone (which also writes the shared table).

Cache state is stated for every compile: "warm" = the cache folder of a previous compile of
the same platform; "empty" = a new, empty cache folder.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

import gen_platform  # noqa: E402

FLOWC = [sys.executable, "-m", "flowc"]
SMALL = ROOT / "examples" / "small_shop.flow"


def measured(argv: list[str], env: dict | None = None, cwd: Path = ROOT) -> dict:
    """Run argv as a child process: its wall time, and its own cpu time (user+sys) and peak
    RSS from os.wait4."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=cwd)
    err = proc.stderr.read()
    _, status, ru = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.stderr.write(err.decode(errors="replace")[-3000:])
        raise SystemExit(f"failed: {' '.join(map(str, argv))}")
    return {"wall": wall, "cpu": ru.ru_utime + ru.ru_stime, "rss_mb": ru.ru_maxrss / 1024,
            "err": err.decode(errors="replace").strip().splitlines()[-1:]}


def compile_cmd(src: Path, out: Path) -> list[str]:
    """Run from the platform's directory (its project root: gen_platform writes flowc.toml)."""
    return [*FLOWC, "compile", str(src), "--target", "all", "--out", str(out), "--format", "concise"]


def env_with_cache(cache: Path) -> dict:
    env = dict(os.environ)
    env["XDG_CACHE_HOME"] = str(cache)
    return env


def dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def asterisk_counts(folder: Path) -> dict:
    exten = same = contexts = 0
    for p in folder.glob("*.conf"):
        if p.name.count(".") > 1:  # name.voicemail.conf etc.: not dialplan
            continue
        for line in p.open(encoding="utf-8"):
            if line.startswith("exten =>"):
                exten += 1
            elif line.startswith(" same =>"):
                same += 1
            elif line.startswith("["):
                contexts += 1
    return {"extensions": exten, "priorities": exten + same, "contexts": contexts}


def freeswitch_counts(folder: Path) -> dict:
    ext = ctx = 0
    for p in folder.glob("*.xml"):
        text = p.read_text(encoding="utf-8")
        ext += text.count("<extension ")
        ctx += text.count("<context ")
    return {"extensions": ext, "contexts": ctx}


def shared_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("flowc-*") if p.is_file())


def mb(n: float) -> str:
    return f"{n / 1e6:.1f} MB"


# ====================================================================== Asterisk


class Asterisk:
    """A private Asterisk in a temp directory, loading extensions.conf that #includes files."""

    def __init__(self, prefix: Path, work: Path, includes: list[Path], env: dict | None = None):
        self.prefix, self.work, self.env = prefix, work, env
        self.etc = work / "etc"
        for d in ("etc", "lib", "data", "spool", "run", "log", "lib/keys", "spool/tmp"):
            (work / d).mkdir(parents=True, exist_ok=True)
        self.conf = self.etc / "asterisk.conf"
        self.conf.write_text("\n".join([
            "[directories]", f"astetcdir => {self.etc}", f"astmoddir => {prefix}/lib/asterisk/modules",
            f"astvarlibdir => {work}/lib", f"astdbdir => {work}/lib", f"astkeydir => {work}/lib/keys",
            f"astdatadir => {work}/data", f"astagidir => {work}/data", f"astspooldir => {work}/spool",
            f"astrundir => {work}/run", f"astlogdir => {work}/log", f"astsbindir => {prefix}/sbin",
            "", "[options]", "verbose = 0", "hideconnect = yes", "lockconfdir = no", ""]))
        (self.etc / "modules.conf").write_text(
            "[modules]\nautoload = yes\nnoload = res_clialiases.so\nnoload = cel_custom.so\nnoload = cel_manager.so\n"
            "noload = cdr_custom.so\nnoload = cdr_csv.so\n")
        (self.etc / "logger.conf").write_text("[general]\n[logfiles]\nmessages.log => notice,warning,error\n")
        (self.etc / "extensions.conf").write_text(
            "[general]\nstatic = yes\nwriteprotect = yes\n\n" + "".join(f'#include "{p}"\n' for p in includes))
        for name in ("queues.conf", "voicemail.conf", "musiconhold.conf"):
            (self.etc / name).write_text("[general]\n")
        self.proc = None

    def rx(self, command: str, timeout: float = 600) -> str:
        return subprocess.run([str(self.prefix / "sbin" / "asterisk"), "-C", str(self.conf), "-rx", command],
                              capture_output=True, text=True, timeout=timeout).stdout

    def start(self) -> float:
        t0 = time.perf_counter()
        self.proc = subprocess.Popen([str(self.prefix / "sbin" / "asterisk"), "-C", str(self.conf), "-f", "-n"],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True, env={**os.environ, **(self.env or {})})
        deadline = time.time() + 600
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"Asterisk exited with {self.proc.returncode}; see {self.work}/log")
            if (self.work / "run" / "asterisk.ctl").exists() and "fully booted" in self.rx("core waitfullybooted", 600):
                return time.perf_counter() - t0
            time.sleep(0.1)
        raise RuntimeError("Asterisk did not boot in 600 s")

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def reload(self) -> float:
        t0 = time.perf_counter()
        self.rx("dialplan reload")
        return time.perf_counter() - t0

    def stats(self) -> str:
        out = self.rx("dialplan show", timeout=600)
        m = re.search(r"-= (.*) =-", out)
        return m.group(1) if m else out.strip()[-200:]

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def asterisk_includes(folder: Path) -> list[Path]:
    """What docs/targets/asterisk.md says extensions.conf includes: the shared files, then each flow."""
    shared = [p for p in shared_files(folder) if p.suffix == ".conf"]
    flows = sorted(p for p in folder.glob("*.conf") if p.name.count(".") == 1 and p not in shared)
    return shared + flows


def measure_asterisk(prefix: Path, folder: Path, work: Path, reloads: int = 10, env: dict | None = None) -> dict:
    shutil.rmtree(work, ignore_errors=True)
    ast = Asterisk(prefix, work, asterisk_includes(folder), env)
    try:
        boot = ast.start()
        rss = [ast.rss_mb()]
        stats = ast.stats()
        times = []
        for _ in range(reloads):
            times.append(ast.reload())
            time.sleep(0.5)
            rss.append(ast.rss_mb())
        return {"boot": boot, "rss": rss, "reload": times, "stats": stats}
    finally:
        ast.stop()


# ====================================================================== main


def bench(n: int, seed: str, work: Path, prefix: Path | None, baseline: dict) -> None:
    src, out, cache = work / f"p{n}" / "src", work / f"p{n}" / "out", work / f"p{n}" / "cache"
    for d in (out, cache):
        shutil.rmtree(d, ignore_errors=True)
    kinds = gen_platform.generate(n, src, seed)
    regional = kinds.get("region", 0)
    print(f"\n== {n} flows (seed {seed}): " + ", ".join(f"{k} {v}" for k, v in kinds.items()) +
          f"; {regional / n:.0%} with a region branch")

    empty = measured(compile_cmd(src, out), env_with_cache(cache), cwd=src)  # empty cache folder
    cache_size = dir_size(cache)
    shutil.rmtree(out)
    warm = measured(compile_cmd(src, out), env_with_cache(cache), cwd=src)  # the same cache: warm
    same = measured(compile_cmd(src, out), env_with_cache(cache), cwd=src)  # nothing changed
    victim = sorted((src / "flows").glob("*.flow"))[n // 2]
    text = victim.read_text(encoding="utf-8")
    victim.write_text(re.sub(r'title "([^"]*)"', r'title "\1 (changed)"', text, count=1), encoding="utf-8")
    one = measured(compile_cmd(src, out), env_with_cache(cache), cwd=src)  # one flow changed
    victim.write_text(text, encoding="utf-8")

    ast_dir, fs_dir = out / "asterisk", out / "freeswitch"
    ast_size, fs_size = dir_size(ast_dir), dir_size(fs_dir)
    ast_shared = sum(p.stat().st_size for p in shared_files(ast_dir))
    fs_shared = sum(p.stat().st_size for p in shared_files(fs_dir))
    ac, fc = asterisk_counts(ast_dir), freeswitch_counts(fs_dir)
    b = baseline
    print("output (warm compile):")
    print(f"  asterisk   {mb(ast_size)} ({mb(ast_shared)} shared), {ac['extensions']:,} extensions, "
          f"{ac['priorities']:,} priorities in {ac['contexts']:,} contexts; "
          f"per flow (without shared files) {(ast_size - ast_shared) / n / 1e3:.1f} KB vs one small flow "
          f"{b['ast_size'] / 1e3:.1f} KB")
    print(f"  freeswitch {mb(fs_size)} ({mb(fs_shared)} shared), {fc['extensions']:,} extensions in "
          f"{fc['contexts']:,} contexts; per flow (without shared files) {(fs_size - fs_shared) / n / 1e3:.1f} KB "
          f"vs one small flow {b['fs_size'] / 1e3:.1f} KB")
    print("compile --target all (fresh process each):")
    print(f"  warm cache     {warm['cpu']:.1f} s cpu, {warm['wall']:.1f} s wall, peak {warm['rss_mb']:.0f} MB "
          f"(baseline: one small flow {b['cpu']:.2f} s cpu, peak {b['rss_mb']:.0f} MB)")
    print(f"  empty cache    {empty['cpu']:.1f} s cpu, {empty['wall']:.1f} s wall, peak {empty['rss_mb']:.0f} MB "
          f"= {empty['cpu'] / warm['cpu']:.2f}x warm; cache folder afterwards {mb(cache_size)}")
    print(f"  recompile, nothing changed  {same['cpu']:.1f} s cpu ({same['cpu'] / warm['cpu']:.2f}x full) "
          f"[{' '.join(same['err'])}]")
    print(f"  recompile, one flow changed {one['cpu']:.1f} s cpu ({one['cpu'] / warm['cpu']:.2f}x full) "
          f"[{' '.join(one['err'])}]")
    if prefix is not None:
        for label, env in ASTERISK_ENVS:
            r = measure_asterisk(prefix, ast_dir, work / f"p{n}" / "asterisk", env=env)
            base = b["asterisk"][label]
            print(f"asterisk ({prefix}, {label}):")
            print(f"  boot {r['boot']:.1f} s, {r['stats']}; baseline one small flow: boot {base['boot']:.1f} s")
            print(f"  memory after boot {r['rss'][0]:.0f} MB (baseline {base['rss'][0]:.0f} MB); after each of "
                  f"{len(r['reload'])} reloads: " + ", ".join(f"{x:.0f}" for x in r["rss"][1:]) +
                  f" MB (baseline after {len(base['reload'])}: {base['rss'][-1]:.0f} MB)")
            print("  dialplan reload " + ", ".join(f"{x:.2f}" for x in r["reload"]) +
                  f" s (baseline {min(base['reload']):.2f}-{max(base['reload']):.2f} s)")


# glibc gives each thread that allocates its own arena; every `asterisk -rx` is a new CLI
# thread, so the dialplan a reload builds lands in a new arena and the old one's freed memory
# stays mapped. docs/deploy.md recommends MALLOC_ARENA_MAX=2 for Asterisk; both are measured.
ASTERISK_ENVS = [("glibc default arenas", None), ("MALLOC_ARENA_MAX=2", {"MALLOC_ARENA_MAX": "2"})]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--flows", default="100,400,2000", help="comma-separated platform sizes")
    ap.add_argument("--seed", default="1")
    ap.add_argument("--work", type=Path, default=None, help="working directory (default: a new temp dir)")
    ap.add_argument("--reloads", type=int, default=10)
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="flowc-bench-platform-"))
    work.mkdir(parents=True, exist_ok=True)
    prefix = os.environ.get("FLOWC_ASTERISK_PREFIX")
    prefix = Path(prefix) if prefix and (Path(prefix) / "sbin" / "asterisk").exists() else None
    print(f"bench_platform: work dir {work}; python {sys.version.split()[0]}; "
          f"asterisk: {prefix or 'not measured (FLOWC_ASTERISK_PREFIX unset)'}")

    # Baselines, measured now: one small flow, compiled and (if possible) booted the same way.
    bdir = work / "baseline"
    shutil.rmtree(bdir, ignore_errors=True)
    bcache = bdir / "cache"
    small_src = bdir / "src"
    small_src.mkdir(parents=True)
    (small_src / "flowc.toml").write_text("", encoding="utf-8")
    shutil.copy(SMALL, small_src / SMALL.name)
    measured(compile_cmd(small_src, bdir / "out"), env_with_cache(bcache), cwd=small_src)  # warms its cache
    shutil.rmtree(bdir / "out")
    small = measured(compile_cmd(small_src, bdir / "out"), env_with_cache(bcache), cwd=small_src)
    own = lambda d: dir_size(d) - sum(p.stat().st_size for p in shared_files(d))  # noqa: E731
    baseline = {"cpu": small["cpu"], "rss_mb": small["rss_mb"], "ast_size": own(bdir / "out" / "asterisk"),
                "fs_size": own(bdir / "out" / "freeswitch")}
    print(f"baseline: one small flow compiles in {small['cpu']:.2f} s cpu, peak {small['rss_mb']:.0f} MB (warm cache)")
    if prefix is not None:
        baseline["asterisk"] = {}
        for label, env in ASTERISK_ENVS:
            a = baseline["asterisk"][label] = measure_asterisk(prefix, bdir / "out" / "asterisk", bdir / "asterisk",
                                                              args.reloads, env)
            print(f"baseline asterisk with one small flow ({label}): boot {a['boot']:.1f} s, {a['rss'][0]:.0f} MB "
                  f"after boot, {a['rss'][-1]:.0f} MB after {args.reloads} reloads, reload {min(a['reload']):.2f}-"
                  f"{max(a['reload']):.2f} s; {a['stats']}")
    for n in [int(x) for x in args.flows.split(",") if x.strip()]:
        bench(n, args.seed, work, prefix, baseline)
    return 0


if __name__ == "__main__":
    sys.exit(main())
