"""After the post: retract an article, correct its posts (issue 13).

The desk's and the daemon's verbs; every arrow is decided by the pure
``publisher.services.lifecycle`` (``retract``, ``correct``, ``on_after_*``)
and the platform calls go through the outbox: a post to take down is put in
*deleting*, a post to correct in *editing*, and the dispatcher claims them
under the same lease, rate-limit gate and retry budget as a publication
(``AfterPostWorker``).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from publisher.channels import REGISTRY, Channel
from publisher.config import Config
from publisher.exceptions import (
    Ambiguous,
    ChannelError,
    ConfigError,
    InputError,
    NotFoundError,
    RateLimited,
)
from publisher.services import lifecycle as lc
from publisher.services.ports import AppPorts
from publisher.services.rate_gate import RateGate
from publisher.store.api import StoreAPI
from publisher.types import (
    AttemptKind,
    ChannelState,
    DeliveryClass,
    OutboxItem,
    Outcome,
    PostStatus,
    PublishRequest,
    PublishResult,
)

if TYPE_CHECKING:
    from publisher.services.channel_pool import ChannelPool

log = logging.getLogger("publisher.after_post")

#: Channel types on which repeating a delete or an edit is harmless, so a call
#: in doubt that cannot be read back is simply made again.  Telegram's Bot API
#: answers a repeated deleteMessage "Bad Request: message to delete not found"
#: and a repeated editMessageText "message is not modified"; the adapter takes
#: both as done (publisher/channels/telegram.py).
REPEAT_SAFE = frozenset({"telegram"})


@dataclass(frozen=True, slots=True)
class PostLine:
    """One post of the article and what retracting/correcting does to it."""

    post_id: int
    channel: str
    status: str  # the post's status before
    action: str  # "delete", "cancel", "edit", "note", "none", "editor", "already"
    detail: str = ""


@dataclass(frozen=True, slots=True)
class RetractReport:
    article_id: int
    url: str
    dry_run: bool
    lines: tuple[PostLine, ...] = field(default=())

    @property
    def for_editor(self) -> tuple[PostLine, ...]:
        """Posts a person must take down by hand."""
        return tuple(line for line in self.lines if line.action == "editor")


@dataclass(frozen=True, slots=True)
class CorrectReport:
    article_id: int
    url: str
    lines: tuple[PostLine, ...] = field(default=())



def after_facts(type_name: str) -> lc.AfterFacts:
    """What channel type ``type_name`` lets us do to a published post.  A
    read back is assumed where the type deletes or edits; an adapter
    without one (Telegram, webhook) says so with NotImplementedError, and
    the worker decides again without it."""
    kind = REGISTRY.get(type_name)
    if kind is None:
        return lc.AfterFacts()
    return lc.AfterFacts(can_delete=kind.can_delete, delete_window=kind.delete_window,
                         can_edit=kind.can_edit, can_reply=kind.can_reply,
                         read_back=kind.can_delete or kind.can_edit,
                         find_reply=kind.can_reply, repeat_safe=type_name in REPEAT_SAFE)


# -- the dispatcher's side: working posts in deleting and editing -------------------------


class AfterPostWorker:
    """Works claimed posts in deleting or editing for the dispatcher: the
    same lease (``claim_after`` takes over expired ones), the same
    rate-limit gate and pause, the same retry budget and backoff as a
    publication; every arrow decided by the lifecycle (``on_after_*``)."""

    def __init__(self, *, config: Config, store: StoreAPI, channels: ChannelPool,
                 rate_gate: RateGate, now: Callable[[], datetime],
                 rand: Callable[[], float], worker: str, lease_seconds: float):
        self.config = config
        self.store = store
        self.channels = channels
        self.rate_gate = rate_gate
        self.now = now
        self.rand = rand
        self.worker = worker
        self.lease_seconds = lease_seconds

    def claim(self, room: dict[str, int],
              states: Mapping[str, ChannelState] | None = None) -> list[OutboxItem]:
        """Lease due deletes and edits, at most ``room[channel]`` per channel;
        paused channels wait (their posts stay in deleting/editing).
        ``states``: the channels' states when the caller has just read them."""
        if states is None:
            states = self.store.channel_states()
        names = [n for n, r in room.items() if r > 0 and n in self.config.channels
                 and not (states.get(n) is not None and states[n].paused)]
        if not names:
            return []
        return self.store.claim_after(now=self.now(), worker=self.worker,
                                      lease_seconds=self.lease_seconds,
                                      limit=sum(room[n] for n in names), channels=names)

    def channel_facts(self, name: str, now: datetime) -> lc.ChannelFacts:
        cfg = self.config.channels.get(name)
        if cfg is None:
            return lc.ChannelFacts(DeliveryClass.REVIEW, configured=False, type="?")
        stored = self.store.channel_states().get(name)
        until = self.rate_gate.until(name, now)
        if stored is not None and stored.rate_limited_until is not None and (
                until is None or stored.rate_limited_until > until):
            until = stored.rate_limited_until
        return lc.ChannelFacts(DeliveryClass.REVIEW, max_attempts=cfg.retry.max_attempts,
                               retry_base=cfg.retry.base, retry_cap=cfg.retry.cap,
                               rate_limited_until=until, type=cfg.type)

    def work(self, item: OutboxItem, *, stopping: bool = False) -> None:
        try:
            if stopping:
                self.store.release_after([item.id], worker=self.worker)
                return
            self._work(item)
        except Exception:
            # A bug or the store failing: the lease runs out and the next
            # holder settles the open call (read back) before calling again.
            log.exception("post=%d channel=%s: after-post work failed", item.id, item.channel)

    def _work(self, item: OutboxItem) -> None:
        now = self.now()
        kind = lc.AfterKind(item.after_kind or (
            "delete" if item.status is PostStatus.DELETING else "edit"))
        rows = self.store.after_history(item.id)
        history = lc.AfterHistory.of(rows)
        requested = rows[-1].id if rows else 0
        reason = rows[-1].reason if rows else None
        cfg = self.config.channels.get(item.channel)
        facts = after_facts(cfg.type if cfg is not None else "?")
        channel = self.channel_facts(item.channel, now)
        job = _Job(item, kind, history, facts, channel, requested, reason)
        self._apply(job, lc.on_after_claim(kind, history, facts, channel, now=now))

    # -- carrying decisions out --------------------------------------------------------

    def _apply(self, job: _Job, decision: lc.AfterDecision, attempt_id: int | None = None,
               ) -> None:
        item, now = job.item, self.now()
        match decision:
            case lc.Call(kind=kind):
                self._call(job, kind)
            case lc.ReadBack(reason=reason):
                self._read_back(job, reason)
            case lc.AfterLogged(row=row, then=then):
                self.store.log_after_event(item.id, AttemptKind(job.kind.value),
                                           worker=self.worker, now=now, outcome=row.outcome,
                                           error=row.error)
                self._apply(job, then)
            case lc.PauseChannel(reason=reason, auth=auth, then=then):
                self.rate_gate.pause(item.channel)
                self.store.set_paused(item.channel, paused=True, now=now, reason=reason,
                                      by="publisher", auth_failed=auth)
                log.error("channel=%s paused: %s", item.channel, reason)
                self._apply(job, lc.Abandon(then.reason) if isinstance(then, lc.Fail) else then,
                            attempt_id)
            case lc.Wait(until=until, reason=reason, outcome=outcome, gate_until=gate):
                if gate is not None:
                    self.rate_gate.close(item.channel, gate)
                    self.store.set_rate_limited(item.channel, gate)
                self._finish(job, item.status, outcome, reason, attempt_id,
                             next_attempt_at=until)
            case lc.Review(reason=reason, outcome=outcome):
                self._finish(job, PostStatus.NEEDS_REVIEW, outcome, reason, attempt_id)
            case lc.Abandon(reason=reason, outcome=outcome):
                self._finish(job, PostStatus.PUBLISHED, outcome, reason, attempt_id)
            case lc.Done(outcome=outcome, remote_id=rid, remote_url=rurl, note=note):
                deleted = job.kind is lc.AfterKind.DELETE
                self._finish(job, PostStatus.RETRACTED if deleted else PostStatus.PUBLISHED,
                             outcome, note, attempt_id, remote_id=rid, remote_url=rurl,
                             applied_text=item.pending_text
                             if job.kind is lc.AfterKind.EDIT else None)
            case _:
                raise AssertionError(f"unknown decision {decision!r}")

    def _finish(self, job: _Job, status: PostStatus, outcome: Outcome | None,
                error: str | None, attempt_id: int | None, *,
                next_attempt_at: datetime | None = None, remote_id: str | None = None,
                remote_url: str | None = None, applied_text: str | None = None) -> None:
        item = job.item
        level = (logging.ERROR if status is PostStatus.NEEDS_REVIEW else logging.INFO)
        log.log(level, "post=%d channel=%s %s outcome=%s status=%s%s", item.id, item.channel,
                job.kind, outcome or "-", status, f" error={error}" if error else "",
                extra={"post": item.id, "channel": item.channel, "outcome": str(outcome)})
        ok = self.store.finish_after(
            item.id, worker=self.worker, now=self.now(), kind=AttemptKind(job.kind.value),
            outcome=outcome, status=status, attempt_id=attempt_id,
            next_attempt_at=next_attempt_at, error=error, remote_id=remote_id,
            remote_url=remote_url, applied_text=applied_text)
        if not ok:
            log.warning("post=%d channel=%s: lease lost before its %s was recorded", item.id,
                        item.channel, job.kind)

    def _adapter(self, job: _Job) -> Channel | None:
        try:
            return self.channels.get(job.item.channel)
        except ConfigError as exc:
            self._apply(job, lc.Wait(self.now() + timedelta(seconds=300),
                                     f"cannot build channel: {exc}"))
            return None

    def _gate_closed(self, job: _Job) -> bool:
        now = self.now()
        closed = lc.before_call(replace(job.channel, rate_limited_until=self.rate_gate.until(
            job.item.channel, now)), now=now)
        if closed is not None:
            self._apply(job, closed)
            return True
        return False

    def _request(self, job: _Job, attempt: int) -> PublishRequest:
        item = job.item
        # One key per correction (its REQUESTED row): a note sent again after
        # a timeout is dropped by an idempotent platform.
        key = f"{item.idempotency_key[:40]}-{job.kind}-{job.requested}"
        return PublishRequest(post_id=item.id, idempotency_key=key,
                              text=item.pending_text or item.text, link=item.link,
                              title=item.title, summary=item.summary, attempt=attempt,
                              after_ambiguous=job.history.in_doubt)

    def _call(self, job: _Job, kind: lc.AfterKind) -> None:
        item = job.item
        if item.remote_id is None:
            self._apply(job, lc.Abandon(f"{kind}: the post's id on the platform is not known "
                                        "(resolved by hand?): do it on the platform"))
            return
        if self._gate_closed(job):
            return
        adapter = self._adapter(job)
        if adapter is None:
            return
        attempt = self.store.start_after_attempt(
            item.id, AttemptKind(kind.value), worker=self.worker, now=self.now(),
            old_text=item.text, new_text=item.pending_text if kind is not lc.AfterKind.DELETE
            else None)
        if attempt is None:
            log.warning("post=%d channel=%s: lease lost before the %s", item.id, item.channel,
                        kind)
            return
        answer: PublishResult | ChannelError | None
        try:
            if kind is lc.AfterKind.DELETE:
                delete = adapter.delete  # type: ignore[attr-defined]
                if job.reason and "reason" in inspect.signature(delete).parameters:
                    delete(item.remote_id, reason=job.reason)  # the webhook's event says why
                else:
                    delete(item.remote_id)
                answer = None
            elif kind is lc.AfterKind.EDIT:
                answer = adapter.edit(item.remote_id,  # type: ignore[attr-defined]
                                      self._request(job, attempt.number))
            else:
                answer = adapter.reply(item.remote_id,  # type: ignore[attr-defined]
                                       self._request(job, attempt.number))
        except RateLimited as exc:
            self.rate_gate.close(item.channel, exc.until)
            answer = exc
        except ChannelError as exc:
            answer = exc
        except (NotImplementedError, AttributeError) as exc:
            self._apply(job, lc.Abandon(f"{kind}: this channel cannot do it ({exc})"),
                        attempt.id)
            return
        except Exception as exc:
            log.exception("post=%d channel=%s: unexpected error from the adapter's %s",
                          item.id, item.channel, kind)
            answer = Ambiguous(f"unexpected {type(exc).__name__}: {exc}")
        self._apply(job, lc.on_after_outcome(kind, answer, job.history, job.channel,
                                             attempt=attempt.number, now=self.now(),
                                             rand=self.rand), attempt.id)

    def _read_back(self, job: _Job, reason: str) -> None:
        item = job.item
        if item.remote_id is None:
            self._apply(job, lc.Review(f"{job.kind} in doubt and the post's id is unknown"))
            return
        if self._gate_closed(job):
            return
        adapter = self._adapter(job)
        if adapter is None:
            return
        log.info("post=%d channel=%s: reading it back (%s)", item.id, item.channel, reason)
        found: str | PublishResult | ChannelError | None
        try:
            if job.kind is lc.AfterKind.NOTE:
                found = adapter.find_reply(item.remote_id,  # type: ignore[attr-defined]
                                           self._request(job, item.attempts))
            else:
                found = adapter.read_back(item.remote_id)  # type: ignore[attr-defined]
        except (NotImplementedError, AttributeError):
            facts = replace(job.facts, read_back=False, find_reply=False)
            self._apply(job, lc.on_after_claim(job.kind, job.history, facts,
                                               replace(job.channel, rate_limited_until=None),
                                               now=self.now()))
            return
        except RateLimited as exc:
            self.rate_gate.close(item.channel, exc.until)
            found = exc
        except ChannelError as exc:
            found = exc
        except Exception as exc:
            log.exception("post=%d channel=%s: unexpected error reading it back", item.id,
                          item.channel)
            found = ChannelError(f"{type(exc).__name__}: {exc}")
        self._apply(job, lc.on_read_back(job.kind, found, new_text=item.pending_text,
                                         history=job.history, channel=job.channel,
                                         attempts=item.attempts, now=self.now(),
                                         rand=self.rand))


@dataclass(frozen=True)
class _Job:
    item: OutboxItem
    kind: lc.AfterKind
    history: lc.AfterHistory
    facts: lc.AfterFacts
    channel: lc.ChannelFacts
    requested: int  # the id of its REQUESTED row
    reason: str | None = None  # the editor's why (a webhook's retract event carries it)


# -- the desk's side: retract and correct -------------------------------------------------


def find_target(app_ports: AppPorts, target: str) -> int:
    """The article named by ``target``: an article id, ``article:ID``, the
    article's URL, or ``post:ID`` (a post of it).  A bare number that is no
    article's id is tried as a post id.  ``NotFoundError`` naming it."""
    store, text = app_ports.store, target.strip()
    if text.lower().startswith(("http://", "https://")):
        from publisher.sources.normalize import canonical_url

        canonical = canonical_url(text)
        article = store.find_article(canonical) if canonical else None
        if article is None:
            article = store.find_article(text)
        if article is None:
            raise NotFoundError(f"no article with URL {text!r}")
        return article.id
    kind, _, rest = text.partition(":")
    if rest and kind.lower() in ("post", "article"):
        from publisher.services.desk_input import parse_id

        number = parse_id(rest, kind.lower())
        if kind.lower() == "article":
            return store.get_article(number).id
        post = store.get_post(number)
        if post.article_id is None:
            raise NotFoundError(f"post {number} has no article (a text post): cancel or "
                                "delete it by hand")
        return post.article_id
    from publisher.services.desk_input import parse_id

    number = parse_id(text, "article")
    try:
        return store.get_article(number).id
    except NotFoundError:
        try:
            post = store.get_post(number)
        except NotFoundError:
            raise NotFoundError(f"no article or post with id {number}") from None
        if post.article_id is None:
            raise NotFoundError(f"no article with id {number} (post {number} is a text post)"
                                ) from None
        return post.article_id


def _channel_filter(app_ports: AppPorts, items: list[OutboxItem],
                    channels: tuple[str, ...]) -> list[OutboxItem]:
    if not channels:
        return items
    known = set(app_ports.config.channels) | {i.channel for i in items}
    for name in channels:
        if name not in known:
            listed = ", ".join(sorted(known)) or "none"
            raise InputError(f"--channel: unknown channel {name!r} (known: {listed})")
    return [i for i in items if i.channel in channels]


def _type_of(app_ports: AppPorts, channel: str) -> str:
    cfg = app_ports.config.channels.get(channel)
    return cfg.type if cfg is not None else "?"


def retract_article(app_ports: AppPorts, target: str, *, channels: tuple[str, ...] = (),
                    reason: str, by: str, dry_run: bool = False) -> RetractReport:
    """Take every published post of the article ``target`` (article id, its
    URL, or a post id) down where its platform can, cancel its unsent posts,
    and mark the article retracted (never planned again).

    Each post's step is ``lifecycle.retract``'s; a delete is put in the
    outbox (deleting, with a REQUESTED row naming who and why) for the
    dispatcher, exactly once.  ``channels``: only these (the article is then
    not flagged retracted: it stays on the others).  ``dry_run``: what would
    happen, nothing written."""
    from publisher.services.desk_input import editor_name, editor_reason

    reason, by = editor_reason(reason), editor_name(by) or "editor"
    if not reason.strip():
        raise InputError("--reason: say why the article is retracted (it goes in the log)")
    store, now = app_ports.store, app_ports.now()
    article_id = find_target(app_ports, target)
    article = store.get_article(article_id)
    items = _channel_filter(app_ports, store.article_posts(article_id), channels)
    lines: list[PostLine] = []
    if not dry_run and not channels:
        store.mark_retracted(article_id, by=by, reason=reason, now=now)
    for item in items:
        facts = after_facts(_type_of(app_ports, item.channel))
        in_doubt = item.status is PostStatus.NEEDS_REVIEW and lc.History.of(
            store.attempts(post_id=item.id, limit=1000)).in_doubt
        step = lc.retract(item, facts, now=now, in_doubt=in_doubt)
        line = PostLine(item.id, item.channel, str(item.status), step.action, step.detail)
        if dry_run:
            lines.append(line)
            continue
        if step.action == "delete":
            if not store.request_after(item.id, AttemptKind.DELETE, expected=step.expected,
                                       by=by, reason=reason, now=now, old_text=item.text):
                line = replace(line, action="later", detail="changed meanwhile: run retract "
                               "again")
        elif step.action == "cancel":
            if store.edit_post(item.id, expected=step.expected, now=now,
                               changes={"status": PostStatus.CANCELLED,
                                        "next_attempt_at": None}):
                store.log_after_event(item.id, AttemptKind.DELETE, worker=f"editor:{by}",
                                      now=now, outcome=Outcome.FAILED, by=by, reason=reason,
                                      error=f"cancelled: its article was retracted by {by}")
            else:
                line = replace(line, action="later", detail="changed meanwhile: run retract "
                               "again")
        elif step.action == "editor":
            log.warning("post=%d channel=%s: retracted article, but %s", item.id,
                        item.channel, step.detail,
                        extra={"post": item.id, "channel": item.channel})
        lines.append(line)
    return RetractReport(article_id, article.data.url, dry_run, tuple(lines))


def _new_text(app_ports: AppPorts, item: OutboxItem, action: str,
              text: str | None) -> str:
    """The text of an edit (the article re-rendered with the post's own
    template) or of a correction note (``correction.j2``), or the editor's."""
    from publisher.exceptions import RenderError
    from publisher.services.plan import render_for

    if text is not None:
        from publisher.services.desk_input import editor_text

        text = editor_text(text)
        if not text.strip():
            raise InputError("--text: the text is empty")
        return text.strip()
    cfg = app_ports.config.channels.get(item.channel)
    if cfg is None or item.article_id is None:
        raise InputError(f"post {item.id}: its channel is not configured: give --text")
    article = app_ports.store.get_article(item.article_id)
    template = item.template if action == "edit" else "correction"
    try:
        return render_for(app_ports.renderer, cfg, article.data, template).text
    except RenderError as exc:
        raise InputError(f"post {item.id} on {item.channel}: template {template}: {exc}"
                         ) from None


def correct_article(app_ports: AppPorts, target: str, *, text: str | None = None, by: str,
                    reason: str | None = None, channels: tuple[str, ...] = (),
                    by_hand: bool = True) -> CorrectReport:
    """Correct the published posts of the article ``target`` per channel
    ``on_update`` (edit in place, else a correction note); ``text`` None:
    re-render from the article as stored now.  ``by_hand`` (the desk): a
    channel whose on_update is "ignore" is edited too; the daemon's
    detection passes False.  Each change is an attempt in the publish log
    with the old and the new text, exactly once."""
    from publisher.services.desk_input import editor_name, editor_reason

    by = editor_name(by) or "editor"
    reason = (editor_reason(reason) or None) if reason is not None else None
    store, now = app_ports.store, app_ports.now()
    article_id = find_target(app_ports, target)
    article = store.get_article(article_id)
    items = _channel_filter(app_ports, store.article_posts(article_id), channels)
    lines: list[PostLine] = []
    for item in items:
        cfg = app_ports.config.channels.get(item.channel)
        mode = cfg.on_update if cfg is not None else "ignore"
        step = lc.correct(item, after_facts(_type_of(app_ports, item.channel)),
                          on_update=mode, by_hand=by_hand)
        line = PostLine(item.id, item.channel, str(item.status), step.action, step.detail)
        if step.action in ("edit", "note"):
            new = _new_text(app_ports, item, step.action, text)
            if step.action == "edit" and " ".join(new.split()) == " ".join(item.text.split()):
                line = replace(line, action="none", detail="the text is unchanged")
            elif not store.request_after(item.id, AttemptKind(step.action),
                                         expected=step.expected, by=by, reason=reason,
                                         now=now, old_text=item.text, new_text=new):
                line = replace(line, action="later",
                               detail="changed meanwhile: run correct again")
        lines.append(line)
    return CorrectReport(article_id, article.data.url, tuple(lines))
