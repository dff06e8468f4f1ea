"""The error tree.

::

    PublisherError
    ├── ConfigError            invalid settings or schedules; carries one line per problem
    ├── InputError             bad input from an editor at the CLI (exit 2)
    │   └── NotFoundError      an unknown post, article, channel or feed
    ├── FetchError             a feed could not be fetched (HTTP, size, time, redirects)
    ├── ParseError             a feed body could not be turned into entries
    ├── StoreError             the database failed (SQLAlchemy errors are mapped here)
    │   └── AlreadyRunning     another daemon holds the SQLite database
    ├── RenderError            a template failed, or a post cannot fit its limit
    │   └── TooLong
    └── ChannelError           what channel adapters raise (DESIGN.md, error taxonomy)
        ├── Transient          retry with backoff
        ├── RateLimited        wait until ``until``
        ├── Permanent          failed with the platform's message
        ├── AuthFailed         failed, and the channel is paused
        ├── AccountBlocked     the account cannot post until a person acts (X credits
        │                      depleted, a suspended app): the channel is paused with
        │                      that reason; posts wait, they are not failed
        └── Ambiguous          may have reached the platform: reconcile first

Foreign exceptions are translated at exactly one boundary per dependency;
nothing outside that boundary catches httpx, SQLAlchemy or SDK errors.
Messages never contain secrets.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime


class PublisherError(Exception):
    """Root of every error publisher raises on purpose."""


class ConfigError(PublisherError):
    """Configuration is invalid. ``problems`` holds one line per problem,
    each naming the file and the key (``schedules/site.toml: routes[1].channels: …``)."""

    def __init__(self, problems: Iterable[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems) or "invalid configuration")


class InputError(PublisherError):
    """Bad input at the command line: one line saying what and where."""


class NotFoundError(InputError):
    """An unknown post, article, channel or feed."""


class FetchError(PublisherError):
    """A feed or page could not be fetched."""

    def __init__(self, message: str, *, http_status: int | None = None,
                 retry_after: float | None = None):
        super().__init__(message)
        self.http_status = http_status
        self.retry_after = retry_after  # seconds, from Retry-After, when the server gave one


class ParseError(PublisherError):
    """A feed body could not be read as a feed."""


class StoreError(PublisherError):
    """The database failed."""


class AlreadyRunning(StoreError):
    """Another daemon already works on this SQLite database."""


class RenderError(PublisherError):
    """A template failed to render."""


class TooLong(RenderError):
    """A post cannot be fitted into its channel's limit."""

    def __init__(self, message: str, *, length: int, limit: int):
        super().__init__(message)
        self.length = length
        self.limit = limit


class ChannelError(PublisherError):
    """A publish or look-up on a platform failed. ``http_status`` is the
    platform's HTTP status when there was one."""

    def __init__(self, message: str, *, http_status: int | None = None):
        super().__init__(message)
        self.http_status = http_status


class Transient(ChannelError):
    """5xx, a connection error before the request was sent, a "try again" code."""


class RateLimited(ChannelError):
    """The platform asked us to wait. No request may reach it before ``until`` (UTC)."""

    def __init__(self, message: str, *, until: datetime, http_status: int | None = None):
        super().__init__(message, http_status=http_status)
        self.until = until


class Permanent(ChannelError):
    """The platform refused the post for good (bad request, content rejected)."""


class AuthFailed(ChannelError):
    """Expired or revoked credentials, or a missing permission."""


class AccountBlocked(ChannelError):
    """The account cannot post until a person acts: X credits depleted (HTTP 402),
    a suspended app.  The message says what to do, in an editor's words
    ("X credits depleted: add credits, then `publisher resume --channel x`"); the post
    that met it was not published and waits, like every other post of the
    channel, until the channel is resumed."""


class Ambiguous(ChannelError):
    """A timeout or reset after the request may have reached the platform."""
