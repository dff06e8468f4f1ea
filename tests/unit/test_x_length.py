"""X's weighted length against twitter-text's own conformance data.

The cases are read from a copy in ``tests/data/twitter-text`` (Apache 2.0,
with its LICENSE), so the suite runs from a fresh clone; when the project's
shared data is beside the repository (``../shared/data/twitter-text``), a
test checks that the copy is still the same.  ``validate.yml`` holds the
counts, ``extract.yml`` and ``tlds.yml`` what counts as a URL (every URL counts
23, so URL detection is part of the length).
"""

from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from publisher.render import XWeightedLength, length_rule, parse_tweet
from publisher.render.twitter_text import V1, V2, V3, emoji_spans, extract_url_spans
from tests.fakes import twitter_text_reference as reference

DATA = Path(__file__).resolve().parents[1] / "data" / "twitter-text"
SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "twitter-text"

#: validate.yml section → the configuration twitter-text runs it with.
WEIGHTED_SECTIONS = {
    "WeightedTweetsCounterTest": V2,
    "WeightedTweetsWithDiscountedEmojiCounterTest": V3,
    "UnicodeDirectionalMarkerCounterTest": V3,
}
URL_SECTIONS = (
    "urls",
    "urls_with_indices",
    "urls_with_directional_markers",
    "tco_urls_with_params",
)


def _load(name: str) -> dict:
    path = DATA / name
    assert path.is_file(), f"conformance data missing: {path}"
    return yaml.safe_load(path.read_text(encoding="utf-8"))["tests"]


def _slug(text: str) -> str:
    return re.sub(r"[^0-9A-Za-z]+", "-", text).strip("-")[:60].lower()


def _cases(data: dict, sections) -> list:
    params = []
    for section in sections:
        for number, case in enumerate(data[section], 1):
            ident = f"{section}-{number:02d}-{_slug(case['description'])}"
            params.append(pytest.param(section, case, id=ident))
    return params


VALIDATE = _load("validate.yml")
EXTRACT = _load("extract.yml")
TLDS = _load("tlds.yml")


@pytest.mark.parametrize(("section", "case"), _cases(VALIDATE, WEIGHTED_SECTIONS))
def test_weighted_length(section: str, case: dict) -> None:
    result = parse_tweet(case["text"], WEIGHTED_SECTIONS[section])
    got = {
        "weightedLength": result.weighted_length,
        "valid": result.valid,
        "permillage": result.permillage,
        "displayRangeStart": result.display_range_start,
        "displayRangeEnd": result.display_range_end,
        "validRangeStart": result.valid_range_start,
        "validRangeEnd": result.valid_range_end,
    }
    assert got == case["expected"]


@pytest.mark.parametrize(
    ("section", "case"),
    _cases(
        VALIDATE,
        ["WeightedTweetsWithDiscountedEmojiCounterTest", "UnicodeDirectionalMarkerCounterTest"],
    ),
)
def test_x_rule_counts_like_v3(section: str, case: dict) -> None:
    rule = length_rule("x")
    assert rule.count(case["text"]) == case["expected"]["weightedLength"]
    assert (rule.count(case["text"]) <= rule.limit) is (case["expected"]["weightedLength"] <= 280)


@pytest.mark.parametrize(("section", "case"), _cases(VALIDATE, ["tweets"]))
def test_tweet_validity_with_v1_config(section: str, case: dict) -> None:
    # The "tweets" section predates weighted counting: 140 code points, URLs 23.
    assert parse_tweet(case["text"], V1).valid is case["expected"]


@pytest.mark.parametrize(("section", "case"), _cases(EXTRACT, URL_SECTIONS))
def test_url_extraction(section: str, case: dict) -> None:
    spans = extract_url_spans(case["text"])
    expected = case["expected"]
    if expected and isinstance(expected[0], dict):
        assert [{"url": case["text"][a:b], "indices": [a, b]} for a, b in spans] == expected
    else:
        assert [case["text"][a:b] for a, b in spans] == expected


@pytest.mark.parametrize(("section", "case"), _cases(TLDS, ["country", "generic"]))
def test_every_tld_makes_a_url(section: str, case: dict) -> None:
    assert [case["text"][a:b] for a, b in extract_url_spans(case["text"])] == case["expected"]


def test_v3_matches_the_shipped_configuration() -> None:
    config = json.loads((DATA / "v3.json").read_text(encoding="utf-8"))
    assert config == {
        "version": V3.version,
        "maxWeightedTweetLength": V3.max_weighted_tweet_length,
        "scale": V3.scale,
        "defaultWeight": V3.default_weight,
        "emojiParsingEnabled": V3.emoji_parsing_enabled,
        "transformedURLLength": V3.transformed_url_length,
        "ranges": [{"start": s, "end": e, "weight": w} for s, e, w in V3.ranges],
    }
    rule = XWeightedLength()
    assert (rule.limit, rule.name) == (280, "x weighted (URLs count 23)")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("🇺🇦", 2, id="flag"),
        pytest.param("#️⃣", 2, id="keycap-with-vs16"),
        pytest.param("©", 1, id="copyright-text"),
        pytest.param("©️", 2, id="copyright-emoji"),
        pytest.param("❤︎", 4, id="text-presentation-is-no-emoji"),
        pytest.param("❤️", 2, id="heart-emoji"),
        pytest.param("🧑🏾‍🤝‍🧑🏼", 2, id="zwj-with-skin-tones"),
        pytest.param("🏳️‍🌈", 2, id="rainbow-flag"),
        pytest.param("👨‍", 3, id="dangling-zwj-counts-alone"),
        pytest.param("a" * 279 + "é", 280, id="nfc-before-counting"),
        pytest.param(
            "Read: news.example.com/a-very-long-path/" + "x" * 200, 29, id="bare-domain-23"
        ),
        pytest.param("スポーツ", 8, id="kana-weigh-2"),
        pytest.param("שלום עולם", 9, id="hebrew-weighs-1"),
        pytest.param("مرحبا", 5, id="arabic-weighs-1"),
        pytest.param("“quoted” — dash", 15, id="general-punctuation"),
        # Issue 11: a sequence counts 2 only when twitter-text's pattern knows it.
        pytest.param("🧑‍💻", 2, id="technologist-in-the-pattern"),
        pytest.param("🏳️‍⚧️", 2, id="transgender-flag-in-the-pattern"),
        pytest.param("👩‍❤️‍👨", 2, id="couple-with-heart-in-the-pattern"),
        pytest.param("🐻‍❄️", 5, id="polar-bear-newer-than-the-pattern"),
        pytest.param("❤️‍🔥", 5, id="heart-on-fire-newer-than-the-pattern"),
        pytest.param("👍‍👍", 5, id="made-up-zwj-chain-piece-by-piece"),
        pytest.param("❤‍❤", 5, id="zwj-chain-without-presentation-selectors"),
        pytest.param("🇦🇦", 4, id="regional-pair-naming-no-region"),
        pytest.param("🇺", 2, id="lone-regional-indicator"),
        pytest.param("🏴󠁵󠁳󠁴󠁸󠁿", 12, id="unknown-subdivision-flag-piece-by-piece"),
        pytest.param("🏴󠁧󠁢󠁳󠁣󠁴󠁿", 2, id="scotland-flag"),
        pytest.param("🫠️", 4, id="newer-pictograph-with-vs16"),
        pytest.param("🫰🏻", 4, id="newer-hand-with-skin-tone"),
        pytest.param("1⃣", 2, id="keycap-without-vs16"),
        pytest.param("™", 2, id="trade-mark-weighs-2-alone"),
        pytest.param("\ufe0f", 2, id="lone-vs16"),
        pytest.param("a\u200bb", 3, id="zero-width-space-weighs-1"),
        pytest.param("a\u200eb", 4, id="left-to-right-mark-weighs-2"),
        pytest.param("a\u2066b\u2069", 6, id="isolates-weigh-2"),
    ],
)
def test_x_count_examples(text: str, expected: int) -> None:
    assert XWeightedLength().count(unicodedata.normalize("NFD", text)) == expected


@pytest.mark.skipif(not SHARED.is_dir(), reason="the project's shared data is not beside the "
                    "repository (a clone elsewhere)")
def test_the_copy_matches_the_shared_conformance_data():
    for name in ("validate.yml", "extract.yml", "tlds.yml", "v3.json", "emoji_regex.rb"):
        assert (DATA / name).read_bytes() == (SHARED / name).read_bytes(), name


# --- never below the reference ------------------------------------------------------
#
# The reference (tests/fakes/twitter_text_reference.py) is built from twitter-text's
# own files, not from publisher.render.  No maintained Python port can stand in: the
# one on PyPI (twitter-text-parser 3.0.0) builds its emoji table from a newer Unicode
# list than twitter-text's pattern, folds CR LF into LF, and needs pkg_resources.

# Emoji old and new: in twitter-text's pattern, newer than it (Unicode 13-15.1), and
# made up.  Pieces to build random chains from, too.
KNOWN_EMOJI = ["😀", "👍🏽", "👩‍💻", "🧑‍💻", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🏳️‍⚧️", "🇺🇦", "🇯🇵", "#️⃣",
               "©️", "❤️", "🏴󠁧󠁢󠁳󠁣󠁴󠁿", "🧑🏾‍🤝‍🧑🏼", "👩‍❤️‍💋‍👨", "🏃‍♀️"]
NEWER_EMOJI = ["🐻‍❄️", "❤️‍🔥", "❤️‍🩹", "😮‍💨", "🧑‍🧑‍🧒", "🫠", "🫱🏼‍🫲🏿", "🐦‍🔥", "🙂‍↔️",
               "🧔‍♀️", "🏃🏽‍➡️", "🫰🏻", "🪿", "🏴󠁵󠁳󠁴󠁸󠁿"]
EMOJI_PIECES = ["👍", "❤", "🔥", "🐻", "❄", "🧑", "💻", "🏳", "⚧", "🫠", "©", "™", "☺", "✊",
                "🇦", "🇺", "🇸", "1", "#", "\u20e3", "\ufe0f", "\ufe0e", "🏽", "🏻", "\u200d",
                "\U000e0067", "\U000e007f"]
SPECIALS = ["\u200b", "\u200c", "\u200d", "\u200e", "\u200f", "\u202e", "\u2066", "\u2069",
            "\u061c", "\ufe0f", "e\u0301", "A\u030a", "\u1100\u1161", "—", "“", "…", "\t", "é"]
URLS = ["https://news.example.org/2025/06/flood-warning", "http://example.com",
        "https://t.co/abc123XYZ", "news.example.com/a-very-long-path/" + "x" * 80,
        "www.example.co.uk/story?id=42&ref=rss", "https://example.de/grüße-köln"]

_letters = st.text("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
                   min_size=1, max_size=12)
_cjk = st.text(st.one_of(st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF),
                         st.characters(min_codepoint=0x3040, max_codepoint=0x30FF),
                         st.characters(min_codepoint=0xAC00, max_codepoint=0xD7A3)),
               min_size=1, max_size=8)
_chain = st.lists(st.sampled_from(EMOJI_PIECES), min_size=1, max_size=6).map("".join)
_word = st.one_of(
    _letters,
    _cjk,
    st.sampled_from(KNOWN_EMOJI),
    st.sampled_from(NEWER_EMOJI),
    _chain,
    st.lists(st.sampled_from(KNOWN_EMOJI + NEWER_EMOJI + SPECIALS), min_size=1,
             max_size=4).map("".join),
    _letters.map(lambda w: "@" + w),
    _letters.map(lambda w: "#" + w),
    st.sampled_from(SPECIALS),
)
_piece = st.one_of(
    _word.map(lambda w: (w, False)),
    st.sampled_from(URLS).map(lambda u: (u, True)),
)


@given(st.lists(_piece, max_size=40), st.sampled_from([" ", "\n", "  "]))
@settings(max_examples=400, deadline=None)
def test_x_count_is_never_below_the_reference(pieces: list[tuple[str, bool]],
                                              gap: str) -> None:
    joined: list[tuple[str, bool]] = []
    for piece in pieces:
        if joined:
            joined.append((gap, False))
        joined.append(piece)
    text = "".join(t for t, _ in joined)
    expected = reference.pieces_length(joined)
    got = XWeightedLength().count(text)
    assert got >= expected, f"{text!r}: counted {got}, twitter-text counts {expected}"
    # Not only never below: the same count, as the reference's conformance cases say.
    assert got == expected, f"{text!r}: counted {got}, twitter-text counts {expected}"


def test_the_package_carries_twitter_texts_own_emoji_pattern() -> None:
    shipped = (Path(__file__).resolve().parents[2] / "publisher" / "render"
               / "twitter_emoji.txt").read_text(encoding="utf-8")
    body = "".join(line.strip() for line in shipped.splitlines()
                   if line.strip() and not line.startswith("#"))
    source = (DATA / "emoji_regex.rb").read_text(encoding="utf-8")
    original = re.search(r"%r\{(.*?)\}iox", source, re.S)
    assert original is not None
    assert body == "".join(original.group(1).split())
    assert reference.weighted_length(f"Read {URLS[0]}, 🐻‍❄️ now") == 5 + 23 + 2 + 5 + 4
    found = [m.group(0) for m in reference.emoji_pattern().finditer("a🐻‍❄️b🧑‍💻")]
    assert found == ["🐻", "❄️", "🧑‍💻"]
    assert emoji_spans("a🐻‍❄️b🧑‍💻") == [(1, 2), (3, 5), (6, 9)]
