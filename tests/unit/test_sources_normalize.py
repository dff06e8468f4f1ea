"""canonical_url and plain_text."""

from __future__ import annotations

import pytest

from publisher.sources import canonical_url, plain_text


@pytest.mark.parametrize(
    ("url", "base", "expected"),
    [
        ("HTTP://News.Example:80/a/b", None, "http://news.example/a/b"),
        ("https://news.example:443/a", None, "https://news.example/a"),
        ("https://news.example:8443/a", None, "https://news.example:8443/a"),
        ("https://news.example", None, "https://news.example/"),
        ("https://news.example/a#comments", None, "https://news.example/a"),
        ("https://user:pw@news.example/a", None, "https://news.example/a"),
        ("/2026/story?id=3", "https://news.example/feed/", "https://news.example/2026/story?id=3"),
        ("story.html", "https://news.example/feed/", "https://news.example/feed/story.html"),
        ("//cdn.example/x", "https://news.example/", "https://cdn.example/x"),
        ("  https://news.example/a\n/b \t", None, "https://news.example/a/b"),
        # tracking parameters go, the rest stays in order and byte for byte
        (
            "https://n.example/a?utm_source=x&z=1&UTM_Medium=y&fbclid=f&a=%20b&gclid=g&m=",
            None,
            "https://n.example/a?z=1&a=%20b&m=",
        ),
        (
            "https://n.example/a?dclid=1&msclkid=2&mc_cid=3&mc_eid=4&_ga=5&igshid=6&ref_src=7",
            None,
            "https://n.example/a",
        ),
        ("https://n.example/a?pk_campaign=1&id=2&&", None, "https://n.example/a?id=2"),
        ("https://n.example/a?ref=home", None, "https://n.example/a?ref=home"),
        # non-ASCII is percent-encoded and the host IDNA-encoded, so both spellings match
        ("https://bücher.example/straße", None, "https://xn--bcher-kva.example/stra%C3%9Fe"),
        (
            "https://xn--bcher-kva.example/stra%C3%9Fe",
            None,
            "https://xn--bcher-kva.example/stra%C3%9Fe",
        ),
    ],
)
def test_canonical_url(url, base, expected):
    assert canonical_url(url, base) == expected


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        "data:text/html,<b>x</b>",
        "mailto:desk@news.example",
        "ftp://news.example/file",
        "",
        "   ",
        "http://",
        "https://[::1",
        "https://news.example:99999/",
        "not a url",
    ],
)
def test_canonical_url_rejects_non_http(url):
    assert canonical_url(url) is None


def test_relative_url_without_base_is_none():
    assert canonical_url("/only/a/path") is None


def test_javascript_stays_rejected_even_with_a_base():
    assert canonical_url("javascript:alert(1)", "https://news.example/") is None


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        ("<p>Hello <b>world</b></p>", "Hello world"),
        ("<p>one</p><p>two</p>", "one two"),
        ("a<br>b", "a b"),
        ("x <script>alert('hi')</script> y", "x y"),
        ("<style>p { color: red }</style>Text", "Text"),
        ("Fish &amp; Chips", "Fish & Chips"),
        ("Fish &amp;amp; Chips", "Fish & Chips"),
        ("&#8220;Quoted&#8221; &mdash; yes", "“Quoted” — yes"),
        ("&amp;#8217;s", "’s"),
        ("AT&T and 5 < 6", "AT&T and 5 < 6"),
        ("  lots\n\tof \u00a0 space  ", "lots of space"),
        ("bell\x07and\x00nul\x1b", "bell and nul"),
        ("e\u0301", "é"),  # NFC
        ("北京 🌫️ مرحبا", "北京 🌫️ مرحبا"),
        ("👩\u200d👩\u200d👧", "👩\u200d👩\u200d👧"),
        ("", ""),
    ],
)
def test_plain_text(html, expected):
    assert plain_text(html) == expected


def test_plain_text_nfc_is_composed_form():
    assert plain_text("e\u0301") == "\u00e9"


def test_plain_text_cuts_at_word_boundary():
    text = plain_text("<p>" + "word " * 300 + "</p>", max_length=1000)
    assert len(text) <= 1000
    assert text.endswith("word…")
    assert "  " not in text


def test_plain_text_cuts_a_single_long_word():
    text = plain_text("x" * 50, max_length=10)
    assert text == "xxxxxxxxx…"


def test_plain_text_short_text_not_cut():
    assert plain_text("short", max_length=10) == "short"
