"""Alembic environment: runs on the connection database.migrate hands over.

Running on a caller's connection (not an engine built from alembic.ini) is what lets
migrate.py hold an advisory lock around the upgrade and keeps one URL source: Settings.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from database.models import Base


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite ALTERs need batch mode
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through database.migrate (upgrade/downgrade/current)")
_run(connection)
