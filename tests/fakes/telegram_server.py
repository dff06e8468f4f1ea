"""FakeTelegram: the Bot API methods publisher uses, over real HTTP.

It follows these public documents (core.telegram.org), not our adapter:

- Telegram Bot API (https://core.telegram.org/bots/api), "Making requests"
  (the ``{"ok", "result"}`` / ``{"ok": false, "error_code", "description",
  "parameters"}`` answers, ``ResponseParameters.retry_after`` and
  ``migrate_to_chat_id``), ``getMe``, ``getChat``, ``sendMessage`` ("1-4096
  characters after entities parsing"), ``getChatMember`` (``ChatMember``:
  ``status``; for an administrator ``can_post_messages``, "channels only"),
  ``sendPhoto`` ("caption 0-1024
  characters after entities parsing"; "the photo must be at most 10 MB in
  size; width and height must not exceed 10000 in total; width and height
  ratio must be at most 20") and ``LinkPreviewOptions``.
- "Formatting options", HTML style: the supported tags, the only named
  entities (``&lt; &gt; &amp; &quot;``) and numeric ones; anything else is
  400 "Bad Request: can't parse entities: …".
- "MessageEntity": offsets and lengths in UTF-16 code units. The length
  limits are not: the Bot API server (TDLib, tdlib/td
  ``td/telegram/MessageContent.cpp``: ``utf8_length(text) >
  message_text_length_max`` → "Message is too long") counts Unicode code
  points of the parsed text, as live measurements confirm (4096 astral emoji
  accepted, 4097 refused: FerroxLabs/wayland issue 934; 1024 runes accepted
  in a caption, 1025 refused: haoyu010/ext.to). So does this fake.
- Bots FAQ, "My bot is hitting limits": 429 with ``retry_after``.
- ``deleteMessage``: "A message can only be deleted if it was sent less than
  48 hours ago"; a bot deletes its outgoing messages in groups, and in
  channels when it has ``can_post_messages``; answers True.  The refusals as
  bots report them: "message to delete not found" (gone, or never was),
  "message can't be deleted" (too old, or no right).
- "Updating messages": ``editMessageText`` (a text message; "there is no
  text in the message to edit" for a photo) and ``editMessageCaption`` (a
  media message; "there is no caption in the message to edit" for a text
  one) answer the edited Message with ``edit_date``; the same text again is
  400 "message is not modified: specified new message content and reply
  markup are exactly the same as a current content and reply markup of the
  message"; a message that is gone is "message to edit not found"; a bot may
  edit its own messages at any age.  Same parsing and limits as sending
  ("MESSAGE_TOO_LONG" for a text, "MEDIA_CAPTION_TOO_LONG" for a caption).
- ``sendMessage`` with ``ReplyParameters`` (``message_id``,
  ``allow_sending_without_reply``): a reply to a message that is gone is 400
  "message to be replied not found" unless sending without reply is allowed.
- There is no Bot API method that reads a message by id (``getUpdates`` and
  webhooks deliver new ones; channel posts a bot sent itself are not even
  delivered to it), so the fake has none either.
- The descriptions the real API gives for a chat that cannot be posted to
  ("chat not found", "need administrator rights in the channel chat", "group
  chat was upgraded to a supergroup chat" with ``migrate_to_chat_id``), as
  bots report them in public issue trackers.

No SDK publishes recorded Bot API answers; the answers here are built from
those pages.

Paths, status codes and JSON bodies follow the Bot API (7.x)::

    POST /bot<token>/getMe         the bot (User); what ``publisher check`` asks
    POST /bot<token>/getChat       {chat_id} → the chat (title, username when public)
    POST /bot<token>/getChatMember {chat_id, user_id} → the bot's ChatMember in the chat
    POST /bot<token>/sendMessage   {chat_id, text, parse_mode, link_preview_options}
    POST /bot<token>/sendPhoto     multipart: chat_id, photo (file), caption, parse_mode
    POST /bot<token>/deleteMessage {chat_id, message_id} → true (kept in ``deleted``)
    POST /bot<token>/editMessageText    {chat_id, message_id, text, parse_mode, …} → Message
    POST /bot<token>/editMessageCaption {chat_id, message_id, caption, parse_mode} → Message

Every answer is ``{"ok": true, "result": …}`` or ``{"ok": false, "error_code": N,
"description": "…"}``. Like the real API it parses ``parse_mode=HTML`` (an
unescaped ``<`` or ``&`` is 400 "can't parse entities"), checks the limits on
the text after parsing (4096 for a message, "message is too long"; 1024 for a
caption, "message caption is too long", counted in code points), checks
an uploaded photo (not JPEG/PNG: "IMAGE_PROCESS_FAILED"; over 10 MB: "file is
too big"; sides over 10000 in total or a ratio over 20:
"PHOTO_INVALID_DIMENSIONS"), answers a wrong token 401 "Unauthorized", an
unknown chat 400 "chat not found", a kicked bot 403, and a rate limit 429 with
``parameters.retry_after`` (and a ``Retry-After`` header).

Use::

    with FakeTelegram(token="123:ABC") as tg:
        spec = ChannelSpec("tg", "telegram", secrets={"bot_token": "123:ABC"},
                           options={"chat_id": tg.chat_id}, base_url=tg.base_url)
        ...
        assert tg.messages[0].text == "Fire & <smoke>"

Switches: those of ``tests.fakes.fakehttp`` (creates are sendMessage and
sendPhoto; reads getMe and getChat; deletes deleteMessage; edits
editMessageText and editMessageCaption), ``advance(seconds)`` (the fake's
clock, for the 48-hour delete window), ``public`` (the chat has a username),
``kicked`` (403 on everything about the chat), ``not_admin`` (the bot is an
administrator of the channel without the right to post messages: sends are
400 "need administrator rights", ``getChatMember`` says
``can_post_messages: false``),
``migrated_to`` (a chat id: the group was upgraded to that supergroup; the old
id is answered 400 with ``parameters.migrate_to_chat_id``).
"""

from __future__ import annotations

import io
import itertools
import re
import time
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs

from PIL import Image, UnidentifiedImageError

from tests.fakes.fakehttp import FakeServer, Reply, Request

_PATH = re.compile(r"^/bot([^/]+)/([A-Za-z]+)$")
_TAGS = frozenset({"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code",
                   "pre", "tg-spoiler", "span", "blockquote", "tg-emoji"})
_ENTITY = re.compile(r"&(lt|gt|amp|quot|#\d+|#x[0-9a-fA-F]+);")
_URL = re.compile(r"https?://\S+")


@dataclass
class StoredMessage:
    message_id: int
    kind: str  # "text" or "photo"
    text: str  # as the chat shows it (HTML parsed)
    raw: str  # as sent
    link_preview_options: dict[str, Any] | None = None
    photo_size: int = 0
    photo_type: str = ""
    date: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
    reply_to: int | None = None
    edit_date: int | None = None
    history: list[str] = field(default_factory=list)  # earlier texts, oldest first


class _EntityError(ValueError):
    pass


class _Parser(HTMLParser):
    """Telegram's HTML: a few tags, the four named entities and numeric ones."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _TAGS:
            raise _EntityError(f'Unsupported start tag "{tag}"')
        self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open[-1] != tag:
            raise _EntityError(f'Unmatched end tag "{tag}"')
        self.open.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse_html(text: str) -> str:
    """The visible text of ``text`` in Telegram's HTML, or ``_EntityError``."""
    for index, ch in enumerate(text):
        if ch == "&" and not _ENTITY.match(text, index):
            raise _EntityError(f"Unsupported entity at byte offset {len(text[:index].encode())}")
        if ch == "<":
            rest = text[index + 1:]
            name = re.match(r"/?([a-zA-Z-]+)", rest)
            if not name or name.group(1).lower() not in _TAGS:
                raise _EntityError(
                    f"Unsupported start tag \"{(name.group(1) if name else rest[:5])}\" at byte "
                    f"offset {len(text[:index].encode())}")
    parser = _Parser()
    parser.feed(text)
    parser.close()
    if parser.open:
        raise _EntityError(f'Can\'t find end tag corresponding to start tag "{parser.open[-1]}"')
    return "".join(parser.text)  # convert_charrefs: entities are already decoded


def utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


class FakeTelegram(FakeServer):
    """A fake Bot API (see the module docstring)."""

    def __init__(
        self,
        *,
        token: str = "7000000001:AAH-fake-token-for-tests-000000000",
        chat_id: int = -1001234567890,
        chat_username: str = "riverledger",
        chat_title: str = "Riverside Ledger",
        bot_username: str = "ledger_news_bot",
        public: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.token = token
        self.chat_id = chat_id
        self.chat_username = chat_username
        self.chat_title = chat_title
        self.bot_username = bot_username
        self.public = public
        self.kicked = False
        self.not_admin = False
        #: "channel", "supergroup", "group" or "private".
        self.chat_type = "channel"
        self.migrated_to: int | None = None
        self.messages: list[StoredMessage] = []
        #: Messages deleted with deleteMessage (gone for good).
        self.deleted: list[StoredMessage] = []
        self._offset = 0.0
        self._ids = itertools.count(101)

    def now(self) -> float:
        """The fake's clock: real time plus what ``advance`` added."""
        return time.time() + self._offset

    def advance(self, seconds: float) -> None:
        """Move the fake's clock on (messages age; nothing else changes)."""
        with self.lock:
            self._offset += seconds

    def message(self, message_id: int) -> StoredMessage | None:
        """The message ``message_id`` if it is still there."""
        with self.lock:
            return next((m for m in self.messages if m.message_id == message_id), None)

    # --- classification --------------------------------------------------------

    def scope_of(self, request: Request) -> str:
        match = _PATH.match(request.path)
        method = match.group(2) if match else ""
        if method in ("sendMessage", "sendPhoto"):
            return "create"
        if method == "deleteMessage":
            return "delete"
        if method in ("editMessageText", "editMessageCaption"):
            return "edit"
        return "read" if method in ("getMe", "getChat", "getChatMember") else "other"

    def has_auth(self, request: Request) -> bool:
        return bool(_PATH.match(request.path))

    # --- replies ---------------------------------------------------------------

    def _fail(self, code: int, description: str, **parameters: Any) -> Reply:
        body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
        if parameters:
            body["parameters"] = parameters
        headers = {"Retry-After": str(parameters["retry_after"])} if "retry_after" in \
            parameters else {}
        return Reply(code, body, headers)

    def _ok(self, result: Any) -> Reply:
        return Reply(200, {"ok": True, "result": result})

    def server_error(self, request: Request, status: int) -> Reply:
        if status == 503:
            page = "<html><head><title>503</title></head><body>nginx</body></html>"
            return Reply(503, page, content_type="text/html")
        return self._fail(status, "Internal Server Error")

    def rate_limited(self, request: Request, kind: str, reset: float) -> Reply:
        retry_after = max(1, round(reset - time.time()))
        return self._fail(429, f"Too Many Requests: retry after {retry_after}",
                          retry_after=retry_after)

    def handle(self, request: Request) -> Reply:
        match = _PATH.match(request.path)
        if not match:
            return self._fail(404, "Not Found")
        token, method = match.groups()
        if token != self.token or self.revoked:
            return self._fail(401, "Unauthorized")
        params = _params(request)
        if method == "getMe":
            return self._ok(self._bot())
        if method in ("getChat", "getChatMember", "sendMessage", "sendPhoto", "deleteMessage",
                      "editMessageText", "editMessageCaption"):
            chat = str(params.get("chat_id", ""))
            if chat not in (str(self.chat_id), f"@{self.chat_username}"):
                return self._fail(400, "Bad Request: chat not found")
            if self.migrated_to is not None:
                return self._fail(400, "Bad Request: group chat was upgraded to a supergroup chat",
                                  migrate_to_chat_id=self.migrated_to)
            if self.kicked:
                return self._fail(403, "Forbidden: bot was kicked from the channel chat")
            if self.not_admin and method in ("sendMessage", "sendPhoto"):
                return self._fail(400, "Bad Request: need administrator rights in the channel chat")
        if method == "getChat":
            return self._ok(self._chat(full=True))
        if method == "getChatMember":
            return self._member(params)
        if method == "sendMessage":
            return self._send_message(params)
        if method == "sendPhoto":
            return self._send_photo(params)
        if method == "deleteMessage":
            return self._delete_message(params)
        if method in ("editMessageText", "editMessageCaption"):
            return self._edit_message(method, params)
        return self._fail(404, "Not Found")

    def _message_id(self, params: dict[str, Any]) -> int | None:
        try:
            return int(params.get("message_id"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return None

    def _delete_message(self, params: dict[str, Any]) -> Reply:
        message_id = self._message_id(params)
        if message_id is None:
            return self._fail(400, "Bad Request: message identifier is not specified")
        with self.lock:
            message = self.message(message_id)
            if message is None:
                return self._fail(400, "Bad Request: message to delete not found")
            # 48 hours, and in a channel only with the right to post messages.
            if self.now() - message.date >= 48 * 3600 or self.not_admin:
                return self._fail(400, "Bad Request: message can't be deleted")
            self.messages.remove(message)
            self.deleted.append(message)
        return self._ok(True)

    def _edit_message(self, method: str, params: dict[str, Any]) -> Reply:
        message_id = self._message_id(params)
        if message_id is None:
            return self._fail(400, "Bad Request: message identifier is not specified")
        key = "text" if method == "editMessageText" else "caption"
        raw = str(params.get(key) or "")
        try:
            text = self._parse(raw, params.get("parse_mode"))
        except _EntityError as exc:
            return self._fail(400, f"Bad Request: can't parse entities: {exc}")
        with self.lock:
            message = self.message(message_id)
            if message is None:
                return self._fail(400, "Bad Request: message to edit not found")
            if key == "text" and message.kind != "text":
                return self._fail(400, "Bad Request: there is no text in the message to edit")
            if key == "caption" and message.kind == "text":
                return self._fail(400, "Bad Request: there is no caption in the message to edit")
            if key == "text" and not text.strip():
                return self._fail(400, "Bad Request: message text is empty")
            if key == "text" and len(text) > 4096:
                return self._fail(400, "Bad Request: MESSAGE_TOO_LONG")
            if key == "caption" and len(text) > 1024:
                return self._fail(400, "Bad Request: MEDIA_CAPTION_TOO_LONG")
            if text == message.text:
                return self._fail(400, "Bad Request: message is not modified: specified new "
                                       "message content and reply markup are exactly the same "
                                       "as a current content and reply markup of the message")
            message.history.append(message.text)
            message.text, message.raw = text, raw
            message.edit_date = int(self.now())
            options = params.get("link_preview_options")
            if key == "text":
                message.link_preview_options = options if isinstance(options, dict) else None
            return self._ok(self._message_json(message))

    def _bot(self) -> dict[str, Any]:
        return {"id": int(self.token.split(":")[0]), "is_bot": True, "first_name": "Ledger Bot",
                "username": self.bot_username, "can_join_groups": False,
                "can_read_all_group_messages": False, "supports_inline_queries": False}

    def _member(self, params: dict[str, Any]) -> Reply:
        """The bot's ChatMember in the channel: an administrator that may post
        (``not_admin``: one whose right to post messages was taken away)."""
        if str(params.get("user_id", "")) != self.token.split(":")[0]:
            return self._fail(400, "Bad Request: user not found")
        rights = {"can_be_edited": False, "is_anonymous": False, "can_manage_chat": True,
                  "can_delete_messages": True, "can_manage_video_chats": False,
                  "can_restrict_members": False, "can_promote_members": False,
                  "can_change_info": False, "can_invite_users": False,
                  "can_post_stories": False, "can_edit_stories": False,
                  "can_delete_stories": False, "can_post_messages": not self.not_admin,
                  "can_edit_messages": True}
        return self._ok({"user": self._bot(), "status": "administrator", **rights})

    def _chat(self, *, full: bool = False) -> dict[str, Any]:
        chat: dict[str, Any] = {"id": self.chat_id, "title": self.chat_title,
                                "type": self.chat_type}
        if self.public:
            chat["username"] = self.chat_username
        if full:
            chat.update({"accent_color_id": 1, "max_reaction_count": 11,
                         "description": "News from the river district"})
        return chat

    def _parse(self, raw: str, parse_mode: str | None) -> str:
        if (parse_mode or "").upper() == "HTML":
            return parse_html(raw)
        return raw

    def _send_message(self, params: dict[str, Any]) -> Reply:
        raw = str(params.get("text") or "")
        try:
            text = self._parse(raw, params.get("parse_mode"))
        except _EntityError as exc:
            return self._fail(400, f"Bad Request: can't parse entities: {exc}")
        if not text.strip():
            return self._fail(400, "Bad Request: message text is empty")
        if len(text) > 4096:  # code points, as TDLib's utf8_length counts
            return self._fail(400, "Bad Request: message is too long")
        options = params.get("link_preview_options")
        reply = params.get("reply_parameters")
        reply_to: int | None = None
        with self.lock:
            if isinstance(reply, dict):
                reply_to = self._message_id(reply)
                if reply_to is None or self.message(reply_to) is None:
                    if not reply.get("allow_sending_without_reply"):
                        return self._fail(400, "Bad Request: message to be replied not found")
                    reply_to = None
            message = StoredMessage(next(self._ids), "text", text, raw,
                                    options if isinstance(options, dict) else None,
                                    date=int(self.now()), reply_to=reply_to)
            self.messages.append(message)
        return self._ok(self._message_json(message))

    def _send_photo(self, params: dict[str, Any]) -> Reply:
        photo = params.get("photo")
        if not isinstance(photo, tuple):
            return self._fail(400, "Bad Request: there is no photo in the request")
        data, content_type = photo
        if not data.startswith((b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n")):
            return self._fail(400, "Bad Request: IMAGE_PROCESS_FAILED")
        if len(data) > 10 * 1024 * 1024:
            return self._fail(400, "Bad Request: file is too big")
        try:
            with Image.open(io.BytesIO(data)) as picture:
                width, height = picture.size
        except (UnidentifiedImageError, OSError):
            return self._fail(400, "Bad Request: IMAGE_PROCESS_FAILED")
        if width + height > 10_000 or max(width, height) > 20 * min(width, height):
            return self._fail(400, "Bad Request: PHOTO_INVALID_DIMENSIONS")
        raw = str(params.get("caption") or "")
        try:
            caption = self._parse(raw, params.get("parse_mode"))
        except _EntityError as exc:
            return self._fail(400, f"Bad Request: can't parse entities: {exc}")
        if len(caption) > 1024:
            return self._fail(400, "Bad Request: message caption is too long")
        with self.lock:
            message = StoredMessage(next(self._ids), "photo", caption, raw, None, len(data),
                                    content_type, int(self.now()))
            self.messages.append(message)
        return self._ok(self._message_json(message))

    def _message_json(self, message: StoredMessage) -> dict[str, Any]:
        out: dict[str, Any] = {
            "message_id": message.message_id,
            "sender_chat": self._chat(),
            "chat": self._chat(),
            "date": message.date,
        }
        if message.edit_date is not None:
            out["edit_date"] = message.edit_date
        if message.reply_to is not None:
            replied = self.message(message.reply_to)
            if replied is not None:
                out["reply_to_message"] = {"message_id": replied.message_id,
                                           "chat": self._chat(), "date": replied.date}
        entities = [{"offset": utf16_length(message.text[:m.start()]),
                     "length": utf16_length(m.group(0)), "type": "url"}
                    for m in _URL.finditer(message.text)]
        if message.kind == "photo":
            out["photo"] = [{"file_id": f"AgAC{message.message_id}", "file_unique_id": "AQAD",
                             "width": 320, "height": 240, "file_size": message.photo_size}]
            if message.text:
                out["caption"] = message.text
                if entities:
                    out["caption_entities"] = entities
        else:
            out["text"] = message.text
            if entities:
                out["entities"] = entities
            if message.link_preview_options:
                out["link_preview_options"] = message.link_preview_options
        return out


def _params(request: Request) -> dict[str, Any]:
    ctype = request.headers.get("content-type", "")
    if ctype.startswith("application/json"):
        body = request.json()
        return body if isinstance(body, dict) else {}
    if ctype.startswith("multipart/form-data"):
        message = BytesParser(policy=HTTP).parsebytes(
            f"Content-Type: {ctype}\r\n\r\n".encode() + request.body)
        out: dict[str, Any] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if not name:
                continue
            payload = part.get_payload(decode=True) or b""
            if part.get_filename():
                out[str(name)] = (payload, part.get_content_type())
            else:
                out[str(name)] = payload.decode("utf-8")
        return out
    merged = {k: v[-1] for k, v in request.query.items()}
    merged.update({k: v[-1] for k, v in parse_qs(request.body.decode("utf-8", "replace")).items()})
    return merged
