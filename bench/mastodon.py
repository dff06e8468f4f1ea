"""The peers' benchmark: 200 new items of a WordPress-style feed posted to a
loopback Mastodon (feed2toot: 3.6 s CPU, 23.7 s at 100 ms latency; feediverse:
2.4 s CPU, 22.6 s; both about 1 s to re-check a feed with nothing new).

    .venv/bin/python bench/mastodon.py [--items 200] [--latency 0.1]

The feed and the fake Mastodon run in processes of their own; publisher runs
as ``publisher run --once`` (a whole process: start-up, imports, migrations
included), then once more with nothing new.  CPU is the publisher process's
user+system time.  Also prints the in-daemon cost of one re-check (a
conditional GET answered 304), which is what the daemon pays every minute.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(cmd: list[str], **kw) -> tuple[float, float, subprocess.CompletedProcess[str]]:
    cpu, wall = child_cpu(), time.perf_counter()
    result = subprocess.run(cmd, capture_output=True, text=True, **kw)
    return time.perf_counter() - wall, child_cpu() - cpu, result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.1)
    args = parser.parse_args()
    feeds = subprocess.Popen([sys.executable, str(ROOT / "bench" / "_feedhost.py"), "1",
                              str(args.items)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             text=True)
    masto = subprocess.Popen([sys.executable, str(ROOT / "bench" / "_fakehost.py"),
                              str(args.latency)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             text=True)
    feed_base = feeds.stdout.readline().strip()
    masto_base = masto.stdout.readline().strip()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "schedules").mkdir()
        (work / "schedules" / "site.toml").write_text(f"""
[[feeds]]
name = "site"
url = "{feed_base}feed/0/"
backfill = {args.items}
max_entries = {args.items}

[channels.mastodon]
type = "mastodon"
base_url = "{masto_base}"
concurrency = 32
options = {{ with_image = false, max_length = 500 }}
credentials = {{ access_token = "MASTODON_TOKEN" }}

[[routes]]
channels = ["mastodon"]
""")
        env = dict(os.environ, MASTODON_TOKEN="bench-token", PUBLISHER_TEMPLATES=str(
            ROOT / "templates"), DATABASE_URL=f"sqlite:///{work}/publisher.db",
            PUBLISHER_LOG_LEVEL="WARNING", PUBLISHER_WORKERS="32",
            PYTHONPATH=str(ROOT))
        cmd = [sys.executable, "-m", "publisher.cli", "run", "--once"]
        wall1, cpu1, first = timed(cmd, cwd=work, env=env)
        wall2, cpu2, second = timed(cmd, cwd=work, env=env)
        for result in (first, second):
            if result.returncode != 0:
                print(result.stderr[-2000:])
                raise SystemExit(1)

        # The daemon's own cost of a re-check: one poll of the unchanged feed.
        from publisher.app import make_app
        from publisher.config import Settings

        app = make_app(Settings(schedules=work / "schedules", templates=ROOT / "templates",
                                database_url=f"sqlite:///{work}/publisher.db",
                                env_file=work / ".env"), environ={"MASTODON_TOKEN": "x"})
        app.sync()
        app.poll("site")  # warm the connection
        cpu, wall = time.process_time(), time.perf_counter()
        rounds = 20
        for _ in range(rounds):
            report = app.poll("site")
        poll_wall = (time.perf_counter() - wall) / rounds
        poll_cpu = (time.process_time() - cpu) / rounds
        app.close()
    masto.stdin.write("quit\n")
    masto.stdin.flush()
    counts = masto.stdout.readline().strip()
    feeds.stdin.write("quit\n")
    feeds.stdin.flush()
    masto.wait(timeout=30)
    feeds.wait(timeout=30)
    print(f"{args.items} items, API latency {args.latency * 1000:.0f} ms")
    print(f"first run   (publish all)     wall {wall1:6.2f} s   cpu {cpu1:5.2f} s")
    print(f"second run  (nothing new)     wall {wall2:6.2f} s   cpu {cpu2:5.2f} s")
    print(f"in-daemon re-check ({report.status})  wall {poll_wall * 1000:6.1f} ms  "
          f"cpu {poll_cpu * 1000:5.1f} ms")
    print(f"fake Mastodon holds: {counts}")


if __name__ == "__main__":
    main()
