"""initial schema

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "addr_failures",
        sa.Column("addr", sa.String(length=64), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("addr"),
    )
    op.create_table(
        "audit",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("request_id", sa.String(length=40), nullable=False),
        sa.Column("event", sa.String(length=20), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=True),
        sa.Column("regnum", sa.String(length=10), nullable=True),
        sa.Column("license_id", sa.String(length=32), nullable=True),
        sa.Column("actor", sa.String(length=100), nullable=True),
        sa.Column("client_addr", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "idempotency",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("body_hash", sa.String(length=64), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("response", sa.Text(), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "kits",
        sa.Column("regnum", sa.String(length=10), nullable=False),
        sa.Column("product", sa.String(length=100), nullable=False),
        sa.Column("users", sa.Integer(), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("pin_set", sa.String(length=10), nullable=True),
        sa.Column("issued", sa.Integer(), server_default="0", nullable=False),
        sa.Column("failed_pins", sa.Integer(), server_default="0", nullable=False),
        sa.Column("lock_level", sa.Integer(), server_default="0", nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("regnum"),
    )
    op.create_table(
        "operators",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("disabled", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_table(
        "settings",
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "pins",
        sa.Column("pin", sa.String(length=15), nullable=False),
        sa.Column("regnum", sa.String(length=10), nullable=False),
        sa.Column("pin_set", sa.String(length=10), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["regnum"],
            ["kits.regnum"],
        ),
        sa.PrimaryKeyConstraint("pin"),
    )
    with op.batch_alter_table("pins", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_pins_regnum"), ["regnum"], unique=False)

    op.create_table(
        "licenses",
        sa.Column("license_id", sa.String(length=32), nullable=False),
        sa.Column("regnum", sa.String(length=10), nullable=False),
        sa.Column("serial", sa.Integer(), nullable=False),
        sa.Column("pin", sa.String(length=15), nullable=False),
        sa.Column("product", sa.String(length=100), nullable=False),
        sa.Column("users", sa.Integer(), nullable=False),
        sa.Column("pin_set", sa.String(length=10), nullable=False),
        sa.Column("method", sa.String(length=10), nullable=False),
        sa.Column("owner_json", sa.Text(), nullable=False),
        sa.Column("owner_digest", sa.String(length=64), nullable=False),
        sa.Column("params_json", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("supersedes", sa.String(length=32), nullable=True),
        sa.Column("superseded_by", sa.String(length=32), nullable=True),
        sa.Column("request_id", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(
            ["pin"],
            ["pins.pin"],
        ),
        sa.ForeignKeyConstraint(
            ["regnum"],
            ["kits.regnum"],
        ),
        sa.PrimaryKeyConstraint("license_id"),
        sa.UniqueConstraint("pin"),
        sa.UniqueConstraint("regnum", "serial", name="uq_licenses_regnum_serial"),
    )
    with op.batch_alter_table("licenses", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_licenses_regnum"), ["regnum"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("licenses", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_licenses_regnum"))

    op.drop_table("licenses")
    with op.batch_alter_table("pins", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pins_regnum"))

    op.drop_table("pins")
    op.drop_table("settings")
    op.drop_table("operators")
    op.drop_table("kits")
    op.drop_table("idempotency")
    op.drop_table("audit")
    op.drop_table("addr_failures")
