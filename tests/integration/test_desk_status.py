"""``status`` on a channel the platform blocked (X credits depleted): the
dispatcher pauses it with the platform's reason, its posts wait (not
failed), and ``status`` says why and how many wait."""

from __future__ import annotations

import shlex
from datetime import UTC, datetime, timedelta
from pathlib import Path

from typer.testing import CliRunner

from publisher.app import make_app
from publisher.cli import app as cli_app
from publisher.config import Settings
from publisher.exceptions import AccountBlocked
from publisher.services import desk
from publisher.types import NewPost, PostStatus
from tests.fakes.channel import ScriptedChannel
from tests.fakes.clock import FakeClock

START = datetime(2026, 11, 26, 12, tzinfo=UTC)
REASON = "X credits depleted: add credits, then `publisher resume --channel x`"

SCHEDULE = """
[channels.x]
type = "x"

[channels.x.credentials]
api_key = "DX_KEY"
api_secret = "DX_SECRET"
access_token = "DX_TOKEN"
access_token_secret = "DX_TOKEN_SECRET"
"""


def test_status_names_the_reason_of_a_blocked_account_and_counts_its_posts(
        sqlite_store, tmp_path: Path) -> None:
    (tmp_path / "schedules").mkdir()
    (tmp_path / "schedules" / "site.toml").write_text(SCHEDULE)
    (tmp_path / "templates" / "x").mkdir(parents=True)
    (tmp_path / "templates" / "x" / "default.j2").write_text("{{ article.title }}")
    clock = FakeClock(START)
    x = ScriptedChannel("x", script=[AccountBlocked(REASON, http_status=402)] * 3, clock=clock)
    app = make_app(Settings(schedules=tmp_path / "schedules", templates=tmp_path / "templates",
                            env_file=tmp_path / ".env"), store=sqlite_store, channels={"x": x},
                   clock=clock, environ=dict.fromkeys(
                       ("DX_KEY", "DX_SECRET", "DX_TOKEN", "DX_TOKEN_SECRET"), "unused"))
    try:
        ids = sqlite_store.add_posts(
            [NewPost(channel="x", text=f"Story {n}", expires_at=START + timedelta(hours=24))
             for n in range(3)], article_id=None, now=clock())
        app.dispatcher.run_until_idle()
        state = sqlite_store.channel_states()["x"]
        assert state.paused and not state.auth_failed and state.paused_reason == REASON
        posts = [sqlite_store.get_post(i) for i in ids]
        assert {p.status for p in posts} <= {PostStatus.QUEUED, PostStatus.WAITING}
        report = desk.status(app)
        assert f"channel x: paused: {REASON} (publisher) — 3 posts waiting" in report.problems
        # What the message tells the editor to run, run as written, releases the channel.
        command = shlex.split(REASON.split("`")[1])
        assert command[0] == "publisher"
        result = CliRunner().invoke(cli_app, command[1:], env={
            "DATABASE_URL": sqlite_store.url, "PUBLISHER_SCHEDULES": str(tmp_path / "schedules"),
            "PUBLISHER_TEMPLATES": str(tmp_path / "templates")})
        assert result.exit_code == 0, result.output
        assert not sqlite_store.channel_states()["x"].paused
    finally:
        app.close()
