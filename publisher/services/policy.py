"""Pure decisions about time: when to retry, when to poll, whether a post is stale.

Nothing here does I/O or reads a clock; the current time and the random
source are arguments, so every rule is tested without waiting.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from publisher.exceptions import ChannelError
from publisher.services import lifecycle
from publisher.services.lifecycle import ChannelFacts, PostFacts
from publisher.types import DeliveryClass, Outcome, PostStatus

#: A feed that keeps failing is polled at most this rarely.
MAX_FEED_BACKOFF = 6 * 3600.0
#: How far in the future a server's Retry-After / max-age may push a poll.
MAX_SERVER_DELAY = 24 * 3600.0

#: A post past its expiry is old news (``lifecycle.is_stale``).
is_stale = lifecycle.is_stale


def backoff_delay(attempt: int, *, base: float, cap: float,
                  rand: Callable[[], float] = random.random) -> float:
    """``lifecycle.backoff_delay``: exponential backoff with full jitter."""
    return lifecycle.backoff_delay(attempt, base=base, cap=cap, rand=rand)


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
    """Map a channel error to the post's next state (DESIGN.md, error taxonomy):
    ``lifecycle.on_outcome``'s decision, as the dispatcher of today reads it."""
    channel = ChannelFacts(DeliveryClass.RECONCILABLE, max_attempts=max_attempts,
                           retry_base=base, retry_cap=cap)
    decision = lifecycle.on_outcome(error, PostFacts(0, PostStatus.PUBLISHING, attempt),
                                    channel, attempt=attempt, now=now, rand=rand)
    pause = isinstance(decision, lifecycle.PauseChannel)
    if isinstance(decision, lifecycle.PauseChannel):
        decision = decision.then
    if isinstance(decision, lifecycle.Wait):
        outcome = decision.outcome or Outcome.RETRYING
        if outcome is Outcome.AMBIGUOUS:
            return Verdict(outcome, PostStatus.WAITING, next_attempt_at=now, reconcile=True)
        return Verdict(outcome, PostStatus.WAITING, next_attempt_at=decision.until,
                       pause_channel=pause, rate_limited_until=decision.gate_until)
    if isinstance(decision, lifecycle.Fail):
        return Verdict(decision.outcome or Outcome.FAILED, PostStatus.FAILED,
                       pause_channel=pause)
    raise AssertionError(f"no verdict for {decision!r}")  # on_outcome of an error never else
