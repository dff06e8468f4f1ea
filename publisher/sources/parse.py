"""RSS/Atom bodies → :class:`~publisher.types.ArticleData`, with feedparser.

Untrusted input: a body may be an HTML error page, garbage, or hostile XML.
feedparser drops unsafe entity declarations itself (it keeps only simple
``<!ENTITY name "text">`` ones); on top of that a document whose prolog
declares external (``SYSTEM``/``PUBLIC``) or nested entities is refused
before parsing, so neither XXE nor entity expansion ever reaches a parser.
"""

from __future__ import annotations

import io
import logging
import re
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

import feedparser

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

__all__ = ["SUMMARY_MAX", "TITLE_FROM_SUMMARY_MAX", "is_feed_proxy", "parse_feed"]

log = logging.getLogger("publisher.sources")


_DOCTYPE_SCAN = 64 * 1024
_ENTITY_DECL = re.compile(rb"<!ENTITY\s+(%\s*)?[^\s>]+\s+(SYSTEM|PUBLIC|[\"'])", re.I)
# An entity whose value refers to another entity (character references are fine).
_ENTITY_REF_IN_DECL = re.compile(
    rb"<!ENTITY\s+[^\s>]+\s+([\"'])[^\"']*(?:&[A-Za-z_:]|%)[^\"']*\1", re.I
)
_HTML_START = re.compile(rb"^\s*(<!doctype\s+html|<html)", re.I)
# A feed proxy keeps the publisher's own link beside its tracking redirect:
# <feedburner:origLink>, <pheedo:origLink> (feedparser: "feedburner_origlink"…).
_ORIGINAL_LINK_SUFFIX = "_origlink"
_FEED_PROXY_HOSTS = (
    "feedproxy.google.com",
    "feeds.feedburner.com",
    "feeds2.feedburner.com",
    "feedburner.google.com",
    "feedburner.com",
    "pheedo.com",
    "feedsportal.com",
    "feedblitz.com",
)
# The footer WordPress (and Yoast) append to every description.
_WP_FOOTER = re.compile(r"\s*The post .{1,400}? appeared first on .{1,200}?\.?\s*$")


def _check_prolog(body: bytes) -> None:
    """Refuse XML that declares external or nested entities (XXE, billion laughs)."""
    head = body[:_DOCTYPE_SCAN]
    # UTF-16/32 documents: look at the ASCII bytes only, good enough for markup.
    if head[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00<\x00" in head[:8] or b"<\x00" in head[:4]:
        head = head.replace(b"\x00", b"")
    if b"<!ENTITY" not in head.upper():
        return
    for match in _ENTITY_DECL.finditer(head):
        if match.group(1) or match.group(2).upper() in (b"SYSTEM", b"PUBLIC"):
            raise ParseError("not a feed: the document declares external XML entities")
    if _ENTITY_REF_IN_DECL.search(head):
        raise ParseError("not a feed: the document declares nested XML entities")


def parse_feed(
    body: bytes,
    *,
    base_url: str,
    content_type: str | None = None,
    max_entries: int = 500,
) -> list[ArticleData]:
    """Parse an RSS or Atom body into articles, in document order.

    Links are made absolute against the feed's ``xml:base`` / ``base_url`` and
    canonicalised; titles and summaries become plain text. Entries without a
    usable http(s) link, or without any title or summary, are dropped (logged
    at debug level). Only the first ``max_entries`` entries are read (a
    warning is logged when the feed holds more).

    Raises :class:`ParseError` when the body is not a feed.
    """
    if not body or not body.strip():
        raise ParseError("not a feed: empty body")
    _check_prolog(body)
    # No content-location: feedparser would resolve RSS guids against it as if
    # they were URLs ("abc" → "https://site/feed/abc"). Links are made absolute here.
    headers = {"content-type": content_type} if content_type else {}
    # A BytesIO, never raw bytes or str: given a string, feedparser treats it as a
    # URL or a file name and would open it.
    parsed = feedparser.parse(
        io.BytesIO(body),
        response_headers=headers,
        resolve_relative_uris=True,
        sanitize_html=True,
    )
    entries = parsed.get("entries") or []
    version = parsed.get("version") or ""
    if not entries and not version:
        raise ParseError(f"not a feed: {_reason(body, parsed)}")
    feed_link = canonical_url(parsed.get("feed", {}).get("link") or "", base_url)
    base = feed_link or base_url
    if len(entries) > max_entries:
        log.warning(
            "feed has more entries than max_entries: url=%s entries=%d kept=%d",
            base_url,
            len(entries),
            max_entries,
        )
        entries = entries[:max_entries]
    articles = []
    for index, entry in enumerate(entries):
        article = _entry_to_article(entry, base)
        if article is None:
            log.debug("dropped feed entry: url=%s index=%d id=%r", base_url, index, entry.get("id"))
        else:
            articles.append(article)
    return articles


def _reason(body: bytes, parsed: Mapping[str, Any]) -> str:
    if _HTML_START.match(body.lstrip(b"\xef\xbb\xbf")):
        return "looks like an HTML page"
    exc = parsed.get("bozo_exception")
    if exc is not None:
        return f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}"
    return "no feed elements found"


def _entry_to_article(entry: Mapping[str, Any], base: str) -> ArticleData | None:
    url = _entry_link(entry, base)
    if url is None:
        return None
    guid = (entry.get("id") or "").strip() or url
    summary_html = entry.get("summary") or _first_content(entry) or ""
    summary_text = _WP_FOOTER.sub("", plain_text(summary_html))
    summary = truncate_words(summary_text, SUMMARY_MAX)
    title = plain_text(entry.get("title") or "")
    if not title:
        title = truncate_words(summary_text, TITLE_FROM_SUMMARY_MAX)
    if not title:
        return None
    # dict.get, not entry.get: FeedParserDict maps a missing published_parsed to
    # updated_parsed with a DeprecationWarning.
    raw: dict[str, Any] = entry  # type: ignore[assignment]  # a FeedParserDict is a dict
    updated = _struct_to_datetime(dict.get(raw, "updated_parsed"))
    published = _struct_to_datetime(dict.get(raw, "published_parsed")) or updated
    return ArticleData(
        guid=guid,
        url=url,
        title=title,
        summary=summary,
        author=_author(entry),
        categories=_dedupe(
            plain_text(t.get("label") or t.get("term") or "") for t in entry.get("tags") or ()
        ),
        tags=(),
        published=published,
        updated=updated,
        image=_image(entry, base),
    )


def _entry_link(entry: Mapping[str, Any], base: str) -> str | None:
    """The article's own link: a feed proxy's ``origLink`` first, then the
    entry's links and a permalink guid, those on a proxy's host last (a
    FeedBurner entry's ``<link>`` is a tracking redirect, and the same story in
    the site's own feed must have the same URL)."""
    raw: dict[str, Any] = entry  # type: ignore[assignment]  # a FeedParserDict is a dict
    originals = [str(value) for key, value in raw.items()
                 if key.endswith(_ORIGINAL_LINK_SUFFIX) and isinstance(value, str)]
    candidates = [entry.get("link") or ""]
    candidates += [
        link.get("href") or ""
        for link in entry.get("links") or ()
        if link.get("rel", "alternate") == "alternate"
    ]
    if entry.get("guidislink"):
        candidates.append(entry.get("id") or "")
    urls = [url for url in (canonical_url(c, base) if c else None
                            for c in originals + candidates) if url]
    proxied = [url for url in urls if is_feed_proxy(url)]
    direct = [url for url in urls if not is_feed_proxy(url)]
    if direct:
        return direct[0]
    if proxied:
        # A proxied entry without its original link: the story's own URL may
        # still be its guid (an http(s) permalink on another host).
        raw_guid = str(entry.get("id") or "").strip()
        # Only an absolute link: a relative guid ("ghi-123") is a name, not a URL.
        guid = (canonical_url(raw_guid) if raw_guid.lower().startswith(("http://", "https://"))
                else None)
        parts = urlsplit(guid) if guid else None
        if guid and parts and not is_feed_proxy(guid) and (
                parts.path not in ("", "/") or parts.query):
            return guid
        return proxied[0]
    return None


def is_feed_proxy(url: str) -> bool:
    """Is ``url`` on a feed proxy's host (FeedBurner, Pheedo, Feedsportal,
    FeedBlitz): a tracking redirect or pixel, never the article itself."""
    host = (urlsplit(url).hostname or "").lower()
    return any(host == proxy or host.endswith("." + proxy) for proxy in _FEED_PROXY_HOSTS)


def _first_content(entry: Mapping[str, Any]) -> str:
    contents = [c for c in entry.get("content") or () if c.get("value")]
    if entry.get("media_content"):
        # A text/plain "content" next to media:content is a media:description (see _alt_for).
        contents = [c for c in contents if c.get("type") != "text/plain"]
    return str(contents[0]["value"]) if contents else ""


def _author(entry: Mapping[str, Any]) -> str:
    detail = entry.get("author_detail") or {}
    return plain_text(detail.get("name") or entry.get("author") or "")


def _dedupe(values: Iterable[str]) -> tuple[str, ...]:
    seen: set[str] = set()
    out = []
    for value in values:
        key = value.casefold()
        if value and key not in seen:
            seen.add(key)
            out.append(value)
    return tuple(out)


def _struct_to_datetime(value: time.struct_time | None) -> datetime | None:
    if not value:
        return None
    try:
        return sane_date(datetime(*value[:6], tzinfo=UTC))
    except (TypeError, ValueError, OverflowError):
        return None


def _image(entry: Mapping[str, Any], base: str) -> Image | None:
    """First of media:content (image), media:thumbnail, an image enclosure, an <img>."""
    html_imgs = _html_images(entry)
    candidates: list[str] = []
    for media in entry.get("media_content") or ():
        medium = (media.get("medium") or "").lower()
        mtype = (media.get("type") or "").lower()
        if medium == "image" or mtype.startswith("image/") or (not medium and not mtype):
            candidates.append(media.get("url") or "")
    candidates += [thumb.get("url") or "" for thumb in entry.get("media_thumbnail") or ()]
    candidates += [
        link.get("href") or ""
        for link in entry.get("links") or ()
        if link.get("rel") == "enclosure" and (link.get("type") or "").lower().startswith("image/")
    ]
    # A feed proxy's pictures are its tracking pixel and its FeedFlare buttons.
    for candidate in candidates:
        url = absolute_http_url(candidate, base) if candidate else None
        if url and not is_feed_proxy(url):
            return Image(url, _alt_for(url, entry, html_imgs, base))
    for src, alt in html_imgs:
        url = absolute_http_url(src, base)
        if url and not is_feed_proxy(url):
            return Image(url, plain_text(alt))
    return None


def _alt_for(
    url: str, entry: Mapping[str, Any], html_imgs: list[tuple[str, str]], base: str
) -> str:
    # The same picture usually appears as an <img> in the content, with its alt.
    for src, alt in html_imgs:
        if absolute_http_url(src, base) == url and alt:
            return plain_text(alt)
    # feedparser has no field for a <media:description> inside <media:content>:
    # it lands in summary_detail (leaving summary as the item's description) or,
    # when the item has no content:encoded, as a text/plain content entry.
    if not entry.get("media_content"):
        return ""
    detail = entry.get("summary_detail") or {}
    value = detail.get("value")
    if value and entry.get("summary") and value != entry.get("summary"):
        return plain_text(value)
    for content in entry.get("content") or ():
        if content.get("type") == "text/plain" and content.get("value"):
            return plain_text(content["value"])
    return ""


class _ImgCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.images: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            values = dict(attrs)
            src = values.get("src") or ""
            if src:
                self.images.append((src, values.get("alt") or ""))


def _html_images(entry: Mapping[str, Any]) -> list[tuple[str, str]]:
    collector = _ImgCollector()
    for content in entry.get("content") or ():
        collector.feed(str(content.get("value") or ""))
    collector.feed(str(entry.get("summary") or ""))
    collector.close()
    return collector.images
