"""seat log: a row per grant, release, denial and lease expiry; the PostgreSQL
claim function writes its rows in the claim's own statement

Like 0001, creates only what is missing (a database made by ``create_all``
already has the table). On PostgreSQL the claim function is replaced by one
that logs: it removes the product's expired seats first (logging each as an
expiry, at the moment its lease ran out, and returning them as ``expired``
rows so the server can log them too), and logs the grant or the denial (with
the live holders) before it returns. Its result gains ``r_expires``, so the
old function is dropped first (a return type cannot be replaced).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_OLD_SIGNATURE = ("licwiz_claim_seat(text, text, text, text, double precision, double precision, "
                  "text, text)")

_LOG_COLS = "at, event, product, seat_id, slot, session, host, user_name, granted_at"

# Same rule and same concurrency design as 0001's function (read its comment):
# only the logging is new, and every log row is written in the claim's transaction.
PG_CLAIM_FUNCTION = f"""
CREATE OR REPLACE FUNCTION licwiz_claim_seat(
    p_product text, p_session text, p_host text, p_user text, p_now double precision,
    p_lease double precision, p_seat_id text, p_day text)
RETURNS TABLE(r_status text, r_seat_id text, r_slot integer, r_session text, r_host text,
              r_user text, r_granted double precision, r_cap integer, r_expires double precision)
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
    -- Leases that ran out are found here: logged as expiries and returned.
    RETURN QUERY
      WITH gone AS (DELETE FROM licwiz_seats s WHERE s.product = p_product AND s.expires_at < p_now
                    RETURNING s.seat_id, s.slot, s.session, s.host, s.user_name, s.granted_at, s.expires_at),
           logged AS (INSERT INTO licwiz_seat_log ({_LOG_COLS})
                      SELECT g.expires_at, 'expire', p_product, g.seat_id, g.slot, g.session, g.host,
                             g.user_name, g.granted_at FROM gone g)
      SELECT 'expired'::text, g.seat_id::text, g.slot, g.session::text, g.host::text, g.user_name::text,
             g.granted_at, v_cap, g.expires_at FROM gone g;
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
                                        v_granted, v_cap, p_now + p_lease;
                    RETURN;
                END IF;
                CONTINUE;  -- released meanwhile: claim afresh
            END IF;
            -- this session's own seat, expired since the sweep above (a concurrent claim's p_now)
            WITH gone AS (DELETE FROM licwiz_seats s WHERE s.seat_id = v_id
                          RETURNING s.seat_id, s.slot, s.session, s.host, s.user_name, s.granted_at,
                                    s.expires_at)
            INSERT INTO licwiz_seat_log ({_LOG_COLS})
                 SELECT g.expires_at, 'expire', p_product, g.seat_id, g.slot, g.session, g.host,
                        g.user_name, g.granted_at FROM gone g;
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
            INSERT INTO licwiz_seat_log (at, event, product, session, host, user_name, capacity, holders)
                 SELECT p_now, 'deny', p_product, p_session, p_host, p_user, v_cap,
                        COALESCE((SELECT json_agg(json_build_object('slot', s.slot, 'user', s.user_name,
                                                                    'host', s.host, 'session', s.session)
                                                  ORDER BY s.slot)
                                    FROM licwiz_seats s
                                   WHERE s.product = p_product AND s.expires_at >= p_now), '[]'::json)::text;
            RETURN QUERY SELECT 'full'::text, s.seat_id::text, s.slot, s.session::text, s.host::text,
                                s.user_name::text, s.granted_at, v_cap, s.expires_at
                           FROM licwiz_seats s WHERE s.product = p_product AND s.expires_at >= p_now
                          ORDER BY s.slot;
            RETURN;
        END IF;
        WITH gone AS (DELETE FROM licwiz_seats s
                       WHERE s.product = p_product AND s.slot = v_slot AND s.expires_at < p_now
                      RETURNING s.seat_id, s.slot, s.session, s.host, s.user_name, s.granted_at, s.expires_at)
        INSERT INTO licwiz_seat_log ({_LOG_COLS})
             SELECT g.expires_at, 'expire', p_product, g.seat_id, g.slot, g.session, g.host,
                    g.user_name, g.granted_at FROM gone g;
        INSERT INTO licwiz_seats (seat_id, product, slot, session, host, user_name, granted_at, expires_at)
             VALUES (p_seat_id, p_product, v_slot, p_session, p_host, p_user, p_now, p_now + p_lease)
        ON CONFLICT DO NOTHING;
        GET DIAGNOSTICS v_n = ROW_COUNT;
        IF v_n = 1 THEN
            INSERT INTO licwiz_seat_log ({_LOG_COLS}, capacity)
                 VALUES (p_now, 'grant', p_product, p_seat_id, v_slot, p_session, p_host, p_user, p_now,
                         v_cap);
            RETURN QUERY SELECT 'granted'::text, p_seat_id, v_slot, p_session, p_host, p_user, p_now, v_cap,
                                p_now + p_lease;
            RETURN;
        END IF;
    END LOOP;
    RAISE EXCEPTION 'licwiz: seat claim kept colliding';
END
$fn$
"""


def _missing(table: str) -> bool:
    from alembic import context

    if context.is_offline_mode():  # printing the SQL for a DBA (db upgrade --sql): what this revision makes
        return True
    return table not in set(sa.inspect(op.get_bind()).get_table_names())


def upgrade() -> None:
    if _missing("licwiz_seat_log"):
        op.create_table(
            "licwiz_seat_log",
            sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
            sa.Column("at", sa.Float(), nullable=False),
            sa.Column("event", sa.String(length=16), nullable=False),
            sa.Column("product", sa.String(length=100), nullable=False),
            sa.Column("seat_id", sa.String(length=32), nullable=True),
            sa.Column("slot", sa.Integer(), nullable=True),
            sa.Column("session", sa.String(length=200), nullable=False),
            sa.Column("host", sa.String(length=200), nullable=False),
            sa.Column("user_name", sa.String(length=200), nullable=False),
            sa.Column("granted_at", sa.Float(), nullable=True),
            sa.Column("capacity", sa.Integer(), nullable=True),
            sa.Column("holders", sa.Text(), nullable=True),
            sa.Column("actor", sa.String(length=200), nullable=True),
            sa.PrimaryKeyConstraint("id"),
        )
        op.create_index("ix_licwiz_seat_log_at", "licwiz_seat_log", ["at"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP FUNCTION IF EXISTS {_OLD_SIGNATURE}")
        op.execute(PG_CLAIM_FUNCTION)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        from alembic import context

        # 0001's function, from its own revision file as Alembic loaded it
        previous = context.script.get_revision("0001")
        assert previous is not None
        op.execute(f"DROP FUNCTION IF EXISTS {_OLD_SIGNATURE}")
        op.execute(previous.module.PG_CLAIM_FUNCTION)
    op.drop_index("ix_licwiz_seat_log_at", table_name="licwiz_seat_log")
    op.drop_table("licwiz_seat_log")
