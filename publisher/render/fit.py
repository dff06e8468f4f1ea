"""Render a post and fit it into its channel's length rule.

:func:`render_post` is a pure function of the article, the template and the
rule: no clock, no I/O beyond loading the template. When the full text is too
long it shortens, in this order, and never anything else:

1. the summary, to the longest word-boundary prefix that fits, ending in "…"
   (down to no summary at all);
2. with no summary, the title the same way, keeping at least three words.

The link and the hashtags are never touched. What cannot fit raises
:class:`~publisher.exceptions.TooLong`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, ClassVar

from publisher.exceptions import TooLong
from publisher.render.env import Renderer
from publisher.render.filters import end_with_ellipsis, with_query_params
from publisher.render.length import LengthRule
from publisher.types import ArticleData, RenderedPost

__all__ = [
    "MIN_TITLE_WORDS",
    "ArticleView",
    "ChannelView",
    "clean_text",
    "render_post",
    "tagged_link",
]

#: A title is never cut shorter than this many words (or CJK characters).
MIN_TITLE_WORDS = 3

#: Context names render_post sets itself; ``extra`` may not reuse them.
RESERVED_NAMES = frozenset({"article", "link", "channel"})

_UTM_ORDER = ("source", "medium", "campaign", "term", "content")
# Characters X rejects and nobody means to post (byte order marks, non-characters).
_INVALID = re.compile("[\ufeff\ufffe\uffff]")
_BLANK_LINES = re.compile(r"\n{3,}")
# Closing punctuation after which a CJK text may be cut, and which may not start a cut-off.
_CJK_CLOSING = frozenset("。、，．！？」』）】〕〉》・：；…")


@dataclass(frozen=True, slots=True)
class ArticleView:
    """The article as templates see it (``{{ article.title }}``), read-only."""

    __render_name__: ClassVar[str] = "article"

    title: str
    summary: str
    url: str
    link: str  # url with the channel's UTM tags
    author: str
    categories: tuple[str, ...]
    tags: tuple[str, ...]
    published: datetime | None
    image_url: str
    image_alt: str

    @classmethod
    def of(cls, article: ArticleData, link: str) -> ArticleView:
        """The view of ``article``, its link being ``link``."""
        return cls(
            title=article.title,
            summary=article.summary,
            url=article.url,
            link=link,
            author=article.author,
            categories=tuple(article.categories),
            tags=tuple(article.tags),
            published=article.published,
            image_url=article.image.url if article.image else "",
            image_alt=article.image.alt if article.image else "",
        )


@dataclass(frozen=True, slots=True)
class ChannelView:
    """The channel as templates see it (``{{ channel.name }}``, ``{{ channel.type }}``)."""

    __render_name__: ClassVar[str] = "channel"

    name: str
    type: str


def tagged_link(url: str, utm: Mapping[str, str] | None) -> str:
    """``url`` with the UTM parameters of ``utm`` added, its own query kept as it was.

    Keys may be given with or without the ``utm_`` prefix (``{"source": "x",
    "medium": "social", "campaign": "spring"}``); empty values are left out.
    """
    if not utm:
        return url
    values = {_utm_name(key): str(value) for key, value in utm.items() if value}
    known = [f"utm_{key}" for key in _UTM_ORDER if f"utm_{key}" in values]
    others = [key for key in values if key not in known]
    return with_query_params(url, [(key, values[key]) for key in known + others])


def _utm_name(key: str) -> str:
    return key if key.startswith("utm_") else f"utm_{key}"


def clean_text(text: str) -> str:
    """A rendered post as published: NFC, no trailing blanks, at most one empty line in a row."""
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = _INVALID.sub("", text)
    text = "\n".join(line.rstrip() for line in text.split("\n"))
    return _BLANK_LINES.sub("\n\n", text).strip()


def render_post(
    renderer: Renderer,
    *,
    channel_type: str,
    template: str,
    article: ArticleData,
    rule: LengthRule,
    channel_name: str = "",
    utm: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> RenderedPost:
    """Render ``article`` with ``<channel_type>/<template>.j2`` and fit it into ``rule``.

    Templates get ``article`` (an :class:`ArticleView`), ``link`` (the article URL
    with ``utm`` tags), ``channel`` (``name``, ``type``) and the entries of ``extra``.
    Raises :class:`RenderError` when the template fails and :class:`TooLong` when
    even the shortest allowed text is over the limit.
    """
    extra = dict(extra or {})
    clash = RESERVED_NAMES.intersection(extra)
    if clash:
        raise ValueError(f"extra context may not set {', '.join(sorted(clash))}")
    link = tagged_link(article.url, utm)
    view = ArticleView.of(article, link)
    channel = ChannelView(channel_name or channel_type, channel_type)
    limit = rule.limit

    def attempt(title: str, summary: str) -> tuple[str, int]:
        context = {
            **extra,
            "article": replace(view, title=title, summary=summary),
            "link": link,
            "channel": channel,
        }
        text = clean_text(renderer.render(channel_type, template, context))
        return text, rule.count(text)

    text, length = attempt(view.title, view.summary)
    if length <= limit:
        return RenderedPost(text, length=length, limit=limit)

    shortened: list[str] = []
    title, summary = view.title, view.summary
    if summary:
        without_text, without_length = attempt(title, "")
        if without_text != text:  # the template shows the summary: shortening it helps
            shortened.append("summary")
            if without_length <= limit:
                cuts = _Cuts(summary)
                found = _longest_fit(cuts, 0, lambda i: attempt(title, cuts[i]), limit)
                best = found or (without_text, without_length)
                return RenderedPost(best[0], length=best[1], limit=limit, shortened=("summary",))
        summary = ""
        text, length = without_text, without_length

    cuts = _Cuts(title)
    first = MIN_TITLE_WORDS - 1  # the cut after the third word
    shortest = attempt(cuts[first], summary) if len(cuts) > first else (text, length)
    if len(cuts) <= first or shortest[0] == text or shortest[1] > limit:
        what = "the summary dropped and the title" if shortened else "the title"
        raise TooLong(
            f"{shortest[1]} > {limit} ({rule.name}): {channel_type}/{template} does not fit "
            f"even with {what} cut to {MIN_TITLE_WORDS} words",
            length=shortest[1],
            limit=limit,
        )
    best = _longest_fit(cuts, first + 1, lambda i: attempt(cuts[i], summary), limit) or shortest
    return RenderedPost(best[0], length=best[1], limit=limit, shortened=(*shortened, "title"))


def _longest_fit(
    cuts: _Cuts,
    start: int,
    attempt: Callable[[int], tuple[str, int]],
    limit: int,
) -> tuple[str, int] | None:
    """The rendering with the longest cut from ``start`` on that fits, or None.

    A binary search: a longer prefix never renders shorter, and a long summary
    would otherwise cost one render per word.
    """
    best: tuple[str, int] | None = None
    lo, hi = start, len(cuts) - 1
    while lo <= hi:
        mid = (lo + hi) // 2
        result = attempt(mid)
        if result[1] <= limit:
            best, lo = result, mid + 1
        else:
            hi = mid - 1
    return best


class _Cuts:
    """The word-boundary prefixes of a text shorter than it, ending in "…", shortest first.

    Words end at spaces; in Chinese and Japanese, which have none, between any two
    characters except before closing punctuation. Prefixes are built when asked for.
    """

    def __init__(self, text: str):
        self.text = text = " ".join(text.split())
        self.positions = [
            i
            for i in range(1, len(text))
            if text[i] == " "
            or (_is_cjk(text[i]) and (_is_cjk(text[i - 1]) or text[i - 1] in _CJK_CLOSING))
        ]

    def __len__(self) -> int:
        return len(self.positions)

    def __getitem__(self, index: int) -> str:
        return end_with_ellipsis(self.text[: self.positions[index]])


def _is_cjk(ch: str) -> bool:
    cp = ord(ch)
    return (
        0x3040 <= cp <= 0x30FF  # hiragana, katakana
        or 0x3400 <= cp <= 0x4DBF  # CJK extension A
        or 0x4E00 <= cp <= 0x9FFF  # CJK unified ideographs
        or 0xF900 <= cp <= 0xFAFF  # compatibility ideographs
        or 0xFF66 <= cp <= 0xFF9D  # halfwidth katakana
        or 0x20000 <= cp <= 0x3134F  # CJK extensions B–G
        or cp == 0x3005  # 々
    )
