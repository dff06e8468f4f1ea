"""The desk: what editors and ops do from the command line, as functions of the app.

Every function takes the app first (``desk.add_posts(app, …)``), typed as
``publisher.services.ports.AppPorts``.  The verbs live in one module each,
by what they do, and are re-exported here:

- ``desk_posting``: queue an article or a text, preview (posts composed by
  ``lifecycle.compose``);
- ``desk_changes``: edit, cancel, approve, retry, resolve (decided by the
  lifecycle, carried out by ``desk_changes.apply``);
- ``desk_control``: pause and resume channels;
- ``desk_log``: the publish log, filtered and followed;
- ``desk_status``: one post and why it waits, ``status``;
- ``desk_input``: reading the editor's input and listing the queue.

The app is ``make_app``'s, built lazily: there is no second, lighter copy.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from publisher.services.desk_changes import (
    apply,
    approve_post,
    cancel_post,
    edit_post,
    get_post,
    resolve_post,
    retry_post,
)
from publisher.services.desk_control import ResumeResult, pause, resume
from publisher.services.desk_input import (
    FUTURE_LIMIT,
    MAX_ID,
    PAST_GRACE,
    Listing,
    check_channels,
    due_at,
    list_posts,
    local_time,
    parse_id,
    parse_outcomes,
    parse_priority,
    parse_since,
    parse_statuses,
    parse_when,
    quote,
)
from publisher.services.desk_log import LogFollower, LogQuery, log_query, read_log
from publisher.services.desk_posting import (
    Added,
    AddResult,
    Preview,
    add_posts,
    find_or_fetch,
    preview,
)
from publisher.services.desk_status import (
    DAEMON_TIMEOUT,
    FEED_FAILING,
    STUCK_AFTER,
    ChannelReport,
    DaemonReport,
    FeedReport,
    PostDetail,
    StatusReport,
    listing,
    show_post,
    status,
    why_waiting,
)
from publisher.services.ports import AppPorts


def who_am_i(environ: Mapping[str, str] | None = None) -> str:
    """The editor's name for ``--by`` (``$USER``)."""
    env = os.environ if environ is None else environ
    name = env.get("USER") or env.get("LOGNAME") or env.get("USERNAME")
    if not name:
        import getpass

        try:
            name = getpass.getuser()
        except (OSError, KeyError):
            name = "unknown"
    return name


__all__ = [
    "DAEMON_TIMEOUT",
    "FEED_FAILING",
    "FUTURE_LIMIT",
    "MAX_ID",
    "PAST_GRACE",
    "STUCK_AFTER",
    "AddResult",
    "Added",
    "AppPorts",
    "ChannelReport",
    "DaemonReport",
    "FeedReport",
    "Listing",
    "LogFollower",
    "LogQuery",
    "PostDetail",
    "Preview",
    "ResumeResult",
    "StatusReport",
    "add_posts",
    "apply",
    "approve_post",
    "cancel_post",
    "check_channels",
    "due_at",
    "edit_post",
    "find_or_fetch",
    "get_post",
    "list_posts",
    "listing",
    "local_time",
    "log_query",
    "parse_id",
    "parse_outcomes",
    "parse_priority",
    "parse_since",
    "parse_statuses",
    "parse_when",
    "pause",
    "preview",
    "quote",
    "read_log",
    "resolve_post",
    "resume",
    "retry_post",
    "show_post",
    "status",
    "who_am_i",
    "why_waiting",
]
