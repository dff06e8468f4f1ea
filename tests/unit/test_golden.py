"""Golden files: real-looking articles rendered with the repository's templates.

``tests/data/articles/<name>.json`` → ``tests/data/rendered/<channel>/<name>.txt``,
compared byte for byte. ``PUBLISHER_UPDATE_GOLDEN=1`` rewrites the files; read
the diff as a social editor would before committing it.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path

import pytest

from publisher.render import Renderer, XWeightedLength, length_rule, render_post, tagged_link
from publisher.types import ArticleData
from tests.shipped import TEMPLATES as SHIPPED_TEMPLATES

ROOT = Path(__file__).resolve().parents[2]
ARTICLES = ROOT / "tests" / "data" / "articles"
RENDERED = ROOT / "tests" / "data" / "rendered"
CHANNELS = ("x", "facebook", "console")
#: The UTM tags each channel's links get (the console shows the bare link).
UTM = {
    "x": {"source": "x", "medium": "social"},
    "facebook": {"source": "facebook", "medium": "social"},
}
UPDATE = os.environ.get("PUBLISHER_UPDATE_GOLDEN") == "1"


def load(path: Path) -> ArticleData:
    raw = json.loads(path.read_text(encoding="utf-8"))
    published = raw.pop("published", None)
    return ArticleData(
        **{**raw, "categories": tuple(raw["categories"]), "tags": tuple(raw["tags"])},
        published=datetime.fromisoformat(published) if published else None,
    )


NAMES = sorted(path.stem for path in ARTICLES.glob("*.json"))


def test_there_are_golden_articles() -> None:
    assert len(NAMES) >= 8


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("name", NAMES)
def test_golden(channel: str, name: str) -> None:
    article = load(ARTICLES / f"{name}.json")
    renderer = Renderer([SHIPPED_TEMPLATES], hashtag_map={"Local News": "#RiversideNews"})
    rule = length_rule(channel)
    result = render_post(
        renderer,
        channel_type=channel,
        template="default",
        article=article,
        rule=rule,
        utm=UTM.get(channel),
    )
    # What must hold whatever the golden file says.
    link = tagged_link(article.url, UTM.get(channel))
    assert link in result.text.split("\n"), "the link is intact, on a line of its own"
    assert result.length == rule.count(result.text) <= rule.limit
    if channel == "x":
        assert XWeightedLength().parse(result.text).valid

    golden = RENDERED / channel / f"{name}.txt"
    if UPDATE:
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_bytes((result.text + "\n").encode("utf-8"))
    assert golden.is_file(), f"no golden file {golden}; run with PUBLISHER_UPDATE_GOLDEN=1"
    assert (result.text + "\n").encode("utf-8") == golden.read_bytes()
