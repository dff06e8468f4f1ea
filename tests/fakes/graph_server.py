"""FakeGraph: the parts of the Facebook Graph API a Page publisher uses, over real HTTP.

It follows these public documents (Meta for Developers), not our adapter:

- Graph API, "Handling Errors" (docs/graph-api/guides/error-handling): the
  error shape, codes 1/2 (transient), 4/17/32/613 and 341 (throttling), 10
  and 200-299 (permissions), 190 with subcodes 460/463 (token invalidated or
  expired), 368 (blocked for policy), 506 (duplicate post).
- Graph API, "Rate Limiting" (docs/graph-api/overview/rate-limiting): the
  ``X-App-Usage`` header (codes 4 and 17) and ``X-Business-Use-Case-Usage``
  with ``estimated_time_to_regain_access`` in minutes (code 32, Pages).
- Pages API, "Posts" (docs/pages-api/posts) and the Page ``/feed`` and
  ``/photos`` edge references: posting needs ``pages_manage_posts`` (and
  ``pages_read_engagement``) with a Page token; reading ``/published_posts``
  or ``/feed`` needs ``pages_read_engagement``; the ``link`` field of a post
  was removed in v3.3.
- "Platform Versioning" (docs/graph-api/guides/versioning): a version is
  usable for at least two years; a call to one no longer usable is served by
  the oldest usable version (``oldest_version``), and the
  ``facebook-api-version`` header names the version that answered.
- Graph API reference, Page Photos (docs/graph-api/reference/page/photos):
  a photo given by ``url`` is fetched by Facebook; JPEG, BMP, PNG, GIF, TIFF
  (and WebP) up to 4 MB; anything else is code 324.
- Pages API, "Posts" (docs/pages-api/posts), update and delete: a Page post
  is updated with ``POST /{page-post-id}`` and ``message`` (the text only; the
  link attachment stays) and deleted with ``DELETE /{page-post-id}``, both
  answering ``{"success": true}`` and both needing ``pages_manage_posts``; a
  post that is gone (or an id that never was) is the GraphMethodException
  code 100, subcode 33, "Unsupported delete/get/post request. Object with ID
  … does not exist"; a deleted post is no longer listed.
- Graph API reference, Object Comments (docs/graph-api/reference/object/
  comments): ``POST /{object-id}/comments`` with ``message`` → ``{"id":
  "<comment-id>"}``, as the Page with a Page token and
  ``pages_manage_engagement``; ``GET /{object-id}/comments`` with ``order``
  (``chronological`` default, ``reverse_chronological``) and ``filter``.
- Recorded answers in sns-sdks/python-facebook's ``testdata/`` (see
  ``tests/data/recorded/facebook/README.md``): the permission error a read
  without ``pages_read_engagement`` gets is that recorded body, word for word.

Paths are versioned like the real ones (``/v23.0/...``; any version is
accepted and logged in ``versions``)::

    GET  /vX/me?fields=id,name                 the Page the token belongs to (check)
    GET  /vX/{page-id}                         the Page
    POST /vX/{page-id}/feed                    message, link → {"id": "<page>_<n>"}
    POST /vX/{page-id}/photos                  url, caption, alt_text_custom
                                               → {"id": "<photo>", "post_id": "<page>_<n>"}
    GET  /vX/{page-id}/published_posts, /feed  recent posts, newest first, from ``posts``
    GET  /vX/{post-id}                         one post
    POST /vX/{post-id}                         message → {"success": true} (edit)
    DELETE /vX/{post-id}                       → {"success": true} (kept in ``deleted``)
    POST /vX/{post-id}/comments                message → {"id": "<n>_<m>"} (a comment as the Page)
    GET  /vX/{post-id}/comments                the post's comments

Scopes: creating a post or a comment is "create", an update "edit", a
DELETE "delete", any GET "read" ("reset_after" applies the change, then
drops the answer).

The token may come as ``access_token`` (query or form, as facebook-sdk sends
it) or as ``Authorization: Bearer|OAuth <token>``. Errors have Graph's shape,
``{"error": {"message", "type", "code", "error_subcode", "fbtrace_id"}}``, and
the codes the real API uses: 190 (bad or revoked token; ``expired``: subcode
463), 506 (duplicate status message), 100 (bad parameter), 12 (the ``link``
field of Page posts, removed in v3.3), 324 (the photo's url cannot be
fetched), 2 (server error, ``is_transient``), 200 (``missing_permissions``
holds ``pages_manage_posts``: a create is refused), 32 (Page rate limit, with
``X-Business-Use-Case-Usage``).

A "503" fault answers with an HTML page, as an edge proxy does; a "429" fault
answers code 32 with ``estimated_time_to_regain_access`` set to
``rate_limit_seconds`` in minutes (a fraction when that is not whole minutes:
the real API says whole minutes, tests want seconds). The other throttles
are fault kinds of their own: "429_app" (code 4, application limit, with
``X-App-Usage`` at 100), "429_user" (code 17, user limit, ``X-App-Usage``),
"429_613" (code 613, "Calls to this api have exceeded the rate limit") and
"429_341" (code 341, "Application limit reached"); none of them says when
access comes back.

``/photos`` fetches its ``url`` as Facebook would (from 127.0.0.1 too).
"""

from __future__ import annotations

import itertools
import json
import re
import secrets
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from tests.fakes.fakehttp import FAULT_KINDS, FakeServer, Reply, Request

_VERSIONED = re.compile(r"^/(v\d+\.\d+)(/.*)?$")
#: The (#200) answer to a Page post without pages_manage_posts (Pages API, "Posts").
MISSING_MANAGE_POSTS = (
    "(#200) If posting to a group, requires app being installed in the group, and either "
    "publish_to_groups permission with user token, or both pages_read_engagement and "
    "pages_manage_posts permission with page token; If posting to a page, requires both "
    "pages_read_engagement and pages_manage_posts as an admin with sufficient administrative "
    "permission"
)
#: The answer to a read without pages_read_engagement, as recorded in
#: sns-sdks/python-facebook testdata/base/error_data.json.
MISSING_READ_ENGAGEMENT = (
    "(#100) Object does not exist, cannot be loaded due to missing permission or reviewable "
    "feature, or does not support this operation. This endpoint requires the "
    "'pages_read_engagement' permission or the 'Page Public Content Access' feature or the "
    "'Page Public Metadata Access' feature. Refer to "
    "https://developers.facebook.com/docs/apps/review/login-permissions#manage-pages, "
    "https://developers.facebook.com/docs/apps/review/feature#reference-PAGES_ACCESS and "
    "https://developers.facebook.com/docs/apps/review/feature#page-public-metadata-access "
    "for details."
)
#: The picture formats /photos takes (Page Photos reference), by their first bytes.
_IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"BM",
                b"II*\x00", b"MM\x00*", b"RIFF")
def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.lstrip("v").split("."))


#: Throttling fault kinds: (code, message, X-App-Usage at its limit).
_THROTTLES = {
    "429_app": (4, "(#4) Application request limit reached", True),
    "429_user": (17, "(#17) User request limit reached", True),
    "429_613": (613, "(#613) Calls to this api have exceeded the rate limit.", False),
    "429_341": (341, "(#341) Application limit reached", False),
}
_FIELD_LIST = re.compile(r"(\w+)(\{[^{}]*\})?")


@dataclass
class Comment:
    id: str  # "<post number>_<n>"
    message: str
    from_id: str
    from_name: str
    created_time: datetime


@dataclass
class StoredPost:
    id: str  # "<page-id>_<n>"
    message: str
    link: str | None
    created_time: datetime
    photo_id: str | None = None
    photo_url: str | None = None
    photo_bytes: int = 0
    alt_text: str | None = None
    extra: dict[str, str] = field(default_factory=dict)  # other form fields as sent
    history: list[str] = field(default_factory=list)  # earlier messages, oldest first
    updated_time: datetime | None = None
    comments: list[Comment] = field(default_factory=list)

    @property
    def permalink_url(self) -> str:
        page, _, number = self.id.partition("_")
        return f"https://www.facebook.com/{page}/posts/{number}"

    def attachments(self) -> list[dict[str, Any]]:
        if self.photo_id:
            return [
                {
                    "type": "photo",
                    "url": f"https://www.facebook.com/photo.php?fbid={self.photo_id}",
                    "unshimmed_url": f"https://www.facebook.com/photo.php?fbid={self.photo_id}",
                }
            ]
        if self.link:
            shim = f"https://l.facebook.com/l.php?u={quote(self.link, safe='')}&h=AT0fake"
            return [{"type": "share", "url": shim, "unshimmed_url": self.link}]
        return []


class FakeGraph(FakeServer):
    """A fake Graph API for one Page (see the module docstring)."""

    fault_kinds = FAULT_KINDS | frozenset(_THROTTLES)

    def __init__(
        self,
        *,
        page_id: str = "1234",
        page_name: str = "Riverside Ledger",
        page_token: str | None = None,
        fetch_timeout: float = 5.0,
        oldest_version: str = "v21.0",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.page_id = page_id
        self.page_name = page_name
        #: The token requests must carry (None: any non-empty token).
        self.page_token = page_token
        self.fetch_timeout = fetch_timeout
        self.posts: list[StoredPost] = []
        #: Posts deleted through the API (gone: a later GET is code 100/33).
        self.deleted: list[StoredPost] = []
        self.versions: set[str] = set()
        #: Page edges answered with an error, e.g. {"published_posts"} to make
        #: a client fall back to /feed.
        self.refused_edges: set[str] = set()
        #: Permissions the Page token lacks ("pages_manage_posts": creates,
        #: updates and deletes are refused with code 200; "pages_read_engagement":
        #: reads of posts with 100; "pages_manage_engagement": comments with 200).
        self.missing_permissions: set[str] = set()
        #: The token has expired (code 190, subcode 463) rather than been revoked.
        self.expired = False
        #: The oldest Graph version still usable: calls to older ones are served by it.
        self.oldest_version = oldest_version
        self._numbers = itertools.count(100_000_000_000_001)
        self._calls = 0

    # --- classification --------------------------------------------------------

    def _route(self, request: Request) -> tuple[str | None, str]:
        m = _VERSIONED.match(request.path)
        if not m:
            return None, request.path
        return m.group(1), (m.group(2) or "/").rstrip("/") or "/"

    def scope_of(self, request: Request) -> str:
        _, path = self._route(request)
        if request.method == "POST" and re.fullmatch(r"/[^/]+/(feed|photos|comments)", path):
            return "create"
        if request.method == "POST" and re.fullmatch(r"/[^/]+", path):
            return "edit"
        if request.method == "DELETE":
            return "delete"
        return "read" if request.method == "GET" else "other"

    def _token(self, request: Request) -> str | None:
        header = request.headers.get("authorization", "")
        for scheme in ("Bearer ", "OAuth "):
            if header.startswith(scheme):
                return header[len(scheme) :].strip()
        token = request.param("access_token")
        if token is None and request.method == "POST":
            token = request.form().get("access_token")
        return token

    def has_auth(self, request: Request) -> bool:
        return bool(self._token(request))

    # --- replies ---------------------------------------------------------------

    def _headers(
        self, *, call_count: int | None = None, regain_minutes: float = 0
    ) -> dict[str, str]:
        with self.lock:
            self._calls += 1
            count = call_count if call_count is not None else min(99, self._calls)
        usage = {
            "call_count": count,
            "total_cputime": max(1, count // 2),
            "total_time": max(1, count // 2),
        }
        buc = {
            self.page_id: [
                {
                    "type": "pages",
                    "call_count": count,
                    "total_cputime": usage["total_cputime"],
                    "total_time": usage["total_time"],
                    "estimated_time_to_regain_access": regain_minutes,
                }
            ]
        }
        return {
            "x-app-usage": json.dumps(usage),
            "x-business-use-case-usage": json.dumps(buc),
            "x-fb-trace-id": secrets.token_urlsafe(8),
            "x-fb-rev": "1000000000",
            "facebook-api-version": "v23.0",
            "access-control-allow-origin": "*",
            "cache-control": "private, no-cache, no-store, must-revalidate",
        }

    def error(
        self,
        status: int,
        code: int,
        message: str,
        *,
        subcode: int | None = None,
        type_: str = "OAuthException",
        transient: bool | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        """A Graph error reply (usable from tests to script odd answers)."""
        err: dict[str, Any] = {"message": message, "type": type_, "code": code}
        if subcode is not None:
            err["error_subcode"] = subcode
        if transient is not None:
            err["is_transient"] = transient
        err["fbtrace_id"] = secrets.token_urlsafe(8)
        all_headers = self._headers()
        if code == 190:
            all_headers["www-authenticate"] = (
                f'OAuth "Facebook Platform" "invalid_token" "{message}"'
            )
        all_headers.update(headers or {})
        return Reply(status, {"error": err}, all_headers)

    def server_error(self, request: Request, status: int) -> Reply:
        if status == 503:
            page = "<html><body><h1>503 Service Unavailable</h1></body></html>"
            return Reply(503, page, {}, content_type="text/html; charset=utf-8")
        return self.error(
            500,
            2,
            "An unexpected error has occurred. Please retry your request later.",
            transient=True,
        )

    def rate_limited(self, request: Request, kind: str, reset: float) -> Reply:
        if kind in _THROTTLES:
            code, message, app_usage = _THROTTLES[kind]
            # X-App-Usage at 100 % for the app and user limits; no time to
            # regain access is announced for any of these: the client guesses.
            headers = self._headers(call_count=100) if app_usage else None
            with self.lock:
                self.rate_limit_reset = None
            return self.error(400, code, message, headers=headers)
        seconds = max(0.0, reset - time.time())
        minutes: float = seconds / 60
        if minutes.is_integer():
            minutes = int(minutes)
        headers = self._headers(call_count=100, regain_minutes=minutes)
        # The announced reset, as the client will compute it from the header.
        with self.lock:
            self.rate_limit_reset = time.time() + seconds
        reply = self.error(400, 32, "(#32) Page request limit reached", headers=headers)
        return reply

    def announce_reset(self, seconds: float | None = None) -> float:
        # Graph announces minutes from now, not an epoch second: no rounding.
        reset = time.time() + (self.rate_limit_seconds if seconds is None else seconds)
        with self.lock:
            self.rate_limit_reset = reset
        return reset

    def handle(self, request: Request) -> Reply:
        reply = self._handle(request)
        version, _ = self._route(request)
        if version is not None:
            # Platform Versioning: a call to a version no longer usable is served
            # by the oldest usable one, which the header names.
            reply.headers["facebook-api-version"] = self.served_version(version)
        return reply

    def served_version(self, version: str) -> str:
        """The version that answers a call made to ``version``."""
        return version if _version_key(version) >= _version_key(self.oldest_version) \
            else self.oldest_version

    def _handle(self, request: Request) -> Reply:
        version, path = self._route(request)
        if version is None:
            return self.error(400, 2500, "Unknown path components: " + request.path)
        with self.lock:
            self.versions.add(version)
        token = self._token(request)
        if not token:
            return self.error(
                400,
                2500,
                "An active access token must be used to query information about the current user.",
            )
        if self.revoked:
            return self.error(
                400,
                190,
                "Error validating access token: The session has been "
                "invalidated because the user changed their password or Facebook "
                "has changed the session for security reasons.",
                subcode=460,
            )
        if self.expired:
            return self.error(
                400,
                190,
                "Error validating access token: Session has expired on Monday, 01-Dec-25 "
                "09:00:00 PST. The current time is Tuesday, 02-Dec-25 04:12:33 PST.",
                subcode=463,
            )
        if self.page_token is not None and token != self.page_token:
            return self.error(400, 190, "Invalid OAuth access token - Cannot parse access token")
        parts = path.strip("/").split("/")
        if request.method == "GET":
            if parts in (["me"], [self.page_id]):
                return self._page(request)
            if (
                len(parts) == 2
                and parts[0] in ("me", self.page_id)
                and parts[1] in ("published_posts", "feed", "posts")
            ):
                if "pages_read_engagement" in self.missing_permissions:
                    return self.error(400, 100, MISSING_READ_ENGAGEMENT)
                if parts[1] in self.refused_edges:
                    return self.error(
                        400,
                        100,
                        f"(#100) Tried accessing nonexisting field "
                        f"({parts[1]}) on node type (Page)",
                    )
                return self._list(request)
            if len(parts) == 1:
                return self._one(request, parts[0])
            if len(parts) == 2 and parts[1] == "comments":
                return self._comments(request, parts[0])
        if request.method in ("POST", "DELETE") and len(parts) == 1 \
                and parts[0] not in ("me", self.page_id):
            if "pages_manage_posts" in self.missing_permissions:
                return self.error(403, 200, "(#200) Permissions error", type_="OAuthException")
            if request.method == "DELETE":
                return self._delete(parts[0])
            return self._update(parts[0], request.form())
        if request.method == "POST" and len(parts) == 2 and parts[1] == "comments" \
                and parts[0] not in ("me", self.page_id):
            if "pages_manage_engagement" in self.missing_permissions:
                return self.error(403, 200, "(#200) Permissions error", type_="OAuthException")
            return self._comment(parts[0], request.form())
        if request.method == "POST" and len(parts) == 2 and parts[0] in ("me", self.page_id):
            form = request.form()
            if parts[1] in ("feed", "photos") and self.missing_permissions & {
                    "pages_manage_posts", "pages_read_engagement"}:
                return self.error(403, 200, MISSING_MANAGE_POSTS)
            if parts[1] == "feed":
                return self._create_feed(form)
            if parts[1] == "photos":
                return self._create_photo(form)
        return self.error(
            400,
            100,
            f"Unsupported {request.method.lower()} request. Object with "
            f"ID '{parts[0]}' does not exist, cannot be loaded due to missing "
            "permissions, or does not support this operation.",
            subcode=33,
            type_="GraphMethodException",
        )

    def _fields(self, request: Request, default: str) -> list[str]:
        raw = request.param("fields") or default
        return [m.group(1) for m in _FIELD_LIST.finditer(raw)]

    def _page(self, request: Request) -> Reply:
        fields = self._fields(request, "id,name")
        page = {"id": self.page_id, "name": self.page_name}
        body = {k: v for k, v in page.items() if k in fields or k == "id"}
        return Reply(200, body, self._headers())

    def _render(self, post: StoredPost, fields: list[str]) -> dict[str, Any] | Reply:
        if "link" in fields:
            return self.error(
                400,
                12,
                "(#12) link field is deprecated for versions v3.3 and higher",
                type_="OAuthException",
            )
        out: dict[str, Any] = {"id": post.id}
        if "message" in fields and post.message:
            out["message"] = post.message
        if "permalink_url" in fields:
            out["permalink_url"] = post.permalink_url
        if "created_time" in fields:
            out["created_time"] = post.created_time.strftime("%Y-%m-%dT%H:%M:%S+0000")
        if "attachments" in fields and post.attachments():
            out["attachments"] = {"data": post.attachments()}
        return out

    def _list(self, request: Request) -> Reply:
        fields = self._fields(request, "id,message,created_time")
        raw_limit = request.param("limit", "25") or "25"
        if not raw_limit.isdigit():
            return self.error(400, 100, "(#100) The parameter limit must be an integer")
        limit = min(int(raw_limit), 100)
        with self.lock:
            recent = list(reversed(self.posts))[:limit]
        data = []
        for post in recent:
            rendered = self._render(post, fields)
            if isinstance(rendered, Reply):
                return rendered
            data.append(rendered)
        body: dict[str, Any] = {"data": data}
        if data:
            body["paging"] = {"cursors": {"before": "QVFIUmZAfake0", "after": "QVFIUmZAfake1"}}
        return Reply(200, body, self._headers())

    def _one(self, request: Request, object_id: str) -> Reply:
        with self.lock:
            post = next((p for p in self.posts if object_id in (p.id, p.photo_id)), None)
        if post is None:
            return self.error(
                400,
                100,
                f"Unsupported get request. Object with ID '{object_id}' "
                "does not exist, cannot be loaded due to missing permissions, or "
                "does not support this operation.",
                subcode=33,
                type_="GraphMethodException",
            )
        rendered = self._render(post, self._fields(request, "id,message,created_time"))
        return rendered if isinstance(rendered, Reply) else Reply(200, rendered, self._headers())

    def _unknown(self, method: str, object_id: str) -> Reply:
        return self.error(
            400,
            100,
            f"Unsupported {method} request. Object with ID '{object_id}' does not exist, "
            "cannot be loaded due to missing permissions, or does not support this operation. "
            "Please read the Graph API documentation at "
            "https://developers.facebook.com/docs/graph-api",
            subcode=33,
            type_="GraphMethodException",
        )

    def post(self, post_id: str) -> StoredPost | None:
        """The post ``post_id`` if it is still there."""
        with self.lock:
            return next((p for p in self.posts if post_id in (p.id, p.photo_id)), None)

    def _delete(self, post_id: str) -> Reply:
        with self.lock:
            post = self.post(post_id)
            if post is None:
                return self._unknown("delete", post_id)
            self.posts.remove(post)
            self.deleted.append(post)
        return Reply(200, {"success": True}, self._headers())

    def _update(self, post_id: str, form: dict[str, str]) -> Reply:
        message = form.get("message")
        with self.lock:
            post = self.post(post_id)
            if post is None:
                return self._unknown("post", post_id)
            if message is None:
                return self.error(400, 100, "(#100) No fields to update were provided")
            if message != post.message:
                post.history.append(post.message)
            post.message = message
            post.updated_time = datetime.now(UTC)
        return Reply(200, {"success": True}, self._headers())

    def _comment(self, post_id: str, form: dict[str, str]) -> Reply:
        message = form.get("message", "")
        if not message and not form.get("attachment_url"):
            return self.error(400, 100, "(#100) Missing message or attachment")
        with self.lock:
            post = self.post(post_id)
            if post is None:
                return self._unknown("post", post_id)
            number = post.id.partition("_")[2]
            comment = Comment(f"{number}_{next(self._numbers)}", message, self.page_id,
                              self.page_name, datetime.now(UTC))
            post.comments.append(comment)
        return Reply(200, {"id": comment.id}, self._headers())

    def _comments(self, request: Request, post_id: str) -> Reply:
        with self.lock:
            post = self.post(post_id)
            if post is None:
                return self._unknown("get", post_id)
            comments = list(post.comments)
        if request.param("order") == "reverse_chronological":
            comments.reverse()
        fields = self._fields(request, "id,message,created_time,from")
        raw_limit = request.param("limit", "25") or "25"
        limit = min(int(raw_limit), 100) if raw_limit.isdigit() else 25
        data = []
        for comment in comments[:limit]:
            item: dict[str, Any] = {"id": comment.id}
            if "message" in fields:
                item["message"] = comment.message
            if "created_time" in fields:
                item["created_time"] = comment.created_time.strftime("%Y-%m-%dT%H:%M:%S+0000")
            if "from" in fields:
                item["from"] = {"name": comment.from_name, "id": comment.from_id}
            data.append(item)
        return Reply(200, {"data": data}, self._headers())

    def _duplicate(self, message: str) -> bool:
        return bool(message) and any(p.message == message for p in self.posts)

    def _create_feed(self, form: dict[str, str]) -> Reply:
        message, link = form.get("message", ""), form.get("link") or None
        if not message and not link:
            return self.error(400, 100, "(#100) Missing message or attachment")
        with self.lock:
            if self._duplicate(message):
                return self.error(400, 506, "(#506) Duplicate status message")
            post = self._store(message, link, form)
        return Reply(200, {"id": post.id}, self._headers())

    def _create_photo(self, form: dict[str, str]) -> Reply:
        url = form.get("url")
        if not url:
            return self.error(400, 324, "(#324) Requires upload file")
        try:
            with urllib.request.urlopen(url, timeout=self.fetch_timeout) as response:
                data = response.read()
        except (urllib.error.URLError, OSError, ValueError):
            return self.error(400, 324, "(#324) Missing or invalid image file")
        size = len(data)
        # Page Photos reference: JPEG, BMP, PNG, GIF or TIFF (WebP too), at most 4 MB.
        if size > 4 * 1024 * 1024 or not data.startswith(_IMAGE_MAGIC):
            return self.error(400, 324, "(#324) Missing or invalid image file")
        message = form.get("caption") or form.get("message") or ""
        with self.lock:
            if self._duplicate(message):
                return self.error(400, 506, "(#506) Duplicate status message")
            post = self._store(message, None, form)
            post.photo_id = str(next(self._numbers))
            post.photo_url = url
            post.photo_bytes = size
            post.alt_text = form.get("alt_text_custom")
        return Reply(200, {"id": post.photo_id, "post_id": post.id}, self._headers())

    def _store(self, message: str, link: str | None, form: dict[str, str]) -> StoredPost:
        extra = {
            k: v
            for k, v in form.items()
            if k not in ("message", "link", "access_token", "caption", "url")
        }
        post = StoredPost(
            f"{self.page_id}_{next(self._numbers)}", message, link, datetime.now(UTC), extra=extra
        )
        self.posts.append(post)
        return post
