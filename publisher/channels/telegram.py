"""The Telegram channel: a bot posting to one chat through the Bot API, over plain httpx.

(python-telegram-bot is asyncio-only and large; the four Bot API methods used
here are simple JSON-over-HTTPS calls, so httpx does them directly.)

- The post text is plain text from the renderer. It is sent with
  ``parse_mode=HTML`` after escaping ``&``, ``<`` and ``>``; the link stays a
  plain URL, which Telegram links by itself. Limits count the code points of
  the text after parsing, i.e. of the text as the renderer made it (4096 for a
  message), as the Bot API server does.
- With an image (and a text that fits a caption, 1024 after parsing) the post
  is ``sendPhoto`` with the text as its caption; the photo is uploaded from the
  shared image cache. A longer text, or an image that cannot be fetched or that
  Telegram refuses, makes it ``sendMessage`` instead, with a note; the link
  preview then shows the article's picture anyway.
- ``sendMessage`` carries ``link_preview_options`` (Bot API 7.0): the preview
  of the post's link, large media preferred, above the text when
  ``options.preview_above``; none when ``options.disable_preview``.
- A chat the bot cannot post to (not found, no admin rights, a group upgraded
  to a supergroup: the answer names the new id) pauses the channel
  (``AuthFailed``) instead of failing every post in turn.
- ``whoami`` (``publisher check``) asks ``getMe``, ``getChat`` and the bot's
  own ``getChatMember``: in a channel it must be an administrator allowed to
  post messages, which ``getChat`` alone does not show.
- A bot cannot read a chat's history, so an ambiguous attempt cannot be looked
  up: delivery class REVIEW, and ``find`` raises NotImplementedError.
- After the post (issue 13; Bot API ``deleteMessage``, "Updating messages",
  ``ReplyParameters``): ``delete`` is ``deleteMessage`` ("message to delete
  not found" is a message already gone: done; a bot can delete only messages
  under 48 hours old, and "message can't be deleted" says so plainly);
  ``edit`` is ``editMessageText``, or ``editMessageCaption`` for a photo
  post ("message is not modified" is an edit already applied: done; no age
  limit for a bot's own messages); ``reply`` is ``sendMessage`` with
  ``reply_parameters``.  ``read_back`` is impossible: no Bot API method reads
  a message by id (forwarding or copying it would be a send).  Both delete
  and edit are safe to repeat, so a delete or an edit in doubt is settled by
  doing it again; a reply in doubt is the review class's (an editor), and
  ``find_reply`` raises NotImplementedError like ``find``.
- The bot token is part of every URL (``/bot<token>/method``). No message made
  here contains a URL, every message is passed through ``media.redact``, and
  a filter on the ``httpx`` logger scrubs the token from its request lines.

Every httpx error and Bot API error answer is translated in ``_call`` and nowhere else.
"""

from __future__ import annotations

import html
import json
import logging
import re
import threading
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from publisher.channels.base import ChannelSpec
from publisher.channels.images import prepared_image
from publisher.channels.media import ImageError, redact
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

log = logging.getLogger("publisher.channels.telegram")

DEFAULT_BASE_URL = "https://api.telegram.org"
MESSAGE_MAX_LENGTH = 4096
CAPTION_MAX_LENGTH = 1024
#: Photos: 10 MB uploaded; width + height at most 10,000 (a 5000 px side is safe).
_PHOTO_MAX_BYTES = 10_000_000
_PHOTO_MAX_SIDE = 5000
_DEFAULT_RATE_WAIT = timedelta(seconds=30)
#: 400 descriptions that say the configured chat cannot be posted to by this bot.
_CANNOT_POST_HERE = re.compile(
    r"chat not found|need administrator rights|not enough rights|have no rights to send"
    r"|CHAT_WRITE_FORBIDDEN|CHAT_ADMIN_REQUIRED|upgraded to a supergroup"
    r"|member list is inaccessible", re.IGNORECASE)


def telegram_length(text: str) -> int:
    """The length Telegram checks against its limits: code points of the text
    after parsing. (Entity offsets are in UTF-16 code units, the limits are not:
    the Bot API server, TDLib, compares ``utf8_length(text)``.)"""
    return len(text)


#: A bot can delete its messages for 48 hours (Bot API, deleteMessage).
DELETE_WINDOW_HOURS = 48
_GONE = re.compile(r"message to (delete|edit) not found", re.IGNORECASE)
_CANNOT_DELETE = re.compile(r"message can'?t be deleted", re.IGNORECASE)
_NOT_MODIFIED = re.compile(r"message is not modified", re.IGNORECASE)
_NO_TEXT = re.compile(r"there is no text in the message to edit", re.IGNORECASE)
#: Methods whose success answer is ``true`` rather than a Message.
_TRUE_RESULT = frozenset({"deleteMessage"})


class _Refused(Permanent):
    """A Bot API 400 kept whole, for the after-the-post methods to read."""

    def __init__(self, message: str, description: str, http_status: int) -> None:
        super().__init__(message, http_status=http_status)
        self.description = description


class _PhotoRefused(Permanent):
    """Telegram refused the photo itself (size, dimensions, format)."""


class _TokenFilter(logging.Filter):
    """Scrubs the bot token from the records of the ``httpx`` logger."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token

    def filter(self, record: logging.LogRecord) -> bool:
        if self.token:
            record.msg = redact(str(record.msg), (self.token,))
            if record.args:
                args = record.args if isinstance(record.args, tuple) else (record.args,)
                record.args = tuple(
                    redact(str(a), (self.token,)) if self.token in str(a) else a for a in args
                )
        return True


class TelegramChannel:
    """Publishes to one Telegram chat as a bot (see the module docstring)."""

    delivery = DeliveryClass.REVIEW

    def __init__(self, spec: ChannelSpec) -> None:
        self.name = spec.name
        options = spec.options
        chat_id = options.get("chat_id")
        if chat_id in (None, "") or isinstance(chat_id, bool) or not isinstance(
                chat_id, int | str):
            raise ConfigError([f"channel {spec.name!r}: options.chat_id is required "
                               "(a number, or \"@channelname\")"])
        self._chat_id: int | str = chat_id
        self._disable_preview = spec.flag("disable_preview", False)
        self._preview_above = spec.flag("preview_above", False)
        self._with_image = spec.flag("with_image", True)
        self._allow_private_images = spec.flag("allow_private_images", False)
        self._token = spec.secrets["bot_token"]
        self._secrets = tuple(str(v) for v in spec.secrets.values() if v)
        self._base = (spec.base_url or DEFAULT_BASE_URL).rstrip("/")
        self._timeout = spec.timeout
        self._http = httpx.Client(timeout=spec.timeout, follow_redirects=False)
        self._log_filter = _TokenFilter(self._token)
        logging.getLogger("httpx").addFilter(self._log_filter)
        self._lock = threading.Lock()
        self._chat: dict[str, Any] | None = None

    def __repr__(self) -> str:
        return f"TelegramChannel(name={self.name!r}, chat_id={self._chat_id!r})"

    # --- the Channel protocol --------------------------------------------------

    def publish(self, request: PublishRequest) -> PublishResult:
        """Send ``request`` as a photo with caption or as a message; see the module docstring."""
        notes: list[str] = []
        caption = html.escape(request.text, quote=False)
        message: dict[str, Any] | None = None
        if request.image is not None and self._with_image:
            if telegram_length(request.text) > CAPTION_MAX_LENGTH:
                notes.append(f"photo skipped: the text is longer than a caption "
                             f"({CAPTION_MAX_LENGTH}); sent as a message with a link preview")
            else:
                message = self._send_photo(request, caption, notes)
        if message is None:
            message = self._send_message(request, caption)
        message_id = message.get("message_id")
        if not isinstance(message_id, int):
            raise Ambiguous("Telegram answered without a message id")
        return PublishResult(str(message_id), self._message_url(message_id, message),
                             http_status=200, notes=tuple(notes))

    def find(self, request: PublishRequest) -> PublishResult | None:
        """Bots cannot read a chat's history: an editor decides (delivery REVIEW)."""
        raise NotImplementedError("a Telegram bot cannot look up the messages of a chat")

    # --- after the post ----------------------------------------------------------

    def delete(self, remote_id: str) -> None:
        """Delete message ``remote_id`` (``deleteMessage``).  "message to delete
        not found" is a message already gone: done.  Past the 48 hours a bot
        may delete in, Telegram answers "message can't be deleted": Permanent,
        saying so.  Deleting again is harmless, so a delete in doubt is settled
        by deleting again."""
        try:
            self._call("deleteMessage", {"chat_id": self._chat_id,
                                         "message_id": _message_id(remote_id)}, write=True)
        except _Refused as exc:
            if _GONE.search(exc.description):
                log.info("channel=%s message %s was already gone", self.name, remote_id)
                return
            if _CANNOT_DELETE.search(exc.description):
                raise Permanent(
                    f"deleteMessage: Telegram will not delete message {remote_id}: a bot can "
                    f"delete only messages under {DELETE_WINDOW_HOURS} hours old (and in a "
                    "channel only as an administrator allowed to post); delete it by hand "
                    f"({exc.description})", http_status=exc.http_status) from None
            raise

    def read_back(self, remote_id: str) -> str | None:
        """Impossible: no Bot API method reads a message by id (forwarding or
        copying it would be a send).  A delete or an edit in doubt is settled
        by doing it again (both are safe to repeat)."""
        raise NotImplementedError("a Telegram bot cannot read a message back by its id")

    def edit(self, remote_id: str, request: PublishRequest) -> PublishResult:
        """Replace the text of message ``remote_id`` (``editMessageText``; a
        photo post's caption with ``editMessageCaption``).  "message is not
        modified" is an edit already applied: done, so an edit in doubt is
        settled by editing again.  A message that is gone is Permanent."""
        text = html.escape(request.text, quote=False)
        body: dict[str, Any] = {"chat_id": self._chat_id, "message_id": _message_id(remote_id),
                                "parse_mode": "HTML"}
        try:
            try:
                message = self._call("editMessageText", {**body, "text": text,
                                                         **self._preview(request)}, write=True)
            except _Refused as exc:
                if not _NO_TEXT.search(exc.description):
                    raise
                if telegram_length(request.text) > CAPTION_MAX_LENGTH:
                    raise Permanent(f"editMessageCaption: the new text is longer than a caption "
                                    f"({CAPTION_MAX_LENGTH}); message {remote_id} is a photo",
                                    http_status=400) from None
                message = self._call("editMessageCaption", {**body, "caption": text},
                                     write=True)
        except _Refused as exc:
            if _NOT_MODIFIED.search(exc.description):
                log.info("channel=%s message %s already had the new text", self.name, remote_id)
                return PublishResult(remote_id, self._message_url(int(remote_id), {}),
                                     http_status=exc.http_status,
                                     notes=("Telegram already showed the new text",))
            raise
        return PublishResult(remote_id, self._message_url(int(remote_id), message),
                             http_status=200)

    def reply(self, remote_id: str, request: PublishRequest) -> PublishResult:
        """Send ``request`` as a reply to message ``remote_id`` (``sendMessage``
        with ``reply_parameters``; not without it: a note must not stand alone
        when its post is gone).  Not idempotent: a reply in doubt goes to an
        editor (delivery class REVIEW)."""
        body: dict[str, Any] = {
            "chat_id": self._chat_id, "text": html.escape(request.text, quote=False),
            "parse_mode": "HTML",
            "reply_parameters": {"message_id": _message_id(remote_id),
                                 "allow_sending_without_reply": False},
            **self._preview(request),
        }
        message = self._call("sendMessage", body, write=True)
        message_id = message.get("message_id")
        if not isinstance(message_id, int):
            raise Ambiguous("sendMessage: Telegram answered without a message id")
        return PublishResult(str(message_id), self._message_url(message_id, message),
                             http_status=200)

    def find_reply(self, remote_id: str, request: PublishRequest) -> PublishResult | None:
        """Not possible: a bot cannot read the chat.  An editor decides."""
        raise NotImplementedError("a Telegram bot cannot look up the messages of a chat")

    def whoami(self) -> str:
        """``@bot in <chat title>``: the token works and the bot can see the chat."""
        me = self._call("getMe", {}, write=False)
        chat = self._call("getChat", {"chat_id": self._chat_id}, write=False)
        with self._lock:
            self._chat = chat
        where = chat.get("title") or (f"@{chat['username']}" if chat.get("username") else None)
        # A private chat (a person's id) has no membership to ask about.
        if isinstance(me.get("id"), int) and chat.get("type") != "private":
            member = self._call("getChatMember", {"chat_id": self._chat_id, "user_id": me["id"]},
                                write=False)
            refusal = _cannot_post(member, str(chat.get("type") or ""))
            if refusal:
                raise AuthFailed(f"getChatMember: the bot may not post in {where or 'the chat'}"
                                 f": {refusal}")
        return f"@{me.get('username') or me.get('first_name') or me.get('id')} in " \
               f"{where or self._chat_id}"

    def close(self) -> None:
        """Release the HTTP connections (and the log filter)."""
        logging.getLogger("httpx").removeFilter(self._log_filter)
        self._http.close()

    # --- sending -----------------------------------------------------------------

    def _send_message(self, request: PublishRequest, text: str) -> dict[str, Any]:
        body: dict[str, Any] = {"chat_id": self._chat_id, "text": text, "parse_mode": "HTML",
                                **self._preview(request)}
        return self._call("sendMessage", body, write=True)

    def _preview(self, request: PublishRequest) -> dict[str, Any]:
        if self._disable_preview:
            return {"link_preview_options": {"is_disabled": True}}
        if request.link:
            return {"link_preview_options": {
                "url": request.link,
                "prefer_large_media": True,
                "show_above_text": self._preview_above,
            }}
        return {}

    def _send_photo(self, request: PublishRequest, caption: str,
                    notes: list[str]) -> dict[str, Any] | None:
        """The sent message, or None (with a note) when the photo cannot go."""
        assert request.image is not None
        try:
            picture = prepared_image(request.image.url, allow_private=self._allow_private_images,
                                     timeout=self._timeout, max_bytes=_PHOTO_MAX_BYTES,
                                     max_side=_PHOTO_MAX_SIDE)
        except ImageError as exc:
            notes.append(f"photo skipped: {exc}; sent as a message with a link preview")
            return None
        fields = {"chat_id": str(self._chat_id), "caption": caption, "parse_mode": "HTML"}
        try:
            return self._call(
                "sendPhoto", fields, write=True,
                files={"photo": (picture.filename, picture.data, picture.content_type)},
            )
        except _PhotoRefused as exc:
            notes.append(f"photo skipped: {exc}; sent as a message with a link preview")
            return None

    def _message_url(self, message_id: int, message: Mapping[str, Any]) -> str | None:
        """``https://t.me/<chat username>/<id>`` for a public chat, else None."""
        username = (message.get("chat") or {}).get("username")
        if not username:
            chat = self._chat_info()
            username = chat.get("username") if chat else None
        return f"https://t.me/{username}/{message_id}" if username else None

    def _chat_info(self) -> dict[str, Any] | None:
        with self._lock:
            if self._chat is not None:
                return self._chat
        try:
            chat = self._call("getChat", {"chat_id": self._chat_id}, write=False)
        except ChannelError:  # the message is out; only its URL is missing
            return None
        with self._lock:
            self._chat = chat
        return chat

    # --- the one boundary for httpx and Bot API errors -----------------------------

    def _call(self, method: str, body: Mapping[str, Any], *, write: bool,
              files: Mapping[str, tuple[str, bytes, str]] | None = None) -> dict[str, Any]:
        """Call Bot API ``method``; return its ``result`` or raise the taxonomy error.
        ``write``: the call may post (a lost answer is then Ambiguous)."""
        url = f"{self._base}/bot{self._token}/{method}"
        try:
            if files:
                response = self._http.post(url, data=dict(body), files=dict(files))
            else:
                response = self._http.post(url, json=dict(body))
        except httpx.HTTPError as exc:
            # ``from None``: an httpx error holds the request, and its URL the token.
            raise self._transport_error(method, write, exc) from None
        answer = _json(response)
        if answer is None:
            if response.status_code >= 500 or (response.status_code < 300 and not write):
                raise Transient(f"{method}: Telegram answered {response.status_code} with a body "
                                "that is not JSON", http_status=response.status_code)
            if response.status_code < 300:
                raise Ambiguous(f"{method}: Telegram answered {response.status_code} with a "
                                "body that is not JSON", http_status=response.status_code)
            raise self._error(method, response.status_code, {})
        if answer.get("ok") is True and response.status_code < 300:
            result = answer.get("result")
            if isinstance(result, dict):
                return result
            if result is True and (not write or method in _TRUE_RESULT):
                return {}
            error = Ambiguous if write else Transient
            raise error(f"{method}: Telegram's answer had no result",
                        http_status=response.status_code)
        raise self._error(method, int(answer.get("error_code") or response.status_code), answer)

    def _transport_error(self, method: str, write: bool, exc: httpx.HTTPError) -> ChannelError:
        name = type(exc).__name__
        if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout |
                      httpx.WriteError | httpx.WriteTimeout | httpx.UnsupportedProtocol):
            # The request never left whole: Telegram cannot have acted on it.
            return Transient(f"{method}: could not send it to Telegram ({name})")
        if not write:
            return Transient(f"{method}: no answer from Telegram ({name})")
        return Ambiguous(f"{method}: no answer from Telegram, the message may have been sent "
                         f"({name})")

    def _error(self, method: str, code: int, answer: Mapping[str, Any]) -> ChannelError:
        description = redact(str(answer.get("description") or f"HTTP {code}"), self._secrets)
        parameters = answer.get("parameters") or {}
        if code == 429:
            retry_after = parameters.get("retry_after")
            now = datetime.now(UTC)
            until = now + (timedelta(seconds=retry_after)
                           if isinstance(retry_after, int | float) and retry_after > 0
                           else _DEFAULT_RATE_WAIT)
            return RateLimited(f"{method}: Telegram rate limit until {until:%Y-%m-%d %H:%M:%S}Z: "
                               f"{description}", until=until, http_status=429)
        if code in (401, 404):
            return AuthFailed(f"{method}: Telegram refused the bot token ({code} {description})",
                              http_status=code)
        if code == 403:
            return AuthFailed(f"{method}: the bot may not post to the chat ({description})",
                              http_status=403)
        if code >= 500:
            return Transient(f"{method}: Telegram answered {code}: {description}",
                             http_status=code)
        migrate = parameters.get("migrate_to_chat_id")
        if migrate is not None:
            description += f" (set options.chat_id to {migrate})"
        if migrate is not None or _CANNOT_POST_HERE.search(description):
            # The chat is wrong or closed to the bot: every post would fail
            # alike until a person fixes it, so the channel pauses.
            return AuthFailed(f"{method}: the bot cannot post to the chat ({code} "
                              f"{description})", http_status=code)
        if method == "sendPhoto" and code == 400 and _is_photo_problem(description):
            return _PhotoRefused(f"Telegram refused the photo: {description}", http_status=400)
        if code == 400:
            return _Refused(f"{method}: Telegram refused it ({code} {description})",
                            description, 400)
        return Permanent(f"{method}: Telegram refused it ({code} {description})",
                         http_status=code)


# --- helpers -----------------------------------------------------------------------



def _json(response: httpx.Response) -> dict[str, Any] | None:
    try:
        body = json.loads(response.content)
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _message_id(remote_id: str) -> int:
    try:
        return int(remote_id)
    except ValueError:
        raise Permanent(f"Telegram message id {remote_id!r} is not a number") from None


def _cannot_post(member: Mapping[str, Any], chat_type: str) -> str | None:
    """Why a bot with this ChatMember cannot post in a chat of ``chat_type``, or None."""
    status = str(member.get("status") or "")
    if status in ("left", "kicked"):
        return f"it is not a member ({status}); add it again"
    if status == "restricted" and member.get("can_send_messages") is False:
        return "it is restricted from sending messages"
    if chat_type == "channel" and status != "creator" and not (
            status == "administrator" and member.get("can_post_messages") is True):
        return ("make it an administrator of the channel with the right to "
                "\"Post messages\"")
    return None


def _is_photo_problem(description: str) -> bool:
    """A refusal of the photo or of its caption: the text can still go as a message."""
    text = description.upper()
    return any(word in text for word in ("PHOTO", "IMAGE_PROCESS_FAILED", "FILE", "DIMENSIONS",
                                         "CAPTION IS TOO LONG", "MEDIA_CAPTION_TOO_LONG"))
