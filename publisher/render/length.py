"""Each platform's length rule: how it counts a post and how much it takes."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from publisher.render.twitter_text import V3, TweetParse, TwitterTextConfig, parse_tweet

__all__ = [
    "FACEBOOK_MAX_LENGTH",
    "CharacterLimit",
    "FacebookLength",
    "LengthRule",
    "XWeightedLength",
    "length_rule",
]

#: The longest Facebook post text the Graph API accepts.
FACEBOOK_MAX_LENGTH = 63_206

#: Limits of the dry-run channels when the channel does not set ``max_length``.
_DEFAULT_MAX_LENGTH = {"console": 500, "jsonl": 5000}
_FALLBACK_MAX_LENGTH = 500


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
    2 (CJK, most symbols), an emoji sequence 2 in total, and every URL 23 however
    long it is, bare domains included. The text is NFC-normalised first.
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


def length_rule(channel_type: str, options: Mapping[str, Any] | None = None) -> LengthRule:
    """The length rule of a channel type.

    ``x`` and ``facebook`` have the platforms' rules; ``console`` and ``jsonl`` count
    characters up to ``options["max_length"]`` (500 and 5000 by default); any other
    type counts characters up to ``max_length``, 500 by default.
    """
    options = options or {}
    if channel_type == "x":
        return XWeightedLength()
    if channel_type == "facebook":
        return FacebookLength()
    default = _DEFAULT_MAX_LENGTH.get(channel_type, _FALLBACK_MAX_LENGTH)
    max_length = options.get("max_length", default)
    if isinstance(max_length, bool) or not isinstance(max_length, int):
        raise ValueError(f"max_length must be a whole number, not {max_length!r}")
    return CharacterLimit(max_length)
