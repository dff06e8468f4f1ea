"""FakeMastodon: the parts of the Mastodon REST API that publisher uses, over real HTTP.

Written from Mastodon's published contract, not from our adapter:

- the REST API docs, docs.joinmastodon.org: methods/statuses ("Post a new
  status", ``Idempotency-Key``), methods/accounts ("Get account's statuses":
  ``max_id``/``since_id``/``min_id``, ``limit`` 20 by default and 40 at most,
  ``exclude_reblogs``, pagination in the ``Link`` header), methods/media,
  methods/instance, entities/Status and entities/PreviewCard, api/rate-limits;
- Mastodon's source: ``PostStatusService`` (the key is kept one hour:
  ``redis.setex(idempotency_key, 3_600, …)``), ``StatusLengthValidator`` (URLs
  count 23, remote mentions their local part, graphemes) with the URL pattern
  of ``config/initializers/twitter_regex.rb`` (any non-space path characters
  but ``<>()?``, a path never ends on ``!*"'「」;:=,.$%[]~&|@``), and
  ``TextFormatter`` (the HTML ``content``: links wrapped in ``<span>``s);
- recorded answers in Mastodon.py's test cassettes (tests/data/recorded/mastodon).

Paths, status codes, headers and JSON bodies follow Mastodon 4.3::

    GET  /api/v1/instance                    v1 instance (Mastodon.py reads its version)
    GET  /api/v2/instance                    configuration.statuses.max_characters …
    GET  /api/v1/accounts/verify_credentials the account
    GET  /api/v1/accounts/:id/statuses       its statuses, newest first, paged by max_id
    POST /api/v1/statuses                    create (form: status, media_ids[], visibility,
                                             in_reply_to_id…)
    GET  /api/v1/statuses/:id                one status; 404 when gone
    GET  /api/v1/statuses/:id/source         {id, text, spoiler_text}: the text as written
    PUT  /api/v1/statuses/:id                edit (status, media_ids[], language…) → the
                                             status with ``edited_at``
    DELETE /api/v1/statuses/:id              delete → the status with its source ``text``
    POST /api/v2/media                       multipart ``file`` + ``description`` → 200, or
                                             202 with ``url: null`` when ``async_media``
    POST /api/v1/media                       the old synchronous upload → 200
    GET  /api/v1/media/:id                   206 while processing, then 200

Like the real server it honours ``Idempotency-Key``: the same key from the same
account within an hour answers the status made the first time instead of a
new one; after the hour of the fake's own clock (``advance(seconds)`` moves it)
the key is forgotten and the same request makes a second status. It counts
URLs as 23 characters against ``max_characters`` (422
"Validation failed: Text character limit of 500 exceeded"), refuses media that
is still processing (422), and sends ``X-RateLimit-Limit/Remaining/Reset``
(Reset as ISO 8601, as Mastodon does) on every answer. Requests must carry
``Authorization: Bearer <access_token>``; a wrong or revoked token gets 401
``{"error": "The access token is invalid"}``.

Use::

    with FakeMastodon(access_token="tok") as m:
        spec = ChannelSpec("masto", "mastodon", secrets={"access_token": "tok"},
                           base_url=m.base_url)
        m.fail_next("reset_after")      # stored, then the connection is reset
        ...
        assert len(m.statuses) == 1

After the post (methods/statuses "Delete a status", "Edit a status", "View
status source"; ``Api::V1::StatusesController``; api/rate-limits): only the
account's own statuses can be deleted or edited (another's, or one already
deleted, is 404 ``Record not found``, as ``Status.where(account:
current_account).find`` answers); a deleted status is gone at once (GET 404,
no longer in the account's statuses; an Idempotency-Key that pointed at it
makes a new status, as ``PostStatusService`` finds no status for it); deleting
needs ``write:statuses`` and is limited to ``delete_limit`` (30) per
``delete_period`` (30 minutes) per account, 429 with ``X-RateLimit-Reset`` at
the end of the window; an edit needs ``write:statuses``, is checked like a new
status (length, at most 4 media, media ready), drops media it does not name
(``StatusesController#update`` always hands ``media_ids`` to
``UpdateStatusService``), keeps the language it does not name, records the
old text in ``history`` and sets ``edited_at``; the preview card follows the
new text (Mastodon fetches it again). A reply to a
status that does not exist (or is deleted) is 404 "The post you are trying to
reply to does not appear to exist." Fault scopes: DELETE is ``"delete"``, PUT
``"edit"`` (``fail_next("reset_after", on="delete")``: deleted, answer lost).

Switches: those of ``tests.fakes.fakehttp`` (``fail_next``/``fault_rate`` with
500, 503, 429, slow, reset_before, reset_after, revoked), plus
``max_characters``, ``async_media`` (uploads answer 202 and need
``media_polls`` GETs before they are ready), ``idempotency_window`` and
``cards`` (a status with a link gets its preview card; Mastodon fetches it a
moment after posting, so False plays a look-up before the card is there),
``scopes`` (the token's OAuth scopes: without ``write`` a create is 403 "This
action is outside the authorized scopes"), ``image_size_limit`` (16 MB) and
``description_limit`` (1,500 characters of alt text); more than 4 media on a
status is 422.
"""

from __future__ import annotations

import html
import itertools
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any
from urllib.parse import parse_qs

import regex

from tests.fakes.fakehttp import FakeServer, Reply, Request

# Mastodon's URL, after config/initializers/twitter_regex.rb. The domain is
# taken loosely (twitter-text also checks it against its TLD list): the fake's
# tests use real TLDs.
_PATH_CHAR = r"[^\s<>()?]"
_PARENS = rf"\((?:{_PATH_CHAR}+|{_PATH_CHAR}*\({_PATH_CHAR}+\){_PATH_CHAR}*)\)"
_PATH_END = rf"(?:[^\s()?!*\"'「」<>;:=,.$%\[\]~&|@]|{_PARENS})"
_PATH = rf"(?:{_PATH_CHAR}*(?:{_PARENS}{_PATH_CHAR}*)*{_PATH_END}|{_PATH_CHAR}+/)"
_UCHARS = "\u00a0-\ud7ff\uf900-\ufdcf\ufdf0-\uffef\U00010000-\U0010fffd"
_URL = re.compile(
    r"(?:(?<=[^a-z0-9@＠$#＃])|^)(?:https?)://"
    r"[a-z0-9\u00a0-\U0010ffff](?:[a-z0-9\u00a0-\U0010ffff.-]*[a-z0-9\u00a0-\U0010ffff])?"
    r"(?::[0-9]+)?"
    rf"(?:/{_PATH}*)?"
    rf"(?:\?[a-z0-9!?*'();:&=+$/%#\[\]\-_.,~|@^{_UCHARS}]*[a-z0-9_&=#/\-{_UCHARS}])?",
    re.IGNORECASE,
)
_REMOTE_MENTION = re.compile(r"(?<![\w@])(@[a-z0-9_]+(?:[.-]+[a-z0-9_]+)*)@[a-z0-9.-]+[a-z0-9]",
                             re.IGNORECASE)
_MEDIA_GET = re.compile(r"^/api/v1/media/([^/]+)$")
_ACCOUNT_STATUSES = re.compile(r"^/api/v1/accounts/([^/]+)/statuses$")
_STATUS = re.compile(r"^/api/v1/statuses/([^/]+)$")
_STATUS_SOURCE = re.compile(r"^/api/v1/statuses/([^/]+)/source$")


@dataclass
class StoredMedia:
    id: str
    content_type: str
    size: int
    description: str | None
    polls_left: int = 0  # GETs before processing is done (async uploads)
    attached: bool = False

    def as_json(self, domain: str) -> dict[str, Any]:
        ready = self.polls_left <= 0
        url = f"https://files.{domain}/media_attachments/{self.id}/original.jpg"
        return {
            "id": self.id,
            "type": "image",
            "url": url if ready else None,
            "preview_url": url.replace("original", "small"),
            "remote_url": None,
            "text_url": None,
            "meta": {"original": {"width": 640, "height": 480}} if ready else {},
            "description": self.description,
            "blurhash": "UFBWY:8_0Jxv4mx]t8t64.%M-:IUWGWAt6M}",
        }


@dataclass
class StoredStatus:
    id: str
    text: str
    media_ids: list[str]
    visibility: str
    language: str | None
    idempotency_key: str | None
    created_at: datetime
    url: str
    sensitive: bool = False
    in_reply_to_id: str | None = None
    edited_at: datetime | None = None
    #: Earlier texts, oldest first (what ``GET /api/v1/statuses/:id/history`` shows).
    history: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


class FakeMastodon(FakeServer):
    """A fake Mastodon instance (see the module docstring)."""

    def __init__(
        self,
        *,
        domain: str = "social.example",
        username: str = "riverledger",
        access_token: str | None = None,
        max_characters: int = 500,
        version: str = "4.3.2",
        async_media: bool = False,
        media_polls: int = 1,
        idempotency_window: float = 3600.0,
        cards: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.domain = domain
        self.username = username
        self.account_id = "109000000000000001"
        self.access_token = access_token
        self.max_characters = max_characters
        self.version = version
        self.async_media = async_media
        self.media_polls = media_polls
        self.idempotency_window = idempotency_window
        self.cards = cards
        #: configuration.media_attachments: Mastodon 4.x's image size (16 MB) and
        #: alt text (1,500 characters) limits, refused with 422 above them.
        self.image_size_limit = 16_777_216
        self.description_limit = 1500
        #: The token's OAuth scopes: creating a status or uploading media needs
        #: ``write`` (or ``write:statuses`` / ``write:media``), reading ``read``.
        self.scopes: set[str] = {"read", "write"}
        #: Seconds the fake's clock is ahead of the real one (``advance``).
        self.clock_offset = 0.0
        self.statuses: list[StoredStatus] = []
        #: Statuses deleted through the API, in the order they were deleted.
        self.deleted: list[StoredStatus] = []
        #: api/rate-limits: DELETE /api/v1/statuses/:id, 30 per 30 minutes per account.
        self.delete_limit = 30
        self.delete_period = 1800.0
        self._deletions: list[float] = []  # the fake's clock, one per deletion
        self.media: dict[str, StoredMedia] = {}
        #: Idempotency-Key → (status id, when first used).
        self.idempotency: dict[str, tuple[str, float]] = {}
        self.ratelimit_limit = 300
        self.ratelimit_remaining = 300
        self._ids = itertools.count(113_000_000_000_000_001)

    def now(self) -> float:
        """The fake's clock (``time.time()`` moved on by ``advance``)."""
        return time.time() + self.clock_offset

    def advance(self, seconds: float) -> None:
        """Move the fake's clock on: an Idempotency-Key older than
        ``idempotency_window`` is then forgotten, as Redis expires it."""
        with self.lock:
            self.clock_offset += seconds

    # --- classification --------------------------------------------------------

    def scope_of(self, request: Request) -> str:
        if request.method == "POST" and request.path == "/api/v1/statuses":
            return "create"
        if request.method == "POST" and request.path in ("/api/v1/media", "/api/v2/media"):
            return "upload"
        if request.method == "DELETE" and _STATUS.match(request.path):
            return "delete"
        if request.method == "PUT" and _STATUS.match(request.path):
            return "edit"
        return "read" if request.method == "GET" else "other"

    def has_auth(self, request: Request) -> bool:
        return request.headers.get("authorization", "").startswith("Bearer ")

    def _auth_ok(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        if not header.startswith("Bearer ") or self.revoked:
            return False
        return self.access_token is None or header[len("Bearer "):] == self.access_token

    # --- replies ---------------------------------------------------------------

    def _headers(self, *, reset: float | None = None) -> dict[str, str]:
        with self.lock:
            self.ratelimit_remaining = max(0, self.ratelimit_remaining - 1)
            remaining = self.ratelimit_remaining
        moment = datetime.fromtimestamp(reset if reset is not None else time.time() + 300, UTC)
        return {
            "X-RateLimit-Limit": str(self.ratelimit_limit),
            "X-RateLimit-Remaining": str(0 if reset is not None else remaining),
            "X-RateLimit-Reset": moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        }

    def _error(self, status: int, message: str) -> Reply:
        return Reply(status, {"error": message}, self._headers())

    def server_error(self, request: Request, status: int) -> Reply:
        if status == 503:  # what the proxy in front of a busy instance answers
            page = "<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>"
            return Reply(503, page, content_type="text/html")
        return self._error(status, "We're sorry, but something went wrong on our end.")

    def rate_limited(self, request: Request, kind: str, reset: float) -> Reply:
        return Reply(429, {"error": "Too many requests"}, self._headers(reset=reset))

    def handle(self, request: Request) -> Reply:
        method, path = request.method, request.path.rstrip("/") or "/"
        if method == "GET" and path == "/api/v1/instance":
            return Reply(200, self._instance_v1(), self._headers())
        if method == "GET" and path == "/api/v2/instance":
            return Reply(200, self._instance_v2(), self._headers())
        if not self._auth_ok(request):
            return self._error(401, "The access token is invalid")
        needed = _scope_needed(method, path)
        if needed is not None and not (self.scopes & {needed.split(":")[0], needed}):
            return self._error(403, "This action is outside the authorized scopes")
        if method == "GET" and path == "/api/v1/accounts/verify_credentials":
            return Reply(200, self._account(), self._headers())
        if method == "GET" and (m := _ACCOUNT_STATUSES.match(path)):
            return self._account_statuses(request, m.group(1))
        if method == "POST" and path == "/api/v1/statuses":
            return self._create(request)
        if method == "POST" and path in ("/api/v1/media", "/api/v2/media"):
            return self._upload(request, asynchronous=path.startswith("/api/v2"))
        if method == "GET" and (m := _MEDIA_GET.match(path)):
            return self._media_status(m.group(1))
        if method == "GET" and (m := _STATUS_SOURCE.match(path)):
            return self._source(m.group(1))
        if method == "GET" and (m := _STATUS.match(path)):
            return self._show(m.group(1))
        if method == "DELETE" and (m := _STATUS.match(path)):
            return self._delete(m.group(1))
        if method == "PUT" and (m := _STATUS.match(path)):
            return self._update(request, m.group(1))
        return self._error(404, "Record not found")

    def _instance_v1(self) -> dict[str, Any]:
        return {
            "uri": self.domain,
            "title": "Social Example",
            "version": self.version,
            "urls": {"streaming_api": f"wss://{self.domain}"},
            "configuration": {"statuses": {"max_characters": self.max_characters}},
        }

    def _instance_v2(self) -> dict[str, Any]:
        return {
            "domain": self.domain,
            "title": "Social Example",
            "version": self.version,
            "api_versions": {"mastodon": 2},
            "source_url": "https://github.com/mastodon/mastodon",
            "configuration": {
                "urls": {"streaming": f"wss://{self.domain}"},
                "statuses": {
                    "max_characters": self.max_characters,
                    "max_media_attachments": 4,
                    "characters_reserved_per_url": 23,
                },
                "media_attachments": {
                    "supported_mime_types": ["image/jpeg", "image/png", "image/gif",
                                             "image/webp"],
                    "image_size_limit": self.image_size_limit,
                    "image_matrix_limit": 33_177_600,
                    "description_limit": self.description_limit,
                },
            },
        }

    def _account(self) -> dict[str, Any]:
        return {
            "id": self.account_id,
            "username": self.username,
            "acct": self.username,
            "display_name": "Riverside Ledger",
            "url": f"https://{self.domain}/@{self.username}",
            "created_at": "2023-01-01T00:00:00.000Z",
            "locked": False,
            "bot": True,
            "note": "",
            "avatar": f"https://{self.domain}/avatars/original/missing.png",
            "followers_count": 0,
            "following_count": 0,
            "statuses_count": len(self.statuses),
        }

    def _create(self, request: Request) -> Reply:
        params = _params(request)
        text = (params.get("status") or [""])[-1]
        media_ids = params.get("media_ids[]") or params.get("media_ids") or []
        key = request.headers.get("idempotency-key")
        now = self.now()
        with self.lock:
            if key is not None and key in self.idempotency:
                status_id, first = self.idempotency[key]
                earlier = self._own(status_id)
                if now - first < self.idempotency_window and earlier is not None:
                    return Reply(200, self._status_json(earlier), self._headers())
            reply_to = (params.get("in_reply_to_id") or [None])[-1] or None
            if reply_to is not None and self._own(reply_to) is None:
                return self._error(404, "The post you are trying to reply to does not "
                                        "appear to exist.")
            if len(media_ids) > 4:
                return self._error(422, "Cannot attach more than 4 files")
            if not text.strip() and not media_ids:
                return self._error(422, "Validation failed: Text can't be blank")
            problem = self._invalid(text, media_ids)
            if problem is not None:
                return problem
            status_id = str(next(self._ids))
            stored = StoredStatus(
                id=status_id, text=text, media_ids=list(media_ids),
                visibility=(params.get("visibility") or ["public"])[-1],
                language=(params.get("language") or [None])[-1],
                idempotency_key=key, created_at=datetime.fromtimestamp(now, UTC),
                url=f"https://{self.domain}/@{self.username}/{status_id}",
                in_reply_to_id=reply_to,
            )
            for media_id in media_ids:
                self.media[media_id].attached = True
            self.statuses.append(stored)
            if key is not None:
                self.idempotency[key] = (status_id, now)
        return Reply(200, self._status_json(stored), self._headers())

    def _status_json(self, status: StoredStatus) -> dict[str, Any]:
        return {
            "id": status.id,
            "created_at": status.created_at.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "edited_at": (status.edited_at.strftime("%Y-%m-%dT%H:%M:%S.000Z")
                          if status.edited_at else None),
            "in_reply_to_id": status.in_reply_to_id,
            "in_reply_to_account_id": self.account_id if status.in_reply_to_id else None,
            "sensitive": status.sensitive,
            "spoiler_text": "",
            "visibility": status.visibility,
            "language": status.language,
            "uri": f"https://{self.domain}/users/{self.username}/statuses/{status.id}",
            "url": status.url,
            "replies_count": 0,
            "reblogs_count": 0,
            "favourites_count": 0,
            "content": _content_html(status.text),
            "reblog": None,
            "account": self._account(),
            "media_attachments": [self.media[m].as_json(self.domain) for m in status.media_ids],
            "mentions": [],
            "tags": [],
            "emojis": [],
            "card": self._card(status.text),
            "poll": None,
        }

    def _invalid(self, text: str, media_ids: list[str]) -> Reply | None:
        """The 422 Mastodon answers a status (new or edited) it refuses, else None."""
        if len(media_ids) > 4:
            return self._error(422, "Cannot attach more than 4 files")
        if not text.strip() and not media_ids:
            return self._error(422, "Validation failed: Text can't be blank")
        if _mastodon_length(text) > self.max_characters:
            return self._error(
                422, f"Validation failed: Text character limit of {self.max_characters} exceeded")
        for media_id in media_ids:
            media = self.media.get(media_id)
            if media is None:
                return self._error(422, "Validation failed: Media attachments are invalid")
            if media.polls_left > 0:
                return self._error(422, "Cannot attach files that have not finished "
                                        "processing. Try again in a moment!")
        return None

    def _own(self, status_id: str) -> StoredStatus | None:
        """The account's status ``status_id`` unless it is deleted."""
        with self.lock:
            return next((s for s in self.statuses if s.id == status_id), None)

    def _show(self, status_id: str) -> Reply:
        status = self._own(status_id)
        if status is None:
            return self._error(404, "Record not found")
        return Reply(200, self._status_json(status), self._headers())

    def _source(self, status_id: str) -> Reply:
        """entities/StatusSource: the text as written, for editing."""
        status = self._own(status_id)
        if status is None:
            return self._error(404, "Record not found")
        body = {"id": status.id, "text": status.text, "spoiler_text": ""}
        return Reply(200, body, self._headers())

    def _delete(self, status_id: str) -> Reply:
        """``DELETE /api/v1/statuses/:id``: the status with its source ``text``
        (for "delete and redraft"), gone from then on."""
        now = self.now()
        with self.lock:
            status = self._own(status_id)
            if status is None:
                return self._error(404, "Record not found")
            self._deletions = [t for t in self._deletions if now - t < self.delete_period]
            if len(self._deletions) >= self.delete_limit:
                reset = self._deletions[0] + self.delete_period - self.clock_offset
                return Reply(429, {"error": "Too many requests"}, self._headers(reset=reset))
            self._deletions.append(now)
            self.statuses.remove(status)
            self.deleted.append(status)
            body = self._status_json(status)
        # Rendered with source_requested: the source ``text`` instead of ``content``
        # (Mastodon.py's recorded answer, test_status_delete_media.yaml).
        del body["content"]
        body["text"] = status.text
        return Reply(200, body, self._headers())

    def _update(self, request: Request, status_id: str) -> Reply:
        """``PUT /api/v1/statuses/:id`` (StatusesController#update and
        UpdateStatusService): media not named are removed, the language not
        named stays; the card follows the new text."""
        params = _params(request)
        with self.lock:
            status = self._own(status_id)
            if status is None:
                return self._error(404, "Record not found")
            text = (params.get("status") or [status.text])[-1]
            # The controller passes media_ids whether sent or not: an edit
            # without them leaves the status without media.
            media_ids = params.get("media_ids[]") or params.get("media_ids") or []
            problem = self._invalid(text, media_ids)
            if problem is not None:
                return problem
            if text != status.text or media_ids != status.media_ids:
                status.history.append(status.text)
                status.text = text
                status.media_ids = list(media_ids)
                status.edited_at = datetime.fromtimestamp(self.now(), UTC)
            language = (params.get("language") or [None])[-1]
            if language:
                status.language = language
            body = self._status_json(status)
        return Reply(200, body, self._headers())

    def _card(self, text: str) -> dict[str, Any] | None:
        """entities/PreviewCard for the first link of ``text`` (Mastodon fetches
        the page after posting and keeps the card for the first link)."""
        match = _URL.search(text)
        if not self.cards or match is None:
            return None
        return {
            "url": match.group(0), "title": "Flood warning", "description": "",
            "language": "en", "type": "link", "author_name": "", "author_url": "",
            "provider_name": "", "provider_url": "", "html": "", "width": 0, "height": 0,
            "image": None, "image_description": "", "embed_url": "", "blurhash": None,
            "published_at": None, "authors": [],
        }

    def _account_statuses(self, request: Request, account_id: str) -> Reply:
        """``GET /api/v1/accounts/:id/statuses``: newest first, ``limit`` (20,
        at most 40) older than ``max_id``, the ``Link`` header for the next page."""
        if account_id != self.account_id:
            return self._error(404, "Record not found")
        try:
            limit = min(max(int(request.param("limit") or 20), 1), 40)
        except ValueError:
            return self._error(400, "limit is invalid")
        max_id = request.param("max_id")
        with self.lock:
            statuses = sorted(self.statuses, key=lambda s: int(s.id), reverse=True)
        if max_id is not None:
            statuses = [s for s in statuses if int(s.id) < int(max_id)]
        page = statuses[:limit]
        headers = self._headers()
        if page:
            base = f"{self.base_url}/api/v1/accounts/{account_id}/statuses?limit={limit}"
            headers["Link"] = (f'<{base}&max_id={page[-1].id}>; rel="next", '
                               f'<{base}&min_id={page[0].id}>; rel="prev"')
        return Reply(200, [self._status_json(s) for s in page], headers)

    def _upload(self, request: Request, *, asynchronous: bool) -> Reply:
        parts = _multipart(request)
        if "file" not in parts or not parts["file"][0]:
            return self._error(422, "Validation failed: File can't be blank")
        data, content_type = parts["file"]
        if not _is_image(data):
            return self._error(422, "Validation failed: File content type is invalid")
        description = parts["description"][0].decode() if "description" in parts else None
        if len(data) > self.image_size_limit:
            return self._error(422, "Validation failed: File file size must be less than "
                                    f"{self.image_size_limit // 1_048_576} MB")
        if description is not None and len(description) > self.description_limit:
            return self._error(422, "Validation failed: Description is too long (maximum is "
                                    f"{self.description_limit} characters)")
        with self.lock:
            media_id = str(next(self._ids))
            polls = self.media_polls if asynchronous and self.async_media else 0
            media = StoredMedia(media_id, content_type, len(data), description, polls)
            self.media[media_id] = media
        status = 202 if polls else 200
        return Reply(status, media.as_json(self.domain), self._headers())

    def _media_status(self, media_id: str) -> Reply:
        with self.lock:
            media = self.media.get(media_id)
            if media is None:
                return self._error(404, "Record not found")
            if media.polls_left > 0:
                body = media.as_json(self.domain)  # still "url": null
                media.polls_left -= 1
                return Reply(206, body, self._headers())
        return Reply(200, media.as_json(self.domain), self._headers())

    # --- helpers for tests -----------------------------------------------------

    def add_status(self, text: str, *, key: str | None = None) -> StoredStatus:
        """A status the account posted (at the fake's ``now()``), as another
        client would have: for tests that need a timeline behind a post."""
        with self.lock:
            status_id = str(next(self._ids))
            stored = StoredStatus(
                id=status_id, text=text, media_ids=[], visibility="public", language=None,
                idempotency_key=key, created_at=datetime.fromtimestamp(self.now(), UTC),
                url=f"https://{self.domain}/@{self.username}/{status_id}")
            self.statuses.append(stored)
            return stored

    def statuses_with_key(self, key: str) -> list[StoredStatus]:
        with self.lock:
            return [s for s in self.statuses if s.idempotency_key == key]


def _scope_needed(method: str, path: str) -> str | None:
    """The OAuth scope Mastodon's controllers require (``doorkeeper_authorize!``)."""
    if method == "POST" and path == "/api/v1/statuses":
        return "write:statuses"
    if method in ("PUT", "DELETE") and _STATUS.match(path):
        return "write:statuses"
    if method == "GET" and path.startswith("/api/v1/statuses/"):
        return "read:statuses"
    if method == "POST" and path in ("/api/v1/media", "/api/v2/media"):
        return "write:media"
    if method == "GET" and path.startswith("/api/v1/media/"):
        return "write:media"
    if method == "GET" and path == "/api/v1/accounts/verify_credentials":
        return "read:accounts"  # profile is enough too; the fake's tokens always have read
    if method == "GET" and path.startswith("/api/v1/accounts/"):
        return "read:statuses"
    return None


def _mastodon_length(text: str) -> int:
    """StatusLengthValidator: every URL 23, a remote mention its local part,
    then grapheme clusters."""
    counted = _REMOTE_MENTION.sub(r"\1", _URL.sub("x" * 23, text))
    return len(regex.findall(r"\X", counted))


def _content_html(text: str) -> str:
    """The ``content`` Mastodon's TextFormatter makes of a plain-text status:
    blank-line-separated paragraphs, ``<br />`` for newlines, and each link an
    ``<a>`` showing its scheme and tail in invisible spans."""
    paragraphs = []
    for block in re.split(r"\n\n+", text.strip()):
        out, last = [], 0
        for match in _URL.finditer(block):
            url = match.group(0)
            out.append(html.escape(block[last:match.start()]))
            scheme, _, rest = url.partition("://")
            shown, hidden = rest[:30], rest[30:]
            out.append(
                f'<a href="{html.escape(url)}" target="_blank" rel="nofollow noopener" '
                f'translate="no"><span class="invisible">{scheme}://</span>'
                f'<span class="{"ellipsis" if hidden else ""}">{html.escape(shown)}</span>'
                f'<span class="invisible">{html.escape(hidden)}</span></a>')
            last = match.end()
        out.append(html.escape(block[last:]))
        paragraphs.append("<p>" + "".join(out).replace("\n", "<br />") + "</p>")
    return "".join(paragraphs)


def _params(request: Request) -> dict[str, list[str]]:
    ctype = request.headers.get("content-type", "")
    if ctype.startswith("application/json"):
        body = request.json() or {}
        return {k: (v if isinstance(v, list) else [str(v)]) for k, v in body.items()
                if v is not None}
    if ctype.startswith("multipart/form-data"):
        return {k: [v[0].decode()] for k, v in _multipart(request).items()}
    return parse_qs(request.body.decode("utf-8", "replace"), keep_blank_values=True)


def _multipart(request: Request) -> dict[str, tuple[bytes, str]]:
    ctype = request.headers.get("content-type", "")
    if not ctype.startswith("multipart/form-data"):
        return {}
    message = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {ctype}\r\n\r\n".encode() + request.body
    )
    parts: dict[str, tuple[bytes, str]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if name:
            parts[str(name)] = (part.get_payload(decode=True) or b"", part.get_content_type())
    return parts


def _is_image(data: bytes) -> bool:
    return (data.startswith((b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a"))
            or (data[:4] == b"RIFF" and data[8:12] == b"WEBP"))
