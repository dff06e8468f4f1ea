"""The desk's state changes: edit (and reschedule), cancel, approve, retry,
resolve.

The lifecycle decides each (``lifecycle.edit`` … ``lifecycle.resolve``:
a ``Change`` or a ``Refuse``); ``apply`` carries the decision out, in one
place.  This module only reads the editor's input and the facts the
decision needs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from publisher.exceptions import InputError, RenderError
from publisher.services import lifecycle
from publisher.services.desk_input import (
    check_channels,
    parse_id,
    parse_since,
    parse_statuses,
    parse_when,
)
from publisher.services.desk_posting import http_url
from publisher.services.lifecycle import Change, ChannelRules, EditorDecision, Refuse
from publisher.services.ports import AppPorts
from publisher.types import OutboxItem, Outcome, PostStatus, RenderedPost


def get_post(app: AppPorts, post_id: str | int) -> OutboxItem:
    return app.store.get_post(parse_id(post_id))


def _rules(app: AppPorts, name: str) -> ChannelRules:
    """The lifecycle's view of channel ``name`` (not configured: says so)."""
    from publisher.services.plan import channel_rules

    cfg = app.config.channels.get(name)
    return channel_rules(cfg) if cfg is not None else ChannelRules(name, configured=False)


def apply(app: AppPorts, item: OutboxItem, decision: EditorDecision, *, worker: str,
          action: str) -> OutboxItem:
    """Carry out an editor's decision on ``item``; the post as it is now.

    The log row goes first: the dispatcher trusts a post's newest row, and a
    needs_review row must not stay the newest once the post is queued again.
    The change is a compare-and-set on the post's status (and no worker
    holding it): an editor or a worker who was quicker wins, and this one
    says so."""
    now = app.now()
    match decision:
        case Refuse(message):
            raise InputError(message)
        case Change(fields, expected, row):
            if row is not None:
                app.store.log_event(item.id, worker=worker, now=now, outcome=row.outcome,
                                    error=row.error, remote_id=row.remote_id,
                                    remote_url=row.remote_url)
            if fields.get("status") is PostStatus.PUBLISHED:
                remote_url = fields.get("remote_url")
                changed = app.store.set_post_status(
                    item.id, PostStatus.PUBLISHED, expected=expected, now=now,
                    remote_url=remote_url if isinstance(remote_url, str) else None)
            else:
                changed = app.store.edit_post(item.id, expected=expected, now=now,
                                              changes=fields)
            if not changed:
                current = app.store.get_post(item.id)
                raise InputError(f"post {item.id} changed meanwhile (it is {current.status} "
                                 f"now); nothing {action}")
    return app.store.get_post(item.id)


def edit_post(app: AppPorts, post_id: str | int, *, text: str | None = None,
              at: str | None = None, channel: str | None = None,
              by: str = "editor") -> OutboxItem:
    """Change a post's text, time or channel while it is a draft, queued or
    waiting; the text is counted again against the (new) channel's limit.
    A failed post edited is queued again (``lifecycle.edit``)."""
    from publisher.services.desk_input import editor_name, editor_text

    if text is None and at is None and channel is None:
        raise InputError("nothing to change: give --text, --at or --channel")
    text = editor_text(text) if text is not None else None
    by = editor_name(by) or "editor"
    item = get_post(app, post_id)
    target = item.channel
    if channel is not None:
        [target] = check_channels(app.config.channels, [channel])
    rules = _rules(app, target)
    moved = target != item.channel
    in_doubt = (text is not None or moved) and bool(app.store.attempts(
        post_id=item.id, outcomes=[Outcome.AMBIGUOUS, Outcome.STARTED], limit=1))
    taken = (app.store.article_channels(item.article_id)
             if moved and item.article_id is not None else {})
    when = parse_when(at, tz=app.config.timezone, now=app.now()) if at is not None else None
    decision = lifecycle.edit(item, rules, text=text, at=when, in_doubt=in_doubt,
                              taken_by=taken[target][0] if target in taken else None,
                              now=app.now(), by=by)
    return apply(app, item, decision, worker=f"editor:{by}", action="changed")


def cancel_post(app: AppPorts, post_id: str | int, *, by: str = "editor") -> OutboxItem:
    """Cancel a post that has not gone out (draft, queued, waiting,
    needs_review); the log names ``by``."""
    item = get_post(app, post_id)
    return apply(app, item, lifecycle.cancel(item, by=by), worker=f"editor:{by}",
                 action="cancelled")


def approve_post(app: AppPorts, post_id: str | int, *, by: str = "editor") -> OutboxItem:
    """A draft goes into the queue (due at its time, or now); the log names ``by``."""
    item = get_post(app, post_id)
    return apply(app, item, lifecycle.approve(item, by=by), worker=f"editor:{by}",
                 action="approved")


def retry_post(app: AppPorts, post_id: str | int, *, by: str) -> OutboxItem:
    """A failed or needs_review post is queued again, due now, with a fresh
    attempts budget."""
    item = get_post(app, post_id)
    return apply(app, item, _retry_decision(app, item, by=by), worker=f"editor:{by}",
                 action="retried")


def _rendered_again(app: AppPorts, item: OutboxItem) -> RenderedPost | RenderError | None:
    """A post that failed before it had a text, its article rendered again
    with its template as the templates are now (None: nothing to render)."""
    channel = app.config.channels.get(item.channel)
    if item.text.strip() or item.article_id is None or channel is None:
        return None
    from publisher.services.desk_posting import announced_limit
    from publisher.services.plan import rendered_or_error

    article = app.store.get_article(item.article_id)
    return rendered_or_error(app.renderer, channel, article.data, item.template,
                             max_length=announced_limit(app, item.channel))


def _retry_decision(app: AppPorts, item: OutboxItem, *, by: str) -> EditorDecision:
    return lifecycle.retry(item, _rules(app, item.channel), by=by, now=app.now(),
                           rendered=_rendered_again(app, item))


def resolve_post(app: AppPorts, post_id: str | int, *, by: str, published: str | None = None,
                 not_published: bool = False) -> OutboxItem:
    """Settle a needs_review post: it is on the platform (``published`` is
    its URL) or it is not (queued to be sent again)."""
    if (published is None) == (not not_published):
        raise InputError("give either --published URL or --not-published")
    item = get_post(app, post_id)
    url = http_url(published, "--published") if published is not None else None
    decision = lifecycle.resolve(item, _rules(app, item.channel), by=by, published_url=url,
                                 now=app.now())
    return apply(app, item, decision, worker=f"editor:{by}", action="resolved")


# -- several posts at once: ids and filters -------------------------------------------------


@dataclass(frozen=True)
class BatchLine:
    """One post of a batch: as it is now (``item``), or why it was refused."""

    post_id: int
    channel: str
    item: OutboxItem | None = None
    refused: str | None = None
    #: ``--dry-run``: what would be done (the decision's log line, or its new status).
    would: str | None = None


@dataclass(frozen=True)
class BatchResult:
    """What a verb did to each post it was given, in order."""

    action: str
    dry_run: bool
    lines: tuple[BatchLine, ...]

    @property
    def refused(self) -> tuple[BatchLine, ...]:
        return tuple(line for line in self.lines if line.refused is not None)


def select_posts(app: AppPorts, ids: Sequence[str | int] = (), *,
                 statuses: Sequence[str] = (), channels: Sequence[str] = (),
                 since: str | None = None,
                 default_statuses: Sequence[PostStatus] = ()) -> list[OutboxItem]:
    """The posts a batch verb works on, oldest first: the ``ids`` (narrowed
    by the filters given), or every post matching the filters (status
    default: ``default_statuses``, those the verb can change).  Nothing at
    all named is refused: a bare ``queue cancel`` must not cancel the queue."""
    if not ids and not (statuses or channels or since):
        raise InputError("which posts? give their ids, or filters (--channel, --status, "
                         "--since)")
    wanted = parse_statuses(statuses)
    names = check_channels(app.config.channels, channels)
    after = (parse_since(since, tz=app.config.timezone, now=app.now())
             if since is not None else None)
    if not ids:
        found = app.store.list_posts(statuses=wanted or list(default_statuses),
                                     channels=names or None, since=after, limit=10_000)
        return sorted(found, key=lambda i: i.id)
    items: dict[int, OutboxItem] = {}
    for raw in ids:
        item = get_post(app, raw)
        if ((not wanted or item.status in wanted) and (not names or item.channel in names)
                and (after is None or item.created_at >= after)):
            items.setdefault(item.id, item)
    return list(items.values())


def _would(decision: Change) -> str:
    row = decision.log_row
    if row is not None and row.error and row.outcome is not Outcome.REQUESTED:
        return row.error  # an editor's own row only names them: the status says more
    status = decision.fields.get("status")
    return f"would become {status}" if status is not None else "would change"


def _batch(app: AppPorts, items: Sequence[OutboxItem],
           decide: Callable[[OutboxItem], EditorDecision], *, worker: str, action: str,
           dry_run: bool) -> BatchResult:
    """Decide and carry out one verb on each post; a refusal (or a post that
    changed meanwhile) is a line of its own and the batch goes on."""
    lines: list[BatchLine] = []
    for item in items:
        try:
            decision = decide(item)
            if isinstance(decision, Change) and dry_run:
                lines.append(BatchLine(item.id, item.channel, item, would=_would(decision)))
                continue
            now = apply(app, item, decision, worker=worker, action=action)
            lines.append(BatchLine(item.id, item.channel, now))
        except InputError as exc:
            lines.append(BatchLine(item.id, item.channel, refused=str(exc)))
    return BatchResult(action, dry_run, tuple(lines))


def retry_posts(app: AppPorts, ids: Sequence[str | int] = (), *, by: str,
                statuses: Sequence[str] = (), channels: Sequence[str] = (),
                since: str | None = None, dry_run: bool = False) -> BatchResult:
    """``retry_post`` for each post named or matching the filters (default
    status: failed and needs_review)."""
    items = select_posts(app, ids, statuses=statuses, channels=channels, since=since,
                         default_statuses=(PostStatus.FAILED, PostStatus.NEEDS_REVIEW))
    return _batch(app, items, lambda item: _retry_decision(app, item, by=by),
                  worker=f"editor:{by}", action="retried", dry_run=dry_run)


def cancel_posts(app: AppPorts, ids: Sequence[str | int] = (), *, by: str = "editor",
                 statuses: Sequence[str] = (), channels: Sequence[str] = (),
                 since: str | None = None, dry_run: bool = False) -> BatchResult:
    """``cancel_post`` for each post named or matching the filters (default
    status: every one a cancel applies to)."""
    items = select_posts(app, ids, statuses=statuses, channels=channels, since=since,
                         default_statuses=(PostStatus.DRAFT, PostStatus.QUEUED,
                                           PostStatus.WAITING, PostStatus.NEEDS_REVIEW))
    return _batch(app, items, lambda item: lifecycle.cancel(item, by=by),
                  worker=f"editor:{by}", action="cancelled", dry_run=dry_run)


def approve_posts(app: AppPorts, ids: Sequence[str | int] = (), *, by: str = "editor",
                  statuses: Sequence[str] = (), channels: Sequence[str] = (),
                  since: str | None = None, dry_run: bool = False) -> BatchResult:
    """``approve_post`` for each draft named or matching the filters."""
    items = select_posts(app, ids, statuses=statuses, channels=channels, since=since,
                         default_statuses=(PostStatus.DRAFT,))
    return _batch(app, items, lambda item: lifecycle.approve(item, by=by),
                  worker=f"editor:{by}", action="approved", dry_run=dry_run)
