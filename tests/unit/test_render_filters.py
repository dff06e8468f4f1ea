"""The template filters and link tagging."""

from __future__ import annotations

import pytest

from publisher.render import hashtags, plain, tagged_link, truncate_words, utm


@pytest.mark.parametrize(
    ("categories", "expected"),
    [
        (["Politics", "city council"], "#Politics #CityCouncil"),
        (["New York's mayor"], "#NewYorksMayor"),
        (["COVID-19", "climate change!"], "#COVID19 #ClimateChange"),
        (["東京", "سياسة", "חדשות"], "#東京 #سياسة #חדשות"),
        (["हिंदी समाचार"], "#हिंदीसमाचार"),  # vowel signs are marks: kept
        (["2024", "9/11", "", "   ", "!!!"], ""),
        (["Sports", "sports", "SPORTS", "Sport s"], "#Sports"),
        (["Uncategorized", "Weather"], "#Weather"),
        ([], ""),
        (None, ""),
        ("Business", "#Business"),
    ],
)
def test_hashtags(categories, expected: str) -> None:
    assert hashtags(categories) == expected


def test_hashtags_limit_and_mapping() -> None:
    mapping = {"Local News": "#RiversideNews", "Misc": "", "arts": "Culture"}
    cats = ["local news", "Misc", "Arts", "Local news", "Schools", "Traffic"]
    assert hashtags(cats, mapping=mapping) == "#RiversideNews #Culture #Schools #Traffic"
    assert hashtags(cats, 2, mapping=mapping) == "#RiversideNews #Culture"
    assert hashtags(cats, 0, mapping=mapping) == ""


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "https://news.example.com/a",
            "https://news.example.com/a?utm_source=x&utm_medium=social",
        ),
        (
            "https://news.example.com/a?id=7&q=a%20b#top",
            "https://news.example.com/a?id=7&q=a%20b&utm_source=x&utm_medium=social#top",
        ),
        (
            "https://news.example.com/a?utm_source=old&p=2",
            "https://news.example.com/a?p=2&utm_source=x&utm_medium=social",
        ),
    ],
)
def test_utm_keeps_the_existing_query(url: str, expected: str) -> None:
    assert utm(url, "x") == expected


def test_utm_campaign_is_encoded() -> None:
    assert utm("https://e.com/", "fb", "paid", "spring sale&more") == (
        "https://e.com/?utm_source=fb&utm_medium=paid&utm_campaign=spring%20sale%26more"
    )


def test_tagged_link() -> None:
    url = "https://news.example.com/story?id=1"
    assert tagged_link(url, None) == url
    assert tagged_link(url, {}) == url
    assert tagged_link(url, {"campaign": "c", "utm_source": "x", "medium": "social"}) == (
        url + "&utm_source=x&utm_medium=social&utm_campaign=c"
    )
    assert tagged_link(url, {"source": "x", "campaign": ""}) == url + "&utm_source=x"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<p>Hello   <b>world</b></p>\n\n<!-- x -->next", "Hello world next"),
        ("x < y and y > z", "x < y and y > z"),
        ("", ""),
        (None, ""),
    ],
)
def test_plain(text, expected: str) -> None:
    assert plain(text) == expected


def test_truncate_words() -> None:
    assert truncate_words("one two three four", 2) == "one two…"
    assert truncate_words("one two, three four", 2) == "one two…"
    assert truncate_words("one two", 2) == "one two"
    assert truncate_words("  ", 3) == ""
