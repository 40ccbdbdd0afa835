"""The license server's process: a graceful SIGTERM answers what is in flight and
exits 0; a failure of the server itself is 500 ``internal`` with the request id
in its log, not disguised as the database being away."""

from __future__ import annotations

import json
import signal
import socket
import sqlite3
import time
from collections.abc import Callable

import httpx
from support.fixtures_server import LicenseServer, SeatLicenses

Factory = Callable[[str | None], LicenseServer]


def _read_answer(sock: socket.socket, deadline: float) -> bytes:
    """One HTTP/1.1 answer with a Content-Length, read until the deadline."""
    data = b""
    while time.monotonic() < deadline:
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
        head, sep, body = data.partition(b"\r\n\r\n")
        if sep:
            length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), 0)
            if len(body) >= length:
                return data
    raise AssertionError(f"no complete answer before the deadline: {data!r}")


def test_sigterm_answers_the_request_in_flight_and_exits_0(
        license_server_factory: Factory, seat_licenses: SeatLicenses) -> None:
    srv = license_server_factory(None)
    sp = srv.start()
    # A seat claim in flight: its headers and half its body are in when SIGTERM comes.
    body = json.dumps({"session": "s-term", "host": "h1", "user": "u1"}).encode()
    with socket.create_connection(("127.0.0.1", sp.port), timeout=5) as sock:
        sock.sendall(b"POST /api/v1/seats HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     b"Authorization: Bearer " + srv.client_token.encode() + b"\r\n"
                     b"Content-Type: application/json\r\nContent-Length: " + str(len(body)).encode()
                     + b"\r\n\r\n" + body[:10])
        time.sleep(0.3)  # let the server read the headers: the request is then in flight
        sp.proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        sock.sendall(body[10:])
        answer = _read_answer(sock, time.monotonic() + 10)
    status_line = answer.split(b"\r\n", 1)[0]
    # No license on this server: the claim is answered with the refusal, not cut off.
    assert status_line.startswith(b"HTTP/1.1 409"), answer
    assert b'"no_license"' in answer
    assert sp.proc.wait(15) == 0, sp.log.read_text()
    assert "Traceback" not in sp.log.read_text()


def test_sigterm_of_an_idle_server_exits_0(license_server_factory: Factory) -> None:
    srv = license_server_factory(None)
    sp = srv.start()
    sp.proc.send_signal(signal.SIGTERM)
    assert sp.proc.wait(15) == 0, sp.log.read_text()


def test_a_failure_of_the_server_itself_is_500_internal_with_the_request_id_logged(
        license_server_factory: Factory, seat_licenses: SeatLicenses) -> None:
    """A seat table without its columns is a broken installation, not a database
    that is away for a moment: 500 ``internal`` (no Retry-After), with the request
    id in the server's log so the administrator can find it."""
    srv = license_server_factory(None)
    sp = srv.start()
    path = srv.db.split(":///", 1)[1]
    with sqlite3.connect(path) as conn:
        conn.execute("ALTER TABLE licwiz_seats RENAME TO licwiz_seats_gone")
    r = httpx.post(f"{sp.url}/api/v1/seats", json={"session": "s1", "host": "h1", "user": "u1"},
                   headers={"Authorization": f"Bearer {srv.client_token}"}, timeout=10)
    assert r.status_code == 500, r.text
    err = r.json()["error"]
    assert err["code"] == "internal" and err["request_id"]
    assert "retry-after" not in r.headers
    deadline = time.monotonic() + 5
    while err["request_id"] not in sp.log.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    log = sp.log.read_text()
    line = next(ln for ln in log.splitlines() if err["request_id"] in ln)
    assert "internal error OperationalError" in line, log
    assert "Traceback" not in log
