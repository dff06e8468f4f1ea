"""A running web desk for tests: the real app (SQLite store, jsonl channels,
one of them with approval), the daemon's HTTP app on uvicorn on 127.0.0.1,
and a signed-in HTTP client per person.  Used by the integration tests
(``test_webdesk*.py``), the browser tests and ``bench/desk_pages.py``."""

from __future__ import annotations

import functools
import io
import re
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from publisher.app import App, make_app
from publisher.config import Settings
from publisher.services import users as people
from publisher.store.users import UserStore
from publisher.web import WebContext, make_web_app
from publisher.web.server import HttpServer, start_http

PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="csrf" value="([0-9a-f]+)"')


@functools.cache
def password_hash() -> str:
    """PASSWORD hashed as ``users add`` hashes it (argon2id, ~0.13 s), once a
    session: every person of every site signs in with it."""
    return people.hash_password(people.check_password(PASSWORD))


@functools.cache
def _tls() -> ssl.SSLContext:
    """One TLS context for every client (the desk is plain HTTP; httpx would
    load the CA bundle again, ~40 ms, for each client)."""
    return ssl.create_default_context()


class MovableClock:
    def __init__(self, start: datetime | None = None):
        self.now = start or datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def move(self, delta: timedelta) -> None:
        self.now += delta


def write_schedule(root: Path, extra: str = "") -> Settings:
    (root / "schedules").mkdir(parents=True, exist_ok=True)
    (root / "schedules" / "desk.toml").write_text(f"""
[site]
name = "Test News"
timezone = "Europe/Paris"

[channels.wire]
type = "jsonl"
options = {{ path = "{root / 'wire.jsonl'}", allow_private_images = true }}
timing = {{ windows = ["07:00-22:00"], quiet_hours = ["23:00-06:30"] }}

[channels.review]
type = "jsonl"
approval = true
options = {{ path = "{root / 'review.jsonl'}" }}

[[recurring]]
name = "morning"
cron = "0 8 * * *"
channels = ["wire"]
text = "Good morning: today's headlines"
{extra}
""")
    from tests.shipped import TEMPLATES

    return Settings(schedules=root / "schedules", templates=TEMPLATES,
                    env_file=root / ".env", database_url=f"sqlite:///{root / 'desk.db'}")


@dataclass
class DeskSite:
    app: App
    server: HttpServer
    ctx: WebContext
    clock: Callable[[], datetime]
    woken: list[int] = field(default_factory=list)
    clients: list[httpx.Client] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def users(self) -> UserStore:
        return UserStore(self.app.store)

    def add_user(self, name: str, role: str) -> None:
        """``people.add_user`` with PASSWORD, its hash made once (see password_hash)."""
        self.users.add_user(people.check_name(name), people.parse_role(role), password_hash(),
                            now=self.app.now())

    def client(self, name: str | None = None, **kwargs: object) -> httpx.Client:
        """An HTTP client; signed in as ``name`` when given."""
        # TCP_NODELAY as browsers do: without it a kept-alive connection
        # waits ~40 ms per request for the delayed ACK.
        transport = httpx.HTTPTransport(verify=_tls(), socket_options=[
            (socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)])
        c = httpx.Client(base_url=self.url, timeout=30, follow_redirects=False,
                         transport=transport, **kwargs)  # type: ignore[arg-type]
        self.clients.append(c)
        if name is not None:
            sign_in(c, name)
        return c

    def close(self) -> None:
        for c in self.clients:
            c.close()
        self.server.stop()
        self.app.close()


def csrf_of(html: str) -> str:
    match = CSRF.search(html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def sign_in(c: httpx.Client, name: str, password: str = PASSWORD) -> httpx.Response:
    page = c.get("/desk/sign-in")
    got = c.post("/desk/sign-in", data={"name": name, "password": password,
                                        "csrf": csrf_of(page.text)})
    if got.status_code == 303:
        assert got.headers["location"] == "/desk/queue"
    return got


def start_site(root: Path, *, clock: Callable[[], datetime] | None = None,
               environ: dict[str, str] | None = None, extra: str = "") -> DeskSite:
    settings = write_schedule(root, extra)
    env = {"PUBLISHER_DESK_UPLOADS": str(root / "uploads"), **(environ or {})}
    app = make_app(settings, environ=env, clock=clock)
    site = DeskSite(app, None, None, clock or app.now)  # type: ignore[arg-type]
    ctx = WebContext(app, wake=lambda: site.woken.append(1))
    site.ctx = ctx
    site.server = start_http(make_web_app(ctx), ("127.0.0.1", 0))
    return site


def png(width: int = 40, height: int = 30) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(out, "PNG")
    return out.getvalue()
