"""What ``licwiz center mail`` remembers between messages and across crashes:
``<home>/mail/state.db`` (SQLite, fsync on every commit) and ``<home>/mail/lock``.

One row per message, keyed by the message's identity (center/mail_parse.py:
hashed Message-ID and sender; no address is stored, only a keyed hash of it):

    claimed  -> the message is being handled (the license calls are idempotent,
                so handling it again after a crash gives the same answer);
    sending  -> the whole reply was handed to the SMTP server except the final
                "." that commits it: from here on it is NEVER sent again;
    sent     -> the SMTP server accepted the reply;
    done     -> audited; only the mailbox flag may still be missing.

Why a file in the center's home and not the center database: the journal
belongs to the mailbox this one process reads (a lock file keeps a second
process away), it must be written between two SMTP steps without a round trip
to a PostgreSQL server that may be down, and it needs no schema change on the
licensing database. What the vendor looks at later is in the audit trail.
The sender key (``<home>/mail/sender-key``, 0600) makes sender hashes
useless to anyone who reads the audit trail without the center's home.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import os
import secrets
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from licwiz.core.errors import LicwizError
from licwiz.core.storage import atomic_write

from .mail_parse import address_key

KEEP_SECONDS = 90 * 24 * 3600  # a message delivered again within 90 days is still recognised
_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    key TEXT PRIMARY KEY,        -- center/mail_parse.py message_key
    source TEXT NOT NULL,        -- the mailbox entry that claimed it (Maildir name, IMAP uid)
    sender TEXT NOT NULL,        -- keyed hash of the answer address
    received REAL NOT NULL,
    state TEXT NOT NULL,         -- claimed | sending | sent | done
    outcome TEXT NOT NULL DEFAULT '',
    reply_id TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS messages_sender ON messages (sender, received);
"""


@dataclass(frozen=True, slots=True)
class Entry:
    key: str
    source: str
    sender: str
    received: float
    state: str
    outcome: str
    reply_id: str


class MailState:
    def __init__(self, home: Path) -> None:
        self.dir = home / "mail"
        self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._lock: IO[bytes] | None = None
        self.db = sqlite3.connect(self.dir / "state.db", isolation_level=None, timeout=30,
                                  check_same_thread=False)  # used from one thread at a time
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")  # a state change is on disk before the next SMTP step
        self.db.executescript(_SCHEMA)
        os.chmod(self.dir / "state.db", 0o600)
        self.sender_key = self._sender_key()

    def lock(self) -> None:
        """One mail process per center home: a second would answer the same messages."""
        fh = (self.dir / "lock").open("ab")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.close()
            raise LicwizError("Another 'licwiz center mail' is running on this center home",
                              f"{self.dir / 'lock'} is locked; stop the other one first",
                              code="mail_locked") from None
        self._lock = fh

    def close(self) -> None:
        self.db.close()
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def _sender_key(self) -> bytes:
        path = self.dir / "sender-key"
        try:
            return bytes.fromhex(path.read_text().strip())
        except FileNotFoundError:
            key = secrets.token_bytes(32)
            atomic_write(path, key.hex().encode() + b"\n", mode=0o600)
            return key
        except ValueError:
            raise LicwizError(f"{path} is damaged", "expected 64 hex digits; remove it to make a new one "
                              "(older sender hashes then stop matching)", code="mail_state") from None

    def sender_hash(self, address: str) -> str:
        return hmac.new(self.sender_key, address_key(address).encode(), hashlib.sha256).hexdigest()[:32]

    # ---- the journal

    def get(self, key: str) -> Entry | None:
        row = self.db.execute("SELECT key, source, sender, received, state, outcome, reply_id FROM messages "
                              "WHERE key = ?", (key,)).fetchone()
        return Entry(*row) if row else None

    def claim(self, key: str, source: str, sender: str) -> Entry:
        """The message's row, made now if it is new (state ``claimed``)."""
        self.db.execute("INSERT OR IGNORE INTO messages (key, source, sender, received, state) "
                        "VALUES (?, ?, ?, ?, 'claimed')", (key, source, sender, time.time()))
        entry = self.get(key)
        assert entry is not None
        return entry

    def set(self, key: str, state: str, *, outcome: str | None = None, reply_id: str | None = None) -> None:
        sets, args = ["state = ?"], [state]
        if outcome is not None:
            sets.append("outcome = ?")
            args.append(outcome)
        if reply_id is not None:
            sets.append("reply_id = ?")
            args.append(reply_id)
        self.db.execute(f"UPDATE messages SET {', '.join(sets)} WHERE key = ?", (*args, key))

    def count_since(self, sender: str, seconds: float, before: float, outcomes: tuple[str, ...] = ()) -> int:
        """Messages of ``sender`` received in the ``seconds`` before ``before``
        (the message being handled: so a message handled again counts the same)."""
        sql = "SELECT count(*) FROM messages WHERE sender = ? AND received >= ? AND received < ?"
        args: list[object] = [sender, before - seconds, before]
        if outcomes:
            sql += f" AND outcome IN ({', '.join('?' * len(outcomes))})"
            args.extend(outcomes)
        return int(self.db.execute(sql, args).fetchone()[0])

    def prune(self) -> None:
        self.db.execute("DELETE FROM messages WHERE state = 'done' AND received < ?",
                        (time.time() - KEEP_SECONDS,))
