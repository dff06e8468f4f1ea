"""attach(): what the daemon starts beside its scheduler (listener, WebSub,
alerts) and stops with it, configured by PUBLISHER_HTTP and the schedules."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from publisher.app import make_app
from publisher.config import Settings
from publisher.exceptions import ConfigError
from publisher.web.attach import attach
from tests.shipped import TEMPLATES as SHIPPED_TEMPLATES

ROOT = Path(__file__).resolve().parents[2]


def build(store, tmp_path: Path, *, environ: dict[str, str], extra: str = ""):
    write_schedule(tmp_path, extra)
    settings = Settings(schedules=tmp_path / "schedules", templates=SHIPPED_TEMPLATES,
                        env_file=tmp_path / ".env")
    return make_app(settings, store=store, environ=environ)


def write_schedule(tmp_path: Path, extra: str = "") -> None:
    (tmp_path / "schedules").mkdir(exist_ok=True)
    (tmp_path / "schedules" / "site.toml").write_text(f"""
[[feeds]]
name = "site"
url = "http://127.0.0.1:9/feed/"
poll_interval = "2m"

[channels.wire]
type = "jsonl"
options = {{ path = "{tmp_path / 'wire.jsonl'}" }}

[channels.ops]
type = "jsonl"
options = {{ path = "{tmp_path / 'alerts.jsonl'}" }}

[[routes]]
channels = ["wire"]
{extra}
""")


def test_listener_from_publisher_http_and_alerts_round(sqlite_store, tmp_path):
    app = build(sqlite_store, tmp_path, environ={"PUBLISHER_HTTP": "127.0.0.1:0"},
                extra='[alerts]\nchannels = ["ops"]\n')
    app.store.set_paused("wire", paused=True, now=datetime.now(UTC), reason="token revoked")
    app.store.heartbeat(app.worker, now=datetime.now(UTC), host="test", pid=os.getpid())
    face = attach(app, wake=lambda: None, scheduler_running=lambda: True, every=3600)
    try:
        assert face.http is not None and face.websub is None and face.alerts is not None
        assert httpx.get(f"{face.http.url}/healthz").json() == {"status": "ok"}
        ready = httpx.get(f"{face.http.url}/readyz")
        assert ready.status_code == 503
        assert ready.json()["reasons"] == ["channel wire: paused: token revoked"]
        # The first round ran at start: the pause was said on the alert channel.
        [line] = (tmp_path / "alerts.jsonl").read_text().splitlines()
        assert json.loads(line)["text"] == "publisher: channel paused: wire: token revoked"
        face.round()
        assert len((tmp_path / "alerts.jsonl").read_text().splitlines()) == 1
        feed = app.config.feed("site")
        assert face.poll_interval(feed) == 120  # no WebSub: as configured
    finally:
        url = face.http.url if face.http else ""
        face.stop()
        app.fetcher.close()
        app.channels.close()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/healthz", timeout=2)


def test_off_means_no_listener(sqlite_store, tmp_path):
    app = build(sqlite_store, tmp_path, environ={"PUBLISHER_HTTP": "off"},
                extra='[site]\npublic_url = "https://desk.example"\n')
    face = attach(app, wake=lambda: None, scheduler_running=lambda: True)
    assert face.http is None and face.websub is None and face.alerts is None
    face.stop()
    app.fetcher.close()


def test_bad_publisher_http_is_one_line(sqlite_store, tmp_path):
    app = build(sqlite_store, tmp_path, environ={"PUBLISHER_HTTP": "everywhere"})
    with pytest.raises(ConfigError, match='PUBLISHER_HTTP: not "host:port" or "off"'):
        attach(app, wake=lambda: None, scheduler_running=lambda: True)
    app.fetcher.close()


def test_websub_started_with_a_public_url(sqlite_store, tmp_path):
    app = build(sqlite_store, tmp_path, environ={"PUBLISHER_HTTP": "127.0.0.1:0"},
                extra='[site]\npublic_url = "https://desk.example/"\n')
    face = attach(app, wake=lambda: None, scheduler_running=lambda: True, every=3600)
    try:
        assert face.websub is not None
        assert face.websub.callback("site") == "https://desk.example/websub/site"
        # The feed does not answer (port 9): no hub, no subscription.
        assert face.websub.subs == {}
    finally:
        face.stop()
        app.fetcher.close()


def test_alerts_follow_a_reload(sqlite_store, tmp_path):
    from publisher.reload import reload

    app = build(sqlite_store, tmp_path, environ={"PUBLISHER_HTTP": "off"})
    face = attach(app, wake=lambda: None, scheduler_running=lambda: True, every=3600)
    try:
        assert face.alerts is None
        write_schedule(tmp_path, '[alerts]\nchannels = ["ops"]\n')
        reload(app)  # what SIGHUP does
        app.store.set_paused("wire", paused=True, now=datetime.now(UTC), reason="revoked")
        face.round()
        [line] = (tmp_path / "alerts.jsonl").read_text().splitlines()
        assert json.loads(line)["text"] == "publisher: channel paused: wire: revoked"
    finally:
        face.stop()
        app.fetcher.close()
        app.channels.close()


def test_a_port_in_use_is_one_line_and_the_daemon_goes_on(sqlite_store, tmp_path, caplog):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        app = build(sqlite_store, tmp_path, environ={"PUBLISHER_HTTP": f"127.0.0.1:{port}"},
                    extra='[site]\npublic_url = "https://desk.example/"\n')
        face = attach(app, wake=lambda: None, scheduler_running=lambda: True, every=3600)
        try:
            assert face.http is None and face.websub is None
            [record] = [r for r in caplog.records if r.name == "publisher.web"
                        and r.levelname == "ERROR"]
            assert record.getMessage() == (f"PUBLISHER_HTTP: cannot listen on 127.0.0.1:{port}: "
                                           "Address already in use; running without the HTTP "
                                           "listener")
        finally:
            face.stop()
            app.fetcher.close()
