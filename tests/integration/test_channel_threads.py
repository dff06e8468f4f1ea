"""ThreadsChannel through real httpx against FakeThreads over HTTP on 127.0.0.1."""

from __future__ import annotations

import json
import stat
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from publisher.channels.base import ChannelSpec
from publisher.channels.threads import ThreadsChannel
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
from tests.fakes.after_post import RUN_FAULTS, assert_raises_under_fault, retract
from tests.fakes.conformance import fault_texts, raised
from tests.fakes.fakehttp import Reply, Request
from tests.fakes.threads_server import FakeThreads
from tests.shipped import TEMPLATES as SHIPPED_TEMPLATES

TOKEN = "THQWJthreads-TOKEN-9f8e7d6c5b"
SECRETS = {"access_token": TOKEN}
USER_ID = "17841400000000001"
LINK = "https://news.example.org/2025/06/flood-warning"
TEXT = f"Flood warning for the river district\n\n{LINK}"


@pytest.fixture
def fake() -> Iterator[FakeThreads]:
    server = FakeThreads(user_id=USER_ID, access_token=TOKEN, slow_seconds=30)
    with server:
        yield server
        server.release_slow()
    assert not server.errors, server.errors[0]


@pytest.fixture
def make(fake: FakeThreads, tmp_path: Path) -> Iterator[Callable[..., ThreadsChannel]]:
    made: list[ThreadsChannel] = []

    def build(*, timeout: float = 5.0, base_url: str | None = None,
              secrets: dict[str, str] | None = None, **options: object) -> ThreadsChannel:
        options.setdefault("session_dir", str(tmp_path / "var"))
        options.setdefault("container_wait", 0.3)
        spec = ChannelSpec("threads", "threads", secrets=secrets or SECRETS, options=options,
                           base_url=base_url or fake.base_url, timeout=timeout)
        channel = ThreadsChannel(spec)
        made.append(channel)
        return channel

    yield build
    for channel in made:
        channel.close()


@pytest.fixture
def channel(make: Callable[..., ThreadsChannel]) -> ThreadsChannel:
    return make()


class Checkpoints:
    """What the dispatcher's store does with ``save_checkpoint``: keep the last value."""

    def __init__(self, fake: FakeThreads) -> None:
        self.fake = fake
        self.saved: list[str] = []
        self.posts_when_saved: list[int] = []

    def __call__(self, value: str) -> None:
        self.saved.append(value)
        self.posts_when_saved.append(len(self.fake.posts))

    @property
    def last(self) -> str | None:
        return self.saved[-1] if self.saved else None


def _request(text: str = TEXT, *, link: str | None = LINK, image: Image | None = None,
             after_ambiguous: bool = False, checkpoint: str | None = None,
             save: Callable[[str], None] | None = None) -> PublishRequest:
    return PublishRequest(post_id=7, idempotency_key="k-7", text=text, link=link, image=image,
                          title="Flood warning", after_ambiguous=after_ambiguous,
                          checkpoint=checkpoint, save_checkpoint=save)


# --- configuration -----------------------------------------------------------------


def test_bad_api_version_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"options\.api_version"):
        ThreadsChannel(ChannelSpec("t", "threads", secrets=SECRETS,
                                   options={"api_version": "latest"}))


def test_api_version_option(make: Callable[..., ThreadsChannel], fake: FakeThreads) -> None:
    make(api_version="1.1").publish(_request())
    assert fake.versions == {"v1.1"}


# --- publishing --------------------------------------------------------------------


def test_publish_text_with_link_attachment(channel: ThreadsChannel, fake: FakeThreads) -> None:
    checkpoints = Checkpoints(fake)
    result = channel.publish(_request(save=checkpoints))

    assert channel.delivery is DeliveryClass.RECONCILABLE
    [post] = fake.posts
    [container] = fake.containers.values()
    assert (container.media_type, container.text, container.link_attachment) == (
        "TEXT", TEXT, LINK)
    assert (post.text, post.link_attachment_url) == (TEXT, LINK)
    assert result.remote_id == post.id
    assert result.remote_url == post.permalink
    assert result.http_status == 200
    # The container id was stored before the publish step.
    assert json.loads(checkpoints.saved[0])["container_id"] == container.id
    assert checkpoints.posts_when_saved == [0]
    assert fake.versions == {"v1.0"}
    assert all(r.auth for r in fake.requests)
    assert [(r.method, r.path) for r in fake.requests if r.scope != "other"][:3] == [
        ("POST", "/v1.0/me/threads"), ("GET", f"/v1.0/{container.id}"),
        ("POST", "/v1.0/me/threads_publish")]


def test_user_id_option(make: Callable[..., ThreadsChannel], fake: FakeThreads) -> None:
    make(user_id=USER_ID).publish(_request())
    first = next(r for r in fake.requests if r.scope != "other")
    assert first.path == f"/v1.0/{USER_ID}/threads"


def test_publish_image(channel: ThreadsChannel, fake: FakeThreads) -> None:
    image = Image("https://cdn.example.org/flood.jpg", alt="A flooded street")
    result = channel.publish(_request(image=image))
    [container] = fake.containers.values()
    assert (container.media_type, container.image_url, container.alt_text) == (
        "IMAGE", image.url, "A flooded street")
    assert container.link_attachment is None
    assert result.remote_id == fake.posts[0].id
    assert result.notes == ()


def test_image_in_progress_is_transient_then_the_same_container_is_published(
        channel: ThreadsChannel, fake: FakeThreads) -> None:
    fake.image_status = "IN_PROGRESS"
    checkpoints = Checkpoints(fake)
    image = Image("https://cdn.example.org/flood.jpg")
    with pytest.raises(Transient, match="still processing the image of container"):
        channel.publish(_request(image=image, save=checkpoints))
    [container] = fake.containers.values()
    container.status = "FINISHED"  # Threads got the image meanwhile
    result = channel.publish(_request(image=image, checkpoint=checkpoints.last,
                                      save=checkpoints))
    assert len(fake.containers) == 1
    assert result.remote_id == fake.posts[0].id
    assert fake.posts[0].container_id == container.id


def test_image_that_fails_goes_out_as_text_with_a_note(channel: ThreadsChannel,
                                                       fake: FakeThreads) -> None:
    fake.image_status = "ERROR"
    result = channel.publish(_request(image=Image("https://cdn.example.org/gone.jpg")))
    [post] = fake.posts
    assert post.image_url is None and post.link_attachment_url == LINK
    assert any(note.startswith("image skipped") for note in result.notes)


def test_with_image_false_posts_text(make: Callable[..., ThreadsChannel],
                                     fake: FakeThreads) -> None:
    make(with_image=False).publish(_request(image=Image("https://cdn.example.org/a.jpg")))
    assert [c.media_type for c in fake.containers.values()] == ["TEXT"]


# --- the checkpoint: no second post after an ambiguous publish ------------------------


def test_reset_after_publish_then_retry_with_checkpoint_publishes_once(
        channel: ThreadsChannel, fake: FakeThreads) -> None:
    checkpoints = Checkpoints(fake)
    fake.fail_next("reset_after")  # threads_publish is stored, the answer is lost
    with pytest.raises(Ambiguous):
        channel.publish(_request(save=checkpoints))
    fake.settle()
    # What the dispatcher does next: reconcile, and retry with the saved checkpoint.
    found = channel.find(_request())
    assert found is not None and found.remote_id == fake.posts[0].id
    result = channel.publish(_request(after_ambiguous=True, checkpoint=checkpoints.last,
                                      save=checkpoints))
    assert len(fake.posts) == 1
    assert len(fake.containers) == 1  # no second container
    assert fake.published_containers() == [fake.posts[0].container_id]
    assert result.remote_id == fake.posts[0].id
    assert result.remote_url == fake.posts[0].permalink
    assert len(fake.requests_to("POST", "/v1.0/me/threads_publish")) == 1


def test_reset_before_publish_then_retry_publishes_the_same_container(
        channel: ThreadsChannel, fake: FakeThreads) -> None:
    checkpoints = Checkpoints(fake)
    fake.fail_next("reset_before")
    with pytest.raises(Ambiguous):
        channel.publish(_request(save=checkpoints))
    fake.settle()
    assert channel.find(_request()) is None
    result = channel.publish(_request(after_ambiguous=True, checkpoint=checkpoints.last,
                                      save=checkpoints))
    [post] = fake.posts
    assert len(fake.containers) == 1
    assert post.container_id == json.loads(checkpoints.saved[0])["container_id"]
    assert result.remote_id == post.id


def test_expired_container_is_replaced(channel: ThreadsChannel, fake: FakeThreads) -> None:
    checkpoints = Checkpoints(fake)
    fake.fail_next("reset_before")
    with pytest.raises(Ambiguous):
        channel.publish(_request(save=checkpoints))
    old = json.loads(checkpoints.last or "")["container_id"]
    fake.expire(old)
    result = channel.publish(_request(checkpoint=checkpoints.last, save=checkpoints))
    assert len(fake.containers) == 2
    assert fake.posts[0].container_id != old
    assert result.remote_id == fake.posts[0].id
    assert any("expired" in note for note in result.notes)


@pytest.mark.parametrize("checkpoint", ["1234567", '{"container_id": "1234567"}'])
def test_unknown_container_in_checkpoint_is_replaced(channel: ThreadsChannel,
                                                     fake: FakeThreads, checkpoint: str) -> None:
    result = channel.publish(_request(checkpoint=checkpoint))
    assert len(fake.posts) == 1 and result.remote_id == fake.posts[0].id


def test_plain_container_id_checkpoint_is_resumed(channel: ThreadsChannel,
                                                  fake: FakeThreads) -> None:
    fake.fail_next("reset_before")
    checkpoints = Checkpoints(fake)
    with pytest.raises(Ambiguous):
        channel.publish(_request(save=checkpoints))
    plain = json.loads(checkpoints.last or "")["container_id"]
    channel.publish(_request(checkpoint=plain))
    assert len(fake.containers) == 1 and len(fake.posts) == 1


def test_in_progress_checkpoint_is_transient(channel: ThreadsChannel,
                                             fake: FakeThreads) -> None:
    fake.image_status = "IN_PROGRESS"
    checkpoints = Checkpoints(fake)
    image = Image("https://cdn.example.org/flood.jpg")
    with pytest.raises(Transient):
        channel.publish(_request(image=image, save=checkpoints))
    with pytest.raises(Transient, match="still processing"):
        channel.publish(_request(image=image, checkpoint=checkpoints.last))
    assert fake.posts == [] and len(fake.containers) == 1


# --- faults ------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "on", "error", "status"), [
    ("500", "create", Transient, 500),
    ("503", "create", Transient, 503),
    ("reset_before", "create", Ambiguous, None),
    ("reset_after", "create", Ambiguous, None),
    ("500", "upload", Transient, 500),
    # A lost answer to the container call: no post can exist, so no reconciling.
    ("reset_after", "upload", Transient, None),
    ("reset_before", "upload", Transient, None),
])
def test_fault_maps_to_taxonomy(channel: ThreadsChannel, fake: FakeThreads, kind: str, on: str,
                                error: type[ChannelError], status: int | None) -> None:
    fake.fail_next(kind, on=on)
    with pytest.raises(error) as caught:
        channel.publish(_request())
    assert type(caught.value) is error
    assert caught.value.http_status == status


def test_rate_limit_waits_an_hour(channel: ThreadsChannel, fake: FakeThreads) -> None:
    before = datetime.now(UTC)
    fake.fail_next("429", on="upload")
    with pytest.raises(RateLimited) as caught:
        channel.publish(_request())
    assert before + timedelta(minutes=59) < caught.value.until
    assert caught.value.until < datetime.now(UTC) + timedelta(minutes=61)
    assert "Application request limit reached" in str(caught.value)
    assert fake.posts == []


def test_timeout_on_publish_is_ambiguous(make: Callable[..., ThreadsChannel],
                                         fake: FakeThreads) -> None:
    channel = make(timeout=0.5)
    fake.fail_next("slow")
    with pytest.raises(Ambiguous) as caught:
        channel.publish(_request())
    assert "ReadTimeout" in str(caught.value)
    fake.release_slow()
    fake.settle()
    found = channel.find(_request())
    assert found is not None and found.remote_id == fake.posts[0].id


def test_connection_refused_is_transient(make: Callable[..., ThreadsChannel]) -> None:
    closed = FakeThreads()
    with closed:
        url = closed.base_url
    with pytest.raises(Transient, match="could not connect"):
        make(base_url=url).publish(_request())


def test_bad_parameter_is_permanent(channel: ThreadsChannel) -> None:
    with pytest.raises(Permanent, match="Param text is required") as caught:
        channel.publish(_request(text="", link=None))
    assert caught.value.http_status == 400


@pytest.mark.parametrize(("code", "transient", "error"), [
    (1, None, Transient),
    (2, True, Transient),
    (9004, True, Transient),
    (4, None, RateLimited),
    (17, None, RateLimited),
    (32, None, RateLimited),
    (613, None, RateLimited),
    (190, None, AuthFailed),
    (10, None, AuthFailed),
    (200, None, AuthFailed),
    (100, None, Permanent),
    (24, None, Permanent),
])
def test_graph_error_codes(channel: ThreadsChannel, fake: FakeThreads, code: int,
                           transient: bool | None, error: type[ChannelError]) -> None:
    fake.handle = lambda request: fake.error(  # type: ignore[method-assign]
        400, code, f"(#{code}) scripted", transient=transient)
    with pytest.raises(error) as caught:
        channel.publish(_request())
    assert type(caught.value) is error
    assert f"(#{code}) scripted" in str(caught.value)


def test_retry_after_header_sets_the_wait(channel: ThreadsChannel, fake: FakeThreads) -> None:
    def limited(request: object) -> object:
        reply = fake.error(429, 4, "(#4) limit")
        reply.headers["Retry-After"] = "120"
        return reply

    fake.handle = limited  # type: ignore[assignment]
    with pytest.raises(RateLimited) as caught:
        channel.publish(_request())
    assert caught.value.until < datetime.now(UTC) + timedelta(seconds=125)


# --- reconciliation ----------------------------------------------------------------


def test_find_matches_link_canonically_and_exact_text(channel: ThreadsChannel,
                                                      fake: FakeThreads) -> None:
    channel.publish(_request(link=LINK + "/?utm_source=threads"))
    channel.publish(_request(text="No link here", link=None))
    by_link = channel.find(_request(text="other words", link=LINK))
    assert by_link is not None and by_link.remote_id == fake.posts[0].id
    assert by_link.remote_url == fake.posts[0].permalink
    by_text = channel.find(_request(text="No link here", link=None))
    assert by_text is not None and by_text.remote_id == fake.posts[1].id
    assert channel.find(_request(text="Something else", link=LINK + "-2")) is None
    listings = [r for r in fake.requests if r.path == "/v1.0/me/threads" and r.method == "GET"]
    assert len(listings) == 3 and {r.scope for r in listings} == {"read"}


# --- credentials -------------------------------------------------------------------


def test_whoami(channel: ThreadsChannel) -> None:
    # A token from the environment, younger than a day: Threads will not refresh it yet.
    assert channel.whoami() == ("@riversideledger (threads; token expiry not known yet: it is "
                                "refreshed once it is a day old)")


def test_whoami_with_another_users_token(make: Callable[..., ThreadsChannel]) -> None:
    with pytest.raises(AuthFailed, match="not to user 999"):
        make(user_id="999").whoami()


def test_revoked_token_fails_auth(channel: ThreadsChannel, fake: FakeThreads) -> None:
    fake.fail_next("revoked")
    with pytest.raises(AuthFailed, match="190"):
        channel.publish(_request())
    with pytest.raises(AuthFailed):
        channel.whoami()
    with pytest.raises(AuthFailed):
        channel.find(_request())


def test_wrong_token_fails_auth(make: Callable[..., ThreadsChannel]) -> None:
    with pytest.raises(AuthFailed, match="Invalid OAuth access token"):
        make(secrets={"access_token": "THQWJ-not-the-right-one"}).whoami()


def test_secrets_never_in_messages_or_repr(make: Callable[..., ThreadsChannel],
                                           fake: FakeThreads) -> None:
    channel = make(timeout=0.5)
    texts = [repr(channel), str(channel)]
    texts += fault_texts(fake, {
        "create": lambda kind: channel.publish(_request(text=f"{kind} create {TEXT}")),
        "upload": lambda kind: channel.publish(_request(text=f"{kind} upload {TEXT}")),
        "read": lambda kind: channel.find(_request()),
    }, clear=True)
    fake.fail_next("revoked")
    texts += raised(channel.whoami, AuthFailed)
    closed = FakeThreads()
    with closed:
        url = closed.base_url
    texts += raised(make(base_url=url).whoami, Transient)
    for text in texts:
        assert TOKEN not in text


def test_plain_429_is_rate_limited(channel: ThreadsChannel, fake: FakeThreads) -> None:
    fake.handle = lambda request: Reply(  # type: ignore[method-assign]
        429, "Too Many Requests", {"Retry-After": "30"}, content_type="text/plain")
    with pytest.raises(RateLimited) as caught:
        channel.publish(_request())
    assert caught.value.until <= datetime.now(UTC) + timedelta(seconds=31)


# --- the length rule: emoji count their UTF-8 bytes ----------------------------------

TEMPLATES = SHIPPED_TEMPLATES


def test_fake_refuses_text_over_500_as_threads_counts_it(channel: ThreadsChannel,
                                                         fake: FakeThreads) -> None:
    text = "🌊" * 130  # 130 code points, 520 UTF-8 bytes
    with pytest.raises(Permanent, match="500 characters"):
        channel.publish(_request(text=text, link=None))
    assert fake.posts == []


def test_emoji_heavy_headline_is_fitted_not_lost(channel: ThreadsChannel,
                                                 fake: FakeThreads) -> None:
    from publisher.render import Renderer, length_rule, render_post
    from publisher.types import ArticleData

    title = " ".join(["Storm 🌊🌧️⚡ update"] * 30)  # 570 code points, 1,170 by Threads' count
    article = ArticleData(guid="1", url=LINK, title=title, categories=("Weather",))
    post = render_post(Renderer([TEMPLATES]), channel_type="threads", template="default",
                       article=article, rule=length_rule("threads"))
    assert post.shortened == ("title",) and post.length <= 500
    result = channel.publish(_request(text=post.text))
    [thread] = fake.posts
    assert thread.text == post.text and result.remote_id == thread.id


# --- containers: published only once FINISHED -----------------------------------------


def test_text_container_is_waited_for_until_finished(make: Callable[..., ThreadsChannel],
                                                     fake: FakeThreads) -> None:
    fake.text_status = "IN_PROGRESS"
    fake.finish_after = 3  # FINISHED at the third status read
    result = make(container_wait=30.0).publish(_request())
    [container] = fake.containers.values()
    assert container.status_reads == 3 and container.status == "PUBLISHED"
    assert result.remote_id == fake.posts[0].id
    publishes = fake.requests_to("POST", "/v1.0/me/threads_publish")
    assert len(publishes) == 1
    reads = [r for r in fake.requests if r.path == f"/v1.0/{container.id}"]
    assert all(r.time <= publishes[0].time for r in reads)  # never published before FINISHED


def test_container_still_in_progress_is_transient_and_resumed(channel: ThreadsChannel,
                                                              fake: FakeThreads) -> None:
    fake.text_status = "IN_PROGRESS"
    checkpoints = Checkpoints(fake)
    with pytest.raises(Transient, match="still processing container"):
        channel.publish(_request(save=checkpoints))
    assert fake.requests_to("POST", "/v1.0/me/threads_publish") == []
    [container] = fake.containers.values()
    assert container.status_reads >= 2  # polled, not given up at once
    container.status = "FINISHED"
    result = channel.publish(_request(checkpoint=checkpoints.last, save=checkpoints))
    assert len(fake.containers) == 1 and result.remote_id == fake.posts[0].id


def test_container_error_is_permanent_with_threads_message(channel: ThreadsChannel,
                                                           fake: FakeThreads) -> None:
    fake.text_status = "ERROR"
    fake.error_message = "UNKNOWN"
    with pytest.raises(Permanent, match=r"could not process container .*UNKNOWN"):
        channel.publish(_request())
    assert fake.posts == []


def test_container_expired_before_publishing_is_transient(channel: ThreadsChannel,
                                                          fake: FakeThreads) -> None:
    fake.text_status = "EXPIRED"
    with pytest.raises(Transient, match="expired before it was published"):
        channel.publish(_request())
    assert fake.posts == []


def test_container_wait_option_is_checked() -> None:
    with pytest.raises(ConfigError, match=r"options\.container_wait"):
        ThreadsChannel(ChannelSpec("t", "threads", secrets=SECRETS,
                                   options={"container_wait": "soon"}))


# --- the token: refreshed before it expires, kept in a 0600 file ----------------------


def _token_files(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "var").glob("threads-*.token"))


def test_old_token_is_refreshed_and_kept_in_a_0600_file(
        make: Callable[..., ThreadsChannel], fake: FakeThreads, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    fake.set_token_age(TOKEN, age_days=40, days_left=20)
    channel = make()
    channel.publish(_request())
    [new] = fake.refreshed
    [path] = _token_files(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text())["access_token"] == new
    # The post itself went out with the refreshed token.
    assert fake.requests_to("POST", "/v1.0/me/threads_publish")
    assert channel.token_days_left() == 59
    assert "valid 59 more days" in channel.whoami()
    # Never in the log.
    assert new not in caplog.text and TOKEN not in caplog.text


def test_stored_token_wins_over_the_environment_while_valid(
        make: Callable[..., ThreadsChannel], fake: FakeThreads, tmp_path: Path) -> None:
    fake.set_token_age(TOKEN, age_days=40, days_left=20)
    make().whoami()
    [new] = fake.refreshed
    # The environment's token expires; a restarted daemon uses the stored one.
    fake.set_token_age(TOKEN, age_days=60, days_left=0)
    again = make()
    again.publish(_request())
    assert fake.refreshed == [new]  # 59 days left: no second refresh
    assert fake.posts and all(r.auth for r in fake.requests)


def test_a_new_environment_token_replaces_the_stored_one(
        make: Callable[..., ThreadsChannel], fake: FakeThreads, tmp_path: Path) -> None:
    fake.set_token_age(TOKEN, age_days=40, days_left=20)
    make().whoami()
    other = "THQWJ-a-new-token-from-the-operator"
    fake.tokens[other] = (fake.clock(), fake.clock() + 60 * 86400)
    channel = make(secrets={"access_token": other})
    assert channel.whoami().endswith("it is refreshed once it is a day old)")


def test_young_token_is_not_refreshed_and_tried_again_later(
        channel: ThreadsChannel, fake: FakeThreads, tmp_path: Path) -> None:
    channel.publish(_request())
    channel.publish(_request(text="Second post", link=None))
    refreshes = fake.requests_to("GET", "/refresh_access_token")
    assert len(refreshes) == 1  # refused (too young), not asked again within the hour
    assert fake.refreshed == [] and _token_files(tmp_path) == []
    assert len(fake.posts) == 2


def test_failed_refresh_never_fails_a_post(make: Callable[..., ThreadsChannel],
                                           fake: FakeThreads) -> None:
    fake.set_token_age(TOKEN, age_days=40, days_left=20)
    serve = fake.handle

    def refresh_fails(request: Request) -> Reply:
        if request.path == "/refresh_access_token":
            return fake.error(500, 2, "An unexpected error has occurred.", transient=True)
        return serve(request)

    fake.handle = refresh_fails  # type: ignore[method-assign]
    channel = make()
    result = channel.publish(_request())
    assert fake.refreshed == [] and result.remote_id == fake.posts[0].id
    assert len(fake.requests_to("GET", "/refresh_access_token")) == 1


def test_expired_token_fails_auth_and_check_says_so(make: Callable[..., ThreadsChannel],
                                                    fake: FakeThreads) -> None:
    fake.set_token_age(TOKEN, age_days=61, days_left=-1)
    channel = make()
    with pytest.raises(AuthFailed, match="Session has expired"):
        channel.whoami()
    assert fake.refreshed == []  # an expired token cannot be refreshed


def test_check_warns_a_week_before_expiry(make: Callable[..., ThreadsChannel],
                                          fake: FakeThreads, tmp_path: Path) -> None:
    fake.set_token_age(TOKEN, age_days=40, days_left=20)
    channel = make()
    channel.whoami()
    assert channel.check_warnings() == []
    # A stored token with five days left that Threads will not refresh any more.
    [path] = _token_files(tmp_path)
    data = json.loads(path.read_text())
    data["expires_at"] = (datetime.now(UTC) + timedelta(days=5, hours=1)).isoformat()
    path.write_text(json.dumps(data))
    later = make()
    # Threads refuses the refresh (to the fake the stored token is a day old at most).
    assert later.token_days_left() == 5
    assert fake.refreshed == [data["access_token"]]
    [warning] = later.check_warnings()
    assert "expires in 5 days" in warning


# --- Meta's published answers (tests/data/recorded/threads/SOURCE.md) -----------------

RECORDED = Path(__file__).resolve().parents[1] / "data" / "recorded" / "threads"


def _recorded(name: str) -> object:
    return json.loads((RECORDED / name).read_text(encoding="utf-8"))


def test_adapter_parses_metas_published_answers(make: Callable[..., ThreadsChannel],
                                                fake: FakeThreads, tmp_path: Path) -> None:
    def published(request: Request) -> Reply:
        path = request.path
        if path == "/refresh_access_token":
            return Reply(200, _recorded("long_lived_token.json"))
        if request.method == "POST" and path.endswith("/threads"):
            return Reply(200, _recorded("create_container.json"))
        if request.method == "POST" and path.endswith("/threads_publish"):
            return Reply(200, _recorded("publish.json"))
        if path.endswith("/me/threads"):
            return Reply(200, _recorded("user_threads.json"))
        if path.endswith("/me"):
            return Reply(200, _recorded("me.json"))
        return Reply(200, _recorded("container_status.json"))  # GET /{container-id}

    fake.handle = published  # type: ignore[method-assign]
    channel = make()
    assert channel.whoami() == ("@string (threads; token valid 59 more days, "
                                "refreshed automatically)")
    assert json.loads(_token_files(tmp_path)[0].read_text())["access_token"] == "string"
    found = channel.find(_request(text="This is a test post", link=None))
    assert found is not None and (found.remote_id, found.remote_url) == ("string", "string")
    result = channel.publish(_request())
    assert result.remote_id == "string"


# --- after the post: delete, read back, reply (issue 13) ------------------------------


def _published(channel: ThreadsChannel, text: str = TEXT) -> str:
    return channel.publish(_request(text=text)).remote_id


def test_delete_removes_the_post_and_the_list_no_longer_shows_it(
        channel: ThreadsChannel, fake: FakeThreads) -> None:
    media_id = _published(channel)
    assert channel.read_back(media_id) == TEXT

    channel.delete(media_id)

    assert fake.posts == []
    assert list(fake.deleted) == [media_id]
    [call] = fake.requests_to("DELETE", f"/v1.0/{media_id}")
    assert call.status == 200 and call.scope == "delete"
    assert channel.read_back(media_id) is None
    assert channel.find(_request()) is None


def test_delete_of_a_post_already_gone_returns_normally(channel: ThreadsChannel,
                                                        fake: FakeThreads) -> None:
    media_id = _published(channel)
    channel.delete(media_id)
    channel.delete(media_id)  # Threads: code 100, subcode 33
    assert [r.status for r in fake.requests_to("DELETE", f"/v1.0/{media_id}")] == [200, 400]
    assert len(fake.deleted) == 1


def test_delete_needs_threads_delete(channel: ThreadsChannel, fake: FakeThreads) -> None:
    media_id = _published(channel)
    fake.scopes.discard("threads_delete")
    with pytest.raises(AuthFailed, match="does not have permission") as caught:
        channel.delete(media_id)
    assert "deleting needs threads_delete" in str(caught.value)
    assert len(fake.posts) == 1


def test_delete_limit_of_100_a_day_is_a_rate_limit(channel: ThreadsChannel,
                                                   fake: FakeThreads) -> None:
    media_id = _published(channel)
    now = fake.clock()
    fake.delete_times = [now - 3600 + i for i in range(100)]
    with pytest.raises(RateLimited, match="User request limit reached"):
        channel.delete(media_id)
    assert len(fake.posts) == 1


def test_success_false_for_a_post_still_there_is_permanent(channel: ThreadsChannel,
                                                          fake: FakeThreads) -> None:
    media_id = _published(channel)
    answer = fake.handle

    def refuse(request: Request) -> Reply:
        if request.method == "DELETE":
            return Reply(200, {"success": False})
        return answer(request)

    fake.handle = refuse  # type: ignore[method-assign]
    with pytest.raises(Permanent, match="did not delete"):
        channel.delete(media_id)


@pytest.mark.parametrize(("kind", "error", "status"), [
    ("500", Transient, 500), ("503", Transient, 503),
    ("reset_before", Ambiguous, None), ("reset_after", Ambiguous, None),
    ("429", RateLimited, 400),
])
def test_delete_fault_maps_to_taxonomy(channel: ThreadsChannel, fake: FakeThreads,
                                       kind: str, error: type[ChannelError],
                                       status: int | None) -> None:
    media_id = _published(channel)
    assert_raises_under_fault(fake, "delete", kind, lambda: channel.delete(media_id), error, status)


def test_delete_applied_then_reset_is_settled_by_read_back(channel: ThreadsChannel,
                                                          fake: FakeThreads) -> None:
    media_id = _published(channel)
    fake.fail_next("reset_after", on="delete")
    with pytest.raises(Ambiguous):
        channel.delete(media_id)
    fake.settle()
    assert fake.posts == []
    assert channel.read_back(media_id) is None
    channel.delete(media_id)
    assert len(fake.deleted) == 1


def test_delete_reset_before_it_arrived_is_settled_by_read_back(channel: ThreadsChannel,
                                                               fake: FakeThreads) -> None:
    media_id = _published(channel)
    fake.fail_next("reset_before", on="delete")
    with pytest.raises(Ambiguous):
        channel.delete(media_id)
    assert channel.read_back(media_id) == TEXT
    channel.delete(media_id)
    assert fake.posts == []


@pytest.mark.parametrize(("kind", "error", "status"), [
    ("500", Transient, 500), ("503", Transient, 503),
    ("reset_before", Transient, None), ("reset_after", Transient, None),
    ("429", RateLimited, 400),
])
def test_read_back_fault_maps_to_taxonomy(channel: ThreadsChannel, fake: FakeThreads,
                                          kind: str, error: type[ChannelError],
                                          status: int | None) -> None:
    media_id = _published(channel)
    assert_raises_under_fault(fake, "read", kind, lambda: channel.read_back(media_id), error,
                              status)


def test_reply_is_a_container_with_reply_to_id(channel: ThreadsChannel,
                                              fake: FakeThreads) -> None:
    media_id = _published(channel)
    saved = Checkpoints(fake)
    note = _request(text="Correction: the warning covers the east bank only.", link=None,
                    save=saved)
    result = channel.reply(media_id, note)
    original, correction = fake.posts
    assert result.remote_id == correction.id
    assert correction.reply_to_id == original.id == media_id
    assert correction.text == note.text
    assert fake.containers[correction.container_id].reply_to_id == media_id
    assert saved.posts_when_saved == [1]  # the checkpoint came before the publish step
    # A reply is not one of the profile's threads: the list shows the original only.
    listed = httpx.get(f"{fake.base_url}/v1.0/me/threads", params={"fields": "id"},
                       headers={"Authorization": f"Bearer {TOKEN}"}).json()["data"]
    assert [p["id"] for p in listed] == [media_id]


def test_reply_to_a_deleted_post_is_permanent(channel: ThreadsChannel,
                                             fake: FakeThreads) -> None:
    media_id = _published(channel)
    channel.delete(media_id)
    with pytest.raises(Permanent, match="does not exist"):
        channel.reply(media_id, _request(text="Correction: east bank only.", link=None))
    assert fake.posts == []


def test_reply_in_doubt_is_found_among_the_replies(channel: ThreadsChannel,
                                                  fake: FakeThreads) -> None:
    media_id = _published(channel)
    note = _request(text="Correction: east bank only.", link=None)
    fake.fail_next("reset_after")  # the publish step of the reply
    with pytest.raises(Ambiguous):
        channel.reply(media_id, note)
    fake.settle()
    found = channel.find(note)
    assert found is not None and found.remote_id == fake.posts[-1].id
    assert fake.requests_to("GET", "/v1.0/me/replies")


def test_reply_resumed_from_its_checkpoint_is_not_published_twice(
        channel: ThreadsChannel, fake: FakeThreads) -> None:
    media_id = _published(channel)
    saved = Checkpoints(fake)
    note = _request(text="Correction: east bank only.", link=None, save=saved)
    fake.fail_next("reset_after")
    with pytest.raises(Ambiguous):
        channel.reply(media_id, note)
    fake.settle()
    again = channel.reply(media_id, _request(text=note.text, link=None, after_ambiguous=True,
                                             checkpoint=saved.last))
    assert again.remote_id == fake.posts[-1].id
    assert len(fake.posts) == 2


def test_find_without_threads_read_replies_still_answers_for_posts(
        channel: ThreadsChannel, fake: FakeThreads) -> None:
    fake.scopes.discard("threads_read_replies")
    assert channel.find(_request()) is None  # not among the threads; replies unreadable
    _published(channel)
    assert channel.find(_request()) is not None


def test_reply_needs_threads_content_publish(channel: ThreadsChannel,
                                            fake: FakeThreads) -> None:
    media_id = _published(channel)
    fake.scopes.discard("threads_content_publish")
    with pytest.raises(AuthFailed):
        channel.reply(media_id, _request(text="Correction", link=None))
    assert len(fake.posts) == 1


def test_secrets_never_in_after_post_messages(make: Callable[..., ThreadsChannel],
                                              fake: FakeThreads) -> None:
    channel = make(timeout=0.5)
    media_id = _published(channel)
    texts = fault_texts(fake, {
        "delete": lambda kind: channel.delete(media_id),
        "read": lambda kind: channel.read_back(media_id),
        "create": lambda kind: channel.reply(media_id, _request(text=f"Correction {kind}",
                                                                link=None)),
    }, clear=True)
    fake.scopes.discard("threads_delete")
    texts += raised(lambda: channel.delete(media_id), ChannelError)
    for text in texts:
        assert TOKEN not in text


def test_retraction_run_under_30_percent_faults_deletes_each_post_once(
        channel: ThreadsChannel, fake: FakeThreads) -> None:
    ids = [_published(channel, f"Story {i} {LINK}/{i}") for i in range(40)]
    keep = ids[::5]
    doomed = [i for i in ids if i not in keep]
    fake.fault_rate(0.3, RUN_FAULTS, seed=13, on="any")
    report = retract(channel, doomed)
    fake.clear_faults()
    fake.settle()
    assert set(fake.deleted) == set(doomed)
    assert [p.id for p in fake.posts] == keep
    assert len(fake.delete_times) == len(doomed)  # each applied exactly once
    assert report.ambiguous > 0 and report.settled_gone > 0 and report.settled_still_there > 0


@pytest.mark.parametrize(("kind", "on", "error", "status"), [
    ("500", "create", Transient, 500), ("503", "create", Transient, 503),
    ("reset_before", "create", Ambiguous, None), ("reset_after", "create", Ambiguous, None),
    ("429", "create", RateLimited, 400),
    # The reply's container is not a post: a lost answer there is safe to retry.
    ("reset_after", "upload", Transient, None), ("500", "upload", Transient, 500),
])
def test_reply_fault_maps_to_taxonomy(channel: ThreadsChannel, fake: FakeThreads, kind: str,
                                      on: str, error: type[ChannelError],
                                      status: int | None) -> None:
    media_id = _published(channel)
    fake.fail_next(kind, on=on)
    with pytest.raises(error) as caught:
        channel.reply(media_id, _request(text="Correction: east bank only.", link=None))
    assert type(caught.value) is error
    assert caught.value.http_status == status
