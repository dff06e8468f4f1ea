"""FakeLinkedIn: the parts of LinkedIn's versioned REST API an organization publisher uses.

Over real HTTP, with the real paths, headers and error bodies::

    POST /rest/posts                          create a post → 201, empty body,
                                              ``x-restli-id: urn:li:share:N``
    GET  /rest/posts?author=<urn>&q=author&count=N   the author's posts, newest first
    GET  /rest/organizations/{id}             {"id", "localizedName", "vanityName"}
    GET  /v2/userinfo                         the member behind the token (OpenID)

Every ``/rest/`` call needs ``LinkedIn-Version``: missing → 400 VERSION_MISSING,
not served (in ``retired_versions``, or not YYYYMM) → 426 NONEXISTENT_VERSION,
as LinkedIn answers. The versions and ``X-Restli-Protocol-Version`` values seen
are kept in ``versions`` and ``protocol_versions``.

Errors have LinkedIn's shape ``{"status", "serviceErrorCode", "code", "message"}``:
401 EMPTY/INVALID/REVOKED_ACCESS_TOKEN, 403 ACCESS_DENIED (``can_post`` /
``can_read_organization`` False), 422 for a missing field and for a duplicate
("Content is a duplicate of urn:li:share:…", DUPLICATE_POST), 429
TOO_MANY_REQUESTS ("… APPLICATION DAY limit …", no reset header unless
``send_retry_after``), 500 JSON, 503 a plain-text proxy page.

The commentary is read as LinkedIn reads "little" text: ``\\x`` is a literal
``x``, ``{hashtag|\\#|Word}`` a hashtag, ``@[Name](urn)`` a mention, and the
text is *cut* at the first other unescaped reserved character, so a test can
see what an unescaped headline would have become (``StoredPost.shown``).

Scopes: ``POST /rest/posts`` is "create", GETs are "read".
"""

from __future__ import annotations

import itertools
import re
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from tests.fakes.fakehttp import FakeServer, Reply, Request

RESERVED = frozenset("|{}@[]()<>#\\*_~")
_HASHTAG_TEMPLATE = re.compile(r"\{hashtag\|\\?[#＃]\|([^{}|\\]+)\}")
_MENTION = re.compile(r"@\[([^\]]*)\]\((urn:li:[a-zA-Z]+:[\w-]+)\)")
_VERSION = re.compile(r"^\d{6}(\.\d{2})?$")
_REQUIRED = ("author", "commentary", "visibility", "distribution", "lifecycleState")


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
        self.can_post = True
        self.can_read_organization = True
        self.can_read_userinfo = True
        self.retired_versions: set[str] = {"202401", "202404"}
        #: Add ``Retry-After: rate_limit_seconds`` to a "429" (LinkedIn sends none).
        self.send_retry_after = False
        self.posts: list[StoredPost] = []
        self.versions: set[str] = set()
        self.protocol_versions: set[str] = set()
        self._numbers = itertools.count(7_300_000_000_000_000_001)

    # --- classification --------------------------------------------------------

    def scope_of(self, request: Request) -> str:
        if request.method == "POST" and request.path == "/rest/posts":
            return "create"
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
        if not _VERSION.match(version) or version in self.retired_versions:
            return self.error(426, "NONEXISTENT_VERSION",
                              f"Requested version {version} is not active")
        if request.path == "/rest/posts":
            if request.method == "POST":
                return self._create(request)
            if request.method == "GET":
                return self._find(request)
        m = re.fullmatch(r"/rest/organizations/(\d+)", request.path)
        if m and request.method == "GET":
            return self._organization(m.group(1))
        return self.error(404, "NOT_FOUND", f"No virtual resource found: {request.path}")

    def _userinfo(self) -> Reply:
        if not self.can_read_userinfo:
            return self.error(403, "ACCESS_DENIED", "Not enough permissions to access: "
                              "userinfo.GET.NO_VERSION", service_code=100)
        return Reply(200, {"sub": "782bbtaQ", "name": self.member_name,
                           "given_name": self.member_name.split()[0], "locale": "en-US"})

    def _organization(self, org_id: str) -> Reply:
        if not self.can_read_organization:
            return self.error(403, "ACCESS_DENIED", "Not enough permissions to access: "
                              "organizations.GET.20251001", service_code=100)
        if org_id != self.organization_id:
            return self.error(404, "NOT_FOUND", f"Organization {org_id} not found")
        return Reply(200, {"id": int(org_id), "localizedName": self.organization_name,
                           "vanityName": "riverside-ledger"})

    def _create(self, request: Request) -> Reply:
        if not self.can_post:
            return self.error(403, "ACCESS_DENIED", "Not enough permissions to access: "
                              "partnerApiPostsExternal.CREATE.20251001", service_code=100)
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
        if article is not None and not (isinstance(article, dict) and article.get("source")):
            return Reply(422, {"message": "ERROR :: /content/article/source :: field is "
                               "required but not found and has no default value\n",
                               "status": 422})
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

    def _find(self, request: Request) -> Reply:
        if request.param("q") != "author":
            return self.error(400, "ILLEGAL_ARGUMENT", "Invalid query parameters passed to "
                              "request")
        author = unquote(request.param("author") or "")
        if author != self.organization_urn:
            return self.error(403, "ACCESS_DENIED", "Not enough permissions to access: "
                              "partnerApiPostsExternal.FINDER-author.20251001",
                              service_code=100)
        count = request.param("count", "10") or "10"
        if not count.isdigit():
            return self.error(400, "ILLEGAL_ARGUMENT", "Invalid value for param count")
        with self.lock:
            recent = list(reversed(self.posts))[: min(int(count), 100)]
        elements = []
        for post in recent:
            element: dict[str, Any] = {
                "id": post.urn,
                "author": post.author,
                "commentary": post.commentary,
                "visibility": post.body.get("visibility"),
                "distribution": post.body.get("distribution"),
                "lifecycleState": "PUBLISHED",
                "isReshareDisabledByAuthor": False,
                "createdAt": int(post.created * 1000),
                "publishedAt": int(post.created * 1000),
                "lastModifiedAt": int(post.created * 1000),
            }
            if post.body.get("content"):
                element["content"] = post.body["content"]
            elements.append(element)
        return Reply(200, {"paging": {"start": 0, "count": int(count), "links": []},
                           "elements": elements})
