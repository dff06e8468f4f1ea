"""After the post: retract an article, correct its posts (issue 13).

The desk's and the daemon's verbs; every arrow is decided by the pure
``publisher.services.lifecycle`` (``retract``, ``correct``, ``on_after_*``)
and the platform calls go through the outbox: a post to take down is put in
*deleting*, a post to correct in *editing*, and the dispatcher claims them
under the same lease, rate-limit gate and retry budget as a publication
(``AfterPostWorker``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from publisher.services.ports import AppPorts


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


def retract_article(app_ports: AppPorts, target: str, *, channels: tuple[str, ...] = (),
                    reason: str, by: str, dry_run: bool = False) -> RetractReport:
    """Take every published post of the article ``target`` (article id, its
    URL, or a post id) down where its platform can, cancel its unsent posts,
    and mark the article retracted (never planned again)."""
    raise NotImplementedError("retract_article: body follows")


def correct_article(app_ports: AppPorts, target: str, *, text: str | None = None, by: str,
                    reason: str | None = None) -> CorrectReport:
    """Correct the published posts of the article ``target`` per channel
    ``on_update`` (edit in place, else a correction note); ``text`` None:
    re-render from the article as stored now."""
    raise NotImplementedError("correct_article: body follows")
