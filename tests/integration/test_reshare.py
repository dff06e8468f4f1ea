"""Re-share (issue 13, part 4), through the CLI on SQLite and PostgreSQL:
``queue add --url URL --again [--at …]`` makes a new post of an article
already posted on a channel, with its own idempotency key, marked as a
re-share in ``queue list``/``show`` and in the publish log; without
``--again`` the refusal names the earlier post and suggests it."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from publisher.types import ArticleState, NewPost, PostStatus
from tests.fakes.channel import ScriptedChannel
from tests.fakes.clock import FakeClock
from tests.integration.test_desk_cli import SCHEDULE, START, Site, article
from tests.shipped import TEMPLATES


@pytest.fixture
def site(store: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Site:
    from publisher.cli import state

    (tmp_path / "schedules").mkdir()
    (tmp_path / "schedules" / "site.toml").write_text(
        SCHEDULE.replace("{out}", str(tmp_path / "out")))
    clock = FakeClock(START)
    monkeypatch.setattr(state, "clock", clock)
    env = {"DATABASE_URL": store.url, "PUBLISHER_SCHEDULES": str(tmp_path / "schedules"),
           "PUBLISHER_TEMPLATES": str(TEMPLATES), "USER": "alice"}
    return Site(store, clock, env, tmp_path)


def _posted(site: Any) -> tuple[Any, int, ScriptedChannel]:
    [stored] = site.store.add_articles("site", [article()], state=ArticleState.SEEN,
                                       now=site.clock())
    [first] = site.json("queue", "add", "--url", stored.data.url, "-c", "archive")["posts"]
    ch = ScriptedChannel("archive", clock=site.clock)
    site.dispatcher(ch).run_until_idle()
    assert site.store.get_post(first["id"]).status is PostStatus.PUBLISHED
    return stored, first["id"], ch


def test_without_again_the_refusal_names_the_earlier_post(site: Any) -> None:
    stored, first, _ = _posted(site)
    line = site.bad("queue", "add", "--url", stored.data.url, "-c", "archive")
    assert line == (f"error: this article already has a post on archive (post {first}, "
                    "published): add --again to share it again")


def test_again_makes_a_new_post_with_its_own_key(site: Any) -> None:
    stored, first, ch = _posted(site)
    out = site.ok("queue", "add", "--url", stored.data.url, "-c", "archive", "--again",
                  "--at", "in 2h").stdout
    assert "re-share 1)" in out
    [again] = [p for p in site.store.list_posts() if p.id != first]
    original = site.store.get_post(first)
    assert again.reshare == 1 and original.reshare == 0
    assert again.article_id == stored.id and again.channel == "archive"
    assert again.idempotency_key != original.idempotency_key
    assert again.status is PostStatus.QUEUED and again.not_before == START + timedelta(hours=2)
    assert again.created_by == "editor:alice"

    listed = site.ok("queue", "list").stdout
    assert "[re-share 1]" in listed
    assert site.json("queue", "list")[0]["reshare"] == 1
    assert "re-share 1 of its article" in site.ok("queue", "show", str(again.id)).stdout

    site.clock.advance(2 * 3600)
    site.dispatcher(ch).run_until_idle()
    assert site.store.get_post(again.id).status is PostStatus.PUBLISHED
    assert [p.post_id for p in ch.posts] == [first, again.id]  # two posts, once each
    log = site.ok("log", "--post", str(again.id)).stdout
    assert f"post={again.id}" in log and "reshare=1" in log
    assert "reshare=" not in site.ok("log", "--post", str(first)).stdout

    # and again: the second re-share is number 2
    data = site.json("queue", "add", "--url", stored.data.url, "-c", "archive", "--again")
    assert [p["reshare"] for p in data["posts"]] == [2]


def test_again_on_a_channel_without_a_post_is_a_plain_post(site: Any) -> None:
    stored, _, _ = _posted(site)
    data = site.json("queue", "add", "--url", stored.data.url, "-c", "archive", "-c", "wire",
                     "--again")
    assert sorted((p["channel"], p["reshare"]) for p in data["posts"]) == [
        ("archive", 1), ("wire", 0)]


def test_again_goes_with_url_only(site: Any) -> None:
    assert "--again goes with --url" in site.bad("queue", "add", "--text", "t", "-c",
                                                 "archive", "--again")


def test_the_planner_still_plans_an_article_once_per_channel(site: Any) -> None:
    stored, _, _ = _posted(site)
    site.ok("queue", "add", "--url", stored.data.url, "-c", "archive", "--again")
    # the feed brings the article again: the planner's insert is skipped
    ids = site.store.save_plan(stored.id, [NewPost(channel="archive", text="again?")],
                               now=site.clock())
    assert ids == []
    assert len([p for p in site.store.list_posts() if p.channel == "archive"]) == 2


def test_a_reshare_in_doubt_on_x_goes_to_an_editor_not_to_a_look_up(site: Any) -> None:
    """X finds a post in doubt by its link: it would find the earlier post of
    the article and call the re-share published while it may not be out."""
    [stored] = site.store.add_articles("site", [article()], state=ArticleState.SEEN,
                                       now=site.clock())
    [first] = site.json("queue", "add", "--url", stored.data.url, "-c", "x")["posts"]
    x = ScriptedChannel("x", clock=site.clock, script=["ok", "reset_before"])
    d = site.dispatcher(x)
    d.run_until_idle()
    [again] = site.json("queue", "add", "--url", stored.data.url, "-c", "x", "--again")["posts"]
    for _ in range(3):
        d.run_until_idle()
        site.clock.advance(60)
    item = site.store.get_post(again["id"])
    assert item.status is PostStatus.NEEDS_REVIEW, item
    assert "re-share" in (item.last_error or "")
    assert [c.kind for c in x.calls if c.post_id == again["id"]] == ["publish"]  # no find
    assert site.store.get_post(first["id"]).status is PostStatus.PUBLISHED
