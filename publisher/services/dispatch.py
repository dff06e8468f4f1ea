"""Dispatch: claim due posts, publish them, log every attempt (outbox -> channel -> log).

Every transition is decided by ``publisher.services.lifecycle``; this module
only gathers the facts, calls the platform and carries the decision out in
one place (``Dispatcher._apply``).  The delivery guarantee (DESIGN.md):

1. A post is claimed under a lease; the attempt is recorded as *started* and
   committed **before** the platform is called.
2. The outcome is recorded afterwards, with the post's next state, fenced by
   the lease (several outcomes per commit: ``outcomes.GroupCommitter``).
3. A post whose newest log row leaves its fate open is settled by its
   channel's delivery class before anything is sent again.

Rate limits: a 429 closes the channel's in-memory gate (``rate_gate``) before
anything else, and every worker looks at it immediately before its call;
between daemons the database row is the gate, read at claim.

Nothing spins: each channel works at most ``concurrency`` posts at once from
a lane of claimed posts, and the claiming loop wakes only when a post becomes
due, a lane with due work runs low, or ``notify`` says a post was added.
"""

from __future__ import annotations

import logging
import random
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from publisher.channels import REGISTRY, Channel
from publisher.config import Config
from publisher.exceptions import Ambiguous, ChannelError, ConfigError, RateLimited
from publisher.services import lifecycle as lc
from publisher.services.channel_pool import ChannelPool, channel_spec
from publisher.services.outcomes import GroupCommitter
from publisher.services.rate_gate import RateGate
from publisher.services.timing import Gate, channel_gates
from publisher.store.api import Finish, StoreAPI
from publisher.types import (
    Attempt,
    DeliveryClass,
    OutboxItem,
    Outcome,
    PostStatus,
    Priority,
    PublishRequest,
    PublishResult,
)

__all__ = ["ChannelPool", "Dispatcher", "Idle", "channel_spec"]

log = logging.getLogger("publisher.dispatch")

#: The daemon's dispatcher looks at the database at least this often with
#: nothing due: the safety net for posts added by other processes.
SAFETY_NET = 5.0
_CLAIMABLE = (PostStatus.QUEUED, PostStatus.WAITING)


@dataclass(frozen=True)
class Idle:
    """What ``run --once`` leaves: posts waiting, and when the first is due
    (None: nothing will be due without an editor, e.g. a paused channel)."""

    waiting: int
    next_at: datetime | None


@dataclass(frozen=True)
class _Held:
    """A post in a worker's hands with the facts its decisions are made of."""

    item: OutboxItem
    post: lc.PostFacts
    channel: lc.ChannelFacts
    attempt: Attempt | None = None
    leased: bool = True  # False: expiry, the post is queued or waiting


def _request(item: OutboxItem, *, attempt: int, after_ambiguous: bool,
             save_checkpoint: Callable[[str], None] | None = None) -> PublishRequest:
    return PublishRequest(
        post_id=item.id, idempotency_key=item.idempotency_key, text=item.text, link=item.link,
        image=item.image, title=item.title, summary=item.summary, attempt=attempt,
        after_ambiguous=after_ambiguous, checkpoint=item.checkpoint,
        save_checkpoint=save_checkpoint,
    )


class Dispatcher:
    """Claims due posts and works them, per channel, on a bounded thread pool."""

    def __init__(self, *, config: Config, store: StoreAPI, channels: ChannelPool,
                 now: Callable[[], datetime], worker: str, max_workers: int = 16,
                 lease_seconds: float = 300.0, rand: Callable[[], float] = random.random):
        self.config = config
        self.store = store
        self.channels = channels
        self.now = now
        self.worker = worker
        self.max_workers = max_workers
        self.lease_seconds = lease_seconds
        self.rand = rand
        self.rate_gate = RateGate()
        self._executor = ThreadPoolExecutor(max_workers, thread_name_prefix="dispatch")
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._tick_lock = threading.Lock()
        self._stopping = threading.Event()
        self._lanes: dict[str, deque[tuple[OutboxItem, Attempt | None]]] = {}
        self._running: dict[str, int] = {}
        self._claimed: dict[str, int] = {}  # claimed and not finished, per channel
        #: Outcomes handed to the committer and not yet committed, per channel:
        #: caps count published posts in the database, so these count too.
        self._uncommitted: dict[str, int] = {}
        self._saturated: set[str] = set()  # their last claim was full: more is due
        self._roomless: set[str] = set()  # open, but no room at the last claim
        self._wanted = False  # an event made a claim worth it
        self._seen: dict[str, Gate] = {}  # the gates of the last claim
        self._outcomes = GroupCommitter(store, self._committed)

    # -- claiming --------------------------------------------------------------------

    def gates(self, now: datetime | None = None) -> dict[str, Gate]:
        """Whether each configured channel may publish now, and if not, why
        (pause, platform rate limit, caps, spacing, budget, quiet hours)."""
        now = now or self.now()
        return channel_gates(self.config, self.store, now, resets=self.rate_gate.closed(now))

    def notify(self) -> None:
        """A post was added or changed: claim now instead of at the next wake."""
        with self._cond:
            self._wanted = True
            self._cond.notify_all()

    def tick(self) -> int:
        """Claim what the channels have room for and start it; returns how many."""
        if self._stopping.is_set():
            return 0
        with self._tick_lock:
            return self._claim()

    def _concurrency(self, channel: str) -> int:
        cfg = self.config.channels.get(channel)
        return cfg.concurrency if cfg is not None else 1

    def _claim(self) -> int:
        with self._lock:
            self._wanted = False
            # Counted before the gates are read: a post that finishes in between
            # is then counted twice (in flight and published), never not at all,
            # so a cap can be undershot for a moment but never overshot.
            busy, pending = dict(self._claimed), dict(self._uncommitted)
            free = 2 * self.max_workers - sum(busy.values())
        now = self.now()
        gates = self.gates(now)
        room: dict[str, int] = {}
        roomless: set[str] = set()
        for name, channel in self.config.channels.items():
            gate, have = gates[name], busy.get(name, 0)
            if not gate.breaking_open:
                continue
            # A lane holds its running posts and as many claimed behind them,
            # refilled once it runs low: one claim and one durable start of
            # attempts per batch, not per post.
            room[name] = 0 if have > channel.concurrency else 2 * channel.concurrency - have
            if gate.limit is not None:
                room[name] = min(room[name], gate.limit - have - pending.get(name, 0))
            if room[name] <= 0 or free <= 0:
                roomless.add(name)
        room = {name: n for name, n in room.items() if n > 0}
        self._roomless, self._seen = roomless, gates
        claimed = 0

        # Channels with rules of their own (little room, quiet hours, newest
        # first) are claimed one by one, first; the others share one claim for
        # what is left (breaking news first across them).
        def plain(name: str) -> bool:
            return (room[name] >= free and gates[name].open
                    and self.config.channels[name].timing.order == "oldest")

        wide = [name for name in room if plain(name)]
        groups = [([name], room[name]) for name in room if not plain(name)] + (
            [(wide, free)] if wide else [])
        for names, limit in groups:
            limit = min(limit, free - claimed)
            if limit <= 0:
                break
            first = names[0]
            items = self.store.claim_due(
                now=now, worker=self.worker, lease_seconds=self.lease_seconds, limit=limit,
                channels=names,
                newest_first=self.config.channels[first].timing.order == "newest",
                only_breaking=not gates[first].open)
            with self._lock:
                if len(items) == limit:  # more is due: a free slot wakes the next claim
                    self._saturated.update(names)
                    self._roomless.update(names)
                else:
                    self._saturated.difference_update(names)
            started = self._start_batch(items, now)
            for item in items:
                self._submit(item, started.get(item.id))
            claimed += len(items)
        return claimed

    def _start_batch(self, items: list[OutboxItem], now: datetime) -> dict[int, Attempt]:
        """Record first attempts of a fresh claim in one durable commit instead
        of one each: the commit before the platform call is the dispatcher's
        costliest write.  Posts that may need reconciling, review-class
        channels (where a start that never reached the platform would still
        end in needs_review after a crash) and stale posts go the single way."""
        batch = [item.id for item in items
                 if item.attempts == 0 and item.channel in self.config.channels
                 and not lc.is_stale(item.expires_at, now)
                 and self.channels.delivery(item.channel) is not DeliveryClass.REVIEW]
        if len(batch) < 2:
            return {}
        return self.store.start_attempts(batch, worker=self.worker, now=now)

    def reap(self, *, everything: bool = False) -> int:
        """Take over posts whose worker's lease expired and work them (their
        newest attempt is settled first).  ``everything``: take every leased
        post now; only safe when no other daemon can be alive (SQLite lock)."""
        if self._stopping.is_set():
            return 0
        now = self.now()
        cutoff = now + timedelta(days=36500) if everything else now
        expired = []
        while True:
            batch = self.store.take_over_expired(now=now, worker=self.worker,
                                                 lease_seconds=self.lease_seconds,
                                                 expired_before=cutoff)
            expired += batch
            if len(batch) < 100:
                break
        for entry in expired:
            log.warning("post=%d channel=%s lease expired with attempt %s: taking it over",
                        entry.post.id, entry.post.channel,
                        entry.last_attempt.outcome if entry.last_attempt else "none",
                        extra={"post": entry.post.id, "channel": entry.post.channel})
            self._submit(entry.post, None)
        return len(expired)

    def expire_stale(self) -> int:
        """Fail queued and waiting posts that became old news, including on
        paused or rate-limited channels (never claimed meanwhile), and posts
        whose channel stays closed (caps, budget, quiet hours) until after
        they expire."""
        now = self.now()
        gates = self.gates(now)
        count = 0
        for item in self.store.list_posts(statuses=[*_CLAIMABLE, PostStatus.DRAFT],
                                          limit=10_000):
            gate = gates.get(item.channel)
            opens = gate.until if gate is not None and not (
                gate.open or (gate.breaking_open and item.priority is Priority.BREAKING)) else None
            post = lc.PostFacts(item.id, item.status, item.attempts, item.expires_at)
            decision = lc.on_expiry(post, opens_at=opens, now=now)
            if decision is not None and item.attempts:  # in doubt? the dispatcher settles it
                post = replace(post, history=lc.History.of(
                    self.store.attempts(post_id=item.id, limit=1)))
                decision = lc.on_expiry(post, opens_at=opens, now=now)
            if decision is not None:
                held = _Held(item, post, self._channel_facts(item.channel, now), leased=False)
                count += self._apply(held, decision)
        return count

    # -- lanes: at most ``concurrency`` posts of a channel at once ------------------------

    def _submit(self, item: OutboxItem, attempt: Attempt | None = None) -> None:
        with self._lock:
            ch = item.channel
            self._lanes.setdefault(ch, deque()).append((item, attempt))
            self._claimed[ch] = self._claimed.get(ch, 0) + 1
            while self._lanes[ch] and self._running.get(ch, 0) < self._concurrency(ch):
                self._running[ch] = self._running.get(ch, 0) + 1
                self._executor.submit(self._lane, *self._lanes[ch].popleft())

    def _lane(self, item: OutboxItem, attempt: Attempt | None) -> None:
        ch = item.channel
        while True:
            self._work(item, attempt)
            with self._cond:
                self._claimed[ch] -= 1
                if ch in self._saturated and self._claimed[ch] <= self._concurrency(ch):
                    self._wanted = True  # a slot of a channel with due work is free
                self._cond.notify_all()
                if not self._lanes[ch]:
                    self._running[ch] -= 1
                    return
                item, attempt = self._lanes[ch].popleft()

    def _committed(self, batch: list[tuple[Finish, str]]) -> None:
        now = self.now()
        with self._cond:
            for finish, channel in batch:
                self._uncommitted[channel] -= 1
                due = finish.next_attempt_at
                if finish.post_status is PostStatus.WAITING and due is not None and due <= now:
                    self._wanted = True
            self._cond.notify_all()

    # -- waiting and stopping --------------------------------------------------------

    def in_flight(self) -> int:
        with self._lock:
            return sum(self._claimed.values())

    def _idle(self) -> bool:
        return not any(self._claimed.values()) and not any(self._uncommitted.values())

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the posts in flight and their outcomes; True when none is left."""
        with self._cond:
            self._cond.wait_for(self._idle, timeout)
        self._outcomes.flush(timeout)
        return self.in_flight() == 0

    def run_until_idle(self) -> Idle:
        """Publish until nothing is due now (``publisher run --once``), and
        say what is left waiting."""
        while not self._stopping.is_set():
            claimed = self.tick()
            with self._cond:
                self._cond.wait_for(lambda: self._wanted or self._stopping.is_set()
                                    or self._idle())
                if self._wanted:
                    continue
            if claimed == 0:
                break
        idle = self.waiting()
        if idle.waiting:
            log.info("nothing due now: %d posts wait, the next at %s", idle.waiting,
                     idle.next_at.isoformat(timespec="seconds") if idle.next_at else
                     "(paused or closed channels)")
        return idle

    def waiting(self) -> Idle:
        """How many posts wait, and when the first may go (gates included)."""
        now = self.now()
        counts = self.store.post_counts()
        per_channel: dict[str, int] = {}
        for (channel, status), n in counts.items():
            if status in _CLAIMABLE:
                per_channel[channel] = per_channel.get(channel, 0) + n
        gates = self.gates(now) if per_channel else {}
        times = []
        for channel in per_channel:
            gate = gates.get(channel)
            if gate is None or (not gate.open and gate.until is None):
                continue  # paused, or the channel is gone: an editor acts first
            due = self.store.next_due(channels=[channel])
            if due is not None:
                times.append(max(due, gate.until) if gate.until and not gate.open else due)
        return Idle(sum(per_channel.values()), min(times, default=None))

    def serve(self) -> None:
        """The daemon's loop: claim, then sleep until a post is due, a gate
        opens, a lane with due work runs low or ``notify``; until ``stop``."""
        while not self._stopping.is_set():
            try:
                claimed = self.tick()
                delay = self._next_wake(claimed)
            except Exception:
                log.exception("claiming the next posts failed")
                delay = SAFETY_NET
            with self._cond:
                self._cond.wait_for(lambda: self._wanted or self._stopping.is_set(), delay)

    def _next_wake(self, claimed: int) -> float:
        now, gates = self.now(), self._seen
        times = [g.until for g in gates.values() if not g.open and g.until is not None]
        open_ = [n for n, g in gates.items() if g.open and n not in self._roomless]
        due = self.store.next_due(channels=open_) if open_ else None
        if due is not None:
            times.append(due)
        delay = min([(t - now).total_seconds() for t in times], default=SAFETY_NET)
        # Due now yet nothing claimed (another daemon holds it, clocks differ):
        # look again in a second rather than at once.
        return min(SAFETY_NET, max(delay, 0.0 if claimed else 1.0))

    def stop(self, grace: float = 20.0) -> bool:
        """Stop claiming, let calls in flight finish within ``grace`` seconds.
        Posts claimed but not sent are given back.  True when all finished."""
        self._stopping.set()
        self.notify()
        done = self.wait(timeout=grace)
        self._executor.shutdown(wait=done, cancel_futures=True)
        self._outcomes.close(timeout=grace)
        return done

    # -- working one post ------------------------------------------------------------

    def _work(self, item: OutboxItem, attempt: Attempt | None) -> None:
        try:
            now = self.now()
            if self._stopping.is_set():
                self._not_sent(_Held(item, lc.PostFacts(item.id, item.status), lc.ChannelFacts(
                    DeliveryClass.REVIEW), attempt), now, "stopping before it was sent")
                return
            history = (lc.History.of(self.store.attempts(post_id=item.id, limit=1000))
                       if item.attempts else lc.History())
            held = _Held(item, lc.PostFacts(item.id, item.status, item.attempts,
                                            item.expires_at, history),
                         self._channel_facts(item.channel, now), attempt)
            self._apply(held, lc.on_claim(held.post, held.channel, now=now))
        except Exception:
            # A bug, or the store failing: the post keeps its lease and, when it
            # expires, is reconciled like after a crash. Never a double send.
            log.exception("post=%d channel=%s: dispatch failed", item.id, item.channel,
                          extra={"post": item.id, "channel": item.channel})

    def _channel_facts(self, name: str, now: datetime) -> lc.ChannelFacts:
        cfg = self.config.channels.get(name)
        if cfg is None:
            return lc.ChannelFacts(DeliveryClass.REVIEW, configured=False, type="?")
        kind = REGISTRY.get(cfg.type)
        return lc.ChannelFacts(
            self.channels.delivery(name), max_attempts=cfg.retry.max_attempts,
            retry_base=cfg.retry.base, retry_cap=cfg.retry.cap,
            key_lifetime=kind.key_lifetime if kind is not None else None,
            rate_limited_until=self.rate_gate.until(name, now), type=cfg.type)

    def _build(self, held: _Held, now: datetime) -> Channel | None:
        try:
            return self.channels.get(held.item.channel)
        except ConfigError as exc:
            self._pause(held.item.channel, f"cannot build channel: {exc}", auth=True, now=now)
            self._not_sent(held, now, f"cannot build channel: {exc}")
            return None

    def _not_sent(self, held: _Held, now: datetime, why: str,
                  until: datetime | None = None) -> None:
        """Give back a post that did not reach the platform; its attempt, if
        one was recorded, does not count."""
        if held.attempt is None:
            if until is None:
                self.store.release([held.item.id], worker=self.worker)
            else:
                self.store.set_post_status(held.item.id, PostStatus.WAITING,
                                           expected=[PostStatus.PUBLISHING],
                                           worker=self.worker, now=now, error=why,
                                           next_attempt_at=until)
            return
        self._finish(held.item, Finish(held.attempt.id, self.worker, now, Outcome.RETRYING,
                                       PostStatus.WAITING, next_attempt_at=until or now,
                                       error=f"not sent: {why}", counted=False))

    def _send(self, held: _Held, after_ambiguous: bool) -> None:
        item, now = held.item, self.now()
        channel = self._build(held, now)
        if channel is None:
            return
        attempt = held.attempt or self.store.start_attempt(item.id, worker=self.worker, now=now)
        if attempt is None:
            log.warning("post=%d channel=%s: lease lost before publishing", item.id, item.channel)
            return
        held = replace(held, attempt=attempt)
        closed = self.rate_gate.until(item.channel, self.now())  # right before the call
        if closed is not None:
            self._not_sent(held, now, f"rate limited until {closed.isoformat()}", closed)
            return

        def save_checkpoint(value: str) -> None:
            if not self.store.set_checkpoint(item.id, value, worker=self.worker):
                raise Ambiguous("lease lost while publishing in steps")

        request = _request(item, attempt=attempt.number, after_ambiguous=after_ambiguous,
                           save_checkpoint=save_checkpoint)
        answer: PublishResult | ChannelError
        try:
            answer = channel.publish(request)
        except RateLimited as exc:
            self.rate_gate.close(item.channel, exc.until)  # first: no other worker calls now
            answer = exc
        except ChannelError as exc:
            answer = exc
        except Exception as exc:
            # An adapter bug or an exception its boundary missed: it may have
            # reached the platform, so it is handled as ambiguous.
            log.exception("post=%d channel=%s: unexpected error from the adapter", item.id,
                          item.channel)
            answer = Ambiguous(f"unexpected {type(exc).__name__}: {exc}")
        self._apply(held, lc.on_outcome(answer, held.post, held.channel, attempt=attempt.number,
                                        now=self.now(), rand=self.rand))

    def _look_up(self, held: _Held, reason: str) -> None:
        item, now = held.item, self.now()
        closed = lc.before_call(replace(held.channel, rate_limited_until=self.rate_gate.until(
            item.channel, now)), now=now)
        if closed is not None:  # a look-up is a platform call too
            self._apply(held, closed)
            return
        channel = self._build(held, now)
        if channel is None:
            return
        log.info("post=%d channel=%s: looking for it on the platform (%s)", item.id,
                 item.channel, reason, extra={"post": item.id, "channel": item.channel})
        found: PublishResult | ChannelError | None
        try:
            found = channel.find(_request(item, attempt=item.attempts, after_ambiguous=True))
        except RateLimited as exc:
            self.rate_gate.close(item.channel, exc.until)
            found = exc
        except ChannelError as exc:
            found = exc
        except Exception as exc:
            log.exception("post=%d channel=%s: unexpected error while reconciling", item.id,
                          item.channel)
            found = ChannelError(f"{type(exc).__name__}: {exc}")
        self._apply(held, lc.on_lookup(found, held.post, held.channel, now=self.now(),
                                       rand=self.rand))

    # -- carrying decisions out ------------------------------------------------------

    def _apply(self, held: _Held, decision: lc.Decision) -> int:
        """Carry out one lifecycle decision for a held post (the only place
        that changes a post's state).  Returns 1 when the post changed."""
        match decision:
            case lc.Publish(after_ambiguous=after):
                self._send(held, after)
                return 1
            case lc.Lookup(reason=reason):
                self._look_up(held, reason)
                return 1
            case lc.Release(reason=reason):
                log.info("post=%d channel=%s given back: %s", held.item.id, held.item.channel,
                         reason)
                return self.store.release([held.item.id], worker=self.worker)
            case lc.PauseChannel(reason=reason, auth=auth, then=then):
                self._pause(held.item.channel, reason, auth=auth, now=self.now())
                return self._apply(held, then)
            case lc.Logged(row=row, then=then):
                self._log_row(held, row)
                return self._apply(held, then)
            case lc.Wait(until=until, reason=reason, outcome=outcome, gate_until=gate_until):
                if gate_until is not None:  # before anything else: no worker calls now
                    self.rate_gate.close(held.item.channel, gate_until)
                    self.store.set_rate_limited(held.item.channel, gate_until)
                if outcome is None and held.attempt is not None:
                    self._not_sent(held, self.now(), reason, until)
                    return 1
                return self._settle(held, PostStatus.WAITING, outcome, reason,
                                    next_attempt_at=until, http_status=decision.http_status)
            case lc.MarkPublished(outcome=outcome, note=note):
                return self._settle(held, PostStatus.PUBLISHED, outcome, note,
                                    remote=decision, http_status=decision.http_status)
            case lc.Review(reason=reason, outcome=outcome):
                return self._settle(held, PostStatus.NEEDS_REVIEW, outcome, reason,
                                    http_status=decision.http_status)
            case lc.Fail(reason=reason, outcome=outcome):
                return self._settle(held, PostStatus.FAILED, outcome, reason,
                                    http_status=decision.http_status)
        raise AssertionError(f"unknown decision {decision!r}")

    def _settle(self, held: _Held, status: PostStatus, outcome: Outcome | None,
                error: str | None, *, next_attempt_at: datetime | None = None,
                remote: lc.MarkPublished | None = None, http_status: int | None = None) -> int:
        """The post's new state: with the attempt in hand, its outcome (group
        committed); else a compare-and-set, after a log row when ``outcome``."""
        item, now = held.item, self.now()
        remote_id = remote.remote_id if remote else None
        remote_url = remote.remote_url if remote else None
        level = (logging.ERROR if status in (PostStatus.FAILED, PostStatus.NEEDS_REVIEW)
                 else logging.WARNING if status is PostStatus.WAITING else logging.INFO)
        number = f" attempt={held.attempt.number}" if held.attempt else ""
        log.log(level, "post=%d channel=%s%s outcome=%s status=%s url=%s%s%s%s", item.id,
                item.channel, number, outcome or "-", status, item.link,
                f" remote={remote_url or remote_id}" if remote else "",
                f" next={next_attempt_at.isoformat(timespec='seconds')}"
                if next_attempt_at else "", f" error={error}" if error else "",
                extra={"post": item.id, "channel": item.channel, "outcome": str(outcome)})
        if held.attempt is not None:
            self._finish(item, Finish(held.attempt.id, self.worker, now, outcome or Outcome.OK,
                                      status, next_attempt_at=next_attempt_at,
                                      http_status=http_status, error=error,
                                      remote_id=remote_id, remote_url=remote_url))
            return 1
        published = status is PostStatus.PUBLISHED
        row = None if outcome is None else (
            lc.LogRow(outcome, None, remote_id, remote_url) if published
            else lc.LogRow(outcome, error))
        if row is not None and held.leased:  # the lease holder's row goes first
            self._log_row(held, row)
        changed = self.store.set_post_status(
            item.id, status, expected=[PostStatus.PUBLISHING] if held.leased else [item.status],
            worker=self.worker if held.leased else None, now=now,
            error=None if published else error, next_attempt_at=next_attempt_at,
            remote_id=remote_id, remote_url=remote_url)
        if row is not None and changed and not held.leased:
            self._log_row(held, row)
        if published and outcome is not None:
            self.store.record_channel_result(item.channel, now=now, ok=True)
        return int(changed)

    def _log_row(self, held: _Held, row: lc.LogRow) -> None:
        self.store.log_event(held.item.id, worker=self.worker, now=self.now(),
                             outcome=row.outcome, error=row.error, remote_id=row.remote_id,
                             remote_url=row.remote_url)

    def _finish(self, item: OutboxItem, finish: Finish) -> None:
        """Hand the attempt's outcome to the group committer."""
        with self._lock:
            self._uncommitted[item.channel] = self._uncommitted.get(item.channel, 0) + 1
        self._outcomes.submit(finish, item.channel)

    def _pause(self, channel: str, reason: str, *, auth: bool, now: datetime) -> None:
        self.store.set_paused(channel, paused=True, now=now, reason=reason, by="publisher",
                              auth_failed=auth)
        log.error("channel=%s paused: %s (run `publisher check`, then `publisher resume "
                  "--channel %s`)", channel, reason, channel, extra={"channel": channel})
