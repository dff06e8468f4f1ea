"""The desk's commands through Typer's CliRunner, on SQLite and PostgreSQL,
under an injected clock: queue add/list/show/edit/cancel/approve/retry/
resolve, preview, pause/resume, log, status."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from PIL import Image as PILImage
from typer.testing import CliRunner

from publisher.cli import app, state
from publisher.config import load_config
from publisher.render import length_rule
from publisher.services.dispatch import ChannelPool, Dispatcher
from publisher.store import FeedSpec, schema
from publisher.types import (
    ArticleData,
    ArticleState,
    DeliveryClass,
    FeedKind,
    Image,
    NewPost,
    Outcome,
    PostStatus,
    Priority,
)
from tests.fakes.channel import ScriptedChannel
from tests.fakes.clock import FakeClock
from tests.fakes.feed_server import FeedServer
from tests.shipped import TEMPLATES as SHIPPED_TEMPLATES

ROOT = Path(__file__).resolve().parents[2]
# Thursday 26 November 2026, 07:00 in New York.
START = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)

SCHEDULE = """
[site]
timezone = "America/New_York"

[[feeds]]
name = "site"
url = "https://news.example/feed/"

[channels.archive]
type = "jsonl"
retry = { max_attempts = 2, base = "10s", cap = "60s" }
options = { path = "{out}/archive.jsonl" }

[channels.wire]
type = "jsonl"
approval = true
options = { path = "{out}/wire.jsonl", max_length = 100 }

[channels.x]
type = "x"
timing = { quiet_hours = ["22:00-06:00"] }

[channels.x.credentials]
api_key = "DX_KEY"
api_secret = "DX_SECRET"
access_token = "DX_TOKEN"
access_token_secret = "DX_TOKEN_SECRET"

[[routes]]
feed = "site"
channels = ["archive", "wire"]
"""


@dataclass
class Site:
    """A configured site on the test's store, and the CLI pointed at it."""

    store: Any
    clock: FakeClock
    env: dict[str, str]
    tmp: Path

    def run(self, *args: str) -> Any:
        return CliRunner().invoke(app, list(args), env=self.env)

    def ok(self, *args: str) -> Any:
        result = self.run(*args)
        assert result.exit_code == 0, (result.stdout, result.stderr)
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args, "--json").stdout)

    def bad(self, *args: str, code: int = 2) -> str:
        """Run a command that must fail with one line on stderr; returns it."""
        before = dump(self.store)
        result = self.run(*args)
        assert result.exit_code == code, (result.stdout, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        if code == 2:
            assert dump(self.store) == before, "bad input must write nothing"
        return lines[0]

    def post(self, channel: str = "archive", text: str = "Hello", **kw: Any) -> int:
        kw.setdefault("expires_at", self.clock() + timedelta(hours=24))
        [post_id] = self.store.add_posts([NewPost(channel=channel, text=text, **kw)],
                                         article_id=None, now=self.clock())
        return post_id

    def dispatcher(self, *channels: ScriptedChannel) -> Dispatcher:
        config = load_config(self.tmp / "schedules")
        pool = ChannelPool(config, {}, overrides={c.name: c for c in channels})
        return Dispatcher(config=config, store=self.store, channels=pool, now=self.clock,
                          worker="w1", max_workers=4, rand=lambda: 1.0)


def dump(store: Any) -> list[tuple[str, list[tuple[Any, ...]]]]:
    """Every row of every table, in primary-key order."""
    out = []
    with store._engine.connect() as conn:
        for table in schema.metadata.sorted_tables:
            rows = conn.execute(sa.select(table).order_by(*table.primary_key.columns)).all()
            out.append((table.name, [tuple(r) for r in rows]))
    return out


@pytest.fixture
def site(store, tmp_path, monkeypatch) -> Site:
    (tmp_path / "schedules").mkdir()
    (tmp_path / "schedules" / "site.toml").write_text(
        SCHEDULE.replace("{out}", str(tmp_path / "out")))
    clock = FakeClock(START)
    monkeypatch.setattr(state, "clock", clock)
    env = {"DATABASE_URL": store.url, "PUBLISHER_SCHEDULES": str(tmp_path / "schedules"),
           "PUBLISHER_TEMPLATES": str(SHIPPED_TEMPLATES), "USER": "alice"}
    return Site(store, clock, env, tmp_path)


def article(n: int = 1, **kw: Any) -> ArticleData:
    values = {"guid": f"g{n}", "url": f"https://news.example/2026/story-{n}",
              "title": f"Bridge reopens after repairs {n}",
              "summary": "The river crossing is open again.",
              "image": Image("https://news.example/img.jpg", "the bridge")}
    values.update(kw)
    return ArticleData(**values)


# -- queue add --------------------------------------------------------------------------


def test_add_text_queues_and_drafts(site):
    out = site.ok("queue", "add", "--text", "Road closed on Main St", "-c", "archive",
                  "-c", "wire", "--at", "in 2h")
    assert "post 1 queued on archive for 2026-11-26 09:00 EST" in out.stdout
    assert "post 2 draft (needs approval) on wire" in out.stdout
    archive, wire = site.store.get_post(1), site.store.get_post(2)
    assert archive.status is PostStatus.QUEUED and wire.status is PostStatus.DRAFT
    assert archive.not_before == START + timedelta(hours=2)
    assert archive.expires_at == START + timedelta(hours=26)  # not_before + max_age
    assert archive.created_by == "editor:alice"
    assert archive.text == "Road closed on Main St"


def test_add_text_json_link_image_priority(site, tmp_path):
    picture = tmp_path / "photo.jpg"
    PILImage.new("RGB", (200, 120)).save(picture, "JPEG")  # --image must be a real image
    data = site.json("queue", "add", "--text", "Live: election night", "-c", "x",
                     "--link", "https://news.example/live", "--image", str(picture),
                     "--priority", "breaking")
    [post] = data["posts"]
    item = site.store.get_post(post["id"])
    assert item.priority is Priority.BREAKING
    assert item.link == "https://news.example/live"
    assert item.image is not None and item.image.url == picture.resolve().as_uri()
    # X shows a link only from the text: the link given beside it goes into it.
    assert item.text == "Live: election night\n\nhttps://news.example/live"
    assert post["length"] == length_rule("x", {}).count(item.text) and post["limit"] == 280


def test_add_text_without_channels_asks_for_them(site):
    assert "--channel" in site.bad("queue", "add", "--text", "Hello")


def test_add_text_too_long_says_length_and_limit(site):
    line = site.bad("queue", "add", "--text", "a" * 150, "-c", "archive", "-c", "wire")
    assert "150 > 100" in line and "wire" in line
    assert site.store.list_posts() == []


def test_add_url_from_the_store_uses_the_routes(site):
    [stored] = site.store.add_articles("site", [article()], state=ArticleState.SEEN,
                                       now=site.clock())
    data = site.json("queue", "add", "--url", stored.data.url + "?utm_source=tw")
    assert data["article_id"] == stored.id
    assert sorted(p["channel"] for p in data["posts"]) == ["archive", "wire"]
    archive = site.store.get_post(next(p["id"] for p in data["posts"]
                                       if p["channel"] == "archive"))
    assert "Bridge reopens after repairs 1" in archive.text
    assert archive.link == stored.data.url and archive.article_id == stored.id
    assert archive.title == "Bridge reopens after repairs 1"
    # The same article on the same channel again: refused, nothing written.
    line = site.bad("queue", "add", "--url", stored.data.url, "-c", "archive")
    assert "already has a post on archive" in line


def test_add_url_fetched_from_its_page(site):
    page = (ROOT / "tests" / "data" / "feeds" / "article_page.html").read_bytes()
    with FeedServer() as srv:
        srv.set("/story", page, content_type="text/html; charset=utf-8")
        data = site.json("queue", "add", "--url", srv.url("/story"), "-c", "archive")
        stored = site.store.get_article(data["article_id"])
        assert stored.state is ArticleState.PLANNED  # a feed bringing it later plans nothing
        assert stored.feed is None and stored.data.title
        [post] = data["posts"]
        assert stored.data.title in site.store.get_post(post["id"]).text
        missing = site.bad("queue", "add", "--url", srv.url("/gone"), "-c", "archive")
        assert "cannot read" in missing


def test_add_rejects_bad_input(site):
    assert "past" in site.bad("queue", "add", "--text", "t", "-c", "archive", "--at",
                              "yesterday 09:00")
    assert "cannot read" in site.bad("queue", "add", "--text", "t", "-c", "archive", "--at",
                                     "soonish")
    assert 'unknown channel "fb"' in site.bad("queue", "add", "--text", "t", "-c", "fb")
    assert "either --url or --text" in site.bad("queue", "add", "-c", "archive")
    assert "not an http(s) URL" in site.bad("queue", "add", "--url", "ftp://x", "-c",
                                            "archive")
    assert "--priority" in site.bad("queue", "add", "--text", "t", "-c", "archive",
                                    "--priority", "urgent")
    assert "--template" in site.bad("queue", "add", "--text", "t", "-c", "archive",
                                    "--template", "default")


# -- list, show ---------------------------------------------------------------------------


def test_list_filters_and_json(site):
    a = site.post("archive", "First post")
    site.clock.advance(60)
    b = site.post("x", "Second post")
    rows = site.json("queue", "list")
    assert [r["id"] for r in rows] == [b, a]
    assert [r["id"] for r in site.json("queue", "list", "--channel", "x")] == [b]
    assert [r["id"] for r in site.json("queue", "list", "--status", "queued,failed",
                                       "--since", "30s")] == [b]
    table = site.ok("queue", "list").stdout
    assert "First post" in table and "Thu 26 Nov 07:00" in table
    assert "unknown status" in site.bad("queue", "list", "--status", "gone")


def test_list_builds_only_the_listing(site, monkeypatch):
    """``queue list`` gets its app from ``make_app`` like every command, and
    uses the configuration and the outbox's listing of it, nothing else: no
    renderer, fetcher, channel, dispatcher, nor even the SQLAlchemy store is
    built (that is why it starts fast)."""
    import publisher.app as app_module

    built: list[app_module.App] = []
    real = app_module.make_app

    def spy(*args: Any, **kwargs: Any) -> app_module.App:
        built.append(a := real(*args, **kwargs))
        return a

    monkeypatch.setattr(app_module, "make_app", spy)
    site.post("x", "Second post\nwith a second line", link="https://news.example/2")
    assert "Second post" in site.ok("queue", "list").stdout
    [a] = built
    assert a._reader is not None
    assert (a._store, a._renderer, a._fetcher, a._channels, a._dispatcher, a._planner) == (
        None, None, None, None, None, None)


def test_list_through_the_driver_or_the_store_prints_the_same(site, monkeypatch):
    """The listing's statement runs on the driver's connection when it can and
    on the store's otherwise (a URL the driver alone does not take); both
    print the same, good input and bad."""
    import publisher.store.listing as listing

    site.post("archive", "First post", image=Image("https://news.example/i.jpg", "alt"))
    site.clock.advance(3600)
    site.post("x", "Second post\nwith a second line", link="https://news.example/2",
              priority=Priority.BREAKING)
    site.post("wire", "A draft", status=PostStatus.DRAFT)
    site.post("x", "Did not fit", status=PostStatus.FAILED, last_error="too long: 301/280")
    commands = [("queue", "list"), ("queue", "list", "--json"),
                ("queue", "list", "-c", "x", "--status", "failed,queued", "--json"),
                ("queue", "list", "--since", "30m", "--limit", "1"),
                ("-s", str(site.tmp / "schedules" / "site.toml"), "queue", "list", "--json")]
    bad = [("queue", "list", "-c", "nope"), ("queue", "list", "--since", "tomorrow"),
           ("queue", "list", "--limit", "0"), ("queue", "list", "--status", "sent")]
    opened: list[object] = []
    real = listing.open_reader

    def spy(url: str) -> object:
        opened.append(reader := real(url))
        return reader

    monkeypatch.setattr(listing, "open_reader", spy)
    driver = [site.ok(*c).stdout for c in commands]
    driver_bad = [site.bad(*c) for c in bad]
    assert opened and all(opened)
    monkeypatch.setattr(listing, "open_reader", lambda url: None)
    assert [site.ok(*c).stdout for c in commands] == driver
    assert [site.bad(*c) for c in bad] == driver_bad
    assert len(json.loads(driver[1])) == 4 and "Second post" in driver[0]


def test_texts_and_errors_show_as_written(site):
    """A headline or a platform error is data: Rich markup or emoji codes in
    one are printed literally, never styled, swallowed or crashed on."""
    text = "[Update] [/] :fire: [bold]x"
    error = "HTTP 400: [/red] :x: [link=javascript:1]"
    post_id = site.post("x", text, status=PostStatus.FAILED, last_error=error)
    listed = site.ok("queue", "list").stdout
    assert text in listed and error in listed
    shown = site.ok("queue", "show", str(post_id)).stdout
    assert text in shown and error in shown
    assert text in site.ok("queue", "list", "--json").stdout.replace("\\", "")
    site.ok("pause", "--channel", "x", "--reason", "[/] hacked :x:")
    status = site.run("status")
    assert status.exit_code == 1 and "paused: [/] hacked :x:" in status.stdout


def test_show_counts_and_says_why(site):
    post_id = site.post("x", "Night owl news https://example.com/a-very-long-url/" + "x" * 80)
    site.clock.set(datetime(2026, 11, 27, 4, 0, tzinfo=UTC))  # 23:00 in New York: quiet
    data = site.json("queue", "show", str(post_id))
    assert data["length"] == 15 + 23 and data["limit"] == 280
    assert data["why"].startswith("quiet hours until ")
    assert data["why"].endswith("06:00 America/New_York")
    breaking = site.post("x", "Breaking", priority=Priority.BREAKING,
                         expires_at=site.clock() + timedelta(hours=1))
    assert site.json("queue", "show", str(breaking))["why"] == "due now"
    later = site.post("archive", "Later", not_before=site.clock() + timedelta(hours=3))
    assert site.json("queue", "show", str(later))["why"] == (
        "scheduled for 2026-11-27 02:00 EST")
    draft = site.post("wire", "Draft", status=PostStatus.DRAFT)
    assert site.json("queue", "show", str(draft))["why"] == (
        f"waiting for approval (publisher queue approve {draft})")
    text = site.ok("queue", "show", str(post_id)).stdout
    assert "length: 38/280 (x weighted (URLs count 23))" in text
    assert "no post with id" in site.bad("queue", "show", "12345")


def test_show_lists_every_attempt(site):
    post_id = site.post()
    site.dispatcher(ScriptedChannel("archive", clock=site.clock)).run_until_idle()
    data = site.json("queue", "show", str(post_id))
    assert [a["outcome"] for a in data["attempts_log"]] == ["ok"]
    assert data["why"].startswith("published 2026-11-26 07:00 EST")


# -- edit, cancel, approve ----------------------------------------------------------------


def test_edit_text_time_and_channel(site):
    post_id = site.post("archive", "Old text")
    site.ok("queue", "edit", str(post_id), "--text", "New text", "--at", "tomorrow 09:00")
    item = site.store.get_post(post_id)
    assert item.text == "New text"
    assert item.not_before == datetime(2026, 11, 27, 14, 0, tzinfo=UTC)
    assert item.expires_at == item.not_before + timedelta(hours=24)
    site.ok("queue", "edit", str(post_id), "--channel", "wire")
    item = site.store.get_post(post_id)
    assert item.channel == "wire" and item.status is PostStatus.DRAFT  # wire needs approval
    line = site.bad("queue", "edit", str(post_id), "--text", "b" * 101)
    assert "101 > 100" in line


def test_edit_and_cancel_refuse_published_posts(site):
    post_id = site.post()
    site.dispatcher(ScriptedChannel("archive", clock=site.clock)).run_until_idle()
    assert "already published" in site.bad("queue", "edit", str(post_id), "--text", "x")
    assert "already published" in site.bad("queue", "cancel", str(post_id))


def test_cancel_and_approve(site):
    a = site.post()
    site.ok("queue", "cancel", str(a))
    assert site.store.get_post(a).status is PostStatus.CANCELLED
    assert "cancelled" in site.bad("queue", "cancel", str(a))
    d = site.post("wire", "Draft", status=PostStatus.DRAFT)
    assert "approved" in site.ok("queue", "approve", str(d)).stdout
    assert site.store.get_post(d).status is PostStatus.QUEUED
    assert "only draft" in site.bad("queue", "approve", str(d))


# -- retry and resolve, and what the dispatcher does next -----------------------------------


def test_retry_gives_a_failed_post_a_fresh_budget(site):
    from publisher.exceptions import Transient

    post_id = site.post()
    ch = ScriptedChannel("archive", clock=site.clock, script=[Transient("503")] * 2)
    d = site.dispatcher(ch)
    for _ in range(3):
        d.run_until_idle()
        site.clock.advance(120)
    item = site.store.get_post(post_id)
    assert item.status is PostStatus.FAILED and item.attempts == 2  # max_attempts
    site.ok("queue", "retry", str(post_id))
    item = site.store.get_post(post_id)
    assert item.status is PostStatus.QUEUED and item.attempts == 0
    assert item.not_before == site.clock()
    d.run_until_idle()
    assert site.store.get_post(post_id).status is PostStatus.PUBLISHED
    outcomes = [a.outcome for a in reversed(site.store.attempts(post_id=post_id))]
    assert outcomes == [Outcome.RETRYING, Outcome.FAILED, Outcome.RETRYING, Outcome.OK]
    assert "already published" in site.bad("queue", "retry", str(post_id))


def _needs_review(site: Site) -> tuple[int, ScriptedChannel]:
    ch = ScriptedChannel("archive", delivery=DeliveryClass.REVIEW, clock=site.clock,
                         script=["reset_before"])
    post_id = site.post()
    site.dispatcher(ch).run_until_idle()
    assert site.store.get_post(post_id).status is PostStatus.NEEDS_REVIEW
    return post_id, ch


def test_resolve_published_logs_first_then_publishes(site):
    post_id, ch = _needs_review(site)
    site.ok("queue", "resolve", str(post_id), "--published", "https://t.me/newsroom/7")
    item = site.store.get_post(post_id)
    assert item.status is PostStatus.PUBLISHED
    assert item.remote_url == "https://t.me/newsroom/7"
    newest = site.store.attempts(post_id=post_id, limit=1)[0]
    assert newest.outcome is Outcome.RECONCILED and newest.worker == "editor:alice"
    site.dispatcher(ch).run_until_idle()
    assert len(ch.publish_calls()) == 1


def test_resolve_not_published_sends_it_again(site):
    post_id, ch = _needs_review(site)
    site.ok("queue", "resolve", str(post_id), "--not-published", "--by", "bob")
    newest = site.store.attempts(post_id=post_id, limit=1)[0]
    assert newest.outcome is Outcome.NOT_FOUND
    assert newest.error == "resolved by bob: not published"
    assert site.store.get_post(post_id).status is PostStatus.QUEUED
    site.dispatcher(ch).run_until_idle()
    assert site.store.get_post(post_id).status is PostStatus.PUBLISHED
    assert len(ch.publish_calls()) == 2
    assert "already published" in site.bad("queue", "resolve", str(post_id),
                                           "--not-published")


def test_resolve_needs_one_of_the_two(site):
    post_id, _ = _needs_review(site)
    assert "either" in site.bad("queue", "resolve", str(post_id))
    assert "not an http(s) URL" in site.bad("queue", "resolve", str(post_id), "--published",
                                            "somewhere")


# -- preview ------------------------------------------------------------------------------


def test_preview_renders_without_queuing(site):
    long_title = " ".join(["word"] * 40)
    [stored] = site.store.add_articles("site", [article(2, title=long_title,
                                                        summary="s " * 100)],
                                       state=ArticleState.SEEN, now=site.clock())
    before = dump(site.store)
    data = site.json("preview", "--article", str(stored.id))
    assert dump(site.store) == before
    wire = next(p for p in data if p["channel"] == "wire")
    assert wire["length"] <= wire["limit"] == 100
    assert "summary" in wire["shortened"]
    out = site.ok("preview", "--article", str(stored.id), "-c", "x").stdout
    assert "x (default)" in out and "/280" in out
    assert "no article with id" in site.bad("preview", "--article", "999")


def test_preview_shows_the_image_and_its_alt_text(site):
    """What goes out with the text: the article's image and its alt text, or
    that there is none, or that the channel's with_image option keeps it back."""
    (site.tmp / "schedules" / "more.toml").write_text(
        '[channels.plain]\ntype = "jsonl"\n'
        f'options = {{ path = "{site.tmp / "out" / "plain.jsonl"}", with_image = false }}\n')
    [pictured, bare] = site.store.add_articles("site", [
        article(3), article(4, image=Image("https://news.example/4.jpg", ""))],
        state=ArticleState.SEEN, now=site.clock())
    out = site.ok("preview", "--article", str(pictured.id), "-c", "x", "-c", "plain").stdout
    x_part, plain_part = out.split("plain (default)")
    assert "image: https://news.example/img.jpg" in x_part and "alt: the bridge" in x_part
    assert "image: not sent (options.with_image = false): https://news.example/img.jpg" in (
        plain_part)
    [x] = site.json("preview", "--article", str(pictured.id), "-c", "x")
    assert x["image"] == {"url": "https://news.example/img.jpg", "alt": "the bridge"}
    assert x["image_sent"] is True
    out = site.ok("preview", "--article", str(bare.id), "-c", "x").stdout
    assert "image: https://news.example/4.jpg" in out and "alt: none" in out
    [noimage] = site.store.add_articles("site", [article(5, image=None)],
                                        state=ArticleState.SEEN, now=site.clock())
    assert "image: none" in site.ok("preview", "--article", str(noimage.id), "-c", "x").stdout


# -- pause, resume ------------------------------------------------------------------------


def test_pause_and_resume(site):
    out = site.ok("pause", "-c", "archive", "--reason", "hacked account", "--by", "ops")
    assert "paused archive (ops): hacked account" in out.stdout
    state_ = site.store.channel_states()["archive"]
    assert state_.paused and state_.paused_by == "ops"
    status = site.run("status")
    assert status.exit_code == 1
    assert "channel archive: paused: hacked account (ops)" in status.stdout
    site.ok("resume", "-c", "archive")
    assert not site.store.channel_states()["archive"].paused
    assert "--channel" in site.bad("pause", "--reason", "why")
    assert "--reason" in site.bad("pause", "--all", "--reason", " ")


def test_resume_checks_credentials_after_an_auth_failure(site):
    site.store.set_paused("x", paused=True, now=site.clock(), reason="x refused the "
                          "credentials", by="publisher", auth_failed=True)
    site.store.set_paused("archive", paused=True, now=site.clock(), reason="token",
                          by="publisher", auth_failed=True)
    line = site.bad("resume", "--all", code=1)
    assert line.startswith("error: still paused: x: credentials still refused")
    states = site.store.channel_states()
    assert states["x"].paused and not states["archive"].paused  # jsonl's whoami works
    site.ok("resume", "-c", "x", "--force")
    assert not site.store.channel_states()["x"].paused


# -- log ----------------------------------------------------------------------------------


def test_log_filters_and_json(site):
    from publisher.exceptions import Permanent

    a = site.post("archive", "A")
    b = site.post("x", "B")
    site.dispatcher(ScriptedChannel("archive", clock=site.clock),
                    ScriptedChannel("x", clock=site.clock,
                                    script=[Permanent("duplicate")])).run_until_idle()
    rows = site.json("log")
    assert {(r["post_id"], r["outcome"]) for r in rows} == {(a, "ok"), (b, "failed")}
    assert [r["post_id"] for r in site.json("log", "--outcome", "failed")] == [b]
    assert [r["post_id"] for r in site.json("log", "--channel", "archive")] == [a]
    assert [r["post_id"] for r in site.json("log", "--post", str(a))] == [a]
    site.clock.advance(5)
    assert site.json("log", "--since", "1h") and not site.json("log", "--since", "2s")
    text = site.ok("log").stdout
    assert f"post={b} channel=x attempt=1 outcome=failed error=duplicate" in text
    assert "no post with id" in site.bad("log", "--post", "777")
    assert "unknown outcome" in site.bad("log", "--outcome", "fine")


def test_log_follower_shows_an_attempt_when_it_starts_and_ends(site):
    from publisher.app import make_app
    from publisher.config import Settings
    from publisher.services import desk as ops

    d = make_app(Settings(schedules=site.tmp / "schedules"), store=site.store, clock=site.clock,
                 upgrade=False, strict=False)
    follower = ops.LogFollower(d, ops.log_query(d))
    assert follower.poll() == []
    post_id = site.post()
    [claimed] = site.store.claim_due(now=site.clock(), worker="w", lease_seconds=60, limit=1,
                                     channels=["archive"])
    attempt = site.store.start_attempt(claimed.id, worker="w", now=site.clock())
    assert [a.outcome for a in follower.poll()] == [Outcome.STARTED]
    assert follower.poll() == []
    site.store.finish_attempt(attempt.id, worker="w", now=site.clock(), outcome=Outcome.OK,
                              post_status=PostStatus.PUBLISHED)
    assert [(a.post_id, a.outcome) for a in follower.poll()] == [(post_id, Outcome.OK)]
    assert follower.poll() == []


# -- status -------------------------------------------------------------------------------


def _beat(site: Site, ago: float = 5) -> None:
    site.store.heartbeat("host:1", now=site.clock() - timedelta(seconds=ago), host="host",
                         pid=1)


def test_status_healthy(site):
    _beat(site)
    site.post()
    result = site.run("status", "--json")
    assert result.exit_code == 0, result.stdout
    data = json.loads(result.stdout)
    assert data["healthy"] and data["daemon"]["alive"]
    assert data["queue"] == {"queued": 1}
    archive = next(c for c in data["channels"] if c["name"] == "archive")
    assert archive["next_post"] == 1 and archive["next_why"] == "due now"
    x = next(c for c in data["channels"] if c["name"] == "x")
    assert x["open"] is True
    assert "healthy" in site.ok("status").stdout


def test_status_daemon_down(site):
    assert "never started" in site.run("status").stdout
    _beat(site, ago=121)
    result = site.run("status")
    assert result.exit_code == 1 and "daemon: not seen for 2 min" in result.stdout


def test_status_stuck_posts_and_needs_review(site):
    _beat(site)
    site.post("archive", "Stuck", not_before=site.clock() - timedelta(minutes=6))
    result = site.run("status")
    assert result.exit_code == 1
    assert "channel archive: 1 post(s) due but not moving" in result.stdout
    # Held by quiet hours is not stuck: 23:30 in New York.
    site.clock.set(datetime(2026, 11, 27, 4, 30, tzinfo=UTC))
    _beat(site)
    site.store.edit_post(1, expected=[PostStatus.QUEUED], now=site.clock(),
                         changes={"channel": "x"})
    data = json.loads(site.run("status", "--json").stdout)
    assert not any("not moving" in p for p in data["problems"])
    assert next(c for c in data["channels"] if c["name"] == "x")["reason"].startswith(
        "quiet hours until")


def test_status_needs_review_and_failing_feed(site):
    _beat(site)
    _needs_review(site)
    site.store.sync_feeds([FeedSpec("site", "https://news.example/feed/", FeedKind.RSS)],
                          now=site.clock())
    site.store.record_poll_success("site", now=site.clock() - timedelta(hours=2), etag=None,
                                   last_modified=None, body_hash=None,
                                   next_poll_at=site.clock())
    site.store.record_poll_failure("site", now=site.clock(), error="HTTP 503",
                                   next_poll_at=site.clock())
    data = json.loads(site.run("status", "--json").stdout)
    assert not data["healthy"]
    problems = "\n".join(data["problems"])
    assert "channel archive: 1 post(s) need review" in problems
    assert "feed site: failing since 2026-11-26 05:00 EST: HTTP 503" in problems


def test_read_only_commands_need_a_database(site, tmp_path):
    env = {**site.env, "DATABASE_URL": f"sqlite:///{tmp_path / 'none' / 'p.db'}"}
    result = CliRunner().invoke(app, ["queue", "list"], env=env)
    assert result.exit_code == 1 and "publisher db upgrade" in result.stderr
    assert not (tmp_path / "none").exists()


# -- the image's alt text and who did it (issue 14) ------------------------------------------


def test_add_text_with_an_image_and_its_alt_text_sends_both(site, tmp_path):
    picture = tmp_path / "square.png"
    PILImage.new("RGB", (120, 90), "red").save(picture, "PNG")
    out = site.ok("queue", "add", "--text", "A red square", "-c", "archive",
                  "--image", str(picture), "--alt", "  A red   square at dusk ")
    assert "post 1 queued on archive" in out.stdout
    item = site.store.get_post(1)
    assert item.image is not None and item.image.alt == "A red square at dusk"
    assert "(alt: A red square at dusk)" in site.ok("queue", "show", "1").stdout
    site.dispatcher().run_until_idle()  # the real jsonl channel: what goes out
    [sent] = [json.loads(line) for line in
              (tmp_path / "out" / "archive.jsonl").read_text().splitlines()]
    assert sent["image"] == picture.resolve().as_uri()
    assert sent["image_alt"] == "A red square at dusk"
    # --alt describes an image: alone it is refused, and nothing is written.
    assert "--alt goes with --image" in site.bad("queue", "add", "--text", "No picture",
                                                 "-c", "archive", "--alt", "nothing")


def test_approve_cancel_and_edit_log_who_did_it(site):
    draft = site.post("wire", "Draft", status=PostStatus.DRAFT)
    queued = site.post("archive", "Queued")
    site.ok("queue", "approve", str(draft), "--by", "bob")
    site.ok("queue", "edit", str(queued), "--at", "tomorrow 09:00", "--by", "carol")
    site.ok("queue", "edit", str(queued), "--text", "Queued, edited")  # --by: $USER
    site.ok("queue", "cancel", str(queued), "--by", "dan")
    rows = {(r["post_id"], r["worker"], r["error"]) for r in site.json("log")}
    assert rows == {
        (draft, "editor:bob", "approved by bob"),
        (queued, "editor:carol", "edited by carol: rescheduled to 2026-11-27 14:00 UTC"),
        (queued, "editor:alice", "edited by alice: new text"),
        (queued, "editor:dan", "cancelled by dan")}
    assert {r["outcome"] for r in site.json("log")} == {"requested"}
    # The draft approved goes out as before: the editor's row is no platform call.
    site.dispatcher().run_until_idle()
    assert site.store.get_post(draft).status is PostStatus.PUBLISHED
    # A dry run names what would happen, and writes nothing.
    other = site.post("wire", "Another draft", status=PostStatus.DRAFT)
    data = site.json("queue", "approve", str(other), "--dry-run", "--by", "bob")
    assert [r["would"] for r in data] == ["would become queued"]
    assert len(site.json("log")) == 5  # the four editors' rows and the draft's publication
