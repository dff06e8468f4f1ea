"""Configuration: secrets and paths from the environment, the rest from TOML.

Two sources, never mixed:

- ``Settings`` reads the process environment and ``.env``: where the
  database is, where the schedules and templates are, logging, and the
  credential values that channels name by environment variable.
- ``schedules/*.toml`` declares the site, its feeds, its channels and the
  routes between them.  Secrets are never written there: a channel names the
  *environment variables* that hold its credentials.

``load_config`` validates everything it can see on its own and raises one
``ConfigError`` carrying one line per problem, each naming the file and the
key (``schedules/site.toml: routes[1].channels: unknown channel "fb"``).
Checks that need another capability (is the channel type known, does the
template exist) are made by the app with the same line format.

Start-up cost: this module imports the standard library only.  The TOML is
validated by pydantic models (``publisher.config._model``), imported when a
schedule has changed; ``load_config``'s output for unchanged files is kept
in a cache keyed by their content (``compiled_cache``), so a quick command
reads a pickle instead of importing pydantic.  The cache holds the loader's
own output, never a second reading of the files.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import time
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from publisher.exceptions import ConfigError
from publisher.types import FeedKind, Priority

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


# -- process settings -----------------------------------------------------------------


def _text(value: Any) -> str:
    return str(value)


def _path(value: Any) -> Path:
    return Path(value)


def _optional(value: Any) -> str | None:
    return None if value is None else str(value)


def _number(kind: type, low: float, high: float | None = None) -> Any:
    def convert(value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError(f"not a number: {value!r}")
        try:
            number = kind(value.strip() if isinstance(value, str) else value)
        except (TypeError, ValueError):
            raise ValueError(f"not {'an integer' if kind is int else 'a number'}: "
                             f"{value!r}") from None
        if number < low or (high is not None and number > high):
            span = f"at least {low:g}" if high is None else f"between {low:g} and {high:g}"
            raise ValueError(f"must be {span}, not {value!r}")
        return number

    return convert


class Settings:
    """Process settings: keyword arguments, else the environment, else
    ``.env`` (``env_file``), else the default.

    Variable names are ``PUBLISHER_<FIELD>`` (``DATABASE_URL`` for the
    database) and are not case-sensitive; a bad value is a ``ConfigError``
    naming the variable.
    """

    #: field -> (variable, default, conversion)
    FIELDS: ClassVar[dict[str, tuple[str, Any, Any]]] = {
        "database_url": ("DATABASE_URL", DEFAULT_DATABASE, _text),
        "schedules": ("PUBLISHER_SCHEDULES", DEFAULT_SCHEDULES, _path),
        "templates": ("PUBLISHER_TEMPLATES", Path("templates"), _path),
        "log_format": ("PUBLISHER_LOG_FORMAT", "human", _text),
        "log_level": ("PUBLISHER_LOG_LEVEL", "INFO", _text),
        # Identifies this daemon in leases and the publish log (default host:pid).
        "worker_id": ("PUBLISHER_WORKER_ID", None, _optional),
        # How long a claimed post stays leased to its daemon.  Another daemon
        # on the same PostgreSQL takes over (and reconciles) posts whose lease
        # ran out; it must be longer than the slowest publish (timeouts x steps).
        "lease_seconds": ("PUBLISHER_LEASE_SECONDS", 300.0, _number(float, 5.0)),
        # Posts published at once by this daemon, across all channels.
        "workers": ("PUBLISHER_WORKERS", 16, _number(int, 1, 256)),
        "env_file": ("PUBLISHER_ENV_FILE", ENV_FILE, _path),
    }

    database_url: str
    schedules: Path
    templates: Path
    log_format: str
    log_level: str
    worker_id: str | None
    lease_seconds: float
    workers: int
    env_file: Path

    def __init__(self, **values: Any):
        unknown = set(values) - set(self.FIELDS)
        if unknown:
            raise TypeError(f"Settings: unknown field(s) {', '.join(sorted(unknown))}")
        env = {k.upper(): v for k, v in os.environ.items()}
        env_file = Path(values.get("env_file") or env.get("PUBLISHER_ENV_FILE") or ENV_FILE)
        dotenv: dict[str, str] = {}
        if env_file.is_file():
            from dotenv import dotenv_values

            dotenv = {k.upper(): v for k, v in dotenv_values(env_file).items()
                      if v is not None}
        problems = []
        for name, (variable, default, convert) in self.FIELDS.items():
            if name in values:
                raw, where = values[name], name
            elif variable in env:
                raw, where = env[variable], f"environment variable {variable}"
            elif variable in dotenv:
                raw, where = dotenv[variable], f"{env_file}: {variable}"
            else:
                setattr(self, name, default)
                continue
            try:
                setattr(self, name, convert(raw))
            except ValueError as exc:
                problems.append(f"{where}: {exc}")
        if problems:
            raise ConfigError(problems)

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.FIELDS
                          if name != "database_url")
        return f"Settings({shown})"  # the database URL may hold a password

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Settings):
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in self.FIELDS)

    __hash__ = None  # type: ignore[assignment]

    def environment(self) -> dict[str, str]:
        """The variables credentials are looked up in: ``.env`` first, the
        process environment overriding it."""
        return environment(self.env_file)


# -- schedules ------------------------------------------------------------------------


_SPAN = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


def parse_span(value: str) -> tuple[time, time]:
    """``"07:00-22:00"`` -> (07:00, 22:00); a span may wrap midnight."""
    match = _SPAN.match(value)
    if not match:
        raise ValueError(f'not a time span: "{value}" (use "HH:MM-HH:MM")')
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h1 > 23 or h2 > 24 or m1 > 59 or m2 > 59 or (h2 == 24 and m2):
        raise ValueError(f'not a time span: "{value}"')
    end = time(0) if h2 == 24 else time(h2, m2)
    if time(h1, m1) == end:
        raise ValueError(f'empty time span: "{value}"')
    return time(h1, m1), end



# -- the configuration, as the app reads it and as the TOML declares it ---------------
#
# One definition per table: these frozen dataclasses are what the app reads,
# and ``publisher.config._model`` validates the TOML into them with pydantic
# (``TypeAdapter``), reading the rules from the ``Annotated`` metadata below.
# ``_Rule`` speaks pydantic's ``__get_pydantic_core_schema__`` protocol, so
# this module imports no pydantic: a quick command that gets its
# configuration from the cache never loads it.


class _Rule:
    """Field metadata: ``check(value)`` returns the value (or a converted one)
    or raises ``ValueError`` with the message the user sees; with ``before``
    it runs on the raw TOML value, else after the type is validated."""

    def __init__(self, check: Callable[[Any], Any], *, before: bool = False):
        self.check = check
        self.before = before

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> Any:
        from pydantic_core import core_schema

        make = (core_schema.no_info_before_validator_function if self.before
                else core_schema.no_info_after_validator_function)
        return make(self.check, handler(source))


def _between(low: float | None = None, high: float | None = None, unit: str = "") -> _Rule:
    def check(value: Any) -> Any:
        if value is None:
            return value
        if low is not None and value < low:
            raise ValueError(f"must be at least {low:g}{unit}")
        if high is not None and value > high:
            raise ValueError(f"must be at most {high:g}{unit}")
        return value

    return _Rule(check)


def _check_name(value: str) -> str:
    if not NAME.match(value):
        raise ValueError(
            f'"{value}" is not a valid name (lower-case letters, digits, "-" and "_")'
        )
    return value


def _zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f'unknown time zone "{value}" (use an IANA name like "Europe/Paris")'
        ) from None
    return value


def _feed_url(value: str) -> str:
    if not re.match(r"^(https?://[^/\s]+|file:|/|\.{0,2}/|[\w.-]+/)", value):
        raise ValueError(f'not an http(s) URL or a file path: "{value}"')
    return value


def _http_url(value: str | None) -> str | None:
    if value is not None and not re.match(r"^https?://[^/\s]+", value):
        raise ValueError(f'not an http(s) URL: "{value}"')
    return value.rstrip("/") if value else value


def _env_names(value: Mapping[str, str]) -> Mapping[str, str]:
    for key, env in value.items():
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", env):
            raise ValueError(
                f"{key}: must name an environment variable (like X_API_KEY), "
                "never hold the secret itself"
            )
    return value


def _spans(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return tuple(parse_span(v) if isinstance(v, str) else v for v in value)
    return value


def _cron(value: str) -> str:
    if len(value.split()) != 5:
        raise ValueError(f'not a cron expression: "{value}" (five fields, like "0 9 * * mon")')
    return value


def _some(value: tuple[str, ...]) -> tuple[str, ...]:
    if not value:
        raise ValueError("must name at least one channel")
    return value


#: Seconds: ``90``, ``"90s"``, ``"15m"``, ``"24h"``, ``"2d"``.
Duration = Annotated[float, _Rule(parse_duration, before=True)]
Name = Annotated[str, _Rule(_check_name)]
Spans = Annotated[tuple[tuple[time, time], ...], _Rule(_spans, before=True)]
#: Unknown keys are errors ("unknown key"), in every table.
_STRICT = {"extra": "forbid"}


@dataclass(frozen=True)
class SiteConfig:
    """``[site]``."""

    __pydantic_config__ = _STRICT

    name: str = "newsroom"
    timezone: Annotated[str, _Rule(_zone)] = "UTC"
    #: Where the daemon's HTTP listener is reached from outside (behind a
    #: proxy): WebSub hubs call back under it.  None: no WebSub.
    public_url: str | None = None


@dataclass(frozen=True)
class AlertsConfig:
    """``[alerts]``: where alerts to a person go."""

    __pydantic_config__ = _STRICT

    channels: tuple[str, ...] = ()


def _header_name(value: str | None) -> str | None:
    if value is not None and not re.match(r"^[A-Za-z0-9][A-Za-z0-9-]*$", value.strip()):
        raise ValueError(f'not an HTTP header name: "{value}" (like "X-Remote-User")')
    return value.strip() if value else None


def _addresses(value: Any) -> Any:
    import ipaddress

    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list | tuple):
        return value
    for one in values:
        try:
            ipaddress.ip_address(str(one).strip())
        except ValueError:
            raise ValueError(f'not an IP address: "{one}" (the proxy\'s, like '
                             '"127.0.0.1")') from None
    return tuple(str(one).strip() for one in values)


@dataclass(frozen=True)
class DeskConfig:
    """``[desk]``: the web desk behind a reverse proxy.  The environment's
    ``PUBLISHER_DESK_TRUSTED_PROXY_HEADER`` and ``PUBLISHER_DESK_TRUSTED_PROXY``
    override these when set."""

    __pydantic_config__ = _STRICT

    #: The header the proxy sets to the signed-in user's name ("X-Remote-User").
    trusted_proxy_header: Annotated[str | None, _Rule(_header_name)] = None
    #: The proxy's address (or a list): its header and X-Forwarded-Proto are
    #: believed only from it.
    trusted_proxy: Annotated[tuple[str, ...], _Rule(_addresses, before=True)] = ()


@dataclass(frozen=True)
class RetryConfig:
    """``[channels.NAME.retry]``."""

    __pydantic_config__ = _STRICT

    max_attempts: Annotated[int, _between(1, 100)] = 8
    base: Duration = 2.0
    cap: Duration = 900.0


@dataclass(frozen=True)
class TimingConfig:
    """A channel's timing rules, in the site's time zone (see services/timing.py)."""

    __pydantic_config__ = _STRICT

    windows: Spans = ()
    quiet_hours: Spans = ()
    min_spacing: Duration = 0.0
    per_hour: Annotated[int | None, _between(1)] = None
    per_day: Annotated[int | None, _between(1)] = None
    cost_per_post: Annotated[float, _between(0)] = 0.0
    cost_per_link_post: Annotated[float | None, _between(0)] = None
    monthly_budget: Annotated[float | None, _between(0)] = None
    order: Literal["oldest", "newest"] = "oldest"


@dataclass(frozen=True)
class RecurringConfig:
    """``[[recurring]]``: either ``text`` or ``urls`` (a rotation of articles)."""

    __pydantic_config__ = _STRICT

    name: str
    cron: Annotated[str, _Rule(_cron)]
    channels: tuple[str, ...]
    text: str | None = None
    urls: tuple[str, ...] = ()
    template: str | None = None
    priority: Priority = Priority.LOW
    source: str = ""  # "schedules/site.toml: recurring[0]" (set by the loader)

    def __post_init__(self) -> None:
        if (self.text is None) == (not self.urls):
            raise ValueError("give either text or urls (a rotation of article URLs)")


@dataclass(frozen=True)
class FeedConfig:
    """``[[feeds]]``."""

    __pydantic_config__ = _STRICT

    name: Name
    url: Annotated[str, _Rule(_feed_url)]  # the loader makes it absolute (http(s) or file://)
    kind: FeedKind = FeedKind.RSS
    poll_interval: Annotated[Duration, _between(1, unit=" second")] = 60.0
    backfill: Annotated[int, _between(0, 10_000)] = 0
    max_entries: Annotated[int, _between(1, 10_000)] = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    #: Header name -> environment variable, for feeds behind a token.
    headers_from_env: Mapping[str, str] = field(default_factory=dict)
    source: str = ""  # "schedules/site.toml: feeds[0]" (set by the loader)
    #: The environment variable holding the push hook's HMAC secret
    #: (``POST /hooks/wordpress/<feed>``); None: the feed takes no push.
    hook_secret_env: str | None = None
    #: ``kind = "wordpress"``: an article the site unpublishes is only noticed
    #: (status and the log name it), or retracted at once ("retract").
    on_unpublish: Literal["notice", "retract"] = "notice"


@dataclass(frozen=True)
class ChannelConfig:
    """``[channels.NAME]``."""

    __pydantic_config__ = _STRICT

    name: Name  # the table's name (set by the loader)
    type: str
    #: credential key -> the environment variable holding it
    credentials: Annotated[Mapping[str, str], _Rule(_env_names)] = field(default_factory=dict)
    base_url: Annotated[str | None, _Rule(_http_url)] = None
    max_age: Duration = 86400.0
    timeout: Duration = 10.0
    #: Posts in flight at once; None: the channel type's default
    #: (``ChannelType.concurrency``: 4, Mastodon 8).
    concurrency: Annotated[int, _between(1, 64)] | None = None
    template: str = "default"
    approval: bool = False
    utm: Mapping[str, str] | None = None
    hashtags: Mapping[str, str] = field(default_factory=dict)
    hashtag_limit: Annotated[int, _between(0, 10)] = 3
    retry: RetryConfig = RetryConfig()
    options: Mapping[str, Any] = field(default_factory=dict)
    source: str = ""  # "schedules/site.toml: channels.x" (set by the loader)
    timing: TimingConfig = TimingConfig()
    #: After the post (issue 13): what a correction of the article does to its
    #: published post: nothing, an edit in place (else a note), or a note.
    on_update: Literal["ignore", "edit", "note"] = "ignore"


@dataclass(frozen=True)
class RouteConfig:
    """``[[routes]]``."""

    __pydantic_config__ = _STRICT

    channels: Annotated[tuple[str, ...], _Rule(_some)]
    feed: str = "*"  # a feed name or "*"
    categories: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    template: str | None = None
    source: str = ""  # "schedules/site.toml: routes[0]" (set by the loader)

    def matches(self, feed: str | None, categories: Iterable[str], tags: Iterable[str]) -> bool:
        """Whether an article of ``feed`` with these categories/tags takes this route.
        Category and tag filters compare case-insensitively; either one matching is enough."""
        if self.feed != "*" and self.feed != feed:
            return False
        if not self.categories and not self.tags:
            return True
        wanted = {c.casefold() for c in self.categories} | {t.casefold() for t in self.tags}
        have = {c.casefold() for c in categories} | {t.casefold() for t in tags}
        return bool(wanted & have)


@dataclass(frozen=True)
class Config:
    site_name: str
    timezone: ZoneInfo
    feeds: tuple[FeedConfig, ...]
    channels: Mapping[str, ChannelConfig]
    routes: tuple[RouteConfig, ...]
    files: tuple[Path, ...] = field(default=())
    recurring: tuple[RecurringConfig, ...] = ()
    public_url: str | None = None
    #: ``[alerts] channels``: where alerts to a person go.
    alert_channels: tuple[str, ...] = ()
    #: ``[desk]``: the trusted proxy in front of the web desk.
    desk: DeskConfig = field(default_factory=DeskConfig)

    def feed(self, name: str) -> FeedConfig:
        for feed in self.feeds:
            if feed.name == name:
                return feed
        raise KeyError(name)

    def channels_for(self, feed: str | None, categories: Iterable[str],
                     tags: Iterable[str]) -> dict[str, str | None]:
        """Channel name -> template override, for every route the article takes
        (the first route naming a channel wins)."""
        categories, tags = list(categories), list(tags)
        chosen: dict[str, str | None] = {}
        for route in self.routes:
            if route.matches(feed, categories, tags):
                for channel in route.channels:
                    chosen.setdefault(channel, route.template)
        return chosen


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def schedule_files(schedules: Path) -> list[Path]:
    """The files ``load_config`` reads: every ``*.toml`` of a folder, or one file."""
    return sorted(schedules.glob("*.toml")) if schedules.is_dir() else [schedules]


def environment_problems(config: Config, environ: Mapping[str, str]) -> list[str]:
    """One line per credential or header variable the schedules name and the
    environment does not set (values are never read into the config)."""
    return _environment_problems(config.channels.values(), config.feeds, environ)


def _environment_problems(channels: Iterable[ChannelConfig], feeds: Iterable[FeedConfig],
                          environ: Mapping[str, str]) -> list[str]:
    problems = []
    for cc in channels:
        for key, env in cc.credentials.items():
            if not environ.get(env):
                problems.append(
                    f"{cc.source}.credentials.{key}: environment variable {env} is not set"
                )
    for fc in feeds:
        for header, env in fc.headers_from_env.items():
            if not environ.get(env):
                problems.append(
                    f"{fc.source}.headers_from_env.{header}: "
                    f"environment variable {env} is not set"
                )
    return problems


def load_config(schedules: Path, *, environ: Mapping[str, str] | None = None) -> Config:
    """Read and validate every ``*.toml`` in ``schedules`` (or one file).

    Raises ``ConfigError`` with one line per problem.  With ``environ``, also
    checks that every credential variable a channel names is set (values are
    never read into the config).  The result for files whose content has not
    changed comes from ``compiled_cache()`` (see the module's docstring)."""
    files = schedule_files(schedules)
    key = _cache_key(schedules, files)
    config = _cached(key) if key is not None else None
    if config is None:
        from publisher.config._model import compile_schedules

        config = compile_schedules(schedules, files, environ=environ)
        if key is not None:
            _store(key, config)
    elif environ is not None:
        problems = environment_problems(config, environ)
        if problems:
            raise ConfigError(problems)
    return config


# -- the compiled configuration's cache -------------------------------------------------

#: Bumped when the cached classes change shape in a way their source does not show.
_CACHE_FORMAT = 1


def compiled_cache() -> Path | None:
    """Where ``load_config`` keeps its output: ``$PUBLISHER_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/publisher``, else ``~/.cache/publisher``; ``None``
    (no cache) when ``PUBLISHER_CACHE_DIR`` is set but empty."""
    chosen = os.environ.get("PUBLISHER_CACHE_DIR")
    if chosen is not None:
        return Path(chosen) if chosen else None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "publisher"


def _cache_key(schedules: Path, files: list[Path]) -> tuple[Path, bytes] | None:
    """(cache file, digest of everything the loader's output depends on): the
    working directory (sources are shown relative to it), the files' paths and
    bytes, and the loader's own code.  ``None`` when a file cannot be read (the
    loader then reports it)."""
    folder = compiled_cache()
    if folder is None:
        return None
    digest = hashlib.sha256(f"{_CACHE_FORMAT}\0{os.getcwd()}\0".encode())
    try:
        here = Path(__file__).parent
        for code in (here / "__init__.py", here / "_model.py",
                     here.parent / "types.py"):
            st = code.stat()
            digest.update(f"{code}\0{st.st_mtime_ns}\0{st.st_size}\0".encode())
        for path in files:
            digest.update(f"{path.resolve()}\0".encode())
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    except OSError:
        return None
    where = hashlib.sha256(f"{os.getcwd()}\0{schedules.resolve()}".encode()).hexdigest()
    return folder / f"config-{where[:24]}.pickle", digest.digest()


def _cached(key: tuple[Path, bytes]) -> Config | None:
    path, digest = key
    try:
        with path.open("rb") as fh:
            st = os.fstat(fh.fileno())
            # Only a file of ours that nobody else may write is unpickled.
            if st.st_uid != os.getuid() or st.st_mode & 0o022:
                return None
            if fh.read(len(digest)) != digest:
                return None
            config = pickle.load(fh)
    except Exception:  # a missing, partial or stale cache is only a miss
        return None
    return config if isinstance(config, Config) else None


def _store(key: tuple[Path, bytes], config: Config) -> None:
    path, digest = key
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(digest)
            pickle.dump(config, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    except OSError:  # a read-only home only costs speed
        tmp.unlink(missing_ok=True)
