"""Pure decisions about time: when to retry, when to poll, whether a post is stale.

Nothing here does I/O or reads a clock; the current time and the random
source are arguments, so every rule is tested without waiting.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from publisher.exceptions import (
    Ambiguous,
    AuthFailed,
    ChannelError,
    Permanent,
    RateLimited,
    Transient,
)
from publisher.types import Outcome, PostStatus

#: A feed that keeps failing is polled at most this rarely.
MAX_FEED_BACKOFF = 6 * 3600.0
#: How far in the future a server's Retry-After / max-age may push a poll.
MAX_SERVER_DELAY = 24 * 3600.0


def backoff_delay(attempt: int, *, base: float, cap: float,
                  rand: Callable[[], float] = random.random) -> float:
    """Exponential backoff with full jitter (AWS architecture blog): a delay
    drawn uniformly from [0, min(cap, base * 2**(attempt-1))].

    Full jitter spreads retries of many posts that failed together (one 503
    burst) instead of sending them back in lock-step."""
    ceiling = min(cap, base * (2 ** max(0, attempt - 1)))
    return rand() * ceiling


def next_poll_delay(interval: float, *, error_count: int = 0,
                    server_delay: float | None = None) -> float:
    """Seconds until a feed's next poll.

    A failing feed backs off exponentially (interval * 2**errors, at most six
    hours) so a dead site is not hammered; a server's Retry-After or
    Cache-Control max-age is honoured when it asks for more than that."""
    delay = interval
    if error_count > 0:
        delay = min(MAX_FEED_BACKOFF, interval * (2 ** min(error_count, 16)))
    if server_delay is not None:
        delay = max(delay, min(server_delay, MAX_SERVER_DELAY))
    return delay


def is_stale(expires_at: datetime | None, now: datetime) -> bool:
    """A post past its expiry is old news: it fails instead of going out late."""
    return expires_at is not None and now >= expires_at


@dataclass(frozen=True)
class Verdict:
    """What the dispatcher does after a channel error."""

    outcome: Outcome
    status: PostStatus
    next_attempt_at: datetime | None = None
    pause_channel: bool = False
    rate_limited_until: datetime | None = None
    reconcile: bool = False


def judge_error(error: ChannelError, *, attempt: int, max_attempts: int, base: float,
                cap: float, now: datetime,
                rand: Callable[[], float] = random.random) -> Verdict:
    """Map a channel error to the post's next state (DESIGN.md, error taxonomy)."""
    if isinstance(error, RateLimited):
        until = max(error.until, now)
        # A rate limit is the platform's pacing, not the post's failure: it does
        # not use up an attempt's budget beyond the one already counted.
        return Verdict(Outcome.RATE_LIMITED, PostStatus.WAITING, next_attempt_at=until,
                       rate_limited_until=until)
    if isinstance(error, AuthFailed):
        return Verdict(Outcome.AUTH_FAILED, PostStatus.FAILED, pause_channel=True)
    if isinstance(error, Ambiguous):
        return Verdict(Outcome.AMBIGUOUS, PostStatus.WAITING, next_attempt_at=now, reconcile=True)
    if isinstance(error, Transient):
        if attempt >= max_attempts:
            return Verdict(Outcome.FAILED, PostStatus.FAILED)
        delay = backoff_delay(attempt, base=base, cap=cap, rand=rand)
        return Verdict(Outcome.RETRYING, PostStatus.WAITING,
                       next_attempt_at=now + timedelta(seconds=delay))
    if isinstance(error, Permanent):
        return Verdict(Outcome.FAILED, PostStatus.FAILED)
    # An unknown ChannelError subclass is treated as transient: retrying is
    # safe because any ambiguity would have been raised as Ambiguous.
    if attempt >= max_attempts:
        return Verdict(Outcome.FAILED, PostStatus.FAILED)
    delay = backoff_delay(attempt, base=base, cap=cap, rand=rand)
    return Verdict(Outcome.RETRYING, PostStatus.WAITING,
                   next_attempt_at=now + timedelta(seconds=delay))
