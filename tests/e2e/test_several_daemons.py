"""Several daemons on one PostgreSQL, one of them SIGKILLed mid-run.

Three ``publisher run`` share a database (claims: ``FOR UPDATE SKIP LOCKED``
and leases of 10 s) and publish 500 articles to Mastodon (idempotent) and X
(reconcilable): 1,000 posts.  One daemon is killed while some of its platform
calls are out.  Every post is published exactly once (the fakes and the
database agree post by post), and the dead daemon's posts are taken over by
the others once their leases expire: its started attempts are closed as
ambiguous ("lease expired") and the posts reconciled or published by another
worker.
"""

from __future__ import annotations

import random
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from tests.e2e.reliability import (
    Daemon,
    Db,
    Latency,
    articles,
    compare,
    env_for,
    newest_first,
    run_cli,
    seed_from_env,
    start_platforms,
    wait_for,
    write_schedule,
)
from tests.fakes.feeds import rss

KINDS = {"masto": "mastodon", "x": "x"}
ARTICLES = 500
LEASE = 10
WORKERS = ("desk-1", "desk-2", "desk-3")
VICTIM = "desk-2"


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.timeout(240)
def test_three_daemons_one_killed_each_post_once(tmp_path: Path,
                                                 new_pg_url: Callable[[], str]) -> None:
    seed = seed_from_env("PUBLISHER_CRASH_SEED")
    print(f"several daemons: PUBLISHER_CRASH_SEED={seed}")
    rng = random.Random(seed)
    url = new_pg_url()
    platforms = start_platforms(KINDS)
    write_schedule(tmp_path, platforms, KINDS, max_entries=1000)
    base_env = env_for(tmp_path, url, PUBLISHER_LEASE_SECONDS=str(LEASE))
    upgrade = run_cli(tmp_path, base_env, "db", "upgrade")
    assert upgrade.returncode == 0, upgrade.stderr
    db = Db(url)
    daemons: dict[str, Daemon] = {}

    def diagnose() -> str:
        logs = "\n".join(f"--- {w} (tail) ---\n{d.tail(25)}" for w, d in daemons.items())
        return f"seed={seed}\n{db.summary()}\n{logs}"

    try:
        for worker in WORKERS:
            daemons[worker] = Daemon(tmp_path, {**base_env, "PUBLISHER_WORKER_ID": worker},
                                     tmp_path / f"{worker}.log")
        wait_for(lambda: db.feed_seeded("site"), timeout=30, what="the first poll",
                 diagnose=diagnose)
        with Latency(platforms.fakes(), random.Random(seed + 1), 0.05, 0.15):
            stories = articles(ARTICLES)
            for start in range(0, ARTICLES, 100):
                platforms.feed.set("/feed/", rss(newest_first(stories[:start + 100])))
                time.sleep(0.5)

            # Kill the victim mid-run, while calls of its own are out: hundreds
            # of posts follow its last ones, which X's look-up must page
            # back through (test_x_lookup_horizon in test_crash_loop.py).
            threshold = int(ARTICLES * 0.4) + rng.randrange(0, ARTICLES // 10)

            def victim_mid_call() -> bool:
                published = db.status_counts()[("x", "published")]
                return published >= threshold and bool(db.rows(
                    "select 1 from attempts where worker = :w and outcome = 'started'",
                    w=VICTIM))

            wait_for(victim_mid_call, timeout=90, interval=0.02,
                     what=f"{VICTIM} with a call out", diagnose=diagnose)
            daemons[VICTIM].kill()
            killed = db.rows("select post_id from attempts where worker = :w and "
                             "outcome = 'started'", w=VICTIM)
            leased = db.rows("select id from posts where lease_owner = :w and "
                             "status = 'publishing'", w=VICTIM)
            print(f"killed {VICTIM} at x published >= {threshold}: {len(killed)} calls out, "
                  f"{len(leased)} posts leased")
            assert killed, diagnose()

            wait_for(lambda: (db.pending_articles() == 0 and db.open_posts() == 0
                              and len(db.posts()) == ARTICLES * len(KINDS)),
                     timeout=120, interval=0.5, what="every post settled", diagnose=diagnose)
        for worker, daemon in daemons.items():
            if worker != VICTIM:
                assert daemon.stop() == 0, diagnose()
    finally:
        for daemon in daemons.values():
            if daemon.alive():
                daemon.kill()

    try:
        print(diagnose())
        problems = compare(db, platforms, KINDS)
        assert not problems, "\n".join(problems[:40]) + "\n" + diagnose()
        statuses = Counter((p.channel, p.status) for p in db.posts())
        assert statuses == Counter({("masto", "published"): ARTICLES,
                                    ("x", "published"): ARTICLES}), diagnose()
        for fake in platforms.fakes():
            assert fake.errors == []

        # The dead daemon's leases were taken over when they expired.
        attempts = db.rows("select id, post_id, worker, outcome, error, started_at, "
                           "finished_at from attempts order by id")
        by_post = defaultdict(list)
        for a in attempts:
            by_post[a.post_id].append(a)
        taken = [a for a in attempts if a.worker == VICTIM and a.outcome == "ambiguous"]
        assert {a.post_id for a in taken} == {r.post_id for r in killed}, diagnose()
        for a in taken:
            assert a.error == "lease expired", a
            # Taken over only after the lease ran out, not while the owner lived
            # (the lease was taken a moment before the attempt started).
            assert a.finished_at - a.started_at >= timedelta(seconds=LEASE - 3), a
            later = [b for b in by_post[a.post_id] if b.id > a.id]
            done = [b for b in later if b.outcome in ("ok", "reconciled")]
            assert done and all(b.worker != VICTIM for b in later), (a, later)
        print(f"taken over: {len(taken)} attempts in doubt; "
              f"{Counter(b.outcome for a in taken for b in by_post[a.post_id] if b.id > a.id)}")
        workers = Counter(a.worker for a in attempts if a.outcome in ("ok", "reconciled"))
        assert set(workers) == set(WORKERS), workers  # all three did their share
    finally:
        db.close()
        platforms.stop()
