"""The TLD lists of ``tlds.txt`` beside this module (twitter-text's), which
both X's and Mastodon's URL detection end a domain on."""

from __future__ import annotations

from importlib import resources

__all__ = ["read_tlds"]


def read_tlds() -> dict[str, list[str]]:
    """The lists of ``tlds.txt`` by section name (``[generic]``, ``[country]``, ...)."""
    text = resources.files(__package__).joinpath("tlds.txt").read_text(encoding="utf-8")
    lists: dict[str, list[str]] = {}
    current: list[str] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = lists.setdefault(line[1:-1], [])
        elif current is not None:
            current.append(line)
    return lists
