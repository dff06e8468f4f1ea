"""``publisher retract`` and ``publisher correct``: a post's second life (issue 13).

Thin: the rules are ``publisher.services.after_post``'s (decided by the
lifecycle); the deletes and edits are carried out by the daemon's
dispatcher, through the outbox, exactly once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from publisher.cli import EXIT_FAILED, app, desk, handle_errors
from publisher.cli.output import console

if TYPE_CHECKING:
    from publisher.services.after_post import PostLine

Channels = Annotated[list[str] | None, typer.Option(
    "--channel", "-c", help="Only this channel (repeatable).", show_default=False)]
By = Annotated[str | None, typer.Option(
    "--by", help="Who asks (goes in the publish log). Default: $USER.", show_default=False)]
Target = Annotated[str, typer.Argument(
    help="The article: its id, its URL, or post:ID (a post of it); article:ID to be explicit.",
    show_default=False)]

_SAYS = {
    "delete": "to be deleted",
    "cancel": "cancelled (not sent yet)",
    "editor": "FOR AN EDITOR",
    "already": "already",
    "later": "not now",
    "none": "nothing to do",
    "edit": "to be edited in place",
    "note": "a correction note",
}


def _line(line: PostLine, dry_run: bool) -> str:
    says = _SAYS.get(line.action, line.action)
    if dry_run and line.action == "cancel":
        says = "would be cancelled (not sent yet)"
    elif dry_run and line.action in ("delete", "edit", "note"):
        says = "would be " + says.removeprefix("to be ").removeprefix("a ")
    detail = f": {line.detail}" if line.detail and line.action in (
        "editor", "already", "later", "none") else ""
    return f"  post {line.post_id} on {line.channel} ({line.status}): {says}{detail}"


@app.command()
@handle_errors
def retract(
    target: Target,
    reason: Annotated[str, typer.Option(
        "--reason", help="Why (goes in the publish log with every deletion).")
    ] = "no reason given",
    channel: Channels = None,
    by: By = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Only list what would happen.")] = False,
) -> None:
    """Take an article's posts down everywhere the platforms allow.

    Every published post of the article is deleted by the daemon (exactly
    once, through the outbox: retries, rate limits, and a delete in doubt
    read back); posts not sent yet are cancelled; a post that cannot be
    deleted from here (Slack, past Telegram's 48 hours) is listed for an
    editor (exit 1). The article is never planned again.

    Example: [bold]publisher retract 42 --reason "legal: pulled"[/bold]
    """
    from publisher.services import desk as ops
    from publisher.services.after_post import retract_article
    from publisher.services.desk_input import editor_name, safe_line

    who = editor_name(by) or ops.who_am_i()
    out = console()
    with desk() as d:
        preview = retract_article(d, target, channels=tuple(channel or ()), reason=reason,
                                  by=who, dry_run=True)
        out.print(f"article {preview.article_id} {preview.url}", markup=False)
        for line in preview.lines:
            out.print(_line(line, True), markup=False)
        if not preview.lines:
            out.print("  no posts", markup=False)
        if dry_run:
            return
        if not yes and not typer.confirm("Retract it?", default=False):
            raise typer.Abort()
        report = retract_article(d, target, channels=tuple(channel or ()), reason=reason,
                                 by=who)
    out.print(f"retracted by {who}: {safe_line(reason)}", markup=False)
    for line in report.lines:
        out.print(_line(line, False), markup=False)
    deleting = sum(1 for line in report.lines if line.action == "delete")
    if deleting:
        out.print(f"{deleting} deletion(s) queued: the daemon carries them out; "
                  "`publisher log` shows each one", markup=False)
    if report.for_editor:
        out.print(f"{len(report.for_editor)} post(s) must be taken down by hand (listed above)",
                  markup=False)
        raise typer.Exit(EXIT_FAILED)


@app.command()
@handle_errors
def correct(
    target: Target,
    text: Annotated[str | None, typer.Option(
        "--text", help="The corrected text. Default: the article rendered again as it is "
        "stored now (an edit: its own template; a note: correction.j2).",
        show_default=False)] = None,
    channel: Channels = None,
    by: By = None,
    reason: Annotated[str | None, typer.Option(
        "--reason", help="Why (goes in the publish log).", show_default=False)] = None,
) -> None:
    """Correct an article's published posts.

    Per channel: edited in place where the platform allows it (a channel's
    on_update = "note" posts a correction note instead), else a correction
    note as a reply or comment, else listed for an editor (exit 1). Each
    edit is logged with the old and the new text.

    Example: [bold]publisher correct 42 --text "Corrected: …"[/bold]
    """
    from publisher.services import desk as ops
    from publisher.services.after_post import correct_article
    from publisher.services.desk_input import editor_name

    who = editor_name(by) or ops.who_am_i()
    out = console()
    with desk() as d:
        report = correct_article(d, target, text=text, by=who, reason=reason,
                                 channels=tuple(channel or ()))
    out.print(f"article {report.article_id} {report.url}", markup=False)
    for line in report.lines:
        out.print(_line(line, False), markup=False)
    if not report.lines:
        out.print("  no posts", markup=False)
    if any(line.action == "editor" for line in report.lines):
        raise typer.Exit(EXIT_FAILED)
