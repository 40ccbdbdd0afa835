"""Random ids (seat ids, request ids) without a system call each.

``uuid.uuid4()`` reads the kernel's random source once per id; on a sandboxed
kernel that call costs ~50 us, and a claim and its release made three of them
(a seat id, two request ids): a third of the HTTP layer's time in
bench/seats.py. Both services take their request ids here, the license server
its seat ids too. Here the kernel's randomness is read 4 KiB at a time, and each
id is 16 bytes of it: as random as uuid4's, one system call per 256 ids.
"""

from __future__ import annotations

import os

_CHUNK = 4096
_ID_BYTES = 16


class _Pool:
    def __init__(self) -> None:
        self.buf = b""
        self.pos = 0
        self.pid = 0

    def hex_id(self) -> str:
        # A forked child must not reuse its parent's buffer (the same ids twice).
        if self.pos + _ID_BYTES > len(self.buf) or self.pid != os.getpid():
            self.buf, self.pos, self.pid = os.urandom(_CHUNK), 0, os.getpid()
        start = self.pos
        self.pos += _ID_BYTES
        return self.buf[start:self.pos].hex()


_pool = _Pool()


def new_id() -> str:
    """32 random hex digits (the form of ``uuid4().hex``). Not thread-safe: the event loop's."""
    return _pool.hex_id()
