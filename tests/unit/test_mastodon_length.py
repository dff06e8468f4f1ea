"""Mastodon's length rule for URLs, after Mastodon's own URL pattern
(config/initializers/twitter_regex.rb) and StatusLengthValidator."""

from __future__ import annotations

import pytest

from publisher.render import length_rule
from publisher.render.mastodon_text import mastodon_url_spans

CASES = [
    # (name, text, Mastodon's count)
    ("raw non-ASCII path is one URL", "https://de.example.com/straße-über-brücke", 23),
    ("CJK path is one URL", "https://example.jp/記事/東京-大雨", 23),
    ("CJK text before the URL", "速報https://example.jp/記事", 2 + 23),
    ("Japanese quotes are not the path's end", "「https://example.jp/記事」", 1 + 23 + 1),
    ("full stop after a non-ASCII path", "https://de.example.com/straße.", 23 + 1),
    ("a path never ends on %", "https://example.com/50%", 23 + 1),
    ("nor on ~ or &", "https://example.com/a~ https://example.com/b&", 23 + 1 + 1 + 23 + 1),
    ("balanced parentheses are inside", "https://en.example.org/wiki/Foo_(bar)", 23),
    ("an unbalanced one is not", "(https://example.com/x)", 1 + 23 + 1),
    ("non-ASCII query", "https://example.com/s?q=café", 23),
    ("query ending on a full stop", "https://example.com/s?q=1.", 23 + 1),
    ("no scheme, no URL", "example.com/straße", len("example.com/straße")),
    ("not after a letter", "seehttps://example.com/x", len("seehttps://example.com/x")),
    ("an unknown TLD is no URL", "https://intranet.localnews/" + "a" * 40,
     len("https://intranet.localnews/") + 40),
    ("gemini counts too", "gemini://example.org/記事", 23),
    ("long path, long URL", "https://news.example.com/" + "ü" * 400, 23),
]


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_mastodon_counts_urls_as_mastodon_does(text: str, expected: int) -> None:
    assert length_rule("mastodon").count(text) == expected


def test_spans_are_the_urls() -> None:
    text = "「https://example.jp/記事」 and https://de.example.com/straße."
    spans = mastodon_url_spans(text)
    assert [text[a:b] for a, b in spans] == ["https://example.jp/記事",
                                            "https://de.example.com/straße"]
