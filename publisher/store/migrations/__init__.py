"""Alembic migrations of the store (env.py, versions/).

``HEAD_REVISION`` names the newest migration, so a start can see that the
database is up to date without loading Alembic; a test keeps it equal to
Alembic's own head.
"""

HEAD_REVISION = "0006_worker_reload"
