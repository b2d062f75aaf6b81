"""Regenerate the artifacts shipped in flowc/prebuilt/: the parser for grammar/flow.lark
(flowc/parser.py), the mobile-prefix data (flowc/regions.py), each target's templates
precompiled by Jinja (flowc/emit/base.py). Each owner says what it ships and with which key;
this tool enumerates them (flowc.prebuilt itself knows only the container).

    python tools/prebuild.py            # rewrite what is stale
    python tools/prebuild.py --check    # exit 1 if something is stale, write nothing
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flowc import emit, parser, prebuilt, regions  # noqa: E402

OWNERS = (parser, regions, emit)


def artifacts() -> dict[str, prebuilt.Artifact]:
    """name -> Artifact(current key, build, same), from every owner."""
    out: dict[str, prebuilt.Artifact] = {}
    for owner in OWNERS:
        out.update(owner.prebuilt_artifacts())
    return out


def stale() -> list[str]:
    """Names of shipped artifacts that are missing or do not match the current inputs."""
    out = []
    for name, (key, build, same) in artifacts().items():
        payload = prebuilt.shipped(name, key)
        if payload is None or not same(payload, build()):
            out.append(name)
    return out


def refresh() -> list[str]:
    """Rewrite the stale artifacts; returns their names. An up-to-date file is left alone
    (the parser's bytes differ from build to build; its meaning does not)."""
    written = []
    for name, (key, build, same) in artifacts().items():
        fresh = build()
        payload = prebuilt.shipped(name, key)
        if payload is not None and same(payload, fresh):
            continue
        (prebuilt.PREBUILT_DIR / name).write_bytes(prebuilt.encode(key, fresh))
        written.append(name)
    return written


def main(argv: list[str] | None = None) -> int:
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
        print(f"wrote flowc/prebuilt/{name} ({(prebuilt.PREBUILT_DIR / name).stat().st_size} bytes)")
    for name in artifacts():
        print(f"  {name}: {(prebuilt.PREBUILT_DIR / name).stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
