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

Emoji sequences are recognised with a compact table instead of twemoji's
generated regex: a pictographic base (or a keycap, or a pair of regional
indicators) with its presentation selector, skin tone and tag characters, and
ZWJ-joined further elements. A base that would weigh 1 on its own (©, ®) is an
emoji only when followed by U+FE0F, and a base followed by U+FE0E (text
presentation) is not one; both choices count a little more, never less, than
X might.

Indices in :class:`TweetParse` are UTF-16 code units, as in twitter-text.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from dataclasses import dataclass
from functools import cache
from importlib import resources

__all__ = [
    "V1",
    "V2",
    "V3",
    "TweetParse",
    "TwitterTextConfig",
    "emoji_length",
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


def _read_tlds() -> dict[str, list[str]]:
    text = resources.files(__package__).joinpath("tlds.txt").read_text(encoding="utf-8")
    lists: dict[str, list[str]] = {}
    current: list[str] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = lists.setdefault(line[1:-1], [])
        elif current is not None:
            current.append(line)
    return lists


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
    tlds = _read_tlds()
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

# Extended_Pictographic as in Unicode's emoji-data.txt, reserved blocks included so that
# emoji newer than this table still count as one. Code points, inclusive ranges.
_PICTOGRAPHIC_RANGES = (
    (0x00A9, 0x00A9), (0x00AE, 0x00AE), (0x203C, 0x203C), (0x2049, 0x2049),
    (0x2122, 0x2122), (0x2139, 0x2139), (0x2194, 0x2199), (0x21A9, 0x21AA),
    (0x231A, 0x231B), (0x2328, 0x2328), (0x2388, 0x2388), (0x23CF, 0x23CF),
    (0x23E9, 0x23F3), (0x23F8, 0x23FA), (0x24C2, 0x24C2), (0x25AA, 0x25AB),
    (0x25B6, 0x25B6), (0x25C0, 0x25C0), (0x25FB, 0x25FE), (0x2600, 0x2605),
    (0x2607, 0x2612), (0x2614, 0x2685), (0x2690, 0x2705), (0x2708, 0x2712),
    (0x2714, 0x2714), (0x2716, 0x2716), (0x271D, 0x271D), (0x2721, 0x2721),
    (0x2728, 0x2728), (0x2733, 0x2734), (0x2744, 0x2744), (0x2747, 0x2747),
    (0x274C, 0x274C), (0x274E, 0x274E), (0x2753, 0x2755), (0x2757, 0x2757),
    (0x2763, 0x2767), (0x2795, 0x2797), (0x27A1, 0x27A1), (0x27B0, 0x27B0),
    (0x27BF, 0x27BF), (0x2934, 0x2935), (0x2B05, 0x2B07), (0x2B1B, 0x2B1C),
    (0x2B50, 0x2B50), (0x2B55, 0x2B55), (0x3030, 0x3030), (0x303D, 0x303D),
    (0x3297, 0x3297), (0x3299, 0x3299), (0x1F000, 0x1F0FF), (0x1F10D, 0x1F10F),
    (0x1F12F, 0x1F12F), (0x1F16C, 0x1F171), (0x1F17E, 0x1F17F), (0x1F18E, 0x1F18E),
    (0x1F191, 0x1F19A), (0x1F1AD, 0x1F1E5), (0x1F201, 0x1F20F), (0x1F21A, 0x1F21A),
    (0x1F22F, 0x1F22F), (0x1F232, 0x1F23A), (0x1F23C, 0x1F23F), (0x1F249, 0x1F3FA),
    (0x1F400, 0x1F53D), (0x1F546, 0x1F64F), (0x1F680, 0x1F6FF), (0x1F774, 0x1F77F),
    (0x1F7D5, 0x1F7FF), (0x1F80C, 0x1F80F), (0x1F848, 0x1F84F), (0x1F85A, 0x1F85F),
    (0x1F888, 0x1F88F), (0x1F8AE, 0x1F8FF), (0x1F90C, 0x1F93A), (0x1F93C, 0x1F945),
    (0x1F947, 0x1FAFF), (0x1FC00, 0x1FFFD),
)  # fmt: skip
_PICTOGRAPHIC_STARTS = tuple(start for start, _ in _PICTOGRAPHIC_RANGES)

_ZWJ = 0x200D
_VS15 = 0xFE0E  # text presentation
_VS16 = 0xFE0F  # emoji presentation
_KEYCAP = 0x20E3
_KEYCAP_BASES = frozenset(map(ord, "0123456789#*"))
# Pictographs that are text by default and weigh 1 on their own: emoji only with U+FE0F.
_TEXT_DEFAULT_LIGHT = frozenset((0x00A9, 0x00AE))


def _is_pictographic(cp: int) -> bool:
    i = bisect_right(_PICTOGRAPHIC_STARTS, cp) - 1
    return i >= 0 and cp <= _PICTOGRAPHIC_RANGES[i][1]


def _is_regional_indicator(cp: int) -> bool:
    return 0x1F1E6 <= cp <= 0x1F1FF


def _is_modifier(cp: int) -> bool:
    return 0x1F3FB <= cp <= 0x1F3FF


def _element_length(cps: list[int], i: int) -> int:
    """Code points of the emoji element starting at ``i`` (0 when there is none)."""
    n = len(cps)
    cp = cps[i]
    nxt = cps[i + 1] if i + 1 < n else -1
    if _is_regional_indicator(cp):
        return 2 if _is_regional_indicator(nxt) else 1
    if cp in _KEYCAP_BASES:
        j = i + 1 + (nxt == _VS16)
        return j + 1 - i if j < n and cps[j] == _KEYCAP else 0
    if _is_modifier(cp):
        return 1
    if not _is_pictographic(cp) or nxt == _VS15:
        return 0
    if cp in _TEXT_DEFAULT_LIGHT and nxt != _VS16:
        return 0
    j = i + 1
    if j < n and cps[j] == _VS16:
        j += 1
    if j < n and _is_modifier(cps[j]):
        j += 1
    # Tag sequences (subdivision flags): tag characters closed by CANCEL TAG.
    k = j
    while k < n and 0xE0020 <= cps[k] <= 0xE007E:
        k += 1
    if k > j and k < n and cps[k] == 0xE007F:
        j = k + 1
    return j - i


def emoji_length(cps: list[int], i: int) -> int:
    """Code points of the emoji sequence (ZWJ sequences included) starting at ``i``, or 0."""
    length = _element_length(cps, i)
    if not length:
        return 0
    j = i + length
    while j + 1 < len(cps) and cps[j] == _ZWJ:
        more = _element_length(cps, j + 1)
        if not more:
            break
        j += 1 + more
    return j - i


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
        elif config.emoji_parsing_enabled and (length := emoji_length(cps, i)):
            j = i + length
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
