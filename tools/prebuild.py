"""Regenerate the artifacts shipped in flowc/prebuilt/ (the parser for grammar/flow.lark,
the mobile-prefix data, each target's templates precompiled by Jinja); see
flowc/prebuilt/__init__.py and flowc/emit/base.py. Same as `python -m flowc.prebuilt`.

    python tools/prebuild.py            # rewrite what is stale
    python tools/prebuild.py --check    # exit 1 if something is stale, write nothing
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flowc import prebuilt  # noqa: E402

if __name__ == "__main__":
    sys.exit(prebuilt.main())
