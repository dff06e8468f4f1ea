"""The httpx plumbing the httpx-based adapters share (Threads, LinkedIn,
Discord, Slack, webhooks): their client, one call with its transport errors
mapped to the taxonomy, a JSON answer read (X's requests answers too), and
``Retry-After`` read as a time.

Whether a failed call may have reached the platform decides between
``Transient`` (it did not: safe to retry) and ``Ambiguous`` (it may have:
reconcile first), so that distinction lives here once.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, Protocol

import httpx

from publisher.exceptions import Ambiguous, Transient

#: Failures before the request left: nothing reached the platform.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.ProxyError,
            httpx.UnsupportedProtocol)


def client(timeout: float, *, base_url: str = "",
           headers: Mapping[str, str] | None = None) -> httpx.Client:
    """An adapter's client: no redirects followed, no transport retries (a
    retry is the dispatcher's decision), ``User-Agent: publisher`` unless
    ``headers`` say otherwise."""
    return httpx.Client(base_url=base_url, timeout=timeout,
                        headers={"User-Agent": "publisher", **(headers or {})},
                        follow_redirects=False, transport=httpx.HTTPTransport(retries=0))


class _Answer(Protocol):
    status_code: int

    def json(self) -> Any: ...


def json_object(response: _Answer, *, where: str, write: bool) -> dict[str, Any]:
    """The JSON object of a response (``{}`` for other JSON).  A body that is
    not JSON raises ``Ambiguous`` after a ``write`` (the post may well exist),
    else ``Transient``.  Works on httpx and requests responses alike."""
    try:
        body = response.json()
    except ValueError:
        error = Ambiguous if write else Transient
        raise error(f"{where} answered {response.status_code} with a body that is not JSON",
                    http_status=response.status_code) from None
    return body if isinstance(body, dict) else {}


def call(client: httpx.Client, method: str, url: str, *, what: str, where: str, write: bool,
         **kwargs: Any) -> httpx.Response:
    """Make one request and return the response, whatever its status.

    A connection that never carried the request raises ``Transient``; a
    timeout, reset or close after it was written raises ``Ambiguous`` when
    ``write`` (the call may have created a post), else ``Transient``.
    Messages name ``what`` and ``where``, never the URL (it may hold a token)."""
    try:
        return client.request(method, url, **kwargs)
    except NOT_SENT as exc:
        raise Transient(f"{what} to {where}: could not connect "
                        f"({type(exc).__name__})") from None
    except httpx.TransportError as exc:
        # Read/write timeout, reset, a close before the answer: it may have arrived.
        error = Ambiguous if write else Transient
        tail = ", the request may have reached it" if write else ""
        raise error(f"{what} to {where}: no answer{tail} ({type(exc).__name__})") from None


class SecretLogFilter(logging.Filter):
    """Scrubs secrets from the records of an HTTP library's logger: httpx logs
    every request's URL at INFO (urllib3 at DEBUG), and a webhook URL, or a
    query string, may be the secret.  Add it to ``logging.getLogger(name)``
    when the adapter is built and remove it in ``close``."""

    def __init__(self, secrets: tuple[str, ...]) -> None:
        super().__init__()
        self.secrets = tuple(s for s in secrets if s and len(s) >= 4)

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self._scrub(str(record.msg))
        if record.args:
            args = record.args if isinstance(record.args, tuple) else (record.args,)
            # Only arguments that hold a secret become text: "%d" still needs its number.
            record.args = tuple(self._scrub(str(a)) if self._holds(a) else a for a in args)
        return True

    def _holds(self, value: object) -> bool:
        text = str(value)
        return any(secret in text for secret in self.secrets)

    def _scrub(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text


def retry_after(headers: Mapping[str, str]) -> datetime | None:
    """``Retry-After`` (seconds or an HTTP date) as a UTC time, or None."""
    raw = str(headers.get("retry-after") or "").strip()
    if not raw:
        return None
    try:
        return datetime.now(UTC) + timedelta(seconds=max(0.0, float(raw)))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)
