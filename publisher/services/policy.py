"""Pure decisions about time: when to poll a feed again.

A post's retries, backoff and staleness are the lifecycle's
(``publisher.services.lifecycle``: ``on_outcome``, ``backoff_delay``,
``is_stale``); ``backoff_delay`` and ``is_stale`` are re-exported here.
Nothing here does I/O or reads a clock; the current time and the random
source are arguments, so every rule is tested without waiting.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from publisher.services import lifecycle

#: A feed that keeps failing is polled at most this rarely.
MAX_FEED_BACKOFF = 6 * 3600.0
#: How far in the future a server's Retry-After / max-age may push a poll.
MAX_SERVER_DELAY = 24 * 3600.0

#: A post past its expiry is old news (``lifecycle.is_stale``).
is_stale = lifecycle.is_stale


def backoff_delay(attempt: int, *, base: float, cap: float,
                  rand: Callable[[], float] = random.random) -> float:
    """``lifecycle.backoff_delay`` (exponential backoff with full jitter),
    drawing from ``random`` unless told otherwise."""
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
