"""The store: schema, migrations and every query publisher makes.

``open_store(url)`` gives a ``Store`` (SQLite or PostgreSQL); call
``upgrade()`` once before use.  The contract is ``publisher.store.api``.
"""

from __future__ import annotations

from publisher.store.api import Expired, FeedSpec, StoreAPI
from publisher.store.db import Store, open_store, sqlite_url_for

__all__ = ["Expired", "FeedSpec", "Store", "StoreAPI", "open_store", "sqlite_url_for"]
