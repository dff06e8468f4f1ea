"""Where Mastodon sees URLs in a status, for its length rule.

Mastodon's ``StatusLengthValidator`` counts every URL as 23 characters, and a
URL is what twitter-text's ``Extractor.extract_urls_with_indices`` finds with
``extract_url_without_protocol: false`` -- but with the URL pattern Mastodon
replaces in ``config/initializers/twitter_regex.rb``:

- a path takes any character but white space, ``<``, ``>``, ``(``, ``)`` and
  ``?`` (balanced parentheses allowed), so raw non-ASCII paths (``/straße``,
  ``/記事``) are part of the URL, unlike on X;
- a path never ends on ``( ) ? ! * " ' 「 」 < > ; : = , . $ % [ ] ~ & | @``:
  ``「https://example.jp/記事」`` is a URL and one more character, and
  ``https://example.com/50%`` counts 24;
- a query takes ASCII URL characters and the non-ASCII ranges of RFC 3987's
  ``ucschar`` (``UCHARS``);
- besides http and https, ``dat``, ``dweb``, ``ipfs``, ``ipns``, ``ssb``,
  ``gopher`` and ``gemini`` URLs count 23 too; without a scheme nothing is a URL.

The domain is twitter-text's: labels of non-punctuation characters ending in a
TLD of ``tlds.txt`` (or punycode), at most 63 characters a label once
IDNA-encoded and 4096 for the whole URL; otherwise the text counts as it is.
"""

from __future__ import annotations

import re
from functools import cache, lru_cache

import regex

from publisher.render.tlds import read_tlds

__all__ = ["mastodon_url_spans"]

_SPACES = "\t-\r \x85\xa0\u1680\u180e\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_INVALID = "\ufffe\ufeff\uffff"
_DIRECTIONAL = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_PUNCT = r"!'#%&()*+,\\\-./:;<=>?@\[\]^_{|}~$\""
_UCHARS = (
    "\u00a0-\ud7ff\uf900-\ufdcf\ufdf0-\uffef\U00010000-\U0001fffd\U00020000-\U0002fffd"
    "\U00030000-\U0003fffd\U00040000-\U0004fffd\U00050000-\U0005fffd\U00060000-\U0006fffd"
    "\U00070000-\U0007fffd\U00080000-\U0008fffd\U00090000-\U0009fffd\U000a0000-\U000afffd"
    "\U000b0000-\U000bfffd\U000c0000-\U000cfffd\U000d0000-\U000dfffd\U000e1000-\U000efffd"
    "\ue000-\uf8ff\U000f0000-\U000ffffd\U00100000-\U0010fffd"
)
_MAX_URL_LENGTH = 4096
_MAX_LABEL_LENGTH = 63


def _fold(text: str) -> str:
    """``text`` with each character replaced by the first of its case folding:
    characters that the pattern's IGNORECASE takes as equal fold alike (``K``,
    ``k`` and the Kelvin sign to ``k``; ``İ`` to ``i``, as ``regex`` matches it
    with ``i``), and the length stays, so a folded slice is the slice folded."""
    return text.lower() if text.isascii() else "".join(c.casefold()[0] for c in text)


@cache
def _tld_index() -> tuple[dict[str, tuple[str, ...]], int]:
    """Every folded prefix of a TLD of ``tlds.txt`` -> the TLDs that fold to
    it (none for a mere prefix), and the longest TLD's length."""
    index: dict[str, list[str]] = {}
    for words in read_tlds().values():
        for word in words:
            key = _fold(word)
            for end in range(1, len(key)):
                index.setdefault(key[:end], [])
            index.setdefault(key, []).append(word)
    return {key: tuple(words) for key, words in index.items()}, max(map(len, index))


def _tlds_in(text: str) -> frozenset[str]:
    """The TLDs that begin right after a ``.`` somewhere in ``text``.

    A TLD is only ever matched after the ``.`` that ends the label before it,
    so a TLD not among these cannot match anywhere in ``text``: the pattern
    with only these in its alternation finds what the one with all ~1,500 does.
    That whole alternation took a moment to compile (0.05-0.2 s of CPU at the
    first post of every run); the few found in a text take next to nothing."""
    index, longest = _tld_index()
    found: set[str] = set()
    dot = text.find(".")
    while dot != -1:
        window = _fold(text[dot + 1:dot + 1 + longest])
        for end in range(1, len(window) + 1):
            words = index.get(window[:end])
            if words is None:  # no TLD goes on like this
                break
            found.update(words)
        dot = text.find(".", dot + 1)
    return frozenset(found)


@lru_cache(maxsize=64)
def _pattern(tlds: frozenset[str]) -> regex.Pattern[str]:
    """Mastodon's URL pattern with ``tlds`` as the TLD alternation (the text's,
    by ``_tlds_in``: one site's posts share a few sets, each compiled once)."""
    # Longest first, so that a TLD is never shadowed by its own prefix ("co" before "com").
    words = sorted(tlds, key=lambda w: (-len(w), w))
    punycode = r"xn--[\-0-9a-z]+"
    tld = rf"(?:(?:{'|'.join(re.escape(w) for w in words)})(?=[^a-z0-9@+\-]|\Z)|{punycode})" \
        if words else rf"(?:{punycode})"
    dc = f"[^{_PUNCT}{_SPACES}{_INVALID}{_DIRECTIONAL}]"
    subdomain = rf"(?:(?:{dc}(?:[_\-]|{dc})*)?{dc}\.)"
    domain_name = rf"(?:(?:{dc}(?:-|{dc})*)?{dc}\.)"
    domain = rf"(?:{subdomain}*{domain_name}{tld})"
    path_char = r"[^\p{White_Space}<>()?]"
    parens = rf"\((?:{path_char}+|(?:{path_char}*\({path_char}+\){path_char}*))\)"
    path_end = rf"(?:[^\p{{White_Space}}()?!*\"'「」<>;:=,.$%\[\]~&|@]|{parens})"
    path = rf"(?:(?:{path_char}*(?:{parens}{path_char}*)*{path_end})|(?:{path_char}+/))"
    query_char = rf"[a-z0-9!?*'();:&=+$/%#\[\]\-_.,~|@\^{_UCHARS}]"
    query_end = rf"[a-z0-9_&=#/\-{_UCHARS}]"
    preceding = rf"(?:[^a-z0-9@＠$#＃{_INVALID}]|[{_DIRECTIONAL}]|^)"
    return regex.compile(
        rf"{preceding}"
        r"("  # 1: the URL
        r"((?:https?|dat|dweb|ipfs|ipns|ssb|gopher|gemini)://)?"  # 2: protocol
        rf"({domain})"  # 3: domain
        r"(?::[0-9]+)?"
        rf"(?:/{path}*+)?"
        rf"(?:\?{query_char}*{query_end})?"
        r")",
        regex.IGNORECASE | regex.V0,
    )


def _valid_domain(url: str, domain: str) -> bool:
    """twitter-text's ``is_valid_domain``: IDNA-encodable, labels of 1-63
    characters, the URL with its encoded domain at most 4096 characters."""
    try:
        encoded = domain.encode("idna").decode("ascii")
    except UnicodeError:
        return False
    if any(not 1 <= len(label) <= _MAX_LABEL_LENGTH for label in encoded.split(".")):
        return False
    return len(url) + max(0, len(encoded) - len(domain)) <= _MAX_URL_LENGTH


def mastodon_url_spans(text: str) -> list[tuple[int, int]]:
    """The ``(start, end)`` code point spans of the URLs Mastodon counts as 23
    in ``text`` (see the module docstring)."""
    if "://" not in text:
        return []
    spans: list[tuple[int, int]] = []
    for match in _pattern(_tlds_in(text)).finditer(text):
        url, protocol, domain = match.group(1, 2, 3)
        if protocol and _valid_domain(url, domain):
            spans.append(match.span(1))
    return spans
