"""FakeDiscord: one Discord channel webhook, over real HTTP.

Paths as Discord's (``/api/webhooks/…`` and ``/api/vN/webhooks/…`` alike)::

    POST /api/v10/webhooks/{id}/{token}?wait=true   → 200 and the message object
    POST /api/v10/webhooks/{id}/{token}             → 204, no body (Discord's default)
    GET  /api/v10/webhooks/{id}/{token}             → the webhook object

``webhook_url`` is the URL a channel's ``webhook_url`` credential holds (the
fake's address, or set the channel's ``base_url`` and use
``public_webhook_url``). Messages are kept in ``messages``; each records
whether it *would have pinged* (``mention_everyone``): a content with
``@everyone``/``@here`` pings unless ``allowed_mentions`` forbids it, as on
Discord. ``content`` over 2000 characters, an empty message, or an embed over
Discord's limits is a 400 "Invalid Form Body" (code 50035).

Errors have Discord's shape ``{"message", "code"}``: a wrong token → 401
"Invalid Webhook Token" (50027), an unknown id or a deleted webhook (the
"revoked" switch, or ``delete()``) → 404 "Unknown Webhook" (10015), "429" →
``{"message": "You are being rate limited.", "retry_after": s, "global":
false}`` with ``Retry-After``, ``X-RateLimit-Reset-After`` and
``X-RateLimit-Scope``, "500" → JSON, "503" → a Cloudflare HTML page.

Scopes: POST is "create", GET is "read".
"""

from __future__ import annotations

import itertools
import math
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tests.fakes.fakehttp import FakeServer, Reply, Request

_PATH = re.compile(r"^/api(?:/(v\d+))?/webhooks/(\d+)/([^/]+)/?$")
_EVERYONE = re.compile(r"@(everyone|here)\b")


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


class FakeDiscord(FakeServer):
    """A fake Discord webhook (see the module docstring)."""

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
        return "read" if request.method == "GET" else "other"

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
        version, webhook_id, token = m.groups()
        with self.lock:
            self.versions.add(version or "unversioned")
        if webhook_id != self.webhook_id or self.revoked:
            return self.error(404, "Unknown Webhook", 10015)
        if token != self.token:
            return self.error(401, "Invalid Webhook Token", 50027)
        if request.method == "GET":
            return Reply(200, {
                "application_id": None, "avatar": None, "channel_id": self.channel_id,
                "guild_id": self.guild_id, "id": self.webhook_id, "name": self.name,
                "type": 1, "token": self.token,
            })
        if request.method == "POST":
            return self._execute(request)
        return self.error(405, "405: Method Not Allowed")

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
        for i, embed in enumerate(embeds if isinstance(embeds, list) else []):
            if len(str(embed.get("title") or "")) > 256:
                errors.setdefault("embeds", {})[str(i)] = {"title": {"_errors": [{
                    "code": "BASE_TYPE_MAX_LENGTH",
                    "message": "Must be 256 or fewer in length."}]}}
            if len(str(embed.get("description") or "")) > 4096:
                errors.setdefault("embeds", {})[str(i)] = {"description": {"_errors": [{
                    "code": "BASE_TYPE_MAX_LENGTH",
                    "message": "Must be 4096 or fewer in length."}]}}
        if errors:
            return self.error(400, "Invalid Form Body", 50035, errors=errors)
        if not content and not embeds:
            return self.error(400, "Cannot send an empty message", 50006)
        allowed = body.get("allowed_mentions")
        parse = allowed.get("parse", []) if isinstance(allowed, dict) else None
        pings = bool(_EVERYONE.search(content)) and (parse is None or "everyone" in parse)
        with self.lock:
            message = Message(str(next(self._numbers)), content, list(embeds), allowed, pings,
                              body.get("username"), request.param("thread_id"), body)
            self.messages.append(message)
        if (request.param("wait") or "").lower() != "true":
            return Reply(204, None)
        return Reply(200, {
            "id": message.id,
            "type": 0,
            "content": content,
            "channel_id": message.thread_id or self.channel_id,
            "author": {"bot": True, "id": self.webhook_id,
                       "username": message.username or self.name, "avatar": None,
                       "discriminator": "0000"},
            "attachments": [],
            "embeds": [{"type": "rich", **e} for e in embeds],
            "mentions": [],
            "mention_roles": [],
            "pinned": False,
            "mention_everyone": pings,
            "tts": False,
            "timestamp": datetime.now(UTC).isoformat(),
            "edited_timestamp": None,
            "flags": 0,
            "components": [],
            "webhook_id": self.webhook_id,
        })
