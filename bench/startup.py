"""How fast the desk's commands start (issue 10: ``publisher --help`` at most
0.3 s and ``publisher queue list`` with 1,000 posts on SQLite at most 0.35 s
over a bare ``python -c pass``).

    .venv/bin/python bench/startup.py [--posts 1000] [--runs 9]

Each command is a whole process (``.venv/bin/publisher``, as an editor runs
it), timed wall-clock, interleaved with a bare ``python -c pass`` of the same
interpreter so that both see the same machine load; prints the best and the
median of ``--runs``, and each over the bare interpreter's.  The outbox holds
``--posts`` posts over the bundled example's ``console`` channel.  ``queue
list`` is timed on SQLite and, when it answers on 127.0.0.1:5432 (database
``test``), on PostgreSQL.  The first run of each command (which compiles the
configuration's cache) is not counted; ``--cold`` times it with no cache.
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


def timed(args: list[str], env: dict[str, str], cwd: Path,
          runs: int) -> tuple[list[float], list[float]]:
    """(the command's times, a bare interpreter's times), runs interleaved."""
    times, bare = [], []
    for _ in range(runs):
        wall = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], env=env, cwd=cwd, check=True)
        bare.append(time.perf_counter() - wall)
        wall = time.perf_counter()
        done = subprocess.run([PUBLISHER, *args], env=env, cwd=cwd, capture_output=True,
                              text=True)
        times.append(time.perf_counter() - wall)
        if done.returncode != 0:
            raise SystemExit(f"publisher {' '.join(args)} failed: {done.stderr.strip()}")
    return times, bare


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
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--cold", action="store_true",
                        help="no configuration cache (every run validates the schedules)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        db = work / "var" / "publisher.db"
        sqlite = f"sqlite:///{db}"
        fill(sqlite, args.posts)
        base = {k: v for k, v in os.environ.items()
                if not k.startswith(("PUBLISHER_", "DATABASE_"))}
        base.update(PUBLISHER_SCHEDULES=str(ROOT / "schedules"),
                    PUBLISHER_CACHE_DIR="" if args.cold else str(work / "cache"))
        cases: list[tuple[str, list[str], str]] = [
            ("publisher --help", ["--help"], sqlite),
            ("publisher queue list (SQLite)", ["queue", "list"], sqlite),
            ("publisher queue list --json (SQLite)", ["queue", "list", "--json"], sqlite),
        ]
        schema = pg_schema()
        if schema is not None:
            pg = f"{PG}?options=-csearch_path%3D{schema}"
            fill(pg, args.posts)
            cases.append(("publisher queue list (PostgreSQL)", ["queue", "list"], pg))
        try:
            print(f"{args.posts} posts in the outbox, {args.runs} runs each, "
                  f"{'no' if args.cold else 'a warm'} configuration cache")
            print(f"  {'':<40} {'best':>6} {'median':>7}   over bare python (best / median)")
            for name, argv, url in cases:
                env = {**base, "DATABASE_URL": url}
                subprocess.run([PUBLISHER, *argv], env=env, cwd=work, capture_output=True)
                times, bare = timed(argv, env, work, args.runs)
                over = [t - b for t, b in zip(times, bare, strict=True)]
                print(f"  {name:<40} {min(times):5.2f}s {statistics.median(times):6.2f}s"
                      f"   +{min(over):.2f} s / +{statistics.median(over):.2f} s")
            print(f"  {'python -c pass':<40} {min(bare):5.2f}s {statistics.median(bare):6.2f}s")
            if schema is None:
                print("  (PostgreSQL not reachable on 127.0.0.1:5432: skipped)")
        finally:
            if schema is not None:
                drop_schema(schema)


if __name__ == "__main__":
    main()
