"""After the post on Slack: an incoming webhook can neither delete nor edit nor
reply (issue 13).  The registry says so, the adapter has none of those methods,
and FakeSlack's answer shows why: no message ``ts`` to address."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from publisher.channels import REGISTRY
from publisher.channels.base import ChannelSpec
from publisher.channels.slack import SlackChannel
from publisher.types import PublishRequest
from tests.fakes.slack_server import FakeSlack

HOOK_TOKEN = "fakeSlackAfterPostToken0123456789"


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    server = FakeSlack(token=HOOK_TOKEN)
    with server:
        yield server
    assert not server.errors, server.errors[0]


def test_registry_says_slack_cannot() -> None:
    info = REGISTRY["slack"]
    assert (info.can_delete, info.can_edit, info.can_reply) == (False, False, False)


def test_the_adapter_has_no_after_post_methods(fake: FakeSlack) -> None:
    channel = SlackChannel(ChannelSpec("slack", "slack",
                                       secrets={"webhook_url": fake.webhook_url}))
    try:
        for method in ("delete", "read_back", "edit", "reply", "find_reply"):
            assert not hasattr(channel, method), method
    finally:
        channel.close()


def test_a_hook_answers_no_message_ts(fake: FakeSlack) -> None:
    answer = httpx.post(fake.webhook_url, json={"text": "Flood warning"}, timeout=5)
    assert (answer.status_code, answer.text) == (200, "ok")  # nothing to address later


def test_the_hook_token_is_not_in_httpx_log_lines(fake: FakeSlack,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    channel = SlackChannel(ChannelSpec("slack", "slack",
                                       secrets={"webhook_url": fake.webhook_url}))
    try:
        channel.publish(PublishRequest(post_id=1, idempotency_key="k-1", text="Flood warning",
                                       link=None))
    finally:
        channel.close()
    assert "HTTP Request: POST" in caplog.text
    assert HOOK_TOKEN not in caplog.text
