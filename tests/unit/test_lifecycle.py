"""The lifecycle as a table of named scenarios (reader's test_reader_update.py
style): one per arrow of DESIGN's "A post's life" and per delivery class
(idempotent, idempotent past its key lifetime, reconcilable, review), the
editor's actions in every state, and compose for every origin."""

from __future__ import annotations

import ast
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from publisher.config import ChannelConfig, RetryConfig
from publisher.exceptions import (
    AccountBlocked,
    Ambiguous,
    AuthFailed,
    ChannelError,
    Permanent,
    RateLimited,
    RenderError,
    TooLong,
    Transient,
)
from publisher.services import lifecycle
from publisher.services.lifecycle import (
    KEY_MARGIN,
    RECONCILE_DELAY,
    Change,
    ChannelFacts,
    ChannelRules,
    Composed,
    Fail,
    History,
    Logged,
    LogRow,
    Lookup,
    MarkPublished,
    Origin,
    OriginKind,
    PauseChannel,
    PostFacts,
    Publish,
    Refuse,
    Release,
    Review,
    Skip,
    Wait,
    compose,
    on_claim,
    on_expiry,
    on_lookup,
    on_outcome,
    on_take_over,
)
from publisher.services.plan import channel_rules, render_for
from publisher.types import (
    ArticleData,
    Attempt,
    DeliveryClass,
    Image,
    OutboxItem,
    Outcome,
    PostStatus,
    PublishResult,
    RenderedPost,
)

NOW = datetime(2026, 11, 26, 12, tzinfo=UTC)
LATER = NOW + timedelta(hours=6)
HOUR = 3600.0


def half() -> float:
    return 0.5


def row(outcome: Outcome, minutes_ago: float = 1, number: int = 1, **kw: object) -> Attempt:
    at = NOW - timedelta(minutes=minutes_ago)
    return Attempt(id=number, post_id=1, channel="c", number=number, worker="w",
                   started_at=at, outcome=outcome, **kw)  # type: ignore[arg-type]


def history(*rows: Attempt) -> History:
    """``rows`` oldest first, summarised as the store would give them (newest first)."""
    return History.of(list(reversed(rows)))


def post(*rows: Attempt, attempts: int | None = None, expires_at: datetime | None = LATER,
         status: PostStatus = PostStatus.PUBLISHING) -> PostFacts:
    tried = sum(r.outcome in (Outcome.STARTED, Outcome.AMBIGUOUS, Outcome.OK, Outcome.RETRYING,
                              Outcome.RATE_LIMITED, Outcome.FAILED) for r in rows)
    return PostFacts(1, status, tried if attempts is None else attempts, expires_at,
                     history(*rows))


IDEMPOTENT = ChannelFacts(DeliveryClass.IDEMPOTENT, max_attempts=3, retry_base=10,
                          retry_cap=60, type="bluesky")
KEYED = replace(IDEMPOTENT, key_lifetime=HOUR, type="mastodon")  # Mastodon: a key lives 1 h
RECONCILABLE = replace(IDEMPOTENT, delivery=DeliveryClass.RECONCILABLE, type="x")
REVIEW = replace(IDEMPOTENT, delivery=DeliveryClass.REVIEW, type="telegram")
STALE = NOW - timedelta(seconds=1)
RESHARE_REVIEW = Review("ambiguous: a re-share may or may not be on the platform, and a look-up "
                        "would find the article's earlier post; check the channel and run "
                        "`publisher queue resolve`")
OPEN_REASON = "stale: not published before its max_age ran out at 2026-11-26T11:59:59+00:00"


@dataclass(frozen=True)
class Claim:
    name: str
    post: PostFacts
    channel: ChannelFacts
    expected: object


CLAIMS = [
    # queued -> publishing: a fresh post goes out
    Claim("fresh post is sent", post(), RECONCILABLE, Publish(after_ambiguous=False)),
    Claim("channel removed from the configuration: given back", post(),
          replace(RECONCILABLE, configured=False),
          Release("its channel is not configured any more")),
    # never twice: the log already says it is there
    Claim("a late OK after a take-over: published, never sent again",
          post(row(Outcome.AMBIGUOUS, 5, error="lease expired"),
               row(Outcome.OK, 4, 2, remote_id="9", remote_url="https://x/9")),
          RECONCILABLE, MarkPublished("9", "https://x/9", outcome=None)),
    Claim("a reconciled look-up before a crash: published",
          post(row(Outcome.AMBIGUOUS, 5), row(Outcome.RECONCILED, 4, 2, remote_id="7")),
          REVIEW, MarkPublished("7", None, outcome=None)),
    # stale
    Claim("stale and never tried: failed", post(expires_at=STALE), RECONCILABLE,
          Fail(OPEN_REASON)),
    Claim("stale after a plain retry: failed",
          post(row(Outcome.RETRYING), expires_at=STALE), REVIEW, Fail(OPEN_REASON)),
    Claim("stale in doubt, reconcilable: looked up first",
          post(row(Outcome.AMBIGUOUS), expires_at=STALE), RECONCILABLE,
          Lookup("stale, and its last attempt may have reached the platform")),
    Claim("stale in doubt, Mastodon (can read back): looked up first",
          post(row(Outcome.STARTED), expires_at=STALE), KEYED,
          Lookup("stale, and its last attempt may have reached the platform")),
    Claim("stale in doubt, review: an editor decides",
          post(row(Outcome.AMBIGUOUS), expires_at=STALE), REVIEW,
          Review(OPEN_REASON + "; its last attempt may have reached the platform")),
    Claim("stale in doubt, idempotent without look-up: an editor decides",
          post(row(Outcome.AMBIGUOUS), expires_at=STALE), IDEMPOTENT,
          Review(OPEN_REASON + "; its last attempt may have reached the platform")),
    # the rate-limit gate
    Claim("rate limit not reset: waits for the reset, no request",
          post(row(Outcome.RATE_LIMITED)),
          replace(RECONCILABLE, rate_limited_until=NOW + timedelta(seconds=30)),
          Wait(NOW + timedelta(seconds=30), "rate limited until 2026-11-26T12:00:30+00:00")),
    Claim("rate limit reset exactly now: sent",
          post(row(Outcome.RATE_LIMITED)), replace(RECONCILABLE, rate_limited_until=NOW),
          Publish(after_ambiguous=False)),
    # needs_review stays with the editor
    Claim("newest row needs review: back to review, no new row",
          post(row(Outcome.NEEDS_REVIEW, error="ambiguous: telegram")), REVIEW,
          Review("ambiguous: telegram", outcome=None)),
    # lease expired with no recorded outcome -> reconcile, per delivery class
    Claim("in doubt, idempotent (Bluesky record key): same key again",
          post(row(Outcome.AMBIGUOUS)), IDEMPOTENT, Publish(after_ambiguous=True)),
    Claim("in doubt, Mastodon within its key's hour: same key again",
          post(row(Outcome.AMBIGUOUS, minutes_ago=30)), KEYED, Publish(after_ambiguous=True)),
    Claim("in doubt, Mastodon just inside the margin: same key again",
          post(row(Outcome.STARTED, minutes_ago=(HOUR - KEY_MARGIN) / 60 - 0.1)), KEYED,
          Publish(after_ambiguous=True)),
    Claim("in doubt, Mastodon past its key lifetime less the margin: looked up",
          post(row(Outcome.STARTED, minutes_ago=(HOUR - KEY_MARGIN) / 60)), KEYED,
          Lookup("in doubt for longer than the platform keeps its idempotency key")),
    Claim("in doubt, Mastodon: the first doubtful send counts, not the last retry",
          post(row(Outcome.AMBIGUOUS, 55), row(Outcome.AMBIGUOUS, 2, 2)), KEYED,
          Lookup("in doubt for longer than the platform keeps its idempotency key")),
    Claim("in doubt, Mastodon: a look-up that found nothing starts the count again",
          post(row(Outcome.AMBIGUOUS, 80), row(Outcome.NOT_FOUND, 79),
               row(Outcome.AMBIGUOUS, 2, 2)), KEYED, Publish(after_ambiguous=True)),
    Claim("in doubt, reconcilable: looked up", post(row(Outcome.AMBIGUOUS)), RECONCILABLE,
          Lookup("its last attempt may have reached the platform")),
    Claim("in doubt, review: needs_review with a row",
          post(row(Outcome.STARTED)), REVIEW,
          Review("ambiguous: the platform may or may not have the post; check the channel "
                 "and run `publisher queue resolve`")),
    Claim("not found after a look-up: sent, the adapter told it may be there",
          post(row(Outcome.AMBIGUOUS), row(Outcome.NOT_FOUND)), RECONCILABLE,
          Publish(after_ambiguous=True)),
    Claim("retry after a transient error: sent", post(row(Outcome.RETRYING)), RECONCILABLE,
          Publish(after_ambiguous=False)),
    # a later attempt's error says nothing of where an earlier one went
    Claim("Bluesky: in doubt, then a 503 on the re-send: still sent with its record key",
          post(row(Outcome.AMBIGUOUS, 5), row(Outcome.RETRYING, 3, 2)), IDEMPOTENT,
          Publish(after_ambiguous=True)),
    Claim("Mastodon: in doubt 55 min ago, a 503 since: its key may be gone, looked up",
          post(row(Outcome.AMBIGUOUS, 55), row(Outcome.RETRYING, 30, 2)), KEYED,
          Lookup("in doubt for longer than the platform keeps its idempotency key")),
    Claim("Bluesky: stale, in doubt before a 503: an editor decides, not failed",
          post(row(Outcome.STARTED, 5), row(Outcome.RETRYING, 3, 2), expires_at=STALE),
          IDEMPOTENT,
          Review(OPEN_REASON + "; its last attempt may have reached the platform")),
    # a re-share: a look-up would find the article's earlier post by its link
    Claim("re-share in doubt, reconcilable: an editor decides, never a look-up",
          replace(post(row(Outcome.AMBIGUOUS)), reshare=True), RECONCILABLE, RESHARE_REVIEW),
    Claim("re-share in doubt, Mastodon past its key's hour: an editor decides",
          replace(post(row(Outcome.STARTED, minutes_ago=55)), reshare=True), KEYED,
          RESHARE_REVIEW),
    Claim("re-share in doubt, Mastodon within its key's hour: same key again",
          replace(post(row(Outcome.AMBIGUOUS, minutes_ago=30)), reshare=True), KEYED,
          Publish(after_ambiguous=True)),
    Claim("re-share stale in doubt, reconcilable: an editor decides",
          replace(post(row(Outcome.AMBIGUOUS), expires_at=STALE), reshare=True), RECONCILABLE,
          Review(OPEN_REASON + "; its last attempt may have reached the platform")),
    Claim("re-share, fresh: sent", replace(post(), reshare=True), RECONCILABLE,
          Publish(after_ambiguous=False)),
]


@pytest.mark.parametrize("case", CLAIMS, ids=[c.name for c in CLAIMS])
def test_on_claim(case: Claim) -> None:
    assert on_claim(case.post, case.channel, now=NOW) == case.expected


@dataclass(frozen=True)
class Answer:
    name: str
    answer: PublishResult | ChannelError
    channel: ChannelFacts
    expected: object
    attempt: int = 1


UNTIL = NOW + timedelta(minutes=15)
ANSWERS = [
    Answer("platform OK: published",
           PublishResult("1", "https://x/1", http_status=201, notes=("image skipped",)),
           RECONCILABLE,
           MarkPublished("1", "https://x/1", outcome=Outcome.OK, note="image skipped",
                         http_status=201)),
    Answer("rate limited: waits for the reset and closes the gate",
           RateLimited("429", until=UNTIL, http_status=429), RECONCILABLE,
           Wait(UNTIL, "429", outcome=Outcome.RATE_LIMITED, gate_until=UNTIL,
                http_status=429)),
    Answer("rate limited: never uses up the post's attempts",
           RateLimited("429", until=UNTIL), RECONCILABLE,
           Wait(UNTIL, "429", outcome=Outcome.RATE_LIMITED, gate_until=UNTIL), attempt=99),
    Answer("rate limited with a reset in the past: now",
           RateLimited("429", until=NOW - timedelta(seconds=5)), RECONCILABLE,
           Wait(NOW, "429", outcome=Outcome.RATE_LIMITED, gate_until=NOW)),
    Answer("credentials refused: channel paused, post failed",
           AuthFailed("token revoked", http_status=401), RECONCILABLE,
           PauseChannel("x refused the credentials: token revoked", auth=True,
                        then=Fail("token revoked", outcome=Outcome.AUTH_FAILED,
                                  http_status=401))),
    Answer("X credits depleted: channel paused with the reason, post waits (not failed)",
           AccountBlocked("X credits depleted: add credits, then `publisher resume --channel x`",
                          http_status=402), RECONCILABLE,
           PauseChannel("X credits depleted: add credits, then `publisher resume --channel x`",
                        auth=False,
                        then=Wait(NOW, "channel paused: X credits depleted: add credits, "
                                       "then `publisher resume --channel x`",
                                  outcome=Outcome.RETRYING, http_status=402))),
    Answer("ambiguous, reconcilable: looked up after a moment", Ambiguous("timeout"),
           RECONCILABLE, Wait(NOW + timedelta(seconds=RECONCILE_DELAY), "timeout",
                              outcome=Outcome.AMBIGUOUS)),
    Answer("ambiguous, idempotent: settled on the next claim", Ambiguous("reset"), KEYED,
           Wait(NOW + timedelta(seconds=RECONCILE_DELAY), "reset", outcome=Outcome.AMBIGUOUS)),
    Answer("ambiguous, review: needs_review at once", Ambiguous("timeout"), REVIEW,
           Review("timeout", outcome=Outcome.AMBIGUOUS)),
    Answer("transient: retried after a jittered backoff", Transient("503", http_status=503),
           RECONCILABLE, Wait(NOW + timedelta(seconds=10), "503", outcome=Outcome.RETRYING,
                              http_status=503), attempt=2),
    Answer("transient, attempts used up: failed", Transient("503"), RECONCILABLE,
           Fail("503"), attempt=3),
    Answer("unknown channel error: retried like a transient one", ChannelError("odd"),
           RECONCILABLE, Wait(NOW + timedelta(seconds=5), "odd", outcome=Outcome.RETRYING)),
    Answer("permanent: failed with the platform's message", Permanent("duplicate content"),
           RECONCILABLE, Fail("duplicate content")),
]


@pytest.mark.parametrize("case", ANSWERS, ids=[c.name for c in ANSWERS])
def test_on_outcome(case: Answer) -> None:
    decided = on_outcome(case.answer, post(), case.channel, attempt=case.attempt, now=NOW,
                         rand=half)
    assert decided == case.expected


IN_DOUBT_BEFORE = post(row(Outcome.AMBIGUOUS, 5))
CHECK = "; an earlier attempt may have reached the platform: check the channel and run " \
    "`publisher queue resolve`"


@pytest.mark.parametrize(("answer", "attempt", "expected"), [
    (Permanent("rejected"), 2, Review("rejected" + CHECK, outcome=Outcome.FAILED)),
    (Transient("503"), 3, Review("503" + CHECK, outcome=Outcome.FAILED)),
    (AuthFailed("revoked"), 2,
     PauseChannel("bluesky refused the credentials: revoked", auth=True,
                  then=Review("revoked" + CHECK, outcome=Outcome.AUTH_FAILED))),
], ids=["permanent", "attempts used up", "credentials refused"])
def test_a_post_an_earlier_attempt_of_which_may_be_out_is_never_failed(
        answer: ChannelError, attempt: int, expected: object) -> None:
    """Found by the state machine: Bluesky, a crash after the record was
    written, a 503 on the re-send, then stale: the post was failed while on
    the platform."""
    assert on_outcome(answer, IN_DOUBT_BEFORE, IDEMPOTENT, attempt=attempt, now=NOW,
                      rand=half) == expected


NOT_FOUND_ROW = LogRow(Outcome.NOT_FOUND,
                       "not on the platform after an ambiguous attempt: retrying")
LOOKUPS = [
    ("found: published, reconciled", PublishResult("5", "https://x/5"), post(),
     MarkPublished("5", "https://x/5", outcome=Outcome.RECONCILED)),
    ("not found: sent again", None, post(attempts=1),
     Logged(NOT_FOUND_ROW, Publish(after_ambiguous=True))),
    ("not found and stale: failed as stale", None, post(attempts=1, expires_at=STALE),
     Logged(NOT_FOUND_ROW, Fail(OPEN_REASON))),
    ("not found, attempts used up: failed", None, post(attempts=3),
     Logged(NOT_FOUND_ROW, Fail("gave up after 3 attempts"))),
    ("look-up rate limited: waits for the reset, gate closed",
     RateLimited("slow down", until=UNTIL), post(attempts=1),
     Wait(UNTIL, "reconcile: slow down", gate_until=UNTIL)),
    ("look-up refused the credentials: paused, still in doubt",
     AuthFailed("no read permission"), post(attempts=1),
     PauseChannel("x refused the credentials: no read permission", auth=True,
                  then=Wait(NOW + timedelta(seconds=5), "reconcile: no read permission"))),
    ("look-up on a blocked account: paused, still in doubt",
     AccountBlocked("X credits depleted"), post(attempts=1),
     PauseChannel("X credits depleted", auth=False,
                  then=Wait(NOW + timedelta(seconds=5), "reconcile: X credits depleted"))),
    ("look-up failed: looked for again later, never sent", Transient("502"),
     post(attempts=1), Wait(NOW + timedelta(seconds=5), "reconcile: 502")),
]


@pytest.mark.parametrize(("found", "facts", "expected"), [c[1:] for c in LOOKUPS],
                         ids=[c[0] for c in LOOKUPS])
def test_on_lookup(found: PublishResult | ChannelError | None, facts: PostFacts,
                   expected: object) -> None:
    assert on_lookup(found, facts, RECONCILABLE, now=NOW, rand=half) == expected


def test_a_failed_look_up_waits_at_least_the_reconcile_delay() -> None:
    decided = on_lookup(Transient("x"), post(attempts=1), RECONCILABLE, now=NOW,
                        rand=lambda: 0.0)
    assert decided == Wait(NOW + timedelta(seconds=RECONCILE_DELAY), "reconcile: x")


EXPIRIES = [
    ("not expired: stays", post(status=PostStatus.QUEUED), None, None),
    ("past max_age: failed as stale", post(status=PostStatus.WAITING, expires_at=STALE), None,
     Fail(OPEN_REASON)),
    ("channel closed until after its expiry: failed now",
     post(status=PostStatus.QUEUED, expires_at=NOW + timedelta(hours=1)),
     NOW + timedelta(hours=2),
     Fail("stale: not published before its max_age ran out at 2026-11-26T13:00:00+00:00")),
    ("channel opens before its expiry: stays",
     post(status=PostStatus.QUEUED), NOW + timedelta(hours=1), None),
    ("a draft is not failed for a closed channel",
     post(status=PostStatus.DRAFT, expires_at=NOW + timedelta(hours=1)),
     NOW + timedelta(hours=2), None),
    ("a draft past max_age is", post(status=PostStatus.DRAFT, expires_at=STALE), None,
     Fail(OPEN_REASON)),
    ("stale but in doubt: left to the dispatcher, which settles it first",
     post(row(Outcome.AMBIGUOUS), status=PostStatus.WAITING, expires_at=STALE), None, None),
    ("no expiry: stays", post(status=PostStatus.QUEUED, expires_at=None), None, None),
]


@pytest.mark.parametrize(("facts", "opens_at", "expected"), [c[1:] for c in EXPIRIES],
                         ids=[c[0] for c in EXPIRIES])
def test_on_expiry(facts: PostFacts, opens_at: datetime | None, expected: object) -> None:
    assert on_expiry(facts, opens_at=opens_at, now=NOW) == expected


def test_on_take_over_closes_a_started_attempt_as_ambiguous() -> None:
    assert on_take_over(Outcome.STARTED) == LogRow(Outcome.AMBIGUOUS, "lease expired")
    assert on_take_over(Outcome.OK) is None
    assert on_take_over(None) is None


def test_history_summary() -> None:
    h = history(row(Outcome.AMBIGUOUS, 30), row(Outcome.STARTED, 10, 2))
    assert h.in_doubt and h.ever_in_doubt and h.newest is Outcome.STARTED
    assert h.in_doubt_since == NOW - timedelta(minutes=30)
    assert history().newest is None and not history().in_doubt
    settled = history(row(Outcome.AMBIGUOUS), row(Outcome.NOT_FOUND), row(Outcome.RETRYING))
    assert not settled.in_doubt and settled.ever_in_doubt and settled.in_doubt_since is None


# -- the editor's arrows, in every state --------------------------------------------------

RULES = ChannelRules("x", type="x", max_age=HOUR, limit=20, count=len, rule_name="chars")


def item(status: PostStatus, **kw: object) -> OutboxItem:
    values: dict[str, object] = dict(
        id=4, article_id=None, channel="x", status=status, text="Hello", link=None,
        image=None, priority="normal", idempotency_key="k", attempts=0,
        created_at=NOW - timedelta(hours=1), not_before=NOW - timedelta(hours=1),
        expires_at=NOW + timedelta(minutes=10))
    values.update(kw)
    return OutboxItem(**values)  # type: ignore[arg-type]


ACTIONS = {
    "edited": lambda it: lifecycle.edit(it, RULES, text="New", now=NOW),
    "cancelled": lifecycle.cancel,
    "approved": lifecycle.approve,
    "retried": lambda it: lifecycle.retry(it, RULES, by="ann", now=NOW),
    "resolved": lambda it: lifecycle.resolve(it, RULES, by="ann", published_url=None, now=NOW),
}
ALLOWED = {
    "edited": {PostStatus.DRAFT, PostStatus.QUEUED, PostStatus.WAITING, PostStatus.FAILED},
    "cancelled": {PostStatus.DRAFT, PostStatus.QUEUED, PostStatus.WAITING,
                  PostStatus.NEEDS_REVIEW},
    "approved": {PostStatus.DRAFT},
    "retried": {PostStatus.FAILED, PostStatus.NEEDS_REVIEW},
    "resolved": {PostStatus.NEEDS_REVIEW},
}


@pytest.mark.parametrize("status", list(PostStatus))
@pytest.mark.parametrize("action", list(ACTIONS))
def test_editor_action_per_state(action: str, status: PostStatus) -> None:
    decided = ACTIONS[action](item(status))
    if status in ALLOWED[action]:
        assert isinstance(decided, Change)
        assert decided.expected == ((PostStatus.DRAFT,) if action == "approved" else (status,))
    else:
        assert isinstance(decided, Refuse)
        assert decided.message.startswith("post 4 is ")
        assert action in decided.message


def test_refusals_say_what_state_and_what_is_allowed() -> None:
    assert lifecycle.cancel(item(PostStatus.PUBLISHED)) == Refuse(
        "post 4 is already published: it cannot be cancelled")
    assert lifecycle.approve(item(PostStatus.PUBLISHING)) == Refuse(
        "post 4 is being published right now: it cannot be approved")
    assert lifecycle.retry(item(PostStatus.QUEUED), RULES, by="a", now=NOW) == Refuse(
        "post 4 is queued: only failed or needs_review posts can be retried")


def test_cancel_and_approve_change_the_status() -> None:
    assert lifecycle.cancel(item(PostStatus.WAITING)) == Change(
        {"status": PostStatus.CANCELLED, "next_attempt_at": None}, (PostStatus.WAITING,))
    assert lifecycle.approve(item(PostStatus.DRAFT)) == Change(
        {"status": PostStatus.QUEUED}, (PostStatus.DRAFT,))


def test_retry_requeues_with_a_fresh_budget_and_a_row_first() -> None:
    failed = lifecycle.retry(item(PostStatus.FAILED, attempts=3), RULES, by="ann", now=NOW)
    assert failed == Change(
        {"status": PostStatus.QUEUED, "attempts": 0, "not_before": NOW, "next_attempt_at": None,
         "last_error": None, "expires_at": NOW + timedelta(hours=1)}, (PostStatus.FAILED,),
        LogRow(Outcome.RETRYING, "retried by ann: queued again with a fresh attempts budget"))
    reviewed = lifecycle.retry(item(PostStatus.NEEDS_REVIEW), RULES, by="ann", now=NOW)
    # the editor says it is not there: the dispatcher must send it, not review it again
    assert isinstance(reviewed, Change) and reviewed.log_row is not None
    assert reviewed.log_row.outcome is Outcome.NOT_FOUND


def test_retry_refuses_a_post_without_text_or_channel() -> None:
    empty = lifecycle.retry(item(PostStatus.FAILED, text="", last_error="template error: x"),
                            RULES, by="a", now=NOW)
    assert isinstance(empty, Refuse) and "has no text (template error: x)" in empty.message
    gone = lifecycle.retry(item(PostStatus.FAILED), ChannelRules("x", configured=False),
                           by="a", now=NOW)
    assert gone == Refuse('post 4 is on "x", which is no longer configured')


def test_retry_renders_again_a_post_that_failed_without_text() -> None:
    broken = item(PostStatus.FAILED, text="", last_error="template error: x", article_id=7)
    fixed = lifecycle.retry(broken, RULES, by="ann", now=NOW,
                            rendered=RenderedPost("Council votes", length=13, limit=20))
    assert isinstance(fixed, Change) and fixed.fields["text"] == "Council votes"
    assert fixed.fields["status"] is PostStatus.QUEUED and fixed.fields["attempts"] == 0
    assert fixed.log_row == LogRow(Outcome.RETRYING, "retried by ann: rendered again with "
                                   "template default, queued again with a fresh attempts "
                                   "budget")
    still = lifecycle.retry(broken, RULES, by="ann", now=NOW, rendered=RenderError("x.j2:1: y"))
    assert still == Refuse("post 4 still cannot be rendered with template default: "
                           "template error: x.j2:1: y")
    # a post that has its text is not rendered again: what the editor saw goes out
    kept = lifecycle.retry(item(PostStatus.FAILED), RULES, by="ann", now=NOW,
                           rendered=RenderedPost("Other", length=5, limit=20))
    assert isinstance(kept, Change) and "text" not in kept.fields


EDIT_FAILED = [
    ("text: queued again with a fresh budget", dict(text="Fixed"), {},
     Change({"status": PostStatus.QUEUED, "attempts": 0, "not_before": NOW,
             "next_attempt_at": None, "last_error": None, "expires_at": NOW + timedelta(hours=1),
             "text": "Fixed"}, (PostStatus.FAILED,),
            LogRow(Outcome.RETRYING, "edited by ann: queued again with a fresh attempts "
                   "budget"))),
    ("time only: queued at it", dict(at=NOW + timedelta(hours=2)), {},
     Change({"status": PostStatus.QUEUED, "attempts": 0,
             "not_before": NOW + timedelta(hours=2), "next_attempt_at": None,
             "last_error": None, "expires_at": NOW + timedelta(hours=3)},
            (PostStatus.FAILED,),
            LogRow(Outcome.RETRYING, "edited by ann: queued again with a fresh attempts "
                   "budget"))),
    ("no text and none given", dict(at=NOW), {"text": "", "last_error": "template error: t"},
     Refuse("post 4 has no text (template error: t): give --text, or `publisher queue "
            "retry` renders it again")),
    ("text still counted", dict(text="x" * 21), {},
     Refuse("text too long for x: 21 > 20 (chars)")),
    ("moved after attempts", dict(), {"_to": "fb"},
     Refuse("post 4 was already tried on x: cancel it and queue a new one instead")),
]


@pytest.mark.parametrize(("kw", "post_kw", "expected"), [c[1:] for c in EDIT_FAILED],
                         ids=[c[0] for c in EDIT_FAILED])
def test_edit_a_failed_post(kw: dict[str, object], post_kw: dict[str, object],
                            expected: object) -> None:
    to = post_kw.pop("_to", None)
    rules = ChannelRules("fb", max_age=HOUR, limit=100, count=len) if to else RULES
    post = item(PostStatus.FAILED, **{"attempts": 3, **post_kw})
    decided = lifecycle.edit(post, rules, now=NOW, by="ann", **kw)  # type: ignore[arg-type]
    assert decided == expected


def test_resolve_published_and_not_published() -> None:
    done = lifecycle.resolve(item(PostStatus.NEEDS_REVIEW), RULES, by="ann",
                             published_url="https://t.me/c/1", now=NOW)
    assert done == Change({"status": PostStatus.PUBLISHED, "remote_url": "https://t.me/c/1"},
                          (PostStatus.NEEDS_REVIEW,),
                          LogRow(Outcome.RECONCILED, "resolved by ann: published",
                                 remote_url="https://t.me/c/1"))
    again = lifecycle.resolve(item(PostStatus.NEEDS_REVIEW), RULES, by="ann",
                              published_url=None, now=NOW)
    assert isinstance(again, Change) and again.fields["status"] is PostStatus.QUEUED
    assert again.log_row == LogRow(Outcome.NOT_FOUND, "resolved by ann: not published")


EDITS = [
    ("text counted against the limit",
     dict(text="x" * 21), {}, Refuse("text too long for x: 21 > 20 (chars)")),
    ("text stripped", dict(text="  Hi  "), {}, Change({"text": "Hi"}, (PostStatus.QUEUED,))),
    ("empty text", dict(text="  "), {}, Refuse("--text: the text is empty")),
    ("text of a post in doubt", dict(text="Hi", in_doubt=True), {},
     Refuse("post 4 may already be on x (an attempt's outcome is unknown): its text and "
            "channel cannot change")),
    ("reschedule: a waiting post is queued at its new time, expiry pushed along",
     dict(at=NOW + timedelta(hours=2)), {"status": PostStatus.WAITING},
     Change({"not_before": NOW + timedelta(hours=2), "next_attempt_at": None,
             "expires_at": NOW + timedelta(hours=3), "status": PostStatus.QUEUED},
            (PostStatus.WAITING,))),
]


@pytest.mark.parametrize(("kw", "post_kw", "expected"), [c[1:] for c in EDITS],
                         ids=[c[0] for c in EDITS])
def test_edit(kw: dict[str, object], post_kw: dict[str, object], expected: object) -> None:
    status = post_kw.pop("status", PostStatus.QUEUED)
    assert lifecycle.edit(item(status, **post_kw), RULES, **kw) == expected  # type: ignore[arg-type]


def test_edit_moving_a_post_to_another_channel() -> None:
    approving = ChannelRules("fb", approval=True, max_age=HOUR, limit=100, count=len)
    assert lifecycle.edit(item(PostStatus.QUEUED), approving) == Change(
        {"channel": "fb", "status": PostStatus.DRAFT}, (PostStatus.QUEUED,))
    assert lifecycle.edit(item(PostStatus.QUEUED, attempts=1), approving) == Refuse(
        "post 4 was already tried on x: cancel it and queue a new one instead")
    assert lifecycle.edit(item(PostStatus.QUEUED), approving, taken_by=9) == Refuse(
        "the article already has post 9 on fb")
    assert lifecycle.edit(item(PostStatus.QUEUED), ChannelRules("fb", configured=False)) == (
        Refuse('post 4 is on "fb", which is no longer configured'))


# -- compose, per origin -------------------------------------------------------------------

ARTICLE = ArticleData(guid="g", url="https://news.example/a", title="Council votes",
                      categories=("Local News",), published=NOW - timedelta(minutes=5),
                      image=Image("https://news.example/a.jpg", "the council"))
RENDERED = RenderedPost("Council votes https://news.example/a", length=30, limit=280)


def tagger(url: str) -> str:
    return url + "?utm_source=x"


TAGGING = ChannelRules("x", type="x", max_age=HOUR, limit=280, count=len, rule_name="x",
                       tag_link=tagger, link_in_text=True)


def test_compose_a_feed_article() -> None:
    done = compose(Origin(OriginKind.FEED, NOW, article=ARTICLE), TAGGING, rendered=RENDERED,
                   now=NOW)
    assert isinstance(done, Composed) and done.problem is None
    p = done.post
    assert (p.status, p.text, p.link, p.image) == (
        PostStatus.QUEUED, RENDERED.text, "https://news.example/a?utm_source=x", ARTICLE.image)
    assert p.expires_at == ARTICLE.published + timedelta(hours=1)  # type: ignore[operator]
    assert p.not_before is None and p.created_by == "planner"


def test_compose_a_feed_article_for_a_channel_wanting_approval_makes_a_draft() -> None:
    done = compose(Origin(OriginKind.FEED, NOW, article=ARTICLE),
                   replace(TAGGING, approval=True), rendered=RENDERED, now=NOW)
    assert isinstance(done, Composed) and done.post.status is PostStatus.DRAFT


def test_compose_skips_an_article_older_than_max_age() -> None:
    old = replace(ARTICLE, published=NOW - timedelta(hours=2))
    assert compose(Origin(OriginKind.FEED, NOW, article=old), TAGGING, rendered=RENDERED,
                   now=NOW) == Skip("x: older than max_age")


def test_compose_an_article_dated_in_the_future_counts_from_now() -> None:
    ahead = replace(ARTICLE, published=NOW + timedelta(days=3))
    done = compose(Origin(OriginKind.FEED, NOW, article=ahead), TAGGING, rendered=RENDERED,
                   now=NOW)
    assert isinstance(done, Composed) and done.post.expires_at == NOW + timedelta(hours=1)


@pytest.mark.parametrize(("error", "problem"), [
    (TooLong("long", length=301, limit=280), "too long: 301 > 280 even after shortening"),
    (RenderError("x/default.j2:2: 'article' has no attribute 'titel'"),
     "template error: x/default.j2:2: 'article' has no attribute 'titel'"),
])
def test_compose_a_render_error_keeps_a_feeds_post_failed(error: RenderError,
                                                         problem: str) -> None:
    done = compose(Origin(OriginKind.FEED, NOW, article=ARTICLE), TAGGING, rendered=error,
                   now=NOW)
    assert isinstance(done, Composed) and done.problem == f"x: {problem}"
    assert (done.post.status, done.post.text, done.post.last_error) == (
        PostStatus.FAILED, "", problem)


def test_compose_a_render_error_refuses_an_editors_article() -> None:
    origin = Origin(OriginKind.EDITOR_URL, NOW, created_by="editor:ann", article=ARTICLE,
                    template="short")
    assert compose(origin, TAGGING, rendered=TooLong("", length=301, limit=280),
                   now=NOW) == Refuse("x: too long even after shortening: 301 > 280")
    assert compose(origin, TAGGING, rendered=RenderError("boom"), now=NOW) == Refuse(
        "x: template short: boom")


def test_compose_an_editors_article_is_due_at_its_time() -> None:
    at = NOW + timedelta(hours=3)
    done = compose(Origin(OriginKind.EDITOR_URL, at, created_by="editor:ann", article=ARTICLE),
                   TAGGING, rendered=RENDERED, now=NOW)
    assert isinstance(done, Composed)
    assert (done.post.not_before, done.post.expires_at, done.post.created_by) == (
        at, at + timedelta(hours=1), "editor:ann")


def test_compose_a_text_with_a_link_keeps_the_link_on_x_and_mastodon() -> None:
    origin = Origin(OriginKind.EDITOR_TEXT, NOW, created_by="editor:ann",
                    text=" Live: election night ", link="https://news.example/live")
    done = compose(origin, TAGGING, rendered=None, now=NOW)
    assert isinstance(done, Composed)
    link = "https://news.example/live?utm_source=x"
    assert (done.post.text, done.post.link) == (f"Live: election night\n\n{link}", link)
    assert done.length == len(done.post.text)
    # a platform that attaches the link itself gets the text as written
    plain = compose(origin, replace(TAGGING, link_in_text=False), rendered=None, now=NOW)
    assert isinstance(plain, Composed) and plain.post.text == "Live: election night"
    # a text that already carries the link is not given it twice
    within = replace(origin, text=f"Live: {link}")
    done = compose(within, TAGGING, rendered=None, now=NOW)
    assert isinstance(done, Composed) and done.post.text == f"Live: {link}"


def test_compose_a_text_counts_against_the_limit_for_every_origin() -> None:
    short = replace(TAGGING, limit=10, rule_name="announced")
    editor = Origin(OriginKind.EDITOR_TEXT, NOW, created_by="editor:ann", text="x" * 11)
    assert compose(editor, short, rendered=None, now=NOW) == Refuse(
        "text too long for x: 11 > 10 (announced)")
    recurring = Origin(OriginKind.RECURRING, NOW, created_by="recurring:n", text="x" * 11,
                       idempotency_key="key")
    done = compose(recurring, short, rendered=None, now=NOW)
    assert isinstance(done, Composed) and done.post.status is PostStatus.FAILED
    assert done.problem == "text too long for x: 11 > 10 (announced)"
    assert compose(replace(editor, text=" "), short, rendered=None, now=NOW) == Refuse(
        "--text: the text is empty")


def test_compose_a_recurring_text() -> None:
    fired = NOW - timedelta(seconds=3)
    origin = Origin(OriginKind.RECURRING, fired, created_by="recurring:newsletter",
                    text="Sign up", idempotency_key="k1")
    done = compose(origin, TAGGING, rendered=None, now=NOW)
    assert isinstance(done, Composed)
    p = done.post
    assert (p.text, p.link, p.idempotency_key, p.not_before, p.expires_at) == (
        "Sign up", None, "k1", fired, fired + timedelta(hours=1))


def channel_config(**kw: object) -> ChannelConfig:
    values: dict[str, object] = dict(
        name="x", type="x", credentials={}, base_url=None, max_age=HOUR, timeout=10.0,
        concurrency=4, template="default", approval=False,
        utm={"source": "x", "medium": "social"}, hashtags={}, hashtag_limit=3,
        retry=RetryConfig(), options={}, source="schedules/site.toml: channels.x")
    values.update(kw)
    return ChannelConfig(**values)  # type: ignore[arg-type]


def test_recurring_links_carry_the_channels_utm_tags() -> None:
    """A rotation's article link gets the channel's UTM tags like a feed's does
    (the recurring builder dropped them)."""
    origin = Origin(OriginKind.RECURRING, NOW, created_by="recurring:explainers",
                    article=ARTICLE, idempotency_key="k")
    done = compose(origin, channel_rules(channel_config()), rendered=RENDERED, now=NOW)
    assert isinstance(done, Composed)
    assert done.post.link == "https://news.example/a?utm_source=x&utm_medium=social"


def test_channel_rules_take_the_announced_limit() -> None:
    rules = channel_rules(channel_config(type="mastodon", name="m"), 100)
    assert rules.limit == 100 and not rules.tagged("https://a.example/").endswith("/")
    assert channel_rules(channel_config(type="mastodon", name="m")).limit == 500


def test_channel_hashtags_and_limit_reach_the_template(tmp_path: Path) -> None:
    from publisher.render import Renderer

    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "default.j2").write_text(
        "{{ article.title }} {{ article.categories | hashtags }}")
    renderer = Renderer([tmp_path])
    article = replace(ARTICLE, categories=("Local News", "Politics", "Weather"))
    mapped = channel_config(hashtags={"Local News": "#RiversideNews"}, hashtag_limit=2)
    assert render_for(renderer, mapped, article).text == (
        "Council votes #RiversideNews #Politics")
    plain = channel_config()
    assert render_for(renderer, plain, article).text == (
        "Council votes #LocalNews #Politics #Weather")


def test_the_lifecycle_imports_only_types_exceptions_and_the_standard_library() -> None:
    source = Path(lifecycle.__file__).read_text()
    imported: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module)
        elif isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
    allowed = {"__future__", "collections.abc", "dataclasses", "datetime", "enum",
               "publisher.types", "publisher.exceptions"}
    assert imported <= allowed, imported - allowed
