"""The quick reader of ``queue list`` says what ``Settings`` and
``load_config`` say, or nothing (and the full path then names the problem)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from publisher.config import Settings, load_config
from publisher.exceptions import ConfigError
from publisher.quickconfig import quick_schedules, quick_settings

ROOT = Path(__file__).resolve().parents[2]

SITE = """
[site]
name = "Ledger"
timezone = "Europe/Paris"

[[feeds]]
name = "site"
url = "https://news.example/feed/"

[channels.x]
type = "x"
credentials = { api_key = "X_API_KEY" }

[channels.social-2]
type = "console"

[[routes]]
feed = "site"
channels = ["x", "social-2"]
"""

MORE = """
[channels.archive]
type = "jsonl"
options = { path = "/tmp/archive.jsonl" }
"""


@pytest.fixture
def clean_env(tmp_path, monkeypatch) -> Path:
    """An empty working directory and no publisher variables in the environment."""
    for key in list(os.environ):
        if key.lower() in ("database_url", "publisher_schedules"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("env, dotenv, option", [
    ({}, "", None),
    ({"DATABASE_URL": "sqlite:///env.db"}, "", None),
    ({}, "DATABASE_URL=sqlite:///dotenv.db\nPUBLISHER_SCHEDULES=conf\n", None),
    ({"DATABASE_URL": "sqlite:///env.db"}, "DATABASE_URL=sqlite:///dotenv.db\n", None),
    ({"PUBLISHER_SCHEDULES": "from-env"}, "PUBLISHER_SCHEDULES=from-dotenv\n", None),
    ({"PUBLISHER_SCHEDULES": "from-env"}, "", Path("from-option")),
    ({"database_url": "sqlite:///lower.db"}, "", None),
    ({}, "publisher_schedules=lower\ndatabase_url='postgresql://u@h/db'\n", None),
    ({}, "# a comment\nexport DATABASE_URL=\"sqlite:///quoted.db\"  # trailing\n", None),
    ({"HOME_DB": "/srv/x.db"}, "DATABASE_URL=sqlite:///${HOME_DB}\n", None),
])
def test_quick_settings_agree_with_settings(clean_env, monkeypatch, env, dotenv, option):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    if dotenv:
        (clean_env / ".env").write_text(dotenv)
    full = Settings(**({"schedules": option} if option else {}))
    quick = quick_settings(schedules=option)
    assert quick is not None
    assert (quick.database_url, quick.schedules) == (full.database_url, full.schedules)


@pytest.mark.parametrize("dotenv", ["DATABASE_URL=\n", "PUBLISHER_SCHEDULES=\n"])
def test_an_empty_value_is_left_to_settings(clean_env, dotenv):
    (clean_env / ".env").write_text(dotenv)
    assert quick_settings() is None


def _agree(schedules: Path) -> None:
    config = load_config(schedules)
    quick = quick_schedules(schedules)
    assert quick is not None
    assert quick.timezone == config.timezone
    assert quick.channels == tuple(config.channels)


def test_the_bundled_example_agrees():
    _agree(ROOT / "schedules")


def test_several_files_agree(tmp_path):
    (tmp_path / "a-site.toml").write_text(SITE)
    (tmp_path / "b-more.toml").write_text(MORE)
    _agree(tmp_path)
    _agree(tmp_path / "a-site.toml")


def test_site_in_a_later_file_and_no_site(tmp_path):
    (tmp_path / "a.toml").write_text(MORE)
    (tmp_path / "b.toml").write_text(SITE)
    _agree(tmp_path)
    (tmp_path / "b.toml").unlink()
    _agree(tmp_path)  # no [site]: UTC
    (tmp_path / "a.toml").write_text('[site]\nname = "x"\n' + MORE)
    _agree(tmp_path)  # [site] without a time zone: UTC


@pytest.mark.parametrize("files", [
    {"site.toml": SITE.replace('"Europe/Paris"', '"Mars/Olympus"')},
    {"site.toml": SITE.replace('"Europe/Paris"', '""')},
    {"site.toml": SITE.replace('"Europe/Paris"', "5")},
    {"site.toml": SITE.replace("[channels.x]", "[channels.X]")},
    {"site.toml": SITE + "\n[[channels]]\nname = 'y'\n"},
    {"site.toml": SITE + "\n[channels]\nz = 'console'\n"},
    {"site.toml": SITE.replace("[site]", "site = 1\n[oops]")},
    {"site.toml": SITE + "\n[channels.x]\ntype = 'console'\n"},
    {"site.toml": SITE.replace("[site]", "[site"), },
    {"a.toml": SITE, "b.toml": '[site]\nname = "again"\n'},
    {"a.toml": SITE, "b.toml": MORE.replace("archive", "x")},
    {"a.toml": SITE, "b.toml": "\xff\xfe not utf-8"},
    {},
])
def test_what_it_cannot_vouch_for_is_left_to_load_config(tmp_path, files):
    for name, text in files.items():
        (tmp_path / name).write_bytes(text.encode("latin-1") if "\xff" in text
                                      else text.encode())
    assert quick_schedules(tmp_path) is None
    with pytest.raises(ConfigError):
        load_config(tmp_path)


def test_a_missing_path_is_left_to_load_config(tmp_path):
    assert quick_schedules(tmp_path / "nowhere.toml") is None
    assert quick_schedules(tmp_path / "nowhere") is None
    with pytest.raises(ConfigError):
        load_config(tmp_path / "nowhere")
