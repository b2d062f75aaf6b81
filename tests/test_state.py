"""Issue 14: shared state in PostgreSQL (S-STATE-1..3): the `state` setting, what each target
generates for it, the interpreter's platform model, and the generated SQL against a real
PostgreSQL (a throwaway cluster, tests/pgcluster.py; skipped where PostgreSQL is absent)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from flowc.emit import state
from flowc.settings import SettingsError, load_settings

HERE = Path(__file__).resolve().parent
RR_FLOW = HERE / "state" / "rr.flow"
PG = {"asterisk.state": "postgresql", "asterisk.state_dsn": "flowc",
      "freeswitch.state": "postgresql", "freeswitch.state_dsn": "flowc"}


# ====================================================================== settings


def test_state_defaults_to_local():
    s = load_settings(cwd=HERE / "state")
    assert (s.asterisk.state, s.asterisk.state_dsn) == ("local", "")
    assert s.freeswitch.state == "local"


@pytest.mark.parametrize("overrides, message", [
    ({"asterisk.state": "postgresql"}, 'asterisk: state = "postgresql" needs state_dsn'),
    ({"freeswitch.state": "redis"}, "freeswitch.state"),
    ({"asterisk.state_dsn": "flowc"}, "asterisk: state_dsn is only used with state = \"postgresql\""),
    ({"asterisk.state": "postgresql", "asterisk.state_dsn": "flowc;drop"}, "must be a DSN name"),
    ({"freeswitch.state": "postgresql", "freeswitch.state_dsn": "a b"}, "must be a DSN name"),
    ({"freeswitch.state_script": "../x.lua"}, "may only contain"),
])
def test_bad_state_settings_are_named(overrides, message):
    with pytest.raises(SettingsError, match=re.escape(message)):
        load_settings(overrides=overrides, cwd=HERE / "state")


# ====================================================================== generated code


def _compile(target: str, overrides: dict) -> dict[str, str]:
    from flowc.emit import get_target
    from flowc.interp import load_flow

    settings = load_settings(overrides=overrides, cwd=HERE / "state")
    t = get_target(target, settings)
    flow = load_flow(RR_FLOW)
    return {**t.render(flow), **t.shared_outputs()}


def test_asterisk_local_state_is_astdb_only():
    out = _compile("asterisk", {})
    assert "FLOWC_RR" not in out["rr_shared.conf"]
    assert "Set(DB(flowc_rr/rr_shared/desk)=" in out["rr_shared.conf"]
    assert not {state.SCHEMA_FILE, state.FUNC_ODBC_FILE, state.RES_ODBC_FILE} & set(out)


def test_asterisk_postgresql_state():
    out = _compile("asterisk", PG)
    conf = out["rr_shared.conf"]
    assert "Set(FLOWC_RRS=${FILTER(0-9,${FLOWC_RR(rr_shared,desk)})})" in conf
    # the fallback: a WARNING, and this server's AstDB position, moved only then (S-STATE-2)
    assert 'ExecIf($["${FLOWC_RRS}" = ""]?Log(WARNING,flowc shared state unreachable' in conf
    assert '${IF($["${FLOWC_RRS}" = ""]?${DB(flowc_rr/rr_shared/desk)}:${FLOWC_RRS})}' in conf
    assert 'ExecIf($["${FLOWC_RRS}" = ""]?Set(DB(flowc_rr/rr_shared/desk)=$[(${FLOWC_START} + 1) % 3]))' in conf
    func = out[state.FUNC_ODBC_FILE]
    assert "[RR]\nprefix = FLOWC\ndsn = flowc\n" in func
    assert "readsql = INSERT INTO flowc_rr (flow, grp, dials) VALUES ('${SQL_ESC(${ARG1})}', " \
           "'${SQL_ESC(${ARG2})}', 1) ON CONFLICT (flow, grp) DO UPDATE SET dials = flowc_rr.dials + 1" in func
    res = out[state.RES_ODBC_FILE]
    for line in ("[flowc]", "connect_timeout => 1", "negative_connection_cache => 1"):
        assert line in res
    assert "[flowc]\nDriver = PostgreSQL Unicode\n" in out[state.ODBC_INI_FILE]
    assert "CREATE TABLE IF NOT EXISTS flowc_rr" in out[state.SCHEMA_FILE]


def test_freeswitch_postgresql_state():
    local = _compile("freeswitch", {})
    assert "lua" not in local["rr_shared.xml"] and state.LUA_FILE not in local
    out = _compile("freeswitch", {**PG, "freeswitch.state_script": "/etc/freeswitch/scripts/flowc-state.lua"})
    xml = out["rr_shared.xml"]
    assert '<action application="lua" data="/etc/freeswitch/scripts/flowc-state.lua rr_shared desk 3"/>' in xml
    assert "db(select/flowc_rr" not in xml  # the script keeps the local position itself
    lua = out[state.LUA_FILE]
    assert 'freeswitch.Dbh("odbc://flowc")' in lua
    assert "+ 200000" in lua and "freeswitch.msleep(1)" in lua  # at most 200 ms by the clock
    assert 'freeswitch.consoleLog("WARNING", "flowc shared state unreachable' in lua


def test_output_is_byte_identical():
    assert _compile("asterisk", PG) == _compile("asterisk", PG)
    assert _compile("freeswitch", PG) == _compile("freeswitch", PG)


# ====================================================================== interpreter


def test_state_scenarios_pass():
    from flowc.interp.runner import run_scenario_file

    report = run_scenario_file(HERE / "state" / "rr.scenarios.yaml")
    assert not report.diagnostics, report.diagnostics
    assert [r.passed for r in report.results] == [True, True, True], [r.report() for r in report.results]


def _firsts(**world) -> list[str]:
    from flowc.interp import Session

    session = Session(RR_FLOW)
    calls = world.pop("calls")
    out = []
    for extra in calls:
        trace = session.call(default_phone="answer:after=1:talk=2", **world, **extra)
        dial = next(e for e in trace.events if e.kind == "dial")
        out.append((dial.data["phones"][0][-1], dial.data.get("state")))
    return out


def test_interpreter_platform_model():
    servers = [{"server": s} for s in "abab"]
    assert _firsts(calls=servers) == [("1", None), ("1", None), ("2", None), ("2", None)]
    assert _firsts(state="postgresql", calls=servers) == [("1", "shared"), ("2", "shared"), ("3", "shared"),
                                                          ("1", "shared")]
    down = [{"server": "a"}, {"server": "a", "state_down": True}, {"server": "b", "state_down": True},
            {"server": "a", "state_down": True}, {"server": "b"}]
    assert _firsts(state="postgresql", calls=down) == [("1", "shared"), ("1", "fallback"), ("1", "fallback"),
                                                       ("2", "fallback"), ("2", "shared")]


@pytest.mark.parametrize("key, value, message", [
    ("state", "mysql", "state: expected local or postgresql"),
    ("state_down", "yes", "state_down: expected true or false"),
    ("server", "", "server: expected a server name"),
])
def test_bad_world_platform_values(key, value, message):
    from flowc.interp.world import World, WorldError

    with pytest.raises(WorldError, match=re.escape(message)):
        World.build(**{key: value})


# ====================================================================== real PostgreSQL


def _pg_skip() -> str | None:
    try:
        from pgcluster import skip_reason
    except ImportError:
        return "tests/pgcluster.py is missing"
    return skip_reason()


@pytest.fixture(scope="module")
def pg():
    reason = _pg_skip()
    if reason:
        pytest.skip(reason)
    from pgcluster import PgCluster

    with PgCluster() as cluster:
        url = cluster.reset("flowc_state")
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(state.schema_text())
        cluster.state_url = url
        yield cluster


def _advance_sql(flow: str, group: str) -> str:
    """The statement func_odbc runs: the generated readsql with SQL_ESC applied to the arguments."""
    readsql = re.search(r"^readsql = (.*)$", state.func_odbc_text("flowc"), re.M).group(1)
    esc = lambda v: v.replace("'", "''")  # noqa: E731 (what Asterisk's SQL_ESC does)
    return readsql.replace("${SQL_ESC(${ARG1})}", esc(flow)).replace("${SQL_ESC(${ARG2})}", esc(group))


def test_concurrent_advances_never_share_a_start(pg):
    """32 threads x 40 calls on their own connections, as 32 servers taking calls in the same
    instants: every returned count is different and together they are 0..1279."""
    import psycopg

    sql = _advance_sql("rr_shared", "desk")
    got: list[int] = []
    lock = threading.Lock()
    barrier = threading.Barrier(32)

    def server():
        with psycopg.connect(pg.state_url, autocommit=True) as conn:
            barrier.wait()
            mine = [conn.execute(sql).fetchone()[0] for _ in range(40)]
        with lock:
            got.extend(mine)

    threads = [threading.Thread(target=server) for _ in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(got) == list(range(32 * 40))
    # so the starts mod 3 are as even as they can be: each phone first 426 or 427 times
    assert sorted(sum(1 for g in got if g % 3 == k) for k in range(3)) == [426, 427, 427]


def test_groups_and_quotes_are_separate_rows(pg):
    import psycopg

    with psycopg.connect(pg.state_url, autocommit=True) as conn:
        assert conn.execute(_advance_sql("f'1", "g")).fetchone()[0] == 0
        assert conn.execute(_advance_sql("f'1", "g")).fetchone()[0] == 1
        assert conn.execute(_advance_sql("f'1", "h")).fetchone()[0] == 0
        assert conn.execute(_advance_sql("店铺", "前台")).fetchone()[0] == 0
        rows = conn.execute("SELECT flow, grp, dials FROM flowc_rr WHERE flow <> 'rr_shared' ORDER BY 1, 2").fetchall()
    assert rows == [("f'1", "g", 2), ("f'1", "h", 1), ("店铺", "前台", 1)]


def _odbc_skip() -> str | None:
    if shutil.which("isql") is None:
        return "unixODBC's isql is not installed (apt-get install unixodbc; .ci/run does)"
    listed = subprocess.run(["odbcinst", "-q", "-d"], capture_output=True, text=True).stdout
    if "PostgreSQL Unicode" not in listed:
        return "the PostgreSQL ODBC driver is not installed (apt-get install odbc-postgresql; .ci/run does)"
    return None


def test_the_statement_through_psqlodbc(pg, tmp_path):
    """The engines run the statement through unixODBC and psqlodbc: 4 isql clients at once,
    25 statements each, still give 100 different counts."""
    reason = _odbc_skip()
    if reason:
        pytest.skip(reason)
    ini = tmp_path / "odbc.ini"
    ini.write_text(odbc_ini("flowc", pg.port, "flowc_state"))
    env = {**os.environ, "ODBCINI": str(ini)}
    sql = _advance_sql("odbc", "desk")
    procs = [subprocess.Popen(["isql", "-b", "-d,", "-x0x09", "flowc", "postgres"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for _ in range(4)]
    outs = [p.communicate(input=(sql + "\n") * 25, timeout=60) for p in procs]
    got = sorted(int(line) for out, _err in outs for line in out.split() if line.isdigit())
    assert got == list(range(100)), outs


def odbc_ini(dsn: str, port: int, database: str) -> str:
    """odbc.ini of the tests: the generated flowc-odbc.ini (with its timeouts), pointed at the
    throwaway cluster."""
    text = state.odbc_ini_text(dsn)
    for key, value in (("Servername", "127.0.0.1"), ("Port", str(port)), ("Database", database),
                       ("Username", "postgres")):
        text, n = re.subn(rf"^{key} = .*$", f"{key} = {value}", text, flags=re.M)
        assert n == 1, key
    return text


def test_odbc_ini_bounds(pg, tmp_path):
    """The generated DSN's libpq options reach the server: a statement waiting longer than
    150 ms is cancelled (so a lock never holds a call)."""
    reason = _odbc_skip()
    if reason:
        pytest.skip(reason)
    assert "Pqopt = options='-c statement_timeout=150'" in \
        state.odbc_ini_text("flowc")
    ini = tmp_path / "odbc.ini"
    ini.write_text(odbc_ini("flowc", pg.port, "flowc_state"))
    run = subprocess.run(["isql", "-b", "-v", "-d,", "-x0x09", "flowc", "postgres"],
                         input="SHOW statement_timeout\nSELECT pg_sleep(1)\n", capture_output=True, text=True,
                         timeout=60, env={**os.environ, "ODBCINI": str(ini)})
    assert "150ms" in run.stdout
    assert "statement timeout" in run.stdout + run.stderr, (run.stdout, run.stderr)
