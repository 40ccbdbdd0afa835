"""PINs stored as keyed hashes, with their position in the kit

Revision ID: 0003
Revises: 0002

``pins.pin`` and ``licenses.pin`` held every PIN in plain text, so a copy of
the database (a backup, a dump, a stolen file) was a list of usable PINs. They
become ``pin_hash``: HMAC-SHA256 of the PIN under the PIN key kept in the
center's home beside the signing keys (center/keystore.py), which ``licwiz
center init`` creates and hands to this revision (``pin_key`` attribute).
``pins.position`` (1, 2, ... within the kit's set) is how ``kit show`` names a
PIN now that it cannot show it; existing PINs are numbered in the order kit
show listed them (by value).

There is no way back: a hash does not give the PIN again (downgrade refuses).
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import sqlalchemy as sa
from alembic import context, op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _hash(key: bytes, pin: str) -> str:
    # The same function as center/keystore.py pin_hash, frozen here as this revision's.
    return hmac.new(key, pin.encode("ascii"), hashlib.sha256).hexdigest()


def _pins_fk(bind: Any) -> str | None:
    for fk in sa.inspect(bind).get_foreign_keys("licenses"):
        if fk["referred_table"] == "pins":
            name = fk.get("name")
            return str(name) if name else None
    return None


def upgrade() -> None:
    bind = op.get_bind()
    pg = bind.dialect.name == "postgresql"
    rows = bind.execute(sa.text("SELECT pin, regnum, pin_set FROM pins ORDER BY regnum, pin_set, pin")).all()
    key: bytes | None = context.config.attributes.get("pin_key")
    if rows and not key:
        raise RuntimeError("migration 0003 needs the center's PIN key: run 'licwiz center init'")
    fk = _pins_fk(bind) if pg else None
    if fk:
        # PostgreSQL checks a foreign key per statement; the values of both sides change.
        op.drop_constraint(fk, "licenses", type_="foreignkey")
    else:
        # SQLite (foreign_keys=ON): check the key at commit, when both sides agree again.
        op.execute("PRAGMA defer_foreign_keys = ON")
    op.execute("ALTER TABLE pins RENAME COLUMN pin TO pin_hash")
    op.execute("ALTER TABLE licenses RENAME COLUMN pin TO pin_hash")
    if pg:  # SQLite does not enforce a VARCHAR length
        op.execute("ALTER TABLE pins ALTER COLUMN pin_hash TYPE VARCHAR(64)")
        op.execute("ALTER TABLE licenses ALTER COLUMN pin_hash TYPE VARCHAR(64)")
    op.add_column("pins", sa.Column("position", sa.Integer(), nullable=False, server_default="0"))
    pins_upd: list[dict[str, Any]] = []
    lic_upd: list[dict[str, Any]] = []
    seen: dict[tuple[str, str], int] = {}
    for pin, regnum, pin_set in rows:
        if not (len(pin) == 15 and pin.isdigit()):
            continue  # not a plain PIN (cannot happen before this revision; never hash twice)
        pos = seen[regnum, pin_set] = seen.get((regnum, pin_set), 0) + 1
        assert key is not None  # checked above: there are rows
        h = _hash(key, pin)
        pins_upd.append({"old": pin, "h": h, "pos": pos})
        lic_upd.append({"old": pin, "h": h})
    if pins_upd:
        bind.execute(sa.text("UPDATE pins SET pin_hash = :h, position = :pos WHERE pin_hash = :old"),
                     pins_upd)
        bind.execute(sa.text("UPDATE licenses SET pin_hash = :h WHERE pin_hash = :old"), lic_upd)
    if fk:
        op.create_foreign_key("licenses_pin_hash_fkey", "licenses", "pins", ["pin_hash"], ["pin_hash"])


def downgrade() -> None:
    raise RuntimeError("revision 0003 cannot be undone: the PINs are stored only as hashes")
