"""The web face's pure rules: what a notice asks for, whether a signature
holds, readiness, and the alert rule's invariants under random event streams
(hypothesis)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from functools import partial
from unittest.mock import patch

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from publisher.services import alerts
from publisher.services.alerts import AlertState, Event, Kind, decide
from publisher.services.push import BadNotice, PollFeed, ReadPost, decide_notice
from publisher.types import FeedKind
from publisher.web.health import Facts, NotReady, Ready, readiness
from publisher.web.hooks import Accept, Refuse, ReplayGuard, check_signature, sign

WP = FeedKind.WORDPRESS


def body(**kw) -> bytes:
    return json.dumps(kw).encode()


@pytest.mark.parametrize(("kind", "raw", "expected"), [
    (WP, body(event="published", post_id=42), ReadPost("include=42")),
    (WP, body(event="updated", post_id="42"), ReadPost("include=42")),
    (WP, body(event="published", url="https://site.example/2026/12/my-story/"),
     ReadPost("slug=my-story")),
    (WP, body(event="published", url="https://site.example/a b/"), ReadPost("slug=a%20b")),
    (WP, body(event="unpublished", post_id=42), PollFeed()),
    (FeedKind.RSS, body(event="published", post_id=42), PollFeed()),
    (FeedKind.RSS, body(event="updated"), PollFeed()),
    (WP, b"not json", BadNotice("body is not JSON")),
    (WP, b"\xff\xfe", BadNotice("body is not JSON")),
    (WP, b"[1]", BadNotice("body is not a JSON object")),
    (WP, body(event="deleted", post_id=1),
     BadNotice("event must be one of published, updated, unpublished")),
    (WP, body(event="published"), BadNotice("name the post: post_id (a number) or url")),
    (WP, body(event="published", post_id=True), BadNotice(
        "name the post: post_id (a number) or url")),
    (WP, body(event="published", post_id=-1), BadNotice(
        "name the post: post_id (a number) or url")),
    (WP, body(event="published", post_id=10**30), BadNotice(
        "name the post: post_id (a number) or url")),
    (WP, body(event="published", post_id="1" * 40), BadNotice(
        "name the post: post_id (a number) or url")),
    (WP, body(event="published", url="javascript:alert(1)"), BadNotice(
        "name the post: post_id (a number) or url")),
    (WP, body(event="published", url="https://site.example/"), BadNotice(
        "name the post: post_id (a number) or url")),
])
def test_decide_notice(kind, raw, expected):
    assert decide_notice(kind, raw) == expected


NOW = 1_764_680_000.0


@pytest.mark.parametrize(("ts", "sig", "expected"), [
    ("1764680000", None, Refuse(401, "unsigned", "missing X-Publisher-Timestamp or "
                                                 "X-Publisher-Signature")),
    (None, "sha256=00", Refuse(401, "unsigned", "missing X-Publisher-Timestamp or "
                                                "X-Publisher-Signature")),
    ("-5", "sha256=00", Refuse(401, "bad_timestamp", "X-Publisher-Timestamp is not Unix seconds")),
    ("9" * 40, "sha256=00", Refuse(401, "bad_timestamp",
                                   "X-Publisher-Timestamp is not Unix seconds")),
    ("1764679699", "good", Refuse(401, "stale", "timestamp outside the 300 s window")),
    ("1764680301", "good", Refuse(401, "stale", "timestamp outside the 300 s window")),
    ("1764679700", "good", "accept"),
    ("1764680300", "good", "accept"),
    ("1764680000", "sha256=" + "0" * 64, Refuse(401, "bad_signature",
                                                "signature does not match")),
    ("1764680000", "sha1=00", Refuse(401, "bad_signature", "signature does not match")),
])
def test_check_signature(ts, sig, expected):
    raw = b'{"event":"published","post_id":1}'
    if sig == "good":
        sig = sign("s3cret", ts, raw)
    verdict = check_signature("s3cret", timestamp=ts, signature=sig, body=raw, now=NOW)
    if expected == "accept":
        assert verdict == Accept(sign("s3cret", ts, raw))
    else:
        assert verdict == expected


def test_signature_upper_case_hex_is_the_same_signature():
    raw = b"{}"
    sig = sign("k", "1764680000", raw)
    upper = "sha256=" + sig.removeprefix("sha256=").upper()
    assert check_signature("k", timestamp="1764680000", signature=upper, body=raw,
                           now=NOW) == Accept(sig)


def test_replay_guard_window():
    guard = ReplayGuard(window=300)
    assert guard.first_time("a", now=0)
    assert not guard.first_time("a", now=599)
    assert guard.first_time("a", now=601)  # the timestamp check refuses it long before


@pytest.mark.parametrize(("facts", "verdict"), [
    (Facts(None, True, ()), Ready()),
    (Facts("locked", True, ()), NotReady(("database not reachable: locked",))),
    (Facts(None, False, ("channel x: paused: auth failed",)),
     NotReady(("scheduler not running", "channel x: paused: auth failed"))),
])
def test_readiness(facts, verdict):
    assert readiness(facts) == verdict


# -- the alert rule's invariants ------------------------------------------------------

TARGETS = ("mail", "slack")
CHANNELS = ("x", "mail", "slack")

events = st.lists(st.tuples(
    st.sampled_from(list(Kind)), st.integers(0, 5), st.sampled_from(CHANNELS),
    st.booleans()), max_size=6)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 20 * 60), events), min_size=1, max_size=25))
def test_alert_rule_invariants(steps):
    """Whatever happens: at most one message per kind and target per 15
    minutes; never a message to a channel about itself; every log event not
    about a target reaches that target once the rule is given time."""
    # Messages name 20 events and count the rest: name them all here.
    with patch.object(alerts, "compose", partial(alerts.compose, limit=10**6)):
        check_alert_rule(steps)


def check_alert_rule(steps):
    t = datetime(2026, 12, 2, tzinfo=UTC)
    state = AlertState()
    sent: dict[tuple[Kind, str], list[datetime]] = {}
    delivered: dict[str, set[str]] = {target: set() for target in TARGETS}
    expected: dict[str, set[str]] = {target: set() for target in TARGETS}
    serial = 0
    for gap, raw in steps:
        t += timedelta(seconds=gap)
        now_events = []
        for kind, n, channel, condition in raw:
            serial += 1
            key = f"{kind}:{channel}:{n}" if condition else f"log:{serial}"
            event = Event(kind, key, key, channel=channel, condition=condition)
            now_events.append(event)
            if not condition:
                for target in TARGETS:
                    if channel != target:
                        expected[target].add(key)
        plan = decide(state, now_events, t, targets=TARGETS)
        state = plan.state
        for message in plan.messages:
            times = sent.setdefault((message.kind, message.channel), [])
            assert not times or t - times[-1] >= timedelta(minutes=15)
            times.append(t)
            lines = message.text.splitlines()
            keys = {lines[0].split(": ", 2)[-1]} if len(lines) == 1 else {
                line[2:] for line in lines[1:] if line.startswith("- ")}
            for key in keys:
                assert f":{message.channel}:" not in key.replace("log:", "")
                delivered[message.channel].add(key)
    # Let the rule drain what waits (log events only; conditions may have ended).
    for _ in range(len(Kind)):
        t += timedelta(minutes=15)
        plan = decide(state, [], t, targets=TARGETS)
        state = plan.state
        for message in plan.messages:
            lines = message.text.splitlines()
            keys = {lines[0].split(": ", 2)[-1]} if len(lines) == 1 else {
                line[2:] for line in lines[1:] if line.startswith("- ")}
            delivered[message.channel] |= keys
    assert not any(not e.condition for e in state.pending)
    for target in TARGETS:
        assert expected[target] <= delivered[target]
