"""What ``publisher run`` starts beside its scheduler: the HTTP listener, the
WebSub subscriptions and the alerts, and stops with it.

The daemon needs two lines::

    face = attach(app, wake=self.wake, scheduler_running=lambda: sched.running)
    ...
    face.stop()

``PUBLISHER_HTTP`` (environment or ``.env``; default ``127.0.0.1:8787``,
``off`` disables the listener) says where to listen.  WebSub runs when
``[site] public_url`` is set and the listener is on; alerts when
``[alerts] channels`` names any.  Both are looked after by one background
thread every ``every`` seconds (a minute), which logs and carries on when a
round fails.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from publisher.exceptions import ConfigError, PublisherError
from publisher.web.server import DEFAULT_BIND, HttpServer, parse_bind, start_http

if TYPE_CHECKING:
    from publisher.app import App
    from publisher.config import FeedConfig
    from publisher.services.alerts import AlertRunner
    from publisher.web.websub import WebSub

log = logging.getLogger("publisher.web")


@dataclass
class Attached:
    """The running extras of one daemon."""

    app: App | None = None
    http: HttpServer | None = None
    websub: WebSub | None = None
    alerts: AlertRunner | None = None
    every: float = 60.0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def poll_interval(self, feed: FeedConfig) -> float:
        """How often to poll ``feed`` now: slower while a WebSub hub pushes it."""
        from publisher.web.websub import poll_interval

        confirmed = self.websub is not None and self.websub.confirmed(feed.name)
        return poll_interval(feed.poll_interval, confirmed)

    def _follow_config(self) -> None:
        """A reload (SIGHUP) swaps the app's configuration and channel pool:
        the alerts follow it (the listener and WebSub read the app each time)."""
        app = self.app
        if app is None:
            return
        if not app.config.alert_channels:
            self.alerts = None
            return
        if self.alerts is None:
            from publisher.services.alerts import AlertRunner

            self.alerts = AlertRunner(app.store, app.channels, app.config.alert_channels,
                                      app.now, channel_names=tuple(app.config.channels))
        self.alerts.channels = app.channels
        self.alerts.targets = app.config.alert_channels
        self.alerts.channel_names = tuple(app.config.channels)

    def round(self) -> None:
        """One round of the background work (public for tests)."""
        self._follow_config()
        for name, job in (("websub", self.websub and self.websub.refresh),
                          ("alerts", self.alerts and self.alerts.tick)):
            if not job:
                continue
            try:
                job()
            except PublisherError as exc:
                log.warning("%s: %s", name, exc)
            except Exception:  # a bug: logged with its traceback, the next round runs
                log.exception("%s round failed", name)

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            self.round()

    def start(self) -> None:
        self.round()
        self._thread = threading.Thread(target=self._loop, name="web-rounds", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        if self.http is not None:
            self.http.stop()
        if self.websub is not None:
            self.websub.close()


def attach(app: App, *, wake: Callable[[], None], scheduler_running: Callable[[], bool],
           bind: str | None = None, every: float = 60.0,
           started_at: float | None = None) -> Attached:
    """Start the listener, WebSub and alerts for a running daemon.  Raises
    ``ConfigError`` when ``PUBLISHER_HTTP`` is not an address; a port that
    cannot be listened on is logged (one line) and the daemon runs without
    its listener."""
    from publisher.web import WebContext, make_web_app, make_websub

    address = parse_bind(bind if bind is not None
                         else app.environ.get("PUBLISHER_HTTP", DEFAULT_BIND))
    face = Attached(app=app, every=every)
    if address is not None:
        ctx = WebContext(app, wake=wake, scheduler_running=scheduler_running,
                         started_at=started_at or time.time())
        websub = make_websub(ctx)  # before the app: its callback is one of the routes
        try:
            face.http = start_http(make_web_app(ctx), address)
        except ConfigError as exc:
            # Publishing matters more than the listener: a second daemon on
            # this host, or a port taken by something else, runs without one
            # and says so (give each daemon its own PUBLISHER_HTTP).
            log.error("%s; running without the HTTP listener", exc)
            if websub is not None:
                websub.close()
        else:
            face.websub = websub
    elif app.config.public_url:
        log.warning("[site] public_url is set but PUBLISHER_HTTP is off: no WebSub")
    face.start()
    return face
