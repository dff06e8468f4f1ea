"""The desk as a subprocess against a running daemon (``publisher run`` with
jsonl channels, a webhook receiver and a feed over real HTTP): a queued post
goes out without a restart, pause holds it and resume releases it, needs_review
is resolved both ways, ``log --follow`` prints attempts as they happen, and
``status`` says what is wrong.  The tests wait on the database the daemon
writes (``reliability.Db``) or on the fakes' records, never by starting
``publisher`` commands in a loop."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.e2e.reliability import Db
from tests.e2e.test_daemon import PUBLISHER, env_for, jsonl, publisher, wait_for
from tests.fakes.feed_server import FeedServer
from tests.fakes.feeds import item, rss
from tests.fakes.webhook_server import FakeWebhookReceiver

#: The second tier: each test drives a running daemon from the desk.
pytestmark = pytest.mark.slow

SECRET = "desk-e2e-signing-secret-0123456789"


def write_schedule(work: Path, feed_url: str) -> None:
    (work / "schedules").mkdir(parents=True, exist_ok=True)
    (work / "schedules" / "site.toml").write_text(f"""
[site]
timezone = "America/New_York"

[[feeds]]
name = "site"
url = "{feed_url}"
poll_interval = "1s"

[channels.wire]
type = "jsonl"
options = {{ path = "{work / 'out' / 'wire.jsonl'}" }}

[channels.bridge]
type = "webhook"
credentials = {{ url = "DESK_BRIDGE_URL", signing_secret = "DESK_BRIDGE_SECRET" }}
timeout = "5s"

[[routes]]
feed = "site"
channels = ["wire"]
""")


class Running:
    def __init__(self, work: Path, srv: FeedServer, receiver: FakeWebhookReceiver):
        self.work, self.srv, self.receiver = work, srv, receiver
        self.env = env_for(work, DESK_BRIDGE_URL=receiver.url, DESK_BRIDGE_SECRET=SECRET)
        self.db = Db(self.env["DATABASE_URL"])

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return publisher(self.work, *args, env=self.env)

    def add(self, text: str, channel: str = "wire") -> int:
        result = self.cli("queue", "add", "--text", text, "-c", channel, "--json")
        assert result.returncode == 0, result.stderr
        [post] = json.loads(result.stdout)["posts"]
        return int(post["id"])

    def add_at(self, text: str, when: str) -> int:
        result = self.cli("queue", "add", "--text", text, "-c", "wire", "--at", when,
                          "--json")
        assert result.returncode == 0, result.stderr
        return int(json.loads(result.stdout)["posts"][0]["id"])

    def post(self, post_id: int) -> dict:
        result = self.cli("queue", "show", str(post_id), "--json")
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    def status(self, post_id: int) -> str | None:
        """The post's status, read from the database."""
        rows = self.db.rows("select status from posts where id = :p", p=post_id)
        return rows[0].status if rows else None

    def daemon_up(self) -> bool:
        """The daemon has migrated the database and beaten its heart."""
        return bool(self.db.rows("select 1 from workers where stopped_at is null"))

    def settled(self) -> bool:
        """No post left to publish and no channel paused."""
        return not self.db.rows(
            "select 1 from posts where status in ('draft', 'queued', 'waiting', 'publishing', "
            "'needs_review') union all select 1 from channels where paused")

    def polls(self) -> int:
        return len(self.srv.requests_for("/feed/"))

    def published(self) -> list[str]:
        return [row["text"] for row in jsonl(self.work / "out" / "wire.jsonl")]


@pytest.fixture
def running(tmp_path) -> Iterator[Running]:
    with FeedServer() as srv, FakeWebhookReceiver(secret=SECRET) as receiver:
        now = datetime.now(UTC)
        srv.set("/feed/", rss([item(n, published=now - timedelta(hours=n)) for n in (1, 2)]))
        write_schedule(tmp_path, srv.url("/feed/"))
        site = Running(tmp_path, srv, receiver)
        proc = subprocess.Popen([*PUBLISHER, "run"], cwd=tmp_path, env=site.env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            wait_for(lambda: (site.polls() >= 1 and site.daemon_up()) or proc.poll() is not None)
            assert proc.poll() is None, proc.communicate()[1]
            status = site.cli("status")
            assert status.returncode == 0, status.stdout
            yield site
        finally:
            proc.send_signal(signal.SIGTERM)
            _out, err = proc.communicate(timeout=30)
            site.db.close()
            assert proc.returncode == 0, err


def test_a_queued_post_goes_out_and_log_follow_prints_it(running):
    follow = subprocess.Popen([*PUBLISHER, "log", "--follow"], cwd=running.work,
                              env=running.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(follow.stdout.readline, "")),
                              daemon=True)
    reader.start()
    try:
        post_id = running.add("Water main break on 5th Avenue")
        wait_for(lambda: "Water main break on 5th Avenue" in running.published())
        assert running.post(post_id)["status"] == "published"
        wait_for(lambda: any(f"post={post_id} channel=wire attempt=1 outcome=ok" in line
                             for line in lines))
        # A post scheduled for later, edited to go now, is picked up without a restart.
        later = running.add_at("Scheduled, then brought forward", "in 3h")
        assert running.post(later)["why"].startswith("scheduled for ")
        edited = running.cli("queue", "edit", str(later), "--at", "now")
        assert edited.returncode == 0, edited.stderr
        wait_for(lambda: "Scheduled, then brought forward" in running.published())
    finally:
        # SIGTERM, not SIGINT: a test run started in the background (CI, nohup)
        # hands its children SIGINT ignored, so a Ctrl-C never arrives there;
        # `log --follow` ends on either, between two polls, with exit 0.
        follow.send_signal(signal.SIGTERM)
        code = follow.wait(timeout=10)
        reader.join(timeout=10)
        errors = follow.stderr.read() if follow.stderr else ""
        for pipe in (follow.stdout, follow.stderr):
            if pipe:
                pipe.close()
    assert code == 0, errors
    status = running.cli("status", "--json")
    assert status.returncode == 0, status.stdout
    report = json.loads(status.stdout)
    assert report["healthy"] and report["daemon"]["alive"]
    wire = next(c for c in report["channels"] if c["name"] == "wire")
    assert wire["published_today"] == 2 and wire["queue"] == {"published": 2}


def test_pause_holds_posts_until_resume(running):
    paused = running.cli("pause", "-c", "wire", "--reason", "hacked account", "--by", "ops")
    assert paused.returncode == 0, paused.stderr
    post_id = running.add("Held while paused")
    seen = running.polls()
    wait_for(lambda: running.polls() >= seen + 3)  # the daemon ticked many times meanwhile
    assert running.published() == []
    assert running.post(post_id)["why"] == "paused: hacked account (ops)"
    status = running.cli("status")
    assert status.returncode == 1
    assert "channel wire: paused: hacked account (ops)" in status.stdout
    resumed = running.cli("resume", "-c", "wire")
    assert resumed.returncode == 0, resumed.stderr
    wait_for(lambda: "Held while paused" in running.published())
    wait_for(running.settled)
    assert running.cli("status").returncode == 0


def test_needs_review_is_resolved_by_an_editor(running):
    running.receiver.fail_next("reset_after")
    there = running.add("Stored, then the answer was lost", "bridge")
    wait_for(lambda: running.status(there) == "needs_review")
    status = running.cli("status")
    assert status.returncode == 1 and "channel bridge: 1 post(s) need review" in status.stdout
    done = running.cli("queue", "resolve", str(there), "--published",
                       "https://bridge.example.net/p/1")
    assert done.returncode == 0, done.stderr
    post = running.post(there)
    assert post["status"] == "published"
    assert post["remote_url"] == "https://bridge.example.net/p/1"
    assert [a["outcome"] for a in post["attempts_log"]] == ["ambiguous", "reconciled"]

    running.receiver.fail_next("reset_before")
    lost = running.add("Lost before it was stored", "bridge")
    wait_for(lambda: running.status(lost) == "needs_review")
    again = running.cli("queue", "resolve", str(lost), "--not-published")
    assert again.returncode == 0, again.stderr
    wait_for(lambda: running.status(lost) == "published")
    texts = [d.json["text"] for d in running.receiver.deliveries]
    assert texts.count("Lost before it was stored") == 1
    assert texts.count("Stored, then the answer was lost") == 1  # resolve sent nothing


def test_bad_input_against_the_running_daemon(running):
    for args in (["queue", "add", "--text", "t", "-c", "nope"],
                 ["queue", "add", "--text", "t", "-c", "wire", "--at", "yesterday 10:00"],
                 ["queue", "cancel", "424242"],
                 ["pause", "--all", "--reason", ""],
                 ["queue", "show", "not-an-id"]):
        result = running.cli(*args)
        assert result.returncode == 2, (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
