"""After the post on Telegram: delete, edit and reply through real httpx against
FakeTelegram over HTTP on 127.0.0.1 (issue 13).  A bot cannot read a message
back: a delete or an edit in doubt is settled by doing it again."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator

import pytest
from PIL import Image as PILImage

from publisher.channels import REGISTRY
from publisher.channels.base import ChannelSpec
from publisher.channels.images import shared_cache
from publisher.channels.telegram import TelegramChannel
from publisher.exceptions import (
    Ambiguous,
    AuthFailed,
    ChannelError,
    Permanent,
    RateLimited,
    Transient,
)
from publisher.types import DeliveryClass, Image, PublishRequest
from tests.fakes.after_post import assert_raises_under_fault
from tests.fakes.conformance import fault_texts, raised
from tests.fakes.fakehttp import FileServer
from tests.fakes.telegram_server import FakeTelegram

TOKEN = "7000000001:AAH-after-post-token-k27x"
LINK = "https://news.example.org/2025/06/flood-warning"
TEXT = f"Flood warning for the river district\n\n{LINK}"


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

    def build(*, timeout: float = 5.0, **options: object) -> TelegramChannel:
        options.setdefault("chat_id", fake.chat_id)
        spec = ChannelSpec("tg", "telegram", secrets={"bot_token": TOKEN}, options=options,
                           base_url=fake.base_url, timeout=timeout)
        channel = TelegramChannel(spec)
        made.append(channel)
        return channel

    yield build
    for channel in made:
        channel.close()


@pytest.fixture
def channel(make: Callable[..., TelegramChannel]) -> TelegramChannel:
    return make()


def _request(text: str = TEXT, *, image: Image | None = None) -> PublishRequest:
    return PublishRequest(post_id=5, idempotency_key="k-5", text=text, link=LINK, image=image)


def test_registry_says_what_telegram_allows() -> None:
    info = REGISTRY["telegram"]
    assert (info.can_delete, info.can_edit, info.can_reply) == (True, True, True)
    assert info.delete_window == 48 * 3600  # deleteMessage: under 48 hours
    # No read-back: an ambiguous reply is the review class's.
    assert info.delivery is DeliveryClass.REVIEW


# --- delete ----------------------------------------------------------------------------


def test_delete_makes_the_message_gone(channel: TelegramChannel, fake: FakeTelegram) -> None:
    kept = channel.publish(_request("Another story"))
    posted = channel.publish(_request())
    channel.delete(posted.remote_id)
    assert [m.message_id for m in fake.deleted] == [int(posted.remote_id)]
    assert [m.message_id for m in fake.messages] == [int(kept.remote_id)]
    [call] = fake.requests_to("POST", f"/bot{TOKEN}/deleteMessage")
    assert call.status == 200


def test_delete_of_a_message_already_gone_returns_normally(channel: TelegramChannel,
                                                           fake: FakeTelegram) -> None:
    posted = channel.publish(_request())
    channel.delete(posted.remote_id)
    channel.delete(posted.remote_id)  # "message to delete not found": done
    channel.delete("99999")
    statuses = [r.status for r in fake.requests_to("POST", f"/bot{TOKEN}/deleteMessage")]
    assert statuses == [200, 400, 400]
    assert len(fake.deleted) == 1


def test_delete_past_48_hours_says_so(channel: TelegramChannel, fake: FakeTelegram) -> None:
    posted = channel.publish(_request())
    fake.advance(47 * 3600)
    young = channel.publish(_request("Young story"))
    fake.advance(3600 + 1)
    with pytest.raises(Permanent, match="under 48 hours old") as caught:
        channel.delete(posted.remote_id)
    assert caught.value.http_status == 400
    channel.delete(young.remote_id)  # an hour old: still deletable
    assert [m.message_id for m in fake.deleted] == [int(young.remote_id)]


def test_delete_without_the_right_is_permanent_and_plain(channel: TelegramChannel,
                                                         fake: FakeTelegram) -> None:
    posted = channel.publish(_request())
    fake.not_admin = True
    with pytest.raises(Permanent, match="administrator allowed to post"):
        channel.delete(posted.remote_id)
    fake.not_admin = False
    fake.revoked = True
    with pytest.raises(AuthFailed):
        channel.delete(posted.remote_id)
    assert fake.deleted == []


@pytest.mark.parametrize(("kind", "error", "status", "gone"), [
    ("500", Transient, 500, False),
    ("503", Transient, 503, False),
    ("429", RateLimited, 429, False),
    ("reset_before", Ambiguous, None, False),
    ("reset_after", Ambiguous, None, True),
])
def test_delete_fault_maps_and_deleting_again_settles_it(
        channel: TelegramChannel, fake: FakeTelegram, kind: str, error: type[ChannelError],
        status: int | None, gone: bool) -> None:
    posted = channel.publish(_request())
    assert_raises_under_fault(fake, "delete", kind, lambda: channel.delete(posted.remote_id), error,
                              status)
    assert (fake.message(int(posted.remote_id)) is None) is gone
    channel.delete(posted.remote_id)  # in doubt: delete again; gone or not, it is done
    assert [m.message_id for m in fake.deleted] == [int(posted.remote_id)]


def test_read_back_is_impossible(channel: TelegramChannel, fake: FakeTelegram) -> None:
    posted = channel.publish(_request())
    before = len(fake.requests)
    with pytest.raises(NotImplementedError, match="cannot read a message back"):
        channel.read_back(posted.remote_id)
    assert len(fake.requests) == before  # and nothing was sent to find out
    with pytest.raises(NotImplementedError):
        channel.find_reply(posted.remote_id, _request("Correction"))


# --- edit ------------------------------------------------------------------------------


def test_edit_replaces_the_text(channel: TelegramChannel, fake: FakeTelegram) -> None:
    posted = channel.publish(_request())
    result = channel.edit(posted.remote_id, _request("Fire & <smoke> lifted"))
    assert result.remote_id == posted.remote_id
    assert result.remote_url == f"https://t.me/{fake.chat_username}/{posted.remote_id}"
    [message] = fake.messages
    assert message.text == "Fire & <smoke> lifted"  # escaped for HTML, parsed back
    assert message.history == [TEXT]
    assert message.edit_date is not None
    assert message.link_preview_options is not None
    assert message.link_preview_options["url"] == LINK


def test_edit_twice_is_done_once(channel: TelegramChannel, fake: FakeTelegram) -> None:
    posted = channel.publish(_request())
    channel.edit(posted.remote_id, _request("Corrected"))
    again = channel.edit(posted.remote_id, _request("Corrected"))  # "message is not modified"
    assert again.notes == ("Telegram already showed the new text",)
    assert fake.messages[0].history == [TEXT]


def test_edit_of_a_photo_post_edits_its_caption(make: Callable[..., TelegramChannel],
                                                fake: FakeTelegram) -> None:
    picture = io.BytesIO()
    PILImage.new("RGB", (64, 48), (10, 120, 200)).save(picture, "PNG")
    shared_cache().clear()
    with FileServer({"/photo.png": (picture.getvalue(), "image/png")}) as site:
        channel = make(allow_private_images=True)
        try:
            posted = channel.publish(_request(image=Image(site.url("/photo.png"), alt="River")))
        finally:
            shared_cache().clear()
    assert fake.messages[0].kind == "photo"
    channel.edit(posted.remote_id, _request("Flood warning lifted"))
    assert fake.messages[0].text == "Flood warning lifted"
    assert [r.path.rsplit("/", 1)[1] for r in fake.requests if "edit" in r.path] == [
        "editMessageText", "editMessageCaption"]
    with pytest.raises(Permanent, match="longer than a caption"):
        channel.edit(posted.remote_id, _request("x" * 1025))


def test_edit_of_a_deleted_message_is_permanent(channel: TelegramChannel) -> None:
    posted = channel.publish(_request())
    channel.delete(posted.remote_id)
    with pytest.raises(Permanent, match="message to edit not found"):
        channel.edit(posted.remote_id, _request("Corrected"))


def test_edit_is_held_to_the_same_limit_counted_in_code_points(channel: TelegramChannel,
                                                               fake: FakeTelegram) -> None:
    posted = channel.publish(_request())
    channel.edit(posted.remote_id, _request("😀" * 4096))  # 4096 code points fit
    with pytest.raises(Permanent, match="MESSAGE_TOO_LONG"):
        channel.edit(posted.remote_id, _request("😀" * 4097))
    assert fake.messages[0].text == "😀" * 4096


@pytest.mark.parametrize(("kind", "error", "status", "applied"), [
    ("500", Transient, 500, False),
    ("503", Transient, 503, False),
    ("429", RateLimited, 429, False),
    ("reset_before", Ambiguous, None, False),
    ("reset_after", Ambiguous, None, True),
])
def test_edit_fault_maps_and_editing_again_settles_it(
        channel: TelegramChannel, fake: FakeTelegram, kind: str, error: type[ChannelError],
        status: int | None, applied: bool) -> None:
    posted = channel.publish(_request())
    assert_raises_under_fault(fake, "edit", kind,
                              lambda: channel.edit(posted.remote_id, _request("Corrected")), error,
                              status)
    assert (fake.messages[0].text == "Corrected") is applied
    result = channel.edit(posted.remote_id, _request("Corrected"))
    assert fake.messages[0].text == "Corrected"
    assert fake.messages[0].history == [TEXT]  # one edit, whatever happened
    assert bool(result.notes) is applied


# --- reply -----------------------------------------------------------------------------


def test_reply_answers_the_post(channel: TelegramChannel, fake: FakeTelegram) -> None:
    posted = channel.publish(_request())
    note = channel.reply(posted.remote_id, _request("Correction: the crest is on Saturday."))
    assert note.remote_id != posted.remote_id
    stored = fake.message(int(note.remote_id))
    assert stored is not None
    assert stored.reply_to == int(posted.remote_id)
    assert stored.text == "Correction: the crest is on Saturday."


def test_reply_to_a_deleted_post_is_permanent(channel: TelegramChannel,
                                              fake: FakeTelegram) -> None:
    posted = channel.publish(_request())
    channel.delete(posted.remote_id)
    with pytest.raises(Permanent, match="message to be replied not found"):
        channel.reply(posted.remote_id, _request("Correction"))
    assert fake.messages == []


@pytest.mark.parametrize(("kind", "error"), [
    ("500", Transient), ("503", Transient), ("429", RateLimited),
    ("reset_before", Ambiguous), ("reset_after", Ambiguous),
])
def test_reply_fault_maps(channel: TelegramChannel, fake: FakeTelegram, kind: str,
                          error: type[ChannelError]) -> None:
    posted = channel.publish(_request())
    fake.fail_next(kind, on="create")
    with pytest.raises(error) as caught:
        channel.reply(posted.remote_id, _request("Correction"))
    assert type(caught.value) is error


# --- secrets ---------------------------------------------------------------------------


def test_secrets_never_in_messages(make: Callable[..., TelegramChannel], fake: FakeTelegram,
                                   caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    channel = make(timeout=0.5)
    posted = channel.publish(_request())
    texts = fault_texts(fake, {
        "delete": lambda kind: channel.delete(posted.remote_id),
        "edit": lambda kind: channel.edit(posted.remote_id, _request(f"Corrected {kind}")),
        "create": lambda kind: channel.reply(posted.remote_id, _request(f"Note {kind}")),
    }, clear=True)
    fake.revoked = True
    texts += raised(lambda: channel.delete(posted.remote_id), AuthFailed)
    texts += raised(lambda: channel.edit(posted.remote_id, _request("C")), AuthFailed)
    texts.append(caplog.text)
    assert len(texts) > 30
    assert not any(TOKEN in text for text in texts)
    assert not any(TOKEN.split(":")[1] in text for text in texts)


# --- a retraction run under faults -----------------------------------------------------


def test_retraction_run_under_random_faults_by_deleting_again(channel: TelegramChannel,
                                                              fake: FakeTelegram) -> None:
    """No read back on Telegram: every delete in doubt is simply sent again, and
    every post ends deleted exactly once, the others untouched."""
    ids = [channel.publish(_request(f"Story {n}")).remote_id for n in range(20)]
    kept = channel.publish(_request("Not retracted")).remote_id
    fake.fault_rate(0.3, ("500", "503", "429", "reset_before", "reset_after"), seed=17,
                    on="delete")
    in_doubt = 0
    for remote_id in ids:
        for _ in range(60):
            try:
                channel.delete(remote_id)
                break
            except Ambiguous:
                in_doubt += 1
            except (Transient, RateLimited):
                pass
        else:
            raise AssertionError(f"delete of {remote_id} never succeeded")
    assert sorted(m.message_id for m in fake.deleted) == sorted(int(i) for i in ids)
    assert [m.message_id for m in fake.messages] == [int(kept)]
    assert in_doubt > 0
