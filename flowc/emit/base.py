"""What every emitter shares: its settings, a Jinja environment over `targets/<name>/`,
and the contract `render(flow) -> {relative path: text}`.

Templates loop and interpolate; every decision (labels, escaping, order of phones) is
made in Python by the target's view builders, so templates stay readable. Output must be
byte-identical for the same input: no timestamps, no dict-order surprises.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from typing import ClassVar

import jinja2
from jinja2 import Environment, FileSystemBytecodeCache, FileSystemLoader, StrictUndefined, select_autoescape

from .. import ir
from ..diagnostics import Diagnostic, error
from ..resources import cache_dir, data_dir, note_written, touch
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
        else:
            if bucket.code is not None:
                touch(Path(self._get_cache_filename(bucket)))  # used: the last to be pruned

    def dump_bytecode(self, bucket) -> None:
        try:
            super().dump_bytecode(bucket)
            note_written(Path(self.directory))
        except OSError:
            pass


def _template_sources(env: Environment) -> dict[str, tuple[str, str]]:
    """{name: (source, sha256)} for every `*.j2` file the environment's loader finds."""
    out = {}
    for name in env.list_templates(extensions=None, filter_func=lambda n: n.endswith(".j2")):
        source = env.loader.get_source(env, name)[0]
        out[name] = (source, hashlib.sha256(source.encode("utf-8")).hexdigest())
    return out


class _PrecompiledLoader(FileSystemLoader):
    """A FileSystemLoader (same names, files, includes, up-to-date checks) whose templates
    come with their code already generated: loading one compiles that Python source (or
    takes it from the bytecode cache) instead of running Jinja's compiler. A template whose
    file no longer holds the source the code was made from, or one not shipped, is
    compiled from source as usual."""

    def __init__(self, searchpath, compiled: dict[str, tuple[str, str]]):
        super().__init__(searchpath)
        self.compiled = compiled

    def load(self, environment, name, globals=None):
        entry = self.compiled.get(name)
        if entry is None:
            return super().load(environment, name, globals)
        source, filename, uptodate = self.get_source(environment, name)
        digest, code_source = entry
        if hashlib.sha256(source.encode("utf-8")).hexdigest() != digest:
            return super().load(environment, name, globals)
        # As BaseLoader.load, with `compile` of the shipped source for Jinja's compiler
        # (which ends with exactly that call on the source it generates).
        bcc = environment.bytecode_cache
        bucket = code = None
        if bcc is not None:
            bucket = bcc.get_bucket(environment, name, filename, source)
            code = bucket.code
        if code is None:
            try:
                code = compile(code_source, filename or "<template>", "exec")
            except (SyntaxError, ValueError):  # a damaged artifact: Jinja compiles the template
                return super().load(environment, name, globals)
            if bucket is not None:
                bucket.code = code
                bcc.set_bucket(bucket)
        return environment.template_class.from_code(environment, code, {} if globals is None else globals, uptodate)


def _code_closure(fn, seen: set | None = None) -> str:
    """The source of `fn` and of every function, class and plain constant of flowc's that
    it refers to by global name, transitively: what its behaviour depends on."""
    import inspect
    import re as _re

    seen = set() if seen is None else seen
    fn = inspect.unwrap(getattr(fn, "__func__", fn))
    if id(fn) in seen:
        return ""
    seen.add(id(fn))
    try:
        parts = [inspect.getsource(fn)]
    except (OSError, TypeError):
        return repr(fn)
    code = getattr(fn, "__code__", None)
    names: set[str] = set()
    todo = [code] if code is not None else []
    while todo:
        c = todo.pop()
        names.update(c.co_names)
        todo.extend(k for k in c.co_consts if hasattr(k, "co_names"))
    if inspect.isclass(fn):
        for member in vars(fn).values():
            if inspect.isfunction(member):
                parts.append(_code_closure(member, seen))
    scope = getattr(fn, "__globals__", None) or vars(sys.modules.get(fn.__module__, sys))
    package = __name__.partition(".")[0]
    for name in sorted(names):
        value = scope.get(name)
        if (inspect.isfunction(value) or inspect.isclass(value)) and \
                (getattr(value, "__module__", "") or "").partition(".")[0] == package:
            parts.append(_code_closure(value, seen))
        elif isinstance(value, (frozenset, set)):  # its repr's order changes with the hash seed
            parts.append(f"{name}={sorted(map(repr, value))!r}")
        elif isinstance(value, (str, int, float, bytes, tuple, dict)):
            parts.append(f"{name}={value!r}")
        elif isinstance(value, _re.Pattern):
            parts.append(f"{name}=re({value.pattern!r}, {value.flags})")
    return "\n".join(parts)


def region_table_key(label: str, prefix: str, shaping, extra: str = "") -> str:
    """The key of a target's shared region table (Target.shared_outputs): the region data, the
    context prefix, and the source of the functions that shape the text (`shaping`), so a
    shipped or cached table is used only while none of them changed."""
    import inspect

    from .. import regions

    code = hashlib.sha256("".join(inspect.getsource(f) for f in shaping).encode() + extra.encode()).hexdigest()[:24]
    return f"{label} format=1 prefix={prefix!r} data={regions.region_data_key()} code={code}"


def region_table_text(artifact: str, key: str, build) -> str:
    """The table for `key`: shipped prebuilt for the default prefix (flowc/prebuilt/), else
    built by `build()` once per machine and kept in the cache folder."""
    from ..prebuilt import obtain

    return obtain(artifact, key, lambda: build().encode()).decode()


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
        env = self._bare_env()
        env.bytecode_cache = self._bytecode_cache()
        compiled = self._shipped_templates(env)
        if compiled is not None:
            env.loader = _PrecompiledLoader(env.loader.searchpath, compiled)
        return env

    def _bare_env(self) -> Environment:
        """The environment with its options and filters, loading from `targets/<name>/`
        and compiling templates from source."""
        env = Environment(
            loader=FileSystemLoader(str(data_dir("targets") / self.name)),
            undefined=StrictUndefined,
            keep_trailing_newline=True,
            auto_reload=False,  # a compile is one short process: no need to stat a template at every include
            trim_blocks=True,
            lstrip_blocks=True,
            autoescape=select_autoescape(enabled_extensions=("xml.j2",), default_for_string=False, default=False),
        )
        self.configure_env(env)
        return env

    # Templates precompiled to Python source (Jinja's code generator output, which does not
    # depend on the Python version), shipped in flowc/prebuilt/<name>-templates.bin so that
    # a fresh machine does not run Jinja's compiler; see flowc/prebuilt/__init__.py for the
    # container. Its key names every input of the generated code: Jinja's version, our code
    # (environment options, filters: Jinja bakes their calling conventions into the code and
    # folds them over constants), and each template's sha256.
    _TEMPLATES_FORMAT = 1

    @property
    def templates_artifact(self) -> str:
        return f"{self.name}-templates.bin"

    def templates_key(self, env: Environment | None = None) -> str:
        env = self._bare_env() if env is None else env
        listing = "".join(f"{name}\0{digest}\n" for name, (_, digest) in sorted(_template_sources(env).items()))
        return (f"jinja-templates format={self._TEMPLATES_FORMAT} target={self.name} jinja={jinja2.__version__} "
                f"code={self._code_stamp(env)} templates-sha256={hashlib.sha256(listing.encode()).hexdigest()}")

    def build_templates(self) -> bytes:
        """The shipped payload: JSON {template name: [sha256 of its source, Python source]}."""
        import json

        env = self._bare_env()
        compiled = {name: [digest, env.compile(source, name, raw=True)]  # (the file name is not in the code)
                    for name, (source, digest) in _template_sources(env).items()}
        return json.dumps(compiled, ensure_ascii=False, sort_keys=True, indent=0).encode()

    def _shipped_templates(self, env: Environment) -> dict[str, tuple[str, str]] | None:
        """{name: (sha256 of the source, Python source)} from the shipped artifact when it
        was made for exactly these templates, this Jinja and this code; else None."""
        import json

        from ..prebuilt import shipped

        try:
            payload = shipped(self.templates_artifact, self.templates_key(env))
            if payload is None:
                return None
            return {name: (digest, code) for name, (digest, code) in json.loads(payload).items()}
        except Exception:  # an unusable artifact only costs compiling the templates  # noqa: BLE001
            return None

    def _code_stamp(self, env: Environment) -> str:
        """A digest of the code that shapes the generated template code: the environment's
        options (`_bare_env`, `configure_env`) and each filter and test with everything of
        flowc's it calls (Jinja bakes their names into the code and folds them over
        constants). The rest of the emitter module is left out, so editing a view builder
        does not make the shipped templates stale."""
        digest = hashlib.sha256()
        for fn in (Target._bare_env, type(self).configure_env):
            digest.update(_code_closure(fn).encode())
        for kind, table in (("filter", env.filters), ("test", env.tests)):
            for name in sorted(table):
                fn = table[name]
                module = getattr(fn, "__module__", None) or ""
                if module.partition(".")[0] == __name__.partition(".")[0]:  # Jinja's own: its version
                    digest.update(f"{kind} {name}\0{_code_closure(fn)}".encode())
        return digest.hexdigest()[:16]

    def _bytecode_cache(self):
        """Compiled templates on disk: compiling them from source is most of a small
        `flowc compile`. Jinja checks each entry against its template's source; the file
        names add what it does not check: Jinja's version and our code (environment
        options, filters)."""
        folder = cache_dir()
        if folder is None:
            return None
        stamp = self._code_stamp(self._bare_env())
        return _SafeBytecodeCache(str(folder), f"jinja-{self.name}-{jinja2.__version__}-{stamp}-%s.cache")

    def configure_env(self, env) -> None:
        """Subclasses add their filters (the one place their escaping lives); pure functions only."""

    def unsupported(self, flow: ir.Flow) -> list[Diagnostic]:
        """E501 for anything in `flow` this target cannot express exactly."""
        return []

    def render(self, flow: ir.Flow) -> dict[str, str]:
        raise NotImplementedError

    def shared_outputs(self) -> dict[str, str]:
        """Files every flow of an output directory shares, {relative path: text}, written
        once per output directory by the compile driver next to the flows' own files (the
        same relative paths, under `<out>/<target>/` with `--target all`), whatever flows are
        compiled: the text depends only on the settings and flowc's own data and code, so
        compiling one flow or 2,000 writes the same bytes. Example: the region table of
        `branch region` (`flowc-regions.conf`, `flowc-regions.xml`), which flows reach by
        name instead of each carrying a country-wide copy. A flow never renders a file of
        these names."""
        return {}

    def e501(self, message: str, span, help: str | None = None) -> Diagnostic:
        return error("E501", f"{self.name}: {message}", span, help=help)
