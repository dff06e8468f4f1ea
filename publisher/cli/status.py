"""``publisher status``: is everything moving? Exit 1 when not (for monitoring)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import typer

from publisher.cli import EXIT_FAILED, app, desk, handle_errors
from publisher.cli.output import JSON_HELP, ago, console, escape, print_json, when


@app.command()
@handle_errors
def status(
    as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
    max_silence: Annotated[str, typer.Option(
        "--max-silence", help="Unhealthy when `run --once` (cron) has not run for this long "
        "and no daemon is up.")] = "10m",
    failing_within: Annotated[str, typer.Option(
        "--failing-within", help="A channel with any failed post this recent is failing.")]
    = "1h",
    failing_last: Annotated[int, typer.Option(
        "--failing-last", help="Also failing: a failure among the channel's last N posts "
        "(0: off).", min=0, max=10_000)] = 0,
) -> None:
    """Is everything moving? Exit 1 when not (for monitoring).

    The daemon (heartbeat), the queue by status and channel, the next post
    per channel and why it waits, each feed's last poll and error, each
    channel's pause, rate limit, last success and error, posts and estimated
    spend today and this month. Exit 1 when something is unhealthy, one line
    per cause naming what to do: a paused channel, a channel whose posts fail
    (--failing-within, --failing-last), a broken template, a channel with
    posts due that the running daemon does not know (not reloaded), a feed
    failing for over an hour, posts in needs_review, posts due for 5 minutes
    but not moving, no daemon heartbeat for 2 minutes and no `run --once`
    within --max-silence.

    Example: [bold]publisher status || notify-ops[/bold]
    """
    from rich.table import Table
    from rich.text import Text

    from publisher.services import desk as ops
    from publisher.services.health import Thresholds

    thresholds = Thresholds(failing_within=_duration("--failing-within", failing_within),
                            failing_last=failing_last,
                            max_silence=_duration("--max-silence", max_silence))
    with desk() as d:
        report = ops.status(d, thresholds)
        tz = d.config.timezone
    if as_json:
        print_json({**ops_json(report), "healthy": report.healthy})
    else:
        out = console()
        dm = report.daemon
        if dm.alive and dm.mode == "once":
            out.print(f"daemon: [green]run --once[/green] ({escape(dm.worker or '')}, last run "
                      f"{ago(dm.heartbeat_age)})", markup=True)
        elif dm.alive:
            out.print(f"daemon: [green]up[/green] ({escape(dm.worker or '')}, heartbeat "
                      f"{ago(dm.heartbeat_age)})", markup=True)
        else:
            seen = f", last heartbeat {ago(dm.heartbeat_age)}" if dm.heartbeat_at else ""
            out.print(f"daemon: [red]down[/red]{seen}", markup=True)
        depth = ", ".join(f"{n} {s}" for s, n in report.queue.items()) or "empty"
        out.print(f"posts: {depth}")

        table = Table(title="channels", title_justify="left", box=None, header_style="bold",
                      pad_edge=False)
        for name in ("CHANNEL", "STATE", "QUEUE", "NEXT", "LAST SUCCESS", "LAST ERROR",
                     "TODAY", "MONTH"):
            table.add_column(name, overflow="fold")
        for ch in report.channels:
            st = ch.state
            if st.paused:
                who = f" ({st.paused_by})" if st.paused_by else ""
                state = Text.from_markup(
                    f"[red]paused[/red]: {escape(st.paused_reason or '')}{escape(who)}")
            elif ch.open:
                state = Text.from_markup("[green]open[/green]")
            else:
                state = Text.from_markup(f"[yellow]{escape(ch.reason or '')}[/yellow]")
            queue = " ".join(f"{n} {s}" for s, n in ch.queue.items()
                             if s not in ("published", "cancelled", "failed")) or "-"
            nxt = (f"post {ch.next_post} {when(ch.next_due, tz)}: {ch.next_why}"
                   if ch.next_post else "-")
            money = f" ${ch.spend_today:.2f}" if ch.spend_today or ch.budget else ""
            month = f" ${ch.spend_month:.2f}" if ch.spend_month or ch.budget else ""
            budget = f"/{ch.budget:.2f}" if ch.budget is not None else ""
            table.add_row(ch.name, state, queue, nxt, when(st.last_success_at, tz),
                          _one_line(st.last_error or "-"), f"{ch.published_today}{money}",
                          f"{ch.published_month}{month}{budget}")
        out.print(table)
        if report.feeds:
            feeds = Table(title="feeds", title_justify="left", box=None, header_style="bold",
                          pad_edge=False)
            for name in ("FEED", "LAST POLL", "LAST SUCCESS", "LAST ERROR"):
                feeds.add_column(name, overflow="fold")
            for f in report.feeds:
                error = (Text(_one_line(f.last_error or ""), style="red") if f.failing
                         else _one_line(f.last_error or "-"))
                feeds.add_row(f.name, when(f.last_poll_at, tz), when(f.last_success_at, tz),
                              error)
            out.print(feeds)
        if report.problems:
            out.print("[red]unhealthy:[/red]", markup=True)
            for problem in report.problems:
                out.print(f"  - {problem}", markup=False, soft_wrap=True)
        else:
            out.print("[green]healthy[/green]", markup=True)
    if not report.healthy:
        raise typer.Exit(EXIT_FAILED)


def _duration(option: str, value: str) -> timedelta:
    from publisher.config import parse_duration
    from publisher.exceptions import InputError

    try:
        seconds = parse_duration(value)
        if not 0 < seconds <= 366 * 86400:
            raise ValueError("out of range")
        return timedelta(seconds=seconds)
    except (ValueError, OverflowError):
        raise InputError(f'{option}: not a duration between 1 s and a year: "{value[:40]}" '
                         '(use e.g. "90s", "10m", "2h")') from None


def _one_line(text: str) -> str:
    return " ".join(text.split())


def ops_json(report: object) -> dict[str, object]:
    from publisher.cli.output import jsonable

    value = jsonable(report)
    assert isinstance(value, dict)
    return value
