"""Sources: fetching feeds and pages, parsing them into ``ArticleData``, and
the pure decider of which entries are new.

Imports only ``publisher.types`` and ``publisher.exceptions``. httpx errors
are translated to ``FetchError`` in :mod:`publisher.sources.fetch` and nowhere
else; every parse problem is a ``ParseError``.
"""

from __future__ import annotations

from publisher.sources.decide import FeedDecision, decide_new_entries, newest_first
from publisher.sources.fetch import DEFAULT_USER_AGENT, Fetcher, FetchResult, redact_url
from publisher.sources.normalize import canonical_url, plain_text
from publisher.sources.page import fetch_page_metadata, parse_page_metadata
from publisher.sources.parse import parse_feed
from publisher.sources.wordpress import parse_wordpress, wordpress_posts_url

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
