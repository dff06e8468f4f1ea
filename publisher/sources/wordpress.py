"""The WordPress REST API (``/wp-json/wp/v2/posts?_embed``) → ArticleData."""

from __future__ import annotations

import html
import json
import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from publisher.exceptions import ParseError
from publisher.sources.normalize import (
    SUMMARY_MAX,
    TITLE_FROM_SUMMARY_MAX,
    absolute_http_url,
    canonical_url,
    plain_text,
    sane_date,
    truncate_words,
)
from publisher.types import ArticleData, Image

__all__ = [
    "changed_text",
    "parse_wordpress",
    "wordpress_id",
    "wordpress_include_urls",
    "wordpress_posts_url",
]

log = logging.getLogger("publisher.sources")

_API_PATH = "/wp-json/wp/v2/posts"


def wordpress_posts_url(site_or_api_url: str, per_page: int = 20) -> str:
    """The posts endpoint for a WordPress site, with the parameters we rely on.

    ``https://example.org`` (or ``https://example.org/blog/``) gets
    ``/wp-json/wp/v2/posts`` appended; a URL that already contains
    ``/wp-json/`` keeps its path. In both cases the missing ones of
    ``_embed=1&status=publish&per_page=N&orderby=date&order=desc`` are added
    and existing parameters are kept.
    """
    parts = urlsplit(site_or_api_url.strip())
    path = parts.path
    if "/wp-json/" not in path + "/":
        path = path.rstrip("/") + _API_PATH
    existing = parse_qsl(parts.query, keep_blank_values=True)
    names = {name for name, _ in existing}
    wanted = [
        ("_embed", "1"),
        ("status", "publish"),
        ("per_page", str(per_page)),
        ("orderby", "date"),
        ("order", "desc"),
    ]
    query = parts.query
    extra = urlencode([(k, v) for k, v in wanted if k not in names])
    if extra:
        query = f"{query}&{extra}" if query else extra
    return urlunsplit((parts.scheme, parts.netloc, path, query, ""))


def wordpress_id(guid: str) -> int | None:
    """The post id in a WordPress guid (``https://example.org/?p=42``), or None."""
    query = dict(parse_qsl(urlsplit(guid.strip()).query))
    value = query.get("p", "")
    return int(value) if value.isascii() and value.isdigit() and 0 < int(value) < 2**63 else None


def wordpress_include_urls(posts_url: str, ids: Sequence[int], per_request: int = 100) -> list[str]:
    """The posts endpoint asked for exactly these ids (``include=``), at most
    100 a request (the API's ``per_page`` ceiling).  An anonymous request
    sees only published posts (``status=publish``): an id missing from the
    answer was moved to draft, private or trash, or deleted (the REST
    handbook, "Posts": ``include``, ``status``)."""
    parts = urlsplit(posts_url)
    kept = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
            if k not in ("include", "per_page", "page", "status")]
    out = []
    for start in range(0, len(ids), per_request):
        chunk = sorted(ids)[start:start + per_request]
        query = urlencode([*kept, ("status", "publish"), ("per_page", str(len(chunk))),
                           ("include", ",".join(map(str, chunk)))])
        out.append(urlunsplit((parts.scheme, parts.netloc, parts.path, query, "")))
    return out


def _words(text: str) -> str:
    return " ".join(text.split())


def changed_text(stored: ArticleData, now: ArticleData) -> bool:
    """Whether the source changed the article's title or summary since it
    was stored (a correction).  Where both carry a modification time
    (WordPress ``modified_gmt``) it must have moved on too."""
    if stored.updated is not None and now.updated is not None and now.updated <= stored.updated:
        return False
    return (_words(stored.title) != _words(now.title)
            or _words(stored.summary) != _words(now.summary))


def parse_wordpress(body: bytes, *, base_url: str, max_entries: int = 500) -> list[ArticleData]:
    """Parse a WordPress REST API posts list (fetched with ``_embed``) into articles.

    Posts whose ``status`` is present and not ``publish`` are skipped, as are
    posts without an http(s) link or without a title and excerpt. Raises
    :class:`ParseError` when the body is not a JSON list (a WordPress error
    object is reported with its code).
    """
    try:
        data = json.loads(body.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ParseError(f"not a feed: not JSON ({' '.join(str(exc).split())[:120]})") from None
    if isinstance(data, dict) and "code" in data:
        message = plain_text(str(data.get("message") or ""), 200)
        raise ParseError(f"not a feed: WordPress API error {data['code']}: {message}")
    if not isinstance(data, list):
        raise ParseError(f"not a feed: expected a JSON list of posts, got {type(data).__name__}")
    if len(data) > max_entries:
        log.warning(
            "feed has more entries than max_entries: url=%s entries=%d kept=%d",
            base_url,
            len(data),
            max_entries,
        )
        data = data[:max_entries]
    articles = []
    for post in data:
        article = _post_to_article(post, base_url) if isinstance(post, dict) else None
        if article is not None:
            articles.append(article)
        else:
            log.debug(
                "dropped WordPress post: url=%s id=%r",
                base_url,
                post.get("id") if isinstance(post, dict) else None,
            )
    return articles


def _rendered(value: Any) -> str:
    if isinstance(value, Mapping):
        value = value.get("rendered")
    return value if isinstance(value, str) else ""


def _post_to_article(post: Mapping[str, Any], base_url: str) -> ArticleData | None:
    status = post.get("status")
    if status is not None and status != "publish":
        return None
    url = canonical_url(_rendered(post.get("link")), base_url)
    if url is None:
        return None
    # guid.rendered is HTML-escaped ("?p=1&#038;x"): keep it as the CMS means it.
    guid = html.unescape(_rendered(post.get("guid"))).strip() or url
    excerpt_html = _rendered(post.get("excerpt")) or _rendered(post.get("content"))
    title = plain_text(_rendered(post.get("title")))
    if not title:
        title = truncate_words(plain_text(excerpt_html), TITLE_FROM_SUMMARY_MAX)
    if not title:
        return None
    embedded = post.get("_embedded")
    embedded = embedded if isinstance(embedded, Mapping) else {}
    categories, tags = _terms(embedded.get("wp:term"))
    published = _gmt(post.get("date_gmt"))
    return ArticleData(
        guid=guid,
        url=url,
        title=title,
        summary=plain_text(excerpt_html, SUMMARY_MAX),
        author=_author(embedded.get("author")),
        categories=categories,
        tags=tags,
        published=published,
        updated=_gmt(post.get("modified_gmt")),
        image=_featured(embedded.get("wp:featuredmedia"), base_url),
    )


def _gmt(value: Any) -> datetime | None:
    """WordPress ``*_gmt`` strings are UTC without an offset."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    parsed = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed
    return sane_date(parsed)


def _author(value: Any) -> str:
    if isinstance(value, list) and value and isinstance(value[0], Mapping):
        return plain_text(str(value[0].get("name") or ""))
    return ""


def _terms(value: Any) -> tuple[tuple[str, ...], tuple[str, ...]]:
    categories: list[str] = []
    tags: list[str] = []
    for group in value if isinstance(value, list) else ():
        for term in group if isinstance(group, list) else ():
            if not isinstance(term, Mapping):
                continue
            name = plain_text(str(term.get("name") or ""))
            target = {"category": categories, "post_tag": tags}.get(str(term.get("taxonomy")))
            if (
                name
                and target is not None
                and name.casefold() not in {t.casefold() for t in target}
            ):
                target.append(name)
    return tuple(categories), tuple(tags)


def _featured(value: Any, base_url: str) -> Image | None:
    if not (isinstance(value, list) and value and isinstance(value[0], Mapping)):
        return None
    media = value[0]
    # Private media embed as an error object ({"code": "rest_forbidden", …}).
    url = absolute_http_url(str(media.get("source_url") or ""), base_url)
    if url is None:
        return None
    return Image(url, plain_text(str(media.get("alt_text") or "")))
