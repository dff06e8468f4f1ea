"""The strict fakes as oracles: whatever a post holds, within the length the
renderer allows, the Discord, Slack and Telegram adapters send a payload the
platform accepts, and the platform shows exactly the post's text.

Each fake checks what its platform checks (Discord's Embed Limits, Slack's
Block Kit limits and escaping, Telegram's HTML parsing and limits), so a
payload the adapter gets wrong is refused here as it would be there.
"""

from __future__ import annotations

import html
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from publisher.channels.base import ChannelSpec
from publisher.channels.discord import DiscordChannel
from publisher.channels.slack import SlackChannel
from publisher.channels.telegram import TelegramChannel
from publisher.types import PublishRequest
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.slack_server import FakeSlack
from tests.fakes.telegram_server import FakeTelegram

#: Characters that are markup somewhere (HTML, mrkdwn, mentions), emoji old
#: and new (outside the BMP, joined by ZWJ), CJK, RTL and combining marks.
PIECES = st.sampled_from([
    "<", ">", "&", "&amp;", "&lt;b&gt;", "<b>", "</i>", '"', "'", "|", "*", "_", "~", "`",
    "@everyone", "@here", "<@123>", "<!channel>", "\n", " ", "  ", "\t",
    "😀", "🧑‍💻", "🏳️‍⚧️", "👍🏽", "❤️‍🔥", "🇺🇦", "神戸", "한국어", "עברית", "é", "e\u0301",
    "https://news.example.org/a?b=1&c=<2>", "#tag",
])
WORDS = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=12)
TEXT = st.lists(st.one_of(PIECES, WORDS), max_size=60).map("".join)
LINK = st.one_of(st.none(), st.just("https://news.example.org/2025/06/flood-warning?a=1&b=2"))


def visible(text: str) -> bool:
    return bool(text.strip())


@pytest.fixture(scope="module")
def discord() -> Iterator[tuple[FakeDiscord, DiscordChannel]]:
    with FakeDiscord() as fake:
        channel = DiscordChannel(ChannelSpec("d", "discord",
                                             secrets={"webhook_url": fake.webhook_url}))
        yield fake, channel
        channel.close()


@pytest.fixture(scope="module")
def slack() -> Iterator[tuple[FakeSlack, SlackChannel]]:
    with FakeSlack() as fake:
        channel = SlackChannel(ChannelSpec("s", "slack", secrets={"webhook_url": fake.webhook_url}))
        yield fake, channel
        channel.close()


@pytest.fixture(scope="module")
def telegram() -> Iterator[tuple[FakeTelegram, TelegramChannel]]:
    with FakeTelegram() as fake:
        channel = TelegramChannel(ChannelSpec(
            "tg", "telegram", secrets={"bot_token": fake.token},
            options={"chat_id": fake.chat_id}, base_url=fake.base_url))
        yield fake, channel
        channel.close()


FUZZ = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


@FUZZ
@given(text=TEXT.filter(visible), title=st.one_of(st.none(), TEXT, TEXT.map(lambda t: t * 8)),
       summary=st.one_of(st.none(), TEXT, TEXT.map(lambda t: t * 120)), link=LINK)
def test_discord_accepts_every_post(discord: tuple[FakeDiscord, DiscordChannel], text: str,
                                    title: str | None, summary: str | None,
                                    link: str | None) -> None:
    fake, channel = discord
    text = text[:2000]  # the renderer's Discord rule
    request = PublishRequest(post_id=1, idempotency_key="k", text=text, link=link,
                             title=title or None, summary=summary or None)
    result = channel.publish(request)
    message = fake.messages[-1]
    assert message.id == result.remote_id
    assert message.content == text
    assert message.mention_everyone is False
    for embed in message.embeds:
        assert len(embed.get("title") or "") <= 256
        assert len(embed.get("description") or "") <= 4096


@FUZZ
@given(text=TEXT.filter(visible).map(lambda t: t * 3), title=st.one_of(st.none(), TEXT),
       link=LINK)
def test_slack_accepts_every_post_and_shows_its_text(slack: tuple[FakeSlack, SlackChannel],
                                                     text: str, title: str | None,
                                                     link: str | None) -> None:
    fake, channel = slack
    request = PublishRequest(post_id=1, idempotency_key="k", text=text, link=link,
                             title=title or None)
    result = channel.publish(request)
    assert result.notes == ()
    message = fake.messages[-1]
    assert message.shown == text
    for block in message.blocks or []:
        shown = html.unescape(block["text"]["text"])
        assert shown.startswith(text)


@FUZZ
@given(text=TEXT.filter(visible).map(lambda t: t * 4), link=LINK)
def test_telegram_accepts_every_post_and_shows_its_text(
        telegram: tuple[FakeTelegram, TelegramChannel], text: str, link: str | None) -> None:
    fake, channel = telegram
    text = text[:4096]  # the limit, in code points
    if not text.strip():
        return
    request = PublishRequest(post_id=1, idempotency_key="k", text=text, link=link)
    result = channel.publish(request)
    message = fake.messages[-1]
    assert str(message.message_id) == result.remote_id
    assert message.text == text
