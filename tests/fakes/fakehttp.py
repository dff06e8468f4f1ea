"""The shared base of the wire-level fake platforms (FakeX, FakeGraph).

A fake is a real HTTP/1.1 server on 127.0.0.1 (stdlib ``ThreadingHTTPServer``)
that a real SDK talks to. This module owns what every fake needs and no
platform knows about: the server thread, the request log, the fault switches
and the ways a connection can go wrong.

Faults, settable from any thread while the server runs::

    fake.fail_next("500")                   # the next create request fails with a 500
    fake.fail_next("reset_after", n=2)      # the next two creates are stored, then dropped
    fake.fail_next("slow", on="read")       # the next read is answered too late
    fake.fault_rate(0.2, ["500", "429"], seed=7)   # random faults on creates
    fake.revoked = True                     # or fail_next("revoked"): 401 / code 190 from now on
    fake.latency = 0.05                     # added to every response

``on`` picks which requests a fault applies to: ``"create"`` (the request that
stores a post; the default), ``"upload"`` (media), ``"read"`` (GETs),
``"delete"`` and ``"edit"`` (the requests that delete or change a published
post) or ``"any"``.

Kinds: ``"500"``, ``"503"`` (server errors), ``"429"`` (rate limited; the
announced reset is remembered in ``rate_limit_reset`` and every request that
arrives before it is also logged in ``early_requests``), ``"slow"`` (sleep
``slow_seconds``, then store and answer to a client that has gone),
``"reset_before"`` (drop the connection before storing), ``"reset_after"``
(store, then drop the connection without answering), ``"revoked"``.
A platform may add kinds of its own (FakeX: ``"429_daily"``).
"""

from __future__ import annotations

import json
import random
import socket
import struct
import sys
import threading
import time
import traceback
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

FAULT_KINDS = frozenset({"500", "503", "429", "slow", "reset_before", "reset_after", "revoked"})
SCOPES = frozenset({"create", "upload", "read", "delete", "edit", "any"})


@dataclass(frozen=True)
class Request:
    """One request as the fake received it."""

    method: str
    path: str  # without the query string
    query: Mapping[str, list[str]]
    headers: Mapping[str, str]  # lower-case names
    body: bytes
    time: float  # time.time() when it arrived

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    def form(self) -> dict[str, str]:
        """An urlencoded body as a dict (last value wins)."""
        parsed = parse_qs(self.body.decode("utf-8", "replace"), keep_blank_values=True)
        return {k: v[-1] for k, v in parsed.items()}

    def param(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default


@dataclass(frozen=True)
class LoggedRequest:
    """A request in a fake's ``requests`` log."""

    method: str
    path: str
    time: float
    auth: bool  # credentials were presented (valid or not)
    scope: str  # "create", "upload", "read" or "other"
    fault: str | None = None  # the fault applied to it, if any
    status: int | None = None  # the status answered (None: dropped or still running)


@dataclass
class Reply:
    """What a fake answers."""

    status: int
    body: Any = None  # JSON-encoded unless bytes/str
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json; charset=UTF-8"
    #: False: no Content-Length; the body ends when the connection closes.
    length_header: bool = True

    def encoded(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        if self.body is None:
            return b""
        return json.dumps(self.body, ensure_ascii=False).encode()


class _Faults:
    """The fault switches: a queue of one-shot faults and an optional random rate."""

    def __init__(self, kinds: frozenset[str]) -> None:
        self.kinds = kinds
        self.lock = threading.Lock()
        self.queue: list[list[Any]] = []  # [kind, remaining, on]
        self.rate = 0.0
        self.rate_kinds: tuple[str, ...] = ()
        self.rate_on = "create"
        self.rng = random.Random()

    def check(self, kind: str, on: str) -> None:
        if kind not in self.kinds:
            raise ValueError(f"unknown fault kind {kind!r}; known: {sorted(self.kinds)}")
        if on not in SCOPES:
            raise ValueError(f"unknown scope {on!r}; known: {sorted(SCOPES)}")

    def take(self, scope: str) -> str | None:
        with self.lock:
            for entry in self.queue:
                kind, remaining, on = entry
                if on in ("any", scope) and remaining > 0:
                    entry[1] -= 1
                    if entry[1] == 0:
                        self.queue.remove(entry)
                    return str(kind)
            if self.rate and self.rate_on in ("any", scope) and self.rng.random() < self.rate:
                return self.rng.choice(self.rate_kinds)
        return None


class FakeServer:
    """Base class: a threaded HTTP server with a request log and fault switches.

    Subclasses implement ``scope_of(request)``, ``has_auth(request)``,
    ``handle(request)`` and the platform's error bodies (``server_error``,
    ``rate_limited``). A test may also replace ``handle`` on an instance to
    script an odd answer.
    """

    fault_kinds: frozenset[str] = FAULT_KINDS

    def __init__(
        self, *, latency: float = 0.0, slow_seconds: float = 2.0, rate_limit_seconds: float = 3.0
    ) -> None:
        self.latency = latency
        #: How long a "slow" fault sleeps: longer than the client's timeout.
        self.slow_seconds = slow_seconds
        #: How far ahead a "429" fault announces the reset.
        self.rate_limit_seconds = rate_limit_seconds
        #: Epoch seconds of the last announced reset (None: never rate limited).
        self.rate_limit_reset: float | None = None
        #: When True, requests before the announced reset are answered 429 again.
        self.enforce_rate_limit = False
        self.revoked = False
        self.requests: list[LoggedRequest] = []
        self.early_requests: list[LoggedRequest] = []
        #: Tracebacks of bugs in the fake itself (a test may assert it is empty).
        self.errors: list[str] = []
        self.lock = threading.RLock()
        self._faults = _Faults(self.fault_kinds)
        self._in_flight = 0
        self._slow_release = threading.Event()
        self._idle = threading.Condition(self.lock)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle -------------------------------------------------------------

    def start(self) -> Self:
        """Start serving on 127.0.0.1 on a free port."""
        handler = type("Handler", (_Handler,), {"fake": self})
        server = _Server(("127.0.0.1", 0), handler)
        server.fake = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.01},
            name=f"{type(self).__name__}-server",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving. Handlers still sleeping ("slow") are abandoned."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the fake is not running")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``: what a channel's ``base_url`` is set to."""
        return f"http://127.0.0.1:{self.port}"

    # --- switches --------------------------------------------------------------

    def fail_next(self, kind: str, n: int = 1, *, on: str = "create") -> None:
        """Make the next ``n`` requests of scope ``on`` fail with ``kind``."""
        self._faults.check(kind, on)
        if kind == "revoked":
            self.revoked = True
            return
        with self._faults.lock:
            self._faults.queue.append([kind, n, on])

    def fault_rate(
        self,
        p: float,
        kinds: Iterable[str] = ("500",),
        seed: int | None = None,
        *,
        on: str = "create",
    ) -> None:
        """Fail a share ``p`` of the requests of scope ``on`` with a random kind
        from ``kinds`` (seeded: the same seed gives the same sequence)."""
        kinds = tuple(kinds)
        for kind in kinds:
            self._faults.check(kind, on)
        if "revoked" in kinds:
            raise ValueError("'revoked' is a state, not a random fault")
        with self._faults.lock:
            self._faults.rate = p
            self._faults.rate_kinds = kinds
            self._faults.rate_on = on
            self._faults.rng = random.Random(seed)

    def clear_faults(self) -> None:
        """Forget queued faults and the fault rate, restore credentials."""
        with self._faults.lock:
            self._faults.queue.clear()
            self._faults.rate = 0.0
        self.revoked = False
        self.rate_limit_reset = None

    def release_slow(self) -> None:
        """Let every "slow" request (now and later) go on at once: a test that
        has seen the client time out need not wait ``slow_seconds``."""
        self._slow_release.set()

    def settle(self, timeout: float = 10.0) -> None:
        """Wait until no request is being handled (e.g. a "slow" one still
        storing its post after the client gave up)."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._in_flight:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("the fake is still handling requests")
                self._idle.wait(left)

    def requests_to(self, method: str, path: str) -> list[LoggedRequest]:
        """The logged requests with this method and path."""
        with self.lock:
            return [r for r in self.requests if r.method == method and r.path == path]

    # --- for subclasses --------------------------------------------------------

    def scope_of(self, request: Request) -> str:
        """ "create", "upload", "read" or "other"."""
        return "read" if request.method == "GET" else "other"

    def has_auth(self, request: Request) -> bool:
        return "authorization" in request.headers

    def handle(self, request: Request) -> Reply:
        raise NotImplementedError

    def server_error(self, request: Request, status: int) -> Reply:
        return Reply(status, {"error": "server error"})

    def rate_limited(self, request: Request, kind: str, reset: float) -> Reply:
        return Reply(429, {"error": "rate limited"})

    def announce_reset(self, seconds: float | None = None) -> float:
        """Record (and return) a reset ``seconds`` from now (rounded up to a
        whole second, as epoch-second headers are)."""
        reset = float(
            int(time.time() + (self.rate_limit_seconds if seconds is None else seconds)) + 1
        )
        with self.lock:
            self.rate_limit_reset = reset
        return reset

    # --- the request path ------------------------------------------------------

    def _serve(self, handler: _Handler, request: Request) -> None:
        scope = self.scope_of(request)
        with self.lock:
            self._in_flight += 1
        entry = LoggedRequest(
            request.method, request.path, request.time, self.has_auth(request), scope
        )
        index = None
        try:
            fault = self._faults.take(scope) if scope in SCOPES - {"any"} else None
            with self.lock:
                entry = LoggedRequest(
                    entry.method, entry.path, entry.time, entry.auth, entry.scope, fault
                )
                self.requests.append(entry)
                index = len(self.requests) - 1
                early = self.rate_limit_reset is not None and request.time < self.rate_limit_reset
                if early:
                    self.early_requests.append(entry)
            if self.latency:
                time.sleep(self.latency)
            reply = self._reply(request, fault, early)
            if reply is None:
                handler.abort()
                return
            self._log_status(index, reply.status)
            handler.send(reply)
        except Exception:  # a bug in the fake: answer 500 and keep it for the test to see
            with self.lock:
                self.errors.append(traceback.format_exc())
            handler.send(Reply(500, {"fake_error": "see the fake's errors list"}))
        finally:
            with self._idle:
                self._in_flight -= 1
                self._idle.notify_all()

    def _log_status(self, index: int | None, status: int) -> None:
        if index is None:
            return
        with self.lock:
            old = self.requests[index]
            self.requests[index] = LoggedRequest(
                old.method, old.path, old.time, old.auth, old.scope, old.fault, status
            )

    def _reply(self, request: Request, fault: str | None, early: bool) -> Reply | None:
        if fault in ("500", "503"):
            return self.server_error(request, int(fault))
        if fault is not None and fault.startswith("429"):
            return self.rate_limited(request, fault, self.announce_reset())
        if early and self.enforce_rate_limit:
            return self.rate_limited(request, "429", self.rate_limit_reset or time.time())
        if fault == "reset_before":
            return None
        if fault == "slow":
            self._slow_release.wait(self.slow_seconds)
        reply = self.handle(request)
        if fault == "reset_after":
            return None
        return reply


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a "slow" handler must not hold up stop()
    fake: FakeServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up (a timeout, a closed pool) is normal here;
        # anything else is a bug in the fake, kept for the test to see.
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError | TimeoutError):
            return
        with self.fake.lock:
            self.fake.errors.append(traceback.format_exc())


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # TCP_NODELAY: the headers and the body are two writes; with Nagle's
    # algorithm the body waits for the client's delayed ACK (~40 ms a reply).
    disable_nagle_algorithm = True
    fake: FakeServer  # set on the subclass made in start()

    def log_message(self, format: str, *args: Any) -> None:  # no stderr noise in tests
        pass

    def _dispatch(self) -> None:
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        request = Request(
            method=self.command,
            path=split.path,
            query=parse_qs(split.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            time=time.time(),
        )
        self.fake._serve(self, request)

    do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = _dispatch

    def send(self, reply: Reply) -> None:
        body = reply.encoded()
        try:
            self.send_response(reply.status)
            if reply.body is not None:
                self.send_header("Content-Type", reply.content_type)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            if reply.length_header:
                self.send_header("Content-Length", str(len(body)))
            else:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            # The client gave up (a "slow" fault): the post is stored all the same.
            self.close_connection = True

    def abort(self) -> None:
        """Drop the connection with a TCP reset, without answering."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass


class FileServer(FakeServer):
    """A plain web server for fixed bodies (e.g. an article's image)::

        with FileServer({"/photo.png": (png, "image/png")}) as site:
            url = site.base_url + "/photo.png"

    ``files`` maps a path to ``(body, content_type)``; ``redirects`` maps a
    path to a Location; anything else is a 404. Every GET is scope "read",
    so ``fail_next(kind, on="read")`` applies.
    """

    def __init__(self, files: Mapping[str, tuple[bytes, str]] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.files: dict[str, tuple[bytes, str]] = dict(files or {})
        self.redirects: dict[str, str] = {}
        #: Paths answered without Content-Length (the body ends at close).
        self.unsized: set[str] = set()

    def scope_of(self, request: Request) -> str:
        return "read"

    def url(self, path: str) -> str:
        return self.base_url + path

    def handle(self, request: Request) -> Reply:
        if request.path in self.redirects:
            return Reply(302, b"", {"Location": self.redirects[request.path]})
        if request.path in self.files:
            body, content_type = self.files[request.path]
            return Reply(
                200,
                body,
                {},
                content_type=content_type,
                length_header=request.path not in self.unsized,
            )
        return Reply(404, b"not found", {}, content_type="text/plain")

    def server_error(self, request: Request, status: int) -> Reply:
        return Reply(status, b"server error", {}, content_type="text/plain")
