"""The desk's pages and actions (see the package docstring).

Each request: is the desk on, who is asking (``auth.identify``), may they
(``Person.may``), for a form the CSRF token; then the view reads through the
desk's services or calls a desk verb, in a worker thread (the store is
blocking).  A verb's ``InputError`` is shown as its one line, with the page
it came from.
"""

from __future__ import annotations

import inspect
import logging
import os
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

from publisher.exceptions import InputError, NotFoundError, PublisherError
from publisher.services import desk
from publisher.services import users as people
from publisher.store.desk_views import DeskViews
from publisher.store.users import UserStore
from publisher.types import Outcome, PostStatus
from publisher.web.desk import auth, charts
from publisher.web.desk.text import clean, field_value, http_href

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.datastructures import FormData
    from starlette.requests import Request
    from starlette.responses import Response

    from publisher.web import WebContext

log = logging.getLogger("publisher.web.desk")

HERE = Path(__file__).resolve().parent
#: A form (with its image) may not be larger than this.
MAX_FORM_BYTES = 12_000_000
MAX_IMAGE_BYTES = 10_000_000
QUEUE_STATUSES = (PostStatus.DRAFT, PostStatus.QUEUED, PostStatus.WAITING,
                  PostStatus.PUBLISHING, PostStatus.NEEDS_REVIEW)
#: Post actions: the form's verb -> the right it needs.
ACTIONS = {"approve": "approve", "cancel": "cancel", "edit": "edit", "retry": "retry",
           "resolve": "resolve", "retract": "retract"}
DONE = {"approve": "approved", "cancel": "cancelled", "edit": "changed", "retry": "retried",
        "resolve": "resolved", "queued": "queued"}


SECURITY_HEADERS = {
    # No inline script or style anywhere: injected markup could not run even
    # if it got past the autoescaping.
    "Content-Security-Policy": ("default-src 'none'; script-src 'self'; style-src 'self'; "
                                "img-src 'self'; form-action 'self'; base-uri 'none'; "
                                "frame-ancestors 'none'; connect-src 'self'"),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


@dataclass
class Form:
    """A submitted form's fields (text values), its file, and the CSRF token."""

    fields: dict[str, list[str]]
    file: tuple[str, bytes] | None = None

    def get(self, name: str, default: str = "") -> str:
        values = self.fields.get(name)
        return values[0] if values else default

    def getlist(self, name: str) -> list[str]:
        return self.fields.get(name, [])


def _takes_by(func: Callable[..., Any]) -> bool:
    try:
        return "by" in inspect.signature(func).parameters
    except (TypeError, ValueError):
        return False


class Desk:
    def __init__(self, ctx: WebContext):
        from jinja2 import Environment, FileSystemLoader

        self.ctx = ctx
        self.app = ctx.app
        self.settings = auth.DeskSettings.from_environ(self.app.environ, self.app.config.desk)
        self.key = secrets.token_bytes(32)
        self.ledger = people.FailureLedger()
        self.env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=True,
                               trim_blocks=True, lstrip_blocks=True)
        self.env.filters["clean"] = clean
        self.env.filters["href"] = http_href
        self.env.filters["field"] = field_value
        self.env.filters["local"] = self.local
        self.uploads = Path(self.app.environ.get("PUBLISHER_DESK_UPLOADS")
                            or os.environ.get("PUBLISHER_DESK_UPLOADS") or "var/uploads")

    # -- plumbing -------------------------------------------------------------

    @property
    def users(self) -> UserStore:
        return UserStore(self.app.store)

    @property
    def views(self) -> DeskViews:
        return DeskViews(self.app.store)

    def local(self, when: datetime | None) -> str:
        if when is None:
            return ""
        return when.astimezone(self.app.config.timezone).strftime("%a %d %b %H:%M")

    def asgi(self) -> Starlette:
        from starlette.applications import Starlette
        from starlette.responses import RedirectResponse
        from starlette.routing import BaseRoute, Route
        from starlette.staticfiles import StaticFiles

        async def home(request: Request) -> Response:
            return RedirectResponse("/desk/queue", status_code=303)

        page = self.page
        routes: list[BaseRoute] = [
            Route("/", home, methods=["GET"]),
            Route("/sign-in", self.sign_in, methods=["GET", "POST"]),
            Route("/sign-out", page(self.sign_out, "look", form=True), methods=["POST"]),
            Route("/queue", page(self.queue), methods=["GET"]),
            Route("/week", page(self.week), methods=["GET"]),
            Route("/post/{post_id}", page(self.post), methods=["GET"]),
            Route("/post/{post_id}/{action}", page(self.post_action, None, form=True),
                  methods=["POST"]),
            Route("/new", page(self.new, "create"), methods=["GET"]),
            Route("/new", page(self.new_post, "create", form=True), methods=["POST"]),
            Route("/new/preview", page(self.new_preview, "create", form=True),
                  methods=["POST"]),
            Route("/log", page(self.log_page), methods=["GET"]),
            Route("/activity", page(self.activity), methods=["GET"]),
            Route("/health", page(self.health), methods=["GET"]),
            Route("/pause", page(self.pause, "pause", form=True), methods=["POST"]),
            Route("/resume", page(self.resume, "resume", form=True), methods=["POST"]),
            Route("/image/{post_id}", page(self.image), methods=["GET"]),
        ]
        from starlette.routing import Mount

        routes.append(Mount("/static", app=StaticFiles(directory=HERE / "static"),
                            name="static"))
        return Starlette(routes=routes)

    def _secure(self, request: Request) -> bool:
        client = request.client.host if request.client else None
        return auth.is_secure(request.url.scheme, request.headers.get("x-forwarded-proto"),
                              auth.client_is_proxy(client, self.settings))

    def _client(self, request: Request) -> str:
        client = request.client.host if request.client else "?"
        if auth.client_is_proxy(client, self.settings):
            forwarded = request.headers.get("x-forwarded-for", "").split(",")[0].strip()
            return forwarded or client
        return client

    def _csrf_cookie(self, request: Request) -> str:
        cookie = getattr(request.state, "csrf_cookie", None)
        if cookie is None:
            cookie = request.cookies.get(auth.CSRF_COOKIE) or ""
            if not re.fullmatch(r"[A-Za-z0-9_-]{20,64}", cookie):
                cookie = auth.new_cookie_value()
                request.state.new_csrf = True
            request.state.csrf_cookie = cookie
        return str(cookie)

    def finish(self, request: Request, response: Response) -> Response:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if getattr(request.state, "new_csrf", False):
            response.set_cookie(auth.CSRF_COOKIE, request.state.csrf_cookie,
                                **auth.cookie_flags(self._secure(request)))
        return response

    def render(self, request: Request, template: str, *, status: int = 200,
               person: auth.Person | None = None, **data: Any) -> Response:
        from starlette.responses import HTMLResponse

        token = auth.csrf_token(self.key, self._csrf_cookie(request))
        body = self.env.get_template(template).render(
            me=person, csrf=token, path=request.url.path, site=self.app.config.site_name,
            **data)
        return self.finish(request, HTMLResponse(body, status_code=status))

    def message(self, request: Request, status: int, text: str,
                person: auth.Person | None = None) -> Response:
        return self.render(request, "message.html", status=status, person=person,
                           text=text)

    async def _form(self, request: Request) -> Form | None:
        declared = request.headers.get("content-length")
        if declared is None or not declared.isdigit() or int(declared) > MAX_FORM_BYTES:
            return None
        data: FormData = await request.form(max_files=1, max_fields=64,
                                            max_part_size=200_000)
        fields: dict[str, list[str]] = {}
        upload: tuple[str, bytes] | None = None
        try:
            for name, value in data.multi_items():
                if isinstance(value, str):
                    fields.setdefault(name, []).append(value)
                elif value.filename:
                    content = await value.read(MAX_IMAGE_BYTES + 1)
                    upload = (value.filename, content)
        finally:
            await data.close()
        return Form(fields, upload)

    def _csrf_ok(self, request: Request, form: Form) -> bool:
        origin = request.headers.get("origin")
        if origin and origin != "null":
            host = request.headers.get("host", "")
            if urlsplit(origin).netloc != host:
                return False
        return auth.csrf_ok(self.key, request.cookies.get(auth.CSRF_COOKIE),
                            form.get("csrf"))

    def page(self, view: Callable[..., Response], action: str | None = "look", *,
             form: bool = False) -> Callable[[Request], Awaitable[Response]]:
        """Wrap a view: desk on, signed in, allowed, CSRF for forms; the view
        runs in a worker thread."""
        from starlette.concurrency import run_in_threadpool
        from starlette.responses import RedirectResponse

        async def endpoint(request: Request) -> Response:
            data = await self._form(request) if form else None
            return await run_in_threadpool(guarded, request, data)

        def guarded(request: Request, data: Form | None) -> Response:
            try:
                off = auth.desk_state(self.users.count_active(), self.settings)
                if off is not None:
                    return self.message(request, 404, off)
                person = auth.identify(self.users, self.settings, client=(
                    request.client.host if request.client else None),
                    headers=request.headers, cookies=request.cookies, now=self.app.now())
                if person is None:
                    if form:
                        return self.message(request, 403, "not signed in (or the session "
                                            "expired): sign in again")
                    target = request.url.path + (f"?{request.url.query}"
                                                 if request.url.query else "")
                    return self.finish(request, RedirectResponse(
                        "/desk/sign-in?" + urlencode({"next": target}), status_code=303))
                if form:
                    if data is None:
                        return self.message(request, 413, "the form is too large "
                                            f"(at most {MAX_FORM_BYTES // 1_000_000} MB)",
                                            person)
                    if not self._csrf_ok(request, data):
                        return self.message(request, 403, "the form expired or came from "
                                            "another site: reload the page and try again",
                                            person)
                wanted = action or ACTIONS.get(request.path_params.get("action", ""))
                if wanted is None:
                    return self.message(request, 404, "no such action", person)
                if not person.may(wanted):
                    return self.message(request, 403, f"a {person.role} may not {wanted} "
                                        "(ask someone with more rights)", person)
                args = (request, person, data) if form else (request, person)
                return view(*args)
            except NotFoundError as exc:
                return self.message(request, 404, str(exc))
            except InputError as exc:
                return self.message(request, 400, str(exc))
            except PublisherError as exc:
                log.warning("desk: %s: %s", request.url.path, exc)
                return self.message(request, 503, f"cannot do that now: {exc}")

        return endpoint

    # -- sign-in ----------------------------------------------------------------

    async def sign_in(self, request: Request) -> Response:
        from starlette.concurrency import run_in_threadpool

        data = await self._form(request) if request.method == "POST" else None
        return await run_in_threadpool(self._sign_in, request, data)

    def _sign_in(self, request: Request, data: Form | None) -> Response:
        from starlette.responses import RedirectResponse

        off = auth.desk_state(self.users.count_active(), self.settings)
        if off is not None:
            return self.message(request, 404, off)
        target = request.query_params.get("next", "")
        if not (target.startswith("/desk/") and not target.startswith("//")
                and "\\" not in target):
            target = "/desk/queue"
        if request.method == "GET":
            return self.render(request, "sign_in.html", next=target, error=None)
        if data is None or not self._csrf_ok(request, data):
            return self.render(request, "sign_in.html", status=403, next=target,
                               error="the form expired: try again")
        result = people.sign_in(self.users, self.ledger, name=data.get("name"),
                                password=data.get("password"), client=self._client(request),
                                now=self.app.now())
        if isinstance(result, people.SignedIn):
            log.info("desk: %s signed in", result.user.name)
            self.users.purge_sessions(now=self.app.now())
            response = RedirectResponse(target, status_code=303)
            response.set_cookie(auth.SESSION_COOKIE, result.token,
                                max_age=int(people.ABSOLUTE_LIFETIME.total_seconds()),
                                **auth.cookie_flags(self._secure(request)))
            return self.finish(request, response)
        status = 429 if isinstance(result, people.Wait) else 401
        log.warning("desk: sign-in refused from %s: %s", self._client(request), result.message)
        return self.render(request, "sign_in.html", status=status, next=target,
                           error=result.message)

    def sign_out(self, request: Request, person: auth.Person, data: Form) -> Response:
        from starlette.responses import RedirectResponse

        if person.session:
            self.users.end_session(person.session)
        response = RedirectResponse("/desk/sign-in", status_code=303)
        response.delete_cookie(auth.SESSION_COOKIE, path=auth.COOKIE_PATH)
        return self.finish(request, response)

    # -- queue --------------------------------------------------------------------

    def queue(self, request: Request, person: auth.Person) -> Response:
        app, q = self.app, request.query_params
        error = None
        channel = q.get("channel") or None
        feed = q.get("feed") or None
        try:
            statuses = desk.parse_statuses(q.getlist("status")) or list(QUEUE_STATUSES)
            channels = desk.check_channels(app.config.channels, [channel] if channel else [])
        except InputError as exc:
            error, statuses, channels = str(exc), list(QUEUE_STATUSES), []
        now = app.now()
        gates = app.gates(now)
        rows = []
        for item, item_feed in self.views.upcoming(statuses=statuses, channels=channels,
                                                   feed=feed, limit=200):
            why = desk.why_waiting(item, gates.get(item.channel), now=now,
                                   tz=app.config.timezone)
            rows.append((item, item_feed, why, desk.due_at(item)))
        return self.render(request, "queue.html", person=person, rows=rows, error=error,
                           channels=sorted(app.config.channels),
                           feeds=[f.name for f in app.config.feeds],
                           statuses=[str(s) for s in PostStatus], chosen_channel=channel,
                           chosen_feed=feed, chosen_statuses={str(s) for s in statuses})

    # -- one post -----------------------------------------------------------------

    def post(self, request: Request, person: auth.Person, *, error: str | None = None,
             status: int = 200, edit_text: str | None = None,
             done: str | None = None) -> Response:
        detail = desk.show_post(self.app, request.path_params["post_id"])
        done = done or DONE.get(request.query_params.get("done", ""))
        siblings = []
        if detail.item.article_id is not None:
            taken = self.app.store.article_channels(detail.item.article_id)
            siblings = sorted((ch, pid, st) for ch, (pid, st) in taken.items()
                              if pid != detail.item.id)
        return self.render(request, "post.html", status=status, person=person, d=detail,
                           item=detail.item, error=error, done=done, siblings=siblings,
                           edit_text=edit_text if edit_text is not None else detail.item.text,
                           link_host=urlsplit(detail.item.link).hostname
                           if detail.item.link else None)

    def post_action(self, request: Request, person: auth.Person, data: Form) -> Response:
        from starlette.responses import RedirectResponse

        app, post_id = self.app, request.path_params["post_id"]
        action = request.path_params["action"]
        if action == "retract":
            return self.retract(request, person, data)
        verbs: dict[str, Callable[..., Any]] = {
            "approve": desk.approve_post, "cancel": desk.cancel_post, "edit": desk.edit_post,
            "retry": desk.retry_post, "resolve": desk.resolve_post}
        verb = verbs[action]
        kwargs: dict[str, Any] = {}
        if _takes_by(verb):
            kwargs["by"] = person.name
        if action == "edit":
            text, at = data.get("text"), data.get("at").strip()
            kwargs["text"] = text if text and text != desk.get_post(app, post_id).text else None
            kwargs["at"] = at or None
        elif action == "resolve":
            # Two buttons, said explicitly: an empty URL is not taken for "not published".
            published = data.get("outcome") == "published"
            kwargs["published"] = (data.get("published").strip() or None) if published else None
            kwargs["not_published"] = data.get("outcome") == "not_published"
        try:
            verb(app, post_id, **kwargs)
        except NotFoundError:
            raise
        except InputError as exc:
            return self.post(request, person, error=str(exc), status=409,
                             edit_text=data.get("text") if action == "edit" else None)
        log.info("desk: post %s %s by %s", post_id, DONE[action], person.name)
        self.ctx.wake()
        return self.finish(request, RedirectResponse(
            f"/desk/post/{int(post_id)}?done={action}", status_code=303))

    def retract(self, request: Request, person: auth.Person, data: Form) -> Response:
        """Retract the post's article everywhere (``after_post.retract_article``:
        each post's step decided by ``lifecycle.retract``), behind a confirmation."""
        from publisher.services.after_post import retract_article

        item = desk.get_post(self.app, request.path_params["post_id"])
        if data.get("confirm") != "yes":
            return self.post(request, person, status=409,
                             error="tick the box to confirm the retraction")
        try:
            report = retract_article(self.app, f"post:{item.id}",
                                     reason=" ".join(data.get("reason").split()),
                                     by=person.name)
        except InputError as exc:
            return self.post(request, person, error=str(exc), status=409)
        self.ctx.wake()
        log.warning("desk: %s retracted article %d", person.name, report.article_id)
        lines = "; ".join(f"post {line.post_id} on {line.channel}: {line.action}"
                          + (f" ({line.detail})" if line.detail else "")
                          for line in report.lines)
        return self.post(request, person, done=f"article retracted: {lines or 'no posts'}")

    def image(self, request: Request, person: auth.Person) -> Response:
        """A post's image through the daemon (never hot-linked), fetched with
        the post's channel's SSRF guard (``allow_private_images``)."""
        from starlette.responses import Response as Raw

        from publisher.channels.images import DOWNLOAD_MAX_BYTES, shared_cache
        from publisher.channels.media import ImageError

        item = desk.get_post(self.app, request.path_params["post_id"])
        if item.image is None:
            return self.message(request, 404, f"post {item.id} has no image", person)
        cfg = self.app.config.channels.get(item.channel)
        allow_private = bool(cfg is not None and cfg.options.get("allow_private_images"))
        try:
            picture = shared_cache().get(item.image.url, allow_private=allow_private,
                                         max_bytes=DOWNLOAD_MAX_BYTES, timeout=10.0)
        except ImageError as exc:
            return self.message(request, 502, f"cannot show the image: {exc}", person)
        return self.finish(request, Raw(picture.data, media_type=picture.content_type, headers={
            "Cache-Control": "private, max-age=300",
            "Content-Security-Policy": "default-src 'none'; sandbox"}))

    # -- new post -------------------------------------------------------------------

    def new(self, request: Request, person: auth.Person) -> Response:
        return self._new_page(request, person, Form({}), previews=None)

    def _new_page(self, request: Request, person: auth.Person, data: Form, *,
                  previews: list[dict[str, Any]] | None, error: str | None = None,
                  status: int = 200) -> Response:
        template = ("new_preview.html" if request.headers.get("hx-request") == "true"
                    and request.url.path.endswith("/preview") else "new.html")
        return self.render(request, template, status=status, person=person,
                           channels=sorted(self.app.config.channels), form=data,
                           chosen=set(data.getlist("channel")), previews=previews,
                           error=error)

    def _previews(self, data: Form) -> list[dict[str, Any]]:
        from publisher.services.plan import rule_for

        app = self.app
        text, url = data.get("text").strip(), data.get("url").strip()
        names = desk.check_channels(app.config.channels, data.getlist("channel"))
        if url:
            return [{"channel": p.channel, "text": p.text, "length": p.length,
                     "limit": p.limit, "error": p.error, "shortened": p.shortened,
                     "image": p.image if p.image_sent else None}
                    for p in desk.preview(app, url=url, channels=names)]
        if not text:
            return []
        out = []
        for name in names or sorted(app.config.channels):
            rule = rule_for(app.config.channels[name])
            length = rule.count(text)
            out.append({"channel": name, "text": text, "length": length, "limit": rule.limit,
                        "error": (f"too long for {name}: {length} > {rule.limit}"
                                  if length > rule.limit else None),
                        "shortened": (), "image": None})
        return out

    def new_preview(self, request: Request, person: auth.Person, data: Form) -> Response:
        try:
            previews = self._previews(data)
        except InputError as exc:
            return self._new_page(request, person, data, previews=[], error=str(exc))
        return self._new_page(request, person, data, previews=previews)

    def new_post(self, request: Request, person: auth.Person, data: Form) -> Response:
        from starlette.responses import RedirectResponse

        if data.get("do") == "preview":
            return self.new_preview(request, person, data)
        try:
            image = self._save_upload(data)
            text, url = data.get("text").strip(), data.get("url").strip()
            result = desk.add_posts(self.app, by=person.name, url=url or None,
                                    text=text or None, image=image,
                                    image_alt=data.get("alt") if image else None,
                                    channels=data.getlist("channel"),
                                    at=data.get("at").strip() or None)
        except InputError as exc:
            return self._new_page(request, person, data, previews=None, error=str(exc),
                                  status=409)
        self.ctx.wake()
        log.info("desk: %s queued %s", person.name, ", ".join(str(p.id) for p in result.posts))
        first = result.posts[0].id
        return self.finish(request, RedirectResponse(f"/desk/post/{first}?done=queued",
                                                     status_code=303))

    def _save_upload(self, data: Form) -> str | None:
        """An uploaded image, checked (a JPEG, PNG, GIF or WebP within 10 MB,
        with its alt text), kept under the uploads folder; its path."""
        if data.file is None:
            return None
        _name, content = data.file
        if len(content) > MAX_IMAGE_BYTES:
            raise InputError(f"image: larger than {MAX_IMAGE_BYTES // 1_000_000} MB")
        if not data.get("alt").strip():
            raise InputError("image: describe it in the alt text (required)")
        import io

        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(io.BytesIO(content)) as picture:
                kind = picture.format
                picture.verify()
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
            raise InputError("image: not a JPEG, PNG, GIF or WebP image") from None
        ext = {"JPEG": "jpg", "PNG": "png", "GIF": "gif", "WEBP": "webp"}.get(kind or "")
        if ext is None:
            raise InputError(f"image: {kind} images are not taken (JPEG, PNG, GIF or WebP)")
        self.uploads.mkdir(parents=True, exist_ok=True)
        path = self.uploads / f"{secrets.token_hex(12)}.{ext}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(content)
        return str(path.resolve())

    # -- log ----------------------------------------------------------------------------

    def log_page(self, request: Request, person: auth.Person) -> Response:
        app, q = self.app, request.query_params
        error, rows = None, []
        channel = q.get("channel") or None
        outcomes = [o for o in q.getlist("outcome") if o]
        post = q.get("post") or None
        try:
            query = desk.log_query(app, channel=channel, outcomes=outcomes, post=post)
            rows = list(reversed(desk.read_log(app, query, limit=100)))
        except InputError as exc:
            error = str(exc)
        partial = request.headers.get("hx-request") == "true" and q.get("partial") == "1"
        return self.render(request, "log_rows.html" if partial else "log.html", person=person,
                           rows=rows, error=error, channels=sorted(app.config.channels),
                           outcomes=[str(o) for o in Outcome], chosen_channel=channel,
                           chosen_outcomes=set(outcomes), post=post or "",
                           refresh_url=request.url.path + "?" + urlencode(
                               [*q.multi_items(), ("partial", "1")]))

    # -- health ---------------------------------------------------------------------------

    def health(self, request: Request, person: auth.Person, *, error: str | None = None,
               done: str | None = None, status: int = 200) -> Response:
        report = desk.status(self.app)
        return self.render(request, "health.html", status=status, person=person, r=report,
                           error=error, done=done)

    def pause(self, request: Request, person: auth.Person, data: Form) -> Response:
        reason = " ".join(data.get("reason").split())
        if data.get("confirm") != "yes":
            return self.health(request, person, status=409,
                               error="tick the box to confirm: every channel stops publishing")
        if not reason:
            return self.health(request, person, status=409, error="give a reason")
        try:
            names = desk.pause(self.app, all_=True, reason=reason, by=person.name)
        except InputError as exc:
            return self.health(request, person, status=409, error=str(exc))
        log.warning("desk: %s paused %s: %s", person.name, ", ".join(names), reason)
        return self.health(request, person, done=f"paused {', '.join(names)}: {reason}")

    def resume(self, request: Request, person: auth.Person, data: Form) -> Response:
        channel = data.get("channel")
        try:
            result = desk.resume(self.app, channels=[channel] if channel else (),
                                 all_=not channel)
        except InputError as exc:
            return self.health(request, person, status=409, error=str(exc))
        if result.refused:
            return self.health(request, person, status=409,
                               error="still paused: " + "; ".join(result.refused))
        self.ctx.wake()
        log.info("desk: %s resumed %s", person.name, ", ".join(result.resumed))
        return self.health(request, person, done="resumed " + (", ".join(result.resumed)
                                                               or "nothing (none paused)"))

    # -- week and activity -------------------------------------------------------------------

    def _days(self, start: date, n: int) -> list[date]:
        return [start + timedelta(days=i) for i in range(n)]

    def week(self, request: Request, person: auth.Person) -> Response:
        app = self.app
        tz = app.config.timezone
        now = app.now()
        today = now.astimezone(tz).date()
        days = self._days(today, 7)
        end = datetime.combine(days[-1] + timedelta(days=1), time(0), tz).astimezone(UTC)
        # Posts close together share one mark (per channel and half hour).
        slots: dict[tuple[str, datetime, str], list[int]] = {}
        for post_id, channel, status, due in self.views.due_marks(until=end):
            local = max(due, now).astimezone(tz)
            slot = local.replace(minute=local.minute - local.minute % 30, second=0,
                                 microsecond=0)
            kind = "draft" if status is PostStatus.DRAFT else "scheduled"
            slots.setdefault((channel, slot, kind), []).append(post_id)
        marks: dict[str, list[charts.Mark]] = {name: [] for name in app.config.channels}
        counts: dict[str, int] = {}
        for (channel, slot, kind), ids in slots.items():
            label = f"post {ids[0]}" if len(ids) == 1 else f"{len(ids)} posts from {ids[0]}"
            href = (f"/desk/post/{ids[0]}" if len(ids) == 1
                    else f"/desk/queue?channel={channel}")
            marks.setdefault(channel, []).append(charts.Mark(slot, label, kind, href))
            counts[channel] = counts.get(channel, 0) + len(ids)
        for rec in app.config.recurring:
            for fire in _fire_times(rec.cron, tz, now, end):
                for name in rec.channels:
                    marks.setdefault(name, []).append(
                        charts.Mark(fire.astimezone(tz), rec.name, "recurring"))
        drawings = []
        for name in sorted(marks):
            cfg = app.config.channels.get(name)
            windows = cfg.timing.windows if cfg else ()
            quiet = cfg.timing.quiet_hours if cfg else ()
            drawings.append((name, counts.get(name, 0),
                             charts.week_svg(name, days, windows, quiet, marks[name])))
        return self.render(request, "week.html", person=person, drawings=drawings,
                           timezone=str(tz))

    def activity(self, request: Request, person: auth.Person) -> Response:
        app = self.app
        tz = app.config.timezone
        today = app.now().astimezone(tz).date()
        days = self._days(today - timedelta(days=29), 30)
        bounds = [datetime.combine(d, time(0), tz).astimezone(UTC)
                  for d in [*days, days[-1] + timedelta(days=1)]]
        counts: dict[str, dict[date, list[int]]] = {n: {} for n in app.config.channels}
        column = {PostStatus.PUBLISHED: 0, PostStatus.FAILED: 1}
        for channel, status, day, n in self.views.activity_counts(bounds=bounds):
            slot = counts.setdefault(channel, {}).setdefault(days[day], [0, 0, 0])
            slot[column.get(status, 2)] += n
        delays: dict[str, list[timedelta]] = {}
        for channel, seconds in self.views.publish_delays(since=bounds[0]):
            if seconds >= 0:
                delays.setdefault(channel, []).append(timedelta(seconds=seconds))
        drawings = []
        every: list[timedelta] = []
        for name in sorted(counts):
            per_day = {d: charts.DayCount(*c) for d, c in counts[name].items()}
            every += delays.get(name, [])
            totals = [sum(c.published for c in per_day.values()),
                      sum(c.failed for c in per_day.values()),
                      sum(c.retracted for c in per_day.values())]
            drawings.append((name, totals, charts.median_minutes(delays.get(name, [])),
                             charts.activity_svg(name, days, per_day)))
        return self.render(request, "activity.html", person=person, drawings=drawings,
                           median=charts.median_minutes(every), first=days[0], last=days[-1])


def _fire_times(cron: str, tz: Any, start: datetime, end: datetime,
                limit: int = 200) -> list[datetime]:
    """When a recurring post fires between ``start`` and ``end``."""
    from apscheduler.triggers.cron import CronTrigger

    try:
        trigger = CronTrigger.from_crontab(cron, timezone=tz)
    except ValueError:
        return []
    out: list[datetime] = []
    previous = None
    now = start
    while len(out) < limit:
        fire = trigger.get_next_fire_time(previous, now)
        if fire is None or fire >= end:
            break
        out.append(fire)
        previous, now = fire, fire + timedelta(seconds=1)
    return out

