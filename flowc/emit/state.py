"""Shared cross-call state in PostgreSQL (S-STATE-1/2): the schema and the engine configuration.

With `state = "postgresql"` every server of a platform advances one round-robin position per
flow and group in the table `flowc_rr`, with one atomic statement (an INSERT that becomes an
UPDATE of the existing row: PostgreSQL takes the row lock, so two servers in the same instant
get consecutive values, never the same one). The row counts the dials of the group; the
dialplan takes the count modulo the number of phones, so editing the group needs no
migration. These texts depend only on the settings (Target.shared_outputs).
"""

from __future__ import annotations

SCHEMA_FILE = "flowc-state.sql"
FUNC_ODBC_FILE = "flowc-func_odbc.conf"
RES_ODBC_FILE = "flowc-res_odbc.conf"
LUA_FILE = "flowc-state.lua"
ODBC_INI_FILE = "flowc-odbc.ini"

# The one statement: the number of earlier dials of (flow, group), counting this one.
ADVANCE_SQL = ("INSERT INTO flowc_rr (flow, grp, dials) VALUES ('{flow}', '{group}', 1) "
               "ON CONFLICT (flow, grp) DO UPDATE SET dials = flowc_rr.dials + 1, changed = now() "
               "RETURNING dials - 1")

SCHEMA = """\
-- flowc shared state (docs/deploy.md "Several servers", docs/semantics.md S-STATE-1/2).
-- Run once in the state database: psql -d flowc -f flowc-state.sql
-- One row per flow and round_robin group: how many times the group was dialled on the whole
-- platform. A dial starts at phone (dials mod n) and adds one, in one atomic statement.
CREATE TABLE IF NOT EXISTS flowc_rr (
    flow    text        NOT NULL,
    grp     text        NOT NULL,
    dials   bigint      NOT NULL DEFAULT 0 CHECK (dials >= 0),
    changed timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (flow, grp)
);
-- The engines' login needs only these rights, e.g.:
--   CREATE ROLE flowc_engine LOGIN PASSWORD '...';
--   GRANT SELECT, INSERT, UPDATE ON flowc_rr TO flowc_engine;
"""


def schema_text() -> str:
    return SCHEMA


def func_odbc_text(dsn: str) -> str:
    """func_odbc.conf section: ${FLOWC_RR(flow,group)} advances and returns the dial count
    before this dial, or "" when the database cannot be reached (res_odbc logs why)."""
    sql = ADVANCE_SQL.format(flow="${SQL_ESC(${ARG1})}", group="${SQL_ESC(${ARG2})}")
    return f"""\
; flowc shared state (S-STATE-1/2, docs/deploy.md "Several servers"): #include this file
; from func_odbc.conf. ${{FLOWC_RR(<flow>,<group>)}} adds one dial to the group's row of
; flowc_rr (flowc-state.sql) and returns the count before it; "" when `{dsn}` is unreachable,
; and the dialplan then uses this server's AstDB position (S-STATE-2).
[RR]
prefix = FLOWC
dsn = {dsn}
synopsis = flowc round-robin: advance the shared position of (flow, group) atomically
readsql = {sql}
"""


def res_odbc_text(dsn: str) -> str:
    """res_odbc.conf section of the state database, with the bounds that keep a call from
    waiting on an unreachable database (S-STATE-2)."""
    return f"""\
; flowc shared state (S-STATE-2, docs/deploy.md "Several servers"): #include this file from
; res_odbc.conf, or copy the section. `dsn` names the unixODBC DSN in odbc.ini (PostgreSQL
; Unicode driver, odbc-postgresql); set username/password here or there.
[{dsn}]
enabled => yes
dsn => {dsn}
pre-connect => yes
max_connections => 20
; a refused connection fails at once; a silent network fails after this many seconds (the
; smallest value res_odbc takes), and the negative cache then fails the next calls at once
connect_timeout => 1
; after a failed connect, calls use the local position for 1 s before the next attempt, so
; the shared position resumes within about a second of the database coming back
negative_connection_cache => 1
sanitysql => select 1
"""


def odbc_ini_text(dsn: str) -> str:
    """The unixODBC DSN (odbc.ini) with the bounds of S-STATE-2: a call never waits long
    on a database that stopped answering."""
    return f"""\
; flowc shared state (S-STATE-1/2, docs/deploy.md "Several servers"): append to /etc/odbc.ini
; on every server and fill in the database server, database and login.
[{dsn}]
Driver = PostgreSQL Unicode
Servername = localhost
Port = 5432
Database = flowc
Username = flowc_engine
Password =
; libpq option: cancel a statement that waits more than 150 ms (a lock), so a call never
; waits on it; the connect bound is res_odbc's connect_timeout / the Lua script's 200 ms wait
Pqopt = options='-c statement_timeout=150'
"""


def lua_text(dsn: str) -> str:
    """FreeSWITCH: the script the dialplan runs (`lua flowc-state.lua <flow> <group> <n>`),
    which sets flowc_first. mod_lua's freeswitch.Dbh runs the statement on the core ODBC
    layer in a background thread (`luarun`), because that layer retries an unreachable
    database for up to two minutes; the call waits at most 200 ms for the answer and else
    uses this server's mod_db position (S-STATE-2)."""
    sql = ADVANCE_SQL.format(flow='" .. q(flow) .. "', group='" .. q(group) .. "')
    return f"""\
-- flowc shared state (S-STATE-1/2, docs/deploy.md "Several servers"): copy to FreeSWITCH's
-- script_dir (or set freeswitch.state_script to where it is). Generated by flowc.
-- Dialplan:  lua flowc-state.lua <flow> <group> <n>  sets flowc_first (0..n-1): the group's
-- shared dial count mod n from the database `{dsn}`, or, when it does not answer within
-- 200 ms, this server's mod_db position (realm flowc_rr), with a WARNING.
-- Background half:  luarun flowc-state.lua query <uuid> <flow> <group>
local function q(s) return (string.gsub(s, "'", "''")) end
local api = freeswitch.API()

if argv[1] == "query" then
  local uuid, flow, group = argv[2], argv[3], argv[4]
  local result = ""
  local dbh = freeswitch.Dbh("odbc://{dsn}")
  if dbh:connected() then
    dbh:query("{sql} AS n", function(row) result = row.n end)
    dbh:release()
  end
  api:execute("uuid_setvar", uuid .. " flowc_rr_answer " .. (result ~= "" and result or "down"))
  return
end

local flow, group, n = argv[1], argv[2], tonumber(argv[3])
local uuid = session:get_uuid()
session:setVariable("flowc_rr_answer", "")
api:execute("luarun", argv[0] .. " query " .. uuid .. " " .. flow .. " " .. group)
local answer = ""
-- wait for the answer at most 200 ms by the clock, polling every millisecond
-- (session:sleep would round each wait up to a whole 20 ms frame)
-- (`uptime us`: the monotonic clock; strmicroepoch may advance in 20 ms steps)
local deadline = tonumber(api:execute("uptime", "us")) + 200000
repeat
  answer = session:getVariable("flowc_rr_answer") or ""
  if answer ~= "" then break end
  freeswitch.msleep(1)
until tonumber(api:execute("uptime", "us")) >= deadline
if string.match(answer, "^[0-9]+$") then
  session:setVariable("flowc_first", tostring(math.tointeger(tonumber(answer) % n)))
  return
end
local key = "flowc_rr/" .. flow .. "\\\\/" .. group  -- mod_db key <flow>/<group>, as in local state
local first = (tonumber(string.match(api:execute("db", "select/" .. key) or "", "^[0-9]+")) or 0) % n
api:execute("db", "insert/" .. key .. "/" .. ((first + 1) % n))
session:setVariable("flowc_first", tostring(math.tointeger(first)))
freeswitch.consoleLog("WARNING", "flowc shared state unreachable (`{dsn}`" ..
  (answer == "" and ", no answer in 200 ms" or "") .. "): round_robin " .. flow .. "/" .. group ..
  " starts at this server's mod_db position (S-STATE-2)\\n")
"""
