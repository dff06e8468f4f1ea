"""Alembic environment for publisher's store.

There is no alembic.ini: ``Store.upgrade()`` builds the Config in code and
hands over its own connection (already inside a transaction, with the
search_path and SQLite pragmas the store uses) as
``config.attributes["connection"]``.  The version table therefore lands in
the same schema as the tables.
"""

from __future__ import annotations

from alembic import context

from publisher.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through publisher.store.Store.upgrade()")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
