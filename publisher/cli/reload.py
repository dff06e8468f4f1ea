"""``publisher reload``: the running daemon reads its configuration again."""

from __future__ import annotations

from typing import Annotated

import typer

from publisher.cli import app, desk, handle_errors
from publisher.cli.output import console


@app.command()
@handle_errors
def reload(
    timeout: Annotated[float, typer.Option(
        "--timeout", min=0.1, max=600, help="Seconds to wait for the daemon's answer.")] = 30.0,
) -> None:
    """Make the running daemon read schedules/, templates/ and .env again.

    Sends it SIGHUP (the daemon is found through the heartbeat it records in
    the database) and waits for its answer: exit 0 when the new configuration
    took effect, 1 when it was refused (the daemon keeps running on the old
    one; the line says why, and so does `publisher status`).

    Example: [bold]publisher reload[/bold]
    """
    from publisher.exceptions import PublisherError
    from publisher.reload import signal_reload

    with desk() as d:
        answers = signal_reload(d, timeout=timeout)
    refused = [a for a in answers if a.error is not None]
    for a in answers:
        if a.error is None:
            console().print(f"reloaded: daemon {a.worker} (pid {a.pid})", markup=False)
    if refused:
        raise PublisherError("; ".join(f"daemon {a.worker} (pid {a.pid}) kept its previous "
                                       f"configuration: {a.error}" for a in refused))
