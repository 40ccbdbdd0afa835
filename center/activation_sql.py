"""The activation's statements as the bare drivers take them (sqlite3, asyncpg).

The activation's hot path skips SQLAlchemy (issue 13: it was a third of the
SQLite center's CPU and its greenlet bridge a quarter of PostgreSQL's); the
tables stay defined once in center/db.py (Alembic, the admin side). These
strings must name the same columns: tests/center/test_center_bare_sql.py runs
each of them on a fresh database of the current schema, on both databases.

SQLite takes named parameters (``:regnum``); asyncpg positional ones (``$1``).
Timestamps: SQLAlchemy stores a SQLite DateTime as text in one format
(``sqlite_ts``), which the comparisons of the throttle rely on, so the bare
path writes and compares exactly that text.
"""

from __future__ import annotations

import datetime as dt

# ---- SQLite

_SQLITE_FMT = "%Y-%m-%d %H:%M:%S.%f"


def sqlite_ts(value: dt.datetime) -> str:
    """``value`` (UTC) as SQLAlchemy writes a SQLite DateTime."""
    return value.astimezone(dt.UTC).strftime(_SQLITE_FMT)


def from_sqlite_ts(value: str | None) -> dt.datetime | None:
    if value is None:
        return None
    return dt.datetime.fromisoformat(value).replace(tzinfo=dt.UTC)


KIT_COLS = "k.regnum, k.product, k.users, k.pin_set, k.issued, k.failed_pins, k.lock_level, k.locked_until"

SQLITE_LOOKUP = (
    f"SELECT {KIT_COLS}, p.pin_hash AS p_pin, p.pin_set AS p_set, p.used_at AS p_used, "
    "(SELECT count FROM addr_failures WHERE addr = :addr AND window_start > :cutoff) AS addr_count, "
    "(SELECT body_hash FROM idempotency WHERE key = :key) AS idem_hash "
    "FROM kits k LEFT OUTER JOIN pins p ON p.regnum = k.regnum AND p.pin_hash = :pin "
    "WHERE k.regnum = :regnum"
)
SQLITE_SPEND_PIN = "UPDATE pins SET used_at = :now WHERE pin_hash = :pin AND used_at IS NULL"
SQLITE_TAKE_SERIAL = (
    "UPDATE kits SET issued = issued + 1, pin_set = :set, failed_pins = 0, lock_level = 0 "
    "WHERE regnum = :regnum AND (pin_set IS NULL OR pin_set = :set) RETURNING issued"
)

LIC_COLS = ("license_id", "regnum", "serial", "pin_hash", "product", "users", "pin_set", "method",
            "owner_json", "owner_digest", "params_json", "text", "issued_at", "status", "supersedes",
            "superseded_by", "request_id")
AUDIT_COLS = ("at", "request_id", "event", "code", "regnum", "license_id", "actor", "client_addr")
IDEM_COLS = ("key", "body_hash", "status", "response", "created")


def _named_insert(table: str, cols: tuple[str, ...]) -> str:
    return f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join(':' + c for c in cols)})"


SQLITE_INSERT_LICENSE = _named_insert("licenses", LIC_COLS)
SQLITE_INSERT_AUDIT = _named_insert("audit", AUDIT_COLS)
SQLITE_INSERT_IDEM = _named_insert("idempotency", IDEM_COLS)

# ---- PostgreSQL (asyncpg)

# The kit's row lock: every activation of a kit (its lock check, guess and count) one at a time.
PG_LOOKUP = (
    f"SELECT {KIT_COLS}, p.pin_hash AS p_pin, p.pin_set AS p_set, p.used_at AS p_used, "
    "(SELECT count FROM addr_failures WHERE addr = $3 AND window_start > $4) AS addr_count, "
    "(SELECT body_hash FROM idempotency WHERE key = $5) AS idem_hash "
    "FROM kits k LEFT OUTER JOIN pins p ON p.regnum = k.regnum AND p.pin_hash = $2 "
    "WHERE k.regnum = $1 FOR UPDATE OF k"
)
# Spend the PIN and take the serial in one statement; the kit UPDATE runs only if
# the PIN UPDATE matched, and both re-check their WHERE under the row lock.
PG_SPEND = (
    "WITH spent AS (UPDATE pins SET used_at = $1 WHERE pin_hash = $2 AND used_at IS NULL "
    "RETURNING pin_hash), "
    "ser AS (UPDATE kits SET issued = issued + 1, pin_set = $3, failed_pins = 0, lock_level = 0 "
    "WHERE regnum = $4 AND (pin_set IS NULL OR pin_set = $3) AND EXISTS (SELECT 1 FROM spent) "
    "RETURNING issued) "
    "SELECT (SELECT count(*) FROM spent) AS spent, (SELECT issued FROM ser) AS serial"
)


def _pg_insert(table: str, cols: tuple[str, ...], first: int) -> str:
    marks = ", ".join(f"${first + i}" for i in range(len(cols)))
    return f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({marks})"


def pg_tail(lic: bool, idem: bool) -> str:
    """The license (if any), its idempotent answer (if any) and the audit row in one
    statement; parameters in that order (license, idempotency, audit columns)."""
    parts: list[str] = []
    n = 1
    if lic:
        parts.append(f"lic AS ({_pg_insert('licenses', LIC_COLS, n)})")
        n += len(LIC_COLS)
    if idem:
        parts.append(f"idem AS ({_pg_insert('idempotency', IDEM_COLS, n)})")
        n += len(IDEM_COLS)
    return ("WITH " + ", ".join(parts) + " " if parts else "") + _pg_insert("audit", AUDIT_COLS, n)


PG_TAIL = {(lic, idem): pg_tail(lic, idem) for lic in (False, True) for idem in (False, True)}
