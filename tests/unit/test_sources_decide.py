"""decide_new_entries: pure, no I/O."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from publisher.sources import FeedDecision, decide_new_entries
from publisher.types import ArticleData


def art(
    guid: str, day: int | None = None, *, url: str | None = None, updated_day: int | None = None
) -> ArticleData:
    return ArticleData(
        guid=guid,
        url=url or f"https://n.example/{guid}",
        title=guid,
        published=datetime(2026, 11, day, tzinfo=UTC) if day else None,
        updated=datetime(2026, 11, updated_day, tzinfo=UTC) if updated_day else None,
    )


def guids(entries) -> list[str]:
    return [e.guid for e in entries]


def never(_: ArticleData) -> bool:
    return False


def test_all_new_entries_planned_newest_first():
    decision = decide_new_entries(
        [art("b", 2), art("c", 3), art("a", 1)], is_known=never, first_fetch=False
    )
    assert decision == FeedDecision(plan=(art("c", 3), art("b", 2), art("a", 1)), seen_only=())


def test_known_entries_are_dropped():
    known = {"b"}
    decision = decide_new_entries(
        [art("a", 1), art("b", 2)], is_known=lambda e: e.guid in known, first_fetch=False
    )
    assert guids(decision.plan) == ["a"]


def test_duplicates_in_batch_keep_the_first():
    first = art("same", 1, url="https://n.example/one")
    decision = decide_new_entries(
        [
            first,
            art("same", 5, url="https://n.example/two"),
            art("other", 3, url="https://n.example/one"),
        ],
        is_known=never,
        first_fetch=False,
    )
    assert decision.plan == (first,)


def test_first_fetch_backfill_splits_newest():
    entries = [art("a", 1), art("d", 4), art("c", 3), art("b", 2)]
    decision = decide_new_entries(entries, is_known=never, first_fetch=True, backfill=2)
    assert guids(decision.plan) == ["d", "c"]
    assert guids(decision.seen_only) == ["b", "a"]


def test_first_fetch_without_backfill_plans_nothing():
    decision = decide_new_entries([art("a", 1), art("b", 2)], is_known=never, first_fetch=True)
    assert decision.plan == ()
    assert guids(decision.seen_only) == ["b", "a"]


def test_first_fetch_with_known_entries_skips_them_too():
    decision = decide_new_entries(
        [art("a", 1), art("b", 2)], is_known=lambda e: e.guid == "b", first_fetch=True, backfill=5
    )
    assert guids(decision.plan) == ["a"] and decision.seen_only == ()


def test_updated_is_the_fallback_date_and_undated_go_last_in_document_order():
    entries = [art("x"), art("old", 1), art("y"), art("upd", updated_day=9), art("new", 5)]
    decision = decide_new_entries(entries, is_known=never, first_fetch=False)
    assert guids(decision.plan) == ["upd", "new", "old", "x", "y"]


def test_equal_dates_keep_document_order():
    entries = [art("p", 3), art("q", 3), art("r", 3)]
    assert guids(decide_new_entries(entries, is_known=never, first_fetch=False).plan) == [
        "p",
        "q",
        "r",
    ]


def test_no_new_entries():
    decision = decide_new_entries([art("a", 1)], is_known=lambda e: True, first_fetch=False)
    assert decision == FeedDecision(plan=(), seen_only=())


def test_is_known_called_once_per_distinct_entry():
    calls: list[str] = []

    def is_known(entry: ArticleData) -> bool:
        calls.append(entry.guid)
        return False

    decide_new_entries(
        [art("a", 1), art("a", 1), art("b", 2)], is_known=is_known, first_fetch=False
    )
    assert calls == ["a", "b"]


def test_negative_backfill_is_a_bug():
    with pytest.raises(ValueError):
        decide_new_entries([], is_known=never, first_fetch=True, backfill=-1)
