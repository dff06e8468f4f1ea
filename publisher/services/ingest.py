"""Ingest: poll a feed and store its new articles (sources -> store).

One summary log line per poll (``feed=ledger status=not_modified new=0``).
A failing feed stores its error and backs off; it never stops the others.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from publisher.config import FeedConfig
from publisher.exceptions import FetchError, ParseError
from publisher.services.policy import next_poll_delay
from publisher.sources import (
    Fetcher,
    decide_new_entries,
    parse_feed,
    parse_wordpress,
    wordpress_posts_url,
)
from publisher.store.api import StoreAPI
from publisher.types import ArticleData, ArticleState, FeedKind

log = logging.getLogger("publisher.ingest")


@dataclass(frozen=True)
class PollReport:
    """What one poll of one feed did."""

    feed: str
    status: str  # not_modified | unchanged | changed | error
    new: int = 0  # articles queued for planning
    seen: int = 0  # new articles remembered without planning (first poll)
    entries: int = 0
    error: str | None = None
    next_poll_at: datetime | None = None


def feed_url(feed: FeedConfig) -> str:
    """The URL actually fetched for a feed."""
    return wordpress_posts_url(feed.url) if feed.kind is FeedKind.WORDPRESS else feed.url


def poll_feed(feed: FeedConfig, *, store: StoreAPI, fetcher: Fetcher,
              now: Callable[[], datetime], environ: Mapping[str, str]) -> PollReport:
    """Fetch one feed, store the articles it has that nobody has seen, and
    schedule its next poll."""
    state = store.get_feed(feed.name)
    url = feed_url(feed)
    headers = dict(feed.headers)
    headers.update({h: environ.get(env, "") for h, env in feed.headers_from_env.items()})
    try:
        result = fetcher.fetch(url, etag=state.etag, last_modified=state.last_modified,
                               body_hash=state.body_hash, headers=headers)
        entries: list[ArticleData] = []
        if result.status == "changed":
            assert result.body is not None
            if feed.kind is FeedKind.WORDPRESS:
                entries = parse_wordpress(result.body, base_url=result.final_url,
                                          max_entries=feed.max_entries)
            else:
                entries = parse_feed(result.body, base_url=result.final_url,
                                     content_type=result.content_type,
                                     max_entries=feed.max_entries)
    except (FetchError, ParseError) as exc:
        retry_after = exc.retry_after if isinstance(exc, FetchError) else None
        delay = next_poll_delay(feed.poll_interval, error_count=state.error_count + 1,
                                server_delay=retry_after)
        at = now() + timedelta(seconds=delay)
        count = store.record_poll_failure(feed.name, now=now(), error=str(exc), next_poll_at=at)
        log.warning("feed=%s status=error failures=%d next_poll=%s error=%s",
                    feed.name, count, at.isoformat(timespec="seconds"), exc,
                    extra={"feed": feed.name, "action": "poll"})
        return PollReport(feed.name, "error", error=str(exc), next_poll_at=at)

    new = seen = 0
    if entries:
        known_guids, known_urls = store.known({e.guid for e in entries}, {e.url for e in entries})
        decision = decide_new_entries(
            entries,
            is_known=lambda e: e.guid in known_guids or e.url in known_urls,
            first_fetch=not state.seeded,
            backfill=feed.backfill,
        )
        seeded = None
        if not state.seeded:
            # The seeding and what it remembers are one transaction, taken only
            # if no other daemon seeded the feed since we looked.
            seeded = store.seed_feed(feed.name, decision.plan, decision.seen_only, now=now())
            if seeded is None:
                known_guids, known_urls = store.known({e.guid for e in entries},
                                                      {e.url for e in entries})
                decision = decide_new_entries(
                    entries, is_known=lambda e: e.guid in known_guids or e.url in known_urls,
                    first_fetch=False, backfill=feed.backfill)
        if seeded is not None:
            new, seen = len(seeded[0]), len(seeded[1])
        elif decision.plan:
            new = len(store.add_articles(feed.name, decision.plan,
                                         state=ArticleState.PENDING, now=now()))
        if seeded is None and decision.seen_only:
            seen = len(store.add_articles(feed.name, decision.seen_only,
                                          state=ArticleState.SEEN, now=now()))
    delay = next_poll_delay(feed.poll_interval, server_delay=result.retry_after)
    at = now() + timedelta(seconds=delay)
    store.record_poll_success(feed.name, now=now(), etag=result.etag,
                              last_modified=result.last_modified, body_hash=result.body_hash,
                              next_poll_at=at)
    log.info("feed=%s status=%s entries=%d new=%d seen=%d", feed.name, result.status,
             len(entries), new, seen, extra={"feed": feed.name, "action": "poll"})
    return PollReport(feed.name, result.status, new=new, seen=seen, entries=len(entries),
                      next_poll_at=at)
