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
from datetime import datetime

from publisher.config import RecurringConfig
from publisher.exceptions import PublisherError
from publisher.services.lifecycle import Composed, Origin, OriginKind, Refuse, Skip, compose
from publisher.services.plan import channel_rules, rendered_or_error
from publisher.services.ports import AppPorts
from publisher.sources import canonical_url, fetch_page_metadata
from publisher.types import ArticleData, NewPost

log = logging.getLogger("publisher.recurring")


def _key(name: str, fired_at: datetime, channel: str) -> str:
    minute = fired_at.replace(second=0, microsecond=0).isoformat()
    return hashlib.sha256(f"recurring:{name}:{minute}:{channel}".encode()).hexdigest()[:32]


def rotation_index(app: AppPorts, rec: RecurringConfig) -> int:
    """Which URL of the rotation this firing takes: the next one after those
    already queued (counted on the first channel), in order, round and round."""
    done = app.store.count_posts(channel=rec.channels[0], created_by=f"recurring:{rec.name}")
    return done % len(rec.urls)


def _article(app: AppPorts, url: str) -> ArticleData:
    canonical = canonical_url(url) or url
    stored = app.store.find_article(canonical)
    if stored is not None:
        return stored.data
    return fetch_page_metadata(app.fetcher, url)


def add_recurring(app: AppPorts, name: str, fired_at: datetime) -> list[int]:
    """Queue one firing of the recurring post ``name``: each channel's post
    composed by the lifecycle like any other (approval, max_age from the
    firing, the channel's UTM tags on the link, the platform's limit)."""
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
        limit = app.channels.max_length(channel_name)
        template = rec.template or channel.template
        origin = Origin(OriginKind.RECURRING, fired_at, created_by=f"recurring:{name}",
                        article=article, text=rec.text, template=template,
                        priority=rec.priority,
                        idempotency_key=_key(name, fired_at, channel_name))
        rendered = (rendered_or_error(app.renderer, channel, article, template,
                                      max_length=limit) if article is not None else None)
        match compose(origin, channel_rules(channel, limit), rendered=rendered, now=app.now()):
            case Composed(post, problem=problem):
                posts.append(post)
                if problem is not None:
                    log.error("recurring=%s channel=%s: %s", name, channel_name, problem)
            case Skip(reason) | Refuse(reason):
                log.error("recurring=%s channel=%s: %s", name, channel_name, reason)
    ids = app.store.add_posts(posts, article_id=None, now=app.now())
    log.info("recurring=%s queued=%d", name, len(ids), extra={"action": "recurring"})
    return ids
