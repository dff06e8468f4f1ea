"""Push intake: a signed notice names a post; read it from the site and plan it.

The notice is only a hint.  For a WordPress feed, the post it names is read
through the site's REST API (``/wp-json/wp/v2/posts?include=<id>`` or
``?slug=<slug>``, with ``_embed`` and ``status=publish``, so a draft or a
private post comes back empty) and parsed by the same code as a poll; the
body's own title or text is never used.  For any other feed kind the notice
makes publisher poll the feed now.

``decide_notice`` is the pure part (what the notice asks for); ``read_post``
is the thin pipeline around it.  Polling stays the safety net: a lost notice
is made up by the next poll, and an article the poll already stored is not
stored again (guid and URL are unique).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlsplit

from publisher.config import FeedConfig
from publisher.exceptions import FetchError, ParseError
from publisher.sources import Fetcher, parse_wordpress, wordpress_posts_url
from publisher.store.api import StoreAPI
from publisher.types import ArticleState, FeedKind

log = logging.getLogger("publisher.push")

EVENTS = ("published", "updated", "unpublished")


@dataclass(frozen=True, slots=True)
class ReadPost:
    """Read this post of the site now."""

    query: str  # "include=123" or "slug=my-story"


@dataclass(frozen=True, slots=True)
class PollFeed:
    """The feed is not a WordPress API: poll it now."""


@dataclass(frozen=True, slots=True)
class Ignore:
    reason: str


@dataclass(frozen=True, slots=True)
class BadNotice:
    message: str


Decision = ReadPost | PollFeed | Ignore | BadNotice


def decide_notice(kind: FeedKind, body: bytes) -> Decision:
    """What a (signed) notice asks for: ``{"event": "published", "post_id": 123}``
    or ``{"event": ..., "url": "https://site/2026/12/story/"}``."""
    try:
        data: Any = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return BadNotice("body is not JSON")
    if not isinstance(data, dict):
        return BadNotice("body is not a JSON object")
    event = data.get("event")
    if event not in EVENTS:
        return BadNotice(f"event must be one of {', '.join(EVENTS)}")
    if event == "unpublished":
        # Never on the notice's word: the poll reads the site again and its
        # re-check notices the article gone (status, or on_unpublish).
        return PollFeed()
    if kind is not FeedKind.WORDPRESS:
        return PollFeed()
    post_id, url = data.get("post_id"), data.get("url")
    if isinstance(post_id, int) and not isinstance(post_id, bool) and 0 < post_id < 2**53:
        return ReadPost(f"include={post_id}")
    if isinstance(post_id, str) and post_id.isdigit() and len(post_id) < 16:
        return ReadPost(f"include={int(post_id)}")
    if isinstance(url, str) and url.startswith(("http://", "https://")) and len(url) < 2048:
        slug = urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]
        if slug:
            return ReadPost(f"slug={quote(slug, safe='')}")
    return BadNotice("name the post: post_id (a number) or url")


@dataclass(frozen=True, slots=True)
class PushReport:
    """What one notice did: ``status`` is planned | known | absent | polled | ignored."""

    feed: str
    status: str
    article_ids: tuple[int, ...] = ()
    detail: str = ""


def read_post(feed: FeedConfig, query: str, *, store: StoreAPI, fetcher: Fetcher,
              now: Callable[[], datetime], environ: Mapping[str, str]) -> PushReport:
    """Read one post from a WordPress feed's REST API and store it as pending
    (to be planned) unless it is known.  Raises ``FetchError``/``ParseError``."""
    url = wordpress_posts_url(feed.url, per_page=1)
    url += ("&" if "?" in url else "?") + query
    headers = dict(feed.headers)
    headers.update({h: environ.get(env, "") for h, env in feed.headers_from_env.items()})
    result = fetcher.fetch(url, headers=headers)
    if result.body is None:  # no conditional headers were sent: cannot happen
        raise FetchError(f"empty answer for {feed.name}")
    entries = parse_wordpress(result.body, base_url=result.final_url, max_entries=1)
    if not entries:
        return PushReport(feed.name, "absent", detail="not published (or not found)")
    known_guids, known_urls = store.known({e.guid for e in entries}, {e.url for e in entries})
    fresh = [e for e in entries if e.guid not in known_guids and e.url not in known_urls]
    if not fresh:
        return PushReport(feed.name, "known", detail=entries[0].url)
    added = store.add_articles(feed.name, fresh, state=ArticleState.PENDING, now=now())
    if not added:  # a poll stored it a moment ago
        return PushReport(feed.name, "known", detail=entries[0].url)
    log.info("feed=%s push: stored article=%d url=%s", feed.name, added[0].id, added[0].data.url,
             extra={"feed": feed.name, "action": "push"})
    return PushReport(feed.name, "planned", tuple(a.id for a in added), added[0].data.url)


__all__ = [
    "EVENTS",
    "BadNotice",
    "Decision",
    "FetchError",
    "Ignore",
    "ParseError",
    "PollFeed",
    "PushReport",
    "ReadPost",
    "decide_notice",
    "read_post",
]
