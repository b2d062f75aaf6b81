"""Real-engine tests of shared state (issue 14, S-STATE-1..3): two instances of the same engine
share one PostgreSQL (a throwaway cluster) and take the calls of one round-robin group.

    FLOWC_ASTERISK_PREFIX=/opt/flowc-engines/asterisk FLOWC_FS_PREFIX=/opt/flowc-engines/freeswitch \\
        pytest tests/engine/test_state_engine.py

The shared harness runs one engine per run, so a "server" here is a harness run: the tests
start two harness processes side by side (each its own temp dir, engine and port) or one
after the other, all pointed at the same database through an odbc.ini of their own
(ODBCINI). Asterisk loads the generated flowc-res_odbc.conf / flowc-func_odbc.conf through
`--conf-dir`; FreeSWITCH gets mod_lua added to its modules (`--extra-conf modules.conf`) and
the generated flowc-state.lua by absolute path (`state_script`). Skipped without the engine
(FLOWC_ASTERISK_PREFIX / FLOWC_FS_PREFIX), PostgreSQL, psycopg or the PostgreSQL ODBC driver.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TESTS = ROOT / "tests"
for p in (ROOT, TESTS):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

HARNESS = Path(os.environ.get("FLOWC_HARNESS_DIR", "/work/shared/harness"))
FLOW = TESTS / "state" / "rr.flow"
PHONES = ["13800000001", "13800000002", "13800000003"]
WARNING = "flowc shared state unreachable"
# the harness's FreeSWITCH modules (freeswitch/run_scenario.py WANTED_MODULES) plus mod_lua
FS_MODULES = ["mod_console", "mod_logfile", "mod_event_socket", "mod_commands", "mod_dptools", "mod_db",
              "mod_hash", "mod_expr", "mod_dialplan_xml", "mod_loopback", "mod_sndfile", "mod_native_file",
              "mod_tone_stream", "mod_local_stream", "mod_fifo", "mod_callcenter", "mod_voicemail", "mod_say_en",
              "mod_lua"]


def _prefix(var: str, binary: str) -> Path | None:
    prefix = os.environ.get(var)
    if not prefix or not (Path(prefix) / binary).is_file() or not HARNESS.is_dir():
        return None
    return Path(prefix)


ENGINES = {"asterisk": _prefix("FLOWC_ASTERISK_PREFIX", "sbin/asterisk"),
           "freeswitch": _prefix("FLOWC_FS_PREFIX", "bin/freeswitch")}


def _skip_reason(engine: str) -> str | None:
    if ENGINES[engine] is None:
        var = "FLOWC_ASTERISK_PREFIX" if engine == "asterisk" else "FLOWC_FS_PREFIX"
        return f"no {engine}: set {var} to an install prefix (and FLOWC_HARNESS_DIR to the shared harness)"
    from pgcluster import skip_reason

    reason = skip_reason()
    if reason:
        return reason
    if shutil.which("odbcinst") is None or "PostgreSQL Unicode" not in subprocess.run(
            ["odbcinst", "-q", "-d"], capture_output=True, text=True).stdout:
        return "the PostgreSQL ODBC driver is not installed (apt-get install unixodbc odbc-postgresql)"
    return None


pytestmark = [pytest.mark.engine]
engines = pytest.mark.parametrize("engine", [
    pytest.param(e, marks=pytest.mark.skipif(_skip_reason(e) is not None, reason=str(_skip_reason(e))))
    for e in ENGINES])


# ====================================================================== the platform


class Platform:
    """One PostgreSQL, the compiled flow and what every server of one engine needs."""

    def __init__(self, engine: str, pg, tmp: Path):
        from flowc.emit import get_target
        from flowc.interp import load_flow
        from flowc.settings import load_settings

        self.engine, self.pg, self.tmp = engine, pg, tmp
        self.db = f"rr_{engine}"
        url = pg.reset(self.db)
        import psycopg

        out = tmp / "out"
        out.mkdir()
        template = "Local/{number}@sim-phones" if engine == "asterisk" else "loopback/{number}/sim-phones"
        overrides = {f"{engine}.state": "postgresql", f"{engine}.state_dsn": "flowc",
                     f"{engine}.dial_template": template}
        if engine == "freeswitch":
            overrides["freeswitch.state_script"] = str(out / "flowc-state.lua")
        target = get_target(engine, load_settings(overrides=overrides, cwd=TESTS / "state"))
        files = {**target.render(load_flow(FLOW)), **target.shared_outputs()}
        for name, text in files.items():
            (out / name).write_text(text, encoding="utf-8")
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(files["flowc-state.sql"])
        self.url = url
        from test_state import odbc_ini

        (tmp / "odbc.ini").write_text(odbc_ini("flowc", pg.port, self.db))  # the generated one, with its timeouts
        self.env = {**os.environ, "ODBCINI": str(tmp / "odbc.ini")}
        if engine == "asterisk":
            conf = tmp / "conf"
            conf.mkdir()
            for name in ("flowc-res_odbc.conf", "flowc-func_odbc.conf"):
                shutil.copy(out / name, conf / name)
            (conf / "res_odbc.conf").write_text('#include "flowc-res_odbc.conf"\n')
            (conf / "func_odbc.conf").write_text('#include "flowc-func_odbc.conf"\n')
            self.args = [sys.executable, str(HARNESS / "asterisk" / "run_scenario.py"),
                         "--asterisk-prefix", str(ENGINES["asterisk"]), "--dialplan", str(out / "rr_shared.conf"),
                         "--conf-dir", str(conf), "--context", "flow-rr_shared", "--exten", "4008000014"]
        else:
            mods = tmp / "modules.conf.xml"
            mods.write_text('<configuration name="modules.conf" description="Modules">\n<modules>\n'
                            + "".join(f'<load module="{m}"/>\n' for m in FS_MODULES) + "</modules>\n</configuration>\n")
            self.args = [sys.executable, str(HARNESS / "freeswitch" / "run_scenario.py"),
                         "--fs-prefix", str(ENGINES["freeswitch"]), "--dialplan", str(out / "rr_shared.xml"),
                         "--context", "flow-rr_shared", "--dest", "4008000014", "--extra-conf", str(mods)]

    def server(self, *extra: str, talk: float = 1) -> subprocess.Popen:
        """Start one server (a harness run) taking calls; `.result()` on it gives the calls."""
        work = Path(tempfile.mkdtemp(prefix="srv-", dir=self.tmp))
        cmd = [*self.args, "--default-phone", f"answer:talk={talk:g}", "--work-root", str(work), *extra]
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=self.env)

    def calls(self, proc: subprocess.Popen, timeout: float = 300) -> list[dict]:
        out, err = proc.communicate(timeout=timeout)
        data = json.loads(out) if out.strip() else {}
        assert data.get("ok"), f"harness failed: {data.get('error')} {data.get('message')} {err[-2000:]}"
        return [self.summary(c) for c in data.get("calls") or [data]]  # one call: the trace is the top level

    def summary(self, call: dict) -> dict:
        """first phone, the time from the state lookup to the dial, whether it fell back."""
        warnings = [w.get("message") or w.get("text") or "" for w in call.get("log_warnings_and_errors", [])]
        if self.engine == "asterisk":
            dial = call["dials"][0]
            first, t_dial = dial["targets"][0], dial["t"]
            t_lookup = 0.0  # the flow's first step: the lookup is the first thing it does
        else:
            apps = call["applications"]
            t_lookup = next(a["t"] for a in apps if a.get("app") == "lua")
            bridge = next(a for a in apps if a.get("app") == "bridge")
            first, t_dial = re.search(r"loopback/(\d+)/", bridge["data"]).group(1), bridge["t"]
        answered = bool(call.get("answered_phone"))
        return {"first": PHONES.index(first), "delay": round(t_dial - t_lookup, 3), "answered": answered,
                "fallback": any(WARNING in w for w in warnings)}

    def dials(self) -> int:
        import psycopg

        with psycopg.connect(self.url) as conn:
            row = conn.execute("SELECT dials FROM flowc_rr WHERE flow = 'rr_shared' AND grp = 'desk'").fetchone()
        return row[0] if row else 0


def pg_stop(pg) -> None:
    pg._run(f"{pg.bindir}/pg_ctl", "-D", str(pg.data), "-m", "fast", "-w", "stop")


def pg_start(pg) -> None:
    pg._run(f"{pg.bindir}/pg_ctl", "-D", str(pg.data), "-l", str(pg.tmp / "log"), "-w", "-t", "60",
            "-o", f"-p {pg.port} -k {pg.tmp} -c listen_addresses=127.0.0.1 -c fsync=off", "start")


@pytest.fixture(scope="module")
def pg():
    reason = next((r for r in map(_skip_reason, ENGINES) if r is None), "skip")
    if reason is not None:
        pytest.skip("no engine with PostgreSQL and ODBC")
    from pgcluster import PgCluster

    with PgCluster() as cluster:
        yield cluster


@pytest.fixture
def platform(engine, pg, tmp_path):
    return Platform(engine, pg, tmp_path)


# ====================================================================== tests


@engines
def test_alternating_servers_share_one_rotation(platform):
    """Six calls, one at a time, alternately on server a and server b (each a fresh engine,
    so also a restart every call): A, B, C, A, B, C, where local state gives A, A, B, B, C, C."""
    firsts = []
    for i in range(6):
        calls = platform.calls(platform.server("--caller", f"1380000{i:04d}"))
        assert len(calls) == 1 and calls[0]["answered"] and not calls[0]["fallback"]
        firsts.append(calls[0]["first"])
    assert firsts == [0, 1, 2, 0, 1, 2]
    assert platform.dials() == 6


@engines
def test_concurrent_servers_never_share_a_start(platform):
    """Two servers side by side, 6 calls each at the same time: 12 dials, 12 different counts,
    so each phone is first exactly 4 times; one server restarts between its calls."""
    a = platform.server("--repeat", "6")
    b = platform.server("--repeat", "6", "--restart-between")
    calls = platform.calls(a) + platform.calls(b)
    assert all(c["answered"] and not c["fallback"] for c in calls), calls
    assert sorted(c["first"] for c in calls) == [0] * 4 + [1] * 4 + [2] * 4
    assert platform.dials() == 12


@engines
def test_database_down_mid_run(platform, pg):
    """One server takes 8 calls; the database is stopped (pg_ctl stop -m fast) after the
    second dial and started again 8 s later. Every call is routed within the bound; the calls
    of the outage fall back to the server's own order (0, 1, 2, ... from its AstDB/mod_db)
    with the WARNING in the log; afterwards the shared position resumes where it was."""
    proc = platform.server("--repeat", "8", talk=2)
    stopped = threading.Event()

    def chaos():
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and platform.dials() < 2:
            time.sleep(0.05)
        pg_stop(pg)
        stopped.set()
        time.sleep(8)
        pg_start(pg)

    t = threading.Thread(target=chaos)
    t.start()
    calls = platform.calls(proc)
    t.join()
    assert stopped.is_set()
    print(platform.engine, "calls:", calls, "dials:", platform.dials())
    assert all(c["answered"] for c in calls), calls
    bound = 0.2 if platform.engine == "asterisk" else 0.25  # 200 ms, plus FreeSWITCH's app scheduling
    assert max(c["delay"] for c in calls) <= bound, calls
    fell_back = [c for c in calls if c["fallback"]]
    shared = [c for c in calls if not c["fallback"]]
    assert fell_back and len(shared) >= 3, calls
    assert [c["first"] for c in fell_back] == [i % 3 for i in range(len(fell_back))]  # local order
    assert not calls[-1]["fallback"], "the shared position did not resume"
    starts = [c["first"] for c in shared]
    if platform.engine == "asterisk":
        # nothing was written for the fallback calls: the shared counts go on 0, 1, 2, 3, ...
        assert starts == [i % 3 for i in range(len(shared))], calls
        assert platform.dials() == len(shared)
    else:
        # a background query caught by the outage may still count its dial when the database
        # is back (docs/deploy.md): the rotation goes on, possibly one phone further
        assert starts[:2] == [0, 1] and platform.dials() >= len(shared), calls
