"""What the services need of the app, described once.

``publisher.app.App`` provides it; services may not import ``publisher.app``
(layers), so the desk's verbs and a recurring firing are typed against this
protocol.  The heavy parts (renderer, page fetcher, channel adapters) are
properties, so an app that builds them on first use provides them too.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from publisher.config import Config
from publisher.services.timing import Gate, Spend
from publisher.store.api import StoreAPI

if TYPE_CHECKING:
    from publisher.render import Renderer
    from publisher.services.dispatch import ChannelPool
    from publisher.sources import Fetcher


class AppPorts(Protocol):
    """The configuration, the store, the clock, the channels' gates and
    spend; the renderer, the page fetcher and the channel adapters."""

    @property
    def config(self) -> Config: ...

    @property
    def store(self) -> StoreAPI: ...

    @property
    def now(self) -> Callable[[], datetime]: ...

    @property
    def renderer(self) -> Renderer: ...

    @property
    def fetcher(self) -> Fetcher: ...

    @property
    def channels(self) -> ChannelPool: ...

    def gates(self, now: datetime | None = None) -> dict[str, Gate]:
        """Per channel: may it publish now, and if not, until when and why."""
        ...

    def spend(self, channel: str, now: datetime | None = None) -> Spend:
        """Estimated spend of a channel today and this month."""
        ...
