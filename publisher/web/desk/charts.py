"""Plain server-side SVG for the Activity and Week pages: no chart library,
no script.  Every piece of text in a drawing is escaped here (channel names
and post texts are untrusted); the result is ``Markup``, safe to put in a
page as it is.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from html import escape

from markupsafe import Markup

from publisher.web.desk.text import clean

PUBLISHED, FAILED, RETRACTED = "#2e7d32", "#c62828", "#6a1b9a"


def _t(value: object) -> str:
    return escape(clean(value), quote=True)


@dataclass(frozen=True, slots=True)
class DayCount:
    published: int = 0
    failed: int = 0
    retracted: int = 0

    @property
    def total(self) -> int:
        return self.published + self.failed + self.retracted


def activity_svg(channel: str, days: Sequence[date], counts: dict[date, DayCount]) -> Markup:
    """Stacked bars: published, failed, retracted per day."""
    width, height, pad = 620, 140, 24
    top = max([c.total for c in counts.values()] + [1])
    bar = (width - 2 * pad) / max(len(days), 1)
    scale = (height - 2 * pad) / top
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
             f'class="chart" role="img" aria-label="{_t(channel)}: posts per day">',
             f'<title>{_t(channel)}: published, failed and retracted posts per day</title>',
             f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" '
             'stroke="#888"/>',
             f'<text x="{pad}" y="14" font-size="11">max {top}</text>']
    for i, day in enumerate(days):
        c = counts.get(day, DayCount())
        x = pad + i * bar
        y: float = height - pad
        for value, colour, label in ((c.published, PUBLISHED, "published"),
                                     (c.failed, FAILED, "failed"),
                                     (c.retracted, RETRACTED, "retracted")):
            if not value:
                continue
            h = value * scale
            y -= h
            parts.append(f'<rect x="{x + 1:.1f}" y="{y:.1f}" width="{max(bar - 2, 1):.1f}" '
                         f'height="{h:.1f}" fill="{colour}"><title>{_t(day.isoformat())}: '
                         f'{value} {label}</title></rect>')
        if i % 7 == 0:
            parts.append(f'<text x="{x:.1f}" y="{height - 6}" font-size="10">'
                         f'{_t(day.strftime("%d %b"))}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def median_minutes(delays: Sequence[timedelta]) -> float | None:
    if not delays:
        return None
    return statistics.median(d.total_seconds() for d in delays) / 60


@dataclass(frozen=True, slots=True)
class Mark:
    """A post (or a recurring firing) on the week's calendar, local time."""

    at: datetime
    label: str
    kind: str  # "scheduled", "draft" or "recurring"
    href: str | None = None


def _spans(spans: Sequence[tuple[time, time]]) -> list[tuple[float, float]]:
    """Hours on a 0-24 axis; a span over midnight becomes two."""
    out = []
    for start, end in spans:
        a = start.hour + start.minute / 60
        b = end.hour + end.minute / 60 or 24.0
        if b > a:
            out.append((a, b))
        else:
            out += [(a, 24.0), (0.0, b)]
    return out


def week_svg(channel: str, days: Sequence[date], windows: Sequence[tuple[time, time]],
             quiet: Sequence[tuple[time, time]], marks: Sequence[Mark]) -> Markup:
    """Seven rows (days) over a 24-hour axis: posting windows (green band),
    quiet hours (grey band), scheduled posts (dots), recurring ones (squares)."""
    width, row, left, pad = 620, 26, 70, 6
    height = row * len(days) + 24
    hour = (width - left - pad) / 24
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
             f'class="chart" role="img" aria-label="{_t(channel)}: the coming week">',
             f'<title>{_t(channel)}: windows, quiet hours and posts of the week</title>']
    for h in range(0, 25, 3):
        x = left + h * hour
        parts.append(f'<line x1="{x:.1f}" y1="0" x2="{x:.1f}" y2="{height - 20}" '
                     'stroke="#ddd"/>')
        parts.append(f'<text x="{x - 6:.1f}" y="{height - 6}" font-size="10">{h:02d}</text>')
    index = {d: i for i, d in enumerate(days)}
    for i, day in enumerate(days):
        top = i * row
        parts.append(f'<text x="2" y="{top + 17}" font-size="11">'
                     f'{_t(day.strftime("%a %d %b"))}</text>')
        for a, b in _spans(windows):
            parts.append(f'<rect x="{left + a * hour:.1f}" y="{top + 4}" '
                         f'width="{(b - a) * hour:.1f}" height="{row - 8}" fill="#c8e6c9">'
                         '<title>posting window</title></rect>')
        for a, b in _spans(quiet):
            parts.append(f'<rect x="{left + a * hour:.1f}" y="{top + 4}" '
                         f'width="{(b - a) * hour:.1f}" height="{row - 8}" fill="#cfd8dc">'
                         '<title>quiet hours</title></rect>')
    for m in marks:
        found = index.get(m.at.date())
        if found is None:
            continue
        x = left + (m.at.hour + m.at.minute / 60) * hour
        y = found * row + row / 2
        tip = f'<title>{_t(m.at.strftime("%a %H:%M"))} {_t(m.kind)}: {_t(m.label)}</title>'
        if m.kind == "recurring":
            shape = (f'<rect x="{x - 4:.1f}" y="{y - 4:.1f}" width="8" height="8" '
                     f'fill="#1565c0">{tip}</rect>')
        else:
            colour = "#ef6c00" if m.kind == "draft" else "#2e7d32"
            shape = f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{colour}">{tip}</circle>'
        if m.href:
            shape = f'<a href="{_t(m.href)}">{shape}</a>'
        parts.append(shape)
    parts.append("</svg>")
    return Markup("".join(parts))
