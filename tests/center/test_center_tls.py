"""HTTPS to the Licensing Center (shared/DESIGN.md: the automatic method is
HTTPS): ``licwiz center serve --tls-cert --tls-key`` and ``licwiz acquire``
over it, trusting the certificate through SSL_CERT_FILE as any site CA would be."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from support.tls import self_signed


def _acquire(url: str, kit: Any, owner_file: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "licwiz.cli", "acquire", "--center", url, "--kit", kit.regnum, "--pin",
         kit.single_pins[0], "--owner-file", str(owner_file), "--operation", "first", "--scope", "user",
         "--json"], capture_output=True, text=True, timeout=60, env=env)


def test_acquire_over_https(center_factory: Any, acq_owner_file: Path, tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    center = center_factory(start=False).start(tls=(cert, key))
    assert center.url.startswith("https://")
    kit = center.create_kit(users=1)
    env = {**os.environ, "LICWIZ_TRUSTED_KEYS": str(center.trusted_keys)}
    env.pop("SSL_CERT_FILE", None)
    # A certificate nobody vouched for is refused before anything is sent: no PIN spent.
    r = _acquire(center.url, kit, acq_owner_file, env)
    assert r.returncode == 4, r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert "certificate" in r.stderr.lower(), r.stderr
    shown = json.loads(center.cli("kit", "show", kit.regnum, "--json").stdout)
    assert not shown.get("licenses"), shown
    r = _acquire(center.url, kit, acq_owner_file, {**env, "SSL_CERT_FILE": str(cert)})
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["license"]["license_id"] == f"{kit.regnum}-001"


def test_serve_refuses_half_a_tls_setting(center_factory: Any, tmp_path: Path) -> None:
    center = center_factory(start=False)
    cert, _ = self_signed(tmp_path)
    r = center.cli("serve", "--tls-cert", str(cert), check=False)
    assert r.returncode != 0 and "--tls-key" in r.stderr and "Traceback" not in r.stderr
    r = center.cli("serve", "--tls-cert", str(cert), "--tls-key", str(tmp_path / "missing.pem"), check=False)
    assert r.returncode != 0 and "missing.pem" in r.stderr and "Traceback" not in r.stderr
