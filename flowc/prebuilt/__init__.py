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

PREBUILT_DIR = Path(__file__).resolve().parent
MAGIC = b"flowc-prebuilt 1\n"


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
    from ..resources import cache_dir

    folder = cache_dir()
    path = None
    if folder is not None:
        path = folder / f"prebuilt-{name}-{hashlib.sha256(key.encode()).hexdigest()[:24]}"
        try:
            payload = decode(path.read_bytes(), key)
        except OSError:
            payload = None
        if payload is not None:
            return payload
    payload = compute()
    if path is not None:
        try:
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            tmp.write_bytes(encode(key, payload))
            os.replace(tmp, path)
        except OSError:
            pass
    return payload


# ---------------------------------------------------------------------------
# The artifacts, for tools/prebuild.py and tests/test_prebuilt.py


def artifacts() -> dict:
    """name -> (current key, build() -> fresh payload, same(shipped, fresh) -> bool): the
    parser, the mobile data, and each target's templates (flowc/emit/base.py)."""
    from .. import parser, regions
    from ..emit import TARGET_NAMES, get_target
    from ..settings import Settings

    out = {
        "flow-parser.bin": (parser.prebuilt_key(), parser.build_prebuilt, parser.same_parser),
        "mobile-dag.bin": (regions.mobile_dag_key(), regions.build_mobile_dag, bytes.__eq__),
    }
    for name in TARGET_NAMES:
        target = get_target(name, Settings())
        out[target.templates_artifact] = (target.templates_key(), target.build_templates, bytes.__eq__)
    return out


def stale() -> list[str]:
    """Names of shipped artifacts that are missing or do not match the current inputs."""
    out = []
    for name, (key, build, same) in artifacts().items():
        payload = shipped(name, key)
        if payload is None or not same(payload, build()):
            out.append(name)
    return out


def refresh() -> list[str]:
    """Rewrite the stale artifacts; returns their names. An up-to-date file is left
    alone (the parser's bytes differ from build to build; its meaning does not)."""
    written = []
    for name, (key, build, same) in artifacts().items():
        fresh = build()
        payload = shipped(name, key)
        if payload is not None and same(payload, fresh):
            continue
        (PREBUILT_DIR / name).write_bytes(encode(key, fresh))
        written.append(name)
    return written


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="python tools/prebuild.py", description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if a shipped artifact is stale; write nothing")
    args = ap.parse_args(argv)
    if args.check:
        names = stale()
        for name in names:
            print(f"stale: flowc/prebuilt/{name} (run python tools/prebuild.py)")
        if not names:
            print("prebuilt artifacts are up to date")
        return 1 if names else 0
    for name in refresh():
        path = PREBUILT_DIR / name
        print(f"wrote flowc/prebuilt/{name} ({path.stat().st_size} bytes)")
    for name in artifacts():
        print(f"  {name}: {(PREBUILT_DIR / name).stat().st_size} bytes")
    return 0
