"""A real ``publisher run`` against a local feed and the fake X and Facebook.

The daemon is a subprocess; the platforms are wire-level fakes driven by the
real tweepy and facebook-sdk through ``base_url``.
"""

from __future__ import annotations

import io
import signal
import sqlite3
import subprocess
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image

from tests.e2e.test_daemon import PUBLISHER, env_for, wait_for
from tests.fakes.feed_server import FeedServer
from tests.fakes.feeds import item, rss
from tests.fakes.graph_server import FakeGraph
from tests.fakes.x_server import FakeX

#: The second tier: daemons publishing through the real SDKs to the fakes.
pytestmark = pytest.mark.slow

SECRETS = {
    "X_API_KEY": "xk-consumer-4242",
    "X_API_SECRET": "xs-consumer-secret-4242",
    "X_ACCESS_TOKEN": "1600000000000000001-accesstoken",
    "X_ACCESS_TOKEN_SECRET": "xats-secret-4242",
    "FACEBOOK_PAGE_TOKEN": "EAAB-page-token-4242",
}


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (1200, 630), (30, 90, 160)).save(out, "JPEG")
    return out.getvalue()


@pytest.fixture
def platforms():
    with FeedServer() as srv, FakeX(consumer_key=SECRETS["X_API_KEY"],
                                    access_token=SECRETS["X_ACCESS_TOKEN"]) as x, \
            FakeGraph(page_token=SECRETS["FACEBOOK_PAGE_TOKEN"]) as fb:
        srv.set("/img/lead.jpg", jpeg(), content_type="image/jpeg")
        srv.set("/feed/", rss([]))
        yield srv, x, fb


def schedule(work: Path, srv: FeedServer, x: FakeX, fb: FakeGraph, *,
             concurrency: int = 4) -> None:
    (work / "schedules").mkdir(parents=True, exist_ok=True)
    (work / "schedules" / "site.toml").write_text(f"""
[site]
name = "Riverside Ledger"
timezone = "America/New_York"

[[feeds]]
name = "ledger"
url = "{srv.url('/feed/')}"
poll_interval = "1s"

[channels.x]
type = "x"
base_url = "{x.base_url}"
timeout = "3s"
concurrency = {concurrency}
retry = {{ max_attempts = 30, base = "0.2s", cap = "2s" }}
options = {{ allow_private_images = true }}

[channels.x.credentials]
api_key = "X_API_KEY"
api_secret = "X_API_SECRET"
access_token = "X_ACCESS_TOKEN"
access_token_secret = "X_ACCESS_TOKEN_SECRET"

[channels.facebook]
type = "facebook"
base_url = "{fb.base_url}"
timeout = "3s"
concurrency = {concurrency}
retry = {{ max_attempts = 30, base = "0.2s", cap = "2s" }}
options = {{ page_id = "{fb.page_id}" }}
credentials = {{ page_token = "FACEBOOK_PAGE_TOKEN" }}

[[routes]]
feed = "ledger"
channels = ["x", "facebook"]
""")


def articles(srv: FeedServer, count: int) -> list[dict]:
    now = datetime.now(UTC)
    items = []
    for n in range(count):
        it = item(n, published=now - timedelta(minutes=n), categories=("City Council", "Budget"),
                  title=f"Council backs plan {n} to reopen the riverside pool")
        it["image"] = srv.url("/img/lead.jpg")
        items.append(it)
    return items


def start(work: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([*PUBLISHER, "run"], cwd=work, env=env_for(work, **SECRETS),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def stop(proc: subprocess.Popen[str]) -> tuple[str, str]:
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-3000:]
    return out, err


def published(work: Path) -> Counter:
    db = sqlite3.connect(work / "var" / "publisher.db")
    try:
        return Counter(status for (status,) in db.execute("select status from posts"))
    finally:
        db.close()


def test_a_new_article_goes_out_once_on_x_and_facebook(platforms, tmp_path):
    srv, x, fb = platforms
    schedule(tmp_path, srv, x, fb)
    proc = start(tmp_path)
    try:
        wait_for(lambda: len(srv.requests_for("/feed/")) >= 1)
        [story] = articles(srv, 1)
        story["categories"] = ("City Council", "Local News")
        srv.set("/feed/", rss([story]))
        wait_for(lambda: x.posts and fb.posts, timeout=30)
        wait_for(lambda: published(tmp_path)["published"] == 2, timeout=30)
    finally:
        out, err = stop(proc)
    [tweet] = x.posts
    assert tweet.text.startswith("Council backs plan 0 to reopen the riverside pool\n\n")
    assert "#CityCouncil" in tweet.text and "#LocalNews" in tweet.text
    assert [u.split("?")[0] for u in tweet.expanded_urls] == [story["link"]]
    assert len(tweet.media_ids) == 1  # the article's image went up with it
    [post] = fb.posts
    assert post.link.split("?")[0] == story["link"]
    assert post.message.startswith("Council backs plan 0 to reopen the riverside pool")
    for secret in SECRETS.values():
        assert secret not in out and secret not in err
    dump = "\n".join(sqlite3.connect(tmp_path / "var" / "publisher.db").iterdump())
    assert not any(secret in dump for secret in SECRETS.values())


@pytest.mark.slow
def test_under_faults_every_article_is_published_exactly_once(platforms, tmp_path):
    srv, x, fb = platforms
    # One post in flight per channel, so a 429's reset is never overtaken by
    # a request that was already on the wire.
    schedule(tmp_path, srv, x, fb, concurrency=1)
    for fake in (x, fb):
        fake.fault_rate(0.3, ["503", "429", "reset_after"], seed=2)
    proc = start(tmp_path)
    try:
        wait_for(lambda: len(srv.requests_for("/feed/")) >= 1)
        items = articles(srv, 20)
        srv.set("/feed/", rss(items))
        wait_for(lambda: published(tmp_path)["published"] == 40, timeout=150, interval=0.5)
    finally:
        stop(proc)
    for fake in (x, fb):
        fake.settle()
        assert fake.early_requests == []
        assert fake.errors == []
    x_links = Counter(t.expanded_urls[0].split("?")[0] for t in x.posts)
    fb_links = Counter(p.link.split("?")[0] for p in fb.posts)
    expected = Counter(it["link"] for it in items)
    assert x_links == expected
    assert fb_links == expected
    assert published(tmp_path) == Counter({"published": 40})
    faults = [r for fake in (x, fb) for r in fake.requests if r.fault]
    assert {r.fault for r in faults} >= {"503", "429", "reset_after"}  # they really happened


def test_check_says_who_each_channel_posts_as(platforms, tmp_path):
    srv, x, fb = platforms
    schedule(tmp_path, srv, x, fb)
    result = subprocess.run([*PUBLISHER, "check"], cwd=tmp_path,
                            env=env_for(tmp_path, **SECRETS), capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert "ok   x: posts as @riverledger" in result.stdout
    assert "ok   facebook: posts as Riverside Ledger" in result.stdout
    x.revoked = True
    result = subprocess.run([*PUBLISHER, "check"], cwd=tmp_path,
                            env=env_for(tmp_path, **SECRETS), capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 1
    [line] = [ln for ln in result.stdout.splitlines() if ln.startswith("FAIL")]
    assert line.startswith("FAIL x: cannot post:")
    for secret in SECRETS.values():
        assert secret not in result.stdout + result.stderr
