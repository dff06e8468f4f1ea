"""Each platform's length rule: how it counts a post and how much it takes."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

import regex

from publisher.render.mastodon_text import mastodon_url_spans
from publisher.render.twitter_text import V3, TweetParse, TwitterTextConfig, parse_tweet

__all__ = [
    "FACEBOOK_MAX_LENGTH",
    "PLATFORM_MAX_LENGTH",
    "BlueskyLength",
    "CharacterLimit",
    "FacebookLength",
    "LengthRule",
    "MastodonLength",
    "TelegramLength",
    "ThreadsLength",
    "XWeightedLength",
    "length_rule",
]

#: The longest Facebook post text the Graph API accepts.
FACEBOOK_MAX_LENGTH = 63_206

#: Limits of the channels that count plain characters, when the channel does not
#: set ``max_length`` (dry-run channels, webhooks, mastodon's default instance).
_DEFAULT_MAX_LENGTH = {"console": 500, "jsonl": 5000, "webhook": 10_000, "mastodon": 500}
_FALLBACK_MAX_LENGTH = 500

#: The most a platform takes; a channel's ``max_length`` may only be lower.
PLATFORM_MAX_LENGTH = {
    "threads": 500,
    "linkedin": 3000,
    "discord": 2000,
    "slack": 40_000,  # Slack truncates a message beyond this
    "bluesky": 300,  # graphemes
    "telegram": 4096,  # after HTML parsing, in Unicode code points
}
_CHARACTER_PLATFORMS = {
    "linkedin": "linkedin characters",
    "discord": "discord characters",
    "slack": "slack characters (Slack truncates beyond)",
}
# Mastodon's URL rule: a URL counts 23, whatever its length; what a URL is, raw
# non-ASCII paths included, is Mastodon's own pattern (render/mastodon_text.py).
_MASTODON_URL_LENGTH = 23
# A remote mention counts only its local part: "@name@host" counts as "@name".
_MASTODON_MENTION = re.compile(r"(?<![\w@])(@[A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)*)@[\w.-]+\w")


@runtime_checkable
class LengthRule(Protocol):
    """How a platform counts a post, and the most it takes."""

    limit: int
    name: str  # for messages: "x weighted (URLs count 23)", "characters"

    def count(self, text: str) -> int:
        """The length of ``text`` as the platform counts it."""
        ...


class CharacterLimit:
    """Unicode code points after NFC normalisation, at most ``limit``."""

    name = "characters"

    def __init__(self, limit: int):
        if limit < 1:
            raise ValueError(f"a length limit must be positive, not {limit}")
        self.limit = limit

    def count(self, text: str) -> int:
        """Code points of ``text`` once NFC-normalised."""
        return len(unicodedata.normalize("NFC", text))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.limit})"


class FacebookLength(CharacterLimit):
    """A Facebook post: 63,206 characters."""

    name = "facebook characters"

    def __init__(self) -> None:
        super().__init__(FACEBOOK_MAX_LENGTH)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class XWeightedLength:
    """An X post: twitter-text's weighted length (configuration v3 unless told), 280.

    Most scripts up to Georgian and the common punctuation count 1, everything else
    2 (CJK, most symbols), every URL 23 however long it is, bare domains included,
    and an emoji 2 in total when twitter-text's own emoji pattern matches it (an
    unknown ZWJ chain is counted piece by piece: see ``twitter_text``). The text is
    NFC-normalised first.
    """

    def __init__(self, config: TwitterTextConfig = V3):
        self.config = config
        self.limit = config.max_weighted_tweet_length
        self.name = f"x weighted (URLs count {config.transformed_url_length})"

    def count(self, text: str) -> int:
        """The weighted length of ``text`` as X computes it."""
        return parse_tweet(text, self.config).weighted_length

    def parse(self, text: str) -> TweetParse:
        """Everything twitter-text's ``parseTweet`` tells about ``text``."""
        return parse_tweet(text, self.config)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(v{self.config.version})"


def graphemes(text: str) -> int:
    """The number of extended grapheme clusters (Unicode UAX #29) in ``text``."""
    return len(regex.findall(r"\X", text))


class MastodonLength(CharacterLimit):
    """A Mastodon status: grapheme clusters, every http(s) URL 23 and a remote
    mention only its ``@name`` part, at most ``limit`` (500 on most instances)."""

    def __init__(self, limit: int = 500):
        super().__init__(limit)
        self.name = f"mastodon characters (URLs count {_MASTODON_URL_LENGTH})"

    def count(self, text: str) -> int:
        """The length of ``text`` as Mastodon's StatusLengthValidator counts it."""
        text = unicodedata.normalize("NFC", text)
        pieces: list[str] = []
        last = 0
        for start, end in mastodon_url_spans(text):
            pieces.append(text[last:start])
            pieces.append("x" * _MASTODON_URL_LENGTH)
            last = end
        pieces.append(text[last:])
        return graphemes(_MASTODON_MENTION.sub(r"\1", "".join(pieces)))


class BlueskyLength(CharacterLimit):
    """A Bluesky post: at most 300 grapheme clusters (and 3000 UTF-8 bytes, which
    300 graphemes of ordinary text never reach); links count in full."""

    name = "bluesky graphemes"

    def __init__(self, limit: int = 300):
        super().__init__(limit)

    def count(self, text: str) -> int:
        """Extended grapheme clusters of ``text`` once NFC-normalised."""
        return graphemes(unicodedata.normalize("NFC", text))


class TelegramLength(CharacterLimit):
    """A Telegram message: at most 4096 characters after entity parsing, which for
    the plain text the renderer makes is the text itself (the adapter escapes it
    for HTML, and Telegram decodes it back). Telegram counts Unicode code points
    (the Bot API server, TDLib, compares ``utf8_length(text)``, which counts
    code points; only entity offsets are in UTF-16 units), so an emoji outside
    the Basic Multilingual Plane counts 1.  The text is counted as sent, not
    NFC-normalised: TDLib does not normalise, and normalising could undercount."""

    name = "telegram characters (code points)"

    def __init__(self, limit: int = 4096):
        super().__init__(limit)

    def count(self, text: str) -> int:
        """Unicode code points of ``text`` as sent."""
        return len(text)


# A grapheme cluster that is an emoji (or an emoji sequence): a pictograph, a
# flag's regional indicators, or a keycap.
_EMOJI_CLUSTER = regex.compile(r"[\p{Extended_Pictographic}\p{Regional_Indicator}\u20e3]")


class ThreadsLength(CharacterLimit):
    """A Threads post: at most 500 characters, where "emojis are counted as the
    number of UTF-8 bytes" (Meta, Threads API "Posts", Limitations). Each grapheme
    cluster holding an emoji counts the UTF-8 bytes of the whole cluster (joiners,
    variation selectors and skin tones included: never fewer than Threads counts);
    any other character counts 1."""

    name = "threads characters (an emoji counts its UTF-8 bytes)"

    def __init__(self, limit: int = 500):
        super().__init__(limit)

    def count(self, text: str) -> int:
        """The length of ``text`` as Threads counts it, once NFC-normalised."""
        total = 0
        for cluster in regex.findall(r"\X", unicodedata.normalize("NFC", text)):
            if _EMOJI_CLUSTER.search(cluster):
                total += len(cluster.encode("utf-8"))
            else:
                total += len(cluster)
        return total


class _NamedCharacterLimit(CharacterLimit):
    def __init__(self, limit: int, name: str):
        super().__init__(limit)
        self.name = name


def length_rule(channel_type: str, options: Mapping[str, Any] | None = None) -> LengthRule:
    """The length rule of a channel type.

    ``x`` and ``facebook`` have the platforms' rules. ``mastodon`` counts as Mastodon
    does, up to ``options["max_length"]`` (500 by default: set the instance's own).
    ``bluesky`` (300 graphemes), ``telegram`` (4096 code points), ``threads`` (500, an
    emoji counting its UTF-8 bytes),
    ``linkedin`` (3000), ``discord`` (2000) and ``slack`` (40,000) take a
    ``max_length`` only below their limit. ``console``, ``jsonl`` and ``webhook``
    count characters up to ``max_length`` (500, 5000 and 10,000 by default); any
    other type counts characters up to ``max_length``, 500 by default.
    """
    options = options or {}
    if channel_type == "x":
        return XWeightedLength()
    if channel_type == "facebook":
        return FacebookLength()
    ceiling = PLATFORM_MAX_LENGTH.get(channel_type)
    default = ceiling or _DEFAULT_MAX_LENGTH.get(channel_type, _FALLBACK_MAX_LENGTH)
    max_length = options.get("max_length", default)
    if isinstance(max_length, bool) or not isinstance(max_length, int):
        raise ValueError(f"max_length must be a whole number, not {max_length!r}")
    if ceiling is not None and max_length > ceiling:
        raise ValueError(f"max_length {max_length} is above what {channel_type} takes ({ceiling})")
    if channel_type == "mastodon":
        return MastodonLength(max_length)
    if channel_type == "bluesky":
        return BlueskyLength(max_length)
    if channel_type == "telegram":
        return TelegramLength(max_length)
    if channel_type == "threads":
        return ThreadsLength(max_length)
    if channel_type in _CHARACTER_PLATFORMS:
        return _NamedCharacterLimit(max_length, _CHARACTER_PLATFORMS[channel_type])
    return CharacterLimit(max_length)
