"""FakeWordPress: a site's REST API posts endpoint, over real HTTP.

Follows the WordPress REST API handbook, "Posts" reference
(developer.wordpress.org/rest-api/reference/posts/#list-posts):

    GET /wp-json/wp/v2/posts   → 200, a JSON list of post objects

- ``include`` (comma-separated ids), ``slug`` (comma-separated), ``per_page``
  (1-100, else 400 ``rest_invalid_param``), ``orderby``/``order`` (only
  ``date``/``desc`` here), ``status`` (default ``publish``);
- an unauthenticated request for any status other than ``publish`` is
  refused: 401 ``rest_forbidden_status`` "Status is forbidden.";
- ``_embed`` adds ``_embedded`` (author, ``wp:term`` with categories and
  tags); objects carry ``id``, ``date_gmt``, ``modified_gmt``, ``guid``,
  ``link``, ``slug``, ``status``, ``title``, ``excerpt`` and ``content`` with
  ``rendered`` HTML, as WordPress sends them;
- a list answer carries ``X-WP-Total`` and ``X-WP-TotalPages``.

Posts are set with :meth:`FakeWordPress.put` (any status); ``requests``
logs what was asked (GET is scope "read").
"""

from __future__ import annotations

import html
from datetime import UTC, datetime
from typing import Any

from tests.fakes.fakehttp import FakeServer, Reply, Request

API = "/wp-json/wp/v2/posts"


class FakeWordPress(FakeServer):
    """A WordPress site's posts endpoint (see the module docstring)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.posts: dict[int, dict[str, Any]] = {}

    @property
    def site_url(self) -> str:
        return self.base_url + "/"

    def put(self, post_id: int, title: str, *, status: str = "publish",
            slug: str | None = None, categories: tuple[str, ...] = ("News",),
            date: datetime | None = None) -> dict[str, Any]:
        """Create or replace a post; returns its REST object."""
        slug = slug or f"story-{post_id}"
        when = (date or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S")
        link = f"{self.base_url}/{slug}/"
        post = {
            "id": post_id,
            "date_gmt": when,
            "modified_gmt": when,
            "guid": {"rendered": f"{self.base_url}/?p={post_id}"},
            "link": link,
            "slug": slug,
            "status": status,
            "type": "post",
            "title": {"rendered": html.escape(title)},
            "excerpt": {"rendered": f"<p>{html.escape(title)}: the summary.</p>\n"},
            "content": {"rendered": f"<p>{html.escape(title)}: the story.</p>\n"},
            "_embedded": {
                "author": [{"id": 1, "name": "Desk"}],
                "wp:term": [[{"id": n, "name": c, "taxonomy": "category"}
                             for n, c in enumerate(categories, 1)], []],
            },
        }
        with self.lock:
            self.posts[post_id] = post
        return post

    # --- the contract ------------------------------------------------------------

    def scope_of(self, request: Request) -> str:
        return "read" if request.method == "GET" else "other"

    def has_auth(self, request: Request) -> bool:
        return "authorization" in request.headers

    @staticmethod
    def error(status: int, code: str, message: str) -> Reply:
        return Reply(status, {"code": code, "message": message, "data": {"status": status}})

    def server_error(self, request: Request, status: int) -> Reply:
        return self.error(status, "internal_server_error", "There has been a critical error.")

    def rate_limited(self, request: Request, kind: str, reset: float) -> Reply:
        return self.error(429, "too_many_requests", "Too many requests.")

    def handle(self, request: Request) -> Reply:
        if request.path.rstrip("/") != API:
            return self.error(404, "rest_no_route",
                              "No route was found matching the URL and request method.")
        if request.method != "GET":
            return self.error(401, "rest_cannot_create",
                              "Sorry, you are not allowed to create posts as this user.")
        per_page = request.param("per_page", "10") or "10"
        if not per_page.isdigit() or not 1 <= int(per_page) <= 100:
            return self.error(400, "rest_invalid_param", "Invalid parameter(s): per_page")
        statuses = (request.param("status") or "publish").split(",")
        if statuses != ["publish"] and not self.has_auth(request):
            return self.error(401, "rest_forbidden_status", "Status is forbidden.")
        with self.lock:
            found = [p for p in self.posts.values() if p["status"] in statuses]
        include = request.param("include")
        if include:
            ids = {int(i) for i in include.split(",") if i.strip().isdigit()}
            found = [p for p in found if p["id"] in ids]
        slug = request.param("slug")
        if slug:
            found = [p for p in found if p["slug"] in slug.split(",")]
        found.sort(key=lambda p: (p["date_gmt"], p["id"]), reverse=True)
        total = len(found)
        found = found[: int(per_page)]
        if request.param("_embed") is None:
            found = [{k: v for k, v in p.items() if k != "_embedded"} for p in found]
        pages = max(1, -(-total // int(per_page)))
        return Reply(200, found, {"X-WP-Total": str(total), "X-WP-TotalPages": str(pages)})
