"""operator sessions kept server-side

Revision ID: 0002
Revises: 0001

The console's cookie used to carry the operator token itself, and logout only
deleted the cookie in the browser. A session is now a row: the cookie holds a
random id, the table its hash (a copy of the database opens no console), so
logout, disabling the operator and expiry end it for every serve process.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "operator_sessions",
        # sha256 of the random session id in the cookie; the id itself is never stored.
        sa.Column("id_hash", sa.String(length=64), nullable=False),
        sa.Column("operator", sa.String(length=100), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires", sa.DateTime(timezone=True), nullable=False),
        # Set by logout (or a disable); a row with ended set opens nothing.
        sa.Column("ended", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["operator"], ["operators.name"]),
        sa.PrimaryKeyConstraint("id_hash"),
    )
    with op.batch_alter_table("operator_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_operator_sessions_operator"), ["operator"], unique=False)
        batch_op.create_index(batch_op.f("ix_operator_sessions_expires"), ["expires"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("operator_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_operator_sessions_expires"))
        batch_op.drop_index(batch_op.f("ix_operator_sessions_operator"))
    op.drop_table("operator_sessions")
