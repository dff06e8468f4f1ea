"""Recovery from the desk (issue 13, part 5), through the CLI on SQLite and
PostgreSQL: ``queue retry`` renders again a post that failed before it had a
text (after a template fix); retry, cancel and approve take several ids and
filters (``--channel``, ``--status``, ``--since``, ``--dry-run``), one line per
post; ``queue edit`` of a failed post queues it again."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from publisher.types import ArticleState, NewPost, Outcome, PostStatus
from tests.fakes.channel import ScriptedChannel
from tests.fakes.clock import FakeClock
from tests.integration.test_desk_cli import SCHEDULE, START, Site, article, dump
from tests.shipped import TEMPLATES as SHIPPED_TEMPLATES

BROKEN = "{{ article.title | no_such_filter }}\n"
FIXED = "{{ article.title }} {{ link }}\n"


@pytest.fixture
def site(store: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Site:
    from publisher.cli import state

    (tmp_path / "schedules").mkdir()
    (tmp_path / "schedules" / "site.toml").write_text(
        SCHEDULE.replace("{out}", str(tmp_path / "out")))
    templates = tmp_path / "templates"
    (templates / "jsonl").mkdir(parents=True)
    (templates / "jsonl" / "story.j2").write_text(BROKEN)
    clock = FakeClock(START)
    monkeypatch.setattr(state, "clock", clock)
    env = {"DATABASE_URL": store.url, "PUBLISHER_SCHEDULES": str(tmp_path / "schedules"),
           "PUBLISHER_TEMPLATES": str(templates), "USER": "alice"}
    assert SHIPPED_TEMPLATES.is_dir()
    return Site(store, clock, env, tmp_path)


def _failed_article_post(site: Site, n: int = 1, channel: str = "archive") -> int:
    """A feed's post whose template failed: FAILED, no text (as compose keeps it)."""
    [stored] = site.store.add_articles("site", [article(n)], state=ArticleState.PLANNED,
                                       now=site.clock())
    [post_id] = site.store.add_posts(
        [NewPost(channel=channel, text="", link=stored.data.url, template="story",
                 status=PostStatus.FAILED, last_error="template error: no filter",
                 expires_at=site.clock() + timedelta(hours=24))],
        article_id=stored.id, now=site.clock())
    return post_id


def _failed(site: Site, channel: str = "archive", text: str = "Hello", *,
            ago: float = 0) -> int:
    [post_id] = site.store.add_posts(
        [NewPost(channel=channel, text=text, status=PostStatus.FAILED, last_error="503",
                 expires_at=site.clock() + timedelta(hours=24))],
        article_id=None, now=site.clock() - timedelta(hours=ago))
    return post_id


# -- retry renders again ------------------------------------------------------------------


def test_retry_renders_again_after_the_template_is_fixed(site: Site) -> None:
    post_id = _failed_article_post(site)
    line = site.bad("queue", "retry", str(post_id))
    assert f"post {post_id} still cannot be rendered with template story" in line
    assert site.store.get_post(post_id).status is PostStatus.FAILED

    (site.tmp / "templates" / "jsonl" / "story.j2").write_text(FIXED)
    out = site.ok("queue", "retry", str(post_id)).stdout
    assert f"post {post_id} queued again" in out
    item = site.store.get_post(post_id)
    assert item.status is PostStatus.QUEUED and item.attempts == 0
    assert item.text == "Bridge reopens after repairs 1 https://news.example/2026/story-1"
    [row] = site.store.attempts(post_id=post_id)
    assert row.outcome is Outcome.RETRYING and row.worker == "editor:alice"
    assert row.error == ("retried by alice: rendered again with template story, queued again "
                         "with a fresh attempts budget")
    site.dispatcher(ScriptedChannel("archive", clock=site.clock)).run_until_idle()
    assert site.store.get_post(post_id).status is PostStatus.PUBLISHED


def test_retry_of_a_text_post_without_text_still_says_what_to_do(site: Site) -> None:
    post_id = _failed(site, text="")
    assert "queue add --text" in site.bad("queue", "retry", str(post_id))


# -- several posts, filters ----------------------------------------------------------------


def test_retry_by_filters_dry_run_then_for_real(site: Site) -> None:
    early = _failed(site, "archive", "Before six", ago=2)  # 05:00 in New York
    a1 = _failed(site, "archive", "One")
    a2 = _failed(site, "archive", "Two")
    other = _failed(site, "x", "On X")
    queued = site.post("archive", "Queued")
    args = ("queue", "retry", "--channel", "archive", "--status", "failed", "--since",
            "today 06:00")
    before = dump(site.store)
    out = site.ok(*args, "--dry-run").stdout
    assert dump(site.store) == before, "--dry-run changes nothing"
    lines = out.strip().splitlines()
    assert lines[:2] == [
        f"post {a1} on archive: retried by alice: queued again with a fresh attempts budget "
        "(dry run)",
        f"post {a2} on archive: retried by alice: queued again with a fresh attempts budget "
        "(dry run)"]
    assert lines[2] == "2 to be retried, 0 refused (dry run: nothing changed)"

    out = site.ok(*args).stdout
    assert f"post {a1} queued again: queued on archive" in out
    assert f"post {a2} queued again: queued on archive" in out
    assert "2 retried, 0 refused" in out
    statuses = {i: site.store.get_post(i).status for i in (early, a1, a2, other, queued)}
    assert statuses == {early: PostStatus.FAILED, a1: PostStatus.QUEUED,
                        a2: PostStatus.QUEUED, other: PostStatus.FAILED,
                        queued: PostStatus.QUEUED}


def test_several_ids_one_line_each_and_exit_2_when_any_is_refused(site: Site) -> None:
    a, b = _failed(site), _failed(site)
    published = site.post()
    site.dispatcher(ScriptedChannel("archive", clock=site.clock)).run_until_idle()
    result = site.run("queue", "retry", str(a), str(published), str(b))
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert f"post {a} queued again" in result.stdout
    assert f"post {b} queued again" in result.stdout
    assert "2 retried, 1 refused" in result.stdout
    assert result.stderr.strip() == (f"refused: post {published} is already published: it "
                                     "cannot be retried")
    assert site.store.get_post(a).status is PostStatus.QUEUED
    assert site.store.get_post(b).status is PostStatus.QUEUED
    # an unknown id is bad input for the whole command: nothing is written
    assert "no post with id" in site.bad("queue", "retry", str(a), "999")


def test_cancel_and_approve_take_the_same_filters(site: Site) -> None:
    q1, q2 = site.post("archive", "One"), site.post("archive", "Two")
    keep = site.post("x", "On X")
    d1 = site.post("wire", "Draft 1", status=PostStatus.DRAFT)
    d2 = site.post("wire", "Draft 2", status=PostStatus.DRAFT)
    assert "which posts?" in site.bad("queue", "cancel")
    assert "which posts?" in site.bad("queue", "approve")

    out = site.ok("queue", "cancel", "--channel", "archive").stdout
    assert "2 cancelled, 0 refused" in out
    assert site.store.get_post(q1).status is PostStatus.CANCELLED
    assert site.store.get_post(q2).status is PostStatus.CANCELLED
    assert site.store.get_post(keep).status is PostStatus.QUEUED
    assert site.store.get_post(d1).status is PostStatus.DRAFT  # another channel

    data = site.json("queue", "approve", "--channel", "wire", "--dry-run")
    assert [(r["id"], r["done"], r["would"]) for r in data] == [
        (d1, False, "would become queued"), (d2, False, "would become queued")]
    assert site.store.get_post(d1).status is PostStatus.DRAFT
    data = site.json("queue", "approve", "--channel", "wire")
    assert [(r["id"], r["done"], r["post"]["status"]) for r in data] == [
        (d1, True, "queued"), (d2, True, "queued")]


def test_one_id_answers_as_before(site: Site) -> None:
    post_id = site.post("wire", "Draft", status=PostStatus.DRAFT)
    data = site.json("queue", "approve", str(post_id))
    assert data["id"] == post_id and data["status"] == "queued"
    assert site.bad("queue", "approve", str(post_id)) == (
        f"error: post {post_id} is queued: only draft posts can be approved")


# -- edit a failed post ---------------------------------------------------------------------


def test_edit_of_a_failed_post_queues_it_again(site: Site) -> None:
    from publisher.exceptions import Permanent

    post_id = site.post("archive", "Bridge reopens")
    ch = ScriptedChannel("archive", clock=site.clock, script=[Permanent("text rejected")])
    site.dispatcher(ch).run_until_idle()
    assert site.store.get_post(post_id).status is PostStatus.FAILED
    out = site.ok("queue", "edit", str(post_id), "--text", "Bridge reopens Monday").stdout
    assert f"post {post_id} changed: queued on archive" in out
    item = site.store.get_post(post_id)
    assert item.status is PostStatus.QUEUED and item.attempts == 0
    assert item.text == "Bridge reopens Monday" and item.last_error is None
    newest = site.store.attempts(post_id=post_id)[0]
    assert newest.outcome is Outcome.RETRYING
    assert newest.error == "edited by alice: queued again with a fresh attempts budget"
    site.dispatcher(ch).run_until_idle()
    assert site.store.get_post(post_id).status is PostStatus.PUBLISHED
    assert ch.posts[-1].text == "Bridge reopens Monday"
