"""SlackChannel through real httpx against FakeSlack over HTTP on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from publisher.channels.base import ChannelSpec
from publisher.channels.slack import SlackChannel, slack_escape
from publisher.exceptions import (
    Ambiguous,
    AuthFailed,
    ChannelError,
    ConfigError,
    Permanent,
    RateLimited,
    Transient,
)
from publisher.types import DeliveryClass, PublishRequest
from tests.fakes.conformance import (
    COMMON_FAULTS,
    assert_fault_maps,
    fault_texts,
    raised,
)
from tests.fakes.fakehttp import Reply
from tests.fakes.slack_server import FakeSlack

HOOK_TOKEN = "fakeSlackHookToken0123456789"
LINK = "https://news.example.org/2025/06/flood-warning?a=1&b=2"
HEADLINE = "Flood <warning> & evacuation for Smith & Sons"
TEXT = f"{HEADLINE}\n\n{LINK}"


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    server = FakeSlack(token=HOOK_TOKEN, slow_seconds=30)
    with server:
        yield server
        server.release_slow()
    assert not server.errors, server.errors[0]


@pytest.fixture
def make(fake: FakeSlack) -> Iterator[Callable[..., SlackChannel]]:
    made: list[SlackChannel] = []

    def build(*, timeout: float = 5.0, webhook_url: str | None = None,
              base_url: str | None = None, **options: object) -> SlackChannel:
        spec = ChannelSpec("slack", "slack", secrets={"webhook_url": webhook_url
                                                      or fake.webhook_url},
                           options=options, base_url=base_url, timeout=timeout)
        channel = SlackChannel(spec)
        made.append(channel)
        return channel

    yield build
    for channel in made:
        channel.close()


@pytest.fixture
def channel(make: Callable[..., SlackChannel]) -> SlackChannel:
    return make()


def _request(text: str = TEXT, *, link: str | None = LINK,
             title: str = "Flood warning") -> PublishRequest:
    return PublishRequest(post_id=7, idempotency_key="k-7", text=text, link=link, title=title)


def test_slack_escape() -> None:
    assert slack_escape("a & b <c> &amp;") == "a &amp; b &lt;c&gt; &amp;amp;"


def test_a_url_that_is_not_http_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="webhook_url"):
        SlackChannel(ChannelSpec("s", "slack", secrets={"webhook_url": "hooks.slack.com/x"}))


# --- publishing --------------------------------------------------------------------


def test_publish_escapes_and_sends_a_section(channel: SlackChannel, fake: FakeSlack) -> None:
    result = channel.publish(_request())

    assert channel.delivery is DeliveryClass.REVIEW
    [message] = fake.messages
    assert message.text == ("Flood &lt;warning&gt; &amp; evacuation for Smith &amp; Sons\n\n"
                            "https://news.example.org/2025/06/flood-warning?a=1&amp;b=2")
    assert message.shown == TEXT
    assert message.blocks == [{"type": "section",
                               "text": {"type": "mrkdwn", "text": message.text}}]
    assert message.unfurl_links is True
    assert result.remote_id == "k-7"  # Slack's webhook answers no id
    assert result.remote_url is None
    assert result.http_status == 200 and result.notes == ()


def test_link_not_in_text_is_added_to_the_section(channel: SlackChannel,
                                                  fake: FakeSlack) -> None:
    channel.publish(_request(text="Rain & wind", title="Storm <live>"))
    [message] = fake.messages
    assert message.text == "Rain &amp; wind"
    assert message.blocks is not None
    assert message.blocks[0]["text"]["text"] == (
        "Rain &amp; wind\n<https://news.example.org/2025/06/flood-warning?a=1&amp;b=2|"
        "Storm &lt;live&gt;>")


def test_long_post_goes_without_blocks(channel: SlackChannel, fake: FakeSlack) -> None:
    channel.publish(_request(text="word " * 700, link=None))
    assert fake.messages[0].blocks is None


def test_unfurl_option(make: Callable[..., SlackChannel], fake: FakeSlack) -> None:
    make(unfurl_links=False).publish(_request())
    assert fake.messages[0].unfurl_links is False


def test_base_url_replaces_slacks_host(make: Callable[..., SlackChannel],
                                       fake: FakeSlack) -> None:
    channel = make(webhook_url="https://hooks.slack.com" + fake.path, base_url=fake.base_url)
    channel.publish(_request())
    assert len(fake.messages) == 1


# --- faults and Slack's error codes ----------------------------------------------------


@pytest.mark.parametrize(("kind", "error", "status"), COMMON_FAULTS)
def test_fault_maps_to_taxonomy(channel: SlackChannel, fake: FakeSlack, kind: str,
                                error: type[ChannelError], status: int | None) -> None:
    assert_fault_maps(channel, fake, _request(), kind, error, status)
    assert len(fake.requests) == 1  # no automatic retry, ever


def test_rate_limit_uses_retry_after(channel: SlackChannel, fake: FakeSlack) -> None:
    fake.rate_limit_seconds = 5
    fake.fail_next("429")
    with pytest.raises(RateLimited) as caught:
        channel.publish(_request())
    assert fake.rate_limit_reset is not None
    announced = datetime.fromtimestamp(fake.rate_limit_reset, UTC)
    assert announced - timedelta(seconds=1) <= caught.value.until
    assert caught.value.until <= announced + timedelta(seconds=2)
    assert len(fake.requests) == 1


@pytest.mark.parametrize(("switch", "error", "code", "status"), [
    ("archived", AuthFailed, "channel_is_archived", 410),
    ("prohibited", AuthFailed, "action_prohibited", 403),
    ("channel_missing", AuthFailed, "channel_not_found", 404),
    ("revoked", AuthFailed, "no_service", 404),
])
def test_channel_errors_fail_auth(channel: SlackChannel, fake: FakeSlack, switch: str,
                                  error: type[ChannelError], code: str, status: int) -> None:
    setattr(fake, switch, True)
    with pytest.raises(error, match=code) as caught:
        channel.publish(_request())
    assert caught.value.http_status == status


@pytest.mark.parametrize(("status", "code", "error"), [
    (400, "invalid_payload", Permanent),
    (400, "no_text", Permanent),
    (400, "invalid_blocks", Permanent),
    (400, "user_not_found", Permanent),
    (403, "posting_to_general_channel_denied", AuthFailed),
    (403, "invalid_token", AuthFailed),
    (404, "no_team", AuthFailed),
    (400, "team_disabled", AuthFailed),
    (413, "", Permanent),
])
def test_error_codes(channel: SlackChannel, fake: FakeSlack, status: int, code: str,
                     error: type[ChannelError]) -> None:
    fake.handle = lambda request: fake.answer(status, code)  # type: ignore[method-assign]
    with pytest.raises(error) as caught:
        channel.publish(_request())
    assert type(caught.value) is error
    assert code in str(caught.value)


def test_wrong_token_fails_auth(make: Callable[..., SlackChannel], fake: FakeSlack) -> None:
    with pytest.raises(AuthFailed, match="invalid_token"):
        make(webhook_url=fake.webhook_url.replace(HOOK_TOKEN, "wrongwrongwrong")).publish(
            _request())


def test_empty_post_is_permanent(channel: SlackChannel) -> None:
    with pytest.raises(Permanent, match="no_text"):
        channel.publish(_request(text="", link=None))


def test_timeout_is_ambiguous(make: Callable[..., SlackChannel], fake: FakeSlack) -> None:
    fake.fail_next("slow")
    with pytest.raises(Ambiguous, match="ReadTimeout"):
        make(timeout=0.5).publish(_request())


def test_connection_refused_is_transient(make: Callable[..., SlackChannel]) -> None:
    closed = FakeSlack()
    with closed:
        url = closed.webhook_url
    with pytest.raises(Transient, match="could not connect"):
        make(webhook_url=url).publish(_request())


def test_find_is_not_possible_and_whoami_asks_slack_without_posting(
        channel: SlackChannel, fake: FakeSlack) -> None:
    with pytest.raises(NotImplementedError):
        channel.find(_request())
    assert channel.whoami() == "incoming webhook (Slack knows it; checked without posting)"
    assert [r.status for r in fake.requests] == [400]  # no_text: nothing was posted
    assert fake.messages == []


@pytest.mark.parametrize(("switch", "code"), [
    ("revoked", "no_service"),
    ("archived", "channel_is_archived"),
    ("channel_missing", "channel_not_found"),
    ("prohibited", "action_prohibited"),
])
def test_whoami_fails_when_the_hook_cannot_post(channel: SlackChannel, fake: FakeSlack,
                                                switch: str, code: str) -> None:
    setattr(fake, switch, True)
    with pytest.raises(AuthFailed, match=code):
        channel.whoami()
    assert fake.messages == []


def test_whoami_with_a_wrong_token_fails(make: Callable[..., SlackChannel],
                                         fake: FakeSlack) -> None:
    with pytest.raises(AuthFailed, match="invalid_token"):
        make(webhook_url=fake.webhook_url.replace(HOOK_TOKEN, "wrongwrongwrong")).whoami()


def test_team_disabled_fails_auth(channel: SlackChannel, fake: FakeSlack) -> None:
    fake.refuse = (403, "team_disabled")
    with pytest.raises(AuthFailed, match="team_disabled"):
        channel.publish(_request())


def test_secrets_never_in_messages_or_repr(make: Callable[..., SlackChannel],
                                           fake: FakeSlack) -> None:
    channel = make(timeout=0.5)
    texts = [repr(channel), str(channel), channel.whoami()]
    fake.revoked = True
    texts += raised(channel.whoami, AuthFailed)
    fake.revoked = False
    texts += fault_texts(fake, {
        "create": lambda kind: channel.publish(_request(text=f"{kind} {TEXT}")),
    })
    for echo in (fake.webhook_url, HOOK_TOKEN):
        fake.handle = lambda request, echo=echo: fake.answer(  # type: ignore[method-assign, misc]
            400, f"invalid_payload {echo}")
        texts += raised(lambda: channel.publish(_request()), Permanent)
    for text in texts:
        assert HOOK_TOKEN not in text


def test_unexpected_success_body_is_noted(channel: SlackChannel, fake: FakeSlack) -> None:
    fake.handle = lambda request: Reply(200, "", content_type="text/plain")  # type: ignore
    result = channel.publish(_request())
    assert result.notes == ("Slack answered 200 without 'ok'",)
