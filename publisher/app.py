"""The one place that wires publisher together.

``make_app(settings, ...)`` is the only wiring point: the daemon, every
``publisher`` command and the tests get their app here, and call only
``App`` methods, so the command line holds no business rules of its own.

Its parts (store, renderer, fetcher, channels, planner, dispatcher) are built
on first use, and the modules behind them (SQLAlchemy, Jinja2, httpx, the
platform SDKs, APScheduler) are imported then, not when this module is
(reader's ``make_reader`` and ``_lazy_import`` are the model).  So
``publisher queue list`` pays for the store and nothing else, and there is
one implementation of each part, never a lighter copy.  Tests swap any part
through ``make_app``'s keyword arguments.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from publisher.config import Config, Settings, environment_problems, load_config
from publisher.exceptions import ChannelError, ConfigError, PublisherError

if TYPE_CHECKING:
    from publisher.channels import Channel
    from publisher.render import Renderer
    from publisher.services.desk_input import PostLister
    from publisher.services.dispatch import ChannelPool, Dispatcher
    from publisher.services.ingest import PollReport
    from publisher.services.plan import Planner, PlanReport
    from publisher.services.timing import Gate, Spend
    from publisher.sources import Fetcher
    from publisher.store.api import StoreAPI
    from publisher.store.listing import PostReader

log = logging.getLogger("publisher.app")

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class App:
    """Everything a running publisher needs, each part built when first used."""

    def __init__(self, settings: Settings, config: Config, *, store: StoreAPI | None = None,
                 fetcher: Fetcher | None = None, renderer: Renderer | None = None,
                 channels: Mapping[str, Channel] | None = None,
                 environ: Mapping[str, str] | None = None, now: Clock | None = None,
                 worker: str | None = None, create_store: bool = True):
        self.settings = settings
        self.config = config
        self.now: Clock = now or system_clock
        self.worker = worker or settings.worker_id or default_worker_id()
        self.max_workers = settings.workers
        self.lease_seconds = settings.lease_seconds
        self._store = store
        self._fetcher = fetcher
        self._renderer = renderer
        self._channel_overrides = channels
        self._environ = environ
        self._create_store = create_store
        self._channels: ChannelPool | None = None
        self._posts: PostLister | None = None
        self._reader: PostReader | None = None
        self._planner: Planner | None = None
        self._dispatcher: Dispatcher | None = None
        self._retired: list[ChannelPool] = []  # replaced by a reload, closed with the app

    # -- the parts, on first use -------------------------------------------------------

    @property
    def environ(self) -> Mapping[str, str]:
        """The variables credentials are read from (``.env`` under the environment)."""
        if self._environ is None:
            self._environ = self.settings.environment()
        return self._environ

    @property
    def store(self) -> StoreAPI:
        """The database.  Without ``create_store`` (the desk's commands) a
        SQLite database that does not exist yet is refused, not created."""
        if self._store is None:
            from publisher.store import open_store

            self._store = open_store(self.settings.database_url, create=self._create_store)
        return self._store

    @store.setter
    def store(self, store: StoreAPI) -> None:
        self._store = store

    @property
    def posts(self) -> PostLister:
        """The outbox's listing, read-only.  Through the database driver
        alone when the store is not built yet and the URL allows it (no
        SQLAlchemy import: ``queue list`` starts fast), else the store; the
        statement is the same (``publisher.store.listing``)."""
        if self._posts is None:
            reader = None
            if self._store is None:
                from publisher.store.listing import open_reader

                reader = open_reader(self.settings.database_url)
            self._reader = reader
            self._posts = reader if reader is not None else self.store
        return self._posts

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
        """The channel adapters; each platform's SDK is imported when its
        channel is first asked for."""
        if self._channels is None:
            from publisher.services.dispatch import ChannelPool

            self._channels = ChannelPool(self.config, self.environ,
                                         overrides=self._channel_overrides)
        return self._channels

    @property
    def planner(self) -> Planner:
        if self._planner is None:
            from publisher.services.plan import Planner

            self._planner = Planner(config=self.config, store=self.store,
                                    renderer=self.renderer, now=self.now,
                                    limits=self.channels.max_length)
        return self._planner

    @property
    def dispatcher(self) -> Dispatcher:
        if self._dispatcher is None:
            from publisher.services.dispatch import Dispatcher

            self._dispatcher = Dispatcher(config=self.config, store=self.store,
                                          channels=self.channels, now=self.now,
                                          worker=self.worker, max_workers=self.max_workers,
                                          lease_seconds=self.lease_seconds)
        return self._dispatcher

    # -- reload (SIGHUP) ---------------------------------------------------------------

    @property
    def channel_overrides(self) -> Mapping[str, Channel] | None:
        """The adapters a test handed to ``make_app`` (kept across reloads)."""
        return self._channel_overrides

    def reconfigure(self, config: Config, *, environ: Mapping[str, str], renderer: Renderer,
                    channels: ChannelPool) -> None:
        """Swap in a reloaded configuration (``publisher.reload``): the next
        claims and plans use it.  The old adapters are closed with the app,
        not now: posts in flight finish on them."""
        if self._channels is not None:
            self._retired.append(self._channels)
        self.config, self._environ, self._renderer = config, environ, renderer
        self._channels, self._planner = channels, None
        if self._dispatcher is not None:
            self._dispatcher.reconfigure(config, channels)

    # -- the pipeline ----------------------------------------------------------------

    def sync(self) -> None:
        """Tell the store which feeds are configured."""
        from publisher.store import FeedSpec

        self.store.sync_feeds([FeedSpec(f.name, f.url, f.kind) for f in self.config.feeds],
                              now=self.now())

    def poll(self, name: str) -> PollReport:
        """Poll one feed and plan what it brought."""
        from publisher.services.ingest import after_poll, poll_feed, recheck_window

        feed = self.config.feed(name)
        report = poll_feed(feed, store=self.store, fetcher=self.fetcher, now=self.now,
                           environ=self.environ, recheck=recheck_window(self.config))
        return after_poll(self, feed, report)

    def poll_all(self, *, due_only: bool = False, concurrency: int = 8) -> list[PollReport]:
        """Poll every feed (or every due one) concurrently; one bad feed never
        stops the others."""
        from concurrent.futures import ThreadPoolExecutor

        if due_only:
            due = {f.name for f in self.store.due_feeds(now=self.now())}
            feeds = [f for f in self.config.feeds if f.name in due]
        else:
            feeds = list(self.config.feeds)
        if not feeds:
            return []
        if len(feeds) == 1:
            return [self.poll(feeds[0].name)]
        # The parts are built here, once, not by racing threads.
        _ = (self.store, self.fetcher)
        with ThreadPoolExecutor(min(concurrency, len(feeds)),
                                thread_name_prefix="poll") as pool:
            return list(pool.map(lambda f: self.poll(f.name), feeds))

    def plan_pending(self) -> list[PlanReport]:
        return self.planner.plan_pending()

    def run_once(self) -> None:
        """One poll of every feed, planning, then dispatch until nothing is due."""
        self.sync()
        self.dispatcher.reap(everything=self.store.dialect == "sqlite")
        self.poll_all()
        self.plan_pending()
        self.dispatcher.run_until_idle()
        self.dispatcher.expire_stale()

    # -- timing ----------------------------------------------------------------------

    def gates(self, now: datetime | None = None) -> dict[str, Gate]:
        """Per channel: may it publish now, and if not, until when and why.
        The dispatcher's decision when it runs in this process, else the same
        function over the store."""
        if self._dispatcher is not None:
            return self._dispatcher.gates(now)
        from publisher.services.timing import channel_gates

        return channel_gates(self.config, self.store, now or self.now())

    def spend(self, channel: str, now: datetime | None = None) -> Spend:
        """Estimated spend of a channel today and this month (site time zone)."""
        from publisher.services.timing import channel_spend

        return channel_spend(self.config, self.store, channel, now or self.now())

    def add_recurring(self, name: str, fired_at: datetime | None = None) -> list[int]:
        """Queue one round of a recurring post (APScheduler fires this).  The
        posts' idempotency keys derive from the name and the firing time, so
        two daemons firing the same cron job queue it once."""
        from publisher.services.recurring import add_recurring

        return add_recurring(self, name, fired_at or self.now())

    # -- checks ----------------------------------------------------------------------

    def check_channels(self) -> list[tuple[str, bool, str]]:
        """Ask each platform who each channel posts as: (channel, ok, line),
        then each adapter's ``check_warnings()``."""
        results = []
        for name in self.config.channels:
            try:
                channel = self.channels.get(name)
                who = channel.whoami()
                results.append((name, True, f"posts as {who}"))
            except (ChannelError, ConfigError) as exc:
                results.append((name, False, f"cannot post: {exc}"))
                continue
            warn = getattr(channel, "check_warnings", None)
            if warn is not None:
                results += [(name, True, f"warning: {line}") for line in warn()]
        return results

    def close(self) -> None:
        """Close what was built (nothing else is opened by closing)."""
        if self._dispatcher is not None:
            self._dispatcher.stop(grace=0)
        if self._channels is not None:
            self._channels.close()
        for pool in self._retired:
            pool.close()
        if self._fetcher is not None:
            self._fetcher.close()
        if self._reader is not None:
            self._reader.close()
        if self._store is not None:
            self._store.close()


def make_app(settings: Settings | None = None, *, config: Config | None = None,
             store: StoreAPI | None = None, fetcher: Fetcher | None = None,
             renderer: Renderer | None = None, channels: Mapping[str, Channel] | None = None,
             clock: Clock | None = None, environ: Mapping[str, str] | None = None,
             worker: str | None = None, upgrade: bool = True, strict: bool = True) -> App:
    """Build the app: the one wiring point.

    ``strict`` (the daemon, ``check``): every credential variable must be set
    and everything that needs more than the TOML to see is checked
    (``validate``); ``ConfigError`` names every problem, one line each, and
    nothing is written.  The desk's commands pass ``strict=False``: editors
    need no secrets, and each part is checked when it is used.

    ``upgrade``: apply the database migrations now (the daemon, the tests).
    Without it the store is opened on first use and a SQLite database that
    does not exist yet is refused rather than created."""
    settings = settings or Settings()
    given_config = config is not None
    if strict and environ is None:
        environ = settings.environment()
    if config is None:
        # Strict: the schedules' problems and the missing variables, together.
        config = load_config(settings.schedules, environ=environ if strict else None)
    app = App(settings, config, store=store, fetcher=fetcher, renderer=renderer,
              channels=channels, environ=environ, now=clock, worker=worker,
              create_store=upgrade)
    if strict:
        problems = environment_problems(config, app.environ) if given_config else []
        problems += validate(settings, config, app.renderer)
        if problems:
            raise ConfigError(problems)
    if upgrade:
        try:
            app.store.upgrade()
        except PublisherError:
            app.close()
            raise
    return app


def validate(settings: Settings, config: Config, renderer: Renderer) -> list[str]:
    """Problems that need more than the TOML to see: channel types, templates,
    credential keys, cron expressions, fixed texts that cannot fit. One line
    each, naming file and key."""
    from publisher.channels import REGISTRY
    from publisher.services.plan import rule_for

    problems: list[str] = []
    for ch in config.channels.values():
        info = REGISTRY.get(ch.type)
        if info is None:
            known = ", ".join(sorted(REGISTRY))
            problems.append(f'{ch.source}.type: unknown channel type "{ch.type}" '
                            f"(known: {known})")
            continue
        for key in info.credentials:
            if key not in ch.credentials:
                problems.append(f"{ch.source}.credentials.{key}: is required for a "
                                f"{ch.type} channel (the name of the environment "
                                "variable holding it)")
        for key in ch.credentials:
            if key not in info.credentials + info.optional_credentials:
                problems.append(f"{ch.source}.credentials.{key}: unknown credential for "
                                f"a {ch.type} channel")
        if not renderer.has_template(ch.type, ch.template):
            problems.append(f'{ch.source}.template: no template "{ch.template}" '
                            f"in {settings.templates}/{ch.type}/")
        try:
            rule_for(ch)
        except ValueError as exc:
            problems.append(f"{ch.source}.options.max_length: {exc}")
    for route in config.routes:
        if route.template is None:
            continue
        for name in route.channels:
            routed = config.channels.get(name)
            if routed and routed.type in REGISTRY and not renderer.has_template(
                    routed.type, route.template):
                problems.append(f'{route.source}.template: no template "{route.template}" '
                                f"for channel {name} in {settings.templates}/{routed.type}/")
    for rec in config.recurring:
        from apscheduler.triggers.cron import CronTrigger  # only when there is one

        try:
            CronTrigger.from_crontab(rec.cron, timezone=config.timezone)
        except ValueError as exc:
            problems.append(f'{rec.source}.cron: not a valid cron expression "{rec.cron}": {exc}')
        for name in rec.channels:
            target = config.channels.get(name)
            if target is None or target.type not in REGISTRY:
                continue
            if rec.text is not None:
                try:
                    rule = rule_for(target)
                except ValueError:
                    continue  # reported above
                if rule.count(rec.text) > rule.limit:
                    problems.append(f"{rec.source}.text: too long for channel {name}: "
                                    f"{rule.count(rec.text)} > {rule.limit}")
            template = rec.template or target.template
            if rec.urls and not renderer.has_template(target.type, template):
                problems.append(f'{rec.source}.template: no template "{template}" '
                                f"for channel {name} in {settings.templates}/{target.type}/")
    # Rendering every template against a sample is `publisher check`'s (and
    # status's) job, not a start's: a broken template fails its own posts and
    # every other channel publishes.
    return problems


def secret_values(config: Config, environ: Mapping[str, str]) -> list[str]:
    """Every configured credential value, for redaction."""
    values = []
    for ch in config.channels.values():
        values += [environ.get(env, "") for env in ch.credentials.values()]
    for feed in config.feeds:
        values += [environ.get(env, "") for env in feed.headers_from_env.values()]
    return [v for v in values if v and len(v) >= 4]

