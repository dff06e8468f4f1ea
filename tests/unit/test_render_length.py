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


@pytest.mark.parametrize(
    ("channel_type", "options", "cls", "limit"),
    [
        ("console", None, CharacterLimit, 500),
        ("console", {"max_length": 80}, CharacterLimit, 80),
        ("jsonl", None, CharacterLimit, 5000),
        ("jsonl", {"max_length": 100}, CharacterLimit, 100),
        ("x", None, XWeightedLength, 280),
        ("facebook", None, FacebookLength, 63_206),
        ("mastodon", None, CharacterLimit, 500),
        ("mastodon", {"max_length": 1000}, CharacterLimit, 1000),
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
