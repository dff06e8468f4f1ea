"""The channel adapters of a running app, built on first use and shared by
the dispatch threads (no SDK is imported until a channel of its type works)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping

from publisher.channels import REGISTRY, Channel, ChannelSpec, make_channel
from publisher.config import ChannelConfig, Config
from publisher.types import DeliveryClass

log = logging.getLogger("publisher.dispatch")


def channel_spec(channel: ChannelConfig, environ: Mapping[str, str]) -> ChannelSpec:
    """The adapter's spec for a configured channel, with its secrets read now."""
    secrets = {key: environ.get(env, "") for key, env in channel.credentials.items()}
    return ChannelSpec(name=channel.name, type=channel.type, secrets=secrets,
                       options=channel.options, base_url=channel.base_url,
                       timeout=channel.timeout)


class ChannelPool:
    """The channel adapters, built on first use (so no SDK is imported until a
    channel of its type publishes) and shared by the dispatch threads."""

    def __init__(self, config: Config, environ: Mapping[str, str], *,
                 overrides: Mapping[str, Channel] | None = None,
                 factory: Callable[[ChannelSpec], Channel] = make_channel):
        self._config = config
        self._environ = environ
        self._built: dict[str, Channel] = dict(overrides or {})
        self._building: dict[str, threading.Lock] = {}
        self._factory = factory
        self._lock = threading.Lock()

    def get(self, name: str) -> Channel:
        with self._lock:
            channel = self._built.get(name)
            if channel is not None:
                return channel
            building = self._building.setdefault(name, threading.Lock())
        # One lock per channel: building an adapter imports its SDK, and ten
        # channels' first posts must not wait for each other's imports.
        with building:
            with self._lock:
                channel = self._built.get(name)
            if channel is None:
                channel = self._factory(channel_spec(self._config.channels[name], self._environ))
                with self._lock:
                    self._built[name] = channel
            return channel

    def max_length(self, name: str) -> int | None:
        """The length limit the platform announces for this channel (a
        Mastodon instance's), or None to keep the channel type's rule.  Only
        channel types that announce one are built for it."""
        info = REGISTRY.get(self._config.channels[name].type)
        if info is None or not info.announces_limit:
            return None
        try:
            ask = getattr(self.get(name), "max_length", None)
            return ask() if ask is not None else None
        except Exception:  # the static rule is a safe fallback
            log.warning("channel=%s: could not read the platform's length limit", name,
                        exc_info=True)
            return None

    def delivery(self, name: str) -> DeliveryClass:
        """The channel's delivery class, without building it when possible."""
        with self._lock:
            built = self._built.get(name)
        if built is not None:
            return built.delivery
        return REGISTRY[self._config.channels[name].type].delivery

    def close(self) -> None:
        with self._lock:
            channels, self._built = list(self._built.values()), {}
        for channel in channels:
            try:
                channel.close()
            except Exception:  # closing must not stop the shutdown
                log.debug("closing a channel failed", exc_info=True)
