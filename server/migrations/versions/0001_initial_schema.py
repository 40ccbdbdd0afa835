"""initial schema: configuration, licenses, seats and the PostgreSQL claim function

Equivalent to what ``metadata.create_all`` made before the server used
Alembic, and like it, creates only what is missing: a database made that way
is adopted by upgrading it (its claim function is replaced, as every start did).

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

# PostgreSQL: a claim in one round trip, without a lock. The guarantee is the
# schema's: UNIQUE (product, slot) with slot < capacity means never more live
# seats than users, whatever runs concurrently on however many servers; UNIQUE
# (product, session, host) means one seat per session. Claimers start at a
# random slot so they rarely collide; a collision (INSERT ... ON CONFLICT DO
# NOTHING inserts nothing, after waiting for the other claim's commit) just
# retries with a fresh snapshot (READ COMMITTED: every statement sees the
# latest commits). No lock is held across the commit's fsync, so concurrent
# claims share WAL flushes (group commit). Same rule as SqliteSeats: renew a
# live seat of (session, host); else a slot below the capacity without a live
# seat (replacing an expired one); else report the live holders ('full').
PG_CLAIM_FUNCTION = """
CREATE OR REPLACE FUNCTION licwiz_claim_seat(
    p_product text, p_session text, p_host text, p_user text, p_now double precision,
    p_lease double precision, p_seat_id text, p_day text)
RETURNS TABLE(r_status text, r_seat_id text, r_slot integer, r_session text, r_host text,
              r_user text, r_granted double precision, r_cap integer)
LANGUAGE plpgsql VOLATILE AS $fn$
DECLARE
    v_cap integer;
    v_slot integer;
    v_id text;
    v_old_slot integer;
    v_granted double precision;
    v_expires double precision;
    v_off integer;
    v_n integer;
BEGIN
    PERFORM set_config('synchronous_commit', 'on', true);  -- a granted seat survives a database crash
    SELECT COALESCE(SUM(l.users), 0) INTO v_cap FROM licwiz_licenses l
     WHERE l.product = p_product AND l.issued <= p_day AND (l.not_after IS NULL OR l.not_after >= p_day)
       AND NOT EXISTS (SELECT 1 FROM licwiz_licenses n
                        WHERE n.product = p_product AND n.supersedes = l.license_id);
    FOR attempt IN 1..200 LOOP
        v_id := NULL;
        SELECT s.seat_id, s.slot, s.granted_at, s.expires_at INTO v_id, v_old_slot, v_granted, v_expires
          FROM licwiz_seats s WHERE s.product = p_product AND s.session = p_session AND s.host = p_host;
        IF v_id IS NOT NULL THEN
            IF v_expires >= p_now THEN
                UPDATE licwiz_seats SET expires_at = p_now + p_lease, user_name = p_user WHERE seat_id = v_id;
                GET DIAGNOSTICS v_n = ROW_COUNT;
                IF v_n = 1 THEN
                    RETURN QUERY SELECT 'renew'::text, v_id, v_old_slot, p_session, p_host, p_user,
                                        v_granted, v_cap;
                    RETURN;
                END IF;
                CONTINUE;  -- released meanwhile: claim afresh
            END IF;
            DELETE FROM licwiz_seats WHERE seat_id = v_id;  -- this session's own expired seat
        END IF;
        v_slot := NULL;
        IF v_cap > 0 THEN
            v_off := floor(random() * v_cap)::integer;
            SELECT g.i INTO v_slot
              FROM (SELECT generate_series(v_off, v_cap - 1) AS i
                    UNION ALL SELECT generate_series(0, v_off - 1)) AS g
             WHERE NOT EXISTS (SELECT 1 FROM licwiz_seats s
                                WHERE s.product = p_product AND s.slot = g.i AND s.expires_at >= p_now)
             LIMIT 1;
        END IF;
        IF v_slot IS NULL THEN
            RETURN QUERY SELECT 'full'::text, s.seat_id::text, s.slot, s.session::text, s.host::text,
                                s.user_name::text, s.granted_at, v_cap
                           FROM licwiz_seats s WHERE s.product = p_product AND s.expires_at >= p_now
                          ORDER BY s.slot;
            RETURN;
        END IF;
        DELETE FROM licwiz_seats s WHERE s.product = p_product AND s.slot = v_slot AND s.expires_at < p_now;
        INSERT INTO licwiz_seats (seat_id, product, slot, session, host, user_name, granted_at, expires_at)
             VALUES (p_seat_id, p_product, v_slot, p_session, p_host, p_user, p_now, p_now + p_lease)
        ON CONFLICT DO NOTHING;
        GET DIAGNOSTICS v_n = ROW_COUNT;
        IF v_n = 1 THEN
            RETURN QUERY SELECT 'granted'::text, p_seat_id, v_slot, p_session, p_host, p_user, p_now, v_cap;
            RETURN;
        END IF;
    END LOOP;
    RAISE EXCEPTION 'licwiz: seat claim kept colliding';
END
$fn$
"""

# The first claim function took a lock (its last argument); dropped where it is left.
DROP_LOCKING_VERSION = (
    "DROP FUNCTION IF EXISTS licwiz_claim_seat(text, text, text, text, double precision, "
    "double precision, text, text, bigint)"
)


def upgrade() -> None:
    have = set(sa.inspect(op.get_bind()).get_table_names())
    if "licwiz_config" not in have:
        op.create_table(
            "licwiz_config",
            sa.Column("key", sa.String(length=64), nullable=False),
            sa.Column("value", sa.Text(), nullable=False),
            sa.PrimaryKeyConstraint("key"),
        )
    if "licwiz_licenses" not in have:
        op.create_table(
            "licwiz_licenses",
            sa.Column("license_id", sa.String(length=64), nullable=False),
            sa.Column("product", sa.String(length=100), nullable=False),
            sa.Column("users", sa.Integer(), nullable=False),
            sa.Column("issued", sa.String(length=10), nullable=False),
            sa.Column("not_after", sa.String(length=10), nullable=True),
            sa.Column("supersedes", sa.String(length=64), nullable=True),
            sa.Column("text", sa.Text(), nullable=False),
            sa.Column("installed_at", sa.Float(), nullable=False),
            sa.PrimaryKeyConstraint("license_id"),
        )
        op.create_index("ix_licwiz_licenses_product", "licwiz_licenses", ["product"], unique=False)
    if "licwiz_seats" not in have:
        op.create_table(
            "licwiz_seats",
            sa.Column("seat_id", sa.String(length=32), nullable=False),
            sa.Column("product", sa.String(length=100), nullable=False),
            sa.Column("slot", sa.Integer(), nullable=False),
            sa.Column("session", sa.String(length=200), nullable=False),
            sa.Column("host", sa.String(length=200), nullable=False),
            sa.Column("user_name", sa.String(length=200), nullable=False),
            sa.Column("granted_at", sa.Float(), nullable=False),
            sa.Column("expires_at", sa.Float(), nullable=False),
            sa.PrimaryKeyConstraint("seat_id"),
            sa.UniqueConstraint("product", "slot", name="uq_licwiz_seat_slot"),
            # one seat per session: concurrent claims of one session cannot take two slots
            sa.UniqueConstraint("product", "session", "host", name="uq_licwiz_seat_session"),
        )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(DROP_LOCKING_VERSION)
        op.execute(PG_CLAIM_FUNCTION)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS licwiz_claim_seat(text, text, text, text, double precision, "
                   "double precision, text, text)")
    op.drop_table("licwiz_seats")
    op.drop_index("ix_licwiz_licenses_product", table_name="licwiz_licenses")
    op.drop_table("licwiz_licenses")
    op.drop_table("licwiz_config")
