"""Call statistics: the call record (docs/stats.md), its ingest into DuckDB or PostgreSQL, and reports.

Nothing here is imported by the compiler or the interpreter's call path: `flowc stats`,
`flowc run --cdr` and `flowc test --cdr` import it on demand.
"""

RECORD_VERSION = 1
