"""Benchmark: the CPU a running daemon costs while it watches feeds that do not change.

    .venv/bin/python bench/idle_daemon.py [--feeds 100] [--poll 60s] [--seconds 300]

Serves N feeds from a separate process (bench/_feedhost.py), starts
``publisher run`` on them (SQLite, one console channel, the HTTP listener on),
lets the first poll seed every feed, then measures the daemon's own CPU
(user + system, from /proc) over the measuring period, in which every poll is
a conditional GET answered 304.  Prints CPU seconds, the share of one core,
and the polls seen in the log.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--feeds", type=int, default=100)
    parser.add_argument("--poll", default="60s")
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--warmup", type=float, default=20.0)
    args = parser.parse_args()
    host = subprocess.Popen([sys.executable, str(ROOT / "bench" / "_feedhost.py"),
                             str(args.feeds), "20"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert host.stdout is not None
    base = host.stdout.readline().strip().rstrip("/")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "schedules").mkdir()
        feeds = "".join(f'[[feeds]]\nname = "f{n}"\nurl = "{base}/feed/{n}/"\n'
                        f'poll_interval = "{args.poll}"\n\n' for n in range(args.feeds))
        (work / "schedules" / "site.toml").write_text(
            f'[site]\ntimezone = "UTC"\n\n{feeds}[channels.out]\ntype = "console"\n\n'
            '[[routes]]\nchannels = ["out"]\n')
        env = {k: v for k, v in os.environ.items() if not k.startswith("PUBLISHER_")}
        env.update(DATABASE_URL=f"sqlite:///{work / 'publisher.db'}",
                   PUBLISHER_HTTP="127.0.0.1:0", PUBLISHER_LOG_LEVEL="DEBUG")
        log = (work / "daemon.log").open("w")
        daemon = subprocess.Popen([str(Path(sys.executable).parent / "publisher"), "run"],
                                  cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            time.sleep(args.warmup)  # start-up and the seeding first polls
            before = cpu_seconds(daemon.pid)
            polls_before = (work / "daemon.log").read_text().count("publisher.ingest: feed=")
            time.sleep(args.seconds)
            cpu = cpu_seconds(daemon.pid) - before
            polls = ((work / "daemon.log").read_text().count("publisher.ingest: feed=")
                     - polls_before)
        finally:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(timeout=60)
            host.stdin.write("quit\n") if host.stdin else None
            host.terminate()
    print(f"daemon watching {args.feeds} unchanged feeds (poll every {args.poll}), "
          f"{args.seconds:.0f} s: {cpu:.2f} s CPU ({cpu / args.seconds * 100:.2f}% of one core), "
          f"{polls} polls ({cpu / max(polls, 1) * 1000:.1f} ms CPU a poll)")


if __name__ == "__main__":
    main()
