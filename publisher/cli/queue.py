"""``publisher queue …``: editors add, list, show, edit, cancel, retry,
resolve and approve posts.  The rules are in ``publisher.services.desk``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from publisher.cli import EXIT_CODES, app, desk, handle_errors, listing
from publisher.cli.output import JSON_HELP, console, escape, first_line, print_json, when

if TYPE_CHECKING:
    from publisher.app import App
    from publisher.services.desk_changes import BatchResult
    from publisher.types import OutboxItem

queue_app = typer.Typer(help="Queue, list and steer posts.", no_args_is_help=True,
                        epilog=EXIT_CODES)
app.add_typer(queue_app, name="queue")

Channels = Annotated[list[str] | None, typer.Option(
    "--channel", "-c", help="A channel name (repeatable).", show_default=False)]
By = Annotated[str | None, typer.Option(
    "--by", help="Who does it, for the log. Default: $USER.", show_default=False)]
Json = Annotated[bool, typer.Option("--json", help=JSON_HELP)]
PostId = Annotated[str, typer.Argument(metavar="ID", help="The post's id.", show_default=False)]
PostIds = Annotated[list[str] | None, typer.Argument(
    metavar="[ID]...", help="The posts' ids (or choose them with the filters).",
    show_default=False)]
Statuses = Annotated[list[str] | None, typer.Option(
    "--status", help="Only posts in this status (repeatable, or comma-separated).",
    show_default=False)]
Since = Annotated[str | None, typer.Option(
    "--since", help='Only posts created since: "1h", "2d", "today 06:00".',
    show_default=False)]
DryRun = Annotated[bool, typer.Option("--dry-run", help="Say what would be done; change "
                                      "nothing.")]


def _by(value: str | None) -> str:
    from publisher.services.desk import who_am_i
    from publisher.services.desk_input import editor_name

    return editor_name(value) or who_am_i()


def _post_row(item: OutboxItem) -> dict[str, object]:
    from publisher.services.desk_input import due_at

    return {"id": item.id, "channel": item.channel, "status": item.status,
            "priority": item.priority, "due_at": due_at(item), "text": item.text,
            "link": item.link, "image": item.image.url if item.image else None,
            "attempts": item.attempts, "last_error": item.last_error,
            "article_id": item.article_id, "created_by": item.created_by,
            "created_at": item.created_at, "published_at": item.published_at,
            "remote_url": item.remote_url, "expires_at": item.expires_at,
            "reshare": item.reshare}


def _done(d: App, item: OutboxItem, verb: str, as_json: bool) -> None:
    from publisher.services.desk import why_waiting

    if as_json:
        print_json(_post_row(item))
        return
    gate = d.gates().get(item.channel) if not item.status.is_final else None
    why = why_waiting(item, gate, now=d.now(), tz=d.config.timezone)
    console().print(f"post {item.id} {verb}: {item.status} on {item.channel}: {why}")


def _batch_done(d: App, result: BatchResult, verb: str, as_json: bool, *,
                single: bool) -> None:
    """One line per post (refusals on stderr); exit 2 when any was refused.
    One id and no filter: exactly the single-post command's answer."""
    import sys

    from publisher.exceptions import InputError

    if single and len(result.lines) == 1 and not result.dry_run:
        [line] = result.lines
        if line.refused is not None:
            raise InputError(line.refused)
        assert line.item is not None
        _done(d, line.item, verb, as_json)
        return
    if as_json:
        print_json([{"id": line.post_id, "channel": line.channel,
                     "done": line.refused is None and not result.dry_run,
                     "refused": line.refused, "would": line.would,
                     "post": _post_row(line.item) if line.item is not None else None}
                    for line in result.lines])
    else:
        out = console()
        for line in result.lines:
            if line.refused is not None:
                named = line.refused.startswith(f"post {line.post_id} ")
                print(f"refused: {'' if named else f'post {line.post_id}: '}"
                      f"{' '.join(line.refused.split())}", file=sys.stderr)
            elif result.dry_run:
                out.print(f"post {line.post_id} on {line.channel}: {line.would} (dry run)",
                          markup=False)
            else:
                assert line.item is not None
                _done(d, line.item, verb, False)
        done = len(result.lines) - len(result.refused)
        tail = " (dry run: nothing changed)" if result.dry_run else ""
        out.print(f"{done} {result.action if not result.dry_run else 'to be ' + result.action}"
                  f", {len(result.refused)} refused{tail}" if result.lines
                  else "no posts match", markup=False)
    if result.refused:
        raise typer.Exit(2)


@queue_app.command("add")
@handle_errors
def add(
    url: Annotated[str | None, typer.Option(
        "--url", help="An article: from the store, or read from its page (og: tags).",
        show_default=False)] = None,
    text: Annotated[str | None, typer.Option(
        "--text", help="A post's text, as it will be published.", show_default=False)] = None,
    link: Annotated[str | None, typer.Option(
        "--link", help="With --text: a link for the card.", show_default=False)] = None,
    image: Annotated[str | None, typer.Option(
        "--image", help="With --text: an image URL or file.", show_default=False)] = None,
    alt: Annotated[str | None, typer.Option(
        "--alt", help="With --image: the image's alt text, for people who cannot see it.",
        show_default=False)] = None,
    channel: Channels = None,
    at: Annotated[str | None, typer.Option(
        "--at", help='When, in the site\'s time zone: "in 2h", "tomorrow 09:00", '
        '"monday 18:30", 2026-12-01T09:00. Default: now.', show_default=False)] = None,
    template: Annotated[str | None, typer.Option(
        "--template", help="With --url: the template to render with.", show_default=False)]
    = None,
    priority: Annotated[str, typer.Option(
        "--priority", help="breaking, normal or low (breaking goes first, even in quiet "
        "hours).")] = "normal",
    again: Annotated[bool, typer.Option(
        "--again", help="With --url: share the article again on channels it was already "
        "posted to (a new post, marked as a re-share).")] = False,
    by: By = None,
    as_json: Json = False,
) -> None:
    """Queue an article or a text on channels; prints the ids created.

    Default channels: those of the routes the article matches. Posts on
    channels with approval = true wait as drafts.

    Example: [bold]publisher queue add --url https://news.example/bridge --at "tomorrow 7:30"[/bold]

    Again at the evening peak: [bold]publisher queue add --url https://news.example/bridge
    --again --at "today 18:00"[/bold]
    """
    from publisher.services import desk as ops

    with desk() as d:
        result = ops.add_posts(d, by=_by(by), url=url, text=text, link=link, image=image,
                               image_alt=alt, channels=channel or (), at=at, template=template,
                               priority=ops.parse_priority(priority), again=again)
        if as_json:
            print_json(result)
            return
        tz = d.config.timezone
        out = console()
        for post in result.posts:
            verb = "draft (needs approval)" if post.status == "draft" else "queued"
            again_ = f", re-share {post.reshare}" if post.reshare else ""
            out.print(f"post {post.id} {verb} on {post.channel} for "
                      f"{ops.local_time(post.not_before, tz)} "
                      f"(length {post.length}/{post.limit}{again_})")


@queue_app.command("list")
@handle_errors
def list_(
    status: Annotated[list[str] | None, typer.Option(
        "--status", help="draft, queued, publishing, waiting, published, failed, cancelled, "
        "needs_review (repeatable, or comma-separated).", show_default=False)] = None,
    channel: Channels = None,
    since: Annotated[str | None, typer.Option(
        "--since", help='Created since: "1h", "2d", "today 06:00".', show_default=False)]
    = None,
    limit: Annotated[int, typer.Option("--limit", help="At most this many.")] = 100,
    as_json: Json = False,
) -> None:
    """The posts, newest first.

    Id, channel, status, when (site time), the start of the text, attempts
    and the last error.

    Example: [bold]publisher queue list --status queued,waiting --channel x[/bold]
    """
    from rich.table import Table

    from publisher.services import desk_input as ops

    with listing() as source:
        items = ops.list_posts(source, statuses=status or (), channels=channel or (),
                               since=since, limit=limit)
        if as_json:
            print_json([_post_row(i) for i in items])
            return
        tz = source.timezone
        table = Table(box=None, header_style="bold", pad_edge=False)
        for name in ("ID", "CHANNEL", "STATUS", f"WHEN ({tz.key})", "TEXT", "TRIES",
                     "LAST ERROR"):
            table.add_column(name, no_wrap=name != "LAST ERROR", overflow="ellipsis")
        for i in items:
            marked = f"[re-share {i.reshare}] {i.text}" if i.reshare else i.text
            table.add_row(str(i.id), i.channel, i.status.value, when(ops.due_at(i), tz),
                          first_line(marked, 40), str(i.attempts),
                          first_line(i.last_error or "", 60))
        console().print(table if items else "no posts")


@queue_app.command("show")
@handle_errors
def show(post_id: PostId, as_json: Json = False) -> None:
    """One post in full, every attempt, and why it is waiting.

    The text with its length against the platform's limit, the media, the
    publish log of the post.

    Example: [bold]publisher queue show 42[/bold]
    """
    from rich.table import Table

    from publisher.services import desk as ops

    with desk() as d:
        detail = ops.show_post(d, post_id)
        if as_json:
            print_json({**_post_row(detail.item), "article_url": detail.article_url,
                        "length": detail.length, "limit": detail.limit, "rule": detail.rule,
                        "why": detail.why, "attempts_log": detail.attempts})
            return
        item, tz = detail.item, d.config.timezone
        out = console()
        reshared = f", re-share {item.reshare} of its article" if item.reshare else ""
        out.print(f"[bold]post {item.id}[/bold] on {escape(item.channel)}: {item.status} "
                  f"({item.priority}{reshared}), created by {escape(item.created_by)} "
                  f"{ops.local_time(item.created_at, tz)}", markup=True)
        out.print(f"why: {detail.why}")
        if detail.length is not None:
            over = " [red]TOO LONG[/red]" if detail.length > (detail.limit or 0) else ""
            out.print(f"length: {detail.length}/{detail.limit} ({detail.rule}){over}",
                      markup=True)
        out.print(f"due: {ops.local_time(ops.due_at(item), tz)}"
                  + (f", expires {ops.local_time(item.expires_at, tz)}"
                     if item.expires_at else ""))
        if detail.article_url:
            out.print(f"article: {detail.article_url}")
        if item.link:
            out.print(f"link: {item.link}")
        if item.image:
            out.print(f"image: {item.image.url}" + (f" (alt: {item.image.alt})"
                                                    if item.image.alt else ""))
        if item.remote_url or item.remote_id:
            out.print(f"on the platform: {item.remote_url or item.remote_id}")
        out.rule("text")
        out.print(item.text, markup=False)
        out.rule(f"attempts ({item.attempts} in the current budget)")
        if not detail.attempts:
            out.print("none yet")
            return
        table = Table(box=None, header_style="bold", pad_edge=False)
        for name in ("#", "STARTED", "OUTCOME", "HTTP", "BY", "ERROR / REMOTE"):
            table.add_column(name, overflow="fold")
        for a in detail.attempts:
            table.add_row(str(a.number), when(a.started_at, tz, seconds=True), a.outcome.value,
                          str(a.http_status or ""), a.worker, a.error or a.remote_url or "")
        out.print(table)


@queue_app.command("edit")
@handle_errors
def edit(
    post_id: PostId,
    text: Annotated[str | None, typer.Option("--text", help="The new text.",
                                             show_default=False)] = None,
    at: Annotated[str | None, typer.Option("--at", help='The new time ("in 2h", '
                                           '"tomorrow 09:00", ISO 8601).',
                                           show_default=False)] = None,
    channel: Annotated[str | None, typer.Option("--channel", "-c", help="Another channel.",
                                                show_default=False)] = None,
    by: By = None,
    as_json: Json = False,
) -> None:
    """Change a post's text, time or channel before it is published.

    Drafts, queued and waiting posts; a failed post edited is queued again
    with a fresh attempts budget. The text is counted again against the
    channel's limit.

    Example: [bold]publisher queue edit 42 --text "Bridge reopens Monday" --at "in 30m"[/bold]
    """
    from publisher.services import desk as ops

    with desk() as d:
        item = ops.edit_post(d, post_id, text=text, at=at, channel=channel, by=_by(by))
        _done(d, item, "changed", as_json)


@queue_app.command("cancel")
@handle_errors
def cancel(post_ids: PostIds = None, channel: Channels = None, status: Statuses = None,
           since: Since = None, dry_run: DryRun = False, by: By = None,
           as_json: Json = False) -> None:
    """Cancel posts that have not gone out: by id, or all that match the filters.

    One line per post; exit 2 when any was refused.

    Example: [bold]publisher queue cancel 42 43[/bold], [bold]publisher queue cancel
    --channel x --status queued --since "today 06:00" --dry-run[/bold]
    """
    from publisher.services import desk_changes as ops

    with desk() as d:
        result = ops.cancel_posts(d, post_ids or (), by=_by(by), statuses=status or (),
                                  channels=channel or (), since=since, dry_run=dry_run)
        _batch_done(d, result, "cancelled", as_json,
                    single=len(post_ids or ()) == 1 and not (channel or status or since))


@queue_app.command("retry")
@handle_errors
def retry(post_ids: PostIds = None, channel: Channels = None, status: Statuses = None,
          since: Since = None, dry_run: DryRun = False, by: By = None,
          as_json: Json = False) -> None:
    """Send failed or needs_review posts again, now: by id, or all that match the filters.

    Each gets a fresh attempts budget and a fresh max_age. A post that
    failed before it had a text (a template error) is rendered again with
    its template as it is now. One line per post; exit 2 when any was
    refused.

    Example: [bold]publisher queue retry 42[/bold], [bold]publisher queue retry --channel x
    --status failed --since "today 06:00" --dry-run[/bold]
    """
    from publisher.services import desk_changes as ops

    with desk() as d:
        result = ops.retry_posts(d, post_ids or (), by=_by(by), statuses=status or (),
                                 channels=channel or (), since=since, dry_run=dry_run)
        _batch_done(d, result, "queued again", as_json,
                    single=len(post_ids or ()) == 1 and not (channel or status or since))


@queue_app.command("resolve")
@handle_errors
def resolve(
    post_id: PostId,
    published: Annotated[str | None, typer.Option(
        "--published", help="It is on the platform, at this URL.", show_default=False)] = None,
    not_published: Annotated[bool, typer.Option(
        "--not-published", help="It is not on the platform: send it again.")] = False,
    by: By = None,
    as_json: Json = False,
) -> None:
    """Settle a post in needs_review: it is on the platform, or it is not.

    Such a post had an attempt whose outcome its platform cannot tell; look
    at the channel, then say what you saw.

    Example: [bold]publisher queue resolve 42 --published https://t.me/newsroom/1234[/bold]
    """
    from publisher.services import desk as ops

    with desk() as d:
        item = ops.resolve_post(d, post_id, by=_by(by), published=published,
                                not_published=not_published)
        _done(d, item, "resolved", as_json)


@queue_app.command("approve")
@handle_errors
def approve(post_ids: PostIds = None, channel: Channels = None, status: Statuses = None,
             since: Since = None, dry_run: DryRun = False, by: By = None,
             as_json: Json = False) -> None:
    """Queue drafts (channels with approval = true wait for this): by id, or
    all that match the filters.

    Example: [bold]publisher queue approve 42[/bold], [bold]publisher queue approve
    --channel wire --since "today 06:00"[/bold]
    """
    from publisher.services import desk_changes as ops

    with desk() as d:
        result = ops.approve_posts(d, post_ids or (), by=_by(by), statuses=status or (),
                                   channels=channel or (), since=since, dry_run=dry_run)
        _batch_done(d, result, "approved", as_json,
                    single=len(post_ids or ()) == 1 and not (channel or status or since))
