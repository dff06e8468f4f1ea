"""After the post on the generic webhook: signed ``retract`` and ``correct`` events
through real httpx to FakeWebhookReceiver over HTTP on 127.0.0.1 (issue 13)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator

import pytest

from publisher.channels import REGISTRY
from publisher.channels.base import ChannelSpec
from publisher.channels.webhook import WebhookChannel, verify_signature
from publisher.exceptions import (
    Ambiguous,
    AuthFailed,
    ChannelError,
    Permanent,
    RateLimited,
    Transient,
)
from publisher.types import DeliveryClass, PublishRequest
from tests.fakes.after_post import assert_raises_under_fault
from tests.fakes.conformance import fault_texts, raised
from tests.fakes.webhook_server import FakeWebhookReceiver

SECRET = "whsec-after-post-0123456789abcdef"
PATH_TOKEN = "tok-after-5f9e2c7a1b"
LINK = "https://news.example.org/2025/06/flood-warning"
TEXT = f"Flood warning for the river district\n\n{LINK}"


@pytest.fixture
def fake() -> Iterator[FakeWebhookReceiver]:
    server = FakeWebhookReceiver(secret=SECRET, path=f"/hooks/{PATH_TOKEN}", dedupe=True,
                                 slow_seconds=30)
    with server:
        yield server
        server.release_slow()
    assert not server.errors, server.errors[0]


@pytest.fixture
def make(fake: FakeWebhookReceiver) -> Iterator[Callable[..., WebhookChannel]]:
    made: list[WebhookChannel] = []

    def build(*, timeout: float = 5.0) -> WebhookChannel:
        spec = ChannelSpec("bridge", "webhook",
                           secrets={"url": fake.url, "signing_secret": SECRET}, timeout=timeout)
        channel = WebhookChannel(spec)
        made.append(channel)
        return channel

    yield build
    for channel in made:
        channel.close()


@pytest.fixture
def channel(make: Callable[..., WebhookChannel]) -> WebhookChannel:
    return make()


def _request(text: str = TEXT, key: str = "k-9") -> PublishRequest:
    return PublishRequest(post_id=9, idempotency_key=key, text=text, link=LINK,
                          title="Flood warning")


def test_registry_says_what_the_webhook_does() -> None:
    info = REGISTRY["webhook"]
    # A signed retract / correct event acknowledged by the receiver; no reply.
    assert (info.can_delete, info.can_edit, info.can_reply) == (True, True, False)
    assert info.delete_window is None
    assert info.delivery is DeliveryClass.REVIEW  # no read back: in doubt is an editor's


# --- retract ---------------------------------------------------------------------------


def test_retract_is_a_signed_event_the_receiver_acknowledges(channel: WebhookChannel,
                                                             fake: FakeWebhookReceiver) -> None:
    kept = channel.publish(_request("Another story", key="k-1"))
    posted = channel.publish(_request())
    channel.delete(posted.remote_id)

    assert [d.id for d in fake.live] == [kept.remote_id]
    [(event, key, body)] = fake.events_taken
    assert (event, key) == ("retract", f"retract:{posted.remote_id}")
    assert body["id"] == posted.remote_id and body["channel"] == "bridge"
    # Signed as posts are: the receiver's own check passes on the raw body.
    [request] = [r for r in fake.requests if r.scope == "delete"]
    assert request.status == 200


def test_retract_signature_verifies(channel: WebhookChannel, fake: FakeWebhookReceiver) -> None:
    posted = channel.publish(_request())
    seen: list[tuple[str | None, str | None, bytes]] = []
    handle = fake.handle

    def spy(request):  # type: ignore[no-untyped-def]
        seen.append((request.headers.get("x-publisher-timestamp"),
                     request.headers.get("x-publisher-signature"), request.body))
        return handle(request)

    fake.handle = spy  # type: ignore[method-assign]
    channel.delete(posted.remote_id)
    [(timestamp, signature, body)] = seen
    assert verify_signature(SECRET, timestamp, body, signature, now=time.time())
    assert not verify_signature("another-secret-0123456789", timestamp, body, signature,
                                now=time.time())
    assert json.loads(body)["event"] == "retract"


def test_retract_twice_and_of_an_unknown_post_is_done(channel: WebhookChannel,
                                                      fake: FakeWebhookReceiver) -> None:
    posted = channel.publish(_request())
    channel.delete(posted.remote_id)
    channel.delete(posted.remote_id)  # same key: the receiver drops the copy
    fake.dedupe = False
    channel.delete(posted.remote_id)  # no dedupe: the receiver no longer has it (404)
    channel.delete("rcv-999")  # never had it: 404 is done too
    assert [e for e, _, _ in fake.events_taken] == ["retract"]
    assert [r.status for r in fake.requests if r.scope == "delete"] == [200, 200, 404, 404]


def test_a_receiver_without_events_says_so(channel: WebhookChannel,
                                           fake: FakeWebhookReceiver) -> None:
    posted = channel.publish(_request())
    fake.events = set()  # a receiver written before retract/correct
    with pytest.raises(Permanent, match="X-Publisher-Event: retract") as caught:
        channel.delete(posted.remote_id)
    assert caught.value.http_status == 400
    with pytest.raises(Permanent, match="X-Publisher-Event: correct"):
        channel.edit(posted.remote_id, _request("Corrected"))
    assert fake.live and not fake.events_taken


def test_retract_refused_is_auth_failed(channel: WebhookChannel,
                                        fake: FakeWebhookReceiver) -> None:
    posted = channel.publish(_request())
    fake.revoked = True
    with pytest.raises(AuthFailed):
        channel.delete(posted.remote_id)
    assert fake.live


@pytest.mark.parametrize(("kind", "error", "status", "taken"), [
    ("500", Transient, 500, False),
    ("503", Transient, 503, False),
    ("429", RateLimited, 429, False),
    ("reset_before", Ambiguous, None, False),
    ("reset_after", Ambiguous, None, True),
])
def test_retract_fault_maps_and_sending_again_is_harmless(
        channel: WebhookChannel, fake: FakeWebhookReceiver, kind: str,
        error: type[ChannelError], status: int | None, taken: bool) -> None:
    posted = channel.publish(_request())
    assert_raises_under_fault(fake, "delete", kind, lambda: channel.delete(posted.remote_id), error,
                              status)
    assert (not fake.live) is taken
    channel.delete(posted.remote_id)  # an editor's retry: the receiver drops a copy by key
    assert [e for e, _, _ in fake.events_taken] == ["retract"]
    assert fake.duplicates if taken else not fake.duplicates


def test_read_back_is_impossible(channel: WebhookChannel, fake: FakeWebhookReceiver) -> None:
    posted = channel.publish(_request())
    before = len(fake.requests)
    with pytest.raises(NotImplementedError):
        channel.read_back(posted.remote_id)
    assert len(fake.requests) == before


# --- correct ---------------------------------------------------------------------------


def test_correct_is_a_signed_event_with_the_new_fields(channel: WebhookChannel,
                                                       fake: FakeWebhookReceiver) -> None:
    posted = channel.publish(_request())
    result = channel.edit(posted.remote_id, _request("Flood warning lifted"))
    assert result.remote_id == posted.remote_id
    assert result.remote_url == "https://bridge.example.net/p/1"
    [delivery] = fake.deliveries
    assert delivery.text == "Flood warning lifted"
    [(event, key, body)] = fake.events_taken
    assert event == "correct" and key.startswith(f"correct:{posted.remote_id}:")
    assert (body["id"], body["text"], body["link"], body["title"]) == (
        posted.remote_id, "Flood warning lifted", LINK, "Flood warning")


def test_the_same_correction_twice_is_one_a_new_one_is_another(
        channel: WebhookChannel, fake: FakeWebhookReceiver) -> None:
    posted = channel.publish(_request())
    channel.edit(posted.remote_id, _request("Corrected"))
    channel.edit(posted.remote_id, _request("Corrected"))  # same key: dropped
    channel.edit(posted.remote_id, _request("Corrected again"))  # a new key
    assert fake.deliveries[0].corrections == ["Corrected", "Corrected again"]


def test_correct_of_a_retracted_post_is_permanent(channel: WebhookChannel) -> None:
    posted = channel.publish(_request())
    channel.delete(posted.remote_id)
    with pytest.raises(Permanent) as caught:
        channel.edit(posted.remote_id, _request("Corrected"))
    assert caught.value.http_status == 404


@pytest.mark.parametrize(("kind", "error", "applied"), [
    ("500", Transient, False), ("503", Transient, False), ("429", RateLimited, False),
    ("reset_before", Ambiguous, False), ("reset_after", Ambiguous, True),
])
def test_correct_fault_maps(channel: WebhookChannel, fake: FakeWebhookReceiver, kind: str,
                            error: type[ChannelError], applied: bool) -> None:
    posted = channel.publish(_request())
    fake.fail_next(kind, on="edit")
    with pytest.raises(error) as caught:
        channel.edit(posted.remote_id, _request("Corrected"))
    assert type(caught.value) is error
    assert (fake.deliveries[0].text == "Corrected") is applied
    channel.edit(posted.remote_id, _request("Corrected"))
    assert fake.deliveries[0].corrections == ["Corrected"]


def test_no_reply(channel: WebhookChannel) -> None:
    assert not hasattr(channel, "reply")


# --- secrets ---------------------------------------------------------------------------


def test_secrets_never_in_messages(make: Callable[..., WebhookChannel],
                                   fake: FakeWebhookReceiver,
                                   caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    channel = make(timeout=0.5)
    posted = channel.publish(_request())
    texts = fault_texts(fake, {
        "delete": lambda kind: channel.delete(posted.remote_id),
        "edit": lambda kind: channel.edit(posted.remote_id, _request(f"Corrected {kind}")),
    }, clear=True)
    fake.revoked = True
    texts += raised(lambda: channel.delete(posted.remote_id), AuthFailed)
    texts += raised(lambda: channel.edit(posted.remote_id, _request("C")), AuthFailed)
    texts.append(caplog.text)
    assert len(texts) > 20
    assert not any(SECRET in text or PATH_TOKEN in text for text in texts)
