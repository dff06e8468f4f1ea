"""FakeX: the parts of the X API v2 that publisher uses, over real HTTP.

It follows X's published contract, not our adapter:

- X API v2 reference, https://docs.x.com/x-api/ : "Create or Edit Post"
  (``POST /2/tweets``), "Get my User" (``GET /2/users/me``), "Get Posts"
  (``GET /2/users/{id}/tweets``, ``max_results`` 5-100, ``pagination_token``),
  "Media Upload" (``POST /2/media/upload``, ``tweet_image`` up to 5 MB) and
  "Create Media metadata" (``POST /2/media/metadata``, alt text up to 1,000);
  X's OpenAPI description, https://api.x.com/2/openapi.json (the Problem
  schema: ``type``, ``title``, ``detail``, ``status``; ``errors[]`` with
  ``parameters`` and ``message`` for an invalid request).
- "Response codes and errors", https://docs.x.com/x-api/fundamentals/response-codes-and-errors
  (401 for a bad or revoked token, 403 for a missing permission or a
  duplicate, 429 with the rate-limit headers).
- "Rate limits", https://docs.x.com/x-api/fundamentals/rate-limits
  (``x-rate-limit-limit`` / ``-remaining`` / ``-reset`` in epoch seconds, and
  the 24-hour user limit's ``x-user-limit-24hour-*``).
- "Pricing" (pay-per-use credits), https://docs.x.com/x-api/getting-started/pricing :
  with no credits left every request is answered 402.  The body is the one
  X sends (no documentation page shows it; quoted from published answers):
  ``{"account_id": …, "title": "CreditsDepleted", "detail": "Your enrolled
  account [id] does not have any credits to fulfill this request.", "type":
  "https://api.twitter.com/2/problems/credits"}``.
- After the post: "Delete Post" (``DELETE /2/tweets/:id``, answer ``{"data":
  {"deleted": true}}`` as tweepy's recorded cassette
  ``test_client_create_and_delete_tweet.yaml`` shows; "User rate limit (User
  context): 50 requests per 15-minute window", enforced here), "Post lookup by
  ID" (``GET /2/tweets/:id``: a post that is gone is answered 200 with no
  ``data`` and an ``errors[]`` entry of type ``…/problems/resource-not-found``
  "Could not find tweet with id: [ID].", X's partial-error form) and "Create or
  Edit Post" with ``reply.in_reply_to_tweet_id`` (a reply to a post that is
  gone is refused: 403 "You attempted to reply to a Tweet that is deleted or
  not visible to you."). X cannot edit a post through the API. The documents
  do not say how a delete of a post already gone is answered: the fake gives
  the resource-not-found problem with 404 (the adapter also copes with
  ``{"deleted": false}``).
- "Counting characters", https://docs.x.com/resources/fundamentals/counting-characters ,
  and twitter-text: a post over 280 weighted characters is refused (400,
  "Your Tweet text is too long. …"), counted by
  ``tests.fakes.twitter_text_reference`` (built from twitter-text's own
  files), never by publisher's counter.

Paths, status codes, headers and JSON bodies::

    GET  /2/users/me                      the account ({"data": {id, name, username}})
    GET  /2/users/:id/tweets              recent posts, newest first, from ``posts``
    POST /2/tweets                        create ({"text", "media": {"media_ids"}}) → 201
    POST /2/media/upload                  multipart ``media`` (+ ``media_category``)
    POST /2/media/metadata                alt text: {"id", "metadata": {"alt_text": {"text"}}}
    GET  /2/tweets/:id                    one post (gone: 200 with ``errors`` only)
    DELETE /2/tweets/:id                  delete → 200 {"data": {"deleted": true}}

Like the real API it rejects a post whose text equals one already posted
(403, "duplicate content"), shortens links to t.co in the text it returns,
appends a t.co link for attached media, and HTML-escapes ``&``, ``<``, ``>``.
Requests must carry an ``Authorization: OAuth …`` header; when the fake was
given ``consumer_key`` / ``access_token`` they must match (the signature is
not checked: the SDK signed for api.twitter.com, not for this address).

Switches (states, not one-shot faults):

- ``credits_depleted = True``: every request is answered 402 CreditsDepleted;
- ``read_only = True``: the app has Read permission only: writes (post,
  upload, alt text, delete) are answered 403 ``oauth1-permissions``;
- ``revoked = True`` (or ``fail_next("revoked")``): 401 from then on;
- ``reject_duplicates = False``: a repeated text is stored (to see a double
  post instead of X hiding it).

Use::

    with FakeX() as x:
        spec = ChannelSpec("x", "x", secrets=..., base_url=x.base_url)
        x.fail_next("429")
        ...
        assert x.posts[0].text == "..."

The timeline pages like X's (``meta.next_token`` / ``pagination_token``).

Scopes for the fault switches: ``POST /2/tweets`` (a post or a reply) is
"create", media calls "upload", ``DELETE /2/tweets/:id`` "delete", GETs "read".
Deleted posts are kept in ``deleted`` and leave ``posts`` (the timeline no
longer shows them).

Fault kinds: those of ``tests.fakes.fakehttp`` plus ``"429_daily"`` (the
24-hour user limit is spent: ``x-user-limit-24hour-remaining: 0`` and its
reset, ``daily_limit_seconds`` ahead, is the one announced).

``recorded`` replaces the body of an answer with bytes X really sent (see
``tests/data/recorded/x/``): ``recorded[("POST", "/2/tweets")] = (201, body)``.
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

from tests.fakes import twitter_text_reference
from tests.fakes.fakehttp import FAULT_KINDS, FakeServer, Reply, Request

_URL = twitter_text_reference.URL
_TRAILING = twitter_text_reference.URL_TRAILING
_MAX_WEIGHTED_LENGTH = 280
_IMAGE_MAX_BYTES = 5 * 1024 * 1024
_ALT_TEXT_MAX = 1000
_TOO_LONG = ("Your Tweet text is too long. For more information on how Twitter determines "
             "text length see https://github.com/twitter/twitter-text.")
_OAUTH_PARAM = re.compile(r'(\w+)="([^"]*)"')
_TWEETS_PATH = re.compile(r"^/2/users/([^/]+)/tweets$")
_TWEET_PATH = re.compile(r"^/2/tweets/([^/]+)$")
#: "DELETE /2/tweets/:id": 50 requests per 15-minute window per user.
DELETE_LIMIT, DELETE_WINDOW = 50, 900.0
_NOT_FOUND_TYPE = "https://api.twitter.com/2/problems/resource-not-found"


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
    in_reply_to: str | None = None  # the post this one replies to

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
        if "referenced_tweets" in fields and self.in_reply_to:
            out["referenced_tweets"] = [{"type": "replied_to", "id": self.in_reply_to}]
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
        #: No credits left on the pay-per-use plan: every request is answered 402.
        self.credits_depleted = False
        #: The app has Read permission only: writes are answered 403.
        self.read_only = False
        #: (method, path) → (status, raw body): answers X really sent, replayed.
        self.recorded: dict[tuple[str, str], tuple[int, bytes]] = {}
        self.account_id = "1553086854915936256"
        self.media: dict[str, StoredMedia] = {}
        #: Posts deleted through the API, by id (gone from ``posts``).
        self.deleted: dict[str, StoredTweet] = {}
        #: When each delete was accepted (epoch seconds), for the 15-minute limit.
        self.delete_times: list[float] = []
        self._ids = itertools.count(1_800_000_000_000_000_001)
        self._tco = itertools.count(1)

    # --- classification --------------------------------------------------------

    def scope_of(self, request: Request) -> str:
        if request.method == "POST" and request.path == "/2/tweets":
            return "create"
        if request.method == "POST" and request.path.startswith("/2/media/"):
            return "upload"
        if request.method == "DELETE" and _TWEET_PATH.match(request.path):
            return "delete"
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

    def _credits_depleted(self) -> Reply:
        body = {
            "account_id": int(self.account_id),
            "title": "CreditsDepleted",
            "detail": f"Your enrolled account [{self.account_id}] does not have any credits "
                      "to fulfill this request.",
            "type": "https://api.twitter.com/2/problems/credits",
        }
        return Reply(402, body, self._headers())

    def _not_permitted(self) -> Reply:
        return self._problem(
            403, "Forbidden",
            "Your client app is not configured with the appropriate oauth1 app permissions "
            "for this endpoint.",
            "https://api.twitter.com/2/problems/oauth1-permissions",
        )

    def handle(self, request: Request) -> Reply:
        if not self._auth_ok(request):
            return self._unauthorized()
        method, path = request.method, request.path
        if self.credits_depleted:
            return self._credits_depleted()
        if self.read_only and method in ("POST", "DELETE"):
            return self._not_permitted()
        reply = self._route(request)
        recorded = self.recorded.get((method, path))
        if recorded is not None and 200 <= reply.status < 300:
            status, raw = recorded
            return Reply(status, raw, reply.headers)
        return reply

    def _route(self, request: Request) -> Reply:
        method, path = request.method, request.path
        if method == "GET" and path == "/2/users/me":
            return Reply(200, {"data": self._me()}, self._headers())
        if method == "GET" and (m := _TWEETS_PATH.match(path)):
            return self._timeline(request, m.group(1))
        if method == "POST" and path == "/2/tweets":
            return self._create(request)
        if method == "GET" and (m := _TWEET_PATH.match(path)):
            return self._lookup(request, m.group(1))
        if method == "DELETE" and (m := _TWEET_PATH.match(path)):
            return self._delete(m.group(1))
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
        reply = (body or {}).get("reply") if isinstance(body, dict) else None
        in_reply_to = str(reply.get("in_reply_to_tweet_id") or "") if isinstance(
            reply, dict) else ""
        if not text and not media_ids:
            return self._invalid("You must provide a text or media.", "text", None)
        if text and twitter_text_reference.weighted_length(text) > _MAX_WEIGHTED_LENGTH:
            return self._invalid(_TOO_LONG, "text", text)
        with self.lock:
            unknown = [m for m in media_ids if m not in self.media]
            if unknown:
                return self._invalid(
                    f"Your media IDs are invalid: {unknown[0]}", "media.media_ids", unknown[0]
                )
            if in_reply_to and not any(t.id == in_reply_to for t in self.posts):
                return self._problem(
                    403, "Forbidden",
                    "You attempted to reply to a Tweet that is deleted or not visible to you.")
            if self.reject_duplicates and any(t.text == text for t in self.posts):
                return self._problem(
                    403,
                    "Forbidden",
                    "You are not allowed to create a Tweet with duplicate content.",
                )
            tweet = self._store(text or "", media_ids)
            tweet.in_reply_to = in_reply_to or None
        payload = {"id": tweet.id, "text": tweet.display_text, "edit_history_tweet_ids": [tweet.id]}
        return Reply(201, {"data": payload}, self._headers())

    def _not_found(self, tweet_id: str) -> dict[str, Any]:
        return {"value": tweet_id, "detail": f"Could not find tweet with id: [{tweet_id}].",
                "title": "Not Found Error", "resource_type": "tweet", "parameter": "id",
                "resource_id": tweet_id, "type": _NOT_FOUND_TYPE}

    def _lookup(self, request: Request, tweet_id: str) -> Reply:
        fields = set((request.param("tweet.fields") or "").split(","))
        with self.lock:
            tweet = next((t for t in self.posts if t.id == tweet_id), None)
        if tweet is None:
            # X's partial-error form: 200, no data, the reason in errors[].
            return Reply(200, {"errors": [self._not_found(tweet_id)]}, self._headers())
        return Reply(200, {"data": tweet.as_json(fields)}, self._headers())

    def _delete(self, tweet_id: str) -> Reply:
        now = time.time()
        with self.lock:
            self.delete_times = [t for t in self.delete_times if t > now - DELETE_WINDOW]
            if len(self.delete_times) >= DELETE_LIMIT:
                reset = self.announce_reset(self.delete_times[0] + DELETE_WINDOW - now)
                headers = self._headers(remaining=0, reset=reset)
                headers["x-rate-limit-limit"] = str(DELETE_LIMIT)
                return Reply(429, {"title": "Too Many Requests", "detail": "Too Many Requests",
                                   "type": "about:blank", "status": 429}, headers)
            tweet = next((t for t in self.posts if t.id == tweet_id), None)
            if tweet is None:
                return self._problem(404, "Not Found Error",
                                     f"Could not find tweet with id: [{tweet_id}].",
                                     _NOT_FOUND_TYPE, resource_type="tweet",
                                     resource_id=tweet_id, parameter="id", value=tweet_id)
            self.posts.remove(tweet)
            self.deleted[tweet_id] = tweet
            self.delete_times.append(now)
            remaining = DELETE_LIMIT - len(self.delete_times)
        headers = self._headers(remaining=remaining, reset=now + DELETE_WINDOW)
        headers["x-rate-limit-limit"] = str(DELETE_LIMIT)
        return Reply(200, {"data": {"deleted": True}}, headers)

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
        if category == "tweet_image" and len(data) > _IMAGE_MAX_BYTES:
            return self._invalid(
                f"Image file size must be <= {_IMAGE_MAX_BYTES} bytes", "media", None)
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
        if not isinstance(alt, str) or len(alt) > _ALT_TEXT_MAX:
            return self._invalid(
                f"alt_text.text must be at most {_ALT_TEXT_MAX} characters",
                "metadata.alt_text.text", None)
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
