"""``publisher run`` as a subprocess with its HTTP listener: health, readiness,
metrics, a signed WordPress notice that gets a post out without a poll, and
SIGTERM closing the port.  Slow tier."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from publisher.web.hooks import sign
from tests.fakes.wordpress_server import FakeWordPress
from tests.shipped import TEMPLATES as SHIPPED_TEMPLATES

ROOT = Path(__file__).resolve().parents[2]
SECRET = "daemon-hook-secret-42"

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(predicate, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except httpx.HTTPError:
            value = None
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s")


def test_daemon_serves_http_takes_a_push_and_stops(tmp_path):
    with FakeWordPress() as wp:
        wp.put(1, "Already there before the daemon started")
        (tmp_path / "schedules").mkdir()
        (tmp_path / "schedules" / "site.toml").write_text(f"""
[[feeds]]
name = "site"
kind = "wordpress"
url = "{wp.site_url}"
hook_secret_env = "WP_HOOK_SECRET"
poll_interval = "1h"

[channels.wire]
type = "jsonl"
options = {{ path = "{tmp_path / 'wire.jsonl'}" }}

[[routes]]
channels = ["wire"]
""")
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("PUBLISHER_", "DATABASE_"))}
        env.update({"PUBLISHER_TEMPLATES": str(SHIPPED_TEMPLATES), "PYTHONPATH": str(ROOT),
                    "DATABASE_URL": f"sqlite:///{tmp_path / 'var' / 'publisher.db'}",
                    "PUBLISHER_HTTP": f"127.0.0.1:{port}", "WP_HOOK_SECRET": SECRET})
        log = (tmp_path / "daemon.log").open("w")
        daemon = subprocess.Popen([sys.executable, "-m", "publisher.cli", "run"], cwd=tmp_path,
                                  env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            assert wait_for(lambda: httpx.get(f"{base}/healthz").status_code == 200)
            ready = httpx.get(f"{base}/readyz")
            assert ready.json() == {"ready": True, "reasons": []}, ready.text
            # The first poll seeded the feed (post 1 is remembered, not posted).
            wait_for(lambda: "publisher_feed_last_success_timestamp_seconds{feed=\"site\"}"
                     in httpx.get(f"{base}/metrics").text)
            wp.put(2, "Breaking: bridge reopens")
            raw = json.dumps({"event": "published", "post_id": 2}).encode()
            ts = str(int(time.time()))
            answer = httpx.post(f"{base}/hooks/wordpress/site", content=raw, headers={
                "X-Publisher-Timestamp": ts, "X-Publisher-Signature": sign(SECRET, ts, raw)})
            assert answer.status_code == 202 and answer.json()["status"] == "planned"
            out = tmp_path / "wire.jsonl"
            wait_for(lambda: out.exists() and "bridge reopens" in out.read_text(), timeout=10)
            assert "Already there" not in out.read_text()
            metrics = httpx.get(f"{base}/metrics").text
            assert 'publisher_posts{channel="wire",status="published"} 1.0' in metrics
            assert 'publisher_push_hooks_total{feed="site",result="accepted"} 1.0' in metrics
        finally:
            daemon.send_signal(signal.SIGTERM)
            code = daemon.wait(60)
            log.close()
        assert code == 0, (tmp_path / "daemon.log").read_text()[-3000:]
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{base}/healthz", timeout=2)
