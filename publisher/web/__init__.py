"""The daemon's HTTP face: health, metrics and push intake (Starlette).

Thin, like the CLI: every endpoint reads facts or calls the app and its
services; the rules live in pure deciders (``health.readiness``,
``hooks.check_signature``, ``services.push.decide_notice``).

Endpoints
---------
``GET /healthz``                  200 while the process serves requests.
``GET /readyz``                   200, or 503 with ``{"ready": false, "reasons": [...]}``.
``GET /metrics``                  Prometheus text format (``web/metrics.py``).
``POST /hooks/wordpress/<feed>``  a signed notice from the site (``web/hooks.py``).
``GET|POST /websub/<feed>``       WebSub callback (``web/websub.py``).

Why Starlette on uvicorn: both are small, typed and maintained by the same
people (Encode, who also make httpx, which publisher already uses); Starlette
is a toolkit rather than a framework, so the app stays a few routes without
a dependency-injection layer, and uvicorn runs in a thread of the daemon
without taking its signals.  The web desk (issue 14) mounts under ``/desk/``
of the same app.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from publisher.exceptions import PublisherError

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response

    from publisher.app import App

__all__ = ["WebContext", "make_web_app", "make_websub", "poll_now"]

log = logging.getLogger("publisher.web")


@dataclass
class WebContext:
    """What the endpoints need besides the app."""

    app: App
    #: Wake the dispatcher (the daemon's ``wake``): a planned post goes out now.
    wake: Callable[[], None] = lambda: None
    scheduler_running: Callable[[], bool] = lambda: True
    #: Unix time, for hook timestamps (tests move it).
    clock: Callable[[], float] = time.time
    started_at: float = field(default_factory=time.time)
    websub: Any = None  # publisher.web.websub.WebSub, when subscriptions are kept


class TooLarge(Exception):
    pass


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing (``TooLarge``) past ``limit`` bytes without
    reading the rest."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise TooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def make_web_app(ctx: WebContext) -> Starlette:
    """The ASGI app for one running publisher."""
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import JSONResponse, PlainTextResponse
    from starlette.routing import Route

    from publisher.web import health, hooks
    from publisher.web.metrics import count_hook, make_registry

    registry = make_registry(ctx.app, started_at=ctx.started_at)
    replays = hooks.ReplayGuard()

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        facts = await run_in_threadpool(health.gather, ctx.app, ctx.scheduler_running)
        match health.readiness(facts):
            case health.Ready():
                return JSONResponse({"ready": True, "reasons": []})
            case health.NotReady(reasons):
                return JSONResponse({"ready": False, "reasons": list(reasons)}, status_code=503)
        raise AssertionError("unreachable")

    async def metrics(request: Request) -> Response:
        body = await run_in_threadpool(generate_latest, registry)
        return PlainTextResponse(body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    def refuse(feed: str, status: int, result: str, message: str) -> Response:
        count_hook(feed, result)
        log.warning("feed=%s push refused: %s (%s)", feed, result, message,
                    extra={"feed": feed, "action": "push"})
        return JSONResponse({"error": message}, status_code=status)

    async def wordpress_hook(request: Request) -> Response:
        name = request.path_params["feed"]
        feed = next((f for f in ctx.app.config.feeds if f.name == name), None)
        secret = ctx.app.environ.get(feed.hook_secret_env or "") if feed else None
        if feed is None or not feed.hook_secret_env:
            # Said the same way for both, so the hook does not list the feeds.
            return refuse("(unknown)", 404, "unknown_feed", "no push hook for this feed")
        if not secret:
            return refuse(name, 503, "no_secret",
                          f"environment variable {feed.hook_secret_env} is not set")
        try:
            body = await read_body(request, hooks.MAX_BODY)
        except TooLarge:
            return refuse(name, 413, "too_large", f"body over {hooks.MAX_BODY} bytes")
        verdict = hooks.check_signature(
            secret, timestamp=request.headers.get("x-publisher-timestamp"),
            signature=request.headers.get("x-publisher-signature"), body=body,
            now=ctx.clock())
        if isinstance(verdict, hooks.Refuse):
            return refuse(name, verdict.status, verdict.result, verdict.message)
        if not replays.first_time(verdict.signature, now=ctx.clock()):
            return refuse(name, 409, "replayed", "this notice was already received")
        return await run_in_threadpool(_take_notice, ctx, feed, body)

    routes = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/hooks/wordpress/{feed}", wordpress_hook, methods=["POST"]),
    ]
    if ctx.websub is not None:
        routes += ctx.websub.routes()
    from starlette.responses import RedirectResponse
    from starlette.routing import Mount

    from publisher.web.desk import make_desk

    routes += [Route("/desk", lambda request: RedirectResponse("/desk/", status_code=308)),
               Mount("/desk", app=make_desk(ctx))]  # type: ignore[list-item]
    return Starlette(routes=routes)


def poll_now(ctx: WebContext, feed: str) -> int:
    """A push said ``feed`` changed: poll it now, plan what it brought, wake
    the dispatcher.  Returns the number of posts planned."""
    report = ctx.app.poll(feed)
    posts = [p for r in ctx.app.plan_pending() for p in r.posts] if report.new else []
    if posts:
        ctx.wake()
    log.info("feed=%s push: polled status=%s new=%d posts=%d", feed, report.status,
             report.new, len(posts), extra={"feed": feed, "action": "push"})
    return len(posts)


def make_websub(ctx: WebContext) -> Any:
    """The WebSub subscriber for ``ctx`` when ``[site] public_url`` is set, else None."""
    public_url = ctx.app.config.public_url
    if not public_url:
        return None
    from publisher.web.websub import WebSub

    ctx.websub = WebSub(ctx.app, public_url, on_change=lambda feed: poll_now(ctx, feed))
    return ctx.websub


def _take_notice(ctx: WebContext, feed: Any, body: bytes) -> Response:
    """A verified notice: read the post from the site, plan it, wake the dispatcher."""
    from starlette.responses import JSONResponse

    from publisher.services import push
    from publisher.web.metrics import count_hook

    app = ctx.app
    decision = push.decide_notice(feed.kind, body)
    try:
        match decision:
            case push.BadNotice(message):
                count_hook(feed.name, "bad_notice")
                return JSONResponse({"error": message}, status_code=400)
            case push.Ignore(reason):
                count_hook(feed.name, "ignored")
                return JSONResponse({"status": "ignored", "detail": reason}, status_code=202)
            case push.PollFeed():
                count = poll_now(ctx, feed.name)
                status, detail, posts = "polled", f"posts={count}", list[int]()
            case push.ReadPost(query):
                result = push.read_post(feed, query, store=app.store, fetcher=app.fetcher,
                                        now=app.now, environ=app.environ)
                status, detail, posts = result.status, result.detail, []
                for article_id in result.article_ids:
                    posts += app.planner.plan(app.store.get_article(article_id)).posts
                if result.status == "known":
                    # An article we have, changed on the site: the poll's
                    # re-check sees a new title or summary (on_update).
                    try:
                        poll_now(ctx, feed.name)
                    except PublisherError as exc:  # the post was read: the notice stands
                        log.warning("feed=%s push: the poll after it failed: %s", feed.name,
                                    exc, extra={"feed": feed.name, "action": "push"})
    except PublisherError as exc:
        count_hook(feed.name, "read_failed")
        log.warning("feed=%s push: cannot read the post: %s", feed.name, exc,
                    extra={"feed": feed.name, "action": "push"})
        return JSONResponse({"error": f"cannot read the post from the site: {exc}"},
                            status_code=502)
    count_hook(feed.name, "accepted")
    if posts:
        ctx.wake()
    log.info("feed=%s push: status=%s posts=%d %s", feed.name, status, len(posts), detail,
             extra={"feed": feed.name, "action": "push"})
    return JSONResponse({"status": status, "posts": posts, "detail": detail}, status_code=202)
