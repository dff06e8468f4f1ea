"""A post's life, decided in one place (DESIGN.md, "A post's life").

Every transition of a post is a pure function of plain values returning a
small frozen decision; the dispatcher (automatic arrows) and the desk (editor
arrows) carry decisions out, each in one ``apply`` with a ``match``, and never
re-derive them.  This module imports only ``publisher.types``,
``publisher.exceptions`` and the standard library: no store, clock, logging,
channel or configuration object (an import-linter contract holds it), so every
rule is tested by a table and a state machine without I/O.

The deciders:

- ``on_claim``: a worker holds the post under a lease; send it, look it up,
  mark it published, wait, or send it to review / failure.
- ``before_call``: the last look at the channel's rate-limit gate before the
  platform call.
- ``on_outcome``: the platform answered (``PublishResult``) or raised a
  ``ChannelError``.
- ``on_lookup``: a reconciliation look-up found the post, did not, or failed.
- ``on_expiry``: a queued or waiting post became old news.
- ``on_take_over``: what an expired lease makes of the attempt it left open.
- the editor's actions (``edit``, ``cancel``, ``retry``, ``approve``,
  ``resolve``): a ``Change`` or a ``Refuse``.
- ``compose``: the new post for any origin (feed article, editor, recurring
  firing, re-share).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from publisher.exceptions import (
    AccountBlocked,
    Ambiguous,
    AuthFailed,
    ChannelError,
    Permanent,
    RateLimited,
    RenderError,
    TooLong,
)
from publisher.types import (
    ArticleData,
    Attempt,
    DeliveryClass,
    Image,
    NewPost,
    OutboxItem,
    Outcome,
    PostStatus,
    Priority,
    PublishResult,
    RenderedPost,
)

#: Wait this long before looking for a post whose attempt timed out: platforms
#: may take a moment to show a post they just stored.
RECONCILE_DELAY = 2.0
#: An idempotency key is trusted only this long before the platform forgets it
#: (Mastodon keeps one for an hour: a post in doubt for over 50 minutes is
#: looked up with ``find`` instead of being sent again with its key).
KEY_MARGIN = 600.0

#: Outcomes that leave open whether the platform has the post.
IN_DOUBT = (Outcome.STARTED, Outcome.AMBIGUOUS)
#: Outcomes by which the platform said it has the post.
CONFIRMED = (Outcome.OK, Outcome.RECONCILED)


# -- the facts a decision is made of ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class History:
    """A post's publish log summarised as plain values.

    ``newest``: the outcome of the newest row (None: never tried).
    ``confirmed``: the first row by which the platform said it has the post
    (an OK, possibly one that came back after a take-over, or a reconciled
    look-up), if any.  ``in_doubt_since``: when the oldest attempt that may
    have reached the platform, and was not cleared since by a look-up (or an
    editor) that found it absent, began; None when no attempt leaves the post
    in doubt.  A later attempt's error does not clear the doubt: a 503 on the
    second try says nothing of where the first one went.
    ``ever_in_doubt``: some attempt of the post may have reached the
    platform (adapters are told, so they read back before re-sending)."""

    newest: Outcome | None = None
    newest_error: str | None = None
    confirmed: Attempt | None = None
    in_doubt_since: datetime | None = None
    ever_in_doubt: bool = False

    @property
    def in_doubt(self) -> bool:
        """Some attempt may have reached the platform, and nothing said since
        that it did not."""
        return self.in_doubt_since is not None

    @classmethod
    def of(cls, attempts: Sequence[Attempt]) -> History:
        """Summarise ``attempts`` (newest first, as ``StoreAPI.attempts`` returns them)."""
        if not attempts:
            return cls()
        newest = attempts[0]
        confirmed = next((a for a in reversed(attempts) if a.outcome in CONFIRMED), None)
        since: datetime | None = None
        for row in attempts:  # back to the newest look-up that found nothing
            if row.outcome is Outcome.NOT_FOUND:
                break
            if row.outcome in IN_DOUBT:
                since = row.started_at
        return cls(newest=newest.outcome, newest_error=newest.error, confirmed=confirmed,
                   in_doubt_since=since,
                   ever_in_doubt=any(a.outcome in IN_DOUBT for a in attempts))


@dataclass(frozen=True, slots=True)
class PostFacts:
    """What a decision needs to know of one post."""

    id: int
    status: PostStatus
    attempts: int = 0  # attempts of the current try (an editor's retry resets it)
    expires_at: datetime | None = None
    history: History = field(default_factory=History)
    #: A re-share: a look-up would find the article's earlier post by its
    #: link, so a re-share in doubt is never settled by one.
    reshare: bool = False


@dataclass(frozen=True, slots=True)
class ChannelFacts:
    """What a decision needs to know of the post's channel: plain values
    from its configuration, its channel type and its stored state."""

    delivery: DeliveryClass
    max_attempts: int = 5
    retry_base: float = 30.0
    retry_cap: float = 3600.0
    #: Idempotent channels: seconds the platform keeps an idempotency key
    #: (``ChannelType.key_lifetime``); None: it never lapses.
    key_lifetime: float | None = None
    #: The channel's rate-limit gate: no request before this (None: open).
    rate_limited_until: datetime | None = None
    #: False when the channel was removed from the configuration.
    configured: bool = True
    #: The channel type's name, for reasons an editor reads ("x refused …").
    type: str = ""

    @property
    def can_look_up(self) -> bool:
        """Whether a look-up on the platform can tell if a post is there."""
        return self.delivery is DeliveryClass.RECONCILABLE or (
            self.delivery is DeliveryClass.IDEMPOTENT and self.key_lifetime is not None)


# -- decision values ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LogRow:
    """A row to append to the publish log that is not a platform call of its
    own (a look-up's result, stale, an editor's action)."""

    outcome: Outcome
    error: str | None = None
    remote_id: str | None = None
    remote_url: str | None = None


@dataclass(frozen=True, slots=True)
class Publish:
    """Send the post (recording the attempt as started first).
    ``after_ambiguous``: an earlier attempt may have reached the platform."""

    after_ambiguous: bool = False


@dataclass(frozen=True, slots=True)
class Lookup:
    """Look for the post on the platform (``Channel.find``) before anything
    else, then decide with ``on_lookup``."""

    reason: str


@dataclass(frozen=True, slots=True)
class MarkPublished:
    """The platform has the post.  ``outcome``: OK (the answer of the
    attempt in hand), RECONCILED (a look-up found it; a log row of its own),
    or None (the log already says so: only the post changes)."""

    remote_id: str | None = None
    remote_url: str | None = None
    outcome: Outcome | None = Outcome.OK
    note: str | None = None
    http_status: int | None = None


@dataclass(frozen=True, slots=True)
class Wait:
    """The post waits (status WAITING) until ``until``, for ``reason``.
    ``outcome``: the attempt's outcome when deciding on an attempt, else
    None (no log row).  ``gate_until``: close the channel's rate-limit gate
    until then, for every worker, before anything else."""

    until: datetime
    reason: str
    outcome: Outcome | None = None
    gate_until: datetime | None = None
    http_status: int | None = None


@dataclass(frozen=True, slots=True)
class Review:
    """Nobody can tell whether the platform has the post: NEEDS_REVIEW, for
    an editor.  ``outcome``: the log row's (None: the log says so already)."""

    reason: str
    outcome: Outcome | None = Outcome.NEEDS_REVIEW
    http_status: int | None = None


@dataclass(frozen=True, slots=True)
class Fail:
    """The post failed for good (``publisher queue retry`` may bring it back)."""

    reason: str
    outcome: Outcome | None = Outcome.FAILED
    http_status: int | None = None


@dataclass(frozen=True, slots=True)
class Release:
    """Give the leased post back untouched (its channel is not configured)."""

    reason: str


@dataclass(frozen=True, slots=True)
class PauseChannel:
    """Pause the post's channel with ``reason`` (``auth``: the platform
    refused the credentials; else the account is blocked until a person
    acts), then carry out ``then`` for the post."""

    reason: str
    auth: bool
    then: Wait | Fail | Review


@dataclass(frozen=True, slots=True)
class Logged:
    """Append ``row`` to the publish log, then carry out ``then``."""

    row: LogRow
    then: Publish | Fail | Wait | Review | MarkPublished


#: What the dispatcher carries out.
Decision = Publish | Lookup | MarkPublished | Wait | Review | Fail | Release | PauseChannel | Logged


@dataclass(frozen=True, slots=True)
class Change:
    """An editor's change: set ``fields`` on the post while its status is
    one of ``expected`` (compare-and-set), after appending ``log_row`` when
    there is one (the dispatcher trusts a post's newest log row, so the row
    goes first)."""

    fields: Mapping[str, object]
    expected: tuple[PostStatus, ...]
    log_row: LogRow | None = None


@dataclass(frozen=True, slots=True)
class Refuse:
    """An editor's action that cannot be done: one line naming the post, its
    state and what to do instead."""

    message: str


EditorDecision = Change | Refuse


# -- retry maths (pure: the random source is an argument) --------------------------------


def backoff_delay(attempt: int, *, base: float, cap: float, rand: Callable[[], float]) -> float:
    """Exponential backoff with full jitter (AWS architecture blog): a delay
    drawn uniformly from [0, min(cap, base * 2**(attempt-1))].

    Full jitter spreads retries of many posts that failed together (one 503
    burst) instead of sending them back in lock-step."""
    ceiling = min(cap, base * (2 ** max(0, attempt - 1)))
    return rand() * ceiling


def is_stale(expires_at: datetime | None, now: datetime) -> bool:
    """A post past its expiry is old news: it fails instead of going out late."""
    return expires_at is not None and now >= expires_at


def stale_reason(expires_at: datetime | None) -> str:
    at = expires_at.isoformat(timespec="seconds") if expires_at else "?"
    return f"stale: not published before its max_age ran out at {at}"


# -- automatic arrows: claim, call, outcome, look-up, expiry, take-over -------------------


def _key_lapsed(post: PostFacts, channel: ChannelFacts, now: datetime) -> bool:
    """An idempotent channel's key may be forgotten by the platform: re-sending
    with it could post twice."""
    since = post.history.in_doubt_since
    if channel.key_lifetime is None or since is None:
        return False
    trusted = max(0.0, channel.key_lifetime - KEY_MARGIN)
    return (now - since).total_seconds() >= trusted


def on_claim(post: PostFacts, channel: ChannelFacts, *, now: datetime) -> Decision:
    """A worker holds ``post`` under a lease: what to do with it.

    In order: a channel no longer configured gives the post back; a post the
    platform already confirmed (an OK that came back late, a look-up before a
    crash) is marked published and never sent again; a stale post fails
    (one in doubt is looked up first where the platform can tell, else goes
    to review, never retried); a closed rate-limit gate makes it wait; a post
    in doubt (``History.in_doubt``) is settled by the channel's delivery class
    (idempotent: the same key again, unless the platform may have forgotten
    the key, then a look-up; reconcilable: a look-up; review: an editor);
    anything else is sent."""
    history = post.history
    if not channel.configured:
        return Release("its channel is not configured any more")
    if history.confirmed is not None:
        return MarkPublished(history.confirmed.remote_id, history.confirmed.remote_url,
                             outcome=None)
    in_doubt = history.in_doubt
    can_look_up = channel.can_look_up and not post.reshare
    if is_stale(post.expires_at, now):
        if in_doubt and can_look_up:
            return Lookup("stale, and its last attempt may have reached the platform")
        reason = stale_reason(post.expires_at)
        if in_doubt:  # it may have gone out: an editor decides, never a retry
            return Review(reason + "; its last attempt may have reached the platform")
        return Fail(reason)
    gate = before_call(channel, now=now)
    if gate is not None:
        return gate
    if history.newest is Outcome.NEEDS_REVIEW:
        return Review(history.newest_error or "needs review", outcome=None)
    if in_doubt:
        if channel.delivery is DeliveryClass.REVIEW:
            return Review("ambiguous: the platform may or may not have the post; "
                          "check the channel and run `publisher queue resolve`")
        lapsed = (channel.delivery is DeliveryClass.RECONCILABLE
                  or _key_lapsed(post, channel, now))
        if lapsed and post.reshare:
            return Review("ambiguous: a re-share may or may not be on the platform, and a "
                          "look-up would find the article's earlier post; check the channel "
                          "and run `publisher queue resolve`")
        if channel.delivery is DeliveryClass.RECONCILABLE:
            return Lookup("its last attempt may have reached the platform")
        if _key_lapsed(post, channel, now):
            return Lookup("in doubt for longer than the platform keeps its idempotency key")
        return Publish(after_ambiguous=True)
    return Publish(after_ambiguous=history.ever_in_doubt)


def before_call(channel: ChannelFacts, *, now: datetime) -> Wait | None:
    """The last look at the channel's rate-limit gate, immediately before the
    platform call: a ``Wait`` (no attempt is made) while it is closed."""
    until = channel.rate_limited_until
    if until is not None and now < until:
        return Wait(until, f"rate limited until {until.isoformat(timespec='seconds')}")
    return None


def _give_up(post: PostFacts, reason: str, outcome: Outcome,
             http_status: int | None) -> Fail | Review:
    """Fail the post, unless an earlier attempt may be on the platform: then
    failing it would be a lie, and an editor decides."""
    if post.history.in_doubt:
        return Review(f"{reason}; an earlier attempt may have reached the platform: check "
                      "the channel and run `publisher queue resolve`", outcome=outcome,
                      http_status=http_status)
    return Fail(reason, outcome=outcome, http_status=http_status)


def on_outcome(answer: PublishResult | ChannelError, post: PostFacts, channel: ChannelFacts,
               *, attempt: int, now: datetime, rand: Callable[[], float]) -> Decision:
    """The platform answered attempt number ``attempt`` of ``post``
    (``post.history``: the log before this attempt, as ``on_claim`` saw it).

    OK: published.  ``RateLimited``: the post waits until the reset and the
    channel's gate closes until then (a rate limit does not use up the
    budget beyond the attempt already counted).  ``AuthFailed``: the channel
    is paused and the post fails.  ``AccountBlocked``: the channel is paused
    with the platform's reason and the post waits (not failed) until an
    editor resumes the channel.  ``Ambiguous``: settled later by the
    delivery class (review: an editor now).  ``Transient`` (and any other
    ``ChannelError``): retried after a jittered backoff until
    ``max_attempts``.  ``Permanent``: failed with the platform's message.
    A post that would fail while an earlier attempt may be on the platform
    goes to review instead (never failed while it may be out)."""
    if isinstance(answer, PublishResult):
        return MarkPublished(answer.remote_id, answer.remote_url, outcome=Outcome.OK,
                             note="; ".join(answer.notes) or None,
                             http_status=answer.http_status)
    error, status = str(answer), answer.http_status
    if isinstance(answer, RateLimited):
        until = max(answer.until, now)
        return Wait(until, error, outcome=Outcome.RATE_LIMITED, gate_until=until,
                    http_status=status)
    if isinstance(answer, AuthFailed):
        return PauseChannel(f"{channel.type or 'the platform'} refused the credentials: "
                            f"{error}", auth=True,
                            then=_give_up(post, error, Outcome.AUTH_FAILED, status))
    if isinstance(answer, AccountBlocked):
        return PauseChannel(error, auth=False,
                            then=Wait(now, f"channel paused: {error}", outcome=Outcome.RETRYING,
                                      http_status=status))
    if isinstance(answer, Ambiguous):
        if channel.delivery is DeliveryClass.REVIEW:
            return Review(error, outcome=Outcome.AMBIGUOUS, http_status=status)
        return Wait(now + timedelta(seconds=RECONCILE_DELAY), error, outcome=Outcome.AMBIGUOUS,
                    http_status=status)
    if isinstance(answer, Permanent):
        return _give_up(post, error, Outcome.FAILED, status)
    # Transient, and an unknown ChannelError subclass: retrying is safe because
    # any ambiguity would have been raised as Ambiguous.
    if attempt >= channel.max_attempts:
        return _give_up(post, error, Outcome.FAILED, status)
    delay = backoff_delay(attempt, base=channel.retry_base, cap=channel.retry_cap, rand=rand)
    return Wait(now + timedelta(seconds=delay), error, outcome=Outcome.RETRYING,
                http_status=status)


def on_lookup(found: PublishResult | ChannelError | None, post: PostFacts,
              channel: ChannelFacts, *, now: datetime,
              rand: Callable[[], float]) -> Decision:
    """A look-up for a post in doubt answered: ``found`` (a ``PublishResult``):
    published, with a RECONCILED row; None (not there): a NOT_FOUND row, then
    sent again, unless it is stale or its attempts are used up (failed); a
    ``ChannelError``: the post stays in doubt and is looked for again later
    (after the reset for a rate limit, which also closes the gate; a refused
    credential or a blocked account also pauses the channel)."""
    if isinstance(found, PublishResult):
        return MarkPublished(found.remote_id, found.remote_url, outcome=Outcome.RECONCILED)
    if found is None:
        row = LogRow(Outcome.NOT_FOUND,
                     "not on the platform after an ambiguous attempt: retrying")
        if is_stale(post.expires_at, now):
            return Logged(row, Fail(stale_reason(post.expires_at)))
        if post.attempts >= channel.max_attempts:
            return Logged(row, Fail(f"gave up after {post.attempts} attempts"))
        return Logged(row, Publish(after_ambiguous=True))
    reason = f"reconcile: {found}"
    if isinstance(found, RateLimited):
        return Wait(found.until, reason, gate_until=found.until)
    delay = backoff_delay(max(1, post.attempts), base=channel.retry_base,
                          cap=channel.retry_cap, rand=rand)
    wait = Wait(now + timedelta(seconds=max(RECONCILE_DELAY, delay)), reason)
    if isinstance(found, AuthFailed):
        return PauseChannel(f"{channel.type or 'the platform'} refused the credentials: "
                            f"{found}", auth=True, then=wait)
    if isinstance(found, AccountBlocked):
        return PauseChannel(str(found), auth=False, then=wait)
    return wait


def on_expiry(post: PostFacts, *, opens_at: datetime | None, now: datetime) -> Fail | None:
    """A queued, waiting or draft post checked for staleness while nobody
    holds it.  Fails it when it is past its max_age, or when its channel
    stays closed (``opens_at``: caps, budget, quiet hours, a pause) until
    after it expires; a draft only once it is past its max_age.  A post in
    doubt is left to the dispatcher, which settles it first (None)."""
    if post.expires_at is None:
        return None
    late = (opens_at is not None and opens_at >= post.expires_at
            and post.status is not PostStatus.DRAFT)
    if not (is_stale(post.expires_at, now) or late):
        return None
    if post.attempts and post.history.in_doubt:
        return None
    return Fail(stale_reason(post.expires_at))


def on_take_over(newest: Outcome | None) -> LogRow | None:
    """A post's lease expired: what its open attempt becomes.  A *started*
    attempt (its worker died, or hangs) may have reached the platform: it is
    closed as AMBIGUOUS, and the new holder decides with ``on_claim``, which
    settles it by the delivery class."""
    if newest is Outcome.STARTED:
        return LogRow(Outcome.AMBIGUOUS, "lease expired")
    return None


# -- the channel as composing and the editor's actions see it ----------------------------


@dataclass(frozen=True, slots=True)
class ChannelRules:
    """Plain values of a configured channel that composing a post and the
    editor's actions need.  ``count``/``limit``/``rule_name``: the
    platform's length rule (with the limit the platform announced, where it
    does); ``tag_link``: the channel's UTM tagging of a link;
    ``link_in_text``: the adapter shows a post's link only where the text
    carries it (X and Mastodon build their card from a URL in the text)."""

    name: str
    type: str = ""
    approval: bool = False
    max_age: float = 86400.0
    limit: int | None = None
    count: Callable[[str], int] | None = None
    rule_name: str = ""
    tag_link: Callable[[str], str] | None = None
    link_in_text: bool = False
    #: False when the channel was removed from the configuration.
    configured: bool = True

    def tagged(self, url: str) -> str:
        return self.tag_link(url) if self.tag_link is not None else url

    def measure(self, text: str) -> tuple[int, int | None]:
        """``text``'s length as the platform counts it, and the limit."""
        return (self.count(text) if self.count is not None else len(text)), self.limit

    def too_long(self, text: str) -> str | None:
        """Why ``text`` cannot go out on this channel, or None."""
        length, limit = self.measure(text)
        if limit is None or length <= limit:
            return None
        rule = f" ({self.rule_name})" if self.rule_name else ""
        return f"text too long for {self.name}: {length} > {limit}{rule}"


# -- composing a new post, for every origin ----------------------------------------------


class OriginKind(StrEnum):
    """Where a new post comes from."""

    FEED = "feed"  # an article a feed brought, planned by its routes
    EDITOR_URL = "editor_url"  # `publisher queue add --url`: an article an editor queued
    EDITOR_TEXT = "editor_text"  # `publisher queue add --text [--link] [--image]`
    RECURRING = "recurring"  # one firing of a [[recurring]] post (a text or a URL rotation)
    RESHARE = "reshare"  # an article posted again later: a new post with its own key


@dataclass(frozen=True, slots=True)
class Origin:
    """What a new post is made of.  ``at``: when it is due (a feed's post:
    the planning time); ``article``: the article rendered for it, if any;
    ``text``/``link``/``image``: an editor's or a recurring post's own."""

    kind: OriginKind
    at: datetime
    created_by: str = "planner"
    article: ArticleData | None = None
    text: str | None = None
    link: str | None = None
    image: Image | None = None
    template: str = "default"
    priority: Priority = Priority.NORMAL
    idempotency_key: str | None = None
    #: A re-share's number on its channel (1 for the first; ``RESHARE`` only).
    reshare: int = 0


@dataclass(frozen=True, slots=True)
class Composed:
    """The post to put in the outbox.  ``problem``: why it was created
    failed (kept, so the newsroom sees why it was not sent)."""

    post: NewPost
    length: int
    limit: int | None
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class Skip:
    """No post on this channel (a feed's article older than its max_age)."""

    reason: str


def _render_problem(error: RenderError) -> str:
    if isinstance(error, TooLong):
        return f"too long: {error.length} > {error.limit} even after shortening"
    return f"template error: {error}"


def _with_link(text: str, link: str | None, rules: ChannelRules) -> str:
    """A text given with a separate link, as it goes out: where the platform
    shows a link only from the text, the link is added to it."""
    if link is None or not rules.link_in_text or link in text:
        return text
    return f"{text}\n\n{link}"


def compose(origin: Origin, rules: ChannelRules, *,
            rendered: RenderedPost | RenderError | None, now: datetime) -> Composed | Skip | Refuse:
    """The new post of ``origin`` on the channel of ``rules``.

    ``rendered``: the article rendered for the channel (a ``RenderedPost``),
    or the ``RenderError`` rendering raised, or None for a post with a text
    of its own.  Decides draft (the channel wants approval) or queued, the
    expiry (``max_age`` after the article was published, for a feed's post;
    after the time it is due, for the others), the link with the channel's
    UTM tags (every origin), the length against the platform's limit (every
    origin), and what a render error does: an editor's post is refused, a
    feed's or a recurring one is kept failed with the reason."""
    article = origin.article
    by_editor = origin.kind in (OriginKind.EDITOR_URL, OriginKind.EDITOR_TEXT,
                                OriginKind.RESHARE)
    if origin.kind is OriginKind.FEED and article is not None:
        expires_at = min(article.published or now, now) + timedelta(seconds=rules.max_age)
        if expires_at <= now:
            return Skip(f"{rules.name}: older than max_age")
        not_before: datetime | None = None
    else:
        expires_at = origin.at + timedelta(seconds=rules.max_age)
        not_before = origin.at
    status = PostStatus.DRAFT if rules.approval else PostStatus.QUEUED
    if (origin.kind is OriginKind.RESHARE) != (origin.reshare > 0):
        raise ValueError("a re-share, and only a re-share, has a re-share number")
    base = NewPost(channel=rules.name, text="", priority=origin.priority,
                   not_before=not_before, status=status, template=origin.template,
                   created_by=origin.created_by, expires_at=expires_at,
                   idempotency_key=origin.idempotency_key, reshare=origin.reshare)
    if article is not None:
        link: str | None = rules.tagged(article.url)
        post = replace(base, link=link, image=article.image)
        if isinstance(rendered, RenderError):
            problem = _render_problem(rendered)
            if by_editor:
                if isinstance(rendered, TooLong):
                    return Refuse(f"{rules.name}: too long even after shortening: "
                                  f"{rendered.length} > {rendered.limit}")
                return Refuse(f"{rules.name}: template {origin.template}: {rendered}")
            return Composed(replace(post, status=PostStatus.FAILED, last_error=problem),
                            0, rules.limit, problem=f"{rules.name}: {problem}")
        if rendered is None:
            raise ValueError("an article's post needs its rendering")
        return Composed(replace(post, text=rendered.text), rendered.length, rendered.limit)
    text = (origin.text or "").strip()
    if not text:
        if by_editor:
            return Refuse("--text: the text is empty")
        problem = "no text"
        return Composed(replace(base, status=PostStatus.FAILED, last_error=problem), 0,
                        rules.limit, problem=f"{rules.name}: {problem}")
    link = rules.tagged(origin.link) if origin.link is not None else None
    text = _with_link(text, link, rules)
    length, limit = rules.measure(text)
    too_long = rules.too_long(text)
    post = replace(base, text=text, link=link, image=origin.image)
    if too_long is not None:
        if by_editor:
            return Refuse(too_long)
        return Composed(replace(post, status=PostStatus.FAILED, last_error=too_long), length,
                        limit, problem=too_long)
    return Composed(post, length, limit)


# -- the editor's arrows ------------------------------------------------------------------

_EDITABLE = (PostStatus.DRAFT, PostStatus.QUEUED, PostStatus.WAITING)
_CANCELLABLE = (*_EDITABLE, PostStatus.NEEDS_REVIEW)
_RETRYABLE = (PostStatus.FAILED, PostStatus.NEEDS_REVIEW)


def _refused(item: OutboxItem, action: str, allowed: Sequence[PostStatus]) -> Refuse:
    if item.status is PostStatus.PUBLISHED:
        return Refuse(f"post {item.id} is already published: it cannot be {action}")
    if item.status is PostStatus.PUBLISHING:
        return Refuse(f"post {item.id} is being published right now: it cannot be {action}")
    return Refuse(f"post {item.id} is {item.status}: only "
                  f"{' or '.join(s.value for s in allowed)} posts can be {action}")


def _gone(item: OutboxItem, rules: ChannelRules) -> Refuse:
    return Refuse(f"post {item.id} is on \"{rules.name}\", which is no longer configured")


def _requeue(item: OutboxItem, rules: ChannelRules, now: datetime) -> dict[str, object]:
    """Due now, with a fresh attempts budget and a fresh max_age.

    The budget: ``posts.attempts`` counts the attempts of the current try and
    the dispatcher compares it with ``max_attempts``; an editor's retry starts
    it again from 0 (the publish log keeps every earlier attempt, and the row
    this retry writes shows where the new budget starts)."""
    expires = now + timedelta(seconds=rules.max_age)
    return {"status": PostStatus.QUEUED, "attempts": 0, "not_before": now,
            "next_attempt_at": None, "last_error": None,
            "expires_at": max(expires, item.expires_at) if item.expires_at else expires}


def edit(item: OutboxItem, target: ChannelRules, *, text: str | None = None,
         at: datetime | None = None, in_doubt: bool = False,
         taken_by: int | None = None, now: datetime | None = None,
         by: str | None = None) -> EditorDecision:
    """An editor changes a post's text, time (reschedule) or channel.

    Only a draft, queued or waiting post.  ``target``: the rules of the
    channel it ends up on (its own, or the one it moves to).  ``in_doubt``:
    an attempt's outcome is unknown, so the text and the channel stay.
    ``taken_by``: the article's post already on the target channel.  The
    text is counted again against the (new) channel's limit; a post moved to
    a channel that wants approval becomes a draft; a rescheduled waiting post
    is queued again at its new time, with its expiry pushed along.  A failed
    post edited is queued again (at ``at``, else ``now``) with a fresh
    attempts budget, like a retry, and its row says so.  ``by``: who edits;
    the change then carries a log row naming them (what changed)."""
    if item.status is PostStatus.FAILED:
        return _edit_failed(item, target, text=text, at=at, in_doubt=in_doubt,
                            taken_by=taken_by, now=now, by=by or "editor")
    if item.status not in _EDITABLE:
        return _refused(item, "edited", _EDITABLE)
    if not target.configured:
        return _gone(item, target)
    changes: dict[str, object] = {}
    moved = target.name != item.channel
    if (text is not None or moved) and in_doubt:
        return Refuse(f"post {item.id} may already be on {item.channel} (an attempt's "
                      "outcome is unknown): its text and channel cannot change")
    if moved:
        if item.attempts:
            return Refuse(f"post {item.id} was already tried on {item.channel}: cancel it "
                          "and queue a new one instead")
        if taken_by is not None:
            return Refuse(f"the article already has post {taken_by} on {target.name}")
        changes["channel"] = target.name
        if target.approval and item.status is PostStatus.QUEUED:
            changes["status"] = PostStatus.DRAFT
    new_text = item.text
    if text is not None:
        new_text = text.strip()
        if not new_text:
            return Refuse("--text: the text is empty")
        changes["text"] = new_text
    if "text" in changes or "channel" in changes:
        too_long = target.too_long(new_text)
        if too_long is not None:
            return Refuse(too_long)
    if at is not None:
        expires = at + timedelta(seconds=target.max_age)
        changes.update(not_before=at, next_attempt_at=None,
                       expires_at=max(expires, item.expires_at) if item.expires_at else expires)
        if item.status is PostStatus.WAITING:
            changes["status"] = PostStatus.QUEUED
    return Change(changes, (item.status,), _edited_row(by, changes, moved, at))


def _edited_row(by: str | None, changes: Mapping[str, object], moved: bool,
                at: datetime | None) -> LogRow | None:
    """The log row naming who edited a post and what changed (None: nobody named)."""
    if by is None:
        return None
    what = [f"moved to {changes['channel']}"] if moved else []
    if "text" in changes:
        what.append("new text")
    if at is not None:
        what.append(f"rescheduled to {at.astimezone(UTC):%Y-%m-%d %H:%M} UTC")
    return LogRow(Outcome.REQUESTED, f"edited by {by}: {', '.join(what) or 'no change'}")


def _edit_failed(item: OutboxItem, target: ChannelRules, *, text: str | None,
                 at: datetime | None, in_doubt: bool, taken_by: int | None,
                 now: datetime | None, by: str) -> EditorDecision:
    """``edit`` of a failed post: the change an editable post would get,
    then queued again with a fresh budget (``_requeue``) at its time."""
    when = at if at is not None else now
    if when is None:
        raise ValueError("editing a failed post needs now or at")
    if text is None and not item.text.strip():
        return Refuse(f"post {item.id} has no text ({item.last_error or 'it never rendered'})"
                      ": give --text, or `publisher queue retry` renders it again")
    as_queued = edit(replace(item, status=PostStatus.QUEUED), target, text=text, at=None,
                     in_doubt=in_doubt, taken_by=taken_by)
    if isinstance(as_queued, Refuse):
        return as_queued
    fields = {**_requeue(item, target, when), **as_queued.fields}
    if target.approval and "channel" in as_queued.fields:
        fields["status"] = PostStatus.DRAFT
    else:
        fields["status"] = PostStatus.QUEUED
    return Change(fields, (PostStatus.FAILED,),
                  LogRow(Outcome.RETRYING, f"edited by {by}: queued again with a fresh "
                         "attempts budget"))


def _by_row(by: str | None, action: str) -> LogRow | None:
    """An editor's row: ``action`` by ``by`` (REQUESTED: it is no platform
    call, and leaves the post's doubt and confirmation as they were)."""
    return LogRow(Outcome.REQUESTED, f"{action} by {by}") if by is not None else None


def cancel(item: OutboxItem, *, by: str | None = None) -> EditorDecision:
    """Cancel a post that has not gone out (draft, queued, waiting, needs_review).
    ``by``: who cancels; the change then carries a log row naming them."""
    if item.status not in _CANCELLABLE:
        return _refused(item, "cancelled", _CANCELLABLE)
    return Change({"status": PostStatus.CANCELLED, "next_attempt_at": None}, (item.status,),
                  _by_row(by, "cancelled"))


def approve(item: OutboxItem, *, by: str | None = None) -> EditorDecision:
    """A draft goes into the queue (due at its time, or now).  ``by``: who
    approves; the change then carries a log row naming them."""
    if item.status is not PostStatus.DRAFT:
        return _refused(item, "approved", (PostStatus.DRAFT,))
    return Change({"status": PostStatus.QUEUED}, (PostStatus.DRAFT,), _by_row(by, "approved"))


def retry(item: OutboxItem, rules: ChannelRules, *, by: str, now: datetime,
          rendered: RenderedPost | RenderError | None = None) -> EditorDecision:
    """A failed or needs_review post is queued again, due now, with a fresh
    attempts budget and a fresh max_age.  A needs_review post retried is one
    the editor says is not on the platform: its row says NOT_FOUND, so the
    dispatcher sends it instead of sending it back to review.

    A post that failed before it had a text (its template failed, or the
    article did not fit) takes ``rendered``: its article rendered again
    with its template now (after a fix); a ``RenderError`` still refuses,
    naming it.  None for such a post: nothing to render (a text post)."""
    if item.status not in _RETRYABLE:
        return _refused(item, "retried", _RETRYABLE)
    if item.after_kind is not None:
        return _after_refused(item, "retried")
    if not rules.configured:
        return _gone(item, rules)
    fields = _requeue(item, rules, now)
    note = "queued again with a fresh attempts budget"
    if not item.text.strip():
        if isinstance(rendered, RenderError):
            return Refuse(f"post {item.id} still cannot be rendered with template "
                          f"{item.template}: {_render_problem(rendered)}")
        if rendered is None:
            return Refuse(f"post {item.id} has no text ({item.last_error or 'it never rendered'})"
                          f": queue a new one with `publisher queue add --text … --channel "
                          f"{item.channel}`")
        fields["text"] = rendered.text
        note = f"rendered again with template {item.template}, {note}"
    outcome = Outcome.NOT_FOUND if item.status is PostStatus.NEEDS_REVIEW else Outcome.RETRYING
    return Change(fields, (item.status,), LogRow(outcome, f"retried by {by}: {note}"))


def resolve(item: OutboxItem, rules: ChannelRules, *, by: str,
            published_url: str | None, now: datetime) -> EditorDecision:
    """Settle a needs_review post: it is on the platform (``published_url``)
    or it is not (queued to be sent again; ``rules`` of its channel)."""
    if item.status is not PostStatus.NEEDS_REVIEW:
        return _refused(item, "resolved", (PostStatus.NEEDS_REVIEW,))
    if item.after_kind is not None:
        return _after_refused(item, "resolved")
    if published_url is not None:
        return Change({"status": PostStatus.PUBLISHED, "remote_url": published_url},
                      (PostStatus.NEEDS_REVIEW,),
                      LogRow(Outcome.RECONCILED, f"resolved by {by}: published",
                             remote_url=published_url))
    if not rules.configured:
        return _gone(item, rules)
    return Change(_requeue(item, rules, now), (PostStatus.NEEDS_REVIEW,),
                  LogRow(Outcome.NOT_FOUND, f"resolved by {by}: not published"))


# -- after the post: retract and correct (issue 13) ---------------------------------------
#
#     published ──► deleting ──► retracted          published ──► editing ──► published
#
# A delete, an edit or a correction note is an attempt of its own kind
# (``AttemptKind``), recorded as started before the call and settled, when in
# doubt, by reading the post back (``read_back``: gone → deleted; the new
# text → edited) or, for a note, by ``find_reply``.  Where the platform has no
# read back: a repeat the platform makes harmless (``repeat_safe``: a
# Telegram delete answers "not found", an edit "not modified"), else an editor
# (``Review``).  Never a second delete after a confirmed one; never an edit of
# a retracted post.


@dataclass(frozen=True, slots=True)
class AfterFacts:
    """What a channel type lets us do to a published post (``ChannelType``)
    and how a call in doubt is settled."""

    can_delete: bool = False
    delete_window: float | None = None  # seconds after publication; None: no limit
    can_edit: bool = False
    can_reply: bool = False
    #: ``read_back`` answers (a delete or an edit in doubt is read back).
    read_back: bool = False
    #: ``find_reply`` answers (a correction note in doubt is looked for).
    find_reply: bool = False
    #: Repeating a delete or an edit is harmless on the platform.
    repeat_safe: bool = False


@dataclass(frozen=True, slots=True)
class AfterHistory:
    """The rows of the current delete or edit (since its REQUESTED row),
    newest first, summarised: the newest outcome; the row by which the
    platform confirmed the call (OK, or a read back that settled it); and
    whether a call may have reached the platform since the last read back
    that found it had not."""

    newest: Outcome | None = None
    newest_error: str | None = None
    confirmed: Attempt | None = None
    in_doubt: bool = False
    calls: int = 0

    @classmethod
    def of(cls, rows: Sequence[Attempt]) -> AfterHistory:
        if not rows:
            return cls()
        confirmed = next((r for r in reversed(rows) if r.outcome in CONFIRMED), None)
        in_doubt = False
        for row in rows:
            if row.outcome in (Outcome.NOT_FOUND, Outcome.REQUESTED):
                break
            if row.outcome in IN_DOUBT:
                in_doubt = True
                break
        calls = sum(1 for r in rows if r.outcome not in (Outcome.REQUESTED, Outcome.NOT_FOUND,
                                                          Outcome.RECONCILED))
        return cls(newest=rows[0].outcome, newest_error=rows[0].error, confirmed=confirmed,
                   in_doubt=in_doubt, calls=calls)


class AfterKind(StrEnum):
    DELETE = "delete"
    EDIT = "edit"
    NOTE = "note"


@dataclass(frozen=True, slots=True)
class Call:
    """Make the platform call (delete, edit or reply), recorded as started first."""

    kind: AfterKind


@dataclass(frozen=True, slots=True)
class ReadBack:
    """Read the post back (a note: look for the reply), then ``on_read_back``."""

    reason: str


@dataclass(frozen=True, slots=True)
class Done:
    """The platform has done it: a delete → RETRACTED, an edit or a note →
    PUBLISHED (an edit with its new text).  ``outcome`` None: the log says so."""

    outcome: Outcome | None = Outcome.OK
    remote_id: str | None = None
    remote_url: str | None = None
    note: str | None = None


@dataclass(frozen=True, slots=True)
class Abandon:
    """The platform refused: the post stays PUBLISHED as it is, the log
    says why (an editor is told by ``retract``/``correct`` and ``status``)."""

    reason: str
    outcome: Outcome | None = Outcome.FAILED


@dataclass(frozen=True, slots=True)
class AfterLogged:
    """Append ``row`` (of the call's kind) to the publish log, then ``then``."""

    row: LogRow
    then: Call | Abandon


#: What the dispatcher carries out for a post in deleting or editing.
AfterDecision = Call | ReadBack | Done | Abandon | Wait | Review | PauseChannel | AfterLogged


def _after_in_doubt(kind: AfterKind, facts: AfterFacts) -> AfterDecision:
    if kind is AfterKind.NOTE:
        if facts.find_reply:
            return ReadBack("the correction note may have been posted")
        return Review("the correction note may or may not have been posted: check the "
                      "channel", outcome=Outcome.NEEDS_REVIEW)
    if facts.read_back:
        return ReadBack(f"the {kind} may have reached the platform")
    if facts.repeat_safe:
        return Call(kind)
    return Review(f"the {kind} may or may not have reached the platform and it cannot be "
                  "read back: check the channel, then run the command again",
                  outcome=Outcome.NEEDS_REVIEW)


def on_after_claim(kind: AfterKind, history: AfterHistory, facts: AfterFacts,
                   channel: ChannelFacts, *, now: datetime) -> AfterDecision:
    """A worker holds a post in deleting or editing: a call the platform
    confirmed is done (never called again); a channel no longer configured
    or a closed gate makes it wait; a call in doubt is settled first
    (``_after_in_doubt``); else the call."""
    if history.confirmed is not None:
        return Done(outcome=None, remote_id=history.confirmed.remote_id,
                    remote_url=history.confirmed.remote_url)
    if not channel.configured:
        return Wait(now + timedelta(seconds=3600), "its channel is not configured any more")
    gate = before_call(channel, now=now)
    if gate is not None:
        return gate
    if history.newest is Outcome.NEEDS_REVIEW:
        return Review(history.newest_error or "needs review", outcome=None)
    if history.in_doubt:
        return _after_in_doubt(kind, facts)
    return Call(kind)


def on_after_outcome(kind: AfterKind, answer: PublishResult | ChannelError | None,
                     history: AfterHistory, channel: ChannelFacts, *, attempt: int,
                     now: datetime, rand: Callable[[], float]) -> AfterDecision:
    """The platform answered a delete (None: done), an edit or a note
    (a ``PublishResult``), or raised.  As for a publication: a rate limit
    waits and closes the gate; refused credentials pause the channel;
    ``Ambiguous`` waits a moment and the next claim settles it; a transient
    error is retried with backoff up to ``max_attempts``; a refusal abandons
    the change (the post stays as it is), unless an earlier call may have
    reached the platform (then an editor decides)."""
    if not isinstance(answer, ChannelError):
        if answer is None:
            return Done()
        return Done(remote_id=answer.remote_id, remote_url=answer.remote_url,
                    note="; ".join(answer.notes) or None)
    error = f"{kind}: {answer}"
    if isinstance(answer, RateLimited):
        until = max(answer.until, now)
        return Wait(until, error, outcome=Outcome.RATE_LIMITED, gate_until=until)
    if isinstance(answer, Ambiguous):
        return Wait(now + timedelta(seconds=RECONCILE_DELAY), error,
                    outcome=Outcome.AMBIGUOUS)
    if isinstance(answer, AuthFailed | AccountBlocked):
        auth = isinstance(answer, AuthFailed)
        why = (f"{channel.type or 'the platform'} refused the credentials: {answer}" if auth
               else str(answer))
        return PauseChannel(why, auth=auth, then=Wait(now, f"channel paused: {error}",
                                                      outcome=Outcome.RETRYING))
    if isinstance(answer, Permanent) or attempt >= channel.max_attempts:
        if history.in_doubt:
            return Review(f"{error}; an earlier call may have reached the platform: check "
                          "the channel", outcome=Outcome.FAILED)
        return Abandon(f"{error} (the post stays as it is)")
    delay = backoff_delay(attempt, base=channel.retry_base, cap=channel.retry_cap, rand=rand)
    return Wait(now + timedelta(seconds=delay), error, outcome=Outcome.RETRYING)


def _same_text(shown: str, wanted: str) -> bool:
    return " ".join(shown.split()) == " ".join(wanted.split())


def on_read_back(kind: AfterKind, found: str | PublishResult | ChannelError | None, *,
                 new_text: str | None, history: AfterHistory, channel: ChannelFacts,
                 attempts: int, now: datetime, rand: Callable[[], float]) -> AfterDecision:
    """The platform was read back after a call in doubt.  A delete: gone
    (None) is done (RECONCILED); still there: a NOT_FOUND row ("still
    there"), then the delete again.  An edit: the new text shown is done;
    another text: the edit again; gone: an editor decides.  A note:
    ``find_reply``'s ``PublishResult`` is done; None: posted again.  A
    failed read back waits and is read again (never a call while in doubt)."""
    if isinstance(found, ChannelError):
        reason = f"read back: {found}"
        if isinstance(found, RateLimited):
            return Wait(found.until, reason, gate_until=found.until)
        delay = backoff_delay(max(1, attempts), base=channel.retry_base,
                              cap=channel.retry_cap, rand=rand)
        return Wait(now + timedelta(seconds=max(RECONCILE_DELAY, delay)), reason)
    again: Call | Abandon = Call(kind)
    if attempts >= channel.max_attempts:
        again = Abandon(f"{kind}: gave up after {attempts} attempts (the post stays as it is)")
    if kind is AfterKind.DELETE:
        if found is None:
            return Done(Outcome.RECONCILED, note="read back: gone from the platform")
        return AfterLogged(LogRow(Outcome.NOT_FOUND, "read back: still on the platform"), again)
    if kind is AfterKind.NOTE:
        if isinstance(found, PublishResult):
            return Done(Outcome.RECONCILED, found.remote_id, found.remote_url)
        return AfterLogged(LogRow(Outcome.NOT_FOUND, "the correction note is not there"), again)
    if found is None:
        return Review("read back: the post is gone from the platform; its edit cannot be "
                      "applied", outcome=Outcome.NEEDS_REVIEW)
    if isinstance(found, str) and new_text is not None and _same_text(found, new_text):
        return Done(Outcome.RECONCILED, note="read back: the new text is shown")
    return AfterLogged(LogRow(Outcome.NOT_FOUND, "read back: the new text is not shown yet"), again)


# -- the desk's after-post arrows ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RetractStep:
    """What retracting does to one post of the article: ``action`` is
    "delete" (to deleting), "cancel" (not sent yet), "editor" (a person
    must take it down: no delete on this platform, or past its window),
    "already" (deleting or retracted), "later" (being published right now:
    retract again once it is out) or "none" (never went out)."""

    action: str
    detail: str = ""
    expected: tuple[PostStatus, ...] = ()


_UNSENT = (PostStatus.DRAFT, PostStatus.QUEUED, PostStatus.WAITING)


def retract(item: OutboxItem, facts: AfterFacts, *, now: datetime,
            in_doubt: bool = False) -> RetractStep:
    """One post of an article being retracted.  ``in_doubt``: a
    needs_review post's publication may have gone out."""
    status = item.status
    if status in (PostStatus.DELETING, PostStatus.RETRACTED):
        return RetractStep("already", f"post {item.id} is {status}")
    if status in _UNSENT:
        return RetractStep("cancel", "not sent yet: cancelled", (status,))
    if status is PostStatus.NEEDS_REVIEW and item.after_kind is None:
        if in_doubt:
            return RetractStep("editor", "its publication is in doubt: check the channel, "
                               "delete it there if it is out, then `publisher queue resolve`")
        return RetractStep("cancel", "not sent: cancelled", (status,))
    if status is PostStatus.PUBLISHING:
        return RetractStep("later", "being published right now: run retract again once "
                           "it is out")
    if status in (PostStatus.FAILED, PostStatus.CANCELLED):
        return RetractStep("none", f"{status}: never went out")
    # published, editing, or an edit/delete an editor must look at
    if not facts.can_delete:
        return RetractStep("editor", "this platform cannot delete it from publisher: "
                           "take it down by hand")
    if facts.delete_window is not None and item.published_at is not None and (
            now - item.published_at).total_seconds() >= facts.delete_window:
        hours = facts.delete_window / 3600
        return RetractStep("editor", f"published over {hours:g} hours ago: past the "
                           "platform's delete window; take it down by hand")
    return RetractStep("delete", "to be deleted", (status,))


@dataclass(frozen=True, slots=True)
class CorrectStep:
    """What correcting does to one post: "edit", "note", "none" (the post
    is not out, or the channel ignores updates) or "editor" (a person must
    do it: the platform can neither edit nor reply)."""

    action: str
    detail: str = ""
    expected: tuple[PostStatus, ...] = ()


def correct(item: OutboxItem, facts: AfterFacts, *, on_update: str,
            by_hand: bool = False) -> CorrectStep:
    """One post of an article being corrected.  ``on_update``: the
    channel's setting ("ignore", "edit", "note"); ``by_hand``: an editor's
    ``publisher correct`` (an "ignore" channel is then edited as "edit")."""
    if item.status is PostStatus.RETRACTED or item.status is PostStatus.DELETING:
        return CorrectStep("none", f"post {item.id} is {item.status}: never edited")
    if item.status is PostStatus.EDITING:
        if item.after_kind == "edit" and facts.can_edit and on_update != "note":
            # A newer correction replaces the pending edit: whichever text the
            # platform shows meanwhile, the edit leaves the newest there.
            return CorrectStep("edit", "replaces its pending edit", (PostStatus.EDITING,))
        return CorrectStep("none", f"post {item.id} is being corrected already")
    if item.status is not PostStatus.PUBLISHED:
        return CorrectStep("none", f"post {item.id} is {item.status}: not out")
    mode = on_update
    if mode == "ignore":
        if not by_hand:
            return CorrectStep("none", "the channel ignores updates (on_update = \"ignore\")")
        mode = "edit"
    if mode == "edit" and facts.can_edit:
        return CorrectStep("edit", "edited in place", (PostStatus.PUBLISHED,))
    if facts.can_reply:
        why = "a correction note" if mode == "note" else "cannot edit: a correction note"
        return CorrectStep("note", why, (PostStatus.PUBLISHED,))
    return CorrectStep("editor", "this platform can neither edit nor reply from publisher: "
                       "correct it by hand")


def _after_refused(item: OutboxItem, action: str) -> Refuse:
    """A published post whose delete or edit an editor must look at is no
    publication in doubt: retrying or resolving it would publish it again."""
    again = "retract" if item.after_kind == "delete" else "correct"
    return Refuse(f"post {item.id} is published and its {item.after_kind} may or may not "
                  f"have reached {item.channel}: it cannot be {action}; check the platform, "
                  f"then run `publisher {again}` again")
