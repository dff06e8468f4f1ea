"""Bad input across every desk command, fuzzed: random strings for ids, times,
channels and URLs always end in exit 2, one line on stderr, and the database
exactly as it was."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st

from publisher.exceptions import InputError
from publisher.services import desk as ops
from publisher.sources.normalize import canonical_url
from publisher.types import ArticleState, NewPost, PostStatus
from tests.integration.test_desk_cli import Site, article, dump, site  # noqa: F401

FUZZ = settings(max_examples=15, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])
# The hygiene cases: no "explain" phase (its tracing makes a CLI run crawl).
HYGIENE = settings(FUZZ, phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink])
# Anything at all, including control characters, lone surrogates and leading dashes.
junk = st.text(max_size=40)

ID_COMMANDS = [
    ["queue", "show", "{}"],
    ["queue", "edit", "{}", "--text", "new"],
    ["queue", "cancel", "{}"],
    ["queue", "retry", "{}"],
    ["queue", "approve", "{}"],
    ["queue", "resolve", "{}", "--not-published"],
    ["log", "--post", "{}"],
    ["preview", "--article", "{}"],
]
TIME_COMMANDS = [
    ["queue", "add", "--text", "t", "-c", "archive", "--at", "{}"],
    ["queue", "edit", "1", "--at", "{}"],
    ["queue", "list", "--since", "{}"],
    ["log", "--since", "{}"],
]
CHANNEL_COMMANDS = [
    ["queue", "add", "--text", "t", "-c", "{}"],
    ["queue", "add", "--url", "https://news.example/2026/story-1", "-c", "{}"],
    ["queue", "edit", "1", "--channel", "{}"],
    ["queue", "list", "--channel", "{}"],
    ["preview", "--article", "1", "-c", "{}"],
    ["pause", "-c", "{}", "--reason", "r"],
    ["resume", "-c", "{}"],
    ["log", "--channel", "{}"],
]
URL_COMMANDS = [
    ["queue", "add", "--url", "{}"],
    ["queue", "add", "--text", "t", "-c", "archive", "--link", "{}"],
    ["preview", "--url", "{}"],
    ["log", "--article", "{}"],
    ["queue", "resolve", "2", "--published", "{}"],
]


@pytest.fixture
def seeded(site: Site) -> Site:  # noqa: F811
    """A queued post 1 (article 1) and a post 2 in needs_review."""
    [stored] = site.store.add_articles("site", [article()], state=ArticleState.SEEN,
                                       now=site.clock())
    site.store.add_posts([NewPost(channel="archive", text="Hello",
                                  expires_at=site.clock() + timedelta(hours=1))],
                         article_id=stored.id, now=site.clock())
    second = site.post()
    site.store.set_post_status(second, PostStatus.NEEDS_REVIEW, now=site.clock())
    return site


def check(at: Site, template: list[str], value: str) -> None:
    args = [value if part == "{}" else part for part in template]
    before = dump(at.store)
    result = at.run(*args)
    assert result.exit_code == 2, (args, result.stdout, result.stderr)
    assert len(result.stderr.strip().splitlines()) == 1, (args, result.stderr)
    assert dump(at.store) == before, args


def _is_id(value: str) -> bool:
    return value.strip().isascii() and value.strip().isdigit()


@pytest.mark.parametrize("template", ID_COMMANDS, ids=lambda t: " ".join(t[:2]))
@FUZZ
@given(value=junk)
def test_random_ids(seeded, template, value):
    assume(not _is_id(value) or int(value.strip()) > 2)
    check(seeded, template, value)


@pytest.mark.parametrize("template", TIME_COMMANDS, ids=lambda t: " ".join(t[:2]))
@FUZZ
@given(value=junk | st.sampled_from(["yesterday", "2001-01-01", "in 999 days", "9999",
                                     "last monday", "tomorrow 25:00"]))
def test_random_times(seeded, template, value):
    tz, now = ZoneInfo("America/New_York"), seeded.clock()
    parse = ops.parse_since if "--since" in template else ops.parse_when
    try:
        parse(value, tz=tz, now=now)
    except InputError:
        pass
    else:
        assume(False)  # a valid time: not what this test is about
    check(seeded, template, value)


@pytest.mark.parametrize("template", CHANNEL_COMMANDS, ids=lambda t: " ".join(t[:3]))
@FUZZ
@given(value=junk)
def test_random_channels(seeded, template, value):
    assume(value not in ("archive", "wire", "x") and not value.startswith("--"))
    check(seeded, template, value)


@pytest.mark.parametrize("template", URL_COMMANDS, ids=lambda t: " ".join(t[:3]))
@FUZZ
@given(value=junk | st.sampled_from(["ftp://x", "mailto:a@b", "//", "http://", "javascript:x"]))
def test_random_urls(seeded, template, value):
    assume(canonical_url(value.strip()) is None)  # never fetch a random host
    check(seeded, template, value)


def test_unreachable_url(seeded):
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    for template in (["queue", "add", "--url", "{}"], ["preview", "--url", "{}"]):
        check(seeded, template, f"http://127.0.0.1:{port}/story")


# -- hygiene (issue 12, part 7): what an editor types is stored without control
# characters or bidirectional overrides, or refused in one line; never a traceback.

UNSAFE = st.sampled_from(["\x00", "\x07", "\x1b", "\x7f", "\x85", "\u202e", "\u202a",
                          "\u2066", "\u2069", "\r", "\t"])
typed = st.lists(st.text(max_size=8) | UNSAFE, max_size=12).map("".join)


def _clean(value: str) -> bool:
    import re

    return not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]", value)


@HYGIENE
@given(text=typed, by=typed)
def test_random_text_and_names_are_stored_clean_or_refused(site, text, by):  # noqa: F811
    before = dump(site.store)
    result = site.run("queue", "add", "--text", text, "-c", "archive", "--by", by)
    assert "Traceback" not in result.stdout + result.stderr
    if result.exit_code == 0:
        post = site.store.list_posts(limit=1)[0]
        assert _clean(post.text) and _clean(post.created_by or "")
    else:
        assert result.exit_code == 2, (result.stdout, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert dump(site.store) == before


@HYGIENE
@given(reason=typed | st.text(min_size=490, max_size=520), by=typed)
def test_random_reasons_are_stored_clean_or_refused(site, reason, by):  # noqa: F811
    result = site.run("pause", "-c", "archive", "--reason", reason, "--by", by)
    assert "Traceback" not in result.stdout + result.stderr
    if result.exit_code == 0:
        state = site.store.channel_states()["archive"]
        assert _clean(state.paused_reason or "") and "\n" not in (state.paused_reason or "")
        assert len(state.paused_reason or "") <= 500 and _clean(state.paused_by or "")
    else:
        assert result.exit_code == 2, (result.stdout, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr


@HYGIENE
@given(year=st.integers(min_value=9999, max_value=10**6), digits=st.integers(4301, 6000))
def test_overflowing_times_and_numbers(seeded, year, digits):
    for template, value in (
            (["queue", "add", "--text", "t", "-c", "archive", "--at", "{}"],
             f"{year}-12-31 23:00"),
            (["queue", "list", "--since", "{}"], f"{year}-12-31T23:59-05:00"),
            (["queue", "show", "{}"], "9" * digits),
            (["queue", "list", "--limit", "{}"], "9" * digits),
            (["status", "--failing-last", "{}"], "9" * digits)):
        args = [value if part == "{}" else part for part in template]
        result = seeded.run(*args)
        assert result.exit_code == 2, (args[:4], result.stdout, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert "Traceback" not in result.stdout + result.stderr
