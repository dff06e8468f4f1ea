"""Rendering posts: the sandboxed templates, their filters, and each platform's length rule.

The planner calls :func:`render_post` with a :class:`Renderer`, an article and the
channel's :func:`length_rule`; it gets a :class:`~publisher.types.RenderedPost`
that fits, or :class:`~publisher.exceptions.RenderError` /
:class:`~publisher.exceptions.TooLong`.
"""

from __future__ import annotations

from publisher.render.env import Renderer
from publisher.render.filters import hashtags, plain, truncate_words, utm
from publisher.render.fit import ArticleView, ChannelView, clean_text, render_post, tagged_link
from publisher.render.length import (
    CharacterLimit,
    FacebookLength,
    LengthRule,
    XWeightedLength,
    length_rule,
)
from publisher.render.twitter_text import TweetParse, TwitterTextConfig, parse_tweet

__all__ = [
    "ArticleView",
    "ChannelView",
    "CharacterLimit",
    "FacebookLength",
    "LengthRule",
    "Renderer",
    "TweetParse",
    "TwitterTextConfig",
    "XWeightedLength",
    "clean_text",
    "hashtags",
    "length_rule",
    "parse_tweet",
    "plain",
    "render_post",
    "tagged_link",
    "truncate_words",
    "utm",
]
