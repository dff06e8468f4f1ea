"""parse_page_metadata: an article page's <head> → ArticleData (no network)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from publisher.exceptions import ParseError
from publisher.sources import parse_page_metadata
from publisher.types import Image

PAGE = (Path(__file__).resolve().parents[1] / "data" / "feeds" / "article_page.html").read_bytes()
URL = "https://riverside-ledger.example/?p=18442&utm_source=x"


def test_open_graph_and_canonical():
    article = parse_page_metadata(PAGE, url=URL, content_type="text/html; charset=utf-8")
    canonical = (
        "https://riverside-ledger.example/2026/11/21/council-approves-old-mill-bridge-rebuild/"
    )
    assert article.guid == canonical and article.url == canonical
    assert article.title == "Council approves $4.2 million plan & a new bridge"
    assert article.summary == "After two years of debate, the council voted 6–1."
    assert article.image == Image(
        "https://riverside-ledger.example/wp-content/uploads/2026/11/bridge.jpg",
        "The Old Mill Bridge",
    )
    assert article.published == datetime(2026, 11, 21, 17, 30, tzinfo=UTC)
    assert article.updated == datetime(2026, 11, 21, 18, 0, tzinfo=UTC)
    assert article.author == "Maya Okafor"
    assert article.categories == ("Local Government",)
    assert article.tags == ("bridges", "budget")


def test_fallbacks_to_title_and_meta_description():
    body = (
        b"<html><head><meta charset='iso-8859-1'><title>Caf\xe9 news</title>"
        b"<meta name='description' content='Plain &amp; simple'>"
        b"<meta property='article:author' content='https://x.example/author/a'>"
        b"</head><body><p>text</p></body></html>"
    )
    article = parse_page_metadata(body, url="https://x.example/a?utm_medium=m#top")
    assert article.title == "Café news"
    assert article.summary == "Plain & simple"
    assert article.url == "https://x.example/a" == article.guid
    assert article.author == "" and article.image is None and article.published is None


def test_page_without_title_is_a_parse_error():
    with pytest.raises(ParseError, match="no title"):
        parse_page_metadata(b"<html><head></head><body>hi</body></html>", url="https://x.example/")


def test_non_html_content_type_is_a_parse_error():
    with pytest.raises(ParseError, match="not an HTML page"):
        parse_page_metadata(b"\x89PNG", url="https://x.example/p.png", content_type="image/png")
