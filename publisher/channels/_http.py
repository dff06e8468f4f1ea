"""The httpx plumbing the httpx-based adapters share (Threads, LinkedIn,
Discord, Slack, webhooks): one call with its transport errors mapped to the
taxonomy, and ``Retry-After`` read as a time.

Whether a failed call may have reached the platform decides between
``Transient`` (it did not: safe to retry) and ``Ambiguous`` (it may have:
reconcile first), so that distinction lives here once.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from publisher.exceptions import Ambiguous, Transient

#: Failures before the request left: nothing reached the platform.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.ProxyError,
            httpx.UnsupportedProtocol)


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
