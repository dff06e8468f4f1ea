"""Fetching feeds and pages: conditional GET, size and time limits.

This module is the one place where httpx exceptions are caught: everything
that goes wrong while fetching leaves it as :class:`~publisher.exceptions.FetchError`.
"""

from __future__ import annotations

import email.utils
import hashlib
import mimetypes
import os
import re
import ssl
import sys
import threading
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qsl, urlsplit, urlunsplit
from urllib.request import url2pathname

# httpx's __init__ imports its command-line client (httpx._main: click, rich's
# progress, syntax and table, pygments' lexers; ~0.02-0.03 s) whenever click is
# installed, as it is here for typer. publisher never runs it; with the module
# marked absent httpx takes its own fallback (an ``httpx.main`` that says the
# CLI is not installed). No effect when httpx was imported before.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]

import httpx  # noqa: E402

from publisher.exceptions import FetchError  # noqa: E402

__all__ = ["DEFAULT_USER_AGENT", "FEED_ACCEPT", "FetchResult", "Fetcher"]

DEFAULT_USER_AGENT = "publisher/0.1 (+https://github.com/publisher-news/publisher)"
FEED_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json;q=0.9, "
    "application/xml;q=0.9, text/xml;q=0.9, application/json;q=0.8, */*;q=0.5"
)
# Only what we can decompress ourselves under the size limit (see _Decoder).
_ACCEPT_ENCODING = "gzip, deflate"
_SECRET_PARAM = re.compile(r"(?i)token|key|secret|pass|sig|auth|session")


@dataclass(frozen=True, slots=True)
class FetchResult:
    """What one poll of a URL gave.

    ``status`` is ``"not_modified"`` (304: no body), ``"unchanged"`` (a body
    whose sha256 equals the ``body_hash`` we were given: no parse needed) or
    ``"changed"`` (``body`` holds the decoded bytes). ``etag``,
    ``last_modified`` and ``body_hash`` are what to send next time.
    ``retry_after`` is how many seconds the server asked us to wait before
    the next poll (``Cache-Control: max-age``), or None.
    """

    status: Literal["not_modified", "unchanged", "changed"]
    body: bytes | None
    etag: str | None
    last_modified: str | None
    body_hash: str | None
    http_status: int | None
    final_url: str
    content_type: str | None
    retry_after: float | None = None


def redact_url(url: str) -> str:
    """``url`` fit for a log line or an error message: no user info, no secret-looking values."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    netloc = parts.netloc.rpartition("@")[2]
    query = parts.query
    if query and _SECRET_PARAM.search(query):
        pairs = parse_qsl(query, keep_blank_values=True)
        query = "&".join(f"{k}=***" if _SECRET_PARAM.search(k) else f"{k}={v}" for k, v in pairs)
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delta seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if seconds == seconds else None  # NaN guard
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    now = time.time() if now is None else now
    return max(0.0, when.timestamp() - now)


def _max_age(cache_control: str | None) -> float | None:
    if not cache_control:
        return None
    match = re.search(r"(?i)(?:^|[,\s])max-age\s*=\s*\"?(\d+)", cache_control)
    return float(match.group(1)) if match else None


class _Decoder:
    """Content-Encoding decoder that never inflates past the size limit.

    httpx's own decoders inflate a whole network chunk at once (a 64 KiB gzip
    bomb chunk is ~64 MiB); here every step asks zlib for at most the room left.
    """

    def __init__(self, encoding: str, url: str):
        enc = encoding.strip().lower()
        self._raw_fallback = False
        self._obj: zlib._Decompress | None
        if enc in ("", "identity"):
            self._obj = None
        elif enc in ("gzip", "x-gzip"):
            self._obj = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif enc == "deflate":
            # "deflate" is zlib-wrapped by the RFC but raw in some servers.
            self._obj = zlib.decompressobj()
            self._raw_fallback = True
        else:
            raise FetchError(f"unsupported Content-Encoding {encoding!r} from {url}")
        self._url = url

    def decode(self, data: bytes, room: int) -> bytes:
        """Decode ``data``; the result is longer than ``room`` only if the limit is exceeded."""
        if self._obj is None:
            return data
        try:
            out = self._obj.decompress(data, room + 1)
        except zlib.error as exc:
            if not self._raw_fallback:
                raise FetchError(f"corrupt compressed body from {self._url}: {exc}") from None
            self._raw_fallback = False
            self._obj = zlib.decompressobj(-zlib.MAX_WBITS)
            return self.decode(data, room)
        self._raw_fallback = False
        # An output of room+1 bytes already proves the limit is exceeded;
        # otherwise zlib consumed all the input.
        return out

    def flush(self, room: int) -> bytes:
        if self._obj is None:
            return b""
        try:
            return self._obj.flush(room + 1)
        except zlib.error as exc:
            raise FetchError(f"corrupt compressed body from {self._url}: {exc}") from None


#: httpx's defaults for a client's transport (``httpx.Client(limits=...)``).
_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=5.0)


class _FirstUseTransport(httpx.BaseTransport):
    """An ``httpx.HTTPTransport`` built at its first request, not before.

    Building one imports httpcore and makes its SSL context, which for
    ``verify=True`` loads certifi's CA bundle: a run that polls only
    ``file://`` feeds makes neither, and one that polls only ``http://``
    feeds never loads a CA bundle (see ``Fetcher``).
    """

    def __init__(self, *, tls: bool) -> None:
        self._tls = tls
        self._transport: httpx.HTTPTransport | None = None
        self._closed = False
        self._lock = threading.Lock()

    def _built(self) -> httpx.HTTPTransport:
        with self._lock:
            if self._closed:
                raise RuntimeError("the fetcher is closed")
            if self._transport is None:
                # trust_env=False as for the client: the CA bundle is certifi's,
                # whatever SSL_CERT_FILE says (httpx's create_ssl_context).
                # Plain http never does a TLS handshake; its context trusts no
                # one, so it could not accept a certificate if it ever did.
                verify: ssl.SSLContext | bool = (
                    True if self._tls else ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT))
                self._transport = httpx.HTTPTransport(verify=verify, trust_env=False,
                                                      limits=_LIMITS)
            return self._transport

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        transport = self._transport
        return (transport or self._built()).handle_request(request)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            transport, self._transport = self._transport, None
        if transport is not None:
            transport.close()


class Fetcher:
    """Fetches feeds and pages over http(s), and files for local examples.

    One ``httpx.Client`` is kept for connection pooling; a ``Fetcher`` may be
    used from several threads at once. Use it as a context manager or call
    :meth:`close`.  The client's connection pools, one for ``http://`` and
    one for ``https://`` (and anything else), are made at their first request:
    a run that fetches only ``http://`` feeds never builds the TLS set-up.
    An ``https://`` fetch, a redirect to one included, verifies certificates
    against certifi's CA bundle, as ``httpx.Client(trust_env=False)`` does.
    """

    def __init__(
        self,
        *,
        user_agent: str = DEFAULT_USER_AGENT,
        connect_timeout: float = 10.0,
        read_timeout: float = 20.0,
        total_timeout: float = 60.0,
        max_bytes: int = 10 * 1024 * 1024,
        max_redirects: int = 5,
        transport: httpx.BaseTransport | None = None,
    ):
        if max_bytes <= 0 or total_timeout <= 0:
            raise ValueError("max_bytes and total_timeout must be positive")
        self.user_agent = user_agent
        self.total_timeout = total_timeout
        self.max_bytes = max_bytes
        self.max_redirects = max_redirects
        # No single wait may outlast the whole budget.
        self._timeout = httpx.Timeout(
            connect=min(connect_timeout, total_timeout),
            read=min(read_timeout, total_timeout),
            write=min(read_timeout, total_timeout),
            pool=min(connect_timeout, total_timeout),
        )
        self._client = httpx.Client(
            headers={
                "User-Agent": user_agent,
                "Accept": FEED_ACCEPT,
                "Accept-Encoding": _ACCEPT_ENCODING,
            },
            timeout=self._timeout,
            follow_redirects=True,
            max_redirects=max_redirects,
            transport=transport or _FirstUseTransport(tls=True),
            mounts=None if transport else {"http://": _FirstUseTransport(tls=False)},
            # Feeds are public; never pick up proxies or netrc credentials from the env.
            trust_env=False,
        )

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def fetch(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        body_hash: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> FetchResult:
        """Fetch ``url`` (http, https, ``file://`` or an absolute path).

        Sends ``If-None-Match``/``If-Modified-Since`` from ``etag`` and
        ``last_modified``. Raises :class:`FetchError` on any non-2xx/304
        answer (with ``http_status`` and ``retry_after``), on network errors
        and timeouts, when the body exceeds ``max_bytes`` or the whole fetch
        takes longer than ``total_timeout``.
        """
        scheme = _scheme_of(url)
        if scheme == "file":
            return self._fetch_file(url, body_hash)
        if scheme not in ("http", "https"):
            raise FetchError(f"unsupported URL scheme {scheme or '(none)'!r}: {redact_url(url)}")
        request_headers: dict[str, str] = dict(headers or {})
        if etag:
            request_headers["If-None-Match"] = etag
        if last_modified:
            request_headers["If-Modified-Since"] = last_modified
        deadline = time.monotonic() + self.total_timeout
        safe = redact_url(url)
        try:
            with self._client.stream("GET", url, headers=request_headers) as response:
                return self._read_response(response, safe, deadline, etag, last_modified, body_hash)
        except httpx.TooManyRedirects:
            raise FetchError(
                f"redirect loop or more than {self.max_redirects} redirects: {safe}"
            ) from None
        except httpx.TimeoutException as exc:
            kind = type(exc).__name__.replace("Timeout", " timeout").lower()
            raise FetchError(f"{kind} fetching {safe}") from None
        except httpx.UnsupportedProtocol:
            raise FetchError(f"unsupported URL scheme (after redirect?) fetching {safe}") from None
        except (httpx.InvalidURL, httpx.LocalProtocolError) as exc:
            raise FetchError(f"invalid URL {safe}: {_one_line(exc)}") from None
        except httpx.HTTPError as exc:
            raise FetchError(
                f"{type(exc).__name__} fetching {safe}: {_one_line(exc) or 'no detail'}"
            ) from None
        except httpx.StreamError as exc:
            raise FetchError(f"stream error fetching {safe}: {_one_line(exc)}") from None

    def _read_response(
        self,
        response: httpx.Response,
        safe_url: str,
        deadline: float,
        etag: str | None,
        last_modified: str | None,
        body_hash: str | None,
    ) -> FetchResult:
        final_url = str(response.url)
        status = response.status_code
        new_etag = response.headers.get("etag") or etag
        new_last_modified = response.headers.get("last-modified") or last_modified
        content_type = response.headers.get("content-type")
        max_age = _max_age(response.headers.get("cache-control"))
        if status == 304:
            return FetchResult(
                "not_modified",
                None,
                new_etag,
                new_last_modified,
                body_hash,
                status,
                final_url,
                content_type,
                max_age,
            )
        if not 200 <= status < 300:
            reason = response.reason_phrase or ""
            raise FetchError(
                f"HTTP {status} {reason} from {safe_url}".replace("  ", " "),
                http_status=status,
                retry_after=parse_retry_after(response.headers.get("retry-after")),
            )
        encoding = response.headers.get("content-encoding", "")
        length = response.headers.get("content-length", "")
        if not encoding and length.isdigit() and int(length) > self.max_bytes:
            raise FetchError(self._too_large(safe_url), http_status=status)
        decoder = _Decoder(encoding, safe_url)
        body = bytearray()
        # No chunk_size: httpx would buffer until it is full, hiding a dribble from the deadline.
        for chunk in response.iter_raw():
            if time.monotonic() > deadline:
                raise FetchError(self._too_slow(safe_url), http_status=status)
            body += decoder.decode(chunk, self.max_bytes - len(body))
            if len(body) > self.max_bytes:
                raise FetchError(self._too_large(safe_url), http_status=status)
        body += decoder.flush(self.max_bytes - len(body))
        if len(body) > self.max_bytes:
            raise FetchError(self._too_large(safe_url), http_status=status)
        if time.monotonic() > deadline:
            raise FetchError(self._too_slow(safe_url), http_status=status)
        return self._result(
            bytes(body),
            body_hash,
            new_etag,
            new_last_modified,
            status,
            final_url,
            content_type,
            max_age,
        )

    def _too_large(self, safe_url: str) -> str:
        return f"body of {safe_url} is larger than the limit of {self.max_bytes} bytes"

    def _too_slow(self, safe_url: str) -> str:
        return f"fetching {safe_url} took longer than {self.total_timeout:g} s"

    @staticmethod
    def _result(
        body: bytes,
        old_hash: str | None,
        etag: str | None,
        last_modified: str | None,
        http_status: int | None,
        final_url: str,
        content_type: str | None,
        retry_after: float | None,
    ) -> FetchResult:
        digest = hashlib.sha256(body).hexdigest()
        if old_hash is not None and digest == old_hash:
            return FetchResult(
                "unchanged",
                None,
                etag,
                last_modified,
                digest,
                http_status,
                final_url,
                content_type,
                retry_after,
            )
        return FetchResult(
            "changed",
            body,
            etag,
            last_modified,
            digest,
            http_status,
            final_url,
            content_type,
            retry_after,
        )

    def _fetch_file(self, url: str, body_hash: str | None) -> FetchResult:
        path = _file_path(url)
        try:
            with open(path, "rb") as fh:
                stat = os.fstat(fh.fileno())
                body = fh.read(self.max_bytes + 1)
        except OSError as exc:
            raise FetchError(f"cannot read {path}: {exc.strerror or exc}") from None
        if len(body) > self.max_bytes:
            raise FetchError(f"file {path} is larger than the limit of {self.max_bytes} bytes")
        modified = email.utils.format_datetime(
            datetime.fromtimestamp(int(stat.st_mtime), tz=UTC), usegmt=True
        )
        content_type = mimetypes.guess_type(str(path))[0]
        return self._result(
            body, body_hash, None, modified, None, path.as_uri(), content_type, None
        )


def _scheme_of(url: str) -> str:
    if os.path.isabs(url) and "://" not in url:
        return "file"
    try:
        return urlsplit(url).scheme.lower()
    except ValueError:
        return ""


def _file_path(url: str) -> Path:
    if url.lower().startswith("file:"):
        parts = urlsplit(url)
        if parts.netloc not in ("", "localhost"):
            raise FetchError(f"file URL with a remote host is not supported: {url}")
        return Path(url2pathname(parts.path))
    return Path(url)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())
