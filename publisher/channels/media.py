"""Plumbing the platform adapters share: fetching an article's image, and the
HTTP details every ``requests``-based SDK needs (a default timeout, pointing
the SDK at another host, telling "not sent" from "maybe sent", comparing links).

Nothing here imports a platform SDK, so any adapter may use it.

``download_image`` is the one boundary for httpx in this package: every httpx
error becomes an ``ImageError``, which adapters turn into a note on the post
("image skipped: …") instead of failing it.
"""

from __future__ import annotations

import contextlib
import io
import ipaddress
import socket
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit
from urllib.request import url2pathname

import httpx
import requests
import urllib3.exceptions
from PIL import Image, UnidentifiedImageError
from requests.adapters import HTTPAdapter

from publisher.exceptions import Ambiguous, PublisherError, Transient

__all__ = [
    "ImageError",
    "ImageFile",
    "RoutingAdapter",
    "canonical_link",
    "download_image",
    "map_requests_error",
    "redact",
]

#: Pillow format name → (MIME type, file extension) for the formats platforms accept.
_FORMATS = {
    "JPEG": ("image/jpeg", "jpg"),
    "PNG": ("image/png", "png"),
    "GIF": ("image/gif", "gif"),
    "WEBP": ("image/webp", "webp"),
}
_MAX_REDIRECTS = 5


class ImageError(PublisherError):
    """The image could not be fetched or is not an image we can attach."""


@dataclass(frozen=True, slots=True)
class ImageFile:
    """A downloaded, verified image."""

    data: bytes
    content_type: str  # from the bytes, not from the server's header
    filename: str
    width: int
    height: int

    def __repr__(self) -> str:  # the bytes are noise in logs and test failures
        return (
            f"ImageFile({self.filename!r}, {self.content_type}, {self.width}x{self.height}, "
            f"{len(self.data)} bytes)"
        )


def download_image(
    url: str,
    *,
    max_bytes: int = 5_000_000,
    timeout: float = 10.0,
    allow_private: bool = False,
    client: httpx.Client | None = None,
) -> ImageFile:
    """Fetch the image at ``url`` and check that it is a JPEG, PNG, GIF or WebP.

    Only http(s) URLs are fetched, and (unless ``allow_private``) only from
    public addresses: every address the host resolves to is checked, on every
    redirect hop, so a feed cannot make us fetch from the private network.
    The size limit is enforced while streaming. Raises ``ImageError``.

    A ``file:`` URL (an editor's ``queue add --image PATH``; sources never
    produce one) is read from disk with the same size limit and checks.
    """
    if url.startswith("file:"):
        return _read_file(url, max_bytes)
    own_client = client is None
    http = client or httpx.Client(timeout=timeout, follow_redirects=False)
    try:
        current = url
        for _ in range(_MAX_REDIRECTS + 1):
            _check_url(current, allow_private=allow_private)
            try:
                with http.stream(
                    "GET", current, timeout=timeout, follow_redirects=False,
                    headers={"Accept": "image/*"},
                ) as response:
                    if response.is_redirect:
                        location = response.headers.get("location")
                        if not location:
                            raise ImageError(f"HTTP {response.status_code} without a Location")
                        current = urljoin(current, location)
                        continue
                    if response.status_code != 200:
                        raise ImageError(f"HTTP {response.status_code}")
                    data = _read_limited(response, max_bytes)
                    return _verify(data, current)
            except httpx.TimeoutException:
                raise ImageError(f"timed out after {timeout:g} s") from None
            except httpx.HTTPError as exc:
                raise ImageError(f"download failed ({type(exc).__name__})") from None
        raise ImageError(f"more than {_MAX_REDIRECTS} redirects")
    finally:
        if own_client:
            http.close()


def _read_file(url: str, max_bytes: int) -> ImageFile:
    path = Path(url2pathname(urlsplit(url).path))
    try:
        if not path.is_file():
            raise ImageError(f"no image file at {path}")
        if path.stat().st_size > max_bytes:
            raise ImageError(f"larger than {max_bytes} bytes")
        data = path.read_bytes()
    except OSError as exc:
        raise ImageError(f"cannot read {path}: {exc.strerror}") from None
    return _verify(data, url)


def _check_url(url: str, *, allow_private: bool) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ImageError(f"not an http(s) URL: {parts.scheme or 'no'} scheme")
    host = parts.hostname
    if not host:
        raise ImageError("URL has no host")
    if allow_private:
        return
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (OSError, ValueError, UnicodeError):
        raise ImageError(f"cannot resolve host {host!r}") from None
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped
        if not address.is_global or address.is_multicast:
            raise ImageError(f"refusing non-public address {address} for host {host!r}")


def _read_limited(response: httpx.Response, max_bytes: int) -> bytes:
    declared = response.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise ImageError(f"too large ({int(declared)} bytes > {max_bytes})")
    buffer = bytearray()
    for chunk in response.iter_bytes():
        buffer += chunk
        if len(buffer) > max_bytes:
            raise ImageError(f"too large (more than {max_bytes} bytes)")
    return bytes(buffer)


def _verify(data: bytes, url: str) -> ImageFile:
    if not data:
        raise ImageError("empty body")
    try:
        # A decompression bomb is an attack, not a warning: make Pillow raise.
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as probe:
                fmt = probe.format or ""
                width, height = probe.size
                probe.verify()
    except (UnidentifiedImageError, Image.DecompressionBombError,
            Image.DecompressionBombWarning):
        raise ImageError("not an image (or an unsafe one)") from None
    except (OSError, SyntaxError, ValueError):  # Pillow's ways of saying "corrupt"
        raise ImageError("corrupt image") from None
    if fmt not in _FORMATS:
        raise ImageError(f"unsupported image format {fmt or 'unknown'}")
    content_type, ext = _FORMATS[fmt]
    name = urlsplit(url).path.rsplit("/", 1)[-1]
    stem = name.rsplit(".", 1)[0] if name else ""
    return ImageFile(data, content_type, f"{stem or 'image'}.{ext}", width, height)


# --- HTTP plumbing for requests-based SDKs -------------------------------------


class RoutingAdapter(HTTPAdapter):
    """A transport adapter that gives every request a timeout and can send the
    requests an SDK makes to a hard-coded host to another base URL instead.

    SDKs such as tweepy and facebook-sdk build ``https://api.twitter.com/...``
    or ``https://graph.facebook.com/...`` themselves; mounting this adapter on
    the SDK's session is how a channel's ``base_url`` (a fake in tests, a
    gateway in production) takes effect without patching the SDK. Auth (e.g.
    OAuth 1.0a signing) has already been applied when ``send`` runs, so the
    signature names the original host; the alternative endpoint must accept that.
    """

    def __init__(self, *, timeout: float, base_url: str | None = None,
                 hosts: Iterable[str] = ()) -> None:
        super().__init__()
        self.default_timeout = timeout
        self.base = urlsplit(base_url.rstrip("/")) if base_url else None
        self.hosts = frozenset(h.lower() for h in hosts)

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float | None, float | None] | None = None,
        verify: bool | str = True,
        cert: str | tuple[str, str] | None = None,
        proxies: dict[str, str] | None = None,
    ) -> requests.Response:
        # requests passes timeout=None unless the caller gave one; tweepy never does.
        if timeout is None:
            timeout = self.default_timeout
        if self.base is not None and request.url:
            parts = urlsplit(request.url)
            if (parts.hostname or "").lower() in self.hosts:
                path = self.base.path + parts.path
                request.url = urlunsplit(
                    (self.base.scheme, self.base.netloc, path, parts.query, "")
                )
                # The proxy chosen for the original host does not apply to the new one.
                proxies = {}
        return super().send(request, stream=stream, timeout=timeout, verify=verify, cert=cert,
                            proxies=proxies)


def map_requests_error(exc: requests.RequestException, *, write: bool,
                       what: str) -> Transient | Ambiguous:
    """Classify a requests transport error (no HTTP answer was read).

    Before the request was sent (DNS, refused, connect timeout, TLS handshake)
    it is ``Transient``. After it may have been sent (read timeout, a reset or
    a close before the answer, a broken body) a write is ``Ambiguous``: it may
    have reached the platform. A read has no effect, so it is ``Transient``.
    The message names only the exception type: requests' own messages carry
    URLs, and a URL may carry a token.
    """
    if _not_sent(exc):
        return Transient(f"{what}: could not connect ({_reason(exc)})")
    if not write:
        return Transient(f"{what}: no answer ({_reason(exc)})")
    return Ambiguous(f"{what}: no answer, the request may have reached it ({_reason(exc)})")


def _not_sent(exc: BaseException) -> bool:
    if isinstance(exc, requests.ConnectTimeout | requests.exceptions.SSLError |
                  requests.exceptions.ProxyError | requests.exceptions.InvalidURL |
                  requests.exceptions.MissingSchema | requests.exceptions.InvalidSchema):
        return True
    if isinstance(exc, requests.ReadTimeout | requests.exceptions.ChunkedEncodingError |
                  requests.exceptions.ContentDecodingError):
        return False
    for cause in _causes(exc):
        if isinstance(cause, urllib3.exceptions.NewConnectionError |  # refused, DNS
                      urllib3.exceptions.ConnectTimeoutError):
            return True
        if isinstance(cause, urllib3.exceptions.ProtocolError | ConnectionResetError |
                      BrokenPipeError | urllib3.exceptions.ReadTimeoutError):
            return False
    # Unknown: say "maybe sent", which makes the dispatcher look before it retries.
    return False


def _causes(exc: BaseException) -> Iterable[BaseException]:
    seen: list[BaseException] = []
    stack: list[BaseException] = [exc]
    while stack:
        current = stack.pop()
        if any(current is s for s in seen):
            continue
        seen.append(current)
        yield current
        stack.extend(a for a in current.args if isinstance(a, BaseException))
        reason = getattr(current, "reason", None)
        if isinstance(reason, BaseException):
            stack.append(reason)
        for linked in (current.__cause__, current.__context__):
            if linked is not None:
                stack.append(linked)


def _reason(exc: BaseException) -> str:
    for cause in _causes(exc):
        if isinstance(cause, urllib3.exceptions.NameResolutionError):
            return "DNS lookup failed"
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, ConnectionResetError):
            return "connection reset"
    return type(exc).__name__


_TRACKING_PREFIXES = ("utm_",)
_TRACKING_KEYS = frozenset({"fbclid", "gclid", "mc_cid", "mc_eid"})


def canonical_link(url: str) -> str:
    """A link in the form two posts' links are compared in: scheme and host in
    lower case, default port, fragment, tracking parameters (``utm_*``,
    ``fbclid`` …) and a trailing slash dropped; everything else exact."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    with contextlib.suppress(ValueError):
        port = parts.port
        if port and (scheme, port) not in (("http", 80), ("https", 443)):
            host = f"{host}:{port}"
    query = [
        (k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if not k.lower().startswith(_TRACKING_PREFIXES) and k.lower() not in _TRACKING_KEYS
    ]
    path = parts.path.rstrip("/")
    return urlunsplit((scheme, host, path, urlencode(query), ""))


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret value replaced by ``***``."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text
