"""Mastodon's length rule for URLs, after Mastodon's own URL pattern
(config/initializers/twitter_regex.rb) and StatusLengthValidator."""

from __future__ import annotations

import re
import sys

import pytest
import regex
from hypothesis import given, settings
from hypothesis import strategies as st

from publisher.render import length_rule
from publisher.render import mastodon_text as mt
from publisher.render.mastodon_text import mastodon_url_spans
from publisher.render.tlds import read_tlds

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


# --- the TLD alternation cut to the text's TLDs finds what the whole one did -----------


def _reference_pattern() -> regex.Pattern[str]:
    """The pattern as it was built before it took only the text's TLDs: every
    TLD of tlds.txt in one alternation (the reference the cut one must match)."""
    words = sorted((w for ws in read_tlds().values() for w in ws), key=lambda w: (-len(w), w))
    tld = rf"(?:(?:{'|'.join(re.escape(w) for w in words)})(?=[^a-z0-9@+\-]|\Z)" \
          r"|xn--[\-0-9a-z]+)"
    dc = f"[^{mt._PUNCT}{mt._SPACES}{mt._INVALID}{mt._DIRECTIONAL}]"
    subdomain = rf"(?:(?:{dc}(?:[_\-]|{dc})*)?{dc}\.)"
    domain_name = rf"(?:(?:{dc}(?:-|{dc})*)?{dc}\.)"
    domain = rf"(?:{subdomain}*{domain_name}{tld})"
    path_char = r"[^\p{White_Space}<>()?]"
    parens = rf"\((?:{path_char}+|(?:{path_char}*\({path_char}+\){path_char}*))\)"
    path_end = rf"(?:[^\p{{White_Space}}()?!*\"'「」<>;:=,.$%\[\]~&|@]|{parens})"
    path = rf"(?:(?:{path_char}*(?:{parens}{path_char}*)*{path_end})|(?:{path_char}+/))"
    query_char = rf"[a-z0-9!?*'();:&=+$/%#\[\]\-_.,~|@\^{mt._UCHARS}]"
    query_end = rf"[a-z0-9_&=#/\-{mt._UCHARS}]"
    preceding = rf"(?:[^a-z0-9@＠$#＃{mt._INVALID}]|[{mt._DIRECTIONAL}]|^)"
    return regex.compile(
        rf"{preceding}"
        r"("
        r"((?:https?|dat|dweb|ipfs|ipns|ssb|gopher|gemini)://)?"
        rf"({domain})"
        r"(?::[0-9]+)?"
        rf"(?:/{path}*+)?"
        rf"(?:\?{query_char}*{query_end})?"
        r")",
        regex.IGNORECASE | regex.V0,
    )


REFERENCE = _reference_pattern()
TLDS = sorted({w for ws in read_tlds().values() for w in ws})


def _matches(pattern: regex.Pattern[str], text: str) -> list[tuple[object, ...]]:
    return [(m.span(), m.span(1), m.group(2), m.group(3)) for m in pattern.finditer(text)]


def _agrees(text: str) -> None:
    assert _matches(mt._pattern(mt._tlds_in(text)), text) == _matches(REFERENCE, text), text


VARIED = [
    "https://news.example.com/2025/06/flood-warning",
    "Read https://example.co.uk/a?b=1. Then http://example.com:8080/x_(y)!",
    "https://EXAMPLE.COM/ https://Example.Com/Path https://example.cOm",
    "https://example.comm/x https://example.co/x https://example.company/x",
    "https://example.com.evil/x https://a.b.c.d.e.f.org/ https://a..com/",
    "https://shop.みんな/記事 https://пример.онлайн/ https://ПРИМЕР.ОНЛАЙН/x",
    "https://example.ελ/ https://example.ΕΛ/ https://example.ϵλ/",
    "https://example.İnfo/ https://example.ınfo/",
    "https://example.\u212aim/",
    "https://example.ſite/",
    "https://example.SİTE/",
    "https://example.xn--p1ai/ https://example.XN--P1AI/x https://xn--80ak6aa92e.com/",
    "https://example.comñ/x https://example.com-x/ https://example.com+x https://example.com@x",
    "「https://example.jp/記事」 (https://example.com/x) [https://example.org/a]",
    "gemini://example.org/記事 ipfs://example.io/ ftp://example.com/ //example.com/",
    "seehttps://example.com/x @https://example.com/x #https://example.com",
    "https://example.com/" + "ü" * 400 + " https://" + "a" * 64 + ".com/",
    "https://a_b.example.com/ https://-a.example.com/ https://a-.example.com/",
    "https://example.com?q=café. https://example.com/50% https://example.com/a~",
    "Mr. Smith at https://x.y.z.co.jp.com.org.net/a.b.c?d=e.f#g",
    "https://example.com\u200e/x \u200ehttps://example.org https://ex\u00adample.com",
    "https://example.コム/ https://example.ポイント/ https://example.中国/ https://example.中國",
    "https://example.\u0441\u043e\u043c/ https://example.\u1c83\u1c82\u043c/",
    "https://example.．com/ https://example。com/ https://example.com。",
    "..... https://.com/ https://example./ https://example.c/ ://example.com",
]


@pytest.mark.parametrize("text", VARIED)
def test_the_text_tlds_pattern_agrees_with_the_whole_list(text: str) -> None:
    _agrees(text)


_PIECES = st.sampled_from([
    "https://", "http://", "HTTPS://", "gemini://", "ftp://", "://", "", " ", ".", "..", "/",
    "-", "_", "?", "=", "&", "(", ")", "「", "」", "@", "#", "%", ":", ":8080", "~", "!", ",",
    "\u200e", "\u00a0", "ü", "ß", "İ", "ı", "\u212a", "ſ", "ϵ", "\u1c83", "．", "。",
    "example", "news", "a", "xn--p1ai", "XN--", "記事", "straße", "0", "com", "co", "uk",
])
_TLD = st.sampled_from(TLDS).flatmap(
    lambda w: st.sampled_from([w, w.upper(), w.title(), w[:-1], w + "x", w + "-"]))


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(_PIECES, _TLD, st.text(max_size=3)), min_size=1, max_size=16))
def test_the_text_tlds_pattern_agrees_on_random_texts(pieces: list[str]) -> None:
    _agrees("".join(pieces))


def test_characters_ignorecase_takes_as_equal_fold_alike() -> None:
    """What ``_tlds_in`` relies on: every character the pattern's IGNORECASE
    matches with a character of a TLD folds (``_fold``) as that character does,
    so no TLD the pattern could match in a text is left out of its alternation."""
    tld_chars = "".join(sorted(set("".join(TLDS))))
    everything = "".join(map(chr, range(sys.maxunicode + 1)))
    any_tld_char = regex.compile(f"(?iV0)[{regex.escape(tld_chars)}]")
    seen = set(any_tld_char.findall(everything))
    assert seen >= set(tld_chars)
    for char in seen:
        equal = regex.findall(f"(?iV0){regex.escape(char)}", tld_chars)
        assert equal and all(mt._fold(c) == mt._fold(char) for c in equal), (char, equal)
