"""WebhookChannel through real httpx against FakeWebhookReceiver over HTTP on 127.0.0.1."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from publisher.channels.base import ChannelSpec
from publisher.channels.webhook import WebhookChannel, sign, verify_signature
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
    SECRET_FAULTS,
    assert_fault_maps,
    fault_texts,
    raised,
)
from tests.fakes.fakehttp import Reply
from tests.fakes.webhook_server import FakeWebhookReceiver

SECRET = "whsec-0123456789abcdef0123456789"
PATH_TOKEN = "pathtoken-5e6f7a8b9c"
LINK = "https://news.example.org/2025/06/flood-warning"
TEXT = f"Flood warning for the river district\n\n{LINK}"


@pytest.fixture
def fake() -> Iterator[FakeWebhookReceiver]:
    server = FakeWebhookReceiver(secret=SECRET, path=f"/hooks/{PATH_TOKEN}", slow_seconds=30)
    with server:
        yield server
        server.release_slow()
    assert not server.errors, server.errors[0]


@pytest.fixture
def make(fake: FakeWebhookReceiver) -> Iterator[Callable[..., WebhookChannel]]:
    made: list[WebhookChannel] = []

    def build(*, timeout: float = 5.0, url: str | None = None, secret: str = SECRET,
              base_url: str | None = None, **options: object) -> WebhookChannel:
        spec = ChannelSpec("bridge", "webhook",
                           secrets={"url": url or fake.url + "?key=querysecret42",
                                    "signing_secret": secret},
                           options=options, base_url=base_url, timeout=timeout)
        channel = WebhookChannel(spec)
        made.append(channel)
        return channel

    yield build
    for channel in made:
        channel.close()


@pytest.fixture
def channel(make: Callable[..., WebhookChannel]) -> WebhookChannel:
    return make()


def _request(text: str = TEXT, *, image: Image | None = None) -> PublishRequest:
    return PublishRequest(post_id=7, idempotency_key="k-7", text=text, link=LINK, image=image,
                          title="Flood warning", summary="Levels rise tonight.")


# --- verify_signature ----------------------------------------------------------------


def test_verify_signature() -> None:
    body = b'{"id":"k-7","text":"hello"}'
    now = 1_750_000_000
    good = sign(SECRET, now, body)
    assert good.startswith("sha256=") and len(good) == 7 + 64
    assert verify_signature(SECRET, str(now), body, good, now=now + 10)
    assert verify_signature(SECRET, now, body.decode(), good,
                            now=datetime.fromtimestamp(now, UTC))
    assert not verify_signature(SECRET, now, body + b" ", good, now=now)  # tampered body
    assert not verify_signature(SECRET, now + 1, body, good, now=now)  # other timestamp
    assert not verify_signature("another-secret-xyz", now, body, good, now=now)
    assert not verify_signature(SECRET, now, body, good, now=now + 301)  # replayed later
    assert not verify_signature(SECRET, now, body, good, now=now - 301)  # from the future
    assert verify_signature(SECRET, now, body, good, now=now + 301, tolerance=600)
    assert not verify_signature(SECRET, now, body, good.removeprefix("sha256="), now=now)
    assert not verify_signature(SECRET, now, body, None, now=now)
    assert not verify_signature(SECRET, None, body, good, now=now)
    assert not verify_signature(SECRET, "yesterday", body, good, now=now)
    assert not verify_signature("", now, body, good, now=now)


# --- configuration -----------------------------------------------------------------


def test_bad_url_and_short_secret_are_config_errors(fake: FakeWebhookReceiver) -> None:
    with pytest.raises(ConfigError, match="url credential"):
        WebhookChannel(ChannelSpec("w", "webhook", secrets={"url": "mailto:x@example.org",
                                                            "signing_secret": SECRET}))
    with pytest.raises(ConfigError, match="signing_secret") as caught:
        WebhookChannel(ChannelSpec("w", "webhook", secrets={"url": fake.url,
                                                            "signing_secret": "short"}))
    assert "short'" not in str(caught.value)


# --- publishing --------------------------------------------------------------------


def test_publish_signed_json(channel: WebhookChannel, fake: FakeWebhookReceiver) -> None:
    image = Image("https://cdn.example.org/flood.jpg", alt="A flooded street")
    before = int(time.time())
    result = channel.publish(_request(image=image))

    assert channel.delivery is DeliveryClass.REVIEW
    [delivery] = fake.deliveries
    body = delivery.json
    assert body["id"] == "k-7" and body["post_id"] == 7
    assert (body["text"], body["link"], body["title"], body["summary"]) == (
        TEXT, LINK, "Flood warning", "Levels rise tonight.")
    assert body["image"] == {"url": image.url, "alt": "A flooded street"}
    assert body["channel"] == "bridge"
    assert datetime.fromisoformat(body["published_at"]).tzinfo is not None
    assert delivery.key == "k-7"
    assert delivery.headers["content-type"] == "application/json"
    assert delivery.headers["user-agent"] == "publisher"
    assert before <= int(delivery.timestamp or 0) <= int(time.time())
    assert verify_signature(SECRET, delivery.timestamp, delivery.raw, delivery.signature,
                            now=time.time())
    assert result.remote_id == "rcv-1"
    assert result.remote_url == "https://bridge.example.net/p/1"
    assert result.http_status == 200


def test_post_without_image_sends_null(channel: WebhookChannel,
                                       fake: FakeWebhookReceiver) -> None:
    channel.publish(_request())
    assert fake.deliveries[0].json["image"] is None


def test_answer_without_id_uses_the_idempotency_key(channel: WebhookChannel,
                                                    fake: FakeWebhookReceiver) -> None:
    fake.answer_with_id = False
    result = channel.publish(_request())
    assert (result.remote_id, result.remote_url, result.http_status) == ("k-7", None, 204)


def test_tampered_body_and_old_timestamp_are_rejected(channel: WebhookChannel,
                                                      fake: FakeWebhookReceiver) -> None:
    channel.publish(_request())
    [delivery] = fake.deliveries
    headers = {"Content-Type": "application/json", "Idempotency-Key": "k-7",
               "X-Publisher-Timestamp": delivery.timestamp or "",
               "X-Publisher-Signature": delivery.signature or ""}
    tampered = delivery.raw.replace(b"Flood", b"Fraud")
    assert httpx.post(fake.url, content=tampered, headers=headers).status_code == 401
    old = int(time.time()) - 3600
    replay = {**headers, "X-Publisher-Timestamp": str(old),
              "X-Publisher-Signature": sign(SECRET, old, delivery.raw)}
    assert httpx.post(fake.url, content=delivery.raw, headers=replay).status_code == 401
    assert len(fake.rejected) == 2 and len(fake.deliveries) == 1


def test_wrong_secret_fails_auth(make: Callable[..., WebhookChannel],
                                 fake: FakeWebhookReceiver) -> None:
    with pytest.raises(AuthFailed, match="signing secret") as caught:
        make(secret="not-the-receivers-secret").publish(_request())
    assert caught.value.http_status == 401
    assert fake.deliveries == [] and len(fake.rejected) == 1


def test_receiver_dedupes_a_retry_by_idempotency_key(channel: WebhookChannel,
                                                     fake: FakeWebhookReceiver) -> None:
    fake.dedupe = True
    fake.fail_next("reset_after")  # stored, answer lost
    with pytest.raises(Ambiguous):
        channel.publish(_request())
    fake.settle()
    result = channel.publish(_request())  # an editor's retry
    assert len(fake.deliveries) == 1 and len(fake.duplicates) == 1
    assert result.remote_id == fake.deliveries[0].id


def test_base_url_replaces_the_host(make: Callable[..., WebhookChannel],
                                    fake: FakeWebhookReceiver) -> None:
    channel = make(url=f"https://bridge.example.net/hooks/{PATH_TOKEN}", base_url=fake.base_url)
    channel.publish(_request())
    assert len(fake.deliveries) == 1
    assert channel.whoami() == f"webhook to {fake.base_url} (signed)"


# --- faults ------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "error", "status"), [
    *COMMON_FAULTS,
    ("revoked", AuthFailed, 403),
])
def test_fault_maps_to_taxonomy(channel: WebhookChannel, fake: FakeWebhookReceiver, kind: str,
                                error: type[ChannelError], status: int | None) -> None:
    assert_fault_maps(channel, fake, _request(), kind, error, status)
    assert len(fake.requests) == 1


def test_rate_limit_uses_retry_after(channel: WebhookChannel,
                                     fake: FakeWebhookReceiver) -> None:
    fake.rate_limit_seconds = 5
    fake.fail_next("429")
    with pytest.raises(RateLimited) as caught:
        channel.publish(_request())
    assert fake.rate_limit_reset is not None
    announced = datetime.fromtimestamp(fake.rate_limit_reset, UTC)
    assert announced - timedelta(seconds=1) <= caught.value.until
    assert caught.value.until <= announced + timedelta(seconds=2)


@pytest.mark.parametrize(("status", "error"), [
    (400, Permanent), (404, Permanent), (410, Permanent), (422, Permanent),
    (401, AuthFailed), (403, AuthFailed), (408, Transient), (502, Transient),
    (301, Permanent),
])
def test_status_mapping(channel: WebhookChannel, fake: FakeWebhookReceiver, status: int,
                        error: type[ChannelError]) -> None:
    fake.handle = lambda request: Reply(  # type: ignore[method-assign]
        status, {"error": "scripted"}, {"Location": "https://elsewhere.example/x"})
    with pytest.raises(error) as caught:
        channel.publish(_request())
    assert type(caught.value) is error
    assert caught.value.http_status == status


def test_timeout_is_ambiguous(make: Callable[..., WebhookChannel],
                              fake: FakeWebhookReceiver) -> None:
    fake.fail_next("slow")
    with pytest.raises(Ambiguous, match="ReadTimeout"):
        make(timeout=0.5).publish(_request())


def test_connection_refused_is_transient(make: Callable[..., WebhookChannel]) -> None:
    closed = FakeWebhookReceiver(secret=SECRET)
    with closed:
        url = closed.url
    with pytest.raises(Transient, match="could not connect"):
        make(url=url).publish(_request())


def test_find_is_not_possible_and_whoami_does_not_post(channel: WebhookChannel,
                                                       fake: FakeWebhookReceiver) -> None:
    with pytest.raises(NotImplementedError):
        channel.find(_request())
    assert channel.whoami() == f"webhook to {fake.base_url} (signed)"
    assert fake.requests == []


def test_secrets_never_in_messages_or_repr(make: Callable[..., WebhookChannel],
                                           fake: FakeWebhookReceiver) -> None:
    channel = make(timeout=0.5)
    texts = [repr(channel), str(channel), channel.whoami()]
    texts += fault_texts(fake, {
        "create": lambda kind: channel.publish(_request(text=f"{kind} {TEXT}")),
    }, kinds=(*SECRET_FAULTS, "revoked"), clear=True)
    for echo in (SECRET, PATH_TOKEN, "querysecret42", fake.url):
        fake.handle = lambda request, echo=echo: Reply(  # type: ignore[method-assign, misc]
            400, {"error": f"unexpected {echo}"})
        texts += raised(lambda: channel.publish(_request()), Permanent)
    for text in texts:
        for secret in (SECRET, PATH_TOKEN, "querysecret42"):
            assert secret not in text, text
    assert json.dumps(texts)  # all plain strings


# --- the opt-in check event (docs/webhook-bridge.md) ----------------------------------------


def test_every_delivery_says_it_is_a_post(channel: WebhookChannel,
                                          fake: FakeWebhookReceiver) -> None:
    channel.publish(_request())
    assert fake.deliveries[0].headers["x-publisher-event"] == "post"


def test_check_event_is_signed_and_posts_nothing(make: Callable[..., WebhookChannel],
                                                 fake: FakeWebhookReceiver) -> None:
    channel = make(check=True)
    assert channel.whoami() == (f"webhook to {fake.base_url} (signed; the receiver answered "
                                "the check)")
    [check] = fake.checks
    assert json.loads(check.body) == {"event": "check", "channel": "bridge"}
    assert "idempotency-key" not in check.headers
    assert fake.deliveries == [] and fake.rejected == []


@pytest.mark.parametrize(("breakage", "match"), [
    ("revoked", "403"),
    ("secret", "401"),
])
def test_check_event_fails_when_the_receiver_refuses_us(make: Callable[..., WebhookChannel],
                                                        fake: FakeWebhookReceiver,
                                                        breakage: str, match: str) -> None:
    if breakage == "revoked":
        fake.revoked = True
        channel = make(check=True)
    else:
        channel = make(check=True, secret="another-secret-0123456789abcdef")
    with pytest.raises(AuthFailed, match=match) as caught:
        channel.whoami()
    assert SECRET not in str(caught.value)
    assert fake.checks == []


def test_check_is_off_by_default_and_must_be_true_or_false(
        make: Callable[..., WebhookChannel], fake: FakeWebhookReceiver) -> None:
    fake.revoked = True
    assert make().whoami() == f"webhook to {fake.base_url} (signed)"  # nothing sent
    assert fake.requests == []
    with pytest.raises(ConfigError, match=r"options\.check"):
        make(check="yes")
