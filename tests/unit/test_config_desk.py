"""The schedules' ``[desk]`` table: the trusted proxy in front of the web desk."""

from __future__ import annotations

import pytest

from publisher.config import DeskConfig, load_config
from publisher.exceptions import ConfigError
from publisher.web.desk.auth import DeskSettings

BASE = """
[channels.wire]
type = "jsonl"
options = { path = "wire.jsonl" }
"""


def test_the_desk_table_is_read_and_optional(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.toml").write_text(BASE)
    assert load_config(tmp_path).desk == DeskConfig()
    (tmp_path / "b.toml").write_text('[desk]\ntrusted_proxy_header = "X-Remote-User"\n'
                                     'trusted_proxy = ["127.0.0.1", "::1"]\n')
    desk = load_config(tmp_path).desk
    assert desk == DeskConfig("X-Remote-User", ("127.0.0.1", "::1"))
    (tmp_path / "b.toml").write_text('[desk]\ntrusted_proxy = "10.0.0.2"\n')
    assert load_config(tmp_path).desk.trusted_proxy == ("10.0.0.2",)


@pytest.mark.parametrize(("table", "problem"), [
    ('trusted_proxy = "proxy.local"',
     'b.toml: desk.trusted_proxy: not an IP address: "proxy.local" (the proxy\'s, like '
     '"127.0.0.1")'),
    ('trusted_proxy_header = "X Remote: User"',
     'b.toml: desk.trusted_proxy_header: not an HTTP header name: "X Remote: User" (like '
     '"X-Remote-User")'),
    ('trusted_proxy_hedaer = "X-Remote-User"', "b.toml: desk.trusted_proxy_hedaer: unknown key"),
])
def test_a_bad_desk_table_names_file_and_key(tmp_path, monkeypatch, table, problem):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.toml").write_text(BASE)
    (tmp_path / "b.toml").write_text(f"[desk]\n{table}\n")
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    assert [p for p in info.value.problems if p.startswith("b.toml")] == [problem], (
        info.value.problems)


def test_one_desk_table(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.toml").write_text(BASE + '[desk]\ntrusted_proxy = "127.0.0.1"\n')
    (tmp_path / "b.toml").write_text('[desk]\ntrusted_proxy = "127.0.0.2"\n')
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    assert info.value.problems == ["b.toml: desk: already declared in a.toml"]


def test_the_environment_overrides_the_table() -> None:
    desk = DeskConfig("X-Remote-User", ("127.0.0.1",))
    assert DeskSettings.from_environ({}, desk) == DeskSettings(
        "x-remote-user", frozenset({"127.0.0.1"}))
    assert DeskSettings.from_environ({"PUBLISHER_DESK_TRUSTED_PROXY": "10.0.0.1, 10.0.0.2",
                                      "PUBLISHER_DESK_TRUSTED_PROXY_HEADER": "X-User"},
                                     desk) == DeskSettings(
        "x-user", frozenset({"10.0.0.1", "10.0.0.2"}))
    # Set but empty: the table's values stand.
    assert DeskSettings.from_environ({"PUBLISHER_DESK_TRUSTED_PROXY": ""}, desk).proxies == (
        frozenset({"127.0.0.1"}))
