"""Plan: turn stored articles into posts, one per routed channel (articles -> outbox).

For each pending article: the routes it matches name its channels; each
channel renders its template and fits the text into its length rule; all the
article's posts go into the outbox in one transaction with the article marked
planned, so a crash plans an article completely or not at all.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from publisher.config import ChannelConfig, Config
from publisher.exceptions import RenderError, TooLong
from publisher.render import LengthRule, Renderer, length_rule, render_post, tagged_link
from publisher.store.api import StoreAPI
from publisher.types import (
    Article,
    ArticleData,
    ArticleState,
    NewPost,
    PostStatus,
    Priority,
    RenderedPost,
)

log = logging.getLogger("publisher.plan")


def rule_for(channel: ChannelConfig, max_length: int | None = None) -> LengthRule:
    """The length rule of a configured channel; ``max_length`` is the limit the
    platform itself announced (a Mastodon instance), when there is one."""
    options = dict(channel.options)
    if max_length is not None and "max_length" not in options:
        options["max_length"] = max_length
    return length_rule(channel.type, options)


def render_for(renderer: Renderer, channel: ChannelConfig, article: ArticleData,
               template: str | None = None, *, max_length: int | None = None) -> RenderedPost:
    """Render ``article`` for ``channel`` and fit it into the channel's limit.
    Raises ``RenderError`` (``TooLong`` when it cannot fit)."""
    return render_post(
        renderer,
        channel_type=channel.type,
        template=template or channel.template,
        article=article,
        rule=rule_for(channel, max_length),
        channel_name=channel.name,
        utm=channel.utm,
    )


def expiry(article: ArticleData, channel: ChannelConfig, now: datetime) -> datetime:
    """When a post of this article on this channel becomes old news.  A date
    in the future (a feed's mistake) counts from now."""
    born = article.published or now
    return min(born, now) + timedelta(seconds=channel.max_age)


@dataclass(frozen=True)
class PlanReport:
    article_id: int
    posts: tuple[int, ...]
    skipped: tuple[str, ...] = ()  # "x: older than max_age"
    failed: tuple[str, ...] = ()  # "x: 301 > 280 after shortening"


class Planner:
    """Plans pending articles with the configured routes and templates."""

    def __init__(self, *, config: Config, store: StoreAPI, renderer: Renderer,
                 now: Callable[[], datetime],
                 limits: Callable[[str], int | None] = lambda name: None):
        self.config = config
        self.store = store
        self.renderer = renderer
        self.now = now
        self.limits = limits  # channel name -> the platform's announced limit

    def posts_for(self, article: Article) -> tuple[list[NewPost], list[str], list[str]]:
        """The outbox entries for an article (pure but for rendering)."""
        now = self.now()
        data = article.data
        posts: list[NewPost] = []
        skipped: list[str] = []
        failed: list[str] = []
        routed = self.config.channels_for(article.feed, data.categories, data.tags)
        for name, template in routed.items():
            channel = self.config.channels[name]
            expires_at = expiry(data, channel, now)
            if expires_at <= now:
                skipped.append(f"{name}: older than max_age")
                continue
            template_name = template or channel.template
            link = tagged_link(data.url, channel.utm)
            try:
                rendered = render_for(self.renderer, channel, data, template_name,
                                      max_length=self.limits(name))
            except RenderError as exc:
                # The post is kept, failed, so the newsroom sees why it was not sent.
                reason = (f"too long: {exc.length} > {exc.limit} even after shortening"
                          if isinstance(exc, TooLong) else f"template error: {exc}")
                failed.append(f"{name}: {reason}")
                posts.append(NewPost(channel=name, text="", link=link, image=data.image,
                                     status=PostStatus.FAILED, last_error=reason,
                                     template=template_name, expires_at=expires_at))
                continue
            status = PostStatus.DRAFT if channel.approval else PostStatus.QUEUED
            posts.append(NewPost(channel=name, text=rendered.text, link=link, image=data.image,
                                 priority=Priority.NORMAL, status=status,
                                 template=template_name, expires_at=expires_at))
        return posts, skipped, failed

    def plan(self, article: Article) -> PlanReport:
        posts, skipped, failed = self.posts_for(article)
        if posts:
            ids = self.store.save_plan(article.id, posts, now=self.now())
        else:  # no route, or too old for every channel: remember it, post nothing
            ids = []
            self.store.mark_articles([article.id], ArticleState.SEEN)
        if posts and not ids and not skipped and not failed:
            # Another daemon on the same database planned it first.
            log.debug("article=%d url=%s: already planned", article.id, article.data.url,
                      extra={"action": "plan", "article": article.data.url})
            return PlanReport(article.id, (), (), ())
        log.info("article=%d url=%s planned=%d skipped=%d failed=%d%s", article.id,
                 article.data.url, len(ids), len(skipped), len(failed),
                 "".join(f" [{why}]" for why in skipped + failed),
                 extra={"action": "plan", "article": article.data.url})
        return PlanReport(article.id, tuple(ids), tuple(skipped), tuple(failed))

    def plan_pending(self) -> list[PlanReport]:
        """Plan every pending article, newest first, in batches."""
        reports: list[PlanReport] = []
        while batch := self.store.pending_articles(limit=100):
            reports.extend(self.plan(article) for article in batch)
        return reports
