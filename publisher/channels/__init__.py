"""Channel adapters, one module per platform, all behind ``Channel``.

The registry below describes each channel type without importing its
module, so ``publisher --help`` and the queue commands never import a
platform SDK; ``make_channel`` imports the adapter the first time a channel
of that type is used.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from publisher.channels.base import DEFAULT_TIMEOUT, Channel, ChannelSpec
from publisher.exceptions import ConfigError
from publisher.types import DeliveryClass

__all__ = ["DEFAULT_TIMEOUT", "REGISTRY", "Channel", "ChannelSpec", "ChannelType", "make_channel"]


@dataclass(frozen=True)
class ChannelType:
    """What the rest of publisher may know about a channel type before using it."""

    name: str
    target: str  # "module:Class", imported lazily
    delivery: DeliveryClass
    credentials: tuple[str, ...] = ()  # keys the spec's secrets must hold
    optional_credentials: tuple[str, ...] = ()
    #: The adapter's max_length() reads the platform's own limit (planning asks it).
    announces_limit: bool = False
    #: Idempotent channels: how long the platform keeps an idempotency key
    #: (seconds; Mastodon: one hour).  A post in doubt for longer than that,
    #: less a margin, is reconciled with ``find`` instead of sent again with
    #: the same key.  None: the key never lapses (Bluesky's fixed record key).
    key_lifetime: float | None = None
    #: After the post: what the platform lets an adapter do to a published
    #: post (``delete``/``read_back``, ``edit``, ``reply``; channels/base.py).
    #: ``delete_window``: seconds after publication during which the platform
    #: still deletes (a Telegram bot: 48 hours); None: no limit.
    can_delete: bool = False
    delete_window: float | None = None
    can_edit: bool = False
    can_reply: bool = False
    #: Posts of one channel in flight at once unless its table sets
    #: ``concurrency``.  Mastodon's only published limit on posting is 300
    #: requests per account and 5 minutes (docs.joinmastodon.org/api/rate-limits),
    #: so eight at once stay far inside it and keep a burst short.
    concurrency: int = 4


REGISTRY: dict[str, ChannelType] = {
    t.name: t
    for t in (
        ChannelType(
            "console", "publisher.channels.console:ConsoleChannel", DeliveryClass.IDEMPOTENT
        ),
        ChannelType("jsonl", "publisher.channels.jsonl:JsonlChannel", DeliveryClass.IDEMPOTENT),
        ChannelType(
            "x",
            "publisher.channels.x:XChannel",
            DeliveryClass.RECONCILABLE,
            credentials=("api_key", "api_secret", "access_token", "access_token_secret"),
            can_delete=True, can_reply=True,
        ),
        ChannelType(
            "facebook",
            "publisher.channels.facebook:FacebookChannel",
            DeliveryClass.RECONCILABLE,
            credentials=("page_token",),
            can_delete=True, can_edit=True, can_reply=True,
        ),
        ChannelType(
            "mastodon",
            "publisher.channels.mastodon:MastodonChannel",
            DeliveryClass.IDEMPOTENT,
            credentials=("access_token",),
            announces_limit=True,
            key_lifetime=3600.0,
            can_delete=True, can_edit=True, can_reply=True,
            concurrency=8,
        ),
        ChannelType(
            "bluesky",
            "publisher.channels.bluesky:BlueskyChannel",
            DeliveryClass.IDEMPOTENT,
            credentials=("handle", "app_password"),
            can_delete=True, can_reply=True,
        ),
        ChannelType(
            "telegram",
            "publisher.channels.telegram:TelegramChannel",
            DeliveryClass.REVIEW,
            credentials=("bot_token",),
            can_delete=True, delete_window=48 * 3600.0, can_edit=True, can_reply=True,
        ),
        ChannelType(
            "threads",
            "publisher.channels.threads:ThreadsChannel",
            DeliveryClass.RECONCILABLE,
            credentials=("access_token",),
            can_delete=True, can_reply=True,
        ),
        ChannelType(
            "linkedin",
            "publisher.channels.linkedin:LinkedInChannel",
            DeliveryClass.RECONCILABLE,
            credentials=("access_token",),
            can_delete=True, can_edit=True,
        ),
        ChannelType(
            "discord",
            "publisher.channels.discord:DiscordChannel",
            DeliveryClass.REVIEW,
            credentials=("webhook_url",),
            can_delete=True, can_edit=True,
        ),
        ChannelType(
            "slack",
            "publisher.channels.slack:SlackChannel",
            DeliveryClass.REVIEW,
            credentials=("webhook_url",),
        ),
        ChannelType(
            "webhook",
            "publisher.channels.webhook:WebhookChannel",
            DeliveryClass.REVIEW,
            credentials=("url", "signing_secret"),
            # delete/edit: a signed retract/correct event the receiver acknowledges
            # (docs/webhook-bridge.md); no read back, so in doubt is an editor's.
            can_delete=True, can_edit=True,
        ),
        ChannelType(
            "email",
            "publisher.channels.email:EmailChannel",
            DeliveryClass.REVIEW,
            optional_credentials=("username", "password"),
        ),
    )
}


def make_channel(spec: ChannelSpec) -> Channel:
    """Build the adapter for ``spec``, importing its module on first use."""
    try:
        info = REGISTRY[spec.type]
    except KeyError:
        raise ConfigError([f"channel {spec.name!r}: unknown type {spec.type!r}"]) from None
    missing = [key for key in info.credentials if not spec.secrets.get(key)]
    if missing:
        raise ConfigError(
            [f"channel {spec.name!r}: missing credential(s) {', '.join(missing)} "
             "in the environment"]
        )
    module_name, _, class_name = info.target.partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    channel: Channel = cls(spec)
    return channel
