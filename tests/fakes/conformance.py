"""Checks every channel adapter must pass against its wire-level fake."""

from __future__ import annotations

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
