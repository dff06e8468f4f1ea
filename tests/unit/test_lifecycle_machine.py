"""The lifecycle under random sequences of events (a hypothesis state machine).

A model of the outbox, two workers and a platform carries out the
lifecycle's decisions exactly as the dispatcher and the desk do; the events
are claims by either worker, every kind of platform answer (OK, transient,
rate limited, permanent, refused credentials, a blocked account, a timeout
that did or did not deliver), worker crashes and lease take-overs, clock
jumps (minutes to a day), editor actions and stale checks.  Invariants:

- never a ``Publish`` after a confirmed OK or a reconciled find;
- never two sends of one post in flight;
- a post waiting on a rate limit never gets ``Publish`` before the reset,
  and nothing is sent to the channel before its gate opens;
- no post is on the platform twice (per delivery class: Bluesky's fixed
  record key, Mastodon's one-hour Idempotency-Key, look-ups on X, an editor
  on Telegram), a published post is on the platform, a failed one is not;
- every post is in a terminal state or waits with a stated reason.

Pure: no database, no clock, no thread.  Calls taking longer than a lease
are out of the model (the channel timeout is far below the lease).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from publisher.exceptions import (
    AccountBlocked,
    Ambiguous,
    AuthFailed,
    ChannelError,
    Permanent,
    RateLimited,
    Transient,
)
from publisher.services import lifecycle
from publisher.services.lifecycle import (
    Change,
    ChannelFacts,
    Decision,
    Fail,
    History,
    Logged,
    Lookup,
    MarkPublished,
    PauseChannel,
    PostFacts,
    Publish,
    Refuse,
    Release,
    Review,
    Wait,
)
from publisher.types import (
    Attempt,
    DeliveryClass,
    OutboxItem,
    Outcome,
    PostStatus,
    Priority,
    PublishResult,
)

START = datetime(2026, 11, 26, 12, tzinfo=UTC)
LEASE = timedelta(minutes=5)
MAX_AGE = timedelta(hours=3)
KEY_LIFETIME = 3600.0
WORKERS = ("a", "b")

CHANNELS = {
    "bluesky": ChannelFacts(DeliveryClass.IDEMPOTENT, max_attempts=3, retry_base=30,
                            retry_cap=600, type="bluesky"),
    "mastodon": ChannelFacts(DeliveryClass.IDEMPOTENT, max_attempts=3, retry_base=30,
                             retry_cap=600, key_lifetime=KEY_LIFETIME, type="mastodon"),
    "x": ChannelFacts(DeliveryClass.RECONCILABLE, max_attempts=3, retry_base=30,
                      retry_cap=600, type="x"),
    "telegram": ChannelFacts(DeliveryClass.REVIEW, max_attempts=3, retry_base=30,
                             retry_cap=600, type="telegram"),
}
ANSWERS = ("ok", "transient", "rate_limited", "permanent", "auth", "blocked",
           "timeout_delivered", "timeout_lost")
WAITING_STATES = (PostStatus.QUEUED, PostStatus.WAITING)


@dataclass
class Post:
    id: int
    status: PostStatus = PostStatus.QUEUED
    attempts: int = 0
    rows: list[Attempt] = field(default_factory=list)  # oldest first
    not_before: datetime = START
    next_attempt_at: datetime | None = None
    expires_at: datetime = START + MAX_AGE
    lease: tuple[str, datetime] | None = None
    last_error: str | None = None
    rate_until: datetime | None = None  # waiting on a rate limit until then

    @property
    def due(self) -> datetime:
        return self.next_attempt_at or self.not_before

    def facts(self, *, before_last: bool = False) -> PostFacts:
        """The post's facts; ``before_last``: the log before the attempt in hand."""
        rows = self.rows[:-1] if before_last else self.rows
        return PostFacts(self.id, self.status, self.attempts, self.expires_at,
                         History.of(list(reversed(rows))))

    def item(self) -> OutboxItem:
        return OutboxItem(id=self.id, article_id=None, channel="c", status=self.status,
                          text="Hello", link=None, image=None, priority=Priority.NORMAL,
                          idempotency_key=f"key-{self.id}", attempts=self.attempts,
                          created_at=START, not_before=self.not_before,
                          next_attempt_at=self.next_attempt_at, expires_at=self.expires_at,
                          last_error=self.last_error)


@dataclass
class Platform:
    """What the platform holds, and how it drops a copy (per delivery class)."""

    kind: str
    copies: dict[int, int] = field(default_factory=dict)
    keys: dict[int, datetime] = field(default_factory=dict)  # Mastodon: key -> stored at

    def receive(self, post_id: int, now: datetime) -> None:
        if self.kind == "bluesky" and self.copies.get(post_id):
            return  # the record key is fixed per post: the same record
        if self.kind == "mastodon":
            stored = self.keys.get(post_id)
            if stored is not None and (now - stored).total_seconds() < KEY_LIFETIME:
                return  # the Idempotency-Key is still known: the copy is dropped
            self.keys[post_id] = now
        self.copies[post_id] = self.copies.get(post_id, 0) + 1


class LifecycleMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.now = START
        self.posts: dict[int, Post] = {}
        self.pending: dict[str, int] = {}  # worker -> post whose send is in flight
        self.gate: datetime | None = None
        self.paused = False
        self.kind = "x"
        self.platform = Platform("x")
        self.row_ids = 0

    @initialize(kind=st.sampled_from(sorted(CHANNELS)), count=st.integers(1, 3),
                approval=st.booleans())
    def setup(self, kind: str, count: int, approval: bool) -> None:
        self.kind = kind
        self.platform = Platform(kind)
        first = (PostStatus.QUEUED, PostStatus.DRAFT)[approval]  # drafts wait for approval
        self.posts = {i: Post(i, first) for i in range(1, count + 1)}

    # -- the facts and carrying out decisions, as the dispatcher does ---------------------

    def channel(self) -> ChannelFacts:
        from dataclasses import replace

        return replace(CHANNELS[self.kind], rate_limited_until=self.gate)

    def _row(self, post: Post, outcome: Outcome, error: str | None = None) -> Attempt:
        self.row_ids += 1
        attempt = Attempt(id=self.row_ids, post_id=post.id, channel="c",
                          number=post.attempts, worker="w", started_at=self.now,
                          outcome=outcome, error=error)
        post.rows.append(attempt)
        return attempt

    def _close(self, post: Post, outcome: Outcome | None, error: str | None,
               in_hand: bool) -> None:
        """The attempt in hand gets its outcome; else a row of its own."""
        if outcome is None:
            return
        if in_hand:
            started = post.rows[-1]
            post.rows[-1] = Attempt(id=started.id, post_id=post.id, channel="c",
                                    number=started.number, worker=started.worker,
                                    started_at=started.started_at, outcome=outcome,
                                    error=error)
        else:
            self._row(post, outcome, error)

    def apply(self, post: Post, decision: Decision, worker: str, *,
              in_hand: bool = False) -> None:
        match decision:
            case Publish():
                self.send(post, worker)
                return
            case Lookup():
                self.look_up(post, worker)
                return
            case MarkPublished(outcome=outcome):
                self._close(post, outcome, None, in_hand)
                post.status = PostStatus.PUBLISHED
            case Wait(until, reason, outcome, gate_until):
                if gate_until is not None:
                    self.gate = max(self.gate or gate_until, gate_until)
                self._close(post, outcome, reason, in_hand)
                post.status, post.next_attempt_at, post.last_error = (
                    PostStatus.WAITING, until, reason)
                post.rate_until = until if outcome is Outcome.RATE_LIMITED else None
            case Review(reason, outcome):
                self._close(post, outcome, reason, in_hand)
                post.status, post.last_error = PostStatus.NEEDS_REVIEW, reason
            case Fail(reason, outcome):
                self._close(post, outcome, reason, in_hand)
                post.status, post.last_error = PostStatus.FAILED, reason
            case Release():
                post.status = PostStatus.QUEUED
            case PauseChannel(then=then):
                self.paused = True
                self.apply(post, then, worker, in_hand=in_hand)
                return
            case Logged(row, then):
                self._row(post, row.outcome, row.error)
                self.apply(post, then, worker, in_hand=in_hand)
                return
        post.lease = None

    def send(self, post: Post, worker: str) -> None:
        history = post.facts().history
        assert history.confirmed is None, f"post {post.id}: Publish after a confirmed send"
        assert post.id not in self.pending.values(), f"post {post.id}: two sends in flight"
        assert self.gate is None or self.now >= self.gate, "sent before the rate-limit reset"
        assert post.rate_until is None or self.now >= post.rate_until, (
            f"post {post.id}: sent before the reset it waited for")
        assert not self.paused, "sent on a paused channel"
        post.attempts += 1
        self._row(post, Outcome.STARTED)
        self.pending[worker] = post.id

    def look_up(self, post: Post, worker: str) -> None:
        found = PublishResult(f"r{post.id}") if self.platform.copies.get(post.id) else None
        decision = lifecycle.on_lookup(found, post.facts(), self.channel(), now=self.now,
                                       rand=lambda: 0.5)
        self.apply(post, decision, worker)

    # -- events -------------------------------------------------------------------------

    def _claimable(self) -> list[Post]:
        return [p for p in self.posts.values()
                if p.status in WAITING_STATES and p.lease is None and p.due <= self.now]

    @precondition(lambda self: not self.paused and len(self.pending) < len(WORKERS)
                  and self._claimable())
    @rule(which=st.integers(0, 2))
    def claim(self, which: int) -> None:
        # The claim reads the gate from the database, which may lag the
        # in-memory one: the model leaves the gate to the lifecycle alone.
        worker = next(w for w in WORKERS if w not in self.pending)
        due = self._claimable()
        post = due[which % len(due)]
        post.status, post.lease = PostStatus.PUBLISHING, (worker, self.now + LEASE)
        self.apply(post, lifecycle.on_claim(post.facts(), self.channel(), now=self.now), worker)

    @precondition(lambda self: self.pending)
    @rule(answer=st.sampled_from(ANSWERS), wait=st.sampled_from([1, 60, 900, 4000]))
    def answer(self, answer: str, wait: int) -> None:
        worker = next(iter(self.pending))
        post_id = self.pending.pop(worker)
        post = self.posts[post_id]
        result: PublishResult | ChannelError
        if answer in ("ok", "timeout_delivered"):
            self.platform.receive(post.id, self.now)
        if answer == "ok":
            result = PublishResult(f"r{post.id}")
        elif answer == "transient":
            result = Transient("503")
        elif answer == "rate_limited":
            result = RateLimited("429", until=self.now + timedelta(seconds=wait))
        elif answer == "permanent":
            result = Permanent("rejected")
        elif answer == "auth":
            result = AuthFailed("token revoked")
        elif answer == "blocked":
            result = AccountBlocked("credits depleted: add credits, then resume")
        else:
            result = Ambiguous("timeout")
        decision = lifecycle.on_outcome(result, post.facts(before_last=True), self.channel(),
                                        attempt=post.attempts, now=self.now, rand=lambda: 0.5)
        self.apply(post, decision, worker, in_hand=True)

    @precondition(lambda self: self.pending)
    @rule(delivered=st.booleans())
    def crash(self, delivered: bool) -> None:
        """A worker dies mid-call: the request did or did not reach the platform."""
        post_id = self.pending.pop(next(iter(self.pending)))
        if delivered:
            self.platform.receive(post_id, self.now)

    @precondition(lambda self: not self.pending)  # calls end well within a lease
    @rule(seconds=st.sampled_from([1, 2, 30, 301, 1800, 3000, 3700, 3700, 4 * 3600, 86400]))
    def tick(self, seconds: int) -> None:
        self.now += timedelta(seconds=seconds)

    @precondition(lambda self: not self.paused and len(self.pending) < len(WORKERS) and any(
        p.lease is not None and p.lease[1] <= self.now for p in self.posts.values()))
    @rule()
    def take_over(self) -> None:
        worker = next(w for w in WORKERS if w not in self.pending)
        for post in self.posts.values():
            if post.lease is None or post.lease[1] > self.now:
                continue
            assert post.id not in self.pending.values()  # its worker died
            row = lifecycle.on_take_over(post.rows[-1].outcome if post.rows else None)
            if row is not None:
                self._close(post, row.outcome, row.error, in_hand=True)
            post.lease = (worker, self.now + LEASE)
            self.apply(post, lifecycle.on_claim(post.facts(), self.channel(), now=self.now),
                       worker)
            return

    @rule()
    def expire(self) -> None:
        for post in self.posts.values():
            if post.lease is None and post.status in (*WAITING_STATES, PostStatus.DRAFT):
                decision = lifecycle.on_expiry(post.facts(), opens_at=None, now=self.now)
                if decision is not None:
                    self.apply(post, decision, "expiry")

    @precondition(lambda self: self.paused)
    @rule()
    def resume(self) -> None:
        self.paused = False

    @rule(which=st.integers(1, 3), action=st.sampled_from(
        ["cancel", "retry", "resolve", "approve", "reschedule"]))
    def editor(self, which: int, action: str) -> None:
        post = self.posts.get(which)
        if post is None or post.lease is not None:
            return  # the store's compare-and-set refuses a leased post
        item = post.item()
        rules = lifecycle.ChannelRules("c", max_age=MAX_AGE.total_seconds())
        on_platform = bool(self.platform.copies.get(post.id))
        decision: Change | Refuse
        if action == "cancel":
            decision = lifecycle.cancel(item)
        elif action == "approve":
            decision = lifecycle.approve(item)
        elif action == "reschedule":
            decision = lifecycle.edit(item, rules, at=self.now + timedelta(minutes=10))
        elif action == "retry":
            if on_platform:  # an honest editor retries only what is not out
                return
            decision = lifecycle.retry(item, rules, by="ed", now=self.now)
        else:  # the editor looks at the channel and says what is there
            decision = lifecycle.resolve(item, rules, by="ed", now=self.now,
                                         published_url="https://t.me/c/1" if on_platform
                                         else None)
        if isinstance(decision, Refuse):
            return
        if post.status not in decision.expected:
            return
        if decision.log_row is not None:
            self._row(post, decision.log_row.outcome, decision.log_row.error)
        for name, value in decision.fields.items():
            if name in ("status", "attempts", "not_before", "next_attempt_at", "expires_at",
                        "last_error"):
                setattr(post, name, value)
        post.rate_until = None if post.status is not PostStatus.WAITING else post.rate_until

    # -- invariants ----------------------------------------------------------------------

    @invariant()
    def never_twice_on_the_platform(self) -> None:
        for post_id, copies in self.platform.copies.items():
            assert copies <= 1, f"post {post_id} is on {self.kind} {copies} times"

    @invariant()
    def states_tell_the_truth(self) -> None:
        for post in self.posts.values():
            on_platform = bool(self.platform.copies.get(post.id))
            if post.status is PostStatus.PUBLISHED:
                assert on_platform, f"post {post.id} marked published but not on the platform"
            if post.status is PostStatus.FAILED:
                assert not on_platform, f"post {post.id} failed but went out"

    @invariant()
    def every_post_is_final_or_waits_with_a_reason(self) -> None:
        for post in self.posts.values():
            if post.lease is not None:
                assert post.status is PostStatus.PUBLISHING
                continue
            assert post.status is not PostStatus.PUBLISHING, f"post {post.id} stuck publishing"
            if post.status in (PostStatus.WAITING, PostStatus.NEEDS_REVIEW):
                assert post.last_error, f"post {post.id} is {post.status} without a reason"


LifecycleMachine.TestCase.settings = settings(max_examples=300, stateful_step_count=40,
                                              deadline=None)
TestLifecycle = LifecycleMachine.TestCase
