"""Issue 11 point 7: text from outside never reaches the terminal with control
characters. Seat holders named with escape sequences (a local seat record, a
license server's answer) are printed by ``licwiz run``'s refusal, ``licwiz
status`` and ``licwiz server status`` without a single ESC or BEL byte."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from licwiz.core import seats
from licwiz.core.server_client import ServerClient
from licwiz.core.text import printable, printable_lines
from support.fixtures_server import LicenseServer, SeatLicenses, licwiz_cmd

PRODUCT = "licwiz-demo"
CLEAR = "\x1b[2J"
TITLE = "\x1b]0;pwned\x07"
EVIL = f"x{CLEAR}y{TITLE}z"


def clean(out: str) -> None:
    assert "\x1b" not in out and "\x07" not in out, repr(out)


def test_printable_replaces_what_a_terminal_acts_on() -> None:
    assert printable(EVIL) == "x?[2Jy?]0;pwned?z"
    assert printable("a\u202eb\ud800c\u2028d\te") == "a?b?c?d?e"
    assert printable("Zoë Müller 東京") == "Zoë Müller 東京"
    assert printable_lines(f"one{CLEAR}\ntwo") == "one?[2J\ntwo"


def test_local_holder_record_with_escapes(seat_licenses: SeatLicenses, seat_dir: Path) -> None:
    seat_licenses.install(1)
    held = seats.SeatTable(PRODUCT, 1).acquire(f"unix:{EVIL}")
    try:
        r = subprocess.run(licwiz_cmd("run", "--", "true"), capture_output=True, text=True, timeout=60,
                           start_new_session=True)
        assert r.returncode == 75, r.stderr
        assert "pwned" in r.stderr  # the holder is listed...
        clean(r.stderr + r.stdout)  # ...without its escape sequences
        st = subprocess.run(licwiz_cmd("status"), capture_output=True, text=True, timeout=60)
        assert st.returncode == 0, st.stderr
        assert "pwned" in st.stdout
        clean(st.stdout + st.stderr)
    finally:
        held.release()


def _plant_seat(srv: LicenseServer, slot: int) -> None:
    """A holder row as a hostile client (or a server that does not check) left
    it: straight into the server's database, so the test does not depend on
    what the server accepts today."""
    path = srv.db.split(":///", 1)[1]
    now = time.time()
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO licwiz_seats (seat_id, product, slot, session, host, user_name, granted_at, "
                   "expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                   (uuid.uuid4().hex, PRODUCT, slot, f"s{TITLE}", f"h{CLEAR}", EVIL, now, now + 3600))


def test_server_holders_with_escapes(license_server_factory: Callable[[str | None], LicenseServer],
                                     seat_licenses: SeatLicenses) -> None:
    srv = license_server_factory(None)
    sp = srv.start()

    async def install() -> None:
        async with ServerClient("127.0.0.1", sp.port, token=srv.admin_token) as c:
            await c.install(seat_licenses.make(1)[1])

    asyncio.run(install())
    _plant_seat(srv, 0)
    env = {**os.environ, "LICWIZ_SERVER_CLIENT_TOKEN": srv.client_token,
           "LICWIZ_SERVER_TOKEN": srv.admin_token, "LICWIZ_SERVER": f"127.0.0.1:{sp.port}"}
    r = subprocess.run(licwiz_cmd("run", "--", "true"), env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 75, r.stderr
    assert "pwned" in r.stderr
    clean(r.stderr + r.stdout)
    st = subprocess.run(licwiz_cmd("server", "status"), env=env, capture_output=True, text=True, timeout=60)
    assert st.returncode == 0, st.stderr
    assert "pwned" in st.stdout and "1 of 1 in use" in st.stdout
    clean(st.stdout + st.stderr)
