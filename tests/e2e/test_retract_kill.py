"""A retraction carried out by ``publisher run`` while it is SIGKILLed again
and again (issue 13; the slow tier).

The daemon publishes 30 articles to Mastodon (a delete in doubt is read
back), X (read back too) and Telegram (no read back: the delete is repeated,
which the Bot API answers "message to delete not found"); it is stopped,
every article is retracted with ``publisher retract … --yes``, and the
daemon is started and killed at random moments, mostly while a delete is on
the wire (a *started* attempt in the log).  After a last clean run every
post is retracted, each platform deleted each post once (Mastodon and X
never receive a delete for a post already gone), and every delete in doubt
was settled by reading back or repeating.

``PUBLISHER_CRASH_SEED=<seed>`` replays the same schedule of kills.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.e2e.reliability import (
    Daemon,
    Db,
    Latency,
    articles,
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

pytestmark = pytest.mark.slow

KINDS = {"masto": "mastodon", "x": "x", "tg": "telegram"}
ARTICLES = 30
KILLS = 10


@pytest.mark.timeout(600)
def test_a_retraction_under_sigkills_deletes_each_post_once(tmp_path: Path) -> None:
    seed = seed_from_env()
    print(f"retract kill loop: PUBLISHER_CRASH_SEED={seed}")
    rng = random.Random(seed)
    platforms = start_platforms(KINDS)
    url = sqlite_url(tmp_path)
    env = env_for(tmp_path, url)
    write_schedule(tmp_path, platforms, KINDS, max_entries=1000)
    log = tmp_path / "daemon.log"
    db = Db(url)
    kills: Counter[str] = Counter()
    daemon: Daemon | None = None

    def diagnose() -> str:
        return (f"seed={seed} kills={dict(kills)}\n{db.summary()}\n--- daemon log ---\n"
                + (daemon.tail(40) if daemon else "(no daemon)"))

    def deleting() -> int:
        [(n,)] = db.rows("select count(*) from posts where status in "
                         "('deleting', 'publishing')")
        return int(n)

    try:
        daemon = Daemon(tmp_path, env, log)
        wait_for(lambda: db.feed_seeded("site"), timeout=30, what="the first poll",
                 diagnose=diagnose)
        platforms.feed.set("/feed/", rss(newest_first(articles(ARTICLES))))
        wait_for(lambda: [p.status for p in db.posts()].count("published")
                 == ARTICLES * len(KINDS), timeout=90, what="every post published",
                 diagnose=diagnose)
        assert daemon.stop() == 0, diagnose()
        daemon = None
        remote = {(p.channel, p.remote_id) for p in db.posts()}

        for (article_id,) in db.rows("select id from articles order by id"):
            done = run_cli(tmp_path, env, "retract", str(article_id), "--reason",
                           "legal: pulled", "--by", "desk-chief", "--yes")
            assert done.returncode == 0, done.stderr
        assert [p.status for p in db.posts()].count("deleting") == ARTICLES * len(KINDS)

        with Latency(platforms.fakes(), random.Random(seed + 1)):
            while sum(n for mode, n in kills.items() if mode != "in_call") < KILLS:
                [(last,)] = db.rows("select coalesce(max(id), 0) from attempts")
                daemon = Daemon(tmp_path, env, log)
                if rng.random() < 0.7:
                    # Kill while a delete of this run is on the wire.
                    deadline = time.monotonic() + 15
                    while time.monotonic() < deadline and not db.rows(
                            "select 1 from attempts where outcome = 'started' and id > :a",
                            a=last):
                        time.sleep(0.01)
                    time.sleep(rng.uniform(0, 0.05))
                    mode = "started"
                else:
                    time.sleep(rng.uniform(0.1, 2.0))
                    mode = "random"
                in_call = bool(db.rows("select 1 from attempts where outcome = 'started' "
                                       "and id > :a", a=last))
                daemon.kill()
                daemon = None
                kills[mode] += 1
                kills["in_call"] += in_call
                if not deleting():
                    break
            daemon = Daemon(tmp_path, env, log)
            wait_for(lambda: deleting() == 0, timeout=120, interval=0.5,
                     what="every delete settled", diagnose=diagnose)
        assert daemon.stop() == 0, diagnose()
        daemon = None
    finally:
        if daemon is not None:
            daemon.kill()
        platforms.stop()

    print(f"kills: {dict(kills)}\n{db.summary()}")
    posts = db.posts()
    assert {p.status for p in posts} == {"retracted"}, diagnose()
    for name, fake in platforms.channels.items():
        deleted = list(fake.deleted)  # type: ignore[attr-defined]
        ids = ([str(d) for d in deleted] if name == "x" else
               [str(getattr(d, "id", getattr(d, "message_id", ""))) for d in deleted])
        assert len(ids) == len(set(ids)) == ARTICLES, (name, ids)
        assert set(ids) == {rid for channel, rid in remote if channel == name}, name
    gone_again = [r for r in platforms.channels["masto"].requests  # read back, never repeated
                  if r.method == "DELETE" and r.status == 404]
    assert not gone_again, gone_again
    attempts = db.rows("select post_id, outcome, kind, error from attempts "
                       "where kind = 'delete'")
    confirmed = Counter(a.post_id for a in attempts if a.outcome in ("ok", "reconciled"))
    assert set(confirmed.values()) == {1}, confirmed
    assert len(confirmed) == ARTICLES * len(KINDS)
    assert kills["in_call"] >= 3, diagnose()
