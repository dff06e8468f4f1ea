"""BlueskyChannel through the real atproto SDK against FakeBluesky over HTTP on 127.0.0.1."""

from __future__ import annotations

import io
import random
import stat
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import regex
from PIL import Image as PILImage

from publisher.channels import make_channel
from publisher.channels.base import ChannelSpec
from publisher.channels.bluesky import BlueskyChannel, build_facets, record_key
from publisher.channels.images import shared_cache
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
from tests.fakes.bluesky_server import FakeBluesky
from tests.fakes.conformance import (
    COMMON_FAULTS,
    assert_fault_maps,
    fault_texts,
    raised,
)
from tests.fakes.fakehttp import FileServer
from tests.shipped import TEMPLATES as SHIPPED_TEMPLATES

HANDLE = "ledger.bsky.social"
PASSWORD = "abcd-efgh-ijkl-mnop"
SECRETS = {"handle": HANDLE, "app_password": PASSWORD}
LINK = "https://news.example.org/2025/06/flood-warning?utm_source=bluesky"
TEMPLATES = SHIPPED_TEMPLATES
TID = regex.compile(r"^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$")


def _png(width: int = 64, height: int = 48) -> bytes:
    out = io.BytesIO()
    PILImage.new("RGB", (width, height), (200, 30, 30)).save(out, "PNG")
    return out.getvalue()


def _big_jpeg() -> bytes:
    rng = random.Random(5)
    out = io.BytesIO()
    PILImage.frombytes("RGB", (1400, 1000), rng.randbytes(1400 * 1000 * 3)).save(
        out, "JPEG", quality=95)
    return out.getvalue()


@pytest.fixture(autouse=True)
def _fresh_image_cache() -> Iterator[None]:
    shared_cache().clear()
    yield
    shared_cache().clear()


@pytest.fixture
def images() -> Iterator[FileServer]:
    files = {"/photo.png": (_png(), "image/png"), "/big.jpg": (_big_jpeg(), "image/jpeg")}
    with FileServer(files) as site:
        yield site


@pytest.fixture
def fake() -> Iterator[FakeBluesky]:
    server = FakeBluesky(handle=HANDLE, password=PASSWORD, slow_seconds=30)
    with server:
        yield server
        server.release_slow()
    assert not server.errors, server.errors[0]


@pytest.fixture
def make(fake: FakeBluesky, tmp_path: Path) -> Iterator[Callable[..., BlueskyChannel]]:
    made: list[BlueskyChannel] = []

    def build(*, timeout: float = 5.0, base_url: str | None = None,
              **options: object) -> BlueskyChannel:
        options.setdefault("allow_private_images", True)
        options.setdefault("session_dir", str(tmp_path / "var"))
        spec = ChannelSpec("bsky", "bluesky", secrets=SECRETS, options=options,
                           base_url=base_url or fake.base_url, timeout=timeout)
        channel = BlueskyChannel(spec)  # the registry entry is the lead's to add
        made.append(channel)
        return channel

    yield build
    for channel in made:
        channel.close()


@pytest.fixture
def channel(make: Callable[..., BlueskyChannel]) -> BlueskyChannel:
    return make()


KEY = "6c8f2a0e4b1d4f7a9e3c5b7d9f1a3c5e"


def _request(text: str = "Flood warning for the river district #Flood", *, key: str = KEY,
             link: str | None = LINK, image: Image | None = None,
             after_ambiguous: bool = False) -> PublishRequest:
    return PublishRequest(post_id=1, idempotency_key=key, text=text, link=link, image=image,
                          title="Flood warning for the river district",
                          summary="The river is expected to crest on Friday.",
                          after_ambiguous=after_ambiguous)


def _slice(text: str, facet: dict) -> str:
    index = facet["index"]
    return text.encode("utf-8")[index["byteStart"]:index["byteEnd"]].decode("utf-8")


# --- record keys and facets ----------------------------------------------------------


def test_record_key_is_a_fixed_tid() -> None:
    assert record_key(KEY) == record_key(KEY)
    assert record_key(KEY) != record_key(KEY[::-1])
    for n in range(200):
        assert TID.match(record_key(f"{n:032x}"))


def test_facets_have_utf8_byte_offsets() -> None:
    text = f"🎉 東京で洪水警報 🏳️‍🌈 {LINK}. #Flood #東京 #2025 end"
    facets = build_facets(text)
    assert [_slice(text, f) for f in facets] == [LINK, "#Flood", "#東京"]
    link, tag, cjk = facets
    assert link["features"] == [{"$type": "app.bsky.richtext.facet#link", "uri": LINK}]
    assert link["index"]["byteStart"] == len("🎉 東京で洪水警報 🏳️‍🌈 ".encode())
    assert tag["features"] == [{"$type": "app.bsky.richtext.facet#tag", "tag": "Flood"}]
    assert cjk["features"][0]["tag"] == "東京"


# --- publishing --------------------------------------------------------------------


def test_post_with_facets_link_card_and_thumb(channel: BlueskyChannel, fake: FakeBluesky,
                                              images: FileServer) -> None:
    text = f"🎉 東京で洪水警報 👩🏽‍🚒 Flood warning {LINK} #Flood #Weather"
    result = channel.publish(_request(text, image=Image(images.url("/photo.png"), alt="A street")))

    assert channel.delivery is DeliveryClass.IDEMPOTENT
    [post] = fake.posts()
    rkey = record_key(KEY)
    assert post.rkey == rkey
    assert result.remote_id == f"at://{fake.did}/app.bsky.feed.post/{rkey}"
    assert result.remote_url == f"https://bsky.app/profile/{HANDLE}/post/{rkey}"
    assert result.notes == ()
    assert post.value["text"] == text
    facets = post.value["facets"]
    assert [_slice(text, f) for f in facets] == [LINK, "#Flood", "#Weather"]
    assert facets[0]["index"] == {
        "$type": "app.bsky.richtext.facet#byteSlice",
        "byteStart": len("🎉 東京で洪水警報 👩🏽‍🚒 Flood warning ".encode()),
        "byteEnd": len(f"🎉 東京で洪水警報 👩🏽‍🚒 Flood warning {LINK}".encode()),
    }
    external = post.value["embed"]["external"]
    assert post.value["embed"]["$type"] == "app.bsky.embed.external"
    assert external["uri"] == LINK
    assert external["title"] == "Flood warning for the river district"
    assert external["description"] == "The river is expected to crest on Friday."
    thumb = external["thumb"]
    assert thumb["$type"] == "blob" and thumb["mimeType"] == "image/png"
    assert fake.blobs[thumb["ref"]["$link"]].size == thumb["size"]
    datetime.fromisoformat(post.value["createdAt"].replace("Z", "+00:00"))


def test_big_image_is_fitted_under_the_blob_limit(channel: BlueskyChannel, fake: FakeBluesky,
                                                  images: FileServer) -> None:
    assert len(_big_jpeg()) > 1_000_000
    result = channel.publish(_request(image=Image(images.url("/big.jpg"))))
    assert result.notes == ()
    thumb = fake.posts()[0].value["embed"]["external"]["thumb"]
    assert thumb["size"] <= 1_000_000 and thumb["mimeType"] == "image/jpeg"


def test_image_without_link_is_an_images_embed_with_alt(channel: BlueskyChannel,
                                                        fake: FakeBluesky,
                                                        images: FileServer) -> None:
    channel.publish(_request(link=None, image=Image(images.url("/photo.png"), alt="The river")))
    embed = fake.posts()[0].value["embed"]
    assert embed["$type"] == "app.bsky.embed.images"
    [image] = embed["images"]
    assert image["alt"] == "The river"
    assert (image["aspectRatio"]["width"], image["aspectRatio"]["height"]) == (64, 48)


def test_failed_image_leaves_a_card_without_thumb(channel: BlueskyChannel, fake: FakeBluesky,
                                                  images: FileServer) -> None:
    result = channel.publish(_request(image=Image(images.url("/gone.png"))))
    assert "thumb" not in fake.posts()[0].value["embed"]["external"]
    assert result.notes == ("image skipped: HTTP 404",)


def test_upload_error_is_a_note(channel: BlueskyChannel, fake: FakeBluesky,
                                images: FileServer) -> None:
    fake.fail_next("500", on="upload")
    result = channel.publish(_request(image=Image(images.url("/photo.png"))))
    assert len(fake.posts()) == 1
    assert result.notes[0].startswith("image skipped: upload failed")


def test_too_long_text_is_permanent(channel: BlueskyChannel, fake: FakeBluesky) -> None:
    with pytest.raises(Permanent, match="300 graphemes") as caught:
        channel.publish(_request("x" * 301))
    assert caught.value.http_status == 400


# --- sessions ------------------------------------------------------------------------


def test_one_login_for_ten_posts(channel: BlueskyChannel, fake: FakeBluesky) -> None:
    for n in range(10):
        channel.publish(_request(f"Story number {n}", key=f"{n:032x}"))
    assert len(fake.posts()) == 10
    assert fake.logins == 1


def test_saved_session_is_reused_by_the_next_start(make: Callable[..., BlueskyChannel],
                                                   fake: FakeBluesky, tmp_path: Path) -> None:
    make().publish(_request(key="1" * 32))
    [saved] = (tmp_path / "var").glob("bluesky-bsky-*.session")
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    assert PASSWORD not in saved.read_text()
    make().publish(_request(key="2" * 32))  # a new process, as after a restart
    assert fake.logins == 1
    assert len(fake.posts()) == 2


def test_sdk_refreshes_an_expiring_token(make: Callable[..., BlueskyChannel],
                                         fake: FakeBluesky) -> None:
    fake.access_ttl = 60  # under the SDK's 15-minute margin: refreshed before use
    channel = make()
    channel.publish(_request(key="1" * 32))
    channel.publish(_request(key="2" * 32))
    assert fake.logins == 1
    assert fake.refreshes >= 1
    assert len(fake.posts()) == 2


def test_server_side_expiry_logs_in_once_more(channel: BlueskyChannel,
                                              fake: FakeBluesky) -> None:
    channel.publish(_request(key="1" * 32))
    fake.expire_access_tokens()  # 400 ExpiredToken though exp says otherwise
    channel.publish(_request(key="2" * 32))
    assert fake.logins == 2
    assert len(fake.posts()) == 2


def test_revoked_password_fails_auth_without_a_loop(channel: BlueskyChannel,
                                                    fake: FakeBluesky) -> None:
    channel.publish(_request(key="1" * 32))
    fake.fail_next("revoked")
    with pytest.raises(AuthFailed):
        channel.publish(_request(key="2" * 32))
    assert fake.login_attempts == 2  # the first login and one retry, no more
    with pytest.raises(AuthFailed, match="handle or app password"):
        channel.whoami()


def test_wrong_password_fails_auth(make: Callable[..., BlueskyChannel],
                                   fake: FakeBluesky) -> None:
    fake.password = "another-password"
    with pytest.raises(AuthFailed, match="Invalid identifier or password") as caught:
        make().publish(_request())
    assert caught.value.http_status == 401
    assert fake.login_attempts == 1


def test_login_rate_limit(make: Callable[..., BlueskyChannel], fake: FakeBluesky) -> None:
    fake.login_fault = "429"
    with pytest.raises(RateLimited) as caught:
        make().whoami()
    assert fake.rate_limit_reset is not None
    assert caught.value.until == datetime.fromtimestamp(fake.rate_limit_reset, UTC)


def test_whoami(channel: BlueskyChannel, fake: FakeBluesky) -> None:
    assert channel.whoami() == f"@{HANDLE} ({fake.did})"


# --- idempotency ---------------------------------------------------------------------


def test_reset_after_then_retry_reads_back_before_creating(channel: BlueskyChannel,
                                                           fake: FakeBluesky) -> None:
    fake.fail_next("reset_after")
    with pytest.raises(Ambiguous):
        channel.publish(_request())
    fake.settle()
    result = channel.publish(_request(after_ambiguous=True))
    assert len(fake.posts()) == 1
    assert result.remote_id == fake.posts()[0].uri
    assert len(fake.requests_to_method("com.atproto.repo.createRecord")) == 1
    assert len(fake.requests_to_method("com.atproto.repo.getRecord")) == 1
    assert channel.find(_request()) is not None


def test_after_ambiguous_that_did_not_arrive_creates(channel: BlueskyChannel,
                                                     fake: FakeBluesky) -> None:
    result = channel.publish(_request(after_ambiguous=True))
    assert len(fake.posts()) == 1 and result.remote_id == fake.posts()[0].uri
    assert channel.find(_request(key="f" * 32)) is None


@pytest.mark.parametrize("answer", ["500", "409", "400"])
def test_taken_record_key_is_the_earlier_post(channel: BlueskyChannel, fake: FakeBluesky,
                                              answer: str) -> None:
    fake.existing_rkey = answer
    first = channel.publish(_request())
    again = channel.publish(_request())  # no after_ambiguous: the create finds it taken
    assert len(fake.posts()) == 1
    assert again.remote_id == first.remote_id
    assert "the record was already there" in again.notes


# --- faults ------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "error", "status"), COMMON_FAULTS)
def test_fault_maps_to_taxonomy(channel: BlueskyChannel, fake: FakeBluesky, kind: str,
                                error: type[ChannelError], status: int | None) -> None:
    channel.whoami()
    assert_fault_maps(channel, fake, _request(), kind, error, status)


def test_rate_limit_until_the_announced_reset(channel: BlueskyChannel,
                                              fake: FakeBluesky) -> None:
    fake.fail_next("429")
    with pytest.raises(RateLimited) as caught:
        channel.publish(_request())
    assert fake.rate_limit_reset is not None
    assert caught.value.until == datetime.fromtimestamp(fake.rate_limit_reset, UTC)
    assert fake.posts() == []


def test_timeout_applies_and_is_ambiguous(make: Callable[..., BlueskyChannel],
                                          fake: FakeBluesky) -> None:
    channel = make(timeout=0.5)
    channel.whoami()
    fake.fail_next("slow")
    with pytest.raises(Ambiguous, match="ReadTimeout"):
        channel.publish(_request())
    fake.release_slow()
    fake.settle()
    channel.publish(_request(after_ambiguous=True))
    assert len(fake.posts()) == 1


def test_connection_refused_is_transient(make: Callable[..., BlueskyChannel]) -> None:
    closed = FakeBluesky()
    with closed:
        url = closed.base_url
    with pytest.raises(Transient, match="could not send"):
        make(base_url=url).publish(_request())


def test_bad_options() -> None:
    with pytest.raises(ConfigError, match=r"options\.langs"):
        BlueskyChannel(ChannelSpec("b", "bluesky", secrets=SECRETS, options={"langs": "en"}))


def test_secrets_never_in_messages_or_repr(make: Callable[..., BlueskyChannel],
                                           fake: FakeBluesky, caplog: pytest.LogCaptureFixture
                                           ) -> None:
    caplog.set_level("DEBUG")
    channel = make(timeout=0.5)
    texts = [repr(channel), str(channel)]
    channel.whoami()
    texts += fault_texts(fake, {"create": lambda kind: channel.publish(_request(key=kind * 8))})
    fake.fail_next("revoked")
    texts += raised(lambda: channel.publish(_request(key="9" * 32)), AuthFailed)
    texts.append(caplog.text)
    tokens = list(fake.tokens)
    for text in texts:
        assert PASSWORD not in text
        assert not any(token in text for token in tokens)


# --- the default template ------------------------------------------------------------


def test_default_template_renders_within_300_graphemes(channel: BlueskyChannel,
                                                       fake: FakeBluesky) -> None:
    article = ArticleData(
        guid="1", url=LINK,
        title="🎉 Riverside Pride parade returns this weekend 🏳️‍🌈 — here’s what to know",
        summary="Road closures start at 9am Saturday. Firefighters 👩🏽‍🚒 will lead the parade "
                "for the first time; the route ends at Union Square 🎶. " * 3,
        categories=("Community", "Events"),
    )
    rule = length_rule("bluesky")
    post = render_post(Renderer([TEMPLATES]), channel_type="bluesky", template="default",
                       article=article, rule=rule)
    assert post.length <= 300 and post.shortened == ("summary",)
    assert post.text.endswith("\n\n#Community #Events")
    assert LINK not in post.text  # the link card carries it
    channel.publish(PublishRequest(post_id=3, idempotency_key="t" * 32, text=post.text,
                                   link=LINK, title=article.title, summary=article.summary))
    stored = fake.posts()[0].value
    assert [f["features"][0]["tag"] for f in stored["facets"]] == ["Community", "Events"]
    assert stored["embed"]["external"]["uri"] == LINK


# --- langs: at most 3, refused when the channel is built (so `publisher check` says so) ------


def test_more_than_three_langs_is_a_config_error_naming_channel_and_option() -> None:
    spec = ChannelSpec("bsky-news", "bluesky", secrets=SECRETS,
                       options={"langs": ["en", "de", "fr", "it"]})
    with pytest.raises(ConfigError) as caught:
        make_channel(spec)
    assert "'bsky-news'" in str(caught.value)
    assert "options.langs" in str(caught.value)
    assert "at most 3" in str(caught.value)


@pytest.mark.parametrize("langs", [["en_US"], ["e"], [""], [3]])
def test_a_malformed_language_tag_is_a_config_error(langs: list[object]) -> None:
    with pytest.raises(ConfigError, match=r"'b'.*options\.langs"):
        BlueskyChannel(ChannelSpec("b", "bluesky", secrets=SECRETS, options={"langs": langs}))


def test_three_langs_go_out_with_every_post(make: Callable[..., BlueskyChannel],
                                            fake: FakeBluesky) -> None:
    make(langs=["en", "de", "pt-BR"]).publish(PublishRequest(
        post_id=1, idempotency_key=KEY, text="Flood warning"))
    [post] = fake.posts()
    assert post.value["langs"] == ["en", "de", "pt-BR"]


# --- the strict fake: app.bsky.feed.post's lexicon, whatever the client ----------------------


class _Raw:
    """Plain XRPC calls to the fake, to hold it to the lexicon without our adapter."""

    def __init__(self, fake: FakeBluesky) -> None:
        self.fake = fake
        self.client = httpx.Client(base_url=fake.base_url, timeout=5)
        session = self.client.post("/xrpc/com.atproto.server.createSession",
                                   json={"identifier": HANDLE, "password": PASSWORD}).json()
        self.client.headers["Authorization"] = f"Bearer {session['accessJwt']}"

    def upload(self, data: bytes, mime: str) -> dict[str, object]:
        answer = self.client.post("/xrpc/com.atproto.repo.uploadBlob", content=data,
                                  headers={"Content-Type": mime})
        blob: dict[str, object] = answer.json()["blob"]
        return blob

    def post(self, **fields: object) -> httpx.Response:
        record = {"$type": "app.bsky.feed.post", "text": "Flood warning",
                  "createdAt": "2026-06-01T12:00:00.000Z", **fields}
        return self.client.post("/xrpc/com.atproto.repo.createRecord", json={
            "repo": self.fake.did, "collection": "app.bsky.feed.post",
            "rkey": record_key(str(fields)), "record": record})


@pytest.fixture
def raw(fake: FakeBluesky) -> Iterator[_Raw]:
    client = _Raw(fake)
    yield client
    client.client.close()


FAMILY = "\U0001f469\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"  # one grapheme, 25 bytes


@pytest.mark.parametrize(("fields", "message"), [
    ({"langs": ["en", "de", "fr", "it"]}, "Record/langs must not have more than 3 elements"),
    ({"langs": ["en_US"]}, "Record/langs/0 must be a valid language"),
    ({"text": "x" * 301}, "Record/text must not be longer than 300 graphemes"),
    ({"text": FAMILY * 121}, "Record/text must not be longer than 3000 characters"),
    ({"createdAt": None}, 'Record must have the property "createdAt"'),
    ({"facets": [{"index": {"byteStart": 0, "byteEnd": 40},
                  "features": [{"$type": "app.bsky.richtext.facet#link",
                                "uri": "https://example.org"}]}]},
     "Record/facets/0/index is outside the text"),
    ({"text": "Zürich", "facets": [{"index": {"byteStart": 0, "byteEnd": 2},
                                    "features": [{"$type": "app.bsky.richtext.facet#tag",
                                                  "tag": "z"}]}]},
     "Record/facets/0/index splits a character"),
    ({"facets": [{"index": {"byteStart": 0, "byteEnd": 5},
                  "features": [{"$type": "app.bsky.richtext.facet#tag", "tag": "x" * 65}]}]},
     "Record/facets/0/features/0/tag must not be longer than 64 graphemes"),
    ({"embed": {"$type": "app.bsky.embed.external",
                "external": {"uri": "https://example.org", "title": "t"}}},
     'Record/embed/external must have the property "description"'),
    ({"embed": {"$type": "app.bsky.embed.images", "images": [{"alt": ""}]}},
     'Record/embed/images/0 must have the property "image"'),
])
def test_the_fake_refuses_what_the_lexicon_refuses(raw: _Raw, fields: dict[str, object],
                                                   message: str) -> None:
    answer = raw.post(**fields)
    assert answer.status_code == 400
    assert answer.json()["error"] == "InvalidRequest"
    assert message in answer.json()["message"]
    assert raw.fake.posts() == []


def test_the_fake_refuses_a_card_thumbnail_over_a_million_bytes(raw: _Raw) -> None:
    raw.fake.blob_limit = 2_000_000  # the upload itself is allowed (images take 2 MB)
    blob = raw.upload(b"\xff\xd8\xff" + b"\0" * 1_000_000, "image/jpeg")
    card = {"uri": "https://example.org", "title": "t", "description": "", "thumb": blob}
    answer = raw.post(embed={"$type": "app.bsky.embed.external", "external": card})
    assert answer.status_code == 400
    assert "Record/embed/external/thumb is too large" in answer.json()["message"]
    images = {"images": [{"image": blob, "alt": "a picture"}]}
    assert raw.post(embed={"$type": "app.bsky.embed.images", **images}).status_code == 200


def test_the_fake_refuses_a_thumbnail_that_is_no_image(raw: _Raw) -> None:
    blob = raw.upload(b"%PDF-1.7 not a picture", "application/pdf")
    card = {"uri": "https://example.org", "title": "t", "description": "", "thumb": blob}
    answer = raw.post(embed={"$type": "app.bsky.embed.external", "external": card})
    assert answer.status_code == 400
    assert "wrong type of file" in answer.json()["message"]


def test_the_fake_takes_a_valid_post_at_the_limits(raw: _Raw) -> None:
    text = "é" * 299 + "!"
    answer = raw.post(text=text, langs=["en", "de", "fr"], facets=[{
        "index": {"byteStart": 0, "byteEnd": len(text.encode())},
        "features": [{"$type": "app.bsky.richtext.facet#link", "uri": "https://example.org"}]}])
    assert answer.status_code == 200, answer.text
    assert len(raw.fake.posts()) == 1


def _check_app(tmp_path: Path, fake: FakeBluesky, langs: list[str]) -> Any:
    from publisher.app import make_app
    from publisher.config import Settings

    (tmp_path / "schedules").mkdir(exist_ok=True)
    (tmp_path / "schedules" / "site.toml").write_text(f"""
[[feeds]]
name = "site"
url = "https://news.example/feed/"

[channels.bsky-news]
type = "bluesky"
base_url = "{fake.base_url}"
credentials = {{ handle = "BSKY_HANDLE", app_password = "BSKY_PASSWORD" }}
options = {{ langs = {langs!r}, session_dir = "{tmp_path / 'var'}" }}

[[routes]]
channels = ["bsky-news"]
""".replace("'", '"'))
    settings = Settings(schedules=tmp_path / "schedules", templates=tmp_path / "templates",
                        env_file=tmp_path / ".env",
                        database_url=f"sqlite:///{tmp_path / 'publisher.db'}")
    return make_app(settings, environ={"BSKY_HANDLE": HANDLE, "BSKY_PASSWORD": PASSWORD})


@pytest.mark.parametrize(("langs", "ok"), [(["en", "de", "fr"], True),
                                           (["en", "de", "fr", "it"], False)])
def test_publisher_check_refuses_more_than_three_langs(tmp_path: Path, fake: FakeBluesky,
                                                       langs: list[str], ok: bool) -> None:
    app = _check_app(tmp_path, fake, langs)
    try:
        [(name, passed, line)] = app.check_channels()
    finally:
        app.close()
    assert (name, passed) == ("bsky-news", ok)
    if ok:
        assert HANDLE in line
    else:
        assert "options.langs" in line and "at most 3" in line and "'bsky-news'" in line
        assert fake.logins == 0  # refused before any call to Bluesky
