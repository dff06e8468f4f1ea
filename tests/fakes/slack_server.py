"""FakeSlack: one Slack incoming webhook, over real HTTP.

It follows these public documents (Slack's developer docs), not our adapter:

- "Sending messages using incoming webhooks" (docs.slack.dev/messaging/
  sending-messages-using-incoming-webhooks), its "Handling errors" table, and
  the changelog "Improving error conditions for Incoming Webhooks"
  (api.slack.com/changelog/2016-05-17-changes-to-errors-for-incoming-webhooks):
  errors are plain-text codes with 400 (``invalid_payload``,
  ``user_not_found``, ``too_many_attachments``, ``no_text``), 403
  (``action_prohibited``, ``posting_to_general_channel_denied``,
  ``invalid_token``, ``team_disabled``), 404 (``channel_not_found``,
  ``no_service``, ``no_team``), 410 (``channel_is_archived``), 500
  (``rollup_error``).
- "Formatting message text": ``&``, ``<`` and ``>`` are control characters,
  sent escaped as ``&amp; &lt; &gt;``.
- Block Kit reference: at most 50 blocks in a message; a ``section`` text
  (``mrkdwn`` or ``plain_text``) of 1-3000 characters; a ``header`` of
  ``plain_text`` up to 150; ``divider``, ``context`` (up to 10 elements) and
  ``image`` (``image_url`` and ``alt_text`` required); anything else is
  ``invalid_blocks``.
- ``chat.postMessage``, "Truncating really long messages": text over 40,000
  characters is truncated (not refused); ``attachments`` take at most 100.
- "Rate limits": incoming webhooks take about one message per second;
  beyond, 429 with ``Retry-After`` (seconds).

Slack offers no read endpoint for an incoming webhook; ``publisher check``
sends it an empty JSON object, which Slack refuses with ``no_text`` (400)
without posting, while a removed or wrong hook answers ``no_service`` or
``invalid_token`` and an archived channel ``channel_is_archived``.

Nor does an incoming webhook edit or delete: its answer is ``ok`` with no
message ``ts``, and ``chat.update``/``chat.delete`` ("Modifying messages")
need that ``ts`` and an app token, which a hook URL is not.  So this fake
has no such endpoint either.

::

    POST /services/{team}/{bot}/{token}   JSON (or form ``payload=<json>``) → 200 "ok"

Answers are plain text, as Slack's are: ``ok`` or an error code with the
status Slack uses: 400 ``invalid_payload`` (not JSON), ``no_text`` (no text
and no blocks), ``invalid_blocks``, ``too_many_attachments`` (over 100); 403
``invalid_token`` (a wrong token in the URL) and ``action_prohibited``
(``prohibited``); 404 ``no_service`` (an unknown hook, or the "revoked"
switch: the app was removed) and ``channel_not_found`` (``channel_missing``);
410 ``channel_is_archived`` (``archived``); ``refuse`` = (status, code) plays
any other error; "429" → ``rate_limited`` with ``Retry-After`` (whole
seconds); "500" → ``rollup_error``; "503" → an HTML page.

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
        #: (status, error code) answered to every post, e.g. (403, "team_disabled").
        self.refuse: tuple[int, str] | None = None
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
        if self.refuse is not None:
            return self.answer(*self.refuse)
        body = self._payload(request)
        if not isinstance(body, dict):
            return self.answer(400, "invalid_payload")
        text = body.get("text")
        blocks = body.get("blocks")
        if not text and not blocks:
            return self.answer(400, "no_text")
        if blocks is not None and not self._valid_blocks(blocks):
            return self.answer(400, "invalid_blocks")
        attachments = body.get("attachments")
        if isinstance(attachments, list) and len(attachments) > 100:
            return self.answer(400, "too_many_attachments")
        with self.lock:
            # Slack truncates a text over 40,000 characters rather than refuse it.
            self.messages.append(Message(str(text or "")[:40_000], blocks,
                                         body.get("unfurl_links"), body))
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
        if not isinstance(blocks, list) or not blocks or len(blocks) > 50:
            return False
        for block in blocks:
            if not isinstance(block, dict) or not block.get("type"):
                return False
            kind = block["type"]
            text = block.get("text")
            if kind == "section":
                if not isinstance(text, dict) or text.get("type") not in ("mrkdwn", "plain_text"):
                    return False
                if not text.get("text") or len(str(text["text"])) > 3000:
                    return False
            elif kind == "header":
                if not isinstance(text, dict) or text.get("type") != "plain_text":
                    return False
                if not text.get("text") or len(str(text["text"])) > 150:
                    return False
            elif kind == "context":
                elements = block.get("elements")
                if not isinstance(elements, list) or not 1 <= len(elements) <= 10:
                    return False
            elif kind == "image":
                if not block.get("image_url") or not block.get("alt_text"):
                    return False
            elif kind != "divider":
                return False
        return True
