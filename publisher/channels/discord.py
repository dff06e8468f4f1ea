"""The Discord channel: a channel webhook ("Execute Webhook"), over plain httpx.

Why httpx and no SDK: posting through a webhook is one JSON POST; discord.py
and friends are bot frameworks (gateway, caches, their own rate-limit sleeping
and retrying), the opposite of what a worker that must not double-post wants.

- The webhook URL is the secret (credential ``webhook_url``: it holds the
  webhook's token). It is called on API v10 (``/api/v10/webhooks/{id}/{token}``,
  whatever version the URL names) so that ``retry_after`` is in seconds; a
  channel's ``base_url`` replaces its scheme and host.
- ``POST {webhook}?wait=true`` with ``content`` (the rendered text, at most 2000
  characters), one embed (``title``, ``description``, ``url`` = the link,
  ``image.url``; none when there is no title, summary or image: Discord refuses
  an embed with nothing to show) and ``allowed_mentions: {"parse": []}``: a headline that says
  "@everyone" or "@here" is shown, but pings nobody. With ``wait=true`` Discord
  answers the message, whose id is the remote id; the message link needs the
  server id (``options.guild_id``), which the webhook's answer does not carry.
- Rate Limits: when an answer says ``X-RateLimit-Remaining: 0``, the next post
  raises ``RateLimited`` until the bucket's reset (``X-RateLimit-Reset-After``)
  without asking Discord: a 429 counts towards Discord's invalid-request
  limit, whose breach is a temporary ban of the address.
- Errors: 429 → ``RateLimited`` by the largest of ``Retry-After``,
  ``X-RateLimit-Reset-After`` and the body's ``retry_after`` (seconds); 401 (bad
  token), 403 and 404 (the webhook was deleted) → ``AuthFailed``; other 4xx →
  ``Permanent`` with Discord's message; 5xx → ``Transient``.
- Delivery class REVIEW: a webhook cannot list the channel's messages, so
  after an ambiguous attempt an editor decides (``find`` raises
  ``NotImplementedError``).
- After the post (issue 13): a webhook reaches the messages it sent, by id
  (Webhook resource: "Get/Edit/Delete Webhook Message",
  ``/webhooks/{id}/{token}/messages/{message.id}``): ``delete`` (204; 10008
  Unknown Message is a message already gone: done), ``read_back`` (GET: the
  content, None when gone) and ``edit`` (PATCH with the new content and
  embed).  That needs the message id, which Discord gives only to
  ``?wait=true`` (always sent).  A message in a thread is reached with
  ``?thread_id=``: options.thread_id, or for a forum post the post's own id
  (a forum thread has its starter message's id).  Discord sets no age limit
  on deleting or editing a webhook's own messages.  No ``reply``: a webhook
  cannot answer a message.

Options: ``guild_id`` (for message links), ``thread_id`` (post into a thread
or forum post), ``forum`` (the webhook's channel is a forum: each article
opens a new post named after its headline, ``thread_name``, 100 characters;
a forum webhook without it, or it without a forum, pauses the channel),
``username`` and ``avatar_url`` (override the webhook's name/avatar), ``embed``
(default true). Every httpx error is translated in ``_send`` and nowhere else.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from publisher.channels import _http as http
from publisher.channels.base import ChannelSpec
from publisher.channels.media import redact
from publisher.exceptions import (
    Ambiguous,
    AuthFailed,
    ChannelError,
    ConfigError,
    Permanent,
    RateLimited,
    Transient,
)
from publisher.types import DeliveryClass, PublishRequest, PublishResult

#: JSON error code: Unknown Message (the message is gone, or was never this webhook's).
_UNKNOWN_MESSAGE = 10008

log = logging.getLogger("publisher.channels.discord")

API_VERSION = "v10"
_WEBHOOK_PATH = re.compile(r"^/api(?:/v\d+)?/webhooks/(\d+)/([A-Za-z0-9_.-]+)/?$")
_TITLE_MAX = 256
_DESCRIPTION_MAX = 4096
_THREAD_NAME_MAX = 100
#: JSON error codes that mean the webhook's channel and the options disagree
#: about forum posts: every post would fail alike until someone fixes them.
_FORUM_CODES = {220001: "the webhook's channel is a forum: set options.forum = true (a new "
                        "post per article) or options.thread_id (one existing post)",
                220002: "set options.forum or options.thread_id, not both",
                220003: "the webhook's channel is not a forum: remove options.forum"}
_DEFAULT_RATE_WAIT = timedelta(seconds=60)
_ELLIPSIS = "…"


class _UnknownMessage(Permanent):
    """Discord answered 10008 Unknown Message: the message is not there."""


class DiscordChannel:
    """Posts to one Discord channel through its webhook (see the module docstring)."""

    delivery = DeliveryClass.REVIEW

    def __init__(self, spec: ChannelSpec) -> None:
        self.name = spec.name
        raw = str(spec.secrets["webhook_url"]).strip()
        self._secrets = tuple(str(v) for v in spec.secrets.values() if v)
        parts = urlsplit(raw)
        match = _WEBHOOK_PATH.match(parts.path)
        if parts.scheme not in ("http", "https") or not parts.hostname or not match:
            # Never quote the URL: it is the secret.
            raise ConfigError([
                f"channel {spec.name!r}: the webhook_url credential is not a Discord webhook "
                "URL (https://discord.com/api/webhooks/<id>/<token>)"
            ])
        self._webhook_id = match.group(1)
        # A platform echoing the bare token must not get it into a message either.
        self._secrets += (match.group(2),)
        path = f"/api/{API_VERSION}/webhooks/{match.group(1)}/{match.group(2)}"
        if spec.base_url:
            base = urlsplit(spec.base_url.rstrip("/"))
            self._url = urlunsplit((base.scheme, base.netloc, base.path + path, "", ""))
        else:
            self._url = urlunsplit((parts.scheme, parts.netloc, path, "", ""))
        options = spec.options
        self._guild_id = _digits_option(spec, "guild_id")
        self._thread_id = _digits_option(spec, "thread_id")
        self._username = str(options.get("username") or "") or None
        self._avatar_url = str(options.get("avatar_url") or "") or None
        self._embed = spec.flag("embed", True)
        self._forum = spec.flag("forum", False)
        if self._forum and self._thread_id:
            raise ConfigError([f"channel {spec.name!r}: options.forum (a new forum post per "
                               "article) and options.thread_id (one existing thread) exclude "
                               "each other"])
        self._bucket_lock = threading.Lock()
        self._bucket_until: datetime | None = None  # an emptied bucket's reset
        # Discord asks API clients for "DiscordBot ($url, $version)".
        self._http = http.client(spec.timeout,
                                 headers={"User-Agent": "DiscordBot (publisher, 0.1)"})
        self._log_filter = http.SecretLogFilter(self._secrets)
        logging.getLogger("httpx").addFilter(self._log_filter)

    def __repr__(self) -> str:
        return f"DiscordChannel(name={self.name!r}, webhook_id={self._webhook_id!r})"

    # --- the Channel protocol --------------------------------------------------

    def publish(self, request: PublishRequest) -> PublishResult:
        """Post ``request`` through the webhook; see the module docstring."""
        payload = self._payload(request)
        if self._username:
            payload["username"] = self._username
        if self._avatar_url:
            payload["avatar_url"] = self._avatar_url
        if self._forum:
            headline = (request.title or "").strip() or request.text.strip().split("\n", 1)[0]
            payload["thread_name"] = _cut(headline or request.idempotency_key, _THREAD_NAME_MAX)
        params = {"wait": "true"}
        if self._thread_id:
            params["thread_id"] = self._thread_id
        self._wait_for_bucket()
        response = self._send("post", True, "POST", params=params, json=payload)
        self._note_bucket(response.headers)
        if response.status_code == 204:  # a proxy that dropped wait=true: out, but no id
            return PublishResult(request.idempotency_key, None, http_status=204,
                                 notes=("Discord answered without the message id",))
        message = _json(response, write=True)
        message_id = str(message.get("id") or "")
        if not message_id:
            raise Ambiguous(f"Discord answered {response.status_code} without a message id",
                            http_status=response.status_code)
        channel_id = str(message.get("channel_id") or "")
        url = None
        if self._guild_id and channel_id:
            url = f"https://discord.com/channels/{self._guild_id}/{channel_id}/{message_id}"
        return PublishResult(message_id, url, http_status=response.status_code)

    def find(self, request: PublishRequest) -> PublishResult | None:
        """Not possible: a webhook cannot read the channel. An editor decides."""
        raise NotImplementedError("a Discord webhook cannot read the channel's messages")

    # --- after the post ----------------------------------------------------------

    def delete(self, remote_id: str) -> None:
        """Delete the webhook's message ``remote_id`` (DELETE, 204).  10008 Unknown
        Message is a message already gone: done.  A lost answer is Ambiguous;
        ``read_back`` settles it."""
        try:
            self._send("delete", True, "DELETE", path=self._message_path(remote_id),
                       params=self._message_params(remote_id))
        except _UnknownMessage:
            log.info("channel=%s message %s was already gone", self.name, remote_id)

    def read_back(self, remote_id: str) -> str | None:
        """The message's content as Discord shows it (GET), or None when it is
        gone (10008 Unknown Message)."""
        try:
            response = self._send("read back", False, "GET", path=self._message_path(remote_id),
                                  params=self._message_params(remote_id))
        except _UnknownMessage:
            return None
        message = _json(response, write=False)
        content = message.get("content")
        if not isinstance(content, str):
            raise Transient(f"read back: Discord's message {remote_id} had no content")
        return content

    def edit(self, remote_id: str, request: PublishRequest) -> PublishResult:
        """Replace the content (and embed) of message ``remote_id`` (PATCH).  The
        edit sets the text, so sending it again is harmless; a lost answer is
        Ambiguous (``read_back`` tells whether it was applied).  A message that
        is gone is Permanent: there is nothing to correct."""
        payload = self._payload(request)
        payload.setdefault("embeds", [])  # an embed the new text no longer has goes
        response = self._send("edit", True, "PATCH", path=self._message_path(remote_id),
                              params=self._message_params(remote_id), json=payload)
        message = _json(response, write=True)
        message_id = str(message.get("id") or remote_id)
        channel_id = str(message.get("channel_id") or "")
        url = None
        if self._guild_id and channel_id:
            url = f"https://discord.com/channels/{self._guild_id}/{channel_id}/{message_id}"
        return PublishResult(message_id, url, http_status=response.status_code)

    def _message_path(self, remote_id: str) -> str:
        if not remote_id.isdigit():
            # A 204 without wait=true left the idempotency key as the remote id.
            raise Permanent(f"Discord message id {remote_id!r} is not a message id: the post "
                            "was answered without one, so it cannot be reached")
        return f"/messages/{remote_id}"

    def _message_params(self, remote_id: str) -> dict[str, str]:
        if self._thread_id:
            return {"thread_id": self._thread_id}
        if self._forum:  # a forum post's thread has its starter message's id
            return {"thread_id": remote_id}
        return {}

    def whoami(self) -> str:
        """``webhook 'Name' in channel 123``: the webhook exists and the URL is valid."""
        response = self._send("credential check", False, "GET")
        hook = _json(response, write=False)
        name = str(hook.get("name") or "unnamed")
        channel_id = str(hook.get("channel_id") or "?")
        return f"webhook {name!r} in channel {channel_id}"

    def close(self) -> None:
        """Release the HTTP connections (and the log filter)."""
        logging.getLogger("httpx").removeFilter(self._log_filter)
        self._http.close()

    # --- the rate-limit bucket --------------------------------------------------------

    def _wait_for_bucket(self) -> None:
        """Raise ``RateLimited`` without a request while the bucket Discord said
        was empty has not reset: a 429 would count towards Discord's
        invalid-request limit."""
        with self._bucket_lock:
            until = self._bucket_until
        if until is not None and datetime.now(UTC) < until:
            raise RateLimited(f"post: Discord rate limit until {until:%Y-%m-%d %H:%M:%S}Z "
                              "(the last answer said X-RateLimit-Remaining: 0)", until=until)

    def _note_bucket(self, headers: Mapping[str, str]) -> None:
        """Remember when an emptied bucket resets (X-RateLimit-Remaining: 0)."""
        if str(headers.get("x-ratelimit-remaining") or "").strip() != "0":
            return
        try:
            after = float(headers.get("x-ratelimit-reset-after") or "")
        except ValueError:
            try:
                after = float(headers.get("x-ratelimit-reset") or "") - time.time()
            except ValueError:
                return
        until = datetime.now(UTC) + timedelta(seconds=max(0.0, after))
        with self._bucket_lock:
            self._bucket_until = until

    # --- the message -----------------------------------------------------------------

    def _payload(self, request: PublishRequest) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "content": request.text,
            # Nobody is pinged by what a headline says (@everyone, @here, <@id>).
            "allowed_mentions": {"parse": []},
        }
        embed = self._embed_for(request)
        if embed:
            payload["embeds"] = [embed]
        return payload

    def _embed_for(self, request: PublishRequest) -> dict[str, Any] | None:
        # An embed with nothing to show (a url alone) makes Discord refuse the
        # whole message; the link in the content is unfurled by Discord anyway.
        if not self._embed or not (request.title or request.summary or request.image):
            return None
        embed: dict[str, Any] = {}
        if request.title:
            embed["title"] = _cut(request.title, _TITLE_MAX)
        if request.summary:
            embed["description"] = _cut(request.summary, _DESCRIPTION_MAX)
        if request.link:
            embed["url"] = request.link
        if request.image is not None:
            embed["image"] = {"url": request.image.url}
        return embed

    # --- the one boundary for httpx errors ---------------------------------------------

    def _send(self, what: str, write: bool, method: str, *, path: str = "",
              **kwargs: Any) -> httpx.Response:
        """Call the webhook (``path``: below it, e.g. one of its messages); return
        its 2xx response or raise the taxonomy error.  ``write``: the call may
        post, change or delete a message (a lost answer is then Ambiguous)."""
        response = http.call(self._http, method, self._url + path, what=what, where="Discord",
                             write=write, **kwargs)
        if 200 <= response.status_code < 300:
            return response
        raise self._error(what, response)

    def _error(self, what: str, response: httpx.Response) -> ChannelError:
        status = response.status_code
        body = _body(response)
        detail = redact(_message(body, response), self._secrets)
        if status == 429:
            until = _rate_limit_until(response.headers, body)
            scope = response.headers.get("x-ratelimit-scope") or (
                "global" if body.get("global") else "")
            return RateLimited(
                f"{what}: Discord rate limit until {until:%Y-%m-%d %H:%M:%S}Z"
                + (f" ({scope})" if scope else "") + f": {detail}",
                until=until, http_status=429,
            )
        code = body.get("code")
        if status == 404 and code == _UNKNOWN_MESSAGE:
            return _UnknownMessage(f"{what}: Discord has no such message: {detail}",
                                   http_status=404)
        if status in (401, 403, 404):
            reason = {401: "the webhook token is invalid",
                      403: "the webhook may not post here",
                      404: "the webhook was deleted"}[status]
            return AuthFailed(f"{what}: Discord refused the webhook ({status}, {reason}): "
                              f"{detail}", http_status=status)
        if status >= 500:
            return Transient(f"{what}: Discord answered {status}: {detail}", http_status=status)
        if isinstance(code, int) and code in _FORUM_CODES:
            return AuthFailed(f"{what}: Discord refused it ({status}): {detail}; "
                              f"{_FORUM_CODES[code]}", http_status=status)
        return Permanent(f"{what}: Discord refused it ({status}): {detail}", http_status=status)


# --- helpers -----------------------------------------------------------------------


def _digits_option(spec: ChannelSpec, key: str) -> str | None:
    value = spec.options.get(key)
    if value in (None, ""):
        return None
    text = str(value)
    if not text.isdigit():
        raise ConfigError([f"channel {spec.name!r}: options.{key} must be a Discord id "
                           f"(digits), not {text!r}"])
    return text


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + _ELLIPSIS


def _body(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _json(response: httpx.Response, *, write: bool) -> dict[str, Any]:
    return http.json_object(response, where="Discord", write=write)


def _message(body: Mapping[str, Any], response: httpx.Response) -> str:
    """Discord's message and code, and the first field errors of an Invalid Form Body."""
    if not body:
        return response.reason_phrase or f"HTTP {response.status_code}"
    if "message" not in body:  # e.g. {"embeds": ["0"]}: an embed with nothing to show
        return json.dumps(body, ensure_ascii=False)[:200]
    text = str(body.get("message") or "no message")
    if body.get("code"):
        text += f" (code {body['code']})"
    problems = list(_field_errors(body.get("errors"), ""))[:3]
    if problems:
        text += ": " + "; ".join(problems)
    return text


def _field_errors(node: Any, path: str) -> Any:
    if not isinstance(node, Mapping):
        return
    for item in node.get("_errors") or []:
        if isinstance(item, Mapping):
            yield f"{path or 'body'}: {item.get('message') or item.get('code')}"
    for key, child in node.items():
        if key != "_errors":
            yield from _field_errors(child, f"{path}.{key}" if path else str(key))


def _rate_limit_until(headers: Mapping[str, str], body: Mapping[str, Any]) -> datetime:
    waits: list[float] = []
    for raw in (headers.get("retry-after"), headers.get("x-ratelimit-reset-after"),
                body.get("retry_after")):
        try:
            if raw is not None:
                waits.append(float(raw))
        except (TypeError, ValueError):
            continue
    now = datetime.now(UTC)
    if not waits:
        return now + _DEFAULT_RATE_WAIT
    return now + timedelta(seconds=max(0.0, *waits))
