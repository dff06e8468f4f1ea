"""An article page's metadata (Open Graph, canonical link) → ArticleData.

Used when an editor adds an article by URL. Only the ``<head>`` is read,
with the stdlib HTML parser.
"""

from __future__ import annotations

import re
from datetime import datetime
from html.parser import HTMLParser

from publisher.exceptions import ParseError
from publisher.sources.fetch import Fetcher, redact_url
from publisher.sources.normalize import (
    SUMMARY_MAX,
    absolute_http_url,
    canonical_url,
    plain_text,
    sane_date,
)
from publisher.types import ArticleData, Image

__all__ = ["fetch_page_metadata", "parse_page_metadata"]

PAGE_ACCEPT = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5"
_CHARSET_HEADER = re.compile(r"(?i)charset\s*=\s*[\"']?([\w.:-]+)")
_CHARSET_META = re.compile(rb"(?i)<meta[^>]+charset\s*=\s*[\"']?([\w.:-]+)")
_HEAD_END = re.compile(r"(?i)</head\s*>|<body[\s>]")


class _HeadParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.meta: dict[str, str] = {}
        self.article_tags: list[str] = []
        self.canonical = ""
        self.title_parts: list[str] = []
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k.lower(): (v or "") for k, v in attrs}
        if tag == "meta":
            key = (values.get("property") or values.get("name") or "").strip().lower()
            content = values.get("content", "")
            if key == "article:tag":
                self.article_tags.append(content)
            elif key and content and key not in self.meta:  # the first one wins
                self.meta[key] = content
        elif tag == "link":
            rels = values.get("rel", "").lower().split()
            if "canonical" in rels and values.get("href") and not self.canonical:
                self.canonical = values["href"]
        elif tag == "title":
            self._in_title = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title_parts.append(data)


def _decode(body: bytes, content_type: str | None) -> str:
    candidates = []
    if content_type and (header := _CHARSET_HEADER.search(content_type)):
        candidates.append(header.group(1))
    if meta := _CHARSET_META.search(body[:4096]):
        candidates.append(meta.group(1).decode("ascii", "replace"))
    for charset in candidates:
        try:
            return body.decode(charset)
        except (LookupError, UnicodeDecodeError):
            continue
    return body.decode("utf-8-sig", errors="replace")


def _iso_date(value: str) -> datetime | None:
    value = value.strip()
    if not value:
        return None
    try:
        return sane_date(datetime.fromisoformat(value.replace("Z", "+00:00")))
    except ValueError:
        return None


def parse_page_metadata(body: bytes, *, url: str, content_type: str | None = None) -> ArticleData:
    """Read an HTML page's metadata. ``url`` is where it was fetched from.

    Raises :class:`ParseError` when the page has no title at all or no
    usable http(s) URL.
    """
    if content_type and not re.search(r"(?i)html|xml", content_type):
        raise ParseError(f"not an HTML page ({content_type}): {redact_url(url)}")
    text = _decode(body, content_type)
    if head_end := _HEAD_END.search(text):
        text = text[: head_end.start()]
    parser = _HeadParser()
    parser.feed(text)
    parser.close()
    meta = parser.meta
    page_url = (
        canonical_url(parser.canonical, url)
        or canonical_url(meta.get("og:url", ""), url)
        or canonical_url(url)
    )
    if page_url is None:
        raise ParseError(f"no http(s) URL for page {redact_url(url)}")
    title = plain_text(
        meta.get("og:title") or meta.get("twitter:title") or "".join(parser.title_parts)
    )
    if not title:
        raise ParseError(f"not an article page: no title in {redact_url(url)}")
    summary = plain_text(
        meta.get("og:description")
        or meta.get("description")
        or meta.get("twitter:description")
        or "",
        SUMMARY_MAX,
    )
    image = None
    image_url = absolute_http_url(
        meta.get("og:image:secure_url")
        or meta.get("og:image")
        or meta.get("og:image:url")
        or meta.get("twitter:image")
        or "",
        page_url,
    )
    if image_url:
        alt = meta.get("og:image:alt") or meta.get("twitter:image:alt") or ""
        image = Image(image_url, plain_text(alt))
    author = meta.get("author") or meta.get("article:author") or ""
    if canonical_url(author):  # article:author is often a profile URL, not a name
        author = ""
    section = plain_text(meta.get("article:section", ""))
    tags: list[str] = []
    for tag in (plain_text(t) for t in parser.article_tags):
        if tag and tag.casefold() not in {t.casefold() for t in tags}:
            tags.append(tag)
    return ArticleData(
        guid=page_url,
        url=page_url,
        title=title,
        summary=summary,
        author=plain_text(author),
        categories=(section,) if section else (),
        tags=tuple(tags),
        published=_iso_date(meta.get("article:published_time", "")),
        updated=_iso_date(meta.get("article:modified_time", "")),
        image=image,
    )


def fetch_page_metadata(fetcher: Fetcher, url: str) -> ArticleData:
    """Fetch an article page and read its og:/canonical/<title> metadata.

    ``guid`` and ``url`` are the page's canonical URL (``<link rel=canonical>``,
    then ``og:url``, then the URL after redirects). Raises :class:`FetchError`
    or :class:`ParseError`.
    """
    result = fetcher.fetch(url, headers={"Accept": PAGE_ACCEPT})
    return parse_page_metadata(
        result.body or b"", url=result.final_url, content_type=result.content_type
    )
