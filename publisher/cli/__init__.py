"""The ``publisher`` command (Typer + Rich).

Exit codes: 0 ok; 1 failed or unhealthy; 2 bad input or invalid
configuration.  A ``PublisherError`` becomes one red line on stderr
(tracebacks only with ``-v``), and so does a usage error (an unknown
option, a missing argument).  Every command gets its app from
``publisher.app.make_app``, the one wiring point, which builds each part
when it is first used: ``publisher --help`` imports neither the app nor
SQLAlchemy, and ``queue list`` builds the configuration (cached) and the
store, nothing else.

One module per command group: ``queue`` (editors), ``preview``,
``control`` (pause, resume), ``log`` and ``status`` (ops).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from typer._click import exceptions as click_errors  # Typer's own copy of Click
from typer.core import TyperGroup

if TYPE_CHECKING:
    from publisher.app import App
    from publisher.config import Settings
    from publisher.services.desk_input import Listing

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

EXIT_CODES = "Exit codes: 0 ok, 1 failed or unhealthy, 2 bad input."


class _Publisher(TyperGroup):
    """Usage errors (unknown option, bad value) end in one line and exit 2,
    like every other bad input."""

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)  # type: ignore[misc]
        try:
            rv = super().main(*args, standalone_mode=False, **kwargs)  # type: ignore[misc]
        except click_errors.NoArgsIsHelpError as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except click_errors.UsageError as exc:
            where = f" (see {exc.ctx.command_path} --help)" if exc.ctx else ""
            message = " ".join(exc.format_message().split())
            print(f"error: {message}{where}", file=sys.stderr)
            sys.exit(EXIT_USAGE)
        except click_errors.ClickException as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except typer.Abort:
            print("aborted", file=sys.stderr)
            sys.exit(EXIT_FAILED)
        sys.exit(rv if isinstance(rv, int) else EXIT_OK)


app = typer.Typer(
    name="publisher",
    cls=_Publisher,
    help="A newsroom's social desk: watches your site and publishes every new article "
    "to your channels, never twice, never lost.",
    epilog=EXIT_CODES,
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)
db_app = typer.Typer(help="The database.", no_args_is_help=True)
app.add_typer(db_app, name="db")


class _State:
    verbose = False
    schedules: Path | None = None
    log_format = "human"
    #: The desk's clock; tests set one, the command uses the system's.
    clock: Callable[[], datetime] | None = None


state = _State()
F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str, code: int = EXIT_FAILED) -> typer.Exit:
    """Print one red line and return the exit to raise."""
    from rich.console import Console
    from rich.markup import escape

    Console(stderr=True, highlight=False, soft_wrap=True).print(
        f"[red]error:[/red] {escape(' '.join(message.split()))}", markup=True
    )
    return typer.Exit(code)


def handle_errors(func: F) -> F:
    """Map publisher's errors to one line and an exit code."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from publisher.exceptions import ConfigError, InputError, PublisherError

        try:
            return func(*args, **kwargs)
        except ConfigError as exc:
            for problem in exc.problems:
                print(problem, file=sys.stderr)
            raise typer.Exit(EXIT_USAGE) from None
        except InputError as exc:
            raise fail(str(exc), EXIT_USAGE) from None
        except PublisherError as exc:
            if state.verbose:
                raise
            raise fail(str(exc), EXIT_FAILED) from None

    return wrapper  # type: ignore[return-value]


def settings() -> Settings:
    from publisher.config import Settings

    values: dict[str, Any] = {}
    if state.schedules is not None:
        values["schedules"] = state.schedules
    return Settings(**values)


def build_app(**kwargs: Any) -> App:
    """The wired app; configuration problems end the command with exit 2."""
    from publisher.app import make_app

    return make_app(settings(), **kwargs)


@contextmanager
def desk() -> Iterator[App]:
    """The app of the desk's commands: no credentials required (editors need
    no secrets), the database must exist already, each part built when the
    command first uses it."""
    from publisher.app import make_app

    a = make_app(settings(), clock=state.clock, upgrade=False, strict=False)
    try:
        yield a
    finally:
        a.close()


@contextmanager
def listing() -> Iterator[Listing]:
    """What ``queue list`` reads: the site's time zone, the channels, the
    outbox's listing (``App.posts``) and the clock, from the desk's app."""
    from publisher.services.desk_input import Listing

    with desk() as a:
        yield Listing(timezone=a.config.timezone, channels=tuple(a.config.channels),
                      store=a.posts, now=a.now)


def setup_logs(app_: App | None = None) -> None:
    from publisher.app import secret_values
    from publisher.logs import setup_logging

    s = settings()
    secrets = secret_values(app_.config, app_.environ) if app_ is not None else []
    setup_logging(fmt=state.log_format or s.log_format,
                  level="DEBUG" if state.verbose else s.log_level, secrets=secrets)


@app.callback()
def _main(
    schedules: Annotated[Path | None, typer.Option(
        "--schedules", "-s", help="Folder (or file) of schedules/*.toml. "
        "Default: $PUBLISHER_SCHEDULES or ./schedules.", show_default=False)] = None,
    log_format: Annotated[str, typer.Option(
        "--log-format", help="human, or json for one JSON object per line.")] = "human",
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logs and tracebacks.")]
    = False,
) -> None:
    if log_format not in ("human", "json"):
        raise fail(f'--log-format: must be "human" or "json", not "{log_format}"', EXIT_USAGE)
    state.schedules = schedules
    state.log_format = log_format
    state.verbose = verbose


@app.command()
@handle_errors
def run(
    once: Annotated[bool, typer.Option(
        "--once", help="Poll every feed once, publish until nothing is due, then exit.")] = False,
    grace: Annotated[float, typer.Option(
        help="Seconds to let posts in flight finish on SIGTERM.")] = 20.0,
) -> None:
    """Run the daemon: watch the feeds, plan posts, publish them.

    Example: [bold]publisher run[/bold]   (or [bold]publisher run --once[/bold] from cron)
    """
    setup_logs()
    a = build_app()
    setup_logs(a)
    try:
        if once:
            a.store.acquire_daemon_lock()
            try:
                _once_heartbeat(a, stopping=False)
                a.run_once()
                # Recorded like the daemon's, so `status` judges cron by --max-silence.
                _once_heartbeat(a, stopping=True)
            finally:
                a.store.release_daemon_lock()
            return
        from publisher.daemon import Daemon

        code = Daemon(a, grace=grace).run()
    finally:
        a.close()
    raise typer.Exit(code)


def _once_heartbeat(a: App, *, stopping: bool) -> None:
    import os
    import socket

    from publisher.services.health import once_worker_id

    host = socket.gethostname()
    a.store.heartbeat(once_worker_id(host), now=a.now(), host=host, pid=os.getpid(),
                      stopping=stopping, channels=tuple(a.config.channels))


@app.command()
@handle_errors
def check(
    offline: Annotated[bool, typer.Option(
        "--offline", help="Only validate files and environment; do not call the platforms.")]
    = False,
) -> None:
    """Validate the schedules, templates and credentials; ask who each channel posts as.

    Every platform is asked who each channel will post as (not with --offline).

    Example: [bold]publisher check[/bold]
    """
    from rich.markup import escape

    from publisher.cli.output import console

    a = build_app(upgrade=False)
    out = console()
    try:
        # Every template in use, compiled and rendered against a sample article;
        # a broken one is named (exit 2) and the platforms are still asked.
        from publisher.services.health import template_problems

        broken = template_problems(a.config, a.renderer)
        for problem in broken:
            print(problem, file=sys.stderr)
        if not broken:
            out.print(f"configuration ok: {len(a.config.feeds)} feed(s), "
                      f"{len(a.config.channels)} channel(s), {len(a.config.routes)} route(s)")
        from publisher.web.desk.auth import check_warning

        if (exposed := check_warning(a)) is not None:  # a warning: the exit code stays 0
            out.print(f"[yellow]warning:[/yellow] {escape(exposed)}", markup=True,
                      soft_wrap=True)
        bad = 0
        if not offline:
            for name, ok, line in a.check_channels():
                mark = "[green]ok[/green]  " if ok else "[red]FAIL[/red]"
                out.print(f"{mark} {escape(name)}: {escape(line)}", markup=True)
                bad += not ok
    finally:
        a.close()
    if broken:
        raise typer.Exit(EXIT_USAGE)
    if bad:
        raise typer.Exit(EXIT_FAILED)


@db_app.command("upgrade")
@handle_errors
def db_upgrade() -> None:
    """Apply the database migrations (the daemon also does it on start).

    Example: [bold]publisher db upgrade[/bold]
    """
    from publisher.store import open_store

    store = open_store(settings().database_url)
    try:
        store.upgrade()
    finally:
        store.close()
    print("database is up to date")


# The command groups register themselves on ``app``.
from publisher.cli import after_post, control, log, preview, queue, status, users  # noqa: E402
from publisher.cli import reload as _reload  # noqa: E402,F401

__all__ = ["after_post", "app", "control", "db_app", "log", "main", "preview", "queue", "status",
           "users"]


def main() -> None:
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
