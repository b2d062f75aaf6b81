"""Deployment settings for the emitters: defaults, `flowc.toml` / `[tool.flowc]`, CLI overrides.

Precedence: command-line options > the config file > these defaults. A config file is
`flowc.toml` (top level) or `pyproject.toml` (`[tool.flowc]`), found in the current
directory or its parents, or named with `--config`. Per-target keys live in
`[asterisk]` / `[freeswitch]` tables (`[tool.flowc.asterisk]` in pyproject.toml).
"""

from __future__ import annotations

import re
import tomllib
from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator


class SettingsError(ValueError):
    """A bad config file or option; the CLI prints it and exits 2."""


_SAFE_PATH = re.compile(r"[A-Za-z0-9_\-./]*\Z")
_SAFE_WORD = re.compile(r"[A-Za-z0-9_\-.]*\Z")
_DSN = re.compile(r"[A-Za-z][A-Za-z0-9_\-]{0,63}\Z")  # safe in a config section, SQL-free, in Lua and XML
# A dial template is exactly one channel: the technology, `/`, then characters that are
# never a separator of several destinations (Asterisk `&`, FreeSWITCH `,` `|` `:_:`), an
# argument separator, a variable block (`[...]`, `{...}`) or an expansion (`$`).
_DIAL_TEMPLATE = {
    "asterisk": re.compile(r"[A-Za-z][A-Za-z0-9_]*/[A-Za-z0-9_\-./@:+#*]+\Z"),
    "freeswitch": re.compile(r"[A-Za-z][A-Za-z0-9_]*/[A-Za-z0-9_\-./@:+=~]+\Z"),
}
# FreeSWITCH's XML pre-processor drops every line containing this (any case)
_PREPROCESSOR = re.compile(r"x-pre-process", re.IGNORECASE)


class TargetSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    dial_template: str
    context_prefix: str = "flow-"
    prompt_dir: str = ""  # "" = prompts are names relative to the engine's sound directory
    recording_dir: str
    recording_format: str = "wav"
    # Asterisk voicemail.conf context of the mailboxes; "" = one per flow (its entry context),
    # so two tenants' `voicemail 8000` are two mailboxes
    voicemail_context: str = ""
    voicemail_profile: str = "default"  # FreeSWITCH mod_voicemail profile
    # FreeSWITCH directory domain of the mailboxes; "" = one per flow (its context name)
    voicemail_domain: str = ""
    moh_class: str = "default"  # hold music class when a queue names none
    test_hooks: bool = False  # honour FLOWC_DRAWS (fixed random draws) for parity tests
    # Where cross-call state (the round-robin positions, S-DIAL-5) lives: "local" = this
    # server's AstDB / mod_db; "postgresql" = one position per platform in PostgreSQL through
    # the ODBC connection `state_dsn` (S-STATE-1/2, docs/deploy.md "Several servers")
    state: Literal["local", "postgresql"] = "local"
    state_dsn: str = ""  # res_odbc class (Asterisk) / unixODBC DSN (FreeSWITCH) of the state database
    state_script: str = "flowc-state.lua"  # FreeSWITCH: the generated Lua script, in script_dir or absolute

    @field_validator("dial_template")
    @classmethod
    def _template(cls, v: str) -> str:
        if "{number}" not in v:
            raise ValueError("must contain {number}")
        if any(c in v for c in "\n\r;,|\"'` ") or "${" in v.replace("{number}", ""):
            raise ValueError("must not contain spaces, quotes, `;`, `,`, `|` or variable expansions")
        return v  # the rest depends on the engine: Settings.check_targets

    @field_validator("context_prefix", "recording_format", "voicemail_context", "voicemail_profile", "moh_class")
    @classmethod
    def _word(cls, v: str) -> str:
        if not _SAFE_WORD.match(v):
            raise ValueError("may only contain letters, digits, `_`, `-` and `.`")
        return v

    @field_validator("prompt_dir", "recording_dir", "state_script")
    @classmethod
    def _path(cls, v: str) -> str:
        if not _SAFE_PATH.match(v) or ".." in v.split("/"):
            raise ValueError("may only contain letters, digits, `_`, `-`, `.` and `/`, and no `..`")
        v = v.rstrip("/") if v.strip("/") else v
        if v == "/" or "//" in v:
            raise ValueError("must be a directory below `/`, without empty parts (`//`)")
        return v

    @field_validator("state_dsn")
    @classmethod
    def _dsn(cls, v: str) -> str:
        if v and not _DSN.match(v):
            raise ValueError("must be a DSN name: a letter, then letters, digits, `_` or `-`")
        return v

    @model_validator(mode="after")
    def _state(self) -> "TargetSettings":
        if self.state == "postgresql" and not self.state_dsn:
            raise ValueError('state = "postgresql" needs state_dsn, the ODBC connection of the state '
                             'database, e.g. state_dsn = "flowc"')
        if self.state == "local" and self.state_dsn:
            raise ValueError('state_dsn is only used with state = "postgresql"')
        return self

    @field_validator("voicemail_domain")
    @classmethod
    def _domain(cls, v: str) -> str:
        if v != "$${domain}" and not _SAFE_WORD.match(v):
            raise ValueError("must be a domain name or $${domain}")
        return v


ASTERISK_DEFAULTS = {
    "dial_template": "PJSIP/{number}@trunk",
    "recording_dir": "/var/spool/asterisk/monitor/flowc",
}
FREESWITCH_DEFAULTS = {
    "dial_template": "sofia/gateway/trunk/{number}",
    "recording_dir": "$${recordings_dir}/flowc",
    "prompt_dir": "$${sounds_dir}/flowc",
}


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    years: list[int] = Field(default_factory=lambda: [date.today().year, date.today().year + 1])
    # The engine `flowc compile` / `flowc check` use when --target is not given
    target: Literal["asterisk", "freeswitch", "all"] | None = None
    # Warning codes never reported / reported as errors (docs/diagnostics.md "Managing warnings")
    ignore: list[str] = Field(default_factory=list)
    error: list[str] = Field(default_factory=list)
    asterisk: TargetSettings = TargetSettings(**ASTERISK_DEFAULTS)
    freeswitch: TargetSettings = Field(default_factory=lambda: _fs_settings(dict(FREESWITCH_DEFAULTS)))

    def for_target(self, name: str) -> TargetSettings:
        return getattr(self, name)

    @field_validator("ignore", "error")
    @classmethod
    def _codes(cls, v: list[str]) -> list[str]:
        bad = [c for c in v if not re.fullmatch(r"W[0-9]{3}", c)]
        if bad:
            raise ValueError(f"{', '.join(bad)}: only warning codes (W401, W403, ...) can be listed; "
                             "errors cannot be silenced")
        return v

    @field_validator("years")
    @classmethod
    def _years(cls, v: list[int]) -> list[int]:
        if not v or any(not 1 <= y <= 9999 for y in v):
            raise ValueError("must be one or more years between 1 and 9999, e.g. 2026,2027")
        return v

    @model_validator(mode="after")
    def check_targets(self) -> "Settings":
        """What depends on the engine: the dial template's shape, and for FreeSWITCH no value
        its XML pre-processor would act on."""
        for name in ("asterisk", "freeswitch"):
            opts: TargetSettings = getattr(self, name)
            template = opts.dial_template.replace("{number}", "0")
            if not _DIAL_TEMPLATE[name].match(template) or (name == "freeswitch" and ":_:" in template):
                raise ValueError(f"{name}.dial_template `{opts.dial_template}` must be exactly one channel, "
                                 f"TECH/... with {{number}} (no `&`, `,`, `|`, `:_:`, `[`, `{{`, `$`, `(`): "
                                 "a template that names a second destination would ring it on every dial")
        for key, value in self.freeswitch.model_dump().items():
            if isinstance(value, str) and _PREPROCESSOR.search(value):
                raise ValueError(f"freeswitch.{key} contains `x-pre-process`, which FreeSWITCH's XML "
                                 "pre-processor acts on")
        return self


def find_config(start: Path) -> tuple[Path, dict] | None:
    """The nearest flowc.toml, or pyproject.toml with a [tool.flowc] table."""
    for folder in [start, *start.parents]:
        f = folder / "flowc.toml"
        if f.is_file():
            return f, _read_toml(f)
        p = folder / "pyproject.toml"
        if p.is_file():
            data = _read_toml(p)
            if "flowc" in data.get("tool", {}):
                return p, data["tool"]["flowc"]
    return None


def _read_toml(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise SettingsError(f"{path}: {exc}") from None


def load_settings(config: Path | None = None, overrides: dict[str, object] | None = None,
                  cwd: Path | None = None, origins: dict[str, str] | None = None) -> Settings:
    """Merge defaults, a config file and `overrides` ({"asterisk.dial_template": ...}).
    `origins` names the command-line option each override came from (`--prompt-dir`), so
    that an error names what the user wrote rather than the config file."""
    data: dict = {}
    source = "defaults"
    if config is not None:
        if not config.is_file():
            raise SettingsError(f"{config}: no such config file")
        raw = _read_toml(config)
        data = raw.get("tool", {}).get("flowc", raw) if config.name == "pyproject.toml" else raw
        source = str(config)
    else:
        found = find_config(cwd or Path.cwd())
        if found:
            source, data = str(found[0]), found[1]
    data = {k: (dict(v) if isinstance(v, dict) else v) for k, v in data.items()}
    for key, value in (overrides or {}).items():
        head, _, tail = key.partition(".")
        if head in ("years", "ignore", "error") and not tail and isinstance(value, str):
            value = [y for y in re.split(r"[\s,\[\]\"']+", value) if y]  # --set years=2026,2027
        if tail:
            table = data.setdefault(head, {})
            if not isinstance(table, dict):
                raise SettingsError(f"invalid settings ({source}): {head}: expected a table of settings, "
                                    f"got {table!r} (use --set {head}.KEY=VALUE)")
            table[tail] = value
        else:
            data[key] = value
    where = ""
    try:
        for name in ("asterisk", "freeswitch"):
            if not isinstance(data.get(name, {}), dict):
                raise SettingsError(f"invalid settings ({source}): {name}: expected a table of settings, "
                                    f"got {data[name]!r} (use --set {name}.KEY=VALUE)")
        where = "asterisk."
        ast = TargetSettings(**{**ASTERISK_DEFAULTS, **data.pop("asterisk", {})})
        where = "freeswitch."
        fs_data = {**FREESWITCH_DEFAULTS, **data.pop("freeswitch", {})}
        fs = _fs_settings(fs_data)
        where = ""
        return Settings(asterisk=ast, freeswitch=fs, **data)
    except ValidationError as exc:
        given = {k: origins.get(k, f"--set {k}") if origins else f"--set {k}" for k in overrides or {}}
        problems = [_problem(where, e, given) for e in exc.errors()]
        from_cli = [p for p, cli in problems if cli]
        from_file = [p for p, cli in problems if not cli]
        parts = ([f"invalid settings ({source}): {'; '.join(from_file)}"] if from_file else []) + from_cli
        raise SettingsError("; ".join(parts)) from None


# pydantic's wording, in plain words (it never reaches the user)
_PLAIN = [
    (re.compile(r"Extra inputs are not permitted"), "unknown setting (see docs/deploy.md for the settings)"),
    (re.compile(r"Input should be a valid integer.*"), "must be a whole number"),
    (re.compile(r"Input should be a valid boolean.*"), "must be true or false"),
    (re.compile(r"Input should be a valid string.*"), "must be text"),
    (re.compile(r"Input should be a valid list.*"), "must be a list, e.g. [\"W403\"]"),
    (re.compile(r"Input should be "), "must be "),
    (re.compile(r"Field required"), "is required"),
]


def _problem(where: str, e, given: dict[str, str]) -> tuple[str, bool]:
    """One pydantic error as `asterisk.test_hooks: ...`, naming the option as the user wrote
    it (`--prompt-dir`, `--set asterisk.prompt_dir`) when it came from the command line;
    the bool says whether it did."""
    loc = where + ".".join(str(x) for x in e["loc"] if not isinstance(x, int))
    msg = str(e["msg"]).removeprefix("Value error, ")
    for pattern, plain in _PLAIN:
        msg = pattern.sub(plain, msg)
    loc = loc.rstrip(".")
    if loc in given:
        value = e.get("input")
        shown = f"={value}" if isinstance(value, (str, int)) and given[loc].startswith("--set") else ""
        return f"{given[loc]}{shown}: {msg}", True
    return (f"{loc}: {msg}" if loc else msg), False


def _fs_settings(data: dict) -> TargetSettings:
    """FreeSWITCH paths may start with a $${global} variable (expanded by FreeSWITCH at load
    time, not by callers), which the generic path check would refuse."""
    checked = dict(data)
    for key in ("prompt_dir", "recording_dir"):
        value = checked.get(key, "")
        for glob in ("$${sounds_dir}", "$${recordings_dir}", "$${base_dir}", "$${storage_dir}"):
            if value.startswith(glob):
                checked[key] = value[len(glob):].lstrip("/") or "."
                break
    validated = TargetSettings(**checked)
    return validated.model_copy(update={k: data[k].rstrip("/") for k in ("prompt_dir", "recording_dir") if k in data})
