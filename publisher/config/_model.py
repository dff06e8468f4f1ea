"""The schedules' TOML model: pydantic validation of one file, and the merge
of all files into ``publisher.config.Config``.

Imported by ``load_config`` only when a schedule changed (pydantic is the
slowest import of a quick command); nothing else imports it.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from publisher.config import (
    NAME,
    ChannelConfig,
    Config,
    FeedConfig,
    RecurringConfig,
    RetryConfig,
    RouteConfig,
    TimingConfig,
    _display,
    _environment_problems,
    parse_duration,
    parse_span,
)
from publisher.exceptions import ConfigError
from publisher.types import FeedKind, Priority


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Site(_Model):
    name: str = "newsroom"
    timezone: str = "UTC"
    #: Where the daemon's HTTP listener is reached from outside (behind a
    #: proxy): WebSub hubs call back under it.  None: no WebSub.
    public_url: str | None = None

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f'unknown time zone "{value}" (use an IANA name like "Europe/Paris")'
            ) from None
        return value


class _Feed(_Model):
    name: str
    url: str
    kind: FeedKind = FeedKind.RSS
    poll_interval: float = 60.0
    backfill: int = Field(default=0, ge=0, le=10_000)
    max_entries: int = Field(default=200, ge=1, le=10_000)
    headers: dict[str, str] = {}
    #: Header name -> environment variable, for feeds behind a token.
    headers_from_env: dict[str, str] = {}
    #: The environment variable holding the push hook's HMAC secret
    #: (``POST /hooks/wordpress/<feed>``); None: the feed takes no push.
    hook_secret_env: str | None = None

    _duration = field_validator("poll_interval", mode="before")(
        classmethod(lambda cls, v: parse_duration(v))
    )

    @field_validator("poll_interval")
    @classmethod
    def _min_interval(cls, value: float) -> float:
        if value < 1:
            raise ValueError("must be at least 1 second")
        return value

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _check_name(value)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not re.match(r"^(https?://[^/\s]+|file:|/|\.{0,2}/|[\w.-]+/)", value):
            raise ValueError(f'not an http(s) URL or a file path: "{value}"')
        return value


class _Retry(_Model):
    max_attempts: int = Field(default=8, ge=1, le=100)
    base: float = 2.0
    cap: float = 900.0

    _duration = field_validator("base", "cap", mode="before")(
        classmethod(lambda cls, v: parse_duration(v))
    )


class _Timing(_Model):
    windows: list[str] = []
    quiet_hours: list[str] = []
    min_spacing: float = 0.0
    per_hour: int | None = Field(default=None, ge=1)
    per_day: int | None = Field(default=None, ge=1)
    cost_per_post: float = Field(default=0.0, ge=0)
    cost_per_link_post: float | None = Field(default=None, ge=0)
    monthly_budget: float | None = Field(default=None, ge=0)
    order: Literal["oldest", "newest"] = "oldest"

    _duration = field_validator("min_spacing", mode="before")(
        classmethod(lambda cls, v: parse_duration(v))
    )

    @field_validator("windows", "quiet_hours")
    @classmethod
    def _spans(cls, value: list[str]) -> list[str]:
        for span in value:
            parse_span(span)
        return value


class _Recurring(_Model):
    name: str
    cron: str
    channels: list[str]
    text: str | None = None
    urls: list[str] = []
    template: str | None = None
    priority: Priority = Priority.LOW

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        if len(value.split()) != 5:
            raise ValueError(f'not a cron expression: "{value}" (five fields, like "0 9 * * mon")')
        return value

    @model_validator(mode="after")
    def _one_of(self) -> _Recurring:
        if (self.text is None) == (not self.urls):
            raise ValueError("give either text or urls (a rotation of article URLs)")
        return self


class _Channel(_Model):
    type: str
    credentials: dict[str, str] = {}
    base_url: str | None = None
    max_age: float = 86400.0
    timeout: float = 10.0
    concurrency: int = Field(default=4, ge=1, le=64)
    template: str = "default"
    approval: bool = False
    utm: dict[str, str] | None = None
    hashtags: dict[str, str] = {}
    hashtag_limit: int = Field(default=3, ge=0, le=10)
    retry: _Retry = _Retry()
    timing: _Timing = _Timing()
    options: dict[str, Any] = {}

    _duration = field_validator("max_age", "timeout", mode="before")(
        classmethod(lambda cls, v: parse_duration(v))
    )

    @field_validator("credentials")
    @classmethod
    def _env_names(cls, value: dict[str, str]) -> dict[str, str]:
        for key, env in value.items():
            if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", env):
                raise ValueError(
                    f"{key}: must name an environment variable (like X_API_KEY), "
                    "never hold the secret itself"
                )
        return value

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(f'not an http(s) URL: "{value}"')
        return value.rstrip("/") if value else value


class _Route(_Model):
    feed: str = "*"
    categories: list[str] = []
    tags: list[str] = []
    channels: list[str]
    template: str | None = None

    @field_validator("channels")
    @classmethod
    def _some(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("must name at least one channel")
        return value


class _Alerts(_Model):
    channels: list[str] = []


class _File(_Model):
    site: _Site | None = None
    alerts: _Alerts | None = None
    feeds: list[_Feed] = []
    channels: dict[str, _Channel] = {}
    routes: list[_Route] = []
    recurring: list[_Recurring] = []

    @model_validator(mode="after")
    def _channel_names(self) -> _File:
        for name in self.channels:
            _check_name(name)
        return self


def _check_name(value: str) -> str:
    if not NAME.match(value):
        raise ValueError(
            f'"{value}" is not a valid name (lower-case letters, digits, "-" and "_")'
        )
    return value


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
        raise ConfigError([f"{_display(schedules)}: no schedules (*.toml) found"])
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
        try:
            parsed.append((path, _File.model_validate(raw)))
        except ValidationError as exc:
            for err in exc.errors():
                msg = err["msg"].removeprefix("Value error, ")
                if err["type"] == "extra_forbidden":
                    msg = "unknown key"
                elif err["type"] == "missing":
                    msg = "is required"
                problems.append(f"{shown}: {_loc(err['loc'])}: {msg}")
    if problems:
        raise ConfigError(problems)

    site: _Site | None = None
    site_file = ""
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
            feeds.append(FeedConfig(
                name=feed.name, url=_resolve_feed_url(feed.url, path.parent), kind=feed.kind,
                poll_interval=feed.poll_interval, backfill=feed.backfill,
                max_entries=feed.max_entries, headers=dict(feed.headers),
                headers_from_env=dict(feed.headers_from_env), source=f"{shown}: feeds[{i}]",
                hook_secret_env=feed.hook_secret_env,
            ))
        for name, ch in model.channels.items():
            if name in channels:
                problems.append(f'{shown}: channels.{name}: duplicate channel "{name}"')
                continue
            retry = RetryConfig(ch.retry.max_attempts, ch.retry.base, ch.retry.cap)
            channels[name] = ChannelConfig(
                name=name, type=ch.type, credentials=dict(ch.credentials), base_url=ch.base_url,
                max_age=ch.max_age, timeout=ch.timeout, concurrency=ch.concurrency,
                template=ch.template,
                approval=ch.approval, utm=dict(ch.utm) if ch.utm is not None else None,
                hashtags=dict(ch.hashtags), hashtag_limit=ch.hashtag_limit, retry=retry,
                options=dict(ch.options), source=f"{shown}: channels.{name}",
                timing=TimingConfig(
                    windows=tuple(parse_span(w) for w in ch.timing.windows),
                    quiet_hours=tuple(parse_span(q) for q in ch.timing.quiet_hours),
                    min_spacing=ch.timing.min_spacing, per_hour=ch.timing.per_hour,
                    per_day=ch.timing.per_day, cost_per_post=ch.timing.cost_per_post,
                    cost_per_link_post=ch.timing.cost_per_link_post,
                    monthly_budget=ch.timing.monthly_budget, order=ch.timing.order,
                ),
            )
        for i, route in enumerate(model.routes):
            routes.append(RouteConfig(
                feed=route.feed, categories=tuple(route.categories), tags=tuple(route.tags),
                channels=tuple(route.channels), template=route.template,
                source=f"{shown}: routes[{i}]",
            ))

    alert_channels: list[str] = []
    for path, model in parsed:
        for j, name in enumerate(model.alerts.channels if model.alerts else ()):
            if name not in channels:
                problems.append(f'{_display(path)}: alerts.channels[{j}]: unknown channel "{name}"')
            elif name not in alert_channels:
                alert_channels.append(name)
    recurring: list[RecurringConfig] = []
    for path, model in parsed:
        shown = _display(path)
        for i, rec in enumerate(model.recurring):
            source = f"{shown}: recurring[{i}]"
            if any(r.name == rec.name for r in recurring):
                problems.append(f'{source}.name: duplicate recurring post "{rec.name}"')
            for j, channel in enumerate(rec.channels):
                if channel not in channels:
                    problems.append(f'{source}.channels[{j}]: unknown channel "{channel}"')
            recurring.append(RecurringConfig(
                name=rec.name, cron=rec.cron, channels=tuple(rec.channels), text=rec.text,
                urls=tuple(rec.urls), template=rec.template, priority=rec.priority,
                source=source))

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
    site = site or _Site()
    return Config(
        site_name=site.name, timezone=ZoneInfo(site.timezone), feeds=tuple(feeds),
        channels=channels, routes=tuple(routes), files=tuple(files),
        recurring=tuple(recurring), public_url=site.public_url,
        alert_channels=tuple(alert_channels),
    )
