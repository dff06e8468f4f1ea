"""X's weighted length, counted from twitter-text's published files alone.

The reference the tests and FakeX hold publisher's counter against; it shares
no code with ``publisher.render``:

- emoji are the successive non-overlapping matches of twitter-text's own Ruby
  pattern (``tests/data/twitter-text/emoji_regex.rb``, read and translated here);
- weights and the URL length come from ``tests/data/twitter-text/v3.json``;
- the loop is twitter-text's ``parseTweet`` (JavaScript ``parseTweet.js``): a URL
  counts ``transformedURLLength``, an emoji ``defaultWeight``, every other code
  point the weight of its range, after NFC normalisation.

URLs: :func:`pieces_length` takes them from the caller (a generator that placed
them knows where they are); :func:`weighted_length` finds only URLs written with
``http://`` or ``https://`` (what FakeX wraps in t.co).  A bare domain
(``example.com``) is counted letter by letter there, unlike X; tests that send
one to FakeX must not rely on its length.
"""

from __future__ import annotations

import json
import re
import unicodedata
from functools import cache
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parents[1] / "data" / "twitter-text"

#: The URLs FakeX recognises (and wraps in t.co): http(s), trailing punctuation not included.
URL = re.compile(r"https?://\S+")
URL_TRAILING = ".,;:!?)]}'\"»”"


@cache
def emoji_pattern() -> re.Pattern[str]:
    """twitter-text's ``REGEXEN[:valid_emoji]``, translated from Ruby."""
    source = (DATA / "emoji_regex.rb").read_text(encoding="utf-8")
    body = re.search(r"REGEXEN\[:valid_emoji\] = %r\{(.*?)\}iox", source, re.S)
    if body is None:
        raise ValueError(f"{DATA / 'emoji_regex.rb'}: REGEXEN[:valid_emoji] not found")
    pattern = "".join(body.group(1).split())  # the x flag: whitespace is not part of it
    pattern = re.sub(r"\\u\{([0-9a-fA-F]+)\}", lambda m: chr(int(m.group(1), 16)), pattern)
    pattern = re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), pattern)
    return re.compile(pattern)


@cache
def config() -> dict[str, Any]:
    """twitter-text's ``config/v3.json``."""
    value: dict[str, Any] = json.loads((DATA / "v3.json").read_text(encoding="utf-8"))
    return value


def _scaled_weight(text: str) -> int:
    """parseTweet's scaled weight of ``text`` (already NFC) that holds no URL."""
    cfg = config()
    emoji = {m.start(): m.end() for m in emoji_pattern().finditer(text)}
    weight, i = 0, 0
    while i < len(text):
        if i in emoji:
            weight += cfg["defaultWeight"]
            i = emoji[i]
            continue
        cp = ord(text[i])
        weight += next((r["weight"] for r in cfg["ranges"] if r["start"] <= cp <= r["end"]),
                       cfg["defaultWeight"])
        i += 1
    return weight


def pieces_length(pieces: list[tuple[str, bool]]) -> int:
    """The weighted length of the text the ``(text, is_url)`` pieces make when joined,
    each URL piece counting ``transformedURLLength``.  Pieces must meet at starters
    (a space, a letter), so that NFC of the whole is NFC of each piece."""
    cfg = config()
    weight = 0
    for text, is_url in pieces:
        if is_url:
            weight += cfg["transformedURLLength"] * cfg["scale"]
        else:
            weight += _scaled_weight(unicodedata.normalize("NFC", text))
    return int(weight // cfg["scale"])


def split_urls(text: str) -> list[tuple[str, bool]]:
    """``text`` cut into ``(piece, is_url)`` at its http(s) URLs."""
    pieces: list[tuple[str, bool]] = []
    last = 0
    for match in URL.finditer(text):
        url = match.group(0).rstrip(URL_TRAILING)
        pieces += [(text[last:match.start()], False), (url, True)]
        last = match.start() + len(url)
    pieces.append((text[last:], False))
    return [(t, u) for t, u in pieces if t]


def weighted_length(text: str) -> int:
    """X's weighted length of ``text``, its http(s) URLs counting 23 (see the module
    docstring for bare domains)."""
    return pieces_length(split_urls(unicodedata.normalize("NFC", text)))
