"""The rate-limit gate: no request to a channel before the reset it announced.

Against the wire-level fake Mastodon (``tests/fakes/mastodon_server.py``),
which logs every request that arrives before the last reset it announced in
``early_requests``; and against a scripted channel for what a worker does with
a post it holds when the gate closes under it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import pytest

from publisher.channels import Channel, ChannelSpec, make_channel
from publisher.config import load_config
from publisher.exceptions import AuthFailed, RateLimited
from publisher.services.dispatch import ChannelPool, Dispatcher
from publisher.types import (
    DeliveryClass,
    NewPost,
    Outcome,
    PostStatus,
    PublishRequest,
    PublishResult,
)
from tests.fakes.channel import ScriptedChannel
from tests.fakes.clock import FakeClock
from tests.fakes.mastodon_server import FakeMastodon

T = TypeVar("T")

SCHEDULE = """
[[feeds]]
name = "site"
url = "https://news.example/feed/"

[channels.m]
type = "mastodon"
base_url = "{base}"
credentials = {{ access_token = "MASTODON_TOKEN" }}
options = {{ with_image = false }}
retry = {{ max_attempts = 40, base = 0.05, cap = 0.2 }}

[channels.s]
type = "jsonl"
concurrency = 1

[[routes]]
channels = ["m"]
"""


class QuickResets(FakeMastodon):
    """Mastodon sends its reset as an ISO 8601 time with fractions of a
    second: a 429 here announces one a few tenths of a second ahead, so
    thirty runs with many resets take seconds, not minutes."""

    def announce_reset(self, seconds: float | None = None) -> float:
        reset = time.time() + 0.3
        with self.lock:
            self.rate_limit_reset = reset
        return reset


class Recording:
    """The real Mastodon adapter, with the time each call began and the time
    each RateLimited left it (when the dispatcher learned of the reset)."""

    def __init__(self, inner: Channel):
        self.inner = inner
        self.name, self.delivery = inner.name, inner.delivery
        self.lock = threading.Lock()
        self.calls: list[float] = []
        self.limits: list[tuple[float, float]] = []  # (learned at, reset)

    def _call(self, method: Callable[[PublishRequest], T], request: PublishRequest) -> T:
        with self.lock:
            self.calls.append(time.time())
        try:
            return method(request)
        except RateLimited as exc:
            with self.lock:
                self.limits.append((time.time(), exc.until.timestamp()))
            raise

    def publish(self, request: PublishRequest) -> PublishResult:
        return self._call(self.inner.publish, request)

    def find(self, request: PublishRequest) -> PublishResult | None:
        return self._call(self.inner.find, request)

    def close(self) -> None:
        self.inner.close()


def _config(tmp_path: Path, base: str = "http://127.0.0.1:9"):
    path = tmp_path / "site.toml"
    path.write_text(SCHEDULE.format(base=base))
    return load_config(path)


def _add(store, channel: str, n: int, now: datetime) -> list[int]:
    return store.add_posts([NewPost(channel=channel, text=f"Story {i} https://news.example/{i}",
                                    link=f"https://news.example/{i}",
                                    expires_at=now + timedelta(hours=1)) for i in range(n)],
                           article_id=None, now=now)


#: Five seeds in the default tier, thirty with the slow one (``pytest -m slow``).
SEEDS = [*range(5), *(pytest.param(seed, marks=pytest.mark.slow) for seed in range(5, 30))]


@pytest.mark.parametrize("seed", SEEDS)
def test_no_request_reaches_the_platform_before_an_announced_reset(sqlite_store, tmp_path,
                                                                    seed):
    """16 workers, the channel's default concurrency (Mastodon: 8), 30 % of the posts
    answered 503 or 429 by the fake Mastodon: every post goes out once, and
    no call to the platform begins after a 429 was answered and before the
    reset it announced.  (Requests that were already on their way when the
    platform sent the 429 reach it before the reset too; they were sent
    before anyone could know: ``fake.early_requests`` counts those.)"""
    recorded: list[Recording] = []

    def build(spec: ChannelSpec) -> Channel:
        recorded.append(Recording(make_channel(spec)))
        return recorded[-1]

    with QuickResets(access_token="tok") as fake:
        fake.fail_next("429")  # at least one reset per run
        fake.fault_rate(0.3, ["503", "429"], seed=seed)
        config = _config(tmp_path, fake.base_url)
        pool = ChannelPool(config, {"MASTODON_TOKEN": "tok"}, factory=build)
        d = Dispatcher(config=config, store=sqlite_store, channels=pool,
                       now=lambda: datetime.now(UTC), worker="w1", rand=lambda: 0.5)
        ids = _add(sqlite_store, "m", 16, datetime.now(UTC))
        try:
            for _ in range(200):
                idle = d.run_until_idle()
                if not idle.waiting:
                    break
                assert idle.next_at is not None, "a post waits with no time to wait for"
                # Wait for the time the dispatcher names, then run again (cron style).
                time.sleep(max(0.0, (idle.next_at - datetime.now(UTC)).total_seconds()))
        finally:
            d.stop(grace=10)
            pool.close()
        fake.settle()
    [channel] = recorded
    assert channel.limits, "the run never met a rate limit"
    early = [(started, learned, reset) for started in channel.calls
             for learned, reset in channel.limits if learned < started < reset]
    assert early == [], f"{len(early)} calls began while a reset was known and ahead"
    assert {sqlite_store.get_post(i).status for i in ids} == {PostStatus.PUBLISHED}
    assert len({s.idempotency_key for s in fake.statuses}) == len(fake.statuses) == 16
    assert len(fake.requests_to("POST", "/api/v1/statuses")) == len(channel.calls)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def _scripted(store, tmp_path, clock, channel: ScriptedChannel) -> Dispatcher:
    config = _config(tmp_path)
    pool = ChannelPool(config, {}, overrides={channel.name: channel})
    return Dispatcher(config=config, store=store, channels=pool, now=clock, worker="w1",
                      rand=lambda: 1.0)


def test_a_post_claimed_before_the_gate_closed_is_not_sent_nor_counted(store, tmp_path,
                                                                        clock):
    """Channel s works one post at a time; both posts are claimed (and their
    attempts recorded) together.  The first meets a 429: the second, already
    in the worker's hands, waits for the reset without a call, and its
    attempt does not count."""
    until = clock() + timedelta(seconds=300)
    ch = ScriptedChannel("s", clock=clock, delivery=DeliveryClass.IDEMPOTENT,
                         script=[RateLimited("429", until=until)])
    d = _scripted(store, tmp_path, clock, ch)
    first, second = _add(store, "s", 2, clock())
    d.run_until_idle()
    assert len(ch.publish_calls()) == 1
    held = store.get_post(second)
    assert (held.status, held.next_attempt_at, held.attempts) == (
        PostStatus.WAITING, until, 0)
    assert store.get_post(first).status is PostStatus.WAITING
    assert store.channel_states()["s"].rate_limited_until == until
    clock.advance(300)
    d.run_until_idle()
    assert {store.get_post(i).status for i in (first, second)} == {PostStatus.PUBLISHED}
    assert store.get_post(second).attempts == 1  # the one call that went out
    assert [a.outcome for a in reversed(store.attempts(post_id=second))] == [
        Outcome.RETRYING, Outcome.OK]


def test_a_look_up_waits_for_the_reset_too(store, tmp_path, clock):
    """A post in doubt on a reconcilable channel is looked up before it is
    sent again; a look-up is a platform call, so a gate that another post of
    the channel closed holds it until the reset."""
    until = clock() + timedelta(seconds=120)
    ch = ScriptedChannel("s", clock=clock, script=["reset_after", RateLimited("429",
                                                                             until=until)])
    d = _scripted(store, tmp_path, clock, ch)
    [doubt] = _add(store, "s", 1, clock())
    d.run_until_idle()  # stored, but the answer was lost: looked up in 2 s
    clock.advance(1)
    [fresh] = _add(store, "s", 1, clock())  # due before the look-up: worked first
    clock.advance(4)
    d.run_until_idle()
    assert [c.kind for c in ch.calls] == ["publish", "publish"]  # no look-up while closed
    assert (store.get_post(fresh).next_attempt_at, store.get_post(doubt).next_attempt_at) == (
        until, until)
    clock.advance(120)
    d.run_until_idle()
    assert [c.kind for c in ch.calls] == ["publish", "publish", "find", "publish"]
    assert {store.get_post(i).status for i in (doubt, fresh)} == {PostStatus.PUBLISHED}
    assert len(ch.posts) == 2


def test_a_post_claimed_before_its_channel_was_paused_goes_back_unsent(store, tmp_path,
                                                                        clock):
    """The first post meets refused credentials and pauses the channel; the
    second, claimed with it, is not sent: back to the queue, uncounted, for
    when an editor resumes the channel."""
    ch = ScriptedChannel("s", clock=clock, delivery=DeliveryClass.IDEMPOTENT,
                         script=[AuthFailed("token revoked", http_status=401)])
    d = _scripted(store, tmp_path, clock, ch)
    first, second = _add(store, "s", 2, clock())
    d.run_until_idle()
    assert len(ch.publish_calls()) == 1
    assert store.channel_states()["s"].paused
    assert store.get_post(first).status is PostStatus.FAILED
    held = store.get_post(second)
    assert (held.status, held.attempts) == (PostStatus.QUEUED, 0)
    store.set_paused("s", paused=False, now=clock(), by="editor")
    d.run_until_idle()
    assert store.get_post(second).status is PostStatus.PUBLISHED
