"""Ingest: poll a feed and store its new articles (sources -> store).

One summary log line per poll (``feed=ledger status=not_modified new=0``).
A failing feed stores its error and backs off; it never stops the others.

After the post (issue 13): a poll also stores the new title or summary of
an article its source changed (``changed``), and on a WordPress feed finds
the recent articles the site unpublished (``unpublished``: one ``include=``
request for those missing from the list, only when the list changed);
``after_poll`` then corrects the posts of the first (``correct_article``,
per channel ``on_update``) and cancels the unsent posts of the second,
retracting them too with ``on_unpublish = "retract"``.  An RSS or Atom feed
cannot say an item was pulled (it only stops listing it), so only WordPress
feeds notice unpublishing.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from publisher.config import Config, FeedConfig
from publisher.exceptions import FetchError, InputError, ParseError
from publisher.services import observe
from publisher.services.policy import next_poll_delay
from publisher.sources import (
    Fetcher,
    decide_new_entries,
    parse_wordpress,
    wordpress_posts_url,
)
from publisher.sources.wordpress import changed_text, wordpress_id, wordpress_include_urls
from publisher.store.api import StoreAPI
from publisher.types import Article, ArticleData, ArticleState, FeedKind, OutboxItem, PostStatus

if TYPE_CHECKING:
    from publisher.services.ports import AppPorts

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
    #: Articles whose title or summary the source changed (stored already).
    changed: tuple[int, ...] = ()
    #: Articles the site unpublished (WordPress; marked already).
    unpublished: tuple[int, ...] = ()


def recheck_window(config: Config) -> float:
    """How far back a poll re-checks its articles (seconds): the longest
    channel ``max_age``, as older posts are not sent any more anyway."""
    return max((c.max_age for c in config.channels.values()), default=86400.0)

def feed_url(feed: FeedConfig) -> str:
    """The URL actually fetched for a feed."""
    return wordpress_posts_url(feed.url) if feed.kind is FeedKind.WORDPRESS else feed.url


def poll_feed(feed: FeedConfig, *, store: StoreAPI, fetcher: Fetcher,
              now: Callable[[], datetime], environ: Mapping[str, str],
              recheck: float = 86400.0) -> PollReport:
    """Fetch one feed, store the articles it has that nobody has seen, and
    schedule its next poll.  Articles of the feed first seen or published
    within ``recheck`` seconds are checked for changes (and, on WordPress,
    for being unpublished)."""
    started = time.monotonic()
    report = _poll_feed(feed, store=store, fetcher=fetcher, now=now, environ=environ,
                        recheck=recheck)
    observe.poll_took(feed.name, report.status, time.monotonic() - started)
    return report


def _poll_feed(feed: FeedConfig, *, store: StoreAPI, fetcher: Fetcher,
              now: Callable[[], datetime], environ: Mapping[str, str],
              recheck: float = 86400.0) -> PollReport:
    """The poll itself; ``poll_feed`` times it."""
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
                # feedparser is loaded for a changed body only: a re-check
                # answered 304 (or an unchanged body) never parses.
                from publisher.sources.parse import parse_feed

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
    changed: list[int] = []
    unpublished: list[int] = []
    if result.status == "changed" and state.seeded:
        changed = _store_changes(feed, store, entries)
        if feed.kind is FeedKind.WORDPRESS:
            unpublished = _unpublished(feed, store, fetcher, entries, headers, now=now(),
                                       since=now() - timedelta(seconds=recheck), url=url)
    delay = next_poll_delay(feed.poll_interval, server_delay=result.retry_after)
    at = now() + timedelta(seconds=delay)
    store.record_poll_success(feed.name, now=now(), etag=result.etag,
                              last_modified=result.last_modified, body_hash=result.body_hash,
                              next_poll_at=at)
    # A poll that brought nothing is the steady state: DEBUG, not a line a minute per feed.
    quiet = not (new or seen or changed or unpublished)
    log.log(logging.DEBUG if quiet else logging.INFO,
            "feed=%s status=%s entries=%d new=%d seen=%d changed=%d unpublished=%d",
            feed.name, result.status, len(entries), new, seen, len(changed), len(unpublished),
            extra={"feed": feed.name, "action": "poll"})
    return PollReport(feed.name, result.status, new=new, seen=seen, entries=len(entries),
                      next_poll_at=at, changed=tuple(changed), unpublished=tuple(unpublished))


def _store_changes(feed: FeedConfig, store: StoreAPI, entries: list[ArticleData]) -> list[int]:
    """Store the new title and summary of the feed's known articles whose
    source changed them (same guid); their ids."""
    stored = store.articles_by_guid([e.guid for e in entries])
    out: list[int] = []
    for entry in entries:
        article = stored.get(entry.guid)
        if article is None or article.feed != feed.name or article.retracted:
            continue  # an editor's page read has other words: not a correction
        if changed_text(article.data, entry):
            store.update_article_text(article.id, title=entry.title, summary=entry.summary,
                                      updated=entry.updated)
            out.append(article.id)
    return out


def _unpublished(feed: FeedConfig, store: StoreAPI, fetcher: Fetcher,
                 entries: list[ArticleData], headers: Mapping[str, str], *, now: datetime,
                 since: datetime, url: str) -> list[int]:
    """The feed's recent articles the site no longer publishes: those
    missing from the list are asked for by id (``include=``); the ones the
    answer leaves out are marked unpublished.  A failed check says nothing."""
    listed = {e.guid for e in entries}
    missing: dict[int, Article] = {}
    for article in store.recent_articles(feed.name, since=since):
        post_id = wordpress_id(article.data.guid)
        if post_id is not None and article.data.guid not in listed:
            missing[post_id] = article
    if not missing:
        return []
    present: set[str] = set()
    try:
        for check in wordpress_include_urls(url, list(missing)):
            answer = fetcher.fetch(check, headers=headers)
            if answer.body is None:
                return []
            present.update(a.guid for a in parse_wordpress(answer.body, base_url=answer.final_url,
                                                           max_entries=100))
    except (FetchError, ParseError) as exc:
        log.warning("feed=%s unpublished check failed: %s", feed.name, exc,
                    extra={"feed": feed.name, "action": "poll"})
        return []
    return [a.id for a in missing.values()
            if a.data.guid not in present and store.mark_unpublished(a.id, now=now)]


def after_poll(app: AppPorts, feed: FeedConfig, report: PollReport) -> PollReport:
    """What a poll found after the post: corrections (``correct_article``
    for the channels whose ``on_update`` is not "ignore") and articles the
    site unpublished (unsent posts cancelled; with ``on_unpublish =
    "retract"`` the article retracted, else named in the log and status).
    A failure here is logged and never stops the poll."""
    from publisher.services.after_post import correct_article, retract_article

    for article_id in report.unpublished:
        try:
            posts = app.store.article_posts(article_id)
            if not posts:  # never posted (seen on the first poll, or too old)
                log.info("feed=%s article %d unpublished on the site: it has no posts",
                         feed.name, article_id, extra={"feed": feed.name,
                                                       "action": "unpublished"})
                continue
            if feed.on_unpublish == "retract":
                retract_article(app, str(article_id), reason="unpublished on the site",
                                by="publisher")
                log.warning("feed=%s article %d unpublished on the site: retracted",
                            feed.name, article_id, extra={"feed": feed.name,
                                                          "action": "unpublished"})
                continue
            cancelled = _cancel_unsent(app, posts)
            out = [p for p in posts if p.status in (PostStatus.PUBLISHED, PostStatus.EDITING)]
            if out:
                log.warning("feed=%s article %d unpublished on the site; `publisher retract %d` "
                            "to take its posts down", feed.name, article_id, article_id,
                            extra={"feed": feed.name, "action": "unpublished"})
            else:
                log.warning("feed=%s article %d unpublished on the site: none of its posts "
                            "was out; %d cancelled", feed.name, article_id, cancelled,
                            extra={"feed": feed.name, "action": "unpublished"})
        except InputError as exc:
            log.warning("feed=%s article %d unpublished on the site: %s", feed.name,
                        article_id, exc, extra={"feed": feed.name, "action": "unpublished"})
    for article_id in report.changed:
        if article_id in report.unpublished:
            continue
        try:
            done = correct_article(app, str(article_id), by="publisher",
                                   reason="changed on the site", by_hand=False)
        except InputError as exc:
            log.warning("feed=%s article %d changed on the site: %s", feed.name, article_id,
                        exc, extra={"feed": feed.name, "action": "corrected"})
            continue
        acted = [f"{line.channel}:{line.action}" for line in done.lines
                 if line.action in ("edit", "note")]
        log.info("feed=%s article %d changed on the site: %s", feed.name, article_id,
                 " ".join(acted) or "nothing to correct", extra={"feed": feed.name,
                                                                  "action": "corrected"})
    return report


def _cancel_unsent(app: AppPorts, posts: list[OutboxItem]) -> int:
    """Cancel the article's posts that have not gone out (a lifecycle
    decision each); how many were."""
    from publisher.services import lifecycle
    from publisher.services.desk_changes import apply

    done = 0
    for item in posts:
        decision = lifecycle.cancel(item)
        if isinstance(decision, lifecycle.Change):
            # a worker that took it meanwhile: the dispatcher decides it
            with contextlib.suppress(InputError):
                apply(app, item, decision, worker="publisher", action="cancelled")
                done += 1
    return done
