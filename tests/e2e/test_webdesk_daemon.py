"""The web desk of a running daemon: ``publisher users add`` then ``publisher
run`` as subprocesses; an editor signs in over HTTP, queues a text post and
approves a draft, and the daemon publishes them to the channel; the log page
shows the outcome and who did it.  Slow tier."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.shipped import TEMPLATES as SHIPPED_TEMPLATES

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="csrf" value="([0-9a-f]+)"')

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for(predicate: Callable[[], Any], timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except httpx.HTTPError:
            value = None
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s")


def _csrf(html: str) -> str:
    match = CSRF.search(html)
    assert match
    return match.group(1)


def _daemon_serves_http() -> bool:
    import inspect

    import publisher.daemon

    return "attach" in inspect.getsource(publisher.daemon)


@pytest.mark.skipif(not _daemon_serves_http(), reason="publisher run does not start the HTTP "
                    "listener yet (publisher.web.attach is not called from publisher/daemon.py)")
def test_an_editor_steers_a_running_daemon_from_the_browser(tmp_path: Path) -> None:
    (tmp_path / "schedules").mkdir()
    (tmp_path / "schedules" / "desk.toml").write_text(f"""
[channels.wire]
type = "jsonl"
options = {{ path = "{tmp_path / 'wire.jsonl'}" }}

[channels.review]
type = "jsonl"
approval = true
options = {{ path = "{tmp_path / 'review.jsonl'}" }}
""")
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PUBLISHER_", "DATABASE_"))}
    env.update({"PUBLISHER_TEMPLATES": str(SHIPPED_TEMPLATES), "PYTHONPATH": str(ROOT),
                "DATABASE_URL": f"sqlite:///{tmp_path / 'var' / 'publisher.db'}",
                "PUBLISHER_HTTP": f"127.0.0.1:{port}"})
    added = subprocess.run([sys.executable, "-m", "publisher.cli", "users", "add", "ana",
                            "--role", "editor", "--password-stdin"], input=PASSWORD + "\n",
                           cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert added.returncode == 0, added.stderr
    log = (tmp_path / "daemon.log").open("w")
    daemon = subprocess.Popen([sys.executable, "-m", "publisher.cli", "run"], cwd=tmp_path,
                              env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        assert _wait_for(lambda: httpx.get(f"{base}/healthz").status_code == 200)
        with httpx.Client(base_url=base, timeout=30) as c:
            page = c.get("/desk/sign-in")
            got = c.post("/desk/sign-in", data={"name": "ana", "password": PASSWORD,
                                                "csrf": _csrf(page.text)})
            assert got.status_code == 303
            token = _csrf(c.get("/desk/new").text)
            got = c.post("/desk/new", data={"csrf": token, "text": "Straight to the wire",
                                            "channel": "wire", "do": "queue"})
            assert got.status_code == 303, got.text
            got = c.post("/desk/new", data={"csrf": token, "text": "Needs a second look",
                                            "channel": "review", "do": "queue"})
            assert got.status_code == 303, got.text
            draft = int(got.headers["location"].split("/desk/post/")[1].split("?")[0])
            wire = tmp_path / "wire.jsonl"
            _wait_for(lambda: wire.exists() and "Straight to the wire" in wire.read_text())
            review = tmp_path / "review.jsonl"
            assert not review.exists() or "Needs a second look" not in review.read_text()
            got = c.post(f"/desk/post/{draft}/approve", data={"csrf": token})
            assert got.status_code == 303
            _wait_for(lambda: review.exists() and "Needs a second look" in review.read_text())
            log_page = _wait_for(lambda: (lambda t: t if t.count(">ok<") >= 2 else None)(
                c.get("/desk/log").text))
            assert "review" in log_page and "wire" in log_page
            post = c.get(f"/desk/post/{draft}").text
            assert "published" in post and "editor:ana" in post
    finally:
        daemon.send_signal(signal.SIGTERM)
        try:
            daemon.wait(30)
        finally:
            if daemon.poll() is None:
                daemon.kill()
            log.close()
