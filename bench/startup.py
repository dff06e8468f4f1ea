"""How fast the desk's commands start (issue 4: ``publisher --help`` and
``publisher queue list`` in well under half a second).

    .venv/bin/python bench/startup.py [--posts 1000] [--runs 7]

Each command is a whole process (``.venv/bin/publisher``, as an editor runs
it), timed wall-clock; prints the best and the median of ``--runs``.  The
outbox holds ``--posts`` posts over the bundled example's ``console``
channel.  ``queue list`` is timed on SQLite and, when it answers on
127.0.0.1:5432 (database ``test``), on PostgreSQL; and once through the full
path (``Settings``, ``load_config``, SQLAlchemy) for comparison, which a
SQLite URL with an option forces.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PUBLISHER = str(Path(sys.executable).with_name("publisher"))
PG = "postgresql+psycopg://root@127.0.0.1:5432/test"


def fill(url: str, count: int) -> None:
    from publisher.store import open_store
    from publisher.types import NewPost

    store = open_store(url)
    store.upgrade()
    start = datetime.now(UTC) - timedelta(hours=count)
    for n in range(0, count, 500):
        store.add_posts([NewPost(channel="console", text=f"Post {i}: the bridge reopens",
                                 link=f"https://news.example/{i}")
                         for i in range(n, min(n + 500, count))],
                        article_id=None, now=start + timedelta(hours=n))
    store.close()


def timed(args: list[str], env: dict[str, str], cwd: Path, runs: int) -> tuple[float, float]:
    times = []
    for _ in range(runs):
        wall = time.perf_counter()
        done = subprocess.run([PUBLISHER, *args], env=env, cwd=cwd, capture_output=True,
                              text=True)
        times.append(time.perf_counter() - wall)
        if done.returncode != 0:
            raise SystemExit(f"publisher {' '.join(args)} failed: {done.stderr.strip()}")
    return min(times), statistics.median(times)


def pg_schema() -> str | None:
    """A fresh schema on the local PostgreSQL, or None when it is not there."""
    try:
        import psycopg

        schema = f"bench_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(PG.replace("+psycopg", ""), connect_timeout=3,
                             autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
        return schema
    except Exception:
        return None


def drop_schema(schema: str) -> None:
    import psycopg

    with psycopg.connect(PG.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--posts", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        db = work / "var" / "publisher.db"
        sqlite = f"sqlite:///{db}"
        fill(sqlite, args.posts)
        base = {k: v for k, v in os.environ.items()
                if not k.startswith(("PUBLISHER_", "DATABASE_"))}
        base.update(PUBLISHER_SCHEDULES=str(ROOT / "schedules"))
        cases: list[tuple[str, list[str], str]] = [
            ("publisher --help", ["--help"], sqlite),
            ("publisher queue list (SQLite)", ["queue", "list"], sqlite),
            ("publisher queue list --json (SQLite)", ["queue", "list", "--json"], sqlite),
            ("publisher queue list (SQLite, full path)", ["queue", "list"],
             f"{sqlite}?timeout=30"),
        ]
        schema = pg_schema()
        if schema is not None:
            pg = f"{PG}?options=-csearch_path%3D{schema}"
            fill(pg, args.posts)
            cases.append(("publisher queue list (PostgreSQL)", ["queue", "list"], pg))
        try:
            print(f"{args.posts} posts in the outbox, {args.runs} runs each (best / median)")
            for name, argv, url in cases:
                best, median = timed(argv, {**base, "DATABASE_URL": url}, work, args.runs)
                print(f"  {name:<44} {best:.2f} s / {median:.2f} s")
            if schema is None:
                print("  (PostgreSQL not reachable on 127.0.0.1:5432: skipped)")
        finally:
            if schema is not None:
                drop_schema(schema)


if __name__ == "__main__":
    main()
