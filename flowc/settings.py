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

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator


class SettingsError(ValueError):
    """A bad config file or option; the CLI prints it and exits 2."""


_SAFE_PATH = re.compile(r"^[A-Za-z0-9_\-./]*$")
_SAFE_WORD = re.compile(r"^[A-Za-z0-9_\-.]*$")


class TargetSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    dial_template: str
    context_prefix: str = "flow-"
    prompt_dir: str = ""  # "" = prompts are names relative to the engine's sound directory
    recording_dir: str
    recording_format: str = "wav"
    voicemail_context: str = "default"  # Asterisk voicemail.conf context
    voicemail_profile: str = "default"  # FreeSWITCH mod_voicemail profile
    voicemail_domain: str = "$${domain}"  # FreeSWITCH domain of the mailboxes
    moh_class: str = "default"  # hold music class when a queue names none
    test_hooks: bool = False  # honour FLOWC_DRAWS (fixed random draws) for parity tests

    @field_validator("dial_template")
    @classmethod
    def _template(cls, v: str) -> str:
        if "{number}" not in v:
            raise ValueError("must contain {number}")
        if any(c in v for c in "\n\r;,|\"'` ") or "${" in v.replace("{number}", ""):
            raise ValueError("must not contain spaces, quotes, `;`, `,`, `|` or variable expansions")
        return v

    @field_validator("context_prefix", "recording_format", "voicemail_context", "voicemail_profile", "moh_class")
    @classmethod
    def _word(cls, v: str) -> str:
        if not _SAFE_WORD.match(v):
            raise ValueError("may only contain letters, digits, `_`, `-` and `.`")
        return v

    @field_validator("prompt_dir", "recording_dir")
    @classmethod
    def _path(cls, v: str) -> str:
        if not _SAFE_PATH.match(v) or ".." in v.split("/"):
            raise ValueError("may only contain letters, digits, `_`, `-`, `.` and `/`, and no `..`")
        return v.rstrip("/") if v != "/" else v

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
    asterisk: TargetSettings = TargetSettings(**ASTERISK_DEFAULTS)
    freeswitch: TargetSettings = Field(default_factory=lambda: _fs_settings(dict(FREESWITCH_DEFAULTS)))

    def for_target(self, name: str) -> TargetSettings:
        return getattr(self, name)


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
                  cwd: Path | None = None) -> Settings:
    """Merge defaults, a config file and `overrides` ({"asterisk.dial_template": ...})."""
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
        if tail:
            data.setdefault(head, {})[tail] = value
        else:
            data[key] = value
    try:
        ast = TargetSettings(**{**ASTERISK_DEFAULTS, **data.pop("asterisk", {})})
        fs_data = {**FREESWITCH_DEFAULTS, **data.pop("freeswitch", {})}
        fs = _fs_settings(fs_data)
        return Settings(asterisk=ast, freeswitch=fs, **data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise SettingsError(f"invalid settings ({source}): {problems}") from None


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
