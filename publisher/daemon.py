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

SIGHUP (``publisher reload``): read ``schedules/``, ``templates/`` and ``.env``
again; when valid, swap the new configuration in between two claims and add
or remove the feed and recurring jobs; when not, keep running on the old one.
Either way one log line, and the outcome on the worker's row for ``status``.

A database that stops answering (read-only, locked, full, unreachable) is one
log line when it goes and one when it is back (the store's ``StoreHealth``),
not a traceback per job: the jobs below swallow ``StoreError`` and simply run
again at their next interval.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import wraps
from typing import TYPE_CHECKING

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from publisher.app import App
from publisher.config import Config
from publisher.exceptions import ConfigError, StoreError

if TYPE_CHECKING:
    from publisher.web.attach import Attached

log = logging.getLogger("publisher.daemon")

REAP_INTERVAL = 15.0
HEARTBEAT_INTERVAL = 15.0


def quiet_store(job: Callable[..., None]) -> Callable[..., None]:
    """A scheduler job that survives the database going away: the store logs
    the change of state once; the job runs again at its next interval."""

    @wraps(job)
    def run(*args: object, **kwargs: object) -> None:
        try:
            job(*args, **kwargs)
        except StoreError as exc:
            log.debug("%s skipped: %s", job.__name__, exc)

    return run


class Daemon:
    """Runs an ``App`` until told to stop."""

    def __init__(self, app: App, *, grace: float = 20.0):
        self.app = app
        self.grace = grace
        self._stop = threading.Event()
        self._reload_asked = threading.Event()
        self._signalled = threading.Event()  # a stop or a reload: the main loop wakes
        self._face: Attached | None = None  # the HTTP listener, WebSub and alerts
        self._scheduler = BackgroundScheduler(
            timezone=UTC,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )

    # -- jobs (thin calls into the app) ----------------------------------------------

    @quiet_store
    def _poll(self, name: str) -> None:
        try:
            feed = self.app.config.feed(name)
        except KeyError:  # removed by a reload a moment ago
            return
        state = self.app.store.get_feed(feed.name)
        now = self.app.now()
        # The feed's own schedule (backoff, Retry-After) lives in the store; the
        # job fires every interval and polls only when the feed is due.
        slack = timedelta(seconds=feed.poll_interval / 2)
        if state.next_poll_at is not None and state.next_poll_at > now + slack:
            return
        # While a WebSub hub pushes the feed, polling is only the safety net.
        interval = self._face.poll_interval(feed) if self._face is not None else None
        if (interval is not None and interval > feed.poll_interval
                and state.last_poll_at is not None
                and now - state.last_poll_at < timedelta(seconds=interval) - slack):
            return
        report = self.app.poll(feed.name)
        if report.new:
            self._plan()

    @quiet_store
    def _plan(self) -> None:
        if self.app.plan_pending():
            self.wake()

    @quiet_store
    def _recurring(self, name: str) -> None:
        if self.app.add_recurring(name):
            self.wake()

    @quiet_store
    def _reap(self) -> None:
        if self.app.plan_pending():  # articles left pending by a crash between stages
            self.wake()
        self.app.dispatcher.reap()
        self.app.dispatcher.expire_stale()

    def _heartbeat(self, *, stopping: bool = False) -> None:
        self.app.store.heartbeat(self.app.worker, now=self.app.now(), host=socket.gethostname(),
                                 pid=os.getpid(), stopping=stopping,
                                 channels=tuple(self.app.config.channels))

    _beat = quiet_store(_heartbeat)

    def _schedule(self, config: Config) -> None:
        """One job per feed and per recurring post of ``config``; jobs of
        feeds and recurring posts no longer configured are removed."""
        sched = self._scheduler
        wanted = {f"feed:{f.name}" for f in config.feeds}
        wanted |= {f"recurring:{r.name}" for r in config.recurring}
        for job in sched.get_jobs():
            if job.id.startswith(("feed:", "recurring:")) and job.id not in wanted:
                job.remove()
        for feed in config.feeds:
            # The feed's own schedule is in the store (``_poll`` skips a feed
            # not due), so an existing feed polled at once loses nothing.
            sched.add_job(self._poll, IntervalTrigger(seconds=feed.poll_interval,
                                                      jitter=min(5.0, feed.poll_interval / 10)),
                          args=[feed.name], id=f"feed:{feed.name}",
                          next_run_time=datetime.now(UTC), replace_existing=True)
        for rec in config.recurring:
            sched.add_job(self._recurring, CronTrigger.from_crontab(rec.cron,
                                                                    timezone=config.timezone),
                          args=[rec.name], id=f"recurring:{rec.name}", replace_existing=True)

    def reload(self) -> bool:
        """Read the configuration again and use it (SIGHUP); on failure keep
        the old one.  One log line either way; the outcome is recorded on the
        worker's row, where ``status`` and ``publisher reload`` read it."""
        from publisher.reload import one_line
        from publisher.reload import reload as reload_app

        app = self.app
        try:
            done = reload_app(app)
        except ConfigError as exc:
            error = one_line(exc)
            log.error("reload failed, still running on the previous configuration: %s", error)
            self._record_reload(error)
            return False
        self._schedule(done.config)
        log.info("reloaded: %s", done.summary())
        try:
            app.sync()
            self._heartbeat()  # the channels it now knows, for status
            app.plan_pending()
        except StoreError as exc:
            log.debug("after the reload: %s", exc)
        self.wake()
        self._record_reload(None)
        return True

    def _record_reload(self, error: str | None) -> None:
        try:
            self.app.store.record_reload(self.app.worker, now=self.app.now(), error=error)
        except StoreError as exc:
            log.debug("the reload's outcome was not recorded: %s", exc)

    def wake(self) -> None:
        """Posts were added: the dispatcher claims now instead of at its next wake."""
        self.app.dispatcher.notify()

    # -- lifecycle -------------------------------------------------------------------

    def stop(self, *_: object) -> None:
        self._stop.set()
        self._signalled.set()

    def ask_reload(self, *_: object) -> None:
        """SIGHUP: reload in the main loop (never inside the signal handler)."""
        self._reload_asked.set()
        self._signalled.set()

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
        self._schedule(app.config)
        # Expired leases are looked for at least twice per lease.
        sched.add_job(self._reap, IntervalTrigger(seconds=min(REAP_INTERVAL,
                                                              app.lease_seconds / 2)), id="reap")
        sched.add_job(self._beat, IntervalTrigger(seconds=HEARTBEAT_INTERVAL),
                      id="heartbeat")
        previous = {sig: signal.signal(sig, self.stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        previous[signal.SIGHUP] = signal.signal(signal.SIGHUP, self.ask_reload)
        log.info("daemon started worker=%s feeds=%d channels=%d database=%s", app.worker,
                 len(app.config.feeds), len(app.config.channels), app.store.dialect)
        sched.start()
        dispatching = threading.Thread(target=app.dispatcher.serve, name="dispatcher",
                                       daemon=True)
        dispatching.start()
        face = None
        try:
            # The HTTP listener on PUBLISHER_HTTP, WebSub and alerts (publisher/web/attach.py);
            # a port in use stops the daemon here, cleanly, with one line.
            from publisher.web.attach import attach

            face = self._face = attach(app, wake=self.wake,
                                       scheduler_running=lambda: sched.running)
            while not self._stop.is_set():
                if not self._signalled.wait(1.0):
                    continue
                self._signalled.clear()
                if self._reload_asked.is_set() and not self._stop.is_set():
                    self._reload_asked.clear()
                    self.reload()
        finally:
            if face is not None:
                face.stop()
            log.info("stopping: no new claims, waiting up to %.0f s for posts in flight",
                     self.grace)
            sched.shutdown(wait=False)
            finished = app.dispatcher.stop(grace=self.grace)
            dispatching.join(timeout=self.grace)
            if not finished:
                log.warning("posts still in flight after %.0f s: their leases will be "
                            "reconciled on the next start", self.grace)
            self._beat(stopping=True)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            app.store.release_daemon_lock()
            log.info("daemon stopped")
        return 0
