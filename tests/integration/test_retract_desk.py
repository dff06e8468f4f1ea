"""``publisher retract`` and ``publisher correct`` end to end in one process
(issue 13): the CLI (Typer's CliRunner) on the test's store, the dispatcher
with the real adapters against FakeMastodon, FakeX and FakeTelegram on
127.0.0.1, and a jsonl channel that cannot delete.

Covers: a dry run writes nothing; without --yes it asks; every published post
goes to deleting and the dispatcher deletes it once; unsent posts are
cancelled; a channel that cannot delete and a Telegram post past its 48 hours
are listed for an editor (exit 1); who and why are in the log; the article
is never planned again; `status` and `queue show` show retracted posts; a
correction edits in place (Mastodon, old and new text logged), posts a
correction note where the platform cannot edit (X), and a retracted post is
never edited."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from publisher.app import App, make_app
from publisher.cli import app as cli
from publisher.cli import state
from publisher.config import Settings
from publisher.store import schema
from publisher.types import (
    ArticleData,
    ArticleState,
    AttemptKind,
    NewPost,
    Outcome,
    PostStatus,
)
from tests.fakes.clock import FakeClock
from tests.fakes.mastodon_server import FakeMastodon
from tests.fakes.telegram_server import FakeTelegram
from tests.fakes.x_server import FakeX
from tests.shipped import TEMPLATES as SHIPPED_TEMPLATES

START = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
X_CREDENTIALS = ('api_key = "X_API_KEY", api_secret = "X_API_SECRET", '
                 'access_token = "X_ACCESS_TOKEN", access_token_secret = "X_ACCESS_TOKEN_SECRET"')
SECRETS = {
    "X_API_KEY": "xk-consumer-desk-8812",
    "X_API_SECRET": "xs-consumer-secret-desk-8812",
    "X_ACCESS_TOKEN": "1600000000000000001-access-desk-8812",
    "X_ACCESS_TOKEN_SECRET": "xats-secret-desk-8812",
    "MASTODON_TOKEN": "masto-token-desk-8812",
    "TELEGRAM_TOKEN": "7000000001:AAH-desk-telegram-token-8812",
}


@dataclass
class World:
    app: App
    clock: FakeClock
    env: dict[str, str]
    x: FakeX
    mastodon: FakeMastodon
    telegram: FakeTelegram
    tmp: Path

    def cli(self, *args: str, input: str | None = None) -> Any:
        return CliRunner().invoke(cli, list(args), env=self.env, input=input)

    def work(self) -> None:
        self.app.dispatcher.run_until_idle()


def schedule(x: FakeX, mastodon: FakeMastodon, telegram: FakeTelegram, out: Path) -> str:
    return f"""
[site]
timezone = "UTC"

[channels.x]
type = "x"
base_url = "{x.base_url}"
credentials = {{ {X_CREDENTIALS} }}

[channels.mastodon]
type = "mastodon"
base_url = "{mastodon.base_url}"
on_update = "edit"
credentials = {{ access_token = "MASTODON_TOKEN" }}

[channels.telegram]
type = "telegram"
base_url = "{telegram.base_url}"
credentials = {{ bot_token = "TELEGRAM_TOKEN" }}
options = {{ chat_id = {telegram.chat_id} }}

[channels.archive]
type = "jsonl"
options = {{ path = "{out}/archive.jsonl" }}
"""


@pytest.fixture
def world(sqlite_store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    x = FakeX(consumer_key=SECRETS["X_API_KEY"], access_token=SECRETS["X_ACCESS_TOKEN"])
    mastodon = FakeMastodon(access_token=SECRETS["MASTODON_TOKEN"])
    telegram = FakeTelegram(token=SECRETS["TELEGRAM_TOKEN"])
    with x, mastodon, telegram:
        (tmp_path / "schedules").mkdir()
        (tmp_path / "schedules" / "site.toml").write_text(
            schedule(x, mastodon, telegram, tmp_path / "out"))
        clock = FakeClock(START)
        monkeypatch.setattr(state, "clock", clock)
        settings = Settings(schedules=tmp_path / "schedules", templates=SHIPPED_TEMPLATES,
                            env_file=tmp_path / ".env")
        app = make_app(settings, store=sqlite_store, clock=clock, environ=SECRETS)
        env = {"DATABASE_URL": sqlite_store.url, "PUBLISHER_SCHEDULES": str(tmp_path / "schedules"),
               "PUBLISHER_TEMPLATES": str(SHIPPED_TEMPLATES), "USER": "alice"}
        try:
            yield World(app, clock, env, x, mastodon, telegram, tmp_path)
        finally:
            app.close()
        for fake in (x, mastodon, telegram):
            assert not fake.errors, fake.errors[0]


def add_article(world: World, n: int, channels: tuple[str, ...] = (
        "x", "mastodon", "telegram", "archive")) -> tuple[int, list[int]]:
    store, now = world.app.store, world.clock()
    url = f"https://news.example.org/2026/11/story-{n}"
    [article] = store.add_articles("site", [ArticleData(
        guid=url, url=url, title=f"Bridge reopens after repairs {n}",
        summary="The river crossing is open again.", published=now)],
        state=ArticleState.PLANNED, now=now)
    ids = store.add_posts([NewPost(channel=c, text=f"Bridge reopens after repairs {n}\n\n{url}",
                                   link=url, expires_at=now + timedelta(hours=24))
                           for c in channels], article_id=article.id, now=now)
    return article.id, ids


def dump(store: Any) -> list[tuple[str, list[tuple[Any, ...]]]]:
    out = []
    with store._engine.connect() as conn:
        for table in schema.metadata.sorted_tables:
            rows = conn.execute(sa.select(table).order_by(*table.primary_key.columns)).all()
            out.append((table.name, [tuple(r) for r in rows]))
    return out


def test_retract_from_the_cli_deletes_each_post_once_and_lists_what_it_cannot(world) -> None:
    store = world.app.store
    article_id, ids = add_article(world, 1)
    world.work()
    assert [store.get_post(i).status for i in ids] == [PostStatus.PUBLISHED] * 4
    unsent = store.add_posts([NewPost(channel="x", text="later", link=None,
                                      not_before=world.clock() + timedelta(hours=3))],
                             article_id=None, now=world.clock())
    assert unsent  # a text post of no article: untouched by the retraction

    before = dump(store)
    dry = world.cli("retract", str(article_id), "--reason", "legal", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "would be deleted" in dry.output and "FOR AN EDITOR" in dry.output
    assert dump(store) == before, "a dry run writes nothing"
    asked = world.cli("retract", str(article_id), "--reason", "legal", input="n\n")
    assert asked.exit_code == 1 and dump(store) == before, asked.output

    result = world.cli("retract", f"post:{ids[0]}", "--reason", "legal: pulled story",
                       "--yes")
    assert result.exit_code == 1, result.output  # one post for an editor (jsonl)
    assert "archive" in result.output and "take it down by hand" in result.output
    x, mastodon, telegram, archive = (store.get_post(i) for i in ids)
    assert (x.status, mastodon.status, telegram.status) == (PostStatus.DELETING,) * 3
    assert archive.status is PostStatus.PUBLISHED

    world.work()
    assert [store.get_post(i).status for i in ids[:3]] == [PostStatus.RETRACTED] * 3
    assert [t.id for t in world.x.deleted.values()] == [x.remote_id]
    assert [s.id for s in world.mastodon.deleted] == [mastodon.remote_id]
    assert [str(m.message_id) for m in world.telegram.deleted] == [telegram.remote_id]
    for post_id in ids[:3]:
        rows = [r for r in store.attempts(post_id=post_id, limit=50)
                if r.kind is AttemptKind.DELETE]
        assert [r.outcome for r in rows] == [Outcome.OK, Outcome.REQUESTED]
        assert (rows[1].by, rows[1].reason) == ("alice", "legal: pulled story")

    # Again: nothing is deleted twice.
    again = world.cli("retract", str(article_id), "--reason", "again", "--yes")
    assert "already" in again.output
    world.work()
    assert len(world.x.deleted) == 1 and len(world.mastodon.deleted) == 1

    # Never planned again, even if its entry comes back.
    assert store.get_article(article_id).retracted
    store.mark_articles([article_id], ArticleState.PENDING)
    assert world.app.plan_pending() == []

    listed = world.cli("queue", "list", "--status", "retracted")
    assert listed.exit_code == 0 and str(ids[0]) in listed.output, listed.output
    logged = world.cli("log", "--post", str(ids[0]))
    assert logged.exit_code == 0, logged.output
    assert ("outcome=requested kind=delete by='alice' reason='legal: pulled story'"
            in logged.output), logged.output
    shown = world.cli("queue", "show", str(ids[0]))
    assert shown.exit_code == 0 and "retracted" in shown.output, shown.output
    assert "taken down from the platform" in shown.output, shown.output
    status = world.cli("status")
    assert "retracted" in status.output, status.output


def test_retract_cancels_unsent_posts_and_leaves_telegram_past_48_hours_to_an_editor(
        world) -> None:
    store = world.app.store
    article_id, ids = add_article(world, 2, channels=("telegram",))
    world.work()
    world.clock.advance(49 * 3600)
    late = store.add_posts([NewPost(channel="mastodon", text="Follow-up", link=None,
                                    not_before=world.clock() + timedelta(hours=1))],
                           article_id=None, now=world.clock())
    [queued] = store.add_posts([NewPost(channel="x", text="Queued", link=None,
                                        not_before=world.clock() + timedelta(hours=1))],
                               article_id=article_id, now=world.clock())
    result = world.cli("retract", str(article_id), "--reason", "pulled", "--yes")
    assert result.exit_code == 1, result.output
    assert "past the platform's delete window" in result.output
    assert store.get_post(ids[0]).status is PostStatus.PUBLISHED
    assert store.get_post(queued).status is PostStatus.CANCELLED
    assert store.get_post(late[0]).status is PostStatus.QUEUED  # another article's
    world.work()
    assert world.telegram.deleted == []


def test_a_delete_in_doubt_is_read_back_not_sent_twice(world) -> None:
    store = world.app.store
    article_id, ids = add_article(world, 3, channels=("mastodon",))
    world.work()
    world.mastodon.fail_next("reset_after", on="delete")  # deleted, the answer lost
    world.cli("retract", str(article_id), "--reason", "pulled", "--yes")
    world.work()
    assert store.get_post(ids[0]).status is PostStatus.DELETING  # waits to read back
    world.clock.advance(5)
    world.work()
    assert store.get_post(ids[0]).status is PostStatus.RETRACTED
    assert len(world.mastodon.requests_to("DELETE", f"/api/v1/statuses/"
                                          f"{store.get_post(ids[0]).remote_id}")) == 1
    outcomes = [r.outcome for r in store.attempts(post_id=ids[0], limit=50)
                if r.kind is AttemptKind.DELETE]
    assert outcomes == [Outcome.RECONCILED, Outcome.AMBIGUOUS, Outcome.REQUESTED]


def test_correct_edits_in_place_or_posts_a_note_and_never_edits_a_retracted_post(
        world) -> None:
    store = world.app.store
    article_id, ids = add_article(world, 4, channels=("x", "mastodon", "archive"))
    world.work()
    x, mastodon, _archive = (store.get_post(i) for i in ids)
    result = world.cli("correct", str(article_id), "--text",
                       "Correction: the bridge reopens on Friday, not Thursday")
    assert result.exit_code == 1, result.output  # jsonl can neither edit nor reply
    assert "edited in place" in result.output and "a correction note" in result.output
    world.work()
    edited = store.get_post(ids[1])
    assert edited.status is PostStatus.PUBLISHED
    assert edited.text == "Correction: the bridge reopens on Friday, not Thursday"
    [status] = [s for s in world.mastodon.statuses if s.id == mastodon.remote_id]
    assert "Friday" in status.text
    [edit] = [r for r in store.attempts(post_id=ids[1], limit=50)
              if r.kind is AttemptKind.EDIT and r.outcome is Outcome.OK]
    assert edit.old_text == mastodon.text and "Friday" in (edit.new_text or "")
    note = [t for t in world.x.posts if "Friday" in t.text]
    assert len(note) == 1  # a reply to the original
    assert store.get_post(ids[0]).text == x.text  # the original stays

    world.cli("retract", str(article_id), "--reason", "pulled", "--yes")
    world.work()
    again = world.cli("correct", str(article_id), "--text", "Another fix")
    assert "never edited" in again.output
    world.work()
    assert store.get_post(ids[1]).status is PostStatus.RETRACTED


def test_a_delete_left_started_by_a_dead_daemon_is_read_back_after_a_restart(world) -> None:
    store, clock = world.app.store, world.clock
    article_id, [post_id] = add_article(world, 5, channels=("mastodon",))
    world.work()
    world.cli("retract", str(article_id), "--reason", "pulled", "--yes")
    # A daemon claims the delete, records it as started, reaches the platform
    # and dies before recording the answer (its lease has years to run).
    [held] = store.claim_after(now=clock(), worker="dead:1", lease_seconds=300, limit=5,
                               channels=["mastodon"])
    assert store.start_after_attempt(held.id, AttemptKind.DELETE, worker="dead:1",
                                     now=clock()) is not None
    world.app.channels.get("mastodon").delete(held.remote_id)  # type: ignore[attr-defined]
    world.work()
    assert store.get_post(post_id).status is PostStatus.DELETING  # its lease still holds
    world.app.dispatcher.reap(everything=True)  # a start under the daemon lock
    world.work()
    assert store.get_post(post_id).status is PostStatus.RETRACTED
    deletes = world.mastodon.requests_to("DELETE", f"/api/v1/statuses/{held.remote_id}")
    assert len(deletes) == 1  # read back as gone, never deleted again
    rows = [(r.outcome, r.error) for r in store.attempts(post_id=post_id, limit=50)
            if r.kind is AttemptKind.DELETE]
    assert rows[0][0] is Outcome.RECONCILED
    assert rows[1] == (Outcome.AMBIGUOUS, "lease expired")


def test_an_edit_in_doubt_is_read_back_and_a_telegram_delete_in_doubt_repeated(world) -> None:
    store = world.app.store
    article_id, [masto, tg] = add_article(world, 6, channels=("mastodon", "telegram"))
    world.work()
    world.mastodon.fail_next("reset_after", on="edit")  # edited, the answer lost
    world.cli("correct", str(article_id), "--channel", "mastodon", "--text",
              "Bridge reopens on Friday")
    world.work()
    world.clock.advance(5)
    world.work()
    edited = store.get_post(masto)
    assert (edited.status, edited.text) == (PostStatus.PUBLISHED, "Bridge reopens on Friday")
    edits = [r.outcome for r in store.attempts(post_id=masto, limit=50)
             if r.kind is AttemptKind.EDIT]
    assert edits == [Outcome.RECONCILED, Outcome.AMBIGUOUS, Outcome.REQUESTED]
    assert len(world.mastodon.requests_to("PUT", f"/api/v1/statuses/{edited.remote_id}")) == 1

    world.telegram.fail_next("reset_after", on="delete")  # deleted, the answer lost
    world.cli("retract", str(article_id), "--channel", "telegram", "--reason", "pulled",
              "--yes")
    world.work()
    world.clock.advance(5)
    world.work()
    assert store.get_post(tg).status is PostStatus.RETRACTED
    deletes = [r.outcome for r in store.attempts(post_id=tg, limit=50)
               if r.kind is AttemptKind.DELETE]
    # No read back on Telegram: the delete is repeated ("not found" = gone).
    assert deletes == [Outcome.OK, Outcome.AMBIGUOUS, Outcome.REQUESTED]
    assert len(world.telegram.deleted) == 1
    assert not store.get_article(article_id).retracted  # --channel: only there
