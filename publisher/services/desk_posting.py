"""The desk's posting verbs: queue an article or a text, preview an article.

Every post is composed by ``lifecycle.compose`` (approval, expiry, the
channel's UTM tags, the platform's announced limit, a link given beside a
text); this module reads the editor's input, fetches and renders, and stores
what was composed, in one transaction.  Bad input raises ``InputError``
(``NotFoundError`` for an unknown channel or template) before anything is
written.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from publisher.config import ChannelConfig, Config
from publisher.exceptions import (
    ConfigError,
    FetchError,
    InputError,
    NotFoundError,
    ParseError,
    TooLong,
)
from publisher.services.desk_input import check_channels, parse_id, parse_when, quote
from publisher.services.lifecycle import Composed, Origin, OriginKind, Refuse, Skip, compose
from publisher.services.ports import AppPorts
from publisher.types import Article, ArticleData, Image, NewPost, PostStatus, Priority


def http_url(value: str, option: str) -> str:
    """``value`` when it is an http(s) URL, else an ``InputError`` naming ``option``."""
    from publisher.sources.normalize import canonical_url

    if not value.strip() or canonical_url(value) is None:
        raise InputError(f"{option}: not an http(s) URL: {quote(value)}")
    return value.strip()


def _image(value: str, alt: str = "") -> Image:
    """``--image``: an http(s) URL, or a local file (kept as a file: URL),
    with its alt text (``--alt``)."""
    from publisher.sources.normalize import absolute_http_url

    url = absolute_http_url(value) if re.match(r"(?i)^https?://", value.strip()) else None
    if url:
        return Image(url, alt)
    path = Path(value).expanduser()
    try:
        ok = bool(value.strip()) and path.is_file() and os.access(path, os.R_OK)
    except (OSError, ValueError):
        ok = False
    if not ok:
        raise InputError(f"--image: not an http(s) URL nor a readable file: {quote(value)}")
    from publisher.services.desk_input import check_image

    check_image(str(path))  # a regular, readable image every channel can send
    return Image(path.resolve().as_uri(), alt)


@dataclass(frozen=True)
class Added:
    """A post an editor queued."""

    id: int
    channel: str
    status: PostStatus
    not_before: datetime
    expires_at: datetime | None
    length: int
    limit: int
    #: A re-share's number on its channel (0: not a re-share).
    reshare: int = 0


@dataclass(frozen=True)
class AddResult:
    article_id: int | None
    article_url: str | None
    posts: tuple[Added, ...]


@dataclass(frozen=True)
class Preview:
    """One channel's rendering of an article, not queued."""

    channel: str
    template: str
    text: str
    length: int
    limit: int
    rule: str
    shortened: tuple[str, ...] = ()
    error: str | None = None
    #: The image the post carries (the article's), with its alt text.
    image: Image | None = None
    #: False when the channel's ``with_image`` option keeps it from going out.
    image_sent: bool = True


def find_or_fetch(app: AppPorts, url: str) -> tuple[Article | None, ArticleData]:
    """The article at ``url``: from the store by canonical URL, else read from
    its page (og:title, og:description, og:image, canonical link)."""
    from publisher.sources.normalize import canonical_url

    canonical = canonical_url(url.strip()) if url.strip() else None
    if canonical is None:
        raise InputError(f"--url: not an http(s) URL: {quote(url)}")
    article = app.store.find_article(canonical)
    if article is not None:
        return article, article.data
    from publisher.sources import fetch_page_metadata

    try:
        data = fetch_page_metadata(app.fetcher, url.strip())
    except (FetchError, ParseError) as exc:
        raise InputError(f"--url: cannot read {quote(url)}: {exc}") from None
    article = app.store.find_article(data.url)  # the page may name another canonical URL
    return article, (article.data if article is not None else data)


def announced_limit(app: AppPorts, name: str) -> int | None:
    """The length limit channel ``name``'s platform announces (a Mastodon
    instance's), or None to keep the channel type's rule.  An editor's
    machine may not hold the channel's secrets: the type's rule then, quietly
    (the daemon, which has them, holds the post to the announced limit)."""
    from publisher.channels import REGISTRY

    info = REGISTRY.get(app.config.channels[name].type)
    if info is None or not info.announces_limit:
        return None
    try:
        app.channels.get(name)
    except ConfigError:
        return None
    return app.channels.max_length(name)


def _routed(config: Config, article: Article | None, data: ArticleData,
            channels: Sequence[str]) -> dict[str, str | None]:
    if channels:
        return dict.fromkeys(check_channels(config.channels, channels))
    routed = config.channels_for(article.feed if article else None, data.categories, data.tags)
    if not routed:
        raise InputError("no route matches this article: name the channels with --channel")
    return routed


def _template(app: AppPorts, channel: ChannelConfig, name: str | None) -> str:
    if name is not None and not app.renderer.has_template(channel.type, name):
        raise NotFoundError(f'--template: no template {quote(name)} for {channel.name} '
                            f"({channel.type}/)")
    return name or channel.template


def add_posts(app: AppPorts, *, by: str, url: str | None = None, text: str | None = None,
              link: str | None = None, image: str | None = None,
              image_alt: str | None = None,
              channels: Sequence[str] = (), at: str | None = None,
              template: str | None = None, priority: Priority = Priority.NORMAL,
              again: bool = False) -> AddResult:
    """Queue an article (``url``) or a text on channels, in one transaction.

    Posts on channels with ``approval = true`` are created as drafts.  Each
    expires ``max_age`` after its time.  A ``link`` given with a text carries
    the channel's UTM tags, and goes into the text on platforms that show a
    link only from the text (X, Mastodon).  Nothing is written when any of it
    is bad input (an unknown channel, a time in the past, a text too long for
    the platform's limit, a page that cannot be read, a channel the article
    is already posted to, unless ``again``: then that channel gets a
    re-share, a new post of its own with its own idempotency key).
    ``image_alt``: the image's alt text, sent with it where the platform takes one."""
    from publisher.services.desk_input import editor_name, editor_text
    from publisher.services.plan import channel_rules, rendered_or_error

    if (url is None) == (text is None):
        raise InputError("give either --url or --text")
    text = editor_text(text) if text is not None else None
    by = editor_name(by) or "editor"
    if url is not None and (link is not None or image is not None):
        raise InputError("--link and --image go with --text (an article brings its own)")
    if image_alt is not None and image is None:
        raise InputError("--alt goes with --image (it describes the image)")
    if text is not None and template is not None:
        raise InputError("--template goes with --url (a --text post is not rendered)")
    if text is not None and again:
        raise InputError("--again goes with --url (it shares an article again)")
    config, now = app.config, app.now()
    names = check_channels(config.channels, channels)
    not_before = parse_when(at, tz=config.timezone, now=now) if at is not None else now
    created_by = f"editor:{by}"
    composed: list[Composed] = []
    article: Article | None = None
    data: ArticleData | None = None

    def take(decided: Composed | Skip | Refuse) -> None:
        match decided:
            case Composed():
                composed.append(decided)
            case Refuse(message) | Skip(message):
                raise InputError(message)

    if text is not None:
        if not text.strip():
            raise InputError("--text: the text is empty")
        if not names:
            names = list(config.channels_for(None, (), ()))
            if not names:
                raise InputError("--text: which channels? name them with --channel")
        origin = Origin(OriginKind.EDITOR_TEXT, not_before, created_by=created_by, text=text,
                        link=http_url(link, "--link") if link is not None else None,
                        image=(_image(image, " ".join((image_alt or "").split()))
                               if image is not None else None),
                        priority=priority)
        for name in names:
            channel = config.channels[name]
            rules = channel_rules(channel, announced_limit(app, name))
            take(compose(origin, rules, rendered=None, now=now))
    else:
        assert url is not None
        article, data = find_or_fetch(app, url)
        routed = _routed(config, article, data, names)
        reshares: dict[str, int] = {}
        if article is not None:
            if article.retracted:
                raise InputError(f"article {article.id} was retracted: it is not posted again")
            taken = app.store.article_channels(article.id)
            clash = [f"{ch} (post {taken[ch][0]}, {taken[ch][1]})" for ch in routed if ch in taken]
            if clash and not again:
                raise InputError(f"this article already has a post on {', '.join(clash)}: "
                                 "add --again to share it again")
            reshares = {ch: app.store.next_reshare(article.id, ch) for ch in routed
                        if ch in taken}
        for name, route_template in routed.items():
            channel = config.channels[name]
            chosen = _template(app, channel, template or route_template)
            limit = announced_limit(app, name)
            number = reshares.get(name, 0)
            origin = Origin(OriginKind.RESHARE if number else OriginKind.EDITOR_URL, not_before,
                            created_by=created_by, article=data, template=chosen,
                            priority=priority, reshare=number)
            take(compose(origin, channel_rules(channel, limit), now=now,
                         rendered=rendered_or_error(app.renderer, channel, data, chosen,
                                                    max_length=limit)))
    posts: list[NewPost] = [c.post for c in composed]
    article_id, ids = app.store.add_editor_posts(
        posts, now=now, article_id=article.id if article else None,
        article=data if (data is not None and article is None) else None)
    if len(ids) != len(posts):  # another editor was quicker for some channel
        raise InputError("the article got a post on one of these channels meanwhile; "
                         f"created {', '.join(map(str, ids)) or 'none'}")
    added = tuple(
        Added(id=pid, channel=c.post.channel, status=c.post.status, not_before=not_before,
              expires_at=c.post.expires_at, length=c.length,
              limit=c.limit if c.limit is not None else c.length, reshare=c.post.reshare)
        for pid, c in zip(ids, composed, strict=True))
    return AddResult(article_id=article_id, article_url=data.url if data else None,
                     posts=added)


def preview(app: AppPorts, *, url: str | None = None, article_id: str | int | None = None,
            channels: Sequence[str] = (), template: str | None = None) -> list[Preview]:
    """Render an article for its channels (or the given ones) without queuing."""
    from publisher.exceptions import RenderError
    from publisher.services.plan import render_for, rule_for

    if (url is None) == (article_id is None):
        raise InputError("give either --url or --article")
    names = check_channels(app.config.channels, channels)
    article: Article | None
    if article_id is not None:
        article = app.store.get_article(parse_id(article_id, "article"))
        data = article.data
    else:
        assert url is not None
        article, data = find_or_fetch(app, url)
    out: list[Preview] = []
    for name, route_template in _routed(app.config, article, data, names).items():
        channel = app.config.channels[name]
        chosen = _template(app, channel, template or route_template)
        rule = rule_for(channel)
        try:
            r = render_for(app.renderer, channel, data, chosen)
            out.append(Preview(name, chosen, r.text, r.length, r.limit, rule.name,
                               r.shortened, image=data.image,
                               image_sent=channel.options.get("with_image", True) is not False))
        except TooLong as exc:
            out.append(Preview(name, chosen, "", exc.length, exc.limit, rule.name,
                               error=f"too long even after shortening: {exc.length} > "
                                     f"{exc.limit}"))
        except RenderError as exc:
            out.append(Preview(name, chosen, "", 0, rule.limit, rule.name,
                               error=f"template error: {exc}"))
    return out
