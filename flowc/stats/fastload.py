"""DuckDB's own JSON reader for whole files of canonical records: the same rows as ingest.rows_of, vectorised.

Used by `flowc stats ingest` on a DuckDB database for a file whose every line is a valid
canonical record (checked first, in SQL); any other file goes line by line through
ingest.rows_of, which reports each malformed line with its number. tests/test_stats.py
checks that both paths give the same reports.
"""

from __future__ import annotations

from .db import TABLES, Store

__all__ = ["fast_load"]

_START = r"^(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)(Z|[+-]\d{2}:?\d{2})?$"


# The record's fields as DuckDB's JSON reader types them: a line that does not fit (not an
# object, a number that is text, a dial that is not an object) fails the whole read.
_COLUMNS = {
    "record": "VARCHAR", "v": "UBIGINT", "source": "VARCHAR", "call_id": "VARCHAR", "flow": "VARCHAR",
    "number": "VARCHAR", "caller_raw": "VARCHAR", "caller": "VARCHAR", "caller_kind": "VARCHAR",
    "province": "VARCHAR", "city": "VARCHAR", "start": "VARCHAR", "duration": "DOUBLE", "steps": "VARCHAR[]",
    "keys": "STRUCT(t DOUBLE, step VARCHAR, key VARCHAR, result VARCHAR)[]",
    "dials": "STRUCT(t DOUBLE, step VARCHAR, phone VARCHAR, outcome VARCHAR, ring DOUBLE)[]",
    "answered_by": "VARCHAR", "answer_t": "DOUBLE", "talk": "DOUBLE",
    "queues": 'STRUCT(step VARCHAR, "group" VARCHAR, enter DOUBLE, "leave" DOUBLE, wait DOUBLE, reason VARCHAR)[]',
    "voicemail": "VARCHAR", "survey": "VARCHAR", "recording": "VARCHAR", "tags": "MAP(VARCHAR, VARCHAR)",
    "hangup_by": "VARCHAR",
}
_FIELDS = ", ".join(f"'{k}': '{v}'" for k, v in _COLUMNS.items())

# What rows_of refuses that the typed read lets through.
_INVALID = f"""
    record IS DISTINCT FROM 'flowc-call' OR v IS DISTINCT FROM 1 OR source IS NULL OR call_id IS NULL
    OR NOT regexp_matches(coalesce(start, ''), '{_START}')
"""

_CALLS = f"""
WITH b AS (
  SELECT *,
    CASE WHEN length(start) = 29 AND start[24] IN ('+', '-') THEN start[1:23]
         ELSE regexp_extract(start, '{_START}', 1) END AS local_part,
    CASE WHEN length(start) = 29 AND start[24] IN ('+', '-') THEN start[24:29]
         ELSE regexp_extract(start, '{_START}', 4) END AS zone,
    answered_by IS NOT NULL AS answered, coalesce(len(queues), 0) > 0 AS queued,
    coalesce(steps, []) AS steps_,
    least(list_min([d.t FOR d IN coalesce(dials, [])]), list_min([q.enter FOR q IN coalesce(queues, [])])) AS first_ring
  FROM stage_json
)
SELECT id, source, call_id, flow, number, caller_raw, caller, caller_kind, province, city,
  CAST(replace(local_part, 'T', ' ') AS TIMESTAMP),
  CASE WHEN zone = '' THEN NULL WHEN zone = 'Z' THEN 0
       ELSE (CASE WHEN zone[1] = '-' THEN -1 ELSE 1 END)
            * (CAST(zone[2:3] AS INTEGER) * 60 + CAST(right(zone, 2) AS INTEGER)) END,
  duration, answered, answered_by, answer_t, first_ring,
  CASE WHEN first_ring IS NULL THEN NULL
       ELSE round((CASE WHEN answered AND answer_t IS NOT NULL THEN answer_t ELSE duration END) - first_ring, 3) END,
  talk, queued, queues[1]."group", queues[1].wait, queues[1].reason,
  voicemail, survey, CASE WHEN regexp_full_match(coalesce(survey, ''), '[0-9]') THEN CAST(survey AS INTEGER) END,
  recording, hangup_by,
  CASE WHEN len(steps_) > 0 THEN steps_[len(steps_)] END,
  CASE WHEN hangup_by = 'caller' AND NOT answered THEN
    CASE WHEN queued AND queues[len(queues)].reason = 'caller_hangup' THEN 'queue'
         WHEN list_contains([d.outcome FOR d IN coalesce(dials, [])], 'cancelled') THEN 'ringing'
         WHEN voicemail IS NULL THEN 'menu' END END,
  array_to_string(steps_, ' > ')
FROM b
"""


def _elements(name: str, fields: str) -> str:
    return f"""
SELECT id, i - 1, {fields} FROM (SELECT id, {name} AS xs FROM stage_json WHERE len({name}) > 0)
CROSS JOIN LATERAL (SELECT unnest(range(1, len(xs) + 1)) AS i)
"""


# first_visit / first_press: the first time the call entered that step / chose that key there
_STEPS = _elements("steps", "xs[i], i = len(xs), list_position(xs, xs[i]) = i")
_KEYS = _elements("keys", "xs[i].step, xs[i].key, xs[i].result, "
                  "list_position([struct_pack(s := k.step, k := k.key) FOR k IN xs], "
                  "struct_pack(s := xs[i].step, k := xs[i].key)) = i")
_DIALS = _elements("dials", "xs[i].step, xs[i].phone, xs[i].outcome, xs[i].ring")
_TAGS = """
SELECT id, e.key, e.value FROM (SELECT id, unnest(map_entries(tags)) AS e FROM stage_json WHERE cardinality(tags) > 0)
"""


def fast_load(store: Store, path: str) -> tuple[int, int] | None:
    """Load one file of canonical records in SQL: (records, new calls), or None when some
    line is not such a record (the caller then reads it line by line)."""
    import duckdb

    conn = store.conn
    lit = path.replace("'", "''")
    conn.execute("BEGIN TRANSACTION")
    try:
        try:
            conn.execute(
                "CREATE OR REPLACE TEMPORARY TABLE stage_read AS SELECT row_number() OVER () AS n, * FROM "
                f"read_json('{lit}', format='newline_delimited', columns={{{_FIELDS}}})")
        except duckdb.Error:  # a line that is not a record of this shape
            conn.execute("ROLLBACK")
            return None
        records, bad = conn.execute(f"SELECT count(*), count(*) FILTER (WHERE {_INVALID}) FROM stage_read").fetchone()
        if bad:
            conn.execute("ROLLBACK")
            return None
        (dupes,) = conn.execute("SELECT count(*) - count(DISTINCT hash(source, call_id)) FROM stage_read").fetchone()
        if dupes:  # the same call twice in one file: keep its first record (rare; hash collisions land here too)
            conn.execute("CREATE OR REPLACE TEMPORARY TABLE stage_json AS SELECT * EXCLUDE (n) FROM stage_read "
                         "QUALIFY row_number() OVER (PARTITION BY source, call_id ORDER BY n) = 1")
            conn.execute("DROP TABLE stage_read")
        else:
            conn.execute("ALTER TABLE stage_read RENAME TO stage_json")
        conn.execute("DELETE FROM stage_json WHERE EXISTS (SELECT 1 FROM calls c WHERE c.source = stage_json.source "
                     "AND c.call_id = stage_json.call_id)")
        (new,) = conn.execute("SELECT count(*) FROM stage_json").fetchone()
        conn.execute("CREATE OR REPLACE TEMPORARY TABLE stage_json AS SELECT (SELECT coalesce(max(id), 0) FROM calls) "
                     "+ row_number() OVER () AS id, * FROM stage_json")
        for table, sql in (("calls", _CALLS), ("call_steps", _STEPS), ("call_keys", _KEYS), ("call_dials", _DIALS),
                           ("call_tags", _TAGS)):
            conn.execute(f"INSERT INTO {table} ({', '.join(TABLES[table])}) {sql}")
        conn.execute("DROP TABLE stage_json")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return int(records), int(new)
