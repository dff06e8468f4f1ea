"""parse_wordpress and wordpress_posts_url."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from publisher.exceptions import ParseError
from publisher.sources import parse_wordpress, wordpress_posts_url
from publisher.types import Image

FEEDS = Path(__file__).resolve().parents[1] / "data" / "feeds"
BASE = "https://riverside-ledger.example/wp-json/wp/v2/posts"


@pytest.fixture(scope="module")
def posts():
    return parse_wordpress((FEEDS / "wp_posts.json").read_bytes(), base_url=BASE)


def test_published_post_fields(posts):
    post = posts[0]
    assert post.guid == "https://riverside-ledger.example/?p=18442"
    assert post.url == (
        "https://riverside-ledger.example/2026/11/21/council-approves-old-mill-bridge-rebuild/"
    )
    assert post.title == "Council approves $4.2 million plan – “finally”"
    assert post.summary == "After two years of debate, the council voted 6–1 on Friday. […]"
    assert post.author == "Maya Okafor"
    assert post.published == datetime(2026, 11, 21, 17, 30, tzinfo=UTC)
    assert post.updated == datetime(2026, 11, 21, 18, 0, tzinfo=UTC)
    assert post.categories == ("Local Government", "Roads & Bridges")
    assert post.tags == ("infrastructure",)
    assert post.image == Image(
        "https://riverside-ledger.example/wp-content/uploads/2026/11/bridge.jpg",
        "The Old Mill Bridge & barriers",
    )


def test_drafts_and_bad_links_are_skipped(posts):
    assert [p.guid for p in posts] == [
        "https://riverside-ledger.example/?p=18442",
        "https://riverside-ledger.example/?p=18440&lang=es",
    ]


def test_missing_title_epoch_date_and_embedded_errors(posts):
    post = posts[1]
    assert post.title.startswith("La biblioteca amplía su horario")
    assert post.url == "https://riverside-ledger.example/es/2026/11/20/biblioteca/"
    assert post.published is None  # 1970 is a CMS default, not a date
    assert post.updated == datetime(2026, 11, 20, 10, tzinfo=UTC)
    assert post.author == ""
    assert post.image is None


def test_guid_falls_back_to_link():
    body = json.dumps([{"link": "https://e.example/a", "title": {"rendered": "A"}}]).encode()
    (post,) = parse_wordpress(body, base_url=BASE)
    assert post.guid == "https://e.example/a"


def test_max_entries():
    body = json.dumps(
        [{"link": f"https://e.example/{i}", "title": {"rendered": f"T{i}"}} for i in range(30)]
    ).encode()
    assert [p.title for p in parse_wordpress(body, base_url=BASE, max_entries=3)] == [
        "T0",
        "T1",
        "T2",
    ]


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (
            b'{"code":"rest_no_route","message":"No route was found","data":{"status":404}}',
            "rest_no_route",
        ),
        (b'{"posts": []}', "JSON list"),
        (b"<html>not json</html>", "not JSON"),
        (b"", "not JSON"),
        (b"\xff\xfe\x00", "not JSON"),
    ],
)
def test_not_a_posts_list(body, match):
    with pytest.raises(ParseError, match=match):
        parse_wordpress(body, base_url=BASE)


def test_bom_and_empty_list():
    assert parse_wordpress(b"\xef\xbb\xbf[]", base_url=BASE) == []


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (
            "https://example.org",
            "https://example.org/wp-json/wp/v2/posts?_embed=1&status=publish&per_page=20"
            "&orderby=date&order=desc",
        ),
        (
            "https://example.org/blog/",
            "https://example.org/blog/wp-json/wp/v2/posts?_embed=1&status=publish&per_page=20"
            "&orderby=date&order=desc",
        ),
        (
            "https://example.org/wp-json/wp/v2/posts?_embed&per_page=5",
            "https://example.org/wp-json/wp/v2/posts?_embed&per_page=5&status=publish"
            "&orderby=date&order=desc",
        ),
        (
            "https://example.org/wp-json/wp/v2/posts?categories=4",
            "https://example.org/wp-json/wp/v2/posts?categories=4&_embed=1&status=publish"
            "&per_page=20&orderby=date&order=desc",
        ),
    ],
)
def test_wordpress_posts_url(given, expected):
    assert wordpress_posts_url(given) == expected


def test_wordpress_posts_url_per_page():
    assert "per_page=50" in wordpress_posts_url("https://example.org", per_page=50)
