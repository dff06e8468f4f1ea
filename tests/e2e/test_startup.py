"""``publisher --help`` and ``publisher queue list`` start fast because of
what they do not import: no SQLAlchemy, no pydantic (the configuration comes
from ``load_config``'s cache while the schedules are unchanged), no HTTP
client, template engine, scheduler or platform SDK.  Each command runs as
its own process on SQLite and PostgreSQL; the modules it loaded are checked
here, its time is measured by ``bench/startup.py``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from publisher.store import Store
from publisher.types import NewPost
from tests.shipped import EXAMPLE

ROOT = Path(__file__).resolve().parents[2]
#: Top-level modules that decide start-up time (each costs 0.05-0.5 s to import).
HEAVY = frozenset({"sqlalchemy", "alembic", "pydantic", "pydantic_settings", "pydantic_core",
                   "httpx", "requests", "jinja2", "feedparser", "apscheduler", "tweepy",
                   "facebook", "mastodon", "atproto", "PIL", "dateparser"})
#: Runs the CLI, then writes the names of the modules it loaded to $MODULES_OUT.
RUN = """
import atexit, json, os, sys
atexit.register(lambda: open(os.environ["MODULES_OUT"], "w").write(
    json.dumps(sorted({m.split(".")[0] for m in sys.modules}))))
from publisher.cli import main
sys.argv = ["publisher", *sys.argv[1:]]
main()
"""


Ran = tuple[subprocess.CompletedProcess[str], set[str]]


def loaded(tmp: Path, url: str, *args: str, schedules: Path = EXAMPLE / "schedules") -> Ran:
    out = tmp / "modules.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PUBLISHER_", "DATABASE_"))}
    env.update(DATABASE_URL=url, PUBLISHER_SCHEDULES=str(schedules), PYTHONPATH=str(ROOT),
               MODULES_OUT=str(out), PUBLISHER_CACHE_DIR=str(tmp / "cache"))
    done = subprocess.run([sys.executable, "-c", RUN, *args], cwd=tmp, env=env,
                          capture_output=True, text=True, timeout=60)
    return done, set(json.loads(out.read_text()))


def test_help_imports_nothing_heavy(tmp_path):
    done, modules = loaded(tmp_path, "sqlite:///nowhere.db", "--help")
    assert done.returncode == 0 and "queue" in done.stdout
    assert not modules & HEAVY, sorted(modules & HEAVY)


def test_queue_list_imports_nothing_heavy(store: Store, tmp_path):
    store.add_posts([NewPost(channel="console", text="Bridge reopens")], article_id=None,
                    now=datetime.now(UTC))
    loaded(tmp_path, store.url, "queue", "list")  # compiles the configuration's cache
    for args in (["queue", "list"], ["queue", "list", "--json", "--status", "queued"]):
        done, modules = loaded(tmp_path, store.url, *args)
        assert done.returncode == 0, done.stderr
        assert "Bridge reopens" in done.stdout
        assert not modules & HEAVY, sorted(modules & HEAVY)
        assert ("psycopg" in modules) == (store.dialect == "postgresql")


@pytest.mark.parametrize("args", [["queue", "show", "1"], ["status"]])
def test_other_commands_build_the_store(store: Store, tmp_path, args):
    """The check above is not vacuous: commands that use the store import
    SQLAlchemy."""
    store.add_posts([NewPost(channel="console", text="Bridge reopens")], article_id=None,
                    now=datetime.now(UTC))
    done, modules = loaded(tmp_path, store.url, *args)
    assert done.returncode in (0, 1), done.stderr
    assert "sqlalchemy" in modules


def test_a_changed_schedule_is_validated_again(sqlite_store: Store, tmp_path):
    """The cache holds ``load_config``'s output for the files' content: the
    first run validates (pydantic), an unchanged one does not, an edited
    schedule is validated again and a broken one is reported, not served
    from the cache."""
    schedules = tmp_path / "schedules"
    schedules.mkdir()
    site = schedules / "site.toml"
    site.write_text((EXAMPLE / "schedules" / "site.toml").read_text())

    def run() -> Ran:
        return loaded(tmp_path, sqlite_store.url, "queue", "list", "-c", "console",
                      schedules=schedules)

    assert "pydantic" in run()[1]
    assert "pydantic" not in run()[1]
    site.write_text(site.read_text().replace("[channels.console]", "[channels.konsole]"))
    done, modules = run()
    assert "pydantic" in modules and done.returncode == 2
    assert 'unknown channel "console"' in done.stderr
    site.write_text(site.read_text() + "\n[oops\n")
    done, modules = run()
    assert done.returncode == 2 and "invalid TOML" in done.stderr


def test_a_recheck_with_nothing_new_loads_no_feed_parser(tmp_path):
    """``run --once`` with nothing new (the feed unchanged) never parses, so
    it never imports feedparser; an existing database is never migrated, so
    Alembic stays out too, and it prints no table, so neither does Rich.  The
    first run, with new articles, needs both feedparser and the store (the
    check is not vacuous)."""
    url = f"sqlite:///{tmp_path / 'publisher.db'}"
    done, first = loaded(tmp_path, url, "run", "--once")
    assert done.returncode == 0, done.stderr
    assert {"feedparser", "sqlalchemy"} <= first
    done, again = loaded(tmp_path, url, "run", "--once")
    assert done.returncode == 0, done.stderr
    unused = {"feedparser", "alembic", "rich"}  # rich: only commands that print tables
    assert not again & unused, sorted(again & unused)
