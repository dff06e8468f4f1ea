"""The daemon's HTTP face for real: uvicorn on 127.0.0.1, real HTTP, the real
store, a WordPress site played by FakeWordPress over HTTP."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from publisher.app import App, make_app
from publisher.config import Settings
from publisher.exceptions import ConfigError
from publisher.types import NewPost, Outcome, PostStatus
from publisher.web import WebContext, make_web_app
from publisher.web.hooks import MAX_BODY, sign
from publisher.web.server import HttpServer, parse_bind, start_http
from tests.fakes.wordpress_server import FakeWordPress
from tests.shipped import TEMPLATES as SHIPPED_TEMPLATES

ROOT = Path(__file__).resolve().parents[2]
SECRET = "hook-secret-0123456789"


def schedule(tmp_path: Path, wp: FakeWordPress, extra: str = "") -> Settings:
    (tmp_path / "schedules").mkdir(exist_ok=True)
    (tmp_path / "schedules" / "site.toml").write_text(f"""
[[feeds]]
name = "site"
kind = "wordpress"
url = "{wp.site_url}"
hook_secret_env = "WP_HOOK_SECRET"

[[feeds]]
name = "nohook"
kind = "wordpress"
url = "{wp.site_url}"

[channels.wire]
type = "jsonl"
options = {{ path = "{tmp_path / 'wire.jsonl'}" }}

[channels.other]
type = "jsonl"
options = {{ path = "{tmp_path / 'other.jsonl'}" }}

[[routes]]
feed = "site"
channels = ["wire"]
{extra}
""")
    return Settings(schedules=tmp_path / "schedules", templates=SHIPPED_TEMPLATES,
                    env_file=tmp_path / ".env")


class Clock:
    """Unix time for the hooks' timestamps, movable by the test."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


class Web:
    """A running listener with its app and a client."""

    def __init__(self, app: App, server: HttpServer, ctx: WebContext, wp: FakeWordPress):
        self.app, self.server, self.ctx, self.wp = app, server, ctx, wp
        self.client = httpx.Client(base_url=server.url, timeout=10)
        self.woken = threading.Event()

    def notice(self, feed: str, payload: Any, *, secret: str = SECRET,
               timestamp: float | None = None, body: bytes | None = None,
               headers: dict[str, str] | None = None) -> httpx.Response:
        raw = body if body is not None else json.dumps(payload).encode()
        ts = str(int(timestamp if timestamp is not None else time.time()))
        sent = {"X-Publisher-Timestamp": ts,
                "X-Publisher-Signature": sign(secret, ts, raw),
                "Content-Type": "application/json"}
        sent.update(headers or {})
        return self.client.post(f"/hooks/wordpress/{feed}", content=raw, headers=sent)


@pytest.fixture
def wp() -> Iterator[FakeWordPress]:
    with FakeWordPress() as fake:
        yield fake


def running(store, tmp_path: Path, wp: FakeWordPress) -> Iterator[Web]:
    app = make_app(schedule(tmp_path, wp), store=store, environ={"WP_HOOK_SECRET": SECRET})
    # As the daemon does: the feeds known to the store, and a live daemon
    # (status, and so /readyz, wants one).
    app.sync()
    app.store.heartbeat(app.worker, now=datetime.now(UTC), host="test", pid=os.getpid())
    running = {"yes": True}
    ctx = WebContext(app, scheduler_running=lambda: running["yes"], clock=Clock())
    server = start_http(make_web_app(ctx), ("127.0.0.1", 0))
    w = Web(app, server, ctx, wp)
    ctx.wake = w.woken.set
    w.running = running  # type: ignore[attr-defined]
    try:
        yield w
    finally:
        w.client.close()
        server.stop()
        app.fetcher.close()
        app.channels.close()


@pytest.fixture
def web(store, tmp_path, wp) -> Iterator[Web]:
    """A listener on the test's store (SQLite, and PostgreSQL where it runs)."""
    yield from running(store, tmp_path, wp)


@pytest.fixture
def web_sqlite(sqlite_store, tmp_path, wp) -> Iterator[Web]:
    """A listener on SQLite, whose file the test can take away."""
    yield from running(sqlite_store, tmp_path, wp)


def metric(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample in Prometheus text format."""
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v
                                           for k, v in labels.items()):
                return float(sample.value)
    return None


# -- health ---------------------------------------------------------------------------


def test_healthz(web):
    r = web.client.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}


def test_readyz_ready_then_paused_channel_and_stopped_scheduler(web):
    r = web.client.get("/readyz")
    assert (r.status_code, r.json()) == (200, {"ready": True, "reasons": []})
    web.app.store.set_paused("wire", paused=True, now=datetime.now(UTC),
                             reason="X credits depleted", auth_failed=False)
    web.running["yes"] = False
    r = web.client.get("/readyz")
    assert r.status_code == 503
    assert r.json() == {"ready": False, "reasons": [
        "scheduler not running", "channel wire: paused: X credits depleted"]}


def test_readyz_says_what_status_says(web):
    from publisher.services.desk_status import problems

    web.app.store.add_posts([NewPost(channel="wire", text="will fail")], article_id=None,
                            now=datetime.now(UTC))
    [post] = web.app.store.claim_due(now=datetime.now(UTC), worker="w", lease_seconds=60,
                                     limit=1, channels=["wire"])
    attempt = web.app.store.start_attempt(post.id, worker="w", now=datetime.now(UTC))
    assert attempt is not None
    web.app.store.finish_attempt(attempt.id, worker="w", now=datetime.now(UTC),
                                 outcome=Outcome.FAILED, post_status=PostStatus.FAILED,
                                 error="400 duplicate")
    r = web.client.get("/readyz")
    assert r.status_code == 503
    reasons = r.json()["reasons"]
    assert reasons == list(problems(web.app))
    assert any(line.startswith("channel wire:") for line in reasons)


def test_readyz_without_a_daemon(web):
    web.app.store.heartbeat(web.app.worker, now=datetime.now(UTC), host="test",
                            pid=os.getpid(), stopping=True)
    r = web.client.get("/readyz")
    assert r.status_code == 503
    assert r.json()["reasons"][0].startswith("daemon: stopped at")


def gone(web, tmp_path):
    """The database file's folder disappears: no connection can be opened."""
    web.app.store.close()
    (tmp_path / "var").rename(tmp_path / "var-gone")


def test_readyz_database_unreachable(web_sqlite, tmp_path):
    gone(web_sqlite, tmp_path)
    r = web_sqlite.client.get("/readyz")
    assert r.status_code == 503
    [reason] = r.json()["reasons"]
    assert reason.startswith("database not reachable")


# -- metrics --------------------------------------------------------------------------


def test_metrics_from_the_store(web):
    store, now = web.app.store, datetime.now(UTC)
    ids = store.add_posts([NewPost(channel="wire", text=f"post {n}") for n in range(3)],
                          article_id=None, now=now - timedelta(seconds=90))
    [claimed] = store.claim_due(now=now, worker="w", lease_seconds=60, limit=1,
                                channels=["wire"])
    attempt = store.start_attempt(claimed.id, worker="w", now=now)
    assert attempt is not None
    store.finish_attempt(attempt.id, worker="w", now=now, outcome=Outcome.RATE_LIMITED,
                         post_status=PostStatus.WAITING,
                         next_attempt_at=now + timedelta(minutes=5))
    store.set_rate_limited("wire", now + timedelta(minutes=5))
    from publisher.services import observe

    observe.call_took("wire", 0.3)  # what the dispatcher reports
    observe.poll_took("site", "changed", 0.02)  # what ingest reports
    r = web.client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert metric(text, "publisher_posts", channel="wire", status="queued") == 2
    assert metric(text, "publisher_posts", channel="wire", status="waiting") == 1
    assert metric(text, "publisher_attempts_total", channel="wire",
                  outcome="rate_limited") == 1
    assert metric(text, "publisher_queue_due_posts") == 2
    age = metric(text, "publisher_queue_oldest_due_age_seconds")
    assert age is not None and age >= 90
    wait = metric(text, "publisher_rate_limit_wait_seconds", channel="wire")
    assert wait is not None and 200 < wait <= 300
    assert metric(text, "publisher_channel_paused", channel="wire") == 0
    assert metric(text, "publisher_platform_call_seconds_count", channel="wire")
    assert metric(text, "publisher_feed_poll_seconds_count", feed="site", result="changed")
    assert metric(text, "publisher_start_time_seconds") == pytest.approx(web.ctx.started_at)
    assert metric(text, "publisher_build_info") == 1
    assert ids


def test_every_documented_metric_is_exported(web):
    from publisher.web.metrics import METRICS

    web.app.store.set_paused("other", paused=True, now=datetime.now(UTC), reason="r")
    text = web.client.get("/metrics").text
    from prometheus_client.parser import text_string_to_metric_families

    names = {f.name for f in text_string_to_metric_families(text)}
    for name, (kind, _, _) in METRICS.items():
        if name == "process_*":
            assert any(n.startswith("process_") for n in names)
            continue
        base = name.removesuffix("_total") if kind == "counter" else name
        if name in ("publisher_x_spend_month_dollars",):
            continue  # only with an X channel (see test_web_x_spend)
        assert base in names, name


def test_metrics_survive_a_store_outage(web_sqlite, tmp_path):
    gone(web_sqlite, tmp_path)
    r = web_sqlite.client.get("/metrics")
    assert r.status_code == 200
    assert metric(r.text, "publisher_build_info") == 1
    assert metric(r.text, "publisher_posts", channel="wire", status="queued") is None


# -- push intake ----------------------------------------------------------------------


def test_push_reads_the_post_from_the_site_plans_it_and_wakes(web):
    web.wp.put(41, "Older story")
    web.wp.put(42, "Council votes budget", slug="council-votes")
    r = web.notice("site", {"event": "published", "post_id": 42,
                            "title": "FORGED TITLE, never used"})
    assert r.status_code == 202, r.text
    assert r.json()["status"] == "planned"
    [post] = web.app.store.list_posts()
    assert post.channel == "wire" and post.status is PostStatus.QUEUED
    assert "Council votes budget" in post.text and "FORGED" not in post.text
    assert post.link == f"{web.wp.base_url}/council-votes/"
    assert web.woken.is_set()
    [asked] = [q for q in web.wp.requests if q.method == "GET"]
    assert asked.path == "/wp-json/wp/v2/posts"
    # The same post again (a new notice, e.g. "updated"): known, nothing new.
    r = web.notice("site", {"event": "updated", "post_id": 42})
    assert (r.status_code, r.json().get("status")) == (202, "known"), r.text
    assert len(web.app.store.list_posts()) == 1


def test_push_by_url_and_a_draft_is_not_planned(web):
    web.wp.put(7, "Secret draft", status="draft", slug="secret-draft")
    r = web.notice("site", {"event": "published", "url": f"{web.wp.base_url}/secret-draft/"})
    assert (r.status_code, r.json()["status"]) == (202, "absent")
    web.wp.put(7, "Now public", slug="secret-draft")
    r = web.notice("site", {"event": "updated", "url": f"{web.wp.base_url}/secret-draft/"})
    assert (r.status_code, r.json()["status"]) == (202, "planned")
    assert "Now public" in web.app.store.list_posts()[0].text


def test_push_unpublished_polls_the_site_never_trusting_the_notice(web):
    r = web.notice("site", {"event": "unpublished", "post_id": 3})
    assert (r.status_code, r.json()["status"]) == (202, "polled")
    assert web.wp.requests  # the site was read again; the notice retracts nothing


@pytest.mark.parametrize("case", ["unsigned", "wrong_secret", "tampered", "stale", "future",
                                  "bad_timestamp"])
def test_push_refuses_bad_signatures(web, case):
    web.wp.put(42, "Story")
    payload = {"event": "published", "post_id": 42}
    now = time.time()
    if case == "unsigned":
        r = web.client.post("/hooks/wordpress/site", json=payload)
    elif case == "wrong_secret":
        r = web.notice("site", payload, secret="guessed")
    elif case == "tampered":
        ts = str(int(now))
        r = web.client.post("/hooks/wordpress/site", content=b'{"event":"published","post_id":1}',
                            headers={"X-Publisher-Timestamp": ts,
                                     "X-Publisher-Signature": sign(SECRET, ts, json.dumps(
                                         payload).encode())})
    elif case == "stale":
        r = web.notice("site", payload, timestamp=now - 301)
    elif case == "future":
        r = web.notice("site", payload, timestamp=now + 400)
    else:
        r = web.notice("site", payload, headers={"X-Publisher-Timestamp": "yesterday"})
    assert r.status_code == 401, r.text
    assert SECRET not in r.text
    assert not web.wp.requests  # nothing was read on an unverified notice
    assert web.app.store.list_posts() == []


def test_push_replay_is_refused(web):
    web.wp.put(42, "Story")
    body = json.dumps({"event": "published", "post_id": 42}).encode()
    ts = str(int(time.time()))
    headers = {"X-Publisher-Timestamp": ts, "X-Publisher-Signature": sign(SECRET, ts, body)}
    first = web.client.post("/hooks/wordpress/site", content=body, headers=headers)
    again = web.client.post("/hooks/wordpress/site", content=body, headers=headers)
    assert first.status_code == 202
    assert again.status_code == 409
    assert len([q for q in web.wp.requests if q.method == "GET"]) == 1


def test_push_oversized_body_is_refused_unread(web):
    big = b'{"event":"published","post_id":1,"pad":"' + b"x" * MAX_BODY + b'"}'
    r = web.notice("site", None, body=big)
    assert r.status_code == 413
    # Chunked, without a Content-Length: still cut off.
    def chunks() -> Iterator[bytes]:
        for _ in range(MAX_BODY // 1024 + 2):
            yield b"x" * 1024

    ts = str(int(time.time()))
    r = web.client.post("/hooks/wordpress/site", content=chunks(),
                        headers={"X-Publisher-Timestamp": ts, "X-Publisher-Signature": "sha256=0"})
    assert r.status_code == 413


@pytest.mark.parametrize("feed", ["nope", "nohook"])
def test_push_unknown_feed_or_feed_without_hook(web, feed):
    r = web.notice(feed, {"event": "published", "post_id": 1})
    assert r.status_code == 404
    assert r.json() == {"error": "no push hook for this feed"}


@pytest.mark.parametrize("payload", [[1, 2], {"event": "deleted", "post_id": 1},
                                     {"event": "published"}, {"event": "published",
                                                              "post_id": "1; DROP"}])
def test_push_bad_notice(web, payload):
    r = web.notice("site", payload)
    assert r.status_code == 400
    assert not web.wp.requests


def test_push_site_down_is_a_502_and_counted(web):
    web.wp.fail_next("500", on="read")
    r = web.notice("site", {"event": "published", "post_id": 42})
    assert r.status_code == 502
    text = web.client.get("/metrics").text
    assert metric(text, "publisher_push_hooks_total", feed="site", result="read_failed") >= 1


def test_push_secret_not_set(sqlite_store, tmp_path, wp):
    app = make_app(schedule(tmp_path, wp), store=sqlite_store, environ={})
    server = start_http(make_web_app(WebContext(app)), ("127.0.0.1", 0))
    try:
        ts = str(int(time.time()))
        r = httpx.post(f"{server.url}/hooks/wordpress/site", content=b"{}",
                       headers={"X-Publisher-Timestamp": ts,
                                "X-Publisher-Signature": sign("", ts, b"{}")})
        assert r.status_code == 503
        assert "WP_HOOK_SECRET" in r.json()["error"]
    finally:
        server.stop()
        app.fetcher.close()


# -- the listener ----------------------------------------------------------------------


@pytest.mark.parametrize(("value", "expected"), [
    (None, ("127.0.0.1", 8787)), ("off", None), ("OFF", None), ("", None),
    ("0.0.0.0:9000", ("0.0.0.0", 9000)), (":9100", ("127.0.0.1", 9100)),
    ("[::1]:8787", ("::1", 8787)),
])
def test_parse_bind(value, expected):
    assert parse_bind(value) == expected


@pytest.mark.parametrize("value", ["8787x", "host", "host:99999", "host:-1"])
def test_parse_bind_refuses(value):
    with pytest.raises(ConfigError, match="PUBLISHER_HTTP"):
        parse_bind(value)


def test_port_in_use_is_one_clear_error(web):
    with pytest.raises(ConfigError, match=f"cannot listen on 127.0.0.1:{web.server.port}"):
        start_http(make_web_app(web.ctx), ("127.0.0.1", web.server.port))


def test_stop_closes_the_port(sqlite_store, tmp_path, wp):
    app = make_app(schedule(tmp_path, wp), store=sqlite_store, environ={})
    server = start_http(make_web_app(WebContext(app)), ("127.0.0.1", 0))
    assert httpx.get(f"{server.url}/healthz").status_code == 200
    server.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{server.url}/healthz", timeout=2)
    app.fetcher.close()
