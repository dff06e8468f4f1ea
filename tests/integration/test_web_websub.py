"""WebSub for real: a feed over HTTP advertising a hub, FakeHub verifying our
callback on the running listener and distributing signed content; a hub that
never confirms; a hub that denies; forged and unsigned content."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from publisher.app import make_app
from publisher.config import Settings
from publisher.web import WebContext, make_web_app, make_websub
from publisher.web.server import start_http
from publisher.web.websub import Hub, discover, next_action, poll_interval, signature_ok
from tests.fakes.clock import FakeClock
from tests.fakes.feed_server import FeedServer
from tests.fakes.feeds import item, rss
from tests.fakes.websub_hub import FakeHub
from tests.shipped import TEMPLATES as SHIPPED_TEMPLATES

ROOT = Path(__file__).resolve().parents[2]


def with_hub(body: bytes, hub: str, self_url: str) -> bytes:
    return body.replace(b"<rss ", b'<rss xmlns:atom="http://www.w3.org/2005/Atom" ', 1).replace(
        b"<channel>", f'<channel><atom:link rel="hub" href="{hub}"/>'
                      f'<atom:link rel="self" type="application/rss+xml" href="{self_url}"/>'
        .encode(), 1)


# -- pure parts ------------------------------------------------------------------------


def test_discover_from_the_body_and_from_link_headers():
    body = with_hub(rss([item(1)]), "https://hub.example/", "https://news.example/feed/")
    assert discover(body, url="https://news.example/feed/?x=1") == Hub(
        "https://hub.example/", "https://news.example/feed/")
    atom = (b'<feed xmlns="http://www.w3.org/2005/Atom"><link href="/feed.atom" rel="self"/>'
            b"<link rel='hub' href='https://pubsubhubbub.appspot.com/'/></feed>")
    assert discover(atom, url="https://site.example/feed.atom") == Hub(
        "https://pubsubhubbub.appspot.com/", "https://site.example/feed.atom")
    header = '<https://hub.example/h>; rel="hub", <https://site.example/t>; rel="self"'
    assert discover(b"<rss/>", url="https://site.example/f", link_header=header) == Hub(
        "https://hub.example/h", "https://site.example/t")
    assert discover(rss([item(1)]), url="https://news.example/feed/") is None
    assert discover(b'<link rel="hub" href="javascript:alert(1)"/>', url="https://x/") is None


@pytest.mark.parametrize("method", ["sha1", "sha256", "sha384", "sha512"])
def test_signature_methods(method):
    import hashlib
    import hmac

    mac = hmac.new(b"s3cret", b"body", getattr(hashlib, method)).hexdigest()
    assert signature_ok("s3cret", f"{method}={mac}", b"body")
    assert not signature_ok("other", f"{method}={mac}", b"body")
    assert not signature_ok("s3cret", f"{method}={mac}", b"body!")


@pytest.mark.parametrize("header", [None, "", "sha256", "md5=abc", "sha256=zz"])
def test_bad_signature_headers(header):
    assert not signature_ok("s3cret", header, b"body")


def test_poll_interval_slower_only_while_confirmed():
    assert poll_interval(60, confirmed=False) == 60
    assert poll_interval(60, confirmed=True) == 600
    assert poll_interval(900, confirmed=True) == 3600


# -- for real --------------------------------------------------------------------------


class Setup:
    def __init__(self, app, server, ctx, websub, hub, feeds, clock):
        self.app, self.server, self.ctx, self.websub = app, server, ctx, websub
        self.hub, self.feeds, self.clock = hub, feeds, clock
        self.woken = 0

    @property
    def topic(self) -> str:
        return self.feeds.url("/feed/")

    def serve(self, items):
        self.feeds.set("/feed/", with_hub(rss(items), self.hub.base_url + "/", self.topic),
                       content_type="application/rss+xml")


@pytest.fixture
def setup(sqlite_store, tmp_path) -> Iterator[Setup]:
    with FeedServer() as feeds, FakeHub(lease=3600) as hub:
        (tmp_path / "schedules").mkdir()
        (tmp_path / "schedules" / "site.toml").write_text(f"""
[site]
public_url = "http://127.0.0.1:1"

[[feeds]]
name = "site"
url = "{feeds.url('/feed/')}"

[channels.wire]
type = "jsonl"
options = {{ path = "{tmp_path / 'wire.jsonl'}" }}

[[routes]]
channels = ["wire"]
""")
        clock = FakeClock(datetime.now(UTC))
        settings = Settings(schedules=tmp_path / "schedules", templates=SHIPPED_TEMPLATES,
                            env_file=tmp_path / ".env")
        app = make_app(settings, store=sqlite_store, environ={}, clock=clock)
        ctx = WebContext(app)
        websub = make_websub(ctx)
        server = start_http(make_web_app(ctx), ("127.0.0.1", 0))
        websub.public_url = server.url  # the port is known once listening
        s = Setup(app, server, ctx, websub, hub, feeds, clock)

        def wake() -> None:
            s.woken += 1

        ctx.wake = wake
        s.serve([item(1), item(2)])
        try:
            yield s
        finally:
            server.stop()
            websub.close()
            app.fetcher.close()
            app.channels.close()


def test_subscribes_is_verified_and_a_signed_push_plans_the_new_article(setup):
    s = setup
    s.app.sync()
    s.app.poll("site")  # the first poll remembers what is there
    s.websub.refresh()
    assert s.hub.verified.wait(10)
    [(callback, status, _)] = s.hub.verifications
    assert callback == f"{s.server.url}/websub/site" and status == 200
    assert s.websub.confirmed("site")
    sub = s.websub.subs["site"]
    assert sub.topic == s.topic
    assert sub.lease_expires_at == sub.asked_at + timedelta(seconds=3600)
    s.serve([item(3), item(1), item(2)])
    assert s.hub.distribute(s.topic, b"<rss>whatever the hub sends</rss>") == [202]
    [post] = s.app.store.list_posts()
    assert "item number 3" in post.text
    assert s.woken == 1


def test_forged_or_unsigned_content_is_acknowledged_and_ignored(setup):
    s = setup
    s.app.sync()
    s.app.poll("site")
    s.websub.refresh()
    assert s.hub.verified.wait(10)
    s.serve([item(3), item(1), item(2)])
    before = len(s.feeds.requests)
    assert s.hub.distribute(s.topic, b"<rss/>", secret="guessed") == [202]
    r = httpx.post(f"{s.server.url}/websub/site", content=b"<rss/>")
    assert r.status_code == 202
    assert len(s.feeds.requests) == before  # nothing was polled
    assert s.app.store.list_posts() == []


def test_sha1_signatures_are_accepted(setup):
    s = setup
    s.app.sync()
    s.app.poll("site")
    s.websub.refresh()
    assert s.hub.verified.wait(10)
    s.serve([item(4), item(1), item(2)])
    assert s.hub.distribute(s.topic, b"<rss/>", method="sha1") == [202]
    assert len(s.app.store.list_posts()) == 1


def test_a_hub_that_never_confirms(setup):
    s = setup
    s.hub.confirm = False
    s.websub.refresh()
    sub = s.websub.subs["site"]
    assert sub.state == "requested" and not s.websub.confirmed("site")
    assert poll_interval(60, s.websub.confirmed("site")) == 60  # polling as configured
    # Content for a subscription never confirmed is refused.
    assert httpx.post(f"{s.server.url}/websub/site", content=b"x").status_code == 410
    s.clock.advance(5 * 60)
    s.websub.refresh()
    assert s.hub.requests_made == 1
    s.clock.advance(6 * 60)  # 10 minutes after asking: ask again
    s.websub.refresh()
    assert s.hub.requests_made == 2
    assert s.websub.subs["site"].tries == 2
    s.clock.advance(15 * 60)  # then after 20 minutes, not 10
    s.websub.refresh()
    assert s.hub.requests_made == 2


def test_verification_for_a_topic_we_did_not_ask_is_refused(setup):
    s = setup
    s.hub.confirm = False
    s.websub.refresh()
    r = httpx.get(f"{s.server.url}/websub/site", params={
        "hub.mode": "subscribe", "hub.topic": "https://evil.example/feed",
        "hub.challenge": "abc", "hub.lease_seconds": "60"})
    assert r.status_code == 404
    r = httpx.get(f"{s.server.url}/websub/other", params={
        "hub.mode": "subscribe", "hub.topic": s.topic, "hub.challenge": "abc"})
    assert r.status_code == 404
    assert not s.websub.confirmed("site")


def test_denied(setup):
    s = setup
    s.hub.deny = "topic not allowed"
    s.websub.refresh()
    import time

    for _ in range(500):
        if s.websub.subs["site"].state == "denied":
            break
        time.sleep(0.01)
    assert s.websub.subs["site"].state == "denied"
    assert s.websub.subs["site"].reason == "topic not allowed"


def test_lease_renewed_at_80_percent(setup):
    s = setup
    s.websub.refresh()
    assert s.hub.verified.wait(10)
    sub = s.websub.subs["site"]
    assert next_action(sub, sub.asked_at + timedelta(seconds=2879)) is None
    assert next_action(sub, sub.asked_at + timedelta(seconds=2880)) == "subscribe"
    s.hub.verified.clear()
    s.clock.advance(2880)
    s.websub.refresh()
    assert s.hub.requests_made == 2
    assert s.hub.verified.wait(10)
    assert s.websub.confirmed("site")


@pytest.mark.parametrize(("given", "seconds"), [("86400", 86400), ("1" * 400, 10 * 86400),
                                                ("5", 60), ("999999999", 366 * 86400),
                                                ("-3", 10 * 86400)])
def test_a_hub_s_lease_is_bounded(setup, given, seconds):
    s = setup
    s.hub.confirm = False
    s.websub.refresh()
    r = httpx.get(f"{s.server.url}/websub/site", params={
        "hub.mode": "subscribe", "hub.topic": s.topic, "hub.challenge": "c1",
        "hub.lease_seconds": given})
    assert (r.status_code, r.text) == (200, "c1")
    sub = s.websub.subs["site"]
    assert sub.lease_expires_at - sub.asked_at == timedelta(seconds=seconds)


def test_a_feed_without_a_hub_is_looked_at_again_only_hours_later(setup):
    s = setup
    s.feeds.set("/feed/", rss([item(1)]), content_type="application/rss+xml")
    s.websub.refresh()
    s.websub.refresh()
    assert s.websub.subs == {}
    assert len(s.feeds.requests) == 1
    s.serve([item(1)])  # the site adds a hub
    s.clock.advance(6 * 3600)
    s.websub.refresh()
    assert len(s.feeds.requests) == 2
    assert s.hub.verified.wait(10) and s.websub.confirmed("site")
