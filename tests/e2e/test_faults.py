"""Faults: a daemon run where 30 % of platform calls go wrong, and a token is revoked.

Mastodon (idempotent), X (reconcilable) and a webhook (review) fail 30 % of
their calls in a mix of 500/503, 429 with an announced reset, answers slower
than the client's timeout, and connections reset before or after the post is
stored; Telegram's token is revoked mid-run.  Every post still goes out
exactly once, no request reaches a platform before its announced reset, the
revoked channel is paused after its first AuthFailed and left alone, and the
retries stay cheap (fewer than 2.5 requests per post in all).
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.reliability import (
    Daemon,
    Db,
    articles,
    compare,
    env_for,
    newest_first,
    run_cli,
    seed_from_env,
    sqlite_url,
    start_platforms,
    wait_for,
    write_schedule,
)
from tests.fakes.feeds import rss
from tests.fakes.telegram_server import FakeTelegram

KINDS = {"masto": "mastodon", "x": "x", "hook": "webhook", "tg": "telegram"}
ARTICLES = 40
#: Every way a call can go wrong.  The review channel (the webhook) gets only
#: the faults whose answer says the post was not taken: after a timeout or a
#: reset it could only ask an editor (needs_review), which test_crash_loop covers.
ALL_FAULTS = ["500", "503", "429", "slow", "reset_before", "reset_after"]
CLEAR_FAULTS = ["500", "503", "429"]
#: Requests that are no post's: who am I, and the instance's limits.
META_PATHS = {"/2/users/me", "/api/v1/accounts/verify_credentials", "/api/v1/instance",
              "/api/v2/instance"}
RETRY = '{ max_attempts = 30, base = "0.2s", cap = "2s" }'


def is_meta(path: str) -> bool:
    return path in META_PATHS or path.endswith(("/getMe", "/getChat"))


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_faults_and_a_revoked_token(tmp_path: Path) -> None:
    seed = seed_from_env("PUBLISHER_FAULT_SEED")
    print(f"faults: PUBLISHER_FAULT_SEED={seed}")
    rng = random.Random(seed)
    platforms = start_platforms(KINDS, slow_seconds=2.0, rate_limit_seconds=1.0)
    masto, x, hook, tg = (platforms.channels[n] for n in KINDS)
    assert isinstance(tg, FakeTelegram)
    masto.fault_rate(0.3, ALL_FAULTS, seed=rng.randrange(2**31))
    # On X the reads fail too: the look-up that reconciles a post in doubt
    # must survive a 503 or a 429 of its own.
    x.fault_rate(0.3, ALL_FAULTS, seed=rng.randrange(2**31), on="any")
    hook.fault_rate(0.3, CLEAR_FAULTS, seed=rng.randrange(2**31))
    # Each kind at least once, whatever the dice say (queued faults come first).
    for fake, kinds in ((masto, ALL_FAULTS), (x, ALL_FAULTS), (hook, CLEAR_FAULTS)):
        for kind in rng.sample(kinds, len(kinds)):
            fake.fail_next(kind)
    url = sqlite_url(tmp_path)
    env = env_for(tmp_path, url)
    # One post in flight on each rate-limited channel: with more, a request
    # already on its way when a 429 comes back would reach the platform before
    # the announced reset, and the fake would rightly count it as early.  The
    # dispatcher cannot recall a request it has sent; concurrency = 1 is what
    # an operator sets for a platform that punishes early requests.
    one = {"timeout": "1s", "concurrency": 1, "retry": RETRY}
    write_schedule(tmp_path, platforms, KINDS, masto=one, x=one, hook=one,
                   tg={"timeout": "1s", "concurrency": 2, "retry": RETRY})
    db = Db(url)
    daemon = Daemon(tmp_path, env, tmp_path / "daemon.log")
    revoked_at: float | None = None

    def diagnose() -> str:
        faults = {n: Counter(r.fault for r in f.requests if r.fault)
                  for n, f in platforms.channels.items()}
        return (f"seed={seed} faults={faults}\n{db.summary()}\n--- daemon log (tail) ---\n"
                f"{daemon.tail(40)}")

    try:
        wait_for(lambda: db.feed_seeded("site"), timeout=30, what="the first poll",
                 diagnose=diagnose)
        stories = articles(ARTICLES)
        shown: list[dict[str, Any]] = []
        for start in range(0, ARTICLES, 5):
            shown = newest_first(shown + stories[start:start + 5])
            platforms.feed.set("/feed/", rss(shown))
            if revoked_at is None and len(tg.messages) >= 10:
                tg.revoked = True
                revoked_at = time.time()
            time.sleep(0.5)
        if revoked_at is None:
            wait_for(lambda: len(tg.messages) >= 10, timeout=60, what="10 Telegram posts",
                     diagnose=diagnose)
            tg.revoked = True
            revoked_at = time.time()

        def settled() -> bool:
            open_ = Counter(p.channel for p in db.posts()
                            if p.status in ("queued", "waiting", "publishing", "draft"))
            return (len(db.posts()) == ARTICLES * len(KINDS) and db.pending_articles() == 0
                    and not {c for c in open_ if c != "tg"})

        wait_for(settled, timeout=180, interval=0.5, what="every post settled",
                 diagnose=diagnose)
        # Let the paused channel sit a while: nothing may reach Telegram meanwhile.
        time.sleep(3)
        status = run_cli(tmp_path, env, "status", "--json")
        code = daemon.stop()
        assert code == 0, diagnose()
    finally:
        if daemon.alive():
            daemon.kill()

    try:
        print(diagnose())
        # Every post but Telegram's is published, exactly once, as the fakes agree.
        problems = compare(db, platforms, KINDS,
                           may_be_absent=["queued", "waiting", "failed"])
        assert not problems, "\n".join(problems[:40]) + "\n" + diagnose()
        posts = db.posts()
        statuses = Counter((p.channel, p.status) for p in posts)
        for channel in ("masto", "x", "hook"):
            assert statuses[(channel, "published")] == ARTICLES, diagnose()
        # The faults really happened, every kind of them.
        for fake, kinds in ((masto, ALL_FAULTS), (x, ALL_FAULTS), (hook, CLEAR_FAULTS)):
            assert {r.fault for r in fake.requests if r.fault} == set(kinds), diagnose()
        # No request before an announced reset.
        for name, fake in platforms.channels.items():
            assert fake.early_requests == [], f"{name}: {fake.early_requests}\n{diagnose()}"
            assert fake.errors == [], fake.errors

        # Telegram: paused after its first AuthFailed, and not hammered.
        assert revoked_at is not None
        after = [r for r in tg.requests if r.time >= revoked_at]
        refused = [r for r in after if r.status == 401]
        assert refused, diagnose()
        # What was on the wire or claimed when the first 401 came back: at most
        # the channel's concurrency (2) and one claim racing the pause.
        assert len(after) <= 3, f"{len(after)} requests after the revocation\n{diagnose()}"
        tg_status = Counter(p.status for p in posts if p.channel == "tg")
        assert tg_status["failed"] == len(refused), diagnose()
        assert set(tg_status) <= {"published", "failed", "queued"}, diagnose()
        assert tg_status["queued"] > 0, diagnose()  # kept for when the channel is resumed
        for post in posts:
            if post.channel == "tg" and post.status == "failed":
                assert "credentials" in (post.last_error or "") or "401" in (
                    post.last_error or ""), post.last_error
        state = db.channel_state("tg")
        assert state is not None and state.paused and state.auth_failed, state
        assert "refused the credentials" in (state.paused_reason or ""), state
        # `publisher status` says so, and exits 1 (a paused channel is unhealthy).
        assert status.returncode == 1, status.stderr
        report = json.loads(status.stdout)
        assert report["healthy"] is False
        [entry] = [c for c in report["channels"] if c["name"] == "tg"]
        assert entry["state"]["paused"] and entry["state"]["auth_failed"], entry

        # Retries stay cheap: fewer than 2.5 platform requests per post in all.
        total = sum(1 for fake in platforms.fakes() for r in fake.requests
                    if not is_meta(r.path))
        print(f"platform requests: {total} for {len(posts)} posts")
        assert total < 2.5 * len(posts), diagnose()
    finally:
        db.close()
        platforms.stop()
