"""Who did it: an editor's approve, cancel and edit carry a log row naming
them when ``by`` is given (the desk and the CLI always give it)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from publisher.services import lifecycle
from publisher.services.lifecycle import Change, ChannelRules, History, LogRow
from publisher.types import Attempt, OutboxItem, Outcome, PostStatus, Priority

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
RULES = ChannelRules("x", max_age=3600.0, limit=20, count=len, rule_name="chars")


def item(status: PostStatus) -> OutboxItem:
    return OutboxItem(id=4, article_id=None, channel="x", status=status, text="Hello",
                      link=None, image=None, priority=Priority.NORMAL, idempotency_key="k",
                      attempts=0, created_at=NOW, not_before=NOW,
                      expires_at=NOW + timedelta(hours=1))


def test_approve_and_cancel_name_who() -> None:
    assert lifecycle.approve(item(PostStatus.DRAFT), by="bob") == Change(
        {"status": PostStatus.QUEUED}, (PostStatus.DRAFT,),
        LogRow(Outcome.REQUESTED, "approved by bob"))
    assert lifecycle.cancel(item(PostStatus.WAITING), by="dan") == Change(
        {"status": PostStatus.CANCELLED, "next_attempt_at": None}, (PostStatus.WAITING,),
        LogRow(Outcome.REQUESTED, "cancelled by dan"))


def test_edit_names_who_and_what_changed() -> None:
    later = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
    decided = lifecycle.edit(item(PostStatus.QUEUED), RULES, text="New", at=later, by="carol")
    assert isinstance(decided, Change)
    assert decided.log_row == LogRow(
        Outcome.REQUESTED, "edited by carol: new text, rescheduled to 2026-11-27 09:00 UTC")
    moved = lifecycle.edit(item(PostStatus.QUEUED), ChannelRules("fb"), by="carol")
    assert isinstance(moved, Change) and moved.log_row == LogRow(
        Outcome.REQUESTED, "edited by carol: moved to fb")


def test_an_editors_row_leaves_doubt_and_review_as_they_were() -> None:
    """The row goes first in the log: it must neither clear a doubt nor
    confirm a post (a rescheduled waiting post may be in doubt)."""
    def row(n: int, outcome: Outcome) -> Attempt:
        return Attempt(id=n, post_id=4, channel="x", number=1, worker="w",
                       started_at=NOW + timedelta(minutes=n), outcome=outcome)

    ambiguous = History.of([row(2, Outcome.REQUESTED), row(1, Outcome.AMBIGUOUS)])
    assert ambiguous.in_doubt and ambiguous.confirmed is None
