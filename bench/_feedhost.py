"""Serves N WordPress-style feeds of M entries from a separate process, so a
benchmark measures only publisher's own CPU.

Prints the base URL on its first line, then reads commands on stdin:
``change`` gives every feed M new entries (answering ``ok``), ``quit`` stops.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fakes.feed_server import FeedServer
from tests.fakes.feeds import item, rss


def bodies(feeds: int, entries: int, generation: int) -> dict[str, bytes]:
    now = datetime.now(UTC)
    out = {}
    for f in range(feeds):
        site = f"https://site{f}.example"
        out[f"/feed/{f}/"] = rss(
            [item(generation * 1000 + n, site=site, published=now - timedelta(minutes=n),
                  categories=("Local", "Politics"), image=True) for n in range(entries)],
            site=site)
    return out


def main() -> None:
    feeds, entries = int(sys.argv[1]), int(sys.argv[2])
    with FeedServer() as srv:
        generation = 0
        for path, body in bodies(feeds, entries, generation).items():
            srv.set(path, body)
        print(srv.url("/"), flush=True)
        for line in sys.stdin:
            if line.strip() == "change":
                generation += 1
                for path, body in bodies(feeds, entries, generation).items():
                    srv.set(path, body)
                print("ok", flush=True)
            elif line.strip() == "quit":
                break


if __name__ == "__main__":
    main()
