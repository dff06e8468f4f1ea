from __future__ import annotations

from pathlib import Path

import pytest

from publisher.config import Settings, load_config, parse_duration
from publisher.exceptions import ConfigError

GOOD = """
[site]
name = "Ledger"
timezone = "Europe/Paris"

[[feeds]]
name = "site"
url = "https://news.example/feed/"
poll_interval = "2m"

[channels.x]
type = "x"
credentials = { api_key = "X_API_KEY" }
max_age = "6h"

[[routes]]
feed = "site"
categories = ["Politics"]
channels = ["x"]
"""


def write(tmp_path: Path, text: str, name: str = "site.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return tmp_path


def problems(tmp_path: Path, text: str, **kw) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text), **kw)
    return info.value.problems


def test_good_config(tmp_path):
    config = load_config(write(tmp_path, GOOD))
    assert config.timezone.key == "Europe/Paris"
    assert config.feeds[0].poll_interval == 120
    assert config.channels["x"].max_age == 6 * 3600
    assert config.channels_for("site", ["politics"], []) == {"x": None}
    assert config.channels_for("site", ["Sports"], []) == {}


def test_each_problem_names_file_and_key(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    bad = GOOD.replace('channels = ["x"]', 'channels = ["x", "fb"]').replace(
        'feed = "site"', 'feed = "nope"'
    )
    assert problems(tmp_path, bad) == [
        'site.toml: routes[0].feed: unknown feed "nope"',
        'site.toml: routes[0].channels[1]: unknown channel "fb"',
    ]


def test_structural_problems(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    bad = (
        GOOD.replace('"Europe/Paris"', '"Mars/Olympus"')
        .replace('"2m"', '"soon"')
        .replace('max_age = "6h"', 'max_age = "6h"\ncolour = "blue"')
    )
    found = problems(tmp_path, bad)
    assert 'site.toml: site.timezone: unknown time zone "Mars/Olympus"' in found[0]
    assert any(p.startswith("site.toml: feeds[0].poll_interval: not a duration") for p in found)
    assert "site.toml: channels.x.colour: unknown key" in found


def test_invalid_toml_is_one_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    [line] = problems(tmp_path, "[[feeds]\nname=")
    assert line.startswith("site.toml: invalid TOML:")


def test_secrets_are_named_not_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    bad = GOOD.replace('"X_API_KEY"', '"sk-live 123:abc"')
    [line] = problems(tmp_path, bad)
    assert line.startswith("site.toml: channels.x.credentials: api_key: must name an environment")
    assert "sk-live" not in line


def test_missing_environment_variable(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    found = problems(tmp_path, GOOD, environ={})
    assert found == [
        "site.toml: channels.x.credentials.api_key: environment variable X_API_KEY is not set"
    ]
    assert load_config(tmp_path, environ={"X_API_KEY": "k"}).channels["x"]


def test_several_files_merge(tmp_path):
    write(tmp_path, GOOD)
    write(
        tmp_path,
        '[[feeds]]\nname = "wp"\nurl = "https://wp.example"\nkind = "wordpress"\n',
        "more.toml",
    )
    config = load_config(tmp_path)
    assert [f.name for f in config.feeds] == ["wp", "site"]


def test_relative_feed_path_is_resolved_against_the_file(tmp_path):
    config = load_config(
        write(tmp_path, GOOD.replace("https://news.example/feed/", "../feeds/site.xml"))
    )
    assert config.feeds[0].url == (tmp_path.parent / "feeds/site.xml").resolve().as_uri()


@pytest.mark.parametrize(
    ("text", "seconds"),
    [(90, 90), ("90s", 90), ("15m", 900), ("24h", 86400), ("2d", 172800), ("1.5h", 5400)],
)
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["soon", "-5", "1w", True])
def test_bad_durations(text):
    with pytest.raises(ValueError):
        parse_duration(text)


# -- Settings: the environment and .env ----------------------------------------------


@pytest.mark.parametrize("env, dotenv, given, url, schedules", [
    ({}, "", {}, "sqlite:///var/publisher.db", Path("schedules")),
    ({"DATABASE_URL": "sqlite:///env.db"}, "", {}, "sqlite:///env.db", Path("schedules")),
    ({}, "DATABASE_URL=sqlite:///dotenv.db\nPUBLISHER_SCHEDULES=conf\n", {},
     "sqlite:///dotenv.db", Path("conf")),
    ({"DATABASE_URL": "sqlite:///env.db"}, "DATABASE_URL=sqlite:///dotenv.db\n", {},
     "sqlite:///env.db", Path("schedules")),
    ({"PUBLISHER_SCHEDULES": "from-env"}, "", {"schedules": Path("given")},
     "sqlite:///var/publisher.db", Path("given")),
    ({"database_url": "sqlite:///lower.db"}, "", {}, "sqlite:///lower.db", Path("schedules")),
    ({}, "publisher_schedules=lower\ndatabase_url='postgresql://u@h/db'\n", {},
     "postgresql://u@h/db", Path("lower")),
    ({"HOME_DB": "/srv/x.db"}, "DATABASE_URL=sqlite:///${HOME_DB}\n", {},
     "sqlite:////srv/x.db", Path("schedules")),
])
def test_settings_resolution(tmp_path, monkeypatch, env, dotenv, given, url, schedules):
    """Given values win over the environment, which wins over .env, which wins
    over the default; names are not case-sensitive; .env is interpolated."""
    monkeypatch.chdir(tmp_path)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    if dotenv:
        (tmp_path / ".env").write_text(dotenv)
    settings = Settings(**given)
    assert (settings.database_url, settings.schedules) == (url, schedules)


def test_settings_numbers_are_checked_and_the_url_is_not_shown(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PUBLISHER_WORKERS", "lots")
    (tmp_path / ".env").write_text("PUBLISHER_LEASE_SECONDS=1\n")
    with pytest.raises(ConfigError) as info:
        Settings()
    assert info.value.problems == [
        ".env: PUBLISHER_LEASE_SECONDS: must be at least 5, not '1'",
        "environment variable PUBLISHER_WORKERS: not an integer: 'lots'"]
    monkeypatch.delenv("PUBLISHER_WORKERS")
    (tmp_path / ".env").unlink()
    settings = Settings(database_url="postgresql://ana:s3cret@db/news", workers="8")
    assert settings.workers == 8 and settings.lease_seconds == 300.0
    assert "s3cret" not in repr(settings)


# -- load_config's cache ----------------------------------------------------------------


def test_the_cache_serves_only_unchanged_files(tmp_path, monkeypatch):
    import publisher.config._model as model

    monkeypatch.setenv("PUBLISHER_CACHE_DIR", str(tmp_path / "cache"))
    compiled: list[Path] = []
    real = model.compile_schedules

    def spy(schedules, files, **kw):
        compiled.append(schedules)
        return real(schedules, files, **kw)

    monkeypatch.setattr(model, "compile_schedules", spy)
    folder = write(tmp_path, GOOD)
    first = load_config(folder)
    assert load_config(folder) == first and len(compiled) == 1
    (folder / "site.toml").write_text(GOOD.replace('"2m"', '"3m"'))
    assert load_config(folder).feeds[0].poll_interval == 180 and len(compiled) == 2
    # Credentials are checked against the environment on every load, cached or not.
    with pytest.raises(ConfigError, match="X_API_KEY is not set"):
        load_config(folder, environ={})
    assert len(compiled) == 2
    # A cache file someone else could have written is not read.
    [cached] = (tmp_path / "cache").iterdir()
    cached.chmod(0o666)
    load_config(folder)
    assert len(compiled) == 3
    (folder / "site.toml").write_text("[site\n")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_config(folder)


def test_no_cache_when_the_folder_is_set_empty(tmp_path, monkeypatch):
    monkeypatch.setenv("PUBLISHER_CACHE_DIR", "")
    folder = write(tmp_path, GOOD)
    assert load_config(folder) == load_config(folder)
    assert not list(tmp_path.glob("**/*.pickle"))


def test_fields_the_loader_sets_are_not_keys(tmp_path, monkeypatch):
    """A channel's name is its table's name and every table's source is where
    it was read: a file that sets them has unknown keys."""
    monkeypatch.chdir(tmp_path)
    bad = GOOD.replace('type = "x"', 'type = "x"\nname = "y"').replace(
        'poll_interval = "2m"', 'poll_interval = "2m"\nsource = "elsewhere"')
    assert problems(tmp_path, bad) == ["site.toml: feeds[0].source: unknown key",
                                       "site.toml: channels.x.name: unknown key"]


def test_each_table_is_checked_by_its_dataclass(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    bad = GOOD.replace('max_age = "6h"', 'max_age = "6h"\nconcurrency = 0\n'
                       'retry = { max_attempts = 101, base = "later" }\n'
                       'timing = { windows = ["9-5"], order = "random" }') + (
        '\n[[recurring]]\nname = "weekly"\ncron = "0 9 * *"\nchannels = ["x"]\n')
    found = problems(tmp_path, bad)
    assert "site.toml: channels.x.concurrency: must be at least 1" in found
    assert "site.toml: channels.x.retry.max_attempts: must be at most 100" in found
    assert any(p.startswith("site.toml: channels.x.retry.base: not a duration") for p in found)
    assert 'site.toml: channels.x.timing.windows: not a time span: "9-5" (use "HH:MM-HH:MM")' in (
        found)
    assert any(p.startswith("site.toml: channels.x.timing.order: ") for p in found)
    assert ('site.toml: recurring[0].cron: not a cron expression: "0 9 * *" '
            '(five fields, like "0 9 * * mon")') in found
    fixed = bad.replace('"0 9 * *"', '"0 9 * * mon"')
    found = problems(tmp_path, fixed)
    assert "site.toml: recurring[0]: give either text or urls (a rotation of article URLs)" in (
        found)
