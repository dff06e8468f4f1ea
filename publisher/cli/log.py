"""``publisher log``: the publish log, and ``--follow`` to watch it."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import tzinfo
from typing import TYPE_CHECKING, Annotated

import typer

from publisher.cli import app, desk, handle_errors
from publisher.cli.output import JSON_HELP, print_json, when

if TYPE_CHECKING:
    from publisher.types import Attempt

#: How often --follow looks for new rows.
FOLLOW_INTERVAL = 0.5


def _line(a: Attempt, tz: tzinfo) -> str:
    parts = [when(a.started_at, tz, seconds=True), f"post={a.post_id}", f"channel={a.channel}",
             f"attempt={a.number}", f"outcome={a.outcome.value}"]
    if a.reshare:
        parts.append(f"reshare={a.reshare}")
    if a.kind.value != "publish":  # after the post (issue 13): what, who, why, old -> new
        parts.append(f"kind={a.kind.value}")
        parts += [f"{name}={' '.join(value.split())!r}" for name, value in (
            ("by", a.by), ("reason", a.reason), ("old", a.old_text), ("new", a.new_text))
            if value]
    if a.http_status:
        parts.append(f"http={a.http_status}")
    if a.remote_url or a.remote_id:
        parts.append(f"remote={a.remote_url or a.remote_id}")
    if a.error:
        parts.append(f"error={' '.join(a.error.split())}")
    return " ".join(parts)


@app.command()
@handle_errors
def log(
    channel: Annotated[str | None, typer.Option(
        "--channel", "-c", help="Only this channel.", show_default=False)] = None,
    outcome: Annotated[list[str] | None, typer.Option(
        "--outcome", help="ok, failed, retrying, rate_limited, auth_failed, ambiguous, "
        "reconciled, not_found, needs_review, started (repeatable, or comma-separated).",
        show_default=False)] = None,
    post: Annotated[str | None, typer.Option("--post", help="Only this post's attempts.",
                                             show_default=False)] = None,
    article: Annotated[str | None, typer.Option(
        "--article", help="Only posts of the article at this URL.", show_default=False)]
    = None,
    since: Annotated[str | None, typer.Option(
        "--since", help='Since: "1h", "30m", "2d", "today 06:00".', show_default=False)]
    = None,
    limit: Annotated[int, typer.Option("--limit", help="At most this many (the newest).")]
    = 50,
    follow: Annotated[bool, typer.Option(
        "--follow", "-f", help="Then print new attempts as they happen, until Ctrl-C "
        "(or SIGTERM).")]
    = False,
    as_json: Annotated[bool, typer.Option(
        "--json", help=JSON_HELP + " With --follow: one object per line.")] = False,
) -> None:
    """The publish log, oldest first; --follow to watch it.

    Time, post, channel, attempt, outcome, HTTP status, error, remote URL.

    Example: [bold]publisher log --channel x --outcome failed,rate_limited --since 2h[/bold]
    """
    from publisher.exceptions import InputError
    from publisher.services import desk as ops

    if not 0 < limit <= 10_000:
        raise InputError("--limit: between 1 and 10000")
    with desk() as d:
        query = ops.log_query(d, channel=channel, outcomes=outcome or (), post=post,
                              article=article, since=since)
        rows = ops.read_log(d, query, limit=limit)
        tz = d.config.timezone
        if as_json and not follow:
            print_json(rows)
            return
        for row in rows:
            if as_json:
                print_json(row, lines=True)
            else:
                print(_line(row, tz), flush=True)
        if not follow:
            if not rows and not as_json:
                print("no attempts")
            return
        follower = ops.LogFollower(d, query, shown=rows)
        with _until_stopped() as stop:
            while not stop.is_set():
                for row in follower.poll():
                    if as_json:
                        print_json(row, lines=True)
                    else:
                        print(_line(row, tz), flush=True)
                stop.wait(FOLLOW_INTERVAL)


@contextmanager
def _until_stopped() -> Iterator[threading.Event]:
    """An event set by Ctrl-C (SIGINT) or SIGTERM, for as long as the block
    runs.  A signal only sets it, so it never lands inside a database call;
    the loop ends between two polls and the command exits 0.  A SIGINT the
    process inherited as ignored (a background job) stays ignored."""
    stop = threading.Event()
    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        if signal.getsignal(sig) is not signal.SIG_IGN:
            previous[sig] = signal.signal(sig, lambda *_: stop.set())
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
