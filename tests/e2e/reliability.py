"""Shared helpers of the reliability tests (crash loop, faults, several daemons).

- ``Platforms``: the fake platforms of the three delivery classes, started
  together, with one schedule (``write_schedule``) that routes a feed to them.
- ``Daemon``: one ``publisher run`` subprocess whose stderr goes to a file (a
  pipe nobody reads would block a chatty daemon), SIGKILLed or stopped.
- ``Db``: read-only looks at the database the daemons write (SQLite or
  PostgreSQL, through SQLAlchemy), e.g. "is an attempt started right now?".
- ``compare``: the database and the fakes, post by post: every published post
  is on its platform exactly once under its remote id, every post on a
  platform belongs to exactly one post of ours, nothing is left behind.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa

from tests.fakes.fakehttp import FakeServer
from tests.fakes.feed_server import FeedServer
from tests.fakes.feeds import item, rss
from tests.fakes.mastodon_server import FakeMastodon
from tests.fakes.telegram_server import FakeTelegram
from tests.fakes.webhook_server import FakeWebhookReceiver
from tests.fakes.x_server import FakeX
from tests.shipped import TEMPLATES as SHIPPED_TEMPLATES

ROOT = Path(__file__).resolve().parents[2]
PUBLISHER = [sys.executable, "-m", "publisher.cli"]
SITE = "https://news.example"

SECRETS = {
    "X_API_KEY": "xk-consumer-7391",
    "X_API_SECRET": "xs-consumer-secret-7391",
    "X_ACCESS_TOKEN": "1600000000000000001-accesstoken7391",
    "X_ACCESS_TOKEN_SECRET": "xats-secret-7391",
    "MASTODON_TOKEN": "masto-token-7391-abcdef",
    "WEBHOOK_URL": "http://bridge.invalid/hooks/publisher",
    "WEBHOOK_SECRET": "whsec-7391-0123456789abcdef",
    "TELEGRAM_TOKEN": "7000000001:AAH-fake-token-7391-00000000000",
}

#: Statuses a post leaves on its own (given time): anything here at the end is stuck.
OPEN = ("draft", "queued", "waiting", "publishing")

T = TypeVar("T")


def env_for(workdir: Path, database_url: str, **extra: str) -> dict[str, str]:
    """The daemon's environment: no PUBLISHER_*/DATABASE_* of ours, the test's secrets."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PUBLISHER_", "DATABASE_"))}
    env.update({
        "PUBLISHER_TEMPLATES": str(SHIPPED_TEMPLATES),
        "DATABASE_URL": database_url,
        "PYTHONPATH": str(ROOT),
        **SECRETS,
    })
    env.update(extra)
    return env


def sqlite_url(workdir: Path) -> str:
    return f"sqlite:///{workdir / 'var' / 'publisher.db'}"


def wait_for(predicate: Callable[[], T], *, timeout: float, interval: float = 0.1,
             what: str = "condition", diagnose: Callable[[], str] | None = None) -> T:
    """Poll ``predicate`` until it is truthy; fail with ``diagnose()`` on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            extra = f"\n{diagnose()}" if diagnose else ""
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}{extra}")
        time.sleep(interval)


def seed_from_env(name: str = "PUBLISHER_CRASH_SEED") -> int:
    """The seed from the environment, or a fresh one (printed by the caller)."""
    raw = os.environ.get(name)
    return int(raw) if raw else random.SystemRandom().randrange(1, 2**31)


def soak() -> bool:
    return os.environ.get("PUBLISHER_SOAK", "").strip() not in ("", "0", "false", "no")


# --- the daemon ----------------------------------------------------------------------


class Daemon:
    """One ``publisher run`` subprocess; stderr goes to ``log`` (appended)."""

    def __init__(self, workdir: Path, env: dict[str, str], log: Path, *args: str):
        self.workdir = workdir
        self.log = log
        self._out = open(log, "a", encoding="utf-8")  # noqa: SIM115 (closed in wait)
        self._out.write(f"\n===== start {datetime.now(UTC).isoformat()} =====\n")
        self._out.flush()
        self.proc = subprocess.Popen([*PUBLISHER, "run", *args], cwd=workdir, env=env,
                                     stdout=self._out, stderr=self._out, text=True)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: no grace, no cleanup, like a power cut."""
        if self.alive():
            self.proc.send_signal(signal.SIGKILL)
        self.wait(30)

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM and wait: a graceful stop."""
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
        return self.wait(timeout)

    def wait(self, timeout: float) -> int:
        try:
            code = self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(10)
            self._out.close()
        return code

    def tail(self, lines: int = 30) -> str:
        return tail(self.log, lines)


def tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def run_cli(workdir: Path, env: dict[str, str], *args: str,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PUBLISHER, *args], cwd=workdir, env=env, capture_output=True,
                          text=True, timeout=timeout)


# --- the database --------------------------------------------------------------------


class Db:
    """Reads of the database the daemons write (never a write)."""

    def __init__(self, url: str):
        self.engine = sa.create_engine(url, poolclass=sa.NullPool)
        database = self.engine.url.database
        #: SQLite: the file, which only the daemon may create (with its mode).
        self.sqlite_path = (Path(database) if self.engine.dialect.name == "sqlite"
                            and database else None)

    def close(self) -> None:
        self.engine.dispose()

    def rows(self, sql: str, **params: Any) -> list[Any]:
        if self.sqlite_path is not None and not self.sqlite_path.exists():
            return []
        for attempt in range(20):
            try:
                with self.engine.connect() as conn:
                    return list(conn.execute(sa.text(sql), params).all())
            except sa.exc.OperationalError as exc:
                # The table may not exist yet (daemon still migrating), or
                # SQLite is busy for a moment: look again.
                if attempt == 19:
                    raise
                if "no such table" in str(exc) or "does not exist" in str(exc):
                    return []
                time.sleep(0.05)
            except sa.exc.ProgrammingError as exc:
                if "does not exist" in str(exc):
                    return []
                raise
        return []

    def posts(self) -> list[Any]:
        return self.rows("select id, article_id, channel, status, link, remote_id, "
                         "idempotency_key, attempts, lease_owner, last_error from posts "
                         "order by id")

    def attempts(self) -> list[Any]:
        return self.rows("select id, post_id, channel, number, worker, outcome, error, "
                         "remote_id from attempts order by id")

    def history(self, post_id: int) -> str:
        """A post's publish log, one attempt a line (for a failure message)."""
        rows = self.rows("select id, number, worker, outcome, started_at, finished_at, "
                         "http_status, error, remote_id from attempts where post_id = :p "
                         "order by id", p=post_id)
        return "\n".join(f"    #{r.id} n={r.number} {r.worker} {r.outcome} "
                         f"{r.started_at} -> {r.finished_at} http={r.http_status} "
                         f"remote={r.remote_id} error={r.error}" for r in rows)

    def status_counts(self) -> Counter[tuple[str, str]]:
        return Counter({(r.channel, r.status): r.n for r in self.rows(
            "select channel, status, count(*) as n from posts group by channel, status")})

    def open_posts(self) -> int:
        [(n,)] = self.rows("select count(*) from posts where status in "
                           "('draft', 'queued', 'waiting', 'publishing')") or [(0,)]
        return int(n)

    def started(self, channel: str | None = None) -> bool:
        """Whether some attempt is started right now (the platform call is out)."""
        sql = "select 1 from attempts where outcome = 'started'"
        if channel is not None:
            return bool(self.rows(sql + " and channel = :c limit 1", c=channel))
        return bool(self.rows(sql + " limit 1"))

    def article_guids(self) -> set[str]:
        return {r.guid for r in self.rows("select guid from articles")}

    def pending_articles(self) -> int:
        [(n,)] = self.rows("select count(*) from articles where state = 'pending'") or [(0,)]
        return int(n)

    def feed_seeded(self, name: str) -> bool:
        return bool(self.rows("select 1 from feeds where name = :n and seeded", n=name))

    def channel_state(self, name: str) -> Any:
        rows = self.rows("select * from channels where name = :n", n=name)
        return rows[0] if rows else None

    def summary(self) -> str:
        counts = self.status_counts()
        by_channel: dict[str, dict[str, int]] = defaultdict(dict)
        for (channel, status), n in sorted(counts.items()):
            by_channel[channel][status] = n
        outcomes = Counter(r.outcome for r in self.attempts())
        return f"posts: {dict(by_channel)}\nattempts: {dict(outcomes)}"


# --- the platforms -------------------------------------------------------------------


def canonical(link: str | None) -> str:
    return (link or "").split("?")[0].split("#")[0].rstrip("/") + "/"


def link_in(text: str) -> str | None:
    for word in text.split():
        if word.startswith(SITE):
            return canonical(word)
    return None


@dataclass
class Platforms:
    """The fakes of one test; ``channels`` maps a channel name to its fake."""

    feed: FeedServer
    channels: dict[str, FakeServer] = field(default_factory=dict)

    def fakes(self) -> list[FakeServer]:
        return list(self.channels.values())

    def stop(self) -> None:
        for fake in self.fakes():
            fake.release_slow()
            fake.stop()
        self.feed.stop()


def start_platforms(kinds: dict[str, str], **fake_kwargs: Any) -> Platforms:
    """Start a feed server and, per channel name, a fake of ``kind`` (mastodon,
    x, webhook or telegram), answering to the credentials of ``SECRETS``."""
    feed = FeedServer().start()
    feed.set("/feed/", rss([]))
    platforms = Platforms(feed)
    for name, kind in kinds.items():
        fake: FakeServer
        if kind == "mastodon":
            fake = FakeMastodon(access_token=SECRETS["MASTODON_TOKEN"], **fake_kwargs)
        elif kind == "x":
            fake = FakeX(consumer_key=SECRETS["X_API_KEY"],
                         access_token=SECRETS["X_ACCESS_TOKEN"], **fake_kwargs)
            # X refuses a repeated text with 403, and the adapter then looks the
            # earlier post up: that would hide a double post from these tests.
            fake.reject_duplicates = False
        elif kind == "webhook":
            # No dedupe: the receiver keeps every delivery, so a double shows.
            fake = FakeWebhookReceiver(secret=SECRETS["WEBHOOK_SECRET"], **fake_kwargs)
        elif kind == "telegram":
            fake = FakeTelegram(token=SECRETS["TELEGRAM_TOKEN"], **fake_kwargs)
        else:
            raise ValueError(kind)
        platforms.channels[name] = fake.start()
    return platforms


def channel_toml(name: str, kind: str, fake: FakeServer, *, timeout: str = "3s",
                 concurrency: int = 4,
                 retry: str = '{ max_attempts = 30, base = "0.2s", cap = "2s" }') -> str:
    """One ``[channels.<name>]`` table pointing at ``fake``."""
    common = (f'type = "{kind}"\nbase_url = "{fake.base_url}"\ntimeout = "{timeout}"\n'
              f"concurrency = {concurrency}\nretry = {retry}\n")
    if kind == "mastodon":
        extra = 'credentials = { access_token = "MASTODON_TOKEN" }\n'
    elif kind == "x":
        extra = ("credentials = { api_key = \"X_API_KEY\", api_secret = \"X_API_SECRET\", "
                 "access_token = \"X_ACCESS_TOKEN\", "
                 "access_token_secret = \"X_ACCESS_TOKEN_SECRET\" }\n")
    elif kind == "webhook":
        extra = 'credentials = { url = "WEBHOOK_URL", signing_secret = "WEBHOOK_SECRET" }\n'
    elif kind == "telegram":
        assert isinstance(fake, FakeTelegram)
        extra = ('credentials = { bot_token = "TELEGRAM_TOKEN" }\n'
                 f"options = {{ chat_id = {fake.chat_id} }}\n")
    else:
        raise ValueError(kind)
    return f"[channels.{name}]\n{common}{extra}\n"


def write_schedule(workdir: Path, platforms: Platforms, kinds: dict[str, str], *,
                   max_entries: int = 200, **channel_kwargs: Any) -> None:
    """schedules/site.toml: one feed ("site", polled every second) routed to
    every channel of ``kinds``; ``channel_kwargs`` per channel name or for all."""
    tables = []
    for name, kind in kinds.items():
        options = channel_kwargs.get(name, {k: v for k, v in channel_kwargs.items()
                                            if k not in kinds})
        tables.append(channel_toml(name, kind, platforms.channels[name], **options))
    channels = ", ".join(f'"{n}"' for n in kinds)
    (workdir / "schedules").mkdir(parents=True, exist_ok=True)
    (workdir / "schedules" / "site.toml").write_text(f"""
[site]
name = "Riverside Ledger"
timezone = "UTC"

[[feeds]]
name = "site"
url = "{platforms.feed.url('/feed/')}"
poll_interval = "1s"
max_entries = {max_entries}

{"".join(tables)}
[[routes]]
feed = "site"
channels = [{channels}]
""")


def articles(count: int, start: int = 0) -> list[dict[str, Any]]:
    """``count`` fresh articles with unique titles and links (newest last)."""
    now = datetime.now(UTC)
    return [item(n, published=now, site=SITE,
                 title=f"Story {n}: the council votes on item {n} of the river plan")
            for n in range(start, start + count)]


def newest_first(items: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(items, key=lambda it: int(it["guid"].rsplit("=", 1)[1]), reverse=True)


class Latency:
    """Changes each fake's latency at random every ~0.1 s (seeded), so calls
    take 0.05 to 0.3 s and a kill often lands while one is on the wire."""

    def __init__(self, fakes: Iterable[FakeServer], rng: random.Random,
                 low: float = 0.05, high: float = 0.3):
        self.fakes = list(fakes)
        self.rng = rng
        self.low, self.high = low, high
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="latency")

    def __enter__(self) -> Latency:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        for fake in self.fakes:
            fake.latency = 0.0

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            for fake in self.fakes:
                fake.latency = self.rng.uniform(self.low, self.high)


# --- comparing the database with the platforms ---------------------------------------


def remote_posts(kind: str, fake: FakeServer) -> list[tuple[str, str, str | None]]:
    """What a fake holds, as (remote id, canonical link, idempotency key or None)."""
    with fake.lock:
        if isinstance(fake, FakeMastodon):
            return [(s.id, link_in(s.text) or "", s.idempotency_key) for s in fake.statuses]
        if isinstance(fake, FakeX):
            return [(t.id, canonical(t.expanded_urls[0]) if t.expanded_urls else "", None)
                    for t in fake.posts]
        if isinstance(fake, FakeWebhookReceiver):
            return [(d.id, canonical(d.json.get("link")), d.key) for d in fake.deliveries]
        if isinstance(fake, FakeTelegram):
            return [(str(m.message_id), link_in(m.text) or "", None) for m in fake.messages]
    raise ValueError(kind)


def compare(db: Db, platforms: Platforms, kinds: dict[str, str], *,
            review: Iterable[str] = (), may_be_absent: Iterable[str] = ()) -> list[str]:
    """Problems found comparing the database with the fakes, post by post.

    - every post of a channel not in ``review`` is published (unless its
      status is in ``may_be_absent``, e.g. ``failed`` on a revoked channel),
      and is on its platform exactly once, under its remote id;
    - a post of a ``review`` channel is published (the same) or
      needs_review after an ambiguous attempt, and on the platform at most once;
    - every post on a platform belongs to exactly one post of ours (by link,
      and by idempotency key where the platform keeps one).
    """
    review = set(review)
    absent_ok = set(may_be_absent)
    problems: list[str] = []
    posts = db.posts()
    ambiguous = {a.post_id for a in db.attempts() if a.outcome in ("ambiguous", "started")}
    for channel, kind in kinds.items():
        fake = platforms.channels[channel]
        fake.settle()
        held = remote_posts(kind, fake)
        by_link: dict[str, list[tuple[str, str, str | None]]] = defaultdict(list)
        for entry in held:
            by_link[entry[1]].append(entry)
        ours = [p for p in posts if p.channel == channel]
        our_links = Counter(canonical(p.link) for p in ours)
        for link, n in our_links.items():
            if n > 1:
                problems.append(f"{channel}: {n} posts of ours for {link}")
        for post in ours:
            link = canonical(post.link)
            found = by_link.get(link, [])
            where = f"{channel}: post {post.id} ({link}, {post.status})"
            if len(found) > 1:
                problems.append(f"{where} is on the platform {len(found)} times: "
                                f"{[f[0] for f in found]}; its attempts:\n"
                                + db.history(post.id))
            if post.status == "published":
                if not found:
                    problems.append(f"{where}: published but not on the platform")
                elif post.remote_id not in {f[0] for f in found}:
                    problems.append(f"{where}: remote id {post.remote_id} is not the "
                                    f"platform's {[f[0] for f in found]}")
                keys = {f[2] for f in found if f[2] is not None}
                if keys and keys != {post.idempotency_key}:
                    problems.append(f"{where}: sent with keys {keys}, "
                                    f"not {post.idempotency_key}")
            elif channel in review and post.status == "needs_review":
                if post.id not in ambiguous:
                    problems.append(f"{where}: needs_review without an ambiguous attempt")
            elif post.status in absent_ok:
                if found:
                    problems.append(f"{where}: on the platform as {found[0][0]} but not "
                                    "published in the database")
            else:
                problems.append(f"{where}: not published ({post.last_error})")
        for link in by_link:
            if link not in our_links:
                problems.append(f"{channel}: {link} is on the platform but is no post of ours")
    return problems
