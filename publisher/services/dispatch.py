"""Dispatch: claim due posts, publish them, log every attempt (outbox -> channel -> log).

The delivery guarantee lives here (DESIGN.md):

1. A post is claimed under a lease; the attempt is recorded as *started* and
   committed **before** the platform is called.
2. The outcome is recorded afterwards, with the post's next state, in one
   transaction fenced by the lease.
3. A post whose newest log row is *started* (its worker died) or *ambiguous*
   (a timeout after sending) is never simply sent again: it is reconciled by
   its channel's delivery class first: idempotent channels retry with the
   same key, reconcilable ones look for the post on the platform, review
   ones go to ``needs_review`` for an editor.

Posts of different channels go out concurrently through a bounded thread
pool, so one article's fan-out takes about one platform round trip.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from datetime import datetime, timedelta

from publisher.channels import REGISTRY, Channel, ChannelSpec, make_channel
from publisher.config import ChannelConfig, Config
from publisher.exceptions import Ambiguous, AuthFailed, ChannelError, ConfigError, RateLimited
from publisher.services.policy import backoff_delay, is_stale, judge_error
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
)

log = logging.getLogger("publisher.dispatch")

#: Wait this long before looking for a post whose attempt timed out: platforms
#: may take a moment to show a post they just stored.
RECONCILE_DELAY = 2.0


def channel_spec(channel: ChannelConfig, environ: Mapping[str, str]) -> ChannelSpec:
    """The adapter's spec for a configured channel, with its secrets read now."""
    secrets = {key: environ.get(env, "") for key, env in channel.credentials.items()}
    return ChannelSpec(name=channel.name, type=channel.type, secrets=secrets,
                       options=channel.options, base_url=channel.base_url,
                       timeout=channel.timeout)


class ChannelPool:
    """The channel adapters, built on first use (so no SDK is imported until a
    channel of its type publishes) and shared by the dispatch threads."""

    def __init__(self, config: Config, environ: Mapping[str, str], *,
                 overrides: Mapping[str, Channel] | None = None,
                 factory: Callable[[ChannelSpec], Channel] = make_channel):
        self._config = config
        self._environ = environ
        self._built: dict[str, Channel] = dict(overrides or {})
        self._building: dict[str, threading.Lock] = {}
        self._factory = factory
        self._lock = threading.Lock()

    def get(self, name: str) -> Channel:
        with self._lock:
            channel = self._built.get(name)
            if channel is not None:
                return channel
            building = self._building.setdefault(name, threading.Lock())
        # One lock per channel: building an adapter imports its SDK, and ten
        # channels' first posts must not wait for each other's imports.
        with building:
            with self._lock:
                channel = self._built.get(name)
            if channel is None:
                channel = self._factory(channel_spec(self._config.channels[name], self._environ))
                with self._lock:
                    self._built[name] = channel
            return channel

    def max_length(self, name: str) -> int | None:
        """The length limit the platform announces for this channel (a
        Mastodon instance's), or None to keep the channel type's rule.  Only
        channel types that announce one are built for it."""
        info = REGISTRY.get(self._config.channels[name].type)
        if info is None or not info.announces_limit:
            return None
        try:
            ask = getattr(self.get(name), "max_length", None)
            return ask() if ask is not None else None
        except Exception:  # the static rule is a safe fallback
            log.warning("channel=%s: could not read the platform's length limit", name,
                        exc_info=True)
            return None

    def delivery(self, name: str) -> DeliveryClass:
        """The channel's delivery class, without building it when possible."""
        with self._lock:
            built = self._built.get(name)
        if built is not None:
            return built.delivery
        return REGISTRY[self._config.channels[name].type].delivery

    def close(self) -> None:
        with self._lock:
            channels, self._built = list(self._built.values()), {}
        for channel in channels:
            try:
                channel.close()
            except Exception:  # closing must not stop the shutdown
                log.debug("closing a channel failed", exc_info=True)


def _request(item: OutboxItem, *, attempt: int, after_ambiguous: bool,
             save_checkpoint: Callable[[str], None] | None = None) -> PublishRequest:
    return PublishRequest(
        post_id=item.id, idempotency_key=item.idempotency_key, text=item.text, link=item.link,
        image=item.image, title=item.title, summary=item.summary, attempt=attempt,
        after_ambiguous=after_ambiguous, checkpoint=item.checkpoint,
        save_checkpoint=save_checkpoint,
    )


class GroupCommitter:
    """Records attempts' outcomes on a thread of its own, several per commit.

    SQLite has one writer: sixteen workers each committing their own outcome
    queue for it (and for the GIL while holding it).  Workers hand the
    outcome over and are free for the next post; the post stays leased and in
    ``publishing`` until the commit, so nobody can take it meanwhile, and a
    crash before the commit leaves the attempt *started*: reconciled, never
    simply sent again.  ``on_committed`` gets the channels of each batch."""

    def __init__(self, store: StoreAPI, on_committed: Callable[[list[str]], None]):
        self._store = store
        self._on_committed = on_committed
        self._items: list[tuple[Finish, str]] = []
        self._cond = threading.Condition()
        self._busy = False
        self._closed = False
        self._thread: threading.Thread | None = None

    def submit(self, finish: Finish, channel: str) -> None:
        with self._cond:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="outcomes", daemon=True)
                self._thread.start()
            self._items.append((finish, channel))
            self._cond.notify_all()

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every outcome handed over is committed (or failed)."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._items and not self._busy, timeout)

    def close(self, timeout: float | None = None) -> None:
        self.flush(timeout)
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._items or self._closed)
                if not self._items:
                    return
                batch, self._items = self._items, []
                self._busy = True
            try:
                self._commit([finish for finish, _ in batch])
            finally:
                self._on_committed([channel for _, channel in batch])
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def _commit(self, finishes: list[Finish]) -> None:
        try:
            self._store.finish_attempts(finishes)
            return
        except Exception:
            if len(finishes) == 1:
                # The post keeps its lease; when it expires the started attempt
                # is reconciled like after a crash.
                log.exception("attempt=%d: its outcome could not be recorded",
                              finishes[0].attempt_id)
                return
        for finish in finishes:  # one bad outcome must not lose the others
            self._commit([finish])


class Dispatcher:
    """Claims due posts and works them on a bounded thread pool."""

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
        self._executor = ThreadPoolExecutor(max_workers, thread_name_prefix="dispatch")
        self._in_flight: dict[int, Future[None]] = {}
        self._per_channel: dict[str, int] = {}
        #: Outcomes handed to the committer and not yet committed, per channel:
        #: caps count published posts in the database, so these count too.
        self._uncommitted: dict[str, int] = {}
        self._outcomes = GroupCommitter(store, self._committed)
        self._lock = threading.Lock()
        self._tick_lock = threading.Lock()
        self._stopping = threading.Event()
        #: In the daemon, a finished post frees a worker for the next due one at
        #: once instead of at the next tick, so a burst drains at full speed.
        self.continuous = False

    # -- claiming --------------------------------------------------------------------

    def gates(self, now: datetime | None = None) -> dict[str, Gate]:
        """Whether each configured channel may publish now, and if not, why
        (pause, platform rate limit, caps, spacing, budget, quiet hours)."""
        return channel_gates(self.config, self.store, now or self.now())

    def tick(self) -> int:
        """Claim as many due posts as there are free workers and start them.
        Returns how many were claimed."""
        if self._stopping.is_set():
            return 0
        with self._tick_lock:
            return self._claim()

    def _claim(self) -> int:
        with self._lock:
            free = self.max_workers - len(self._in_flight)
            # Counted before the gates are read: a post that finishes in between
            # is then counted twice (in flight and published), never not at all,
            # so a cap can be undershot for a moment but never overshot.
            busy = dict(self._per_channel)
            pending = dict(self._uncommitted)
        if free <= 0:
            return 0
        now = self.now()
        gates = self.gates(now)
        room: dict[str, int] = {}
        for name, channel in self.config.channels.items():
            gate = gates[name]
            if not gate.breaking_open:
                continue
            room[name] = channel.concurrency - busy.get(name, 0)
            if gate.limit is not None:
                room[name] = min(room[name],
                                 gate.limit - busy.get(name, 0) - pending.get(name, 0))
        room = {name: n for name, n in room.items() if n > 0}
        if not room:
            return 0
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
                 and not is_stale(item.expires_at, now)
                 and self.channels.delivery(item.channel) is not DeliveryClass.REVIEW]
        if len(batch) < 2:
            return {}
        return self.store.start_attempts(batch, worker=self.worker, now=now)

    def reap(self, *, everything: bool = False) -> int:
        """Take over posts whose worker's lease expired and work them (their
        newest attempt is reconciled first).  ``everything``: take every leased
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
            self._submit(entry.post)
        return len(expired)

    def expire_stale(self) -> int:
        """Fail waiting posts that became old news, including on paused or
        rate-limited channels (they are never claimed meanwhile), and posts
        whose channel stays closed (caps, budget, quiet hours) until after
        they expire: they would go out after their max_age."""
        now = self.now()
        gates = self.gates(now)
        count = 0
        for item in self.store.list_posts(statuses=[PostStatus.QUEUED, PostStatus.WAITING,
                                                    PostStatus.DRAFT], limit=10_000):
            gate = gates.get(item.channel)
            opens = gate.until if gate is not None and not (
                gate.open or (gate.breaking_open and item.priority is Priority.BREAKING)) else None
            late = (item.expires_at is not None and opens is not None
                    and opens >= item.expires_at and item.status is not PostStatus.DRAFT)
            if not (is_stale(item.expires_at, now) or late):
                continue
            if item.attempts and self._in_doubt(item):
                continue  # may be on the platform: the dispatcher settles it first
            if self.store.set_post_status(
                    item.id, PostStatus.FAILED, expected=[item.status], now=now,
                    error=self._stale_reason(item)):
                self.store.log_event(item.id, worker=self.worker, now=now,
                                     outcome=Outcome.FAILED, error=self._stale_reason(item))
                count += 1
        return count

    def _in_doubt(self, item: OutboxItem) -> bool:
        """Whether the post's newest log row leaves open that it went out."""
        newest = self.store.attempts(post_id=item.id, limit=1)
        return bool(newest) and newest[0].outcome in (Outcome.STARTED, Outcome.AMBIGUOUS)

    def _submit(self, item: OutboxItem, attempt: Attempt | None = None) -> None:
        with self._lock:
            future = self._executor.submit(self._work, item, attempt)
            self._in_flight[item.id] = future
            self._per_channel[item.channel] = self._per_channel.get(item.channel, 0) + 1

    # -- waiting and stopping --------------------------------------------------------

    def in_flight(self) -> int:
        with self._lock:
            return len(self._in_flight)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the posts in flight; True when none is left."""
        with self._lock:
            futures = list(self._in_flight.values())
        if futures:
            wait_futures(futures, timeout=timeout)
        self._outcomes.flush(timeout)
        return self.in_flight() == 0

    @property
    def refill(self) -> int:
        """Free workers worth a claim while others are busy: claiming a few at
        a time records their first attempts in one durable commit instead of
        one each (SQLite has a single writer)."""
        return max(1, self.max_workers // 16)

    def run_until_idle(self) -> None:
        """Publish until nothing is due now (``publisher run --once``)."""
        while True:
            claimed = self.tick()
            if claimed == 0 and self.in_flight() == 0:
                self._outcomes.flush()  # a retry due now becomes claimable
                if self.tick() == 0 and self.in_flight() == 0:
                    return
            while True:
                with self._lock:
                    futures = list(self._in_flight.values())
                if not futures or self.max_workers - len(futures) >= self.refill:
                    break
                wait_futures(futures, return_when="FIRST_COMPLETED")

    def stop(self, grace: float = 20.0) -> bool:
        """Stop claiming, let calls in flight finish within ``grace`` seconds.
        Posts claimed but not started are given back.  True when all finished."""
        self._stopping.set()
        done = self.wait(timeout=grace)
        self._executor.shutdown(wait=done, cancel_futures=True)
        self._outcomes.close(timeout=grace)
        return done

    # -- working one post ------------------------------------------------------------

    def _work(self, item: OutboxItem, attempt: Attempt | None = None) -> None:
        try:
            if self._stopping.is_set():
                if attempt is not None:
                    self._not_sent(item, attempt, "stopping before it was sent")
                else:
                    self.store.release([item.id], worker=self.worker)
                return
            self._process(item, attempt)
        except Exception:
            # A bug, or the store failing: the post keeps its lease and, when it
            # expires, is reconciled like after a crash. Never a double send.
            log.exception("post=%d channel=%s: dispatch failed", item.id, item.channel,
                          extra={"post": item.id, "channel": item.channel})
        finally:
            with self._lock:
                self._in_flight.pop(item.id, None)
                self._per_channel[item.channel] -= 1
            if (self.continuous and not self._stopping.is_set()
                    and self.max_workers - self.in_flight() >= self.refill
                    and self._tick_lock.acquire(blocking=False)):
                try:
                    self._claim()
                except Exception:
                    log.exception("claiming the next posts failed")
                finally:
                    self._tick_lock.release()

    def _committed(self, channels: list[str]) -> None:
        with self._lock:
            for channel in channels:
                self._uncommitted[channel] -= 1

    def _finish(self, item: OutboxItem, finish: Finish) -> None:
        """Hand the attempt's outcome to the group committer."""
        with self._lock:
            self._uncommitted[item.channel] = self._uncommitted.get(item.channel, 0) + 1
        self._outcomes.submit(finish, item.channel)

    def _stale_reason(self, item: OutboxItem) -> str:
        at = item.expires_at.isoformat(timespec="seconds") if item.expires_at else "?"
        return f"stale: not published before its max_age ran out at {at}"

    def _not_sent(self, item: OutboxItem, attempt: Attempt, why: str) -> None:
        """Close an attempt that was recorded but never reached the platform."""
        now = self.now()
        self._finish(item, Finish(attempt.id, self.worker, now, Outcome.RETRYING,
                                  PostStatus.WAITING, next_attempt_at=now,
                                  error=f"not sent: {why}"))

    def _process(self, item: OutboxItem, started: Attempt | None = None) -> None:
        cfg = self.config.channels.get(item.channel)
        now = self.now()
        if started is not None and cfg is not None:
            try:
                channel = self.channels.get(item.channel)
            except ConfigError as exc:
                self._pause(item.channel, f"cannot build channel: {exc}", auth=True, now=now)
                self._not_sent(item, started, f"cannot build channel: {exc}")
                return
            self._publish(item, channel, cfg, after_ambiguous=False, attempt=started)
            return
        if cfg is None:  # the channel was removed from the configuration
            self.store.release([item.id], worker=self.worker)
            return
        history = self.store.attempts(post_id=item.id, limit=1000) if item.attempts else []
        # attempts() is newest first
        last: Attempt | None = history[0] if history else None
        confirmed = next((a for a in history if a.outcome in (Outcome.OK, Outcome.RECONCILED)),
                         None)
        if confirmed is not None:
            # The platform said it has the post (an answer that came back after
            # the lease had passed on, or a look-up before a crash): done.
            self._confirmed(item, confirmed, now)
            return
        in_doubt = last is not None and last.outcome in (Outcome.STARTED, Outcome.AMBIGUOUS)
        # A post in doubt may be on the platform: a reconcilable one is looked
        # for first (_settle fails it as stale when it is not there).
        if is_stale(item.expires_at, now) and not (
                in_doubt and self.channels.delivery(item.channel) is DeliveryClass.RECONCILABLE):
            reason = self._stale_reason(item)
            if in_doubt:  # it may have gone out: an editor decides, never a retry
                reason += "; its last attempt may have reached the platform"
            status, outcome = ((PostStatus.NEEDS_REVIEW, Outcome.NEEDS_REVIEW) if in_doubt
                               else (PostStatus.FAILED, Outcome.FAILED))
            if self.store.set_post_status(item.id, status,
                                          expected=[PostStatus.PUBLISHING], worker=self.worker,
                                          now=now, error=reason):
                self.store.log_event(item.id, worker=self.worker, now=now,
                                     outcome=outcome, error=reason)
                log.warning("post=%d channel=%s outcome=%s url=%s error=%s", item.id,
                            item.channel, outcome, item.link, reason,
                            extra={"post": item.id, "channel": item.channel})
            return
        after_ambiguous = any(a.outcome in (Outcome.AMBIGUOUS, Outcome.STARTED) for a in history)
        try:
            channel = self.channels.get(item.channel)
        except ConfigError as exc:
            self._pause(item.channel, f"cannot build channel: {exc}", auth=True, now=now)
            self.store.release([item.id], worker=self.worker)
            return
        if last is not None and last.outcome in (
            Outcome.STARTED, Outcome.AMBIGUOUS, Outcome.NEEDS_REVIEW
        ) and self._settle(item, last, channel, cfg, after_ambiguous=after_ambiguous):
            return
        self._publish(item, channel, cfg, after_ambiguous=after_ambiguous)

    def _confirmed(self, item: OutboxItem, attempt: Attempt, now: datetime) -> None:
        """Mark published a post whose publish log already says it went out."""
        if self.store.set_post_status(item.id, PostStatus.PUBLISHED,
                                      expected=[PostStatus.PUBLISHING], worker=self.worker,
                                      now=now, remote_id=attempt.remote_id,
                                      remote_url=attempt.remote_url):
            log.warning("post=%d channel=%s: already published (attempt %d, %s): not sending "
                        "it again", item.id, item.channel, attempt.number, attempt.outcome,
                        extra={"post": item.id, "channel": item.channel})

    def _publish(self, item: OutboxItem, channel: Channel, cfg: ChannelConfig, *,
                 after_ambiguous: bool, attempt: Attempt | None = None) -> None:
        if attempt is None:
            attempt = self.store.start_attempt(item.id, worker=self.worker, now=self.now())
        if attempt is None:
            log.warning("post=%d channel=%s: lease lost before publishing", item.id, item.channel)
            return
        def save_checkpoint(value: str) -> None:
            if not self.store.set_checkpoint(item.id, value, worker=self.worker):
                raise Ambiguous("lease lost while publishing in steps")

        request = _request(item, attempt=attempt.number, after_ambiguous=after_ambiguous,
                           save_checkpoint=save_checkpoint)
        try:
            result = channel.publish(request)
        except ChannelError as exc:
            self._failed(item, attempt, exc, cfg)
            return
        except Exception as exc:
            # An adapter bug or an exception its boundary missed: it may have
            # reached the platform, so it is handled as ambiguous.
            log.exception("post=%d channel=%s: unexpected error from the adapter", item.id,
                          item.channel)
            self._failed(item, attempt, Ambiguous(f"unexpected {type(exc).__name__}: {exc}"),
                         cfg)
            return
        now = self.now()
        note = "; ".join(result.notes) or None
        self._finish(item, Finish(attempt.id, self.worker, now, Outcome.OK,
                                  PostStatus.PUBLISHED, http_status=result.http_status,
                                  error=note, remote_id=result.remote_id,
                                  remote_url=result.remote_url))
        log.info("post=%d channel=%s attempt=%d outcome=ok url=%s remote=%s%s", item.id,
                 item.channel, attempt.number, item.link, result.remote_url or result.remote_id,
                 f" note={note}" if note else "",
                 extra={"post": item.id, "channel": item.channel, "outcome": "ok"})

    def _failed(self, item: OutboxItem, attempt: Attempt, exc: ChannelError,
                cfg: ChannelConfig) -> None:
        now = self.now()
        verdict = judge_error(exc, attempt=attempt.number, max_attempts=cfg.retry.max_attempts,
                              base=cfg.retry.base, cap=cfg.retry.cap, now=now, rand=self.rand)
        status, next_at = verdict.status, verdict.next_attempt_at
        if verdict.reconcile:
            if self.channels.delivery(item.channel) is DeliveryClass.REVIEW:
                status, next_at = PostStatus.NEEDS_REVIEW, None
            else:
                next_at = now + timedelta(seconds=RECONCILE_DELAY)
        if verdict.rate_limited_until is not None:
            self.store.set_rate_limited(item.channel, verdict.rate_limited_until)
        if verdict.pause_channel:
            self._pause(item.channel, f"{cfg.type} refused the credentials: {exc}", auth=True,
                        now=now)
        self._finish(item, Finish(attempt.id, self.worker, now, verdict.outcome, status,
                                  next_attempt_at=next_at, http_status=exc.http_status,
                                  error=str(exc)))
        level = logging.ERROR if status in (PostStatus.FAILED, PostStatus.NEEDS_REVIEW) else (
            logging.WARNING)
        log.log(level, "post=%d channel=%s attempt=%d outcome=%s status=%s url=%s%s error=%s",
                item.id, item.channel, attempt.number, verdict.outcome, status, item.link,
                f" next={next_at.isoformat(timespec='seconds')}" if next_at else "", exc,
                extra={"post": item.id, "channel": item.channel,
                       "outcome": str(verdict.outcome)})

    def _pause(self, channel: str, reason: str, *, auth: bool, now: datetime) -> None:
        self.store.set_paused(channel, paused=True, now=now, reason=reason, by="publisher",
                              auth_failed=auth)
        log.error("channel=%s paused: %s (run `publisher check`, then `publisher resume "
                  "--channel %s`)", channel, reason, channel, extra={"channel": channel})

    def _settle(self, item: OutboxItem, last: Attempt, channel: Channel, cfg: ChannelConfig,
                *, after_ambiguous: bool) -> bool:
        """Decide a post whose newest log row leaves its fate open.  Returns
        True when the post is settled for now, False to publish (again)."""
        now = self.now()
        if last.outcome is Outcome.NEEDS_REVIEW:
            self.store.set_post_status(item.id, PostStatus.NEEDS_REVIEW,
                                       expected=[PostStatus.PUBLISHING], worker=self.worker,
                                       now=now, error=last.error)
            return True
        delivery = channel.delivery
        if delivery is DeliveryClass.IDEMPOTENT:
            return False  # the same idempotency key makes the platform drop a copy
        if delivery is DeliveryClass.REVIEW:
            reason = ("ambiguous: the platform may or may not have the post; "
                      "check the channel and run `publisher queue resolve`")
            if self.store.set_post_status(item.id, PostStatus.NEEDS_REVIEW,
                                          expected=[PostStatus.PUBLISHING], worker=self.worker,
                                          now=now, error=reason):
                self.store.log_event(item.id, worker=self.worker, now=now,
                                     outcome=Outcome.NEEDS_REVIEW, error=reason)
                log.error("post=%d channel=%s outcome=needs_review url=%s", item.id,
                          item.channel, item.link,
                          extra={"post": item.id, "channel": item.channel})
            return True
        request = _request(item, attempt=item.attempts, after_ambiguous=True)
        try:
            found = channel.find(request)
        except ChannelError as exc:
            return self._lookup_failed(item, exc, cfg, now)
        except Exception as exc:
            log.exception("post=%d channel=%s: unexpected error while reconciling", item.id,
                          item.channel)
            return self._lookup_failed(item, ChannelError(f"{type(exc).__name__}: {exc}"), cfg,
                                       now)
        if found is not None:
            self.store.log_event(item.id, worker=self.worker, now=now,
                                 outcome=Outcome.RECONCILED, remote_id=found.remote_id,
                                 remote_url=found.remote_url)
            self.store.set_post_status(item.id, PostStatus.PUBLISHED,
                                       expected=[PostStatus.PUBLISHING], worker=self.worker,
                                       now=now, remote_id=found.remote_id,
                                       remote_url=found.remote_url)
            self.store.record_channel_result(item.channel, now=now, ok=True)
            log.info("post=%d channel=%s outcome=reconciled url=%s remote=%s", item.id,
                     item.channel, item.link, found.remote_url or found.remote_id,
                     extra={"post": item.id, "channel": item.channel})
            return True
        self.store.log_event(item.id, worker=self.worker, now=now, outcome=Outcome.NOT_FOUND,
                             error="not on the platform after an ambiguous attempt: retrying")
        log.info("post=%d channel=%s outcome=not_found: publishing again", item.id, item.channel,
                 extra={"post": item.id, "channel": item.channel})
        stale = is_stale(item.expires_at, now)
        if stale or item.attempts >= cfg.retry.max_attempts:
            reason = (self._stale_reason(item) if stale
                      else f"gave up after {item.attempts} attempts")
            self.store.set_post_status(item.id, PostStatus.FAILED,
                                       expected=[PostStatus.PUBLISHING], worker=self.worker,
                                       now=now, error=reason)
            self.store.log_event(item.id, worker=self.worker, now=now, outcome=Outcome.FAILED,
                                 error=reason)
            return True
        return False

    def _lookup_failed(self, item: OutboxItem, exc: ChannelError, cfg: ChannelConfig,
                       now: datetime) -> bool:
        """The reconcile look-up failed: keep the post ambiguous and look again later."""
        if isinstance(exc, RateLimited):
            self.store.set_rate_limited(item.channel, exc.until)
            next_at = exc.until
        else:
            if isinstance(exc, AuthFailed):
                self._pause(item.channel, f"{cfg.type} refused the credentials: {exc}",
                            auth=True, now=now)
            delay = backoff_delay(max(1, item.attempts), base=cfg.retry.base, cap=cfg.retry.cap,
                                  rand=self.rand)
            next_at = now + timedelta(seconds=max(RECONCILE_DELAY, delay))
        self.store.set_post_status(item.id, PostStatus.WAITING, expected=[PostStatus.PUBLISHING],
                                   worker=self.worker, now=now, error=f"reconcile: {exc}",
                                   next_attempt_at=next_at)
        log.warning("post=%d channel=%s: could not look for an ambiguous post (%s); "
                    "looking again at %s", item.id, item.channel, exc,
                    next_at.isoformat(timespec="seconds"),
                    extra={"post": item.id, "channel": item.channel})
        return True
