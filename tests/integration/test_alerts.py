"""Alerts: the pure rule as a table of named scenarios, then the runner on the
real store sending through a real SMTP server (STARTTLS) and a Slack webhook
that has been revoked."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from publisher.app import make_app
from publisher.config import Settings
from publisher.services.alerts import (
    AlertRunner,
    AlertState,
    Event,
    Kind,
    decide,
    feed_failing_since,
)
from publisher.types import FeedKind, FeedState, NewPost, Outcome, PostStatus
from tests.fakes.clock import FakeClock
from tests.fakes.slack_server import FakeSlack
from tests.fakes.smtp_server import FakeSMTP
from tests.shipped import TEMPLATES as SHIPPED_TEMPLATES

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
TARGETS = ("mail", "slack")


def failed(n: int, channel: str = "x") -> Event:
    return Event(Kind.POST_FAILED, f"attempt:{n}", f"#{n} {channel}: 403 duplicate",
                 channel=channel)


def paused(channel: str = "x", at: str = "09:00") -> Event:
    return Event(Kind.CHANNEL_PAUSED, f"paused:{channel}:{at}", f"{channel}: auth failed",
                 channel=channel, condition=True)


def sent(plan) -> list[tuple[str, str, str]]:
    return [(m.kind.value, m.channel, m.text) for m in plan.messages]


# -- the rule -----------------------------------------------------------------------


def test_first_event_goes_to_every_target_at_once():
    plan = decide(AlertState(), [failed(1)], T0, targets=TARGETS)
    assert sent(plan) == [
        ("post_failed", "mail", "publisher: post failed: #1 x: 403 duplicate"),
        ("post_failed", "slack", "publisher: post failed: #1 x: 403 duplicate"),
    ]


def test_one_kind_at_most_once_per_15_minutes_the_rest_grouped():
    state = decide(AlertState(), [failed(1)], T0, targets=["mail"]).state
    plan = decide(state, [failed(2)], T0 + timedelta(minutes=5), targets=["mail"])
    assert plan.messages == ()
    plan = decide(plan.state, [failed(3)], T0 + timedelta(minutes=10), targets=["mail"])
    assert plan.messages == ()
    plan = decide(plan.state, [], T0 + timedelta(minutes=15), targets=["mail"])
    assert sent(plan) == [("post_failed", "mail",
                           "publisher: 2 posts failed\n- #2 x: 403 duplicate\n"
                           "- #3 x: 403 duplicate")]
    assert plan.state.pending == ()


def test_kinds_are_independent():
    state = decide(AlertState(), [failed(1)], T0, targets=["mail"]).state
    plan = decide(state, [paused()], T0 + timedelta(minutes=1), targets=["mail"])
    assert [m.kind for m in plan.messages] == [Kind.CHANNEL_PAUSED]


def test_a_condition_is_said_once_while_it_lasts_and_again_when_it_comes_back():
    plan = decide(AlertState(), [paused()], T0, targets=["mail"])
    assert len(plan.messages) == 1
    for minutes in (20, 40, 60):
        plan = decide(plan.state, [paused()], T0 + timedelta(minutes=minutes), targets=["mail"])
        assert plan.messages == ()
    plan = decide(plan.state, [], T0 + timedelta(minutes=70), targets=["mail"])  # resumed
    plan = decide(plan.state, [paused(at="10:30")], T0 + timedelta(minutes=90),
                  targets=["mail"])
    assert len(plan.messages) == 1


def test_a_condition_that_ended_while_held_is_not_sent():
    state = decide(AlertState(), [paused("x")], T0, targets=["mail"]).state
    plan = decide(state, [paused("x"), paused("fb")], T0 + timedelta(minutes=1),
                  targets=["mail"])
    assert plan.messages == ()
    plan = decide(plan.state, [paused("x")], T0 + timedelta(minutes=16), targets=["mail"])
    assert plan.messages == ()  # fb was resumed before its turn came


def test_never_about_itself():
    plan = decide(AlertState(), [paused("slack")], T0, targets=TARGETS)
    assert [(m.channel, m.text) for m in plan.messages] == [
        ("mail", "publisher: channel paused: slack: auth failed")]
    plan = decide(AlertState(), [failed(1, "slack"), failed(2, "x")], T0, targets=TARGETS)
    by = {m.channel: m.text for m in plan.messages}
    assert "#1 slack" in by["mail"] and "#2 x" in by["mail"]
    assert "#1 slack" not in by["slack"] and "#2 x" in by["slack"]


def test_many_events_are_cut_short():
    plan = decide(AlertState(), [failed(n) for n in range(30)], T0, targets=["mail"])
    [message] = plan.messages
    lines = message.text.splitlines()
    assert lines[0] == "publisher: 30 posts failed"
    assert lines[-1] == "... and 10 more (publisher status)"
    assert len(lines) == 22


@pytest.mark.parametrize(("errors", "last_success", "first_seen", "expected"), [
    (0, None, None, None),
    (3, T0, T0 + timedelta(hours=2), T0),
    (3, None, T0, T0),
])
def test_feed_failing_since(errors, last_success, first_seen, expected):
    feed = FeedState("site", "https://news.example/feed", FeedKind.RSS, error_count=errors,
                     last_success_at=last_success)
    assert feed_failing_since(feed, first_seen) == expected


# -- the runner, for real ------------------------------------------------------------


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[FakeSMTP]:
    with FakeSMTP(tmp_path, password="mail-password-123") as fake:
        yield fake


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


@pytest.fixture
def app(sqlite_store, tmp_path, smtp, slack):
    (tmp_path / "schedules").mkdir()
    (tmp_path / "schedules" / "site.toml").write_text(f"""
[[feeds]]
name = "site"
url = "https://news.example/feed/"

[channels.wire]
type = "jsonl"
options = {{ path = "{tmp_path / 'wire.jsonl'}" }}

[channels.ops-mail]
type = "email"
credentials = {{ username = "SMTP_USER", password = "SMTP_PASSWORD" }}

[channels.ops-mail.options]
host = "127.0.0.1"
port = {smtp.port}
from = "desk@news.example"
to = ["ops@news.example"]
ca_file = "{smtp.ca_file}"

[channels.ops-slack]
type = "slack"
credentials = {{ webhook_url = "SLACK_HOOK" }}

[alerts]
channels = ["ops-mail", "ops-slack"]

[[routes]]
channels = ["wire"]
""")
    settings = Settings(schedules=tmp_path / "schedules", templates=SHIPPED_TEMPLATES,
                        env_file=tmp_path / ".env")
    app = make_app(settings, store=sqlite_store, environ={
        "SMTP_USER": "desk", "SMTP_PASSWORD": "mail-password-123",
        "SLACK_HOOK": slack.webhook_url})
    yield app
    app.channels.close()
    app.fetcher.close()


def fail_a_post(store, clock, channel: str = "wire", error: str = "403 duplicate") -> int:
    [post_id] = store.add_posts([NewPost(channel=channel, text="A story")], article_id=None,
                                now=clock())
    store.claim_due(now=clock(), worker="w", lease_seconds=60, limit=10, channels=[channel])
    attempt = store.start_attempt(post_id, worker="w", now=clock())
    assert attempt is not None
    store.finish_attempt(attempt.id, worker="w", now=clock(), outcome=Outcome.FAILED,
                         post_status=PostStatus.FAILED, error=error)
    return post_id


def test_runner_mails_groups_and_survives_a_revoked_alert_channel(app, smtp, slack, caplog):
    clock = FakeClock(datetime.now(UTC))
    assert app.config.alert_channels == ("ops-mail", "ops-slack")
    runner = AlertRunner(app.store, app.channels, app.config.alert_channels, clock)
    slack.revoked = True  # the Slack alert channel's webhook was removed
    first = fail_a_post(app.store, clock)
    app.store.set_paused("wire", paused=True, now=clock(), reason="X credits depleted")
    runner.tick()
    subjects = sorted(m["Subject"] for m in smtp.messages)
    assert subjects == ["publisher: channel paused: wire: X credits depleted",
                        f"publisher: post failed: #{first} wire: 403 duplicate"]
    assert slack.messages == []
    assert "ops-slack" in caplog.text and "not sent" in caplog.text
    # The failing alert channel alerts nobody about itself, now or later.
    clock.advance(60)
    runner.tick()
    assert len(smtp.messages) == 2
    # Two more failures within 15 minutes wait, then go out as one message.
    fail_a_post(app.store, clock)
    fail_a_post(app.store, clock)
    clock.advance(60)
    runner.tick()
    assert len(smtp.messages) == 2
    clock.advance(15 * 60)
    runner.tick()
    assert len(smtp.messages) == 3
    assert smtp.messages[-1]["Subject"] == "publisher: 2 posts failed"
    assert "X credits depleted" not in smtp.messages[-1].get_content()


def test_runner_drafts_and_a_feed_failing_for_an_hour(app, smtp, slack):
    clock = FakeClock(datetime.now(UTC))
    runner = AlertRunner(app.store, app.channels, ["ops-mail"], clock)
    app.sync()
    app.store.record_poll_success("site", now=clock(), etag=None, last_modified=None,
                                  body_hash=None, next_poll_at=clock())
    app.store.add_posts([NewPost(channel="wire", text="Waiting for a yes",
                                 status=PostStatus.DRAFT)], article_id=None, now=clock())
    clock.advance(30 * 60)
    app.store.record_poll_failure("site", now=clock(), error="HTTP 500",
                                  next_poll_at=clock())
    runner.tick()
    assert [m["Subject"] for m in smtp.messages] == [
        "publisher: draft waiting for approval: #1 wire: Waiting for a yes"]
    clock.advance(31 * 60)  # now failing for 61 minutes since the last success
    runner.tick()
    assert smtp.messages[-1]["Subject"].startswith("publisher: feed failing: site: failing "
                                                   "for 1.0 h: HTTP 500")
    clock.advance(60 * 60)
    runner.tick()
    assert len(smtp.messages) == 2  # both still true: said once
