"""What the store's modules share: constants, aware-UTC checks, row readers
(a row to a domain type) and the common selects."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import (
    Row,
    Select,
    case,
    select,
)

from publisher.store.schema import articles, attempts, posts
from publisher.types import (
    CLAIMABLE_STATUSES,
    Article,
    ArticleData,
    ArticleState,
    Attempt,
    AttemptKind,
    ChannelState,
    FeedKind,
    FeedState,
    Image,
    OutboxItem,
    Outcome,
    PostStatus,
    Priority,
)

#: IN lists are cut to this size (SQLite's and PostgreSQL's parameter limits).
CHUNK = 500

#: PostgreSQL advisory lock key serialising concurrent ``upgrade()`` calls.
_MIGRATION_LOCK_KEY = 0x7075626C  # "publ"

#: Connection execution option: this transaction writes (SQLite: BEGIN IMMEDIATE).
_WRITE = "publisher_write"

_PRIORITY_RANK = case(
    {Priority.BREAKING.value: 0, Priority.NORMAL.value: 1, Priority.LOW.value: 2},
    value=posts.c.priority,
    else_=1,
)
_CLAIMABLE = [s.value for s in CLAIMABLE_STATUSES]

T = TypeVar("T")



def _chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _aware(value: datetime, name: str = "now") -> datetime:
    """Reject naive datetimes (a bug) and normalise to UTC."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name}={value.isoformat()} is naive; the store takes aware UTC only")
    return value.astimezone(UTC)


def _opt_aware(value: datetime | None, name: str) -> datetime | None:
    return None if value is None else _aware(value, name)


def _image(url: str | None, alt: str | None) -> Image | None:
    return Image(url, alt or "") if url else None


def _article(row: Row[Any]) -> Article:
    m = row._mapping
    data = ArticleData(
        guid=m["guid"], url=m["url"], title=m["title"], summary=m["summary"],
        author=m["author"], categories=tuple(m["categories"] or ()),
        tags=tuple(m["tags"] or ()), published=m["published"], updated=m["updated"],
        image=_image(m["image_url"], m["image_alt"]),
    )
    return Article(id=m["id"], feed=m["feed"], data=data, first_seen=m["first_seen"],
                   state=ArticleState(m["state"]), retracted=bool(m.get("retracted")),
                   unpublished_at=m.get("unpublished_at"))


def _feed(row: Row[Any]) -> FeedState:
    m = row._mapping
    return FeedState(
        name=m["name"], url=m["url"], kind=FeedKind(m["kind"]), etag=m["etag"],
        last_modified=m["last_modified"], body_hash=m["body_hash"], seeded=bool(m["seeded"]),
        next_poll_at=m["next_poll_at"], last_poll_at=m["last_poll_at"],
        last_success_at=m["last_success_at"], last_error=m["last_error"],
        error_count=m["error_count"],
    )


def _item(row: Row[Any]) -> OutboxItem:
    m = row._mapping
    return OutboxItem(
        id=m["id"], article_id=m["article_id"], channel=m["channel"],
        status=PostStatus(m["status"]), text=m["text"], link=m["link"],
        image=_image(m["image_url"], m["image_alt"]), priority=Priority(m["priority"]),
        idempotency_key=m["idempotency_key"], attempts=m["attempts"],
        created_at=m["created_at"], not_before=m["not_before"],
        next_attempt_at=m["next_attempt_at"], lease_owner=m["lease_owner"],
        lease_expires_at=m["lease_expires_at"], remote_id=m["remote_id"],
        remote_url=m["remote_url"], last_error=m["last_error"], template=m["template"],
        created_by=m["created_by"], published_at=m["published_at"],
        expires_at=m["expires_at"], checkpoint=m["checkpoint"],
        title=m["article_title"] or "",
        summary=m["article_summary"] or "",
        pending_text=m.get("pending_text"), after_kind=m.get("after_kind"),
        reshare=m.get("reshare") or 0,
    )


def _attempt(row: Row[Any]) -> Attempt:
    m = row._mapping
    return Attempt(
        id=m["id"], post_id=m["post_id"], channel=m["channel"], number=m["number"],
        worker=m["worker"], started_at=m["started_at"], outcome=Outcome(m["outcome"]),
        finished_at=m["finished_at"], http_status=m["http_status"], error=m["error"],
        remote_id=m["remote_id"], remote_url=m["remote_url"], article_url=m["article_url"],
        kind=AttemptKind(m.get("kind") or "publish"), by=m.get("by"), reason=m.get("reason"),
        old_text=m.get("old_text"), new_text=m.get("new_text"),
        reshare=m.get("reshare") or 0,
    )


def _channel(row: Row[Any]) -> ChannelState:
    m = row._mapping
    return ChannelState(
        name=m["name"], paused=bool(m["paused"]), paused_reason=m["paused_reason"],
        paused_by=m["paused_by"], paused_at=m["paused_at"], auth_failed=bool(m["auth_failed"]),
        rate_limited_until=m["rate_limited_until"], last_success_at=m["last_success_at"],
        last_error=m["last_error"], last_error_at=m["last_error_at"],
    )


def _post_select() -> Select[Any]:
    """Posts with the title and summary of their article (for link cards)."""
    return select(
        posts,
        articles.c.title.label("article_title"),
        articles.c.summary.label("article_summary"),
    ).select_from(posts.outerjoin(articles, posts.c.article_id == articles.c.id))


def _attempt_select() -> Select[Any]:
    """Publish-log rows with the url of their post's article."""
    return select(attempts, articles.c.url.label("article_url"), posts.c.reshare).select_from(
        attempts.join(posts, attempts.c.post_id == posts.c.id)
        .outerjoin(articles, posts.c.article_id == articles.c.id)
    )


def _data_utc(item: ArticleData) -> ArticleData:
    return replace(item, published=_opt_aware(item.published, "published"),
                   updated=_opt_aware(item.updated, "updated"))
