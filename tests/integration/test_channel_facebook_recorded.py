"""FacebookChannel reads real Graph answers: bodies recorded by sns-sdks/python-facebook
(tests/data/recorded/facebook/README.md), served by FakeGraph over HTTP on 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from publisher.channels import make_channel
from publisher.channels.base import ChannelSpec
from publisher.channels.facebook import FacebookChannel
from publisher.exceptions import AuthFailed, Permanent
from publisher.types import PublishRequest
from tests.fakes.fakehttp import Reply, Request
from tests.fakes.graph_server import MISSING_READ_ENGAGEMENT, FakeGraph

RECORDED = Path(__file__).resolve().parents[1] / "data" / "recorded" / "facebook"
#: The Page of the recorded /feed answer (FacebookforDevelopers).
PAGE_ID = "19292868552"
TOKEN = "EAAG-recorded-page-token-0b1c"
#: The link of the recorded share, without its utm_* parameters (the recorded
#: unshimmed_url has them, and two parameters of the poster's own that stay).
SHARED = ("https://engineering.fb.com/2021/05/20/networking-traffic/peering-automation/"
          "?eventSource=OrganicSocialFB4D&content_id=Py4ExKngmEFlnJN")


def recorded(name: str) -> bytes:
    return (RECORDED / name).read_bytes()


@pytest.fixture
def fake() -> Iterator[FakeGraph]:
    server = FakeGraph(page_id=PAGE_ID, page_token=TOKEN)
    with server:
        yield server
    assert not server.errors, server.errors[0]


@pytest.fixture
def replay(fake: FakeGraph) -> Callable[[int, str], list[Request]]:
    """Make the fake answer every request with one recorded body; the requests
    it got are returned in a list that fills as they arrive."""

    def play(status: int, name: str) -> list[Request]:
        seen: list[Request] = []

        def handle(request: Request) -> Reply:
            seen.append(request)
            return Reply(status, recorded(name), fake._headers())

        fake.handle = handle  # type: ignore[method-assign]
        return seen

    return play


@pytest.fixture
def channel(fake: FakeGraph) -> Iterator[FacebookChannel]:
    spec = ChannelSpec("facebook", "facebook", secrets={"page_token": TOKEN},
                       options={"page_id": PAGE_ID}, base_url=fake.base_url, timeout=5.0)
    made = make_channel(spec)
    assert isinstance(made, FacebookChannel)
    yield made
    made.close()


def _request(link: str | None, text: str = "Peering automation at scale") -> PublishRequest:
    return PublishRequest(post_id=3, idempotency_key="k-3", text=text, link=link,
                          after_ambiguous=True)


def test_the_recorded_bodies_are_what_the_readme_says() -> None:
    feed = json.loads(recorded("feeds_default_fields_p1.json"))
    assert len(feed["data"]) == 5 and all(p["id"].startswith(PAGE_ID) for p in feed["data"])
    assert json.loads(recorded("error_data.json"))["error"]["message"] == MISSING_READ_ENGAGEMENT
    assert (RECORDED / "LICENSE").read_text().lstrip().startswith("Apache License")


def test_find_reads_a_real_feed_and_matches_a_shared_link_through_the_shim(
        channel: FacebookChannel, replay: Callable[[int, str], list[Request]]) -> None:
    seen = replay(200, "feeds_default_fields_p1.json")
    found = channel.find(_request(SHARED))
    assert found is not None
    assert found.remote_id == f"{PAGE_ID}_10158347294088553"
    assert found.remote_url == f"https://www.facebook.com/{PAGE_ID}/posts/10158347294088553/"
    # Without the poster's own parameters it is another link: not found.
    assert channel.find(_request(SHARED.partition("?")[0])) is None
    assert seen[0].path.endswith(f"/{PAGE_ID}/published_posts")


def test_find_matches_a_link_in_a_real_message(
        channel: FacebookChannel, replay: Callable[[int, str], list[Request]]) -> None:
    replay(200, "feeds_default_fields_p1.json")
    found = channel.find(_request("https://fb.me/Ninja-Van-Success-Story"))
    assert found is not None and found.remote_id == f"{PAGE_ID}_10158349356748553"


def test_find_in_a_real_feed_without_the_link_is_none(
        channel: FacebookChannel, replay: Callable[[int, str], list[Request]]) -> None:
    replay(200, "feeds_default_fields_p1.json")
    assert channel.find(_request("https://news.example.org/2025/06/flood-warning")) is None


def test_whoami_reads_a_real_page_object(fake: FakeGraph,
                                         replay: Callable[[int, str], list[Request]]) -> None:
    replay(200, "single_default_page.json")
    spec = ChannelSpec("facebook", "facebook", secrets={"page_token": TOKEN},
                       options={"page_id": "20531316728"}, base_url=fake.base_url)
    channel = make_channel(spec)
    try:
        assert channel.whoami() == "Facebook (page 20531316728)"
    finally:
        channel.close()


def test_a_real_post_answer_gives_its_id_and_permalink(
        fake: FakeGraph, replay: Callable[[int, str], list[Request]]) -> None:
    """A create answered with more than ``id`` (the recorded single post):
    the id and Facebook's own permalink are kept."""
    replay(200, "single_post_data.json")
    spec = ChannelSpec("facebook", "facebook", secrets={"page_token": TOKEN},
                       options={"page_id": "175154750010052"}, base_url=fake.base_url)
    channel = make_channel(spec)
    try:
        result = channel.publish(_request(None, "我测试一下 MyLife"))
    finally:
        channel.close()
    assert result.remote_id == "175154750010052_424924701699721"
    assert result.remote_url == "https://www.facebook.com/175154750010052/posts/424924701699721"


def test_real_missing_permission_answer_on_a_look_up_pauses_the_channel(
        channel: FacebookChannel, replay: Callable[[int, str], list[Request]]) -> None:
    seen = replay(400, "error_data.json")
    with pytest.raises(AuthFailed) as caught:
        channel.find(_request(SHARED))
    assert "pages_read_engagement" in str(caught.value)
    assert "code 100" in str(caught.value) and "AQt_hJ68vFybS4TnupatNtX" in str(caught.value)
    assert caught.value.http_status == 400
    assert len(seen) == 1  # /feed needs the same permission: not asked in vain
    assert TOKEN not in str(caught.value)


def test_real_code_100_answer_on_a_post_is_permanent_with_facebooks_words(
        channel: FacebookChannel, replay: Callable[[int, str], list[Request]]) -> None:
    replay(400, "error.json")
    with pytest.raises(Permanent) as caught:
        channel.publish(_request(SHARED))
    assert type(caught.value) is Permanent
    assert "requires either app secret proof or an app token" in str(caught.value)
    assert "A1m6KK6iBqvjzPeQd4DYbKM" in str(caught.value)
