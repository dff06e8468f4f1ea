"""DiscordChannel through real httpx against FakeDiscord over HTTP on 127.0.0.1."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from publisher.channels.base import ChannelSpec
from publisher.channels.discord import DiscordChannel
from publisher.exceptions import (
    Ambiguous,
    AuthFailed,
    ChannelError,
    ConfigError,
    Permanent,
    RateLimited,
    Transient,
)
from publisher.types import DeliveryClass, Image, PublishRequest
from tests.fakes.conformance import (
    COMMON_FAULTS,
    assert_fault_maps,
    fault_texts,
    raised,
)
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.fakehttp import Reply

WEBHOOK_TOKEN = "fake-webhook-token_AbCdEf0123456789"
LINK = "https://news.example.org/2025/06/flood-warning"
TEXT = f"Flood warning for the river district\n<{LINK}>"


@pytest.fixture
def fake() -> Iterator[FakeDiscord]:
    server = FakeDiscord(token=WEBHOOK_TOKEN, slow_seconds=30)
    with server:
        yield server
        server.release_slow()
    assert not server.errors, server.errors[0]


@pytest.fixture
def make(fake: FakeDiscord) -> Iterator[Callable[..., DiscordChannel]]:
    made: list[DiscordChannel] = []

    def build(*, timeout: float = 5.0, webhook_url: str | None = None,
              base_url: str | None = None, **options: object) -> DiscordChannel:
        spec = ChannelSpec("discord", "discord",
                           secrets={"webhook_url": webhook_url or fake.webhook_url},
                           options=options, base_url=base_url, timeout=timeout)
        channel = DiscordChannel(spec)
        made.append(channel)
        return channel

    yield build
    for channel in made:
        channel.close()


@pytest.fixture
def channel(make: Callable[..., DiscordChannel]) -> DiscordChannel:
    return make()


def _request(text: str = TEXT, *, link: str | None = LINK, image: Image | None = None,
             title: str = "Flood warning") -> PublishRequest:
    return PublishRequest(post_id=7, idempotency_key="k-7", text=text, link=link, image=image,
                          title=title, summary="Levels rise tonight.")


# --- configuration -----------------------------------------------------------------


@pytest.mark.parametrize("url", [
    "https://discord.com/api/channels/1/messages",
    "ftp://discord.com/api/webhooks/1/abc",
    "not a url",
])
def test_a_url_that_is_no_webhook_is_a_config_error_without_the_url(url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        DiscordChannel(ChannelSpec("d", "discord", secrets={"webhook_url": url}))
    assert "webhook_url" in str(caught.value) and url not in str(caught.value)


def test_bad_guild_id_is_a_config_error(fake: FakeDiscord) -> None:
    with pytest.raises(ConfigError, match=r"options\.guild_id"):
        DiscordChannel(ChannelSpec("d", "discord", secrets={"webhook_url": fake.webhook_url},
                                   options={"guild_id": "my-server"}))


# --- publishing --------------------------------------------------------------------


def test_publish_with_embed_and_no_pings(channel: DiscordChannel, fake: FakeDiscord) -> None:
    image = Image("https://cdn.example.org/flood.jpg", alt="A flooded street")
    result = channel.publish(_request(image=image))

    assert channel.delivery is DeliveryClass.REVIEW
    [message] = fake.messages
    assert message.content == TEXT
    assert message.allowed_mentions == {"parse": []}
    assert message.embeds == [{"title": "Flood warning", "description": "Levels rise tonight.",
                               "url": LINK, "image": {"url": image.url}}]
    assert result.remote_id == message.id
    assert result.remote_url is None  # no guild_id configured
    assert result.http_status == 200
    assert fake.versions == {"v10"}  # the unversioned URL is called on v10


def test_everyone_in_a_headline_pings_nobody(channel: DiscordChannel, fake: FakeDiscord) -> None:
    channel.publish(_request(text="@everyone stay indoors, says @here mayor"))
    [message] = fake.messages
    assert message.content.startswith("@everyone")  # shown as written
    assert message.mention_everyone is False
    assert message.allowed_mentions == {"parse": []}


def test_the_fake_would_have_pinged_without_allowed_mentions(fake: FakeDiscord) -> None:
    answer = httpx.post(fake.webhook_url, params={"wait": "true"},
                        json={"content": "@everyone hello"})
    assert answer.json()["mention_everyone"] is True


def test_message_link_with_guild_id(make: Callable[..., DiscordChannel],
                                    fake: FakeDiscord) -> None:
    result = make(guild_id=fake.guild_id).publish(_request())
    assert result.remote_url == (f"https://discord.com/channels/{fake.guild_id}/"
                                 f"{fake.channel_id}/{fake.messages[0].id}")


def test_options_username_thread_and_no_embed(make: Callable[..., DiscordChannel],
                                              fake: FakeDiscord) -> None:
    make(username="Ledger Bot", thread_id="555", embed=False).publish(_request())
    [message] = fake.messages
    assert message.username == "Ledger Bot"
    assert message.thread_id == "555"
    assert message.embeds == []


def test_base_url_replaces_discords_host(make: Callable[..., DiscordChannel],
                                         fake: FakeDiscord) -> None:
    channel = make(webhook_url=fake.public_webhook_url, base_url=fake.base_url)
    channel.publish(_request())
    assert len(fake.messages) == 1


def test_long_title_is_cut_for_the_embed(channel: DiscordChannel, fake: FakeDiscord) -> None:
    channel.publish(_request(title="word " * 100))
    title = fake.messages[0].embeds[0]["title"]
    assert len(title) <= 256 and title.endswith("…")


def test_too_long_content_is_permanent_with_discords_words(channel: DiscordChannel,
                                                           fake: FakeDiscord) -> None:
    with pytest.raises(Permanent, match="Must be 2000 or fewer in length") as caught:
        channel.publish(_request(text="x" * 2001))
    assert "50035" in str(caught.value)
    assert caught.value.http_status == 400
    assert fake.messages == []


def test_no_content_answer_is_published_without_id(channel: DiscordChannel,
                                                   fake: FakeDiscord) -> None:
    fake.handle = lambda request: Reply(204, None)  # type: ignore[method-assign]
    result = channel.publish(_request())
    assert result.http_status == 204 and result.remote_id == "k-7"
    assert result.notes


# --- faults ------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "error", "status"), COMMON_FAULTS)
def test_fault_maps_to_taxonomy(channel: DiscordChannel, fake: FakeDiscord, kind: str,
                                error: type[ChannelError], status: int | None) -> None:
    assert_fault_maps(channel, fake, _request(), kind, error, status)


def test_rate_limit_until_the_announced_reset(channel: DiscordChannel,
                                              fake: FakeDiscord) -> None:
    fake.rate_limit_seconds = 2.5
    fake.fail_next("429")
    with pytest.raises(RateLimited) as caught:
        channel.publish(_request())
    assert fake.rate_limit_reset is not None
    announced = datetime.fromtimestamp(fake.rate_limit_reset, UTC)
    # Retry-After is whole seconds, rounded up: never earlier than announced.
    assert caught.value.until >= announced - timedelta(seconds=0.5)
    assert caught.value.until <= announced + timedelta(seconds=2)
    assert "You are being rate limited." in str(caught.value)
    assert fake.messages == []


def test_rate_limit_from_body_only(channel: DiscordChannel, fake: FakeDiscord) -> None:
    fake.handle = lambda request: Reply(  # type: ignore[method-assign]
        429, {"message": "You are being rate limited.", "retry_after": 42.5, "global": True})
    before = datetime.now(UTC)
    with pytest.raises(RateLimited, match="global") as caught:
        channel.publish(_request())
    assert before + timedelta(seconds=42) <= caught.value.until
    assert caught.value.until <= datetime.now(UTC) + timedelta(seconds=43)


def test_timeout_is_ambiguous(make: Callable[..., DiscordChannel], fake: FakeDiscord) -> None:
    fake.fail_next("slow")
    with pytest.raises(Ambiguous, match="ReadTimeout"):
        make(timeout=0.5).publish(_request())


def test_connection_refused_is_transient(make: Callable[..., DiscordChannel]) -> None:
    closed = FakeDiscord()
    with closed:
        url = closed.webhook_url
    with pytest.raises(Transient, match="could not connect"):
        make(webhook_url=url).publish(_request())


def test_find_is_not_possible(channel: DiscordChannel) -> None:
    with pytest.raises(NotImplementedError):
        channel.find(_request())


# --- credentials -------------------------------------------------------------------


def test_whoami(channel: DiscordChannel, fake: FakeDiscord) -> None:
    assert channel.whoami() == f"webhook 'Riverside Ledger' in channel {fake.channel_id}"
    assert fake.messages == []  # checking never posts


def test_deleted_webhook_fails_auth(channel: DiscordChannel, fake: FakeDiscord) -> None:
    fake.fail_next("revoked")
    with pytest.raises(AuthFailed, match="deleted") as caught:
        channel.publish(_request())
    assert caught.value.http_status == 404
    with pytest.raises(AuthFailed, match="Unknown Webhook"):
        channel.whoami()


def test_wrong_token_fails_auth(make: Callable[..., DiscordChannel], fake: FakeDiscord) -> None:
    wrong = fake.webhook_url.replace(WEBHOOK_TOKEN, "not-the-token")
    with pytest.raises(AuthFailed, match="Invalid Webhook Token") as caught:
        make(webhook_url=wrong).publish(_request())
    assert caught.value.http_status == 401


def test_secrets_never_in_messages_or_repr(make: Callable[..., DiscordChannel],
                                           fake: FakeDiscord) -> None:
    channel = make(timeout=0.5)
    texts = [repr(channel), str(channel)]
    texts += fault_texts(fake, {
        "any": lambda kind: channel.publish(_request(text=f"{kind} {TEXT}")),
        "read": lambda kind: channel.whoami(),
    })
    # Discord's webhook object carries the token: it must not leak through whoami.
    texts.append(channel.whoami())
    for echo in (f"bad url {fake.webhook_url}", f"bad token {WEBHOOK_TOKEN}"):
        fake.handle = lambda request, echo=echo: Reply(  # type: ignore[method-assign, misc]
            400, {"message": echo, "code": 0})
        texts += raised(lambda: channel.publish(_request()), Permanent)
    fake.fail_next("revoked")
    closed = FakeDiscord(token=WEBHOOK_TOKEN)
    with closed:
        url = closed.webhook_url
    texts += raised(lambda: make(webhook_url=url).publish(_request()), Transient)
    for text in texts:
        assert WEBHOOK_TOKEN not in text
        assert "/webhooks/" not in text


# --- what the stricter FakeDiscord checks (Embed Limits, Execute Webhook) ------------------


def _raw(fake: FakeDiscord, payload: object) -> httpx.Response:
    return httpx.post(fake.webhook_url, params={"wait": "true"}, json=payload, timeout=5)


def test_fake_refuses_what_discord_refuses(fake: FakeDiscord) -> None:
    """The fake's limits, straight over HTTP: these are the platform's, not the adapter's."""
    eleven = _raw(fake, {"embeds": [{"title": str(i)} for i in range(11)]})
    assert eleven.status_code == 400 and eleven.json()["code"] == 50035
    assert "10 or fewer" in str(eleven.json()["errors"]["embeds"])
    big = _raw(fake, {"embeds": [{"title": "t", "description": "d" * 4000},
                                 {"description": "e" * 2500}]})
    assert big.json()["errors"]["embeds"]["_errors"][0]["code"] == "MAX_EMBED_SIZE_EXCEEDED"
    field = _raw(fake, {"embeds": [{"title": "t", "fields": [{"name": "n"}]}]})
    assert field.json()["errors"]["embeds"]["0"]["fields"]["0"]["value"]["_errors"][0][
        "code"] == "BASE_TYPE_REQUIRED"
    scheme = _raw(fake, {"embeds": [{"title": "t", "image": {"url": "ftp://x/y.png"}}]})
    assert scheme.json()["errors"]["embeds"]["0"]["image"]["url"]["_errors"][0][
        "code"] == "URL_TYPE_INVALID_SCHEME"
    empty = _raw(fake, {"content": "hello", "embeds": [{"url": LINK}]})
    assert (empty.status_code, empty.json()) == (400, {"embeds": ["0"]})
    assert fake.messages == []


def test_link_without_title_summary_or_image_sends_no_empty_embed(channel: DiscordChannel,
                                                                   fake: FakeDiscord) -> None:
    """An embed holding only the link shows nothing and Discord refuses the
    whole message; Discord unfurls the link in the content by itself."""
    request = PublishRequest(post_id=8, idempotency_key="k-8", text=f"Read this: {LINK}",
                             link=LINK)
    result = channel.publish(request)
    [message] = fake.messages
    assert message.content == f"Read this: {LINK}"
    assert message.embeds == []
    assert result.remote_id == message.id


def test_the_largest_embed_the_adapter_makes_fits_discords_limits(channel: DiscordChannel,
                                                                   fake: FakeDiscord) -> None:
    request = PublishRequest(post_id=9, idempotency_key="k-9", text="Long one", link=LINK,
                             title="T" * 400, summary="S" * 5000,
                             image=Image("https://news.example.org/a.jpg"))
    channel.publish(request)
    [embed] = fake.messages[0].embeds
    assert (len(embed["title"]), len(embed["description"])) == (256, 4096)


def test_global_rate_limit_says_so(channel: DiscordChannel, fake: FakeDiscord) -> None:
    fake.fail_next("429_global")
    with pytest.raises(RateLimited, match=r"\(global\)") as caught:
        channel.publish(_request())
    assert caught.value.until > datetime.now(UTC)
    assert fake.messages == []


def test_an_empty_bucket_is_waited_for_without_asking_discord(channel: DiscordChannel,
                                                               fake: FakeDiscord) -> None:
    """Rate Limits: parse the headers to avoid hitting the limit. After the
    answer that says X-RateLimit-Remaining: 0, the next post waits for the
    bucket's reset instead of earning a 429 (which counts towards Discord's
    invalid-request limit)."""
    fake.bucket_limit, fake.bucket_window = 2, 30.0
    before = datetime.now(UTC)
    channel.publish(_request())
    channel.publish(_request())
    with pytest.raises(RateLimited) as caught:
        channel.publish(_request())
    assert fake.refused == []
    assert len(fake.requests) == 2 and len(fake.messages) == 2
    assert before + timedelta(seconds=28) <= caught.value.until
    assert caught.value.until <= datetime.now(UTC) + timedelta(seconds=31)
    assert "X-RateLimit-Remaining" in str(caught.value)


def test_the_bucket_opens_again_after_its_reset(channel: DiscordChannel,
                                                fake: FakeDiscord) -> None:
    fake.bucket_limit, fake.bucket_window = 1, 0.3
    channel.publish(_request())
    with pytest.raises(RateLimited) as caught:
        channel.publish(_request())
    wait = (caught.value.until - datetime.now(UTC)).total_seconds()
    time.sleep(max(0.0, wait) + 0.05)
    channel.publish(_request())
    assert len(fake.messages) == 2 and fake.refused == []



# --- forum channels (Execute Webhook: thread_name) ------------------------------------------


def test_a_forum_webhook_without_the_option_pauses_and_says_what_to_set(
        channel: DiscordChannel, fake: FakeDiscord) -> None:
    fake.forum = True
    with pytest.raises(AuthFailed, match=r"options\.forum") as caught:
        channel.publish(_request())
    assert "220001" in str(caught.value)
    assert fake.messages == []


def test_forum_option_opens_a_post_named_after_the_headline(make: Callable[..., DiscordChannel],
                                                            fake: FakeDiscord) -> None:
    fake.forum = True
    channel = make(forum=True, guild_id=fake.guild_id)
    headline = "Flood warning for the river district " * 4  # 148 characters
    result = channel.publish(_request(title=headline.strip()))
    [message] = fake.messages
    [(thread_id, name)] = fake.threads.items()
    assert message.thread_id == thread_id
    assert len(name) == 100 and name.endswith("…")
    assert result.remote_url == (f"https://discord.com/channels/{fake.guild_id}/{thread_id}/"
                                 f"{message.id}")


def test_forum_option_on_a_channel_that_is_no_forum_pauses(make: Callable[..., DiscordChannel],
                                                           fake: FakeDiscord) -> None:
    with pytest.raises(AuthFailed, match="220003"):
        make(forum=True).publish(_request())


def test_forum_and_thread_id_together_are_a_config_error(fake: FakeDiscord) -> None:
    with pytest.raises(ConfigError, match=r"options\.forum"):
        DiscordChannel(ChannelSpec("d", "discord", secrets={"webhook_url": fake.webhook_url},
                                   options={"forum": True, "thread_id": "123"}))
