"""render_post: the context, the clean-up, and fitting a post into its limit."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from publisher.exceptions import RenderError, TooLong
from publisher.render import (
    CharacterLimit,
    Renderer,
    XWeightedLength,
    clean_text,
    length_rule,
    render_post,
)
from publisher.types import ArticleData, Image
from tests.shipped import TEMPLATES as SHIPPED_TEMPLATES

REPO_TEMPLATES = SHIPPED_TEMPLATES
URL = "https://news.example.com/2025/05/14/city-council-budget"
SENTENCE = (
    "The council voted seven to two on Tuesday night after a four hour debate about "
    "parks, libraries, road repairs and the future of the riverside promenade"
)
WORDS = SENTENCE.split()


def article(**changes) -> ArticleData:
    fields = {
        "guid": "g1",
        "url": URL,
        "title": "City council approves new budget for riverside park",
        "summary": "The council voted 7-2 after a long debate.",
        "categories": ("City Council", "Riverside"),
    }
    fields.update(changes)
    return ArticleData(**fields)


def renderer(tmp_path: Path | None = None, files: dict[str, str] | None = None) -> Renderer:
    if files is None:
        return Renderer([REPO_TEMPLATES])
    assert tmp_path is not None
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    return Renderer([tmp_path])


def post(channel_type: str = "console", *, rule=None, r=None, **kwargs):
    return render_post(
        r or renderer(),
        channel_type=channel_type,
        template=kwargs.pop("template", "default"),
        article=kwargs.pop("article", article()),
        rule=rule or length_rule(channel_type),
        **kwargs,
    )


def test_fits_untouched() -> None:
    result = post("x", utm={"source": "x", "medium": "social"})
    link = URL + "?utm_source=x&utm_medium=social"
    assert result.text == (
        f"City council approves new budget for riverside park\n\n{link}\n\n#CityCouncil #Riverside"
    )
    assert (result.length, result.limit, result.shortened) == (51 + 2 + 23 + 2 + 23, 280, ())


def test_context(tmp_path: Path) -> None:
    r = renderer(
        tmp_path,
        {
            "console/all.j2": (
                "{{ article.title }}|{{ article.summary }}|{{ article.url }}|{{ article.link }}|"
                "{{ link }}|{{ article.author }}|{{ article.categories | join(',') }}|"
                "{{ article.tags | join(',') }}|{{ article.published.strftime('%Y-%m-%d') }}|"
                "{{ article.image_url }}|{{ article.image_alt }}|{{ channel.name }}|"
                "{{ channel.type }}|{{ edition }}"
            )
        },
    )
    data = article(
        author="Ana Ruiz",
        tags=("budget",),
        published=datetime(2025, 5, 14, 8, 30, tzinfo=UTC),
        image=Image("https://news.example.com/img.jpg", "The park at dusk"),
    )
    result = post(
        template="all",
        r=r,
        article=data,
        channel_name="console-dev",
        utm={"source": "console"},
        extra={"edition": "morning"},
    )
    link = URL + "?utm_source=console"
    assert result.text == (
        f"City council approves new budget for riverside park|{data.summary}|{URL}|{link}|"
        f"{link}|Ana Ruiz|City Council,Riverside|budget|2025-05-14|"
        "https://news.example.com/img.jpg|The park at dusk|console-dev|console|morning"
    )


def test_extra_may_not_shadow_the_article() -> None:
    with pytest.raises(ValueError, match="article"):
        post(extra={"article": "x"})


def test_the_article_is_read_only(tmp_path: Path) -> None:
    r = renderer(tmp_path, {"console/t.j2": "{% set _ = article.categories.append('x') %}"})
    with pytest.raises(RenderError):
        post(template="t", r=r, article=article(categories=["a"]))


def test_empty_summary_leaves_no_blank_lines() -> None:
    result = post("facebook", article=article(summary=""))
    assert result.text == f"City council approves new budget for riverside park\n\n{URL}"


def test_clean_text() -> None:
    raw = "Title  \r\n\n\n\n\ufeffSummary\u0065\u0301 \t\n\n\n\nlink\n"
    assert clean_text(raw) == "Title\n\nSummaryé\n\nlink"


def test_summary_is_shortened_at_a_word_boundary() -> None:
    data = article(summary=" ".join(WORDS))
    result = post(rule=CharacterLimit(180), article=data)
    title, summary, link = result.text.split("\n\n")
    assert link == URL  # the link is intact
    assert title == data.title
    assert summary.endswith("…") and not summary.endswith(" …")
    words = summary[:-1].split()
    assert words == [w.rstrip(",") for w in WORDS[: len(words)]]  # whole words only
    assert result.shortened == ("summary",)
    assert result.length <= 180
    # The longest fit: one more word would not fit.
    longer = " ".join(WORDS[: len(words) + 1]).rstrip(",") + "…"
    assert len(f"{title}\n\n{longer}\n\n{link}") > 180


def test_trailing_punctuation_gives_way_to_the_ellipsis() -> None:
    data = article(summary="Parks, libraries, roads, bridges and more besides.")
    result = post(rule=CharacterLimit(len(data.title) + len(URL) + 4 + 17), article=data)
    assert result.text.split("\n\n")[1] == "Parks, libraries…"


def test_summary_dropped_when_no_word_fits() -> None:
    data = article(summary="Supercalifragilisticexpialidocious words")
    result = post(rule=CharacterLimit(len(data.title) + len(URL) + 2 + 5), article=data)
    assert result.text == f"{data.title}\n\n{URL}"
    assert result.shortened == ("summary",)


def test_title_is_shortened_when_the_summary_is_gone() -> None:
    data = article(summary="A summary that cannot stay.")
    limit = len(URL) + 2 + len("City council approves new…")
    result = post(rule=CharacterLimit(limit), article=data)
    assert result.text == f"City council approves new…\n\n{URL}"
    assert result.shortened == ("summary", "title")


def test_x_title_only_shortening_keeps_link_and_hashtags() -> None:
    title = " ".join(["Breaking:"] + WORDS * 3)
    result = post("x", article=article(title=title, summary="Unused by the X template."))
    headline, link, tags = result.text.split("\n\n")
    assert link == URL and tags == "#CityCouncil #Riverside"
    assert headline.endswith("…")
    assert result.shortened == ("title",)  # the X template shows no summary
    assert result.length <= 280
    assert result.length == XWeightedLength().count(result.text)


def test_japanese_is_cut_between_characters() -> None:
    data = article(summary="東京都は新しい公園の予算を承認した。" * 20)
    result = post(rule=CharacterLimit(len(data.title) + len(URL) + 4 + 30), article=data)
    summary = result.text.split("\n\n")[1]
    assert summary.endswith("…") and len(summary) == 30
    assert "。…" not in summary


def test_too_long_even_at_three_words() -> None:
    with pytest.raises(TooLong) as caught:
        post(rule=CharacterLimit(40))
    assert caught.value.limit == 40
    assert caught.value.length > 40
    assert str(caught.value).startswith(f"{caught.value.length} > 40 (characters)")


def test_too_long_when_the_template_has_no_title(tmp_path: Path) -> None:
    r = renderer(tmp_path, {"console/link.j2": "{{ link }}"})
    with pytest.raises(TooLong):
        post(template="link", r=r, rule=CharacterLimit(20))


def test_binary_search_not_word_by_word(tmp_path: Path) -> None:
    calls = []

    class Counting(CharacterLimit):
        def count(self, text: str) -> int:
            calls.append(text)
            return super().count(text)

    data = article(summary=" ".join(["word"] * 2000))
    result = post(rule=Counting(300), article=data)
    assert result.shortened == ("summary",)
    assert len(calls) < 20


def test_deterministic() -> None:
    data = article(summary=" ".join(WORDS * 5))
    first = post(rule=CharacterLimit(200), article=data)
    assert all(post(rule=CharacterLimit(200), article=data) == first for _ in range(3))
