"""After the post on Mastodon: delete, read back, edit and reply through the real
Mastodon.py against FakeMastodon over HTTP on 127.0.0.1 (issue 13)."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from PIL import Image as PILImage

from publisher.channels import REGISTRY
from publisher.channels.base import ChannelSpec
from publisher.channels.images import shared_cache
from publisher.channels.mastodon import MastodonChannel, reply_key
from publisher.exceptions import (
    Ambiguous,
    AuthFailed,
    ChannelError,
    Permanent,
    RateLimited,
    Transient,
)
from publisher.types import Image, PublishRequest
from tests.fakes.after_post import (
    DELETE_FAULTS,
    READ_BACK_FAULTS,
    assert_delete_fault_maps,
    assert_delete_rate_limited_until_announced,
    assert_lost_delete_settled_by_read_back,
    assert_raises_under_fault,
)
from tests.fakes.conformance import fault_texts, raised
from tests.fakes.fakehttp import FakeServer, FileServer, Reply, Request
from tests.fakes.mastodon_server import FakeMastodon

TOKEN = "mastodon-ACCESS-token-after-7d21c0"
LINK = "https://news.example.org/2025/06/flood-warning"
NEW_LINK = "https://news.example.org/2025/06/flood-warning-corrected"
KEY = "a1b2c3d4e5f60718293a4b5c6d7e8f90"
RECORDED = Path(__file__).resolve().parents[1] / "data" / "recorded" / "mastodon"


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

    def build(*, timeout: float = 5.0) -> MastodonChannel:
        spec = ChannelSpec("masto", "mastodon", secrets={"access_token": TOKEN},
                           base_url=fake.base_url, timeout=timeout)
        channel = MastodonChannel(spec)
        made.append(channel)
        return channel

    yield build
    for channel in made:
        channel.close()


@pytest.fixture
def channel(make: Callable[..., MastodonChannel]) -> MastodonChannel:
    return make()


def _request(text: str = f"Flood warning for the river district\n\n{LINK}", *,
             key: str = KEY, after_ambiguous: bool = False) -> PublishRequest:
    return PublishRequest(post_id=1, idempotency_key=key, text=text, link=LINK,
                          after_ambiguous=after_ambiguous)


def _listed(fake: FakeMastodon) -> list[str]:
    """The ids the account's statuses endpoint lists, read over HTTP."""
    answer = requests.get(f"{fake.base_url}/api/v1/accounts/{fake.account_id}/statuses",
                          headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
    assert answer.status_code == 200
    return [s["id"] for s in answer.json()]


def test_registry_says_what_mastodon_allows() -> None:
    info = REGISTRY["mastodon"]
    assert (info.can_delete, info.can_edit, info.can_reply) == (True, True, True)
    assert info.delete_window is None  # Mastodon deletes a status of any age


# --- delete ----------------------------------------------------------------------------


def test_delete_makes_the_status_gone(channel: MastodonChannel, fake: FakeMastodon) -> None:
    kept = channel.publish(_request("Another story", key="k" * 32))
    posted = channel.publish(_request())
    channel.delete(posted.remote_id)

    assert [s.id for s in fake.deleted] == [posted.remote_id]
    assert [s.id for s in fake.statuses] == [kept.remote_id]
    assert _listed(fake) == [kept.remote_id]
    assert channel.read_back(posted.remote_id) is None
    [call] = fake.requests_to("DELETE", f"/api/v1/statuses/{posted.remote_id}")
    assert call.status == 200


def test_delete_of_a_status_already_gone_returns_normally(channel: MastodonChannel,
                                                          fake: FakeMastodon) -> None:
    posted = channel.publish(_request())
    channel.delete(posted.remote_id)
    channel.delete(posted.remote_id)  # 404: already gone is done
    channel.delete("109999999999999999")  # never there (or not this account's): 404 too
    statuses = [r.status for r in fake.requests if r.method == "DELETE"]
    assert statuses == [200, 404, 404]
    assert len(fake.deleted) == 1


@pytest.mark.parametrize(("kind", "error", "status", "gone"), DELETE_FAULTS)
def test_delete_fault_maps_to_taxonomy(channel: MastodonChannel, fake: FakeMastodon, kind: str,
                                       error: type[ChannelError], status: int | None,
                                       gone: bool) -> None:
    posted = channel.publish(_request())
    assert_delete_fault_maps(channel, fake, posted.remote_id, kind, error, status, gone)


def test_delete_applied_then_answer_lost_is_settled_by_read_back(channel: MastodonChannel,
                                                                fake: FakeMastodon) -> None:
    posted = channel.publish(_request())
    assert_lost_delete_settled_by_read_back(channel, fake, posted.remote_id)


def test_delete_rate_limited_by_the_fault(channel: MastodonChannel, fake: FakeMastodon) -> None:
    posted = channel.publish(_request())
    assert_delete_rate_limited_until_announced(channel, fake, posted.remote_id)


def test_thirty_deletions_per_thirty_minutes(channel: MastodonChannel,
                                             fake: FakeMastodon) -> None:
    fake.delete_limit = 2
    ids = [channel.publish(_request(f"Story {n}", key=f"{n}" * 32)).remote_id for n in range(3)]
    channel.delete(ids[0])
    channel.delete(ids[1])
    with pytest.raises(RateLimited) as caught:
        channel.delete(ids[2])
    # Reset at the end of the window that began with the first deletion.
    assert caught.value.until > datetime.now(UTC) + timedelta(minutes=29)
    assert channel.read_back(ids[2]) == "Story 2"
    fake.advance(1801)
    channel.delete(ids[2])
    assert [s.id for s in fake.deleted] == ids


def test_delete_without_write_scope_is_auth_failed(channel: MastodonChannel,
                                                   fake: FakeMastodon) -> None:
    posted = channel.publish(_request())
    fake.scopes = {"read"}
    with pytest.raises(AuthFailed) as caught:
        channel.delete(posted.remote_id)
    assert caught.value.http_status == 403
    fake.revoked = True
    with pytest.raises(AuthFailed):
        channel.delete(posted.remote_id)
    assert fake.deleted == []


def test_a_key_of_a_deleted_status_makes_a_new_one(channel: MastodonChannel,
                                                   fake: FakeMastodon) -> None:
    # PostStatusService finds no status for the key any more: the fake posts again.
    first = channel.publish(_request())
    channel.delete(first.remote_id)
    again = channel.publish(_request())
    assert again.remote_id != first.remote_id
    assert [s.id for s in fake.statuses] == [again.remote_id]


# --- read back -------------------------------------------------------------------------


def test_read_back_is_the_text_as_written(channel: MastodonChannel, fake: FakeMastodon) -> None:
    text = f"Flood <warning> & \"evacuation\"\n\nLine two\n{LINK}"
    posted = channel.publish(_request(text))
    assert channel.read_back(posted.remote_id) == text
    assert fake.requests_to("GET", f"/api/v1/statuses/{posted.remote_id}/source")


@pytest.mark.parametrize(("kind", "status"), READ_BACK_FAULTS)
def test_read_back_fault_is_transient(channel: MastodonChannel, fake: FakeMastodon, kind: str,
                                      status: int | None) -> None:
    posted = channel.publish(_request())
    assert_raises_under_fault(fake, "read", kind, lambda: channel.read_back(posted.remote_id),
                              Transient, status)


# --- edit ------------------------------------------------------------------------------


def test_edit_replaces_the_text_in_place(channel: MastodonChannel, fake: FakeMastodon) -> None:
    posted = channel.publish(_request())
    new_text = f"Flood warning lifted for the river district\n\n{NEW_LINK}"
    result = channel.edit(posted.remote_id, _request(new_text))

    assert result.remote_id == posted.remote_id
    [status] = fake.statuses
    assert status.text == new_text
    assert status.history == [_request().text]
    assert status.edited_at is not None
    assert fake._card(status.text)["url"] == NEW_LINK  # the card follows the new text
    assert channel.read_back(posted.remote_id) == new_text
    [put] = fake.requests_to("PUT", f"/api/v1/statuses/{posted.remote_id}")
    assert put.status == 200


def test_edit_keeps_the_image(make: Callable[..., MastodonChannel], fake: FakeMastodon) -> None:
    picture = io.BytesIO()
    PILImage.new("RGB", (64, 48), (200, 30, 30)).save(picture, "PNG")
    shared_cache().clear()
    with FileServer({"/photo.png": (picture.getvalue(), "image/png")}) as site:
        spec = ChannelSpec("masto", "mastodon", secrets={"access_token": TOKEN},
                           options={"allow_private_images": True}, base_url=fake.base_url)
        channel = MastodonChannel(spec)
        try:
            posted = channel.publish(PublishRequest(
                post_id=1, idempotency_key=KEY, text="Flood", link=LINK,
                image=Image(site.url("/photo.png"), alt="A flooded street")))
            [media_id] = fake.statuses[0].media_ids
            result = channel.edit(posted.remote_id, _request("Flood: corrected"))
        finally:
            channel.close()
            shared_cache().clear()
    assert fake.statuses[0].media_ids == [media_id]
    assert fake.statuses[0].text == "Flood: corrected"
    assert result.notes == ("the image was kept as it was",)


def test_fake_edit_without_media_ids_drops_the_media(fake: FakeMastodon) -> None:
    # What Mastodon does (StatusesController#update hands media_ids on, even when absent).
    auth = {"Authorization": f"Bearer {TOKEN}"}
    picture = io.BytesIO()
    PILImage.new("RGB", (8, 8)).save(picture, "PNG")
    media = requests.post(f"{fake.base_url}/api/v2/media", headers=auth, timeout=5,
                          files={"file": ("a.png", picture.getvalue(), "image/png")}).json()
    status = requests.post(f"{fake.base_url}/api/v1/statuses", headers=auth, timeout=5,
                           data={"status": "Flood", "media_ids[]": media["id"]}).json()
    edited = requests.put(f"{fake.base_url}/api/v1/statuses/{status['id']}", headers=auth,
                          data={"status": "Flood!"}, timeout=5).json()
    assert len(status["media_attachments"]) == 1
    assert edited["media_attachments"] == []


def test_edit_twice_with_the_same_text_is_one_edit(channel: MastodonChannel,
                                                   fake: FakeMastodon) -> None:
    posted = channel.publish(_request())
    channel.edit(posted.remote_id, _request("Corrected"))
    channel.edit(posted.remote_id, _request("Corrected"))
    assert fake.statuses[0].history == [_request().text]


def test_edit_of_a_deleted_status_is_permanent(channel: MastodonChannel,
                                               fake: FakeMastodon) -> None:
    posted = channel.publish(_request())
    channel.delete(posted.remote_id)
    with pytest.raises(Permanent) as caught:
        channel.edit(posted.remote_id, _request("Corrected"))
    assert caught.value.http_status == 404


def test_edit_is_held_to_the_same_length_as_a_post(channel: MastodonChannel,
                                                   fake: FakeMastodon) -> None:
    posted = channel.publish(_request())
    with pytest.raises(Permanent, match="character limit of 500") as caught:
        channel.edit(posted.remote_id, _request("x" * 501))
    assert caught.value.http_status == 422
    assert fake.statuses[0].text == _request().text


@pytest.mark.parametrize(("kind", "error", "status", "applied"), [
    ("500", Transient, 500, False),
    ("503", Transient, 503, False),
    ("reset_before", Ambiguous, None, False),
    ("reset_after", Ambiguous, None, True),
])
def test_edit_fault_maps_and_read_back_settles_it(channel: MastodonChannel, fake: FakeMastodon,
                                                  kind: str, error: type[ChannelError],
                                                  status: int | None, applied: bool) -> None:
    posted = channel.publish(_request())
    assert_raises_under_fault(fake, "edit", kind,
                              lambda: channel.edit(posted.remote_id, _request("Corrected")), error,
                              status)
    expected = "Corrected" if applied else _request().text
    assert channel.read_back(posted.remote_id) == expected


def test_edit_rate_limited_and_scope(channel: MastodonChannel, fake: FakeMastodon) -> None:
    posted = channel.publish(_request())
    fake.fail_next("429", on="edit")
    with pytest.raises(RateLimited):
        channel.edit(posted.remote_id, _request("Corrected"))
    fake.scopes = {"read", "write:media"}
    with pytest.raises(AuthFailed):
        channel.edit(posted.remote_id, _request("Corrected"))
    assert fake.statuses[0].text == _request().text


# --- reply -----------------------------------------------------------------------------


def test_reply_is_a_status_in_reply_to_the_post(channel: MastodonChannel,
                                               fake: FakeMastodon) -> None:
    posted = channel.publish(_request())
    # The note may carry the post's own key: it must never be answered with the post.
    note = channel.reply(posted.remote_id, _request("Correction: the crest is on Saturday."))
    assert note.remote_id != posted.remote_id
    stored = next(s for s in fake.statuses if s.id == note.remote_id)
    assert stored.in_reply_to_id == posted.remote_id
    assert stored.idempotency_key == reply_key(KEY, posted.remote_id)
    assert stored.text == "Correction: the crest is on Saturday."


def test_reply_retried_is_one_reply(channel: MastodonChannel, fake: FakeMastodon) -> None:
    posted = channel.publish(_request())
    fake.fail_next("reset_after")
    with pytest.raises(Ambiguous):
        channel.reply(posted.remote_id, _request("Correction", key="n" * 32))
    again = channel.reply(posted.remote_id, _request("Correction", key="n" * 32,
                                                     after_ambiguous=True))
    replies = [s for s in fake.statuses if s.in_reply_to_id == posted.remote_id]
    assert [s.id for s in replies] == [again.remote_id]


def test_reply_in_doubt_after_the_key_hour_is_found_by_find_reply(channel: MastodonChannel,
                                                                  fake: FakeMastodon) -> None:
    posted = channel.publish(_request())
    note = _request(f"Correction: the crest is on Saturday.\n\n{LINK}", key="n" * 32)
    # Not there yet: the post it corrects carries the same link, and is not the note.
    assert channel.find_reply(posted.remote_id, note) is None
    fake.fail_next("reset_after")
    with pytest.raises(Ambiguous):
        channel.reply(posted.remote_id, note)
    fake.advance(3700)  # the Idempotency-Key is forgotten: look, do not send again
    found = channel.find_reply(posted.remote_id, note)
    [stored] = [s for s in fake.statuses if s.in_reply_to_id == posted.remote_id]
    assert found is not None and found.remote_id == stored.id


def test_reply_to_a_deleted_post_is_permanent(channel: MastodonChannel,
                                              fake: FakeMastodon) -> None:
    posted = channel.publish(_request())
    channel.delete(posted.remote_id)
    with pytest.raises(Permanent, match="does not appear to exist") as caught:
        channel.reply(posted.remote_id, _request("Correction", key="n" * 32))
    assert caught.value.http_status == 404
    assert fake.statuses == []


# --- secrets ---------------------------------------------------------------------------


def test_secrets_never_in_messages(make: Callable[..., MastodonChannel],
                                   fake: FakeMastodon, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    channel = make(timeout=0.5)
    posted = channel.publish(_request())
    texts = fault_texts(fake, {
        "delete": lambda kind: channel.delete(posted.remote_id),
        "edit": lambda kind: channel.edit(posted.remote_id, _request("Corrected")),
        "read": lambda kind: channel.read_back(posted.remote_id),
        "create": lambda kind: channel.reply(posted.remote_id, _request("N", key=kind * 8)),
    }, kinds=("500", "503", "429", "reset_before", "reset_after", "slow"), clear=True)
    fake.revoked = True
    texts += raised(lambda: channel.delete(posted.remote_id), AuthFailed)
    texts += raised(lambda: channel.read_back(posted.remote_id), AuthFailed)
    texts.append(caplog.text)
    assert len(texts) > 40
    assert not any(TOKEN in text for text in texts)


# --- recorded real answers (Mastodon.py's cassettes; tests/data/recorded/mastodon) ---------


def _recorded(name: str) -> dict[str, Any]:
    record: dict[str, Any] = json.loads((RECORDED / name).read_text(encoding="utf-8"))
    return record


class _Replay(FakeServer):
    """Answers ``(method, path)`` with a body recorded from a real Mastodon."""

    def __init__(self, routes: dict[tuple[str, str], str]) -> None:
        super().__init__()
        self.routes = {key: _recorded(name) for key, name in routes.items()}

    def handle(self, request: Request) -> Reply:
        record = self.routes.get((request.method, request.path))
        if record is None:
            return Reply(404, {"error": "Record not found"})
        return Reply(record["status"], record["body"], dict(record["headers"]))


def _replay_channel(server: _Replay) -> MastodonChannel:
    return MastodonChannel(ChannelSpec("masto", "mastodon", secrets={"access_token": TOKEN},
                                       base_url=server.base_url))


def test_recorded_delete_edit_source_and_reply_parse() -> None:
    edited, replied = _recorded("status_edit.json")["body"], _recorded("status_reply.json")["body"]
    routes = {
        ("DELETE", "/api/v1/statuses/117020606035908211"): "status_delete.json",
        ("DELETE", "/api/v1/statuses/117020606379845323"): "status_delete_404.json",
        ("GET", "/api/v1/statuses/117020586180926938"): "status_edited.json",
        ("PUT", "/api/v1/statuses/117020586180926938"): "status_edit.json",
        ("GET", "/api/v1/statuses/117020586180926938/source"): "status_source.json",
        ("POST", "/api/v1/statuses"): "status_reply.json",
    }
    with _Replay(routes) as server:
        channel = _replay_channel(server)
        try:
            channel.delete("117020606035908211")
            channel.delete("117020606379845323")  # the recorded 404: already gone
            result = channel.edit("117020586180926938", _request("the best editor?"))
            assert (result.remote_id, result.remote_url) == (edited["id"], edited["url"])
            assert channel.read_back("117020586180926938") == (
                "the best editor? why, of course it is the KDE Advanced Text Editor, Kate")
            assert channel.read_back("1") is None  # unknown: the 404 Mastodon answers
            note = channel.reply(replied["in_reply_to_id"], _request("Reply!"))
            assert note.remote_id == replied["id"]
        finally:
            channel.close()


@pytest.mark.parametrize(("recorded", "action"), [
    ("status_delete.json", "delete"), ("status_edit.json", "edit"),
    ("status_reply.json", "reply"), ("status_source.json", "source"),
])
def test_fake_answers_have_the_recorded_shape(channel: MastodonChannel, fake: FakeMastodon,
                                              recorded: str, action: str) -> None:
    """FakeMastodon's bodies use only fields the real answer has (the delete's
    ``text`` in place of ``content`` included), with the same types."""
    real = _recorded(recorded)["body"]
    posted = channel.publish(_request())
    url = f"{fake.base_url}/api/v1/statuses"
    auth = {"Authorization": f"Bearer {TOKEN}"}
    if action == "delete":
        answer = requests.delete(f"{url}/{posted.remote_id}", headers=auth, timeout=5)
    elif action == "edit":
        answer = requests.put(f"{url}/{posted.remote_id}", data={"status": "New"},
                              headers=auth, timeout=5)
    elif action == "reply":
        answer = requests.post(url, data={"status": "Re", "in_reply_to_id": posted.remote_id},
                               headers=auth, timeout=5)
    else:
        answer = requests.get(f"{url}/{posted.remote_id}/source", headers=auth, timeout=5)
    assert answer.status_code == _recorded(recorded)["status"]
    body = answer.json()
    assert set(body) <= set(real), set(body) - set(real)
    for key in ("id", "text", "content", "in_reply_to_id", "edited_at", "url"):
        assert (key in body) == (key in real), key
        if key in body and body[key] is not None and real[key] is not None:
            assert type(body[key]) is type(real[key]), key
