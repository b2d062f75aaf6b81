"""What every emitter shares: its settings, a Jinja environment over `targets/<name>/`,
and the contract `render(flow) -> {relative path: text}`.

Templates loop and interpolate; every decision (labels, escaping, order of phones) is
made in Python by the target's view builders, so templates stay readable. Output must be
byte-identical for the same input: no timestamps, no dict-order surprises.
"""

from __future__ import annotations

import sys
from typing import ClassVar

import jinja2
from jinja2 import Environment, FileSystemBytecodeCache, FileSystemLoader, StrictUndefined, select_autoescape

from .. import ir
from ..diagnostics import Diagnostic, error
from ..resources import cache_dir, data_dir, source_stamp
from ..settings import Settings, TargetSettings


class _SafeBytecodeCache(FileSystemBytecodeCache):
    """Jinja's file cache, where any trouble (a damaged entry, a full or read-only disk)
    just means compiling the template again. Writes are atomic (temp file + rename), so
    concurrent processes at worst compile the same template twice."""

    def load_bytecode(self, bucket) -> None:
        try:
            super().load_bytecode(bucket)
        except Exception:
            bucket.reset()

    def dump_bytecode(self, bucket) -> None:
        try:
            super().dump_bytecode(bucket)
        except OSError:
            pass


class Target:
    name: ClassVar[str]

    def __init__(self, settings: Settings):
        self.settings = settings
        self.years: tuple[int, ...] = tuple(settings.years)

    @property
    def options(self) -> TargetSettings:
        return self.settings.for_target(self.name)

    # One Jinja environment per target class for the whole process: `flowc compile` makes a
    # target per flow, and compiling the templates again each time would cost more than
    # rendering them. Filters must therefore be pure functions of their arguments.
    _envs: ClassVar[dict[type, object]] = {}

    @property
    def env(self):
        env = Target._envs.get(type(self))
        if env is None:
            env = Target._envs[type(self)] = self._make_env()
        return env

    def _make_env(self):
        env = Environment(
            loader=FileSystemLoader(str(data_dir("targets") / self.name)),
            undefined=StrictUndefined,
            keep_trailing_newline=True,
            trim_blocks=True,
            lstrip_blocks=True,
            autoescape=select_autoescape(enabled_extensions=("xml.j2",), default_for_string=False, default=False),
            bytecode_cache=self._bytecode_cache(),
        )
        self.configure_env(env)
        return env

    def _bytecode_cache(self):
        """Compiled templates on disk: compiling them from source is most of a small
        `flowc compile`. Jinja checks each entry against its template's source; the file
        names add what it does not check: Jinja's version and our code (environment
        options, filters)."""
        folder = cache_dir()
        if folder is None:
            return None
        stamp = source_stamp(sys.modules[__name__], sys.modules[type(self).__module__])
        return _SafeBytecodeCache(str(folder), f"jinja-{self.name}-{jinja2.__version__}-{stamp}-%s.cache")

    def configure_env(self, env) -> None:
        """Subclasses add their filters (the one place their escaping lives); pure functions only."""

    def unsupported(self, flow: ir.Flow) -> list[Diagnostic]:
        """E501 for anything in `flow` this target cannot express exactly."""
        return []

    def render(self, flow: ir.Flow) -> dict[str, str]:
        raise NotImplementedError

    def e501(self, message: str, span, help: str | None = None) -> Diagnostic:
        return error("E501", f"{self.name}: {message}", span, help=help)
