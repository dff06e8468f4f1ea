"""Dispatch: claim due posts and work them (outbox -> channel -> log).

This module decides *which* posts are worked, and *when*; ``work.py`` works
each one and carries out the lifecycle's decisions in one place
(``PostWorker.apply``).  The delivery guarantee (DESIGN.md):

1. A post is claimed under a lease; the attempt is recorded as *started* and
   committed **before** the platform is called (a fresh batch in one commit).
2. The outcome is recorded afterwards, with the post's next state, fenced by
   the lease (several outcomes per commit: ``outcomes.GroupCommitter``).
3. A post whose newest log row leaves its fate open is settled by its
   channel's delivery class before anything is sent again.

Rate limits: a 429 closes the channel's in-memory gate (``rate_gate``) before
anything else, every worker looks at it immediately before its call, and the
claim reads it with the database row (the gate between daemons).

Nothing spins: each channel works at most ``concurrency`` posts at once from
a lane of claimed posts, and the claiming loop wakes only when a post becomes
due, a gate opens, a lane with due work runs low, or ``notify`` says a post
was added.  CPU does not grow with the platform's latency.
"""

from __future__ import annotations

import logging
import random
import threading
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime, timedelta

from publisher.channels import REGISTRY, ChannelType
from publisher.config import Config
from publisher.exceptions import StoreError
from publisher.services import lifecycle as lc
from publisher.services.channel_pool import ChannelPool, channel_spec
from publisher.services.outcomes import GroupCommitter
from publisher.services.rate_gate import RateGate
from publisher.services.timing import Gate, Idle, channel_gates, waiting_posts
from publisher.services.work import Held, PostWorker
from publisher.store.api import Finish, StoreAPI
from publisher.types import (
    AFTER_POST_STATUSES,
    Attempt,
    ChannelState,
    DeliveryClass,
    OutboxItem,
    PostStatus,
    Priority,
)

__all__ = ["ChannelPool", "Dispatcher", "Idle", "channel_spec"]

log = logging.getLogger("publisher.dispatch")

#: The daemon's dispatcher looks at the database at least this often with
#: nothing due: the safety net for posts added by other processes.
SAFETY_NET = 5.0
_CLAIMABLE = (PostStatus.QUEUED, PostStatus.WAITING)


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
        #: Per channel, claimed posts waiting for a slot: (post, its attempt
        #: when already recorded, the claim's number).
        self._lanes: dict[str, deque[tuple[OutboxItem, Attempt | None, int]]] = {}
        self._running: dict[str, int] = {}
        self._claimed: dict[str, int] = {}  # claimed and not finished, per channel
        #: Outcomes handed to the committer and not yet committed, per channel:
        #: caps count published posts in the database, so these count too.
        self._uncommitted: dict[str, int] = {}
        self._saturated: set[str] = set()  # their last claim was full: more is due
        self._roomless: set[str] = set()  # open, but no room at the last claim
        self._wanted = False  # an event made a claim worth it
        #: The channels the next claim looks at: those a freed slot asked for,
        #: or None for every one (a post added, a retry due, a timer, a start).
        self._only: set[str] | None = None
        self._last_full = False  # the last claim looked at every channel
        self._seen: dict[str, Gate] = {}  # the gates of the last claim
        self._outcomes = GroupCommitter(store, self._committed)
        self.posts = PostWorker(config=config, store=store, channels=channels,
                                rate_gate=self.rate_gate, now=now, rand=rand, worker=worker,
                                finish=self._finish, claims=self._tick_lock)
        # After the post (issue 13): deletes and edits, through the same lanes.
        from publisher.services.after_post import AfterPostWorker
        self.after = AfterPostWorker(config=config, store=store, channels=channels,
                                     rate_gate=self.rate_gate, now=now, rand=rand,
                                     worker=worker, lease_seconds=lease_seconds)

    # -- claiming --------------------------------------------------------------------

    def gates(self, now: datetime | None = None,
              states: Mapping[str, ChannelState] | None = None) -> dict[str, Gate]:
        """Whether each configured channel may publish now, and if not, why
        (pause, platform rate limit, caps, spacing, budget, quiet hours)."""
        now = now or self.now()
        return channel_gates(self.config, self.store, now, resets=self.rate_gate.closed(now),
                             states=states)

    def reconfigure(self, config: Config, channels: ChannelPool) -> None:
        """A reload: the next claims use ``config`` and ``channels``.  Swapped
        between two claims; a post already being worked finishes on the
        adapter it holds."""
        with self._tick_lock:
            for part in (self, self.posts, self.after):
                part.config, part.channels = config, channels
        self.notify()

    def notify(self) -> None:
        """A post was added or changed: claim now instead of at the next wake."""
        with self._cond:
            self._wanted, self._only = True, None
            self._cond.notify_all()

    def tick(self) -> int:
        """Claim what the channels have room for and start it; returns how many."""
        if self._stopping.is_set():
            return 0
        with self._tick_lock:
            return self._claim()

    def _concurrency(self, channel: str) -> int:
        cfg = self.config.channels.get(channel)
        if cfg is None:
            return 1
        # The table's own value, else its type's default (ChannelType's for an unknown type).
        return cfg.concurrency or REGISTRY.get(cfg.type, ChannelType).concurrency

    def _claim(self) -> int:
        with self._lock:
            self._wanted = False
            only, self._only = self._only, set()
            self._last_full = only is None
            # Counted before the gates are read: a post that finishes in between
            # is then counted twice (in flight and published), never not at all,
            # so a cap can be undershot for a moment but never overshot.
            busy, pending = dict(self._claimed), dict(self._uncommitted)
            free = 2 * self.max_workers - sum(busy.values())
        seq = self.rate_gate.claim_seq()
        now = self.now()
        gates = self.gates(now, states := self.store.channel_states())  # read once
        room: dict[str, int] = {}
        roomless: set[str] = set()
        for name in self.config.channels:
            gate, have = gates[name], busy.get(name, 0)
            if not gate.breaking_open or (only is not None and name not in only):
                continue
            # A lane holds its running posts and as many claimed behind them,
            # refilled once it runs low: one claim and one durable start of
            # attempts per batch, not per post.
            lane = self._concurrency(name)
            room[name] = 0 if have > lane else 2 * lane - have
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
                self._submit(item, started.get(item.id), seq)
            claimed += len(items)
        # Deletes and edits at every claim: a retraction asked for from another
        # process must not wait for the end of a burst of posts.
        return claimed + self._claim_after(busy, states)

    def _claim_after(self, busy: dict[str, int], states: Mapping[str, ChannelState]) -> int:
        """Claim due deletes and edits into the lanes, as much as each has room for."""
        closed = self.rate_gate.closed(self.now())
        room = {n: 0 if n in closed else max(0, 2 * self._concurrency(n) - busy.get(n, 0))
                for n in self.config.channels}
        items = self.after.claim(room, states)
        for item in items:
            self._submit(item)
        return len(items)

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
        if everything:  # deletes and edits a dead process held: every one, now
            self.store.orphan_after(now=now, worker=self.worker)
        expired = []
        with self._tick_lock:
            seq = self.rate_gate.claim_seq()
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
            self._submit(entry.post, None, seq)
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
            post = lc.PostFacts(item.id, item.status, item.attempts, item.expires_at,
                                reshare=item.reshare > 0)
            decision = lc.on_expiry(post, opens_at=opens, now=now)
            if decision is not None and item.attempts:  # in doubt? the dispatcher settles it
                post = replace(post, history=lc.History.of(
                    self.store.attempts(post_id=item.id, limit=1000)))
                decision = lc.on_expiry(post, opens_at=opens, now=now)
            if decision is not None:
                held = Held(item, post, self.posts.channel_facts(item.channel, now),
                            leased=False)
                count += self.posts.apply(held, decision)
        return count

    # -- lanes: at most ``concurrency`` posts of a channel at once ------------------------

    def _submit(self, item: OutboxItem, attempt: Attempt | None = None,
                claimed: int | None = None) -> None:
        if claimed is None:
            claimed = self.rate_gate.claim_seq()
        with self._lock:
            ch = item.channel
            self._lanes.setdefault(ch, deque()).append((item, attempt, claimed))
            self._claimed[ch] = self._claimed.get(ch, 0) + 1
            while self._lanes[ch] and self._running.get(ch, 0) < self._concurrency(ch):
                self._running[ch] = self._running.get(ch, 0) + 1
                self._executor.submit(self._lane, *self._lanes[ch].popleft())

    def _lane(self, item: OutboxItem, attempt: Attempt | None, claimed: int) -> None:
        ch = item.channel
        while True:
            try:
                if item.status in AFTER_POST_STATUSES:
                    self.after.work(item, stopping=self._stopping.is_set())
                else:
                    self.posts.work(item, attempt, claimed, stopping=self._stopping.is_set())
            except Exception:  # a bug: the lane must still count the post as done
                log.exception("post=%d channel=%s: working it failed", item.id, ch)
            with self._cond:
                self._claimed[ch] -= 1
                if ch in self._saturated and self._claimed[ch] <= self._concurrency(ch):
                    self._wanted = True  # a slot of a channel with due work is free
                    if self._only is not None:
                        self._only.add(ch)
                self._cond.notify_all()
                if not self._lanes[ch]:
                    self._running[ch] -= 1
                    return
                item, attempt, claimed = self._lanes[ch].popleft()

    def _committed(self, batch: list[tuple[Finish, str]]) -> None:
        now = self.now()
        with self._cond:
            for finish, channel in batch:
                self._uncommitted[channel] -= 1
                due = finish.next_attempt_at
                if finish.post_status is PostStatus.WAITING and due is not None and due <= now:
                    self._wanted, self._only = True, None
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
        self.notify()  # the first claim looks at every channel
        while not self._stopping.is_set():
            claimed, full = self.tick(), self._last_full
            with self._cond:
                self._cond.wait_for(lambda: self._wanted or self._stopping.is_set()
                                    or self._idle())
                if self._wanted:
                    continue
                if claimed == 0 and full:
                    break
                self._only = None  # all done: one more look at every channel
        idle = self.waiting()
        if idle.waiting:
            log.info("nothing due now: %d posts wait, the next at %s", idle.waiting,
                     idle.next_at.isoformat(timespec="seconds") if idle.next_at else
                     "(paused or closed channels)")
        return idle

    def waiting(self) -> Idle:
        """How many posts wait, and when the first may go (gates included)."""
        return waiting_posts(self.store, self.gates, self.now())

    def serve(self) -> None:
        """The daemon's loop: claim, then sleep until a post is due, a gate
        opens, a lane with due work runs low or ``notify``; until ``stop``."""
        while not self._stopping.is_set():
            try:
                claimed = self.tick()
                delay = self._next_wake(claimed)
            except StoreError as exc:
                # The database is away (the store logs each change of state
                # once): nothing is claimed; look again at the safety net.
                log.debug("claiming the next posts failed: %s", exc)
                delay = SAFETY_NET
            except Exception:
                log.exception("claiming the next posts failed")
                delay = SAFETY_NET
            with self._cond:
                if not self._cond.wait_for(lambda: self._wanted or self._stopping.is_set(),
                                           delay):
                    self._only = None  # a timer: something may be due anywhere

    def _next_wake(self, claimed: int) -> float:
        now, gates = self.now(), self._seen
        times = [g.until for g in gates.values() if not g.open and g.until is not None]
        open_ = [n for n, g in gates.items() if g.open and n not in self._roomless]
        due = self.store.next_due(channels=open_) if open_ else None
        if due is not None:
            times.append(due)
        delay = min([(t - now).total_seconds() for t in times], default=SAFETY_NET)
        if delay <= 0 and not self._last_full:
            with self._lock:
                self._only = None  # due in a channel the last claim did not look at
            return 0.0
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

    def _finish(self, item: OutboxItem, finish: Finish) -> None:
        """Hand the attempt's outcome to the group committer."""
        with self._lock:
            self._uncommitted[item.channel] = self._uncommitted.get(item.channel, 0) + 1
        self._outcomes.submit(finish, item.channel)
