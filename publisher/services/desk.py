"""The desk: what editors and ops do from the command line, as functions of the app.

Every function takes the app first (``desk.add_posts(app, …)``), typed as
``publisher.services.ports.AppPorts``.  The verbs live in one module each,
by what they do, and are re-exported here:

- ``desk_posting``: queue an article or a text, preview (posts composed by
  ``lifecycle.compose``);
- ``desk_changes``: edit, cancel, approve, retry, resolve (decided by the
  lifecycle, carried out by ``desk_changes.apply``);
- ``desk_control``: pause and resume channels;
- ``desk_log``: the publish log, filtered and followed;
- ``desk_status``: one post and why it waits, ``status``;
- ``desk_input``: reading the editor's input and listing the queue.

``Desk``/``open_desk`` below is the light app the quick commands still use
until the CLI builds the one app (``make_app``) lazily; then it goes.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from publisher.config import Config, Settings, load_config
from publisher.services.desk_changes import (
    apply,
    approve_post,
    cancel_post,
    edit_post,
    get_post,
    resolve_post,
    retry_post,
)
from publisher.services.desk_control import ResumeResult, pause, resume
from publisher.services.desk_input import (
    FUTURE_LIMIT,
    MAX_ID,
    PAST_GRACE,
    Listing,
    check_channels,
    due_at,
    list_posts,
    local_time,
    parse_id,
    parse_outcomes,
    parse_priority,
    parse_since,
    parse_statuses,
    parse_when,
    quote,
)
from publisher.services.desk_log import LogFollower, LogQuery, log_query, read_log
from publisher.services.desk_posting import (
    Added,
    AddResult,
    Preview,
    add_posts,
    find_or_fetch,
    preview,
)
from publisher.services.desk_status import (
    DAEMON_TIMEOUT,
    FEED_FAILING,
    STUCK_AFTER,
    ChannelReport,
    DaemonReport,
    FeedReport,
    PostDetail,
    StatusReport,
    listing,
    show_post,
    status,
    why_waiting,
)
from publisher.services.ports import AppPorts
from publisher.services.timing import Gate, Spend, channel_gates, channel_spend
from publisher.store import require_database
from publisher.store.api import StoreAPI

if TYPE_CHECKING:
    from publisher.render import Renderer
    from publisher.services.dispatch import ChannelPool
    from publisher.sources import Fetcher


def _system_clock() -> datetime:
    return datetime.now(UTC)


class Desk:
    """A light app for the desk commands: the configuration and the store at
    once, the renderer, the page fetcher and the channel adapters only when a
    command uses them."""

    def __init__(self, settings: Settings, config: Config, store: StoreAPI, *,
                 now: Callable[[], datetime] | None = None,
                 environ: Mapping[str, str] | None = None):
        self.settings = settings
        self.config = config
        self.store = store
        self.now = now or _system_clock
        self._environ = environ
        self._renderer: Renderer | None = None
        self._fetcher: Fetcher | None = None
        self._channels: ChannelPool | None = None

    @property
    def environ(self) -> Mapping[str, str]:
        if self._environ is None:
            self._environ = self.settings.environment()
        return self._environ

    @property
    def renderer(self) -> Renderer:
        if self._renderer is None:
            from publisher.render import Renderer

            self._renderer = Renderer([self.settings.templates])
        return self._renderer

    @property
    def fetcher(self) -> Fetcher:
        if self._fetcher is None:
            from publisher.sources import Fetcher

            self._fetcher = Fetcher()
        return self._fetcher

    @property
    def channels(self) -> ChannelPool:
        if self._channels is None:
            from publisher.services.dispatch import ChannelPool

            self._channels = ChannelPool(self.config, self.environ)
        return self._channels

    def gates(self, now: datetime | None = None) -> dict[str, Gate]:
        """The same decision as ``Dispatcher.gates``: per channel, may it publish now."""
        return channel_gates(self.config, self.store, now or self.now())

    def spend(self, channel: str, now: datetime | None = None) -> Spend:
        """Estimated spend of a channel today and this month (site time zone)."""
        return channel_spend(self.config, self.store, channel, now or self.now())

    def close(self) -> None:
        if self._channels is not None:
            self._channels.close()
        if self._fetcher is not None:
            self._fetcher.close()
        self.store.close()


def open_desk(settings: Settings, *, now: Callable[[], datetime] | None = None) -> Desk:
    """The light app: the schedules (credentials are not required to be set:
    editors need no secrets) and the existing database (never created here)."""
    config = load_config(settings.schedules)
    from publisher.store import open_store

    require_database(settings.database_url)
    return Desk(settings, config, open_store(settings.database_url), now=now)


def who_am_i(environ: Mapping[str, str] | None = None) -> str:
    """The editor's name for ``--by`` (``$USER``)."""
    env = os.environ if environ is None else environ
    name = env.get("USER") or env.get("LOGNAME") or env.get("USERNAME")
    if not name:
        import getpass

        try:
            name = getpass.getuser()
        except (OSError, KeyError):
            name = "unknown"
    return name


__all__ = [
    "DAEMON_TIMEOUT",
    "FEED_FAILING",
    "FUTURE_LIMIT",
    "MAX_ID",
    "PAST_GRACE",
    "STUCK_AFTER",
    "AddResult",
    "Added",
    "AppPorts",
    "ChannelReport",
    "DaemonReport",
    "Desk",
    "FeedReport",
    "Listing",
    "LogFollower",
    "LogQuery",
    "PostDetail",
    "Preview",
    "ResumeResult",
    "StatusReport",
    "add_posts",
    "apply",
    "approve_post",
    "cancel_post",
    "check_channels",
    "due_at",
    "edit_post",
    "find_or_fetch",
    "get_post",
    "list_posts",
    "listing",
    "local_time",
    "log_query",
    "open_desk",
    "parse_id",
    "parse_outcomes",
    "parse_priority",
    "parse_since",
    "parse_statuses",
    "parse_when",
    "pause",
    "preview",
    "quote",
    "read_log",
    "resolve_post",
    "resume",
    "retry_post",
    "show_post",
    "status",
    "who_am_i",
    "why_waiting",
]
