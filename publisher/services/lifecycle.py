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
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from publisher.exceptions import (
    AccountBlocked,
    Ambiguous,
    AuthFailed,
    ChannelError,
    Permanent,
    RateLimited,
)
from publisher.types import (
    Attempt,
    DeliveryClass,
    Outcome,
    PostStatus,
    PublishResult,
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
    have reached the platform, and was not cleared by a look-up since, began;
    None when the newest row does not leave the post in doubt.
    ``ever_in_doubt``: some attempt of the post may have reached the
    platform (adapters are told, so they read back before re-sending)."""

    newest: Outcome | None = None
    newest_error: str | None = None
    confirmed: Attempt | None = None
    in_doubt_since: datetime | None = None
    ever_in_doubt: bool = False

    @property
    def in_doubt(self) -> bool:
        return self.newest in IN_DOUBT

    @classmethod
    def of(cls, attempts: Sequence[Attempt]) -> History:
        """Summarise ``attempts`` (newest first, as ``StoreAPI.attempts`` returns them)."""
        if not attempts:
            return cls()
        newest = attempts[0]
        confirmed = next((a for a in reversed(attempts) if a.outcome in CONFIRMED), None)
        since: datetime | None = None
        if newest.outcome in IN_DOUBT:
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
    then: Wait | Fail


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
    whose newest row is in doubt is settled by the channel's delivery class
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
    if is_stale(post.expires_at, now):
        if in_doubt and channel.can_look_up:
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


def on_outcome(answer: PublishResult | ChannelError, post: PostFacts, channel: ChannelFacts,
               *, attempt: int, now: datetime, rand: Callable[[], float]) -> Decision:
    """The platform answered attempt number ``attempt`` of ``post``.

    OK: published.  ``RateLimited``: the post waits until the reset and the
    channel's gate closes until then (a rate limit does not use up the
    budget beyond the attempt already counted).  ``AuthFailed``: the channel
    is paused and the post fails.  ``AccountBlocked``: the channel is paused
    with the platform's reason and the post waits (not failed) until an
    editor resumes the channel.  ``Ambiguous``: settled later by the
    delivery class (review: an editor now).  ``Transient`` (and any other
    ``ChannelError``): retried after a jittered backoff until
    ``max_attempts``.  ``Permanent``: failed with the platform's message."""
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
                            then=Fail(error, outcome=Outcome.AUTH_FAILED, http_status=status))
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
        return Fail(error, http_status=status)
    # Transient, and an unknown ChannelError subclass: retrying is safe because
    # any ambiguity would have been raised as Ambiguous.
    if attempt >= channel.max_attempts:
        return Fail(error, http_status=status)
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
