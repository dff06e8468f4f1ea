"""Working one claimed post: gather the facts, ask the lifecycle
(``publisher.services.lifecycle``), call the platform, and carry every
decision out in one place (``PostWorker.apply``, a ``match``).

The dispatcher (``dispatch.py``) decides *which* posts are worked and when;
this module decides nothing itself: every transition comes from the
lifecycle.  Rate limits: a ``RateLimited`` closes the channel's in-memory
gate the moment it leaves the adapter, before anything else, and the gate is
looked at immediately before every platform call, look-ups included.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from publisher.channels import REGISTRY, Channel
from publisher.config import Config
from publisher.exceptions import Ambiguous, ChannelError, ConfigError, RateLimited, StoreError
from publisher.services import lifecycle as lc
from publisher.services import observe
from publisher.services.channel_pool import ChannelPool
from publisher.services.rate_gate import RateGate
from publisher.store.api import Finish, StoreAPI
from publisher.types import (
    Attempt,
    DeliveryClass,
    OutboxItem,
    Outcome,
    PostStatus,
    PublishRequest,
    PublishResult,
)

log = logging.getLogger("publisher.dispatch")


@dataclass(frozen=True)
class Held:
    """A post in a worker's hands with the facts its decisions are made of."""

    item: OutboxItem
    post: lc.PostFacts
    channel: lc.ChannelFacts
    attempt: Attempt | None = None
    leased: bool = True  # False: expiry, the post is queued or waiting
    claimed: int = 0  # the claim's number (RateGate.claim_seq)


def _request(item: OutboxItem, *, attempt: int, after_ambiguous: bool,
             save_checkpoint: Callable[[str], None] | None = None) -> PublishRequest:
    return PublishRequest(
        post_id=item.id, idempotency_key=item.idempotency_key, text=item.text, link=item.link,
        image=item.image, title=item.title, summary=item.summary, attempt=attempt,
        after_ambiguous=after_ambiguous, checkpoint=item.checkpoint,
        save_checkpoint=save_checkpoint,
    )


class PostWorker:
    """Works posts for a dispatcher; shared by its threads (holds no post state)."""

    def __init__(self, *, config: Config, store: StoreAPI, channels: ChannelPool,
                 rate_gate: RateGate, now: Callable[[], datetime], rand: Callable[[], float],
                 worker: str, finish: Callable[[OutboxItem, Finish], None],
                 claims: threading.Lock):
        self.config = config
        self.store = store
        self.channels = channels
        self.rate_gate = rate_gate
        self.now = now
        self.rand = rand
        self.worker = worker
        self._finish = finish
        #: Held while a claim reads the gates: a pause is never half-way then.
        self._claims = claims

    def work(self, item: OutboxItem, attempt: Attempt | None, claimed: int, *,
             stopping: bool) -> None:
        try:
            now = self.now()
            if stopping:
                self._not_sent(Held(item, lc.PostFacts(item.id, item.status), lc.ChannelFacts(
                    DeliveryClass.REVIEW), attempt), now, "stopping before it was sent")
                return
            history = (lc.History.of(self.store.attempts(post_id=item.id, limit=1000))
                       if item.attempts else lc.History())
            held = Held(item, lc.PostFacts(item.id, item.status, item.attempts,
                                            item.expires_at, history,
                                            reshare=item.reshare > 0),
                         self.channel_facts(item.channel, now), attempt, claimed=claimed)
            self.apply(held, lc.on_claim(held.post, held.channel, now=now))
        except StoreError as exc:
            # The database is away: the post keeps its lease (below), one line.
            log.warning("post=%d channel=%s: left to its lease: %s", item.id, item.channel, exc)
        except Exception:
            # A bug, or the store failing: the post keeps its lease and, when it
            # expires, is reconciled like after a crash. Never a double send.
            log.exception("post=%d channel=%s: dispatch failed", item.id, item.channel,
                          extra={"post": item.id, "channel": item.channel})

    def channel_facts(self, name: str, now: datetime) -> lc.ChannelFacts:
        cfg = self.config.channels.get(name)
        if cfg is None:
            return lc.ChannelFacts(DeliveryClass.REVIEW, configured=False, type="?")
        kind = REGISTRY.get(cfg.type)
        return lc.ChannelFacts(
            self.channels.delivery(name), max_attempts=cfg.retry.max_attempts,
            retry_base=cfg.retry.base, retry_cap=cfg.retry.cap,
            key_lifetime=kind.key_lifetime if kind is not None else None,
            rate_limited_until=self.rate_gate.until(name, now), type=cfg.type)

    def _build(self, held: Held, now: datetime) -> Channel | None:
        try:
            return self.channels.get(held.item.channel)
        except ConfigError as exc:
            self._pause(held.item.channel, f"cannot build channel: {exc}", auth=True, now=now)
            self._not_sent(held, now, f"cannot build channel: {exc}")
            return None

    def _not_sent(self, held: Held, now: datetime, why: str,
                  until: datetime | None = None) -> None:
        """Give back a post that did not reach the platform; its attempt, if
        one was recorded, does not count."""
        if held.attempt is None:
            if until is None:  # back to the queue, as if never claimed
                self.store.release([held.item.id], worker=self.worker)
            else:
                self.store.set_post_status(held.item.id, PostStatus.WAITING,
                                           expected=[PostStatus.PUBLISHING],
                                           worker=self.worker, now=now, error=why,
                                           next_attempt_at=until)
            return
        self._finish(held.item, Finish(
            held.attempt.id, self.worker, now, Outcome.RETRYING,
            PostStatus.QUEUED if until is None else PostStatus.WAITING,
            next_attempt_at=until, error=f"not sent: {why}", counted=False))

    def _send(self, held: Held, after_ambiguous: bool) -> None:
        item, now = held.item, self.now()
        channel = self._build(held, now)
        if channel is None:
            return
        attempt = held.attempt or self.store.start_attempt(item.id, worker=self.worker, now=now)
        if attempt is None:
            log.warning("post=%d channel=%s: lease lost before publishing", item.id, item.channel)
            return
        held = replace(held, attempt=attempt)
        if self._held_back(held, now):  # right before the call
            return

        def save_checkpoint(value: str) -> None:
            if not self.store.set_checkpoint(item.id, value, worker=self.worker):
                raise Ambiguous("lease lost while publishing in steps")

        request = _request(item, attempt=attempt.number, after_ambiguous=after_ambiguous,
                           save_checkpoint=save_checkpoint)
        answer: PublishResult | ChannelError
        started = time.monotonic()
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
        observe.call_took(item.channel, time.monotonic() - started)
        self.apply(held, lc.on_outcome(answer, held.post, held.channel, attempt=attempt.number,
                                        now=self.now(), rand=self.rand))

    def _held_back(self, held: Held, now: datetime) -> bool:
        """The last look at the channel before a call: closed by a rate limit
        (the post waits for the reset) or paused since the post was claimed
        (it goes back to the queue); the attempt, if recorded, does not count."""
        channel = held.item.channel
        if self.rate_gate.paused_since(channel, held.claimed):
            self._not_sent(held, now, "its channel was paused")
            return True
        closed = lc.before_call(replace(held.channel, rate_limited_until=self.rate_gate.until(
            channel, self.now())), now=now)
        if closed is None:
            return False
        if held.attempt is None:
            self.apply(held, closed)
        else:
            self._not_sent(held, now, closed.reason, closed.until)
        return True

    def _look_up(self, held: Held, reason: str) -> None:
        item, now = held.item, self.now()
        if self._held_back(held, now):  # a look-up is a platform call too
            return
        channel = self._build(held, now)
        if channel is None:
            return
        log.info("post=%d channel=%s: looking for it on the platform (%s)", item.id,
                 item.channel, reason, extra={"post": item.id, "channel": item.channel})
        found: PublishResult | ChannelError | None
        started = time.monotonic()
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
        observe.call_took(item.channel, time.monotonic() - started)
        self.apply(held, lc.on_lookup(found, held.post, held.channel, now=self.now(),
                                       rand=self.rand))

    # -- carrying decisions out ------------------------------------------------------

    def apply(self, held: Held, decision: lc.Decision) -> int:
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
                return self.apply(held, then)
            case lc.Logged(row=row, then=then):
                self._log_row(held, row)
                return self.apply(held, then)
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

    def _settle(self, held: Held, status: PostStatus, outcome: Outcome | None,
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

    def _log_row(self, held: Held, row: lc.LogRow) -> None:
        self.store.log_event(held.item.id, worker=self.worker, now=self.now(),
                             outcome=row.outcome, error=row.error, remote_id=row.remote_id,
                             remote_url=row.remote_url)

    def _pause(self, channel: str, reason: str, *, auth: bool, now: datetime) -> None:
        with self._claims:  # posts claimed before it are held back, later claims see it
            self.rate_gate.pause(channel)
            self.store.set_paused(channel, paused=True, now=now, reason=reason,
                                  by="publisher", auth_failed=auth)
        log.error("channel=%s paused: %s (run `publisher check`, then `publisher resume "
                  "--channel %s`)", channel, reason, channel, extra={"channel": channel})
