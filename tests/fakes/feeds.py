"""Builds WordPress-style RSS bodies for tests and benchmarks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from xml.sax.saxutils import escape


def item(
    n: int,
    *,
    site: str = "https://news.example",
    title: str | None = None,
    published: datetime | None = None,
    categories: tuple[str, ...] = ("Local",),
    image: bool = False,
) -> dict:
    published = published or datetime.now(UTC) - timedelta(minutes=n)
    return {
        "guid": f"{site}/?p={1000 + n}",
        "link": f"{site}/2026/11/story-{n}/",
        "title": title or f"Council approves budget item number {n} after long debate",
        "summary": f"<p>The city council voted on item {n} on Tuesday night.</p>",
        "published": published,
        "categories": categories,
        "image": f"{site}/wp-content/uploads/{n}.jpg" if image else None,
    }


def rss(
    items: list[dict], *, title: str = "News Example", site: str = "https://news.example"
) -> bytes:
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/"'
        ' xmlns:dc="http://purl.org/dc/elements/1.1/">',
        f"<channel><title>{escape(title)}</title><link>{site}/</link>",
        "<description>Local news</description>",
    ]
    for it in items:
        cats = "".join(f"<category><![CDATA[{c}]]></category>" for c in it["categories"])
        media = (
            (
                f'<media:content url="{it["image"]}" medium="image">'
                f"<media:description>Photo for {escape(it['title'])}</media:description>"
                "</media:content>"
            )
            if it.get("image")
            else ""
        )
        parts.append(
            f"<item><title>{escape(it['title'])}</title><link>{it['link']}</link>"
            f"<dc:creator><![CDATA[Staff]]></dc:creator>"
            f"<pubDate>{format_datetime(it['published'])}</pubDate>{cats}"
            f'<guid isPermaLink="false">{it["guid"]}</guid>'
            f"<description><![CDATA[{it['summary']}]]></description>{media}</item>"
        )
    parts.append("</channel></rss>")
    return "\n".join(parts).encode()
