"""Benchmark (b): N new entries planned and published to two jsonl channels.

    .venv/bin/python bench/publish.py [--entries 1000]

One feed (served from another process) gains N entries; publisher polls it
once, plans 2 x N posts and publishes them all.  Prints the wall time of each
stage, the posts per second, and the peak RSS of this process.
"""

from __future__ import annotations

import argparse
import json
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
from publisher.types import PostStatus  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=1000)
    args = parser.parse_args()
    host = subprocess.Popen([sys.executable, str(ROOT / "bench" / "_feedhost.py"), "1",
                             str(args.entries)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    base = host.stdout.readline().strip()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "schedules").mkdir()
        channels = "".join(
            f'[channels.{n}]\ntype = "jsonl"\noptions = {{ path = "{work}/{n}.jsonl" }}\n\n'
            for n in ("archive", "wire"))
        (work / "schedules" / "site.toml").write_text(
            f'[[feeds]]\nname = "site"\nurl = "{base}feed/0/"\nbackfill = {args.entries}\n'
            f"max_entries = {args.entries}\n\n{channels}"
            '[[routes]]\nchannels = ["archive", "wire"]\n')
        settings = Settings(schedules=work / "schedules", templates=ROOT / "templates",
                            database_url=f"sqlite:///{work}/publisher.db", env_file=work / ".env")
        app = make_app(settings, environ={})
        app.sync()
        t0 = time.perf_counter()
        [report] = app.poll_all()
        t1 = time.perf_counter()
        planned = sum(len(p.posts) for p in app.plan_pending())
        t2 = time.perf_counter()
        app.dispatcher.run_until_idle()
        t3 = time.perf_counter()
        published = sum(n for (ch, st), n in app.store.post_counts().items()
                        if st is PostStatus.PUBLISHED)
        lines = sum(len((work / f"{n}.jsonl").read_text().splitlines())
                    for n in ("archive", "wire"))
        keys = {json.loads(line)["idempotency_key"]
                for n in ("archive", "wire")
                for line in (work / f"{n}.jsonl").read_text().splitlines()}
        app.close()
    host.stdin.write("quit\n")
    host.stdin.flush()
    host.wait(timeout=30)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"entries {report.new}, posts planned {planned}, published {published}, "
          f"lines written {lines} ({len(keys)} distinct)")
    print(f"poll+parse+store {t1 - t0:6.2f} s")
    print(f"plan             {t2 - t1:6.2f} s")
    print(f"publish          {t3 - t2:6.2f} s  ({published / (t3 - t2):.0f} posts/s)")
    print(f"total wall       {t3 - t0:6.2f} s")
    print(f"peak RSS         {peak:6.0f} MB")


if __name__ == "__main__":
    main()
