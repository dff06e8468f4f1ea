"""How X counts a post: twitter-text's weighted length, URL detection and emoji.

A port of the parts of twitter-text (https://github.com/twitter/twitter-text,
Apache License 2.0, Copyright 2011 Twitter, Inc.) that decide a post's length:
``parseTweet`` with its configurations v1, v2 and v3, the URL extraction it
relies on (every URL counts as ``transformedURLLength``, bare domains such as
``example.com`` included), and emoji sequences counting as one character of
``defaultWeight`` when ``emojiParsingEnabled`` (v3, what X uses today).

The URL rules follow twitter-text's JavaScript implementation (``extractUrl``,
``extractUrlsWithIndices``, ``idna.toAscii``), with the Java implementation's
treatment of directional marks (allowed before a URL; only U+FFFE, U+FEFF and
U+FFFF make a post invalid) and of short bare domains (``foo.jp`` is a URL even
without a path, as the conformance data expects). The TLD list is ``tlds.txt``
beside this module.

Emoji are found with twitter-text's own generated pattern (``twitter_emoji.txt``
beside this module, from ``emoji_regex.rb`` of the 3.1.0 release), taken as its
successive non-overlapping matches, exactly as the reference does; nothing is
inferred from Unicode properties. So:

- a ZWJ chain counts 2 only when the pattern knows it (🧑‍💻, 🏳️‍⚧️, 👩‍❤️‍👨); an
  unknown chain is counted piece by piece: 🐻‍❄️ and ❤️‍🔥 (Unicode 13 and
  13.1, newer than the pattern) count 2 + 1 + 2 = 5, a made-up 👍‍👍 too;
- a flag counts 2 only for a real region (🇺🇦); two regional indicators that
  name no region (🇦🇦) count 2 each, as do a lone indicator and a lone skin tone;
- a keycap is ``[#*0-9]`` + optional U+FE0F + U+20E3; ©, ®, ™ count 2 only with
  U+FE0F (alone ©/® weigh 1); a lone U+FE0F counts 2;
- zero-width spaces and joiners (U+200B-U+200D) weigh 1 like the rest of
  U+2000-U+200D; direction marks U+200E/U+200F and U+2066-U+2069 weigh 2.

X's web client counts newer emoji with a newer table (twemoji), so for a
sequence newer than the pattern it shows less than the reference does: the
reference's count is the larger, and the one kept, so a post is never judged
shorter than X's published rules count it.

Indices in :class:`TweetParse` are UTF-16 code units, as in twitter-text.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from importlib import resources

from publisher.render.tlds import read_tlds

__all__ = [
    "V1",
    "V2",
    "V3",
    "TweetParse",
    "TwitterTextConfig",
    "emoji_spans",
    "extract_url_spans",
    "parse_tweet",
]


@dataclass(frozen=True, slots=True)
class TwitterTextConfig:
    """A twitter-text configuration (``config/v*.json``)."""

    version: int
    max_weighted_tweet_length: int
    scale: int
    default_weight: int
    transformed_url_length: int
    #: ``(start, end, weight)``, both ends inclusive, first match wins.
    ranges: tuple[tuple[int, int, int], ...]
    emoji_parsing_enabled: bool = False


_V2_RANGES = ((0, 4351, 100), (8192, 8205, 100), (8208, 8223, 100), (8242, 8247, 100))

#: The original 140-character rules: every code point counts 1.
V1 = TwitterTextConfig(1, 140, 100, 100, 23, ())
#: 280 weighted characters, CJK and most symbols count 2.
V2 = TwitterTextConfig(2, 280, 100, 200, 23, _V2_RANGES)
#: v2 plus emoji sequences counting 2 in total: what X uses today.
V3 = TwitterTextConfig(3, 280, 100, 200, 23, _V2_RANGES, emoji_parsing_enabled=True)


@dataclass(frozen=True, slots=True)
class TweetParse:
    """twitter-text's ``parseTweet`` result (ranges inclusive, in UTF-16 code units)."""

    weighted_length: int
    valid: bool
    permillage: int
    display_range_start: int
    display_range_end: int
    valid_range_start: int
    valid_range_end: int


# --- URL extraction -----------------------------------------------------------------------

_SPACES = "\t-\r \x85\xa0\u1680\u180e\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_INVALID = "\ufffe\ufeff\uffff"
_DIRECTIONAL = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_PUNCT = r"!'#%&()*+,\\\-./:;<=>?@\[\]^_{|}~$"
_LATIN_ACCENTS = (
    "\xc0-\xd6\xd8-\xf6\xf8-\xff\u0100-\u024f\u0253\u0254\u0256\u0257\u0259\u025b\u0263"
    "\u0268\u026f\u0272\u0289\u028b\u02bb\u0300-\u036f\u1e00-\u1eff"
)
_CYRILLIC = "\u0400-\u04ff"
_TLD_END = r"(?=[^a-z0-9@+\-]|\Z)"

_INVALID_CHARS = frozenset(_INVALID)
_MAX_URL_LENGTH = 4096
_MAX_TCO_SLUG_LENGTH = 40
_MAX_LABEL_LENGTH = 63


def _alternation(words: list[str]) -> str:
    # Longest first, so that a TLD is never shadowed by its own prefix ("co" before "com").
    return "|".join(re.escape(w) for w in sorted(words, key=lambda w: (-len(w), w)))


@dataclass(frozen=True, slots=True)
class _Patterns:
    url: re.Pattern[str]
    ascii_domain: re.Pattern[str]
    tco: re.Pattern[str]
    without_protocol_bad_before: re.Pattern[str]


@cache
def _patterns() -> _Patterns:
    # Compiled on first use, not at import: the TLD alternation takes a moment to compile
    # and most commands never count an X post.
    tlds = read_tlds()
    gtld = rf"(?:(?:{_alternation(tlds['generic'])}){_TLD_END})"
    cctld = rf"(?:(?:{_alternation(tlds['country'])}){_TLD_END})"
    punycode = r"(?:xn--[\-0-9a-z]+)"

    dc = f"[^{_PUNCT}{_SPACES}{_INVALID}{_DIRECTIONAL}]"
    subdomain = rf"(?:(?:{dc}(?:[_\-]|{dc})*)?{dc}\.)"
    domain_name = rf"(?:(?:{dc}(?:-|{dc})*)?{dc}\.)"
    domain = rf"(?:{subdomain}*{domain_name}(?:{gtld}|{cctld}|{punycode}))"

    path_char = rf"[a-z{_CYRILLIC}0-9!*';:=+,.$/%#\[\]\-\u2013_~@|&{_LATIN_ACCENTS}]"
    parens = rf"\((?:{path_char}+|(?:{path_char}*\({path_char}+\){path_char}*))\)"
    path_end = rf"(?:[a-z{_CYRILLIC}0-9=_#/\-+{_LATIN_ACCENTS}]|(?:{parens}))"
    path = rf"(?:(?:{path_char}*(?:{parens}{path_char}*)*{path_end})|(?:@{path_char}+/))"
    query_char = r"[a-z0-9!?*'@();:&=+$/%#\[\]\-_.,~|]"
    query_end = r"[a-z0-9\-_&=#/]"
    preceding = rf"(?:[^a-z0-9@＠$#＃{_INVALID}]|[{_DIRECTIONAL}]|^)"

    url = (
        rf"({preceding})"  # 1: the character before
        r"("  # 2: the URL
        r"(https?://)?"  # 3: protocol
        rf"({domain})"  # 4: domain
        r"(?::([0-9]+))?"  # 5: port
        rf"(/{path}*+)?"  # 6: path
        rf"(\?{query_char}*{query_end})?"  # 7: query
        r")"
    )
    flags = re.IGNORECASE
    return _Patterns(
        url=re.compile(url, flags),
        ascii_domain=re.compile(
            rf"(?:(?:[\-a-z0-9{_LATIN_ACCENTS}]+)\.)+(?:{gtld}|{cctld}|{punycode})", flags
        ),
        tco=re.compile(rf"https?://t\.co/([a-z0-9]+)(?:\?{query_char}*{query_end})?", flags),
        without_protocol_bad_before=re.compile(r"[\-_./]\Z"),
    )


def _punycode_label_length(label: str) -> int:
    if label.isascii():
        return len(label)
    try:
        return 4 + len(label.encode("punycode"))  # "xn--" + the encoded label
    except UnicodeError:
        return 0


def _is_valid_url(url: str, protocol: str, domain: str) -> bool:
    """twitter-text's isValidUrl: DNS label lengths after punycode, and the 4096 cap."""
    patterns = _patterns()
    if domain[:4].lower() == "xn--" and not patterns.ascii_domain.search(domain):
        return False  # punycode cannot hold non-ASCII characters
    for label in domain.split("."):
        if not 1 <= _punycode_label_length(label) <= _MAX_LABEL_LENGTH:
            return False
    return len(protocol or "https://") + len(url) <= _MAX_URL_LENGTH


def extract_url_spans(text: str) -> list[tuple[int, int]]:
    """The ``(start, end)`` code point spans of what X treats as URLs in ``text``.

    Bare domains count (``example.com``, ``t.co/abc``), as in twitter-text's
    ``extractUrlsWithIndices`` with ``extractUrlsWithoutProtocol``.
    """
    if "." not in text:
        return []
    patterns = _patterns()
    spans: list[tuple[int, int]] = []
    for match in patterns.url.finditer(text):
        before, url, protocol, domain, path = match.group(1, 2, 3, 4, 6)
        start, end = match.span(2)
        if not _is_valid_url(url, protocol, domain):
            continue
        if not protocol:
            if patterns.without_protocol_bad_before.search(before):
                continue
            last: tuple[int, int] | None = None
            for ascii_match in patterns.ascii_domain.finditer(domain):
                last = (start + ascii_match.start(), start + ascii_match.end())
                spans.append(last)
            if last is None:
                continue
            if path:
                # The last ASCII domain takes the path and query along.
                spans[-1] = (last[0], end)
        else:
            tco = patterns.tco.match(url)
            if tco:
                # A t.co link ends where its slug ends, and a slug is at most 40 characters.
                if len(tco.group(1)) > _MAX_TCO_SLUG_LENGTH:
                    continue
                end = start + len(tco.group(0))
            spans.append((start, end))
    return spans


# --- emoji --------------------------------------------------------------------------------

_RUBY_CODE_POINT = re.compile(r"\\u\{([0-9a-fA-F]+)\}")


@cache
def _emoji_pattern() -> re.Pattern[str]:
    # twitter-text's own pattern, read once on first use (see twitter_emoji.txt).
    text = resources.files(__package__).joinpath("twitter_emoji.txt").read_text(encoding="utf-8")
    body = "".join(
        line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")
    )
    return re.compile(_RUBY_CODE_POINT.sub(lambda m: f"\\U{int(m.group(1), 16):08x}", body))


def emoji_spans(text: str) -> list[tuple[int, int]]:
    """The ``(start, end)`` code point spans of the emoji twitter-text finds in ``text``:
    its pattern's successive non-overlapping matches, as Ruby's ``String#scan`` and the
    JavaScript ``extractEmojisWithIndices`` take them. Each weighs ``default_weight``
    under v3; what the pattern does not match (an unknown ZWJ chain, an emoji newer than
    the pattern) is counted piece by piece."""
    return [match.span() for match in _emoji_pattern().finditer(text)]


# --- parseTweet ---------------------------------------------------------------------------


def _utf16_length(text: str) -> int:
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def _weight(cp: int, config: TwitterTextConfig) -> int:
    for start, end, weight in config.ranges:
        if start <= cp <= end:
            return weight
    return config.default_weight


def parse_tweet(text: str, config: TwitterTextConfig = V3) -> TweetParse:
    """twitter-text's ``parseTweet``: weighted length, validity and ranges of ``text``.

    The text is NFC-normalised first; every URL counts ``transformed_url_length`` and,
    with emoji parsing, every emoji sequence counts ``default_weight``.
    """
    normalized = unicodedata.normalize("NFC", text)
    url_ends = dict(extract_url_spans(normalized))
    emoji_ends = dict(emoji_spans(normalized)) if config.emoji_parsing_enabled else {}
    cps = [ord(ch) for ch in normalized]
    scale = config.scale
    max_scaled = config.max_weighted_tweet_length * scale

    weighted = 0
    valid = True
    valid_index = 0
    i = 0
    u16 = 0  # UTF-16 offset of cps[i]
    n = len(cps)
    while i < n:
        if i in url_ends:
            j = url_ends[i]
            weighted += config.transformed_url_length * scale
        elif i in emoji_ends:
            j = emoji_ends[i]
            weighted += config.default_weight
        else:
            j = i + 1
            weighted += _weight(cps[i], config)
        u16 += (j - i) + sum(1 for cp in cps[i:j] if cp > 0xFFFF)
        if valid:
            valid = normalized[j - 1] not in _INVALID_CHARS
        if valid and weighted <= max_scaled:
            valid_index = u16 - 1
        i = j

    weighted_length = weighted // scale
    text_u16 = _utf16_length(text)
    return TweetParse(
        weighted_length=weighted_length,
        valid=valid and 0 < weighted_length <= config.max_weighted_tweet_length,
        permillage=weighted_length * 1000 // config.max_weighted_tweet_length,
        display_range_start=0,
        display_range_end=max(text_u16 - 1, 0),
        valid_range_start=0,
        valid_range_end=valid_index + text_u16 - u16,
    )
