"""The lifecycle's doubt, through the real store and dispatcher: a post an
earlier attempt of which may be on the platform is never failed as stale,
even after a later attempt failed plainly (found by the lifecycle's state
machine: a 503 on the second try says nothing of where the first one went)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from publisher.app import make_app
from publisher.config import Settings
from publisher.types import NewPost, Outcome, PostStatus
from tests.fakes.channel import ScriptedChannel
from tests.fakes.clock import FakeClock

START = datetime(2026, 11, 26, 12, tzinfo=UTC)

SCHEDULE = """
[channels.feed]
type = "jsonl"
options = { path = "{out}" }
"""


def test_a_stale_post_in_doubt_before_a_later_503_is_not_failed(sqlite_store,
                                                                  tmp_path: Path) -> None:
    (tmp_path / "schedules").mkdir()
    (tmp_path / "schedules" / "site.toml").write_text(
        SCHEDULE.replace("{out}", str(tmp_path / "out.jsonl")))
    (tmp_path / "templates").mkdir()
    clock = FakeClock(START)
    app = make_app(Settings(schedules=tmp_path / "schedules", templates=tmp_path / "templates",
                            env_file=tmp_path / ".env"), store=sqlite_store, clock=clock,
                   environ={}, channels={"feed": ScriptedChannel("feed")})
    store = sqlite_store
    try:
        [post_id] = store.add_posts([NewPost(channel="feed", text="Hello",
                                             expires_at=START + timedelta(minutes=30))],
                                    article_id=None, now=clock())
        for outcome in (Outcome.AMBIGUOUS, Outcome.RETRYING):
            [item] = store.claim_due(now=clock(), worker="w", lease_seconds=60, limit=1,
                                     channels=["feed"])
            attempt = store.start_attempt(item.id, worker="w", now=clock())
            assert attempt is not None
            store.finish_attempt(attempt.id, worker="w", now=clock(), outcome=outcome,
                                 post_status=PostStatus.WAITING, next_attempt_at=clock(),
                                 error=str(outcome))
        clock.advance(3600)
        assert app.dispatcher.expire_stale() == 0
        assert store.get_post(post_id).status is PostStatus.WAITING
    finally:
        app.close()
