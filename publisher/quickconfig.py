"""Configuration read with the standard library alone, for fast commands.

``publisher queue list`` must answer in well under half a second.  Importing
pydantic-settings and validating every schedule takes longer than that on a
small machine, so the listing reads just what it needs here:

- ``quick_settings()``: ``DATABASE_URL`` and ``PUBLISHER_SCHEDULES``, resolved
  the way ``publisher.config.Settings`` resolves them (names are not
  case-sensitive; the process environment wins over ``.env``, which wins
  over the default; a ``--schedules`` option wins over both);
- ``quick_schedules()``: the site's time zone and the channel names.

Nothing here validates more than it reads.  If a value is not plainly
well-formed (a TOML error, a second ``[site]``, an unknown time zone, an
empty variable), these return ``None`` and the caller takes the full path
(``Settings`` and ``load_config``), which names the problem.  Tests keep both
paths in agreement.

The defaults, the name rule and ``parse_duration`` live here so that
``publisher.config`` and this module cannot drift apart.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

DEFAULT_DATABASE = "sqlite:///var/publisher.db"
DEFAULT_SCHEDULES = Path("schedules")
#: The file ``Settings`` reads besides the environment (relative to the working directory).
ENV_FILE = Path(".env")
#: Feed, channel and route names.
NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


def parse_duration(value: Any) -> float:
    """``90``, ``"90s"``, ``"15m"``, ``"24h"``, ``"2d"`` -> seconds."""
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ValueError(f'not a duration: {value!r} (use e.g. 90, "90s", "15m", "24h")')
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if seconds < 0:
        raise ValueError(f"duration must not be negative: {value!r}")
    return seconds


def environment(env_file: Path = ENV_FILE) -> dict[str, str]:
    """The variables credentials are looked up in: ``env_file`` first, the
    process environment overriding it."""
    values: dict[str, str] = {}
    if env_file.is_file():
        from dotenv import dotenv_values

        values.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    values.update(os.environ)
    return values


@dataclass(frozen=True)
class QuickSettings:
    database_url: str
    schedules: Path


def quick_settings(*, schedules: Path | None = None,
                   environ: Mapping[str, str] | None = None) -> QuickSettings | None:
    """Where the database and the schedules are, as ``Settings`` would say;
    ``None`` when a value is empty (the full path reports it)."""
    env = environ if environ is not None else environment()
    folded = {key.lower(): value for key, value in env.items()}
    url = folded.get("database_url", DEFAULT_DATABASE)
    folder = folded.get("publisher_schedules")
    if not url or folder == "":
        return None
    if schedules is None:
        schedules = Path(folder) if folder is not None else DEFAULT_SCHEDULES
    return QuickSettings(database_url=url, schedules=schedules)


@dataclass(frozen=True)
class QuickSchedules:
    timezone: ZoneInfo
    #: Channel names, in the order ``load_config`` gives them.
    channels: tuple[str, ...]


def quick_schedules(schedules: Path) -> QuickSchedules | None:
    """The site's time zone and the channel names from ``schedules`` (a folder
    of ``*.toml`` or one file); ``None`` when anything read is not well-formed."""
    files = sorted(schedules.glob("*.toml")) if schedules.is_dir() else [schedules]
    if not files or not files[0].is_file():
        return None
    zone: str | None = None
    channels: list[str] = []
    for path in files:
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            return None
        site = raw.get("site")
        if site is not None:
            if zone is not None or not isinstance(site, dict):
                return None
            zone = site.get("timezone", "UTC")
            if not isinstance(zone, str):
                return None
        table = raw.get("channels", {})
        if not isinstance(table, dict):
            return None
        for name, body in table.items():
            if name in channels or not isinstance(body, dict) or not NAME.match(name):
                return None
            channels.append(name)
    try:
        tz = ZoneInfo("UTC" if zone is None else zone)
    except (ValueError, OSError, KeyError):  # ZoneInfoNotFoundError is a KeyError
        return None
    return QuickSchedules(timezone=tz, channels=tuple(channels))
