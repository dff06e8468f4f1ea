"""The one protocol every channel adapter implements.

An adapter turns a ``PublishRequest`` into a post on its platform and maps
every failure of its SDK or HTTP client to the channel taxonomy in
``publisher.exceptions`` (Transient, RateLimited, Permanent, AuthFailed,
Ambiguous) at exactly one boundary inside the adapter.  Nothing else in
publisher sees an SDK exception.

Adapters are built from a ``ChannelSpec``: plain data the app makes from the
configuration, so this package never imports ``publisher.config``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from publisher.exceptions import ConfigError
from publisher.types import DeliveryClass, PublishRequest, PublishResult

#: Every HTTP call a channel makes has a timeout; this is the default (seconds).
DEFAULT_TIMEOUT = 10.0


@dataclass(frozen=True)
class ChannelSpec:
    """Everything an adapter needs to be built.

    ``secrets`` maps the adapter's credential keys (e.g. ``api_key``) to their
    values, read from the environment; they must never be logged or put into
    an exception message.  ``options`` are the channel's non-secret settings
    from ``schedules/*.toml``.
    """

    name: str
    type: str
    secrets: Mapping[str, str] = field(default_factory=dict)
    options: Mapping[str, Any] = field(default_factory=dict)
    base_url: str | None = None
    timeout: float = DEFAULT_TIMEOUT

    def flag(self, key: str, default: bool) -> bool:
        """The true/false option ``key``; anything else is a ``ConfigError``."""
        value = self.options.get(key, default)
        if not isinstance(value, bool):
            raise ConfigError([f"channel {self.name!r}: options.{key} must be true or false"])
        return value


@runtime_checkable
class Channel(Protocol):
    """A platform adapter."""

    name: str
    delivery: DeliveryClass

    def publish(self, request: PublishRequest) -> PublishResult:
        """Publish one post, or raise a ``ChannelError`` subclass.

        Called again with the same ``idempotency_key`` on a retry; an
        idempotent adapter must make the platform drop the copy.
        """
        ...

    def find(self, request: PublishRequest) -> PublishResult | None:
        """Look for a post that an ambiguous attempt may have published.

        Reconcilable adapters read the account's recent posts and match the
        request's link (or exact text); they return the post when found and
        ``None`` when it is certainly absent.  Other adapters return ``None``
        (idempotent: a retry is safe) or raise ``NotImplementedError``
        (review class: an editor decides).  Raises ``ChannelError`` when the
        look-up itself fails.
        """
        ...

    def whoami(self) -> str:
        """Check the credentials against the platform and say who posts
        (``@newsroom (id 123)``). Raises ``AuthFailed`` or ``ChannelError``."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


# Optional, looked up with getattr by the planner:
#
#     def max_length(self) -> int | None:
#         """The platform's own current length limit, when it announces one
#         (a Mastodon instance's max_characters); None to keep the static rule."""
#
#     def check_warnings(self) -> list[str]:
#         """Things `publisher check` should warn about though the channel can
#         post now (an API version near its sunset, a token expiring in N days),
#         one line each, said in an editor's words; looked up with getattr."""
#
# After the post (optional; ChannelType.can_delete/can_edit/can_reply say
# which an adapter has, so nothing is built to find out):
#
#     def delete(self, remote_id: str) -> None:
#         """Delete a published post.  A post already gone (404/410 or the
#         platform's "not found") returns normally: deleting is idempotent.
#         Raises the taxonomy (Ambiguous when the request may have arrived)."""
#
#     def read_back(self, remote_id: str) -> str | None:
#         """The post's text as the platform now shows it (normalised to
#         plain text), or None when it is gone.  Settles a delete or an edit
#         in doubt."""
#
#     def edit(self, remote_id: str, request: PublishRequest) -> PublishResult:
#         """Replace the text (and link) of a published post in place."""
#
#     def reply(self, remote_id: str, request: PublishRequest) -> PublishResult:
#         """Publish ``request`` as a reply to (or comment on) the post: a
#         correction note.  Same idempotency and reconciliation as publish."""
