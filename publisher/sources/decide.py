"""The pure "which entries are new, and which to post" decider.

No I/O and no clock: the caller passes ``is_known`` (the store's look-up)
and whether this is the feed's first successful fetch.

Ordering ("newest first"): entries are sorted by ``published``, falling back
to ``updated``, newest first. Entries with neither date come after all dated
entries, in their document order (feeds list newest first, so for a feed
without dates the document order is the best guess). Ties keep document
order. The sort is stable, so the result is fully determined by the input.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from publisher.types import ArticleData

__all__ = ["FeedDecision", "decide_new_entries", "newest_first"]


@dataclass(frozen=True)
class FeedDecision:
    """What to do with a fetched feed's entries."""

    plan: tuple[ArticleData, ...]  # new entries to be planned, newest first
    seen_only: tuple[ArticleData, ...]  # new entries to remember without planning


def _date(entry: ArticleData) -> datetime | None:
    return entry.published or entry.updated


def newest_first(entries: Sequence[ArticleData]) -> list[ArticleData]:
    """Entries sorted newest first; undated ones last, in document order."""
    dated = [e for e in entries if _date(e) is not None]
    undated = [e for e in entries if _date(e) is None]
    dated.sort(key=lambda e: _date(e), reverse=True)  # type: ignore[arg-type,return-value]
    # sort(reverse=True) keeps equal keys in their original order (it is stable).
    return dated + undated


def decide_new_entries(
    entries: Sequence[ArticleData],
    *,
    is_known: Callable[[ArticleData], bool],
    first_fetch: bool,
    backfill: int = 0,
) -> FeedDecision:
    """Split a feed's entries into those to plan and those only to remember.

    Entries already known (``is_known``: the store checks guid, then
    canonical URL, across feeds) are dropped, and so are repeats within the
    batch (same guid or same URL; the first in document order wins). On the
    first fetch only the newest ``backfill`` entries are planned and the rest
    are only remembered; afterwards every new entry is planned.
    """
    if backfill < 0:
        raise ValueError("backfill must be >= 0")
    guids: set[str] = set()
    urls: set[str] = set()
    new: list[ArticleData] = []
    for entry in entries:
        if entry.guid in guids or entry.url in urls:
            continue
        guids.add(entry.guid)
        urls.add(entry.url)
        if not is_known(entry):
            new.append(entry)
    ordered = newest_first(new)
    if first_fetch:
        return FeedDecision(plan=tuple(ordered[:backfill]), seen_only=tuple(ordered[backfill:]))
    return FeedDecision(plan=tuple(ordered), seen_only=())
