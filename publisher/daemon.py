"""``publisher run``: the daemon.

APScheduler 3.x only says *when to look*: one interval job per feed (with
jitter), a reaper for expired leases and stale posts, and a heartbeat.  The
dispatcher runs its own loop (``Dispatcher.serve``) on a thread: it sleeps
until a post is due, a gate opens or a slot frees, and is woken at once when
posts are planned.
*What is due* lives in the database, so the jobs are thin calls into the app
(``coalesce=True``, ``max_instances=1``) and a restart loses nothing.

SIGTERM / SIGINT: stop claiming, let calls in flight finish within a grace
period, give back what was claimed but not started, exit 0.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from publisher.app import App
from publisher.config import FeedConfig

log = logging.getLogger("publisher.daemon")

REAP_INTERVAL = 15.0
HEARTBEAT_INTERVAL = 15.0


class Daemon:
    """Runs an ``App`` until told to stop."""

    def __init__(self, app: App, *, grace: float = 20.0):
        self.app = app
        self.grace = grace
        self._stop = threading.Event()
        self._scheduler = BackgroundScheduler(
            timezone=UTC,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )

    # -- jobs (thin calls into the app) ----------------------------------------------

    def _poll(self, feed: FeedConfig) -> None:
        state = self.app.store.get_feed(feed.name)
        now = self.app.now()
        # The feed's own schedule (backoff, Retry-After) lives in the store; the
        # job fires every interval and polls only when the feed is due.
        slack = timedelta(seconds=feed.poll_interval / 2)
        if state.next_poll_at is not None and state.next_poll_at > now + slack:
            return
        report = self.app.poll(feed.name)
        if report.new:
            self._plan()

    def _plan(self) -> None:
        if self.app.plan_pending():
            self.wake()

    def _recurring(self, name: str) -> None:
        if self.app.add_recurring(name):
            self.wake()

    def _reap(self) -> None:
        if self.app.plan_pending():  # articles left pending by a crash between stages
            self.wake()
        self.app.dispatcher.reap()
        self.app.dispatcher.expire_stale()

    def _heartbeat(self, *, stopping: bool = False) -> None:
        self.app.store.heartbeat(self.app.worker, now=self.app.now(), host=socket.gethostname(),
                                 pid=os.getpid(), stopping=stopping,
                                 channels=tuple(self.app.config.channels))

    def wake(self) -> None:
        """Posts were added: the dispatcher claims now instead of at its next wake."""
        self.app.dispatcher.notify()

    # -- lifecycle -------------------------------------------------------------------

    def stop(self, *_: object) -> None:
        self._stop.set()

    def run(self) -> int:
        app = self.app
        app.store.acquire_daemon_lock()
        app.sync()
        self._heartbeat()
        # With SQLite the lock proves no other daemon is alive: every leased
        # post is an orphan of a crash and is reconciled now, not in 5 minutes.
        app.dispatcher.reap(everything=app.store.dialect == "sqlite")
        app.plan_pending()
        sched = self._scheduler
        for feed in app.config.feeds:
            sched.add_job(self._poll, IntervalTrigger(seconds=feed.poll_interval,
                                                      jitter=min(5.0, feed.poll_interval / 10)),
                          args=[feed], id=f"feed:{feed.name}", next_run_time=datetime.now(UTC))
        for rec in app.config.recurring:
            sched.add_job(self._recurring, CronTrigger.from_crontab(rec.cron,
                                                                    timezone=app.config.timezone),
                          args=[rec.name], id=f"recurring:{rec.name}")
        # Expired leases are looked for at least twice per lease.
        sched.add_job(self._reap, IntervalTrigger(seconds=min(REAP_INTERVAL,
                                                              app.lease_seconds / 2)), id="reap")
        sched.add_job(self._heartbeat, IntervalTrigger(seconds=HEARTBEAT_INTERVAL),
                      id="heartbeat")
        previous = {sig: signal.signal(sig, self.stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        log.info("daemon started worker=%s feeds=%d channels=%d database=%s", app.worker,
                 len(app.config.feeds), len(app.config.channels), app.store.dialect)
        sched.start()
        dispatching = threading.Thread(target=app.dispatcher.serve, name="dispatcher",
                                       daemon=True)
        dispatching.start()
        try:
            while not self._stop.wait(1.0):
                pass
        finally:
            log.info("stopping: no new claims, waiting up to %.0f s for posts in flight",
                     self.grace)
            sched.shutdown(wait=False)
            finished = app.dispatcher.stop(grace=self.grace)
            dispatching.join(timeout=self.grace)
            if not finished:
                log.warning("posts still in flight after %.0f s: their leases will be "
                            "reconciled on the next start", self.grace)
            self._heartbeat(stopping=True)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            app.store.release_daemon_lock()
            log.info("daemon stopped")
        return 0
