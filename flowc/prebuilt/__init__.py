"""Artifacts shipped inside the package so that a fresh machine (empty per-user cache)
starts as fast as a warm one: the LALR parser built from grammar/flow.lark, the
mobile-prefix data in the shared-subtree form `regions._mobile_trie` walks, and each
target's templates as the Python code Jinja compiles them to.

Each file in this folder is

    b"flowc-prebuilt 1\\n" + KEY + b"\\n" + zlib(payload)

where KEY names every input the payload was derived from (content hashes, library
versions, a format number). A loader passes the key it would build today: a file with
any other key, or any trouble reading it, is simply not used, and the caller computes the
value (and remembers it in the per-user cache folder, in the same format).

This module is a leaf: it knows the container and where the files are, nothing of what
they hold. Each owner says what it ships (`parser.prebuilt_artifacts()`,
`regions.prebuilt_artifacts()`, `emit.prebuilt_artifacts()`: name -> (key, build, same))
and loads its own with `shipped()`/`obtain()`; tools/prebuild.py enumerates the owners.
Regenerate after changing the grammar, the region data or the derivations:

    python tools/prebuild.py            # rewrites what is stale
    python tools/prebuild.py --check    # exit 1 if something is stale

tests/test_prebuilt.py fails while a shipped artifact is stale.
"""

from __future__ import annotations

import hashlib
import os
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

PREBUILT_DIR = Path(__file__).resolve().parent
MAGIC = b"flowc-prebuilt 1\n"


class Artifact(NamedTuple):
    """What an owner ships: the key it would build today, a fresh payload, and whether two
    payloads mean the same (a parser's bytes differ from build to build)."""

    key: str
    build: Callable[[], bytes]
    same: Callable[[bytes, bytes], bool] = bytes.__eq__


def encode(key: str, payload: bytes) -> bytes:
    if "\n" in key:
        raise ValueError("a prebuilt key is one line")
    return MAGIC + key.encode() + b"\n" + zlib.compress(payload, 9)


def decode(blob: bytes, key: str) -> bytes | None:
    """The payload when `blob` is an artifact for exactly `key`, else None."""
    if not blob.startswith(MAGIC):
        return None
    stored, sep, body = blob[len(MAGIC):].partition(b"\n")
    if not sep or stored != key.encode():
        return None
    try:
        return zlib.decompress(body)
    except zlib.error:
        return None


def stored_key(blob: bytes) -> str | None:
    if not blob.startswith(MAGIC):
        return None
    stored, sep, _ = blob[len(MAGIC):].partition(b"\n")
    return stored.decode(errors="replace") if sep else None


def shipped(name: str, key: str) -> bytes | None:
    """The shipped artifact `name` if it was built for `key`."""
    try:
        blob = (PREBUILT_DIR / name).read_bytes()
    except OSError:
        return None
    return decode(blob, key)


def obtain(name: str, key: str, compute: Callable[[], bytes]) -> bytes:
    """The payload for `key`: shipped, else from the per-user cache, else `compute()`
    (then remembered in the cache folder). Cache trouble just recomputes."""
    payload = shipped(name, key)
    if payload is not None:
        return payload
    from ..resources import cache_dir, note_written, touch

    folder = cache_dir()
    path = None
    if folder is not None:
        path = folder / f"prebuilt-{name}-{hashlib.sha256(key.encode()).hexdigest()[:24]}"
        try:
            payload = decode(path.read_bytes(), key)
        except OSError:
            payload = None
        if payload is not None:
            touch(path)
            return payload
    payload = compute()
    if path is not None:
        try:
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            tmp.write_bytes(encode(key, payload))
            os.replace(tmp, path)
            note_written(folder)
        except OSError:
            pass
    return payload
