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
import re
from typing import Any

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


class Sql:
    """One statement written with named parameters (``:name``), as sqlite3 takes it,
    and as asyncpg takes it (``$1``...; a name used twice is one parameter)."""

    __slots__ = ("names", "pg", "sqlite")
    names: tuple[str, ...]
    pg: str
    sqlite: str

    def __init__(self, text: str) -> None:
        self.sqlite = text
        names: list[str] = []

        def mark(m: re.Match[str]) -> str:
            if m.group(1) not in names:
                names.append(m.group(1))
            return f"${names.index(m.group(1)) + 1}"

        self.pg = _NAME.sub(mark, text)
        self.names = tuple(names)

    def pg_args(self, params: dict[str, Any]) -> list[Any]:
        return [params[n] for n in self.names]


_NAME = re.compile(r"(?<![:\w]):([a-z][a-z0-9_]*)")

_LOOKUP = (
    f"SELECT {KIT_COLS}, p.pin_hash AS p_pin, p.pin_set AS p_set, p.used_at AS p_used, "
    "(SELECT count FROM addr_failures WHERE addr = :addr AND window_start > :cutoff) AS addr_count, "
    "(SELECT body_hash FROM idempotency WHERE key = :key) AS idem_hash "
    "FROM kits k LEFT OUTER JOIN pins p ON p.regnum = k.regnum AND p.pin_hash = :pin "
    "WHERE k.regnum = :regnum"
)
# One round trip: the kit, the PIN, the address's recent failures, a stored idempotent
# answer. PostgreSQL: and the kit's row lock, so every activation of a kit (its lock
# check, guess and count) runs one at a time; SQLite's writer lock serialises them all.
LOOKUP = Sql(_LOOKUP)
LOOKUP_LOCKED = Sql(_LOOKUP + " FOR UPDATE OF k")

_KIT = "SELECT regnum, product, users, pin_set, issued, failed_pins, lock_level, locked_until FROM kits " \
       "WHERE regnum = :regnum"
KIT = Sql(_KIT)
KIT_LOCKED = Sql(_KIT + " FOR UPDATE")
PIN = Sql("SELECT pin_hash, regnum, pin_set, used_at FROM pins WHERE pin_hash = :pin AND regnum = :regnum")
LICENSE_BY_PIN = Sql(
    "SELECT license_id, regnum, serial, pin_hash, product, users, pin_set, method, owner_digest, "
    "params_json, text, status, supersedes, superseded_by FROM licenses "
    "WHERE pin_hash = :pin AND regnum = :regnum")
REPLAY = Sql("SELECT body_hash, response FROM idempotency WHERE key = :key")
ADDR_COUNT = Sql("SELECT count FROM addr_failures WHERE addr = :addr AND window_start > :cutoff")
# One more failure for an address, atomically, returning the new count (a new window
# starts when the old one is over).
BUMP_ADDR = Sql(
    "INSERT INTO addr_failures (addr, window_start, count) VALUES (:addr, :now, 1) "
    "ON CONFLICT (addr) DO UPDATE SET "
    "count = CASE WHEN addr_failures.window_start <= :cutoff THEN 1 ELSE addr_failures.count + 1 END, "
    "window_start = CASE WHEN addr_failures.window_start <= :cutoff THEN :now "
    "ELSE addr_failures.window_start END RETURNING count")
KIT_FAILURES = Sql("SELECT failed_pins, lock_level FROM kits WHERE regnum = :regnum")
KIT_FAILED = Sql("UPDATE kits SET failed_pins = :failed WHERE regnum = :regnum")
KIT_LOCK = Sql("UPDATE kits SET failed_pins = 0, lock_level = :level, locked_until = :until "
               "WHERE regnum = :regnum")
SUPERSEDE = Sql("UPDATE licenses SET status = 'superseded', superseded_by = :new "
                "WHERE license_id = :old AND status = 'active'")

SPEND_PIN = Sql("UPDATE pins SET used_at = :now WHERE pin_hash = :pin AND used_at IS NULL")
TAKE_SERIAL = Sql(
    "UPDATE kits SET issued = issued + 1, pin_set = :set, failed_pins = 0, lock_level = 0 "
    "WHERE regnum = :regnum AND (pin_set IS NULL OR pin_set = :set) RETURNING issued"
)

LIC_COLS = ("license_id", "regnum", "serial", "pin_hash", "product", "users", "pin_set", "method",
            "owner_json", "owner_digest", "params_json", "text", "issued_at", "status", "supersedes",
            "superseded_by", "request_id")
AUDIT_COLS = ("at", "request_id", "event", "code", "regnum", "license_id", "actor", "client_addr")
IDEM_COLS = ("key", "body_hash", "status", "response", "created")


def _named_insert(table: str, cols: tuple[str, ...], prefix: str = "") -> str:
    return (f"INSERT INTO {table} ({', '.join(cols)}) "
            f"VALUES ({', '.join(':' + prefix + c for c in cols)})")


INSERT_LICENSE = Sql(_named_insert("licenses", LIC_COLS))
INSERT_AUDIT = Sql(_named_insert("audit", AUDIT_COLS))
INSERT_IDEM = Sql(_named_insert("idempotency", IDEM_COLS))

# ---- PostgreSQL only: the same writes in fewer round trips (data-modifying CTEs)

# Spend the PIN and take the serial in one statement; the kit UPDATE runs only if
# the PIN UPDATE matched, and both re-check their WHERE under the row lock.
SPEND_AND_SERIAL = Sql(
    "WITH spent AS (UPDATE pins SET used_at = :now WHERE pin_hash = :pin AND used_at IS NULL "
    "RETURNING pin_hash), "
    "ser AS (UPDATE kits SET issued = issued + 1, pin_set = :set, failed_pins = 0, lock_level = 0 "
    "WHERE regnum = :regnum AND (pin_set IS NULL OR pin_set = :set) AND EXISTS (SELECT 1 FROM spent) "
    "RETURNING issued) "
    "SELECT (SELECT count(*) FROM spent) AS spent, (SELECT issued FROM ser) AS serial"
)


def _tail(lic: bool, idem: bool) -> Sql:
    """The license (if any), its idempotent answer (if any) and the audit row in one
    statement; parameters prefixed l_, i_ and a_."""
    parts = ([f"lic AS ({_named_insert('licenses', LIC_COLS, 'l_')})"] if lic else []) + (
        [f"idem AS ({_named_insert('idempotency', IDEM_COLS, 'i_')})"] if idem else [])
    return Sql(("WITH " + ", ".join(parts) + " " if parts else "") + _named_insert("audit", AUDIT_COLS, "a_"))


TAIL = {(lic, idem): _tail(lic, idem) for lic in (False, True) for idem in (False, True)}

# PostgreSQL's own SQL (row locks, data-modifying CTEs); every other statement runs on both.
PG_ONLY = (LOOKUP_LOCKED, KIT_LOCKED, SPEND_AND_SERIAL, *TAIL.values())
