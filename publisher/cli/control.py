"""``publisher pause`` and ``publisher resume``: the newsroom's stop button."""

from __future__ import annotations

from typing import Annotated

import typer

from publisher.cli import app, desk, handle_errors
from publisher.cli.output import console

Channels = Annotated[list[str] | None, typer.Option(
    "--channel", "-c", help="A channel name (repeatable).", show_default=False)]
All = Annotated[bool, typer.Option("--all", help="Every configured channel.")]


@app.command()
@handle_errors
def pause(
    reason: Annotated[str, typer.Option(
        "--reason", help="Why: shown by `publisher status` until someone resumes.",
        show_default=False)],
    channel: Channels = None,
    all_: All = False,
    by: Annotated[str | None, typer.Option(
        "--by", help="Who pauses. Default: $USER.", show_default=False)] = None,
) -> None:
    """Stop publishing on channels now: the newsroom's stop button.

    For a tragedy, a hacked account, a wrong story. Queued and new posts
    wait; only `publisher resume` releases them.

    Example: [bold]publisher pause --all --reason "breaking tragedy: hold everything"[/bold]
    """
    from publisher.services import desk as ops
    from publisher.services.desk_input import editor_name, safe_line

    who = editor_name(by) or ops.who_am_i()
    with desk() as d:
        names = ops.pause(d, channels=channel or (), all_=all_, reason=reason, by=who)
    console().print(f"paused {', '.join(names)} ({who}): {safe_line(reason)}",
                    markup=False)


@app.command()
@handle_errors
def resume(
    channel: Channels = None,
    all_: All = False,
    force: Annotated[bool, typer.Option(
        "--force", help="Resume a channel paused for refused credentials without asking "
        "the platform first.")] = False,
) -> None:
    """Publish again on paused channels.

    A channel paused because the platform refused its credentials is asked
    who it posts as first, and stays paused if that fails (exit 1) unless
    --force.

    Example: [bold]publisher resume --channel x[/bold]
    """
    from publisher.exceptions import PublisherError
    from publisher.services import desk as ops

    with desk() as d:
        result = ops.resume(d, channels=channel or (), all_=all_, force=force)
    out = console()
    if result.resumed:
        out.print(f"resumed {', '.join(result.resumed)}")
    if result.not_paused:
        out.print(f"not paused: {', '.join(result.not_paused)}")
    if result.refused:
        raise PublisherError("still paused: " + "; ".join(result.refused)
                             + " (fix them and run `publisher check`, or resume with --force)")
