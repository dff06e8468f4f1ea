"""Checks every channel adapter must pass against its wire-level fake."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import pytest

from publisher.exceptions import Ambiguous, ChannelError, Transient
from publisher.types import PublishRequest

#: Faults every fake can play, and what the adapter must raise for each when
#: it publishes: a 5xx (JSON, HTML or plain text) is transient; a reset before
#: or after the post was stored may have reached the platform.
COMMON_FAULTS = [
    ("500", Transient, 500),
    ("503", Transient, 503),
    ("reset_before", Ambiguous, None),
    ("reset_after", Ambiguous, None),
]


def assert_fault_maps(channel: Any, fake: Any, request: PublishRequest, kind: str,
                      error: type[ChannelError], status: int | None) -> None:
    """Publishing under fault ``kind`` raises exactly ``error`` with ``status``."""
    fake.fail_next(kind)
    with pytest.raises(error) as caught:
        channel.publish(request)
    assert type(caught.value) is error
    assert caught.value.http_status == status


#: Faults under which each adapter's error messages are checked for secrets.
SECRET_FAULTS = ("500", "503", "429", "reset_before", "reset_after", "slow")


def raised(call: Callable[[], object],
           error: type[BaseException] = ChannelError) -> list[str]:
    """Run ``call``, which must raise ``error``: the str and repr of what it raised."""
    with pytest.raises(error) as caught:
        call()
    return [str(caught.value), repr(caught.value)]


def fault_texts(fake: Any, calls: Mapping[str, Callable[[str], object]], *,
                kinds: Iterable[str] = SECRET_FAULTS, clear: bool = False) -> list[str]:
    """For each fault ``kind`` and each scope of ``calls`` (``on`` -> a call
    given the kind), the str and repr of the ChannelError the call raised
    with that fault queued on that scope (``clear``: faults forgotten after
    each).  "slow" requests are let go at the end."""
    texts: list[str] = []
    for kind in kinds:
        for on, call in calls.items():
            fake.fail_next(kind, on=on)
            texts += raised(lambda call=call, kind=kind: call(kind))  # type: ignore[misc]
            if clear:
                fake.clear_faults()
    fake.release_slow()
    return texts
