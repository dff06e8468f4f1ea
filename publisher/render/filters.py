"""Template filters: hashtags, UTM tagging, plain text, word truncation.

Each is a plain function, usable and tested without Jinja; :class:`Renderer`
registers them (``hashtags`` bound to its hashtag map and limit).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from urllib.parse import quote, unquote_plus, urlsplit, urlunsplit

__all__ = [
    "ELLIPSIS",
    "end_with_ellipsis",
    "hashtags",
    "make_hashtag",
    "plain",
    "truncate_words",
    "utm",
    "with_query_params",
]

ELLIPSIS = "…"

# Categories that say nothing: WordPress files posts under "Uncategorized" by default.
_IGNORED_CATEGORIES = frozenset({"uncategorized", "uncategorised"})
# Apostrophes vanish inside a word ("Mayor's" → "Mayors") instead of splitting it.
_APOSTROPHES = re.compile(r"['’ʼ`´]")
_TAG = re.compile(r"<!--.*?-->|</?[A-Za-z][^<>]*>", re.DOTALL)
_WHITESPACE = re.compile(r"\s+")


def _is_word_char(ch: str) -> bool:
    # Letters and digits of any script, and the combining marks many scripts need
    # (Devanagari vowel signs, Arabic harakat, Hebrew points).
    return ch.isalnum() or unicodedata.category(ch).startswith("M")


def make_hashtag(category: str) -> str:
    """``"city council"`` → ``"#CityCouncil"``; ``""`` when nothing usable is left.

    Words are joined in CamelCase, punctuation and spaces dropped; letters of every
    script are kept. A tag of digits only is no hashtag on X, so it is dropped too.
    """
    text = _APOSTROPHES.sub("", unicodedata.normalize("NFC", category))
    words: list[str] = []
    current: list[str] = []
    for ch in text:
        if _is_word_char(ch):
            current.append(ch)
        elif current:
            words.append("".join(current))
            current = []
    if current:
        words.append("".join(current))
    tag = "".join(word[:1].upper() + word[1:] for word in words)
    if not any(ch.isalpha() for ch in tag):
        return ""
    return "#" + tag


def hashtags(
    categories: Iterable[str] | str | None,
    limit: int | None = None,
    *,
    mapping: Mapping[str, str] | None = None,
) -> str:
    """Hashtags for ``categories``, space-separated: ``"#Politics #CityCouncil"``.

    ``mapping`` replaces a category by a fixed hashtag (``{"Local News":
    "#RiversideNews"}``; matched ignoring case; an empty value drops the category).
    Duplicates are dropped ignoring case, as are categories that leave no letter
    ("2024") and "Uncategorized". At most ``limit`` hashtags, all when ``None``.
    """
    if not categories or (limit is not None and limit <= 0):
        return ""
    if isinstance(categories, str):
        categories = [categories]
    folded_map = {key.casefold(): value for key, value in (mapping or {}).items()}
    seen: set[str] = set()
    tags: list[str] = []
    for category in categories:
        key = str(category).strip()
        if not key or key.casefold() in _IGNORED_CATEGORIES:
            continue
        mapped = folded_map.get(key.casefold())
        if mapped is not None:
            tag = make_hashtag(mapped.lstrip("#")) if mapped.strip() else ""
        else:
            tag = make_hashtag(key)
        if not tag or tag.casefold() in seen:
            continue
        seen.add(tag.casefold())
        tags.append(tag)
        if limit is not None and len(tags) >= limit:
            break
    return " ".join(tags)


def with_query_params(url: str, params: Iterable[tuple[str, str]]) -> str:
    """``url`` with ``params`` set in its query, the rest of the URL untouched.

    Existing parameters keep their place and their exact encoding; one with the name
    of a new parameter is replaced by it. The fragment stays at the end.
    """
    params = [(name, value) for name, value in params if value]
    if not params:
        return url
    parts = urlsplit(url)
    names = {name for name, _ in params}
    kept = [
        pair
        for pair in parts.query.split("&")
        if pair and unquote_plus(pair.split("=", 1)[0]) not in names
    ]
    added = [f"{quote(name, safe='')}={quote(value, safe='')}" for name, value in params]
    return urlunsplit(parts._replace(query="&".join(kept + added)))


def utm(url: str, source: str, medium: str = "social", campaign: str | None = None) -> str:
    """``url`` tagged with ``utm_source``, ``utm_medium`` and ``utm_campaign`` if given."""
    return with_query_params(
        url,
        [("utm_source", source), ("utm_medium", medium), ("utm_campaign", campaign or "")],
    )


def plain(text: str | None) -> str:
    """``text`` without HTML tags, its whitespace folded to single spaces."""
    if not text:
        return ""
    return _WHITESPACE.sub(" ", _TAG.sub(" ", str(text))).strip()


def truncate_words(text: str | None, n: int) -> str:
    """The first ``n`` words of ``text``, followed by "…" when there were more."""
    words = plain(text).split(" ")
    if not words[0]:
        return ""
    if len(words) <= n:
        return " ".join(words)
    return end_with_ellipsis(" ".join(words[: max(n, 0)]))


def end_with_ellipsis(text: str) -> str:
    """``text`` cut short: trailing spaces and clause punctuation give way to "…"."""
    return text.rstrip().rstrip(",;:.-–—(「『（、。，：；").rstrip() + ELLIPSIS
