"""Trusted public keys: Ed25519 keys that sign licenses, X25519 keys that
requests are sealed to.

Where trust comes from, in order: the vendor's keys shipped in the package
(``core/keys/*.pem``), the site's ``/etc/licwiz/trusted-keys``, the user's
``~/.config/licwiz/trusted-keys``, and ``LICWIZ_TRUSTED_KEYS`` (files or
folders, ``os.pathsep``-separated). A license is trusted only if its key id
resolves here; nothing is fetched from the network on trust.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import platformdirs
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from .errors import FileFormatError, SignatureError
from .i18n import N_
from .message import Msg

MAX_KEY_FILE = 16 * 1024
SITE_DIR = Path("/etc/licwiz/trusted-keys")


def _raw(key: Ed25519PublicKey | X25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(key: Ed25519PublicKey | X25519PublicKey) -> str:
    """16 hex digits of SHA-256 over the raw key and its kind."""
    kind = b"ed25519" if isinstance(key, Ed25519PublicKey) else b"x25519"
    return hashlib.sha256(kind + b":" + _raw(key)).hexdigest()[:16]


def public_pem(key: Ed25519PublicKey | X25519PublicKey) -> str:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def private_pem(key: Ed25519PrivateKey | X25519PrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")


def public_b64(key: Ed25519PublicKey | X25519PublicKey) -> str:
    return base64.b64encode(_raw(key)).decode("ascii")


def load_private(pem: bytes | str, source: str = "private key") -> Ed25519PrivateKey | X25519PrivateKey:
    data = pem.encode("ascii") if isinstance(pem, str) else pem
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise FileFormatError(source, Msg(N_("not a PEM private key")), str(exc)) from None
    if not isinstance(key, Ed25519PrivateKey | X25519PrivateKey):
        raise FileFormatError(source, Msg(N_("not an Ed25519 or X25519 key")))
    return key


def load_public(pem: bytes | str, source: str = "public key") -> Ed25519PublicKey | X25519PublicKey:
    data = pem.encode("ascii") if isinstance(pem, str) else pem
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise FileFormatError(source, Msg(N_("not a PEM public key")), str(exc)) from None
    if not isinstance(key, Ed25519PublicKey | X25519PublicKey):
        raise FileFormatError(source, Msg(N_("not an Ed25519 or X25519 key")))
    return key


@dataclass
class Keyring:
    signing: dict[str, Ed25519PublicKey] = field(default_factory=dict)
    sealing: dict[str, X25519PublicKey] = field(default_factory=dict)

    def add(self, key: Ed25519PublicKey | X25519PublicKey) -> str:
        kid = key_id(key)
        if isinstance(key, Ed25519PublicKey):
            self.signing[kid] = key
        else:
            self.sealing[kid] = key
        return kid

    def add_pem(self, pem: bytes | str, source: str = "public key") -> str:
        return self.add(load_public(pem, source))

    def signing_key(self, kid: str) -> Ed25519PublicKey:
        try:
            return self.signing[kid]
        except KeyError:
            raise SignatureError(
                Msg(N_("license signed by an unknown key {key}"), key=kid),
                Msg(N_("key id {key} is not among the trusted signing keys ({trusted}); add the "
                       "center's public key to /etc/licwiz/trusted-keys or LICWIZ_TRUSTED_KEYS"),
                    key=kid, trusted=", ".join(sorted(self.signing)) or Msg(N_("none"))),
                code="unknown_key",
            ) from None

    def sealing_key(self, kid: str | None = None) -> tuple[str, X25519PublicKey]:
        """The sealing key ``kid``, or the only/last-added one when not named."""
        if kid is not None:
            if kid not in self.sealing:
                raise SignatureError(Msg(N_("unknown sealing key {key}"), key=kid), code="unknown_key")
            return kid, self.sealing[kid]
        if not self.sealing:
            raise SignatureError(
                Msg(N_("no Licensing Center sealing key is trusted")),
                Msg(N_("request files are sealed to the center's X25519 key; add it to "
                       "/etc/licwiz/trusted-keys or LICWIZ_TRUSTED_KEYS")),
                code="unknown_key",
            )
        last = next(reversed(self.sealing))
        return last, self.sealing[last]


def _pem_files(paths: Iterable[Path]) -> Iterator[Path]:
    for p in paths:
        if p.is_dir():
            yield from sorted(q for q in p.iterdir() if q.suffix == ".pem")
        elif p.is_file():
            yield p


def default_sources() -> list[Path]:
    sources = [SITE_DIR, Path(platformdirs.user_config_dir("licwiz")) / "trusted-keys"]
    env = os.environ.get("LICWIZ_TRUSTED_KEYS", "")
    sources.extend(Path(s) for s in env.split(os.pathsep) if s)
    return sources


def load_keyring(extra: Iterable[Path] = ()) -> Keyring:
    """The vendor's shipped keys plus every configured source. A broken key
    file is skipped rather than locking a user out of every other license."""
    ring = Keyring()
    shipped = resources.files("licwiz.core").joinpath("trusted_keys")
    if shipped.is_dir():
        for entry in sorted(shipped.iterdir(), key=lambda e: e.name):
            if entry.name.endswith(".pem"):
                try:
                    ring.add_pem(entry.read_bytes(), entry.name)
                except FileFormatError:
                    continue
    for path in _pem_files([*default_sources(), *extra]):
        try:
            with path.open("rb") as fh:
                data = fh.read(MAX_KEY_FILE)
            if b"PRIVATE KEY" in data:
                continue
            ring.add_pem(data, str(path))
        except (OSError, FileFormatError):
            continue
    return ring
