"""Retraction through the real store, dispatcher and adapters against the
wire-level fakes under 30 % faults (issue 13): 100 articles × 5 channels (X,
Mastodon, Bluesky, Facebook, Telegram) are published, 80 of the articles are
retracted with ``retract_article`` (the slow tier; 20 and 16 by default), and
the dispatcher works the deletes
while every delete and read back may fail (500, 503, 429, a reset before the
request arrived, a reset after the post was deleted).

At the end every post asked for is gone from its platform, deleted once (a
delete in doubt is read back; Telegram, which cannot read back, is sent the
repeat its API answers "not found", which deletes nothing), nothing of the
other articles is touched, and every post is retracted or, where nobody can
tell, needs_review with a reason."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from publisher.app import App, make_app
from publisher.config import Settings
from publisher.services.after_post import retract_article
from publisher.types import ArticleData, ArticleState, AttemptKind, NewPost, Outcome, PostStatus
from tests.fakes import x_server
from tests.fakes.after_post import RUN_FAULTS
from tests.fakes.bluesky_server import FakeBluesky
from tests.fakes.fakehttp import FakeServer
from tests.fakes.graph_server import FakeGraph
from tests.fakes.mastodon_server import FakeMastodon
from tests.fakes.telegram_server import FakeTelegram
from tests.fakes.x_server import FakeX

SECRETS = {
    "X_API_KEY": "xk-consumer-retract-4411",
    "X_API_SECRET": "xs-consumer-secret-retract-4411",
    "X_ACCESS_TOKEN": "1600000000000000001-access-retract-4411",
    "X_ACCESS_TOKEN_SECRET": "xats-secret-retract-4411",
    "FACEBOOK_PAGE_TOKEN": "EAAB-page-token-retract-4411",
    "MASTODON_TOKEN": "masto-token-retract-4411",
    "BLUESKY_HANDLE": "ledger.bsky.social",
    "BLUESKY_APP_PASSWORD": "abcd-efgh-ijkl-4411",
    "TELEGRAM_TOKEN": "7000000001:AAH-retract-telegram-token-4411",
}
CREDENTIALS = {
    "x": 'api_key = "X_API_KEY", api_secret = "X_API_SECRET", '
         'access_token = "X_ACCESS_TOKEN", access_token_secret = "X_ACCESS_TOKEN_SECRET"',
    "facebook": 'page_token = "FACEBOOK_PAGE_TOKEN"',
    "mastodon": 'access_token = "MASTODON_TOKEN"',
    "bluesky": 'handle = "BLUESKY_HANDLE", app_password = "BLUESKY_APP_PASSWORD"',
    "telegram": 'bot_token = "TELEGRAM_TOKEN"',
}
CHANNELS = tuple(CREDENTIALS)


def start_fakes() -> dict[str, FakeServer]:
    fakes: dict[str, FakeServer] = {
        "x": FakeX(consumer_key=SECRETS["X_API_KEY"], access_token=SECRETS["X_ACCESS_TOKEN"]),
        "facebook": FakeGraph(page_token=SECRETS["FACEBOOK_PAGE_TOKEN"]),
        "mastodon": FakeMastodon(access_token=SECRETS["MASTODON_TOKEN"]),
        "bluesky": FakeBluesky(handle=SECRETS["BLUESKY_HANDLE"],
                               password=SECRETS["BLUESKY_APP_PASSWORD"]),
        "telegram": FakeTelegram(token=SECRETS["TELEGRAM_TOKEN"]),
    }
    # Mastodon deletes 30 statuses per 30 minutes (its 429 then announces the
    # end of the window): the same rule, on a one-second window, so the run
    # meets it without waiting half an hour.
    fakes["mastodon"].delete_period = 1.0  # type: ignore[attr-defined]
    for fake in fakes.values():
        fake.rate_limit_seconds = 0.2
        fake.slow_seconds = 0.2
        fake.start()
    return fakes


def schedule(fakes: dict[str, FakeServer]) -> str:
    options = {
        "x": "", "mastodon": "", "bluesky": "",
        "facebook": f'page_id = "{fakes["facebook"].page_id}"',  # type: ignore[attr-defined]
        "telegram": f"chat_id = {fakes['telegram'].chat_id}",  # type: ignore[attr-defined]
    }
    tables = [f'[channels.{name}]\ntype = "{name}"\nbase_url = "{fakes[name].base_url}"\n'
              'timeout = "2s"\nconcurrency = 4\n'
              'retry = { max_attempts = 40, base = "0.05s", cap = "0.3s" }\n'
              f"credentials = {{ {CREDENTIALS[name]} }}\noptions = {{ {options[name]} }}\n"
              for name in CHANNELS]
    return '[site]\nname = "Riverside Ledger"\ntimezone = "UTC"\n\n' + "\n".join(tables)


@pytest.fixture
def world(sqlite_store, tmp_path: Path,
          monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[App, dict[str, FakeServer]]]:
    # X deletes 50 posts per 15 minutes: the same rule on a one-second window.
    monkeypatch.setattr(x_server, "DELETE_WINDOW", 1.0)
    fakes = start_fakes()
    try:
        (tmp_path / "schedules").mkdir()
        (tmp_path / "schedules" / "site.toml").write_text(schedule(fakes))
        (tmp_path / "templates").mkdir()
        app = make_app(Settings(schedules=tmp_path / "schedules",
                                templates=tmp_path / "templates", env_file=tmp_path / ".env"),
                       store=sqlite_store, environ=SECRETS)
        try:
            yield app, fakes
        finally:
            app.close()
    finally:
        for fake in fakes.values():
            fake.release_slow()
            fake.stop()
    for name, fake in fakes.items():
        assert not fake.errors, (name, fake.errors[0])


def publish_all(app: App, articles: int) -> list[int]:
    store, now = app.store, datetime.now(UTC)
    ids = []
    for n in range(articles):
        url = f"https://news.example.org/2026/12/story-{n}"
        [article] = store.add_articles("ledger", [ArticleData(
            guid=url, url=url, title=f"Story number {n} about the river", published=now)],
            state=ArticleState.PLANNED, now=now)
        store.add_posts([NewPost(channel=c, text=f"Story number {n} about the river\n\n{url}",
                                 link=url) for c in CHANNELS], article_id=article.id, now=now)
        ids.append(article.id)
    app.dispatcher.run_until_idle()
    assert {p.status for p in store.list_posts(limit=10_000)} == {PostStatus.PUBLISHED}
    return ids


def live_ids(name: str, fake: FakeServer) -> set[str]:
    if name == "x":
        return {t.id for t in fake.posts}  # type: ignore[attr-defined]
    if name == "facebook":
        return {p.id for p in fake.posts}  # type: ignore[attr-defined]
    if name == "mastodon":
        return {s.id for s in fake.statuses}  # type: ignore[attr-defined]
    if name == "bluesky":
        return {r.uri for r in fake.posts()}  # type: ignore[attr-defined]
    return {str(m.message_id) for m in fake.messages}  # type: ignore[attr-defined]


def deleted_ids(name: str, fake: FakeServer) -> list[str]:
    deleted = fake.deleted  # type: ignore[attr-defined]
    if name == "x":
        return list(deleted)
    if name == "facebook":
        return [p.id for p in deleted]
    if name == "mastodon":
        return [s.id for s in deleted]
    if name == "bluesky":
        return [r.uri for r in deleted]
    return [str(m.message_id) for m in deleted]


@pytest.mark.parametrize(("articles_n", "retracted_n"), [
    (20, 16),
    pytest.param(100, 80, marks=[pytest.mark.slow, pytest.mark.timeout(600)]),
])
def test_retracting_articles_on_5_channels_under_30_percent_faults(
        world, articles_n: int, retracted_n: int) -> None:
    app, fakes = world
    store = app.store
    articles = publish_all(app, articles_n)
    before = {name: live_ids(name, fake) for name, fake in fakes.items()}
    assert all(len(ids) == articles_n for ids in before.values())
    remote = {p.id: (p.channel, p.remote_id) for p in store.list_posts(limit=10_000)}

    for n, fake in enumerate(fakes.values()):
        fake.fault_rate(0.3, list(RUN_FAULTS), on="any", seed=100 + n)
    for article_id in articles[:retracted_n]:
        report = retract_article(app, str(article_id), reason="legal: pulled story",
                                 by="desk-chief")
        assert [line.action for line in report.lines] == ["delete"] * len(CHANNELS)

    deadline = time.monotonic() + 500
    while time.monotonic() < deadline:
        app.dispatcher.run_until_idle()
        open_ = [p for p in store.list_posts(statuses=[PostStatus.DELETING], limit=10_000)]
        if not open_:
            break
        time.sleep(0.1)
    for fake in fakes.values():
        fake.clear_faults()

    posts = store.list_posts(limit=10_000)
    asked = {p.id for p in posts if p.article_id in set(articles[:retracted_n])}
    review = [p for p in posts if p.status is PostStatus.NEEDS_REVIEW]
    for post in posts:
        if post.id in asked:
            assert post.status in (PostStatus.RETRACTED, PostStatus.NEEDS_REVIEW), post
            assert post.status is PostStatus.RETRACTED or post.after_kind == "delete", post
        else:
            assert post.status is PostStatus.PUBLISHED, post
    for post in review:  # in doubt and nobody can tell: a reason an editor reads
        assert post.last_error, post
    retracted = {p.id for p in posts if p.status is PostStatus.RETRACTED}
    assert len(retracted) >= len(asked) - len(review)

    for name, fake in fakes.items():
        live = live_ids(name, fake)
        gone = deleted_ids(name, fake)
        mine = {remote[pid][1] for pid in retracted if remote[pid][0] == name}
        kept = {remote[pid][1] for pid in remote if remote[pid][0] == name} - {
            remote[pid][1] for pid in asked if remote[pid][0] == name}
        assert not (mine & live), f"{name}: retracted posts still on the platform"
        assert kept <= live, f"{name}: a post not asked for was deleted"
        assert len(gone) == len(set(gone)), f"{name}: a post deleted twice"
        assert set(gone) <= {remote[pid][1] for pid in asked if remote[pid][0] == name}

    # Each retracted post: one REQUESTED row naming who and why, and one
    # confirmed delete (OK, or read back as gone), never two.
    for pid in retracted:
        rows = store.attempts(post_id=pid, limit=1000)
        deletes = [r for r in rows if r.kind is AttemptKind.DELETE]
        [requested] = [r for r in deletes if r.outcome is Outcome.REQUESTED]
        assert (requested.by, requested.reason) == ("desk-chief", "legal: pulled story")
        confirmed = [r for r in deletes if r.outcome in (Outcome.OK, Outcome.RECONCILED)]
        assert len(confirmed) == 1, rows
    # The faults did happen, and doubts were settled by reading back.
    outcomes = [r.outcome for r in store.attempts(limit=100_000)
                if r.kind is AttemptKind.DELETE]
    assert Outcome.AMBIGUOUS in outcomes and Outcome.RETRYING in outcomes
    assert Outcome.RECONCILED in outcomes
    assert all(store.get_article(a).retracted for a in articles[:retracted_n])
    assert not any(store.get_article(a).retracted for a in articles[retracted_n:])
