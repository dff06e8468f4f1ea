"""The desk's state changes: edit (and reschedule), cancel, approve, retry,
resolve.

The lifecycle decides each (``lifecycle.edit`` … ``lifecycle.resolve``:
a ``Change`` or a ``Refuse``); ``apply`` carries the decision out, in one
place.  This module only reads the editor's input and the facts the
decision needs.
"""

from __future__ import annotations

from publisher.exceptions import InputError
from publisher.services import lifecycle
from publisher.services.desk_input import check_channels, parse_id, parse_when
from publisher.services.desk_posting import http_url
from publisher.services.lifecycle import Change, ChannelRules, EditorDecision, Refuse
from publisher.services.ports import AppPorts
from publisher.types import OutboxItem, Outcome, PostStatus


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
              at: str | None = None, channel: str | None = None) -> OutboxItem:
    """Change a post's text, time or channel while it is a draft, queued or
    waiting; the text is counted again against the (new) channel's limit."""
    if text is None and at is None and channel is None:
        raise InputError("nothing to change: give --text, --at or --channel")
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
                              taken_by=taken[target][0] if target in taken else None)
    return apply(app, item, decision, worker="editor", action="changed")


def cancel_post(app: AppPorts, post_id: str | int) -> OutboxItem:
    """Cancel a post that has not gone out (draft, queued, waiting, needs_review)."""
    item = get_post(app, post_id)
    return apply(app, item, lifecycle.cancel(item), worker="editor", action="cancelled")


def approve_post(app: AppPorts, post_id: str | int) -> OutboxItem:
    """A draft goes into the queue (due at its time, or now)."""
    item = get_post(app, post_id)
    return apply(app, item, lifecycle.approve(item), worker="editor", action="approved")


def retry_post(app: AppPorts, post_id: str | int, *, by: str) -> OutboxItem:
    """A failed or needs_review post is queued again, due now, with a fresh
    attempts budget."""
    item = get_post(app, post_id)
    decision = lifecycle.retry(item, _rules(app, item.channel), by=by, now=app.now())
    return apply(app, item, decision, worker=f"editor:{by}", action="retried")


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
