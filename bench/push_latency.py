"""Benchmark: from the CMS event to the post on a platform, through push.

    .venv/bin/python bench/push_latency.py [--events 100] [--platform-latency 0.05]
                                           [--site-latency 0.05] [--database URL]

A WordPress site (FakeWordPress) and a Slack webhook (FakeSlack) are played
over real HTTP on 127.0.0.1, each answering after the given latency.  The
daemon's parts run as ``publisher run`` runs them: the dispatcher's loop on a
thread and ``attach()`` (the HTTP listener).  For each event: the post is put
on the site, the clock starts, the notice is sent signed exactly as
``integrations/wordpress/publisher-notify.php`` sends it, and the clock stops
when the Slack message arrives.  Events are 0.2 s apart (a busy newsroom
publishes far fewer).  Prints p50, p95 and the worst, in seconds: the target
is p95 under 2 s.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from publisher.app import make_app  # noqa: E402
from publisher.config import Settings  # noqa: E402
from publisher.web.attach import attach  # noqa: E402
from publisher.web.hooks import sign  # noqa: E402
from tests.fakes.slack_server import FakeSlack  # noqa: E402
from tests.fakes.wordpress_server import FakeWordPress  # noqa: E402

SECRET = "bench-hook-secret"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=100)
    parser.add_argument("--platform-latency", type=float, default=0.05)
    parser.add_argument("--site-latency", type=float, default=0.05)
    parser.add_argument("--database", default=None, help="DATABASE_URL (default: SQLite)")
    args = parser.parse_args()
    schema = None
    if args.database and args.database.startswith("postgresql"):
        # A schema of its own, dropped at the end: the database may be shared.
        import uuid

        import sqlalchemy as sa

        admin = sa.create_engine(args.database, poolclass=sa.NullPool)
        schema = f"bench_{uuid.uuid4().hex[:12]}"
        with admin.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        args.database = admin.url.update_query_dict(
            {"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
    try:
        run(args)
    finally:
        if schema is not None:
            with admin.begin() as conn:
                conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))


def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp, FakeWordPress() as wp, FakeSlack() as slack:
        wp.latency, slack.latency = args.site_latency, args.platform_latency
        root = Path(tmp)
        (root / "schedules").mkdir()
        (root / "schedules" / "site.toml").write_text(f"""
[[feeds]]
name = "site"
kind = "wordpress"
url = "{wp.site_url}"
hook_secret_env = "HOOK_SECRET"
poll_interval = "1h"

[channels.slack]
type = "slack"
credentials = {{ webhook_url = "SLACK_HOOK" }}

[[routes]]
channels = ["slack"]
""")
        settings = Settings(schedules=root / "schedules", templates=ROOT / "templates",
                            env_file=root / ".env",
                            database_url=args.database or f"sqlite:///{root}/publisher.db")
        app = make_app(settings, environ={"HOOK_SECRET": SECRET, "SLACK_HOOK": slack.webhook_url,
                                          "PUBLISHER_HTTP": "127.0.0.1:0"})
        app.sync()
        serving = threading.Thread(target=app.dispatcher.serve, daemon=True)
        serving.start()
        face = attach(app, wake=app.dispatcher.notify, scheduler_running=lambda: True)
        assert face.http is not None
        hook = f"{face.http.url}/hooks/wordpress/site"
        latencies: list[float] = []
        with httpx.Client(timeout=10) as client:
            for n in range(1, args.events + 1):
                title = f"Bench story number {n}"
                wp.put(n, title)
                start = time.perf_counter()
                body = json.dumps({"event": "published", "post_id": n,
                                   "url": f"{wp.base_url}/story-{n}/"}).encode()
                ts = str(int(time.time()))
                answer = client.post(hook, content=body, headers={
                    "Content-Type": "application/json", "X-Publisher-Timestamp": ts,
                    "X-Publisher-Signature": sign(SECRET, ts, body)})
                if answer.status_code != 202:
                    raise SystemExit(f"event {n}: the hook answered {answer.status_code} "
                                     f"{answer.text}")
                while not any(title in m.shown for m in slack.messages[-3:]):
                    if time.perf_counter() - start > 30:
                        raise SystemExit(f"event {n}: not posted after 30 s")
                    time.sleep(0.002)
                latencies.append(time.perf_counter() - start)
                time.sleep(0.2)
        face.stop()
        app.dispatcher.stop(grace=5)
        app.close()
    latencies.sort()
    p50 = statistics.median(latencies)
    p95 = latencies[max(0, round(0.95 * len(latencies)) - 1)]
    print(f"push to post, {len(latencies)} events (site {args.site_latency * 1000:.0f} ms, "
          f"platform {args.platform_latency * 1000:.0f} ms, "
          f"{'PostgreSQL' if args.database else 'SQLite'}): "
          f"p50 {p50:.3f} s   p95 {p95:.3f} s   max {latencies[-1]:.3f} s")


if __name__ == "__main__":
    main()
