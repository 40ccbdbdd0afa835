"""The center's secrets: Ed25519 signing keys, the X25519 sealing key and the
PIN key.

Files under ``<home>/keys`` (private, mode 0600) and ``<home>/public``
(public PEMs, the folder a client can trust via LICWIZ_TRUSTED_KEYS).
``signing.current`` names the key that signs new licenses; ``keys rotate``
adds a new one and keeps the old ones for verification.

The PIN key (``keys/pin.key``, 32 random bytes as hex) keys the HMAC-SHA256
under which PIN codes are stored (``CenterKeys.pin_hash``): the database holds
only those hashes, so a copy of it without this file reveals no usable PIN.
Losing the file makes every unused PIN unusable: back it up with the keys.

The home is 0700 and every private file 0600 (``secure_home`` tightens an
existing home on init and serve).

Containers may pass the private keys instead in the environment:
``LICWIZ_CENTER_SIGNING_KEY`` and ``LICWIZ_CENTER_SEALING_KEY`` (PEM text),
``LICWIZ_CENTER_PIN_KEY`` (the hex text of ``pin.key``).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from licwiz.core.errors import LicwizError
from licwiz.core.keys import key_id, load_private, load_public, private_pem, public_pem
from licwiz.core.storage import atomic_write

ENV_HOME = "LICWIZ_CENTER_HOME"
ENV_SIGNING = "LICWIZ_CENTER_SIGNING_KEY"
ENV_SEALING = "LICWIZ_CENTER_SEALING_KEY"
ENV_PIN = "LICWIZ_CENTER_PIN_KEY"
PIN_KEY_FILE = "pin.key"
_PIN_KEY_BYTES = 32


def default_home() -> Path:
    env = os.environ.get(ENV_HOME)
    if env:
        return Path(env)
    return Path(platformdirs.user_state_dir("licwiz")) / "center"


class KeysMissing(LicwizError):
    code = "keys_missing"


@dataclass
class CenterKeys:
    signing: Ed25519PrivateKey
    sealing: X25519PrivateKey
    pin_key: bytes
    # Every signing public key known (current and retired), by key id.
    signing_public: dict[str, Ed25519PublicKey] = field(default_factory=dict)
    sealing_public: dict[str, X25519PublicKey] = field(default_factory=dict)

    @property
    def signing_id(self) -> str:
        return key_id(self.signing.public_key())

    @property
    def sealing_id(self) -> str:
        return key_id(self.sealing.public_key())

    def pin_hash(self, pin: str) -> str:
        """How a (normalised, 15-digit) PIN is stored and looked up."""
        return pin_hash(self.pin_key, pin)


def pin_hash(key: bytes, pin: str) -> str:
    return hmac.new(key, pin.encode("ascii"), hashlib.sha256).hexdigest()


def secure_home(home: Path) -> None:
    """The home as a folder only its owner can enter, its secrets readable by the
    owner only (created so, or tightened when an older install left them open)."""
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    private = [home, home / "keys", home / "admin-token"]
    if (home / "keys").is_dir():
        private += [f for f in (home / "keys").iterdir() if f.is_file()]
    for path in private:
        try:
            loose = path.stat().st_mode & 0o077
        except FileNotFoundError:
            continue
        if loose:
            os.chmod(path, 0o700 if path.is_dir() else 0o600)


def _write_private(path: Path, pem: str) -> None:
    atomic_write(path, pem.encode("ascii"), mode=0o600)


def _write_public(path: Path, pem: str) -> None:
    atomic_write(path, pem.encode("ascii"), mode=0o644)


def init_keys(home: Path) -> tuple[bool, CenterKeys]:
    """Create the key pairs unless present; returns (created, keys)."""
    keydir, pubdir = home / "keys", home / "public"
    secure_home(home)
    keydir.mkdir(parents=True, exist_ok=True, mode=0o700)
    pubdir.mkdir(parents=True, exist_ok=True)
    os.chmod(keydir, 0o700)
    created = False
    if not (keydir / "signing.current").exists():
        rotate_signing(home)
        created = True
    if not (keydir / "sealing.pem").exists():
        sk = X25519PrivateKey.generate()
        kid = key_id(sk.public_key())
        _write_private(keydir / "sealing.pem", private_pem(sk))
        _write_public(pubdir / f"sealing-{kid}.pem", public_pem(sk.public_key()))
        created = True
    if not (keydir / PIN_KEY_FILE).exists() and not os.environ.get(ENV_PIN):
        atomic_write(keydir / PIN_KEY_FILE, (secrets.token_hex(_PIN_KEY_BYTES) + "\n").encode(), mode=0o600)
        created = True
    return created, load_keys(home)


def rotate_signing(home: Path) -> str:
    """A new signing key becomes current; old keys stay for verification."""
    keydir, pubdir = home / "keys", home / "public"
    keydir.mkdir(parents=True, exist_ok=True)
    pubdir.mkdir(parents=True, exist_ok=True)
    sk = Ed25519PrivateKey.generate()
    kid = key_id(sk.public_key())
    _write_private(keydir / f"signing-{kid}.pem", private_pem(sk))
    _write_public(pubdir / f"signing-{kid}.pem", public_pem(sk.public_key()))
    atomic_write(keydir / "signing.current", (kid + "\n").encode(), mode=0o600)
    return kid


def _read(path: Path) -> str:
    try:
        return path.read_text("ascii")
    except OSError as exc:
        raise KeysMissing(
            "The Licensing Center's keys are missing; run 'licwiz center init'",
            f"{path}: {exc.strerror}",
        ) from None


def _pin_key(text: str, where: str) -> bytes:
    try:
        key = bytes.fromhex(text.strip())
    except ValueError:
        key = b""
    if len(key) < 16:
        raise KeysMissing("The Licensing Center's PIN key is not valid",
                          f"{where}: expected at least 32 hexadecimal digits")
    return key


def load_keys(home: Path) -> CenterKeys:
    env_sign, env_seal = os.environ.get(ENV_SIGNING), os.environ.get(ENV_SEALING)
    keydir, pubdir = home / "keys", home / "public"
    if env_sign:
        signing = load_private(env_sign, ENV_SIGNING)
    else:
        kid = _read(keydir / "signing.current").strip()
        signing = load_private(_read(keydir / f"signing-{kid}.pem"), f"signing key {kid}")
    sealing = load_private(env_seal, ENV_SEALING) if env_seal else load_private(
        _read(keydir / "sealing.pem"), "sealing key"
    )
    if not isinstance(signing, Ed25519PrivateKey) or not isinstance(sealing, X25519PrivateKey):
        raise KeysMissing("The Licensing Center's keys are of the wrong kind", f"home {home}")
    env_pin = os.environ.get(ENV_PIN)
    pin_key = _pin_key(env_pin, ENV_PIN) if env_pin else _pin_key(_read(keydir / PIN_KEY_FILE),
                                                                   str(keydir / PIN_KEY_FILE))
    keys = CenterKeys(signing, sealing, pin_key)
    if pubdir.is_dir():
        for p in sorted(pubdir.glob("*.pem")):
            pub = load_public(p.read_bytes(), str(p))
            if isinstance(pub, Ed25519PublicKey):
                keys.signing_public[key_id(pub)] = pub
            else:
                keys.sealing_public[key_id(pub)] = pub
    keys.signing_public[keys.signing_id] = signing.public_key()
    keys.sealing_public[keys.sealing_id] = sealing.public_key()
    return keys
