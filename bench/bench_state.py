"""Benchmark of shared state (issue 14, S-STATE-1): `python bench/bench_state.py [--engine asterisk|freeswitch|all] [-n 1000]`.

The added latency per call of the round-robin lookup in PostgreSQL against the local
AstDB / mod_db path, measured **inside the engine**: driving 1,000 real calls through the
harness takes about 2.5 s each, so instead one harness call runs a tight loop of N lookups
of each kind, timing each one with the engine's own microsecond clock, and reports p50/p99:

- Asterisk: the exact dialplan lines flowc generates for a round-robin start (the four
  lines with func_odbc `FLOWC_RR`, and the two AstDB lines of `state = "local"`), taken from
  the compiled tests/state/rr.flow, each iteration timed with `${STRFTIME(,,%s%6q)}`.
- FreeSWITCH: the generated flowc-state.lua (`lua` application: background `luarun`
  query, wait for its answer) against the local dialplan's `db select` + `db insert`, timed
  with `strmicroepoch`, from a small Lua loop of this benchmark.

PostgreSQL is a throwaway local cluster (tests/pgcluster.py: initdb in a temp dir, fsync
off, 127.0.0.1), so the figures are the engines' ODBC round trip plus PostgreSQL's
statement, without network latency: add one round trip to your database server. Needs
FLOWC_ASTERISK_PREFIX / FLOWC_FS_PREFIX, the shared harness, postgresql, odbc-postgresql.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

HARNESS = Path(os.environ.get("FLOWC_HARNESS_DIR", "/work/shared/harness"))
FLOW = ROOT / "tests" / "state" / "rr.flow"
FS_MODULES = ["mod_console", "mod_logfile", "mod_event_socket", "mod_commands", "mod_dptools", "mod_db",
              "mod_hash", "mod_expr", "mod_dialplan_xml", "mod_loopback", "mod_sndfile", "mod_native_file",
              "mod_tone_stream", "mod_local_stream", "mod_say_en", "mod_lua"]


def compiled(engine: str, shared: bool, out: Path) -> dict[str, str]:
    from flowc.emit import get_target
    from flowc.interp import load_flow
    from flowc.settings import load_settings

    overrides = {f"{engine}.state": "postgresql", f"{engine}.state_dsn": "flowc"} if shared else {}
    if shared and engine == "freeswitch":
        overrides["freeswitch.state_script"] = str(out / "flowc-state.lua")
    target = get_target(engine, load_settings(overrides=overrides, cwd=ROOT / "tests" / "state"))
    return {**target.render(load_flow(FLOW)), **target.shared_outputs()}


def percentiles(us: list[int]) -> dict:
    s = sorted(us)
    pick = lambda q: s[min(len(s) - 1, int(q * len(s)))] / 1000  # noqa: E731
    return {"n": len(s), "p50_ms": pick(0.50), "p99_ms": pick(0.99), "mean_ms": round(statistics.mean(s) / 1000, 3)}


# ====================================================================== Asterisk


def start_lines(conf: str) -> list[str]:
    """The round-robin start lines of the compiled step (Set FLOWC_RRS ... / Set DB(...))."""
    keep = []
    for line in conf.splitlines():
        body = line.split("  ; ")[0].removeprefix(" same => n,")
        if re.match(r"(Set\(FLOWC_RRS=|ExecIf\(\$\[\"\$\{FLOWC_RRS\}|Set\(FLOWC_START=|Set\(DB\(flowc_rr)", body):
            keep.append(body)
    return keep


def bench_asterisk(n: int, env: dict, tmp: Path) -> dict:
    out = tmp / "ast"
    out.mkdir()
    shared = compiled("asterisk", True, out)
    local = compiled("asterisk", False, out)
    for name in ("flowc-res_odbc.conf", "flowc-func_odbc.conf"):
        (out / name).write_text(shared[name])
    (out / "res_odbc.conf").write_text('#include "flowc-res_odbc.conf"\n')
    (out / "func_odbc.conf").write_text('#include "flowc-func_odbc.conf"\n')
    now = "${STRFTIME(,,%s%6q)}"
    lines = ["[bench]", "exten => s,1,Answer()"]
    for kind, code in (("shared", start_lines(shared["rr_shared.conf"])), ("local", start_lines(local["rr_shared.conf"]))):
        lines += [f" same => n,Set(I=0)",
                  f" same => n({kind}),Set(T0={now})",
                  *(f" same => n,{c}" for c in code),
                  f" same => n,Set(T1={now})",
                  f" same => n,NoOp(BENCH {kind} $[${{T1}} - ${{T0}}] ${{FLOWC_START}})",
                  f" same => n,Set(I=$[${{I}} + 1])",
                  f" same => n,GotoIf($[${{I}} < {n}]?{kind})"]
    lines.append(" same => n,Hangup()")
    (out / "bench.conf").write_text("\n".join(lines) + "\n")
    work = tmp / "ast-run"
    cmd = [sys.executable, str(HARNESS / "asterisk" / "run_scenario.py"), "--asterisk-prefix",
           os.environ["FLOWC_ASTERISK_PREFIX"], "--dialplan", str(out / "bench.conf"), "--conf", f"res_odbc.conf={out}/res_odbc.conf",
           "--conf", f"func_odbc.conf={out}/func_odbc.conf", "--conf", f"flowc-res_odbc.conf={out}/flowc-res_odbc.conf",
           "--conf", f"flowc-func_odbc.conf={out}/flowc-func_odbc.conf", "--context", "bench", "--exten", "s",
           "--max-seconds", "600", "--workdir", str(work)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    log = (work / "log" / "harness.log").read_text(errors="replace") if (work / "log" / "harness.log").exists() else ""
    found: dict[str, list[int]] = {"shared": [], "local": []}
    for kind, us in re.findall(r"NoOp\(\"[^\"]*\", \"BENCH (\w+) (\d+) ", log):
        found[kind].append(int(us))
    if not found["shared"]:
        raise SystemExit(f"asterisk: no measurements (harness exit {proc.returncode}): {proc.stdout[-1500:]} {proc.stderr[-1500:]}")
    return {k: percentiles(v) for k, v in found.items()}


# ====================================================================== FreeSWITCH


FS_BENCH_LUA = """\
-- bench/bench_state.py: N lookups of each kind, timed with `uptime us` (each one, and each
-- batch of N; strmicroepoch advances in 20 ms steps here, uptime reads the monotonic clock)
local api = freeswitch.API()
local n, script, out = tonumber(argv[1]), argv[2], argv[3]
local function now() return tonumber(api:execute("uptime", "us")) end  -- monotonic, microseconds
local f = io.open(out, "w")
local start = now()
for i = 1, n do
  local t0 = now()
  session:execute("lua", script .. " rr_shared desk 3")
  local t1 = now()
  f:write("shared ", t1 - t0, " ", session:getVariable("flowc_first") or "?", "\\n")
end
local mid = now()
for i = 1, n do
  local t0 = now()
  -- what the local dialplan does: set flowc_first=${expr(mod(0${db(select/...)},3))}; db insert/...
  local first = (tonumber(api:execute("db", "select/flowc_rr/rr_shared\\\\/desk")) or 0) % 3
  session:execute("db", "insert/flowc_rr/rr_shared\\\\/desk/" .. ((first + 1) % 3))
  local t1 = now()
  f:write("local ", t1 - t0, " ", first, "\\n")
end
f:write("batch_shared ", mid - start, " -\\n")
f:write("batch_local ", now() - mid, " -\\n")
f:close()
"""


def bench_freeswitch(n: int, env: dict, tmp: Path) -> dict:
    out = tmp / "fs"
    out.mkdir()
    shared = compiled("freeswitch", True, out)
    (out / "flowc-state.lua").write_text(shared["flowc-state.lua"])
    (out / "bench.lua").write_text(FS_BENCH_LUA)
    result = out / "result.txt"
    (out / "bench.xml").write_text(
        '<include>\n<context name="bench">\n<extension name="bench">\n'
        '<condition field="destination_number" expression="^bench$">\n'
        '<action application="answer"/>\n'
        f'<action application="lua" data="{out}/bench.lua {n} {out}/flowc-state.lua {result}"/>\n'
        '<action application="hangup"/>\n</condition>\n</extension>\n</context>\n</include>\n')
    (out / "modules.xml").write_text('<configuration name="modules.conf" description="Modules">\n<modules>\n'
                                     + "".join(f'<load module="{m}"/>\n' for m in FS_MODULES)
                                     + "</modules>\n</configuration>\n")
    cmd = [sys.executable, str(HARNESS / "freeswitch" / "run_scenario.py"), "--fs-prefix",
           os.environ["FLOWC_FS_PREFIX"], "--dialplan", str(out / "bench.xml"), "--context", "bench",
           "--dest", "bench", "--max-seconds", "600", "--extra-conf", str(out / "modules.xml")]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    found: dict[str, list[int]] = {"shared": [], "local": [], "batch_shared": [], "batch_local": []}
    if result.exists():
        for line in result.read_text().splitlines():
            kind, us, _first = line.split()
            found[kind].append(int(us))
    if not found["shared"] or not found["batch_local"]:
        raise SystemExit(f"freeswitch: no measurements (harness exit {proc.returncode}): {proc.stdout[-1500:]} {proc.stderr[-1500:]}")
    report = {k: percentiles(found[k]) for k in ("shared", "local")}
    for k in ("shared", "local"):  # the batch mean, exact whatever the clock's step
        report[k]["mean_ms"] = round(found[f"batch_{k}"][0] / n / 1000, 3)
    return report


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--engine", choices=["asterisk", "freeswitch", "all"], default="all")
    ap.add_argument("-n", type=int, default=1000, help="lookups of each kind (default 1000)")
    a = ap.parse_args()
    from pgcluster import PgCluster, skip_reason

    if skip_reason():
        raise SystemExit(f"cannot start PostgreSQL: {skip_reason()}")
    engines = ["asterisk", "freeswitch"] if a.engine == "all" else [a.engine]
    report = {}
    with PgCluster() as pg:
        url = pg.reset("flowc_bench")
        import psycopg

        from flowc.emit import state

        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(state.schema_text())
        tmp = Path(tempfile.mkdtemp(prefix="bench-state-"))
        try:
            from test_state import odbc_ini

            (tmp / "odbc.ini").write_text(odbc_ini("flowc", pg.port, "flowc_bench"))
            env = {**os.environ, "ODBCINI": str(tmp / "odbc.ini")}
            for engine in engines:
                var = "FLOWC_ASTERISK_PREFIX" if engine == "asterisk" else "FLOWC_FS_PREFIX"
                if not os.environ.get(var):
                    print(f"{engine}: skipped ({var} is not set)")
                    continue
                r = (bench_asterisk if engine == "asterisk" else bench_freeswitch)(a.n, env, tmp)
                r["added_p50_ms"] = round(r["shared"]["p50_ms"] - r["local"]["p50_ms"], 3)
                r["added_p99_ms"] = round(r["shared"]["p99_ms"] - r["local"]["p99_ms"], 3)
                report[engine] = r
                print(f"{engine}: shared p50 {r['shared']['p50_ms']:.3f} ms p99 {r['shared']['p99_ms']:.3f} ms | "
                      f"local p50 {r['local']['p50_ms']:.3f} ms p99 {r['local']['p99_ms']:.3f} ms | "
                      f"added p50 {r['added_p50_ms']:.3f} ms p99 {r['added_p99_ms']:.3f} ms, mean "
                      f"{r['shared']['mean_ms'] - r['local']['mean_ms']:.3f} ms "
                      f"({r['shared']['n']} + {r['local']['n']} lookups)")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
