"""``publisher check`` against every channel type at once, each platform played by its fake.

One configuration holds all twelve channel types (console, jsonl, x, facebook,
mastodon, bluesky, telegram, threads, linkedin, discord, slack, webhook), each
pointed at its wire-level fake through ``base_url`` with its credentials in the
environment. ``publisher check`` runs as a subprocess, as an operator runs it:
first it must pass and say ``ok`` for every channel; then, with the token of
every platform revoked, it must fail and name each of those channels.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.bluesky_server import FakeBluesky
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.fakehttp import FakeServer
from tests.fakes.graph_server import FakeGraph
from tests.fakes.linkedin_server import FakeLinkedIn
from tests.fakes.mastodon_server import FakeMastodon
from tests.fakes.slack_server import FakeSlack
from tests.fakes.telegram_server import FakeTelegram
from tests.fakes.threads_server import FakeThreads
from tests.fakes.webhook_server import FakeWebhookReceiver
from tests.fakes.x_server import FakeX
from tests.shipped import TEMPLATES as SHIPPED_TEMPLATES

ROOT = Path(__file__).resolve().parents[2]
SECRETS = {
    "X_API_KEY": "xk-consumer-check-7731",
    "X_API_SECRET": "xs-consumer-secret-check-7731",
    "X_ACCESS_TOKEN": "1600000000000000001-access-check-7731",
    "X_ACCESS_TOKEN_SECRET": "xats-secret-check-7731",
    "FACEBOOK_PAGE_TOKEN": "EAAB-page-token-check-7731",
    "MASTODON_TOKEN": "masto-token-check-7731",
    "BLUESKY_HANDLE": "ledger.bsky.social",
    "BLUESKY_APP_PASSWORD": "abcd-efgh-ijkl-7731",
    "TELEGRAM_TOKEN": "7000000001:AAH-check-telegram-token-7731",
    "THREADS_TOKEN": "THQWJ-threads-token-check-7731",
    "LINKEDIN_TOKEN": "AQV-linkedin-token-check-7731",
    "WEBHOOK_SECRET": "whsec-check-0123456789abcdef",
}
DISCORD_TOKEN = "discord-hook-token_check7731"
SLACK_TOKEN = "slackHookTokenCheck7731xyz"
#: The channels a platform fake plays, and the two local ones.
PLATFORMS = ("x", "facebook", "mastodon", "bluesky", "telegram", "threads", "linkedin",
             "discord", "slack", "webhook")
LOCAL = ("console", "jsonl")
CREDENTIALS = {
    "x": 'api_key = "X_API_KEY", api_secret = "X_API_SECRET", '
         'access_token = "X_ACCESS_TOKEN", access_token_secret = "X_ACCESS_TOKEN_SECRET"',
    "facebook": 'page_token = "FACEBOOK_PAGE_TOKEN"',
    "mastodon": 'access_token = "MASTODON_TOKEN"',
    "bluesky": 'handle = "BLUESKY_HANDLE", app_password = "BLUESKY_APP_PASSWORD"',
    "telegram": 'bot_token = "TELEGRAM_TOKEN"',
    "threads": 'access_token = "THREADS_TOKEN"',
    "linkedin": 'access_token = "LINKEDIN_TOKEN"',
    "discord": 'webhook_url = "DISCORD_WEBHOOK"',
    "slack": 'webhook_url = "SLACK_WEBHOOK"',
    "webhook": 'url = "WEBHOOK_URL", signing_secret = "WEBHOOK_SECRET"',
}


def start_fakes() -> dict[str, FakeServer]:
    fakes: dict[str, FakeServer] = {
        "x": FakeX(consumer_key=SECRETS["X_API_KEY"], access_token=SECRETS["X_ACCESS_TOKEN"]),
        "facebook": FakeGraph(page_token=SECRETS["FACEBOOK_PAGE_TOKEN"]),
        "mastodon": FakeMastodon(access_token=SECRETS["MASTODON_TOKEN"]),
        "bluesky": FakeBluesky(handle=SECRETS["BLUESKY_HANDLE"],
                               password=SECRETS["BLUESKY_APP_PASSWORD"]),
        "telegram": FakeTelegram(token=SECRETS["TELEGRAM_TOKEN"]),
        "threads": FakeThreads(access_token=SECRETS["THREADS_TOKEN"]),
        "linkedin": FakeLinkedIn(access_token=SECRETS["LINKEDIN_TOKEN"]),
        "discord": FakeDiscord(token=DISCORD_TOKEN),
        "slack": FakeSlack(token=SLACK_TOKEN),
        "webhook": FakeWebhookReceiver(secret=SECRETS["WEBHOOK_SECRET"]),
    }
    for fake in fakes.values():
        fake.start()
    return fakes


@pytest.fixture(scope="module")
def fakes() -> Iterator[dict[str, FakeServer]]:
    started = start_fakes()
    try:
        yield started
    finally:
        for fake in started.values():
            fake.stop()


def options(name: str, fakes: dict[str, FakeServer]) -> str:
    return {
        "facebook": f'page_id = "{fakes["facebook"].page_id}"',  # type: ignore[attr-defined]
        "telegram": f"chat_id = {fakes['telegram'].chat_id}",  # type: ignore[attr-defined]
        "linkedin": f'organization = "{fakes["linkedin"].organization_urn}"',  # type: ignore
        "discord": f'guild_id = "{fakes["discord"].guild_id}"',  # type: ignore[attr-defined]
        # The receiver knows the check event (docs/webhook-bridge.md).
        "webhook": "check = true",
    }.get(name, "")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory,
         fakes: dict[str, FakeServer]) -> tuple[Path, dict[str, str]]:
    """A working directory with one schedule naming all twelve channel types."""
    work = tmp_path_factory.mktemp("check-every-fake")
    tables = ['[channels.console]\ntype = "console"\n',
              f'[channels.jsonl]\ntype = "jsonl"\n'
              f'options = {{ path = "{work / "archive.jsonl"}" }}\n']
    for name in PLATFORMS:
        tables.append(
            f'[channels.{name}]\ntype = "{name}"\nbase_url = "{fakes[name].base_url}"\n'
            f'timeout = "5s"\ncredentials = {{ {CREDENTIALS[name]} }}\n'
            f"options = {{ {options(name, fakes)} }}\n")
    names = ", ".join(f'"{n}"' for n in (*LOCAL, *PLATFORMS))
    (work / "schedules").mkdir()
    (work / "schedules" / "site.toml").write_text(f"""
[site]
name = "Riverside Ledger"
timezone = "UTC"

[[feeds]]
name = "ledger"
url = "https://news.example.org/feed/"

{chr(10).join(tables)}
[[routes]]
feed = "ledger"
channels = [{names}]
""")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PUBLISHER_", "DATABASE_"))}
    env.update(SECRETS)
    env.update({
        "PUBLISHER_TEMPLATES": str(SHIPPED_TEMPLATES),
        "DATABASE_URL": f"sqlite:///{work / 'var' / 'publisher.db'}",
        "PYTHONPATH": str(ROOT),
        # The webhook URLs as the platforms hand them out; base_url points them at the fakes.
        "DISCORD_WEBHOOK": fakes["discord"].public_webhook_url,  # type: ignore[attr-defined]
        "SLACK_WEBHOOK": "https://hooks.slack.com" + fakes["slack"].path,  # type: ignore
        "WEBHOOK_URL": "https://bridge.example.net" + fakes["webhook"].path,  # type: ignore
    })
    return work, env


def check(work: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "publisher.cli", "check"], cwd=work, env=env,
                          capture_output=True, text=True, timeout=120)


def verdicts(stdout: str) -> dict[str, list[tuple[str, str]]]:
    """Each channel's lines as (``ok``/``FAIL``, the rest)."""
    found: dict[str, list[tuple[str, str]]] = {}
    for line in stdout.splitlines():
        match = re.match(r"^(ok|FAIL)\s+([\w-]+): (.*)$", line)
        if match:
            found.setdefault(match.group(2), []).append((match.group(1), match.group(3)))
    return found


def test_check_passes_against_every_fake(site: tuple[Path, dict[str, str]],
                                         fakes: dict[str, FakeServer]) -> None:
    work, env = site
    for fake in fakes.values():
        fake.clear_faults()
    result = check(work, env)
    lines = verdicts(result.stdout)
    assert set(lines) == {*LOCAL, *PLATFORMS}, result.stdout + result.stderr
    failed = {name: rest for name, got in lines.items() for mark, rest in got if mark != "ok"}
    assert failed == {}, result.stdout
    assert result.returncode == 0, result.stdout + result.stderr
    assert "12 channel(s)" in result.stdout
    # Every platform was asked, and nothing was posted anywhere.
    for name, fake in fakes.items():
        assert fake.requests, f"{name}: check sent nothing to its fake"
        assert not fake.errors, fake.errors[0]
    assert fakes["x"].posts == []  # type: ignore[attr-defined]
    assert fakes["facebook"].posts == []  # type: ignore[attr-defined]
    assert fakes["telegram"].messages == []  # type: ignore[attr-defined]
    assert fakes["discord"].messages == []  # type: ignore[attr-defined]
    assert fakes["slack"].messages == []  # type: ignore[attr-defined]
    assert fakes["webhook"].deliveries == []  # type: ignore[attr-defined]
    assert len(fakes["webhook"].checks) == 1  # type: ignore[attr-defined]
    for secret in (*SECRETS.values(), DISCORD_TOKEN, SLACK_TOKEN):
        if secret != SECRETS["BLUESKY_HANDLE"]:
            assert secret not in result.stdout + result.stderr


def test_check_fails_naming_every_channel_whose_token_was_revoked(
        site: tuple[Path, dict[str, str]], fakes: dict[str, FakeServer]) -> None:
    work, env = site
    for fake in fakes.values():
        fake.clear_faults()
        fake.fail_next("revoked")
    try:
        result = check(work, env)
    finally:
        for fake in fakes.values():
            fake.clear_faults()
    lines = verdicts(result.stdout)
    assert result.returncode != 0, result.stdout
    for name in PLATFORMS:
        marks = [mark for mark, _ in lines.get(name, [])]
        assert "FAIL" in marks, f"{name} was not failed:\n{result.stdout}"
        assert "ok" not in marks, f"{name}:\n{result.stdout}"
    for name in LOCAL:
        assert [mark for mark, _ in lines[name]] == ["ok"]
    for secret in (*SECRETS.values(), DISCORD_TOKEN, SLACK_TOKEN):
        if secret != SECRETS["BLUESKY_HANDLE"]:
            assert secret not in result.stdout + result.stderr
