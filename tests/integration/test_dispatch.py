"""The dispatcher against the real store (SQLite and PostgreSQL) and a
scripted platform, under an injected clock."""

from __future__ import annotations

import itertools
from datetime import timedelta
from pathlib import Path

import pytest

from publisher.config import load_config
from publisher.exceptions import AccountBlocked, AuthFailed, Permanent, RateLimited, Transient
from publisher.services.dispatch import ChannelPool, Dispatcher
from publisher.store.api import Finish
from publisher.types import DeliveryClass, NewPost, Outcome, PostStatus, PublishRequest
from tests.fakes.channel import ScriptedChannel
from tests.fakes.clock import FakeClock

SCHEDULE = """
[[feeds]]
name = "site"
url = "https://news.example/feed/"

[channels.a]
type = "jsonl"
retry = { max_attempts = 3, base = "10s", cap = "60s" }

[channels.b]
type = "jsonl"
retry = { max_attempts = 3, base = "10s", cap = "60s" }

[channels.c]
type = "jsonl"
concurrency = 1

[channels.d]
type = "jsonl"

[[routes]]
channels = ["a", "b", "c", "d"]
"""


@pytest.fixture
def config(tmp_path: Path):
    path = tmp_path / "site.toml"
    path.write_text(SCHEDULE)
    return load_config(path)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make(store, config, clock, channels, *, worker="w1", lease=300.0) -> Dispatcher:
    pool = ChannelPool(config, {}, overrides={c.name: c for c in channels})
    return Dispatcher(config=config, store=store, channels=pool, now=clock, worker=worker,
                      max_workers=8, lease_seconds=lease, rand=lambda: 1.0)


def add(store, clock, channel="a", text="Hello", link="https://news.example/story",
        expires_in: float | None = 3600):
    expires = clock() + timedelta(seconds=expires_in) if expires_in is not None else None
    [post_id] = store.add_posts([NewPost(channel=channel, text=text, link=link,
                                         expires_at=expires)], article_id=None, now=clock())
    return post_id


def outcomes(store, post_id):
    return [a.outcome for a in reversed(store.attempts(post_id=post_id))]


def test_publishes_and_logs(store, config, clock):
    ch = ScriptedChannel("a", clock=clock)
    d = make(store, config, clock, [ch])
    post_id = add(store, clock)
    d.run_until_idle()
    post = store.get_post(post_id)
    assert post.status is PostStatus.PUBLISHED
    assert post.remote_url == f"https://a.example/{post_id}"
    assert outcomes(store, post_id) == [Outcome.OK]
    assert ch.count(post_id) == 1


def test_transient_retries_with_backoff_under_the_clock(store, config, clock):
    ch = ScriptedChannel("a", clock=clock, script=[Transient("503"), "ok"])
    d = make(store, config, clock, [ch])
    post_id = add(store, clock)
    d.run_until_idle()
    post = store.get_post(post_id)
    assert post.status is PostStatus.WAITING
    # full jitter with rand=1.0: base * 2**0 = 10 s
    assert post.next_attempt_at == clock() + timedelta(seconds=10)
    clock.advance(9)
    d.run_until_idle()
    assert len(ch.publish_calls()) == 1  # not due yet
    clock.advance(1)
    d.run_until_idle()
    assert store.get_post(post_id).status is PostStatus.PUBLISHED
    assert outcomes(store, post_id) == [Outcome.RETRYING, Outcome.OK]


def test_attempts_used_up_fail_the_post(store, config, clock):
    ch = ScriptedChannel("a", clock=clock, script=[Transient("503")] * 5)
    d = make(store, config, clock, [ch])
    post_id = add(store, clock)
    for _ in range(5):
        d.run_until_idle()
        clock.advance(120)
    post = store.get_post(post_id)
    assert post.status is PostStatus.FAILED
    assert len(ch.publish_calls()) == 3  # max_attempts
    assert outcomes(store, post_id) == [Outcome.RETRYING, Outcome.RETRYING, Outcome.FAILED]


def test_rate_limit_holds_the_channel_while_others_go(store, config, clock):
    until = clock() + timedelta(seconds=300)
    a = ScriptedChannel("a", clock=clock, script=[RateLimited("429", until=until)])
    b = ScriptedChannel("b", clock=clock)
    d = make(store, config, clock, [a, b])
    first = add(store, clock, "a", text="one")
    d.run_until_idle()
    second = add(store, clock, "a", text="two", link="https://news.example/2")
    other = add(store, clock, "b")
    clock.advance(299)
    d.run_until_idle()
    assert store.get_post(other).status is PostStatus.PUBLISHED
    assert [c.at for c in a.publish_calls()] == [until - timedelta(seconds=300)]
    assert store.channel_states()["a"].rate_limited_until == until
    clock.advance(1)
    d.run_until_idle()
    assert store.get_post(first).status is PostStatus.PUBLISHED
    assert store.get_post(second).status is PostStatus.PUBLISHED
    assert all(c.at >= until for c in a.publish_calls()[1:])


def test_permanent_fails_with_the_platform_message(store, config, clock):
    ch = ScriptedChannel("a", clock=clock, script=[Permanent("Text is too long", http_status=400)])
    d = make(store, config, clock, [ch])
    post_id = add(store, clock)
    d.run_until_idle()
    post = store.get_post(post_id)
    assert post.status is PostStatus.FAILED
    assert post.last_error == "Text is too long"
    assert store.attempts(post_id=post_id)[0].http_status == 400


def test_auth_failed_pauses_the_channel(store, config, clock):
    ch = ScriptedChannel("a", clock=clock, script=[AuthFailed("token revoked", http_status=401)])
    d = make(store, config, clock, [ch])
    first = add(store, clock)
    d.run_until_idle()
    second = add(store, clock, text="next", link="https://news.example/next")
    d.run_until_idle()
    assert store.get_post(first).status is PostStatus.FAILED
    state = store.channel_states()["a"]
    assert state.paused and state.auth_failed
    assert store.get_post(second).status is PostStatus.QUEUED  # held, not hammered
    assert len(ch.publish_calls()) == 1


@pytest.mark.parametrize("fault", ["reset_after", "reset_before"])
def test_ambiguous_on_reconcilable_channel_ends_published_once(store, config, clock, fault):
    ch = ScriptedChannel("a", clock=clock, script=[fault])
    d = make(store, config, clock, [ch])
    post_id = add(store, clock)
    d.run_until_idle()
    assert store.get_post(post_id).status is PostStatus.WAITING
    clock.advance(5)
    d.run_until_idle()
    assert store.get_post(post_id).status is PostStatus.PUBLISHED
    assert ch.count(post_id) == 1
    expected = ([Outcome.AMBIGUOUS, Outcome.RECONCILED] if fault == "reset_after"
                else [Outcome.AMBIGUOUS, Outcome.NOT_FOUND, Outcome.OK])
    assert outcomes(store, post_id) == expected


def test_ambiguous_on_idempotent_channel_retries_with_the_same_key(store, config, clock):
    ch = ScriptedChannel("a", delivery=DeliveryClass.IDEMPOTENT, clock=clock,
                         script=["reset_after"])
    d = make(store, config, clock, [ch])
    post_id = add(store, clock)
    d.run_until_idle()
    clock.advance(5)
    d.run_until_idle()
    assert store.get_post(post_id).status is PostStatus.PUBLISHED
    keys = {c.key for c in ch.publish_calls()}
    assert len(ch.publish_calls()) == 2 and len(keys) == 1
    assert ch.count(post_id) == 1


def test_ambiguous_on_review_channel_needs_review(store, config, clock):
    ch = ScriptedChannel("a", delivery=DeliveryClass.REVIEW, clock=clock, script=["reset_after"])
    d = make(store, config, clock, [ch])
    post_id = add(store, clock)
    d.run_until_idle()
    clock.advance(60)
    d.run_until_idle()
    assert store.get_post(post_id).status is PostStatus.NEEDS_REVIEW
    assert len(ch.publish_calls()) == 1


def test_expired_lease_with_started_attempt_is_reconciled(store, config, clock):
    ch = ScriptedChannel("a", clock=clock)
    post_id = add(store, clock)
    # worker w0 claims, records the attempt as started, stores the post on the
    # platform, and dies before recording the answer.
    [item] = store.claim_due(now=clock(), worker="w0", lease_seconds=60, limit=10,
                             channels=["a"])
    store.start_attempt(item.id, worker="w0", now=clock())
    from publisher.types import PublishRequest

    ch.posts.append(PublishRequest(post_id=item.id, idempotency_key=item.idempotency_key,
                                   text=item.text, link=item.link))
    d = make(store, config, clock, [ch], worker="w1", lease=60)
    assert d.reap() == 0  # not expired yet
    clock.advance(61)
    assert d.reap() == 1
    d.wait()
    post = store.get_post(post_id)
    assert post.status is PostStatus.PUBLISHED
    assert ch.count(post_id) == 1 and ch.publish_calls() == []
    assert outcomes(store, post_id) == [Outcome.AMBIGUOUS, Outcome.RECONCILED]


def test_a_late_answer_after_a_take_over_is_not_sent_again(store, config, clock):
    """w0's call went out and the platform answered OK, but w0 recorded the
    answer only after its lease had passed to w1 (a slow commit under load):
    w1 must not send the post again (seen in the several-daemons test)."""
    ch = ScriptedChannel("a", clock=clock)
    post_id = add(store, clock)
    [item] = store.claim_due(now=clock(), worker="w0", lease_seconds=60, limit=10,
                             channels=["a"])
    attempt = store.start_attempt(item.id, worker="w0", now=clock())
    result = ch.publish(PublishRequest(
        post_id=item.id, idempotency_key=item.idempotency_key, text=item.text,
        link=item.link))
    clock.advance(61)
    d = make(store, config, clock, [ch], worker="w1", lease=60)
    [taken] = store.take_over_expired(now=clock(), worker="w1", lease_seconds=60)
    store.finish_attempts([Finish(attempt.id, "w0", clock(), Outcome.OK, PostStatus.PUBLISHED,
                                  remote_id=result.remote_id, remote_url=result.remote_url)])
    d._submit(taken.post)  # what reap() does with it
    d.wait()
    post = store.get_post(post_id)
    assert (post.status, post.remote_id) == (PostStatus.PUBLISHED, result.remote_id)
    assert ch.count(post_id) == 1 and len(ch.publish_calls()) == 1


def test_a_post_whose_log_says_published_is_not_sent_again(store, config, clock):
    """Whatever left a post in publishing with an OK row in its log, the row
    wins: the post is marked published with that row's remote id."""
    ch = ScriptedChannel("a", clock=clock)
    post_id = add(store, clock)
    [item] = store.claim_due(now=clock(), worker="w0", lease_seconds=60, limit=10,
                             channels=["a"])
    store.start_attempt(item.id, worker="w0", now=clock())
    clock.advance(61)
    [taken] = store.take_over_expired(now=clock(), worker="w1", lease_seconds=60)
    store.log_event(post_id, worker="w0", now=clock(), outcome=Outcome.OK, remote_id="a-77",
                    remote_url="https://a.example/77")
    d = make(store, config, clock, [ch], worker="w1", lease=60)
    d._submit(taken.post)
    d.wait()
    post = store.get_post(post_id)
    assert (post.status, post.remote_id, post.remote_url) == (
        PostStatus.PUBLISHED, "a-77", "https://a.example/77")
    assert ch.calls == []


def test_stale_posts_fail_instead_of_going_out_late(store, config, clock):
    ch = ScriptedChannel("a", clock=clock)
    d = make(store, config, clock, [ch])
    post_id = add(store, clock, expires_in=60)
    clock.advance(61)
    d.run_until_idle()
    post = store.get_post(post_id)
    assert post.status is PostStatus.FAILED and post.last_error.startswith("stale")
    assert ch.publish_calls() == []


def test_stale_posts_on_a_paused_channel_fail_as_stale(store, config, clock):
    ch = ScriptedChannel("a", clock=clock)
    d = make(store, config, clock, [ch])
    store.set_paused("a", paused=True, now=clock(), reason="hacked account", by="ops")
    post_id = add(store, clock, expires_in=60)
    d.run_until_idle()
    assert store.get_post(post_id).status is PostStatus.QUEUED
    clock.advance(61)
    assert d.expire_stale() == 1
    assert store.get_post(post_id).status is PostStatus.FAILED


def test_one_article_fans_out_concurrently(store, config, clock):
    channels = [ScriptedChannel(n, clock=clock, delay=0.3) for n in "abcd"]
    d = make(store, config, clock, channels)
    ids = [add(store, clock, n) for n in "abcd"]
    d.run_until_idle()
    assert all(store.get_post(i).status is PostStatus.PUBLISHED for i in ids)
    calls = [c for ch in channels for c in ch.publish_calls()]
    # every call started before any other ended: they overlapped
    assert max(c.started for c in calls) < min(c.ended for c in calls)


class TwoStepChannel(ScriptedChannel):
    """Publishes in two steps, saving the first step's id like Threads does."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.seen_checkpoints: list[str | None] = []

    def publish(self, request):
        self.seen_checkpoints.append(request.checkpoint)
        if request.checkpoint is None:
            request.save_checkpoint(f"container-{request.post_id}")
        return super().publish(request)


def test_a_two_step_adapter_resumes_from_its_checkpoint(store, config, clock):
    ch = TwoStepChannel("a", delivery=DeliveryClass.IDEMPOTENT, clock=clock,
                        script=["reset_before"])
    d = make(store, config, clock, [ch])
    post_id = add(store, clock)
    d.run_until_idle()
    clock.advance(5)
    d.run_until_idle()
    assert store.get_post(post_id).status is PostStatus.PUBLISHED
    assert ch.seen_checkpoints == [None, f"container-{post_id}"]


def test_channel_concurrency_is_respected(store, config, clock):
    c = ScriptedChannel("c", clock=clock, delay=0.1)
    d = make(store, config, clock, [c])
    for n in range(3):
        add(store, clock, "c", text=f"post {n}", link=f"https://news.example/{n}")
    d.run_until_idle()
    calls = sorted(c.publish_calls(), key=lambda call: call.started)
    assert len(calls) == 3
    assert all(a.ended <= b.started for a, b in itertools.pairwise(calls))


def test_account_blocked_pauses_the_channel_and_the_post_waits(store, config, clock):
    """X out of credits (402): the channel is paused with the platform's
    reason, the post waits (it is not failed) and goes out once an editor
    resumes the channel."""
    reason = "X credits depleted: add credits, then `publisher resume --channel a`"
    ch = ScriptedChannel("a", clock=clock, script=[AccountBlocked(reason, http_status=402)])
    d = make(store, config, clock, [ch])
    first = add(store, clock)
    d.run_until_idle()
    second = add(store, clock, text="next", link="https://news.example/next")
    d.run_until_idle()
    state = store.channel_states()["a"]
    assert state.paused and not state.auth_failed and state.paused_reason == reason
    assert store.get_post(first).status is PostStatus.WAITING
    assert store.get_post(second).status is PostStatus.QUEUED
    assert len(ch.publish_calls()) == 1
    store.set_paused("a", paused=False, now=clock(), by="editor")
    d.run_until_idle()
    assert {store.get_post(i).status for i in (first, second)} == {PostStatus.PUBLISHED}


def test_idempotent_post_in_doubt_past_the_key_lifetime_is_looked_up(store, tmp_path, clock):
    """Mastodon keeps an Idempotency-Key for an hour: a post in doubt for
    longer than that (less a margin) is looked for on the platform instead of
    being sent again with a key the server may have forgotten."""
    path = tmp_path / "masto.toml"
    path.write_text(SCHEDULE + '\n[channels.m]\ntype = "mastodon"\n'
                    'credentials = { access_token = "MASTODON_TOKEN" }\n')
    ch = ScriptedChannel("m", delivery=DeliveryClass.IDEMPOTENT, clock=clock,
                         script=["reset_after"])
    d = make(store, load_config(path), clock, [ch])
    post_id = add(store, clock, channel="m", expires_in=24 * 3600)
    d.run_until_idle()
    assert store.get_post(post_id).status is PostStatus.WAITING
    clock.advance(3001)  # key_lifetime 3600 s less the lifecycle's 600 s margin
    d.run_until_idle()
    assert [c.kind for c in ch.calls] == ["publish", "find"]
    assert store.get_post(post_id).status is PostStatus.PUBLISHED
    assert outcomes(store, post_id) == [Outcome.AMBIGUOUS, Outcome.RECONCILED]


def test_the_dispatcher_claims_when_a_slot_frees_not_in_a_loop(store, config, clock):
    """40 posts on a channel of concurrency 4, each call taking a moment:
    the channel stays busy (four calls overlap), and the claims follow the
    slots that free (a few posts per claim), instead of re-reading the
    database while the channel is full (thousands of ticks for 200 posts)."""
    d_channel = ScriptedChannel("d", clock=clock, delay=0.02)
    d = make(store, config, clock, [d_channel])
    claims = 0
    claim_due = store.claim_due

    def counted(**kwargs):
        nonlocal claims
        claims += 1
        return claim_due(**kwargs)

    store.claim_due = counted
    for n in range(40):
        add(store, clock, "d", text=f"post {n}", link=f"https://news.example/{n}")
    idle = d.run_until_idle()
    assert {store.get_post(i).status for i in range(1, 41)} == {PostStatus.PUBLISHED}
    assert (idle.waiting, idle.next_at) == (0, None)
    calls = sorted(d_channel.publish_calls(), key=lambda call: call.started)
    assert max(sum(1 for c in calls if c.started <= call.started < c.ended)
               for call in calls) == 4  # never more than concurrency, and it is used
    # One look at each of the 4 channels at the start and at the end, and
    # one claim per 4 posts that went out.
    assert claims <= 2 * len(config.channels) + 40 // 4, f"{claims} claims for 40 posts"


def test_a_channel_types_default_concurrency_and_the_tables_own(store, tmp_path, clock):
    """A Mastodon channel without ``concurrency`` works eight posts at once
    (its type's default); a table's own value wins; other types default to 4."""
    path = tmp_path / "site.toml"
    path.write_text('[channels.m]\ntype = "mastodon"\ncredentials = { access_token = "T" }\n'
                    'base_url = "https://social.example"\n'
                    '[channels.two]\ntype = "mastodon"\ncredentials = { access_token = "T" }\n'
                    'base_url = "https://social.example"\nconcurrency = 2\n'
                    '[channels.j]\ntype = "jsonl"\n'
                    '[[routes]]\nchannels = ["m", "two", "j"]\n')
    config = load_config(path)
    assert {n: c.concurrency for n, c in config.channels.items()} == {
        "m": None, "two": 2, "j": None}
    chans = {n: ScriptedChannel(n, clock=clock, delay=0.03) for n in ("m", "two", "j")}
    pool = ChannelPool(config, {}, overrides=chans)
    d = Dispatcher(config=config, store=store, channels=pool, now=clock, worker="w1",
                   max_workers=16, rand=lambda: 1.0)  # the daemon's default workers
    for name in chans:
        for n in range(20):
            add(store, clock, name, text=f"{name} {n}", link=f"https://news.example/{name}/{n}")
    d.run_until_idle()
    overlap = {}
    for name, ch in chans.items():
        calls = ch.publish_calls()
        overlap[name] = max(sum(1 for c in calls if c.started <= call.started < c.ended)
                            for call in calls)
    assert overlap == {"m": 8, "two": 2, "j": 4}
