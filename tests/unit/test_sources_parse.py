"""parse_feed: RSS/Atom bodies → ArticleData, and hostile or broken bodies."""

from __future__ import annotations

import logging
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

import feedparser
import pytest

from publisher.exceptions import ParseError
from publisher.sources import parse_feed
from publisher.sources.parse import is_feed_proxy
from publisher.types import Image

FEEDS = Path(__file__).resolve().parents[1] / "data" / "feeds"
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "newsroom.xml"
BASE = "https://news.example/feed/"


def load(name: str) -> bytes:
    return (FEEDS / name).read_bytes()


@pytest.fixture(scope="module")
def edge() -> dict[str, object]:
    return {a.guid: a for a in parse_feed(load("rss_edge_cases.xml"), base_url=BASE)}


def test_title_html_and_double_encoded_entities_become_plain_text(edge):
    article = edge["https://news.example/?p=1"]
    assert article.title == "Fish & Chips: bold claims “best in town”"


def test_summary_prefers_description_and_drops_script_and_style(edge):
    article = edge["https://news.example/?p=1"]
    assert article.summary == "Hello world, & more text."
    assert "alert" not in article.summary and "color" not in article.summary


def test_link_is_canonical_without_tracking_params_or_fragment(edge):
    article = edge["https://news.example/?p=1"]
    assert article.url == "https://news.example/2026/11/fish?id=7&page=2"


def test_categories_are_plain_deduped_and_ordered(edge):
    article = edge["https://news.example/?p=1"]
    assert article.categories == ("Food & Drink", "Local")
    assert article.tags == ()
    assert article.author == "Ana Ruiz"


def test_dates_are_utc_aware(edge):
    article = edge["https://news.example/?p=1"]
    assert article.published == datetime(2026, 11, 16, 9, 0, tzinfo=UTC)


def test_cjk_emoji_rtl_title_and_relative_link(edge):
    article = edge["cjk-1"]
    assert article.title == "北京发布新的空气质量报告 🌫️ — مرحبا بالعالم"
    assert article.url == "https://news.example/2026/11/cjk-rtl"
    # ZWJ sequences and RTL marks are text, not control characters.
    assert "👩\u200d👩\u200d👧" in article.summary and "\u200f" in article.summary


def test_javascript_and_mailto_links_drop_the_entry(edge):
    assert "js-1" not in edge
    assert "mail-1" not in edge
    assert all(a.url.startswith("https://") for a in edge.values())


def test_missing_guid_falls_back_to_canonical_link(edge):
    assert "https://news.example/2026/11/no-guid" in edge


def test_entry_with_neither_guid_nor_link_is_dropped(edge):
    assert not any(a.title == "Neither guid nor link" for a in edge.values())


def test_missing_title_uses_first_words_of_summary(edge):
    article = edge["untitled-1"]
    assert article.title.startswith("A summary that will have to stand in")
    assert len(article.title) <= 100 and article.title.endswith("…")
    assert "  " not in article.title


def test_entry_without_title_or_summary_is_dropped(edge):
    assert "empty-1" not in edge


def test_future_dates_are_kept_and_1970_is_none(edge):
    assert edge["future-1"].published == datetime(2099, 1, 1, tzinfo=UTC)
    assert edge["epoch-1"].published is None


def test_image_order_thumbnail_before_enclosure_and_made_absolute(edge):
    assert edge["thumb-1"].image == Image("https://news.example/img/thumb.jpg", "")
    assert edge["enc-1"].image == Image("https://news.example/img/enc.jpg", "")


def test_inline_img_with_alt_and_data_uri_ignored(edge):
    assert edge["inline-1"].image == Image("https://news.example/img/inline.png", 'A "quoted" alt')
    assert edge["data-1"].image is None


def test_entries_keep_document_order():
    guids = [a.guid for a in parse_feed(load("rss_edge_cases.xml"), base_url=BASE)]
    assert guids[:2] == ["https://news.example/?p=1", "cjk-1"]


def test_atom_xml_base_label_and_content_fallback():
    articles = parse_feed(load("atom_xmlbase.xml"), base_url="https://elsewhere.example/feed")
    one, two = articles
    assert one.url == "https://blog.example/news/2026/one.html"
    assert one.title == "Atom entry one"
    assert one.summary == "Only content here,"
    assert one.categories == ("Politics", "city")
    assert one.published == datetime(2026, 11, 20, 22, 0, tzinfo=UTC)
    assert one.updated == datetime(2026, 11, 20, 18, 30, 2, tzinfo=UTC)
    assert one.image == Image("https://blog.example/news/img/one.jpg", "One")
    assert one.author == "Sam Lee"
    assert two.url == "https://blog.example/other/two.html"
    assert two.summary == "The summary wins over content."


def test_bom_is_not_a_problem():
    (article,) = parse_feed(load("bom_utf8.xml"), base_url="https://bom.example/feed")
    assert article.title == "Café with BOM"


def test_declared_encoding_mismatch_does_not_crash():
    (article,) = parse_feed(load("encoding_mismatch.xml"), base_url="https://mismatch.example/")
    assert article.title.startswith("Caf") and article.title.endswith("in latin-1 bytes")
    assert article.guid == "mm-1"


def test_content_type_charset_disagreeing_with_body_does_not_crash():
    articles = parse_feed(
        load("bom_utf8.xml"),
        base_url="https://bom.example/feed",
        content_type="text/xml; charset=iso-8859-1",
    )
    assert len(articles) == 1


def test_max_entries_keeps_the_first_n_and_warns(caplog):
    items = "".join(
        f"<item><title>Story {i}</title><link>https://big.example/{i}</link>"
        f"<guid>g{i}</guid></item>"
        for i in range(10_000)
    )
    body = f'<rss version="2.0"><channel><title>Big</title>{items}</channel></rss>'.encode()
    with caplog.at_level(logging.WARNING, logger="publisher.sources"):
        articles = parse_feed(body, base_url="https://big.example/feed", max_entries=500)
    assert len(articles) == 500
    assert [a.guid for a in articles[:3]] == ["g0", "g1", "g2"]
    assert articles[-1].guid == "g499"
    assert any("max_entries" in r.getMessage() for r in caplog.records)


def test_duplicate_guids_are_all_returned_for_the_decider():
    body = (
        b'<rss version="2.0"><channel><title>D</title>'
        b"<item><title>A</title><link>https://d.example/a</link><guid>same</guid></item>"
        b"<item><title>B</title><link>https://d.example/b</link><guid>same</guid></item>"
        b"</channel></rss>"
    )
    assert [a.title for a in parse_feed(body, base_url="https://d.example/")] == ["A", "B"]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (load("error_page.html"), "HTML"),
        (b"", "empty"),
        (b"   \n", "empty"),
        (b"\x00\x01\x02 garbage \xff\xfe", ""),
        (b'{"not": "a feed"}', ""),
    ],
)
def test_not_a_feed_raises_parse_error(body, reason):
    with pytest.raises(ParseError, match="not a feed") as info:
        parse_feed(body, base_url=BASE)
    assert reason in str(info.value)


def test_feed_without_entries_is_an_empty_list():
    body = b'<rss version="2.0"><channel><title>Quiet</title></channel></rss>'
    assert parse_feed(body, base_url=BASE) == []


def test_billion_laughs_is_refused_quickly_and_cheaply():
    tracemalloc.start()
    try:
        with pytest.raises(ParseError, match="entities"):
            parse_feed(load("billion_laughs.xml"), base_url=BASE)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20 * 1024 * 1024


def test_feedparser_itself_does_not_expand_billion_laughs():
    # Second line of defence, should the pre-check ever miss a declaration.
    import io

    parsed = feedparser.parse(io.BytesIO(load("billion_laughs.xml")))
    assert all(len(e.get("title", "")) < 1000 for e in parsed.entries)


def _xxe_body(secret_file: Path, kind: str) -> bytes:
    uri = secret_file.as_uri()
    decl = {
        "general": f'<!ENTITY xxe SYSTEM "{uri}">',
        "public": f'<!ENTITY xxe PUBLIC "-//X//Y" "{uri}">',
        "parameter": f'<!ENTITY % xxe SYSTEM "{uri}"> %xxe;',
    }[kind]
    return (
        f'<?xml version="1.0"?>\n<!DOCTYPE rss [{decl}]>\n'
        '<rss version="2.0"><channel><title>T &xxe;</title><link>https://x.example/</link>'
        "<item><title>Leak &xxe;</title><link>https://x.example/1</link><guid>x1</guid>"
        "<description>&xxe;</description></item></channel></rss>"
    ).encode()


@pytest.mark.parametrize("kind", ["general", "public", "parameter"])
def test_xxe_is_refused(tmp_path, kind):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-7f3a9c")
    with pytest.raises(ParseError, match="external XML entities") as info:
        parse_feed(_xxe_body(secret, kind), base_url=BASE)
    assert "TOP-SECRET" not in str(info.value)


def test_feedparser_itself_does_not_read_external_entities(tmp_path):
    import io

    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-7f3a9c")
    parsed = feedparser.parse(io.BytesIO(_xxe_body(secret, "general")))
    assert "TOP-SECRET" not in repr(parsed)


def test_simple_internal_entity_declarations_are_allowed():
    body = (
        b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY nbsp "&#160;">]>'
        b'<rss version="2.0"><channel><title>T</title><item><title>A&nbsp;B</title>'
        b"<link>https://e.example/1</link></item></channel></rss>"
    )
    (article,) = parse_feed(body, base_url="https://e.example/")
    assert article.title == "A B"


def test_a_body_that_looks_like_a_path_is_never_opened(tmp_path):
    # feedparser opens a str/bytes argument as a file name; we must pass the body itself.
    target = tmp_path / "feed.xml"
    target.write_bytes(load("bom_utf8.xml"))
    with pytest.raises(ParseError):
        parse_feed(str(target).encode(), base_url=BASE)


def test_bundled_example_feed():
    articles = parse_feed(EXAMPLE.read_bytes(), base_url="https://riverside-ledger.example/feed/")
    assert len(articles) == 12
    first = articles[0]
    assert first.guid == "https://riverside-ledger.example/?p=18442"
    assert first.author == "Maya Okafor"
    assert first.categories == ("Local Government", "Transportation")
    assert "appeared first on" not in first.summary
    assert first.image is not None and first.image.alt.startswith("The Old Mill Bridge")
    titles = [a.title for a in articles]
    assert "Fish & Chips Friday returns to the Harbor Street market" in titles
    assert any("“We were never told” —" in t for t in titles)
    assert any("amplía" in t for t in titles)
    assert any("🏆" in t for t in titles)
    assert all(a.image and a.image.alt for a in articles)
    assert all(
        a.published and a.published.year == 2026 and a.published.month == 11 for a in articles
    )


# --- feed proxies: the article's own link, never the proxy's --------------------------------

_PROXIED_RSS = b"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:feedburner="http://rssnamespace.org/feedburner/ext/1.0"
     xmlns:pheedo="http://www.pheedo.com/namespace/pheedo">
<channel><title>T</title><link>https://news.example/</link>
<item><title>Burner</title><link>http://feedproxy.google.com/~r/news/~3/abc/</link>
<guid isPermaLink="false">https://news.example/?p=1</guid>
<feedburner:origLink>https://news.example/2025/01/burner/?utm_source=feedburner</feedburner:origLink>
<description>Text &lt;img src="http://feeds.feedburner.com/~r/news/~4/abc" height="1"
 width="1" alt=""/&gt;</description></item>
<item><title>Pheedo</title><link>http://ads.pheedo.com/click.phdo?s=xyz&amp;p=1</link>
<pheedo:origLink>https://news.example/2025/01/pheedo/</pheedo:origLink></item>
<item><title>Proxy only, permalink guid</title><link>http://feedproxy.google.com/~r/news/~3/def/</link>
<guid isPermaLink="false">https://news.example/2025/01/guid-story/</guid></item>
<item><title>Proxy only</title><link>http://feedproxy.google.com/~r/news/~3/ghi/</link>
<guid isPermaLink="false">ghi-123</guid></item>
</channel></rss>"""

_PROXIED_ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>T</title>
<entry><title>Two alternates</title><id>tag:news.example,2025:1</id>
<link rel="alternate" type="text/html" href="http://feeds.feedburner.com/~r/news/~3/1/story.html"/>
<link rel="alternate" type="text/html" hreflang="en" href="https://news.example/2025/01/story.html"/>
<content type="html">&lt;img src="http://feeds.feedburner.com/~ff/news?i=x" /&gt; Body</content>
<updated>2025-01-01T00:00:00Z</updated></entry>
</feed>"""


def test_feedburner_and_pheedo_origlink_are_the_articles_url():
    burner, pheedo, guid_story, proxy_only = parse_feed(_PROXIED_RSS, base_url=BASE)
    assert burner.url == "https://news.example/2025/01/burner/"  # tracking params dropped
    assert burner.image is None  # the proxy's tracking pixel is no picture
    assert pheedo.url == "https://news.example/2025/01/pheedo/"
    assert guid_story.url == "https://news.example/2025/01/guid-story/"
    # nothing better than the proxy: kept, so the story is not lost
    assert proxy_only.url == "http://feedproxy.google.com/~r/news/~3/ghi/"


def test_atom_alternate_on_the_site_beats_the_proxys_alternate():
    [entry] = parse_feed(_PROXIED_ATOM, base_url=BASE)
    assert entry.url == "https://news.example/2025/01/story.html"
    assert entry.image is None


@pytest.mark.parametrize(("url", "proxy"), [
    ("http://feedproxy.google.com/~r/x/~3/y/", True),
    ("http://feeds.feedburner.com/~r/x/~4/y", True),
    ("http://ads.pheedo.com/click.phdo?s=1", True),
    ("http://da.feedsportal.com/r/1/rss.htm", True),
    ("https://news.example/feedburner-story", False),
    ("https://notfeedburner.com/x", False),
])
def test_is_feed_proxy(url, proxy):
    assert is_feed_proxy(url) is proxy
