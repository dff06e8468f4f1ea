"""The desk's pure parts: reading times, ids and names, and saying why a post waits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from publisher.exceptions import InputError, NotFoundError
from publisher.services import desk
from publisher.services.timing import Gate
from publisher.types import OutboxItem, PostStatus, Priority

NY = ZoneInfo("America/New_York")
PARIS = ZoneInfo("Europe/Paris")
NOW = datetime(2026, 11, 26, 17, 0, tzinfo=UTC)  # Thursday 12:00 in New York


def at(text: str, now: datetime = NOW, tz: ZoneInfo = NY) -> datetime:
    return desk.parse_when(text, tz=tz, now=now)


@pytest.mark.parametrize(("text", "local"), [
    ("in 2h", "2026-11-26 14:00"),
    ("in 90 minutes", "2026-11-26 13:30"),
    ("in 1 hour 30 min", "2026-11-26 13:30"),
    ("tomorrow 09:00", "2026-11-27 09:00"),
    ("monday 18:30", "2026-11-30 18:30"),
    ("2026-12-01T09:00", "2026-12-01 09:00"),
    ("2026-12-01 09:00+00:00", "2026-12-01 04:00"),
    ("now", "2026-11-26 12:00"),
])
def test_when_is_read_in_the_site_time_zone(text, local):
    assert at(text).astimezone(NY).strftime("%Y-%m-%d %H:%M") == local


def test_in_2h_across_the_spring_forward_is_two_real_hours():
    now = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)  # 01:30 in Paris, before the change
    assert at("in 2h", now, PARIS) == now + timedelta(hours=2)


def test_a_time_skipped_by_dst_is_the_instant_after_the_gap():
    now = datetime(2026, 3, 28, 12, 0, tzinfo=UTC)
    when = at("tomorrow 02:30", now, PARIS)
    assert when.astimezone(PARIS).strftime("%H:%M %Z") == "03:30 CEST"


@pytest.mark.parametrize("text", ["", "   ", "soonish", "5", "-1", "12.5", "\x00",
                                  "in 2 blorps", "31/02/2026"])
def test_unreadable_times_are_refused(text):
    with pytest.raises(InputError, match="cannot read"):
        at(text)


def test_past_and_far_future_are_refused():
    with pytest.raises(InputError, match="in the past"):
        at("yesterday 09:00")
    with pytest.raises(InputError, match="in the past"):
        at("2026-11-26T11:00")
    with pytest.raises(InputError, match="more than a year"):
        at("2030-01-01T00:00")
    assert at("2026-11-26T11:59:30") == NOW  # a few seconds late is now


def test_since():
    assert desk.parse_since("1h", tz=NY, now=NOW) == NOW - timedelta(hours=1)
    assert desk.parse_since("today 06:00", tz=NY, now=NOW) == datetime(2026, 11, 26, 11, 0,
                                                                       tzinfo=UTC)
    for bad in ("", "whenever", "tomorrow 09:00"):
        with pytest.raises(InputError):
            desk.parse_since(bad, tz=NY, now=NOW)


@pytest.mark.parametrize("text", ["", "x", "-1", "0", "1.5", "99999999999", " ", "١"])
def test_ids(text):
    with pytest.raises(NotFoundError):
        desk.parse_id(text)


def test_quote_keeps_one_line():
    assert desk.quote("a\nb\x1b[31m") == '"a\\u000ab\\u001b[31m"'
    assert desk.quote("x" * 100).endswith('…"')


def item(**kw) -> OutboxItem:
    values = dict(id=7, article_id=None, channel="x", status=PostStatus.QUEUED, text="t",
                  link=None, image=None, priority=Priority.NORMAL, idempotency_key="k",
                  attempts=0, created_at=NOW, not_before=NOW)
    values.update(kw)
    return OutboxItem(**values)


def why(post: OutboxItem, gate: Gate | None = None) -> str:
    return desk.why_waiting(post, gate or Gate("x", True, True), now=NOW, tz=NY)


def test_why_waiting():
    assert why(item(status=PostStatus.DRAFT)) == (
        "waiting for approval (publisher queue approve 7)")
    assert why(item(not_before=NOW + timedelta(hours=1))) == (
        "scheduled for 2026-11-26 13:00 EST")
    assert why(item(status=PostStatus.WAITING, next_attempt_at=NOW + timedelta(minutes=5),
                    last_error="503")) == "retry at 2026-11-26 12:05 EST (503)"
    quiet = Gate("x", False, True, reason="quiet hours until 06:00 America/New_York")
    assert why(item(), quiet) == "quiet hours until 06:00 America/New_York"
    assert why(item(priority=Priority.BREAKING), quiet) == "due now"
    paused = Gate("x", False, False, reason="paused: hacked (ops)")
    assert why(item(priority=Priority.BREAKING), paused) == "paused: hacked (ops)"
    assert why(item()) == "due now"
    assert "resolve 7" in why(item(status=PostStatus.NEEDS_REVIEW))
    assert desk.why_waiting(item(), None, now=NOW, tz=NY).startswith("channel x is not")
