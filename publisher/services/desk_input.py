"""What editors type, read; and the queue listing built on it.

This module imports nothing heavier than the standard library and
``dateparser`` (only when a time is given in words), so ``publisher queue
list`` (the cached configuration and ``publisher.store.listing``, no
pydantic, no SQLAlchemy) shares every rule with the full desk in
``publisher.services.desk``, which re-exports these.

Bad input raises ``InputError`` (``NotFoundError`` for an unknown id or
channel) naming the option and the value.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Protocol, TypeVar
from zoneinfo import ZoneInfo

from publisher.config import parse_duration
from publisher.exceptions import InputError, NotFoundError
from publisher.types import OutboxItem, Outcome, PostStatus, Priority

E = TypeVar("E", bound=StrEnum)

#: ``--at`` a little in the past (typing takes time) still means now.
PAST_GRACE = timedelta(minutes=1)
#: ``--at`` further ahead than this is taken for a typo.
FUTURE_LIMIT = timedelta(days=366)
#: The largest id a post can have (PostgreSQL ``integer``).
MAX_ID = 2**31 - 1


def quote(value: str, limit: int = 60) -> str:
    """``value`` in double quotes, safe on one terminal line (control
    characters escaped, long values cut)."""
    shown = "".join(
        c if c.isprintable() and not 0xD800 <= ord(c) <= 0xDFFF else f"\\u{ord(c):04x}"
        for c in value[:limit])
    return f'"{shown}{"…" if len(value) > limit else ""}"'


def local_time(when: datetime, tz: ZoneInfo) -> str:
    """``2026-11-26 14:00 EST``: how the desk shows a time."""
    return when.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z")


_UNITS = {"s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1,
          "m": 60, "min": 60, "mins": 60, "minute": 60, "minutes": 60,
          "h": 3600, "hr": 3600, "hrs": 3600, "hour": 3600, "hours": 3600,
          "d": 86400, "day": 86400, "days": 86400, "w": 604800, "week": 604800,
          "weeks": 604800}
_PAIR = r"(\d{1,6}(?:\.\d+)?)\s*([a-z]+)"
_RELATIVE = re.compile(rf"^in\s+((?:{_PAIR}\s*(?:and\s+)?)+)$")
_BARE_NUMBER = re.compile(r"^[\s\d.,+-]*$")
_EXAMPLES = '"in 2h", "tomorrow 09:00", "monday 18:30" or 2026-12-01T09:00'


def _relative(text: str) -> timedelta | None:
    """``in 2h``, ``in 1 hour 30 minutes``: a span of real time (across a DST change too)."""
    match = _RELATIVE.match(text)
    if not match:
        return None
    seconds = 0.0
    for number, unit in re.findall(_PAIR, match.group(1)):
        if unit not in _UNITS:
            return None
        seconds += float(number) * _UNITS[unit]
    return timedelta(seconds=seconds)


class _OutOfRange(Exception):
    """A time read, but beyond what a datetime holds (past year 9999, before year 1)."""


def _out_of_range(option: str, text: str) -> InputError:
    return InputError(f"{option}: {quote(text)} is out of range: times run from year 1 "
                      "to year 9999")


def _wall_clock(text: str, tz: ZoneInfo, now: datetime, prefer: str) -> datetime | None:
    """An absolute or natural-language time read as the site's wall clock.
    Raises ``_OutOfRange`` for a time that cannot be held in UTC."""
    try:
        return _wall_clock_or_none(text, tz, now, prefer)
    except OverflowError:  # 9999-12-31 23:00 in New York is in year 10000 in UTC
        raise _OutOfRange(text) from None


def _wall_clock_or_none(text: str, tz: ZoneInfo, now: datetime,
                        prefer: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        parsed = None
    if parsed is None:
        import dateparser  # only when a time is given in words

        base = now.astimezone(tz).replace(tzinfo=None)
        try:
            parsed = dateparser.parse(text, languages=["en"], settings={
                "PREFER_DATES_FROM": prefer, "RELATIVE_BASE": base,
                "RETURN_AS_TIMEZONE_AWARE": False})
        except Exception:  # dateparser raises assorted errors on odd input
            return None
        if parsed is None:
            return None
    if parsed.tzinfo is None:
        # A wall-clock time skipped by a DST change becomes the instant after the gap.
        parsed = parsed.replace(tzinfo=tz).astimezone(UTC).astimezone(tz)
    return parsed.astimezone(UTC)


def parse_when(text: str, *, tz: ZoneInfo, now: datetime, option: str = "--at") -> datetime:
    """When an editor wants a post out: ISO 8601, ``in 2h``, ``tomorrow 09:00``,
    ``monday 18:30``, in the site's time zone.  Raises ``InputError`` for a
    time that cannot be read, is in the past, or is more than a year ahead."""
    value = " ".join(text.strip().lower().split())
    when: datetime | None = None
    if value and value.isprintable() and not _BARE_NUMBER.match(value):
        span = _relative(value)
        if span is not None:
            when = now + span if span <= FUTURE_LIMIT * 2 else None
        else:
            try:
                when = _wall_clock(text.strip(), tz, now, "future")
            except _OutOfRange:
                raise _out_of_range(option, text) from None
    if when is None:
        raise InputError(f"{option}: cannot read {quote(text)} as a time (try {_EXAMPLES})")
    if when < now - PAST_GRACE:
        raise InputError(f"{option}: {local_time(when, tz)} is in the past "
                         f"(it is {local_time(now, tz)})")
    if when > now + FUTURE_LIMIT:
        raise InputError(f"{option}: {local_time(when, tz)} is more than a year ahead")
    return max(when, now)


def parse_since(text: str, *, tz: ZoneInfo, now: datetime) -> datetime:
    """``--since``: a duration back from now (``90m``, ``1h``, ``2d``) or a
    time (``today 06:00``, ISO 8601).  Raises ``InputError``."""
    value = text.strip()
    when: datetime | None = None
    if value and value.isprintable():
        try:
            when = now - timedelta(seconds=parse_duration(value))
        except (ValueError, OverflowError):
            if not _BARE_NUMBER.match(value):
                try:
                    when = _wall_clock(value, tz, now, "past")
                except _OutOfRange:
                    raise _out_of_range("--since", text) from None
    if when is None:
        raise InputError(f'--since: cannot read {quote(text)} (try "1h", "30m", "2d", '
                         '"today 06:00" or 2026-12-01T09:00)')
    if when > now + PAST_GRACE:
        raise InputError(f"--since: {local_time(when, tz)} is in the future")
    return when


def parse_id(text: str | int, what: str = "post") -> int:
    """A post or article id; anything else is unknown (``NotFoundError``)."""
    value = str(text).strip()
    if (not (value.isascii() and value.isdigit()) or len(value) > len(str(MAX_ID))
            or not 0 < int(value) <= MAX_ID):
        raise NotFoundError(f"no {what} with id {quote(str(text))}")
    return int(value)


# -- editor text, reasons and names ------------------------------------------------------

#: ``--by`` (and every editor name): at most this many characters.
MAX_NAME = 64
#: ``--reason``: at most this many characters.
MAX_REASON = 500
#: Control characters (C0 but newline, DEL, C1), lone surrogates (a terminal's
#: undecodable bytes) and the bidirectional embeddings, overrides and isolates
#: that make text read differently from what it holds ("Trojan Source",
#: CVE-2021-42574).  Zero-width joiners stay: emoji sequences need them.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff"
                     "\u202a-\u202e\u2066-\u2069]")


def safe_text(value: str) -> str:
    """``value`` without control characters and bidirectional overrides;
    newlines kept (CR LF and CR become LF), a tab becomes a space."""
    value = value.replace("\r\n", "\n").replace("\r", "\n").replace("\t", " ")
    return _UNSAFE.sub("", value)


def safe_line(value: str) -> str:
    """``safe_text`` on one line: every run of blanks (newlines too) is one space."""
    return " ".join(safe_text(value).split())


def editor_text(value: str) -> str:
    """A post's text as an editor typed it, made safe (``safe_text``)."""
    return safe_text(value)


def editor_name(value: str | None, option: str = "--by") -> str | None:
    """Who does it: one safe line of at most ``MAX_NAME`` characters; None
    when nothing is left (the caller falls back to ``$USER``)."""
    if value is None:
        return None
    name = safe_line(value)
    if len(name) > MAX_NAME:
        raise InputError(f"{option}: at most {MAX_NAME} characters ({len(name)} given)")
    return name or None


def editor_reason(value: str, option: str = "--reason") -> str:
    """Why: one safe line of at most ``MAX_REASON`` characters (may be empty:
    the verb says whether it needs one)."""
    reason = safe_line(value)
    if len(reason) > MAX_REASON:
        raise InputError(f"{option}: at most {MAX_REASON} characters ({len(reason)} given)")
    return reason


#: ``--image``: what every channel adapter can fit to its platform (it
#: downloads up to 20 MB, scales down to the platform's side and size
#: limits, and gives up under 64 pixels).
IMAGE_MAX_BYTES = 20_000_000
IMAGE_MIN_SIDE = 64
IMAGE_MAX_PIXELS = 50_000_000
IMAGE_FORMATS = ("JPEG", "PNG", "GIF", "WEBP")


def check_image(path: str, option: str = "--image") -> None:
    """A local image an editor attaches: a regular, readable file that
    Pillow reads as JPEG, PNG, GIF or WebP, at most 20 MB and 50 megapixels,
    at least 64 pixels a side.  Raises ``InputError`` saying which rule."""
    import os
    import stat
    import warnings

    shown = quote(path)
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        raise InputError(f"{option}: no such file: {shown}") from None
    if not stat.S_ISREG(st.st_mode):
        raise InputError(f"{option}: not a regular file: {shown}")
    if st.st_size > IMAGE_MAX_BYTES:
        raise InputError(f"{option}: {st.st_size:,} bytes is over the "
                         f"{IMAGE_MAX_BYTES // 1_000_000} MB limit: {shown}")
    from struct import error as struct_error

    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings(), open(path, "rb") as f:
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            picture = Image.open(f, formats=IMAGE_FORMATS)
            width, height = picture.width, picture.height
            if width * height > IMAGE_MAX_PIXELS:
                raise InputError(f"{option}: {width}x{height} is over "
                                 f"{IMAGE_MAX_PIXELS // 1_000_000} megapixels: {shown}")
            picture.verify()
    except PermissionError:
        raise InputError(f"{option}: cannot read {shown}: permission denied") from None
    except UnidentifiedImageError:
        raise InputError(f"{option}: not an image publisher can send (JPEG, PNG, GIF or "
                         f"WebP): {shown}") from None
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise InputError(f"{option}: over {IMAGE_MAX_PIXELS // 1_000_000} megapixels: "
                         f"{shown}") from None
    except (OSError, ValueError, SyntaxError, struct_error) as exc:
        # Pillow reports a damaged file in any of these.
        raise InputError(f"{option}: a damaged image: {shown} "
                         f"({' '.join(str(exc).split())[:80]})") from None
    if min(width, height) < IMAGE_MIN_SIDE:
        raise InputError(f"{option}: {width}x{height} is too small (at least "
                         f"{IMAGE_MIN_SIDE} pixels a side): {shown}")


def check_channels(known: Collection[str], names: Iterable[str]) -> list[str]:
    """The channel names, each one of ``known`` (the configured channels),
    without repeats."""
    out: list[str] = []
    for name in names:
        if name not in known:
            listed = ", ".join(sorted(known)) or "none configured"
            raise NotFoundError(f"unknown channel {quote(name)} (known: {listed})")
        if name not in out:
            out.append(name)
    return out


def _parse_all(values: Iterable[str], kind: type[E], option: str, noun: str) -> list[E]:
    out: list[E] = []
    for value in _split(values):
        try:
            out.append(kind(value))
        except ValueError:
            known = ", ".join(member.value for member in kind)
            raise InputError(f"{option}: unknown {noun} {quote(value)} "
                             f"(known: {known})") from None
    return out


def parse_statuses(values: Iterable[str]) -> list[PostStatus]:
    """``--status queued,waiting`` (repeatable)."""
    return _parse_all(values, PostStatus, "--status", "status")


def parse_outcomes(values: Iterable[str]) -> list[Outcome]:
    """``--outcome failed,retrying`` (repeatable)."""
    return _parse_all(values, Outcome, "--outcome", "outcome")


def parse_priority(value: str) -> Priority:
    try:
        return Priority(value.strip().lower())
    except ValueError:
        raise InputError(f"--priority: must be breaking, normal or low, "
                         f"not {quote(value)}") from None


def _split(values: Iterable[str]) -> list[str]:
    return [v.strip().lower() for value in values for v in value.split(",") if v.strip()]



# -- the queue listing --------------------------------------------------------------------


class PostLister(Protocol):
    """``list_posts`` of ``publisher.store.Store`` or ``publisher.store.listing.PostReader``."""

    def list_posts(self, *, statuses: Collection[PostStatus] | None = None,
                   channels: Collection[str] | None = None, since: datetime | None = None,
                   limit: int = 200) -> list[OutboxItem]: ...


@dataclass(frozen=True)
class Listing:
    """What ``list_posts`` reads: the site's time zone, the configured channels,
    the store and the clock."""

    timezone: ZoneInfo
    channels: Collection[str]
    store: PostLister
    now: Callable[[], datetime]


def list_posts(source: Listing, *, statuses: Sequence[str] = (), channels: Sequence[str] = (),
               since: str | None = None, limit: int = 100) -> list[OutboxItem]:
    """Posts, newest first, filtered by status, channel and creation time."""
    wanted = parse_statuses(statuses) or None
    names = check_channels(source.channels, channels) or None
    after = None
    if since is not None:
        after = parse_since(since, tz=source.timezone, now=source.now())
    if not 0 < limit <= 10_000:
        raise InputError("--limit: between 1 and 10000")
    return source.store.list_posts(statuses=wanted, channels=names, since=after, limit=limit)


def due_at(item: OutboxItem) -> datetime:
    """When the post is (or was) due."""
    return item.next_attempt_at or item.not_before
