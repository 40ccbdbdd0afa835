"""Alembic environment: run on the connection ``licwiz center init`` hands over."""

from __future__ import annotations

from alembic import context
from licwiz.center.db import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - alembic CLI use is not supported
    raise SystemExit("run migrations with 'licwiz center init' (it passes the connection)")
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
