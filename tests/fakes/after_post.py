"""A retraction run under random faults, as the dispatcher would carry it out,
for the adapters' after-the-post methods (issue 13): delete each post, and when
a delete is in doubt, settle it by reading the post back.

The fakes' random faults (``fault_rate``) hit deletes and read-backs alike; the
run ends with every post asked for gone and nothing else touched, whatever
the faults were.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from publisher.exceptions import Ambiguous, ChannelError, RateLimited, Transient

#: The faults a retraction run draws from.
RUN_FAULTS = ("500", "503", "429", "reset_before", "reset_after")

#: Faults on a delete: what the adapter must raise, with which status, and
#: whether the post is gone afterwards (a reset after the delete arrived: it
#: was applied, only the answer was lost).
DELETE_FAULTS = [
    ("500", Transient, 500, False),
    ("503", Transient, 503, False),
    ("reset_before", Ambiguous, None, False),
    ("reset_after", Ambiguous, None, True),
]

#: Faults on a read-back, each transient (a read changes nothing), and the status.
READ_BACK_FAULTS = [("500", 500), ("503", 503), ("reset_before", None), ("reset_after", None)]


def assert_raises_under_fault(fake: Any, on: str, kind: str, call: Callable[[], object],
                      error: type[ChannelError], status: int | None) -> None:
    """``call`` under fault ``kind`` queued on scope ``on`` raises exactly
    ``error`` with ``status``."""
    fake.fail_next(kind, on=on)
    with pytest.raises(error) as caught:
        call()
    assert type(caught.value) is error
    assert caught.value.http_status == status


def assert_delete_fault_maps(channel: Any, fake: Any, remote_id: str, kind: str,
                             error: type[ChannelError], status: int | None, gone: bool) -> None:
    """A delete under fault ``kind`` raises ``error`` with ``status``, and the
    read-back then says whether the post is ``gone``."""
    assert_raises_under_fault(fake, "delete", kind, lambda: channel.delete(remote_id), error,
                              status)
    assert (channel.read_back(remote_id) is None) is gone


def assert_delete_rate_limited_until_announced(channel: Any, fake: Any, remote_id: str) -> None:
    """A delete answered 429 is RateLimited until the reset the fake announced
    (within the second its header rounds to), and nothing was deleted."""
    fake.fail_next("429", on="delete")
    with pytest.raises(RateLimited) as caught:
        channel.delete(remote_id)
    assert fake.rate_limit_reset is not None
    announced = datetime.fromtimestamp(fake.rate_limit_reset, UTC)
    assert abs(caught.value.until - announced) <= timedelta(seconds=1.5)
    assert fake.deleted == []


def assert_lost_delete_settled_by_read_back(channel: Any, fake: Any, remote_id: str) -> None:
    """A delete applied whose answer was lost is Ambiguous; the read-back
    settles it (gone), and deleting again is harmless (one delete applied)."""
    fake.fail_next("reset_after", on="delete")
    with pytest.raises(Ambiguous):
        channel.delete(remote_id)
    assert channel.read_back(remote_id) is None  # it was deleted: done
    channel.delete(remote_id)  # and a retry would be harmless
    assert len(fake.deleted) == 1


@dataclass
class RunReport:
    """What a run saw: calls made and how each doubt was settled."""

    deletes: int = 0
    read_backs: int = 0
    ambiguous: int = 0
    settled_gone: int = 0
    settled_still_there: int = 0
    errors: dict[str, int] = field(default_factory=dict)


def _read_back(channel: Any, remote_id: str, report: RunReport, tries: int) -> str | None:
    for _ in range(tries):
        report.read_backs += 1
        try:
            text: str | None = channel.read_back(remote_id)
            return text
        except (Transient, RateLimited) as exc:
            report.errors[type(exc).__name__] = report.errors.get(type(exc).__name__, 0) + 1
    raise AssertionError(f"read back of {remote_id} never answered in {tries} tries")


def retract(channel: Any, remote_ids: Iterable[str], *, tries: int = 60) -> RunReport:
    """Delete every post of ``remote_ids``; a delete in doubt is read back
    (gone: done; still there: delete again). Retries are immediate: the fakes
    do not enforce their announced resets unless told to."""
    report = RunReport()
    for remote_id in remote_ids:
        for _ in range(tries):
            report.deletes += 1
            try:
                channel.delete(remote_id)
                break
            except (Transient, RateLimited) as exc:
                name = type(exc).__name__
                report.errors[name] = report.errors.get(name, 0) + 1
            except Ambiguous:
                report.ambiguous += 1
                if _read_back(channel, remote_id, report, tries) is None:
                    report.settled_gone += 1
                    break
                report.settled_still_there += 1
        else:
            raise AssertionError(f"delete of {remote_id} never succeeded in {tries} tries")
    return report
