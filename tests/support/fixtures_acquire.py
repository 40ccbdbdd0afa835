"""Fixtures for the acquisition tests (owner: acquisition).

``acq_fake_center``: a small but real HTTP server in a thread that speaks the
center API v1 and signs licenses with its own trusted key. Tests switch it
into misbehaving modes (tampered license, a genuine license for something
else, dropped first answer, a hook that runs during activation) that the real
Licensing Center never shows. ``acq_owner`` / ``acq_owner_file``: valid owner data.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from licwiz.core.keys import Keyring, key_id, public_pem
from licwiz.core.license import License, pin_digest, sign
from licwiz.core.owner import OwnerData, save_file

from support import owners

ACQ_OWNER = owners.ORGANISATION


@dataclass
class AcqFakeCenter:
    """``mode``: ``good``, ``tamper`` (a byte changed after signing),
    ``wrong_regnum`` (genuine signature, another kit), ``wrong_params``
    (genuine, another computer), ``drop_first`` (the first activate gets no
    answer: the connection is closed), ``refuse`` (activate answers pin_used)."""

    key: Ed25519PrivateKey
    keys_dir: Path
    url: str = ""
    mode: str = "good"
    users: int = 1
    on_activate: Callable[[dict[str, Any]], None] | None = None
    idempotency_keys: list[str] = field(default_factory=list)
    activations: int = 0

    @property
    def keyring(self) -> Keyring:
        ring = Keyring()
        ring.add(self.key.public_key())
        return ring

    def license_for(self, req: dict[str, Any]) -> dict[str, Any]:
        pin = req["extra_pin"] if req["operation"] == "update" else req["pin"]
        lic = License(
            license_id=f"{req['regnum']}-001", product=req["product"], regnum=req["regnum"],
            users=self.users, owner_digest=OwnerData.from_dict(req["owner"]).digest(),
            params=dict(req["params"]), method=req["method"], pin_digest=pin_digest(req["regnum"], pin),
            issued=dt.datetime.now(dt.UTC).date().isoformat(), key_id=key_id(self.key.public_key()),
        )
        if self.mode == "wrong_regnum":
            other = "1" * 9 + "0"
            lic = replace(lic, regnum=other, license_id=f"{other}-001")
        if self.mode == "wrong_params":
            lic = replace(lic, params={k: "0" * 64 for k in lic.params})
        text = sign(lic, self.key).text
        if self.mode == "tamper":
            text = text.replace(f'"users":{self.users}', f'"users":{self.users + 4}')
        return {"license": text, "license_id": lic.license_id, "users": lic.users, "supersedes": None}


def _handler(center: AcqFakeCenter) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # keep test output clean
            pass

        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("X-Request-Id", "fake-req-1")
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path == "/api/v1/health":
                self._send(200, {"status": "ok", "version": "fake"})
            else:
                self._send(404, {"error": {"code": "not_found", "brief": "no such path", "detail": ""}})

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
            if self.path == "/api/v1/check":
                self._send(200, {"available": True, "product": body["product"], "users": center.users,
                                 "pin_set": "single", "method_family": "online-or-file"})
            elif self.path == "/api/v1/activate":
                center.idempotency_keys.append(self.headers.get("Idempotency-Key", ""))
                center.activations += 1
                if center.mode == "refuse":
                    self._send(409, {"error": {"code": "pin_used", "brief": "This PIN code was already used",
                                               "detail": "PIN spent on 2026-01-01 by another request",
                                               "request_id": "fake-req-2"}})
                    return
                if center.mode == "drop_first" and center.activations == 1:
                    self.close_connection = True  # no answer at all: a lost response
                    return
                if center.on_activate is not None:
                    center.on_activate(body)
                self._send(200, center.license_for(body))
            else:
                self._send(404, {"error": {"code": "not_found", "brief": "no such path", "detail": ""}})

    return Handler


@pytest.fixture
def acq_fake_center(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AcqFakeCenter]:
    key = Ed25519PrivateKey.generate()
    keys_dir = tmp_path / "fake-center-keys"
    keys_dir.mkdir()
    (keys_dir / "fake-center.pem").write_text(public_pem(key.public_key()))
    monkeypatch.setenv("LICWIZ_TRUSTED_KEYS", str(keys_dir))
    center = AcqFakeCenter(key, keys_dir)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(center))
    center.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield center
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def acq_owner() -> OwnerData:
    return ACQ_OWNER


@pytest.fixture
def acq_owner_file(tmp_path: Path) -> Path:
    path = tmp_path / "owner.json"
    save_file(path, ACQ_OWNER)
    return path
