"""Queries for the editors' and ops' desk (the CLI's queue, log and status).

A mixin of ``Store``: methods here use the store's transactions
(``self._read()`` / ``self._write()``) and tables like the rest of it.
"""

from __future__ import annotations


class DeskQueries:
    """Mixed into ``publisher.store.db.Store``."""
