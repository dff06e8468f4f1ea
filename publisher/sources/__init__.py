"""Sources: fetching feeds and pages, parsing them into ``ArticleData``, and
the pure decider of which entries are new.

Imports only ``publisher.types`` and ``publisher.exceptions``. httpx errors
are translated to ``FetchError`` in :mod:`publisher.sources.fetch` and nowhere
else; every parse problem is a ``ParseError``.

Importing this package loads none of its modules: each name is imported from
its module when first asked for, so ``from publisher.sources import Fetcher``
does not load feedparser, and ``publisher.sources.normalize`` does not load
httpx.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from publisher.sources.decide import FeedDecision, decide_new_entries, newest_first
    from publisher.sources.fetch import DEFAULT_USER_AGENT, Fetcher, FetchResult, redact_url
    from publisher.sources.normalize import canonical_url, plain_text
    from publisher.sources.page import fetch_page_metadata, parse_page_metadata
    from publisher.sources.parse import parse_feed
    from publisher.sources.wordpress import parse_wordpress, wordpress_posts_url

#: Each public name -> the module of this package that defines it.
_MODULE_OF = {
    "FeedDecision": "decide",
    "decide_new_entries": "decide",
    "newest_first": "decide",
    "DEFAULT_USER_AGENT": "fetch",
    "Fetcher": "fetch",
    "FetchResult": "fetch",
    "redact_url": "fetch",
    "canonical_url": "normalize",
    "plain_text": "normalize",
    "fetch_page_metadata": "page",
    "parse_page_metadata": "page",
    "parse_feed": "parse",
    "parse_wordpress": "wordpress",
    "wordpress_posts_url": "wordpress",
}

__all__ = [
    "DEFAULT_USER_AGENT",
    "FeedDecision",
    "FetchResult",
    "Fetcher",
    "canonical_url",
    "decide_new_entries",
    "fetch_page_metadata",
    "newest_first",
    "parse_feed",
    "parse_page_metadata",
    "parse_wordpress",
    "plain_text",
    "redact_url",
    "wordpress_posts_url",
]


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # asked once
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_MODULE_OF])
