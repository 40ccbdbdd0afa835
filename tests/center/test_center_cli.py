"""``licwiz center`` commands on a real database and key folder."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from licwiz.center.keystore import ENV_PIN, ENV_SEALING, ENV_SIGNING
from licwiz.center.service import CenterService
from licwiz.core.keys import private_pem

from .test_center_api import req


def licwiz(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "licwiz.cli", *args], capture_output=True, text=True,
                          timeout=60, env={**os.environ, **(env or {})})


def test_init_creates_private_keys_0600_and_is_idempotent(center_factory: Any) -> None:
    c = center_factory(start=False)
    keydir = c.home / "keys"
    assert stat.S_IMODE(keydir.stat().st_mode) == 0o700
    privates = sorted(keydir.glob("*.pem"))
    assert len(privates) == 2
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in privates)
    assert stat.S_IMODE((c.home / "admin-token").stat().st_mode) == 0o600
    before = {p.name: p.read_bytes() for p in privates}
    again = json.loads(c.cli("init", "--json").stdout)
    assert again["admin_token"] is None and again["keys_created"] is False
    assert {p.name: p.read_bytes() for p in keydir.glob("*.pem")} == before
    # Public halves only in the trusted-keys folder.
    assert all(b"PRIVATE" not in p.read_bytes() for p in c.trusted_keys.glob("*.pem"))


def test_fresh_clone_flow_init_kit_create_serve(tmp_path: Path) -> None:
    """licwiz center init && kit create --users 5 --pins 3 --json && serve, via the environment."""
    env = {"LICWIZ_CENTER_HOME": str(tmp_path / "home"),
           "LICWIZ_CENTER_DB": f"sqlite:///{tmp_path / 'c.db'}"}
    assert licwiz("center", "init", env=env).returncode == 0
    out = licwiz("center", "kit", "create", "--product", "licwiz-demo", "--users", "5", "--pins", "3",
                 "--json", env=env)
    kits = json.loads(out.stdout)
    assert len(kits) == 1 and len(kits[0]["single_pins"]) == 3 and len(kits[0]["multi_pins"]) == 3
    text = licwiz("center", "kit", "show", kits[0]["regnum"], env=env).stdout
    assert text.count("unused") == 6
    listed = licwiz("center", "kit", "list", env=env).stdout
    assert kits[0]["regnum"] in listed
    bad = licwiz("center", "kit", "create", "--product", "p", "--users", "0", env=env)
    assert bad.returncode == 1 and "Users" in bad.stderr and "Traceback" not in bad.stderr


def test_one_home_is_one_whole_center(tmp_path: Path) -> None:
    """Without --db the database lives in --home: two homes are two centers."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LICWIZ_CENTER_")}
    a, b = tmp_path / "a", tmp_path / "b"

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "licwiz.cli", *args], capture_output=True,
                              text=True, timeout=60, env=env)

    for home in (a, b):
        assert run("center", "init", "--home", str(home)).returncode == 0
    kit = json.loads(run("center", "kit", "create", "--product", "p", "--home", str(a), "--json").stdout)[0]
    assert (a / "center.db").is_file() and (b / "center.db").is_file()
    assert kit["regnum"] in run("center", "kit", "list", "--home", str(a)).stdout
    assert kit["regnum"] not in run("center", "kit", "list", "--home", str(b)).stdout


def test_commands_on_an_uninitialised_database_say_what_to_do(tmp_path: Path) -> None:
    env = {"LICWIZ_CENTER_HOME": str(tmp_path / "h"), "LICWIZ_CENTER_DB": f"sqlite:///{tmp_path / 'x.db'}"}
    for args in (("center", "kit", "list"), ("center", "serve", "--port", "1")):
        res = licwiz(*args, env=env)
        assert res.returncode == 1 and "licwiz center init" in res.stderr and "Traceback" not in res.stderr
    res = licwiz("center", "kit", "list", "--db", "postgresql://nobody@127.0.0.1:1/none", env=env)
    assert res.returncode == 1 and "Traceback" not in res.stderr


def test_keys_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
    from licwiz.core.keys import key_id

    sk, xk = Ed25519PrivateKey.generate(), X25519PrivateKey.generate()
    monkeypatch.setenv(ENV_SIGNING, private_pem(sk))
    monkeypatch.setenv(ENV_SEALING, private_pem(xk))
    monkeypatch.setenv(ENV_PIN, "ab" * 32)
    svc = CenterService.open(f"sqlite+aiosqlite:///{tmp_path / 'c.db'}", tmp_path / "empty-home")
    assert svc.keys.signing_id == key_id(sk.public_key())
    assert svc.keys.sealing_id == key_id(xk.public_key())
    assert svc.keys.pin_key == bytes.fromhex("ab" * 32)
    asyncio.run(svc.close())
    monkeypatch.delenv(ENV_SIGNING)
    res = licwiz("center", "serve", "--home", str(tmp_path / "empty-home"), "--db", f"sqlite:///{tmp_path}/c.db")
    assert res.returncode == 1 and "keys are missing" in res.stderr


def test_operators_and_their_tokens(center_factory: Any) -> None:
    c = center_factory(start=False)
    out = c.cli("operator", "add", "alice").stdout
    token = out.strip().rsplit(" ", 1)[1]
    dup = c.cli("operator", "add", "alice", check=False)
    assert dup.returncode == 1 and "already exists" in dup.stderr
    assert json.loads(c.cli("operator", "list", "--json").stdout)[0]["name"] == "alice"
    bob = json.loads(c.cli("operator", "add", "bob", "--json").stdout)  # issue 12: --json on every command
    assert bob["name"] == "bob" and len(bob["token"]) >= 32

    async def who(t: str) -> str | None:
        svc = CenterService.open(c.db_url, c.home)
        try:
            return await svc.operators.for_token(t)
        finally:
            await svc.close()

    assert asyncio.run(who(token)) == "alice"
    assert asyncio.run(who(token + "x")) is None
    assert asyncio.run(who("")) is None
    c.cli("operator", "disable", "alice")
    assert asyncio.run(who(token)) is None
    assert token not in (c.home / "center.db").read_bytes().decode("latin-1")  # only its hash is stored


def test_license_commands(center_factory: Any) -> None:
    c = center_factory()
    kit = c.create_kit()
    issued = httpx.post(f"{c.url}/api/v1/activate", json=req(kit, kit.single_pins[0]).to_dict()).json()
    listed = json.loads(c.cli("license", "list", "--regnum", kit.regnum, "--json").stdout)
    assert [x["license_id"] for x in listed] == [issued["license_id"]]
    shown = json.loads(c.cli("license", "show", issued["license_id"], "--json").stdout)
    assert shown["license"] == issued["license"] and shown["status"] == "active"
    revoked = json.loads(c.cli("license", "revoke", issued["license_id"], "--json").stdout)
    assert revoked["license_id"] == issued["license_id"]
    assert json.loads(c.cli("license", "show", issued["license_id"], "--json").stdout)["status"] == "revoked"
    missing = c.cli("license", "show", "0000000000-001", check=False)
    assert missing.returncode == 1 and "No license" in missing.stderr
    text = c.cli("audit").stdout
    assert "revoke" in text and "issue" in text
