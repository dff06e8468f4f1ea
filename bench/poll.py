"""Benchmark (a): CPU for one poll cycle over many feeds served locally.

    .venv/bin/python bench/poll.py [--feeds 500] [--entries 50]

Prints CPU seconds (this process only: the feeds are served by another
process) and wall time for: the first poll of every feed (seeding), a
cycle where nothing changed (every feed answers 304), and a cycle where
every feed changed (N new entries each, parsed, deduplicated, stored and
planned to a jsonl channel).
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from publisher.app import make_app  # noqa: E402
from publisher.config import Settings  # noqa: E402


def measure(label: str, func) -> None:
    cpu, wall = time.process_time(), time.perf_counter()
    result = func()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    print(f"{label:<44} cpu {cpu:7.2f} s   wall {wall:7.2f} s   {result}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--feeds", type=int, default=500)
    parser.add_argument("--entries", type=int, default=50)
    args = parser.parse_args()
    host = subprocess.Popen([sys.executable, str(ROOT / "bench" / "_feedhost.py"),
                             str(args.feeds), str(args.entries)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    base = host.stdout.readline().strip()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "schedules").mkdir()
        feeds = "".join(f'[[feeds]]\nname = "f{i}"\nurl = "{base}feed/{i}/"\n\n'
                        for i in range(args.feeds))
        (work / "schedules" / "site.toml").write_text(
            feeds + f'[channels.wire]\ntype = "jsonl"\noptions = {{ path = "{work}/wire.jsonl" }}'
            '\n\n[[routes]]\nchannels = ["wire"]\n')
        settings = Settings(schedules=work / "schedules", templates=ROOT / "templates",
                            database_url=f"sqlite:///{work}/publisher.db", env_file=work / ".env")
        app = make_app(settings, environ={})
        app.sync()

        def cycle() -> str:
            reports = app.poll_all(concurrency=8)
            planned = app.plan_pending()
            statuses: dict[str, int] = {}
            for r in reports:
                statuses[r.status] = statuses.get(r.status, 0) + 1
            new = sum(r.new for r in reports)
            return f"{statuses} new={new} planned={sum(len(p.posts) for p in planned)}"

        print(f"{args.feeds} feeds x {args.entries} entries, served from another process")
        measure("first poll (seeding every feed)", cycle)
        measure("nothing changed (all 304)", cycle)
        host.stdin.write("change\n")
        host.stdin.flush()
        host.stdout.readline()
        measure(f"every feed changed ({args.entries} new entries each)", cycle)
        app.close()
    host.stdin.write("quit\n")
    host.stdin.flush()
    host.wait(timeout=30)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {peak:.0f} MB")


if __name__ == "__main__":
    main()
