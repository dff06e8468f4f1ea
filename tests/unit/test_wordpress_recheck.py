"""The pure parts of noticing the CMS (issue 13): a WordPress post id from
its guid, the ``include=`` requests that re-check recent articles, and
whether a source changed an article's title or summary."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from publisher.sources.wordpress import (
    changed_text,
    wordpress_id,
    wordpress_include_urls,
    wordpress_posts_url,
)
from publisher.types import ArticleData

T0 = datetime(2026, 12, 2, 9, tzinfo=UTC)


@pytest.mark.parametrize(("guid", "expected"), [
    ("https://news.example/?p=42", 42),
    ("https://news.example/blog/?p=7&amp=1", 7),
    ("http://news.example/?page_id=3", None),
    ("https://news.example/2026/12/story/", None),
    ("https://news.example/?p=-1", None),
    ("https://news.example/?p=4x", None),
    ("", None),
])
def test_wordpress_id(guid: str, expected: int | None) -> None:
    assert wordpress_id(guid) == expected


def test_include_urls_ask_for_exactly_the_ids_published_only() -> None:
    base = wordpress_posts_url("https://news.example/")
    [url] = wordpress_include_urls(base, [12, 3])
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    assert parts.path == "/wp-json/wp/v2/posts"
    assert query["include"] == ["3,12"] and query["per_page"] == ["2"]
    assert query["status"] == ["publish"] and query["_embed"] == ["1"]


def test_include_urls_stay_within_the_per_page_ceiling() -> None:
    urls = wordpress_include_urls(wordpress_posts_url("https://news.example/"),
                                  list(range(1, 251)))
    pages = [parse_qs(urlsplit(u).query) for u in urls]
    assert [p["per_page"] for p in pages] == [["100"], ["100"], ["50"]]
    assert sum(len(p["include"][0].split(",")) for p in pages) == 250


def art(title: str = "Bridge reopens", summary: str = "The river crossing.",
        updated: datetime | None = None) -> ArticleData:
    return ArticleData(guid="g", url="https://news.example/a", title=title, summary=summary,
                       updated=updated)


@pytest.mark.parametrize(("stored", "now", "changed"), [
    (art(), art(), False),
    (art(), art("Bridge reopens Monday"), True),
    (art(), art(summary="The river crossing, again."), True),
    (art(), art("Bridge  reopens"), False),  # spacing only
    # WordPress: modified_gmt moved on with the new title
    (art(updated=T0), art("Bridge reopens Monday", updated=T0 + timedelta(minutes=5)), True),
    # ... and did not: the same revision read differently is no correction
    (art(updated=T0), art("Bridge reopens Monday", updated=T0), False),
    (art(updated=T0), art("Bridge reopens Monday", updated=None), True),
])
def test_changed_text(stored: ArticleData, now: ArticleData, changed: bool) -> None:
    assert changed_text(stored, now) is changed
