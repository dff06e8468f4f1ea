"""Hostile and broken feeds through the whole pipeline (fetch, parse, store,
plan), served over real HTTP beside one good feed.

Each hostile feed must end as a per-feed error or as correctly cleaned
articles: never a crash, never a post carrying markup or a non-http(s) link,
and the good feed keeps working.  Limits on size, time and entries are
enforced and logged.
"""

from __future__ import annotations

import logging
import re
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from publisher.app import make_app
from publisher.config import Settings
from publisher.sources import Fetcher
from tests.fakes.feed_server import FeedServer
from tests.fakes.feeds import item, rss
from tests.shipped import TEMPLATES as SHIPPED_TEMPLATES

ROOT = Path(__file__).resolve().parents[2]
FEEDS = ROOT / "tests" / "data" / "feeds"

FILES = {
    "edge": "rss_edge_cases.xml",
    "laughs": "billion_laughs.xml",
    "xxe": "xxe.xml",
    "bom": "bom_utf8.xml",
    "mismatch": "encoding_mismatch.xml",
    "errorpage": "error_page.html",
    "odd": "duplicates_and_dates.xml",
    "atom": "atom_xmlbase.xml",
}
TAG = re.compile(r"<\s*/?\s*[a-zA-Z][^>]*>")


def ten_thousand() -> bytes:
    now = datetime.now(UTC)
    return rss([item(n, site="https://big.example", published=now - timedelta(seconds=n))
                for n in range(10_000)], site="https://big.example")


@pytest.fixture
def hostile(tmp_path):
    with FeedServer() as srv:
        for name, file in FILES.items():
            content_type = "text/html" if file.endswith(".html") else "application/rss+xml"
            srv.set(f"/{name}/", (FEEDS / file).read_bytes(), content_type=content_type)
        srv.set("/big/", ten_thousand())
        srv.huge("/huge/", size=50 * 1024 * 1024)
        srv.dribble("/dribble/", interval=0.2)
        srv.redirect("/loop-a/", "/loop-b/")
        srv.redirect("/loop-b/", "/loop-a/")
        srv.set("/good/", rss([item(n, site="https://good.example",
                                    published=datetime.now(UTC) - timedelta(minutes=n))
                               for n in range(3)], site="https://good.example"))
        names = [*FILES, "big", "huge", "dribble", "loop-a", "good"]
        feeds = "".join(f'[[feeds]]\nname = "{n}"\nurl = "{srv.url(f"/{n}/")}"\n'
                        f"backfill = 100\nmax_entries = 500\n\n" for n in names)
        (tmp_path / "schedules").mkdir()
        (tmp_path / "schedules" / "site.toml").write_text(
            feeds + '[channels.wire]\ntype = "jsonl"\nmax_age = "100000d"\n'
            f'options = {{ path = "{tmp_path}/wire.jsonl" }}\n\n'
            '[[routes]]\nchannels = ["wire"]\n')
        yield srv, tmp_path


def test_hostile_feeds_end_as_errors_or_clean_posts(hostile, store, caplog):
    _srv, tmp_path = hostile
    settings = Settings(schedules=tmp_path / "schedules", templates=SHIPPED_TEMPLATES,
                        env_file=tmp_path / ".env")
    fetcher = Fetcher(total_timeout=2.0)
    app = make_app(settings, store=store, environ={}, fetcher=fetcher)
    try:
        app.sync()
        with caplog.at_level(logging.INFO):
            reports = {r.feed: r for r in app.poll_all()}
            app.plan_pending()
            app.dispatcher.run_until_idle()
    finally:
        app.fetcher.close()
        app.channels.close()
        app.dispatcher.stop(grace=1)

    # the good feed is untouched by its neighbours
    assert reports["good"].status == "changed" and reports["good"].new == 3
    # every hostile feed is an error on that feed, or parsed into clean articles
    for name, report in reports.items():
        assert report.status in ("changed", "error"), (name, report)
    for name in ("huge", "dribble", "loop-a", "errorpage", "laughs", "xxe"):
        assert reports[name].status == "error", (name, reports[name])
        feed = store.get_feed(name)
        assert feed.error_count == 1 and feed.last_error, name
    assert "10 MB" in reports["huge"].error or "10485760" in reports["huge"].error
    assert "redirect" in reports["loop-a"].error.lower()
    # limits are logged
    assert any("feed=huge status=error" in r.getMessage() for r in caplog.records)
    assert any("max_entries" in r.getMessage() or "truncat" in r.getMessage().lower()
               for r in caplog.records if r.name.startswith("publisher.sources"))
    assert reports["big"].entries == 500

    posts = store.list_posts(limit=10_000)
    assert posts, "the clean entries were planned"
    hostname = socket.gethostname()
    for post in posts:
        assert not TAG.search(post.text), post.text
        assert "javascript:" not in post.text.lower()
        assert "alert(" not in post.text
        assert post.link is None or post.link.startswith(("https://", "http://")), post.link
        assert hostname not in post.text  # no external entity was read
    texts = "\n".join(p.text for p in posts)
    assert "Council votes" in texts  # markup stripped, words kept
    assert "Fish & Chips" in texts  # double-encoded entities decoded once
    assert "北京发布新的空气质量报告" in texts
    # the duplicated guid is one article
    odd = [p for p in posts if p.link and "odd.example/story-1" in p.link]
    assert len(odd) == 1
