"""Fixtures of the offline-channel tests (owner: offline).

``off_keys``: a center key pair (Ed25519 signing, X25519 sealing) whose public
halves the client trusts through LICWIZ_TRUSTED_KEYS, plus helpers that play
the center's part in-process (open a request file, sign a license the way the
center does). The round trips against the real center use the ``center``
fixture of tests/support/fixtures_center.py instead.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from licwiz.core import license as lic_mod
from licwiz.core import phonemsg
from licwiz.core.acquire import expected_pin_digest
from licwiz.core.damm import check_digit
from licwiz.core.keys import key_id, public_pem
from licwiz.core.owner import save_file
from licwiz.core.request import ActivationRequest, open_sealed

from support import owners

OFF_PRODUCT = "licwiz-demo"
OFF_OWNER = owners.PERSON


def off_pin(n: int) -> str:
    body = f"{n:014d}"
    return body + check_digit(body)


def off_regnum(n: int) -> str:
    body = f"{n:09d}"
    return body + check_digit(body)


@dataclass
class OffKeys:
    signing: Ed25519PrivateKey
    sealing: X25519PrivateKey
    trusted_dir: Path

    def open(self, text: str) -> ActivationRequest:
        return open_sealed(text, self.sealing)

    def sign_for(self, req: ActivationRequest, serial: int = 1, **changes: Any) -> lic_mod.SignedLicense:
        """The license the center issues for ``req`` (params as given; phone: short)."""
        params = phonemsg.short_params(req.params) if req.method == "phone" else dict(req.params)
        fields: dict[str, Any] = {
            "license_id": f"{req.regnum}-{serial:03d}", "product": req.product, "regnum": req.regnum,
            "users": 5, "owner_digest": req.owner.digest(), "params": params, "method": req.method,
            "pin_digest": expected_pin_digest(req), "issued": dt.datetime.now(dt.UTC).date().isoformat(),
            "key_id": key_id(self.signing.public_key()),
        }
        fields.update(changes)
        return lic_mod.sign(lic_mod.License(**fields), self.signing)


@pytest.fixture
def off_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> OffKeys:
    signing, sealing = Ed25519PrivateKey.generate(), X25519PrivateKey.generate()
    trusted = tmp_path / "off-trusted"
    trusted.mkdir()
    (trusted / "center-signing.pem").write_text(public_pem(signing.public_key()))
    (trusted / "center-sealing.pem").write_text(public_pem(sealing.public_key()))
    monkeypatch.setenv("LICWIZ_TRUSTED_KEYS", str(trusted))
    monkeypatch.setenv("LICWIZ_PRODUCT", OFF_PRODUCT)
    return OffKeys(signing, sealing, trusted)


@pytest.fixture
def off_owner_file(tmp_path: Path) -> Path:
    path = tmp_path / "owner.json"
    save_file(path, OFF_OWNER)
    return path


def off_licwiz(*args: str, stdin: str = "", cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real ``licwiz`` command line in a child process (environment inherited)."""
    return subprocess.run(
        [sys.executable, "-m", "licwiz.cli", *args], input=stdin, capture_output=True, text=True,
        timeout=60, cwd=cwd,
    )
