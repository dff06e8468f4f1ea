"""FakeDiscord: one Discord channel webhook, over real HTTP.

It follows these public documents (discord.com/developers/docs), not our adapter:

- Webhook resource: "Execute Webhook" (``wait``, ``thread_id``, ``content``
  up to 2000 characters, ``embeds`` up to 10, ``allowed_mentions``; at least
  one of content, embeds, files) and "Get Webhook with Token" (what
  ``publisher check`` reads).
- Message resource, "Embed Object" and "Embed Limits": title 256, description
  4096, up to 25 fields (name 256, value 1024, both required), footer text
  2048, author name 256, and at most 6000 characters across the title,
  description, field names and values, footer texts and author names of all
  the embeds of a message; ``url`` fields take http(s) only.
- "Rate Limits": the 429 body ``{"message", "retry_after" (seconds, float),
  "global"}``, ``Retry-After``, ``X-RateLimit-Limit/-Remaining/-Reset/
  -Reset-After/-Bucket`` and, on a 429, ``X-RateLimit-Scope`` (``user``,
  ``global``, ``shared``) and ``X-RateLimit-Global``.
- "Opcodes and Status Codes", JSON error codes: 10015 Unknown Webhook, 50027
  Invalid Webhook Token, 50006 Cannot send an empty message, 50035 Invalid
  Form Body (with ``errors`` per field), 50109 invalid JSON.
- "Execute Webhook" in a forum channel: ``thread_id`` or ``thread_name`` (a
  new post, 1-100 characters) is required (220001), not both (220002);
  ``thread_name`` elsewhere is refused (220003).
- Webhook resource: "Get Webhook Message", "Edit Webhook Message" (PATCH,
  ``content``/``embeds``/``allowed_mentions``, the same limits as executing;
  answers the message) and "Delete Webhook Message" (204, no body), at
  ``/webhooks/{id}/{token}/messages/{message.id}``; a message in a thread
  (a forum post) is found only with ``?thread_id=`` (without it Discord looks
  in the webhook's channel and answers 10008 Unknown Message).  A webhook can
  reach only the messages it sent.  A forum post's thread has the id of its
  starter message (Channel resource, "Start Thread in Forum or Media
  Channel").  JSON error code 10008 Unknown Message (404) for a message that
  is gone or never was.
- An embed with nothing to show (only a ``url``, say) is refused with the
  body ``{"embeds": ["0"]}``, as Discord answers it (reported in
  matthew1232/discord-webhook-node issue 34).

Paths as Discord's (``/api/webhooks/…`` and ``/api/vN/webhooks/…`` alike)::

    POST /api/v10/webhooks/{id}/{token}?wait=true   → 200 and the message object
    POST /api/v10/webhooks/{id}/{token}             → 204, no body (Discord's default)
    GET  /api/v10/webhooks/{id}/{token}             → the webhook object (check)
    GET    …/{token}/messages/{message_id}[?thread_id=]  → the message (read back)
    PATCH  …/{token}/messages/{message_id}[?thread_id=]  → the edited message
    DELETE …/{token}/messages/{message_id}[?thread_id=]  → 204 (kept in ``deleted``)

``webhook_url`` is the URL a channel's ``webhook_url`` credential holds (the
fake's address, or set the channel's ``base_url`` and use
``public_webhook_url``). Messages are kept in ``messages``; each records
whether it *would have pinged* (``mention_everyone``): a content with
``@everyone``/``@here`` pings unless ``allowed_mentions`` forbids it, as on
Discord. ``content`` over 2000 characters, an empty message, or embeds over
Discord's limits are a 400 "Invalid Form Body" (code 50035).

Errors have Discord's shape ``{"message", "code"}``: a wrong token → 401
"Invalid Webhook Token" (50027), an unknown id or a deleted webhook (the
"revoked" switch, or ``delete()``) → 404 "Unknown Webhook" (10015), "429" →
``{"message": "You are being rate limited.", "retry_after": s, "global":
false}`` with ``Retry-After``, ``X-RateLimit-Reset-After`` and
``X-RateLimit-Scope: shared``; with ``bucket_limit`` set, every execution
answer carries ``X-RateLimit-Remaining`` / ``-Reset-After`` and one past the
limit is that 429 too (kept in ``refused``: Discord counts such requests
towards its invalid-request limit, whose breach is a Cloudflare ban);
"429_global" → the same with ``"global":
true``, ``X-RateLimit-Global: true`` and ``X-RateLimit-Scope: global``; "500" →
JSON, "503" → a Cloudflare HTML page.

Scopes: POST is "create", GET is "read", PATCH is "edit", DELETE is "delete"
(a "reset_after" on a delete or an edit applies it, then drops the answer).
"""

from __future__ import annotations

import itertools
import math
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tests.fakes.fakehttp import FAULT_KINDS, FakeServer, Reply, Request

_PATH = re.compile(r"^/api(?:/(v\d+))?/webhooks/(\d+)/([^/]+)(?:/messages/([^/]+))?/?$")
_EVERYONE = re.compile(r"@(everyone|here)\b")
#: Embed Limits: (path in the embed, limit).
_EMBED_TEXT_LIMITS = (("title", 256), ("description", 4096), ("footer.text", 2048),
                      ("author.name", 256))
#: What makes an embed show something (a url alone does not).
_EMBED_VISIBLE = ("title", "description", "fields", "image", "thumbnail", "author", "footer",
                  "video")
_URL_FIELDS = ("url", "image.url", "thumbnail.url", "author.url", "author.icon_url",
               "footer.icon_url")


def _get(embed: dict[str, Any], path: str) -> Any:
    node: Any = embed
    for key in path.split("."):
        node = node.get(key) if isinstance(node, dict) else None
    return node


def _too_long(limit: int) -> dict[str, Any]:
    return {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH",
                         "message": f"Must be {limit} or fewer in length."}]}


def _embed_errors(embeds: list[Any]) -> tuple[dict[str, Any], bool]:
    """Discord's field errors for ``embeds`` and whether one shows nothing."""
    errors: dict[str, Any] = {}
    empty = False
    total = 0
    if len(embeds) > 10:
        return {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH",
                             "message": "Must be 10 or fewer in length."}]}, False
    for i, embed in enumerate(embeds):
        mine: dict[str, Any] = {}
        if not isinstance(embed, dict):
            errors[str(i)] = {"_errors": [{"code": "DICT_TYPE_CONVERT",
                                           "message": "Only dictionaries may be used."}]}
            continue
        if not any(embed.get(key) for key in _EMBED_VISIBLE):
            empty = True
        for path, limit in _EMBED_TEXT_LIMITS:
            text = str(_get(embed, path) or "")
            total += len(text)
            if len(text) > limit:
                head, _, tail = path.partition(".")
                mine[head] = {tail: _too_long(limit)} if tail else _too_long(limit)
        fields = embed.get("fields") or []
        if len(fields) > 25:
            mine["fields"] = _too_long(25)
        else:
            for j, item in enumerate(fields):
                item = item if isinstance(item, dict) else {}
                problems: dict[str, Any] = {}
                for key, limit in (("name", 256), ("value", 1024)):
                    if key not in item:
                        problems[key] = {"_errors": [{"code": "BASE_TYPE_REQUIRED",
                                                      "message": "This field is required"}]}
                    elif len(str(item[key])) > limit:
                        problems[key] = _too_long(limit)
                    total += len(str(item.get(key) or ""))
                if problems:
                    mine.setdefault("fields", {})[str(j)] = problems
        for path in _URL_FIELDS:
            url = _get(embed, path)
            if url is None:
                continue
            scheme = str(url).partition(":")[0].lower() if ":" in str(url) else ""
            if not scheme or " " in str(url):
                problem = {"code": "URL_TYPE_INVALID_URL", "message": "Not a well formed URL."}
            elif scheme not in ("http", "https", "attachment"):
                problem = {"code": "URL_TYPE_INVALID_SCHEME",
                           "message": f'Scheme "{scheme}" is not supported. Scheme must be one '
                                      "of ('http', 'https')."}
            else:
                continue
            head, _, tail = path.partition(".")
            if tail:
                mine.setdefault(head, {})[tail] = {"_errors": [problem]}
            else:
                mine[head] = {"_errors": [problem]}
        if mine:
            errors[str(i)] = mine
    if total > 6000 and not errors:
        errors["_errors"] = [{"code": "MAX_EMBED_SIZE_EXCEEDED",
                              "message": "Embed size exceeds maximum size of 6000"}]
    return errors, empty


@dataclass
class Message:
    id: str
    content: str
    embeds: list[dict[str, Any]]
    allowed_mentions: dict[str, Any] | None
    mention_everyone: bool
    username: str | None
    thread_id: str | None
    body: dict[str, Any] = field(default_factory=dict)  # the JSON as sent
    edited: list[str] = field(default_factory=list)  # earlier contents, oldest first
    timestamp: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    edited_timestamp: str | None = None


class FakeDiscord(FakeServer):
    """A fake Discord webhook (see the module docstring)."""

    fault_kinds = FAULT_KINDS | {"429_global"}

    def __init__(
        self,
        *,
        webhook_id: str = "1234567890123456789",
        token: str = "fake-webhook-token_AbCdEf0123456789",
        name: str = "Riverside Ledger",
        channel_id: str = "987654321098765432",
        guild_id: str = "111222333444555666",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.webhook_id = webhook_id
        self.token = token
        self.name = name
        self.channel_id = channel_id
        self.guild_id = guild_id
        self.messages: list[Message] = []
        self.versions: set[str] = set()
        #: The webhook's rate-limit bucket: ``bucket_limit`` executions per
        #: ``bucket_window`` seconds (None: no limit, for tests about other things).
        #: Every answer to an execution carries the X-RateLimit-* headers; one
        #: past the limit is a 429 ("shared" scope) and is kept in ``refused``.
        self.bucket_limit: int | None = None
        self.bucket_window = 2.0
        self.refused: list[Request] = []
        #: The webhook's channel is a forum: every message needs a thread_id
        #: (an existing post) or a thread_name (a new post, kept in ``threads``).
        self.forum = False
        self.threads: dict[str, str] = {}
        #: Messages deleted through the webhook (gone: a later GET is 10008).
        self.deleted: list[Message] = []
        self._bucket_start = 0.0
        self._bucket_used = 0
        self._numbers = itertools.count(1_300_000_000_000_000_001)

    @property
    def path(self) -> str:
        return f"/api/webhooks/{self.webhook_id}/{self.token}"

    @property
    def webhook_url(self) -> str:
        """The fake's webhook URL (unversioned, as Discord shows it)."""
        return self.base_url + self.path

    @property
    def public_webhook_url(self) -> str:
        """The URL as Discord would give it; use with a channel ``base_url`` of the fake."""
        return "https://discord.com" + self.path

    def delete(self) -> None:
        """Delete the webhook, as a server admin can: 404 from now on."""
        self.revoked = True

    # --- classification -----------------------------------------------------------

    def scope_of(self, request: Request) -> str:
        if request.method == "POST":
            return "create"
        return {"GET": "read", "PATCH": "edit", "DELETE": "delete"}.get(request.method, "other")

    def has_auth(self, request: Request) -> bool:
        m = _PATH.match(request.path)
        return bool(m and m.group(3))

    # --- replies ------------------------------------------------------------------

    @staticmethod
    def error(status: int, message: str, code: int = 0, **extra: Any) -> Reply:
        """A Discord error reply (usable from tests to script odd answers)."""
        return Reply(status, {"message": message, "code": code, **extra})

    def server_error(self, request: Request, status: int) -> Reply:
        if status == 503:
            page = ("<html><head><title>503 Service Temporarily Unavailable</title></head>"
                    "<body><center><h1>503</h1></center><hr><center>cloudflare</center>"
                    "</body></html>")
            return Reply(503, page, {}, content_type="text/html")
        return self.error(500, "500: Internal Server Error")

    def rate_limited(self, request: Request, kind: str, reset: float) -> Reply:
        seconds = max(0.0, reset - time.time())
        if kind == "429_global":
            return Reply(429, {"message": "You are being rate limited.",
                               "retry_after": round(seconds, 3), "global": True},
                         {"Retry-After": str(math.ceil(seconds)), "X-RateLimit-Global": "true",
                          "X-RateLimit-Scope": "global"})
        headers = {
            "Retry-After": str(math.ceil(seconds)),
            "X-RateLimit-Limit": "5",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": f"{reset:.3f}",
            "X-RateLimit-Reset-After": f"{seconds:.3f}",
            "X-RateLimit-Bucket": "fakebucket0123",
            "X-RateLimit-Scope": "shared",
        }
        return Reply(429, {"message": "You are being rate limited.",
                           "retry_after": round(seconds, 3), "global": False}, headers)

    def handle(self, request: Request) -> Reply:
        m = _PATH.match(request.path)
        if not m:
            return self.error(404, "404: Not Found")
        version, webhook_id, token, message_id = m.groups()
        with self.lock:
            self.versions.add(version or "unversioned")
        if webhook_id != self.webhook_id or self.revoked:
            return self.error(404, "Unknown Webhook", 10015)
        if token != self.token:
            return self.error(401, "Invalid Webhook Token", 50027)
        if message_id is not None:
            return self._message_request(request, message_id)
        if request.method == "GET":
            return Reply(200, {
                "application_id": None, "avatar": None, "channel_id": self.channel_id,
                "guild_id": self.guild_id, "id": self.webhook_id, "name": self.name,
                "type": 1, "token": self.token,
            })
        if request.method == "POST":
            limited, headers = self._take_from_bucket()
            if limited is not None:
                with self.lock:
                    self.refused.append(request)
                return limited
            reply = self._execute(request)
            reply.headers.update(headers)
            return reply
        return self.error(405, "405: Method Not Allowed")

    def _take_from_bucket(self) -> tuple[Reply | None, dict[str, str]]:
        """Count one execution against the bucket: (a 429 or None, the headers)."""
        now = time.time()
        with self.lock:
            limit = self.bucket_limit
            if limit is None:
                return None, {}
            if now - self._bucket_start >= self.bucket_window:
                self._bucket_start, self._bucket_used = now, 0
            reset = self._bucket_start + self.bucket_window
            if self._bucket_used >= limit:
                return self.rate_limited_reply(reset, "shared"), {}
            self._bucket_used += 1
            remaining = limit - self._bucket_used
        return None, {"X-RateLimit-Limit": str(limit), "X-RateLimit-Remaining": str(remaining),
                      "X-RateLimit-Reset": f"{reset:.3f}",
                      "X-RateLimit-Reset-After": f"{max(0.0, reset - now):.3f}",
                      "X-RateLimit-Bucket": "fakebucket0123"}

    def rate_limited_reply(self, reset: float, scope: str) -> Reply:
        seconds = max(0.0, reset - time.time())
        return Reply(429, {"message": "You are being rate limited.",
                           "retry_after": round(seconds, 3), "global": False},
                     {"Retry-After": str(math.ceil(seconds)), "X-RateLimit-Limit": "5",
                      "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": f"{reset:.3f}",
                      "X-RateLimit-Reset-After": f"{seconds:.3f}",
                      "X-RateLimit-Bucket": "fakebucket0123", "X-RateLimit-Scope": scope})

    def _execute(self, request: Request) -> Reply:
        try:
            body = request.json()
        except ValueError:
            return self.error(400, "The request body contains invalid JSON.", 50109)
        if not isinstance(body, dict):
            return self.error(400, "Invalid Form Body", 50035)
        content = str(body.get("content") or "")
        embeds = body.get("embeds") or []
        errors: dict[str, Any] = {}
        if len(content) > 2000:
            errors["content"] = {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH",
                                              "message": "Must be 2000 or fewer in length."}]}
        if not isinstance(embeds, list):
            errors["embeds"] = {"_errors": [{"code": "LIST_TYPE_CONVERT",
                                             "message": "Only iterables may be used in a "
                                                        "ListType."}]}
        else:
            embed_errors, empty = _embed_errors(embeds)
            if embed_errors:
                errors["embeds"] = embed_errors
            elif empty:
                # Discord's answer to an embed that shows nothing: no message, no code.
                return Reply(400, {"embeds": [str(i) for i, e in enumerate(embeds) if not any(
                    isinstance(e, dict) and e.get(k) for k in _EMBED_VISIBLE)]})
        thread_name = body.get("thread_name")
        thread_id = request.param("thread_id")
        if thread_name is not None and not 1 <= len(str(thread_name)) <= 100:
            errors["thread_name"] = {"_errors": [{"code": "BASE_TYPE_BAD_LENGTH",
                                                  "message": "Must be between 1 and 100 in "
                                                             "length."}]}
        if errors:
            return self.error(400, "Invalid Form Body", 50035, errors=errors)
        if not content and not embeds:
            return self.error(400, "Cannot send an empty message", 50006)
        if self.forum and thread_name is None and thread_id is None:
            return self.error(400, "Webhooks posted to forum channels must have a thread_name "
                                   "or thread_id", 220001)
        if self.forum and thread_name is not None and thread_id is not None:
            return self.error(400, "Webhooks posted to forum channels cannot have both a "
                                   "thread_name and thread_id", 220002)
        if not self.forum and thread_name is not None:
            return self.error(400, "Webhooks can only create threads in forum channels", 220003)
        new_id = str(next(self._numbers))
        if thread_name is not None:
            thread_id = new_id  # a forum post's thread has its starter message's id
            with self.lock:
                self.threads[thread_id] = str(thread_name)
        allowed = body.get("allowed_mentions")
        parse = allowed.get("parse", []) if isinstance(allowed, dict) else None
        pings = bool(_EVERYONE.search(content)) and (parse is None or "everyone" in parse)
        with self.lock:
            message = Message(new_id, content, list(embeds), allowed, pings,
                              body.get("username"), thread_id, body)
            self.messages.append(message)
        if (request.param("wait") or "").lower() != "true":
            return Reply(204, None)
        return Reply(200, self._message_object(message))

    def _message_object(self, message: Message) -> dict[str, Any]:
        return {
            "id": message.id,
            "type": 0,
            "content": message.content,
            "channel_id": message.thread_id or self.channel_id,
            "author": {"bot": True, "id": self.webhook_id,
                       "username": message.username or self.name, "avatar": None,
                       "discriminator": "0000"},
            "attachments": [],
            "embeds": [{"type": "rich", **e} for e in message.embeds],
            "mentions": [],
            "mention_roles": [],
            "pinned": False,
            "mention_everyone": message.mention_everyone,
            "tts": False,
            "timestamp": message.timestamp,
            "edited_timestamp": message.edited_timestamp,
            "flags": 0,
            "components": [],
            "webhook_id": self.webhook_id,
        }

    # --- the webhook's own messages ---------------------------------------------------

    def message(self, message_id: str) -> Message | None:
        """The message ``message_id`` if it is still there."""
        with self.lock:
            return next((m for m in self.messages if m.id == message_id), None)

    def _message_request(self, request: Request, message_id: str) -> Reply:
        """Get, edit or delete one of the webhook's messages."""
        thread_id = request.param("thread_id")
        with self.lock:
            message = self.message(message_id)
            # Without thread_id Discord looks in the webhook's own channel only.
            if message is None or message.thread_id != thread_id:
                return self.error(404, "Unknown Message", 10008)
            if request.method == "GET":
                return Reply(200, self._message_object(message))
            if request.method == "DELETE":
                self.messages.remove(message)
                self.deleted.append(message)
                return Reply(204, None)
        if request.method == "PATCH":
            return self._edit(request, message)
        return self.error(405, "405: Method Not Allowed")

    def _edit(self, request: Request, message: Message) -> Reply:
        try:
            body = request.json()
        except ValueError:
            return self.error(400, "The request body contains invalid JSON.", 50109)
        if not isinstance(body, dict):
            return self.error(400, "Invalid Form Body", 50035)
        errors: dict[str, Any] = {}
        content = body.get("content", message.content)
        content = "" if content is None else str(content)
        embeds = body.get("embeds", message.embeds)
        embeds = [] if embeds is None else embeds
        if len(content) > 2000:
            errors["content"] = {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH",
                                              "message": "Must be 2000 or fewer in length."}]}
        if not isinstance(embeds, list):
            return self.error(400, "Invalid Form Body", 50035)
        embed_errors, empty = _embed_errors(embeds)
        if embed_errors:
            errors["embeds"] = embed_errors
        elif empty:
            return Reply(400, {"embeds": [str(i) for i, e in enumerate(embeds) if not any(
                isinstance(e, dict) and e.get(k) for k in _EMBED_VISIBLE)]})
        if errors:
            return self.error(400, "Invalid Form Body", 50035, errors=errors)
        if not content and not embeds:
            return self.error(400, "Cannot send an empty message", 50006)
        with self.lock:
            if self.message(message.id) is None:  # deleted meanwhile
                return self.error(404, "Unknown Message", 10008)
            if content != message.content:
                message.edited.append(message.content)
            message.content = content
            message.embeds = list(embeds)
            if "allowed_mentions" in body:
                message.allowed_mentions = body["allowed_mentions"]
            message.edited_timestamp = datetime.now(UTC).isoformat()
            return Reply(200, self._message_object(message))
