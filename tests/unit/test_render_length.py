"""Each channel type's length rule."""

from __future__ import annotations

import pytest

from publisher.render import (
    CharacterLimit,
    FacebookLength,
    LengthRule,
    XWeightedLength,
    length_rule,
)
from publisher.render.length import BlueskyLength, MastodonLength, TelegramLength, graphemes


@pytest.mark.parametrize(
    ("channel_type", "options", "cls", "limit"),
    [
        ("console", None, CharacterLimit, 500),
        ("console", {"max_length": 80}, CharacterLimit, 80),
        ("jsonl", None, CharacterLimit, 5000),
        ("jsonl", {"max_length": 100}, CharacterLimit, 100),
        ("x", None, XWeightedLength, 280),
        ("facebook", None, FacebookLength, 63_206),
        ("mastodon", None, MastodonLength, 500),
        ("mastodon", {"max_length": 1000}, MastodonLength, 1000),
        ("bluesky", None, BlueskyLength, 300),
        ("bluesky", {"max_length": 250}, BlueskyLength, 250),
        ("telegram", None, TelegramLength, 4096),
        ("webhook", None, CharacterLimit, 10_000),
        ("webhook", {"max_length": 280}, CharacterLimit, 280),
        ("unknown", None, CharacterLimit, 500),
    ],
)
def test_length_rule(channel_type: str, options, cls: type, limit: int) -> None:
    rule = length_rule(channel_type, options)
    assert type(rule) is cls
    assert rule.limit == limit
    assert isinstance(rule, LengthRule)
    assert rule.name


@pytest.mark.parametrize("bad", [0, -1, "80", 1.5, True])
def test_bad_max_length(bad) -> None:
    with pytest.raises(ValueError):
        length_rule("console", {"max_length": bad})


def test_characters_count_code_points_after_nfc() -> None:
    rule = CharacterLimit(10)
    assert rule.count("e\u0301") == 1  # é, decomposed
    assert rule.count("🇺🇦") == 2  # two regional indicators
    assert rule.count("日本語") == 3
    assert rule.name == "characters"


def test_facebook_counts_characters() -> None:
    rule = FacebookLength()
    assert rule.count("Ünïcode 😀 https://example.com/" + "x" * 100) == 130
    assert rule.name == "facebook characters"


def test_x_counts_urls_as_23() -> None:
    rule = XWeightedLength()
    link = "https://news.example.com/" + "a" * 300 + "?utm_source=x&utm_medium=social"
    assert rule.count(f"Headline\n\n{link}") == 8 + 2 + 23
    assert rule.parse("x" * 281).valid is False


@pytest.mark.parametrize(
    ("channel_type", "limit", "name"),
    [
        ("linkedin", 3000, "linkedin characters"),
        ("discord", 2000, "discord characters"),
        ("slack", 40_000, "slack characters (Slack truncates beyond)"),
    ],
)
def test_character_platforms(channel_type: str, limit: int, name: str) -> None:
    rule = length_rule(channel_type)
    assert isinstance(rule, CharacterLimit)
    assert (rule.limit, rule.name) == (limit, name)
    assert rule.count("e\u0301😀") == 2
    assert length_rule(channel_type, {"max_length": 100}).limit == 100


@pytest.mark.parametrize("channel_type", ["threads", "linkedin", "discord", "slack", "bluesky",
                                          "telegram"])
def test_max_length_above_the_platform_limit_is_refused(channel_type: str) -> None:
    with pytest.raises(ValueError, match="above what"):
        length_rule(channel_type, {"max_length": 50_000})


def test_mastodon_counts_graphemes_and_urls_as_23() -> None:
    rule = length_rule("mastodon")
    link = "https://news.example.com/" + "a" * 300 + "?utm_source=mastodon"
    assert rule.count(f"Headline\n\n{link}") == 8 + 2 + 23
    assert rule.count(f"({link}).") == 1 + 23 + 2  # trailing punctuation is no part of it
    assert rule.count("http://a.example.com https://b.example.org") == 23 + 1 + 23
    # twitter-text's TLD list decides what is a URL: ".example" is none.
    assert rule.count("http://a.example https://b.example") == 34
    assert rule.count("🏳️‍🌈👩🏽‍🚒") == 2  # grapheme clusters
    assert rule.count("hi @editor@social.example") == len("hi @editor")
    assert rule.name == "mastodon characters (URLs count 23)"


def test_bluesky_counts_extended_grapheme_clusters() -> None:
    rule = length_rule("bluesky")
    assert rule.count("🏳️‍🌈") == 1  # flag sequence with ZWJ
    assert rule.count("👩🏽‍🚒") == 1  # skin tone + ZWJ
    assert rule.count("🇺🇦🇯🇵") == 2  # regional indicator pairs
    assert rule.count("e\u0301") == 1
    assert rule.count("한국어") == 3  # precomposed Hangul syllables
    assert rule.count("\u1100\u1161\u11a8") == 1  # one syllable from conjoining jamo
    assert rule.count("नमस्ते") == 3  # Devanagari: न, म, स्ते (virama conjunct)
    assert rule.count("https://example.com/x") == 21  # links count in full
    assert rule.count("\r\n") == 1
    assert graphemes("a" * 300) == 300
    assert rule.name == "bluesky graphemes"


def test_telegram_counts_code_points() -> None:
    # TDLib's check_message_text compares utf8_length(text) (code points) with
    # the 4096 limit; entity offsets are UTF-16, the limit is not.
    rule = length_rule("telegram")
    assert rule.count("abc") == 3
    assert rule.count("日本語") == 3
    assert rule.count("😀") == 1  # outside the BMP: one code point
    assert rule.count("👩🏽‍🚒") == 4  # a ZWJ sequence: each code point counts
    assert rule.count("e\u0301") == 2  # counted as sent, never normalised down
    assert rule.count("Fire & <smoke>") == 14  # the text after parsing, not its HTML
    assert rule.count("😀" * 4096) == 4096  # fits (UTF-16 would say 8192)
    assert rule.name == "telegram characters (code points)"
