"""The Slack channel: an incoming webhook, over plain httpx.

Why plain httpx: ``slack_sdk.WebhookClient`` would do, but it is one more
dependency for one POST, and its retry handlers (which can send a message
twice after a lost answer) would have to be switched off; httpx sends exactly
one request per attempt and the dispatcher decides about retries.

- ``POST {webhook_url}`` with ``text`` (the rendered post, with ``&``, ``<`` and
  ``>`` escaped as Slack requires: they are markup in Slack's mrkdwn) and one
  ``section`` block holding the text and, when the text does not already carry
  it, the article link as ``<link|title>``; ``unfurl_links`` so Slack shows the
  link's card. A section takes 3000 characters: a longer post goes without
  the block (``text`` takes 40,000).
- Slack answers 200 ``ok`` (plain text) or an error code as plain text:
  ``invalid_token``, ``no_service``, ``no_team``, ``team_disabled``,
  ``channel_not_found``, ``channel_is_archived``, ``action_prohibited``,
  ``posting_to_general_channel_denied`` → ``AuthFailed`` (the webhook cannot
  post there until someone fixes it); ``invalid_payload``, ``no_text``,
  ``invalid_blocks`` … → ``Permanent``; 429 → ``RateLimited`` (``Retry-After``);
  5xx (``rollup_error``) → ``Transient``.
- An incoming webhook answers no message id: the remote id is the post's
  idempotency key. Delivery class REVIEW: it cannot read the channel, so
  ``find`` raises ``NotImplementedError``. ``whoami`` (``publisher check``)
  sends an empty JSON object, which a working hook refuses with ``no_text``
  without posting and a removed, wrong or archived one with its error code.
- After the post (issue 13): nothing.  Slack changes or removes a message
  only through ``chat.update`` / ``chat.delete``, which need the message's
  ``ts`` and a bot or user token ("Modifying messages": an app updates only
  messages posted with its own token); an incoming webhook answers ``ok``
  without a ``ts`` and carries no token, so a message it posted cannot be
  addressed again.  No ``delete``, ``edit`` or ``reply`` here
  (ChannelType ``slack``: can_delete, can_edit, can_reply all False): a
  retraction lists a Slack post for an editor to remove by hand.

The webhook URL is the secret (credential ``webhook_url``); a channel's
``base_url`` replaces its scheme and host. Every httpx error is translated in
``_send`` and nowhere else.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

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

log = logging.getLogger("publisher.channels.slack")

_SECTION_MAX = 3000
_DEFAULT_RATE_WAIT = timedelta(seconds=30)
#: Error codes that mean the webhook (or its channel) cannot post: pause the channel.
AUTH_ERRORS = frozenset({
    "invalid_token", "no_service", "no_service_id", "no_team", "team_disabled",
    "no_active_hooks", "channel_not_found", "channel_is_archived", "action_prohibited",
    "posting_to_general_channel_denied",
})
#: Error codes that mean this message was refused.
PAYLOAD_ERRORS = frozenset({
    "invalid_payload", "no_text", "invalid_blocks", "invalid_blocks_format",
    "invalid_attachments", "too_many_attachments", "missing_text_or_fallback_or_attachments",
    "user_not_found", "msg_too_long",
})


def slack_escape(text: str) -> str:
    """``text`` with the three characters Slack reserves (``& < >``) escaped."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class SlackChannel:
    """Posts to one Slack channel through an incoming webhook (see the module docstring)."""

    delivery = DeliveryClass.REVIEW

    def __init__(self, spec: ChannelSpec) -> None:
        self.name = spec.name
        raw = str(spec.secrets["webhook_url"]).strip()
        parts = urlsplit(raw)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError([
                f"channel {spec.name!r}: the webhook_url credential is not an http(s) URL "
                "(https://hooks.slack.com/services/T…/B…/…)"
            ])
        secrets = [str(v) for v in spec.secrets.values() if v]
        # The last part of the path is the hook's token: keep it out of messages too.
        token = parts.path.rstrip("/").rsplit("/", 1)[-1]
        if len(token) >= 8:
            secrets.append(token)
        self._secrets = tuple(secrets)
        if spec.base_url:
            base = urlsplit(spec.base_url.rstrip("/"))
            self._url = urlunsplit((base.scheme, base.netloc, base.path + parts.path,
                                    parts.query, ""))
        else:
            self._url = urlunsplit((parts.scheme, parts.netloc, parts.path, parts.query, ""))
        self._unfurl = spec.flag("unfurl_links", True)
        self._http = http.client(spec.timeout)
        # httpx logs each request's URL, and the webhook URL is the secret.
        self._log_filter = http.SecretLogFilter(self._secrets)
        logging.getLogger("httpx").addFilter(self._log_filter)

    def __repr__(self) -> str:
        return f"SlackChannel(name={self.name!r})"

    # --- the Channel protocol --------------------------------------------------

    def publish(self, request: PublishRequest) -> PublishResult:
        """Post ``request`` through the webhook; see the module docstring."""
        text = slack_escape(request.text)
        payload: dict[str, Any] = {"text": text, "unfurl_links": self._unfurl,
                                   "unfurl_media": True}
        section = text
        if request.link and request.link not in request.text:
            label = slack_escape(request.title or request.link).replace("|", "¦")
            section += f"\n<{slack_escape(request.link)}|{label}>"
        if section.strip() and len(section) <= _SECTION_MAX:
            payload["blocks"] = [{"type": "section", "text": {"type": "mrkdwn", "text": section}}]
        response = self._send("post", True, json=payload)
        notes: tuple[str, ...] = ()
        if response.text.strip() != "ok":
            notes = (f"Slack answered {response.status_code} without 'ok'",)
        return PublishResult(request.idempotency_key, None, http_status=response.status_code,
                             notes=notes)

    def find(self, request: PublishRequest) -> PublishResult | None:
        """Not possible: an incoming webhook cannot read the channel. An editor decides."""
        raise NotImplementedError("a Slack incoming webhook cannot read the channel")

    def whoami(self) -> str:
        """Ask Slack about the hook without posting: an empty JSON object is
        refused with a payload error (``no_text``) by a hook that can post, and
        with ``no_service``, ``invalid_token``, ``channel_is_archived`` … (an
        ``AuthFailed``) by one that cannot. Webhooks have no read endpoint."""
        response = http.call(self._http, "POST", self._url, what="credential check",
                             where="Slack", write=False, json={})
        code = _error_code(response)
        if response.status_code == 400 and code in PAYLOAD_ERRORS:
            return "incoming webhook (Slack knows it; checked without posting)"
        if 200 <= response.status_code < 300:
            return "incoming webhook (Slack accepted an empty message)"
        raise self._error("credential check", response)

    def close(self) -> None:
        """Release the HTTP connections (and the log filter)."""
        logging.getLogger("httpx").removeFilter(self._log_filter)
        self._http.close()

    # --- the one boundary for httpx errors ---------------------------------------------

    def _send(self, what: str, write: bool, **kwargs: Any) -> httpx.Response:
        """POST to the webhook; return its 2xx response or raise the taxonomy error."""
        response = http.call(self._http, "POST", self._url, what=what, where="Slack", write=write,
                             **kwargs)
        if 200 <= response.status_code < 300:
            return response
        raise self._error(what, response)

    def _error(self, what: str, response: httpx.Response) -> ChannelError:
        status = response.status_code
        code = _error_code(response)
        detail = redact(code or response.reason_phrase or f"HTTP {status}", self._secrets)
        if status == 429 or code == "rate_limited":
            until = http.retry_after(response.headers) or datetime.now(UTC) + _DEFAULT_RATE_WAIT
            return RateLimited(f"{what}: Slack rate limit until {until:%Y-%m-%d %H:%M:%S}Z",
                               until=until, http_status=status)
        if status >= 500:
            return Transient(f"{what}: Slack answered {status}: {detail}", http_status=status)
        if code in AUTH_ERRORS or (code not in PAYLOAD_ERRORS and status in (401, 403, 404, 410)):
            return AuthFailed(f"{what}: Slack refused the webhook ({status}): {detail}",
                              http_status=status)
        return Permanent(f"{what}: Slack refused the message ({status}): {detail}",
                         http_status=status)


# --- helpers -----------------------------------------------------------------------


def _error_code(response: httpx.Response) -> str:
    """Slack's plain-text error code (or a JSON ``error`` from a proxy), one short line."""
    text = response.text.strip()
    if text.startswith("{"):
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, Mapping) and body.get("error"):
            return str(body["error"])[:100]
    if not text or "<" in text:  # empty, or an HTML error page
        return ""
    return text.splitlines()[0][:100]


