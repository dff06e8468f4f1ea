"""FakeX: the parts of the X API v2 that publisher uses, over real HTTP.

Paths, status codes, headers and JSON bodies follow X's API v2::

    GET  /2/users/me                      the account ({"data": {id, name, username}})
    GET  /2/users/:id/tweets              recent posts, newest first, from ``posts``
    POST /2/tweets                        create ({"text", "media": {"media_ids"}}) → 201
    POST /2/media/upload                  multipart ``media`` (+ ``media_category``)
    POST /2/media/metadata                alt text: {"id", "metadata": {"alt_text": {"text"}}}

Like the real API it rejects a post whose text equals one already posted
(403, "duplicate content"), shortens links to t.co in the text it returns,
appends a t.co link for attached media, and HTML-escapes ``&``, ``<``, ``>``.
Requests must carry an ``Authorization: OAuth …`` header; when the fake was
given ``consumer_key`` / ``access_token`` they must match (the signature is
not checked: the SDK signed for api.twitter.com, not for this address).

Use::

    with FakeX() as x:
        spec = ChannelSpec("x", "x", secrets=..., base_url=x.base_url)
        x.fail_next("429")
        ...
        assert x.posts[0].text == "..."

The timeline pages like X's (``meta.next_token`` / ``pagination_token``), and
``reject_duplicates = False`` turns off the 403 for a repeated text (to see a
double post instead of X hiding it).

Fault kinds: those of ``tests.fakes.fakehttp`` plus ``"429_daily"`` (the
24-hour user limit is spent: ``x-user-limit-24hour-remaining: 0`` and its
reset, ``daily_limit_seconds`` ahead, is the one announced).
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
from urllib.parse import unquote

from tests.fakes.fakehttp import FAULT_KINDS, FakeServer, Reply, Request

_URL = re.compile(r"https?://\S+")
_TRAILING = ".,;:!?)]}'\"»”"
_OAUTH_PARAM = re.compile(r'(\w+)="([^"]*)"')
_TWEETS_PATH = re.compile(r"^/2/users/([^/]+)/tweets$")


@dataclass
class StoredMedia:
    id: str
    media_key: str
    size: int
    content_type: str
    category: str
    alt_text: str | None = None


@dataclass
class StoredTweet:
    id: str
    text: str  # as submitted
    media_ids: list[str]
    expanded_urls: list[str]  # links in the text, as submitted
    created_at: datetime
    display_text: str = ""  # as the API returns it (t.co links, escaped)
    entities: dict[str, Any] = field(default_factory=dict)

    def as_json(self, fields: set[str]) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "text": self.display_text,
            "edit_history_tweet_ids": [self.id],
        }
        if "created_at" in fields:
            out["created_at"] = self.created_at.strftime("%Y-%m-%dT%H:%M:%S.000Z")
        if "entities" in fields and self.entities:
            out["entities"] = self.entities
        if "attachments" in fields and self.media_ids:
            out["attachments"] = {"media_keys": [f"3_{m}" for m in self.media_ids]}
        return out


class FakeX(FakeServer):
    """A fake X API v2 (see the module docstring)."""

    fault_kinds = FAULT_KINDS | {"429_daily"}

    def __init__(
        self,
        *,
        username: str = "riverledger",
        name: str = "Riverside Ledger",
        user_id: str = "1600000000000000001",
        consumer_key: str | None = None,
        access_token: str | None = None,
        daily_limit_seconds: float = 6.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.username = username
        self.display_name = name
        self.user_id = user_id
        self.consumer_key = consumer_key
        self.access_token = access_token
        self.daily_limit_seconds = daily_limit_seconds
        self.posts: list[StoredTweet] = []
        #: X refuses a post whose text equals an earlier one (403 "duplicate
        #: content"). A test that must *see* a double post turns this off.
        self.reject_duplicates = True
        self.media: dict[str, StoredMedia] = {}
        self._ids = itertools.count(1_800_000_000_000_000_001)
        self._tco = itertools.count(1)

    # --- classification --------------------------------------------------------

    def scope_of(self, request: Request) -> str:
        if request.method == "POST" and request.path == "/2/tweets":
            return "create"
        if request.method == "POST" and request.path.startswith("/2/media/"):
            return "upload"
        return "read" if request.method == "GET" else "other"

    def has_auth(self, request: Request) -> bool:
        return request.headers.get("authorization", "").startswith("OAuth ")

    def _auth_ok(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        if not header.startswith("OAuth ") or self.revoked:
            return False
        params = {k: unquote(v) for k, v in _OAUTH_PARAM.findall(header)}
        if "oauth_signature" not in params:
            return False
        if self.consumer_key is not None and params.get("oauth_consumer_key") != self.consumer_key:
            return False
        return self.access_token is None or params.get("oauth_token") == self.access_token

    # --- replies ---------------------------------------------------------------

    def _headers(self, *, remaining: int = 899, reset: float | None = None) -> dict[str, str]:
        reset = reset if reset is not None else time.time() + 900
        return {
            "x-rate-limit-limit": "900",
            "x-rate-limit-remaining": str(remaining),
            "x-rate-limit-reset": str(int(reset)),
            "x-response-time": "12",
        }

    def _problem(
        self, status: int, title: str, detail: str, type_: str = "about:blank", **extra: Any
    ) -> Reply:
        body = {"title": title, "type": type_, "status": status, "detail": detail, **extra}
        return Reply(status, body, self._headers())

    def server_error(self, request: Request, status: int) -> Reply:
        title = "Service Unavailable" if status == 503 else "Internal Server Error"
        return self._problem(status, title, title)

    def rate_limited(self, request: Request, kind: str, reset: float) -> Reply:
        headers = self._headers(remaining=0, reset=reset)
        if kind == "429_daily":
            daily = self.announce_reset(self.daily_limit_seconds)
            headers.update(
                {
                    "x-rate-limit-remaining": "10",
                    "x-rate-limit-reset": str(int(time.time() + self.rate_limit_seconds)),
                    "x-user-limit-24hour-limit": "17",
                    "x-user-limit-24hour-remaining": "0",
                    "x-user-limit-24hour-reset": str(int(daily)),
                }
            )
        body = {
            "title": "Too Many Requests",
            "detail": "Too Many Requests",
            "type": "about:blank",
            "status": 429,
        }
        return Reply(429, body, headers)

    def _unauthorized(self) -> Reply:
        return self._problem(401, "Unauthorized", "Unauthorized")

    def handle(self, request: Request) -> Reply:
        if not self._auth_ok(request):
            return self._unauthorized()
        method, path = request.method, request.path
        if method == "GET" and path == "/2/users/me":
            return Reply(200, {"data": self._me()}, self._headers())
        if method == "GET" and (m := _TWEETS_PATH.match(path)):
            return self._timeline(request, m.group(1))
        if method == "POST" and path == "/2/tweets":
            return self._create(request)
        if method == "POST" and path == "/2/media/upload":
            return self._upload(request)
        if method == "POST" and path == "/2/media/metadata":
            return self._metadata(request)
        return self._problem(
            404,
            "Not Found Error",
            f"Could not find {path}",
            "https://api.twitter.com/2/problems/resource-not-found",
        )

    def _me(self) -> dict[str, str]:
        return {"id": self.user_id, "name": self.display_name, "username": self.username}

    def _invalid(self, message: str, parameter: str, value: Any) -> Reply:
        return self._problem(
            400,
            "Invalid Request",
            "One or more parameters to your request was invalid.",
            "https://api.twitter.com/2/problems/invalid-request",
            errors=[{"parameters": {parameter: [value]}, "message": message}],
        )

    def _timeline(self, request: Request, user_id: str) -> Reply:
        if user_id != self.user_id:
            return self._problem(
                404,
                "Not Found Error",
                f"Could not find user with id: [{user_id}].",
                "https://api.twitter.com/2/problems/resource-not-found",
            )
        raw_max = request.param("max_results", "10") or "10"
        if not raw_max.isdigit() or not 5 <= int(raw_max) <= 100:
            return self._invalid(
                f"The `max_results` query parameter value [{raw_max}] is not between 5 and 100",
                "max_results",
                raw_max,
            )
        fields = set((request.param("tweet.fields") or "").split(","))
        # Pages, newest first, as X serves them: ``meta.next_token`` while
        # older posts remain, given back as ``pagination_token``.
        token = request.param("pagination_token") or ""
        start = int(token[1:]) if token.startswith("p") and token[1:].isdigit() else 0
        with self.lock:
            newest = list(reversed(self.posts))
        recent = newest[start : start + int(raw_max)]
        if not recent:
            return Reply(200, {"meta": {"result_count": 0}}, self._headers())
        data = [t.as_json(fields) for t in recent]
        meta: dict[str, Any] = {
            "result_count": len(data), "newest_id": recent[0].id, "oldest_id": recent[-1].id,
        }
        if start + len(recent) < len(newest):
            meta["next_token"] = f"p{start + len(recent)}"
        return Reply(200, {"data": data, "meta": meta}, self._headers())

    def _create(self, request: Request) -> Reply:
        try:
            body = request.json()
        except ValueError:
            return self._problem(
                400,
                "Invalid Request",
                "Request body is not valid JSON.",
                "https://api.twitter.com/2/problems/invalid-request",
            )
        text = body.get("text") if isinstance(body, dict) else None
        media_ids = [str(m) for m in ((body or {}).get("media") or {}).get("media_ids", [])]
        if not text and not media_ids:
            return self._invalid("You must provide a text or media.", "text", None)
        with self.lock:
            unknown = [m for m in media_ids if m not in self.media]
            if unknown:
                return self._invalid(
                    f"Your media IDs are invalid: {unknown[0]}", "media.media_ids", unknown[0]
                )
            if self.reject_duplicates and any(t.text == text for t in self.posts):
                return self._problem(
                    403,
                    "Forbidden",
                    "You are not allowed to create a Tweet with duplicate content.",
                )
            tweet = self._store(text or "", media_ids)
        payload = {"id": tweet.id, "text": tweet.display_text, "edit_history_tweet_ids": [tweet.id]}
        return Reply(201, {"data": payload}, self._headers())

    def _store(self, text: str, media_ids: list[str]) -> StoredTweet:
        tweet_id = str(next(self._ids))
        urls: list[dict[str, Any]] = []
        expanded: list[str] = []
        pieces: list[str] = []
        last = 0
        for match in _URL.finditer(text):
            link = match.group(0).rstrip(_TRAILING)
            start = match.start()
            pieces.append(text[last:start])
            short = f"https://t.co/{next(self._tco):010d}"
            begin = len("".join(pieces))
            pieces.append(short)
            last = start + len(link)
            expanded.append(link)
            display = re.sub(r"^https?://(www\.)?", "", link)
            urls.append(
                {
                    "start": begin,
                    "end": begin + len(short),
                    "url": short,
                    "expanded_url": link,
                    "display_url": display[:25] + ("…" if len(display) > 25 else ""),
                }
            )
        pieces.append(text[last:])
        shown = "".join(pieces)
        if media_ids:
            short = f"https://t.co/{next(self._tco):010d}"
            begin = len(shown) + 1
            shown = f"{shown} {short}"
            photo = f"https://x.com/{self.username}/status/{tweet_id}/photo/1"
            urls.append(
                {
                    "start": begin,
                    "end": begin + len(short),
                    "url": short,
                    "expanded_url": photo,
                    "display_url": "pic.x.com/" + tweet_id[-10:],
                    "media_key": f"3_{media_ids[0]}",
                }
            )
        tweet = StoredTweet(
            id=tweet_id,
            text=text,
            media_ids=media_ids,
            expanded_urls=expanded,
            created_at=datetime.now(UTC),
            display_text=html.escape(shown, quote=False),
            entities={"urls": urls} if urls else {},
        )
        self.posts.append(tweet)
        return tweet

    def _upload(self, request: Request) -> Reply:
        ctype = request.headers.get("content-type", "")
        if not ctype.startswith("multipart/form-data"):
            return self._invalid("Expected multipart/form-data", "media", None)
        message = BytesParser(policy=HTTP).parsebytes(
            f"Content-Type: {ctype}\r\n\r\n".encode() + request.body
        )
        parts: dict[str, tuple[bytes, str]] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if name:
                payload = part.get_payload(decode=True) or b""
                parts[str(name)] = (payload, part.get_content_type())
        if "media" not in parts or not parts["media"][0]:
            return self._invalid("The `media` field is required", "media", None)
        data = parts["media"][0]
        category = parts.get("media_category", (b"tweet_image", ""))[0].decode()
        content_type = _sniff(data)
        if content_type is None:
            return self._invalid("media type unrecognized.", "media", None)
        with self.lock:
            media_id = str(next(self._ids))
            self.media[media_id] = StoredMedia(
                media_id, f"3_{media_id}", len(data), content_type, category
            )
        body = {
            "data": {
                "id": media_id,
                "media_key": f"3_{media_id}",
                "size": len(data),
                "expires_after_secs": 86400,
            }
        }
        return Reply(200, body, self._headers())

    def _metadata(self, request: Request) -> Reply:
        try:
            body = request.json()
            media_id = str(body["id"])
            alt = body["metadata"]["alt_text"]["text"]
        except (ValueError, KeyError, TypeError):
            return self._invalid("Invalid metadata request", "id", None)
        with self.lock:
            media = self.media.get(media_id)
            if media is None:
                return self._invalid(f"Your media ID is invalid: {media_id}", "id", media_id)
            media.alt_text = alt
        return Reply(200, {"data": {"id": media_id, "associated_metadata": True}}, self._headers())

    # --- helpers for tests -----------------------------------------------------

    def post_text(self, text: str, *, ago: float = 0.0) -> StoredTweet:
        """Store a post as if made earlier from another client."""
        with self.lock:
            tweet = self._store(text, [])
            tweet.created_at = datetime.fromtimestamp(time.time() - ago, UTC)
        return tweet


def _sniff(data: bytes) -> str | None:
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None
