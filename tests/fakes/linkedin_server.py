"""FakeLinkedIn: the parts of LinkedIn's versioned REST API an organization publisher uses.

Written from LinkedIn's public documents (learn.microsoft.com/linkedin/…):

- "Posts API" (marketing/community-management/shares/posts-api): the post
  schema, its required fields, ``x-restli-id``, the ``q=author`` finder, and the
  Permissions table: ``w_organization_social`` to post, ``r_organization_social``
  to retrieve an organization's posts;
- "Article Post API" (…/article-ads-integrations): no URL scraping; an article
  needs ``source`` and ``title``, ``description``, ``thumbnail`` (an image URN)
  and ``thumbnailAltText`` are optional;
- "Images API" (…/shares/images-api): ``POST /rest/images?action=initializeUpload``
  with ``initializeUploadRequest.owner`` → ``{"value": {"uploadUrlExpiresAt",
  "uploadUrl", "image"}}``, then ``PUT`` of the bytes to ``uploadUrl`` → 201;
  JPG, PNG and GIF under 36,152,320 pixels;
- "Marketing API Versioning" and "Migrations": ``LinkedIn-Version`` (YYYYMM) is
  required, versions are retired about a year after release, and a retired one
  is answered ``426 {"status": 426, "code": "NONEXISTENT_VERSION", "message":
  "Requested version 20240901 is not active"}`` (the body LinkedIn sends, as
  quoted in public bug reports, e.g. PipedreamHQ/pipedream#18398);
- "Organization Access Control": reading an organization needs
  ``rw_organization_admin`` (or ``r_organization_admin``).
- "Posts API", after the post: "Retrieve Posts" (``GET /rest/posts/{encoded
  postUrn}``, ``r_organization_social``), "Update Posts" (``POST
  /rest/posts/{encoded postUrn}`` with ``X-RestLi-Method: PARTIAL_UPDATE`` and
  ``{"patch": {"$set": {…}}}``; only ``commentary``,
  ``contentCallToActionLabel``, ``contentLandingPage``, ``lifecycleState`` and
  ``adContext`` fields may be set; 204) and "Delete Posts" (``DELETE
  /rest/posts/{encoded postUrn}`` with ``X-RestLi-Method: DELETE``; 204, and
  "idempotent": a post already deleted is answered 204 again), both needing
  ``w_organization_social``. A deleted post is 404 to a read and gone from the
  author finder. The wording of the 404 and of a refused update field is ours.

Over real HTTP, with the real paths, headers and error bodies::

    POST /rest/posts                          create a post → 201, empty body,
                                              ``x-restli-id: urn:li:share:N``
    GET  /rest/posts?author=<urn>&q=author&count=N   the author's posts, newest first
    POST /rest/images?action=initializeUpload        an upload slot for an image
    PUT  /dms-uploads/<id>                    the image's bytes (the ``uploadUrl``)
    GET  /rest/organizations/{id}             {"id", "localizedName", "vanityName"}
    GET  /v2/userinfo                         the member behind the token (OpenID)
    GET  /rest/posts/{encoded urn}            one post (404 once deleted)
    POST /rest/posts/{encoded urn}            X-RestLi-Method: PARTIAL_UPDATE → 204
    DELETE /rest/posts/{encoded urn}          → 204 (again 204 once deleted)

Every ``/rest/`` call needs ``LinkedIn-Version``: missing → 400 VERSION_MISSING,
retired (in ``retired_versions``) or not YYYYMM → 426 NONEXISTENT_VERSION. The
versions and ``X-Restli-Protocol-Version`` values seen are kept in ``versions``
and ``protocol_versions``.

``scopes`` are the token's permissions (all three by default): a call without
the one it needs is 403 ACCESS_DENIED "Not enough permissions to access:
<resource>.<METHOD>.<version>01", as LinkedIn words it. Errors have LinkedIn's
shape ``{"status", "serviceErrorCode", "code", "message"}``: 401
EMPTY/INVALID/REVOKED_ACCESS_TOKEN, 403 ACCESS_DENIED, 422 for a missing field
and for a duplicate ("Content is a duplicate of urn:li:share:…",
DUPLICATE_POST), 429 TOO_MANY_REQUESTS ("… APPLICATION DAY limit …", no reset
header unless ``send_retry_after``), 500 JSON, 503 a plain-text proxy page. The
wording of the refusal of a thumbnail that was never uploaded is ours.

The commentary is read as LinkedIn reads "little" text: ``\\x`` is a literal
``x``, ``{hashtag|\\#|Word}`` a hashtag, ``@[Name](urn)`` a mention, and the
text is *cut* at the first other unescaped reserved character, so a test can
see what an unescaped headline would have become (``StoredPost.shown``).

Scopes for the fault switches: ``POST /rest/posts`` is "create", the Images API
calls are "upload", GETs are "read", ``DELETE /rest/posts/{urn}`` is "delete"
and the partial update ``POST /rest/posts/{urn}`` is "edit".
"""

from __future__ import annotations

import io
import itertools
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from PIL import Image, UnidentifiedImageError

from tests.fakes.fakehttp import FakeServer, Reply, Request

RESERVED = frozenset("|{}@[]()<>#\\*_~")
_HASHTAG_TEMPLATE = re.compile(r"\{hashtag\|\\?[#＃]\|([^{}|\\]+)\}")
_MENTION = re.compile(r"@\[([^\]]*)\]\((urn:li:[a-zA-Z]+:[\w-]+)\)")
_VERSION = re.compile(r"^\d{6}(\.\d{2})?$")
_REQUIRED = ("author", "commentary", "visibility", "distribution", "lifecycleState")
_ARTICLE_REQUIRED = ("source", "title")
_MAX_PIXELS = 36_152_320
_POST_PATH = re.compile(r"^/rest/posts/([^/]+)$")
#: "Update Posts": the fields a partial update may set.
UPDATABLE = frozenset({"commentary", "contentCallToActionLabel", "contentLandingPage",
                       "lifecycleState", "adContext"})
ALL_SCOPES = frozenset({"w_organization_social", "r_organization_social",
                        "rw_organization_admin"})
#: Versions retired by December 2026: every one up to 202511 (the "Migrations"
#: table: 202511's sunset was November 16, 2026).
RETIRED_VERSIONS = frozenset(f"{y}{m:02d}" for y in (2022, 2023, 2024, 2025)
                             for m in range(1, 13) if f"{y}{m:02d}" <= "202511")


def read_little(commentary: str) -> tuple[str, list[str]]:
    """(the text LinkedIn shows, its hashtags) for a "little" commentary."""
    shown: list[str] = []
    tags: list[str] = []
    i = 0
    while i < len(commentary):
        ch = commentary[i]
        if ch == "\\" and i + 1 < len(commentary):
            shown.append(commentary[i + 1])
            i += 2
            continue
        if ch == "{":
            m = _HASHTAG_TEMPLATE.match(commentary, i)
            if m:
                shown.append("#" + m.group(1))
                tags.append(m.group(1))
                i = m.end()
                continue
        if ch == "@":
            m = _MENTION.match(commentary, i)
            if m:
                shown.append(m.group(1))
                i = m.end()
                continue
        if ch == "#":
            # A bare hashtag element: "#" and word characters.
            m = re.match(r"#(\w+)", commentary[i:])
            if m and "_" not in m.group(1):
                shown.append(m.group(0))
                tags.append(m.group(1))
                i += len(m.group(0))
                continue
        if ch in RESERVED:
            break  # what LinkedIn does: the rest of the text is lost
        shown.append(ch)
        i += 1
    return "".join(shown), tags


@dataclass
class StoredPost:
    urn: str
    author: str
    commentary: str  # as sent (little format)
    shown: str  # as LinkedIn would show it
    hashtags: list[str]
    body: dict[str, Any]
    created: float = field(default_factory=time.time)
    modified: float | None = None

    @property
    def article(self) -> dict[str, Any] | None:
        content = self.body.get("content") or {}
        article = content.get("article") if isinstance(content, dict) else None
        return article if isinstance(article, dict) else None


class FakeLinkedIn(FakeServer):
    """A fake LinkedIn REST API for one organization (see the module docstring)."""

    def __init__(
        self,
        *,
        organization_id: str = "5515715",
        organization_name: str = "Riverside Ledger",
        access_token: str | None = None,
        member_name: str = "Dana Editor",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.organization_id = organization_id
        self.organization_urn = f"urn:li:organization:{organization_id}"
        self.organization_name = organization_name
        #: The token requests must carry (None: any non-empty token).
        self.access_token = access_token
        self.member_name = member_name
        #: The token's permissions.
        self.scopes: set[str] = set(ALL_SCOPES)
        self.can_read_userinfo = True
        self.retired_versions: set[str] = set(RETIRED_VERSIONS)
        #: Images by URN: {"owner", "status" (WAITING_UPLOAD | AVAILABLE), "data",
        #: "format", "size"}; ``uploads`` maps an upload id to its image URN.
        self.images: dict[str, dict[str, Any]] = {}
        self.uploads: dict[str, str] = {}
        self._version = "202607"  # the last version seen, for ACCESS_DENIED messages
        #: Add ``Retry-After: rate_limit_seconds`` to a "429" (LinkedIn sends none).
        self.send_retry_after = False
        self.posts: list[StoredPost] = []
        #: Posts deleted through the API, by URN (gone from ``posts``).
        self.deleted: dict[str, StoredPost] = {}
        #: (URN, the patch's $set) of every partial update applied, in order.
        self.updates: list[tuple[str, dict[str, Any]]] = []
        self.versions: set[str] = set()
        self.protocol_versions: set[str] = set()
        self._numbers = itertools.count(7_300_000_000_000_000_001)

    # --- classification --------------------------------------------------------

    def scope_of(self, request: Request) -> str:
        if request.method == "POST" and request.path == "/rest/posts":
            return "create"
        if _POST_PATH.match(request.path) and request.method in ("POST", "DELETE"):
            return "edit" if request.method == "POST" else "delete"
        if request.path == "/rest/images" or request.path.startswith("/dms-uploads/"):
            return "upload"
        return "read" if request.method == "GET" else "other"

    def _token(self, request: Request) -> str | None:
        header = request.headers.get("authorization", "")
        return header[len("Bearer "):].strip() if header.startswith("Bearer ") else None

    def has_auth(self, request: Request) -> bool:
        return bool(self._token(request))

    # --- replies -----------------------------------------------------------------

    @staticmethod
    def error(status: int, code: str, message: str, *, service_code: int | None = None,
              headers: dict[str, str] | None = None, **extra: Any) -> Reply:
        """A LinkedIn error reply (usable from tests to script odd answers)."""
        body: dict[str, Any] = {"status": status}
        if service_code is not None:
            body["serviceErrorCode"] = service_code
        body.update({"code": code, "message": message, **extra})
        return Reply(status, body, dict(headers or {}))

    def server_error(self, request: Request, status: int) -> Reply:
        if status == 503:
            return Reply(503, "upstream connect error or disconnect/reset before headers",
                         {}, content_type="text/plain")
        return self.error(500, "INTERNAL_SERVER_ERROR", "Internal Server Error")

    def rate_limited(self, request: Request, kind: str, reset: float) -> Reply:
        headers = {}
        if self.send_retry_after:
            headers["Retry-After"] = str(int(self.rate_limit_seconds))
        return self.error(429, "TOO_MANY_REQUESTS", "Resource level throttle APPLICATION DAY "
                          "limit for calls to this resource is reached.", service_code=101,
                          headers=headers)

    def handle(self, request: Request) -> Reply:
        token = self._token(request)
        if not token:
            return self.error(401, "EMPTY_ACCESS_TOKEN", "Empty oauth2 access token",
                              service_code=65604)
        if self.revoked:
            return self.error(401, "REVOKED_ACCESS_TOKEN", "The token used in the request has "
                              "been revoked by the user", service_code=65601)
        if self.access_token is not None and token != self.access_token:
            return self.error(401, "INVALID_ACCESS_TOKEN", "Invalid access token",
                              service_code=65600)
        if request.method == "GET" and request.path == "/v2/userinfo":
            return self._userinfo()
        if request.method == "PUT" and request.path.startswith("/dms-uploads/"):
            return self._upload(request)
        if not request.path.startswith("/rest/"):
            return self.error(404, "NOT_FOUND", f"No virtual resource found: {request.path}")
        version = request.headers.get("linkedin-version")
        protocol = request.headers.get("x-restli-protocol-version")
        with self.lock:
            if version:
                self.versions.add(version)
            if protocol:
                self.protocol_versions.add(protocol)
        if not version:
            return self.error(400, "VERSION_MISSING", "A version must be present. Please "
                              "specify a version by adding the LinkedIn-Version header.")
        if not _VERSION.match(version) or version[:6] in self.retired_versions:
            return self.error(426, "NONEXISTENT_VERSION",
                              f"Requested version {version[:6]}01 is not active")
        self._version = version[:6]
        if request.path == "/rest/posts":
            if request.method == "POST":
                return self._create(request)
            if request.method == "GET":
                return self._find(request)
        m = _POST_PATH.match(request.path)
        if m:
            urn = unquote(m.group(1))
            method = (request.headers.get("x-restli-method") or "").upper()
            if request.method == "GET":
                return self._get_post(urn)
            if request.method == "DELETE":
                return self._delete(urn)
            if request.method == "POST" and method == "PARTIAL_UPDATE":
                return self._update(request, urn)
            if request.method == "POST":
                return self.error(400, "ILLEGAL_ARGUMENT", "POST to an entity needs "
                                  "X-RestLi-Method: PARTIAL_UPDATE")
        if request.path == "/rest/images" and request.method == "POST":
            return self._initialize_upload(request)
        m = re.fullmatch(r"/rest/organizations/(\d+)", request.path)
        if m and request.method == "GET":
            return self._organization(m.group(1))
        return self.error(404, "NOT_FOUND", f"No virtual resource found: {request.path}")

    def _denied(self, resource: str) -> Reply:
        return self.error(403, "ACCESS_DENIED", "Not enough permissions to access: "
                          f"{resource}.{self._version}01",
                          service_code=100)

    def _initialize_upload(self, request: Request) -> Reply:
        if request.param("action") != "initializeUpload":
            return self.error(400, "ILLEGAL_ARGUMENT", "Invalid action")
        if "w_organization_social" not in self.scopes:
            return self._denied("images.ACTION-initializeUpload")
        try:
            body = request.json()
            owner = body["initializeUploadRequest"]["owner"]
        except (ValueError, KeyError, TypeError):
            return Reply(422, {"message": "ERROR :: /initializeUploadRequest/owner :: field is "
                               "required but not found and has no default value\n",
                               "status": 422})
        if owner != self.organization_urn:
            return self._denied("images.ACTION-initializeUpload")
        upload_id = secrets.token_urlsafe(12)
        urn = f"urn:li:image:C4E10AQ{secrets.token_hex(8)}"
        with self.lock:
            self.images[urn] = {"owner": owner, "status": "WAITING_UPLOAD"}
            self.uploads[upload_id] = urn
        expires = int((time.time() + 3600) * 1000)
        return Reply(200, {"value": {"uploadUrlExpiresAt": expires,
                                     "uploadUrl": f"{self.base_url}/dms-uploads/{upload_id}",
                                     "image": urn}})

    def _upload(self, request: Request) -> Reply:
        with self.lock:
            urn = self.uploads.get(request.path.rsplit("/", 1)[-1])
        if urn is None:
            return Reply(404, "Not Found", content_type="text/plain")
        try:
            with Image.open(io.BytesIO(request.body)) as picture:
                fmt, size = picture.format, picture.size
        except (UnidentifiedImageError, OSError):
            return Reply(400, {"status": 400, "message": "Unsupported media type"})
        if fmt not in ("JPEG", "PNG", "GIF") or size[0] * size[1] >= _MAX_PIXELS:
            return Reply(400, {"status": 400, "message": f"Image {fmt} {size[0]}x{size[1]} "
                               "is not supported"})
        with self.lock:
            self.images[urn].update(status="AVAILABLE", data=request.body, format=fmt,
                                    size=size)
        return Reply(201, None)

    def _userinfo(self) -> Reply:
        if not self.can_read_userinfo:
            return self.error(403, "ACCESS_DENIED", "Not enough permissions to access: "
                              "userinfo.GET.NO_VERSION", service_code=100)
        return Reply(200, {"sub": "782bbtaQ", "name": self.member_name,
                           "given_name": self.member_name.split()[0], "locale": "en-US"})

    def _organization(self, org_id: str) -> Reply:
        if not self.scopes & {"rw_organization_admin", "r_organization_admin"}:
            return self._denied("organizations.GET")
        if org_id != self.organization_id:
            return self.error(404, "NOT_FOUND", f"Organization {org_id} not found")
        return Reply(200, {"id": int(org_id), "localizedName": self.organization_name,
                           "vanityName": "riverside-ledger"})

    def _create(self, request: Request) -> Reply:
        if "w_organization_social" not in self.scopes:
            return self._denied("partnerApiPostsExternal.CREATE")
        try:
            body = request.json()
        except ValueError:
            return self.error(400, "ILLEGAL_ARGUMENT",
                              "Request body could not be converted to data map")
        if not isinstance(body, dict):
            return self.error(400, "ILLEGAL_ARGUMENT",
                              "Request body could not be converted to data map")
        missing = [f for f in _REQUIRED if f not in body]
        if missing:
            message = "".join(f"ERROR :: /{f} :: field is required but not found and has no "
                              "default value\n" for f in missing)
            return Reply(422, {"message": message, "status": 422})
        if body["author"] != self.organization_urn:
            return self.error(403, "ACCESS_DENIED", f"Member is not authorized to create "
                              f"content as {body['author']}", service_code=100)
        article = (body.get("content") or {}).get("article")
        if article is not None:
            if not isinstance(article, dict):
                article = {}
            missing = [f for f in _ARTICLE_REQUIRED if not article.get(f)]
            if missing:
                return Reply(422, {"message": "".join(
                    f"ERROR :: /content/article/{f} :: field is required but not found and "
                    "has no default value\n" for f in missing), "status": 422})
            thumbnail = article.get("thumbnail")
            if thumbnail is not None:
                with self.lock:
                    image = self.images.get(str(thumbnail))
                if image is None or image["status"] != "AVAILABLE":
                    return Reply(422, {"message": f"ERROR :: /content/article/thumbnail :: "
                                       f"image {thumbnail} was not uploaded\n", "status": 422})
        commentary = str(body["commentary"])
        with self.lock:
            earlier = next((p for p in self.posts if p.commentary == commentary
                            and p.author == body["author"]), None)
            if earlier is not None:
                return Reply(422, {
                    "errorDetailType": "com.linkedin.common.error.BadRequest",
                    "message": "com.linkedin.content.common.exception."
                               f"BadRequestResponseException: Content is a duplicate of "
                               f"{earlier.urn}",
                    "errorDetails": {"inputErrors": [{
                        "description": "Duplicate post is detected", "input": {},
                        "code": "DUPLICATE_POST"}]},
                    "status": 422,
                })
            shown, tags = read_little(commentary)
            post = StoredPost(f"urn:li:share:{next(self._numbers)}", str(body["author"]),
                              commentary, shown, tags, body)
            self.posts.append(post)
        return Reply(201, None, {"x-restli-id": post.urn, "x-linkedin-id": post.urn})

    def _post(self, urn: str) -> StoredPost | None:
        with self.lock:
            return next((p for p in self.posts if p.urn == urn), None)

    def _not_found(self, urn: str) -> Reply:
        return self.error(404, "NOT_FOUND", f"Post {urn} not found", service_code=100)

    def _get_post(self, urn: str) -> Reply:
        if "r_organization_social" not in self.scopes:
            return self._denied("partnerApiPostsExternal.GET")
        post = self._post(urn)
        if post is None:
            return self._not_found(urn)
        return Reply(200, self._element(post))

    def _delete(self, urn: str) -> Reply:
        if "w_organization_social" not in self.scopes:
            return self._denied("partnerApiPostsExternal.DELETE")
        with self.lock:
            if urn in self.deleted:
                return Reply(204, None)  # "idempotent"
            post = self._post(urn)
            if post is None:
                return self._not_found(urn)
            if post.author != self.organization_urn:
                return self._denied("partnerApiPostsExternal.DELETE")
            self.posts.remove(post)
            self.deleted[urn] = post
        return Reply(204, None)

    def _update(self, request: Request, urn: str) -> Reply:
        if "w_organization_social" not in self.scopes:
            return self._denied("partnerApiPostsExternal.PARTIAL_UPDATE")
        try:
            body = request.json()
            changes = body["patch"]["$set"]
        except (ValueError, KeyError, TypeError):
            return self.error(400, "ILLEGAL_ARGUMENT", "Request body must be a patch: "
                              '{"patch": {"$set": {...}}}')
        if not isinstance(changes, dict) or not changes:
            return self.error(400, "ILLEGAL_ARGUMENT", "The patch sets nothing")
        refused = sorted(set(changes) - UPDATABLE)
        if refused:
            return Reply(422, {"message": "".join(
                f"ERROR :: /{f} :: field cannot be updated\n" for f in refused),
                "status": 422})
        with self.lock:
            post = self._post(urn)
            if post is None:
                return self._not_found(urn)
            if "commentary" in changes:
                post.commentary = str(changes["commentary"])
                post.shown, post.hashtags = read_little(post.commentary)
            post.body.update({k: v for k, v in changes.items() if k != "commentary"})
            post.modified = time.time()
            self.updates.append((urn, dict(changes)))
        return Reply(204, None)

    def _element(self, post: StoredPost) -> dict[str, Any]:
        element: dict[str, Any] = {
            "id": post.urn,
            "author": post.author,
            "commentary": post.commentary,
            "visibility": post.body.get("visibility"),
            "distribution": post.body.get("distribution"),
            "lifecycleState": post.body.get("lifecycleState", "PUBLISHED"),
            "isReshareDisabledByAuthor": False,
            "createdAt": int(post.created * 1000),
            "publishedAt": int(post.created * 1000),
            "lastModifiedAt": int((post.modified or post.created) * 1000),
        }
        if post.body.get("content"):
            element["content"] = post.body["content"]
        return element

    def _find(self, request: Request) -> Reply:
        if request.param("q") != "author":
            return self.error(400, "ILLEGAL_ARGUMENT", "Invalid query parameters passed to "
                              "request")
        author = unquote(request.param("author") or "")
        if author != self.organization_urn or "r_organization_social" not in self.scopes:
            return self._denied("partnerApiPostsExternal.FINDER-author")
        count = request.param("count", "10") or "10"
        if not count.isdigit():
            return self.error(400, "ILLEGAL_ARGUMENT", "Invalid value for param count")
        with self.lock:
            recent = list(reversed(self.posts))[: min(int(count), 100)]
        elements = [self._element(post) for post in recent]
        return Reply(200, {"paging": {"start": 0, "count": int(count), "links": []},
                           "elements": elements})
