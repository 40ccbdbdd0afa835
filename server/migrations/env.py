"""Alembic environment: run on the connection ``licwiz server init|serve`` hands over."""

from __future__ import annotations

from alembic import context
from licwiz.server.db import VERSION_TABLE, metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - alembic CLI use is not supported
    raise SystemExit("run migrations with 'licwiz server init' (it passes the connection)")
# The server's tables carry a licwiz_ prefix so they can live in a site's existing
# database; so does its version table (alembic_version may belong to another application).
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True,
                  version_table=VERSION_TABLE)
with context.begin_transaction():
    context.run_migrations()
