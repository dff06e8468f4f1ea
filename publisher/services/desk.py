"""The desk: what editors and ops do from the command line, as functions of the app.

Every function takes the app first (``desk.add_posts(app, …)``): the full
``publisher.app.App`` or the light ``Desk`` below, which the read-only
commands use so that they open the store and read the configuration without
importing an HTTP client, the template engine or a platform SDK.  Reading
the editor's input and listing the queue live in
``publisher.services.desk_input`` (re-exported here), which ``queue list``
uses without this module.  The CLI only parses arguments and prints what
these return; the rules (what may be edited when, what a retry resets, when
the desk is unhealthy) live here.

Bad input raises ``InputError`` (``NotFoundError`` for an unknown post,
article or channel) before anything is written.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from zoneinfo import ZoneInfo

from publisher.config import ChannelConfig, Config, Settings, load_config
from publisher.exceptions import (
    ChannelError,
    ConfigError,
    FetchError,
    InputError,
    NotFoundError,
    ParseError,
    RenderError,
    TooLong,
)
from publisher.services.desk_input import (
    FUTURE_LIMIT,
    MAX_ID,
    PAST_GRACE,
    Listing,
    check_channels,
    due_at,
    list_posts,
    local_time,
    parse_id,
    parse_outcomes,
    parse_priority,
    parse_since,
    parse_statuses,
    parse_when,
    quote,
)
from publisher.services.timing import Gate, Spend, channel_gates, channel_spend, local_starts
from publisher.store.api import StoreAPI
from publisher.store.lite import require_database
from publisher.types import (
    Article,
    ArticleData,
    Attempt,
    ChannelState,
    Image,
    NewPost,
    OutboxItem,
    Outcome,
    PostStatus,
    Priority,
    RenderedPost,
)

if TYPE_CHECKING:
    from publisher.render import Renderer
    from publisher.services.dispatch import ChannelPool
    from publisher.sources import Fetcher

#: A daemon whose heartbeat is older than this is down (it beats every 15 s).
DAEMON_TIMEOUT = timedelta(minutes=2)
#: A feed failing for longer than this makes ``status`` unhealthy.
FEED_FAILING = timedelta(hours=1)
#: A post due for longer than this while its channel is open is "not moving".
STUCK_AFTER = timedelta(minutes=5)

EDITABLE = (PostStatus.DRAFT, PostStatus.QUEUED, PostStatus.WAITING)
CANCELLABLE = (*EDITABLE, PostStatus.NEEDS_REVIEW)
RETRYABLE = (PostStatus.FAILED, PostStatus.NEEDS_REVIEW)


# -- the app the desk works on ------------------------------------------------------------


class DeskApp(Protocol):
    """What every desk function needs; ``App`` and ``Desk`` both have it."""

    config: Config
    store: StoreAPI
    now: Callable[[], datetime]

    def gates(self, now: datetime | None = None) -> dict[str, Gate]: ...

    def spend(self, channel: str, now: datetime | None = None) -> Spend: ...


class FullDeskApp(DeskApp, Protocol):
    """What rendering, fetching a page and asking a platform need on top."""

    @property
    def renderer(self) -> Renderer: ...

    @property
    def fetcher(self) -> Fetcher: ...

    @property
    def channels(self) -> ChannelPool: ...


def _system_clock() -> datetime:
    return datetime.now(UTC)


class Desk:
    """A light app for the desk commands: the configuration and the store at
    once, the renderer, the page fetcher and the channel adapters only when a
    command uses them."""

    def __init__(self, settings: Settings, config: Config, store: StoreAPI, *,
                 now: Callable[[], datetime] | None = None,
                 environ: Mapping[str, str] | None = None):
        self.settings = settings
        self.config = config
        self.store = store
        self.now = now or _system_clock
        self._environ = environ
        self._renderer: Renderer | None = None
        self._fetcher: Fetcher | None = None
        self._channels: ChannelPool | None = None

    @property
    def environ(self) -> Mapping[str, str]:
        if self._environ is None:
            self._environ = self.settings.environment()
        return self._environ

    @property
    def renderer(self) -> Renderer:
        if self._renderer is None:
            from publisher.render import Renderer

            self._renderer = Renderer([self.settings.templates])
        return self._renderer

    @property
    def fetcher(self) -> Fetcher:
        if self._fetcher is None:
            from publisher.sources import Fetcher

            self._fetcher = Fetcher()
        return self._fetcher

    @property
    def channels(self) -> ChannelPool:
        if self._channels is None:
            from publisher.services.dispatch import ChannelPool

            self._channels = ChannelPool(self.config, self.environ)
        return self._channels

    def gates(self, now: datetime | None = None) -> dict[str, Gate]:
        """The same decision as ``Dispatcher.gates``: per channel, may it publish now."""
        return channel_gates(self.config, self.store, now or self.now())

    def spend(self, channel: str, now: datetime | None = None) -> Spend:
        """Estimated spend of a channel today and this month (site time zone)."""
        return channel_spend(self.config, self.store, channel, now or self.now())

    def close(self) -> None:
        if self._channels is not None:
            self._channels.close()
        if self._fetcher is not None:
            self._fetcher.close()
        self.store.close()


def open_desk(settings: Settings, *, now: Callable[[], datetime] | None = None) -> Desk:
    """The light app: the schedules (credentials are not required to be set:
    editors need no secrets) and the existing database (never created here)."""
    config = load_config(settings.schedules)
    from publisher.store import open_store

    require_database(settings.database_url)
    return Desk(settings, config, open_store(settings.database_url), now=now)


# -- reading the editor's input -----------------------------------------------------------



def _http_url(value: str, option: str) -> str:
    from publisher.sources.normalize import canonical_url

    if not value.strip() or canonical_url(value) is None:
        raise InputError(f"{option}: not an http(s) URL: {quote(value)}")
    return value.strip()


def _image(value: str) -> Image:
    """``--image``: an http(s) URL, or a local file (kept as a file: URL)."""
    from publisher.sources.normalize import absolute_http_url

    url = absolute_http_url(value) if re.match(r"(?i)^https?://", value.strip()) else None
    if url:
        return Image(url)
    path = Path(value).expanduser()
    try:
        ok = bool(value.strip()) and path.is_file() and os.access(path, os.R_OK)
    except (OSError, ValueError):
        ok = False
    if not ok:
        raise InputError(f"--image: not an http(s) URL nor a readable file: {quote(value)}")
    return Image(path.resolve().as_uri())


def _rule(channel: ChannelConfig) -> Any:
    from publisher.services.plan import rule_for

    return rule_for(channel)


def _check_length(channel: ChannelConfig, text: str) -> tuple[int, int]:
    rule = _rule(channel)
    length = rule.count(text)
    if length > rule.limit:
        raise InputError(f"text too long for {channel.name}: {length} > {rule.limit} "
                         f"({rule.name})")
    return length, rule.limit


# -- editors: adding, previewing ----------------------------------------------------------


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


def find_or_fetch(app: FullDeskApp, url: str) -> tuple[Article | None, ArticleData]:
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


def _routed(config: Config, article: Article | None, data: ArticleData,
            channels: Sequence[str]) -> dict[str, str | None]:
    if channels:
        return dict.fromkeys(check_channels(config.channels, channels))
    routed = config.channels_for(article.feed if article else None, data.categories, data.tags)
    if not routed:
        raise InputError("no route matches this article: name the channels with --channel")
    return routed


def _template(app: FullDeskApp, channel: ChannelConfig, name: str | None) -> str:
    if name is not None and not app.renderer.has_template(channel.type, name):
        raise NotFoundError(f'--template: no template {quote(name)} for {channel.name} '
                            f"({channel.type}/)")
    return name or channel.template


def _render(app: FullDeskApp, channel: ChannelConfig, data: ArticleData,
            template: str) -> RenderedPost:
    from publisher.services.plan import render_for

    return render_for(app.renderer, channel, data, template)


def add_posts(app: DeskApp, *, by: str, url: str | None = None, text: str | None = None,
              link: str | None = None, image: str | None = None,
              channels: Sequence[str] = (), at: str | None = None,
              template: str | None = None, priority: Priority = Priority.NORMAL) -> AddResult:
    """Queue an article (``url``) or a text on channels, in one transaction.

    Posts on channels with ``approval = true`` are created as drafts.  Each
    expires ``max_age`` after its time.  Nothing is written when any of it is
    bad input (an unknown channel, a time in the past, a text too long, a
    page that cannot be read, a channel the article is already posted to)."""
    if (url is None) == (text is None):
        raise InputError("give either --url or --text")
    if url is not None and (link is not None or image is not None):
        raise InputError("--link and --image go with --text (an article brings its own)")
    if text is not None and template is not None:
        raise InputError("--template goes with --url (a --text post is not rendered)")
    config, now = app.config, app.now()
    names = check_channels(config.channels, channels)
    not_before = parse_when(at, tz=config.timezone, now=now) if at is not None else now
    created_by = f"editor:{by}"
    posts: list[NewPost] = []
    counted: list[tuple[int, int]] = []
    article: Article | None = None
    data: ArticleData | None = None
    if text is not None:
        text = text.strip()
        if not text:
            raise InputError("--text: the text is empty")
        if not names:
            names = list(config.channels_for(None, (), ()))
            if not names:
                raise InputError("--text: which channels? name them with --channel")
        link_url = _http_url(link, "--link") if link is not None else None
        picture = _image(image) if image is not None else None
        for name in names:
            channel = config.channels[name]
            counted.append(_check_length(channel, text))
            posts.append(_new_post(channel, text=text, now=not_before, priority=priority,
                                   created_by=created_by, image=picture,
                                   link=_tagged(link_url, channel) if link_url else None))
    else:
        assert url is not None
        full: FullDeskApp = app  # type: ignore[assignment]
        article, data = find_or_fetch(full, url)
        routed = _routed(config, article, data, names)
        if article is not None:
            taken = app.store.article_channels(article.id)
            clash = [f"{ch} (post {taken[ch][0]}, {taken[ch][1]})" for ch in routed if ch in taken]
            if clash:
                raise InputError(f"this article already has a post on {', '.join(clash)}")
        for name, route_template in routed.items():
            channel = config.channels[name]
            chosen = _template(full, channel, template or route_template)
            try:
                rendered = _render(full, channel, data, chosen)
            except TooLong as exc:
                raise InputError(f"{name}: too long even after shortening: {exc.length} > "
                                 f"{exc.limit}") from None
            except RenderError as exc:
                raise InputError(f"{name}: template {chosen}: {exc}") from None
            counted.append((rendered.length, rendered.limit))
            posts.append(_new_post(channel, text=rendered.text, now=not_before,
                                   priority=priority, created_by=created_by, template=chosen,
                                   link=_tagged(data.url, channel), image=data.image))
    store: Any = app.store
    article_id, ids = store.add_editor_posts(
        posts, now=now, article_id=article.id if article else None,
        article=data if (data is not None and article is None) else None)
    if len(ids) != len(posts):  # another editor was quicker for some channel
        raise InputError("the article got a post on one of these channels meanwhile; "
                         f"created {', '.join(map(str, ids)) or 'none'}")
    added = tuple(
        Added(id=pid, channel=post.channel, status=post.status, not_before=not_before,
              expires_at=post.expires_at, length=length, limit=limit)
        for pid, post, (length, limit) in zip(ids, posts, counted, strict=True))
    return AddResult(article_id=article_id, article_url=data.url if data else None,
                     posts=added)


def _tagged(url: str, channel: ChannelConfig) -> str:
    from publisher.render import tagged_link

    return tagged_link(url, channel.utm)


def _new_post(channel: ChannelConfig, *, text: str, now: datetime, priority: Priority,
              created_by: str, link: str | None, image: Image | None,
              template: str = "default") -> NewPost:
    return NewPost(
        channel=channel.name, text=text, link=link, image=image, priority=priority,
        not_before=now, template=template, created_by=created_by,
        status=PostStatus.DRAFT if channel.approval else PostStatus.QUEUED,
        expires_at=now + timedelta(seconds=channel.max_age),
    )


def preview(app: DeskApp, *, url: str | None = None, article_id: str | int | None = None,
            channels: Sequence[str] = (), template: str | None = None) -> list[Preview]:
    """Render an article for its channels (or the given ones) without queuing."""
    if (url is None) == (article_id is None):
        raise InputError("give either --url or --article")
    full: FullDeskApp = app  # type: ignore[assignment]
    names = check_channels(app.config.channels, channels)
    if article_id is not None:
        article: Article | None = app.store.get_article(parse_id(article_id, "article"))
        assert article is not None
        data = article.data
    else:
        assert url is not None
        article, data = find_or_fetch(full, url)
    out: list[Preview] = []
    for name, route_template in _routed(app.config, article, data, names).items():
        channel = app.config.channels[name]
        chosen = _template(full, channel, template or route_template)
        rule = _rule(channel)
        try:
            r = _render(full, channel, data, chosen)
            out.append(Preview(name, chosen, r.text, r.length, r.limit, rule.name,
                               r.shortened))
        except TooLong as exc:
            out.append(Preview(name, chosen, "", exc.length, exc.limit, rule.name,
                               error=f"too long even after shortening: {exc.length} > "
                                     f"{exc.limit}"))
        except RenderError as exc:
            out.append(Preview(name, chosen, "", 0, rule.limit, rule.name,
                               error=f"template error: {exc}"))
    return out


# -- editors: changing posts --------------------------------------------------------------


def get_post(app: DeskApp, post_id: str | int) -> OutboxItem:
    return app.store.get_post(parse_id(post_id))


def _refuse(item: OutboxItem, action: str, allowed: Collection[PostStatus]) -> InputError:
    if item.status is PostStatus.PUBLISHED:
        return InputError(f"post {item.id} is already published: it cannot be {action}")
    if item.status is PostStatus.PUBLISHING:
        return InputError(f"post {item.id} is being published right now: it cannot be "
                          f"{action}")
    return InputError(f"post {item.id} is {item.status}: only "
                      f"{' or '.join(s.value for s in allowed)} posts can be {action}")


def _changed(app: DeskApp, item: OutboxItem, expected: Collection[PostStatus],
             changes: Mapping[str, Any], action: str) -> OutboxItem:
    store: Any = app.store
    if not store.edit_post(item.id, expected=expected, now=app.now(), changes=changes):
        now_item = app.store.get_post(item.id)
        raise InputError(f"post {item.id} changed meanwhile (it is {now_item.status} now); "
                         f"nothing {action}")
    return app.store.get_post(item.id)


def edit_post(app: DeskApp, post_id: str | int, *, text: str | None = None,
              at: str | None = None, channel: str | None = None) -> OutboxItem:
    """Change a post's text, time or channel while it is a draft, queued or
    waiting; the text is counted again against the (new) channel's limit."""
    if text is None and at is None and channel is None:
        raise InputError("nothing to change: give --text, --at or --channel")
    item = get_post(app, post_id)
    if item.status not in EDITABLE:
        raise _refuse(item, "edited", EDITABLE)
    config, now = app.config, app.now()
    changes: dict[str, Any] = {}
    target = item.channel
    if channel is not None:
        [target] = check_channels(config.channels, [channel])
    cfg = config.channels.get(target)
    if cfg is None:
        raise NotFoundError(f"post {item.id} is on {quote(target)}, which is no longer "
                            "configured")
    if (text is not None or target != item.channel) and app.store.attempts(
            post_id=item.id, outcomes=[Outcome.AMBIGUOUS, Outcome.STARTED], limit=1):
        raise InputError(f"post {item.id} may already be on {item.channel} (an attempt's "
                         "outcome is unknown): its text and channel cannot change")
    if target != item.channel:
        if item.attempts:
            raise InputError(f"post {item.id} was already tried on {item.channel}: cancel it "
                             "and queue a new one instead")
        if item.article_id is not None:
            taken = app.store.article_channels(item.article_id)
            if target in taken:
                raise InputError(f"the article already has post {taken[target][0]} on "
                                 f"{target}")
        changes["channel"] = target
        if cfg.approval and item.status is PostStatus.QUEUED:
            changes["status"] = PostStatus.DRAFT
    new_text = item.text
    if text is not None:
        new_text = text.strip()
        if not new_text:
            raise InputError("--text: the text is empty")
        changes["text"] = new_text
    if "text" in changes or "channel" in changes:
        _check_length(cfg, new_text)
    if at is not None:
        when = parse_when(at, tz=config.timezone, now=now)
        expires = when + timedelta(seconds=cfg.max_age)
        changes.update(not_before=when, next_attempt_at=None,
                       expires_at=max(expires, item.expires_at) if item.expires_at else expires)
        if item.status is PostStatus.WAITING:
            changes["status"] = PostStatus.QUEUED
    return _changed(app, item, [item.status], changes, "changed")


def cancel_post(app: DeskApp, post_id: str | int) -> OutboxItem:
    """Cancel a post that has not gone out (draft, queued, waiting, needs_review)."""
    item = get_post(app, post_id)
    if item.status not in CANCELLABLE:
        raise _refuse(item, "cancelled", CANCELLABLE)
    return _changed(app, item, [item.status], {"status": PostStatus.CANCELLED,
                                               "next_attempt_at": None}, "cancelled")


def approve_post(app: DeskApp, post_id: str | int) -> OutboxItem:
    """A draft goes into the queue (due at its time, or now)."""
    item = get_post(app, post_id)
    if item.status is not PostStatus.DRAFT:
        raise _refuse(item, "approved", [PostStatus.DRAFT])
    return _changed(app, item, [PostStatus.DRAFT], {"status": PostStatus.QUEUED}, "approved")


def _requeue(app: DeskApp, item: OutboxItem) -> dict[str, Any]:
    """Due now, with a fresh attempts budget and a fresh max_age.

    The budget: ``posts.attempts`` counts the attempts of the current try and
    the dispatcher compares it with ``max_attempts``; an editor's retry starts
    it again from 0 (the publish log keeps every earlier attempt, and the row
    this retry writes shows where the new budget starts)."""
    now = app.now()
    cfg = app.config.channels[item.channel]
    expires = now + timedelta(seconds=cfg.max_age)
    return {"status": PostStatus.QUEUED, "attempts": 0, "not_before": now,
            "next_attempt_at": None, "last_error": None,
            "expires_at": max(expires, item.expires_at) if item.expires_at else expires}


def retry_post(app: DeskApp, post_id: str | int, *, by: str) -> OutboxItem:
    """A failed or needs_review post is queued again, due now, with a fresh
    attempts budget."""
    item = get_post(app, post_id)
    if item.status not in RETRYABLE:
        raise _refuse(item, "retried", RETRYABLE)
    if item.channel not in app.config.channels:
        raise NotFoundError(f"post {item.id} is on {quote(item.channel)}, which is no longer "
                            "configured")
    if not item.text.strip():
        raise InputError(f"post {item.id} has no text ({item.last_error or 'it never rendered'})"
                         f": queue a new one with `publisher queue add --text … --channel "
                         f"{item.channel}`")
    changes = _requeue(app, item)
    # The log row goes first: the dispatcher reads a post's newest row, and a
    # needs_review row must not be the newest once the post is queued again.
    outcome = Outcome.NOT_FOUND if item.status is PostStatus.NEEDS_REVIEW else Outcome.RETRYING
    app.store.log_event(item.id, worker=f"editor:{by}", now=app.now(), outcome=outcome,
                        error=f"retried by {by}: queued again with a fresh attempts budget")
    return _changed(app, item, [item.status], changes, "retried")


def resolve_post(app: DeskApp, post_id: str | int, *, by: str, published: str | None = None,
                 not_published: bool = False) -> OutboxItem:
    """Settle a needs_review post: it is on the platform (``published`` is
    its URL) or it is not (queued to be sent again)."""
    if (published is None) == (not not_published):
        raise InputError("give either --published URL or --not-published")
    item = get_post(app, post_id)
    if item.status is not PostStatus.NEEDS_REVIEW:
        raise _refuse(item, "resolved", [PostStatus.NEEDS_REVIEW])
    now = app.now()
    worker = f"editor:{by}"
    if published is not None:
        remote_url = _http_url(published, "--published")
        # The log row first: the dispatcher trusts a post's newest log row.
        app.store.log_event(item.id, worker=worker, now=now, outcome=Outcome.RECONCILED,
                            remote_url=remote_url, error=f"resolved by {by}: published")
        if not app.store.set_post_status(item.id, PostStatus.PUBLISHED,
                                         expected=[PostStatus.NEEDS_REVIEW], now=now,
                                         remote_url=remote_url):
            raise InputError(f"post {item.id} changed meanwhile; nothing resolved")
        return app.store.get_post(item.id)
    if item.channel not in app.config.channels:
        raise NotFoundError(f"post {item.id} is on {quote(item.channel)}, which is no longer "
                            "configured")
    changes = _requeue(app, item)
    app.store.log_event(item.id, worker=worker, now=now, outcome=Outcome.NOT_FOUND,
                        error=f"resolved by {by}: not published")
    return _changed(app, item, [PostStatus.NEEDS_REVIEW], changes, "resolved")


# -- the stop button ----------------------------------------------------------------------


def _targets(config: Config, channels: Sequence[str], all_: bool) -> list[str]:
    if bool(channels) == all_:
        raise InputError("give --channel NAME (repeatable) or --all")
    return list(config.channels) if all_ else check_channels(config.channels, channels)


def pause(app: DeskApp, *, channels: Sequence[str] = (), all_: bool = False, reason: str,
          by: str) -> list[str]:
    """Pause channels: nothing is published on them until ``resume``."""
    names = _targets(app.config, channels, all_)
    if not reason.strip():
        raise InputError("--reason: say why (it is shown by `publisher status`)")
    states = app.store.channel_states()
    now = app.now()
    for name in names:
        state = states.get(name)
        app.store.set_paused(name, paused=True, now=now, reason=reason.strip(), by=by,
                             auth_failed=bool(state and state.auth_failed))
    return names


@dataclass(frozen=True)
class ResumeResult:
    resumed: tuple[str, ...]
    not_paused: tuple[str, ...]
    refused: tuple[str, ...]  # "x: why"


def resume(app: DeskApp, *, channels: Sequence[str] = (), all_: bool = False,
           force: bool = False) -> ResumeResult:
    """Resume channels.  One paused because the platform refused its
    credentials is asked who it posts as first, and stays paused if that
    fails (unless ``force``)."""
    names = _targets(app.config, channels, all_)
    states = app.store.channel_states()
    resumed, not_paused, refused = [], [], []
    for name in names:
        state = states.get(name)
        if state is None or not state.paused:
            not_paused.append(name)
            continue
        if state.auth_failed and not force:
            try:
                app.channels.get(name).whoami()  # type: ignore[attr-defined]
            except (ChannelError, ConfigError) as exc:
                refused.append(f"{name}: credentials still refused ({_one_line(exc)})")
                continue
        app.store.set_paused(name, paused=False, now=app.now())
        resumed.append(name)
    return ResumeResult(tuple(resumed), tuple(not_paused), tuple(refused))


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())


# -- reading: the queue, one post, the log ------------------------------------------------


def listing(app: DeskApp) -> Listing:
    """What ``desk_input.list_posts`` reads, from the app."""
    return Listing(timezone=app.config.timezone, channels=app.config.channels,
                   store=app.store, now=app.now)


def why_waiting(item: OutboxItem, gate: Gate | None, *, now: datetime, tz: ZoneInfo) -> str:
    """Why a post is where it is, in a line an editor can act on."""
    status = item.status
    if status is PostStatus.DRAFT:
        return f"waiting for approval (publisher queue approve {item.id})"
    if status is PostStatus.PUBLISHING:
        until = f", lease until {local_time(item.lease_expires_at, tz)}" if (
            item.lease_expires_at) else ""
        return f"being published by {item.lease_owner}{until}"
    if status is PostStatus.PUBLISHED:
        at = local_time(item.published_at, tz) if item.published_at else "?"
        return f"published {at}" + (f": {item.remote_url}" if item.remote_url else "")
    if status is PostStatus.FAILED:
        return f"failed: {item.last_error or 'no error recorded'} (publisher queue retry {item.id})"
    if status is PostStatus.CANCELLED:
        return "cancelled"
    if status is PostStatus.NEEDS_REVIEW:
        return (f"needs review: is it on the platform? (publisher queue resolve {item.id} "
                "--published URL | --not-published)")
    if item.next_attempt_at is None and item.not_before > now:
        return f"scheduled for {local_time(item.not_before, tz)}"
    if item.next_attempt_at is not None and item.next_attempt_at > now:
        error = f" ({item.last_error})" if item.last_error else ""
        return f"retry at {local_time(item.next_attempt_at, tz)}{error}"
    if gate is None:
        return f"channel {item.channel} is not configured any more: nothing will send it"
    is_open = gate.breaking_open if item.priority is Priority.BREAKING else gate.open
    if not is_open:
        return gate.reason or "the channel is closed"
    return "due now"


@dataclass(frozen=True)
class PostDetail:
    item: OutboxItem
    article_url: str | None
    length: int | None
    limit: int | None
    rule: str | None
    attempts: tuple[Attempt, ...]  # oldest first
    why: str


def show_post(app: DeskApp, post_id: str | int) -> PostDetail:
    """One post: its text counted against the limit, media, every attempt, and why."""
    item = get_post(app, post_id)
    now = app.now()
    cfg = app.config.channels.get(item.channel)
    length = limit = rule_name = None
    if cfg is not None:
        rule = _rule(cfg)
        length, limit, rule_name = rule.count(item.text), rule.limit, rule.name
    gate = None
    if cfg is not None and item.status in (PostStatus.QUEUED, PostStatus.WAITING):
        gate = app.gates(now).get(item.channel)
    article_url = None
    if item.article_id is not None:
        article_url = app.store.get_article(item.article_id).data.url
    history = tuple(reversed(app.store.attempts(post_id=item.id, limit=10_000)))
    why = why_waiting(item, gate, now=now, tz=app.config.timezone)
    if cfg is None and item.status in (PostStatus.QUEUED, PostStatus.WAITING):
        why = f"channel {item.channel} is not configured any more: nothing will send it"
    return PostDetail(item, article_url, length, limit, rule_name, history, why)


@dataclass
class LogQuery:
    """The filters of ``publisher log``, checked."""

    channel: str | None = None
    outcomes: list[Outcome] | None = None
    post_id: int | None = None
    article_url: str | None = None
    since: datetime | None = None


def log_query(app: DeskApp, *, channel: str | None = None, outcomes: Sequence[str] = (),
              post: str | None = None, article: str | None = None,
              since: str | None = None) -> LogQuery:
    """Check the filters of ``publisher log`` (unknown channel or post: NotFoundError)."""
    if channel is not None and channel not in app.config.channels and (
            channel not in app.store.channel_states()):
        check_channels(app.config.channels, [channel])
    post_id = None
    if post is not None:
        post_id = app.store.get_post(parse_id(post)).id
    article_url = None
    if article is not None:
        from publisher.sources.normalize import canonical_url

        article_url = canonical_url(article.strip()) if article.strip() else None
        if article_url is None:
            raise InputError(f"--article: not an http(s) URL: {quote(article)}")
    after = None
    if since is not None:
        after = parse_since(since, tz=app.config.timezone, now=app.now())
    return LogQuery(channel, parse_outcomes(outcomes) or None, post_id, article_url, after)


def read_log(app: DeskApp, query: LogQuery, *, limit: int = 50,
             after_id: int | None = None) -> list[Attempt]:
    """Publish-log rows, oldest first: the newest ``limit`` (or those after ``after_id``)."""
    rows = app.store.attempts(post_id=query.post_id, channel=query.channel,
                              outcomes=query.outcomes, since=query.since,
                              article_url=query.article_url, after_id=after_id, limit=limit)
    return rows if after_id is not None else list(reversed(rows))


class LogFollower:
    """New publish-log rows as they happen (``publisher log --follow``).

    An attempt's row is written *started* before the platform call and
    completed in place afterwards, so a started row is shown twice: when it
    starts and when its outcome is known (up to ``patience`` later)."""

    def __init__(self, app: DeskApp, query: LogQuery, *, shown: Iterable[Attempt] = (),
                 patience: timedelta = timedelta(minutes=10)):
        self.app = app
        self.query = query
        self.patience = patience
        newest = app.store.attempts(limit=1)
        self.cursor = newest[0].id if newest else 0
        self.pending: dict[int, Attempt] = {
            a.id: a for a in shown if a.outcome is Outcome.STARTED}

    def poll(self) -> list[Attempt]:
        """The rows that are new, or whose outcome became known, since the last poll."""
        start = min([self.cursor, *(i - 1 for i in self.pending)])
        rows = self.app.store.attempts(post_id=self.query.post_id, channel=self.query.channel,
                                       since=self.query.since,
                                       article_url=self.query.article_url, after_id=start,
                                       limit=1000)
        out: list[Attempt] = []
        for row in rows:
            if row.id in self.pending:
                if row.outcome is not Outcome.STARTED:
                    del self.pending[row.id]
                    if self._wanted(row):
                        out.append(row)
                continue
            if row.id <= self.cursor:
                continue
            if row.outcome is Outcome.STARTED:
                self.pending[row.id] = row
            if self._wanted(row):
                out.append(row)
        if rows:
            self.cursor = max(self.cursor, rows[-1].id)
        now = self.app.now()
        for pid, row in list(self.pending.items()):
            if now - row.started_at > self.patience:
                del self.pending[pid]
        return out

    def _wanted(self, row: Attempt) -> bool:
        return self.query.outcomes is None or row.outcome in self.query.outcomes


# -- ops: status --------------------------------------------------------------------------


@dataclass(frozen=True)
class DaemonReport:
    alive: bool
    worker: str | None = None
    host: str | None = None
    pid: int | None = None
    heartbeat_at: datetime | None = None
    heartbeat_age: float | None = None  # seconds
    stopped_at: datetime | None = None


@dataclass(frozen=True)
class FeedReport:
    name: str
    url: str
    last_poll_at: datetime | None
    last_success_at: datetime | None
    last_error: str | None
    error_count: int
    failing: bool  # failing for over an hour (or never polled successfully)


@dataclass(frozen=True)
class ChannelReport:
    name: str
    type: str
    open: bool
    reason: str | None  # why it may not publish now
    until: datetime | None
    state: ChannelState
    queue: dict[str, int]  # status -> posts
    next_post: int | None
    next_due: datetime | None
    next_why: str | None
    published_today: int
    published_month: int
    spend_today: float
    spend_month: float
    budget: float | None


@dataclass(frozen=True)
class StatusReport:
    now: datetime
    timezone: str
    daemon: DaemonReport
    channels: tuple[ChannelReport, ...]
    feeds: tuple[FeedReport, ...]
    queue: dict[str, int]  # status -> posts, all channels
    problems: tuple[str, ...] = field(default=())

    @property
    def healthy(self) -> bool:
        return not self.problems


def _daemon(app: DeskApp, now: datetime) -> DaemonReport:
    workers = app.store.workers()
    if not workers:
        return DaemonReport(alive=False)
    live = [w for w in workers if w.stopped_at is None]
    w = max(live or workers, key=lambda w: w.heartbeat_at)
    age = (now - w.heartbeat_at).total_seconds()
    alive = w.stopped_at is None and age <= DAEMON_TIMEOUT.total_seconds()
    return DaemonReport(alive, w.id, w.host, w.pid, w.heartbeat_at, age, w.stopped_at)


def _ago(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} days"


def status(app: DeskApp) -> StatusReport:
    """The daemon, the queue, each channel and feed, and what is unhealthy."""
    now = app.now()
    config, store, tz = app.config, app.store, app.config.timezone
    problems: list[str] = []
    daemon = _daemon(app, now)
    if daemon.heartbeat_at is None:
        problems.append("daemon: never started on this database (publisher run)")
    elif daemon.stopped_at is not None and not daemon.alive:
        problems.append(f"daemon: stopped at {local_time(daemon.stopped_at, tz)}")
    elif not daemon.alive:
        problems.append(f"daemon: not seen for {_ago(daemon.heartbeat_age or 0)} "
                        f"(last heartbeat {local_time(daemon.heartbeat_at, tz)})")

    counts = store.post_counts()
    queue: dict[str, int] = {}
    per_channel: dict[str, dict[str, int]] = {}
    for (channel, st), n in sorted(counts.items()):
        queue[st.value] = queue.get(st.value, 0) + n
        per_channel.setdefault(channel, {})[st.value] = n
    gates = app.gates(now)
    states = store.channel_states()
    nexts = store.next_posts(now=now)
    hour, day, month = local_starts(now, tz)
    channels: list[ChannelReport] = []
    for name, cfg in config.channels.items():
        gate = gates[name]
        state = states.get(name) or ChannelState(name)
        next_id, next_due = nexts.get(name, (None, None))
        next_why = None
        if next_id is not None:
            next_why = why_waiting(store.get_post(next_id), gate, now=now, tz=tz)
        stats = store.publish_stats(name, hour_start=hour, day_start=day, month_start=month)
        money = app.spend(name, now)
        channels.append(ChannelReport(
            name=name, type=cfg.type, open=gate.open, reason=gate.reason, until=gate.until,
            state=state, queue=per_channel.get(name, {}), next_post=next_id,
            next_due=next_due, next_why=next_why, published_today=stats.today,
            published_month=stats.month_with_link + stats.month_without_link,
            spend_today=money.today, spend_month=money.month, budget=money.budget))
        if state.paused:
            kind = "paused: the platform refused the credentials" if state.auth_failed else (
                "paused")
            who = f" ({state.paused_by})" if state.paused_by else ""
            problems.append(f"channel {name}: {kind}: {state.paused_reason or 'no reason'}"
                            f"{who}")
        review = per_channel.get(name, {}).get(PostStatus.NEEDS_REVIEW.value, 0)
        if review:
            problems.append(f"channel {name}: {review} post(s) need review "
                            "(publisher queue list --status needs_review)")
    if daemon.alive:
        stuck: dict[str, list[tuple[int, datetime]]] = {}
        for post_id, channel, priority, due in store.overdue_posts(
                before=now - STUCK_AFTER):
            found = gates.get(channel)
            if found is None:
                continue
            gate = found
            if gate.breaking_open if priority == Priority.BREAKING.value else gate.open:
                stuck.setdefault(channel, []).append((post_id, due))
        for channel, posts in stuck.items():
            post_id, due = posts[0]
            problems.append(f"channel {channel}: {len(posts)} post(s) due but not moving "
                            f"(post {post_id} due since {local_time(due, tz)})")
    feeds: list[FeedReport] = []
    for feed in store.list_feeds():
        failing = bool(feed.last_error) and (
            feed.last_success_at is None or now - feed.last_success_at > FEED_FAILING)
        feeds.append(FeedReport(feed.name, feed.url, feed.last_poll_at, feed.last_success_at,
                                feed.last_error, feed.error_count, failing))
        if failing:
            since = (f"since {local_time(feed.last_success_at, tz)}" if feed.last_success_at
                     else "and never polled successfully")
            problems.append(f"feed {feed.name}: failing {since}: {feed.last_error}")
    return StatusReport(now=now, timezone=tz.key, daemon=daemon, channels=tuple(channels),
                        feeds=tuple(feeds), queue=queue, problems=tuple(problems))


def who_am_i(environ: Mapping[str, str] | None = None) -> str:
    """The editor's name for ``--by`` (``$USER``)."""
    env = os.environ if environ is None else environ
    name = env.get("USER") or env.get("LOGNAME") or env.get("USERNAME")
    if not name:
        import getpass

        try:
            name = getpass.getuser()
        except (OSError, KeyError):
            name = "unknown"
    return name


__all__ = [
    "FUTURE_LIMIT",
    "MAX_ID",
    "PAST_GRACE",
    "AddResult",
    "Added",
    "Desk",
    "DeskApp",
    "PostDetail",
    "Preview",
    "StatusReport",
    "add_posts",
    "approve_post",
    "cancel_post",
    "check_channels",
    "due_at",
    "edit_post",
    "list_posts",
    "listing",
    "local_time",
    "open_desk",
    "parse_id",
    "parse_outcomes",
    "parse_priority",
    "parse_since",
    "parse_statuses",
    "parse_when",
    "pause",
    "preview",
    "quote",
    "resolve_post",
    "resume",
    "retry_post",
    "show_post",
    "status",
]
