"""XChannel through the real tweepy against FakeX over HTTP on 127.0.0.1."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from PIL import Image as PILImage

from publisher.channels import make_channel
from publisher.channels.base import ChannelSpec
from publisher.channels.x import XChannel, _rate_limit_until
from publisher.exceptions import (
    AccountBlocked,
    Ambiguous,
    AuthFailed,
    ChannelError,
    ConfigError,
    Permanent,
    RateLimited,
    Transient,
)
from publisher.render import length_rule
from publisher.types import DeliveryClass, Image, PublishRequest
from tests.fakes import twitter_text_reference
from tests.fakes.after_post import RUN_FAULTS, assert_raises_under_fault, retract
from tests.fakes.conformance import (
    COMMON_FAULTS,
    assert_fault_maps,
    fault_texts,
    raised,
)
from tests.fakes.fakehttp import FileServer, Reply
from tests.fakes.x_server import FakeX, StoredMedia

RECORDED = Path(__file__).resolve().parents[1] / "data" / "recorded" / "x"

SECRETS = {
    "api_key": "ck-consumer-KEY-7f3a9",
    "api_secret": "cs-consumer-SECRET-b81c2",
    "access_token": "at-ACCESS-token-44d1e",
    "access_token_secret": "ats-ACCESS-secret-9e0f7",
}
LINK = "https://news.example.org/2025/06/flood-warning"


def _png(width: int = 64, height: int = 48) -> bytes:
    out = io.BytesIO()
    PILImage.new("RGB", (width, height), (200, 30, 30)).save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def images() -> Iterator[FileServer]:
    with FileServer({"/photo.png": (_png(), "image/png")}) as site:
        yield site  # type: ignore[misc]


@pytest.fixture
def fake() -> Iterator[FakeX]:
    server = FakeX(consumer_key=SECRETS["api_key"], access_token=SECRETS["access_token"],
                   slow_seconds=30)
    with server:
        yield server
        server.release_slow()
    assert not server.errors, server.errors[0]


@pytest.fixture
def make(fake: FakeX) -> Iterator[Callable[..., XChannel]]:
    made: list[XChannel] = []

    def build(*, timeout: float = 5.0, base_url: str | None = None, **options: object) -> XChannel:
        options.setdefault("allow_private_images", True)
        spec = ChannelSpec("x", "x", secrets=SECRETS, options=options,
                           base_url=base_url or fake.base_url, timeout=timeout)
        channel = make_channel(spec)
        assert isinstance(channel, XChannel)
        made.append(channel)
        return channel

    yield build
    for channel in made:
        channel.close()


@pytest.fixture
def channel(make: Callable[..., XChannel]) -> XChannel:
    return make()


def _request(text: str = f"Flood warning for the river district {LINK}", *,
             link: str | None = LINK, image: Image | None = None,
             after_ambiguous: bool = False) -> PublishRequest:
    return PublishRequest(post_id=1, idempotency_key="k-1", text=text, link=link, image=image,
                          after_ambiguous=after_ambiguous)


def _assert_no_secrets(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS.values():
            assert secret not in text


# --- publishing --------------------------------------------------------------------


def test_publish_text_link_and_image_with_alt_text(channel: XChannel, fake: FakeX,
                                                   images: FileServer) -> None:
    image = Image(images.url("/photo.png"), alt="A flooded street with a red car")
    result = channel.publish(_request(image=image))

    assert channel.delivery is DeliveryClass.RECONCILABLE
    [post] = fake.posts
    assert result.remote_id == post.id
    assert result.remote_url == f"https://x.com/{fake.username}/status/{post.id}"
    assert result.http_status == 201
    assert result.notes == ()
    assert post.text == _request().text
    assert post.expanded_urls == [LINK]
    [media_id] = post.media_ids
    media = fake.media[media_id]
    assert media.alt_text == "A flooded street with a red car"
    assert media.category == "tweet_image"
    assert media.content_type == "image/png"
    [upload] = fake.requests_to("POST", "/2/media/upload")
    assert upload.auth
    assert all(r.auth for r in fake.requests)


def test_publish_without_image_when_option_off(make: Callable[..., XChannel], fake: FakeX,
                                               images: FileServer) -> None:
    channel = make(with_image=False)
    channel.publish(_request(image=Image(images.url("/photo.png"))))
    assert fake.posts[0].media_ids == []
    assert fake.requests_to("POST", "/2/media/upload") == []


def test_image_that_404s_is_skipped_with_a_note(channel: XChannel, fake: FakeX,
                                                images: FileServer) -> None:
    result = channel.publish(_request(image=Image(images.url("/gone.png"), alt="x")))
    assert fake.posts[0].media_ids == []
    assert result.notes == ("image skipped: HTTP 404",)


def test_private_image_refused_unless_allowed(make: Callable[..., XChannel], fake: FakeX,
                                              images: FileServer) -> None:
    channel = make(allow_private_images=False)
    result = channel.publish(_request(image=Image(images.url("/photo.png"))))
    assert fake.posts[0].media_ids == []
    assert len(result.notes) == 1
    assert result.notes[0].startswith("image skipped: refusing non-public address 127.0.0.1")
    assert images.requests == []


def test_upload_server_error_posts_without_image(channel: XChannel, fake: FakeX,
                                                 images: FileServer) -> None:
    fake.fail_next("503", on="upload")
    result = channel.publish(_request(image=Image(images.url("/photo.png"))))
    assert fake.posts[0].media_ids == []
    assert result.notes[0].startswith("image skipped: upload failed")
    assert "503" in result.notes[0]


@pytest.mark.parametrize(("kind", "error"), [("429", RateLimited), ("revoked", AuthFailed)])
def test_upload_refused_for_the_account_fails_the_post(
        channel: XChannel, fake: FakeX, images: FileServer, kind: str,
        error: type[ChannelError]) -> None:
    fake.fail_next(kind, on="upload")
    with pytest.raises(error):
        channel.publish(_request(image=Image(images.url("/photo.png"))))
    assert fake.posts == []
    assert fake.requests_to("POST", "/2/tweets") == []


def test_other_client_error_is_permanent_with_x_message(channel: XChannel, fake: FakeX) -> None:
    with pytest.raises(Permanent) as caught:
        channel.publish(_request(text="", link=None))
    assert caught.value.http_status == 400
    assert "One or more parameters to your request was invalid" in str(caught.value)
    assert "You must provide a text or media" in str(caught.value)


# --- faults ------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "error", "status"), COMMON_FAULTS)
def test_fault_maps_to_taxonomy(channel: XChannel, fake: FakeX, kind: str,
                                error: type[ChannelError], status: int | None) -> None:
    assert_fault_maps(channel, fake, _request(), kind, error, status)


def test_rate_limit_until_is_the_announced_reset(channel: XChannel, fake: FakeX) -> None:
    fake.fail_next("429")
    with pytest.raises(RateLimited) as caught:
        channel.publish(_request())
    assert fake.rate_limit_reset is not None
    assert caught.value.until == datetime.fromtimestamp(fake.rate_limit_reset, UTC)
    assert caught.value.http_status == 429
    assert fake.posts == []


def test_spent_daily_limit_waits_for_the_24_hour_reset(channel: XChannel, fake: FakeX) -> None:
    fake.fail_next("429_daily")
    with pytest.raises(RateLimited) as caught:
        channel.publish(_request())
    assert fake.rate_limit_reset is not None
    assert caught.value.until == datetime.fromtimestamp(fake.rate_limit_reset, UTC)


def test_rate_limit_without_headers_waits_15_minutes() -> None:
    before = datetime.now(UTC)
    until = _rate_limit_until({})
    assert before + timedelta(minutes=15) <= until <= datetime.now(UTC) + timedelta(minutes=15)
    assert _rate_limit_until({"x-user-limit-24hour-remaining": "0",
                              "x-user-limit-24hour-reset": "2000000000",
                              "x-rate-limit-reset": "1900000000"}) == datetime.fromtimestamp(
        2_000_000_000, UTC)


def test_fake_counts_requests_before_the_announced_reset(channel: XChannel,
                                                         fake: FakeX) -> None:
    fake.fail_next("429")
    with pytest.raises(RateLimited):
        channel.publish(_request())
    channel.whoami()  # too early: the dispatcher must not do this
    assert [r.path for r in fake.early_requests][-1] == "/2/users/me"


def test_timeout_applies_and_is_ambiguous(make: Callable[..., XChannel], fake: FakeX) -> None:
    channel = make(timeout=0.5)
    fake.fail_next("slow")  # the fake answers after 30 s (or when released)
    with pytest.raises(Ambiguous) as caught:
        channel.publish(_request())
    # Only a client-side timeout ends the call before the fake has answered.
    assert fake.posts == []
    assert "ReadTimeout" in str(caught.value)
    fake.release_slow()
    fake.settle()
    found = channel.find(_request())
    assert found is not None and found.remote_id == fake.posts[0].id


def test_connection_refused_is_transient(make: Callable[..., XChannel]) -> None:
    closed = FakeX()
    with closed:
        url = closed.base_url
    with pytest.raises(Transient) as caught:
        make(base_url=url).publish(_request())
    assert "could not connect" in str(caught.value)


# --- reconciliation ----------------------------------------------------------------


def test_reset_after_then_find_finds_it(channel: XChannel, fake: FakeX) -> None:
    fake.fail_next("reset_after")
    with pytest.raises(Ambiguous):
        channel.publish(_request())
    fake.settle()
    found = channel.find(_request())
    assert found is not None
    assert found.remote_id == fake.posts[0].id
    assert found.remote_url == f"https://x.com/{fake.username}/status/{fake.posts[0].id}"


def test_reset_before_then_find_finds_nothing(channel: XChannel, fake: FakeX) -> None:
    fake.fail_next("reset_before")
    with pytest.raises(Ambiguous):
        channel.publish(_request())
    fake.settle()
    assert fake.posts == []
    assert channel.find(_request()) is None


def test_find_compares_links_canonically(channel: XChannel, fake: FakeX) -> None:
    fake.post_text(f"Older story {LINK}-old")
    channel.publish(_request(text=f"Flood warning {LINK}/?utm_source=social&utm_medium=x"))
    found = channel.find(_request(text="different text", link=LINK))
    assert found is not None and found.remote_id == fake.posts[-1].id
    assert channel.find(_request(text="different", link=LINK + "-other")) is None


def test_find_matches_the_text_of_a_linkless_post_with_image(
        channel: XChannel, fake: FakeX, images: FileServer) -> None:
    text = "Road closed: Main St & 5th <until Friday>"
    channel.publish(_request(text=text, link=None, image=Image(images.url("/photo.png"))))
    assert fake.posts[0].display_text.startswith("Road closed: Main St &amp; 5th &lt;")
    found = channel.find(_request(text=text, link=None))
    assert found is not None and found.remote_id == fake.posts[0].id
    assert channel.find(_request(text=text + "!", link=None)) is None


def test_duplicate_after_ambiguous_returns_the_earlier_post(channel: XChannel,
                                                            fake: FakeX) -> None:
    fake.fail_next("reset_after")
    with pytest.raises(Ambiguous):
        channel.publish(_request())
    fake.settle()
    result = channel.publish(_request(after_ambiguous=True))
    assert len(fake.posts) == 1
    assert result.remote_id == fake.posts[0].id
    assert any("duplicate" in note for note in result.notes)


def test_duplicate_without_ambiguity_is_permanent(channel: XChannel, fake: FakeX) -> None:
    fake.post_text(_request().text)
    with pytest.raises(Permanent) as caught:
        channel.publish(_request())
    assert caught.value.http_status == 403
    assert "duplicate" in str(caught.value)
    assert len(fake.posts) == 1


# --- credentials -------------------------------------------------------------------


def test_whoami(channel: XChannel, fake: FakeX) -> None:
    assert channel.whoami() == f"@{fake.username} (id {fake.user_id})"


def test_revoked_credentials_fail_auth(channel: XChannel, fake: FakeX) -> None:
    channel.whoami()
    fake.fail_next("revoked")
    with pytest.raises(AuthFailed) as caught:
        channel.publish(_request())
    assert caught.value.http_status == 401
    with pytest.raises(AuthFailed, match=r"X rejected the credentials \(401\)"):
        channel.whoami()
    with pytest.raises(AuthFailed):
        channel.find(_request())


def test_wrong_consumer_key_fails_auth(make: Callable[..., XChannel], fake: FakeX) -> None:
    fake.consumer_key = "someone-else"
    with pytest.raises(AuthFailed):
        make().whoami()


def test_with_image_must_be_a_boolean(fake: FakeX) -> None:
    with pytest.raises(ConfigError, match=r"options\.with_image"):
        XChannel(ChannelSpec("x", "x", secrets=SECRETS, options={"with_image": "yes"}))


def test_secrets_never_in_messages_or_repr(make: Callable[..., XChannel], fake: FakeX) -> None:
    channel = make(timeout=0.5)
    texts = [repr(channel), str(channel)]
    texts += fault_texts(fake, {
        "create": lambda kind: channel.publish(_request(text=f"{kind} {LINK}")),
    })
    fake.fail_next("revoked")
    texts += raised(channel.whoami, AuthFailed)
    _assert_no_secrets(*texts)


# --- scripted answers the fault switches do not cover ------------------------------


def test_missing_write_permission_fails_auth(channel: XChannel, fake: FakeX) -> None:
    fake.read_only = True  # the app has Read permission only
    assert channel.whoami() == f"@{fake.username} (id {fake.user_id})"  # reads still work
    with pytest.raises(AuthFailed, match="oauth1 app permissions") as caught:
        channel.publish(_request())
    assert caught.value.http_status == 403
    assert fake.posts == []


def test_unreadable_success_answer_is_ambiguous(channel: XChannel, fake: FakeX) -> None:
    channel.whoami()  # the account is read before a post; here only the post's answer is bad
    fake.handle = lambda request: Reply(  # type: ignore[method-assign]
        201, "<html>ok</html>", content_type="text/html")
    with pytest.raises(Ambiguous) as caught:
        channel.publish(_request())
    assert caught.value.http_status == 201


def test_a_rate_limit_on_the_account_read_stops_the_post_before_it_is_sent(
        channel: XChannel, fake: FakeX) -> None:
    fake.fail_next("429", on="read")
    with pytest.raises(RateLimited):
        channel.publish(_request())
    assert fake.posts == [] and fake.requests_to("POST", "/2/tweets") == []


# --- out of credit (issue 11) -------------------------------------------------------


def test_credits_depleted_blocks_the_account_with_an_editors_message(
        channel: XChannel, fake: FakeX) -> None:
    fake.credits_depleted = True
    with pytest.raises(AccountBlocked) as caught:
        channel.publish(_request())
    assert type(caught.value) is AccountBlocked
    assert str(caught.value) == ("X credits depleted: add credits, "
                                 "then `publisher resume --channel x`")
    assert caught.value.http_status == 402
    assert fake.posts == []
    # `publisher check` reads the account: it says the same.
    with pytest.raises(AccountBlocked, match="X credits depleted"):
        channel.whoami()
    fake.credits_depleted = False
    assert channel.publish(_request()).remote_id == fake.posts[0].id


def test_credits_depleted_at_the_image_upload_stops_before_the_post(
        channel: XChannel, fake: FakeX, images: FileServer) -> None:
    channel.whoami()  # the account was read while credits were left
    fake.credits_depleted = True
    with pytest.raises(AccountBlocked):
        channel.publish(_request(image=Image(images.url("/photo.png"))))
    assert fake.requests_to("POST", "/2/tweets") == []


@pytest.mark.parametrize("body", [
    pytest.param({"title": "Payment Required", "detail": "credits depleted", "status": 402,
                  "type": "https://api.x.com/2/problems/credits-depleted"},
                 id="api.x.com-credits-depleted"),
    pytest.param({"title": "CreditsDepleted", "detail": "Your enrolled account does not have "
                  "any credits"}, id="title-only"),
])
def test_other_shapes_of_credits_depleted(channel: XChannel, fake: FakeX,
                                          body: dict[str, object]) -> None:
    channel.whoami()
    fake.handle = lambda request: Reply(402, body)  # type: ignore[method-assign]
    with pytest.raises(AccountBlocked, match=r"^X credits depleted: add credits, then "
                       r"`publisher resume --channel x`$"):
        channel.publish(_request())


def test_any_other_402_blocks_the_account_saying_what_x_said(channel: XChannel,
                                                             fake: FakeX) -> None:
    channel.whoami()
    fake.handle = lambda request: Reply(  # type: ignore[method-assign]
        402, {"title": "Payment Required", "status": 402, "type": "about:blank",
              "detail": "Your monthly spending limit has been reached."})
    with pytest.raises(AccountBlocked) as caught:
        channel.publish(_request())
    message = str(caught.value)
    assert "Your monthly spending limit has been reached." in message
    assert "402" in message and message.endswith("`publisher resume --channel x`")
    assert caught.value.http_status == 402


# --- the fake counts length as X does, not as we do -----------------------------------


def test_a_post_over_280_for_x_is_refused_with_xs_answer(channel: XChannel,
                                                         fake: FakeX) -> None:
    # 🐻‍❄️ is newer than twitter-text's emoji pattern: X counts it 2 + 1 + 2.
    text = "🐻‍❄️" * 57
    assert twitter_text_reference.weighted_length(text) == 285
    assert length_rule("x").count(text) == 285  # the planner would have shortened it
    with pytest.raises(Permanent) as caught:
        channel.publish(_request(text=text, link=None))
    assert caught.value.http_status == 400
    assert "Your Tweet text is too long" in str(caught.value)
    assert fake.posts == []


def test_a_post_of_exactly_280_for_x_goes_out(channel: XChannel, fake: FakeX) -> None:
    text = "a" + "🐻‍❄️" * 51 + " " + LINK
    assert twitter_text_reference.weighted_length(text) == 1 + 255 + 1 + 23
    assert length_rule("x").count(text) == 280
    channel.publish(_request(text=text))
    assert [p.text for p in fake.posts] == [text]


# --- answers X really sent (tests/data/recorded/x/README.md) ---------------------------


def _recorded(name: str) -> bytes:
    return (RECORDED / name).read_bytes()


def test_recorded_users_me_and_create_tweet_are_read(channel: XChannel, fake: FakeX) -> None:
    fake.recorded[("GET", "/2/users/me")] = (200, _recorded("tweepy/users_me.200.json"))
    fake.recorded[("POST", "/2/tweets")] = (201, _recorded("tweepy/create_tweet.201.json"))
    assert channel.whoami() == "@TweepyDev (id 1072250532645998596)"
    result = channel.publish(_request(text="Test Tweet", link=None))
    assert result.remote_id == "1456012973835788293"
    assert result.remote_url == "https://x.com/TweepyDev/status/1456012973835788293"
    assert result.http_status == 201


def test_recorded_invalid_request_is_permanent_with_xs_words(channel: XChannel,
                                                             fake: FakeX) -> None:
    channel.whoami()
    raw = _recorded("python-twitter/invalid_request.400.json")
    fake.handle = lambda request: Reply(400, raw)  # type: ignore[method-assign]
    with pytest.raises(Permanent) as caught:
        channel.publish(_request())
    assert caught.value.http_status == 400
    assert str(caught.value) == (
        "post: X refused it (400): One or more parameters to your request was invalid. "
        "JSON doesn't match expected schema")


def test_recorded_v2_media_upload_answer_gives_the_media_id(
        channel: XChannel, fake: FakeX, images: FileServer) -> None:
    # An upload answer with the id at the top level (the first v2 answers): the post
    # must carry that id, not go out without its picture.
    raw = _recorded("python-twitter/media_upload_v2.200.json")
    fake.recorded[("POST", "/2/media/upload")] = (200, raw)
    # The recorded answer names a media id the fake did not store: store it as X would.
    fake.media["1726817595448610817"] = StoredMedia(
        "1726817595448610817", "3_1726817595448610817", 1864939, "image/jpeg", "tweet_image")
    result = channel.publish(_request(image=Image(images.url("/photo.png"), alt="a street")))
    assert result.notes == ()
    assert fake.posts[0].media_ids == ["1726817595448610817"]
    assert fake.media["1726817595448610817"].alt_text == "a street"



# --- after the post: delete, read back, reply (issue 13) ---------------------------


def _published(channel: XChannel, text: str = f"Flood warning for the river district {LINK}"
               ) -> str:
    return channel.publish(_request(text=text)).remote_id


def test_delete_removes_the_post_from_x_and_its_timeline(channel: XChannel,
                                                         fake: FakeX) -> None:
    tweet_id = _published(channel)
    assert channel.read_back(tweet_id) == _request().text

    channel.delete(tweet_id)

    assert fake.posts == []
    assert list(fake.deleted) == [tweet_id]
    [call] = fake.requests_to("DELETE", f"/2/tweets/{tweet_id}")
    assert call.status == 200 and call.scope == "delete"
    assert channel.read_back(tweet_id) is None
    assert channel.find(_request()) is None  # the timeline no longer shows it


def test_delete_of_a_post_already_gone_returns_normally(channel: XChannel,
                                                        fake: FakeX) -> None:
    tweet_id = _published(channel)
    channel.delete(tweet_id)
    channel.delete(tweet_id)  # X: 404 resource-not-found
    assert [r.status for r in fake.requests_to("DELETE", f"/2/tweets/{tweet_id}")] == [200, 404]
    assert len(fake.deleted) == 1


def test_recorded_delete_answer_is_read(channel: XChannel, fake: FakeX) -> None:
    tweet_id = _published(channel)
    fake.recorded[("DELETE", f"/2/tweets/{tweet_id}")] = (
        200, (RECORDED / "tweepy" / "delete_tweet.200.json").read_bytes())
    channel.delete(tweet_id)
    assert fake.posts == []


def test_deleted_false_for_a_post_still_there_is_permanent(channel: XChannel,
                                                          fake: FakeX) -> None:
    tweet_id = _published(channel)
    answer = fake.handle

    def refuse(request: Any) -> Reply:
        if request.method == "DELETE":
            return Reply(200, {"data": {"deleted": False}})
        return answer(request)

    fake.handle = refuse  # type: ignore[method-assign]
    with pytest.raises(Permanent, match="did not delete"):
        channel.delete(tweet_id)
    assert len(fake.posts) == 1


def test_deleted_false_for_a_post_that_is_gone_is_done(channel: XChannel, fake: FakeX) -> None:
    tweet_id = _published(channel)
    answer = fake.handle

    def delete_quietly(request: Any) -> Reply:
        reply = answer(request)
        if request.method == "DELETE":
            return Reply(200, {"data": {"deleted": False}})
        return reply

    fake.handle = delete_quietly  # type: ignore[method-assign]
    channel.delete(tweet_id)
    assert fake.posts == []


DELETE_FAULTS = [*COMMON_FAULTS]


@pytest.mark.parametrize(("kind", "error", "status"), DELETE_FAULTS)
def test_delete_fault_maps_to_taxonomy(channel: XChannel, fake: FakeX, kind: str,
                                       error: type[ChannelError], status: int | None) -> None:
    tweet_id = _published(channel)
    assert_raises_under_fault(fake, "delete", kind, lambda: channel.delete(tweet_id), error, status)


def test_delete_applied_then_reset_is_settled_by_read_back(channel: XChannel,
                                                          fake: FakeX) -> None:
    tweet_id = _published(channel)
    fake.fail_next("reset_after", on="delete")
    with pytest.raises(Ambiguous):
        channel.delete(tweet_id)
    fake.settle()
    assert fake.posts == []  # X applied it; only the answer was lost
    assert channel.read_back(tweet_id) is None  # settled: gone
    channel.delete(tweet_id)  # and a retry is harmless
    assert len(fake.deleted) == 1


def test_delete_reset_before_it_arrived_is_settled_by_read_back(channel: XChannel,
                                                               fake: FakeX) -> None:
    tweet_id = _published(channel)
    fake.fail_next("reset_before", on="delete")
    with pytest.raises(Ambiguous):
        channel.delete(tweet_id)
    assert channel.read_back(tweet_id) == _request().text  # settled: still there
    channel.delete(tweet_id)
    assert fake.posts == []


def test_delete_rate_limit_waits_for_xs_reset(channel: XChannel, fake: FakeX) -> None:
    tweet_id = _published(channel)
    fake.fail_next("429", on="delete")
    with pytest.raises(RateLimited) as caught:
        channel.delete(tweet_id)
    assert fake.rate_limit_reset is not None
    assert caught.value.until == datetime.fromtimestamp(fake.rate_limit_reset, UTC)
    assert len(fake.posts) == 1


def test_delete_limit_of_50_per_15_minutes_is_enforced(channel: XChannel,
                                                       fake: FakeX) -> None:
    tweet_id = _published(channel)
    now = datetime.now(UTC).timestamp()
    fake.delete_times = [now - 600 + i for i in range(50)]  # 50 deletes in the window
    with pytest.raises(RateLimited) as caught:
        channel.delete(tweet_id)
    # X's window reopens when the oldest of the 50 is 15 minutes old.
    expected = datetime.fromtimestamp(now - 600 + 900, UTC)
    assert abs((caught.value.until - expected).total_seconds()) <= 2
    assert len(fake.posts) == 1


@pytest.mark.parametrize(("setup", "error"), [
    ("revoked", AuthFailed), ("read_only", AuthFailed), ("credits_depleted", AccountBlocked),
])
def test_delete_refused_for_the_account(channel: XChannel, fake: FakeX, setup: str,
                                        error: type[ChannelError]) -> None:
    tweet_id = _published(channel)
    setattr(fake, setup, True)
    with pytest.raises(error):
        channel.delete(tweet_id)
    assert len(fake.posts) == 1


def test_read_back_undoes_xs_escaping_and_tco_links(channel: XChannel, fake: FakeX,
                                                   images: FileServer) -> None:
    text = f"Road closed: Main St & 5th <until Friday> {LINK}"
    tweet_id = channel.publish(_request(text=text, image=Image(images.url("/photo.png")))
                               ).remote_id
    assert "t.co" in fake.posts[0].display_text
    assert channel.read_back(tweet_id) == text


def test_read_back_of_an_unknown_post_is_none(channel: XChannel, fake: FakeX) -> None:
    assert channel.read_back("1800000000000009999") is None
    [call] = fake.requests_to("GET", "/2/tweets/1800000000000009999")
    assert call.status == 200  # X's partial-error answer, not a 404


def test_read_back_of_a_404_is_none(channel: XChannel, fake: FakeX) -> None:
    fake.handle = lambda request: Reply(  # type: ignore[method-assign]
        404, {"title": "Not Found Error", "detail": "Could not find tweet", "status": 404,
              "type": "https://api.twitter.com/2/problems/resource-not-found"})
    assert channel.read_back("1") is None


def test_read_back_of_an_answer_without_post_or_not_found_is_transient(
        channel: XChannel, fake: FakeX) -> None:
    fake.handle = lambda request: Reply(  # type: ignore[method-assign]
        200, {"errors": [{"title": "Authorization Error", "type":
                          "https://api.twitter.com/2/problems/not-authorized-for-resource",
                          "detail": "Sorry, you are not authorized to see the Tweet"}]})
    with pytest.raises(Transient, match="not authorized"):
        channel.read_back("1")


@pytest.mark.parametrize(("kind", "error", "status"), [
    ("500", Transient, 500), ("503", Transient, 503),
    ("reset_before", Transient, None), ("reset_after", Transient, None),
    ("429", RateLimited, 429),
])
def test_read_back_fault_maps_to_taxonomy(channel: XChannel, fake: FakeX, kind: str,
                                          error: type[ChannelError],
                                          status: int | None) -> None:
    tweet_id = _published(channel)
    assert_raises_under_fault(fake, "read", kind, lambda: channel.read_back(tweet_id), error,
                              status)


def test_reply_is_a_post_in_reply_to_the_original(channel: XChannel, fake: FakeX) -> None:
    tweet_id = _published(channel)
    note = _request(text=f"Correction: the warning covers the east bank only. {LINK}")
    result = channel.reply(tweet_id, note)
    original, correction = fake.posts
    assert result.remote_id == correction.id
    assert result.remote_url == f"https://x.com/{fake.username}/status/{correction.id}"
    assert correction.in_reply_to == original.id == tweet_id
    assert correction.text == note.text


def test_reply_to_a_deleted_post_is_permanent_with_xs_words(channel: XChannel,
                                                            fake: FakeX) -> None:
    tweet_id = _published(channel)
    channel.delete(tweet_id)
    with pytest.raises(Permanent, match="deleted or not visible") as caught:
        channel.reply(tweet_id, _request(text="Correction: east bank only."))
    assert caught.value.http_status == 403


@pytest.mark.parametrize(("kind", "error", "status"), COMMON_FAULTS)
def test_reply_fault_maps_to_taxonomy(channel: XChannel, fake: FakeX, kind: str,
                                      error: type[ChannelError], status: int | None) -> None:
    tweet_id = _published(channel)
    fake.fail_next(kind)
    with pytest.raises(error) as caught:
        channel.reply(tweet_id, _request(text="Correction: east bank only."))
    assert type(caught.value) is error
    assert caught.value.http_status == status


def test_reply_applied_then_reset_is_found_not_sent_twice(channel: XChannel,
                                                          fake: FakeX) -> None:
    tweet_id = _published(channel)
    note = _request(text="Correction: east bank only.", link=None)
    fake.fail_next("reset_after")
    with pytest.raises(Ambiguous):
        channel.reply(tweet_id, note)
    fake.settle()
    found = channel.find(note)
    assert found is not None and found.remote_id == fake.posts[-1].id
    again = channel.reply(tweet_id, _request(text=note.text, link=None, after_ambiguous=True))
    assert again.remote_id == found.remote_id
    assert len(fake.posts) == 2


def test_secrets_never_in_after_post_messages(make: Callable[..., XChannel],
                                              fake: FakeX) -> None:
    channel = make(timeout=0.5)
    tweet_id = _published(channel)
    texts = fault_texts(fake, {
        "delete": lambda kind: channel.delete(tweet_id),
        "read": lambda kind: channel.read_back(tweet_id),
        "create": lambda kind: channel.reply(tweet_id, _request(text=f"Correction {kind}")),
    }, clear=True)
    fake.read_only = True
    texts += raised(lambda: channel.delete(tweet_id), AuthFailed)
    _assert_no_secrets(*texts)


def test_retraction_run_under_30_percent_faults_deletes_each_post_once(
        channel: XChannel, fake: FakeX) -> None:
    ids = [_published(channel, f"Story {i} {LINK}/{i}") for i in range(40)]
    keep = ids[::5]  # not asked for: must survive
    doomed = [i for i in ids if i not in keep]
    fake.fault_rate(0.3, RUN_FAULTS, seed=13, on="any")
    report = retract(channel, doomed)
    fake.clear_faults()
    fake.settle()
    assert set(fake.deleted) == set(doomed)
    assert [t.id for t in fake.posts] == keep
    assert len(fake.delete_times) == len(doomed)  # each applied exactly once
    assert report.ambiguous > 0 and report.settled_gone > 0 and report.settled_still_there > 0
