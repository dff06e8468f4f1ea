"""The crash loop: ``publisher run`` SIGKILLed again and again while it publishes.

A feed gains articles over time; the daemon publishes them to three channels,
one of each delivery class (Mastodon: idempotent, X: reconcilable, a webhook:
review), and is killed at random moments, often right while a platform call
is out (an attempt is *started* and the fake has not answered yet), then
started again.  After a last clean run the database and the fakes must agree
post by post: every post is on Mastodon and X exactly once, and on the
webhook at most once, a review post in doubt being ``needs_review``.

Randomness is seeded: the seed is printed, and ``PUBLISHER_CRASH_SEED=<seed>``
replays the same schedule of kills (timing still varies).  ``PUBLISHER_SOAK=1``
runs a longer loop: more articles, more kills.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.e2e.reliability import (
    Daemon,
    Db,
    Latency,
    articles,
    canonical,
    compare,
    env_for,
    newest_first,
    run_cli,
    seed_from_env,
    soak,
    sqlite_url,
    start_platforms,
    wait_for,
    write_schedule,
)
from tests.fakes.feed_server import FeedServer
from tests.fakes.feeds import rss
from tests.fakes.webhook_server import FakeWebhookReceiver

#: The second tier: SIGKILL loops and reconciliation under a killed daemon.
pytestmark = pytest.mark.slow

KINDS = {"masto": "mastodon", "x": "x", "hook": "webhook"}
SOAK = soak()
ARTICLES = 1500 if SOAK else 300
KILLS = 100 if SOAK else 20
BATCH = 10  # articles a release adds
RELEASE_EVERY = 1.0  # seconds between releases: the feed grows during the kills
WINDOW = 50  # the feed lists the newest WINDOW articles...


class GrowingFeed:
    """The site's feed, gaining ``BATCH`` articles every ``RELEASE_EVERY`` s.

    It lists the newest ``WINDOW`` articles, and also every older one the
    daemon has not stored yet: a real site's feed would drop them while the
    daemon is down, and an article that was never in a feed the daemon read
    is none of publisher's business (the test wants every article planned).
    """

    def __init__(self, srv: FeedServer, db: Db, total: int):
        self.srv = srv
        self.db = db
        self.pending = articles(total)
        self.released: list[dict] = []
        self.done = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="feed")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        last_release = 0.0
        shown: list[str] = []
        while not self._stop.wait(0.2):
            if self.pending and time.monotonic() - last_release >= RELEASE_EVERY:
                batch, self.pending = self.pending[:BATCH], self.pending[BATCH:]
                self.released += batch
                last_release = time.monotonic()
            known = self.db.article_guids()
            items = newest_first(self.released)
            listed = items[:WINDOW] + [it for it in items[WINDOW:] if it["guid"] not in known]
            guids = [it["guid"] for it in listed]
            if guids != shown:
                self.srv.set("/feed/", rss(listed))
                shown = guids
            if not self.pending:
                self.done.set()


@pytest.mark.slow
@pytest.mark.timeout(1800 if SOAK else 240)
def test_sigkill_loop_loses_nothing_and_doubles_nothing(tmp_path: Path) -> None:
    seed = seed_from_env()
    print(f"crash loop: PUBLISHER_CRASH_SEED={seed} articles={ARTICLES} kills={KILLS}")
    rng = random.Random(seed)
    platforms = start_platforms(KINDS)
    url = sqlite_url(tmp_path)
    env = env_for(tmp_path, url)
    write_schedule(tmp_path, platforms, KINDS, max_entries=1000)
    log = tmp_path / "daemon.log"
    db = Db(url)
    feed = GrowingFeed(platforms.feed, db, ARTICLES)
    kills: Counter[str] = Counter()
    daemon: Daemon | None = None

    def diagnose() -> str:
        return (f"seed={seed} kills={dict(kills)} released={len(feed.released)}\n"
                f"{db.summary()}\n--- daemon log (tail) ---\n"
                + (daemon.tail(40) if daemon else "(no daemon)"))

    try:
        daemon = Daemon(tmp_path, env, log)
        # The first poll only marks what the feed holds (nothing) as seen.
        wait_for(lambda: db.feed_seeded("site"), timeout=30, what="the first poll",
                 diagnose=diagnose)
        feed.start()
        with Latency(platforms.fakes(), random.Random(seed + 1)):
            while sum(kills.values()) < KILLS or not feed.done.is_set():
                if daemon is None:
                    daemon = Daemon(tmp_path, env, log)
                if rng.random() < 0.6:
                    # Kill while a platform call is out: watch the log for a
                    # started attempt (of one channel, or any), then kill.
                    channel = rng.choice([*KINDS, None])
                    deadline = time.monotonic() + 8
                    while time.monotonic() < deadline and not db.started(channel):
                        time.sleep(0.01)
                    time.sleep(rng.uniform(0, 0.05))
                    mode = f"started:{channel or 'any'}"
                else:
                    time.sleep(rng.uniform(0.1, 3.0))  # anywhere: start-up, polling, planning
                    mode = "random"
                in_call = db.started()
                daemon.kill()
                daemon = None
                kills[mode] += 1
                kills["in_call"] += in_call
            # The last run is not killed: it drains the outbox.
            daemon = Daemon(tmp_path, env, log)
            wait_for(lambda: (db.pending_articles() == 0 and db.open_posts() == 0
                              and len(db.posts()) == ARTICLES * len(KINDS)),
                     timeout=600 if SOAK else 90, interval=0.5,
                     what="every article planned and every post settled", diagnose=diagnose)
        code = daemon.stop()
        assert code == 0, diagnose()
        daemon = None
    finally:
        if daemon is not None:
            daemon.kill()
        feed.stop()

    try:
        print(f"kills: {dict(kills)}\n{db.summary()}")
        total_kills = sum(n for mode, n in kills.items() if mode != "in_call")
        assert total_kills >= KILLS
        attempts = db.attempts()
        taken_over = [a for a in attempts if a.outcome == "ambiguous"
                      and a.error == "lease expired"]
        # The kills really landed between "attempt started" and the answer.
        assert kills["in_call"] >= 5, diagnose()
        assert len(taken_over) >= 5, diagnose()
        problems = compare(db, platforms, KINDS, review=["hook"])
        assert not problems, f"seed={seed}\n" + "\n".join(problems[:40]) + "\n" + diagnose()
        posts = db.posts()
        statuses = Counter((p.channel, p.status) for p in posts)
        for channel in ("masto", "x"):
            assert statuses[(channel, "published")] == ARTICLES, diagnose()
        assert (statuses[("hook", "published")] + statuses[("hook", "needs_review")]
                == ARTICLES), diagnose()
        assert {s for (_, s) in statuses} <= {"published", "needs_review"}, diagnose()
        hook = platforms.channels["hook"]
        assert isinstance(hook, FakeWebhookReceiver)
        delivered = {d.key for d in hook.deliveries}
        review = [p for p in posts if p.status == "needs_review"]
        print(f"needs_review: {len(review)} (on the receiver: "
              f"{sum(1 for p in review if p.idempotency_key in delivered)})")
    finally:
        db.close()
        platforms.stop()


@pytest.mark.timeout(120)
def test_x_lookup_horizon(tmp_path: Path) -> None:
    """A post in doubt on X must be found however many posts followed it.

    The daemon dies while X is storing a post; before it comes back, the
    account posts 100 times from another client (a live blog, a backlog
    drained by a colleague).  The restarted daemon reconciles the post: it
    is on X, so it must not be sent again.
    """
    kinds = {"x": "x"}
    platforms = start_platforms(kinds)
    x = platforms.channels["x"]
    url = sqlite_url(tmp_path)
    env = env_for(tmp_path, url)
    write_schedule(tmp_path, platforms, kinds)
    db = Db(url)
    daemon = Daemon(tmp_path, env, tmp_path / "daemon.log")
    try:
        wait_for(lambda: db.feed_seeded("site"), timeout=30, what="the first poll")
        x.latency = 1.0  # the kill lands while X is busy with the post
        [story] = articles(1)
        platforms.feed.set("/feed/", rss([story]))
        # Killed once the post is on the wire (X holds it for a second).
        wait_for(lambda: x.requests_to("POST", "/2/tweets"), timeout=30, interval=0.01,
                 what="the post on its way to X", diagnose=daemon.tail)
        daemon.kill()
        x.settle()
        x.latency = 0.0
        assert len(x.posts) == 1  # X has it; the daemon never heard back
        for n in range(100):
            x.post_text(f"Live: minute {n} of the council meeting")
        once = run_cli(tmp_path, env, "run", "--once")
        assert once.returncode == 0, once.stderr[-3000:]
        links = Counter(canonical(t.expanded_urls[0]) for t in x.posts if t.expanded_urls)
        assert links == Counter({canonical(story["link"]): 1}), once.stderr[-3000:]
        assert [p.status for p in db.posts()] == ["published"]
    finally:
        if daemon.alive():
            daemon.kill()
        db.close()
        platforms.stop()


@pytest.mark.timeout(120)
def test_post_in_doubt_is_reconciled_before_it_is_called_stale(tmp_path: Path) -> None:
    """The daemon dies while X is storing a post and comes back after the
    post's max_age: X has the post, so the database must say published (a
    "failed" post that is live invites an editor's retry: a double)."""
    kinds = {"x": "x"}
    platforms = start_platforms(kinds)
    x = platforms.channels["x"]
    url = sqlite_url(tmp_path)
    env = env_for(tmp_path, url)
    write_schedule(tmp_path, platforms, kinds)
    schedule = tmp_path / "schedules" / "site.toml"
    schedule.write_text(schedule.read_text().replace('type = "x"\n',
                                                     'type = "x"\nmax_age = "3s"\n'))
    db = Db(url)
    daemon = Daemon(tmp_path, env, tmp_path / "daemon.log")
    try:
        wait_for(lambda: db.feed_seeded("site"), timeout=30, what="the first poll")
        x.latency = 1.0
        [story] = articles(1)
        platforms.feed.set("/feed/", rss([story]))
        wait_for(lambda: x.requests_to("POST", "/2/tweets"), timeout=30, interval=0.01,
                 what="the post on its way to X", diagnose=daemon.tail)
        daemon.kill()
        x.settle()
        x.latency = 0.0
        assert len(x.posts) == 1
        time.sleep(4)  # the daemon stays down until the post's max_age has run out
        once = run_cli(tmp_path, env, "run", "--once")
        assert once.returncode == 0, once.stderr[-3000:]
        assert len(x.posts) == 1
        [post] = db.posts()
        assert (post.status, post.remote_id) == ("published", x.posts[0].id), (
            post, once.stderr[-3000:])
    finally:
        if daemon.alive():
            daemon.kill()
        db.close()
        platforms.stop()
