"""Emitters: one `Target` subclass per engine, registered by name.

`get_target(name, settings)` returns a ready emitter; `Target.render(flow)` returns
`{relative path: text}`; `flowc.build` puts the files on disk.
"""

from __future__ import annotations

from difflib import get_close_matches

from ..settings import Settings
from .base import Target

TARGET_NAMES = ("asterisk", "freeswitch")


def get_target(name: str, settings: Settings) -> Target:
    if name == "asterisk":
        from .asterisk import AsteriskTarget

        return AsteriskTarget(settings)
    if name == "freeswitch":
        from .freeswitch import FreeSwitchTarget

        return FreeSwitchTarget(settings)
    match = get_close_matches(name, TARGET_NAMES, n=1)
    hint = f"; did you mean `{match[0]}`?" if match else ""
    raise KeyError(f"unknown target `{name}` (targets: {', '.join(TARGET_NAMES)}){hint}")


def prebuilt_artifacts() -> dict:
    """Each target's templates precompiled (flowc/emit/base.py) and its shared region table
    (flowc-regions.*) for the default settings, for tools/prebuild.py."""
    from ..prebuilt import Artifact

    import importlib

    out = {}
    for name in TARGET_NAMES:
        target = get_target(name, Settings())
        out[target.templates_artifact] = Artifact(target.templates_key(), target.build_templates)
        # the shared region table of the default settings (Target.shared_outputs)
        artifact, key, build = importlib.import_module(type(target).__module__).shared_artifact()
        out[artifact] = Artifact(key, build)
    return out


__all__ = ["TARGET_NAMES", "Target", "get_target", "prebuilt_artifacts"]
