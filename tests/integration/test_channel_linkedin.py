"""LinkedInChannel through real httpx against FakeLinkedIn over HTTP on 127.0.0.1."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest
from PIL import Image as PILImage

from publisher.channels.base import ChannelSpec
from publisher.channels.images import shared_cache
from publisher.channels.linkedin import (
    DEFAULT_VERSION,
    LinkedInChannel,
    little_text,
    plain_text,
    version_sunset,
    version_warning,
)
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
from tests.fakes.conformance import (
    COMMON_FAULTS,
    assert_fault_maps,
    fault_texts,
    raised,
)
from tests.fakes.fakehttp import FileServer, Reply, Request
from tests.fakes.linkedin_server import FakeLinkedIn, read_little

TOKEN = "AQVlinkedin-TOKEN-0a1b2c3d4e5f"
SECRETS = {"access_token": TOKEN}
ORG = "urn:li:organization:5515715"
LINK = "https://news.example.org/2025/06/flood-warning"
HEADLINE = "Flood warning (update) for [river] district_7 as levels rise #Weather"
TEXT = HEADLINE


@pytest.fixture
def fake() -> Iterator[FakeLinkedIn]:
    server = FakeLinkedIn(organization_id="5515715", access_token=TOKEN, slow_seconds=30)
    with server:
        yield server
        server.release_slow()
    assert not server.errors, server.errors[0]


@pytest.fixture
def make(fake: FakeLinkedIn) -> Iterator[Callable[..., LinkedInChannel]]:
    made: list[LinkedInChannel] = []

    def build(*, timeout: float = 5.0, base_url: str | None = None,
              secrets: dict[str, str] | None = None, **options: object) -> LinkedInChannel:
        options.setdefault("organization", ORG)
        spec = ChannelSpec("linkedin", "linkedin", secrets=secrets or SECRETS, options=options,
                           base_url=base_url or fake.base_url, timeout=timeout)
        channel = LinkedInChannel(spec)
        made.append(channel)
        return channel

    yield build
    for channel in made:
        channel.close()


@pytest.fixture
def channel(make: Callable[..., LinkedInChannel]) -> LinkedInChannel:
    return make()


def _request(text: str = TEXT, *, link: str | None = LINK, image: Image | None = None,
             after_ambiguous: bool = False) -> PublishRequest:
    return PublishRequest(post_id=7, idempotency_key="k-7", text=text, link=link, image=image,
                          title="Flood warning", summary="Levels rise (again) tonight.",
                          after_ambiguous=after_ambiguous)


def _png(width: int = 64, height: int = 48) -> bytes:
    out = io.BytesIO()
    PILImage.new("RGB", (width, height), (20, 90, 200)).save(out, "PNG")
    return out.getvalue()


@pytest.fixture(autouse=True)
def _fresh_image_cache() -> Iterator[None]:
    shared_cache().clear()
    yield
    shared_cache().clear()


@pytest.fixture
def images() -> Iterator[FileServer]:
    with FileServer({"/photo.png": (_png(), "image/png"),
                     "/notes.txt": (b"not a picture", "text/plain")}) as site:
        yield site


# --- little text ---------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("plain words", "plain words"),
    ("a (b) [c] {d} <e>", "a \\(b\\) \\[c\\] \\{d\\} \\<e\\>"),
    ("x_y*z~w|v@u\\t", "x\\_y\\*z\\~w\\|v\\@u\\\\t"),
    ("#Weather alert", "{hashtag|\\#|Weather} alert"),
    ("Rain #Weather #CityCouncil", "Rain {hashtag|\\#|Weather} {hashtag|\\#|CityCouncil}"),
    ("no#tag", "no\\#tag"),  # not a hashtag inside a word
    ("#1 priority", "\\#1 priority"),  # digits only: not a hashtag
    ("#Städte und #東京", "{hashtag|\\#|Städte} und {hashtag|\\#|東京}"),
    ("#snake_case", "{hashtag|\\#|snake}\\_case"),
    ("https://x.org/a_(b)#frag", "https://x.org/a\\_\\(b\\)\\#frag"),
])
def test_little_text(text: str, expected: str) -> None:
    assert little_text(text) == expected
    shown, _ = read_little(expected)
    assert shown == text  # LinkedIn shows exactly what we meant


def test_an_unescaped_headline_would_be_cut_short() -> None:
    # Why escaping matters: the fake reads commentary as LinkedIn does.
    assert read_little(HEADLINE)[0] == "Flood warning "


# --- configuration -----------------------------------------------------------------


@pytest.mark.parametrize(("options", "key"), [
    ({}, "organization"),
    ({"organization": "12345"}, "organization"),
    ({"organization": "urn:li:person:abc"}, "organization"),
    ({"organization": ORG, "version": "2025-10"}, "version"),
    ({"organization": ORG, "api_version": "latest"}, "api_version"),
])
def test_bad_options_are_config_errors(options: dict[str, str], key: str) -> None:
    with pytest.raises(ConfigError, match=rf"options\.{key}"):
        LinkedInChannel(ChannelSpec("li", "linkedin", secrets=SECRETS, options=options))


# --- publishing --------------------------------------------------------------------


def test_publish_article_post_with_escaped_commentary(channel: LinkedInChannel,
                                                      fake: FakeLinkedIn) -> None:
    result = channel.publish(_request())

    assert channel.delivery is DeliveryClass.RECONCILABLE
    [post] = fake.posts
    assert post.commentary == ("Flood warning \\(update\\) for \\[river\\] district\\_7 as "
                               "levels rise {hashtag|\\#|Weather}")
    assert post.shown == HEADLINE  # nothing cut
    assert post.hashtags == ["Weather"]
    assert post.body["author"] == ORG
    assert post.body["visibility"] == "PUBLIC"
    assert post.body["distribution"]["feedDistribution"] == "MAIN_FEED"
    assert post.body["lifecycleState"] == "PUBLISHED"
    assert post.body["isReshareDisabledByAuthor"] is False
    assert post.article == {"source": LINK, "title": "Flood warning",
                            "description": "Levels rise (again) tonight."}
    assert result.remote_id == post.urn
    assert result.remote_url == f"https://www.linkedin.com/feed/update/{post.urn}/"
    assert result.http_status == 201
    assert fake.versions == {DEFAULT_VERSION}
    assert fake.protocol_versions == {"2.0.0"}


def test_post_without_link_has_no_article(channel: LinkedInChannel, fake: FakeLinkedIn) -> None:
    channel.publish(_request(text="Just words", link=None))
    assert "content" not in fake.posts[0].body


def test_api_version_option(make: Callable[..., LinkedInChannel], fake: FakeLinkedIn) -> None:
    make(api_version="202603").publish(_request())
    make(version="202602").publish(_request(text="The older option name"))
    assert fake.versions == {"202603", "202602"}


def test_retired_version_pauses_the_channel(make: Callable[..., LinkedInChannel],
                                            fake: FakeLinkedIn) -> None:
    with pytest.raises(AuthFailed, match=r"options\.api_version") as caught:
        make(api_version="202510").publish(_request())
    assert caught.value.http_status == 426
    assert "Requested version 20251001 is not active" in str(caught.value)


def test_fake_requires_the_version_header(fake: FakeLinkedIn) -> None:
    answer = httpx.post(fake.base_url + "/rest/posts", json={},
                        headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 400
    assert answer.json()["code"] == "VERSION_MISSING"


# --- faults ------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "error", "status"), COMMON_FAULTS)
def test_fault_maps_to_taxonomy(channel: LinkedInChannel, fake: FakeLinkedIn, kind: str,
                                error: type[ChannelError], status: int | None) -> None:
    assert_fault_maps(channel, fake, _request(), kind, error, status)


def test_daily_rate_limit_waits_until_midnight_utc(channel: LinkedInChannel,
                                                   fake: FakeLinkedIn) -> None:
    fake.fail_next("429")
    with pytest.raises(RateLimited) as caught:
        channel.publish(_request())
    until = caught.value.until
    assert (until.hour, until.minute, until.second) == (0, 0, 0)
    assert datetime.now(UTC) < until <= datetime.now(UTC) + timedelta(days=1)
    assert "DAY limit" in str(caught.value)


def test_rate_limit_with_retry_after(channel: LinkedInChannel, fake: FakeLinkedIn) -> None:
    fake.send_retry_after = True
    fake.rate_limit_seconds = 30
    fake.fail_next("429")
    with pytest.raises(RateLimited) as caught:
        channel.publish(_request())
    assert caught.value.until <= datetime.now(UTC) + timedelta(seconds=31)


def test_rate_limit_without_any_hint_waits_an_hour(channel: LinkedInChannel,
                                                   fake: FakeLinkedIn) -> None:
    fake.handle = lambda request: fake.error(  # type: ignore[method-assign]
        429, "TOO_MANY_REQUESTS", "Too many requests")
    with pytest.raises(RateLimited) as caught:
        channel.publish(_request())
    assert datetime.now(UTC) + timedelta(minutes=59) < caught.value.until
    assert caught.value.until < datetime.now(UTC) + timedelta(minutes=61)


def test_timeout_is_ambiguous_and_find_finds_it(make: Callable[..., LinkedInChannel],
                                                fake: FakeLinkedIn) -> None:
    channel = make(timeout=0.5)
    fake.fail_next("slow")
    with pytest.raises(Ambiguous, match="ReadTimeout"):
        channel.publish(_request())
    fake.release_slow()
    fake.settle()
    found = channel.find(_request())
    assert found is not None and found.remote_id == fake.posts[0].urn


def test_connection_refused_is_transient(make: Callable[..., LinkedInChannel]) -> None:
    closed = FakeLinkedIn()
    with closed:
        url = closed.base_url
    with pytest.raises(Transient, match="could not connect"):
        make(base_url=url).publish(_request())


@pytest.mark.parametrize(("status", "body", "error"), [
    (400, {"status": 400, "code": "ILLEGAL_ARGUMENT", "message": "bad"}, Permanent),
    (422, {"status": 422, "message": "ERROR :: /commentary :: too long"}, Permanent),
    (404, {"status": 404, "message": "nope"}, Permanent),
    (401, {"status": 401, "code": "EXPIRED_ACCESS_TOKEN", "message": "expired"}, AuthFailed),
    (403, {"status": 403, "code": "ACCESS_DENIED", "message": "denied"}, AuthFailed),
    (502, None, Transient),
    (504, {"status": 504, "message": "gateway"}, Transient),
])
def test_status_mapping(channel: LinkedInChannel, fake: FakeLinkedIn, status: int,
                        body: object, error: type[ChannelError]) -> None:
    fake.handle = lambda request: Reply(status, body)  # type: ignore[method-assign]
    with pytest.raises(error) as caught:
        channel.publish(_request())
    assert type(caught.value) is error
    assert caught.value.http_status == status


def test_missing_permission_names_it(channel: LinkedInChannel, fake: FakeLinkedIn) -> None:
    fake.scopes.discard("w_organization_social")
    with pytest.raises(AuthFailed, match="w_organization_social") as caught:
        channel.publish(_request())
    assert "partnerApiPostsExternal.CREATE" in str(caught.value)


def test_answer_without_urn_is_ambiguous(channel: LinkedInChannel, fake: FakeLinkedIn) -> None:
    fake.handle = lambda request: Reply(201, None)  # type: ignore[method-assign]
    with pytest.raises(Ambiguous, match="without the post's id"):
        channel.publish(_request())


# --- reconciliation and duplicates ---------------------------------------------------


def test_reset_after_then_find_finds_it(channel: LinkedInChannel, fake: FakeLinkedIn) -> None:
    fake.fail_next("reset_after")
    with pytest.raises(Ambiguous):
        channel.publish(_request())
    fake.settle()
    found = channel.find(_request())
    assert found is not None
    assert found.remote_id == fake.posts[0].urn
    assert found.remote_url == f"https://www.linkedin.com/feed/update/{fake.posts[0].urn}/"


def test_reset_before_then_find_finds_nothing(channel: LinkedInChannel,
                                              fake: FakeLinkedIn) -> None:
    fake.fail_next("reset_before")
    with pytest.raises(Ambiguous):
        channel.publish(_request())
    fake.settle()
    assert fake.posts == []
    assert channel.find(_request()) is None


def test_find_matches_link_canonically_and_exact_commentary(channel: LinkedInChannel,
                                                            fake: FakeLinkedIn) -> None:
    channel.publish(_request(link=LINK + "/?utm_source=linkedin"))
    channel.publish(_request(text="No link (here)", link=None))
    by_link = channel.find(_request(text="other words", link=LINK))
    assert by_link is not None and by_link.remote_id == fake.posts[0].urn
    by_text = channel.find(_request(text="No link (here)", link=None))
    assert by_text is not None and by_text.remote_id == fake.posts[1].urn
    assert channel.find(_request(text="Something else", link=LINK + "-2")) is None
    assert all(r.scope == "read" for r in fake.requests if r.method == "GET")


def test_duplicate_after_ambiguous_returns_the_earlier_post(channel: LinkedInChannel,
                                                            fake: FakeLinkedIn) -> None:
    fake.fail_next("reset_after")
    with pytest.raises(Ambiguous):
        channel.publish(_request())
    fake.settle()
    result = channel.publish(_request(after_ambiguous=True))
    assert len(fake.posts) == 1
    assert result.remote_id == fake.posts[0].urn
    assert any("duplicate" in note for note in result.notes)


def test_duplicate_without_ambiguity_is_permanent(channel: LinkedInChannel,
                                                  fake: FakeLinkedIn) -> None:
    channel.publish(_request())
    with pytest.raises(Permanent, match="duplicate") as caught:
        channel.publish(_request())
    assert type(caught.value) is Permanent
    assert caught.value.http_status == 422
    assert len(fake.posts) == 1


# --- credentials -------------------------------------------------------------------


def test_whoami(channel: LinkedInChannel) -> None:
    assert channel.whoami() == f"Riverside Ledger ({ORG})"


def test_whoami_without_organization_permission_names_it(channel: LinkedInChannel,
                                                         fake: FakeLinkedIn) -> None:
    fake.scopes.discard("rw_organization_admin")
    answer = channel.whoami()
    assert answer.startswith("Dana Editor: the token cannot read the organization")
    assert "rw_organization_admin" in answer and "w_organization_social" in answer
    fake.can_read_userinfo = False
    assert channel.whoami().startswith("token accepted")


def test_revoked_token_fails_auth(channel: LinkedInChannel, fake: FakeLinkedIn) -> None:
    fake.fail_next("revoked")
    with pytest.raises(AuthFailed, match="revoked"):
        channel.publish(_request())
    with pytest.raises(AuthFailed):
        channel.whoami()
    with pytest.raises(AuthFailed):
        channel.find(_request())


def test_wrong_token_fails_auth(make: Callable[..., LinkedInChannel]) -> None:
    with pytest.raises(AuthFailed, match="Invalid access token"):
        make(secrets={"access_token": "AQV-not-the-right-one"}).whoami()


def test_secrets_never_in_messages_or_repr(make: Callable[..., LinkedInChannel],
                                           fake: FakeLinkedIn) -> None:
    channel = make(timeout=0.5)
    texts = [repr(channel), str(channel)]
    texts += fault_texts(fake, {
        "any": lambda kind: channel.publish(_request(text=f"{kind} {TEXT}")),
        "read": lambda kind: channel.find(_request()),
    })
    fake.fail_next("revoked")
    texts += raised(channel.whoami, AuthFailed)
    # A platform that echoes the token back must not get it into our messages.
    fake.handle = lambda request: Reply(  # type: ignore[method-assign]
        400, {"status": 400, "message": f"bad token {TOKEN}"})
    texts += raised(lambda: channel.publish(_request()), Permanent)
    for text in texts:
        assert TOKEN not in text



# --- the article card: fields LinkedIn requires, a thumbnail through the Images API ----


def test_article_thumbnail_is_uploaded_through_the_images_api(
        make: Callable[..., LinkedInChannel], fake: FakeLinkedIn, images: FileServer) -> None:
    channel = make(allow_private_images=True)
    result = channel.publish(_request(image=Image(images.url("/photo.png"), alt="The river")))
    [post] = fake.posts
    assert post.article is not None
    urn = post.article["thumbnail"]
    assert urn.startswith("urn:li:image:")
    assert post.article["thumbnailAltText"] == "The river"
    assert (post.article["source"], post.article["title"]) == (LINK, "Flood warning")
    image = fake.images[urn]
    assert (image["status"], image["owner"], image["format"]) == ("AVAILABLE", ORG, "PNG")
    assert image["data"] == _png()
    steps = [(r.method, r.path.split("/")[1]) for r in fake.requests]
    assert steps == [("POST", "rest"), ("PUT", "dms-uploads"), ("POST", "rest")]
    assert result.notes == ()


def test_image_that_cannot_be_used_leaves_a_card_without_thumbnail(
        make: Callable[..., LinkedInChannel], fake: FakeLinkedIn, images: FileServer) -> None:
    channel = make(allow_private_images=True)
    result = channel.publish(_request(image=Image(images.url("/notes.txt"))))
    [post] = fake.posts
    assert post.article is not None and "thumbnail" not in post.article
    assert result.notes and result.notes[0].startswith("image skipped")


def test_private_image_address_is_refused_by_default(channel: LinkedInChannel,
                                                     fake: FakeLinkedIn,
                                                     images: FileServer) -> None:
    result = channel.publish(_request(image=Image(images.url("/photo.png"))))
    assert fake.images == {} and result.notes[0].startswith("image skipped")
    assert fake.posts[0].article is not None and "thumbnail" not in fake.posts[0].article


def test_failed_upload_is_a_note_not_a_failed_post(make: Callable[..., LinkedInChannel],
                                                   fake: FakeLinkedIn,
                                                   images: FileServer) -> None:
    fake.fail_next("500", on="upload")
    result = make(allow_private_images=True).publish(
        _request(image=Image(images.url("/photo.png"))))
    assert result.notes[0].startswith("image skipped: upload failed")
    assert len(fake.posts) == 1


def test_token_is_never_sent_to_an_upload_url_off_linkedin(
        make: Callable[..., LinkedInChannel], fake: FakeLinkedIn, images: FileServer) -> None:
    serve = fake.handle

    def elsewhere(request: Request) -> Reply:
        if request.path == "/rest/images":
            return Reply(200, {"value": {"uploadUrl": "https://uploads.example.net/x",
                                         "image": "urn:li:image:C4E10AQfake"}})
        return serve(request)

    fake.handle = elsewhere  # type: ignore[method-assign]
    result = make(allow_private_images=True).publish(
        _request(image=Image(images.url("/photo.png"))))
    assert "not on a LinkedIn host" in result.notes[0]
    assert fake.posts[0].article is not None and "thumbnail" not in fake.posts[0].article


def test_fake_requires_the_article_fields_linkedin_requires(fake: FakeLinkedIn) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}", "LinkedIn-Version": DEFAULT_VERSION,
               "X-Restli-Protocol-Version": "2.0.0"}
    body = {"author": ORG, "commentary": "x", "visibility": "PUBLIC",
            "distribution": {"feedDistribution": "MAIN_FEED"}, "lifecycleState": "PUBLISHED",
            "content": {"article": {"source": LINK}}}
    answer = httpx.post(fake.base_url + "/rest/posts", json=body, headers=headers)
    assert answer.status_code == 422 and "/content/article/title" in answer.json()["message"]
    body["content"] = {"article": {"source": LINK, "title": "t",
                                   "thumbnail": "urn:li:image:never-uploaded"}}
    answer = httpx.post(fake.base_url + "/rest/posts", json=body, headers=headers)
    assert answer.status_code == 422 and "thumbnail" in answer.json()["message"]
    assert fake.posts == []


# --- the permission to read posts back: r_organization_social -------------------------


def test_fake_refuses_reads_without_r_organization_social(fake: FakeLinkedIn) -> None:
    fake.scopes.discard("r_organization_social")
    answer = httpx.get(fake.base_url + "/rest/posts",
                       params={"author": ORG, "q": "author", "count": "1"},
                       headers={"Authorization": f"Bearer {TOKEN}",
                                "LinkedIn-Version": DEFAULT_VERSION})
    assert answer.status_code == 403
    assert answer.json() == {"status": 403, "serviceErrorCode": 100, "code": "ACCESS_DENIED",
                             "message": "Not enough permissions to access: "
                                        f"partnerApiPostsExternal.FINDER-author.{DEFAULT_VERSION}01"}


def test_look_up_without_the_read_permission_names_it(channel: LinkedInChannel,
                                                      fake: FakeLinkedIn) -> None:
    fake.scopes.discard("r_organization_social")
    channel.publish(_request())  # posting needs only w_organization_social
    with pytest.raises(AuthFailed, match="needs r_organization_social") as caught:
        channel.find(_request())
    assert caught.value.http_status == 403


def test_check_warns_when_posts_cannot_be_read_back(channel: LinkedInChannel,
                                                    fake: FakeLinkedIn) -> None:
    today = date(2026, 12, 2)
    assert channel.check_warnings(today) == []
    fake.scopes.discard("r_organization_social")
    assert channel.whoami() == f"Riverside Ledger ({ORG})"  # it can post...
    [line] = channel.check_warnings(today)  # ...but check says what is missing
    assert "needs r_organization_social" in line and "pause" in line


# --- LinkedIn-Version: a setting, and warned about before its sunset ------------------


@pytest.mark.parametrize(("version", "today", "expected"), [
    ("202510", date(2026, 12, 2), "was retired on 2026-10-15"),  # the old default
    ("202511", date(2026, 11, 16), "was retired on 2026-11-16"),
    ("202601", date(2026, 12, 2), "is retired on 2027-01-15, in 44 days"),
    ("202603", date(2027, 1, 15), "is retired on 2027-03-16, in 60 days"),
    ("202603", date(2027, 1, 14), None),
    ("202607", date(2026, 12, 2), None),
    ("202607", date(2027, 6, 1), "is retired on 2027-07-15, in 44 days"),
    ("202608.01", date(2027, 9, 1), "was retired on 2027-08-15"),
])
def test_version_warning(version: str, today: date, expected: str | None) -> None:
    warning = version_warning(version, today)
    if expected is None:
        assert warning is None
    else:
        assert warning is not None and expected in warning and "options.api_version" in warning


def test_default_version_is_one_linkedin_serves_a_year_from_its_release() -> None:
    assert version_sunset(DEFAULT_VERSION) > date(2026, 12, 2) + timedelta(days=180)


def test_check_warns_about_a_version_near_its_sunset(make: Callable[..., LinkedInChannel]
                                                     ) -> None:
    channel = make(api_version="202601")
    [line] = channel.check_warnings(date(2026, 12, 2))
    assert line.startswith("LinkedIn-Version 202601 is retired on 2027-01-15")


# Real answers LinkedIn gave, as quoted in public bug reports (no SDK repository
# publishes recorded LinkedIn answers): PipedreamHQ/pipedream#18398 (2025-09-17)
# and n8n-io/n8n#14737 (2025-04-18).
@pytest.mark.parametrize("body", [
    {"status": 426, "code": "NONEXISTENT_VERSION",
     "message": "Requested version 20240901 is not active"},
    {"status": 426, "code": "NONEXISTENT_VERSION",
     "message": "Requested version 20240401 is not active"},
])
def test_real_retired_version_answer_pauses_the_channel(channel: LinkedInChannel,
                                                        fake: FakeLinkedIn,
                                                        body: dict[str, object]) -> None:
    fake.handle = lambda request: Reply(426, body)  # type: ignore[method-assign]
    with pytest.raises(AuthFailed, match=r"options\.api_version") as caught:
        channel.publish(_request())
    assert caught.value.http_status == 426 and str(body["message"]) in str(caught.value)


# --- after the post: delete, read back, edit (issue 13) ------------------------------


def _published(channel: LinkedInChannel, text: str = TEXT) -> str:
    return channel.publish(_request(text=text)).remote_id


def _entity(urn: str) -> str:
    return "/rest/posts/" + urn.replace(":", "%3A")


@pytest.mark.parametrize("text", [
    TEXT, "Plain words", "a \\ backslash and #Tag_1 and {braces} @[x](y)", "#Lead line",
])
def test_plain_text_reads_little_text_back(text: str) -> None:
    assert plain_text(little_text(text)) == text


def test_delete_removes_the_post_and_the_finder_no_longer_lists_it(
        channel: LinkedInChannel, fake: FakeLinkedIn) -> None:
    urn = _published(channel)
    assert channel.read_back(urn) == TEXT

    channel.delete(urn)

    assert fake.posts == []
    assert list(fake.deleted) == [urn]
    [call] = fake.requests_to("DELETE", _entity(urn))
    assert call.status == 204 and call.scope == "delete"
    assert channel.read_back(urn) is None
    assert channel.find(_request()) is None


def test_delete_is_idempotent_and_an_unknown_post_is_gone(channel: LinkedInChannel,
                                                         fake: FakeLinkedIn) -> None:
    urn = _published(channel)
    channel.delete(urn)
    channel.delete(urn)  # LinkedIn: 204 again
    channel.delete("urn:li:share:1")  # never existed: 404
    assert [r.status for r in fake.requests if r.method == "DELETE"] == [204, 204, 404]


def test_delete_needs_w_organization_social(channel: LinkedInChannel,
                                           fake: FakeLinkedIn) -> None:
    urn = _published(channel)
    fake.scopes.discard("w_organization_social")
    with pytest.raises(AuthFailed, match="w_organization_social") as caught:
        channel.delete(urn)
    assert "partnerApiPostsExternal.DELETE" in str(caught.value)
    assert len(fake.posts) == 1


def test_read_back_needs_r_organization_social(channel: LinkedInChannel,
                                              fake: FakeLinkedIn) -> None:
    urn = _published(channel)
    fake.scopes.discard("r_organization_social")
    with pytest.raises(AuthFailed, match="r_organization_social"):
        channel.read_back(urn)


@pytest.mark.parametrize(("kind", "error", "status"), COMMON_FAULTS)
def test_delete_fault_maps_to_taxonomy(channel: LinkedInChannel, fake: FakeLinkedIn,
                                       kind: str, error: type[ChannelError],
                                       status: int | None) -> None:
    urn = _published(channel)
    assert_raises_under_fault(fake, "delete", kind, lambda: channel.delete(urn), error, status)


def test_delete_rate_limit(channel: LinkedInChannel, fake: FakeLinkedIn) -> None:
    urn = _published(channel)
    fake.send_retry_after = True
    fake.fail_next("429", on="delete")
    before = datetime.now(UTC)
    with pytest.raises(RateLimited) as caught:
        channel.delete(urn)
    assert before + timedelta(seconds=2) <= caught.value.until
    assert caught.value.until <= datetime.now(UTC) + timedelta(seconds=fake.rate_limit_seconds)
    assert len(fake.posts) == 1


def test_delete_applied_then_reset_is_settled_by_read_back(channel: LinkedInChannel,
                                                          fake: FakeLinkedIn) -> None:
    urn = _published(channel)
    fake.fail_next("reset_after", on="delete")
    with pytest.raises(Ambiguous):
        channel.delete(urn)
    fake.settle()
    assert fake.posts == []
    assert channel.read_back(urn) is None
    channel.delete(urn)


def test_edit_replaces_the_commentary_in_place(channel: LinkedInChannel,
                                              fake: FakeLinkedIn) -> None:
    urn = _published(channel)
    corrected = "Flood warning (corrected): east bank only #Weather"
    result = channel.edit(urn, _request(text=corrected, link=None))
    assert result.remote_id == urn
    assert result.remote_url == f"https://www.linkedin.com/feed/update/{urn}/"
    assert result.http_status == 204
    assert result.notes == ()
    [(edited, changes)] = fake.updates
    assert edited == urn and set(changes) == {"commentary"}
    [post] = fake.posts
    assert post.shown == corrected  # not cut short: escaped as LinkedIn needs
    assert post.hashtags == ["Weather"]
    assert post.article is not None and post.article["source"] == LINK  # the card stays
    assert channel.read_back(urn) == corrected
    [call] = fake.requests_to("POST", _entity(urn))
    assert call.scope == "edit"


def test_edit_with_a_link_says_the_card_stays(channel: LinkedInChannel,
                                             fake: FakeLinkedIn) -> None:
    urn = _published(channel)
    result = channel.edit(urn, _request(text="Corrected text"))
    assert result.notes == ("LinkedIn keeps the post's article card: only the text was changed",)


def test_edit_of_a_deleted_post_is_permanent(channel: LinkedInChannel,
                                            fake: FakeLinkedIn) -> None:
    urn = _published(channel)
    channel.delete(urn)
    with pytest.raises(Permanent, match="no longer has post") as caught:
        channel.edit(urn, _request(text="Corrected"))
    assert caught.value.http_status == 404


def test_edit_needs_w_organization_social(channel: LinkedInChannel,
                                         fake: FakeLinkedIn) -> None:
    urn = _published(channel)
    fake.scopes.discard("w_organization_social")
    with pytest.raises(AuthFailed, match="w_organization_social"):
        channel.edit(urn, _request(text="Corrected"))
    assert fake.updates == []


def test_fake_refuses_to_update_fields_linkedin_does_not_let_change(
        fake: FakeLinkedIn, channel: LinkedInChannel) -> None:
    urn = _published(channel)
    answer = httpx.post(fake.base_url + _entity(urn), json={
        "patch": {"$set": {"content": {"article": {"source": "https://else.example"}}}}},
        headers={"Authorization": f"Bearer {TOKEN}", "LinkedIn-Version": DEFAULT_VERSION,
                 "X-RestLi-Method": "PARTIAL_UPDATE"})
    assert answer.status_code == 422
    assert "/content" in answer.json()["message"]


@pytest.mark.parametrize(("kind", "error", "status"), COMMON_FAULTS)
def test_edit_fault_maps_to_taxonomy(channel: LinkedInChannel, fake: FakeLinkedIn,
                                     kind: str, error: type[ChannelError],
                                     status: int | None) -> None:
    urn = _published(channel)
    assert_raises_under_fault(fake, "edit", kind,
                              lambda: channel.edit(urn, _request(text="Corrected")), error, status)


def test_edit_applied_then_reset_is_settled_by_read_back(channel: LinkedInChannel,
                                                        fake: FakeLinkedIn) -> None:
    urn = _published(channel)
    fake.fail_next("reset_after", on="edit")
    with pytest.raises(Ambiguous):
        channel.edit(urn, _request(text="Corrected (east bank)"))
    fake.settle()
    assert channel.read_back(urn) == "Corrected (east bank)"  # settled: the edit is in


def test_edit_reset_before_it_arrived_is_settled_by_read_back(channel: LinkedInChannel,
                                                             fake: FakeLinkedIn) -> None:
    urn = _published(channel)
    fake.fail_next("reset_before", on="edit")
    with pytest.raises(Ambiguous):
        channel.edit(urn, _request(text="Corrected (east bank)"))
    assert channel.read_back(urn) == TEXT  # settled: not applied
    assert fake.updates == []


@pytest.mark.parametrize(("kind", "error", "status"), [
    ("500", Transient, 500), ("503", Transient, 503),
    ("reset_before", Transient, None), ("reset_after", Transient, None),
])
def test_read_back_fault_maps_to_taxonomy(channel: LinkedInChannel, fake: FakeLinkedIn,
                                          kind: str, error: type[ChannelError],
                                          status: int | None) -> None:
    urn = _published(channel)
    assert_raises_under_fault(fake, "read", kind, lambda: channel.read_back(urn), error, status)


def test_secrets_never_in_after_post_messages(make: Callable[..., LinkedInChannel],
                                              fake: FakeLinkedIn) -> None:
    channel = make(timeout=0.5)
    urn = _published(channel)
    texts = fault_texts(fake, {
        "delete": lambda kind: channel.delete(urn),
        "edit": lambda kind: channel.edit(urn, _request(text=f"Corrected {kind}")),
        "read": lambda kind: channel.read_back(urn),
    }, clear=True)
    fake.handle = lambda request: Reply(  # type: ignore[method-assign]
        400, {"status": 400, "message": f"bad token {TOKEN}"})
    texts += raised(lambda: channel.delete(urn), Permanent)
    texts += raised(lambda: channel.edit(urn, _request(text="x")), Permanent)
    for text in texts:
        assert TOKEN not in text


def test_retraction_run_under_30_percent_faults_deletes_each_post_once(
        channel: LinkedInChannel, fake: FakeLinkedIn) -> None:
    urns = [_published(channel, f"Story {i}") for i in range(40)]
    keep = urns[::5]
    doomed = [u for u in urns if u not in keep]
    fake.fault_rate(0.3, RUN_FAULTS, seed=13, on="any")
    report = retract(channel, doomed)
    fake.clear_faults()
    fake.settle()
    assert set(fake.deleted) == set(doomed)
    assert [p.urn for p in fake.posts] == keep
    assert report.ambiguous > 0 and report.settled_gone > 0 and report.settled_still_there > 0
