"""Regenerate the artifacts shipped in flowc/prebuilt/ (the parser for grammar/flow.lark,
the mobile-prefix trie data); see flowc/prebuilt/__init__.py.

    python tools/prebuild.py            # rewrite what is stale
    python tools/prebuild.py --check    # exit 1 if something is stale, write nothing
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flowc.prebuilt import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
