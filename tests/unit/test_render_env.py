"""The sandboxed environment: templates found, errors named, escapes refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from publisher.exceptions import RenderError
from publisher.render import Renderer
from publisher.render.env import BUNDLED_TEMPLATES
from tests.shipped import TEMPLATES as SHIPPED_TEMPLATES

REPO_TEMPLATES = SHIPPED_TEMPLATES


def make(tmp_path: Path, files: dict[str, str], **kwargs) -> Renderer:
    root = tmp_path / "tpl"
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return Renderer([root], **kwargs)


def test_render_strips_and_trims_blocks(tmp_path: Path) -> None:
    renderer = make(tmp_path, {"x/t.j2": "\n{% if a %}\n  {{ a }}\n{% endif %}\nend\n\n"})
    assert renderer.render("x", "t", {"a": "A"}) == "A\nend"


def test_template_names_skip_partials_and_merge_dirs(tmp_path: Path) -> None:
    first = make(tmp_path, {"x/default.j2": "1", "x/_part.j2": "p", "x/breaking.j2": "b"},
                 bundled=False)
    other = tmp_path / "site"
    (other / "x").mkdir(parents=True)
    (other / "x" / "default.j2").write_text("site", encoding="utf-8")
    (other / "x" / "weekly.j2").write_text("w", encoding="utf-8")
    renderer = Renderer([other, *first.template_dirs], bundled=False)
    assert renderer.template_names("x") == ["breaking", "default", "weekly"]
    assert renderer.template_names("facebook") == []
    assert renderer.template_names("../x") == []
    assert renderer.render("x", "default", {}) == "site"  # the first directory wins
    assert renderer.has_template("x", "weekly")
    assert not renderer.has_template("x", "nope")
    assert not renderer.has_template("x", "../x/default")


def test_repository_templates_exist() -> None:
    renderer = Renderer([REPO_TEMPLATES])
    for channel_type in ("x", "facebook", "console", "jsonl"):
        assert "default" in renderer.template_names(channel_type)


def test_undefined_attribute_names_file_and_line(tmp_path: Path) -> None:
    from publisher.render.fit import ArticleView

    renderer = make(tmp_path, {"x/default.j2": "Hello\n\n{{ article.titel }}\n"})
    article = ArticleView("T", "", "u", "u", "", (), (), None, "", "")
    with pytest.raises(RenderError) as caught:
        renderer.render("x", "default", {"article": article})
    assert str(caught.value) == "tpl/x/default.j2:3: 'article' has no attribute 'titel'"


def test_undefined_variable_names_file_and_line(tmp_path: Path) -> None:
    renderer = make(tmp_path, {"x/default.j2": "a\n{{ nothing }}"})
    with pytest.raises(RenderError, match=r"^tpl/x/default\.j2:2: 'nothing' is undefined$"):
        renderer.render("x", "default", {})


def test_error_in_partial_names_the_partial(tmp_path: Path) -> None:
    renderer = make(
        tmp_path,
        {
            "x/default.j2": "top\n{% include 'x/_part.j2' %}",
            "x/_part.j2": "\n\n{{ 1 + none_here }}",
        },
    )
    with pytest.raises(RenderError, match=r"^tpl/x/_part\.j2:3: 'none_here' is undefined$"):
        renderer.render("x", "default", {})


def test_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    renderer = make(tmp_path, {"facebook/default.j2": "ok\n{% if x %}\nno end"})
    with pytest.raises(RenderError, match=r"^tpl/facebook/default\.j2:3: .*endif"):
        renderer.render("facebook", "default", {"x": 1})


def test_python_errors_become_render_errors(tmp_path: Path) -> None:
    renderer = make(tmp_path, {"x/default.j2": "{{ 1 // 0 }}"})
    with pytest.raises(RenderError, match=r"^tpl/x/default\.j2:1: ZeroDivisionError"):
        renderer.render("x", "default", {})


def test_missing_template(tmp_path: Path) -> None:
    renderer = make(tmp_path, {"x/default.j2": ""})
    with pytest.raises(RenderError, match=r"template x/other\.j2 not found"):
        renderer.render("x", "other", {})
    with pytest.raises(RenderError, match="invalid template name"):
        renderer.render("../etc", "passwd", {})


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ article.__class__ }}",
        "{% set x = [] %}{{ x.append(1) }}",  # the immutable sandbox
        "{{ range(10**9) | list | length }}",
        "{{ 'a' * 1000000000 }}",
        "{{ 10 ** 100000000 }}",
    ],
)
def test_sandbox_refuses_escapes(tmp_path: Path, source: str) -> None:
    renderer = make(tmp_path, {"x/evil.j2": "line one\n" + source})
    with pytest.raises(RenderError, match=r"^tpl/x/evil\.j2:2: "):
        renderer.render("x", "evil", {"article": object()})


def test_no_randomness(tmp_path: Path) -> None:
    renderer = make(tmp_path, {"x/a.j2": "{{ [1, 2] | random }}", "x/b.j2": "{{ lipsum() }}"})
    for name in ("a", "b"):
        with pytest.raises(RenderError):
            renderer.render("x", name, {})


def test_filters_are_registered(tmp_path: Path) -> None:
    renderer = make(
        tmp_path,
        {
            "x/f.j2": (
                "{{ cats | hashtags }}|{{ cats | hashtags(1) }}|{{ url | utm('x') }}|"
                "{{ html | plain }}|{{ text | truncate_words(2) }}"
            )
        },
        hashtag_map={"Local News": "#RiversideNews"},
        hashtag_limit=2,
    )
    out = renderer.render(
        "x",
        "f",
        {
            "cats": ["Local News", "City Council", "Parks"],
            "url": "https://e.com/a",
            "html": "<b>bold</b>  text",
            "text": "one two three",
        },
    )
    assert out == (
        "#RiversideNews #CityCouncil|#RiversideNews|"
        "https://e.com/a?utm_source=x&utm_medium=social|bold text|one two…"
    )


def test_output_is_not_html_escaped(tmp_path: Path) -> None:
    renderer = make(tmp_path, {"x/t.j2": "{{ t }}"})
    assert renderer.render("x", "t", {"t": 'Q&A: <why> "now"'}) == 'Q&A: <why> "now"'


# --- a site's own folder layers over the bundled templates ----------------------------------


def test_a_sites_folder_layers_over_the_bundled_templates(tmp_path: Path) -> None:
    # PUBLISHER_TEMPLATES with only the site's X template: every other type, and
    # the partials, are the bundled defaults.
    site = make(tmp_path, {"x/default.j2": "SITE {{ article.title }}"})
    from publisher.render.fit import ArticleView

    article = ArticleView("Flood warning", "Move cars.", "https://n.example/a",
                          "https://n.example/a", "", (), (), None, "", "")
    assert site.render("x", "default", {"article": article}) == "SITE Flood warning"
    bundled = Renderer([], bundled=True)
    for channel_type in ("mastodon", "bluesky", "facebook", "console"):
        assert site.has_template(channel_type, "default")
        assert "default" in site.template_names(channel_type)
    assert site.template_names("x") == bundled.template_names("x")
    assert site.template_dirs[-1] == BUNDLED_TEMPLATES


def test_a_sites_template_may_include_a_bundled_partial(tmp_path: Path) -> None:
    site = make(tmp_path, {"x/short.j2": '{% include "_partials/headline_summary_link.j2" %}'})
    context = {"article": _article(), "link": "https://n.example/a"}
    assert site.render("x", "short", context) == (
        "Flood warning\n\nMove cars.\n\nhttps://n.example/a")


def test_a_sites_partial_overrides_the_bundled_one(tmp_path: Path) -> None:
    site = make(tmp_path, {"_partials/headline_summary_link.j2": "MINE",
                           "x/uses.j2": '{% include "_partials/headline_summary_link.j2" %}'})
    assert site.render("x", "uses", {}) == "MINE"


def test_bundled_false_is_the_sites_folder_alone(tmp_path: Path) -> None:
    alone = make(tmp_path, {"x/default.j2": "x"}, bundled=False)
    assert not alone.has_template("mastodon", "default")
    with pytest.raises(RenderError, match=r"template mastodon/default\.j2 not found"):
        alone.render("mastodon", "default", {})


def test_the_bundled_directory_is_not_added_twice() -> None:
    renderer = Renderer([BUNDLED_TEMPLATES])
    assert renderer.template_dirs == (BUNDLED_TEMPLATES,)
    assert Renderer(renderer.template_dirs).template_dirs == (BUNDLED_TEMPLATES,)


def test_an_error_in_a_bundled_template_names_it_as_bundled(tmp_path: Path) -> None:
    site = make(tmp_path, {})
    with pytest.raises(RenderError, match=r"^\(bundled\) mastodon/default\.j2:\d+: "):
        site.render("mastodon", "default", {})


def test_the_bundled_templates_ship_inside_the_package() -> None:
    import tomllib

    import publisher

    package = Path(publisher.__file__).resolve().parent
    assert BUNDLED_TEMPLATES.parent.resolve() == package / "render"
    pyproject = tomllib.loads(
        (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = pyproject["tool"]["setuptools"]["package-data"]["publisher"]
    assert "render/templates/**/*.j2" in patterns
    shipped = sorted(p.relative_to(BUNDLED_TEMPLATES).as_posix()
                     for p in BUNDLED_TEMPLATES.rglob("*.j2"))
    assert "mastodon/default.j2" in shipped and "_partials/headline_summary_link.j2" in shipped


def _article():
    from publisher.render.fit import ArticleView

    return ArticleView("Flood warning", "Move cars.", "https://n.example/a",
                       "https://n.example/a", "", (), (), None, "", "")


def test_a_sites_folder_that_is_the_bundled_one_is_named_as_the_site_named_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """In a clone, ./templates is the package's bundled folder (a symlink): an
    error there is in the file the editor just edited, not "(bundled)"."""
    import publisher.render.env as env

    monkeypatch.setattr(env, "BUNDLED_TEMPLATES", tmp_path / "tpl")
    renderer = make(tmp_path, {"x/default.j2": "a\n{{ nothing }}"})
    with pytest.raises(RenderError, match=r"^tpl/x/default\.j2:2: 'nothing' is undefined$"):
        renderer.render("x", "default", {})
