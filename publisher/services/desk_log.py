"""The publish log as the desk reads it: filters, pages, following."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from publisher.exceptions import InputError
from publisher.services.desk_input import (
    check_channels,
    parse_id,
    parse_outcomes,
    parse_since,
    quote,
)
from publisher.services.ports import AppPorts
from publisher.types import Attempt, Outcome


@dataclass
class LogQuery:
    """The filters of ``publisher log``, checked."""

    channel: str | None = None
    outcomes: list[Outcome] | None = None
    post_id: int | None = None
    article_url: str | None = None
    since: datetime | None = None


def log_query(app: AppPorts, *, channel: str | None = None, outcomes: Sequence[str] = (),
              post: str | None = None, article: str | None = None,
              since: str | None = None) -> LogQuery:
    """Check the filters of ``publisher log`` (unknown channel or post: NotFoundError)."""
    if channel is not None and channel not in app.config.channels and (
            channel not in app.store.channel_states()):
        check_channels(app.config.channels, [channel])
    post_id = None
    if post is not None:
        post_id = app.store.get_post(parse_id(post)).id
    article_url = None
    if article is not None:
        from publisher.sources.normalize import canonical_url

        article_url = canonical_url(article.strip()) if article.strip() else None
        if article_url is None:
            raise InputError(f"--article: not an http(s) URL: {quote(article)}")
    after = None
    if since is not None:
        after = parse_since(since, tz=app.config.timezone, now=app.now())
    return LogQuery(channel, parse_outcomes(outcomes) or None, post_id, article_url, after)


def read_log(app: AppPorts, query: LogQuery, *, limit: int = 50,
             after_id: int | None = None) -> list[Attempt]:
    """Publish-log rows, oldest first: the newest ``limit`` (or those after ``after_id``)."""
    rows = app.store.attempts(post_id=query.post_id, channel=query.channel,
                              outcomes=query.outcomes, since=query.since,
                              article_url=query.article_url, after_id=after_id, limit=limit)
    return rows if after_id is not None else list(reversed(rows))


class LogFollower:
    """New publish-log rows as they happen (``publisher log --follow``).

    An attempt's row is written *started* before the platform call and
    completed in place afterwards, so a started row is shown twice: when it
    starts and when its outcome is known (up to ``patience`` later)."""

    def __init__(self, app: AppPorts, query: LogQuery, *, shown: Iterable[Attempt] = (),
                 patience: timedelta = timedelta(minutes=10)):
        self.app = app
        self.query = query
        self.patience = patience
        newest = app.store.attempts(limit=1)
        self.cursor = newest[0].id if newest else 0
        self.pending: dict[int, Attempt] = {
            a.id: a for a in shown if a.outcome is Outcome.STARTED}

    def poll(self) -> list[Attempt]:
        """The rows that are new, or whose outcome became known, since the last poll."""
        start = min([self.cursor, *(i - 1 for i in self.pending)])
        rows = self.app.store.attempts(post_id=self.query.post_id, channel=self.query.channel,
                                       since=self.query.since,
                                       article_url=self.query.article_url, after_id=start,
                                       limit=1000)
        out: list[Attempt] = []
        for row in rows:
            if row.id in self.pending:
                if row.outcome is not Outcome.STARTED:
                    del self.pending[row.id]
                    if self._wanted(row):
                        out.append(row)
                continue
            if row.id <= self.cursor:
                continue
            if row.outcome is Outcome.STARTED:
                self.pending[row.id] = row
            if self._wanted(row):
                out.append(row)
        if rows:
            self.cursor = max(self.cursor, rows[-1].id)
        now = self.app.now()
        for pid, row in list(self.pending.items()):
            if now - row.started_at > self.patience:
                del self.pending[pid]
        return out

    def _wanted(self, row: Attempt) -> bool:
        return self.query.outcomes is None or row.outcome in self.query.outcomes
