"""The center's key store (center/keystore.py): staged rotation steps and their
refusals, file modes, a home from before the state file, keys from the
environment, a serving process picking up a change; and, against a real center,
old licenses that keep verifying and recovering across a rotation."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from licwiz.center import keystore
from licwiz.center.keystore import (
    ENV_SEALING,
    ENV_SIGNING,
    KeysMissing,
    KeyStateError,
    LiveKeys,
    init_keys,
    load_keys,
    public_listing,
)
from licwiz.core.client import new_idempotency_key
from licwiz.core.keys import key_id, load_keyring, private_pem, public_pem
from licwiz.core.license import verify
from licwiz.core.owner import OwnerData
from licwiz.core.request import ActivationRequest

PARAMS = {"machine_id": "a1" * 32, "cpu": "b2" * 32, "mac": "c3" * 32, "root_fs": "d4" * 32, "os": "e5" * 32}


@pytest.fixture(autouse=True)
def _no_env_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (ENV_SIGNING, ENV_SEALING, keystore.ENV_PIN, keystore.ENV_HOME):
        monkeypatch.delenv(name, raising=False)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def status(home: Path) -> dict[str, tuple[str, str]]:
    return {e.key_id: (e.kind, e.status) for e in keystore.read_state(home)}


def test_rotate_activate_retire_steps_and_refusals(tmp_path: Path) -> None:
    home = tmp_path / "home"
    _, keys = init_keys(home)
    old = keys.signing_id
    nxt = keystore.rotate(home, "signing")
    assert (nxt.kind, nxt.status) == ("signing", "next") and nxt.created
    assert load_keys(home).signing_id == old  # published, not signing
    assert nxt.key_id in load_keys(home).signing_public

    with pytest.raises(KeyStateError, match="already published"):
        keystore.rotate(home, "signing")
    with pytest.raises(KeyStateError, match="not a key of this center") as info:
        keystore.activate(home, "0123456789abcdef")
    assert old in info.value.detail  # the refusal lists the keys there are
    with pytest.raises(KeyStateError, match="cannot be retired"):
        keystore.retire(home, old)

    new, was = keystore.activate(home, nxt.key_id[:8])  # a unique prefix will do
    assert new.key_id == nxt.key_id and was is not None and was.key_id == old
    keys = load_keys(home)
    assert keys.signing_id == nxt.key_id and set(keys.signing_public) == {old, nxt.key_id}
    assert status(home)[old] == ("signing", "previous")
    assert (home / "keys" / "signing.current").read_text().strip() == nxt.key_id  # a downgrade signs alike

    # Roll back and forth: a previous key may become current again; a retired one may not.
    keystore.activate(home, old)
    keystore.activate(home, nxt.key_id)
    retired = keystore.retire(home, old)
    assert retired.status == "retired"
    assert old not in load_keys(home).signing_public
    assert not (home / "public" / f"signing-{old}.pem").exists()
    assert (home / "public" / "retired" / f"signing-{old}.pem").exists()  # out of the trusted folder
    assert old not in load_keyring([home / "public"]).signing
    with pytest.raises(KeyStateError, match="retired"):
        keystore.activate(home, old)

    # A next key given up: retired without ever being current.
    abandoned = keystore.rotate(home, "sealing")
    keystore.retire(home, abandoned.key_id)
    assert load_keys(home).sealing_id == keys.sealing_id
    assert abandoned.key_id not in load_keys(home).sealing_private


def test_key_files_are_private(tmp_path: Path) -> None:
    home = tmp_path / "home"
    init_keys(home)
    keystore.rotate(home, "signing")
    keystore.rotate(home, "sealing")
    assert mode(home) == 0o700 and mode(home / "keys") == 0o700
    private = list((home / "keys").iterdir())
    assert {p.name for p in private} >= {"state.json", "pin.key"}
    assert len([p for p in private if p.name.endswith(".pem")]) == 4
    assert all(mode(p) == 0o600 for p in private), {p.name: oct(mode(p)) for p in private}
    assert all(b"PRIVATE" not in p.read_bytes() for p in (home / "public").glob("*.pem"))


def test_a_home_from_before_the_state_file(tmp_path: Path) -> None:
    """signing.current + signing-*.pem + one sealing.pem, as older versions wrote them."""
    home = tmp_path / "home"
    (home / "keys").mkdir(parents=True)
    (home / "public").mkdir()
    sk_old, sk_cur = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    xk = X25519PrivateKey.generate()
    for sk in (sk_old, sk_cur):
        kid = key_id(sk.public_key())
        (home / "keys" / f"signing-{kid}.pem").write_text(private_pem(sk))
        (home / "public" / f"signing-{kid}.pem").write_text(public_pem(sk.public_key()))
    (home / "keys" / "signing.current").write_text(key_id(sk_cur.public_key()) + "\n")
    (home / "keys" / "sealing.pem").write_text(private_pem(xk))
    (home / "keys" / "pin.key").write_text("ab" * 32 + "\n")

    keys = load_keys(home)
    assert keys.signing_id == key_id(sk_cur.public_key()) and keys.sealing_id == key_id(xk.public_key())
    assert keys.status(key_id(sk_old.public_key())) == "previous"  # it kept verifying: it still does
    listing = public_listing(keys)
    assert [k["status"] for k in listing["signing"]] == ["current", "previous"]
    assert not (home / "keys" / "state.json").exists()  # reading writes nothing

    created, _ = init_keys(home)  # init records the state as it found it, creates nothing
    assert not created and status(home)[key_id(xk.public_key())] == ("sealing", "current")
    nxt = keystore.rotate(home, "sealing")
    keystore.activate(home, nxt.key_id)
    keys = load_keys(home)  # the old sealing key, still in sealing.pem, opens requests as previous
    assert set(keys.sealing_private) == {key_id(xk.public_key()), nxt.key_id}


def test_keys_from_the_environment_are_the_single_current_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    init_keys(home)
    keystore.rotate(home, "signing")  # a next key in the home: not used while the environment names one
    sk = Ed25519PrivateKey.generate()
    monkeypatch.setenv(ENV_SIGNING, private_pem(sk))
    keys = load_keys(home)
    assert keys.signing_id == key_id(sk.public_key()) and list(keys.signing_public) == [keys.signing_id]
    assert [k["key_id"] for k in public_listing(keys)["signing"]] == [keys.signing_id]
    with pytest.raises(KeyStateError, match=ENV_SIGNING):
        keystore.rotate(home, "signing")
    keystore.rotate(home, "sealing")  # the home's sealing keys still rotate
    monkeypatch.setenv(ENV_SEALING, private_pem(Ed25519PrivateKey.generate()))
    with pytest.raises(KeysMissing, match="wrong kind"):
        load_keys(home)


def test_a_serving_process_follows_the_state_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keystore, "RELOAD_EVERY", 0.0)
    home = tmp_path / "home"
    _, keys = init_keys(home)
    live = LiveKeys(home, keys)
    nxt = keystore.rotate(home, "signing")
    assert live.get().signing_id == keys.signing_id
    keystore.activate(home, nxt.key_id)
    assert live.get().signing_id == nxt.key_id
    # A damaged state file: the process keeps the keys it has rather than stop serving.
    (home / "keys" / "state.json").write_text("{not json")
    assert live.get().signing_id == nxt.key_id


def test_cli_keys_commands(center_factory: Any) -> None:
    c = center_factory(start=False)
    rows = json.loads(c.cli("keys", "list", "--json").stdout)
    assert sorted((r["kind"], r["status"]) for r in rows) == [("sealing", "current"), ("signing", "current")]
    out = c.cli("keys", "rotate").stdout
    assert "published" in out and "keys activate" in out
    res = c.cli("keys", "activate", "nonsense", check=False)
    assert res.returncode == 1 and "not a key of this center" in res.stderr and "Traceback" not in res.stderr
    res = c.cli("keys", "rotate", "--kind", "bogus", check=False)
    assert res.returncode != 0 and "invalid choice" in res.stderr and "Traceback" not in res.stderr


def test_old_licenses_keep_verifying_and_recovering_across_a_rotation(
    center_factory: Any, monkeypatch: pytest.MonkeyPatch, acq_owner: OwnerData
) -> None:
    c = center_factory()
    kit = c.create_kit(pins=2)

    def body(pin: str, operation: str = "first") -> dict[str, Any]:
        return ActivationRequest("licwiz-demo", kit.regnum, pin, operation, acq_owner, dict(PARAMS)).to_dict()

    old = httpx.post(f"{c.url}/api/v1/activate", json=body(kit.single_pins[0]), timeout=30).json()
    old_kid = httpx.get(f"{c.url}/api/v1/keys", timeout=30).json()["signing"][0]["key_id"]
    new_kid = json.loads(c.cli("keys", "rotate", "--json").stdout)["key_id"]
    c.cli("keys", "activate", new_kid)
    c.restart()  # (the reload without a restart is tests/security/test_key_rotation.py's)
    signing = httpx.get(f"{c.url}/api/v1/keys", timeout=30).json()["signing"]
    assert [(k["key_id"], k["status"]) for k in signing] == [(new_kid, "current"), (old_kid, "previous")]
    check = httpx.post(f"{c.url}/api/v1/check", json=body(kit.single_pins[0], "recover"), timeout=30).json()
    assert check["signing_key_id"] == old_kid  # a recovery gives back the license as it was signed
    new = httpx.post(f"{c.url}/api/v1/activate", json=body(kit.single_pins[1]), timeout=30).json()
    monkeypatch.setenv("LICWIZ_TRUSTED_KEYS", str(c.trusted_keys))
    ring = load_keyring()
    assert verify(old["license"], ring).key_id == old_kid
    assert verify(new["license"], ring).key_id == new_kid
    again = httpx.post(f"{c.url}/api/v1/activate", json=body(kit.single_pins[0], "recover"), timeout=30,
                       headers={"Idempotency-Key": new_idempotency_key()}).json()
    assert again["license"] == old["license"]
