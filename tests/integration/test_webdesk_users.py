"""The web desk's people: rights, passwords, sign-in rate limit, sessions
(pure rules by table) and the users store on SQLite and PostgreSQL, and
``publisher users …`` and ``publisher check`` (Typer's CliRunner)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from publisher.cli import app
from publisher.exceptions import InputError, NotFoundError
from publisher.services import users as people
from publisher.store import Store, open_store, sqlite_url_for
from publisher.store.users import Role, SessionRow, User, UserStore

T0 = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"


@pytest.mark.parametrize(("role", "action", "allowed"), [
    (Role.VIEWER, "look", True),
    (Role.VIEWER, "create", False),
    (Role.VIEWER, "approve", False),
    (Role.EDITOR, "create", True),
    (Role.EDITOR, "approve", True),
    (Role.EDITOR, "cancel", True),
    (Role.EDITOR, "resolve", False),
    (Role.EDITOR, "pause", False),
    (Role.OPS, "pause", True),
    (Role.OPS, "resume", True),
    (Role.OPS, "resolve", True),
    (Role.OPS, "create", True),
    (Role.OPS, "drop-database", False),
])
def test_rights_table(role: Role, action: str, allowed: bool) -> None:
    assert people.may(role, action) is allowed


@pytest.mark.parametrize("name", ["", "  ", "a" * 65, "ana smith", "<script>", "ana\u202e",
                                  "ana\x00"])
def test_bad_names_are_refused(name: str) -> None:
    with pytest.raises(InputError, match="user name"):
        people.check_name(name)


def test_passwords_are_bounded_and_hashed_with_argon2id() -> None:
    with pytest.raises(InputError, match="at least 10"):
        people.check_password("short")
    with pytest.raises(InputError, match="at most"):
        people.check_password("x" * 1025)
    h = people.hash_password(PASSWORD)
    assert h.startswith("$argon2id$") and PASSWORD not in h
    assert people.verify_password(h, PASSWORD)
    assert not people.verify_password(h, PASSWORD + "!")
    assert not people.verify_password("not a hash", PASSWORD)


@pytest.mark.parametrize(("failures", "verdict"), [
    ([], people.Allow),
    ([T0 - timedelta(minutes=m) for m in range(4)], people.Allow),
    ([T0 - timedelta(minutes=m) for m in range(5)], people.Wait),
    # Old failures fall out of the window.
    ([T0 - timedelta(minutes=16 + m) for m in range(5)], people.Allow),
])
def test_sign_in_gate(failures: list[datetime], verdict: type) -> None:
    assert isinstance(people.sign_in_gate(failures, now=T0), verdict)


def test_sign_in_gate_says_until_when() -> None:
    failures = [T0 - timedelta(minutes=10)] + [T0 - timedelta(minutes=1)] * 4
    gate = people.sign_in_gate(failures, now=T0)
    assert isinstance(gate, people.Wait)
    assert gate.until == T0 + timedelta(minutes=5)
    assert gate.message == "too many failed sign-ins: try again in 5 min"


def _row(*, created: datetime = T0, expires: datetime | None = None, disabled: bool = False,
         changed: datetime = T0 - timedelta(days=1)) -> SessionRow:
    user = User(1, "ana", Role.EDITOR, disabled, T0 - timedelta(days=2), changed)
    return SessionRow(user, created, expires or created + people.IDLE_TIMEOUT, created)


@pytest.mark.parametrize(("row", "now", "expected"), [
    (None, T0, "not signed in"),
    (_row(), T0 + timedelta(hours=1), None),
    (_row(), T0 + timedelta(hours=12), "the session expired: sign in again"),
    (_row(expires=T0 + timedelta(days=30)), T0 + timedelta(days=7),
     "the session expired: sign in again"),
    (_row(disabled=True), T0, "this account is disabled"),
    (_row(changed=T0 + timedelta(minutes=1)), T0 + timedelta(minutes=2),
     "the password changed: sign in again"),
])
def test_session_verdict(row: SessionRow | None, now: datetime, expected: str | None) -> None:
    verdict = people.session_verdict(row, now=now)
    if expected is None:
        assert isinstance(verdict, people.Valid)
        assert verdict.expires_at == now + people.IDLE_TIMEOUT
    else:
        assert verdict == people.Expired(expected)


def test_a_used_session_slides_but_never_past_its_lifetime() -> None:
    row = _row(expires=T0 + timedelta(days=6, hours=23))
    verdict = people.session_verdict(row, now=T0 + timedelta(days=6, hours=22))
    assert isinstance(verdict, people.Valid)
    assert verdict.expires_at == T0 + people.ABSOLUTE_LIFETIME


def test_users_and_sessions_in_the_store(store: Store) -> None:
    users = UserStore(store)
    assert users.count_active() == 0
    ana = people.add_user(users, "ana", "editor", PASSWORD, now=T0)
    assert (ana.name, ana.role, ana.disabled) == ("ana", Role.EDITOR, False)
    assert PASSWORD not in repr(ana) and "argon2" not in repr(ana)
    with pytest.raises(InputError, match='user "ana" exists already'):
        people.add_user(users, "ana", "ops", PASSWORD, now=T0)
    assert users.count_active() == 1

    ledger = people.FailureLedger()
    signed = people.sign_in(users, ledger, name="ana", password=PASSWORD, client="1.2.3.4",
                            now=T0)
    assert isinstance(signed, people.SignedIn)
    kept = users.session(people.token_hash(signed.token))
    assert kept is not None and kept.user.name == "ana" and kept.expires_at == signed.expires_at
    assert users.session(signed.token) is None  # only the hash is a key

    people.set_password(users, "ana", PASSWORD + "2", now=T0 + timedelta(minutes=1))
    assert users.session(people.token_hash(signed.token)) is None  # sessions end

    users.set_disabled("ana", True)
    assert users.count_active() == 0
    refused = people.sign_in(users, ledger, name="ana", password=PASSWORD + "2",
                             client="1.2.3.4", now=T0 + timedelta(minutes=2))
    assert refused == people.Refused("wrong name or password")
    with pytest.raises(NotFoundError):
        users.set_disabled("zed", True)


def test_sign_in_is_rate_limited_per_name_and_per_client(sqlite_store: Store) -> None:
    users = UserStore(sqlite_store)
    people.add_user(users, "ana", "viewer", PASSWORD, now=T0)
    ledger = people.FailureLedger()
    for i in range(5):
        got = people.sign_in(users, ledger, name="ana", password="wrong password",
                             client=f"10.0.0.{i}", now=T0)
        assert got == people.Refused("wrong name or password")
    # Even the right password waits now, from any address.
    got = people.sign_in(users, ledger, name="ana", password=PASSWORD, client="10.9.9.9",
                         now=T0 + timedelta(minutes=1))
    assert isinstance(got, people.Wait) and "too many failed sign-ins" in got.message
    # One address guessing many names is stopped too.
    for i in range(5):
        people.sign_in(users, ledger, name=f"who{i}", password="x" * 10, client="6.6.6.6",
                       now=T0)
    got = people.sign_in(users, ledger, name="bob", password="x" * 10, client="6.6.6.6",
                         now=T0)
    assert isinstance(got, people.Wait)
    later = people.sign_in(users, ledger, name="ana", password=PASSWORD, client="10.9.9.9",
                           now=T0 + timedelta(minutes=16))
    assert isinstance(later, people.SignedIn)


def _cli(args: list[str], db: Path, stdin: str = "") -> Any:
    return CliRunner().invoke(app, args, input=stdin, env={"DATABASE_URL": sqlite_url_for(db)})


def test_users_cli(tmp_path: Path) -> None:
    db = tmp_path / "var" / "publisher.db"
    got = _cli(["users", "add", "ana", "--role", "ops", "--password-stdin"], db, PASSWORD + "\n")
    assert (got.exit_code, got.stdout) == (0, "added ana (ops)\n")
    got = _cli(["users", "add", "bob", "--role", "king", "--password-stdin"], db, PASSWORD)
    assert got.exit_code == 2
    assert got.stderr.strip() == 'error: --role: must be viewer, editor or ops, not "king"'
    got = _cli(["users", "add", "bob", "--role", "viewer", "--password-stdin"], db, "short\n")
    assert got.exit_code == 2 and "at least 10 characters" in got.stderr
    got = _cli(["users", "add", "bob", "--role", "viewer"], db, "")
    assert got.exit_code == 2 and "use --password-stdin" in got.stderr
    got = _cli(["users", "passwd", "ana", "--password-stdin"], db, "another long one\n")
    assert got.exit_code == 0
    got = _cli(["users", "disable", "ana"], db)
    assert got.exit_code == 0
    got = _cli(["users", "list"], db)
    assert got.stdout.split("\t")[:3] == ["ana", "ops", "disabled"]
    got = _cli(["users", "disable", "zed"], db)
    assert got.exit_code == 2 and got.stderr.strip().startswith('error: no user "zed"')
    store = open_store(sqlite_url_for(db))
    try:
        ana = UserStore(store).get_user("ana")
        assert ana is not None and people.verify_password(ana.password_hash, "another long one")
    finally:
        store.close()
    assert "another long one" not in got.stdout + got.stderr


@pytest.mark.parametrize(("host", "proxies", "on", "warned"), [
    ("127.0.0.1", "", True, False),
    ("::1", "", True, False),
    ("localhost", "", True, False),
    ("0.0.0.0", "", True, True),
    ("192.0.2.7", "", True, True),
    ("0.0.0.0", "192.0.2.1", True, False),
    ("0.0.0.0", "", False, False),  # the desk is off
    (None, "", True, False),  # the listener is off
])
def test_check_warns_when_the_desk_is_exposed_without_tls(
        host: str | None, proxies: str, on: bool, warned: bool) -> None:
    from publisher.web.desk.auth import DeskSettings, exposure_warning

    settings = DeskSettings.from_environ({"PUBLISHER_DESK_TRUSTED_PROXY": proxies})
    warning = exposure_warning(host, settings, desk_on=on)
    assert (warning is not None) is warned
    if warning:
        assert warning.startswith(f"the web desk listens on {host} without a TLS proxy")


def test_publisher_check_warns_when_the_desk_is_exposed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``publisher check`` (offline too) prints the warning and exits 0."""
    from tests.shipped import TEMPLATES

    schedules = tmp_path / "schedules"
    schedules.mkdir()
    table = schedules / "site.toml"
    table.write_text(f'[channels.wire]\ntype = "jsonl"\noptions = {{ path = '
                     f'"{tmp_path / "wire.jsonl"}" }}\n')
    db = tmp_path / "var" / "publisher.db"

    monkeypatch.chdir(tmp_path)

    def check(bind: str) -> Any:
        env = dict(DATABASE_URL=sqlite_url_for(db), PUBLISHER_SCHEDULES=str(schedules),
                   PUBLISHER_TEMPLATES=str(TEMPLATES), PUBLISHER_HTTP=bind,
                   PUBLISHER_CACHE_DIR="")
        return CliRunner().invoke(app, ["check", "--offline"], env=env)

    assert _cli(["users", "add", "ana", "--role", "editor", "--password-stdin"], db,
                PASSWORD + "\n").exit_code == 0
    got = check("0.0.0.0:8787")
    assert got.exit_code == 0, got.stderr
    warnings = [line for line in got.stdout.splitlines() if line.startswith("warning:")]
    assert warnings == ["warning: the web desk listens on 0.0.0.0 without a TLS proxy in "
                        "front: serve it through nginx or Caddy with TLS and set [desk] "
                        "trusted_proxy to its address (or keep PUBLISHER_HTTP on 127.0.0.1)"]
    # On loopback, or with the proxy declared in the schedules: no warning.
    assert "warning:" not in check("127.0.0.1:8787").stdout
    table.write_text(table.read_text() + '[desk]\ntrusted_proxy = "10.0.0.5"\n')
    got = check("0.0.0.0:8787")
    assert got.exit_code == 0 and "warning:" not in got.stdout, got.stdout
    # The listener off: nothing to warn about.
    assert "warning:" not in check("off").stdout
