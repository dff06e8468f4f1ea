"""The schedules' TOML: pydantic validates each file into the dataclasses of
``publisher.config`` (their ``Annotated`` rules), and the files are merged
into one ``Config``.

Imported by ``load_config`` only when a schedule changed (pydantic is the
slowest import of a quick command); nothing else imports it.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from pydantic import TypeAdapter, ValidationError

from publisher.config import (
    AlertsConfig,
    ChannelConfig,
    Config,
    DeskConfig,
    FeedConfig,
    RecurringConfig,
    RouteConfig,
    SiteConfig,
    _display,
    _environment_problems,
)
from publisher.exceptions import ConfigError


@dataclass(frozen=True)
class _File:
    """The tables one schedule file may hold."""

    __pydantic_config__: ClassVar[dict[str, str]] = {"extra": "forbid"}

    site: SiteConfig | None = None
    alerts: AlertsConfig | None = None
    desk: DeskConfig | None = None
    feeds: tuple[FeedConfig, ...] = ()
    channels: Mapping[str, ChannelConfig] = field(default_factory=dict)
    routes: tuple[RouteConfig, ...] = ()
    recurring: tuple[RecurringConfig, ...] = ()


_FILE = TypeAdapter(_File)
_UNKNOWN = frozenset({"extra_forbidden", "unexpected_keyword_argument"})
_MISSING = frozenset({"missing", "missing_argument", "missing_keyword_only_argument"})


def _located(raw: dict[str, Any], shown: str) -> list[str]:
    """Give each table the fields the loader sets (a channel's name, every
    table's source); a file that sets them itself has them as unknown keys."""
    problems = []
    tables: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
    for key in ("feeds", "routes", "recurring"):
        entries = raw.get(key)
        if isinstance(entries, list):
            for i, entry in enumerate(entries):
                if isinstance(entry, dict):
                    tables.append((f"{key}[{i}]", entry, {"source": f"{shown}: {key}[{i}]"}))
    named = raw.get("channels")
    if isinstance(named, dict):
        for name, entry in named.items():
            if isinstance(entry, dict):
                tables.append((f"channels.{name}", entry,
                               {"name": name, "source": f"{shown}: channels.{name}"}))
    for where, entry, given in tables:
        for key in given:
            if key in entry:
                problems.append(f"{shown}: {where}.{key}: unknown key")
        entry.update(given)
    return problems


def _loc(parts: Iterable[Any]) -> str:
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _resolve_feed_url(url: str, base_dir: Path) -> str:
    if re.match(r"^https?://", url):
        return url
    raw = url.removeprefix("file://").removeprefix("file:")
    path = Path(raw)
    if not path.is_absolute():
        path = (base_dir / path).resolve()
    return path.as_uri()


def compile_schedules(schedules: Path, files: list[Path], *,
                      environ: Mapping[str, str] | None = None) -> Config:
    """``load_config`` without its cache: read, validate and merge ``files``."""
    if not files or not files[0].exists():
        where = (f"in the folder {schedules.resolve()}" if schedules.is_dir()
                 else f"at {schedules.resolve()}")
        raise ConfigError([f"no schedules (*.toml) found {where} (choose the folder with "
                           "--schedules or $PUBLISHER_SCHEDULES)"])
    problems: list[str] = []
    parsed: list[tuple[Path, _File]] = []
    for path in files:
        shown = _display(path)
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(f"{shown}: cannot read: {exc}")
            continue
        except tomllib.TOMLDecodeError as exc:
            problems.append(f"{shown}: invalid TOML: {exc}")
            continue
        located = _located(raw, shown)
        problems += located
        try:
            parsed.append((path, _FILE.validate_python(raw)))
        except ValidationError as exc:
            for err in exc.errors():
                msg = err["msg"].removeprefix("Value error, ")
                if err["type"] in _UNKNOWN:
                    msg = "unknown key"
                elif err["type"] in _MISSING:
                    msg = "is required"
                problems.append(f"{shown}: {_loc(err['loc'])}: {msg}")
    if problems:
        raise ConfigError(problems)

    site: SiteConfig | None = None
    site_file = ""
    desk: DeskConfig | None = None
    desk_file = ""
    for path, model in parsed:
        if model.desk is not None:
            if desk is not None:
                problems.append(f"{_display(path)}: desk: already declared in {desk_file}")
            desk, desk_file = model.desk, _display(path)
    feeds: list[FeedConfig] = []
    channels: dict[str, ChannelConfig] = {}
    routes: list[RouteConfig] = []
    for path, model in parsed:
        shown = _display(path)
        if model.site is not None:
            if site is not None:
                problems.append(f"{shown}: site: already declared in {site_file}")
            site, site_file = model.site, shown
        for i, feed in enumerate(model.feeds):
            if any(f.name == feed.name for f in feeds):
                problems.append(f'{shown}: feeds[{i}].name: duplicate feed "{feed.name}"')
                continue
            feeds.append(replace(feed, url=_resolve_feed_url(feed.url, path.parent)))
        for name, ch in model.channels.items():
            if name in channels:
                problems.append(f'{shown}: channels.{name}: duplicate channel "{name}"')
                continue
            channels[name] = ch
        routes += model.routes

    alert_channels: list[str] = []
    for path, model in parsed:
        for j, name in enumerate(model.alerts.channels if model.alerts else ()):
            if name not in channels:
                problems.append(f'{_display(path)}: alerts.channels[{j}]: unknown channel "{name}"')
            elif name not in alert_channels:
                alert_channels.append(name)
    recurring: list[RecurringConfig] = []
    for _path, model in parsed:
        for rec in model.recurring:
            if any(r.name == rec.name for r in recurring):
                problems.append(f'{rec.source}.name: duplicate recurring post "{rec.name}"')
            for j, channel in enumerate(rec.channels):
                if channel not in channels:
                    problems.append(f'{rec.source}.channels[{j}]: unknown channel "{channel}"')
            recurring.append(rec)

    feed_names = {f.name for f in feeds}
    for rc in routes:
        if rc.feed != "*" and rc.feed not in feed_names:
            problems.append(f'{rc.source}.feed: unknown feed "{rc.feed}"')
        for j, channel in enumerate(rc.channels):
            if channel not in channels:
                problems.append(f'{rc.source}.channels[{j}]: unknown channel "{channel}"')
    if environ is not None:
        problems += _environment_problems(channels.values(), feeds, environ)
    if not feeds and not channels:
        problems.append(f"{_display(schedules)}: declares no feeds and no channels")
    if problems:
        raise ConfigError(problems)
    site = site or SiteConfig()
    return Config(
        site_name=site.name, timezone=ZoneInfo(site.timezone), feeds=tuple(feeds),
        channels=channels, routes=tuple(routes), files=tuple(files),
        recurring=tuple(recurring), public_url=site.public_url,
        alert_channels=tuple(alert_channels), desk=desk or DeskConfig(),
    )
