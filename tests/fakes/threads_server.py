"""FakeThreads: the parts of Meta's Threads API a publisher uses, over real HTTP.

Written from Meta's public documents (developers.facebook.com/docs/threads/…):

- "Threads Posts" (posts): the two-step publish, and its Limitations: "Text
  posts are limited to 500 characters" and "Emojis are counted as the number
  of UTF-8 bytes" (``threads_length`` counts that way);
- "Publishing" reference and "Troubleshooting": container statuses EXPIRED,
  ERROR, FINISHED, IN_PROGRESS, PUBLISHED, ``error_message`` on ERROR, and
  "wait on average 30 seconds before publishing";
- "Long-Lived Access Tokens" (get-started/long-lived-tokens): tokens last 60
  days; ``GET /refresh_access_token?grant_type=th_refresh_token&access_token=…``
  (no version in the path) refreshes a token "at least 24 hours old but not
  expired" and answers ``{"access_token", "token_type": "bearer",
  "expires_in": 5183944}``; an expired token can no longer be refreshed;
- Graph API "Handling Errors": the error shape and codes 190 (with subcode 463
  for an expired token), 100, 2, 4, 10 (a permission the token lacks).
- "Delete Posts" (posts/delete-posts): ``DELETE /{threads-media-id}`` answers
  ``{"success": true, "deleted_id": "…"}``; it needs ``threads_delete``
  besides ``threads_basic``; "100 deletes per day per account" (the refusal
  past it is code 17 "User request limit reached" here: the documents do not
  give its wording). A deleted post is an unknown object from then on (code 100,
  subcode 33, as for any id Threads does not know), and leaves the lists.
- "Create Replies" and "Retrieve and Manage Replies": a reply is a container
  with ``reply_to_id`` (the profile owns the root post), published like a post;
  a reply to a post that is gone is refused (code 100, subcode 33);
  ``GET /{user-id}/replies`` lists the profile's replies (``threads_read_replies``).
  Threads has no edit of a published post through the API.
- Permissions ("Permissions" in each guide): ``threads_basic`` for every call,
  ``threads_content_publish`` to make and publish containers, ``threads_delete``
  to delete, ``threads_read_replies`` to list replies; ``scopes`` holds the
  token's (all by default); a missing one is code 10 "(#10) Application does
  not have permission for this action".

Paths are versioned like the real ones (``/v1.0/...``; any ``vN.N`` is accepted
and logged in ``versions``)::

    GET  /vX/me?fields=id,username                  the profile the token belongs to
    POST /vX/{user-id|me}/threads                   media_type, text, link_attachment,
                                                    image_url, alt_text → {"id": container}
    POST /vX/{user-id|me}/threads_publish?creation_id=…   → {"id": media id}
    GET  /vX/{user-id|me}/threads?fields=…&limit=N  recent threads, newest first
    GET  /vX/{container-id}?fields=status,error_message   {"id", "status"[, "error_message"]}
    GET  /vX/{media-id}?fields=…                    one thread
    GET  /refresh_access_token?grant_type=th_refresh_token&access_token=…
    DELETE /vX/{media-id}                           → {"success": true, "deleted_id"}
    GET  /vX/{user-id|me}/replies?fields=…&limit=N  the profile's replies, newest first

Parameters may come in the query or an urlencoded body; the token as
``Authorization: Bearer <token>`` or ``access_token``. Errors have the Graph
shape ``{"error": {"message", "type", "code", "error_subcode", "fbtrace_id"}}``:
190 (bad, revoked or expired token), 100 (bad parameter, unknown object, text
over 500 as Threads counts it), 2 (server error, ``is_transient``), 4 (rate
limit, on a "429" fault; no reset header, as Graph gives none). A "503" fault
answers an HTML page, as an edge proxy does.

Tokens: ``tokens`` maps each token the fake knows to its (issued, expires)
epoch seconds on the fake's ``clock`` (``time.time`` unless a test sets it).
``access_token`` is issued now and expires in 60 days unless
``token_issued``/``token_expires`` say otherwise. The wording of a refusal to
refresh a token younger than a day is ours: the documents do not give it.

Scopes for the fault switches: ``threads_publish`` is "create" (the request
that puts a post on the profile), container creation is "upload", GETs are
"read", ``DELETE /{media-id}`` is "delete", the token refresh is "other" (no
fault switch reaches it: a test replaces ``handle`` to script a failed refresh).

Containers have the real statuses: TEXT containers get ``text_status`` (default
FINISHED), IMAGE containers ``image_status`` (default FINISHED); either may be
"IN_PROGRESS" or "ERROR" to script slow or failed processing.
``finish_after`` (None) makes an IN_PROGRESS container FINISHED after that many
status reads. ``expire(container_id)`` ages one. Publishing a container that is
not FINISHED is refused (code 100 here; the real wording differs and the
adapter does not rely on it).
"""

from __future__ import annotations

import itertools
import re
import secrets
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import regex

from tests.fakes.fakehttp import FakeServer, Reply, Request

_VERSIONED = re.compile(r"^/(v\d+\.\d+)(/.*)?$")
TEXT_LIMIT = 500
TOKEN_LIFETIME = 60 * 86400  # "valid for 60 days"
REFRESHED_EXPIRES_IN = 5183944  # what the documents' example answers
_MIN_REFRESH_AGE = 86400  # "at least 24 hours old"
DELETE_LIMIT, DELETE_WINDOW = 100, 86400.0  # "100 deletes per day per account"
ALL_SCOPES = frozenset({"threads_basic", "threads_content_publish", "threads_delete",
                        "threads_read_replies"})
_EMOJI = regex.compile(r"[\p{Extended_Pictographic}\p{Regional_Indicator}\u20e3]")


def threads_length(text: str) -> int:
    """The length of ``text`` as the documents describe it: one per character,
    an emoji (a whole emoji sequence: a grapheme cluster holding a pictograph,
    flag or keycap) as its number of UTF-8 bytes."""
    total = 0
    for cluster in regex.findall(r"\X", unicodedata.normalize("NFC", text)):
        total += len(cluster.encode("utf-8")) if _EMOJI.search(cluster) else len(cluster)
    return total


@dataclass
class Container:
    id: str
    media_type: str
    text: str
    link_attachment: str | None
    image_url: str | None
    alt_text: str | None
    status: str
    error_message: str | None = None
    media_id: str | None = None
    status_reads: int = 0
    reply_to_id: str | None = None


@dataclass
class Thread:
    id: str
    text: str
    link_attachment_url: str | None
    image_url: str | None
    container_id: str
    timestamp: datetime
    username: str
    reply_to_id: str | None = None

    @property
    def permalink(self) -> str:
        return f"https://www.threads.net/@{self.username}/post/{self.id}"


class FakeThreads(FakeServer):
    """A fake Threads API for one profile (see the module docstring)."""

    def __init__(
        self,
        *,
        user_id: str = "17841400000000001",
        username: str = "riversideledger",
        access_token: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.user_id = user_id
        self.username = username
        #: The token requests must carry (None: any non-empty token); more
        #: tokens are valid once refreshed (``tokens``).
        self.access_token = access_token
        #: Epoch seconds, as the fake sees them (tests may set a clock of their own).
        self.clock: Callable[[], float] = time.time
        now = self.clock()
        #: token -> (issued, expires), epoch seconds.
        self.tokens: dict[str, tuple[float, float]] = {}
        if access_token is not None:
            self.tokens[access_token] = (now, now + TOKEN_LIFETIME)
        #: The tokens handed out by refresh_access_token, oldest first.
        self.refreshed: list[str] = []
        #: The status a TEXT / an IMAGE container gets when it is made.
        self.text_status = "FINISHED"
        self.image_status = "FINISHED"
        #: The error_message of a container made with status ERROR.
        self.error_message = "UNKNOWN"
        #: An IN_PROGRESS container is FINISHED after this many status reads (None: never).
        self.finish_after: int | None = None
        self.containers: dict[str, Container] = {}
        #: Published threads and replies, oldest first (replies have ``reply_to_id``).
        self.posts: list[Thread] = []
        #: Posts deleted through the API, by id (gone from ``posts``).
        self.deleted: dict[str, Thread] = {}
        #: When each delete was accepted (epoch seconds, on ``clock``).
        self.delete_times: list[float] = []
        #: The token's permissions.
        self.scopes: set[str] = set(ALL_SCOPES)
        self.versions: set[str] = set()
        self._numbers = itertools.count(18_000_000_000_000_001)

    # --- test helpers -----------------------------------------------------------

    def expire(self, container_id: str) -> None:
        """Make a container EXPIRED, as 24 hours without publishing would."""
        with self.lock:
            self.containers[container_id].status = "EXPIRED"

    def set_token_age(self, token: str, *, age_days: float, days_left: float) -> None:
        """Make ``token`` ``age_days`` old with ``days_left`` before it expires."""
        now = self.clock()
        with self.lock:
            self.tokens[token] = (now - age_days * 86400, now + days_left * 86400)

    def published_containers(self) -> list[str]:
        with self.lock:
            return [c.id for c in self.containers.values() if c.status == "PUBLISHED"]

    # --- classification ------------------------------------------------------------

    def _route(self, request: Request) -> tuple[str | None, list[str]]:
        m = _VERSIONED.match(request.path)
        if not m:
            return None, []
        return m.group(1), [p for p in (m.group(2) or "").split("/") if p]

    def scope_of(self, request: Request) -> str:
        if request.path == "/refresh_access_token":
            return "other"  # a token call, not a read of posts
        _, parts = self._route(request)
        if request.method == "POST" and len(parts) == 2:
            if parts[1] == "threads_publish":
                return "create"
            if parts[1] == "threads":
                return "upload"
        if request.method == "DELETE" and len(parts) == 1:
            return "delete"
        return "read" if request.method == "GET" else "other"

    def _token(self, request: Request) -> str | None:
        header = request.headers.get("authorization", "")
        if header.startswith("Bearer "):
            return header[len("Bearer "):].strip()
        return self._params(request).get("access_token")

    def has_auth(self, request: Request) -> bool:
        return bool(self._token(request))

    @staticmethod
    def _params(request: Request) -> dict[str, str]:
        params = {k: v[-1] for k, v in request.query.items()}
        if request.method == "POST":
            params.update(request.form())
        return params

    # --- replies ----------------------------------------------------------------

    def error(self, status: int, code: int, message: str, *, subcode: int | None = None,
              type_: str = "OAuthException", transient: bool | None = None) -> Reply:
        """A Graph-style error reply (usable from tests to script odd answers)."""
        err: dict[str, Any] = {"message": message, "type": type_, "code": code}
        if subcode is not None:
            err["error_subcode"] = subcode
        if transient is not None:
            err["is_transient"] = transient
        err["fbtrace_id"] = secrets.token_urlsafe(8)
        return Reply(status, {"error": err})

    def server_error(self, request: Request, status: int) -> Reply:
        if status == 503:
            page = "<html><body><h1>503 Service Unavailable</h1></body></html>"
            return Reply(503, page, {}, content_type="text/html; charset=utf-8")
        return self.error(500, 2, "An unexpected error has occurred. Please retry your "
                          "request later.", transient=True)

    def rate_limited(self, request: Request, kind: str, reset: float) -> Reply:
        return self.error(400, 4, "Application request limit reached")

    def handle(self, request: Request) -> Reply:
        if request.path == "/refresh_access_token" and request.method == "GET":
            return self._refresh(request)
        version, parts = self._route(request)
        if version is None or not parts:
            return self.error(400, 100, "Unsupported request: " + request.path)
        with self.lock:
            self.versions.add(version)
        refused = self._check_token(self._token(request))
        if refused is not None:
            return refused
        params = self._params(request)
        owner = parts[0] in ("me", self.user_id)
        if request.method == "GET" and parts == ["me"]:
            return self._me(params)
        if request.method == "GET" and len(parts) == 2 and owner and parts[1] == "threads":
            return self._list(params)
        if request.method == "GET" and len(parts) == 2 and owner and parts[1] == "replies":
            if "threads_read_replies" not in self.scopes:
                return self._no_permission()
            return self._list(params, replies=True)
        if request.method == "DELETE" and len(parts) == 1:
            return self._delete(parts[0])
        if request.method == "GET" and len(parts) == 1:
            return self._object(parts[0], params)
        if request.method == "POST" and len(parts) == 2 and owner:
            if "threads_content_publish" not in self.scopes:
                return self._no_permission()
            if parts[1] == "threads":
                return self._create(params)
            if parts[1] == "threads_publish":
                return self._publish(params)
        return self._unknown(request.method, parts[0])

    def _check_token(self, token: str | None) -> Reply | None:
        """The refusal for a missing, revoked, unknown or expired token, else None."""
        if not token:
            return self.error(400, 190, "An active access token must be used to query "
                              "information about the current user.")
        if self.revoked:
            return self.error(401, 190, "Error validating access token: The session has been "
                              "invalidated because the user changed their password.",
                              subcode=460)
        if self.access_token is None:
            return None
        with self.lock:
            known = self.tokens.get(token)
        if known is None:
            return self.error(401, 190, "Invalid OAuth access token - Cannot parse access token")
        if known[1] <= self.clock():
            expired = datetime.fromtimestamp(known[1], UTC)
            now = datetime.fromtimestamp(self.clock(), UTC)
            return self.error(400, 190, "Error validating access token: Session has expired "
                              f"on {expired:%A, %d-%b-%y %H:%M:%S} UTC. The current time is "
                              f"{now:%A, %d-%b-%y %H:%M:%S} UTC.", subcode=463)
        return None

    def _refresh(self, request: Request) -> Reply:
        params = {k: v[-1] for k, v in request.query.items()}
        if params.get("grant_type") != "th_refresh_token":
            return self.error(400, 100, "Unsupported grant_type: the parameter grant_type "
                              "must be th_refresh_token")
        token = params.get("access_token")
        refused = self._check_token(token)
        if refused is not None:
            return refused
        assert token is not None
        now = self.clock()
        with self.lock:
            issued = self.tokens.get(token, (now - _MIN_REFRESH_AGE, 0.0))[0]
            if now - issued < _MIN_REFRESH_AGE:
                return self.error(400, 190, "The access token cannot be refreshed yet: it "
                                  "must be at least 24 hours old", subcode=0)
            new = "THQW" + secrets.token_urlsafe(24)
            self.tokens[new] = (now, now + REFRESHED_EXPIRES_IN)
            self.refreshed.append(new)
        return Reply(200, {"access_token": new, "token_type": "bearer",
                           "expires_in": REFRESHED_EXPIRES_IN})

    def _unknown(self, method: str, object_id: str) -> Reply:
        return self.error(400, 100, f"Unsupported {method.lower()} request. Object with ID "
                          f"'{object_id}' does not exist, cannot be loaded due to missing "
                          "permissions, or does not support this operation.",
                          subcode=33, type_="THApiException")

    def _no_permission(self) -> Reply:
        return self.error(403, 10, "(#10) Application does not have permission for this "
                          "action")

    def _delete(self, media_id: str) -> Reply:
        if "threads_delete" not in self.scopes:
            return self._no_permission()
        now = self.clock()
        with self.lock:
            self.delete_times = [t for t in self.delete_times if t > now - DELETE_WINDOW]
            post = next((p for p in self.posts if p.id == media_id), None)
            if post is None:
                return self._unknown("delete", media_id)
            if len(self.delete_times) >= DELETE_LIMIT:
                return self.error(400, 17, "User request limit reached")
            self.posts.remove(post)
            self.deleted[media_id] = post
            self.delete_times.append(now)
        return Reply(200, {"success": True, "deleted_id": media_id})

    def _fields(self, params: dict[str, str], default: str) -> list[str]:
        return [f.strip() for f in (params.get("fields") or default).split(",") if f.strip()]

    def _me(self, params: dict[str, str]) -> Reply:
        fields = self._fields(params, "id")
        me = {"id": self.user_id, "username": self.username}
        return Reply(200, {k: v for k, v in me.items() if k in fields or k == "id"})

    def _render(self, post: Thread, fields: list[str]) -> dict[str, Any]:
        full: dict[str, Any] = {
            "id": post.id,
            "permalink": post.permalink,
            "text": post.text,
            "timestamp": post.timestamp.strftime("%Y-%m-%dT%H:%M:%S+0000"),
            "media_type": "IMAGE" if post.image_url else "TEXT_POST",
            "username": post.username,
        }
        if post.link_attachment_url:
            full["link_attachment_url"] = post.link_attachment_url
        full["is_reply"] = post.reply_to_id is not None
        if post.reply_to_id:
            full["replied_to"] = {"id": post.reply_to_id}
        return {k: v for k, v in full.items() if k in fields or k == "id"}

    def _list(self, params: dict[str, str], *, replies: bool = False) -> Reply:
        raw = params.get("limit", "25")
        if not raw.isdigit():
            return self.error(400, 100, "(#100) The parameter limit must be an integer")
        fields = self._fields(params, "id")
        with self.lock:
            mine = [p for p in self.posts if (p.reply_to_id is not None) == replies]
            recent = list(reversed(mine))[: min(int(raw), 100)]
        data = [self._render(p, fields) for p in recent]
        body: dict[str, Any] = {"data": data}
        if data:
            body["paging"] = {"cursors": {"before": "QVFIfake0", "after": "QVFIfake1"}}
        return Reply(200, body)

    def _object(self, object_id: str, params: dict[str, str]) -> Reply:
        with self.lock:
            container = self.containers.get(object_id)
            post = next((p for p in self.posts if p.id == object_id), None)
        if container is not None:
            with self.lock:
                container.status_reads += 1
                if (container.status == "IN_PROGRESS" and self.finish_after is not None
                        and container.status_reads >= self.finish_after):
                    container.status = "FINISHED"
            fields = self._fields(params, "id")
            out: dict[str, Any] = {"id": container.id}
            if "status" in fields:
                out["status"] = container.status
            if "error_message" in fields and container.error_message:
                out["error_message"] = container.error_message
            return Reply(200, out)
        if post is not None:
            return Reply(200, self._render(post, self._fields(params, "id")))
        return self._unknown("get", object_id)

    def _create(self, params: dict[str, str]) -> Reply:
        media_type = params.get("media_type", "")
        text = params.get("text", "")
        if media_type not in ("TEXT", "IMAGE"):
            return self.error(400, 100, "(#100) Param media_type must be one of "
                              "{TEXT, IMAGE, VIDEO, CAROUSEL}")
        if media_type == "TEXT" and not text:
            return self.error(400, 100, "(#100) Param text is required for TEXT posts")
        if threads_length(text) > TEXT_LIMIT:
            return self.error(400, 100, "(#100) Param text must be at most 500 characters long")
        image_url = params.get("image_url")
        if media_type == "IMAGE" and not image_url:
            return self.error(400, 100, "(#100) Param image_url is required for IMAGE posts")
        reply_to = params.get("reply_to_id") or None
        if reply_to is not None:
            with self.lock:
                known = any(p.id == reply_to for p in self.posts)
            if not known:
                return self._unknown("post", reply_to)
        link = params.get("link_attachment") or None
        if link and media_type != "TEXT":
            return self.error(400, 100, "(#100) link_attachment is only available for "
                              "TEXT posts")
        with self.lock:
            status = self.text_status if media_type == "TEXT" else self.image_status
            container = Container(
                str(next(self._numbers)), media_type, text, link,
                image_url if media_type == "IMAGE" else None, params.get("alt_text"), status,
                error_message=self.error_message if status == "ERROR" else None,
                reply_to_id=reply_to,
            )
            self.containers[container.id] = container
        return Reply(200, {"id": container.id})

    def _publish(self, params: dict[str, str]) -> Reply:
        creation_id = params.get("creation_id")
        if not creation_id:
            return self.error(400, 100, "(#100) The parameter creation_id is required")
        with self.lock:
            container = self.containers.get(creation_id)
            if container is None:
                return self._unknown("post", creation_id)
            if container.status != "FINISHED":
                return self.error(400, 100, f"(#100) The media container is "
                                  f"{container.status} and cannot be published")
            post = Thread(
                str(next(self._numbers)), container.text, container.link_attachment,
                container.image_url, container.id,
                datetime.fromtimestamp(time.time(), UTC), self.username,
                reply_to_id=container.reply_to_id,
            )
            self.posts.append(post)
            container.status = "PUBLISHED"
            container.media_id = post.id
        return Reply(200, {"id": post.id})
