"""FakeSlack: one Slack incoming webhook, over real HTTP.

::

    POST /services/{team}/{bot}/{token}   JSON (or form ``payload=<json>``) → 200 "ok"

Answers are plain text, as Slack's are: ``ok`` or an error code with the
status Slack uses: 400 ``invalid_payload`` (not JSON), ``no_text`` (no text
and no blocks), ``invalid_blocks`` (a block without a type, or a section text
over 3000 characters); 403 ``invalid_token`` (a wrong token in the URL) and
``action_prohibited`` (``prohibited``); 404 ``no_service`` (an unknown hook, or
the "revoked" switch: the app was removed) and ``channel_not_found``
(``channel_missing``); 410 ``channel_is_archived`` (``archived``); "429" →
``rate_limited`` with ``Retry-After`` (whole seconds); "500" →
``rollup_error``; "503" → an HTML page.

``webhook_url`` is the URL a channel's ``webhook_url`` credential holds.
Messages are kept in ``messages``; ``Message.shown`` is the text with Slack's
``&amp; &lt; &gt;`` entities read back. POST is scope "create".
"""

from __future__ import annotations

import html
import json
import math
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from tests.fakes.fakehttp import FakeServer, Reply, Request


@dataclass
class Message:
    text: str
    blocks: list[dict[str, Any]] | None
    unfurl_links: bool | None
    body: dict[str, Any] = field(default_factory=dict)

    @property
    def shown(self) -> str:
        return html.unescape(self.text)


class FakeSlack(FakeServer):
    """A fake Slack incoming webhook (see the module docstring)."""

    def __init__(
        self,
        *,
        team: str = "T00000001",
        bot: str = "B00000002",
        token: str = "fakeSlackHookToken0123456789",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.team, self.bot, self.token = team, bot, token
        self.archived = False
        self.prohibited = False
        self.channel_missing = False
        self.messages: list[Message] = []

    @property
    def path(self) -> str:
        return f"/services/{self.team}/{self.bot}/{self.token}"

    @property
    def webhook_url(self) -> str:
        return self.base_url + self.path

    # --- classification ----------------------------------------------------------

    def scope_of(self, request: Request) -> str:
        return "create" if request.method == "POST" else "other"

    def has_auth(self, request: Request) -> bool:
        return request.path.startswith("/services/")

    # --- replies -----------------------------------------------------------------

    @staticmethod
    def answer(status: int, text: str, headers: dict[str, str] | None = None) -> Reply:
        """A plain-text reply, as Slack sends (usable from tests)."""
        return Reply(status, text, dict(headers or {}), content_type="text/html")

    def server_error(self, request: Request, status: int) -> Reply:
        if status == 503:
            return Reply(503, "<html><body><h1>503 Service Unavailable</h1></body></html>",
                         {}, content_type="text/html")
        return self.answer(500, "rollup_error")

    def rate_limited(self, request: Request, kind: str, reset: float) -> Reply:
        seconds = max(0.0, reset - time.time())
        return self.answer(429, "rate_limited", {"Retry-After": str(math.ceil(seconds))})

    def handle(self, request: Request) -> Reply:
        parts = request.path.strip("/").split("/")
        if request.method != "POST":
            return self.answer(405, "invalid_method")
        if len(parts) != 4 or parts[0] != "services" or self.revoked:
            return self.answer(404, "no_service")
        if (parts[1], parts[2]) != (self.team, self.bot):
            return self.answer(404, "no_service")
        if parts[3] != self.token:
            return self.answer(403, "invalid_token")
        if self.channel_missing:
            return self.answer(404, "channel_not_found")
        if self.archived:
            return self.answer(410, "channel_is_archived")
        if self.prohibited:
            return self.answer(403, "action_prohibited")
        body = self._payload(request)
        if not isinstance(body, dict):
            return self.answer(400, "invalid_payload")
        text = body.get("text")
        blocks = body.get("blocks")
        if not text and not blocks:
            return self.answer(400, "no_text")
        if blocks is not None and not self._valid_blocks(blocks):
            return self.answer(400, "invalid_blocks")
        with self.lock:
            self.messages.append(Message(str(text or ""), blocks, body.get("unfurl_links"),
                                         body))
        return self.answer(200, "ok")

    @staticmethod
    def _payload(request: Request) -> Any:
        raw = request.body
        if request.headers.get("content-type", "").startswith(
                "application/x-www-form-urlencoded"):
            values = parse_qs(raw.decode("utf-8", "replace")).get("payload")
            raw = values[-1].encode() if values else b""
        try:
            return json.loads(raw or b"null")
        except ValueError:
            return None

    @staticmethod
    def _valid_blocks(blocks: Any) -> bool:
        if not isinstance(blocks, list) or len(blocks) > 50:
            return False
        for block in blocks:
            if not isinstance(block, dict) or not block.get("type"):
                return False
            if block["type"] == "section":
                text = block.get("text")
                if not isinstance(text, dict) or text.get("type") not in ("mrkdwn", "plain_text"):
                    return False
                if not text.get("text") or len(str(text["text"])) > 3000:
                    return False
        return True
