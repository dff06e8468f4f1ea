"""Hostile text in every field the desk shows never acts on the page: post
texts, article titles and summaries (link cards), platform errors, log rows,
remote URLs, image alt texts, pause reasons, typed input echoed back.  Checked
on the HTML the daemon serves (the browser tests check a real browser too)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from publisher.services import desk
from publisher.types import ArticleData, ArticleState, Image, NewPost, Outcome, PostStatus
from publisher.web.desk.pages import clean, http_href
from tests.integration.webdesk_site import DeskSite, csrf_of, start_site

SCRIPT = "<script>alert('x')</script>"
ATTRIBUTE = '"><img src=x onerror="alert(1)">'
JS_URL = "javascript:alert(document.cookie)"
RTL = "evil\u202egnp.exe"
HOSTILE = f"{SCRIPT} {ATTRIBUTE} {RTL} </textarea><svg onload=alert(2)>"

#: What must never appear in a page built from the hostile values.
FORBIDDEN = [
    re.compile(r"<script>alert", re.I),
    re.compile(r"<img src=x", re.I),
    re.compile(r"<svg onload", re.I),
    re.compile(r"""href=["']?\s*javascript:""", re.I),
    re.compile(r"src=[\"']?\s*javascript:", re.I),
    re.compile("\u202e"),
    re.compile(r"</textarea><svg", re.I),
]


@pytest.fixture
def site(tmp_path: Path) -> Iterator[DeskSite]:
    s = start_site(tmp_path)
    try:
        s.add_user("olga", "ops")
        yield s
    finally:
        s.close()


def _assert_inert(html: str, where: str) -> None:
    for pattern in FORBIDDEN:
        assert not pattern.search(html), f"{where}: {pattern.pattern!r} in the page"


def _hostile_posts(site: DeskSite) -> tuple[int, int]:
    store, now = site.app.store, site.app.now()
    [article] = store.add_articles(None, [ArticleData(
        guid="g1", url="https://news.example/a", title=HOSTILE, summary=HOSTILE,
        image=Image("https://news.example/i.png", HOSTILE))], state=ArticleState.PLANNED,
        now=now)
    ids = store.add_posts([
        NewPost("wire", HOSTILE, link=JS_URL, image=Image(JS_URL, HOSTILE),
                status=PostStatus.DRAFT),
    ], article_id=article.id, now=now)
    failed = store.add_posts([
        NewPost("review", HOSTILE, status=PostStatus.FAILED, last_error=HOSTILE),
    ], article_id=None, now=now)
    store.log_event(ids[0], worker=HOSTILE, now=now, outcome=Outcome.FAILED, error=HOSTILE,
                    remote_url=JS_URL)
    return ids[0], failed[0]


def test_hostile_text_never_executes_on_any_page(site: DeskSite) -> None:
    draft, failed = _hostile_posts(site)
    desk.pause(site.app, channels=["review"], reason=HOSTILE, by="olga")
    c = site.client("olga")
    pages = ["/desk/queue", "/desk/queue?status=failed&status=draft", f"/desk/post/{draft}",
             f"/desk/post/{failed}", "/desk/log", "/desk/health", "/desk/week",
             "/desk/activity", "/desk/new"]
    for path in pages:
        got = c.get(path)
        assert got.status_code == 200, path
        _assert_inert(got.text, path)
    post = c.get(f"/desk/post/{draft}").text
    # Shown, escaped, not dropped: the editor sees what the feed sent.
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in post
    assert "evil\u27e8U+202E\u27e9gnp.exe" in post
    # A javascript: link is shown as text, never linked.
    assert JS_URL not in re.findall(r'href="([^"]*)"', post)
    log = c.get("/desk/log").text
    assert "&lt;script&gt;" in log and 'href="javascript' not in log
    health = c.get("/desk/health").text
    assert "&lt;script&gt;" in health  # the pause reason


def test_hostile_input_echoed_back_by_the_forms_stays_text(site: DeskSite) -> None:
    c = site.client("olga")
    token = csrf_of(c.get("/desk/new").text)
    echoed = c.post("/desk/new", data={"csrf": token, "text": HOSTILE, "url": JS_URL,
                                       "channel": "wire", "at": HOSTILE, "alt": HOSTILE,
                                       "do": "queue"})
    assert echoed.status_code == 409
    _assert_inert(echoed.text, "new post refused")
    preview = c.post("/desk/new/preview", data={"csrf": token, "text": HOSTILE,
                                                "channel": "wire"},
                     headers={"HX-Request": "true"})
    assert preview.status_code == 200
    _assert_inert(preview.text, "live preview")
    got = c.get("/desk/queue", params={"channel": HOSTILE, "status": HOSTILE})
    _assert_inert(got.text, "queue filters")
    got = c.get("/desk/log", params={"post": HOSTILE, "channel": HOSTILE})
    _assert_inert(got.text, "log filters")
    # A hostile sign-in name and a "next" that leaves the desk.
    signin = c.get("/desk/sign-in", params={"next": "javascript:alert(1)"})
    _assert_inert(signin.text, "sign-in")
    fresh = site.client()
    page = fresh.get("/desk/sign-in", params={"next": "//evil.example/"})
    got = fresh.post("/desk/sign-in?next=//evil.example/",
                     data={"name": "olga", "password": "correct horse battery",
                           "csrf": csrf_of(page.text)})
    assert got.headers["location"] == "/desk/queue"


def test_the_image_route_never_serves_a_script(site: DeskSite) -> None:
    draft, _failed = _hostile_posts(site)
    got = site.client("olga").get(f"/desk/image/{draft}")
    assert got.status_code == 502
    assert "not an http(s) URL" in got.text
    assert got.headers["content-type"].startswith("text/html")
    _assert_inert(got.text, "image refused")


@pytest.mark.parametrize(("value", "shown"), [
    ("plain", "plain"),
    ("a\u202eb", "a\u27e8U+202E\u27e9b"),
    ("a\u2066b\u2069", "a\u27e8U+2066\u27e9b\u27e8U+2069\u27e9"),
    ("bell\x07", "bell\u27e8U+0007\u27e9"),
    ("two\nlines", "two\nlines"),
])
def test_clean_shows_controls_and_overrides(value: str, shown: str) -> None:
    assert clean(value) == shown


@pytest.mark.parametrize(("url", "href"), [
    ("https://x.example/a", "https://x.example/a"),
    ("http://x.example/", "http://x.example/"),
    ("javascript:alert(1)", None),
    (" JavaScript:alert(1)", None),
    ("data:text/html,<script>", None),
    ("vbscript:x", None),
    ("https://x.example/\u202e", None),
    ("", None),
    (None, None),
])
def test_only_http_links_are_links(url: str | None, href: str | None) -> None:
    assert http_href(url) == href
