"""After the post on Discord: delete, read back and edit a webhook's message
through real httpx against FakeDiscord over HTTP on 127.0.0.1 (issue 13)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

from publisher.channels import REGISTRY
from publisher.channels.base import ChannelSpec
from publisher.channels.discord import DiscordChannel
from publisher.exceptions import (
    Ambiguous,
    AuthFailed,
    ChannelError,
    Permanent,
    RateLimited,
    Transient,
)
from publisher.types import PublishRequest
from tests.fakes.after_post import (
    DELETE_FAULTS,
    READ_BACK_FAULTS,
    RUN_FAULTS,
    assert_delete_fault_maps,
    assert_delete_rate_limited_until_announced,
    assert_lost_delete_settled_by_read_back,
    assert_raises_under_fault,
    retract,
)
from tests.fakes.conformance import fault_texts, raised
from tests.fakes.discord_server import FakeDiscord

WEBHOOK_TOKEN = "fake-webhook-token_AfTeR0123456789xyz"
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

    def build(*, timeout: float = 5.0, **options: object) -> DiscordChannel:
        spec = ChannelSpec("discord", "discord", secrets={"webhook_url": fake.webhook_url},
                           options=options, timeout=timeout)
        channel = DiscordChannel(spec)
        made.append(channel)
        return channel

    yield build
    for channel in made:
        channel.close()


@pytest.fixture
def channel(make: Callable[..., DiscordChannel]) -> DiscordChannel:
    return make()


def _request(text: str = TEXT, *, title: str | None = "Flood warning",
             summary: str | None = "Levels rise tonight.") -> PublishRequest:
    return PublishRequest(post_id=7, idempotency_key="k-7", text=text, link=LINK,
                          title=title, summary=summary)


def _get(fake: FakeDiscord, message_id: str, thread_id: str | None = None) -> httpx.Response:
    params = {"thread_id": thread_id} if thread_id else {}
    return httpx.get(f"{fake.webhook_url}/messages/{message_id}", params=params, timeout=5)


def test_registry_says_what_discord_allows() -> None:
    info = REGISTRY["discord"]
    assert (info.can_delete, info.can_edit, info.can_reply) == (True, True, False)
    assert info.delete_window is None  # a webhook deletes its own messages at any age


# --- delete ----------------------------------------------------------------------------


def test_delete_makes_the_message_gone(channel: DiscordChannel, fake: FakeDiscord) -> None:
    kept = channel.publish(_request("Another story"))
    posted = channel.publish(_request())
    channel.delete(posted.remote_id)

    assert [m.id for m in fake.deleted] == [posted.remote_id]
    assert [m.id for m in fake.messages] == [kept.remote_id]
    gone = _get(fake, posted.remote_id)
    assert (gone.status_code, gone.json()["code"]) == (404, 10008)
    assert channel.read_back(posted.remote_id) is None
    [call] = [r for r in fake.requests if r.method == "DELETE"]
    assert call.status == 204
    assert call.path.endswith(f"/messages/{posted.remote_id}")


def test_delete_of_a_message_already_gone_returns_normally(channel: DiscordChannel,
                                                           fake: FakeDiscord) -> None:
    posted = channel.publish(_request())
    channel.delete(posted.remote_id)
    channel.delete(posted.remote_id)  # 10008 Unknown Message: already gone is done
    channel.delete("1300000000000009999")  # never there
    assert [r.status for r in fake.requests if r.method == "DELETE"] == [204, 404, 404]
    assert len(fake.deleted) == 1


def test_delete_after_the_webhook_was_deleted_is_auth_failed(channel: DiscordChannel,
                                                             fake: FakeDiscord) -> None:
    # 10015 Unknown Webhook is no "message gone": the channel must pause.
    posted = channel.publish(_request())
    fake.delete()
    with pytest.raises(AuthFailed) as caught:
        channel.delete(posted.remote_id)
    assert caught.value.http_status == 404
    assert fake.messages and not fake.deleted


@pytest.mark.parametrize(("kind", "error", "status", "gone"), DELETE_FAULTS)
def test_delete_fault_maps_to_taxonomy(channel: DiscordChannel, fake: FakeDiscord, kind: str,
                                       error: type[ChannelError], status: int | None,
                                       gone: bool) -> None:
    posted = channel.publish(_request())
    assert_delete_fault_maps(channel, fake, posted.remote_id, kind, error, status, gone)


def test_delete_applied_then_answer_lost_is_settled_by_read_back(channel: DiscordChannel,
                                                                fake: FakeDiscord) -> None:
    posted = channel.publish(_request())
    assert_lost_delete_settled_by_read_back(channel, fake, posted.remote_id)


def test_delete_rate_limited(channel: DiscordChannel, fake: FakeDiscord) -> None:
    posted = channel.publish(_request())
    assert_delete_rate_limited_until_announced(channel, fake, posted.remote_id)


def test_delete_and_edit_of_a_message_in_a_thread(make: Callable[..., DiscordChannel],
                                                  fake: FakeDiscord) -> None:
    thread = "555666777888999000"
    channel = make(thread_id=thread)
    posted = channel.publish(_request())
    # Without thread_id Discord looks in the webhook's channel and finds nothing.
    assert _get(fake, posted.remote_id).status_code == 404
    channel.edit(posted.remote_id, _request("Flood warning lifted"))
    assert channel.read_back(posted.remote_id) == "Flood warning lifted"
    channel.delete(posted.remote_id)
    assert [m.id for m in fake.deleted] == [posted.remote_id]
    assert all(r.path.endswith(posted.remote_id) for r in fake.requests
               if r.method in ("PATCH", "DELETE"))


def test_delete_of_a_forum_post(make: Callable[..., DiscordChannel], fake: FakeDiscord) -> None:
    fake.forum = True
    channel = make(forum=True)
    posted = channel.publish(_request())
    assert posted.remote_id in fake.threads  # the thread has its starter message's id
    channel.delete(posted.remote_id)
    assert channel.read_back(posted.remote_id) is None
    assert [m.id for m in fake.deleted] == [posted.remote_id]


def test_a_remote_id_without_a_message_id_is_permanent(channel: DiscordChannel,
                                                       fake: FakeDiscord) -> None:
    with pytest.raises(Permanent, match="not a message id"):
        channel.delete("k-7")
    assert not [r for r in fake.requests if r.method == "DELETE"]


# --- read back -------------------------------------------------------------------------


def test_read_back_is_the_content_as_written(channel: DiscordChannel) -> None:
    text = "Flood <warning> & \"evacuation\" @everyone\n\n" + LINK
    posted = channel.publish(_request(text))
    assert channel.read_back(posted.remote_id) == text


@pytest.mark.parametrize(("kind", "status"), READ_BACK_FAULTS)
def test_read_back_fault_is_transient(channel: DiscordChannel, fake: FakeDiscord, kind: str,
                                      status: int | None) -> None:
    posted = channel.publish(_request())
    assert_raises_under_fault(fake, "read", kind, lambda: channel.read_back(posted.remote_id),
                              Transient, status)


# --- edit ------------------------------------------------------------------------------


def test_edit_replaces_content_and_embed(channel: DiscordChannel, fake: FakeDiscord) -> None:
    posted = channel.publish(_request())
    result = channel.edit(posted.remote_id, _request("Flood warning lifted", title="Lifted",
                                                     summary=None))
    assert result.remote_id == posted.remote_id
    [message] = fake.messages
    assert message.content == "Flood warning lifted"
    assert message.edited == [TEXT]
    assert message.embeds == [{"title": "Lifted", "url": LINK}]
    assert message.allowed_mentions == {"parse": []}  # an edit pings nobody either
    answer = _get(fake, posted.remote_id).json()
    assert answer["edited_timestamp"] is not None
    [patch] = [r for r in fake.requests if r.method == "PATCH"]
    assert patch.status == 200


def test_edit_without_title_or_summary_removes_the_embed(channel: DiscordChannel,
                                                         fake: FakeDiscord) -> None:
    posted = channel.publish(_request())
    channel.edit(posted.remote_id, _request("Corrected", title=None, summary=None))
    assert fake.messages[0].embeds == []


def test_edit_is_held_to_the_same_limits(channel: DiscordChannel, fake: FakeDiscord) -> None:
    posted = channel.publish(_request())
    with pytest.raises(Permanent, match="2000 or fewer") as caught:
        channel.edit(posted.remote_id, _request("x" * 2001))
    assert caught.value.http_status == 400
    assert fake.messages[0].content == TEXT


def test_edit_of_a_deleted_message_is_permanent(channel: DiscordChannel) -> None:
    posted = channel.publish(_request())
    channel.delete(posted.remote_id)
    with pytest.raises(Permanent) as caught:
        channel.edit(posted.remote_id, _request("Corrected"))
    assert caught.value.http_status == 404


@pytest.mark.parametrize(("kind", "error", "status", "applied"), [
    ("500", Transient, 500, False),
    ("503", Transient, 503, False),
    ("429", RateLimited, 429, False),
    ("reset_before", Ambiguous, None, False),
    ("reset_after", Ambiguous, None, True),
])
def test_edit_fault_maps_and_read_back_settles_it(channel: DiscordChannel, fake: FakeDiscord,
                                                  kind: str, error: type[ChannelError],
                                                  status: int | None, applied: bool) -> None:
    posted = channel.publish(_request())
    assert_raises_under_fault(fake, "edit", kind,
                              lambda: channel.edit(posted.remote_id, _request("Corrected")), error,
                              status)
    assert channel.read_back(posted.remote_id) == ("Corrected" if applied else TEXT)


def test_no_reply_on_a_webhook(channel: DiscordChannel) -> None:
    assert not hasattr(channel, "reply")


# --- a retraction run under faults -----------------------------------------------------


def test_retraction_run_under_random_faults(channel: DiscordChannel, fake: FakeDiscord) -> None:
    ids = [channel.publish(_request(f"Story {n}")).remote_id for n in range(20)]
    kept = channel.publish(_request("Not retracted")).remote_id
    fake.fault_rate(0.3, RUN_FAULTS, seed=13, on="any")  # deletes and read-backs alike
    report = retract(channel, ids)
    assert {m.id for m in fake.deleted} == set(ids)
    assert len(fake.deleted) == len(ids)  # each once
    assert [m.id for m in fake.messages] == [kept]
    assert report.ambiguous > 0 and report.settled_gone > 0


# --- secrets ---------------------------------------------------------------------------


def test_secrets_never_in_messages(make: Callable[..., DiscordChannel], fake: FakeDiscord,
                                   caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    channel = make(timeout=0.5)
    posted = channel.publish(_request())
    texts = fault_texts(fake, {
        "delete": lambda kind: channel.delete(posted.remote_id),
        "edit": lambda kind: channel.edit(posted.remote_id, _request("Corrected")),
        "read": lambda kind: channel.read_back(posted.remote_id),
    }, clear=True)
    fake.revoked = True
    texts += raised(lambda: channel.delete(posted.remote_id), AuthFailed)
    texts += raised(lambda: channel.edit(posted.remote_id, _request("C")), AuthFailed)
    texts.append(caplog.text)
    assert len(texts) > 30
    assert not any(WEBHOOK_TOKEN in text for text in texts)
