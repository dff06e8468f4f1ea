"""What the desk shows about where things are: one post and why it waits,
the queue listing, and ``status`` (the daemon, each channel and feed, and
what is unhealthy)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from publisher.services import health
from publisher.services.desk_changes import get_post
from publisher.services.desk_input import Listing, local_time
from publisher.services.ports import AppPorts
from publisher.services.timing import Gate, local_starts
from publisher.types import (
    Attempt,
    ChannelState,
    OutboxItem,
    Outcome,
    PostStatus,
    Priority,
    WorkerInfo,
)

#: A daemon whose heartbeat is older than this is down (it beats every 15 s).
DAEMON_TIMEOUT = health.DAEMON_TIMEOUT
#: A feed failing for longer than this makes ``status`` unhealthy.
FEED_FAILING = timedelta(hours=1)
#: A post due for longer than this while its channel is open is "not moving".
STUCK_AFTER = timedelta(minutes=5)


def listing(app: AppPorts) -> Listing:
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
    # After the post (issue 13).
    if status is PostStatus.RETRACTED:
        return "retracted: taken down from the platform"
    if status in (PostStatus.DELETING, PostStatus.EDITING):
        doing = "being deleted (its article was retracted)" if (
            status is PostStatus.DELETING) else f"being corrected ({item.after_kind or 'edit'})"
        if item.lease_owner:
            return f"{doing} by {item.lease_owner}"
        if item.next_attempt_at is not None and item.next_attempt_at > now:
            error = f" ({item.last_error})" if item.last_error else ""
            return f"{doing}: again at {local_time(item.next_attempt_at, tz)}{error}"
        return f"{doing}: due now (the daemon does it)"
    if status is PostStatus.NEEDS_REVIEW and item.after_kind:
        again = "retract" if item.after_kind == "delete" else "correct"
        return (f"needs review: its {item.after_kind} may or may not have reached the "
                f"platform ({item.last_error or 'in doubt'}); check it, then `publisher "
                f"{again}` again")
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


def show_post(app: AppPorts, post_id: str | int) -> PostDetail:
    """One post: its text counted against the limit, media, every attempt, and why."""
    item = get_post(app, post_id)
    now = app.now()
    cfg = app.config.channels.get(item.channel)
    length = limit = rule_name = None
    if cfg is not None:
        from publisher.services.plan import rule_for

        rule = rule_for(cfg)
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


@dataclass(frozen=True)
class DaemonReport:
    alive: bool
    worker: str | None = None
    host: str | None = None
    pid: int | None = None
    heartbeat_at: datetime | None = None
    heartbeat_age: float | None = None  # seconds
    stopped_at: datetime | None = None
    #: "daemon" (``publisher run``) or "once" (``publisher run --once``, cron).
    mode: str = "daemon"
    #: The channels the daemon runs with (None: not recorded).
    channels: tuple[str, ...] | None = None


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


def _daemon(workers: list[WorkerInfo], now: datetime,
            thresholds: health.Thresholds) -> DaemonReport:
    """The live daemon, else the latest of a stopped daemon and ``run --once``."""
    if not workers:
        return DaemonReport(alive=False)
    live = [w for w in workers if w.stopped_at is None and not health.is_once(w)
            and now - w.heartbeat_at <= DAEMON_TIMEOUT]
    w = max(live or workers, key=lambda w: w.heartbeat_at)
    age = (now - w.heartbeat_at).total_seconds()
    if health.is_once(w):
        return DaemonReport(age <= thresholds.max_silence.total_seconds(), w.id, w.host,
                            w.pid, w.heartbeat_at, age, w.stopped_at, mode="once",
                            channels=w.channels)
    alive = w.stopped_at is None and age <= DAEMON_TIMEOUT.total_seconds()
    return DaemonReport(alive, w.id, w.host, w.pid, w.heartbeat_at, age, w.stopped_at,
                        channels=w.channels)


def problems(app: AppPorts, thresholds: health.Thresholds | None = None) -> tuple[str, ...]:
    """Everything that makes publisher unhealthy, one line each naming the
    cause and what to do: what ``status`` (and ``status --json``) lists and
    exits 1 for, and what ``/readyz`` reports."""
    return status(app, thresholds).problems


def _failures(app: AppPorts, channel: str, now: datetime,
              thresholds: health.Thresholds) -> list[health.Failure]:
    """The channel's failed posts within the window (a failed attempt, or a
    post that failed as it was made: a broken template) and among its last N."""
    store = app.store
    since = now - thresholds.failing_within
    found: dict[int, health.Failure] = {}
    for a in store.attempts(channel=channel, outcomes=(Outcome.FAILED, Outcome.AUTH_FAILED),
                            since=since, limit=200):
        found.setdefault(a.post_id, health.Failure(a.post_id, a.finished_at or a.started_at,
                                                   a.error))
    failed = store.list_posts(statuses=(PostStatus.FAILED,), channels=(channel,), since=since,
                              limit=200)
    if thresholds.failing_last:
        failed += [p for p in store.list_posts(channels=(channel,),
                                               limit=thresholds.failing_last)
                   if p.status is PostStatus.FAILED]
    for p in failed:
        if p.id not in found:
            found[p.id] = health.Failure(p.id, p.created_at, p.last_error)
    return list(found.values())


def status(app: AppPorts, thresholds: health.Thresholds | None = None) -> StatusReport:
    """The daemon, the queue, each channel and feed, and what is unhealthy."""
    thresholds = thresholds or health.Thresholds()
    now = app.now()
    config, store, tz = app.config, app.store, app.config.timezone
    problems: list[str] = []
    workers = store.workers()
    daemon = _daemon(workers, now, thresholds)
    beat = health.heartbeat_problem(
        workers, now=now, max_silence=thresholds.max_silence,
        when=local_time(daemon.heartbeat_at, tz) if daemon.heartbeat_at else "")
    if beat is not None:
        problems.append(beat)
    problems += health.template_problems(config, app.renderer)

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
            held = sum(per_channel.get(name, {}).get(s.value, 0)
                       for s in (PostStatus.QUEUED, PostStatus.WAITING))
            waiting = f" — {held} post{'s' if held != 1 else ''} waiting" if held else ""
            problems.append(f"channel {name}: {kind}: {state.paused_reason or 'no reason'}"
                            f"{who}{waiting}")
        failing_posts = health.failing_channel(name, _failures(app, name, now, thresholds),
                                               window=thresholds.failing_within,
                                               last=thresholds.failing_last)
        if failing_posts is not None:
            problems.append(failing_posts)
        review = per_channel.get(name, {}).get(PostStatus.NEEDS_REVIEW.value, 0)
        if review:
            problems.append(f"channel {name}: {review} post(s) need review "
                            "(publisher queue list --status needs_review)")
    unknown: list[str] = []
    if daemon.alive and daemon.mode == "daemon":
        due_now: dict[str, list[int]] = {}
        for post_id, channel, _priority, _due in store.overdue_posts(before=now):
            if channel in config.channels:
                due_now.setdefault(channel, []).append(post_id)
        unknown = health.unknown_channels(daemon.channels, due_now)
        for channel in unknown:
            n = len(due_now[channel])
            problems.append(
                f"channel {channel}: {n} post{'s' if n != 1 else ''} due, but the running "
                f"daemon ({daemon.worker}) does not know this channel: the schedules changed "
                f"after it started; reload it (kill -HUP {daemon.pid}) or restart "
                "`publisher run`")
    if daemon.alive and daemon.mode == "daemon":
        row = next((w for w in workers if w.id == daemon.worker), None)
        if row is not None and row.reload_error and row.reloaded_at:
            problems.append(
                f"daemon ({daemon.worker}): the reload at "
                f"{local_time(row.reloaded_at, tz)} failed, it runs on its previous "
                f"configuration: {row.reload_error}")
    if daemon.alive and daemon.mode == "daemon":
        stuck: dict[str, list[tuple[int, datetime]]] = {}
        for post_id, channel, priority, due in store.overdue_posts(
                before=now - STUCK_AFTER):
            found = gates.get(channel)
            if found is None or channel in unknown:
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
    for article in store.unpublished_articles():
        problems.append(f"article {article.id} unpublished on the site; `publisher retract "
                        f"{article.id}` to take its posts down")
    return StatusReport(now=now, timezone=tz.key, daemon=daemon, channels=tuple(channels),
                        feeds=tuple(feeds), queue=queue, problems=tuple(problems))
