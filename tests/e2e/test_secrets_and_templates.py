"""Secrets are never shown, and a broken template fails its posts, not the daemon.

The flows run for real (``publisher check`` and ``publisher run --once`` as
subprocesses, verbose and in JSON, against wire-level fakes that fail some
calls and revoke a token), with known credential values; then every line of
output, every log line, every database row and every file the run wrote is
searched for them.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.e2e.test_daemon import PUBLISHER, env_for, jsonl
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.feed_server import FeedServer
from tests.fakes.feeds import item, rss
from tests.fakes.mastodon_server import FakeMastodon
from tests.fakes.telegram_server import FakeTelegram
from tests.fakes.webhook_server import FakeWebhookReceiver
from tests.fakes.x_server import FakeX
from tests.shipped import TEMPLATES as SHIPPED_TEMPLATES

TELEGRAM_TOKEN = "7000000001:AAH-secret-telegram-token-424242"
SECRETS = {
    "X_API_KEY": "xk-consumer-777777",
    "X_API_SECRET": "xs-consumer-secret-777777",
    "X_ACCESS_TOKEN": "1600000000000000001-access-777777",
    "X_ACCESS_TOKEN_SECRET": "xats-secret-777777",
    "MASTODON_TOKEN": "masto-token-777777-abcdef",
    "TELEGRAM_TOKEN": TELEGRAM_TOKEN,
    "WEBHOOK_SECRET": "whsec-0123456789abcdef-777777",
}


def run(work: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PUBLISHER, *args], cwd=work, env=env, capture_output=True,
                          text=True, timeout=120)


@pytest.fixture
def site(tmp_path):
    with FeedServer() as srv, \
            FakeX(consumer_key=SECRETS["X_API_KEY"],
                  access_token=SECRETS["X_ACCESS_TOKEN"]) as x, \
            FakeMastodon(access_token=SECRETS["MASTODON_TOKEN"]) as masto, \
            FakeTelegram(token=TELEGRAM_TOKEN) as tg, \
            FakeDiscord(token="discord-webhook-token-777777-xyz") as discord, \
            FakeWebhookReceiver(secret=SECRETS["WEBHOOK_SECRET"]) as hook:
        srv.set("/feed/", rss([]))
        secrets = dict(SECRETS, DISCORD_WEBHOOK=discord.webhook_url, WEBHOOK_URL=hook.url)
        (tmp_path / "schedules").mkdir()
        (tmp_path / "schedules" / "site.toml").write_text(f"""
[[feeds]]
name = "site"
url = "{srv.url('/feed/')}"

[channels.x]
type = "x"
base_url = "{x.base_url}"
timeout = "2s"
retry = {{ base = "0.1s", cap = "0.5s", max_attempts = 3 }}

[channels.x.credentials]
api_key = "X_API_KEY"
api_secret = "X_API_SECRET"
access_token = "X_ACCESS_TOKEN"
access_token_secret = "X_ACCESS_TOKEN_SECRET"

[channels.mastodon]
type = "mastodon"
base_url = "{masto.base_url}"
credentials = {{ access_token = "MASTODON_TOKEN" }}

[channels.telegram]
type = "telegram"
base_url = "{tg.base_url}"
options = {{ chat_id = {tg.chat_id} }}
credentials = {{ bot_token = "TELEGRAM_TOKEN" }}

[channels.discord]
type = "discord"
retry = {{ base = "0.1s", cap = "0.5s", max_attempts = 2 }}
credentials = {{ webhook_url = "DISCORD_WEBHOOK" }}

[channels.hook]
type = "webhook"
credentials = {{ url = "WEBHOOK_URL", signing_secret = "WEBHOOK_SECRET" }}

[channels.broken]
type = "jsonl"
template = "broken"
options = {{ path = "{tmp_path}/broken.jsonl" }}

[channels.archive]
type = "jsonl"
options = {{ path = "{tmp_path}/archive.jsonl" }}

[[routes]]
channels = ["x", "mastodon", "telegram", "discord", "hook", "broken", "archive"]
""")
        templates = tmp_path / "templates"
        shutil.copytree(SHIPPED_TEMPLATES, templates)
        (templates / "jsonl" / "broken.j2").write_text(
            "{{ article.title }}\n{{ article.titel }}\n{{ link }}\n")
        env = env_for(tmp_path, **secrets)
        env["PUBLISHER_TEMPLATES"] = str(templates)
        yield tmp_path, srv, env, secrets, {"x": x, "telegram": tg, "discord": discord,
                                           "mastodon": masto, "hook": hook}


def everything_written(work: Path) -> str:
    parts = []
    db = sqlite3.connect(work / "var" / "publisher.db")
    parts.extend(db.iterdump())
    db.close()
    for path in work.rglob("*"):
        if path.is_file() and path.suffix in (".jsonl", ".json", ".log", ".txt", ""):
            parts.append(path.read_text(errors="replace"))
    return "\n".join(parts)


@pytest.mark.slow
def test_no_secret_is_shown_anywhere_and_a_broken_template_fails_only_its_posts(site):
    work, srv, env, secrets, fakes = site
    outputs = []
    check = run(work, "check", env=env)
    outputs += [check.stdout, check.stderr]
    # check renders every template against a sample: the broken one is named
    # (exit 2); the daemon still starts and every other channel publishes.
    assert check.returncode == 2, check.stderr
    assert "broken.j2:2" in check.stderr and "titel" in check.stderr

    first = run(work, "-v", "--log-format", "json", "run", "--once", env=env)
    outputs += [first.stdout, first.stderr]
    now = datetime.now(UTC)
    srv.set("/feed/", rss([item(n, published=now - timedelta(minutes=n)) for n in range(2)]))
    fakes["telegram"].revoked = True  # a token revoked mid-run: errors quote requests
    fakes["discord"].fail_next("500", n=5)
    fakes["x"].fail_next("reset_after")
    second = run(work, "-v", "--log-format", "json", "run", "--once", env=env)
    outputs += [second.stdout, second.stderr]
    assert second.returncode == 0, second.stderr[-3000:]
    status = run(work, "check", env=env)  # the revoked token, reported in one line
    outputs += [status.stdout, status.stderr]
    assert status.returncode == 2  # the broken template still; the platforms asked too
    assert "FAIL telegram" in status.stdout, status.stdout

    written = everything_written(work)
    for name, value in secrets.items():
        for text in [*outputs, written]:
            assert value not in text, f"{name} leaked"
    # the Telegram token is in the URL path of every Bot API call: check its parts too
    assert TELEGRAM_TOKEN.split(":")[1] not in "\n".join(outputs) + written

    # the broken template failed its own posts with a clear message ...
    db = sqlite3.connect(work / "var" / "publisher.db")
    rows = db.execute("select status, last_error from posts where channel='broken'").fetchall()
    assert len(rows) == 2
    for status_, error in rows:
        assert status_ == "failed"
        assert "broken.j2:2" in error and "titel" in error
    # ... and nothing else: the other channels published
    assert len(jsonl(work / "archive.jsonl")) == 2
    assert len(fakes["x"].posts) == 2 and len(fakes["mastodon"].statuses) == 2
    db.close()
