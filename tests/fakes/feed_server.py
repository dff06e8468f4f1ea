"""A real HTTP server on 127.0.0.1 that plays a news site's feeds in tests.

Usage::

    from tests.fakes.feed_server import FeedServer

    with FeedServer() as srv:
        srv.set("/feed.xml", body, content_type="application/rss+xml")
        url = srv.url("/feed.xml")
        ...
        assert srv.requests_for("/feed.xml")[-1].status == 304

or, in pytest, the ``feed_server`` fixture (import it into a test module or
a ``conftest.py``: ``from tests.fakes.feed_server import feed_server``).

What a path can do (all set with :meth:`FeedServer.set` or a helper):

- serve a body with an ``ETag`` (by default a hash of the body) and a
  ``Last-Modified`` (by default when it was set), answering ``304`` to a
  matching ``If-None-Match`` / ``If-Modified-Since``;
- ``status=`` and ``headers=`` override: e.g. ``503`` with ``Retry-After``;
- ``gzip=True``: compress when the client accepts gzip;
- :meth:`redirect`: 301/302/307/308 to another path or URL (loops allowed);
- :meth:`dribble`: send headers then one byte every ``interval`` seconds,
  forever, until the client goes away or the server stops;
- :meth:`huge`: a generated body of ``size`` bytes streamed in chunks, never
  held in memory, with the number of bytes actually written recorded;
- ``delay=``: wait before answering (cut short when the server stops).

Every request is logged (:attr:`FeedServer.requests`) with its method, path,
headers (lower-cased names) and the status answered. The server speaks
HTTP/1.1 with keep-alive, uses daemon threads, and :meth:`stop` returns
promptly even while slow responses are in flight. Unknown paths get 404.
"""

from __future__ import annotations

import email.utils
import gzip as gzip_module
import hashlib
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest

__all__ = ["FeedServer", "RecordedRequest", "feed_server"]


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server saw it."""

    method: str
    path: str  # with the query string
    headers: Mapping[str, str]  # names lower-cased
    status: int  # what the server answered
    client_port: int  # the client's side of the connection: equal ports = a reused connection

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name.lower(), default)


class _QuietServer(ThreadingHTTPServer):
    """A client that hangs up mid-answer (a size limit, a timeout, a 404 it
    stopped reading) is part of the tests, not an error worth a traceback on
    stderr, where it would mix with the output under test."""

    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        import sys

        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)  # type: ignore[arg-type]


@dataclass
class _Resource:
    body: bytes = b""
    content_type: str = "application/rss+xml; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    status: int = 200
    etag: str | None = None
    last_modified: str | None = None
    gzip: bool = False
    delay: float = 0.0
    redirect_to: str | None = None
    dribble_interval: float | None = None
    huge_size: int | None = None
    huge_chunk: int = 64 * 1024


def _http_date(when: float) -> str:
    return email.utils.formatdate(when, usegmt=True)


class FeedServer:
    """A threaded HTTP server on ``127.0.0.1:<free port>``; see the module docstring."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self._resources: dict[str, _Resource] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._requests: list[RecordedRequest] = []
        self._bytes_sent: dict[str, int] = {}
        self._httpd = _QuietServer((host, port), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    # --- life cycle ----------------------------------------------------------------------

    def start(self) -> FeedServer:
        """Start serving in a daemon thread (idempotent)."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.01},
                name=f"FeedServer:{self.port}",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; slow responses (dribble, delay, huge) end promptly."""
        self._stopping.set()
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> FeedServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    def url(self, path: str = "/") -> str:
        """Absolute URL of ``path`` on this server."""
        if not path.startswith("/"):
            path = "/" + path
        return f"http://127.0.0.1:{self.port}{path}"

    # --- configuring paths ---------------------------------------------------------------

    def set(
        self,
        path: str,
        body: bytes = b"",
        content_type: str = "application/rss+xml; charset=utf-8",
        headers: Mapping[str, str] | None = None,
        *,
        status: int = 200,
        etag: str | bool | None = True,
        last_modified: str | bool | None = True,
        gzip: bool = False,
        delay: float = 0.0,
    ) -> None:
        """Serve ``body`` at ``path`` (replacing what was there).

        ``etag``/``last_modified``: True to generate them (hash of the body;
        now), a string to use as is, None/False to send none. ``status`` and
        ``headers`` override the answer (e.g. ``status=503,
        headers={"Retry-After": "7"}``); conditional 304s apply only to 200.
        """
        if etag is True:
            etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        if last_modified is True:
            last_modified = _http_date(time.time())
        self._put(
            path,
            _Resource(
                body=body,
                content_type=content_type,
                headers=dict(headers or {}),
                status=status,
                etag=etag or None,
                last_modified=last_modified or None,
                gzip=gzip,
                delay=delay,
            ),
        )

    def fail(
        self,
        path: str,
        status: int,
        headers: Mapping[str, str] | None = None,
        body: bytes = b"error",
    ) -> None:
        """Answer ``status`` (with ``headers``) at ``path``, e.g. 503 + Retry-After."""
        self.set(
            path,
            body,
            "text/plain; charset=utf-8",
            headers,
            status=status,
            etag=None,
            last_modified=None,
        )

    def redirect(self, path: str, to: str, status: int = 302) -> None:
        """Redirect ``path`` to ``to`` (a path on this server or an absolute URL)."""
        self._put(path, _Resource(status=status, redirect_to=to, content_type="text/plain"))

    def dribble(
        self,
        path: str,
        interval: float = 0.2,
        content_type: str = "application/rss+xml; charset=utf-8",
    ) -> None:
        """Send a 200 and then one byte every ``interval`` s until the client disconnects."""
        self._put(path, _Resource(content_type=content_type, dribble_interval=interval))

    def huge(
        self,
        path: str,
        size: int = 50 * 1024 * 1024,
        chunk: int = 64 * 1024,
        content_type: str = "application/rss+xml; charset=utf-8",
    ) -> None:
        """Stream a generated body of ``size`` bytes (with Content-Length)."""
        self._put(path, _Resource(content_type=content_type, huge_size=size, huge_chunk=chunk))

    def remove(self, path: str) -> None:
        with self._lock:
            self._resources.pop(path, None)

    def _put(self, path: str, resource: _Resource) -> None:
        with self._lock:
            self._resources[path] = resource

    # --- inspecting ----------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request so far, oldest first (a copy)."""
        with self._lock:
            return list(self._requests)

    def requests_for(self, path: str) -> list[RecordedRequest]:
        """Requests whose path (without query) is ``path``."""
        return [r for r in self.requests if urlsplit(r.path).path == path]

    def bytes_sent(self, path: str) -> int:
        """Body bytes the server managed to write for ``path`` (all requests)."""
        with self._lock:
            return self._bytes_sent.get(path, 0)

    def clear_log(self) -> None:
        with self._lock:
            self._requests.clear()
            self._bytes_sent.clear()

    # --- serving -------------------------------------------------------------------------

    def _record(self, handler: BaseHTTPRequestHandler, status: int) -> None:
        headers = {k.lower(): v for k, v in handler.headers.items()}
        with self._lock:
            self._requests.append(
                RecordedRequest(
                    handler.command, handler.path, headers, status, int(handler.client_address[1])
                )
            )

    def _count(self, path: str, n: int) -> None:
        with self._lock:
            self._bytes_sent[path] = self._bytes_sent.get(path, 0) + n

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            server_version = "FeedServer/1.0"
            # TCP_NODELAY: headers and body are two writes; with Nagle's
            # algorithm the body waits for the client's delayed ACK (~40 ms).
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: object) -> None:
                pass  # keep test output clean; the request log is server.requests

            def do_HEAD(self) -> None:
                self._serve(head=True)

            def do_GET(self) -> None:
                self._serve(head=False)

            def _serve(self, *, head: bool) -> None:
                path = urlsplit(self.path).path
                with server._lock:
                    resource = server._resources.get(self.path) or server._resources.get(path)
                if resource is None:
                    self._simple(404, b"not found", {})
                    return
                if resource.delay and server._stopping.wait(resource.delay):
                    self.close_connection = True
                    return
                if resource.redirect_to is not None:
                    target = resource.redirect_to
                    if target.startswith("/"):
                        target = server.url(target)
                    self._simple(resource.status, b"", {"Location": target, **resource.headers})
                    return
                if resource.dribble_interval is not None:
                    self._dribble(path, resource)
                    return
                if resource.huge_size is not None:
                    self._huge(path, resource, head)
                    return
                self._static(resource, head)

            def _simple(
                self, status: int, body: bytes, headers: Mapping[str, str], head: bool = False
            ) -> None:
                server._record(self, status)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if not head and status != 304:
                    self.wfile.write(body)
                    server._count(urlsplit(self.path).path, len(body))

            def _not_modified(self, resource: _Resource) -> bool:
                inm = self.headers.get("If-None-Match")
                if inm is not None:
                    tags = [t.strip() for t in inm.split(",")]
                    return resource.etag is not None and ("*" in tags or resource.etag in tags)
                ims = self.headers.get("If-Modified-Since")
                if ims and resource.last_modified:
                    try:
                        since = email.utils.parsedate_to_datetime(ims)
                        modified = email.utils.parsedate_to_datetime(resource.last_modified)
                    except (TypeError, ValueError):
                        return False
                    return modified <= since
                return False

            def _static(self, resource: _Resource, head: bool) -> None:
                headers: dict[str, str] = {"Content-Type": resource.content_type}
                if resource.etag:
                    headers["ETag"] = resource.etag
                if resource.last_modified:
                    headers["Last-Modified"] = resource.last_modified
                headers.update(resource.headers)
                if resource.status == 200 and self._not_modified(resource):
                    headers.pop("Content-Type", None)
                    self._simple(304, b"", headers, head)
                    return
                body = resource.body
                accepts = self.headers.get("Accept-Encoding", "")
                if resource.gzip and "gzip" in accepts.lower():
                    body = gzip_module.compress(body)
                    headers["Content-Encoding"] = "gzip"
                    headers["Vary"] = "Accept-Encoding"
                self._simple(resource.status, body, headers, head)

            def _dribble(self, path: str, resource: _Resource) -> None:
                server._record(self, 200)
                self.close_connection = True
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", resource.content_type)
                    self.send_header("Connection", "close")
                    self.end_headers()
                    self.wfile.flush()
                    interval = resource.dribble_interval or 0.2
                    while not server._stopping.is_set():
                        self.wfile.write(b" ")
                        self.wfile.flush()
                        server._count(path, 1)
                        if server._stopping.wait(interval):
                            break
                except OSError:
                    pass  # the client gave up: that is the point

            def _huge(self, path: str, resource: _Resource, head: bool) -> None:
                size = resource.huge_size or 0
                server._record(self, 200)
                self.close_connection = True
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", resource.content_type)
                    self.send_header("Content-Length", str(size))
                    self.send_header("Connection", "close")
                    self.end_headers()
                    if head:
                        return
                    block = b"<!-- padding -->\n" * (resource.huge_chunk // 17 + 1)
                    block = block[: resource.huge_chunk]
                    left = size
                    while left > 0 and not server._stopping.is_set():
                        piece = block[: min(left, len(block))]
                        self.wfile.write(piece)
                        server._count(path, len(piece))
                        left -= len(piece)
                except OSError:
                    pass

        return Handler


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    """A started :class:`FeedServer`, stopped after the test."""
    with FeedServer() as srv:
        yield srv
