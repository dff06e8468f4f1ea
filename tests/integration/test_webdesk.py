"""The web desk for real: the daemon's HTTP app on uvicorn on 127.0.0.1, the
real store, real sign-in, cookies and forms; every action through the desk's
verbs and the lifecycle."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, timedelta
from pathlib import Path

import httpx
import pytest

from publisher.services import desk
from publisher.types import Outcome, PostStatus
from tests.integration.webdesk_site import (
    PASSWORD,
    DeskSite,
    MovableClock,
    csrf_of,
    png,
    sign_in,
    start_site,
)


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock()


@pytest.fixture
def site(tmp_path: Path, clock: MovableClock) -> Iterator[DeskSite]:
    s = start_site(tmp_path, clock=clock)
    try:
        yield s
    finally:
        s.close()


def _post(c: httpx.Client, path: str, data: dict[str, object] | None = None,
          files: dict[str, object] | None = None, page: str = "/desk/queue") -> httpx.Response:
    token = csrf_of(c.get(page).text)
    return c.post(path, data={"csrf": token, **(data or {})}, files=files)  # type: ignore[arg-type]


def _draft(site: DeskSite, text: str = "A draft for the review desk") -> int:
    result = desk.add_posts(site.app, by="cli-ana", text=text, channels=["review"])
    assert result.posts[0].status is PostStatus.DRAFT
    return result.posts[0].id


# -- on, off, sign-in -----------------------------------------------------------------

def test_the_desk_is_off_until_a_user_exists(site: DeskSite) -> None:
    c = site.client()
    got = c.get("/desk/queue")
    assert got.status_code == 404
    assert "the web desk is off: add a user with `publisher users add" in got.text
    site.add_user("ana", "editor")
    got = c.get("/desk/queue")
    assert got.status_code == 303
    assert got.headers["location"] == "/desk/sign-in?next=%2Fdesk%2Fqueue"
    assert c.get("/desk").status_code == 308


def test_sign_in_sets_a_strict_http_only_cookie(site: DeskSite) -> None:
    site.add_user("ana", "editor")
    c = site.client()
    got = sign_in(c, "ana")
    assert got.status_code == 303
    cookie = next(v for k, v in got.headers.multi_items()
                  if k == "set-cookie" and v.startswith("desk_session="))
    flags = {f.strip().lower() for f in cookie.split(";")[1:]}
    assert {"httponly", "samesite=strict", "path=/desk"} <= flags
    assert "secure" not in flags  # plain http on loopback, no proxy
    page = c.get("/desk/queue")
    assert page.status_code == 200 and "ana" in page.text and "(editor)" in page.text
    # Signing out ends the session in the store.
    assert _post(c, "/desk/sign-out").status_code == 303
    assert c.get("/desk/queue").status_code == 303


def test_wrong_passwords_are_refused_then_rate_limited(site: DeskSite) -> None:
    site.add_user("ana", "editor")
    c = site.client()
    for _ in range(5):
        got = sign_in(c, "ana", "not the password")
        assert got.status_code == 401 and "wrong name or password" in got.text
    got = sign_in(c, "ana")
    assert got.status_code == 429
    assert "too many failed sign-ins: try again in" in got.text
    assert "desk_session" not in got.headers.get("set-cookie", "")


def test_a_sign_in_without_the_forms_token_is_refused(site: DeskSite) -> None:
    site.add_user("ana", "editor")
    c = site.client()
    got = c.post("/desk/sign-in", data={"name": "ana", "password": PASSWORD})
    assert got.status_code == 403 and "desk_session" not in got.headers.get("set-cookie", "")


def test_sessions_expire_after_12_idle_hours(site: DeskSite, clock: MovableClock) -> None:
    site.add_user("ana", "viewer")
    c = site.client("ana")
    clock.move(timedelta(hours=11))
    assert c.get("/desk/queue").status_code == 200  # and slides
    clock.move(timedelta(hours=11))
    assert c.get("/desk/queue").status_code == 200
    clock.move(timedelta(hours=12, seconds=1))
    assert c.get("/desk/queue").status_code == 303


def test_a_disabled_user_is_signed_out_at_once(site: DeskSite) -> None:
    site.add_user("ana", "editor")
    site.add_user("bob", "ops")
    c = site.client("ana")
    site.users.set_disabled("ana", True)
    assert c.get("/desk/queue").status_code == 303


def test_secure_cookie_behind_a_trusted_tls_proxy(tmp_path: Path) -> None:
    site = start_site(tmp_path, environ={"PUBLISHER_DESK_TRUSTED_PROXY": "127.0.0.1"})
    try:
        site.add_user("ana", "editor")
        c = site.client(headers={"X-Forwarded-Proto": "https"})
        page = c.get("/desk/sign-in")
        csrf_cookie = page.headers["set-cookie"]
        assert "secure" in csrf_cookie.lower()
        # The client speaks plain http to the "proxy", so it would not send
        # a Secure cookie back by itself: the test does.
        got = c.post("/desk/sign-in", data={"name": "ana", "password": PASSWORD,
                                            "csrf": csrf_of(page.text)},
                     headers={"Cookie": csrf_cookie.split(";")[0]})
        assert got.status_code == 303
        cookie = next(v for k, v in got.headers.multi_items()
                      if k == "set-cookie" and v.startswith("desk_session="))
        assert "secure" in cookie.lower()
        # Without the proxy's word, plain http: no Secure flag.
        plain = site.client().get("/desk/sign-in").headers["set-cookie"]
        assert "secure" not in plain.lower()
    finally:
        site.close()


def test_a_trusted_proxys_user_header(tmp_path: Path) -> None:
    site = start_site(tmp_path, environ={
        "PUBLISHER_DESK_TRUSTED_PROXY_HEADER": "X-Remote-User",
        "PUBLISHER_DESK_TRUSTED_PROXY": "127.0.0.1"})
    try:
        # On with no user at all: the proxy signs people in.
        c = site.client(headers={"X-Remote-User": "carol"})
        page = c.get("/desk/queue")
        assert page.status_code == 200 and "carol" in page.text and "(viewer)" in page.text
        assert c.get("/desk/new").status_code == 403
        site.add_user("carol", "ops")
        assert "(ops)" in c.get("/desk/queue").text
        # No header: not signed in.
        assert site.client().get("/desk/queue").status_code == 303
    finally:
        site.close()


def test_the_proxy_header_is_ignored_from_other_addresses(tmp_path: Path) -> None:
    site = start_site(tmp_path, environ={
        "PUBLISHER_DESK_TRUSTED_PROXY_HEADER": "X-Remote-User",
        "PUBLISHER_DESK_TRUSTED_PROXY": "10.1.2.3"})
    try:
        site.add_user("ana", "viewer")
        c = site.client(headers={"X-Remote-User": "ana"})
        assert c.get("/desk/queue").status_code == 303
    finally:
        site.close()


def test_the_trusted_proxy_from_the_schedules_desk_table(tmp_path: Path) -> None:
    desk_table = '[desk]\ntrusted_proxy_header = "X-Remote-User"\ntrusted_proxy = "127.0.0.1"\n'
    site = start_site(tmp_path / "toml", extra=desk_table)
    try:
        c = site.client(headers={"X-Remote-User": "carol", "X-Forwarded-Proto": "https"})
        page = c.get("/desk/queue")
        assert page.status_code == 200 and "carol" in page.text
        assert "secure" in c.get("/desk/sign-in").headers["set-cookie"].lower()
    finally:
        site.close()
    # The environment's variable, when set, overrides the table's address.
    site = start_site(tmp_path / "env", extra=desk_table,
                      environ={"PUBLISHER_DESK_TRUSTED_PROXY": "10.1.2.3"})
    try:
        site.add_user("carol", "viewer")
        c = site.client(headers={"X-Remote-User": "carol"})
        assert c.get("/desk/queue").status_code == 303
    finally:
        site.close()


# -- forms and rights -----------------------------------------------------------------

def test_every_form_needs_its_token(site: DeskSite) -> None:
    site.add_user("ana", "editor")
    post_id = _draft(site)
    c = site.client("ana")
    assert c.post(f"/desk/post/{post_id}/approve").status_code == 403
    assert c.post(f"/desk/post/{post_id}/approve", data={"csrf": "0" * 40}).status_code == 403
    token = csrf_of(c.get("/desk/queue").text)
    got = c.post(f"/desk/post/{post_id}/approve", data={"csrf": token},
                 headers={"Origin": "https://evil.example"})
    assert got.status_code == 403 and "came from another site" in got.text
    # A token is bound to its browser's cookie: another's does not do.
    other = site.client("ana")
    stolen = csrf_of(other.get("/desk/queue").text)
    assert c.post(f"/desk/post/{post_id}/approve", data={"csrf": stolen}).status_code == 403
    assert site.app.store.get_post(post_id).status is PostStatus.DRAFT


def test_a_viewer_looks_and_cannot_act(site: DeskSite) -> None:
    site.add_user("vic", "viewer")
    post_id = _draft(site)
    c = site.client("vic")
    page = c.get(f"/desk/post/{post_id}")
    assert page.status_code == 200 and 'id="approve"' not in page.text
    got = _post(c, f"/desk/post/{post_id}/approve")
    assert got.status_code == 403 and "a viewer may not approve" in got.text
    assert c.get("/desk/new").status_code == 403
    assert _post(c, "/desk/pause", {"reason": "x", "confirm": "yes"}).status_code == 403
    assert site.app.store.get_post(post_id).status is PostStatus.DRAFT


def test_an_editor_approves_a_draft(site: DeskSite) -> None:
    site.add_user("ana", "editor")
    post_id = _draft(site)
    c = site.client("ana")
    queue = c.get("/desk/queue").text
    assert f"waiting for approval (publisher queue approve {post_id})" in queue
    got = _post(c, f"/desk/post/{post_id}/approve")
    assert got.status_code == 303
    assert got.headers["location"] == f"/desk/post/{post_id}?done=approve"
    assert site.app.store.get_post(post_id).status is PostStatus.QUEUED
    assert "approved" in c.get(got.headers["location"]).text
    assert site.woken
    # The publish log names who approved it.
    [row] = site.app.store.attempts(post_id=post_id)
    assert (row.worker, row.error) == ("editor:ana", "approved by ana")
    assert "approved by ana" in c.get("/desk/log").text


def test_a_refusal_is_the_lifecycles_one_line(site: DeskSite) -> None:
    site.add_user("ana", "editor")
    post_id = _draft(site)
    desk.cancel_post(site.app, post_id)
    with pytest.raises(Exception) as cli:
        desk.cancel_post(site.app, post_id)
    c = site.client("ana")
    got = _post(c, f"/desk/post/{post_id}/cancel")
    assert got.status_code == 409
    assert str(cli.value) in got.text.replace("&#39;", "'").replace("&#34;", '"')


def test_an_editor_cancels_and_edits(site: DeskSite, clock: MovableClock) -> None:
    site.add_user("ana", "editor")
    queued = desk.add_posts(site.app, by="x", text="Queued text", channels=["wire"],
                            at="in 2 hours").posts[0].id
    c = site.client("ana")
    got = _post(c, f"/desk/post/{queued}/edit", {"text": "Edited text", "at": "tomorrow 7:30"})
    assert got.status_code == 303
    item = site.app.store.get_post(queued)
    assert item.text == "Edited text"
    local = item.not_before.astimezone(site.app.config.timezone)
    assert (local.hour, local.minute) == (7, 30)
    today = clock.now.astimezone(site.app.config.timezone).date()
    assert local.date() == today + timedelta(days=1)
    got = _post(c, f"/desk/post/{queued}/cancel")
    assert got.status_code == 303
    assert site.app.store.get_post(queued).status is PostStatus.CANCELLED
    # Each action is in the publish log with the signed-in editor's name.
    rows = [(a.worker, a.error) for a in reversed(site.app.store.attempts(post_id=queued))]
    assert rows == [("editor:ana", "edited by ana: new text, rescheduled to "
                     f"{item.not_before.astimezone(UTC):%Y-%m-%d %H:%M} UTC"),
                    ("editor:ana", "cancelled by ana")]
    page = c.get(f"/desk/post/{queued}").text
    assert "cancelled by ana" in page and "edited by ana: new text" in page


def test_new_post_with_time_and_image(site: DeskSite) -> None:
    site.add_user("ana", "editor")
    c = site.client("ana")
    page = c.get("/desk/new")
    assert page.status_code == 200
    token = csrf_of(page.text)
    # An image needs its alt text.
    got = c.post("/desk/new", data={"csrf": token, "text": "With a picture", "channel": "wire",
                                    "at": "tomorrow 7:30", "do": "queue"},
                 files={"image": ("red.png", png(), "image/png")})
    assert got.status_code == 409 and "alt text (required)" in got.text
    got = c.post("/desk/new", data={"csrf": token, "text": "With a picture", "channel": "wire",
                                    "at": "tomorrow 7:30", "alt": "A red square",
                                    "do": "queue"},
                 files={"image": ("red.png", png(120, 90), "image/png")})
    assert got.status_code == 303, got.text
    post_id = int(re.search(r"/desk/post/(\d+)", got.headers["location"]).group(1))  # type: ignore[union-attr]
    item = site.app.store.get_post(post_id)
    assert item.created_by == "editor:ana" and item.image is not None
    assert item.image.url.startswith("file:")
    assert item.image.alt == "A red square"  # the form's alt text, kept with the post
    image = c.get(f"/desk/image/{post_id}")
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert image.content.startswith(b"\x89PNG")
    page = c.get(f"/desk/post/{post_id}").text
    assert f'src="/desk/image/{post_id}"' in page
    assert 'alt="A red square"' in page and "no alt text" not in page
    # Not an image: refused with one line.
    got = c.post("/desk/new", data={"csrf": token, "text": "x", "channel": "wire", "alt": "a",
                                    "do": "queue"},
                 files={"image": ("evil.png", b"<svg onload=alert(1)>", "image/png")})
    assert got.status_code == 409 and "not a JPEG, PNG, GIF or WebP image" in got.text


def test_new_post_refuses_a_text_too_long_with_the_desks_line(site: DeskSite) -> None:
    site.add_user("ana", "editor")
    c = site.client("ana")
    got = _post(c, "/desk/new", {"text": "", "channel": "wire", "do": "queue"}, page="/desk/new")
    assert got.status_code == 409 and "give either --url or --text" in got.text


def test_live_preview_counts_per_channel(site: DeskSite) -> None:
    site.add_user("ana", "editor")
    c = site.client("ana")
    token = csrf_of(c.get("/desk/new").text)
    got = c.post("/desk/new/preview", data={"csrf": token, "text": "Hello readers",
                                            "channel": ["wire", "review"]},
                 headers={"HX-Request": "true"})
    assert got.status_code == 200
    assert "<html" not in got.text  # a fragment for htmx
    assert 'id="preview-wire"' in got.text and 'id="preview-review"' in got.text
    assert "13 / " in got.text
    full = c.post("/desk/new", data={"csrf": token, "text": "Hello readers", "channel": "wire",
                                     "do": "preview"})
    assert full.status_code == 200 and "<html" in full.text and 'id="preview-wire"' in full.text


def test_no_image_is_fetched_from_a_private_address_for_a_channel_that_forbids_it(
        site: DeskSite) -> None:
    site.add_user("ana", "editor")
    post_id = desk.add_posts(site.app, by="x", text="pic", channels=["review"],
                             image="http://127.0.0.1:9/secret.png").posts[0].id
    c = site.client("ana")
    got = c.get(f"/desk/image/{post_id}")
    assert got.status_code == 502
    assert "refusing non-public address 127.0.0.1" in got.text


# -- log, health, week, activity ------------------------------------------------------

def test_log_lists_and_filters_and_refreshes(site: DeskSite) -> None:
    site.add_user("ana", "viewer")
    post_id = _draft(site)
    site.app.store.log_event(post_id, worker="w", now=site.app.now(), outcome=Outcome.FAILED,
                             error="platform said no")
    c = site.client("ana")
    page = c.get("/desk/log")
    assert page.status_code == 200 and "platform said no" in page.text
    assert 'hx-trigger="every 3s"' in page.text and 'http-equiv="refresh"' in page.text
    part = c.get("/desk/log?outcome=failed&partial=1", headers={"HX-Request": "true"})
    assert part.status_code == 200 and "<html" not in part.text and "platform said no" in part.text
    none = c.get("/desk/log?outcome=ok")
    assert "platform said no" not in none.text
    bad = c.get("/desk/log?channel=nope")
    assert "unknown channel" in bad.text


def test_health_and_the_stop_button(site: DeskSite) -> None:
    site.add_user("ed", "editor")
    site.add_user("olga", "ops")
    editor = site.client("ed")
    page = editor.get("/desk/health")
    assert page.status_code == 200 and 'id="verdict"' in page.text
    assert 'id="pause-all"' not in page.text
    assert _post(editor, "/desk/pause", {"reason": "x", "confirm": "yes"}).status_code == 403
    ops = site.client("olga")
    got = _post(ops, "/desk/pause", {"reason": "breaking tragedy"})
    assert got.status_code == 409 and "tick the box to confirm" in got.text
    assert not any(s.paused for s in site.app.store.channel_states().values())
    got = _post(ops, "/desk/pause", {"reason": "breaking tragedy", "confirm": "yes"})
    assert got.status_code == 200 and "paused wire, review: breaking tragedy" in got.text
    states = site.app.store.channel_states()
    assert all(states[n].paused and states[n].paused_by == "olga" for n in ("wire", "review"))
    assert "unhealthy" in ops.get("/desk/health").text
    got = _post(ops, "/desk/resume", {"channel": "wire"})
    assert got.status_code == 200 and "resumed wire" in got.text
    assert not site.app.store.channel_states()["wire"].paused


def test_week_and_activity_are_drawn_server_side(site: DeskSite) -> None:
    site.add_user("ana", "viewer")
    desk.add_posts(site.app, by="x", text="Tomorrow's post", channels=["wire"],
                   at="tomorrow 9:00")
    c = site.client("ana")
    week = c.get("/desk/week")
    assert week.status_code == 200
    assert week.text.count("<svg") == 2  # one per channel
    assert "posting window" in week.text and "quiet hours" in week.text
    assert "recurring: morning" in week.text and "scheduled: post " in week.text
    activity = c.get("/desk/activity")
    assert activity.status_code == 200 and activity.text.count("<svg") == 2
    assert "<script" not in activity.text.split("</head>")[1]


def test_queue_filters(site: DeskSite) -> None:
    site.add_user("ana", "viewer")
    _draft(site, "Only on review")
    desk.add_posts(site.app, by="x", text="Only on wire", channels=["wire"], at="in 3 hours")
    c = site.client("ana")
    both = c.get("/desk/queue").text
    assert "Only on review" in both and "Only on wire" in both and "scheduled for" in both
    wire = c.get("/desk/queue?channel=wire").text
    assert "Only on review" not in wire and "Only on wire" in wire
    drafts = c.get("/desk/queue?status=draft").text
    assert "Only on review" in drafts and "Only on wire" not in drafts
    assert "unknown status" in c.get("/desk/queue?status=nonsense").text


def test_pages_carry_a_strict_content_security_policy(site: DeskSite) -> None:
    site.add_user("ana", "viewer")
    c = site.client("ana")
    for path in ("/desk/queue", "/desk/week", "/desk/log", "/desk/activity", "/desk/health",
                 "/desk/sign-in"):
        got = c.get(path)
        assert got.status_code == 200, path
        csp = got.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp, path
        assert got.headers["x-frame-options"] == "DENY"
    assert c.get("/desk/static/htmx.min.js").status_code == 200


def test_a_post_links_its_articles_posts_on_other_channels(site: DeskSite) -> None:
    from publisher.types import ArticleData, ArticleState, NewPost

    site.add_user("ana", "viewer")
    store, now = site.app.store, site.app.now()
    [article] = store.add_articles(None, [ArticleData("g", "https://n.example/a", "A story")],
                                   state=ArticleState.PLANNED, now=now)
    wire, review = store.add_posts([NewPost("wire", "On the wire"),
                                    NewPost("review", "On review")],
                                   article_id=article.id, now=now)
    page = site.client("ana").get(f"/desk/post/{wire}").text
    assert f'href="/desk/post/{review}"' in page and "review</bdi>: post" in page
    assert f'href="/desk/post/{wire}"' not in page.split('id="siblings"')[1].split("</section>")[0]


def test_expired_sessions_are_forgotten_at_the_next_sign_in(
        site: DeskSite, clock: MovableClock) -> None:
    site.add_user("ana", "viewer")
    site.client("ana")
    clock.move(timedelta(days=8))
    site.client("ana")
    from sqlalchemy import func, select

    from publisher.store.schema import desk_sessions

    with site.app.store._read() as conn:  # type: ignore[attr-defined]
        assert conn.execute(select(func.count()).select_from(desk_sessions)).scalar() == 1


def test_bad_and_unknown_post_ids_are_one_line(site: DeskSite) -> None:
    site.add_user("ana", "editor")
    c = site.client("ana")
    got = c.get("/desk/post/999")
    assert got.status_code == 404 and "999" in got.text
    # A 5,000-digit id is one line, not a traceback (int() refuses > 4300 digits).
    got = c.get("/desk/post/" + "9" * 5000)
    assert got.status_code == 404 and "no post with id" in got.text
    got = c.get("/desk/post/abc")
    assert got.status_code == 404 and "no post with id" in got.text
    assert _post(c, "/desk/post/1/explode").status_code == 404


def test_ops_resolve_a_post_in_doubt_explicitly(site: DeskSite) -> None:
    from publisher.types import NewPost

    site.add_user("ed", "editor")
    site.add_user("olga", "ops")
    [pid] = site.app.store.add_posts([NewPost("review", "In doubt",
                                              status=PostStatus.NEEDS_REVIEW)],
                                     article_id=None, now=site.app.now())
    editor = site.client("ed")
    assert 'id="resolve-published"' not in editor.get(f"/desk/post/{pid}").text
    assert _post(editor, f"/desk/post/{pid}/resolve",
                 {"outcome": "not_published"}).status_code == 403
    ops = site.client("olga")
    page = ops.get(f"/desk/post/{pid}").text
    assert 'id="resolve-published"' in page and 'id="resolve-not-published"' in page
    # "Published" without its URL: the desk's one line, nothing changes.
    got = _post(ops, f"/desk/post/{pid}/resolve", {"outcome": "published", "published": ""})
    assert got.status_code == 409 and "give either --published URL or --not-published" in got.text
    assert site.app.store.get_post(pid).status is PostStatus.NEEDS_REVIEW
    got = _post(ops, f"/desk/post/{pid}/resolve", {"outcome": "not_published"})
    assert got.status_code == 303
    assert site.app.store.get_post(pid).status is PostStatus.QUEUED
    rows = site.app.store.attempts(post_id=pid)
    assert any(r.error == "resolved by olga: not published" for r in rows)


def test_an_editor_retracts_an_article_behind_a_confirmation(site: DeskSite) -> None:
    from publisher.types import ArticleData, ArticleState, NewPost

    site.add_user("vic", "viewer")
    site.add_user("ana", "editor")
    store, now = site.app.store, site.app.now()
    [article] = store.add_articles(None, [ArticleData("g", "https://n.example/wrong", "Wrong")],
                                   state=ArticleState.PLANNED, now=now)
    sent, unsent = store.add_posts([NewPost("wire", "Out already"),
                                    NewPost("review", "Not yet", status=PostStatus.DRAFT)],
                                   article_id=article.id, now=now)
    assert store.set_post_status(sent, PostStatus.PUBLISHED, now=now,
                                 remote_url="https://wire.example/1")
    viewer = site.client("vic")
    assert 'id="retract"' not in viewer.get(f"/desk/post/{sent}").text
    assert _post(viewer, f"/desk/post/{sent}/retract",
                 {"reason": "wrong", "confirm": "yes"}).status_code == 403
    editor = site.client("ana")
    got = _post(editor, f"/desk/post/{sent}/retract", {"reason": "wrong facts"})
    assert got.status_code == 409 and "tick the box to confirm the retraction" in got.text
    assert store.get_post(unsent).status is PostStatus.DRAFT
    got = _post(editor, f"/desk/post/{sent}/retract", {"reason": "wrong facts", "confirm": "yes"})
    assert got.status_code == 200, got.text
    assert "article retracted: " in got.text and f"post {unsent} on review: cancel" in got.text
    assert store.get_post(unsent).status is PostStatus.CANCELLED
    rows = store.attempts(post_id=unsent)
    assert any("retracted by ana" in (r.error or "") for r in rows)
