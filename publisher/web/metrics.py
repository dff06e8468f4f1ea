"""Prometheus metrics: what ``GET /metrics`` answers.

Two kinds:

- **Read from the store at scrape time** (``StoreCollector``): posts by
  channel and state, the publish log by channel and outcome, the queue's
  depth and its oldest due post, rate-limit gates, paused channels, feed
  health, the estimated X spend this month.  The store is the truth; a
  counter kept in memory would disagree with it after a restart or when
  several daemons share one PostgreSQL.
- **Observed in this process** (histograms): platform call latency and feed
  poll latency, heard through ``publisher.services.observe`` (the dispatcher
  calls ``observe.call_took``, ingest ``observe.poll_took``; this module
  listens once a registry is made).  A lock and an add per report.

Every metric is listed, with its meaning, in ``METRICS`` (the README's table
is made from it).
"""

from __future__ import annotations

import logging
import platform
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from publisher.exceptions import PublisherError

if TYPE_CHECKING:
    from publisher.app import App

__all__ = [
    "METRICS",
    "count_hook",
    "make_registry",
    "observe_call",
    "observe_poll",
]

log = logging.getLogger("publisher.web")

#: Name -> (type, labels, meaning).  Kept beside the code that makes them.
METRICS: dict[str, tuple[str, str, str]] = {
    "publisher_posts": ("gauge", "channel, status",
                        "posts in the outbox per channel and state"),
    "publisher_attempts_total": ("counter", "channel, outcome",
                                 "rows of the publish log per channel and outcome "
                                 "(ok, retrying, rate_limited, failed, ...)"),
    "publisher_queue_due_posts": ("gauge", "",
                                  "queued or waiting posts that are due now"),
    "publisher_queue_oldest_due_age_seconds": ("gauge", "",
                                               "how long the oldest due post has waited "
                                               "(0 when none is due)"),
    "publisher_channel_paused": ("gauge", "channel",
                                 "1 while the channel is paused (auth failed, credits, "
                                 "an editor)"),
    "publisher_rate_limit_wait_seconds": ("gauge", "channel",
                                          "seconds until the channel's rate-limit gate "
                                          "opens (0 when open)"),
    "publisher_feed_errors": ("gauge", "feed", "consecutive failed polls of the feed"),
    "publisher_feed_last_success_timestamp_seconds": ("gauge", "feed",
                                                      "when the feed was last polled "
                                                      "successfully (Unix time)"),
    "publisher_x_spend_month_dollars": ("gauge", "channel",
                                        "estimated spend of an X channel this month "
                                        "(the site's month, from cost_per_post)"),
    "publisher_platform_call_seconds": ("histogram", "channel",
                                        "duration of one call to a platform "
                                        "(a publish or a look-up)"),
    "publisher_feed_poll_seconds": ("histogram", "feed, result",
                                    "duration of one feed poll, by result (changed, "
                                    "unchanged, not_modified, error); its _count is the "
                                    "number of polls"),
    "publisher_push_hooks_total": ("counter", "feed, result",
                                   "push notices received (accepted, unsigned, stale, "
                                   "bad_signature, replayed, too_large, unknown_feed, ...)"),
    "publisher_start_time_seconds": ("gauge", "", "when this daemon started (Unix time)"),
    "publisher_build_info": ("gauge", "version, python", "always 1; the labels say what runs"),
    "process_*": ("various", "", "CPU, memory, open files of the daemon (prometheus_client)"),
}

_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)

CALL_SECONDS = Histogram("publisher_platform_call_seconds",
                         METRICS["publisher_platform_call_seconds"][2], ["channel"],
                         buckets=_LATENCY_BUCKETS, registry=None)
POLL_SECONDS = Histogram("publisher_feed_poll_seconds",
                         METRICS["publisher_feed_poll_seconds"][2], ["feed", "result"],
                         buckets=_LATENCY_BUCKETS, registry=None)
HOOKS = Counter("publisher_push_hooks", METRICS["publisher_push_hooks_total"][2],
                ["feed", "result"], registry=None)


def observe_call(channel: str, seconds: float) -> None:
    """Record one platform call's duration (the dispatcher calls this)."""
    CALL_SECONDS.labels(channel).observe(seconds)


def observe_poll(feed: str, result: str, seconds: float) -> None:
    """Record one feed poll's duration and result (ingest calls this)."""
    POLL_SECONDS.labels(feed, result).observe(seconds)


def count_hook(feed: str, result: str) -> None:
    """Count one push notice by what became of it."""
    HOOKS.labels(feed, result).inc()


class _Hooks(Collector):
    def collect(self) -> Iterator[Metric]:
        yield from CALL_SECONDS.collect()
        yield from POLL_SECONDS.collect()
        yield from HOOKS.collect()


class StoreCollector(Collector):
    """Metrics computed from the store on every scrape.

    A database that cannot be read makes the scrape answer what it can (the
    process and hook metrics) and log one line: ``/readyz`` is where the
    outage is reported, and Prometheus sees the gap.
    """

    def __init__(self, app: App, *, started_at: float, version: str,
                 now: Callable[[], datetime] | None = None):
        self.app = app
        self.started_at = started_at
        self.version = version
        self.now = now or app.now

    def collect(self) -> Iterator[Metric]:
        start = GaugeMetricFamily("publisher_start_time_seconds",
                                  METRICS["publisher_start_time_seconds"][2])
        start.add_metric([], self.started_at)
        yield start
        info = GaugeMetricFamily("publisher_build_info", METRICS["publisher_build_info"][2],
                                 labels=["version", "python"])
        info.add_metric([self.version, platform.python_version()], 1)
        yield info
        try:
            families = list(self._from_store())
        except PublisherError as exc:
            log.warning("metrics: cannot read the store: %s", exc)
            return
        yield from families

    def _gauge(self, name: str, labels: list[str] | None = None) -> GaugeMetricFamily:
        return GaugeMetricFamily(name, METRICS[name][2], labels=labels)

    def _from_store(self) -> Iterator[Metric]:
        from publisher.store.metrics import attempt_counts, queue_stats

        app, store, now = self.app, self.app.store, self.now()
        posts = self._gauge("publisher_posts", ["channel", "status"])
        for (channel, status), n in sorted(store.post_counts().items()):
            posts.add_metric([channel, str(status)], n)
        yield posts
        attempts = CounterMetricFamily("publisher_attempts",
                                       METRICS["publisher_attempts_total"][2],
                                       labels=["channel", "outcome"])
        for (channel, outcome), n in sorted(attempt_counts(store).items()):
            attempts.add_metric([channel, outcome], n)
        yield attempts
        queue = queue_stats(store, now=now)
        depth = self._gauge("publisher_queue_due_posts")
        depth.add_metric([], queue.due)
        yield depth
        oldest = self._gauge("publisher_queue_oldest_due_age_seconds")
        age = (now - queue.oldest_due_at).total_seconds() if queue.oldest_due_at else 0.0
        oldest.add_metric([], max(0.0, age))
        yield oldest
        states = store.channel_states()
        paused = self._gauge("publisher_channel_paused", ["channel"])
        wait = self._gauge("publisher_rate_limit_wait_seconds", ["channel"])
        spend = self._gauge("publisher_x_spend_month_dollars", ["channel"])
        for name, configured in sorted(app.config.channels.items()):
            state = states.get(name)
            paused.add_metric([name], 1 if state is not None and state.paused else 0)
            until = state.rate_limited_until if state is not None else None
            wait.add_metric([name], max(0.0, (until - now).total_seconds()) if until else 0.0)
            if configured.type == "x":
                spend.add_metric([name], app.spend(name, now).month)
        yield paused
        yield wait
        yield spend
        errors = self._gauge("publisher_feed_errors", ["feed"])
        success = self._gauge("publisher_feed_last_success_timestamp_seconds", ["feed"])
        for feed in store.list_feeds():
            errors.add_metric([feed.name], feed.error_count)
            if feed.last_success_at is not None:
                success.add_metric([feed.name], feed.last_success_at.timestamp())
        yield errors
        yield success


def make_registry(app: App, *, started_at: float | None = None,
                  version: str | None = None) -> CollectorRegistry:
    """A registry for one web app: the store's metrics, the hooks' histograms
    and the process collector."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as package_version

    if version is None:
        try:
            version = package_version("publisher")
        except PackageNotFoundError:
            version = "unknown"
    from publisher.services import observe

    observe.on_call(observe_call)
    observe.on_poll(observe_poll)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(app, started_at=started_at or time.time(),
                                     version=version))
    registry.register(_Hooks())
    ProcessCollector(registry=registry)
    return registry
