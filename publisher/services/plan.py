"""Plan: turn stored articles into posts, one per routed channel (articles -> outbox).

For each pending article: the routes it matches name its channels; each
channel renders its template and fits the text into its length rule; all the
article's posts go into the outbox in one transaction with the article marked
planned, so a crash plans an article completely or not at all.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from publisher.config import ChannelConfig, Config
from publisher.exceptions import NotFoundError, RenderError
from publisher.render import LengthRule, Renderer, length_rule, render_post, tagged_link
from publisher.services.lifecycle import (
    ChannelRules,
    Composed,
    Origin,
    OriginKind,
    Refuse,
    Skip,
    compose,
)
from publisher.store.api import StoreAPI
from publisher.types import Article, ArticleData, ArticleState, NewPost, RenderedPost

log = logging.getLogger("publisher.plan")


#: Channel types whose adapters show a post's link only from its text (X and
#: Mastodon build their link card from a URL in the text; the others attach
#: ``PublishRequest.link`` themselves): a text given with a separate link
#: carries the link in its text there.
LINK_IN_TEXT = frozenset({"x", "mastodon"})


def rule_for(channel: ChannelConfig, max_length: int | None = None) -> LengthRule:
    """The length rule of a configured channel; ``max_length`` is the limit the
    platform itself announced (a Mastodon instance), when there is one."""
    options = dict(channel.options)
    if max_length is not None and "max_length" not in options:
        options["max_length"] = max_length
    return length_rule(channel.type, options)


def channel_rules(channel: ChannelConfig, max_length: int | None = None) -> ChannelRules:
    """The plain values the lifecycle composes and checks a post of
    ``channel`` with: approval, max_age, the length rule (with the limit the
    platform announced), the channel's UTM tagging."""
    rule = rule_for(channel, max_length)
    utm = channel.utm

    def tag(url: str) -> str:
        return tagged_link(url, utm)

    return ChannelRules(name=channel.name, type=channel.type, approval=channel.approval,
                        max_age=channel.max_age, limit=rule.limit, count=rule.count,
                        rule_name=rule.name, tag_link=tag,
                        link_in_text=channel.type in LINK_IN_TEXT)


#: Renderers whose ``hashtags`` filter uses a channel's own hashtag map and
#: limit, derived from the app's renderer (same template folders).
_DERIVED: weakref.WeakKeyDictionary[Renderer, dict[tuple[object, ...], Renderer]] = (
    weakref.WeakKeyDictionary())
_DERIVED_LOCK = threading.Lock()


def channel_renderer(renderer: Renderer, channel: ChannelConfig) -> Renderer:
    """``renderer``, with the ``hashtags`` filter bound to the channel's
    ``hashtags`` map (category -> hashtag) and ``hashtag_limit``."""
    if not channel.hashtags and channel.hashtag_limit == renderer.hashtag_limit:
        return renderer
    key = (tuple(sorted(channel.hashtags.items())), channel.hashtag_limit)
    with _DERIVED_LOCK:
        known = _DERIVED.setdefault(renderer, {})
        derived = known.get(key)
        if derived is None:
            derived = Renderer(renderer.template_dirs, hashtag_map=dict(channel.hashtags),
                               hashtag_limit=channel.hashtag_limit)
            known[key] = derived
    return derived


def render_for(renderer: Renderer, channel: ChannelConfig, article: ArticleData,
               template: str | None = None, *, max_length: int | None = None) -> RenderedPost:
    """Render ``article`` for ``channel`` and fit it into the channel's limit.
    Raises ``RenderError`` (``TooLong`` when it cannot fit)."""
    return render_post(
        channel_renderer(renderer, channel),
        channel_type=channel.type,
        template=template or channel.template,
        article=article,
        rule=rule_for(channel, max_length),
        channel_name=channel.name,
        utm=channel.utm,
    )


def rendered_or_error(renderer: Renderer, channel: ChannelConfig, article: ArticleData,
                      template: str | None = None, *,
                      max_length: int | None = None) -> RenderedPost | RenderError:
    """``render_for``, with a render error as a value (``lifecycle.compose`` takes it)."""
    try:
        return render_for(renderer, channel, article, template, max_length=max_length)
    except RenderError as exc:
        return exc


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
            origin = Origin(OriginKind.FEED, now, article=data,
                            template=template or channel.template)
            limit = self.limits(name)
            decided = compose(origin, channel_rules(channel, limit), now=now,
                              rendered=rendered_or_error(self.renderer, channel, data,
                                                         origin.template, max_length=limit))
            match decided:
                case Skip(reason):
                    skipped.append(reason)
                case Composed(post, problem=problem):
                    posts.append(post)
                    if problem is not None:
                        failed.append(problem)
                case Refuse(message):  # not for a feed's article; kept for exhaustiveness
                    failed.append(f"{name}: {message}")
        return posts, skipped, failed

    def plan(self, article: Article) -> PlanReport:
        return self.plan_batch([article])[0]

    def plan_batch(self, batch: Sequence[Article]) -> list[PlanReport]:
        """Plan these articles (in this order) and save them in one
        transaction; if one of them vanished meanwhile, one by one."""
        made = [(article, *self.posts_for(article)) for article in batch]
        planned = [(a.id, posts) for a, posts, _s, _f in made if posts]
        try:
            saved = iter(self.store.save_plans(planned, now=self.now()))
        except NotFoundError:
            if len(batch) == 1:
                raise
            return [report for article in batch for report in self.plan_batch([article])]
        # No route, or too old for every channel: remember it, post nothing.
        self.store.mark_articles([a.id for a, posts, _s, _f in made if not posts],
                                 ArticleState.SEEN)
        return [self._report(article, posts, next(saved) if posts else [], skipped, failed)
                for article, posts, skipped, failed in made]

    @staticmethod
    def _report(article: Article, posts: list[NewPost], ids: list[int],
                skipped: list[str], failed: list[str]) -> PlanReport:
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
        """Plan every pending article in batches of the newest 100, each batch
        oldest first: posts go out in the order they are planned, and a
        backfill or a burst must read forwards on the timeline."""
        reports: list[PlanReport] = []
        while batch := self.store.pending_articles(limit=100):
            reports.extend(self.plan_batch(list(reversed(batch))))
        return reports
