"""The statistics database: DuckDB (a file) or PostgreSQL (psycopg 3), one schema, versioned migrations."""

from __future__ import annotations

import os
from typing import Any, Iterable, Sequence

__all__ = ["DEFAULT_DB", "MIGRATIONS", "STAGE", "Store", "StoreError", "open_store", "TABLES"]

DEFAULT_DB = "flowc-stats.duckdb"

# The tables a record becomes (docs/stats.md "Schema"), columns in load order. `id` is a
# number given at ingest (joins on it are several times faster than on source + call_id).
TABLES: dict[str, tuple[str, ...]] = {
    "calls": ("id", "source", "call_id", "flow", "number", "caller_raw", "caller", "caller_kind", "province", "city",
              "start_local", "utc_offset", "duration", "answered", "answered_by", "answer_t", "first_ring_t",
              "ring_wait", "talk", "queued", "queue_group", "queue_wait", "queue_reason", "voicemail", "survey",
              "survey_score", "recording", "hangup_by", "last_step", "abandoned_in", "path"),
    "call_steps": ("id", "seq", "step", "is_last", "first_visit"),
    "call_keys": ("id", "seq", "step", "key", "result", "first_press"),
    "call_dials": ("id", "seq", "step", "phone", "outcome", "ring"),
    "call_tags": ("id", "key", "value"),
}
# The rows ingest.rows_of makes: a child row names its call by (source, call_id) until the
# call has its id.
STAGE: dict[str, tuple[str, ...]] = {t: ("source", "call_id", *cols[1:]) if t != "calls" else cols[1:]
                                     for t, cols in TABLES.items()}

# Versioned migrations: (version, statements). Append, never edit a released one.
MIGRATIONS: list[tuple[int, list[str | tuple[str, str]]]] = [
    (1, [
        """CREATE TABLE calls (
            id BIGINT NOT NULL,
            source VARCHAR NOT NULL, call_id VARCHAR NOT NULL, flow VARCHAR, number VARCHAR,
            caller_raw VARCHAR, caller VARCHAR, caller_kind VARCHAR, province VARCHAR, city VARCHAR,
            start_local TIMESTAMP NOT NULL, utc_offset INTEGER, duration DOUBLE PRECISION,
            answered BOOLEAN NOT NULL, answered_by VARCHAR, answer_t DOUBLE PRECISION,
            first_ring_t DOUBLE PRECISION, ring_wait DOUBLE PRECISION, talk DOUBLE PRECISION,
            queued BOOLEAN NOT NULL, queue_group VARCHAR, queue_wait DOUBLE PRECISION, queue_reason VARCHAR,
            voicemail VARCHAR, survey VARCHAR, survey_score INTEGER, recording VARCHAR,
            hangup_by VARCHAR, last_step VARCHAR, abandoned_in VARCHAR, path VARCHAR,
            PRIMARY KEY (source, call_id))""",
        """CREATE TABLE call_steps (id BIGINT NOT NULL, seq INTEGER NOT NULL, step VARCHAR NOT NULL,
            is_last BOOLEAN NOT NULL, first_visit BOOLEAN NOT NULL)""",
        """CREATE TABLE call_keys (id BIGINT NOT NULL, seq INTEGER NOT NULL, step VARCHAR, key VARCHAR,
            result VARCHAR, first_press BOOLEAN NOT NULL)""",
        """CREATE TABLE call_dials (id BIGINT NOT NULL, seq INTEGER NOT NULL, step VARCHAR, phone VARCHAR,
            outcome VARCHAR, ring DOUBLE PRECISION)""",
        """CREATE TABLE call_tags (id BIGINT NOT NULL, key VARCHAR NOT NULL, value VARCHAR)""",
        ("postgresql", "CREATE INDEX calls_start ON calls (start_local)"),  # DuckDB's zone maps do this
        ("postgresql", "CREATE INDEX call_steps_id ON call_steps (id)"),
        ("postgresql", "CREATE INDEX call_keys_id ON call_keys (id)"),
        ("postgresql", "CREATE INDEX call_dials_id ON call_dials (id)"),
        ("postgresql", "CREATE INDEX call_tags_id ON call_tags (id)"),
        ("postgresql", "CREATE UNIQUE INDEX calls_id ON calls (id)"),
    ]),
]

_TYPES = {"start_local": "TIMESTAMP", "utc_offset": "INTEGER", "seq": "INTEGER", "survey_score": "INTEGER",
          "answered": "BOOLEAN", "queued": "BOOLEAN", "is_last": "BOOLEAN", "first_visit": "BOOLEAN",
          "first_press": "BOOLEAN", "id": "BIGINT"}
_DOUBLES = {"duration", "answer_t", "first_ring_t", "ring_wait", "talk", "queue_wait", "ring"}


def column_type(name: str) -> str:
    return _TYPES.get(name) or ("DOUBLE PRECISION" if name in _DOUBLES else "VARCHAR")


class StoreError(Exception):
    """The database cannot be opened or used; the message says why, for people."""


class Store:
    """One open statistics database. SQL uses `%s` placeholders on both kinds."""

    def __init__(self, kind: str, conn: Any, where: str):
        self.kind = kind
        self.conn = conn
        self.where = where

    # --------------------------------------------------------------- SQL
    def _sql(self, sql: str) -> str:
        return sql.replace("%s", "?") if self.kind == "duckdb" else sql

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        if self.kind == "duckdb":
            self.conn.execute(self._sql(sql), list(params))
        else:
            with self.conn.cursor() as cur:
                cur.execute(sql, params)

    def query(self, sql: str, params: Sequence[Any] = ()) -> tuple[list[str], list[tuple]]:
        if self.kind == "duckdb":
            cur = self.conn.execute(self._sql(sql), list(params))
            cols = [d[0] for d in cur.description]
            return cols, [tuple(r) for r in cur.fetchall()]
        with self.conn.cursor() as cur:
            cur.execute(sql, params)
            cols = [d.name for d in cur.description]
            return cols, [tuple(r) for r in cur.fetchall()]

    def commit(self) -> None:
        if self.kind == "postgresql":
            self.conn.commit()

    def close(self) -> None:
        self.conn.close()

    # --------------------------------------------------------------- schema
    def version(self) -> int:
        self.execute("CREATE TABLE IF NOT EXISTS flowc_stats_migrations (version INTEGER PRIMARY KEY, "
                     "applied_at VARCHAR NOT NULL)")
        _, rows = self.query("SELECT max(version) FROM flowc_stats_migrations")
        return int(rows[0][0] or 0)

    def migrate(self) -> list[int]:
        """Apply the migrations this database lacks, each in one transaction."""
        from datetime import datetime, timezone

        done = []
        current = self.version()
        self.commit()
        for version, statements in MIGRATIONS:
            if version <= current:
                continue
            if self.kind == "duckdb":
                self.conn.execute("BEGIN TRANSACTION")
            for stmt in statements:
                if isinstance(stmt, tuple):  # (kind, statement): an index only one kind needs
                    if stmt[0] != self.kind:
                        continue
                    stmt = stmt[1]
                self.execute(stmt)
            self.execute("INSERT INTO flowc_stats_migrations VALUES (%s, %s)",
                         (version, datetime.now(timezone.utc).isoformat(timespec="seconds")))
            if self.kind == "duckdb":
                self.conn.execute("COMMIT")
            self.commit()
            done.append(version)
        return done

    # --------------------------------------------------------------- bulk load
    def load(self, batch: dict[str, list[tuple]]) -> int:
        """Insert one batch of rows ({table: rows}); calls already in the database (same
        source and call_id) are dropped with their steps, keys, dials and tags, so loading
        the same records twice adds nothing. Returns the number of new calls."""
        if not batch.get("calls"):
            return 0
        if self.kind == "duckdb":
            return self._load_duckdb(batch)
        return self._load_pg(batch)

    def _stage_names(self) -> Iterable[tuple[str, str]]:
        return ((t, f"stage_{t}") for t in TABLES)

    def _finish_load(self) -> int:
        self.execute("DELETE FROM stage_calls WHERE EXISTS (SELECT 1 FROM calls c WHERE c.source = stage_calls.source "
                     "AND c.call_id = stage_calls.call_id)")
        _, rows = self.query("SELECT count(*) FROM stage_calls")
        new = int(rows[0][0])
        self.execute("CREATE TEMPORARY TABLE stage_ids AS SELECT s.source, s.call_id, "
                     "(SELECT coalesce(max(id), 0) FROM calls) + row_number() OVER () AS id FROM stage_calls s")
        cols = ", ".join(TABLES["calls"][1:])
        self.execute(f"INSERT INTO calls (id, {cols}) SELECT i.id, {', '.join('s.' + c for c in TABLES['calls'][1:])} "
                     "FROM stage_calls s JOIN stage_ids i ON i.source = s.source AND i.call_id = s.call_id")
        for table, stage in self._stage_names():
            if table == "calls":
                continue
            cols = TABLES[table][1:]
            self.execute(f"INSERT INTO {table} (id, {', '.join(cols)}) SELECT i.id, {', '.join('s.' + c for c in cols)} "
                         f"FROM {stage} s JOIN stage_ids i ON i.source = s.source AND i.call_id = s.call_id")
        for _table, stage in self._stage_names():
            self.execute(f"DROP TABLE {stage}")
        self.execute("DROP TABLE stage_ids")
        return new

    def _create_stages(self) -> None:
        if self.kind == "postgresql":  # one writer at a time gives ids (ingests may run side by side)
            self.execute("LOCK TABLE calls IN SHARE ROW EXCLUSIVE MODE")
        for table, stage in self._stage_names():
            cols = ", ".join(f"{c} {column_type(c)}" for c in STAGE[table])
            self.execute(f"CREATE TEMPORARY TABLE {stage} ({cols})")

    def _load_duckdb(self, batch: dict[str, list[tuple]]) -> int:
        import csv
        import tempfile

        self.conn.execute("BEGIN TRANSACTION")
        try:
            self._create_stages()
            with tempfile.TemporaryDirectory(prefix="flowc-stats-") as tmp:
                for table, stage in self._stage_names():
                    rows = batch.get(table) or []
                    if not rows:
                        continue
                    path = os.path.join(tmp, f"{table}.csv")
                    with open(path, "w", newline="", encoding="utf-8") as f:
                        csv.writer(f).writerows(rows)
                    columns = "{" + ", ".join(f"'{c}': '{column_type(c)}'" for c in STAGE[table]) + "}"
                    self.conn.execute(f"INSERT INTO {stage} SELECT * FROM read_csv('{path}', header=false, "
                                      f"columns={columns}, nullstr='\\N', quote='\"', escape='\"', "
                                      f"auto_detect=false)")
            new = self._finish_load()
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        return new

    def _load_pg(self, batch: dict[str, list[tuple]]) -> int:
        try:
            self._create_stages()
            with self.conn.cursor() as cur:
                for table, stage in self._stage_names():
                    rows = batch.get(table) or []
                    if not rows:
                        continue
                    with cur.copy(f"COPY {stage} ({', '.join(STAGE[table])}) FROM STDIN") as copy:
                        for row in rows:
                            copy.write_row([None if v == NULL else v for v in row])
            new = self._finish_load()
            self.conn.commit()
        except BaseException:
            self.conn.rollback()
            raise
        return new


NULL = "\\N"  # how a missing value travels in a batch (the CSV null string)


def open_store(db: str | None) -> Store:
    """`db`: a DuckDB file path (default flowc-stats.duckdb, or $FLOWC_STATS_DB) or a
    postgresql://... URL. The schema is brought up to date."""
    db = db or os.environ.get("FLOWC_STATS_DB") or DEFAULT_DB
    if db.startswith(("postgresql://", "postgres://")):
        try:
            import psycopg
        except ImportError:
            raise StoreError("PostgreSQL needs psycopg: pip install 'flowc[stats]'") from None
        try:
            conn = psycopg.connect(db)
        except psycopg.Error as exc:
            raise StoreError(f"cannot connect to {_redact(db)}: {str(exc).strip()}") from None
        store = Store("postgresql", conn, _redact(db))
    else:
        try:
            import duckdb
        except ImportError:
            raise StoreError("the statistics database needs duckdb: pip install 'flowc[stats]'") from None
        try:
            conn = duckdb.connect(db)
        except duckdb.Error as exc:
            raise StoreError(f"cannot open {db}: {exc}") from None
        store = Store("duckdb", conn, db)
    store.migrate()
    return store


def _redact(url: str) -> str:
    """A URL without its password, for messages."""
    import re

    return re.sub(r"(//[^:/@]+):[^@]*@", r"\1:***@", url)
