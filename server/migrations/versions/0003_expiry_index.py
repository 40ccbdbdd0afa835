"""expiries index: the seat log's lease expiries counted by product without
reading the whole log

``/metrics`` reports ``licwiz_server_leases_expired_total`` by product from the
seat log at scrape time (server/app.py). The log grows by two rows per claim
and release (millions a day on a busy server) while expiries are few, so the
index is partial: only expiry rows are in it, and a grant or release row costs
no index update.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

INDEX = "ix_licwiz_seat_log_expired"


def upgrade() -> None:
    # IF NOT EXISTS: a database made from the tables' metadata already has it.
    op.execute(f"CREATE INDEX IF NOT EXISTS {INDEX} ON licwiz_seat_log (product) WHERE event = 'expire'")


def downgrade() -> None:
    op.execute(f"DROP INDEX IF EXISTS {INDEX}")
