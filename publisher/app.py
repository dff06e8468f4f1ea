"""The one place that wires publisher together.

``make_app(settings, ...)`` builds the store, fetcher, renderer, channels and
clock from the settings and the schedules; tests swap any of them here.  The
daemon and the CLI call only ``App`` methods, so the command line holds no
business rules of its own.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

from apscheduler.triggers.cron import CronTrigger

from publisher.channels import REGISTRY, Channel
from publisher.config import Config, Settings, load_config
from publisher.exceptions import ChannelError, ConfigError, PublisherError
from publisher.render import Renderer
from publisher.services.dispatch import ChannelPool, Dispatcher
from publisher.services.ingest import PollReport, poll_feed
from publisher.services.plan import Planner, PlanReport, rule_for
from publisher.services.recurring import add_recurring
from publisher.services.timing import Gate, Spend, channel_spend
from publisher.sources import Fetcher
from publisher.store import FeedSpec, open_store
from publisher.store.api import StoreAPI

log = logging.getLogger("publisher.app")

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class App:
    """Everything a running publisher needs, wired."""

    settings: Settings
    config: Config
    store: StoreAPI
    fetcher: Fetcher
    renderer: Renderer
    channels: ChannelPool
    environ: Mapping[str, str]
    now: Clock = system_clock
    worker: str = field(default_factory=default_worker_id)
    max_workers: int = 16
    lease_seconds: float = 300.0
    _planner: Planner | None = None
    _dispatcher: Dispatcher | None = None

    @property
    def planner(self) -> Planner:
        if self._planner is None:
            self._planner = Planner(config=self.config, store=self.store,
                                    renderer=self.renderer, now=self.now,
                                    limits=self.channels.max_length)
        return self._planner

    @property
    def dispatcher(self) -> Dispatcher:
        if self._dispatcher is None:
            self._dispatcher = Dispatcher(config=self.config, store=self.store,
                                          channels=self.channels, now=self.now,
                                          worker=self.worker, max_workers=self.max_workers,
                                          lease_seconds=self.lease_seconds)
        return self._dispatcher

    # -- the pipeline ----------------------------------------------------------------

    def sync(self) -> None:
        """Tell the store which feeds are configured."""
        self.store.sync_feeds([FeedSpec(f.name, f.url, f.kind) for f in self.config.feeds],
                              now=self.now())

    def poll(self, name: str) -> PollReport:
        """Poll one feed and plan what it brought."""
        report = poll_feed(self.config.feed(name), store=self.store, fetcher=self.fetcher,
                           now=self.now, environ=self.environ)
        return report

    def poll_all(self, *, due_only: bool = False, concurrency: int = 8) -> list[PollReport]:
        """Poll every feed (or every due one) concurrently; one bad feed never
        stops the others."""
        if due_only:
            due = {f.name for f in self.store.due_feeds(now=self.now())}
            feeds = [f for f in self.config.feeds if f.name in due]
        else:
            feeds = list(self.config.feeds)
        if not feeds:
            return []
        if len(feeds) == 1:
            return [self.poll(feeds[0].name)]
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
        """Per channel: may it publish now, and if not, until when and why."""
        return self.dispatcher.gates(now)

    def spend(self, channel: str, now: datetime | None = None) -> Spend:
        """Estimated spend of a channel today and this month (site time zone)."""
        return channel_spend(self.config, self.store, channel, now or self.now())

    def add_recurring(self, name: str, fired_at: datetime | None = None) -> list[int]:
        """Queue one round of a recurring post (APScheduler fires this).  The
        posts' idempotency keys derive from the name and the firing time, so
        two daemons firing the same cron job queue it once."""
        return add_recurring(self, name, fired_at or self.now())

    # -- checks ----------------------------------------------------------------------

    def check_channels(self) -> list[tuple[str, bool, str]]:
        """Ask each platform who each channel posts as: (channel, ok, line)."""
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
        if self._dispatcher is not None:
            self._dispatcher.stop(grace=0)
        self.channels.close()
        self.fetcher.close()
        self.store.close()


def make_app(settings: Settings | None = None, *, config: Config | None = None,
             store: StoreAPI | None = None, fetcher: Fetcher | None = None,
             renderer: Renderer | None = None, channels: Mapping[str, Channel] | None = None,
             clock: Clock | None = None, environ: Mapping[str, str] | None = None,
             worker: str | None = None, upgrade: bool = True) -> App:
    """Build the app.  Raises ``ConfigError`` (every problem, one line each)
    when the configuration is invalid; nothing is written then."""
    settings = settings or Settings()
    environ = environ if environ is not None else settings.environment()
    config = config or load_config(settings.schedules, environ=environ)
    renderer = renderer or Renderer([settings.templates])
    problems = validate(settings, config, renderer)
    if problems:
        raise ConfigError(problems)
    app = App(
        settings=settings,
        config=config,
        store=store or open_store(settings.database_url),
        fetcher=fetcher or Fetcher(),
        renderer=renderer,
        channels=ChannelPool(config, environ, overrides=channels),
        environ=environ,
        now=clock or system_clock,
        worker=worker or settings.worker_id or default_worker_id(),
        max_workers=settings.workers,
        lease_seconds=settings.lease_seconds,
    )
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
    return problems


def secret_values(config: Config, environ: Mapping[str, str]) -> list[str]:
    """Every configured credential value, for redaction."""
    values = []
    for ch in config.channels.values():
        values += [environ.get(env, "") for env in ch.credentials.values()]
    for feed in config.feeds:
        values += [environ.get(env, "") for env in feed.headers_from_env.values()]
    return [v for v in values if v and len(v) >= 4]

