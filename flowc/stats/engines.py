"""Engine call records (Asterisk cdr_custom, FreeSWITCH mod_cdr_csv) -> the canonical call record."""

from __future__ import annotations

from typing import Any

__all__ = ["canonical"]


def canonical(rec: dict[str, Any]) -> dict[str, Any]:
    """The canonical record (docs/stats.md) of one engine record."""
    from .ingest import BadRecord

    raise BadRecord(f"not a flowc call record (record: {rec.get('record')!r})")
