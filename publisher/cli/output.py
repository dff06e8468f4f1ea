"""How the desk prints: Rich tables for people, JSON for scripts.

JSON carries every datetime as ISO 8601 in UTC and every enum as its value;
people get the site's local time.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from datetime import datetime, tzinfo
from enum import Enum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

#: Options shared by every listing.
JSON_HELP = "Print JSON (times in UTC, ISO 8601) instead of a table."


def console() -> Console:
    """stdout; tables keep their width even in a pipe.  What it prints is
    taken literally (no markup, emoji codes or syntax guessing): post texts,
    headlines and platform errors are data, and ``[/]`` or ``:fire:`` in one
    must show as written.  A line with markup of ours says ``markup=True``
    and escapes the data in it (``rich.markup.escape``).  Rich is imported
    here, by the commands that print: ``run`` and ``--help`` never load it."""
    from rich.console import Console

    return Console(highlight=False, markup=False, emoji=False,
                   width=None if sys.stdout.isatty() else 160)


def escape(text: str) -> str:
    """``rich.markup.escape``, imported when a command prints markup."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)


def jsonable(value: Any) -> Any:
    """Dataclasses, enums and datetimes as plain JSON values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(jsonable(k)): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    return value


def print_json(value: Any, *, lines: bool = False) -> None:
    """One JSON document (or, ``lines``, one compact object per line, flushed)."""
    if lines:
        print(json.dumps(jsonable(value), ensure_ascii=False), flush=True)
    else:
        print(json.dumps(jsonable(value), ensure_ascii=False, indent=2))


def when(value: datetime | None, tz: tzinfo, *, seconds: bool = False) -> str:
    """A time as the site's wall clock: ``Thu 26 Nov 14:00`` (``-`` for none)."""
    if value is None:
        return "-"
    return value.astimezone(tz).strftime("%a %d %b %H:%M:%S" if seconds else "%a %d %b %H:%M")


def first_line(text: str, width: int = 50) -> str:
    """The start of a post's text on one line."""
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 1] + "…"


def ago(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.0f} s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min ago"
    if seconds < 172800:
        return f"{seconds / 3600:.0f} h ago"
    return f"{seconds / 86400:.0f} days ago"
