"""The generic webhook channel: a signed JSON POST to any HTTP receiver, over plain httpx.

It bridges publisher to anything that can take an HTTP request (a small
service of your own, Zapier/Make/n8n "catch hook" triggers …), e.g. to post
where there is no public posting API; see docs/webhook-bridge.md.

- ``POST {url}`` with the JSON body ``{"id": idempotency key, "post_id", "text",
  "link", "title", "summary", "image": {"url", "alt"} | null, "published_at",
  "channel"}`` and the headers ``Content-Type: application/json``,
  ``Idempotency-Key``, ``X-Publisher-Timestamp`` (unix seconds) and
  ``X-Publisher-Signature: sha256=<hex HMAC-SHA256(signing_secret,
  "<timestamp>.<body>")>``. The receiver checks the signature with
  ``verify_signature`` (constant-time, and it refuses timestamps older than
  five minutes, so a captured request cannot be replayed later) and can drop
  copies by the ``Idempotency-Key``, which is the same on every attempt.
- 2xx → published; the remote id is the JSON answer's ``id`` when there is one,
  else the idempotency key, and the remote URL its ``url``. 429 →
  ``RateLimited`` (``Retry-After``, else a minute); 401/403 → ``AuthFailed``;
  408 → ``Transient`` (the receiver gave up reading); other 4xx and 3xx (no
  redirect is followed) → ``Permanent``; 5xx → ``Transient``.
- Every delivery carries ``X-Publisher-Event: post``. With ``options.check =
  true`` the receiver also takes a check event: ``publisher check`` sends
  ``{"event": "check", "channel"}``, signed the same way, with
  ``X-Publisher-Event: check`` and no ``Idempotency-Key``; the receiver
  answers 2xx without publishing anything (401/403 fail the check). Off by
  default: a receiver written before would take it for a post.
- Delivery class REVIEW: an arbitrary receiver cannot be asked whether it got a
  post, so ``find`` raises ``NotImplementedError``; the receiver's own dedupe by
  ``Idempotency-Key`` is what makes an editor's retry safe.
- After the post (issue 13): a receiver is told, signed the same way, when a
  post is retracted (``delete``: ``X-Publisher-Event: retract``, body
  ``{"event": "retract", "id", "channel", "reason", "retracted_at"}``) or
  corrected (``edit``: ``X-Publisher-Event: correct``, the post's fields again
  with ``"event": "correct"``, ``"id"`` and ``"corrected_at"``).  Each has an
  ``Idempotency-Key`` fixed for it (``retract:<id>``; ``correct:<id>:<hash of
  the new text>``), so a receiver that drops copies makes a repeat harmless.
  The receiver's 2xx is the acknowledgement; 404 or 410 to a retract means it
  does not have the post (any more): done.  What the receiver does with it
  (take the post down where it put it, tell a person) is its business:
  publisher cannot ask it afterwards, so ``read_back`` raises
  NotImplementedError and an event in doubt is an editor's (REVIEW).

Both the URL (it may carry a token) and the signing secret are credentials
(``url``, ``signing_secret``); neither appears in a message or a repr, nor does
the URL's path or query. Every httpx error is translated in ``_send``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import httpx

from publisher.channels import _http as http
from publisher.channels.base import ChannelSpec
from publisher.channels.media import redact
from publisher.exceptions import (
    AuthFailed,
    ChannelError,
    ConfigError,
    Permanent,
    RateLimited,
    Transient,
)
from publisher.types import DeliveryClass, PublishRequest, PublishResult

log = logging.getLogger("publisher.channels.webhook")

SIGNATURE_HEADER = "X-Publisher-Signature"
TIMESTAMP_HEADER = "X-Publisher-Timestamp"
IDEMPOTENCY_HEADER = "Idempotency-Key"
#: ``post`` on every delivery; ``check`` on the check event (``options.check``);
#: ``retract`` and ``correct`` after the post.
EVENT_HEADER = "X-Publisher-Event"
#: How old (or how far ahead) a timestamp may be, in seconds, by default.
DEFAULT_TOLERANCE = 300
_DEFAULT_RATE_WAIT = timedelta(seconds=60)


def sign(secret: str | bytes, timestamp: int | str, body: bytes | str) -> str:
    """``sha256=<hex>``: the HMAC-SHA256 of ``"<timestamp>.<body>"`` under ``secret``."""
    key = secret.encode() if isinstance(secret, str) else secret
    raw = body.encode() if isinstance(body, str) else body
    digest = hmac.new(key, f"{timestamp}.".encode() + raw, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify_signature(
    secret: str | bytes,
    timestamp: int | str | None,
    body: bytes | str,
    signature: str | None,
    *,
    now: float | datetime,
    tolerance: float = DEFAULT_TOLERANCE,
) -> bool:
    """Whether ``signature`` (the ``X-Publisher-Signature`` header) is ours for
    ``body`` (the raw request body, as received) and ``timestamp`` (the
    ``X-Publisher-Timestamp`` header), and the timestamp is within ``tolerance``
    seconds of ``now`` (unix seconds or an aware datetime), so that a recorded
    request cannot be replayed later. The comparison takes constant time."""
    if not secret or not signature or timestamp is None:
        return False
    try:
        sent = int(str(timestamp).strip())
    except ValueError:
        return False
    current = now.timestamp() if isinstance(now, datetime) else float(now)
    if abs(current - sent) > tolerance:
        return False
    expected = sign(secret, sent, body)
    return hmac.compare_digest(expected.encode(), signature.strip().encode())


class WebhookChannel:
    """POSTs each post, signed, to one HTTP receiver (see the module docstring)."""

    delivery = DeliveryClass.REVIEW

    def __init__(self, spec: ChannelSpec) -> None:
        self.name = spec.name
        raw = str(spec.secrets["url"]).strip()
        parts = urlsplit(raw)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError([f"channel {spec.name!r}: the url credential is not an "
                               "http(s) URL"])
        self._signing_secret = str(spec.secrets["signing_secret"])
        if len(self._signing_secret) < 16:
            raise ConfigError([f"channel {spec.name!r}: the signing_secret credential is too "
                               "short (at least 16 characters; 32 random bytes are best)"])
        secrets = [str(v) for v in spec.secrets.values() if v]
        # A token may sit anywhere in the URL: keep its path and query values out too.
        secrets += [p for p in parts.path.split("/") if len(p) >= 8]
        secrets += [v for _, v in parse_qsl(parts.query) if len(v) >= 8]
        self._secrets = tuple(secrets)
        if spec.base_url:
            base = urlsplit(spec.base_url.rstrip("/"))
            self._url = urlunsplit((base.scheme, base.netloc, base.path + parts.path,
                                    parts.query, ""))
            shown = base
        else:
            self._url = urlunsplit((parts.scheme, parts.netloc, parts.path, parts.query, ""))
            shown = parts
        host = shown.hostname or ""
        self._where = f"{shown.scheme}://{host}" + (f":{shown.port}" if shown.port else "")
        self._check = spec.flag("check", False)
        self._http = http.client(spec.timeout)
        # httpx logs each request's URL, and the URL may hold a token.
        self._log_filter = http.SecretLogFilter(self._secrets)
        logging.getLogger("httpx").addFilter(self._log_filter)

    def __repr__(self) -> str:
        return f"WebhookChannel(name={self.name!r}, to={self._where!r})"

    # --- the Channel protocol --------------------------------------------------

    def publish(self, request: PublishRequest) -> PublishResult:
        """POST ``request``, signed; see the module docstring."""
        payload = {
            "id": request.idempotency_key,
            "post_id": request.post_id,
            "text": request.text,
            "link": request.link,
            "title": request.title,
            "summary": request.summary,
            "image": ({"url": request.image.url, "alt": request.image.alt}
                      if request.image is not None else None),
            "published_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "channel": self.name,
        }
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        timestamp = int(datetime.now(UTC).timestamp())
        headers = {
            "Content-Type": "application/json",
            EVENT_HEADER: "post",
            IDEMPOTENCY_HEADER: request.idempotency_key,
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: sign(self._signing_secret, timestamp, body),
        }
        response = self._send("delivery", True, content=body, headers=headers)
        answer = _body(response)
        remote_id = str(answer.get("id") or request.idempotency_key)
        url = answer.get("url")
        return PublishResult(remote_id, str(url) if isinstance(url, str) and url else None,
                             http_status=response.status_code)

    def find(self, request: PublishRequest) -> PublishResult | None:
        """Not possible: an arbitrary receiver cannot be asked. An editor decides."""
        raise NotImplementedError("a webhook receiver cannot be asked what it received")

    # --- after the post ----------------------------------------------------------

    def delete(self, remote_id: str, *, reason: str | None = None) -> None:
        """Tell the receiver the post ``remote_id`` is retracted: a signed
        ``retract`` event (see the module docstring).  2xx is its
        acknowledgement; 404/410 (it does not have the post) is done too."""
        payload = {"event": "retract", "id": remote_id, "channel": self.name,
                   "reason": reason,
                   "retracted_at": datetime.now(UTC).isoformat(timespec="seconds")}
        try:
            self._event("retract", f"retract:{remote_id}", payload)
        except Permanent as exc:
            if exc.http_status not in (404, 410):
                raise
            log.info("channel=%s the receiver does not have post %s (any more)", self.name,
                     remote_id)

    def read_back(self, remote_id: str) -> str | None:
        """Impossible: a receiver cannot be asked what it shows.  A retract or a
        correction in doubt is an editor's (delivery class REVIEW); sending it
        again is harmless to a receiver that drops copies by key."""
        raise NotImplementedError("a webhook receiver cannot be asked what it shows")

    def edit(self, remote_id: str, request: PublishRequest) -> PublishResult:
        """Tell the receiver the post ``remote_id`` is corrected: a signed
        ``correct`` event with the post's new fields."""
        digest = hashlib.sha256(request.text.encode()).hexdigest()[:16]
        payload = {"event": "correct", "id": remote_id, **self._fields(request),
                   "corrected_at": datetime.now(UTC).isoformat(timespec="seconds")}
        response = self._event("correct", f"correct:{remote_id}:{digest}", payload)
        answer = _body(response)
        url = answer.get("url")
        return PublishResult(remote_id, str(url) if isinstance(url, str) and url else None,
                             http_status=response.status_code)

    def _event(self, event: str, key: str, payload: dict[str, Any]) -> httpx.Response:
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        timestamp = int(datetime.now(UTC).timestamp())
        headers = {
            "Content-Type": "application/json",
            EVENT_HEADER: event,
            IDEMPOTENCY_HEADER: key,
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: sign(self._signing_secret, timestamp, body),
        }
        return self._send(event, True, content=body, headers=headers)

    def _fields(self, request: PublishRequest) -> dict[str, Any]:
        return {
            "post_id": request.post_id,
            "text": request.text,
            "link": request.link,
            "title": request.title,
            "summary": request.summary,
            "image": ({"url": request.image.url, "alt": request.image.alt}
                      if request.image is not None else None),
            "channel": self.name,
        }

    def whoami(self) -> str:
        """Where posts go, without the path (it may hold a token). Nothing is
        sent unless ``options.check`` is on: then a signed check event (see the
        module docstring) must be answered 2xx, so that a wrong secret or a
        receiver that dropped us fails ``publisher check``."""
        if not self._check:
            return f"webhook to {self._where} (signed)"
        body = json.dumps({"event": "check", "channel": self.name},
                          separators=(",", ":")).encode()
        timestamp = int(datetime.now(UTC).timestamp())
        headers = {
            "Content-Type": "application/json",
            EVENT_HEADER: "check",
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: sign(self._signing_secret, timestamp, body),
        }
        self._send("check", False, content=body, headers=headers)
        return f"webhook to {self._where} (signed; the receiver answered the check)"

    def close(self) -> None:
        """Release the HTTP connections (and the log filter)."""
        logging.getLogger("httpx").removeFilter(self._log_filter)
        self._http.close()

    # --- the one boundary for httpx errors ---------------------------------------------

    def _send(self, what: str, write: bool, **kwargs: Any) -> httpx.Response:
        response = http.call(self._http, "POST", self._url, what=what, where=self._where,
                             write=write, **kwargs)
        if 200 <= response.status_code < 300:
            return response
        raise self._error(what, response)

    def _error(self, what: str, response: httpx.Response) -> ChannelError:
        status = response.status_code
        detail = redact(_detail(response), self._secrets)
        where = f"{what} to {self._where}"
        if status == 429:
            until = http.retry_after(response.headers) or datetime.now(UTC) + _DEFAULT_RATE_WAIT
            return RateLimited(f"{where}: rate limited until {until:%Y-%m-%d %H:%M:%S}Z",
                               until=until, http_status=429)
        if status in (401, 403):
            return AuthFailed(f"{where}: the receiver refused us ({status}; is the signing "
                              f"secret the same on both sides?): {detail}", http_status=status)
        if status == 408 or status >= 500:
            return Transient(f"{where}: the receiver answered {status}: {detail}",
                             http_status=status)
        if 300 <= status < 400:
            # Not followed: a redirect would resend the signed post to another place.
            return Permanent(f"{where}: the receiver redirects ({status}); set the url to "
                             "where it points", http_status=status)
        if what in ("retract", "correct") and status == 400:
            return Permanent(f"{where}: the receiver refused the {what} event ({status}; does "
                             f"it take X-Publisher-Event: {what}? see docs/webhook-bridge.md)"
                             f": {detail}", http_status=status)
        thing = f"the {what} event" if what in ("retract", "correct") else "the post"
        return Permanent(f"{where}: the receiver refused {thing} ({status}): {detail}",
                         http_status=status)


# --- helpers -----------------------------------------------------------------------


def _body(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _detail(response: httpx.Response) -> str:
    """A short line from the receiver: a JSON ``error``/``message``, else its text."""
    body = _body(response)
    for key in ("error", "message", "detail"):
        if isinstance(body.get(key), str) and body[key]:
            return str(body[key])[:200]
    text = response.text.strip()
    if text and "<" not in text[:1]:
        return text.splitlines()[0][:200]
    return response.reason_phrase or f"HTTP {response.status_code}"


