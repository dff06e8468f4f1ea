"""Posts of every origin are held to the limit the platform announces (a
Mastodon instance's ``max_characters``), not only the planner's; a link
given beside a text carries the channel's UTM tags and, on Mastodon, goes
into the text."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from publisher.app import App, make_app
from publisher.config import Settings
from publisher.exceptions import InputError
from publisher.services import desk
from publisher.types import DeliveryClass, PostStatus
from tests.fakes.channel import ScriptedChannel
from tests.fakes.clock import FakeClock

START = datetime(2026, 11, 26, 12, tzinfo=UTC)

SCHEDULE = """
[channels.m]
type = "mastodon"
utm = { source = "mastodon", medium = "social" }

[channels.m.credentials]
access_token = "M_TOKEN"

[[recurring]]
name = "newsletter"
cron = "0 9 * * *"
channels = ["m"]
text = "Sign up for the morning newsletter, every weekday"
"""


class SmallInstance(ScriptedChannel):
    """A Mastodon instance that announces 30 characters."""

    def max_length(self) -> int:
        return 30


@pytest.fixture
def app(sqlite_store, tmp_path: Path):
    (tmp_path / "schedules").mkdir()
    (tmp_path / "schedules" / "site.toml").write_text(SCHEDULE)
    (tmp_path / "templates" / "mastodon").mkdir(parents=True)
    (tmp_path / "templates" / "mastodon" / "default.j2").write_text("{{ article.title }}")
    clock = FakeClock(START)
    built = make_app(Settings(schedules=tmp_path / "schedules",
                              templates=tmp_path / "templates", env_file=tmp_path / ".env"),
                     store=sqlite_store, clock=clock, environ={"M_TOKEN": "unused"},
                     channels={"m": SmallInstance("m", delivery=DeliveryClass.IDEMPOTENT)})
    yield built
    built.close()


def test_an_editors_text_is_held_to_the_announced_limit(app: App) -> None:
    with pytest.raises(InputError, match=r"text too long for m: 31 > 30"):
        desk.add_posts(app, by="ann", text="x" * 31, channels=["m"])
    added = desk.add_posts(app, by="ann", text="x" * 30, channels=["m"])
    assert [(p.length, p.limit) for p in added.posts] == [(30, 30)]


def test_a_recurring_text_over_the_announced_limit_is_kept_failed(app: App) -> None:
    [post_id] = app.add_recurring("newsletter", START)
    post = app.store.get_post(post_id)
    assert post.status is PostStatus.FAILED
    assert post.last_error is not None and post.last_error.startswith("text too long for m")


def test_a_link_beside_a_text_goes_into_a_mastodon_post_with_utm_tags(app: App) -> None:
    # counted as Mastodon counts it: the link as 23, so it fits the 30 announced
    added = desk.add_posts(app, by="ann", text="Live", link="https://news.example.org/l",
                           channels=["m"])
    post = app.store.get_post(added.posts[0].id)
    tagged = "https://news.example.org/l?utm_source=mastodon&utm_medium=social"
    assert (post.link, post.text) == (tagged, f"Live\n\n{tagged}")
    assert (added.posts[0].length, added.posts[0].limit) == (29, 30)
