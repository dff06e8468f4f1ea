"""Recurring posts: evergreen content on a cron schedule.

``[[recurring]]`` in the schedules names a cron expression (in the site's
time zone), the channels, and either a fixed ``text`` or a rotation of
article ``urls`` (each firing takes the next one).  APScheduler fires the job;
this module turns one firing into posts.  Keys derive from the name, the
firing time and the channel, so a firing queued twice (two daemons on one
PostgreSQL, a restart inside the same minute) is inserted once.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Protocol

from publisher.config import Config, RecurringConfig
from publisher.exceptions import PublisherError, RenderError
from publisher.render import Renderer
from publisher.services.plan import render_for
from publisher.sources import Fetcher, canonical_url, fetch_page_metadata
from publisher.store.api import StoreAPI
from publisher.types import ArticleData, NewPost, PostStatus


class RecurringApp(Protocol):
    """What a firing needs of the app."""

    @property
    def config(self) -> Config: ...

    @property
    def store(self) -> StoreAPI: ...
    @property
    def renderer(self) -> Renderer: ...

    @property
    def fetcher(self) -> Fetcher: ...

    @property
    def now(self) -> Callable[[], datetime]: ...

log = logging.getLogger("publisher.recurring")


def _key(name: str, fired_at: datetime, channel: str) -> str:
    minute = fired_at.replace(second=0, microsecond=0).isoformat()
    return hashlib.sha256(f"recurring:{name}:{minute}:{channel}".encode()).hexdigest()[:32]


def rotation_index(app: RecurringApp, rec: RecurringConfig) -> int:
    """Which URL of the rotation this firing takes: the next one after those
    already queued (counted on the first channel), in order, round and round."""
    done = app.store.count_posts(channel=rec.channels[0], created_by=f"recurring:{rec.name}")
    return done % len(rec.urls)


def _article(app: RecurringApp, url: str) -> ArticleData:
    canonical = canonical_url(url) or url
    stored = app.store.find_article(canonical)
    if stored is not None:
        return stored.data
    return fetch_page_metadata(app.fetcher, url)


def add_recurring(app: RecurringApp, name: str, fired_at: datetime) -> list[int]:
    """Queue one firing of the recurring post ``name``."""
    rec = next(r for r in app.config.recurring if r.name == name)
    posts: list[NewPost] = []
    article: ArticleData | None = None
    if rec.urls:
        url = rec.urls[rotation_index(app, rec)]
        try:
            article = _article(app, url)
        except PublisherError as exc:
            log.error("recurring=%s cannot read %s: %s", name, url, exc)
            return []
    for channel_name in rec.channels:
        channel = app.config.channels[channel_name]
        expires = fired_at + timedelta(seconds=channel.max_age)
        key = _key(name, fired_at, channel_name)
        status = PostStatus.DRAFT if channel.approval else PostStatus.QUEUED
        post = NewPost(channel=channel_name, text=rec.text or "", priority=rec.priority,
                       expires_at=expires, created_by=f"recurring:{name}",
                       idempotency_key=key, not_before=fired_at, status=status)
        if article is not None:
            try:
                rendered = render_for(app.renderer, channel, article, rec.template)
                post = replace(post, text=rendered.text, link=article.url, image=article.image,
                               template=rec.template or channel.template)
            except RenderError as exc:
                post = replace(post, text="", link=article.url, status=PostStatus.FAILED,
                               last_error=str(exc))
        posts.append(post)
    ids = app.store.add_posts(posts, article_id=None, now=app.now())
    log.info("recurring=%s queued=%d", name, len(ids), extra={"action": "recurring"})
    return ids
