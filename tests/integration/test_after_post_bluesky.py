"""After the post on Bluesky: delete, read back and reply through the real atproto
SDK against FakeBluesky over HTTP on 127.0.0.1 (issue 13). Bluesky has no edit."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from publisher.channels import REGISTRY
from publisher.channels.base import ChannelSpec
from publisher.channels.bluesky import POST_COLLECTION, BlueskyChannel, record_key
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
    READ_BACK_FAULTS,
    assert_delete_fault_maps,
    assert_lost_delete_settled_by_read_back,
    assert_raises_under_fault,
)
from tests.fakes.bluesky_server import FakeBluesky
from tests.fakes.conformance import fault_texts, raised

HANDLE = "ledger.bsky.social"
PASSWORD = "wxyz-after-post-qrst"
SECRETS = {"handle": HANDLE, "app_password": PASSWORD}
LINK = "https://news.example.org/2025/06/flood-warning"
KEY = "0d1c2b3a49586776a5b4c3d2e1f00f1e"


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

    def build(*, timeout: float = 5.0) -> BlueskyChannel:
        spec = ChannelSpec("bsky", "bluesky", secrets=SECRETS,
                           options={"session_dir": str(tmp_path / "var")},
                           base_url=fake.base_url, timeout=timeout)
        channel = BlueskyChannel(spec)
        made.append(channel)
        return channel

    yield build
    for channel in made:
        channel.close()


@pytest.fixture
def channel(make: Callable[..., BlueskyChannel]) -> BlueskyChannel:
    return make()


def _request(text: str = "Flood warning for the river district #Flood", *, key: str = KEY,
             after_ambiguous: bool = False) -> PublishRequest:
    return PublishRequest(post_id=1, idempotency_key=key, text=text, link=LINK,
                          title="Flood warning", summary="The river crests on Friday.",
                          after_ambiguous=after_ambiguous)


def _listed(fake: FakeBluesky) -> list[str]:
    """The URIs listRecords shows for the account's posts, read over HTTP."""
    token = next(t for t, info in fake.tokens.items() if info.kind == "access")
    answer = httpx.get(f"{fake.base_url}/xrpc/com.atproto.repo.listRecords",
                       params={"repo": fake.did, "collection": POST_COLLECTION},
                       headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200
    return [r["uri"] for r in answer.json()["records"]]


def _refs(reply: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    """A reply ref's strong refs without the ``$type`` the SDK adds to them."""
    return {k: {"uri": v["uri"], "cid": v["cid"]} for k, v in reply.items() if k != "$type"}


def test_registry_says_what_bluesky_allows(channel: BlueskyChannel) -> None:
    info = REGISTRY["bluesky"]
    assert (info.can_delete, info.can_edit, info.can_reply) == (True, False, True)
    assert info.delete_window is None
    # putRecord would rewrite the record, but the app keeps showing the original.
    assert not hasattr(channel, "edit")


# --- delete ----------------------------------------------------------------------------


def test_delete_makes_the_post_gone(channel: BlueskyChannel, fake: FakeBluesky) -> None:
    kept = channel.publish(_request("Another story", key="k" * 32))
    posted = channel.publish(_request())
    channel.delete(posted.remote_id)

    assert [r.uri for r in fake.deleted] == [posted.remote_id]
    assert [r.uri for r in fake.posts()] == [kept.remote_id]
    assert _listed(fake) == [kept.remote_id]
    assert channel.read_back(posted.remote_id) is None
    [call] = fake.requests_to_method("com.atproto.repo.deleteRecord")
    assert call.status == 200


def test_delete_of_a_post_already_gone_returns_normally(channel: BlueskyChannel,
                                                        fake: FakeBluesky) -> None:
    posted = channel.publish(_request())
    channel.delete(posted.remote_id)
    channel.delete(posted.remote_id)  # deleteRecord "ensures it doesn't exist": 200, no-op
    assert [r.status for r in fake.requests_to_method("com.atproto.repo.deleteRecord")] == [
        200, 200]
    assert len(fake.deleted) == 1


def test_delete_of_someone_elses_post_is_refused_before_any_call(channel: BlueskyChannel,
                                                                 fake: FakeBluesky) -> None:
    channel.whoami()
    for uri in (f"at://did:plc:someoneelse0000000000000/{POST_COLLECTION}/3kabc2defgh22",
                f"at://{fake.did}/app.bsky.feed.like/3kabc2defgh22", "https://bsky.app/x"):
        with pytest.raises(Permanent):
            channel.delete(uri)
    assert fake.requests_to_method("com.atproto.repo.deleteRecord") == []


@pytest.mark.parametrize(("kind", "error", "status", "gone"), DELETE_FAULTS)
def test_delete_fault_maps_to_taxonomy(channel: BlueskyChannel, fake: FakeBluesky, kind: str,
                                       error: type[ChannelError], status: int | None,
                                       gone: bool) -> None:
    posted = channel.publish(_request())
    assert_delete_fault_maps(channel, fake, posted.remote_id, kind, error, status, gone)


def test_delete_applied_then_answer_lost_is_settled_by_read_back(channel: BlueskyChannel,
                                                                fake: FakeBluesky) -> None:
    posted = channel.publish(_request())
    assert_lost_delete_settled_by_read_back(channel, fake, posted.remote_id)


def test_delete_rate_limited_by_the_fault(channel: BlueskyChannel, fake: FakeBluesky) -> None:
    posted = channel.publish(_request())
    fake.fail_next("429", on="delete")
    with pytest.raises(RateLimited) as caught:
        channel.delete(posted.remote_id)
    assert fake.rate_limit_reset is not None
    assert caught.value.until == datetime.fromtimestamp(fake.rate_limit_reset, UTC)
    assert fake.deleted == []


def test_deletes_spend_the_hourly_write_points(channel: BlueskyChannel,
                                               fake: FakeBluesky) -> None:
    fake.write_points_per_hour = 3 + 3 + 1  # two creates (3 each) and one delete (1)
    first = channel.publish(_request("One", key="1" * 32))
    second = channel.publish(_request("Two", key="2" * 32))
    channel.delete(first.remote_id)
    with pytest.raises(RateLimited) as caught:
        channel.delete(second.remote_id)
    assert caught.value.until > datetime.now(UTC)
    assert channel.read_back(second.remote_id) == "Two"


def test_fake_delete_record_follows_the_lexicon_and_the_pds(channel: BlueskyChannel,
                                                             fake: FakeBluesky) -> None:
    channel.whoami()
    token = next(t for t, info in fake.tokens.items() if info.kind == "access")
    url = f"{fake.base_url}/xrpc/com.atproto.repo.deleteRecord"
    auth = {"Authorization": f"Bearer {token}"}
    missing = httpx.post(url, json={"repo": fake.did, "collection": POST_COLLECTION},
                         headers=auth)
    assert missing.status_code == 400 and missing.json()["error"] == "InvalidRequest"
    assert "rkey" in missing.json()["message"]
    nothing = {"repo": fake.did, "collection": POST_COLLECTION, "rkey": "3kabc2defgh22"}
    fake.write_points_per_day = 1  # a no-op delete is charged all the same
    assert httpx.post(url, json=nothing, headers=auth).json() == {}
    over = httpx.post(url, json=nothing, headers=auth)
    assert over.status_code == 429 and over.headers["RateLimit-Remaining"] == "0"


def test_delete_with_a_revoked_password_is_auth_failed(channel: BlueskyChannel,
                                                       fake: FakeBluesky) -> None:
    posted = channel.publish(_request())
    fake.revoked = True
    with pytest.raises(AuthFailed):
        channel.delete(posted.remote_id)
    assert fake.deleted == []


# --- read back -------------------------------------------------------------------------


def test_read_back_is_the_record_text(channel: BlueskyChannel, fake: FakeBluesky) -> None:
    text = "Hochwasser 🌊 in der Altstadt\n#Flood"
    posted = channel.publish(_request(text))
    assert channel.read_back(posted.remote_id) == text


@pytest.mark.parametrize(("kind", "status"), READ_BACK_FAULTS)
def test_read_back_fault_is_transient(channel: BlueskyChannel, fake: FakeBluesky, kind: str,
                                      status: int | None) -> None:
    posted = channel.publish(_request())
    assert_raises_under_fault(fake, "read", kind, lambda: channel.read_back(posted.remote_id),
                              Transient, status)


# --- reply -----------------------------------------------------------------------------


def test_reply_refers_to_the_post_as_root_and_parent(channel: BlueskyChannel,
                                                     fake: FakeBluesky) -> None:
    posted = channel.publish(_request())
    # The note may carry the post's own key: it gets a record key of its own.
    note = channel.reply(posted.remote_id, _request("Correction: the crest is on Saturday."))
    [post, reply] = fake.posts()
    assert note.remote_id == reply.uri != posted.remote_id
    assert reply.rkey == record_key(f"{KEY}:reply-to:{posted.remote_id}")
    ref = {"uri": post.uri, "cid": post.cid}
    assert _refs(reply.value["reply"]) == {"root": ref, "parent": ref}
    assert reply.value["text"] == "Correction: the crest is on Saturday."


def test_reply_to_a_reply_keeps_the_thread_root(channel: BlueskyChannel,
                                                fake: FakeBluesky) -> None:
    posted = channel.publish(_request())
    first = channel.reply(posted.remote_id, _request("Correction 1", key="c" * 32))
    channel.reply(first.remote_id, _request("Correction 2", key="d" * 32))
    post, one, two = fake.posts()
    assert _refs(two.value["reply"]) == {"root": {"uri": post.uri, "cid": post.cid},
                                  "parent": {"uri": one.uri, "cid": one.cid}}


def test_reply_retried_is_one_reply(channel: BlueskyChannel, fake: FakeBluesky) -> None:
    posted = channel.publish(_request())
    fake.fail_next("reset_after")
    with pytest.raises(Ambiguous):
        channel.reply(posted.remote_id, _request("Correction", key="n" * 32))
    again = channel.reply(posted.remote_id, _request("Correction", key="n" * 32,
                                                     after_ambiguous=True))
    # Sent again without knowing: the taken record key is read back, no copy.
    third = channel.reply(posted.remote_id, _request("Correction", key="n" * 32))
    replies = [r for r in fake.posts() if "reply" in r.value]
    assert [r.uri for r in replies] == [again.remote_id] == [third.remote_id]


def test_find_reply_reads_the_reply_by_its_record_key(channel: BlueskyChannel,
                                                     fake: FakeBluesky) -> None:
    posted = channel.publish(_request())
    note = _request("Correction", key="n" * 32)
    assert channel.find_reply(posted.remote_id, note) is None
    made = channel.reply(posted.remote_id, note)
    found = channel.find_reply(posted.remote_id, note)
    assert found is not None and found.remote_id == made.remote_id


def test_reply_to_a_deleted_post_is_permanent(channel: BlueskyChannel,
                                              fake: FakeBluesky) -> None:
    posted = channel.publish(_request())
    channel.delete(posted.remote_id)
    with pytest.raises(Permanent, match="gone"):
        channel.reply(posted.remote_id, _request("Correction", key="n" * 32))
    assert fake.posts() == []


# --- secrets ---------------------------------------------------------------------------


def test_secrets_never_in_messages(make: Callable[..., BlueskyChannel], fake: FakeBluesky,
                                   caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    channel = make(timeout=0.5)
    posted = channel.publish(_request())
    texts = fault_texts(fake, {
        "delete": lambda kind: channel.delete(posted.remote_id),
        "read": lambda kind: channel.read_back(posted.remote_id),
        "create": lambda kind: channel.reply(posted.remote_id, _request("N", key=kind * 8)),
    }, kinds=("500", "503", "429", "reset_before", "reset_after", "slow"), clear=True)
    fake.revoked = True
    texts += raised(lambda: channel.delete(posted.remote_id), AuthFailed)
    texts.append(caplog.text)
    tokens = list(fake.tokens)
    assert len(texts) > 30
    for text in texts:
        assert PASSWORD not in text
        assert not any(token in text for token in tokens)
