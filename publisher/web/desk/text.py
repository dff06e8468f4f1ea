"""Untrusted text on the desk's pages: feeds, platforms and editors write it."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

__all__ = ["CONTROLS", "clean", "field_value", "http_href"]

CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def clean(value: object) -> str:
    """Untrusted text for display: control characters and bidirectional
    overrides shown as a visible mark instead of acting on the page."""
    return CONTROLS.sub(lambda m: f"\u27e8U+{ord(m.group()):04X}\u27e9", str(value))


def field_value(value: object) -> str:
    """Text put back into a form field: control characters and bidirectional
    overrides removed (the desk's input hygiene drops them on the way in too)."""
    return CONTROLS.sub("", str(value))


def http_href(value: str | None) -> str | None:
    """A link target only when it is http(s) (a ``javascript:`` URL is shown
    as text, never linked)."""
    if not value:
        return None
    v = value.strip()
    try:
        scheme = urlsplit(v).scheme.lower()
    except ValueError:
        return None
    return v if scheme in ("http", "https") and not CONTROLS.search(v) else None
