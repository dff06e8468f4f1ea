"""The articles: what the feeds brought, deduplicated by guid and canonical URL, and
where each stands (seen, pending, planned).

Every datetime in and out is aware UTC.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    func,
    select,
    update,
)

from publisher.exceptions import NotFoundError
from publisher.store.rows import (
    _article,
    _aware,
    _chunks,
    _data_utc,
)
from publisher.store.schema import articles, feeds, posts
from publisher.types import (
    Article,
    ArticleData,
    ArticleState,
    PostStatus,
)


def _unique(items: Sequence[ArticleData]) -> list[ArticleData]:
    """The items in order, without a guid or url repeated from an earlier one (UTC)."""
    fresh: list[ArticleData] = []
    seen_guids: set[str] = set()
    seen_urls: set[str] = set()
    for item in items:
        if item.guid in seen_guids or item.url in seen_urls:
            continue
        seen_guids.add(item.guid)
        seen_urls.add(item.url)
        fresh.append(_data_utc(item))
    return fresh


class ArticleQueries:
    """Mixed into ``publisher.store.db.Store``, which provides the transactions."""

    _read: Any
    _write: Any
    _insert: Any

    # -- articles --------------------------------------------------------

    @staticmethod
    def _known(conn: Connection, guids: Iterable[str],
               urls: Iterable[str]) -> tuple[set[str], set[str]]:
        found_guids: set[str] = set()
        found_urls: set[str] = set()
        for chunk in _chunks(sorted(set(guids))):
            found_guids.update(conn.execute(
                select(articles.c.guid).where(articles.c.guid.in_(chunk))).scalars())
        for chunk in _chunks(sorted(set(urls))):
            found_urls.update(conn.execute(
                select(articles.c.url).where(articles.c.url.in_(chunk))).scalars())
        return found_guids, found_urls

    def known(self, guids: Collection[str], urls: Collection[str]) -> tuple[set[str], set[str]]:
        """Which of these guids and canonical urls any stored article has
        (across all feeds, never forgotten)."""
        with self._read() as conn:
            return self._known(conn, guids, urls)

    def add_articles(self, feed: str | None, items: Sequence[ArticleData], *,
                     state: ArticleState, now: datetime) -> list[Article]:
        """Insert the items not known by guid or by url (nor repeated earlier
        in ``items``), in one transaction; return the inserted ones in order.
        A concurrent insert of the same guid/url is skipped, not an error."""
        now = _aware(now)
        state = ArticleState(state)
        fresh = _unique(items)
        if not fresh:
            return []
        with self._write() as conn:
            return self._add_articles(conn, feed, fresh, state=state, now=now)

    def seed_feed(self, name: str, plan: Sequence[ArticleData], seen: Sequence[ArticleData],
                  *, now: datetime) -> tuple[list[Article], list[Article]] | None:
        """A feed's first poll, in one transaction: mark the feed seeded only
        if nobody has yet, and store ``plan`` as pending and ``seen`` as seen.
        None when another daemon seeded it first (nothing written).

        Two daemons polling a new feed at once must not both take it for a
        first poll: the second would mark as seen the stories published in
        between, and they would never be posted."""
        now = _aware(now)
        with self._write() as conn:
            won = conn.execute(update(feeds).where(feeds.c.name == name,
                                                   feeds.c.seeded.is_(False))
                               .values(seeded=True)).rowcount
            if not won:
                return None
            planned = self._add_articles(conn, name, _unique(plan), state=ArticleState.PENDING,
                                         now=now)
            remembered = self._add_articles(conn, name, _unique(seen), state=ArticleState.SEEN,
                                            now=now)
            return planned, remembered

    def _add_articles(self, conn: Connection, feed: str | None, fresh: list[ArticleData], *,
                      state: ArticleState, now: datetime) -> list[Article]:
        if not fresh:
            return []
        known_guids, known_urls = self._known(conn, {it.guid for it in fresh},
                                              {it.url for it in fresh})
        fresh = [it for it in fresh if it.guid not in known_guids and it.url not in known_urls]
        ids: dict[str, int] = {}
        for chunk in _chunks(fresh, 200):
            rows = [{
                "feed": feed, "guid": it.guid, "url": it.url, "title": it.title,
                "summary": it.summary, "author": it.author,
                "categories": list(it.categories), "tags": list(it.tags),
                "published": it.published, "updated": it.updated,
                "image_url": it.image.url if it.image else None,
                "image_alt": it.image.alt if it.image else None,
                "first_seen": now, "state": state.value,
            } for it in chunk]
            # ON CONFLICT DO NOTHING (no target): another daemon may have
            # inserted the same guid or url since we looked.  Executed as
            # "many" so the statement compiles once, whatever the batch size.
            stmt = (self._insert(articles).on_conflict_do_nothing()
                    .returning(articles.c.id, articles.c.guid))
            ids.update({guid: id_ for id_, guid in conn.execute(stmt, rows)})
        return [Article(id=ids[it.guid], feed=feed, data=it, first_seen=now, state=state)
                for it in fresh if it.guid in ids]

    def pending_articles(self, *, limit: int = 100) -> list[Article]:
        """Articles in state PENDING, newest published first (first_seen when
        there is no published date)."""
        stmt = (select(articles).where(articles.c.state == ArticleState.PENDING.value,
                                       articles.c.retracted.is_(False))
                .order_by(func.coalesce(articles.c.published, articles.c.first_seen).desc(),
                          articles.c.id.desc())
                .limit(limit))
        with self._read() as conn:
            return [_article(r) for r in conn.execute(stmt)]

    def get_article(self, article_id: int) -> Article:
        """Raise NotFoundError for an unknown id."""
        with self._read() as conn:
            row = conn.execute(select(articles).where(articles.c.id == article_id)).first()
        if row is None:
            raise NotFoundError(f"no article with id {article_id}")
        return _article(row)

    def articles_by_guid(self, guids: Collection[str]) -> dict[str, Article]:
        """The stored articles with these guids: guid -> article."""
        out: dict[str, Article] = {}
        with self._read() as conn:
            for chunk in _chunks(sorted(set(guids))):
                for row in conn.execute(select(articles).where(articles.c.guid.in_(chunk))):
                    out[row.guid] = _article(row)
        return out

    def recent_articles(self, feed: str, *, since: datetime) -> list[Article]:
        """The feed's articles published (else first seen) since ``since``,
        neither retracted nor seen unpublished: what a poll re-checks."""
        when = func.coalesce(articles.c.published, articles.c.first_seen)
        stmt = (select(articles).where(articles.c.feed == feed, when >= _aware(since),
                                       articles.c.retracted.is_(False),
                                       articles.c.unpublished_at.is_(None))
                .order_by(articles.c.id))
        with self._read() as conn:
            return [_article(r) for r in conn.execute(stmt)]

    def update_article_text(self, article_id: int, *, title: str, summary: str,
                            updated: datetime | None) -> None:
        """The article's title and summary as its source says now (a correction)."""
        values: dict[str, object] = {"title": title, "summary": summary}
        if updated is not None:
            values["updated"] = _aware(updated)
        with self._write() as conn:
            conn.execute(update(articles).where(articles.c.id == article_id).values(values))

    def mark_unpublished(self, article_id: int, *, now: datetime) -> bool:
        """Note that the CMS unpublished the article; True the first time."""
        with self._write() as conn:
            return bool(conn.execute(
                update(articles).where(articles.c.id == article_id,
                                       articles.c.unpublished_at.is_(None))
                .values(unpublished_at=_aware(now))).rowcount)

    def unpublished_articles(self) -> list[Article]:
        """Articles the CMS unpublished that still have a post out (published,
        or being edited) and were not retracted: an editor's to act on."""
        out_there = select(posts.c.id).where(
            posts.c.article_id == articles.c.id,
            posts.c.status.in_([PostStatus.PUBLISHED.value, PostStatus.EDITING.value]))
        stmt = (select(articles).where(articles.c.unpublished_at.is_not(None),
                                       articles.c.retracted.is_(False), out_there.exists())
                .order_by(articles.c.id))
        with self._read() as conn:
            return [_article(r) for r in conn.execute(stmt)]

    def find_article(self, url: str) -> Article | None:
        """By canonical url."""
        with self._read() as conn:
            row = conn.execute(select(articles).where(articles.c.url == url)).first()
        return None if row is None else _article(row)

    def mark_articles(self, article_ids: Collection[int], state: ArticleState) -> None:
        """Set the state of these articles."""
        state = ArticleState(state)
        ids = sorted(set(article_ids))
        if not ids:
            return
        with self._write() as conn:
            for chunk in _chunks(ids):
                conn.execute(update(articles).where(articles.c.id.in_(chunk))
                             .values(state=state.value))
