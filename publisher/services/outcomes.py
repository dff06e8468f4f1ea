"""The dispatcher's group committer: attempts' outcomes recorded on a thread
of their own, several per commit."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from publisher.exceptions import StoreError
from publisher.store.api import Finish, StoreAPI

log = logging.getLogger("publisher.dispatch")


class GroupCommitter:
    """Records attempts' outcomes on a thread of its own, several per commit.

    SQLite has one writer: sixteen workers each committing their own outcome
    queue for it (and for the GIL while holding it).  Workers hand the
    outcome over and are free for the next post; the post stays leased and in
    ``publishing`` until the commit, so nobody can take it meanwhile, and a
    crash before the commit leaves the attempt *started*: reconciled, never
    simply sent again.  ``on_committed`` gets each batch's outcomes with their
    channels, after the commit."""

    def __init__(self, store: StoreAPI, on_committed: Callable[[list[tuple[Finish, str]]], None]):
        self._store = store
        self._on_committed = on_committed
        self._items: list[tuple[Finish, str]] = []
        self._cond = threading.Condition()
        self._busy = False
        self._closed = False
        self._thread: threading.Thread | None = None

    def submit(self, finish: Finish, channel: str) -> None:
        with self._cond:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="outcomes", daemon=True)
                self._thread.start()
            self._items.append((finish, channel))
            self._cond.notify_all()

    def pending(self) -> bool:
        """Whether outcomes are handed over and not yet committed."""
        with self._cond:
            return bool(self._items) or self._busy

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every outcome handed over is committed (or failed)."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._items and not self._busy, timeout)

    def close(self, timeout: float | None = None) -> None:
        self.flush(timeout)
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._items or self._closed)
                if not self._items:
                    return
                batch, self._items = self._items, []
                self._busy = True
            try:
                self._commit([finish for finish, _ in batch])
            finally:
                self._on_committed(batch)
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def _commit(self, finishes: list[Finish]) -> None:
        try:
            self._store.finish_attempts(finishes)
            return
        except StoreError as exc:
            if len(finishes) == 1:
                # One line, not a traceback: the post keeps its lease and its
                # started attempt is reconciled when it expires.
                log.warning("attempt=%d: its outcome could not be recorded: %s",
                            finishes[0].attempt_id, exc)
                return
        except Exception:
            if len(finishes) == 1:
                # The post keeps its lease; when it expires the started attempt
                # is reconciled like after a crash.
                log.exception("attempt=%d: its outcome could not be recorded",
                              finishes[0].attempt_id)
                return
        for finish in finishes:  # one bad outcome must not lose the others
            self._commit([finish])
