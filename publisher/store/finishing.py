"""Recording a group of attempts' outcomes with a few statements.

The dispatcher's group committer hands ``finish_attempts`` several outcomes
at once.  The usual ones (the attempt is still STARTED, the post still held
by the worker that made the call) are written here with one read of the
attempts and one ``executemany`` per statement shape instead of two or three
statements each; everything else (a late answer after a take-over, an
attempt already finished, an unknown id) is left to ``PostQueries._finish``,
which decides it row by row.  Both write the same rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, bindparam, select, update

from publisher.store.api import Finish
from publisher.store.rows import _aware, _chunks, _opt_aware
from publisher.store.schema import attempts, posts
from publisher.types import Outcome, PostStatus


def finish_usual(conn: Connection, finishes: Sequence[Finish],
                 ) -> list[tuple[bool, str] | None]:
    """Per finish: whether the post changed and the attempt's channel, or
    None when it is not a usual one and the caller must record it row by
    row (afterwards).  The caller moves the channels' health, in order."""
    ids = [f.attempt_id for f in finishes]
    started: dict[int, Any] = {}
    for chunk in _chunks(sorted(set(ids))):
        stmt = select(attempts.c.id, attempts.c.post_id, attempts.c.channel).where(
            attempts.c.id.in_(chunk), attempts.c.outcome == Outcome.STARTED.value)
        if conn.dialect.name == "postgresql":  # a take-over waits for this commit
            stmt = stmt.with_for_update(of=attempts)
        started.update((r.id, r) for r in conn.execute(stmt))
    usual: list[tuple[int, Finish, Any]] = []
    seen: set[int] = set()
    for i, f in enumerate(finishes):
        if f.attempt_id in started and f.attempt_id not in seen:
            seen.add(f.attempt_id)
            usual.append((i, f, started[f.attempt_id]))
    results: list[tuple[bool, str] | None] = [None] * len(finishes)
    if not usual:
        return results
    conn.execute(_CLOSE, [_closing(f) for _, f, _ in usual])
    shapes: dict[tuple[bool, ...], list[tuple[int, Finish, Any]]] = {}
    for entry in usual:
        shapes.setdefault(_shape(entry[1]), []).append(entry)
    for shape, group in shapes.items():
        params = [_post_params(f, att.post_id) for _, f, att in group]
        changed = conn.execute(_post_update(shape), params).rowcount
        if conn.dialect.supports_sane_multi_rowcount and changed == len(group):
            done = [True] * len(group)
        else:  # some post was not ours any more: which ones, by what we wrote
            done = _which_changed(conn, [(f, att.post_id) for _, f, att in group])
        for (i, _f, att), ok in zip(group, done, strict=True):
            results[i] = (ok, att.channel)
    return results


_CLOSE = (update(attempts)
          .where(attempts.c.id == bindparam("b_id"),
                 attempts.c.outcome == Outcome.STARTED.value)
          .values(finished_at=bindparam("b_finished_at"), outcome=bindparam("b_outcome"),
                  http_status=bindparam("b_http_status"), error=bindparam("b_error"),
                  remote_id=bindparam("b_remote_id"), remote_url=bindparam("b_remote_url")))


def _closing(f: Finish) -> dict[str, Any]:
    return {"b_id": f.attempt_id, "b_finished_at": _aware(f.now),
            "b_outcome": Outcome(f.outcome).value, "b_http_status": f.http_status,
            "b_error": f.error, "b_remote_id": f.remote_id, "b_remote_url": f.remote_url}


def _shape(f: Finish) -> tuple[bool, ...]:
    """What the post's UPDATE sets, as ``PostQueries._finish`` decides it."""
    return (f.next_attempt_at is not None, f.remote_id is not None, f.remote_url is not None,
            f.post_status == PostStatus.PUBLISHED, not f.counted)


def _post_update(shape: tuple[bool, ...]) -> Any:
    retry, remote_id, remote_url, published, uncounted = shape
    values: dict[str, Any] = {
        "status": bindparam("b_status"),
        "next_attempt_at": bindparam("b_next") if retry else None,
        "due_at": bindparam("b_next") if retry else posts.c.not_before,
        "last_error": bindparam("b_error"), "lease_owner": None, "lease_expires_at": None,
        "updated_at": bindparam("b_now"),
    }
    if remote_id:
        values["remote_id"] = bindparam("b_remote_id")
    if remote_url:
        values["remote_url"] = bindparam("b_remote_url")
    if published:
        values["published_at"] = bindparam("b_now")
    if uncounted:
        values["attempts"] = posts.c.attempts - 1
    return (update(posts)
            .where(posts.c.id == bindparam("b_post"),
                   posts.c.status == PostStatus.PUBLISHING.value,
                   posts.c.lease_owner == bindparam("b_worker"))
            .values(values))


def _post_params(f: Finish, post_id: int) -> dict[str, Any]:
    params: dict[str, Any] = {"b_post": post_id, "b_worker": f.worker,
                              "b_status": str(f.post_status), "b_error": f.error,
                              "b_now": _aware(f.now)}
    if f.next_attempt_at is not None:
        params["b_next"] = _opt_aware(f.next_attempt_at, "next_attempt_at")
    if f.remote_id is not None:
        params["b_remote_id"] = f.remote_id
    if f.remote_url is not None:
        params["b_remote_url"] = f.remote_url
    return params


def _which_changed(conn: Connection, group: list[tuple[Finish, int]]) -> list[bool]:
    """A post this group changed carries its status and ``updated_at`` and
    no lease."""
    wanted: dict[int, tuple[str, datetime]] = {
        post_id: (str(f.post_status), _aware(f.now)) for f, post_id in group}
    rows: dict[int, tuple[str, datetime]] = {}
    for chunk in _chunks(sorted(wanted)):
        rows.update((r.id, (r.status, _aware(r.updated_at))) for r in conn.execute(
            select(posts.c.id, posts.c.status, posts.c.updated_at)
            .where(and_(posts.c.id.in_(chunk), posts.c.lease_owner.is_(None)))))
    return [rows.get(post_id) == wanted[post_id] for _f, post_id in group]
