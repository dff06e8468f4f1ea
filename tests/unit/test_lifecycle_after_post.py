"""After the post (issue 13): the lifecycle's retract/correct arrows as a
table of named scenarios, and a hypothesis state machine of one published
post being deleted or edited under every platform answer, crashes and
read backs, for the three ways a call in doubt is settled (read back,
a harmless repeat, an editor).

Invariants of the machine: never a second delete after a confirmed one;
never an edit of a retracted post; a post read back as gone is never
deleted again; every post ends retracted/published or waits with a reason.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from publisher.exceptions import Ambiguous, AuthFailed, Permanent, RateLimited, Transient
from publisher.services import lifecycle as lc
from publisher.types import (
    Attempt,
    DeliveryClass,
    OutboxItem,
    Outcome,
    PostStatus,
    Priority,
    PublishResult,
)

NOW = datetime(2026, 12, 2, 12, tzinfo=UTC)
CHANNEL = lc.ChannelFacts(DeliveryClass.REVIEW, max_attempts=3, retry_base=1.0, retry_cap=10.0,
                          type="mastodon")
MASTODON = lc.AfterFacts(can_delete=True, can_edit=True, can_reply=True, read_back=True,
                         find_reply=True)
TELEGRAM = lc.AfterFacts(can_delete=True, delete_window=48 * 3600.0, can_edit=True,
                         can_reply=True, repeat_safe=True)
WEBHOOK = lc.AfterFacts(can_delete=True, can_edit=True)
SLACK = lc.AfterFacts()
X = lc.AfterFacts(can_delete=True, can_reply=True, read_back=True, find_reply=True)


def row(outcome: Outcome, n: int = 1, error: str | None = None, remote_id: str | None = None
        ) -> Attempt:
    return Attempt(id=n, post_id=1, channel="c", number=n, worker="w", started_at=NOW,
                   outcome=outcome, error=error, remote_id=remote_id)


def history(*outcomes: Outcome) -> lc.AfterHistory:
    """Rows newest first, the REQUESTED row last."""
    rows = [row(o, len(outcomes) - i) for i, o in enumerate((*outcomes, Outcome.REQUESTED))]
    return lc.AfterHistory.of(rows)


def item(status: PostStatus, *, published_hours_ago: float = 1.0,
         after_kind: str | None = None) -> OutboxItem:
    return OutboxItem(id=7, article_id=3, channel="c", status=status, text="Old headline",
                      link="https://news.example/a", image=None, priority=Priority.NORMAL,
                      idempotency_key="k", attempts=1, created_at=NOW, not_before=NOW,
                      remote_id="r-1",
                      published_at=NOW - timedelta(hours=published_hours_ago),
                      after_kind=after_kind)


def rand() -> float:
    return 0.5


# -- the table ----------------------------------------------------------------------------

CLAIM = [
    ("fresh delete is called", lc.AfterKind.DELETE, history(), MASTODON, CHANNEL,
     lc.Call(lc.AfterKind.DELETE)),
    ("a confirmed delete is done, never called again", lc.AfterKind.DELETE,
     history(Outcome.OK), MASTODON, CHANNEL, lc.Done),
    ("a delete read back as gone is done", lc.AfterKind.DELETE,
     history(Outcome.RECONCILED, Outcome.AMBIGUOUS), MASTODON, CHANNEL, lc.Done),
    ("a delete in doubt is read back where the platform can", lc.AfterKind.DELETE,
     history(Outcome.AMBIGUOUS), MASTODON, CHANNEL, lc.ReadBack),
    ("a delete left started by a crash is read back", lc.AfterKind.DELETE,
     history(Outcome.STARTED), MASTODON, CHANNEL, lc.ReadBack),
    ("a Telegram delete in doubt is repeated (not found = gone)", lc.AfterKind.DELETE,
     history(Outcome.AMBIGUOUS), TELEGRAM, CHANNEL, lc.Call(lc.AfterKind.DELETE)),
    ("a Telegram edit in doubt is repeated (not modified = applied)", lc.AfterKind.EDIT,
     history(Outcome.AMBIGUOUS), TELEGRAM, CHANNEL, lc.Call(lc.AfterKind.EDIT)),
    ("a webhook delete in doubt goes to an editor", lc.AfterKind.DELETE,
     history(Outcome.AMBIGUOUS), WEBHOOK, CHANNEL, lc.Review),
    ("a note in doubt is looked for with find_reply", lc.AfterKind.NOTE,
     history(Outcome.AMBIGUOUS), X, CHANNEL, lc.ReadBack),
    ("a note in doubt where no reply can be found goes to an editor", lc.AfterKind.NOTE,
     history(Outcome.AMBIGUOUS), TELEGRAM, CHANNEL, lc.Review),
    ("a delete still there after a read back is called again", lc.AfterKind.DELETE,
     history(Outcome.NOT_FOUND, Outcome.AMBIGUOUS), MASTODON, CHANNEL,
     lc.Call(lc.AfterKind.DELETE)),
    ("a closed rate-limit gate makes it wait", lc.AfterKind.DELETE, history(), MASTODON,
     replace(CHANNEL, rate_limited_until=NOW + timedelta(seconds=30)), lc.Wait),
    ("a channel no longer configured waits", lc.AfterKind.DELETE, history(), MASTODON,
     replace(CHANNEL, configured=False), lc.Wait),
]


@pytest.mark.parametrize(("name", "kind", "hist", "facts", "channel", "expected"), CLAIM,
                         ids=[c[0] for c in CLAIM])
def test_on_after_claim(name, kind, hist, facts, channel, expected) -> None:
    decision = lc.on_after_claim(kind, hist, facts, channel, now=NOW)
    if isinstance(expected, type):
        assert isinstance(decision, expected), decision
    else:
        assert decision == expected


OUTCOME = [
    ("delete OK: done", lc.AfterKind.DELETE, None, history(), 1, lc.Done()),
    ("edit OK: done with the platform's answer", lc.AfterKind.EDIT, PublishResult("r-1"),
     history(), 1, lc.Done(remote_id="r-1")),
    ("transient: retried after a backoff", lc.AfterKind.DELETE, Transient("503"), history(), 1,
     lc.Wait(NOW + timedelta(seconds=0.5), "delete: 503", outcome=Outcome.RETRYING)),
    ("transient with attempts used up: abandoned, the post stays", lc.AfterKind.DELETE,
     Transient("503"), history(), 3, lc.Abandon),
    ("rate limited: waits and closes the gate", lc.AfterKind.DELETE,
     RateLimited("429", until=NOW + timedelta(seconds=60)), history(), 1,
     lc.Wait(NOW + timedelta(seconds=60), "delete: 429", outcome=Outcome.RATE_LIMITED,
             gate_until=NOW + timedelta(seconds=60))),
    ("ambiguous: waits a moment, the next claim settles it", lc.AfterKind.DELETE,
     Ambiguous("timeout"), history(), 1,
     lc.Wait(NOW + timedelta(seconds=lc.RECONCILE_DELAY), "delete: timeout",
             outcome=Outcome.AMBIGUOUS)),
    ("permanent: abandoned", lc.AfterKind.EDIT, Permanent("too long"), history(), 1,
     lc.Abandon("edit: too long (the post stays as it is)")),
    ("permanent after a call in doubt: an editor", lc.AfterKind.DELETE, Permanent("no"),
     history(Outcome.NOT_FOUND, Outcome.AMBIGUOUS, Outcome.AMBIGUOUS), 2, lc.Abandon),
    ("refused credentials: the channel pauses, the post waits", lc.AfterKind.DELETE,
     AuthFailed("401"), history(), 1, lc.PauseChannel),
]


@pytest.mark.parametrize(("name", "kind", "answer", "hist", "attempt", "expected"), OUTCOME,
                         ids=[c[0] for c in OUTCOME])
def test_on_after_outcome(name, kind, answer, hist, attempt, expected) -> None:
    decision = lc.on_after_outcome(kind, answer, hist, CHANNEL, attempt=attempt, now=NOW,
                                   rand=rand)
    if isinstance(expected, type):
        assert isinstance(decision, expected), decision
    else:
        assert decision == expected


def test_a_refusal_after_a_call_in_doubt_goes_to_an_editor() -> None:
    hist = history(Outcome.AMBIGUOUS)
    decision = lc.on_after_outcome(lc.AfterKind.DELETE, Permanent("no"), hist, CHANNEL,
                                   attempt=2, now=NOW, rand=rand)
    assert isinstance(decision, lc.Review)


READ_BACK = [
    ("delete: gone is done", lc.AfterKind.DELETE, None, None, lc.Done),
    ("delete: still there is deleted again", lc.AfterKind.DELETE, "Old headline", None,
     lc.AfterLogged),
    ("edit: the new text shown is done", lc.AfterKind.EDIT, "New  headline\n", "New headline",
     lc.Done),
    ("edit: the old text shown is edited again", lc.AfterKind.EDIT, "Old headline",
     "New headline", lc.AfterLogged),
    ("edit: gone goes to an editor", lc.AfterKind.EDIT, None, "New headline", lc.Review),
    ("note: found is done", lc.AfterKind.NOTE, PublishResult("n-1"), "Correction", lc.Done),
    ("note: not found is posted again", lc.AfterKind.NOTE, None, "Correction", lc.AfterLogged),
    ("a failed read back waits and reads again", lc.AfterKind.DELETE, Transient("503"), None,
     lc.Wait),
]


@pytest.mark.parametrize(("name", "kind", "found", "new_text", "expected"), READ_BACK,
                         ids=[c[0] for c in READ_BACK])
def test_on_read_back(name, kind, found, new_text, expected) -> None:
    decision = lc.on_read_back(kind, found, new_text=new_text,
                               history=history(Outcome.AMBIGUOUS), channel=CHANNEL,
                               attempts=1, now=NOW, rand=rand)
    assert isinstance(decision, expected), decision
    if isinstance(decision, lc.AfterLogged):
        assert decision.row.outcome is Outcome.NOT_FOUND
        assert decision.then == lc.Call(kind)


RETRACT = [
    ("published: deleted", item(PostStatus.PUBLISHED), MASTODON, "delete"),
    ("being edited: deleted (a retraction wins)", item(PostStatus.EDITING), MASTODON, "delete"),
    ("queued: cancelled", item(PostStatus.QUEUED), MASTODON, "cancel"),
    ("draft: cancelled", item(PostStatus.DRAFT), MASTODON, "cancel"),
    ("waiting: cancelled", item(PostStatus.WAITING), MASTODON, "cancel"),
    ("publishing now: later", item(PostStatus.PUBLISHING), MASTODON, "later"),
    ("deleting: already", item(PostStatus.DELETING), MASTODON, "already"),
    ("retracted: already", item(PostStatus.RETRACTED), MASTODON, "already"),
    ("failed: none", item(PostStatus.FAILED), MASTODON, "none"),
    ("Slack: an editor", item(PostStatus.PUBLISHED), SLACK, "editor"),
    ("Telegram under 48 hours: deleted", item(PostStatus.PUBLISHED, published_hours_ago=47),
     TELEGRAM, "delete"),
    ("Telegram past 48 hours: an editor", item(PostStatus.PUBLISHED, published_hours_ago=49),
     TELEGRAM, "editor"),
    ("a delete an editor reviews: deleted again",
     item(PostStatus.NEEDS_REVIEW, after_kind="delete"), WEBHOOK, "delete"),
]


@pytest.mark.parametrize(("name", "post", "facts", "action"), RETRACT,
                         ids=[c[0] for c in RETRACT])
def test_retract(name, post, facts, action) -> None:
    step = lc.retract(post, facts, now=NOW)
    assert step.action == action
    if action in ("delete", "cancel"):
        assert step.expected == (post.status,)


def test_retract_a_publication_in_doubt_is_left_to_an_editor() -> None:
    step = lc.retract(item(PostStatus.NEEDS_REVIEW), MASTODON, now=NOW, in_doubt=True)
    assert step.action == "editor"
    assert lc.retract(item(PostStatus.NEEDS_REVIEW), MASTODON, now=NOW).action == "cancel"


CORRECT = [
    ("edit where the platform edits", "edit", MASTODON, False, "edit"),
    ("edit falls back to a note (X)", "edit", X, False, "note"),
    ("note asked for", "note", MASTODON, False, "note"),
    ("ignore: nothing", "ignore", MASTODON, False, "none"),
    ("ignore, but an editor asks by hand: edited", "ignore", MASTODON, True, "edit"),
    ("neither edit nor reply: an editor", "edit", SLACK, False, "editor"),
    ("webhook: a signed correct event (edit)", "edit", WEBHOOK, False, "edit"),
]


@pytest.mark.parametrize(("name", "mode", "facts", "by_hand", "action"), CORRECT,
                         ids=[c[0] for c in CORRECT])
def test_correct(name, mode, facts, by_hand, action) -> None:
    assert lc.correct(item(PostStatus.PUBLISHED), facts, on_update=mode,
                      by_hand=by_hand).action == action


@pytest.mark.parametrize("status", [PostStatus.RETRACTED, PostStatus.DELETING,
                                    PostStatus.EDITING, PostStatus.QUEUED])
def test_correct_never_touches_a_post_that_is_not_plainly_published(status) -> None:
    assert lc.correct(item(status), MASTODON, on_update="edit", by_hand=True).action == "none"


def test_a_newer_correction_replaces_a_pending_edit_but_never_a_pending_note() -> None:
    editing = item(PostStatus.EDITING, after_kind="edit")
    step = lc.correct(editing, MASTODON, on_update="edit")
    assert (step.action, step.expected) == ("edit", (PostStatus.EDITING,))
    noting = item(PostStatus.EDITING, after_kind="note")
    assert lc.correct(noting, X, on_update="edit").action == "none"


# -- the state machine --------------------------------------------------------------------


@dataclass
class Platform:
    """One post on a platform: there or gone, and its text."""

    there: bool = True
    text: str = "Old headline"
    deletes_of_gone: int = 0  # delete calls that arrived after it was gone
    edits_after_gone: int = 0


class AfterPostMachine(RuleBasedStateMachine):
    """A model of the dispatcher carrying out the after-post decisions for
    one post, with a worker that may crash between recording a call as
    started and recording its answer."""

    @initialize(kind=st.sampled_from(list(lc.AfterKind)),
                facts=st.sampled_from([MASTODON, TELEGRAM, WEBHOOK, X]))
    def start(self, kind: lc.AfterKind, facts: lc.AfterFacts) -> None:
        if kind is lc.AfterKind.EDIT and not facts.can_edit:
            kind = lc.AfterKind.NOTE
        self.kind, self.facts = kind, facts
        self.platform = Platform()
        self.notes = 0
        self.rows: list[Attempt] = [row(Outcome.REQUESTED, 0)]  # oldest first
        self.status = PostStatus.DELETING if kind is lc.AfterKind.DELETE else PostStatus.EDITING
        self.reason: str | None = None
        self.open_call = False  # a STARTED row whose answer is not recorded
        self.confirmed_at: int | None = None
        self.calls_after_confirmed = 0
        self.now = NOW

    # -- helpers -------------------------------------------------------------------

    def _add(self, outcome: Outcome, error: str | None = None) -> None:
        self.rows.append(row(outcome, len(self.rows), error))

    def _history(self) -> lc.AfterHistory:
        return lc.AfterHistory.of(list(reversed(self.rows)))

    def _finish(self, decision: lc.AfterDecision) -> None:
        match decision:
            case lc.Done(outcome=outcome):
                if outcome is not None:
                    self._add(outcome)
                self.status = (PostStatus.RETRACTED if self.kind is lc.AfterKind.DELETE
                               else PostStatus.PUBLISHED)
                self.confirmed_at = len(self.rows)
            case lc.Wait(reason=reason, outcome=outcome):
                if outcome is not None:
                    self._add(outcome, reason)
                self.reason = reason
            case lc.Review(reason=reason, outcome=outcome):
                if outcome is not None:
                    self._add(outcome, reason)
                self.status, self.reason = PostStatus.NEEDS_REVIEW, reason
            case lc.Abandon(reason=reason, outcome=outcome):
                if outcome is not None:
                    self._add(outcome, reason)
                self.status, self.reason = PostStatus.PUBLISHED, reason
            case lc.PauseChannel(then=then):
                assert isinstance(then, lc.Wait)
                self._finish(then)
            case _:
                raise AssertionError(decision)

    def _platform_call(self, delivered: bool) -> None:
        if self.status in (PostStatus.RETRACTED,) or self.confirmed_at is not None:
            self.calls_after_confirmed += 1
        if not delivered:
            return
        if self.kind is lc.AfterKind.DELETE:
            if not self.platform.there:
                self.platform.deletes_of_gone += 1
            self.platform.there = False
        elif self.kind is lc.AfterKind.EDIT:
            if not self.platform.there:
                self.platform.edits_after_gone += 1
            self.platform.text = "New headline"
        else:
            self.notes += 1

    # -- rules ------------------------------------------------------------------------

    @precondition(lambda self: self.status in (PostStatus.DELETING, PostStatus.EDITING)
                  and not self.open_call)
    @rule(answer=st.sampled_from(["ok", "transient", "rate", "permanent", "auth",
                                  "ambiguous_sent", "ambiguous_lost", "crash_sent",
                                  "crash_lost"]),
          found_fails=st.booleans())
    def claim(self, answer: str, found_fails: bool) -> None:
        decision = lc.on_after_claim(self.kind, self._history(), self.facts, CHANNEL,
                                     now=self.now)
        if isinstance(decision, lc.ReadBack):
            if found_fails:
                self._finish(lc.on_read_back(self.kind, Transient("503"), new_text="New headline",
                                             history=self._history(), channel=CHANNEL,
                                             attempts=len(self.rows), now=self.now, rand=rand))
                return
            found: str | PublishResult | None
            if self.kind is lc.AfterKind.NOTE:
                found = PublishResult("n") if self.notes else None
            else:
                found = self.platform.text if self.platform.there else None
            decision = lc.on_read_back(self.kind, found, new_text="New headline",
                                       history=self._history(), channel=CHANNEL,
                                       attempts=sum(1 for r in self.rows if r.outcome not in (
                                           Outcome.REQUESTED, Outcome.NOT_FOUND)),
                                       now=self.now, rand=rand)
            if isinstance(decision, lc.AfterLogged):
                self._add(decision.row.outcome, decision.row.error)
                decision = decision.then
        if not isinstance(decision, lc.Call):
            self._finish(decision)
            return
        # The call: STARTED first, then the platform, then its answer.
        self._add(Outcome.STARTED)
        attempt = sum(1 for r in self.rows if r.outcome is Outcome.STARTED)
        if answer.startswith("crash"):
            self._platform_call(delivered=answer == "crash_sent")
            self.open_call = True
            return
        self._platform_call(delivered=answer in ("ok", "ambiguous_sent"))
        error = {"transient": Transient("503"), "permanent": Permanent("refused"),
                 "rate": RateLimited("429", until=self.now + timedelta(seconds=5)),
                 "auth": AuthFailed("401"), "ambiguous_sent": Ambiguous("timeout"),
                 "ambiguous_lost": Ambiguous("reset")}.get(answer)
        result = None if self.kind is lc.AfterKind.DELETE else PublishResult("r")
        decision2 = lc.on_after_outcome(self.kind, error or result, self._history(), CHANNEL,
                                        attempt=attempt, now=self.now, rand=rand)
        self.rows.pop()  # the STARTED row becomes the attempt's outcome
        self._finish(decision2)  # Done(OK) writes the OK row

    @precondition(lambda self: self.open_call)
    @rule()
    def take_over(self) -> None:
        """The worker died: the lease expires, its STARTED row becomes AMBIGUOUS."""
        self.rows[-1] = replace(self.rows[-1], outcome=Outcome.AMBIGUOUS,
                                error="lease expired")
        self.open_call = False

    @rule(seconds=st.integers(1, 3600))
    def time_passes(self, seconds: int) -> None:
        self.now += timedelta(seconds=seconds)

    # -- invariants -------------------------------------------------------------------

    @invariant()
    def never_a_call_after_a_confirmed_one(self) -> None:
        assert self.calls_after_confirmed == 0

    @invariant()
    def a_read_back_platform_never_gets_a_delete_of_a_gone_post(self) -> None:
        if not self.facts.repeat_safe:
            assert self.platform.deletes_of_gone == 0

    @invariant()
    def never_an_edit_of_a_post_that_is_gone(self) -> None:
        assert self.platform.edits_after_gone == 0

    @invariant()
    def retracted_means_gone(self) -> None:
        if self.status is PostStatus.RETRACTED:
            assert not self.platform.there

    @invariant()
    def an_edit_done_is_shown(self) -> None:
        if self.kind is lc.AfterKind.EDIT and self.confirmed_at is not None:
            assert self.platform.text == "New headline"

    @invariant()
    def a_note_is_posted_at_most_once_where_it_can_be_found(self) -> None:
        if self.facts.find_reply:
            assert self.notes <= 1

    @invariant()
    def terminal_or_waiting_with_a_reason(self) -> None:
        if self.status in (PostStatus.NEEDS_REVIEW,) or (
                self.status is PostStatus.PUBLISHED and self.confirmed_at is None):
            assert self.reason


AfterPostMachine.TestCase.settings = settings(max_examples=300, stateful_step_count=30,
                                              deadline=None)
test_after_post_machine = AfterPostMachine.TestCase


@pytest.mark.parametrize("kind", ["delete", "edit"])
def test_a_delete_or_edit_in_review_is_never_retried_or_resolved_as_a_publication(kind) -> None:
    post = item(PostStatus.NEEDS_REVIEW, after_kind=kind)
    rules = lc.ChannelRules("c")
    for decision in (lc.retry(post, rules, by="alice", now=NOW),
                     lc.resolve(post, rules, by="alice", published_url=None, now=NOW)):
        assert isinstance(decision, lc.Refuse)
        assert "cannot be" in decision.message and "again" in decision.message
