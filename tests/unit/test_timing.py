"""Timing rules as pure functions of the rules, the channel's state, its
recent publishing and the time, in the site's time zone."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from publisher.config import TimingConfig, parse_span
from publisher.services.timing import gate_for, in_window, local_starts, next_window, spend
from publisher.store.api import PublishStats
from publisher.types import ChannelState

NY = ZoneInfo("America/New_York")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def stats(**kw) -> PublishStats:
    base = {"last_published_at": None, "last_hour": 0, "today": 0, "month_with_link": 0,
            "month_without_link": 0, "today_with_link": 0}
    return PublishStats(**{**base, **kw})


def gate(rules: TimingConfig, now: datetime, state: ChannelState | None = None,
         st: PublishStats | None = None):
    return gate_for("x", rules, state=state, stats=st, now=now, tz=NY)


def test_no_rules_is_always_open():
    g = gate(TimingConfig(), utc(2026, 11, 26, 7))
    assert g.open and g.breaking_open and g.limit is None and g.reason is None


def test_quiet_hours_hold_normal_posts_but_not_breaking_ones():
    rules = TimingConfig(quiet_hours=(parse_span("23:00-06:00"),))
    g = gate(rules, utc(2026, 11, 26, 7, 30))  # 02:30 in New York
    assert not g.open and g.breaking_open
    assert g.reason == "quiet hours until 06:00 America/New_York"
    assert g.until == utc(2026, 11, 26, 11)  # 06:00 EST
    assert gate(rules, utc(2026, 11, 26, 12)).open  # 07:00


def test_windows_may_wrap_midnight():
    rules = TimingConfig(windows=(parse_span("20:00-02:00"),))
    assert in_window(rules, utc(2026, 11, 27, 5, 30), NY)  # 00:30
    assert not in_window(rules, utc(2026, 11, 26, 17), NY)  # 12:00
    assert next_window(rules, utc(2026, 11, 26, 17), NY) == utc(2026, 11, 27, 1)  # 20:00


@pytest.mark.parametrize(("now", "opens"), [
    # spring forward (2026-03-08): 06:00 is EDT, UTC-4
    (utc(2026, 3, 8, 5), utc(2026, 3, 8, 10)),
    # fall back (2026-11-01): 06:00 is EST, UTC-5
    (utc(2026, 11, 1, 5, 30), utc(2026, 11, 1, 11)),
])
def test_windows_follow_daylight_saving_changes(now, opens):
    rules = TimingConfig(windows=(parse_span("06:00-22:00"),))
    assert next_window(rules, now, NY) == opens


def test_a_window_opening_inside_the_spring_forward_gap_opens_after_it():
    rules = TimingConfig(windows=(parse_span("02:30-05:00"),))
    # 2026-03-08 01:00 EST; 02:30 does not exist that night: 03:00 EDT instead
    assert next_window(rules, utc(2026, 3, 8, 6), NY) == utc(2026, 3, 8, 7)


def test_daily_cap_waits_for_local_midnight():
    rules = TimingConfig(per_day=17)
    now = utc(2026, 11, 26, 20)  # 15:00 in New York
    g = gate(rules, now, st=stats(today=17))
    assert not g.open and not g.breaking_open  # caps hold breaking news too
    assert g.reason == "daily cap 17/17, next slot Fri 00:00"
    assert g.until == utc(2026, 11, 27, 5)
    assert gate(rules, now, st=stats(today=16)).limit == 1


def test_day_and_hour_start_in_local_time_across_a_dst_change():
    hour, day, month = local_starts(utc(2026, 11, 1, 12, 30), NY)  # 07:30 EST
    assert hour == utc(2026, 11, 1, 12)
    assert day == utc(2026, 11, 1, 4)  # midnight was still EDT
    assert month == utc(2026, 11, 1, 4)


def test_hourly_cap_and_spacing():
    now = utc(2026, 11, 26, 15, 20)
    g = gate(TimingConfig(per_hour=4), now, st=stats(last_hour=4))
    assert g.reason == "hourly cap 4/4, next slot 11:00" and g.until == utc(2026, 11, 26, 16)
    rules = TimingConfig(min_spacing=600)
    g = gate(rules, now, st=stats(last_published_at=now - timedelta(minutes=4)))
    assert not g.open and g.until == now + timedelta(minutes=6)
    assert g.reason == "spacing: one post every 10 min, next slot 10:26"
    g = gate(rules, now, st=stats(last_published_at=now - timedelta(minutes=11)))
    assert g.open and g.limit == 1


def test_monthly_budget_counts_link_posts_dearer():
    rules = TimingConfig(cost_per_post=0.01, cost_per_link_post=0.2, monthly_budget=10.0)
    st = stats(month_with_link=49, month_without_link=19, today=5, today_with_link=4)
    assert spend(rules, st) == pytest.approx((0.81, 9.99))
    g = gate(rules, utc(2026, 11, 26, 15), st=st)
    assert not g.open
    assert g.reason == "monthly budget 9.99/10.00 spent, next slot Tue 00:00"
    assert g.until == utc(2026, 12, 1, 5)
    assert gate(rules, utc(2026, 11, 26, 15), st=stats(month_with_link=40)).limit == 10


def test_pause_and_platform_rate_limit_come_first():
    now = utc(2026, 11, 26, 15)
    paused = ChannelState("x", paused=True, paused_reason="hacked account", paused_by="ops")
    g = gate(TimingConfig(), now, state=paused)
    assert not g.open and not g.breaking_open
    assert g.reason == "paused: hacked account (ops)"
    limited = ChannelState("x", rate_limited_until=now + timedelta(minutes=5))
    g = gate(TimingConfig(), now, state=limited)
    assert g.reason == "rate limited by the platform until 10:05 America/New_York"


def test_a_cap_that_ends_in_quiet_hours_opens_with_the_window():
    rules = TimingConfig(per_day=1, windows=(parse_span("07:00-22:00"),))
    g = gate(rules, utc(2026, 11, 26, 20), st=stats(today=1))
    assert g.until == utc(2026, 11, 27, 12)  # not midnight: 07:00 the next day


def test_spans_are_validated():
    assert parse_span("7:05-24:00") == (time(7, 5), time(0))
    for bad in ("7-9", "25:00-01:00", "10:00-10:00", "10:60-11:00"):
        with pytest.raises(ValueError):
            parse_span(bad)
