"""Timings the services report, for whoever listens (the ``/metrics`` histograms).

The dispatcher and ingest call ``call_took``/``poll_took``; ``publisher.web``
registers listeners with ``on_call``/``on_poll`` when the listener starts.
With no listener a report costs one empty loop, and services never import
the web layer or prometheus_client.  A listener must be quick and must not
raise (an exception is logged and dropped).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

log = logging.getLogger("publisher.observe")

CallListener = Callable[[str, float], None]  # (channel, seconds)
PollListener = Callable[[str, str, float], None]  # (feed, result, seconds)

_calls: list[CallListener] = []
_polls: list[PollListener] = []


def on_call(listener: CallListener) -> None:
    """Hear about every platform call (publish or look-up) and its duration."""
    if listener not in _calls:
        _calls.append(listener)


def on_poll(listener: PollListener) -> None:
    """Hear about every feed poll, its result and its duration."""
    if listener not in _polls:
        _polls.append(listener)


def call_took(channel: str, seconds: float) -> None:
    """One platform call of ``channel`` took ``seconds`` (the dispatcher says)."""
    for listener in _calls:
        try:
            listener(channel, seconds)
        except Exception:  # a listener's bug must not fail a publish
            log.exception("call listener failed")


def poll_took(feed: str, result: str, seconds: float) -> None:
    """One poll of ``feed`` ended with ``result`` after ``seconds`` (ingest says)."""
    for listener in _polls:
        try:
            listener(feed, result, seconds)
        except Exception:
            log.exception("poll listener failed")
