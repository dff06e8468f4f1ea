"""``publisher preview``: an article rendered for its channels, not queued."""

from __future__ import annotations

from typing import Annotated

import typer

from publisher.cli import EXIT_FAILED, app, desk, handle_errors
from publisher.cli.output import JSON_HELP, console, escape, print_json


@app.command()
@handle_errors
def preview(
    url: Annotated[str | None, typer.Option(
        "--url", help="An article's URL (from the store, or read from its page).",
        show_default=False)] = None,
    article: Annotated[str | None, typer.Option(
        "--article", help="A stored article's id.", show_default=False)] = None,
    channel: Annotated[list[str] | None, typer.Option(
        "--channel", "-c", help="A channel (repeatable). Default: the article's routes.",
        show_default=False)] = None,
    template: Annotated[str | None, typer.Option(
        "--template", help="Render with this template instead.", show_default=False)] = None,
    as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """Render an article for its channels without queuing it.

    Each channel's text, its length against the platform's limit, what was
    shortened to fit, and the image that goes with it and its alt text. Exit 1
    when a channel cannot render it.

    Example: [bold]publisher preview --url https://news.example/2026/bridge -c x -c facebook[/bold]
    """
    from publisher.services import desk as ops

    with desk() as d:
        previews = ops.preview(d, url=url, article_id=article, channels=channel or (),
                               template=template)
    if as_json:
        print_json(previews)
    else:
        out = console()
        for p in previews:
            cut = f", shortened: {', '.join(p.shortened)}" if p.shortened else ""
            out.rule(f"{p.channel} ({p.template}): {p.length}/{p.limit} {p.rule}{cut}")
            if p.error:
                out.print(f"[red]cannot render:[/red] {escape(p.error)}", markup=True)
                continue
            out.print(p.text, markup=False)
            if p.image is None:
                out.print("image: none")
            elif not p.image_sent:
                out.print(f"image: not sent (options.with_image = false): {p.image.url}")
            else:
                out.print(f"image: {p.image.url}")
                out.print(f"alt: {p.image.alt}" if p.image.alt else
                          "[yellow]alt: none[/yellow] (screen readers get no description)",
                          markup=not p.image.alt)
    if any(p.error for p in previews):
        raise typer.Exit(EXIT_FAILED)
