"""Shared test setup: import flowc from this checkout even when it is not installed."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

EXAMPLES = ROOT / "examples"


def text_snapshot_extension(file_extension: str):
    """A syrupy extension that keeps each snapshot as one UTF-8 text file,
    __snapshots__/<test module>/<test>[<param>].<file_extension>."""
    from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode

    return type(f"{file_extension.capitalize()}Snapshot", (SingleFileSnapshotExtension,),
                {"_write_mode": WriteMode.TEXT, "file_extension": file_extension})
