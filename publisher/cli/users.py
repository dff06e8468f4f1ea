"""``publisher users …``: the people of the web desk (add, list, disable,
enable, passwd).  The rules are in ``publisher.services.users``."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import typer

from publisher.cli import EXIT_CODES, app, handle_errors, settings, state

if TYPE_CHECKING:
    from publisher.store.users import UserStore

users_app = typer.Typer(help="The people of the web desk: add, list, disable, passwd.",
                        no_args_is_help=True, epilog=EXIT_CODES)
app.add_typer(users_app, name="users")

Name = Annotated[str, typer.Argument(metavar="NAME", help="The person's sign-in name.",
                                     show_default=False)]
PasswordStdin = Annotated[bool, typer.Option(
    "--password-stdin", help="Read the password from the first line of standard input "
    "(for scripts) instead of asking at a prompt.")]


@contextmanager
def _users() -> Iterator[UserStore]:
    """The people's table in the configured database (migrated first: the
    desk needs the 0002_users tables)."""
    from publisher.store import open_store
    from publisher.store.users import UserStore

    store = open_store(settings().database_url)
    try:
        store.upgrade()
        yield UserStore(store)
    finally:
        store.close()


def _now() -> datetime:
    from datetime import UTC

    return state.clock() if state.clock else datetime.now(UTC)


def _password(from_stdin: bool) -> str:
    from publisher.exceptions import InputError
    from publisher.services.users import check_password

    if from_stdin:
        line = sys.stdin.readline()
        password = line[:-1] if line.endswith("\n") else line
        if password.endswith("\r"):
            password = password[:-1]
        if not password:
            raise InputError("--password-stdin: standard input is empty")
        return check_password(password)
    if not sys.stdin.isatty():
        raise InputError("no terminal to ask for a password: use --password-stdin")
    password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return check_password(password)


@users_app.command("add")
@handle_errors
def add(
    name: Name,
    role: Annotated[str, typer.Option("--role", help="viewer, editor or ops.",
                                      show_default=False)],
    password_stdin: PasswordStdin = False,
) -> None:
    """Add a person who may sign in to the web desk.

    Viewers look; editors also create, edit, approve, cancel and retry; ops
    also pause, resume and resolve.

    Example: [bold]publisher users add ana --role editor[/bold]
    """
    from publisher.services import users as people

    people.check_name(name)
    people.parse_role(role)
    password = _password(password_stdin)
    with _users() as u:
        user = people.add_user(u, name, role, password, now=_now())
    print(f"added {user.name} ({user.role})")


@users_app.command("list")
@handle_errors
def list_() -> None:
    """List the desk's people, their roles and whether they are disabled.

    Example: [bold]publisher users list[/bold]
    """
    from publisher.cli.output import console

    with _users() as u:
        people = u.list_users()
    out = console()
    if not people:
        out.print("no users: the web desk is off (add one with `publisher users add`)")
        return
    for p in people:
        state_ = "disabled" if p.disabled else "active"
        print(f"{p.name}\t{p.role}\t{state_}\tsince {p.created_at:%Y-%m-%d}")


@users_app.command("disable")
@handle_errors
def disable(name: Name) -> None:
    """Disable a person: they cannot sign in, and their sessions end now.

    Example: [bold]publisher users disable ana[/bold]
    """
    with _users() as u:
        u.set_disabled(name.strip(), True)
    print(f"disabled {name.strip()}")


@users_app.command("enable")
@handle_errors
def enable(name: Name) -> None:
    """Let a disabled person sign in again.

    Example: [bold]publisher users enable ana[/bold]
    """
    with _users() as u:
        u.set_disabled(name.strip(), False)
    print(f"enabled {name.strip()}")


@users_app.command("passwd")
@handle_errors
def passwd(name: Name, password_stdin: PasswordStdin = False) -> None:
    """Set a person's password; their sessions end.

    Example: [bold]publisher users passwd ana[/bold]
    """
    from publisher.services import users as people

    password = _password(password_stdin)
    with _users() as u:
        people.set_password(u, name, password, now=_now())
    print(f"password changed for {name.strip()}")
