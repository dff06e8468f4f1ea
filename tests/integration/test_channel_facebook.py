"""FacebookChannel through the real facebook-sdk against FakeGraph over HTTP on 127.0.0.1."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from PIL import Image as PILImage

from publisher.channels import make_channel
from publisher.channels.base import ChannelSpec
from publisher.channels.facebook import FacebookChannel
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
from tests.fakes.fakehttp import FileServer, Reply
from tests.fakes.graph_server import FakeGraph

TOKEN = "EAAGpage-TOKEN-5c1d9e2f7a"
SECRETS = {"page_token": TOKEN}
PAGE_ID = "1234"
LINK = "https://news.example.org/2025/06/flood-warning"
TEXT = "Flood warning for the river district"


def _png() -> bytes:
    out = io.BytesIO()
    PILImage.new("RGB", (64, 48), (30, 30, 200)).save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def images() -> Iterator[FileServer]:
    with FileServer({"/photo.png": (_png(), "image/png")}) as site:
        yield site  # type: ignore[misc]


@pytest.fixture
def fake() -> Iterator[FakeGraph]:
    server = FakeGraph(page_id=PAGE_ID, page_token=TOKEN, slow_seconds=30)
    with server:
        yield server
        server.release_slow()
    assert not server.errors, server.errors[0]


@pytest.fixture
def make(fake: FakeGraph) -> Iterator[Callable[..., FacebookChannel]]:
    made: list[FacebookChannel] = []

    def build(*, timeout: float = 5.0, base_url: str | None = None,
              secrets: dict[str, str] | None = None, **options: object) -> FacebookChannel:
        options.setdefault("page_id", PAGE_ID)
        spec = ChannelSpec("facebook", "facebook", secrets=secrets or SECRETS, options=options,
                           base_url=base_url or fake.base_url, timeout=timeout)
        channel = make_channel(spec)
        assert isinstance(channel, FacebookChannel)
        made.append(channel)
        return channel

    yield build
    for channel in made:
        channel.close()


@pytest.fixture
def channel(make: Callable[..., FacebookChannel]) -> FacebookChannel:
    return make()


def _request(text: str = TEXT, *, link: str | None = LINK, image: Image | None = None,
             after_ambiguous: bool = False) -> PublishRequest:
    return PublishRequest(post_id=7, idempotency_key="k-7", text=text, link=link, image=image,
                          title="Flood warning", after_ambiguous=after_ambiguous)


# --- configuration -----------------------------------------------------------------


def test_page_id_is_required() -> None:
    with pytest.raises(ConfigError) as caught:
        FacebookChannel(ChannelSpec("fb", "facebook", secrets=SECRETS))
    assert caught.value.problems == ["channel 'fb': options.page_id is required"]


@pytest.mark.parametrize(("options", "key"), [
    ({"post_as": "story"}, "post_as"),
    ({"graph_version": "latest"}, "graph_version"),
])
def test_bad_options_are_config_errors(options: dict[str, str], key: str) -> None:
    with pytest.raises(ConfigError, match=f"options.{key}"):
        FacebookChannel(ChannelSpec("fb", "facebook", secrets=SECRETS,
                                    options={"page_id": PAGE_ID, **options}))


# --- publishing --------------------------------------------------------------------


def test_publish_to_feed_with_link(channel: FacebookChannel, fake: FakeGraph) -> None:
    result = channel.publish(_request())

    assert channel.delivery is DeliveryClass.RECONCILABLE
    [post] = fake.posts
    assert (post.message, post.link) == (TEXT, LINK)
    assert result.remote_id == post.id
    assert result.remote_url == f"https://www.facebook.com/{post.id}"
    assert result.http_status == 200
    assert fake.versions == {"v23.0"}
    assert all(r.auth for r in fake.requests)


def test_graph_version_option(make: Callable[..., FacebookChannel], fake: FakeGraph) -> None:
    make(graph_version="21.0").publish(_request())
    assert fake.versions == {"v21.0"}


def test_publish_photo_with_caption_and_alt_text(make: Callable[..., FacebookChannel],
                                                 fake: FakeGraph, images: FileServer) -> None:
    channel = make(post_as="photos")
    image = Image(images.url("/photo.png"), alt="A flooded street")
    result = channel.publish(_request(image=image))

    [post] = fake.posts
    assert post.photo_url == image.url
    assert post.photo_bytes == len(_png())
    assert post.alt_text == "A flooded street"
    assert post.message == f"{TEXT}\n\n{LINK}"
    assert result.remote_id == post.id
    assert result.notes == ()
    assert len(images.requests) == 1  # Facebook fetched it, not us


def test_photo_without_image_goes_to_feed(make: Callable[..., FacebookChannel],
                                          fake: FakeGraph) -> None:
    make(post_as="photos").publish(_request())
    assert fake.posts[0].link == LINK
    assert fake.posts[0].photo_id is None


def test_image_that_404s_posts_to_feed_with_a_note(make: Callable[..., FacebookChannel],
                                                   fake: FakeGraph, images: FileServer) -> None:
    channel = make(post_as="photos")
    result = channel.publish(_request(image=Image(images.url("/gone.png"))))
    [post] = fake.posts
    assert post.photo_id is None and post.link == LINK
    assert result.remote_id == post.id
    assert len(result.notes) == 1
    assert result.notes[0].startswith("image skipped: Facebook could not use the image")
    assert "324" in result.notes[0]


# --- faults ------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "error", "status"), COMMON_FAULTS)
def test_fault_maps_to_taxonomy(channel: FacebookChannel, fake: FakeGraph, kind: str,
                                error: type[ChannelError], status: int | None) -> None:
    assert_fault_maps(channel, fake, _request(), kind, error, status)


def test_rate_limit_until_is_the_announced_regain_time(channel: FacebookChannel,
                                                       fake: FakeGraph) -> None:
    fake.fail_next("429")
    with pytest.raises(RateLimited) as caught:
        channel.publish(_request())
    assert fake.rate_limit_reset is not None
    announced = datetime.fromtimestamp(fake.rate_limit_reset, UTC)
    # Graph says "in N minutes", not when: both sides add it to their own clock.
    assert abs(caught.value.until - announced) < timedelta(seconds=5)
    assert "(#32) Page request limit reached" in str(caught.value)
    assert fake.posts == []


def test_rate_limit_without_usage_header_waits_an_hour(channel: FacebookChannel,
                                                       fake: FakeGraph) -> None:
    before = datetime.now(UTC)
    # Graph's own "(#4) Application request limit reached", scripted without usage headers.
    fake.handle = lambda request: fake.error(400, 4, "(#4) Application request limit reached")
    with pytest.raises(RateLimited) as caught:
        channel.publish(_request())
    assert before + timedelta(minutes=59) < caught.value.until
    assert caught.value.until < datetime.now(UTC) + timedelta(minutes=61)


def test_timeout_applies_and_is_ambiguous(make: Callable[..., FacebookChannel],
                                          fake: FakeGraph) -> None:
    channel = make(timeout=0.5)
    fake.fail_next("slow")  # the fake answers after 30 s (or when released)
    with pytest.raises(Ambiguous) as caught:
        channel.publish(_request())
    assert fake.posts == []  # the client gave up before the fake answered
    assert "ReadTimeout" in str(caught.value)
    fake.release_slow()
    fake.settle()
    found = channel.find(_request())
    assert found is not None and found.remote_id == fake.posts[0].id


def test_connection_refused_is_transient(make: Callable[..., FacebookChannel]) -> None:
    closed = FakeGraph()
    with closed:
        url = closed.base_url
    with pytest.raises(Transient, match="could not connect"):
        make(base_url=url).publish(_request())


def test_bad_parameter_is_permanent_with_facebooks_message(channel: FacebookChannel) -> None:
    with pytest.raises(Permanent) as caught:
        channel.publish(_request(text="", link=None))
    assert "(#100) Missing message or attachment" in str(caught.value)
    assert caught.value.http_status == 400


# --- reconciliation ----------------------------------------------------------------


def test_reset_after_then_find_finds_it(channel: FacebookChannel, fake: FakeGraph) -> None:
    fake.fail_next("reset_after")
    with pytest.raises(Ambiguous):
        channel.publish(_request())
    fake.settle()
    found = channel.find(_request())
    assert found is not None
    assert found.remote_id == fake.posts[0].id
    assert found.remote_url == fake.posts[0].permalink_url


def test_reset_before_then_find_finds_nothing(channel: FacebookChannel,
                                              fake: FakeGraph) -> None:
    fake.fail_next("reset_before")
    with pytest.raises(Ambiguous):
        channel.publish(_request())
    fake.settle()
    assert fake.posts == []
    assert channel.find(_request()) is None


def test_find_matches_link_canonically_and_exact_message(channel: FacebookChannel,
                                                         fake: FakeGraph) -> None:
    channel.publish(_request(link=LINK + "/?utm_source=facebook"))
    channel.publish(_request(text="No link here", link=None))
    by_link = channel.find(_request(text="other words", link=LINK))
    assert by_link is not None and by_link.remote_id == fake.posts[0].id
    by_text = channel.find(_request(text="No link here", link=None))
    assert by_text is not None and by_text.remote_id == fake.posts[1].id
    assert channel.find(_request(text="Something else", link=LINK + "-2")) is None


def test_find_falls_back_to_feed(channel: FacebookChannel, fake: FakeGraph) -> None:
    channel.publish(_request())
    fake.refused_edges.add("published_posts")
    found = channel.find(_request())
    assert found is not None and found.remote_id == fake.posts[0].id
    paths = [r.path for r in fake.requests if r.method == "GET"]
    assert paths == [f"/v23.0/{PAGE_ID}/published_posts", f"/v23.0/{PAGE_ID}/feed"]


def test_duplicate_after_ambiguous_returns_the_earlier_post(channel: FacebookChannel,
                                                            fake: FakeGraph) -> None:
    fake.fail_next("reset_after")
    with pytest.raises(Ambiguous):
        channel.publish(_request())
    fake.settle()
    result = channel.publish(_request(after_ambiguous=True))
    assert len(fake.posts) == 1
    assert result.remote_id == fake.posts[0].id
    assert any("duplicate" in note for note in result.notes)


def test_duplicate_without_ambiguity_is_permanent(channel: FacebookChannel,
                                                  fake: FakeGraph) -> None:
    channel.publish(_request())
    with pytest.raises(Permanent, match="duplicate"):
        channel.publish(_request())
    assert len(fake.posts) == 1


# --- credentials -------------------------------------------------------------------


def test_whoami(channel: FacebookChannel) -> None:
    assert channel.whoami() == f"Riverside Ledger (page {PAGE_ID})"


def test_whoami_with_another_pages_token(make: Callable[..., FacebookChannel]) -> None:
    with pytest.raises(AuthFailed, match="not a Page token for page 999"):
        make(page_id="999").whoami()


def test_revoked_token_fails_auth(channel: FacebookChannel, fake: FakeGraph) -> None:
    fake.fail_next("revoked")
    with pytest.raises(AuthFailed) as caught:
        channel.publish(_request())
    assert "190" in str(caught.value)
    with pytest.raises(AuthFailed):
        channel.whoami()
    with pytest.raises(AuthFailed):
        channel.find(_request())


def test_wrong_token_fails_auth(make: Callable[..., FacebookChannel]) -> None:
    with pytest.raises(AuthFailed, match="Invalid OAuth access token"):
        make(secrets={"page_token": "EAAG-not-the-right-one"}).whoami()


def test_secrets_never_in_messages_or_repr(make: Callable[..., FacebookChannel],
                                           fake: FakeGraph) -> None:
    channel = make(timeout=0.5)
    texts = [repr(channel), str(channel)]
    texts += fault_texts(fake, {
        "any": lambda kind: channel.publish(_request(text=f"{kind} {TEXT}")),
        "read": lambda kind: channel.find(_request()),
    })
    fake.fail_next("revoked")
    texts += raised(channel.whoami, AuthFailed)
    closed = FakeGraph()
    with closed:
        url = closed.base_url
    texts += raised(make(base_url=url).whoami, Transient)
    for text in texts:
        assert TOKEN not in text


# --- error codes the fault switches do not cover ------------------------------------


@pytest.mark.parametrize(("code", "transient", "error", "wait"), [
    (1, None, Transient, None),
    (2, True, Transient, None),
    (9004, True, Transient, None),  # any code Facebook marks is_transient
    (10, None, AuthFailed, None),
    (200, None, AuthFailed, None),
    (102, None, AuthFailed, None),
    (3, None, AuthFailed, None),  # "API Method": the app lacks a capability or permission
    (4, None, RateLimited, timedelta(hours=1)),
    (17, None, RateLimited, timedelta(hours=1)),
    (341, None, RateLimited, timedelta(minutes=15)),  # "Application limit reached"
    (613, None, RateLimited, timedelta(hours=1)),
    (368, None, RateLimited, timedelta(hours=24)),
    (80001, None, RateLimited, timedelta(minutes=15)),
    (100, None, Permanent, None),
    (1609005, None, Permanent, None),
])
def test_graph_error_codes(channel: FacebookChannel, fake: FakeGraph, code: int,
                           transient: bool | None, error: type[ChannelError],
                           wait: timedelta | None) -> None:
    status = 500 if code in (1, 2) else 400
    fake.handle = lambda request: fake.error(  # type: ignore[method-assign]
        status, code, f"(#{code}) scripted", transient=transient)
    before = datetime.now(UTC)
    with pytest.raises(error) as caught:
        channel.publish(_request())
    assert type(caught.value) is error
    assert f"(#{code}) scripted" in str(caught.value)
    assert "fbtrace_id" in str(caught.value)
    assert caught.value.http_status == status
    if wait is not None:
        assert isinstance(caught.value, RateLimited)
        assert before + wait <= caught.value.until <= datetime.now(UTC) + wait


def test_unreadable_success_answer_is_ambiguous(channel: FacebookChannel,
                                                fake: FakeGraph) -> None:
    fake.handle = lambda request: Reply(  # type: ignore[method-assign]
        200, "<html>ok</html>", content_type="text/html")
    with pytest.raises(Ambiguous) as caught:
        channel.publish(_request())
    assert caught.value.http_status == 200


def test_answer_without_content_type_is_handled(channel: FacebookChannel,
                                                fake: FakeGraph) -> None:
    fake.handle = lambda request: Reply(502, None)  # type: ignore[method-assign]
    with pytest.raises(Transient) as caught:
        channel.publish(_request())
    assert caught.value.http_status == 502


# --- what the stricter FakeGraph plays (Graph "Handling Errors", Pages API "Posts") --------


@pytest.mark.parametrize(("kind", "code"), [
    ("429", 32), ("429_app", 4), ("429_user", 17), ("429_613", 613), ("429_341", 341),
])
def test_every_throttle_code_is_a_rate_limit(channel: FacebookChannel, fake: FakeGraph,
                                             kind: str, code: int) -> None:
    fake.fail_next(kind)
    with pytest.raises(RateLimited) as caught:
        channel.publish(_request())
    assert f"code {code}" in str(caught.value)
    assert caught.value.until > datetime.now(UTC)
    assert fake.posts == []


def test_expired_token_fails_auth_and_says_so(channel: FacebookChannel,
                                              fake: FakeGraph) -> None:
    fake.expired = True
    for call in (lambda: channel.publish(_request()), channel.whoami):
        with pytest.raises(AuthFailed) as caught:
            call()
        assert "Session has expired" in str(caught.value)
        assert "code 190/463" in str(caught.value)


def test_missing_manage_posts_permission_pauses_the_channel(channel: FacebookChannel,
                                                            fake: FakeGraph) -> None:
    fake.missing_permissions = {"pages_manage_posts"}
    with pytest.raises(AuthFailed) as caught:
        channel.publish(_request())
    assert "pages_manage_posts" in str(caught.value)
    assert caught.value.http_status == 403
    assert fake.posts == []


def test_look_up_without_read_engagement_permission_pauses_the_channel(
        channel: FacebookChannel, fake: FakeGraph) -> None:
    """Reading the Page's posts back needs pages_read_engagement; without it the
    look-up after a timeout must pause the channel (an editor must grant it),
    not fail the post as if the post itself had been refused."""
    fake.missing_permissions = {"pages_read_engagement"}
    with pytest.raises(AuthFailed) as caught:
        channel.find(_request())
    assert "pages_read_engagement" in str(caught.value)


def test_picture_facebook_cannot_take_posts_to_feed_with_a_note(
        make: Callable[..., FacebookChannel], fake: FakeGraph) -> None:
    """Page Photos takes JPEG/PNG/GIF/BMP/TIFF up to 4 MB; an SVG is refused (324)."""
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>'
    with FileServer({"/logo.svg": (svg, "image/svg+xml")}) as site:
        result = make(post_as="photos").publish(
            _request(image=Image(site.url("/logo.svg"), alt="Logo")))
    [post] = fake.posts
    assert post.photo_id is None and post.link == LINK
    assert "324" in result.notes[0]


def test_check_warns_when_the_graph_version_is_no_longer_usable(
        make: Callable[..., FacebookChannel], fake: FakeGraph) -> None:
    """Platform Versioning: Facebook serves a call to a retired version with the
    oldest usable one and says which in facebook-api-version."""
    fake.oldest_version = "v22.0"
    old = make(graph_version="v19.0")
    assert old.whoami() == f"Riverside Ledger (page {PAGE_ID})"
    [warning] = old.check_warnings()
    assert "v19.0" in warning and "v22.0" in warning and "graph_version" in warning
    current = make(graph_version="v23.0")
    current.whoami()
    assert current.check_warnings() == []
