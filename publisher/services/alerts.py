"""Alerts to a person: what to say now (pure) and a thin sender.

``[alerts] channels = ["ops-slack", "ops-mail"]`` names configured channels
(any type; ``email`` is made for it).  One message goes out when

- a channel pauses (auth failed, credits depleted, an editor's pause),
- a post fails,
- a post needs review (in doubt on a channel that cannot tell),
- a feed has failed for over an hour,
- drafts wait for approval.

``decide`` is the rule, a pure function of what it has been told so far
(``AlertState``), the events seen now and the time: events of one kind are
grouped into one message, at most one per kind per ``every`` (15 minutes);
what arrives in between waits for the next message of its kind.  An event
about a channel is never sent to that same channel: a failing alert channel
does not alert about itself, and alerts are sent straight to the platform,
not through the outbox, so a failed alert is logged once and never becomes a
failed post that would alert again.

``AlertRunner.tick`` is the pipeline: read the facts from the store, decide,
send, remember.  The daemon calls it every minute.  Its memory is in the
process: after a restart, conditions still true (a paused channel, a failing
feed, drafts) are said once more, which is what a person coming back wants.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from publisher.exceptions import ChannelError, ConfigError, PublisherError
from publisher.store.api import StoreAPI
from publisher.types import (
    ChannelState,
    FeedState,
    Outcome,
    PostStatus,
    PublishRequest,
)

log = logging.getLogger("publisher.alerts")

GROUP = timedelta(minutes=15)
FEED_SILENCE = timedelta(hours=1)
#: How far back the publish log is read for failed posts (longer than a lease).
LOOKBACK = timedelta(hours=1)


class Kind(StrEnum):
    CHANNEL_PAUSED = "channel_paused"
    POST_FAILED = "post_failed"
    NEEDS_REVIEW = "needs_review"
    FEED_FAILING = "feed_failing"
    DRAFTS_WAITING = "drafts_waiting"


_TITLES = {
    Kind.CHANNEL_PAUSED: "channel paused",
    Kind.POST_FAILED: "post failed",
    Kind.NEEDS_REVIEW: "post needs review",
    Kind.FEED_FAILING: "feed failing",
    Kind.DRAFTS_WAITING: "draft waiting for approval",
}


@dataclass(frozen=True, slots=True)
class Event:
    """Something a person should hear about once.

    ``key`` identifies it (``post:12``, ``paused:x:2026-12-02T10:00``); a
    *condition* (a pause, a failing feed, a draft) is remembered while it is
    true, so it is said once; a *log event* (a failed post) comes once from
    the publish log.
    """

    kind: Kind
    key: str
    line: str
    channel: str | None = None  # the channel it is about, if any
    condition: bool = False


@dataclass(frozen=True, slots=True)
class AlertState:
    known: frozenset[str] = frozenset()  # conditions already said (or waiting to be)
    pending: tuple[Event, ...] = ()  # events waiting for their kind's next message
    last_sent: Mapping[Kind, datetime] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Message:
    kind: Kind
    channel: str  # where it goes
    text: str  # first line: the summary (an email's subject)


@dataclass(frozen=True, slots=True)
class Plan:
    messages: tuple[Message, ...]
    state: AlertState


def _summary(kind: Kind, events: Sequence[Event]) -> str:
    title = _TITLES[kind]
    n = len(events)
    if n == 1:
        return f"publisher: {title}: {events[0].line}"
    plural = {"channel paused": "channels paused", "post failed": "posts failed",
              "post needs review": "posts need review", "feed failing": "feeds failing",
              "draft waiting for approval": "drafts waiting for approval"}[title]
    return f"publisher: {n} {plural}"


def compose(kind: Kind, events: Sequence[Event], *, limit: int = 20) -> str:
    """One message for events of one kind: a summary line, then one line each."""
    lines = [_summary(kind, events)]
    if len(events) > 1:
        lines += [f"- {e.line}" for e in events[:limit]]
        if len(events) > limit:
            lines.append(f"... and {len(events) - limit} more (publisher status)")
    return "\n".join(lines)


def decide(state: AlertState, events: Iterable[Event], now: datetime, *,
           targets: Sequence[str], every: timedelta = GROUP) -> Plan:
    """What to send now, and what to remember."""
    events = list(events)
    present = {e.key for e in events if e.condition}
    fresh = [e for e in events if not (e.condition and e.key in state.known)]
    # A condition that ended is forgotten: if it comes back, it is news again.
    known = frozenset((state.known & present) | {e.key for e in fresh if e.condition})
    pending = [e for e in state.pending if not e.condition or e.key in present]
    queued = {e.key for e in pending}
    pending += [e for e in fresh if e.key not in queued]
    last_sent = dict(state.last_sent)
    messages: list[Message] = []
    left: list[Event] = []
    for kind in Kind:
        group = [e for e in pending if e.kind is kind]
        if not group:
            continue
        last = last_sent.get(kind)
        if last is not None and now - last < every:
            left += group
            continue
        for target in targets:
            about_others = [e for e in group if e.channel != target]
            if about_others:
                messages.append(Message(kind, target, compose(kind, about_others)))
        last_sent[kind] = now
    return Plan(tuple(messages), AlertState(known, tuple(left), last_sent))


def feed_failing_since(feed: FeedState, first_seen_failing: datetime | None) -> datetime | None:
    """Since when a feed has been failing (None: it is fine).  After a success,
    from the last success; a feed that never succeeded, from when it was
    first seen failing."""
    if feed.error_count == 0:
        return None
    return feed.last_success_at or first_seen_failing


# -- the thin pipeline -----------------------------------------------------------------


class _Channels(Protocol):
    def get(self, name: str) -> object: ...


@dataclass
class AlertRunner:
    """Reads facts, decides, sends; the daemon calls ``tick`` every minute."""

    store: StoreAPI
    channels: _Channels
    targets: Sequence[str]
    now: Callable[[], datetime]
    channel_names: Sequence[str] = ()
    every: timedelta = GROUP
    state: AlertState = field(default_factory=AlertState)
    _started: datetime | None = None
    _said: dict[int, datetime] = field(default_factory=dict)
    _failing_seen: dict[str, datetime] = field(default_factory=dict)

    def gather(self, now: datetime) -> list[Event]:
        """The events true now, from the store."""
        events: list[Event] = []
        states: Mapping[str, ChannelState] = self.store.channel_states()
        for name, st in sorted(states.items()):
            if st.paused and (not self.channel_names or name in self.channel_names):
                at = st.paused_at.isoformat(timespec="seconds") if st.paused_at else "?"
                why = "auth failed" if st.auth_failed else (st.paused_reason or "paused")
                events.append(Event(Kind.CHANNEL_PAUSED, f"paused:{name}:{at}",
                                    f"{name}: {why}", channel=name, condition=True))
        for feed in self.store.list_feeds():
            if feed.error_count == 0:
                self._failing_seen.pop(feed.name, None)
                continue
            first = self._failing_seen.setdefault(feed.name, now)
            since = feed_failing_since(feed, first)
            if since is not None and now - since > FEED_SILENCE:
                hours = (now - since).total_seconds() / 3600
                events.append(Event(Kind.FEED_FAILING, f"feed:{feed.name}:{since.isoformat()}",
                                    f"{feed.name}: failing for {hours:.1f} h: "
                                    f"{feed.last_error or 'error'}", condition=True))
        for post in self.store.list_posts(statuses=[PostStatus.DRAFT], limit=500):
            events.append(Event(Kind.DRAFTS_WAITING, f"draft:{post.id}",
                                f"#{post.id} {post.channel}: {post.text[:80]}",
                                channel=post.channel, condition=True))
        events += self._log_events(now)
        return events

    def _log_events(self, now: datetime) -> list[Event]:
        # An attempt row is written when the call starts and gets its outcome
        # when it ends, so an id cursor would skip calls in flight: look back
        # over the lease-sized window by start time and remember what was said.
        if self._started is None:
            self._started = now
        since = max(self._started - self.every, now - LOOKBACK)
        rows = self.store.attempts(outcomes=[Outcome.FAILED, Outcome.NEEDS_REVIEW],
                                   since=since, limit=1000)
        self._said = {i: t for i, t in self._said.items() if t >= since}
        events = []
        for a in reversed(rows):
            if a.id in self._said:
                continue
            self._said[a.id] = a.started_at
            kind = Kind.POST_FAILED if a.outcome is Outcome.FAILED else Kind.NEEDS_REVIEW
            why = f": {a.error}" if a.error else ""
            events.append(Event(kind, f"attempt:{a.id}", f"#{a.post_id} {a.channel}{why}",
                                channel=a.channel))
        return events

    def tick(self) -> Plan:
        """One round: gather, decide, send.  Never raises for a store or
        channel problem (logged, one line)."""
        now = self.now()
        try:
            events = self.gather(now)
        except PublisherError as exc:
            log.warning("alerts: cannot read the store: %s", exc)
            return Plan((), self.state)
        plan = decide(self.state, events, now, targets=self.targets, every=self.every)
        self.state = plan.state
        for message in plan.messages:
            self.send(message)
        return plan

    def send(self, message: Message) -> bool:
        key = hashlib.sha256(f"{message.channel}\n{message.text}".encode()).hexdigest()[:32]
        request = PublishRequest(post_id=0, idempotency_key=key, text=message.text,
                                 title=message.text.splitlines()[0])
        try:
            channel = self.channels.get(message.channel)
            channel.publish(request)  # type: ignore[attr-defined]
        except (ChannelError, ConfigError) as exc:
            # Logged, never alerted: an alert about a failing alert would loop.
            log.warning("alerts: channel=%s kind=%s not sent: %s", message.channel,
                        message.kind, exc, extra={"channel": message.channel,
                                                  "action": "alert"})
            return False
        log.info("alerts: channel=%s kind=%s sent", message.channel, message.kind,
                 extra={"channel": message.channel, "action": "alert"})
        return True


__all__ = [
    "FEED_SILENCE",
    "GROUP",
    "AlertRunner",
    "AlertState",
    "Event",
    "Kind",
    "Message",
    "Plan",
    "compose",
    "decide",
    "feed_failing_since",
]
