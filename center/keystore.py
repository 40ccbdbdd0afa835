"""The center's key pairs: Ed25519 signing keys and the X25519 sealing key.

Files under ``<home>/keys`` (private, mode 0600) and ``<home>/public``
(public PEMs, the folder a client can trust via LICWIZ_TRUSTED_KEYS).
``signing.current`` names the key that signs new licenses; ``keys rotate``
adds a new one and keeps the old ones for verification.

Containers may pass the private keys instead in the environment:
``LICWIZ_CENTER_SIGNING_KEY`` and ``LICWIZ_CENTER_SEALING_KEY`` (PEM text).
"""

from __future__ import annotations

import os
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
    # Every signing public key known (current and retired), by key id.
    signing_public: dict[str, Ed25519PublicKey] = field(default_factory=dict)
    sealing_public: dict[str, X25519PublicKey] = field(default_factory=dict)

    @property
    def signing_id(self) -> str:
        return key_id(self.signing.public_key())

    @property
    def sealing_id(self) -> str:
        return key_id(self.sealing.public_key())


def _write_private(path: Path, pem: str) -> None:
    atomic_write(path, pem.encode("ascii"), mode=0o600)


def _write_public(path: Path, pem: str) -> None:
    atomic_write(path, pem.encode("ascii"), mode=0o644)


def init_keys(home: Path) -> tuple[bool, CenterKeys]:
    """Create the key pairs unless present; returns (created, keys)."""
    keydir, pubdir = home / "keys", home / "public"
    keydir.mkdir(parents=True, exist_ok=True)
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
    keys = CenterKeys(signing, sealing)
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
