"""The setting half of `main.py doctor`: every setting as ok / missing / invalid, secrets masked.

Why separate from load_settings: the doctor must report *all* settings even when some are
invalid, so it validates group by group and falls back to defaults for the broken fields.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import SecretStr, ValidationError
from pydantic_settings import BaseSettings

from config.settings import GROUPS, Settings, describe_errors, env_name

# Settings without which no call can be placed; the doctor fails when one is missing.
REQUIRED = frozenset({"OPENAI_API_KEY", "AMI_SECRET"})

Status = Literal["ok", "missing", "invalid"]


@dataclass(frozen=True, slots=True)
class SettingLine:
    name: str
    status: Status
    shown: str
    reason: str = ""
    from_env: bool = False  # set in the environment or the env file (not a default)

    def render(self) -> str:
        text = f"{self.status:<8} {self.name}"
        if self.shown:
            text += f" = {self.shown}"
        return f"{text}  ({self.reason})" if self.reason else text


def mask(value: object) -> str:
    """Show that a secret is set, never its characters; a URL loses its password."""
    if isinstance(value, SecretStr):
        return "****" if value.get_secret_value() else ""
    return "" if value is None else hide_password(str(value))


def hide_password(text: str) -> str:
    """`scheme://user:pw@host` → `scheme://user:****@host` (DATABASE_URL, REDIS_URL)."""
    parts = urlsplit(text)
    if not parts.scheme or parts.password is None:
        return text
    netloc = parts.netloc.replace(f":{parts.password}@", ":****@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def _raw(name: str, env_file: str | Path | None) -> str | None:
    if name in os.environ:
        return os.environ[name]
    if env_file and Path(env_file).is_file():
        for line in Path(env_file).read_text(encoding="utf-8").splitlines():
            key, sep, value = line.partition("=")
            if sep and key.strip().upper() == name:
                return value.strip().strip("'\"")
    return None


def _group_lines(
    cls: type[BaseSettings], env_file: str | Path | None
) -> tuple[list[SettingLine], BaseSettings]:
    errors: dict[str, str] = {}
    try:
        group = cls(_env_file=env_file)
    except ValidationError as exc:
        errors = describe_errors(cls, exc)
        defaults = {
            f: info.default for f, info in cls.model_fields.items() if env_name(cls, f) in errors
        }
        group = cls(_env_file=env_file, **defaults)
    lines = []
    for field, info in cls.model_fields.items():
        name = env_name(cls, field)
        secret = "Secret" in str(info.annotation)
        raw = _raw(name, env_file)
        given = raw is not None
        if name in errors:
            shown = "****" if secret else repr(hide_password(raw or ""))
            lines.append(SettingLine(name, "invalid", shown, errors[name], given))
            continue
        value = getattr(group, field)
        if value is None and name in REQUIRED:
            lines.append(SettingLine(name, "missing", "", info.description or "required", given))
        elif value is None:
            lines.append(SettingLine(name, "ok", "", f"unset: {info.description}", given))
        else:
            lines.append(SettingLine(name, "ok", mask(value), from_env=given))
    return lines, group


def settings_report(env_file: str | Path | None = ".env") -> tuple[list[SettingLine], Settings]:
    """All setting lines plus a Settings built from the valid parts (defaults where invalid)."""
    lines: list[SettingLine] = []
    groups: dict[str, BaseSettings] = {}
    for key, cls in GROUPS.items():
        group_lines, groups[key] = _group_lines(cls, env_file)
        lines += group_lines
    return lines, Settings(**groups)
