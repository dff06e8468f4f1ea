"""How long each web desk page takes with 10,000 posts in the store.

    .venv/bin/python bench/desk_pages.py [--posts 10000] [--runs 20]

Builds a SQLite store in a temporary folder with ``--posts`` posts (a mix of
drafts, queued, waiting, published and failed over the last 30 days, one
publish-log row each), serves the daemon's HTTP app on 127.0.0.1 like
``publisher run`` does, signs in, and prints per page (median and slowest of
``--runs`` requests):

- ``render``: the daemon's ASGI app called in-process with the signed-in
  cookies (sign-in check, the store's queries, the template): the page's cost;
- ``http``: the same over a kept-alive HTTP connection to the listener; the
  ``/healthz`` row is the transport's own floor (no store, no template).

The issue's target: each page under 100 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sqlalchemy as sa

from publisher.store.schema import posts
from publisher.types import ArticleData, ArticleState, NewPost, Outcome, PostStatus
from tests.integration.webdesk_site import start_site


def fill(site, n: int) -> int:  # type: ignore[no-untyped-def]
    store, now = site.app.store, site.app.now()
    articles = store.add_articles(None, [
        ArticleData(guid=f"g{i}", url=f"https://news.example/{i}", title=f"Story {i}",
                    summary="A summary " * 10, published=now - timedelta(hours=i % 720))
        for i in range(n // 2)], state=ArticleState.PLANNED, now=now)
    ids: list[int] = []
    batch = []
    for i in range(n):
        channel = ("wire", "review")[i % 2]
        status = PostStatus.DRAFT if channel == "review" and i % 10 == 9 else PostStatus.QUEUED
        batch.append(NewPost(channel, f"Post {i}: " + "words " * 30, status=status,
                             not_before=now + timedelta(minutes=i % 10_000)))
        if len(batch) == 500:
            ids += store.add_posts(batch, article_id=None, now=now)
            batch = []
    if batch:
        ids += store.add_posts(batch, article_id=None, now=now)
    # Most posts are history: published or failed over the last 30 days.
    engine = sa.create_engine(store.url)
    with engine.begin() as conn:
        for k, pid in enumerate(ids):
            if k % 5 == 4:
                continue  # stays due
            at = now - timedelta(minutes=(k * 37) % (30 * 24 * 60))
            status = PostStatus.FAILED if k % 23 == 0 else PostStatus.PUBLISHED
            conn.execute(sa.update(posts).where(posts.c.id == pid).values(
                status=str(status), published_at=at if status is PostStatus.PUBLISHED else None,
                updated_at=at, article_id=articles[k // 2].id if k % 3 else None))
    engine.dispose()
    for k, pid in enumerate(ids[:n]):
        store.log_event(pid, worker="bench", now=now, outcome=Outcome.OK if k % 23 else
                        Outcome.FAILED, error=None if k % 23 else "platform said no")
    return ids[0]


def _in_process(asgi, path: str, cookies: str) -> float:  # type: ignore[no-untyped-def]
    """One request to the ASGI app without a socket; milliseconds."""
    target, _, query = path.partition("?")
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "GET", "scheme": "http", "path": target, "raw_path": target.encode(),
             "query_string": query.encode(), "root_path": "",
             "headers": [(b"host", b"127.0.0.1"), (b"cookie", cookies.encode())],
             "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 80)}
    status: list[int] = []

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, object]) -> None:
        if message["type"] == "http.response.start":
            status.append(int(message["status"]))  # type: ignore[call-overload]

    t = time.perf_counter()
    asyncio.run(asgi(scope, receive, send))
    elapsed = (time.perf_counter() - t) * 1000
    assert status == [200], (path, status)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        site = start_site(Path(tmp))
        try:
            site.add_user("bench", "ops")
            t0 = time.perf_counter()
            first = fill(site, args.posts)
            print(f"store: {args.posts} posts, {args.posts} log rows "
                  f"(filled in {time.perf_counter() - t0:.1f} s)")
            client = site.client("bench")
            pages = ["/desk/queue", "/desk/queue?status=draft&channel=review", "/desk/week",
                     f"/desk/post/{first}", "/desk/new", "/desk/log",
                     "/desk/log?outcome=failed", "/desk/activity", "/desk/health"]
            asgi = site.server._server.config.app
            cookies = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
            print(f"{'page':42} {'render median':>13} {'max':>8} {'http median':>12} "
                  f"{'max':>8} {'bytes':>8}")
            for path in ["/healthz", *pages]:
                got = client.get(path)
                assert got.status_code == 200, (path, got.status_code)
                render = [_in_process(asgi, path, cookies) for _ in range(args.runs)]
                http = []
                for _ in range(args.runs):
                    t = time.perf_counter()
                    got = client.get(path)
                    http.append((time.perf_counter() - t) * 1000)
                print(f"{path:42} {statistics.median(render):11.1f}ms {max(render):6.1f}ms "
                      f"{statistics.median(http):10.1f}ms {max(http):6.1f}ms "
                      f"{len(got.content):8d}")
        finally:
            site.close()


if __name__ == "__main__":
    main()
