"""A webhook channel's retraction (issue 13): the signed ``retract`` event
through the dispatcher against FakeWebhookReceiver on 127.0.0.1.  A webhook
cannot be read back, so a retract whose answer was lost goes to
``needs_review`` with a reason; it is never resolved or retried as a
publication, and running ``retract`` again sends the event again (same
Idempotency-Key), which settles it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from publisher.app import make_app
from publisher.config import Settings
from publisher.exceptions import InputError
from publisher.services import desk
from publisher.services.after_post import retract_article
from publisher.types import ArticleData, ArticleState, AttemptKind, NewPost, Outcome, PostStatus
from tests.fakes.clock import FakeClock
from tests.fakes.webhook_server import FakeWebhookReceiver
from tests.shipped import TEMPLATES as SHIPPED_TEMPLATES

START = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
SECRET = "whsec-retract-5521-0123456789abcdef"


def test_a_webhook_retract_in_doubt_is_for_an_editor_then_sent_again(sqlite_store,
                                                                     tmp_path: Path) -> None:
    receiver = FakeWebhookReceiver(secret=SECRET)
    with receiver:
        (tmp_path / "schedules").mkdir()
        (tmp_path / "schedules" / "site.toml").write_text(
            '[channels.hook]\ntype = "webhook"\n'
            'credentials = { url = "WEBHOOK_URL", signing_secret = "WEBHOOK_SECRET" }\n')
        clock = FakeClock(START)
        app = make_app(Settings(schedules=tmp_path / "schedules", templates=SHIPPED_TEMPLATES,
                                env_file=tmp_path / ".env"), store=sqlite_store, clock=clock,
                       environ={"WEBHOOK_URL": receiver.url, "WEBHOOK_SECRET": SECRET})
        try:
            store = app.store
            url = "https://news.example.org/2026/11/pulled"
            [article] = store.add_articles("site", [ArticleData(
                guid=url, url=url, title="Pulled story", published=clock())],
                state=ArticleState.PLANNED, now=clock())
            [post_id] = store.add_posts([NewPost(channel="hook", text="Pulled story",
                                                 link=url,
                                                 expires_at=clock() + timedelta(hours=1))],
                                        article_id=article.id, now=clock())
            app.dispatcher.run_until_idle()
            assert store.get_post(post_id).status is PostStatus.PUBLISHED

            receiver.fail_next("reset_after", on="delete")  # taken, the answer lost
            retract_article(app, url, reason="legal", by="alice")
            app.dispatcher.run_until_idle()
            clock.advance(5)
            app.dispatcher.run_until_idle()
            post = store.get_post(post_id)
            assert post.status is PostStatus.NEEDS_REVIEW and post.after_kind == "delete"
            assert "cannot be read back" in (post.last_error or "")
            shown = desk.show_post(app, post_id)
            assert "then `publisher retract` again" in shown.why, shown.why
            for verb in (lambda: desk.retry_post(app, post_id, by="alice"),
                         lambda: desk.resolve_post(app, post_id, by="alice",
                                                   not_published=True)):
                with pytest.raises(InputError, match="publisher retract"):
                    verb()
            assert store.get_post(post_id).status is PostStatus.NEEDS_REVIEW

            retract_article(app, str(article.id), reason="legal: checked", by="alice")
            app.dispatcher.run_until_idle()
            assert store.get_post(post_id).status is PostStatus.RETRACTED
            retracts = [e for e in receiver.events_taken if e[0] == "retract"]
            assert len({key for _, key, _ in retracts}) == 1  # the same key each time
            assert retracts[0][2].get("reason") == "legal"  # the editor's why, in the event
            assert receiver.live == []
            rows = [r.outcome for r in store.attempts(post_id=post_id, limit=50)
                    if r.kind is AttemptKind.DELETE]
            assert rows[:2] == [Outcome.OK, Outcome.REQUESTED]
            assert Outcome.NEEDS_REVIEW in rows
        finally:
            app.close()
