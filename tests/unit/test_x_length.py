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

from publisher.render import XWeightedLength, length_rule, parse_tweet
from publisher.render.twitter_text import V1, V2, V3, emoji_length, extract_url_spans

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
    ],
)
def test_x_count_examples(text: str, expected: int) -> None:
    assert XWeightedLength().count(unicodedata.normalize("NFD", text)) == expected


def test_emoji_table_covers_unicode_pictographs() -> None:
    # The table is hand-kept; check it against the regex module's Unicode data where
    # it is installed (it comes with dateparser).
    regex = pytest.importorskip("regex")
    pictographic = regex.compile(r"\p{Extended_Pictographic}")
    missing = [
        f"U+{cp:04X}"
        for cp in range(0x110000)
        if pictographic.match(chr(cp))
        and cp not in (0xA9, 0xAE)  # emoji only with U+FE0F, on purpose
        and emoji_length([cp, 0xFE0F], 0) != 2
    ]
    assert missing == []


@pytest.mark.skipif(not SHARED.is_dir(), reason="the project's shared data is not beside the "
                    "repository (a clone elsewhere)")
def test_the_copy_matches_the_shared_conformance_data():
    for name in ("validate.yml", "extract.yml", "tlds.yml", "v3.json"):
        assert (DATA / name).read_bytes() == (SHARED / name).read_bytes(), name
