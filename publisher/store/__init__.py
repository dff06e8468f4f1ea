"""The store: schema, migrations and every query publisher makes.

``open_store(url)`` gives a ``Store`` (SQLite or PostgreSQL); call
``upgrade()`` once before use.  The contract is ``publisher.store.api``.
Importing this package does not load SQLAlchemy until ``Store`` or
``open_store`` is asked for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from publisher.store.api import Expired, FeedSpec, StoreAPI
from publisher.store.listing import require_database

if TYPE_CHECKING:
    from publisher.store.db import Store, open_store, sqlite_url_for

__all__ = ["Expired", "FeedSpec", "Store", "StoreAPI", "open_store", "require_database",
           "sqlite_url_for"]


def __getattr__(name: str) -> Any:
    if name in ("Store", "open_store", "sqlite_url_for"):
        from publisher.store import db

        return getattr(db, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
