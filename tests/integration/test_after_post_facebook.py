"""After the post on Facebook: delete, read back, edit and comment through the real
facebook-sdk against FakeGraph over HTTP on 127.0.0.1 (issue 13)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import requests

from publisher.channels import REGISTRY
from publisher.channels.base import ChannelSpec
from publisher.channels.facebook import FacebookChannel
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
    RUN_FAULTS,
    assert_delete_fault_maps,
    assert_lost_delete_settled_by_read_back,
    assert_raises_under_fault,
    retract,
)
from tests.fakes.conformance import fault_texts, raised
from tests.fakes.graph_server import FakeGraph

TOKEN = "EAAGpage-AFTER-token-9d2e7b41c0"
PAGE_ID = "1234"
LINK = "https://news.example.org/2025/06/flood-warning"
TEXT = "Flood warning for the river district"


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

    def build(*, timeout: float = 5.0, **options: object) -> FacebookChannel:
        options.setdefault("page_id", PAGE_ID)
        spec = ChannelSpec("fb", "facebook", secrets={"page_token": TOKEN}, options=options,
                           base_url=fake.base_url, timeout=timeout)
        channel = FacebookChannel(spec)
        made.append(channel)
        return channel

    yield build
    for channel in made:
        channel.close()


@pytest.fixture
def channel(make: Callable[..., FacebookChannel]) -> FacebookChannel:
    return make()


def _request(text: str = TEXT) -> PublishRequest:
    return PublishRequest(post_id=3, idempotency_key="k-3", text=text, link=LINK)


def _graph(fake: FakeGraph, method: str, path: str, **params: str) -> requests.Response:
    return requests.request(method, f"{fake.base_url}/v23.0/{path}",
                            params={"access_token": TOKEN, **params}, timeout=5)


def test_registry_says_what_facebook_allows() -> None:
    info = REGISTRY["facebook"]
    assert (info.can_delete, info.can_edit, info.can_reply) == (True, True, True)
    assert info.delete_window is None


# --- delete ----------------------------------------------------------------------------


def test_delete_makes_the_post_gone(channel: FacebookChannel, fake: FakeGraph) -> None:
    kept = channel.publish(_request("Another story"))
    posted = channel.publish(_request())
    channel.delete(posted.remote_id)

    assert [p.id for p in fake.deleted] == [posted.remote_id]
    assert [p.id for p in fake.posts] == [kept.remote_id]
    gone = _graph(fake, "GET", posted.remote_id).json()["error"]
    assert (gone["code"], gone["error_subcode"]) == (100, 33)
    listed = _graph(fake, "GET", f"{PAGE_ID}/published_posts").json()["data"]
    assert [p["id"] for p in listed] == [kept.remote_id]
    assert channel.read_back(posted.remote_id) is None
    [call] = fake.requests_to("DELETE", f"/v23.0/{posted.remote_id}")
    assert call.status == 200


def test_delete_of_a_post_already_gone_returns_normally(channel: FacebookChannel,
                                                        fake: FakeGraph) -> None:
    posted = channel.publish(_request())
    channel.delete(posted.remote_id)
    channel.delete(posted.remote_id)  # code 100, subcode 33: already gone is done
    channel.delete(f"{PAGE_ID}_999")  # never there
    assert [r.status for r in fake.requests if r.method == "DELETE"] == [200, 400, 400]
    assert len(fake.deleted) == 1


def test_delete_without_manage_posts_is_auth_failed(channel: FacebookChannel,
                                                    fake: FakeGraph) -> None:
    posted = channel.publish(_request())
    fake.missing_permissions = {"pages_manage_posts"}
    with pytest.raises(AuthFailed) as caught:
        channel.delete(posted.remote_id)
    assert caught.value.http_status == 403
    fake.missing_permissions = set()
    fake.revoked = True
    with pytest.raises(AuthFailed):
        channel.delete(posted.remote_id)
    assert fake.deleted == []


@pytest.mark.parametrize(("kind", "error", "status", "gone"), DELETE_FAULTS)
def test_delete_fault_maps_to_taxonomy(channel: FacebookChannel, fake: FakeGraph, kind: str,
                                       error: type[ChannelError], status: int | None,
                                       gone: bool) -> None:
    posted = channel.publish(_request())
    assert_delete_fault_maps(channel, fake, posted.remote_id, kind, error, status, gone)


def test_delete_applied_then_answer_lost_is_settled_by_read_back(channel: FacebookChannel,
                                                                fake: FakeGraph) -> None:
    posted = channel.publish(_request())
    assert_lost_delete_settled_by_read_back(channel, fake, posted.remote_id)


@pytest.mark.parametrize("kind", ["429", "429_app", "429_613"])
def test_delete_rate_limited(channel: FacebookChannel, fake: FakeGraph, kind: str) -> None:
    posted = channel.publish(_request())
    fake.fail_next(kind, on="delete")
    with pytest.raises(RateLimited):
        channel.delete(posted.remote_id)
    assert fake.deleted == []


# --- read back -------------------------------------------------------------------------


def test_read_back_is_the_message(channel: FacebookChannel, fake: FakeGraph) -> None:
    text = "Flood <warning> & \"evacuation\"\n\nLine two"
    posted = channel.publish(_request(text))
    assert channel.read_back(posted.remote_id) == text
    [read] = fake.requests_to("GET", f"/v23.0/{posted.remote_id}")
    assert read.status == 200


@pytest.mark.parametrize(("kind", "error", "status"), [
    ("500", Transient, 500), ("503", Transient, 503),
    ("reset_before", Transient, None), ("reset_after", Transient, None),
    ("429", RateLimited, 400),
])
def test_read_back_fault_maps(channel: FacebookChannel, fake: FakeGraph, kind: str,
                              error: type[ChannelError], status: int | None) -> None:
    posted = channel.publish(_request())
    assert_raises_under_fault(fake, "read", kind, lambda: channel.read_back(posted.remote_id),
                              error, status)


# --- edit ------------------------------------------------------------------------------


def test_edit_replaces_the_message_in_place(channel: FacebookChannel, fake: FakeGraph) -> None:
    posted = channel.publish(_request())
    result = channel.edit(posted.remote_id, _request("Flood warning lifted"))
    assert result.remote_id == posted.remote_id
    [post] = fake.posts
    assert post.message == "Flood warning lifted"
    assert post.history == [TEXT]
    assert post.link == LINK  # the link attachment stays
    assert channel.read_back(posted.remote_id) == "Flood warning lifted"
    [update] = fake.requests_to("POST", f"/v23.0/{posted.remote_id}")
    assert update.status == 200


def test_edit_of_a_deleted_post_is_permanent(channel: FacebookChannel) -> None:
    posted = channel.publish(_request())
    channel.delete(posted.remote_id)
    with pytest.raises(Permanent) as caught:
        channel.edit(posted.remote_id, _request("Corrected"))
    assert caught.value.http_status == 400


def test_edit_without_manage_posts_is_auth_failed(channel: FacebookChannel,
                                                  fake: FakeGraph) -> None:
    posted = channel.publish(_request())
    fake.missing_permissions = {"pages_manage_posts"}
    with pytest.raises(AuthFailed):
        channel.edit(posted.remote_id, _request("Corrected"))
    assert fake.posts[0].message == TEXT


@pytest.mark.parametrize(("kind", "error", "status", "applied"), [
    ("500", Transient, 500, False),
    ("503", Transient, 503, False),
    ("429", RateLimited, 400, False),
    ("reset_before", Ambiguous, None, False),
    ("reset_after", Ambiguous, None, True),
])
def test_edit_fault_maps_and_read_back_settles_it(channel: FacebookChannel, fake: FakeGraph,
                                                  kind: str, error: type[ChannelError],
                                                  status: int | None, applied: bool) -> None:
    posted = channel.publish(_request())
    assert_raises_under_fault(fake, "edit", kind,
                              lambda: channel.edit(posted.remote_id, _request("Corrected")), error,
                              status)
    assert channel.read_back(posted.remote_id) == ("Corrected" if applied else TEXT)


# --- reply (a comment as the Page) -----------------------------------------------------


def test_reply_is_a_comment_as_the_page(channel: FacebookChannel, fake: FakeGraph) -> None:
    posted = channel.publish(_request())
    note = channel.reply(posted.remote_id, _request(f"Correction: the crest is Saturday. {LINK}"))
    [comment] = fake.posts[0].comments
    assert note.remote_id == comment.id != posted.remote_id
    assert comment.message == f"Correction: the crest is Saturday. {LINK}"
    assert comment.from_id == PAGE_ID
    assert note.remote_url is not None and "comment_id=" in note.remote_url
    assert len(fake.posts) == 1  # a comment, not a new post


def test_find_reply_settles_a_comment_in_doubt(channel: FacebookChannel,
                                               fake: FakeGraph) -> None:
    posted = channel.publish(_request(f"{TEXT} {LINK}"))
    note = _request(f"Correction: the crest is Saturday. {LINK}")
    # Before the comment exists: absent, even though the post carries the same link.
    assert channel.find_reply(posted.remote_id, note) is None
    fake.fail_next("reset_after", on="create")
    with pytest.raises(Ambiguous):
        channel.reply(posted.remote_id, note)
    found = channel.find_reply(posted.remote_id, note)
    assert found is not None
    assert found.remote_id == fake.posts[0].comments[0].id


def test_reply_on_a_deleted_post_is_permanent(channel: FacebookChannel,
                                              fake: FakeGraph) -> None:
    posted = channel.publish(_request())
    channel.delete(posted.remote_id)
    with pytest.raises(Permanent):
        channel.reply(posted.remote_id, _request("Correction"))


def test_reply_without_manage_engagement_is_auth_failed(channel: FacebookChannel,
                                                        fake: FakeGraph) -> None:
    posted = channel.publish(_request())
    fake.missing_permissions = {"pages_manage_engagement"}
    with pytest.raises(AuthFailed):
        channel.reply(posted.remote_id, _request("Correction"))
    assert fake.posts[0].comments == []


@pytest.mark.parametrize(("kind", "error"), [
    ("500", Transient), ("503", Transient), ("429", RateLimited),
    ("reset_before", Ambiguous), ("reset_after", Ambiguous),
])
def test_reply_fault_maps(channel: FacebookChannel, fake: FakeGraph, kind: str,
                          error: type[ChannelError]) -> None:
    posted = channel.publish(_request())
    fake.fail_next(kind, on="create")
    with pytest.raises(error) as caught:
        channel.reply(posted.remote_id, _request("Correction"))
    assert type(caught.value) is error


# --- a retraction run under faults -----------------------------------------------------


def test_retraction_run_under_random_faults(channel: FacebookChannel, fake: FakeGraph) -> None:
    ids = [channel.publish(_request(f"Story {n}")).remote_id for n in range(20)]
    kept = channel.publish(_request("Not retracted")).remote_id
    fake.fault_rate(0.3, RUN_FAULTS, seed=11, on="any")
    report = retract(channel, ids)
    assert sorted(p.id for p in fake.deleted) == sorted(ids)
    assert [p.id for p in fake.posts] == [kept]
    assert report.ambiguous > 0 and report.settled_gone > 0


# --- secrets ---------------------------------------------------------------------------


def test_secrets_never_in_messages(make: Callable[..., FacebookChannel], fake: FakeGraph,
                                   caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    channel = make(timeout=0.5)
    posted = channel.publish(_request())
    texts = fault_texts(fake, {
        "delete": lambda kind: channel.delete(posted.remote_id),
        "edit": lambda kind: channel.edit(posted.remote_id, _request("Corrected")),
        "read": lambda kind: channel.read_back(posted.remote_id),
        "create": lambda kind: channel.reply(posted.remote_id, _request(f"Note {kind}")),
    }, clear=True)
    fake.revoked = True
    texts += raised(lambda: channel.delete(posted.remote_id), AuthFailed)
    texts += raised(lambda: channel.read_back(posted.remote_id), AuthFailed)
    texts.append(caplog.text)
    assert len(texts) > 40
    assert not any(TOKEN in text for text in texts)
