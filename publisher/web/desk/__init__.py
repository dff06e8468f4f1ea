"""The web desk: editors and ops see and steer every post in a browser.

Mounted under ``/desk/`` of the daemon's HTTP app (``publisher.web``).
Server-rendered Jinja2 (its own templates, autoescaped), every page and
action works with JavaScript off; the vendored htmx (``static/``) only
refreshes the log and the new post's preview in place.

Thin, like the CLI: the pages read through the desk's services
(``services.desk``: ``show_post``, ``why_waiting``, ``status``, ``read_log``,
``preview``) and every action is a desk verb whose rule lives in the
lifecycle; a refusal is shown as the same one line the CLI prints.  Who may
do what is ``services.users.may``; who is asking is ``desk.auth``.

Pages: ``queue``, ``week``, ``post/<id>``, ``new``, ``log``, ``activity``,
``health``; ``sign-in``, ``sign-out``; ``image/<post id>`` (a post's image
through the daemon, with the publishing side's SSRF guard);
``static/<file>``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from publisher.web import WebContext

__all__ = ["make_desk"]


def make_desk(ctx: WebContext) -> Starlette:
    """The desk's ASGI app, to mount under ``/desk``."""
    from publisher.web.desk.pages import Desk

    return Desk(ctx).asgi()
