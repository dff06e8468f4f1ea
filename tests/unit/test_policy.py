from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from publisher.services.policy import (
    MAX_FEED_BACKOFF,
    backoff_delay,
    is_stale,
    next_poll_delay,
)

NOW = datetime(2026, 11, 26, 12, tzinfo=UTC)


@pytest.mark.parametrize(("attempt", "ceiling"), [(1, 2), (2, 4), (3, 8), (9, 300), (50, 300)])
def test_backoff_ceiling_doubles_up_to_the_cap(attempt, ceiling):
    assert backoff_delay(attempt, base=2, cap=300, rand=lambda: 1.0) == ceiling
    assert backoff_delay(attempt, base=2, cap=300, rand=lambda: 0.0) == 0


def test_backoff_is_jittered():
    delays = {backoff_delay(5, base=2, cap=300) for _ in range(50)}
    assert len(delays) > 40 and all(0 <= d <= 32 for d in delays)


def test_feed_backoff_and_server_delay():
    assert next_poll_delay(60) == 60
    assert next_poll_delay(60, error_count=1) == 120
    assert next_poll_delay(60, error_count=3) == 480
    assert next_poll_delay(60, error_count=40) == MAX_FEED_BACKOFF
    assert next_poll_delay(60, server_delay=600) == 600  # Retry-After honoured
    assert next_poll_delay(60, server_delay=10) == 60  # never faster than configured
    assert next_poll_delay(60, server_delay=10**9) == 24 * 3600


def test_stale():
    assert not is_stale(None, NOW)
    assert not is_stale(NOW + timedelta(seconds=1), NOW)
    assert is_stale(NOW, NOW)
