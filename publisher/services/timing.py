"""Timing rules: when a channel may publish, and why not now.

Pure functions of the channel's rules, its state, its recent publishing and
the current time, in the site's time zone (DESIGN.md: local time exists only
at the edges; everything stored is UTC).  The dispatcher asks ``gate_for``
before claiming; ``queue show`` and ``status`` print its ``reason``.

Rules per channel (``[channels.NAME.timing]``):

- ``windows``: posting windows (``["07:00-22:00"]``); outside them it is quiet.
- ``quiet_hours``: the opposite way of saying it (``["23:00-06:00"]``).
  Breaking posts ignore windows and quiet hours.
- ``min_spacing``: at least this long between two posts.
- ``per_hour`` / ``per_day``: caps; the hour and the day are the site's
  clock hour and calendar day (a daily cap resets at local midnight).
- ``cost_per_post`` / ``cost_per_link_post`` / ``monthly_budget``: estimated
  spend; over budget, posts wait for the next month.
- ``order``: ``"oldest"`` or ``"newest"`` first when posts pile up.

Over a cap or the budget posts wait for the next slot; they never fail for it
(unless they become stale first).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from publisher.config import Config, TimingConfig
from publisher.store.api import PublishStats, StoreAPI
from publisher.types import ChannelState, PostStatus


def _empty(rules: TimingConfig) -> bool:
    return rules == TimingConfig(order=rules.order)


def _link_cost(rules: TimingConfig) -> float:
    return rules.cost_per_link_post if rules.cost_per_link_post is not None else (
        rules.cost_per_post)


@dataclass(frozen=True)
class Gate:
    """May the channel publish now, how many, and if not, until when and why."""

    channel: str
    open: bool  # normal and low posts may go now
    breaking_open: bool  # breaking posts may go now
    limit: int | None = None  # how many may go now; None: no timing limit
    until: datetime | None = None  # when it opens again (UTC), when known
    reason: str | None = None  # why it is closed: shown by queue show and status


@dataclass(frozen=True)
class Spend:
    """Estimated platform spend of a channel."""

    today: float
    month: float
    budget: float | None


def local_starts(now: datetime, tz: ZoneInfo) -> tuple[datetime, datetime, datetime]:
    """The start of the current clock hour, day and month in ``tz``, as UTC."""
    local = now.astimezone(tz)
    hour = local.replace(minute=0, second=0, microsecond=0)
    day = _at(local.date(), time(0), tz)
    month = _at(local.date().replace(day=1), time(0), tz)
    return hour.astimezone(now.tzinfo), day.astimezone(now.tzinfo), month.astimezone(now.tzinfo)


def _at(day: date, t: time, tz: ZoneInfo) -> datetime:
    """``day`` at local time ``t``; a time skipped by a DST change is moved
    to the first instant after the gap."""
    local = datetime.combine(day, t, tzinfo=tz)
    utc = ZoneInfo("UTC")
    later = local.astimezone(utc)
    if later.astimezone(tz).replace(tzinfo=None) == local.replace(tzinfo=None):
        return local
    # In the spring-forward gap: the first instant whose wall time is past it.
    wall = local.replace(tzinfo=None)
    instant = local.replace(fold=1).astimezone(utc)
    while instant < later and instant.astimezone(tz).replace(tzinfo=None) < wall:
        instant += timedelta(minutes=1)
    return instant.astimezone(tz)


def _inside(t: time, span: tuple[time, time]) -> bool:
    start, end = span
    if start <= end:
        return start <= t < end
    return t >= start or t < end  # wraps midnight


def in_window(rules: TimingConfig, when: datetime, tz: ZoneInfo) -> bool:
    """Whether a normal post may go out at ``when`` as far as windows and
    quiet hours say."""
    t = when.astimezone(tz).time()
    if rules.windows and not any(_inside(t, w) for w in rules.windows):
        return False
    return not any(_inside(t, q) for q in rules.quiet_hours)


def _boundaries(rules: TimingConfig) -> Iterable[time]:
    for start, _ in rules.windows:
        yield start
    for _, end in rules.quiet_hours:
        yield end


def next_window(rules: TimingConfig, after: datetime, tz: ZoneInfo) -> datetime | None:
    """The first instant at or after ``after`` inside the windows (None: never)."""
    if in_window(rules, after, tz):
        return after
    local_day = after.astimezone(tz).date()
    candidates = sorted(
        _at(local_day + timedelta(days=d), t, tz)
        for d in range(0, 9) for t in _boundaries(rules)
    )
    for candidate in candidates:
        if candidate > after and in_window(rules, candidate, tz):
            return candidate.astimezone(after.tzinfo)
    return None


def spend(rules: TimingConfig, stats: PublishStats | None) -> tuple[float, float]:
    """Estimated spend (today, this month) from what was published."""
    if stats is None:
        return 0.0, 0.0
    today = (stats.today_with_link * _link_cost(rules)
             + (stats.today - stats.today_with_link) * rules.cost_per_post)
    month = (stats.month_with_link * _link_cost(rules)
             + stats.month_without_link * rules.cost_per_post)
    return today, month


def _fmt(when: datetime, tz: ZoneInfo, now: datetime) -> str:
    local = when.astimezone(tz)
    if local.date() == now.astimezone(tz).date():
        return local.strftime("%H:%M")
    return local.strftime("%a %H:%M")


def gate_for(channel: str, rules: TimingConfig, *, state: ChannelState | None,
             stats: PublishStats | None, now: datetime, tz: ZoneInfo) -> Gate:
    """Decide whether ``channel`` may publish at ``now`` (pure)."""
    if state is not None and state.paused:
        who = f" ({state.paused_by})" if state.paused_by else ""
        return Gate(channel, False, False,
                    reason=f"paused: {state.paused_reason or 'no reason given'}{who}")
    if state is not None and state.rate_limited_until and state.rate_limited_until > now:
        until = state.rate_limited_until
        return Gate(channel, False, False, until=until,
                    reason=f"rate limited by the platform until {_fmt(until, tz, now)} {tz.key}")
    if _empty(rules):
        return Gate(channel, True, True)
    hour_start, day_start, _ = local_starts(now, tz)
    stats = stats or PublishStats(None, 0, 0, 0, 0)
    limits: list[int] = []
    closed: list[tuple[datetime, str]] = []  # (opens at, reason)

    if rules.monthly_budget is not None:
        _, month = spend(rules, stats)
        unit = max(rules.cost_per_post, _link_cost(rules))
        if unit > 0:
            left = int((rules.monthly_budget - month + 1e-9) // unit)
            if left <= 0:
                local = now.astimezone(tz).date()
                first = (local.replace(day=28) + timedelta(days=4)).replace(day=1)
                opens = _at(first, time(0), tz).astimezone(now.tzinfo)
                closed.append((opens, f"monthly budget {month:.2f}/{rules.monthly_budget:.2f} "
                                      f"spent, next slot {_fmt(opens, tz, now)}"))
            else:
                limits.append(left)
    if rules.per_day is not None:
        left = rules.per_day - stats.today
        if left <= 0:
            opens = _at(day_start.astimezone(tz).date() + timedelta(days=1), time(0), tz)
            opens = opens.astimezone(now.tzinfo)
            closed.append((opens, f"daily cap {stats.today}/{rules.per_day}, "
                                  f"next slot {_fmt(opens, tz, now)}"))
        else:
            limits.append(left)
    if rules.per_hour is not None:
        left = rules.per_hour - stats.last_hour
        if left <= 0:
            opens = hour_start + timedelta(hours=1)
            closed.append((opens, f"hourly cap {stats.last_hour}/{rules.per_hour}, "
                                  f"next slot {_fmt(opens, tz, now)}"))
        else:
            limits.append(left)
    if rules.min_spacing > 0:
        limits.append(1)
        if stats.last_published_at is not None:
            opens = stats.last_published_at + timedelta(seconds=rules.min_spacing)
            if opens > now:
                closed.append((opens, f"spacing: one post every {_duration(rules.min_spacing)}, "
                                      f"next slot {_fmt(opens, tz, now)}"))
    limit = min(limits) if limits else None
    if closed:
        opens, reason = max(closed)
        window = next_window(rules, opens, tz)
        return Gate(channel, False, False, until=window or opens, reason=reason)
    if not in_window(rules, now, tz):
        window = next_window(rules, now, tz)
        when = f"until {_fmt(window, tz, now)} {tz.key}" if window else "(no window)"
        return Gate(channel, False, True, limit=limit, until=window, reason=f"quiet hours {when}")
    return Gate(channel, True, True, limit=limit)


def _duration(seconds: float) -> str:
    if seconds % 3600 == 0:
        return f"{int(seconds // 3600)} h"
    if seconds % 60 == 0:
        return f"{int(seconds // 60)} min"
    return f"{seconds:g} s"


def channel_gates(config: Config, store: StoreAPI, now: datetime, *,
                  resets: Mapping[str, datetime] | None = None,
                  states: Mapping[str, ChannelState] | None = None) -> dict[str, Gate]:
    """Per configured channel: may it publish now, and if not, until when and
    why.  One read of the channels' states, and of the publishing of each
    channel that has timing rules.  ``resets``: rate-limit resets a daemon
    knows before the database does (its in-memory gate); the later one wins.
    ``states``: the channels' states when the caller has just read them."""
    if states is None:
        states = store.channel_states()
    tz = config.timezone
    hour, day, month = local_starts(now, tz)
    gates: dict[str, Gate] = {}
    for name, channel in config.channels.items():
        rules = channel.timing
        stats = None
        if not _empty(rules):
            stats = store.publish_stats(name, hour_start=hour, day_start=day, month_start=month)
        state = states.get(name)
        reset = (resets or {}).get(name)
        if reset is not None and (state is None or state.rate_limited_until is None
                                  or state.rate_limited_until < reset):
            state = replace(state or ChannelState(name), rate_limited_until=reset)
        gates[name] = gate_for(name, rules, state=state, stats=stats, now=now, tz=tz)
    return gates


def channel_spend(config: Config, store: StoreAPI, channel: str, now: datetime) -> Spend:
    """Estimated spend of a channel today and this month (the site's days)."""
    rules = config.channels[channel].timing
    hour, day, month = local_starts(now, config.timezone)
    stats = store.publish_stats(channel, hour_start=hour, day_start=day, month_start=month)
    today, this_month = spend(rules, stats)
    return Spend(today=today, month=this_month, budget=rules.monthly_budget)


@dataclass(frozen=True)
class Idle:
    """What ``run --once`` leaves: posts waiting, and when the first is due
    (None: nothing will be due without an editor, e.g. a paused channel)."""

    waiting: int
    next_at: datetime | None


def waiting_posts(store: StoreAPI, gates: Callable[[datetime], Mapping[str, Gate]],
                  now: datetime) -> Idle:
    """How many posts wait (queued or waiting), and when the first may go,
    the channels' gates included."""
    per_channel: dict[str, int] = {}
    for (channel, status), n in store.post_counts().items():
        if status in (PostStatus.QUEUED, PostStatus.WAITING):
            per_channel[channel] = per_channel.get(channel, 0) + n
    opened = gates(now) if per_channel else {}
    times = []
    for channel in per_channel:
        gate = opened.get(channel)
        if gate is None or (not gate.open and gate.until is None):
            continue  # paused, or the channel is gone: an editor acts first
        due = store.next_due(channels=[channel])
        if due is not None:
            times.append(max(due, gate.until) if gate.until and not gate.open else due)
    return Idle(sum(per_channel.values()), min(times, default=None))
