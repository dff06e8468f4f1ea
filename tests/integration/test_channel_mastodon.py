"""MastodonChannel through the real Mastodon.py against FakeMastodon over HTTP on 127.0.0.1."""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from mastodon.return_types import Account
from PIL import Image as PILImage

from publisher.channels.base import ChannelSpec
from publisher.channels.images import shared_cache
from publisher.channels.mastodon import MastodonChannel, RawAnswer
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
from tests.fakes.conformance import (
    COMMON_FAULTS,
    assert_fault_maps,
    fault_texts,
    raised,
)
from tests.fakes.fakehttp import FakeServer, FileServer, Reply, Request
from tests.fakes.mastodon_server import FakeMastodon
from tests.shipped import TEMPLATES as SHIPPED_TEMPLATES

TOKEN = "mastodon-ACCESS-token-5c1e9a77"
SECRETS = {"access_token": TOKEN}
LINK = "https://news.example.org/2025/06/flood-warning"
TEMPLATES = SHIPPED_TEMPLATES
RECORDED = Path(__file__).resolve().parents[1] / "data" / "recorded" / "mastodon"


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
    with FileServer({"/photo.png": (_png(), "image/png")}) as site:
        yield site


@pytest.fixture
def fake() -> Iterator[FakeMastodon]:
    server = FakeMastodon(access_token=TOKEN, slow_seconds=30)
    with server:
        yield server
        server.release_slow()
    assert not server.errors, server.errors[0]


@pytest.fixture
def make(fake: FakeMastodon) -> Iterator[Callable[..., MastodonChannel]]:
    made: list[MastodonChannel] = []

    def build(*, timeout: float = 5.0, base_url: str | None = None,
              **options: object) -> MastodonChannel:
        options.setdefault("allow_private_images", True)
        spec = ChannelSpec("masto", "mastodon", secrets=SECRETS, options=options,
                           base_url=base_url or fake.base_url, timeout=timeout)
        # Built directly: the registry entry is the lead's to add (see the report).
        channel = MastodonChannel(spec)
        made.append(channel)
        return channel

    yield build
    for channel in made:
        channel.close()


@pytest.fixture
def channel(make: Callable[..., MastodonChannel]) -> MastodonChannel:
    return make()


def _request(text: str = f"Flood warning for the river district {LINK}", *,
             key: str = "0f3b5d1c9a7e4b2f8c6d0e1a2b3c4d5e", image: Image | None = None,
             after_ambiguous: bool = False) -> PublishRequest:
    return PublishRequest(post_id=1, idempotency_key=key, text=text, link=LINK, image=image,
                          after_ambiguous=after_ambiguous)


# --- publishing --------------------------------------------------------------------


def test_publish_text_link_and_image_with_alt_text(channel: MastodonChannel, fake: FakeMastodon,
                                                   images: FileServer) -> None:
    image = Image(images.url("/photo.png"), alt="A flooded street with a red car")
    result = channel.publish(_request(image=image))

    assert channel.delivery is DeliveryClass.IDEMPOTENT
    [status] = fake.statuses
    assert result.remote_id == status.id
    assert result.remote_url == status.url
    assert result.notes == ()
    assert status.text == _request().text
    assert status.idempotency_key == _request().idempotency_key
    [media_id] = status.media_ids
    assert fake.media[media_id].description == "A flooded street with a red car"
    assert fake.media[media_id].content_type == "image/png"
    [create] = fake.requests_to("POST", "/api/v1/statuses")
    assert create.auth


def test_async_media_is_waited_for(make: Callable[..., MastodonChannel], fake: FakeMastodon,
                                   images: FileServer) -> None:
    fake.async_media = True
    fake.media_polls = 1
    result = make().publish(_request(image=Image(images.url("/photo.png"), alt="alt")))
    assert result.notes == ()
    assert len(fake.statuses[0].media_ids) == 1
    assert [r.status for r in fake.requests if r.path.startswith("/api/v1/media/")] == [206, 200]


def test_image_that_404s_is_skipped_with_a_note(channel: MastodonChannel, fake: FakeMastodon,
                                                images: FileServer) -> None:
    result = channel.publish(_request(image=Image(images.url("/gone.png"))))
    assert fake.statuses[0].media_ids == []
    assert result.notes == ("image skipped: HTTP 404",)


def test_upload_server_error_posts_without_image(channel: MastodonChannel, fake: FakeMastodon,
                                                 images: FileServer) -> None:
    fake.fail_next("500", on="upload")
    result = channel.publish(_request(image=Image(images.url("/photo.png"))))
    assert fake.statuses[0].media_ids == []
    assert result.notes[0].startswith("image skipped: upload failed")


@pytest.mark.parametrize(("kind", "error"), [("429", RateLimited), ("revoked", AuthFailed)])
def test_upload_refused_for_the_account_fails_the_post(
        channel: MastodonChannel, fake: FakeMastodon, images: FileServer, kind: str,
        error: type[ChannelError]) -> None:
    fake.fail_next(kind, on="upload")
    with pytest.raises(error):
        channel.publish(_request(image=Image(images.url("/photo.png"))))
    assert fake.statuses == []


def test_validation_error_is_permanent_with_the_servers_words(channel: MastodonChannel,
                                                              fake: FakeMastodon) -> None:
    with pytest.raises(Permanent) as caught:
        channel.publish(_request(text="x" * 501))
    assert caught.value.http_status == 422
    assert "Text character limit of 500 exceeded" in str(caught.value)


def test_the_status_answer_is_read_uncast_and_the_rest_stays_typed(
        channel: MastodonChannel, fake: FakeMastodon, monkeypatch: pytest.MonkeyPatch) -> None:
    """Mastodon.py's entity cast is skipped for status_post (half its CPU);
    a Mastodon.py that renamed its caster would give a Status here again."""
    answers: list[Any] = []
    status_post = channel._status_post

    def recording(*args: Any, **kwargs: Any) -> Any:
        answers.append(status_post(*args, **kwargs))
        return answers[-1]

    monkeypatch.setattr(channel, "_status_post", recording)
    result = channel.publish(_request())
    reply = channel.reply(result.remote_id, _request(text="A correction"))
    assert [type(answer) for answer in answers] == [RawAnswer, RawAnswer]
    assert (result.remote_id, result.remote_url) == (fake.statuses[0].id, fake.statuses[0].url)
    assert reply.remote_id == fake.statuses[1].id
    assert fake.statuses[1].in_reply_to_id == result.remote_id
    with pytest.raises(Permanent):
        channel.publish(_request(text="x" * 501, key="c" * 32))
    # The switch is off again, after a refusal too: other answers keep their types.
    assert "_Mastodon__try_cast_to_type" not in vars(channel._api)
    assert isinstance(channel._api.account_verify_credentials(), Account)


# --- idempotency -------------------------------------------------------------------


def test_reset_after_then_retry_with_the_same_key_makes_one_status(
        channel: MastodonChannel, fake: FakeMastodon) -> None:
    fake.fail_next("reset_after")
    with pytest.raises(Ambiguous):
        channel.publish(_request())
    fake.settle()
    assert len(fake.statuses) == 1
    result = channel.publish(_request(after_ambiguous=True))
    assert len(fake.statuses) == 1
    assert result.remote_id == fake.statuses[0].id
    assert len(fake.requests_to("POST", "/api/v1/statuses")) == 2


def test_different_keys_make_different_statuses(channel: MastodonChannel,
                                                fake: FakeMastodon) -> None:
    channel.publish(_request(key="a" * 32))
    channel.publish(_request(key="b" * 32))
    assert len(fake.statuses) == 2


# --- faults ------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "error", "status"), COMMON_FAULTS)
def test_fault_maps_to_taxonomy(channel: MastodonChannel, fake: FakeMastodon, kind: str,
                                error: type[ChannelError], status: int | None) -> None:
    assert_fault_maps(channel, fake, _request(), kind, error, status)


def test_rate_limit_until_the_announced_reset(channel: MastodonChannel,
                                              fake: FakeMastodon) -> None:
    fake.fail_next("429")
    with pytest.raises(RateLimited) as caught:
        channel.publish(_request())
    assert fake.rate_limit_reset is not None
    announced = datetime.fromtimestamp(fake.rate_limit_reset, UTC)
    # Mastodon.py moves the reset by the server's clock offset, read from the
    # Date header in whole seconds: at most a second apart.
    assert abs(caught.value.until - announced) <= timedelta(seconds=1.5)
    assert caught.value.http_status == 429
    assert fake.statuses == []


def test_timeout_applies_and_is_ambiguous(make: Callable[..., MastodonChannel],
                                          fake: FakeMastodon) -> None:
    channel = make(timeout=0.5)
    fake.fail_next("slow")
    with pytest.raises(Ambiguous) as caught:
        channel.publish(_request())
    assert "ReadTimeout" in str(caught.value)
    fake.release_slow()
    fake.settle()
    channel.publish(_request(after_ambiguous=True))
    assert len(fake.statuses) == 1


def test_connection_refused_is_transient(make: Callable[..., MastodonChannel]) -> None:
    closed = FakeMastodon()
    with closed:
        url = closed.base_url
    with pytest.raises(Transient) as caught:
        make(base_url=url).publish(_request())
    assert "could not connect" in str(caught.value)


# --- credentials and limits ----------------------------------------------------------


def test_whoami(channel: MastodonChannel, fake: FakeMastodon) -> None:
    assert channel.whoami() == "@riverledger@social.example"


def test_revoked_token_fails_auth(channel: MastodonChannel, fake: FakeMastodon) -> None:
    fake.fail_next("revoked")
    with pytest.raises(AuthFailed) as caught:
        channel.publish(_request())
    assert caught.value.http_status == 401
    with pytest.raises(AuthFailed):
        channel.whoami()


def test_missing_scope_fails_auth(channel: MastodonChannel, fake: FakeMastodon) -> None:
    fake.handle = lambda request: fake._error(  # type: ignore[method-assign]
        403, "This action is outside the authorized scopes")
    with pytest.raises(AuthFailed, match="outside the authorized scopes"):
        channel.publish(_request())


def test_max_length_comes_from_the_instance(make: Callable[..., MastodonChannel],
                                            fake: FakeMastodon) -> None:
    fake.max_characters = 1000
    channel = make()
    assert channel.max_length() == 1000
    fake.max_characters = 700
    assert channel.max_length() == 1000  # cached
    assert make(max_length=800).max_length() == 800


def test_max_length_defaults_to_500_when_the_instance_fails(
        make: Callable[..., MastodonChannel], fake: FakeMastodon) -> None:
    fake.fail_next("500", on="read")
    channel = make()
    assert channel.max_length() == 500
    # Not asked again for every article while it fails (a rate-limited
    # instance must not get more requests); asked again later.
    asked = len(fake.requests_to("GET", "/api/v2/instance"))
    assert channel.max_length() == 500
    assert len(fake.requests_to("GET", "/api/v2/instance")) == asked


def test_instance_is_required() -> None:
    with pytest.raises(ConfigError, match=r"options\.instance"):
        MastodonChannel(ChannelSpec("m", "mastodon", secrets=SECRETS))
    channel = MastodonChannel(ChannelSpec("m", "mastodon", secrets=SECRETS,
                                          options={"instance": "mastodon.example"}))
    assert "mastodon.example" in repr(channel)
    channel.close()


def test_secrets_never_in_messages_or_repr(make: Callable[..., MastodonChannel],
                                           fake: FakeMastodon) -> None:
    channel = make(timeout=0.5)
    texts = [repr(channel), str(channel)]
    texts += fault_texts(fake, {"create": lambda kind: channel.publish(_request(key=kind * 4))})
    fake.fail_next("revoked")
    texts += raised(channel.whoami, AuthFailed)
    assert not any(TOKEN in text for text in texts)


# --- the default template ------------------------------------------------------------


def test_default_template_renders_within_the_limit(channel: MastodonChannel,
                                                   fake: FakeMastodon) -> None:
    article = ArticleData(
        guid="1", url=LINK + "/" + "long-slug-" * 20,
        title="Flood warning: river expected to crest at 6.2 m on Friday",
        summary="Residents of the lower district should move cars and valuables. " * 8,
        categories=("Local News", "Weather"),
    )
    rule = length_rule("mastodon")
    post = render_post(Renderer([TEMPLATES]), channel_type="mastodon", template="default",
                       article=article, rule=rule)
    assert post.length <= 500 and post.shortened == ("summary",)
    assert post.text.startswith(article.title + "\n\n")
    assert post.text.endswith("\n\n#LocalNews #Weather")
    assert article.url in post.text
    channel.publish(PublishRequest(post_id=9, idempotency_key="t" * 32, text=post.text,
                                   link=article.url))
    assert fake.statuses[0].text == post.text  # the instance counted it the same way


# --- the key's hour, and find ----------------------------------------------------------


def test_the_fake_forgets_a_key_after_an_hour(channel: MastodonChannel,
                                              fake: FakeMastodon) -> None:
    # Mastodon's contract, not our adapter's: the same key an hour later posts again.
    channel.publish(_request())
    fake.advance(3599)
    channel.publish(_request(after_ambiguous=True))
    assert len(fake.statuses) == 1
    fake.advance(2)
    channel.publish(_request(after_ambiguous=True))
    assert len(fake.statuses) == 2


def test_find_after_the_keys_hour_finds_the_status_by_its_card(
        channel: MastodonChannel, fake: FakeMastodon) -> None:
    fake.fail_next("reset_after")
    with pytest.raises(Ambiguous):
        channel.publish(_request())
    fake.settle()
    fake.advance(3 * 3600)
    found = channel.find(_request(after_ambiguous=True))
    [status] = fake.statuses
    assert found is not None
    assert (found.remote_id, found.remote_url) == (status.id, status.url)
    assert len(fake.statuses) == 1  # looked up, not sent again


def test_find_by_a_link_in_the_content_before_the_card_is_made(
        make: Callable[..., MastodonChannel], fake: FakeMastodon) -> None:
    fake.cards = False
    channel = make()
    channel.publish(_request(text=f"Flood warning {LINK}?utm_source=mastodon"))
    found = channel.find(_request())
    assert found is not None and found.remote_id == fake.statuses[0].id


def test_find_by_exact_text_when_the_post_has_no_link(channel: MastodonChannel,
                                                      fake: FakeMastodon) -> None:
    text = "Road closed:\n\nthe Mill Street bridge is shut until Friday & #traffic"
    channel.publish(PublishRequest(post_id=2, idempotency_key="k" * 32, text=text))
    channel.publish(PublishRequest(post_id=3, idempotency_key="m" * 32, text="Other news"))
    found = channel.find(PublishRequest(post_id=2, idempotency_key="k" * 32, text=text))
    assert found is not None and found.remote_id == fake.statuses[0].id
    assert channel.find(PublishRequest(post_id=4, idempotency_key="n" * 32,
                                       text="Road closed")) is None


def test_find_pages_back_past_later_statuses(channel: MastodonChannel,
                                             fake: FakeMastodon) -> None:
    channel.publish(_request())
    for n in range(90):
        fake.add_status(f"Later story {n} https://news.example.org/s/{n}")
    found = channel.find(_request())
    assert found is not None and found.remote_id == fake.statuses[0].id
    pages = [r for r in fake.requests if r.path.endswith("/statuses") and r.method == "GET"]
    assert len(pages) == 3  # 40 a page


def test_find_returns_none_when_certainly_absent(channel: MastodonChannel,
                                                 fake: FakeMastodon) -> None:
    assert channel.find(_request()) is None
    channel.publish(PublishRequest(post_id=5, idempotency_key="z" * 32,
                                   text="Another story https://news.example.org/other"))
    assert channel.find(_request()) is None


def test_find_stops_at_the_lookback_horizon(channel: MastodonChannel,
                                            fake: FakeMastodon) -> None:
    fake.advance(-4 * 24 * 3600)  # these were posted four days ago
    channel.publish(_request())
    for n in range(80):
        fake.add_status(f"Old story {n}")
    fake.advance(4 * 24 * 3600)
    assert channel.find(_request()) is None  # older than any post in doubt
    pages = [r for r in fake.requests if r.path.endswith("/statuses") and r.method == "GET"]
    assert len(pages) == 1


@pytest.mark.parametrize(("kind", "error"), [("500", Transient), ("429", RateLimited),
                                             ("revoked", AuthFailed),
                                             ("reset_before", Transient)])
def test_find_failures_map_to_the_taxonomy(channel: MastodonChannel, fake: FakeMastodon,
                                           kind: str, error: type[ChannelError]) -> None:
    channel.publish(_request())
    fake.fail_next(kind, on="read")
    with pytest.raises(error):
        channel.find(_request())


# --- recorded real answers (Mastodon.py's cassettes) -------------------------------------


class _Replay(FakeServer):
    """Answers each path with a body recorded from a real Mastodon
    (tests/data/recorded/mastodon, see its README)."""

    def __init__(self, routes: dict[tuple[str, str], str]) -> None:
        super().__init__()
        self.routes = {key: json.loads((RECORDED / name).read_text(encoding="utf-8"))
                       for key, name in routes.items()}

    def handle(self, request: Request) -> Reply:
        for (method, prefix), record in self.routes.items():
            if request.method == method and request.path.startswith(prefix):
                return Reply(record["status"], record["body"], dict(record["headers"]))
        return Reply(404, {"error": "Record not found"})


@contextlib.contextmanager
def _replayed(routes: dict[tuple[str, str], str]) -> Iterator[tuple[_Replay, MastodonChannel]]:
    with _Replay(routes) as server:
        channel = MastodonChannel(ChannelSpec("masto", "mastodon", secrets=SECRETS,
                                              base_url=server.base_url))
        try:
            yield server, channel
        finally:
            channel.close()


def test_recorded_status_post_and_credentials_parse() -> None:
    post = json.loads((RECORDED / "status_post.json").read_text(encoding="utf-8"))["body"]
    with _replayed({("POST", "/api/v1/statuses"): "status_post.json",
                                      ("GET", "/api/v1/accounts/verify_credentials"):
                                      "verify_credentials.json"}) as (_server, channel):
        result = channel.publish(_request(text="Toot!"))
        assert (result.remote_id, result.remote_url) == (post["id"], post["url"])
        assert channel.whoami() == "@mastodonpy_test@localhost"


def test_recorded_account_statuses_are_searched() -> None:
    with _replayed({
            ("GET", "/api/v1/accounts/verify_credentials"): "verify_credentials.json",
            ("GET", "/api/v1/accounts/"): "account_statuses.json"}) as (_server, channel):
        found = channel.find(PublishRequest(post_id=1, idempotency_key="r" * 32,
                                            text="Toot number 7!"))
        assert found is not None and found.remote_id == "117020580503743669"
        assert found.remote_url == "http://localhost:3000/@mastodonpy_test/117020580503743669"
        assert channel.find(PublishRequest(post_id=1, idempotency_key="r" * 32,
                                           text="Toot number 77!")) is None


def test_recorded_status_with_a_card_is_found_by_its_link() -> None:
    record = json.loads((RECORDED / "status_with_card.json").read_text(encoding="utf-8"))
    page = dict(record, body=[record["body"]])
    with _Replay({("GET", "/api/v1/accounts/verify_credentials"): "verify_credentials.json"}
                 ) as server:
        server.routes[("GET", "/api/v1/accounts/")] = page
        channel = MastodonChannel(ChannelSpec("masto", "mastodon", secrets=SECRETS,
                                              base_url=server.base_url))
        try:
            found = channel.find(PublishRequest(post_id=1, idempotency_key="c" * 32,
                                                text="something else",
                                                link="http://example.org"))
        finally:
            channel.close()
    assert found is not None and found.remote_id == record["body"]["id"]


def test_recorded_validation_error_is_permanent_with_the_instances_words() -> None:
    error = json.loads((RECORDED / "error_422.json").read_text(encoding="utf-8"))["body"]
    with (_replayed({("POST", "/api/v1/statuses"): "error_422.json"}) as (_server, channel),
          pytest.raises(Permanent) as caught):
        channel.publish(_request())
    assert caught.value.http_status == 422
    assert error["error"] in str(caught.value)


# --- through the dispatcher: in doubt past the key's hour, looked up, never sent twice ------

_SCHEDULE = """
[[feeds]]
name = "site"
url = "https://news.example/feed/"

[channels.masto]
type = "mastodon"
max_age = "6h"
credentials = { access_token = "MASTODON_TOKEN" }
options = { instance = "https://social.example" }

[[routes]]
channels = ["masto"]
"""


@pytest.fixture
def dispatch(store: Any, tmp_path: Path, channel: MastodonChannel) -> tuple[Any, Any]:
    from publisher.config import load_config
    from publisher.services.dispatch import ChannelPool, Dispatcher
    from tests.fakes.clock import FakeClock

    path = tmp_path / "site.toml"
    path.write_text(_SCHEDULE)
    config = load_config(path)
    clock = FakeClock(datetime.now(UTC))
    pool = ChannelPool(config, {}, overrides={"masto": channel})
    dispatcher = Dispatcher(config=config, store=store, channels=pool, now=clock, worker="w1",
                            max_workers=2, lease_seconds=300, rand=lambda: 1.0)
    return dispatcher, clock


def _queue(store: Any, clock: Any) -> int:
    from publisher.types import NewPost

    [post_id] = store.add_posts([NewPost(channel="masto", text=f"Flood warning {LINK}",
                                         link=LINK)], article_id=None, now=clock())
    return int(post_id)


@pytest.mark.parametrize("fault", ["reset_after", "reset_before"])
def test_in_doubt_past_the_keys_hour_is_looked_up_not_resent_blindly(
        store: Any, dispatch: tuple[Any, Any], fake: FakeMastodon, fault: str) -> None:
    from publisher.types import Outcome, PostStatus

    dispatcher, clock = dispatch
    post_id = _queue(store, clock)
    fake.fail_next(fault)
    dispatcher.run_until_idle()
    fake.settle()
    assert store.get_post(post_id).status is not PostStatus.PUBLISHED
    stored_first = len(fake.statuses)  # 1 after reset_after, 0 after reset_before
    # An outage: the post stays in doubt past the hour the instance keeps its key.
    clock.advance(2 * 3600)
    fake.advance(2 * 3600)
    for _ in range(5):
        dispatcher.run_until_idle()
        clock.advance(600)
    post = store.get_post(post_id)
    assert post.status is PostStatus.PUBLISHED
    assert len(fake.statuses) == 1  # never twice, whatever the first attempt did
    assert post.remote_id == fake.statuses[0].id
    outcomes = [a.outcome for a in reversed(store.attempts(post_id=post_id))]
    assert fake.requests_to("GET", f"/api/v1/accounts/{fake.account_id}/statuses")
    if stored_first:
        assert Outcome.RECONCILED in outcomes
    else:
        assert Outcome.NOT_FOUND in outcomes


def test_publisher_check_is_green_against_the_fake(tmp_path: Path, fake: FakeMastodon) -> None:
    from publisher.app import make_app
    from publisher.config import Settings

    (tmp_path / "schedules").mkdir()
    (tmp_path / "schedules" / "site.toml").write_text(
        _SCHEDULE.replace('options = { instance = "https://social.example" }',
                          f'base_url = "{fake.base_url}"'))
    settings = Settings(schedules=tmp_path / "schedules", templates=tmp_path / "templates",
                        env_file=tmp_path / ".env",
                        database_url=f"sqlite:///{tmp_path / 'publisher.db'}")
    app = make_app(settings, environ={"MASTODON_TOKEN": TOKEN})
    try:
        assert app.check_channels() == [("masto", True, "posts as @riverledger@social.example")]
        fake.fail_next("revoked")
        [(name, ok, line)] = app.check_channels()
    finally:
        app.close()
    assert (name, ok) == ("masto", False) and "401" in line and TOKEN not in line


def test_the_fakes_answers_have_the_recorded_shapes(channel: MastodonChannel,
                                                    fake: FakeMastodon) -> None:
    """FakeMastodon's bodies use the fields a real instance sends (Mastodon.py's
    cassettes), so the adapter is not tested against shapes of our own."""
    import httpx

    def recorded(name: str) -> Any:
        return json.loads((RECORDED / name).read_text(encoding="utf-8"))

    channel.publish(_request())
    headers = {"Authorization": f"Bearer {TOKEN}"}
    page = httpx.get(f"{fake.base_url}/api/v1/accounts/{fake.account_id}/statuses",
                     headers=headers, params={"limit": 40})
    [status] = page.json()
    real_status = recorded("status_with_card.json")["body"]
    assert set(status) <= set(real_status)
    assert set(status["card"]) <= set(real_status["card"])
    assert set(status["account"]) <= set(real_status["account"])
    real_headers = {k.lower() for k in recorded("account_statuses.json")["headers"]}
    assert real_headers <= {k.lower() for k in page.headers}
    assert page.headers["link"].endswith('rel="prev"')
    account = httpx.get(f"{fake.base_url}/api/v1/accounts/verify_credentials",
                        headers=headers).json()
    assert set(account) - {"source"} <= set(recorded("verify_credentials.json")["body"])


def test_a_token_without_write_scope_cannot_post_but_can_read(channel: MastodonChannel,
                                                              fake: FakeMastodon) -> None:
    fake.scopes = {"read"}
    with pytest.raises(AuthFailed, match="outside the authorized scopes") as caught:
        channel.publish(_request())
    assert caught.value.http_status == 403
    assert channel.whoami() == "@riverledger@social.example"
    assert channel.find(_request()) is None
    fake.scopes = {"write:statuses", "read:accounts", "read:statuses"}
    channel.publish(_request())
    assert channel.find(_request()) is not None


def test_alt_text_is_cut_to_mastodons_limit(channel: MastodonChannel, fake: FakeMastodon,
                                            images: FileServer) -> None:
    alt = "A flooded street. " * 120  # 2,160 characters; Mastodon takes 1,500
    result = channel.publish(_request(image=Image(images.url("/photo.png"), alt=alt)))
    assert result.notes == ()
    [media_id] = fake.statuses[0].media_ids
    assert fake.media[media_id].description == alt[:1500]


def test_the_fake_refuses_what_mastodon_refuses(fake: FakeMastodon) -> None:
    import httpx

    headers = {"Authorization": f"Bearer {TOKEN}"}
    png = _png()
    too_long = httpx.post(f"{fake.base_url}/api/v2/media", headers=headers,
                          files={"file": ("a.png", png, "image/png")},
                          data={"description": "x" * 1501})
    assert too_long.status_code == 422 and "Description is too long" in too_long.json()["error"]
    fake.image_size_limit = len(png) - 1
    too_big = httpx.post(f"{fake.base_url}/api/v2/media", headers=headers,
                         files={"file": ("a.png", png, "image/png")})
    assert too_big.status_code == 422 and "file size must be less than" in too_big.json()["error"]
    five = httpx.post(f"{fake.base_url}/api/v1/statuses", headers=headers,
                      data={"status": "x", "media_ids[]": ["1", "2", "3", "4", "5"]})
    assert five.status_code == 422 and five.json()["error"] == "Cannot attach more than 4 files"
    assert fake.statuses == []
    # Mastodon's count of a URL in Japanese quotes: 1 + 23 + 1, as publisher counts it.
    rule = length_rule("mastodon")
    for text, status in (("「https://example.jp/記事」 " + "x" * 474, 200),
                         ("「https://example.jp/記事」 " + "x" * 475, 422)):
        answer = httpx.post(f"{fake.base_url}/api/v1/statuses", headers=headers,
                            data={"status": text})
        assert answer.status_code == status
        assert (rule.count(text) <= 500) is (status == 200)


# --- the environment, read once -----------------------------------------------------


def test_proxies_and_ca_bundle_come_from_the_environment_once(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from publisher.channels.mastodon import _session_for

    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/newsroom.pem")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    session = _session_for("https://social.example")
    assert session.trust_env is False
    assert session.proxies["https"] == "http://proxy.example:3128"
    assert session.verify == "/etc/ssl/newsroom.pem"
    monkeypatch.setenv("NO_PROXY", "social.example")
    assert "https" not in _session_for("https://social.example").proxies
