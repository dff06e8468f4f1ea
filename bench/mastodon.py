"""publisher at its defaults posting a WordPress-style feed to a loopback Mastodon.

    .venv/bin/python bench/mastodon.py [--items 200] [--seed 7] [--only NAME ...] [--tuned]

Rows (each in a fresh directory and database, against a fresh fake):

- ``defaults``: N new items, no latency, publisher's defaults (16 workers,
  Mastodon's ``concurrency`` 8): one ``publisher run --once``, then
  ``recheck`` (run again, nothing new).
- ``latency100``: the same with every API answer after 100 ms.
- ``fail30`` / ``lostack30``: 30 % of status POSTs answer 503 / are stored and
  then the connection is reset (the lost acknowledgement); ``run --once`` is
  repeated, cron style, until every item is on the fake and nothing waits
  (at most 30 runs; between runs it waits until the first retry is due,
  1-60 s, as a cron job would find it due at its next run).
- ``tuned`` (``--tuned``): 32 workers and ``concurrency = 32``.

Each run is a whole process (start-up, imports, migrations included); CPU is
its user+system time; wall leaves out the waits between runs.  Printed per
row: wall, CPU, requests the fake
received per post, SQL statements per post (counted by ``bench/_counted.py``),
statuses delivered, and duplicates (statuses beyond one per item).  The feed
runs in a process of its own; the fake Mastodon runs in this one.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fakes.mastodon_server import FakeMastodon  # noqa: E402

LINK = re.compile(r"https?://site0\.example/\S+")
ROWS = ("defaults", "latency100", "fail30", "lostack30", "tuned")


def child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def schedule(feed: str, masto: str, items: int, tuned: bool) -> str:
    return f"""
[[feeds]]
name = "site"
url = "{feed}feed/0/"
backfill = {items}
max_entries = {items}

[channels.mastodon]
type = "mastodon"
base_url = "{masto}"
{"concurrency = 32" if tuned else ""}
options = {{ with_image = false }}
credentials = {{ access_token = "MASTODON_TOKEN" }}

[[routes]]
channels = ["mastodon"]
"""


def run_row(name: str, feed: str, items: int, seed: int) -> dict[str, float | int | str]:
    faults = {"fail30": "503", "lostack30": "reset_after"}.get(name)
    with FakeMastodon(access_token="bench-token") as fake, \
            tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if name == "latency100":
            fake.latency = 0.1
        if faults:
            fake.fault_rate(0.3, [faults], seed=seed)
        (work / "schedules").mkdir()
        (work / "schedules" / "site.toml").write_text(
            schedule(feed, fake.base_url, items, tuned=name == "tuned"))
        counts = work / "statements"
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("PUBLISHER_") and k != "DATABASE_URL"}
        env.update(MASTODON_TOKEN="bench-token", PUBLISHER_TEMPLATES=str(ROOT / "templates"),
                   PUBLISHER_LOG_LEVEL="WARNING", BENCH_STATEMENTS=str(counts),
                   PYTHONPATH=str(ROOT))
        if name == "tuned":
            env["PUBLISHER_WORKERS"] = "32"
        cmd = [sys.executable, str(ROOT / "bench" / "_counted.py"), "run", "--once"]
        cycles, wall, cpu = 0, 0.0, 0.0
        recheck: tuple[float, float] | None = None
        while True:
            cycles += 1
            cpu0, wall0 = child_cpu(), time.perf_counter()
            result = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True)
            wall += time.perf_counter() - wall0
            cpu += child_cpu() - cpu0
            if result.returncode != 0:
                print(result.stderr[-2000:], file=sys.stderr)
                raise SystemExit(f"{name}: publisher exited {result.returncode}")
            links = {m.group(0) for s in fake.statuses for m in [LINK.search(s.text)] if m}
            next_due = _next_due(work, env)
            if not faults or (len(links) >= items and next_due is None) or cycles >= 30:
                break
            # cron: the next run picks up what fell due meanwhile.  A minutely
            # cron would wait for the next minute; this waits until the first
            # retry is due (1-60 s), which gives the same runs sooner.
            time.sleep(min(60.0, max(1.0, (next_due or 0.0) - time.time())))
        if faults and len(links) < items:
            out = subprocess.run([sys.executable, "-m", "publisher.cli", "queue", "list", "--json",
                                  "--limit", "10000"], cwd=work, env=env, capture_output=True,
                                 text=True).stdout
            for m in re.finditer(r'\{[^{}]*"status": "(?!published)[^"]+"[^{}]*\}', out):
                print(f"{name}: not delivered: {m.group(0)[:300]}", file=sys.stderr)
        requests = len(fake.requests)
        statements = sum(int(n) for n in counts.read_text().split())
        if not faults:
            cpu0, wall0 = child_cpu(), time.perf_counter()
            subprocess.run(cmd, cwd=work, env=env, capture_output=True, check=True)
            recheck = (time.perf_counter() - wall0, child_cpu() - cpu0)
        statuses = len(fake.statuses)
        return {"row": name, "cycles": cycles, "wall": wall, "cpu": cpu,
                "requests": requests / items, "statements": statements / items,
                "delivered": len(links), "duplicates": statuses - len(links),
                "recheck": f"{recheck[0]:.2f} s / {recheck[1]:.2f} s" if recheck else "-"}


def _next_due(work: Path, env: dict[str, str]) -> float | None:
    """When the first post still waiting is due (epoch seconds; 0 when it
    is due now), or None when nothing waits."""
    out = subprocess.run([sys.executable, "-m", "publisher.cli", "queue", "list", "--json",
                          "--limit", "10000"], cwd=work, env=env, capture_output=True,
                         text=True).stdout
    due = [datetime.fromisoformat(p["due_at"]).timestamp() if p.get("due_at") else 0.0
           for p in json.loads(out or "[]")
           if p["status"] in ("waiting", "queued", "publishing")]
    return min(due) if due else None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--only", nargs="*", choices=ROWS)
    parser.add_argument("--tuned", action="store_true")
    args = parser.parse_args()
    rows = args.only or [r for r in ROWS if r != "tuned" or args.tuned]
    feeds = subprocess.Popen([sys.executable, str(ROOT / "bench" / "_feedhost.py"), "1",
                              str(args.items)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             text=True)
    assert feeds.stdin is not None and feeds.stdout is not None
    feed = feeds.stdout.readline().strip()
    try:
        print(f"{args.items} items; publisher at its defaults unless the row says otherwise")
        print(f"{'row':<11} {'cycles':>6} {'wall':>8} {'cpu':>8} {'req/post':>8} "
              f"{'stmt/post':>9} {'delivered':>9} {'dupes':>5}  recheck (wall / cpu)")
        for name in rows:
            r = run_row(name, feed, args.items, args.seed)
            print(f"{r['row']:<11} {r['cycles']:>6} {r['wall']:>7.2f}s {r['cpu']:>7.2f}s "
                  f"{r['requests']:>8.2f} {r['statements']:>9.2f} "
                  f"{r['delivered']:>5}/{args.items:<3} {r['duplicates']:>5}  {r['recheck']}",
                  flush=True)
    finally:
        feeds.stdin.write("quit\n")
        feeds.stdin.flush()
        feeds.wait(timeout=30)


if __name__ == "__main__":
    main()
