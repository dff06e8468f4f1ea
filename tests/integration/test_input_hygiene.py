"""Input hygiene (issue 12, part 7): control characters and bidirectional
overrides leave editor text, reasons and names (newlines kept) and feed text;
``--by`` and ``--reason`` are bounded; ``--image`` is a real image every
channel can send; an unchanged poll is a DEBUG line; "no schedules" names the
folder."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
from PIL import Image as PILImage

from publisher.app import make_app
from publisher.config import Settings
from publisher.services.desk_input import MAX_NAME, MAX_REASON
from tests.fakes.feed_server import FeedServer
from tests.fakes.feeds import item, rss
from tests.integration import test_desk_cli as desk_cli
from tests.shipped import TEMPLATES as SHIPPED_TEMPLATES

site = desk_cli.site  # the configured site on the test's store (SQLite and PostgreSQL)

RLO, PDF, LRI, PDI = "\u202e", "\u202c", "\u2066", "\u2069"


# -- editor text, reasons, names ---------------------------------------------------------


def test_queued_text_loses_controls_and_overrides_but_keeps_newlines(site):
    text = f"Road closed\x07 on Main St\r\n{RLO}gnp.exe{PDF}\x1b[31m red\x00\tend"
    site.ok("queue", "add", "--text", text, "-c", "archive", "--by", f"ali{RLO}ce\x1b\n")
    [post] = site.store.list_posts()
    assert post.text == "Road closed on Main St\ngnp.exe[31m red end"
    assert post.created_by == "editor:alice"


def test_an_edited_text_is_cleaned_too(site):
    post_id = site.post("archive", "Hello")
    site.ok("queue", "edit", str(post_id), "--text", f"Fixed{LRI} text\u0085{PDI}\nline 2")
    assert site.store.get_post(post_id).text == "Fixed text\nline 2"


def test_a_pause_reason_is_one_clean_line(site):
    out = site.ok("pause", "-c", "archive", "--reason", f"legal\x1b[2J {RLO}hold\nit",
                  "--by", "ops\x07")
    state = site.store.channel_states()["archive"]
    assert state.paused_reason == "legal[2J hold it" and state.paused_by == "ops"
    assert "\x1b" not in out.stdout and RLO not in out.stdout


def test_by_and_reason_are_bounded_and_say_the_bound(site):
    line = site.bad("queue", "add", "--text", "t", "-c", "archive", "--by", "a" * (MAX_NAME + 1))
    assert line == f"error: --by: at most {MAX_NAME} characters ({MAX_NAME + 1} given)"
    line = site.bad("pause", "-c", "archive", "--reason", "r" * (MAX_REASON + 1))
    assert line == f"error: --reason: at most {MAX_REASON} characters ({MAX_REASON + 1} given)"
    # At the bound, accepted.
    site.ok("queue", "add", "--text", "t", "-c", "archive", "--by", "a" * MAX_NAME)
    site.ok("pause", "-c", "archive", "--reason", "r" * MAX_REASON)


@pytest.mark.parametrize("when", ["9999-12-31 23:00", "9999-12-31T23:00-05:00",
                                  "December 31 9999 11pm", "0001-01-01T00:00+05:00"])
def test_times_past_year_9999_are_one_line(site, when):
    line = site.bad("queue", "add", "--text", "t", "-c", "archive", "--at", when)
    assert "is out of range: times run from year 1 to year 9999" in line
    line = site.bad("queue", "list", "--since", when)
    assert "is out of range" in line


@pytest.mark.parametrize("args", [
    ("queue", "show", "9" * 5000),
    ("queue", "cancel", "9" * 5000),
    ("queue", "list", "--limit", "9" * 5000),
    ("queue", "list", "--limit", "9" * 40),
    ("log", "--limit", "9" * 5000),
    ("status", "--failing-last", "9" * 5000),
    ("queue", "add", "--text", "t", "-c", "archive", "--at", "in 999999 weeks"),
    ("queue", "list", "--since", "999999999999d"),
])
def test_overflows_are_one_line_and_exit_2(site, args):
    result = site.run(*args)
    assert result.exit_code == 2, (args, result.stdout, result.stderr)
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stdout + result.stderr


# -- --image -------------------------------------------------------------------------------


def _image(path: Path, size: tuple[int, int], fmt: str = "PNG", mode: str = "RGB") -> Path:
    PILImage.new(mode, size).save(path, fmt)
    return path


def test_a_real_image_is_queued(site, tmp_path):
    for name, fmt in (("a.png", "PNG"), ("b.jpg", "JPEG"), ("c.webp", "WEBP"),
                      ("d.gif", "GIF")):
        picture = _image(tmp_path / name, (300, 200), fmt)
        site.ok("queue", "add", "--text", f"with {name}", "-c", "archive", "--image",
                str(picture))
    assert len(site.store.list_posts()) == 4


def test_an_image_that_is_not_one_is_refused_saying_why(site, tmp_path):
    text = tmp_path / "notes.jpg"
    text.write_text("not an image")
    assert "not an image publisher can send (JPEG, PNG, GIF or WebP)" in site.bad(
        "queue", "add", "--text", "t", "-c", "archive", "--image", str(text))

    damaged = tmp_path / "cut.png"
    data = _image(tmp_path / "whole.png", (300, 300)).read_bytes()
    damaged.write_bytes(data[: len(data) // 2])
    assert "a damaged image" in site.bad(
        "queue", "add", "--text", "t", "-c", "archive", "--image", str(damaged))

    tiny = _image(tmp_path / "tiny.png", (40, 300))
    assert "40x300 is too small (at least 64 pixels a side)" in site.bad(
        "queue", "add", "--text", "t", "-c", "archive", "--image", str(tiny))

    huge = _image(tmp_path / "huge.png", (8000, 8000), mode="1")  # 64 megapixels, small file
    assert "8000x8000 is over 50 megapixels" in site.bad(
        "queue", "add", "--text", "t", "-c", "archive", "--image", str(huge))

    bmp = _image(tmp_path / "scan.bmp", (300, 300), "BMP")
    assert "not an image publisher can send" in site.bad(
        "queue", "add", "--text", "t", "-c", "archive", "--image", str(bmp))

    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    assert "not an http(s) URL nor a readable file" in site.bad(
        "queue", "add", "--text", "t", "-c", "archive", "--image", str(fifo))
    assert site.store.list_posts() == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_image_is_refused(site, tmp_path):
    picture = _image(tmp_path / "secret.png", (300, 300))
    picture.chmod(0)
    assert "readable" in site.bad("queue", "add", "--text", "t", "-c", "archive", "--image",
                                  str(picture))


# -- feed text, polls, schedules --------------------------------------------------------


@pytest.fixture
def srv():
    with FeedServer() as server:
        yield server


def test_feed_text_loses_overrides_and_an_unchanged_poll_is_debug(sqlite_store, srv, tmp_path,
                                                                   caplog):
    story = item(1, title=f"Mayor {RLO}sngiser{PDF} today")
    story["summary"] = f"<p>Budget{LRI} vote &#x202E;tonight\x07{PDI}.</p>"
    srv.set("/main/", rss([story]))
    (tmp_path / "schedules").mkdir()
    (tmp_path / "schedules" / "site.toml").write_text(f"""
[[feeds]]
name = "main"
url = "{srv.url('/main/')}"
backfill = 1

[channels.wire]
type = "jsonl"

[[routes]]
channels = ["wire"]
""")
    app = make_app(Settings(schedules=tmp_path / "schedules", templates=SHIPPED_TEMPLATES,
                            env_file=tmp_path / ".env"), store=sqlite_store, environ={})
    try:
        app.sync()
        with caplog.at_level(logging.DEBUG, logger="publisher.ingest"):
            first = app.poll("main")
            second = app.poll("main")
        assert first.seen + first.new == 1 and second.status == "not_modified"
        [article] = sqlite_store.pending_articles() or [
            sqlite_store.find_article(story["link"])]
        assert article is not None
        assert article.data.title == "Mayor sngiser today"
        assert article.data.summary == "Budget vote tonight ."
        polls = [r for r in caplog.records if r.name == "publisher.ingest"
                 and "status=" in r.getMessage()]
        assert [r.levelno for r in polls] == [logging.INFO, logging.DEBUG]
    finally:
        app.close()


def test_no_schedules_names_the_folder_it_looked_in(site, tmp_path):
    empty = tmp_path / "nothing-here"
    empty.mkdir()
    result = site.run("--schedules", str(empty), "queue", "list")
    assert result.exit_code == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"no schedules (*.toml) found in the folder {empty.resolve()}")
    assert "--schedules" in line and "PUBLISHER_SCHEDULES" in line
