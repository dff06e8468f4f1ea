"""TelegramChannel (httpx against the Bot API) against FakeTelegram over HTTP on 127.0.0.1."""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from PIL import Image as PILImage

from publisher.channels.base import ChannelSpec
from publisher.channels.images import shared_cache
from publisher.channels.telegram import TelegramChannel, telegram_length
from publisher.exceptions import (
    Ambiguous,
    AuthFailed,
    ChannelError,
    ConfigError,
    Permanent,
    RateLimited,
    Transient,
)
from publisher.render import Renderer, length_rule, render_post
from publisher.types import ArticleData, DeliveryClass, Image, PublishRequest
from tests.fakes.conformance import COMMON_FAULTS, assert_fault_maps
from tests.fakes.fakehttp import FileServer, Reply
from tests.fakes.telegram_server import FakeTelegram
from tests.shipped import TEMPLATES as SHIPPED_TEMPLATES

TOKEN = "7000000001:AAH-secret-bot-token-zq81"
SECRETS = {"bot_token": TOKEN}
LINK = "https://news.example.org/2025/06/flood-warning?utm_source=telegram&utm_medium=social"
TEMPLATES = SHIPPED_TEMPLATES
HEADLINE = 'Council votes 5 < 7 on "Main St & 5th" flood plan'


def _png(width: int = 64, height: int = 48) -> bytes:
    out = io.BytesIO()
    PILImage.new("RGB", (width, height), (200, 30, 30)).save(out, "PNG")
    return out.getvalue()


@pytest.fixture(autouse=True)
def _fresh_image_cache() -> Iterator[None]:
    shared_cache().clear()
    yield
    shared_cache().clear()


@pytest.fixture
def images() -> Iterator[FileServer]:
    with FileServer({"/photo.png": (_png(), "image/png"),
                     "/not-an-image.png": (b"GIF87a" + b"\0" * 40, "image/png")}) as site:
        yield site


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    server = FakeTelegram(token=TOKEN, slow_seconds=30)
    with server:
        yield server
        server.release_slow()
    assert not server.errors, server.errors[0]


@pytest.fixture
def make(fake: FakeTelegram) -> Iterator[Callable[..., TelegramChannel]]:
    made: list[TelegramChannel] = []

    def build(*, timeout: float = 5.0, base_url: str | None = None,
              secrets: dict[str, str] | None = None, **options: object) -> TelegramChannel:
        options.setdefault("allow_private_images", True)
        options.setdefault("chat_id", fake.chat_id)
        spec = ChannelSpec("tg", "telegram", secrets=secrets or SECRETS, options=options,
                           base_url=base_url or fake.base_url, timeout=timeout)
        channel = TelegramChannel(spec)  # the registry entry is the lead's to add
        made.append(channel)
        return channel

    yield build
    for channel in made:
        channel.close()


@pytest.fixture
def channel(make: Callable[..., TelegramChannel]) -> TelegramChannel:
    return make()


def _request(text: str = f"{HEADLINE}\n\n{LINK}", *, image: Image | None = None,
             link: str | None = LINK) -> PublishRequest:
    return PublishRequest(post_id=1, idempotency_key="k-1", text=text, link=link, image=image)


# --- publishing --------------------------------------------------------------------


def test_message_is_html_escaped_with_a_link_preview(channel: TelegramChannel,
                                                     fake: FakeTelegram) -> None:
    result = channel.publish(_request())
    assert channel.delivery is DeliveryClass.REVIEW
    [message] = fake.messages
    assert message.kind == "text"
    assert message.text == _request().text  # what readers see: the text as rendered
    assert message.raw == (
        "Council votes 5 &lt; 7 on \"Main St &amp; 5th\" flood plan\n\n"
        "https://news.example.org/2025/06/flood-warning?utm_source=telegram&amp;utm_medium=social"
    )
    assert message.link_preview_options == {"url": LINK, "prefer_large_media": True,
                                            "show_above_text": False}
    assert result.remote_id == str(message.message_id)
    assert result.remote_url == f"https://t.me/{fake.chat_username}/{message.message_id}"


def test_photo_with_caption(channel: TelegramChannel, fake: FakeTelegram,
                            images: FileServer) -> None:
    result = channel.publish(_request(image=Image(images.url("/photo.png"), alt="A street")))
    [message] = fake.messages
    assert message.kind == "photo"
    assert message.text == _request().text
    assert message.photo_type == "image/png" and message.photo_size == len(_png())
    assert result.notes == ()


def test_long_text_goes_as_a_message_not_a_photo(channel: TelegramChannel, fake: FakeTelegram,
                                                 images: FileServer) -> None:
    text = HEADLINE + "\n\n" + "The river rose overnight. " * 45 + "\n\n" + LINK
    assert 1024 < telegram_length(text) <= 4096
    result = channel.publish(_request(text, image=Image(images.url("/photo.png"))))
    [message] = fake.messages
    assert message.kind == "text" and message.text == text
    assert message.link_preview_options is not None
    assert message.link_preview_options["prefer_large_media"] is True
    assert "longer than a caption" in result.notes[0]
    assert images.requests == []  # not even downloaded


def test_caption_limit_counts_code_points_as_telegram_does(
        channel: TelegramChannel, fake: FakeTelegram, images: FileServer) -> None:
    """1024 emoji (2048 UTF-16 code units) still fit a caption; 1025 do not."""
    fits = "😀" * 1024
    channel.publish(_request(fits, image=Image(images.url("/photo.png")), link=None))
    too_long = "😀" * 1025
    channel.publish(_request(too_long, image=Image(images.url("/photo.png")), link=None))
    assert [(m.kind, m.text) for m in fake.messages] == [("photo", fits), ("text", too_long)]


def test_caption_refused_as_too_long_goes_as_a_message(channel: TelegramChannel,
                                                       fake: FakeTelegram,
                                                       images: FileServer) -> None:
    """Should Telegram ever count a caption longer than publisher does, the
    post still goes out: as a message with the link preview."""
    original = fake.handle
    fake.handle = lambda request: (  # type: ignore[method-assign]
        fake._fail(400, "Bad Request: message caption is too long")
        if request.path.endswith("/sendPhoto") else original(request))
    result = channel.publish(_request(image=Image(images.url("/photo.png"))))
    assert [m.kind for m in fake.messages] == ["text"]
    assert "caption is too long" in result.notes[0]


def test_unusable_image_goes_as_a_message_with_a_note(channel: TelegramChannel,
                                                      fake: FakeTelegram,
                                                      images: FileServer) -> None:
    result = channel.publish(_request(image=Image(images.url("/gone.png"))))
    assert fake.messages[0].kind == "text"
    assert result.notes == ("photo skipped: HTTP 404; sent as a message with a link preview",)


def test_photo_refused_by_telegram_goes_as_a_message(channel: TelegramChannel,
                                                     fake: FakeTelegram,
                                                     images: FileServer) -> None:
    original = fake.handle
    fake.handle = lambda request: (  # type: ignore[method-assign]
        fake._fail(400, "Bad Request: PHOTO_INVALID_DIMENSIONS")
        if request.path.endswith("/sendPhoto") else original(request))
    result = channel.publish(_request(image=Image(images.url("/photo.png"))))
    assert fake.messages[0].kind == "text"
    assert "PHOTO_INVALID_DIMENSIONS" in result.notes[0]


def test_preview_options(make: Callable[..., TelegramChannel], fake: FakeTelegram) -> None:
    make(preview_above=True).publish(_request())
    make(disable_preview=True).publish(_request())
    assert fake.messages[0].link_preview_options == {
        "url": LINK, "prefer_large_media": True, "show_above_text": True}
    assert fake.messages[1].link_preview_options == {"is_disabled": True}


def test_private_chat_has_no_url(make: Callable[..., TelegramChannel],
                                 fake: FakeTelegram) -> None:
    fake.public = False
    assert make().publish(_request()).remote_url is None


def test_chat_can_be_named_by_username(make: Callable[..., TelegramChannel],
                                       fake: FakeTelegram) -> None:
    make(chat_id="@riverledger").publish(_request())
    assert len(fake.messages) == 1


# --- faults ------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "error", "status"), COMMON_FAULTS)
def test_fault_maps_to_taxonomy(channel: TelegramChannel, fake: FakeTelegram, kind: str,
                                error: type[ChannelError], status: int | None) -> None:
    assert_fault_maps(channel, fake, _request(), kind, error, status)


def test_ambiguous_cannot_be_looked_up(channel: TelegramChannel, fake: FakeTelegram) -> None:
    fake.fail_next("reset_after")
    with pytest.raises(Ambiguous):
        channel.publish(_request())
    fake.settle()
    assert len(fake.messages) == 1  # it did go out: an editor has to decide
    with pytest.raises(NotImplementedError):
        channel.find(_request())


def test_rate_limit_waits_retry_after(channel: TelegramChannel, fake: FakeTelegram) -> None:
    fake.rate_limit_seconds = 7
    fake.fail_next("429")
    before = datetime.now(UTC)
    with pytest.raises(RateLimited) as caught:
        channel.publish(_request())
    assert caught.value.http_status == 429
    assert before + timedelta(seconds=7) <= caught.value.until
    assert caught.value.until <= datetime.now(UTC) + timedelta(seconds=8)
    assert fake.messages == []


def test_bad_request_is_permanent_with_the_description(channel: TelegramChannel,
                                                       fake: FakeTelegram) -> None:
    with pytest.raises(Permanent, match="message text is empty") as caught:
        channel.publish(_request("   ", link=None))
    assert caught.value.http_status == 400


def test_unknown_chat_pauses_the_channel(make: Callable[..., TelegramChannel]) -> None:
    """A wrong chat_id fails every post alike until a person fixes it: the
    channel is paused (AuthFailed), not each post failed in turn."""
    with pytest.raises(AuthFailed, match="chat not found") as caught:
        make(chat_id=-100999).publish(_request())
    assert caught.value.http_status == 400


def test_bot_without_admin_rights_pauses_the_channel(channel: TelegramChannel,
                                                     fake: FakeTelegram) -> None:
    fake.not_admin = True
    with pytest.raises(AuthFailed, match="need administrator rights") as caught:
        channel.publish(_request())
    assert caught.value.http_status == 400
    assert fake.messages == []


def test_group_upgraded_to_supergroup_pauses_and_names_the_new_chat_id(
        channel: TelegramChannel, fake: FakeTelegram) -> None:
    fake.migrated_to = -1001557912345
    with pytest.raises(AuthFailed) as caught:
        channel.publish(_request())
    assert "upgraded to a supergroup" in str(caught.value)
    assert "set options.chat_id to -1001557912345" in str(caught.value)
    with pytest.raises(AuthFailed, match="-1001557912345"):
        channel.whoami()


def test_photo_of_a_shape_telegram_refuses_goes_as_a_message(channel: TelegramChannel,
                                                             fake: FakeTelegram) -> None:
    """Width/height ratio over 20 is PHOTO_INVALID_DIMENSIONS for Telegram."""
    with FileServer({"/banner.png": (_png(4200, 200), "image/png")}) as site:
        result = channel.publish(_request(image=Image(site.url("/banner.png"))))
    assert [m.kind for m in fake.messages] == ["text"]
    assert "PHOTO_INVALID_DIMENSIONS" in result.notes[0]


def test_timeout_applies_and_is_ambiguous(make: Callable[..., TelegramChannel],
                                          fake: FakeTelegram) -> None:
    channel = make(timeout=0.5)
    fake.fail_next("slow")
    with pytest.raises(Ambiguous, match="ReadTimeout"):
        channel.publish(_request())


def test_connection_refused_is_transient(make: Callable[..., TelegramChannel]) -> None:
    closed = FakeTelegram()
    with closed:
        url = closed.base_url
    with pytest.raises(Transient, match="ConnectError"):
        make(base_url=url).publish(_request())


def test_unreadable_success_is_ambiguous(channel: TelegramChannel, fake: FakeTelegram) -> None:
    fake.handle = lambda request: Reply(  # type: ignore[method-assign]
        200, "<html>ok</html>", content_type="text/html")
    with pytest.raises(Ambiguous):
        channel.publish(_request())


# --- credentials -------------------------------------------------------------------


def test_whoami(channel: TelegramChannel, fake: FakeTelegram) -> None:
    assert channel.whoami() == "@ledger_news_bot in Riverside Ledger"
    assert [r.path.rsplit("/", 1)[-1] for r in fake.requests] == [
        "getMe", "getChat", "getChatMember"]


def test_whoami_in_a_private_chat_asks_no_membership(channel: TelegramChannel,
                                                     fake: FakeTelegram) -> None:
    fake.chat_type = "private"
    channel.whoami()
    assert [r.path.rsplit("/", 1)[-1] for r in fake.requests] == ["getMe", "getChat"]


def test_whoami_fails_when_the_bot_may_not_post_in_the_channel(channel: TelegramChannel,
                                                               fake: FakeTelegram) -> None:
    """getChat works for an administrator without the right to post: only its
    ChatMember says that every post would be refused."""
    fake.not_admin = True
    with pytest.raises(AuthFailed, match="may not post") as caught:
        channel.whoami()
    assert "Post messages" in str(caught.value)
    assert fake.messages == []


@pytest.mark.parametrize("how", ["revoked", "wrong"])
def test_bad_token_fails_auth(make: Callable[..., TelegramChannel], fake: FakeTelegram,
                              how: str) -> None:
    if how == "revoked":
        channel = make()
        fake.fail_next("revoked")
    else:
        channel = make(secrets={"bot_token": "7000000001:AAH-some-other-token"})
    with pytest.raises(AuthFailed) as caught:
        channel.publish(_request())
    assert caught.value.http_status == 401
    with pytest.raises(AuthFailed):
        channel.whoami()


def test_kicked_bot_fails_auth(channel: TelegramChannel, fake: FakeTelegram) -> None:
    fake.kicked = True
    with pytest.raises(AuthFailed, match="kicked") as caught:
        channel.publish(_request())
    assert caught.value.http_status == 403


def test_chat_id_is_required(fake: FakeTelegram) -> None:
    with pytest.raises(ConfigError, match=r"options\.chat_id"):
        TelegramChannel(ChannelSpec("tg", "telegram", secrets=SECRETS))


def test_token_never_in_messages_reprs_or_logs(make: Callable[..., TelegramChannel],
                                               fake: FakeTelegram,
                                               caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    channel = make(timeout=0.5)
    texts = [repr(channel), str(channel)]
    for kind in ("500", "503", "429", "reset_before", "reset_after", "slow"):
        fake.fail_next(kind)
        with pytest.raises(ChannelError) as caught:
            channel.publish(_request())
        texts += [str(caught.value), repr(caught.value)]
        texts += [str(caught.value.__cause__), str(caught.value.__context__)] \
            if caught.value.__cause__ else []
    fake.release_slow()
    fake.fail_next("revoked")
    with pytest.raises(AuthFailed) as auth:
        channel.whoami()
    texts += [str(auth.value), repr(auth.value)]
    assert any("HTTP Request" in r.getMessage() for r in caplog.records if r.name == "httpx")
    texts += [r.getMessage() for r in caplog.records]
    assert not any(TOKEN in text for text in texts)
    with httpx.Client() as client:  # the filter is gone with the channel
        channel.close()
        client.get(fake.base_url + f"/bot{TOKEN}/getMe")
    last = [r for r in caplog.records if r.name == "httpx"][-1]
    assert TOKEN in last.getMessage()


# --- the default template ------------------------------------------------------------


def test_default_template_renders_well(channel: TelegramChannel, fake: FakeTelegram,
                                       images: FileServer) -> None:
    article = ArticleData(
        guid="1", url="https://news.example.org/2025/06/flood-plan",
        title=HEADLINE,
        summary="The plan adds levees along Water Street & moves the pumps <uphill>. " * 4,
        categories=("Local News",),
    )
    rule = length_rule("telegram")
    post = render_post(Renderer([TEMPLATES]), channel_type="telegram", template="default",
                       article=article, rule=rule)
    assert post.length <= 1024 and post.shortened == ()
    assert post.text.startswith(HEADLINE + "\n\n")
    assert post.text.endswith("\n\n" + article.url)
    channel.publish(PublishRequest(post_id=5, idempotency_key="k", text=post.text,
                                   link=article.url, image=Image(images.url("/photo.png"))))
    assert fake.messages[0].kind == "photo"
    assert fake.messages[0].text == post.text
