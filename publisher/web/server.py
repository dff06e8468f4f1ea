"""Running the ASGI app inside the daemon: uvicorn on a thread of its own.

``start_http(asgi, "127.0.0.1:8787")`` binds the socket first (so a port in
use is one clear error at start-up, and port 0 picks a free one for tests),
serves on a daemon thread, and returns an ``HttpServer`` handle whose
``stop()`` asks uvicorn to finish the requests in flight and waits for the
thread.  Signals stay with the daemon: uvicorn installs its handlers only on
the main thread, and this is never the main thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

from publisher.exceptions import ConfigError

log = logging.getLogger("publisher.web")

DEFAULT_BIND = "127.0.0.1:8787"


def parse_bind(value: str | None) -> tuple[str, int] | None:
    """``PUBLISHER_HTTP``: ``host:port``, ``[v6]:port`` or ``:port``
    (loopback); ``off`` (or empty) disables the listener.  Raises
    ``ConfigError`` naming the variable."""
    value = (value if value is not None else DEFAULT_BIND).strip()
    if value.lower() in ("", "off", "no", "false", "0"):
        return None
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError([f'PUBLISHER_HTTP: not "host:port" or "off": "{value}"'])
    host = host.strip("[]") or "127.0.0.1"
    return host, int(port)


@dataclass
class HttpServer:
    """A running listener."""

    host: str
    port: int
    _server: Any
    _thread: threading.Thread

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def stop(self, timeout: float = 5.0) -> None:
        """Finish requests in flight (up to ``timeout``) and close the socket."""
        self._server.should_exit = True
        self._server.wake()
        self._thread.join(timeout)
        if self._thread.is_alive():
            self._server.force_exit = True
            self._thread.join(timeout)
        log.info("http listener stopped")


def _quiet_server(base: type) -> type:
    """uvicorn's Server, whose housekeeping loop wakes once a second (the
    date header's resolution) or when told to stop, instead of ten times a
    second: an idle daemon should not spin."""

    class QuietServer(base):
        _wake_event: asyncio.Event | None = None
        _loop: asyncio.AbstractEventLoop | None = None

        async def main_loop(self) -> None:
            self._loop = asyncio.get_running_loop()
            self._wake_event = asyncio.Event()
            while not await self.on_tick(0):  # 0: refresh the date header every time
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake_event.wait(), 1.0)

        def wake(self) -> None:
            if self._loop is not None and self._wake_event is not None:
                with contextlib.suppress(RuntimeError):  # the loop already closed
                    self._loop.call_soon_threadsafe(self._wake_event.set)

    return QuietServer


def start_http(asgi: Any, bind: str | tuple[str, int]) -> HttpServer:
    """Serve ``asgi`` on ``bind`` from a background thread; returns once it
    accepts connections.  Raises ``ConfigError`` when the address cannot be
    bound."""
    import uvicorn

    host, port = parse_bind(bind) if isinstance(bind, str) else bind  # type: ignore[misc]
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError([f"PUBLISHER_HTTP: cannot listen on {host}:{port}: "
                           f"{exc.strerror or exc}"]) from None
    sock.listen(128)
    sock.setblocking(False)
    port = sock.getsockname()[1]
    config = uvicorn.Config(asgi, log_config=None, access_log=False, lifespan="off",
                            http="h11", ws="none", loop="asyncio", server_header=False,
                            timeout_graceful_shutdown=5,
                            # A bound on what a flood of connections can hold.
                            limit_concurrency=128)
    server = _quiet_server(uvicorn.Server)(config)
    failed: list[BaseException] = []

    def serve() -> None:
        try:
            server.run(sockets=[sock])
        except BaseException as exc:  # reported to the starter below
            failed.append(exc)
            raise
        finally:
            sock.close()

    thread = threading.Thread(target=serve, name="http", daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise ConfigError([f"PUBLISHER_HTTP: the listener on {host}:{port} did not start"
                               + (f": {failed[0]}" if failed else "")])
        time.sleep(0.01)
    log.info("http listener on %s:%d", host, port)
    return HttpServer(host, port, server, thread)
