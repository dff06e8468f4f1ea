"""Threads' length rule: 500 characters, an emoji counting its UTF-8 bytes.

Meta, "Threads Posts", Limitations: "Text posts are limited to 500 characters.
Emojis are counted as the number of UTF-8 bytes."
"""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from publisher.render.length import ThreadsLength, length_rule
from tests.fakes.threads_server import threads_length


@pytest.mark.parametrize(("text", "expected"), [
    ("plain words", 11),
    ("e\u0301", 1),  # one character once NFC-normalised
    ("Ünïcode 東京", 10),  # letters and CJK count 1 each: they are no emoji
    ("😀", 4),
    ("Flood 🌊 warning", 6 + 4 + 8),
    ("❤️", 6),  # U+2764 U+FE0F: 3 + 3 bytes
    ("🧑‍💻", 11),  # a ZWJ sequence: 4 + 3 + 4
    ("👩🏽‍🚒", 15),  # skin tone and joiner included
    ("🇫🇷", 8),  # a flag: two regional indicators
    ("1️⃣", 7),  # a keycap: 1 + 3 + 3
    ("©", 2),  # a pictograph outside the astral planes
])
def test_emoji_count_their_utf8_bytes(text: str, expected: int) -> None:
    rule = length_rule("threads")
    assert isinstance(rule, ThreadsLength)
    assert (rule.limit, rule.count(text)) == (500, expected)
    assert threads_length(text) == expected  # the fake reads the documents the same way


def test_an_emoji_heavy_text_is_over_the_limit() -> None:
    # 130 emoji are 130 code points but 520 UTF-8 bytes: over what Threads takes.
    assert length_rule("threads").count("🌊" * 130) == 520


def test_max_length_and_name() -> None:
    rule = length_rule("threads", {"max_length": 280})
    assert rule.limit == 280
    assert "UTF-8" in rule.name


@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=60))
def test_never_below_code_points_and_never_above_bytes(text: str) -> None:
    normal = unicodedata.normalize("NFC", text)
    count = length_rule("threads").count(text)
    assert len(normal) <= count <= len(normal.encode("utf-8"))
    assert count == threads_length(text)
