"""Activation requests: what the wizard asks the center for, and the sealed
request file of the manual (file) method.

The same ``ActivationRequest`` is the JSON body of the online API call and
the plaintext of a request file. A request file is sealed to the center's
X25519 key with HPKE (RFC 9180: DHKEM(X25519), HKDF-SHA256,
ChaCha20-Poly1305) and ASCII-armoured so it survives e-mail and copy-paste::

    -----BEGIN LICWIZ LICENSE REQUEST-----
    Key-Id: 0123456789abcdef
    <base64, 64 columns>
    -----END LICWIZ LICENSE REQUEST-----
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from . import __version__
from .errors import FileFormatError, InputError, SealError
from .i18n import N_
from .identifiers import parse_pin, parse_regnum
from .keys import key_id
from .message import Msg
from .owner import LABELS, OwnerData, canonical_text
from .text import printable, text_problem

Operation = Literal["first", "recover", "update"]
OPERATIONS: tuple[str, ...] = ("first", "recover", "update")
BEGIN = "-----BEGIN LICWIZ LICENSE REQUEST-----"
END = "-----END LICWIZ LICENSE REQUEST-----"
MAX_FILE_BYTES = 64 * 1024
# What a request is called in errors when it has no file name.
REQUEST_FILE = Msg(N_("request file"))
_INFO = b"licwiz-request-v1"
_SUITE = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.CHACHA20_POLY1305)


@dataclass(frozen=True, slots=True)
class ActivationRequest:
    """``pin`` is the PIN to spend for ``first``, and the last used PIN for
    ``recover`` and ``update``; ``extra_pin`` is the unused PIN ``update`` spends."""

    product: str
    regnum: str
    pin: str
    operation: str
    owner: OwnerData
    params: Mapping[str, str]
    method: str = "online"
    extra_pin: str | None = None
    nonce: str = field(default_factory=lambda: secrets.token_hex(16))
    client_version: str = __version__
    created: str = field(
        default_factory=lambda: dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
    )

    def check(self) -> ActivationRequest:
        """Field-level validation; raises InputError naming the field."""
        parse_regnum(self.regnum)
        parse_pin(self.pin,
                  Msg(N_("Last used PIN code")) if self.operation != "first" else Msg(N_("PIN code")))
        if self.operation not in OPERATIONS:
            raise InputError("Operation", Msg(N_("Operation: unknown {operation!r}"),
                                              operation=self.operation))
        extra_label = Msg(N_("Extra PIN code"))
        if self.operation == "update":
            if not self.extra_pin:
                raise InputError(extra_label, Msg(N_("Extra PIN code: required for an update")))
            parse_pin(self.extra_pin, extra_label)
            if self.extra_pin == self.pin:
                raise InputError(
                    extra_label, Msg(N_("Extra PIN code: must differ from the PIN currently in use"))
                )
        self.owner.validate()
        return self

    def to_dict(self) -> dict[str, Any]:
        return {
            "product": self.product, "regnum": self.regnum, "pin": self.pin,
            "operation": self.operation, "owner": self.owner.to_dict(),
            "params": dict(self.params), "method": self.method, "extra_pin": self.extra_pin,
            "nonce": self.nonce, "client_version": self.client_version, "created": self.created,
        }

    @classmethod
    def from_dict(cls, d: Any, source: str = Msg(N_("request"))) -> ActivationRequest:
        if not isinstance(d, dict):
            raise FileFormatError(source, Msg(N_("request is not an object")))
        need = ("product", "regnum", "pin", "operation", "method", "nonce", "client_version", "created")
        for name in need:
            if not isinstance(d.get(name), str):
                raise FileFormatError(source, Msg(N_("request field {name!r} missing or not text"),
                                                  name=name))
        params = d.get("params")
        if not isinstance(params, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in params.items()
        ):
            raise FileFormatError(source, Msg(N_("request field 'params' must map names to digests")))
        extra = d.get("extra_pin")
        if extra is not None and not isinstance(extra, str):
            raise FileFormatError(source, Msg(N_("request field 'extra_pin' must be text")))
        owner = OwnerData.from_dict(d.get("owner"), source=source)
        _check_text(d, params, owner, source)
        return cls(
            product=d["product"], regnum=d["regnum"], pin=d["pin"], operation=d["operation"],
            owner=owner, params=dict(params),
            method=d["method"], extra_pin=extra, nonce=d["nonce"],
            client_version=d["client_version"], created=d["created"],
        )

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":")).encode()


def _check_text(d: dict[str, Any], params: dict[str, str], owner: OwnerData, source: str) -> None:
    """Every text of a request is valid Unicode without control or format
    characters (core/text.py says why): a lone surrogate from a JSON escape
    could not even be hashed or stored. Owner fields are checked as their
    canonical form, which folds the whitespace (newlines, tabs) it forgives."""
    texts: list[tuple[str, str]] = [
        (Msg(N_("request field {name!r}"), name=name), d[name])
        for name in ("product", "regnum", "pin", "operation", "method", "nonce", "client_version",
                     "created", "extra_pin") if isinstance(d.get(name), str)
    ]
    for key, value in params.items():
        texts += [(Msg(N_("request field 'params' (a name)")),
                   key), (Msg(N_("request field {name!r}"), name=f"params.{printable(key)}"), value)]
    texts += [(Msg(N_("request field {name!r} ({label})"), name=f"owner.{name}", label=Msg(LABELS[name])),
               canonical_text(getattr(owner, name)))
              for name in owner.field_names()]
    for where, value in texts:
        problem = text_problem(value)
        if problem is not None:
            # a params name may itself be the bad text: never echo it raw (printable above)
            raise FileFormatError(source, Msg("{where}: {problem}", where=where,
                                              problem=problem))


def seal(req: ActivationRequest, center_key: X25519PublicKey) -> str:
    """The armoured request file text, readable only by the center."""
    blob = _SUITE.encrypt(req.to_json(), center_key, info=_INFO)
    b64 = base64.b64encode(blob).decode("ascii")
    body = "\n".join(b64[i : i + 64] for i in range(0, len(b64), 64))
    return f"{BEGIN}\nKey-Id: {key_id(center_key)}\n{body}\n{END}\n"


def armoured_key_id(text: str, source: str = REQUEST_FILE) -> str:
    """Which center key a request file was sealed to (readable without opening it)."""
    return _unarmour(text, source)[0]


def _unarmour(text: str, source: str) -> tuple[str, bytes]:
    if len(text) > MAX_FILE_BYTES:
        raise FileFormatError(source, Msg(N_("too large for a request file (over {size} KiB)"),
                                          size=MAX_FILE_BYTES // 1024))
    lines = [ln.strip() for ln in text.strip().splitlines()]
    if not lines or lines[0] != BEGIN:
        raise FileFormatError(source, Msg(N_("not a licwiz license request file (header missing)")))
    if lines[-1] != END:
        raise FileFormatError(source, Msg(N_("request file is truncated (end line missing)")))
    if len(lines) < 4 or not lines[1].startswith("Key-Id: "):
        raise FileFormatError(source, Msg(N_("request file is damaged (Key-Id line missing)")))
    try:
        blob = base64.b64decode("".join(lines[2:-1]), validate=True)
    except (binascii.Error, ValueError):
        raise FileFormatError(source, Msg(N_("request file is damaged (not base64)"))) from None
    return lines[1][len("Key-Id: "):], blob


def open_sealed(text: str, center_key: X25519PrivateKey, source: str = REQUEST_FILE) -> ActivationRequest:
    """Open a request file with the center's private key; any tampering fails."""
    kid, blob = _unarmour(text, source)
    if kid != key_id(center_key.public_key()):
        raise SealError(
            Msg(N_("{source}: sealed to another Licensing Center key ({key})"), source=source, key=kid),
            Msg(N_("the request was made for a different center or an old key")), code="wrong_key",
        )
    try:
        plain = _SUITE.decrypt(blob, center_key, info=_INFO)
    except Exception:  # cryptography raises InvalidTag / ValueError for any damage
        raise SealError(Msg(N_("{source}: request file is damaged or was altered"), source=source),
                        code="bad_seal") from None
    try:
        doc = json.loads(plain)
    except (ValueError, RecursionError):  # anyone with the public key can seal deep nesting
        raise FileFormatError(source, Msg(N_("request content is not JSON"))) from None
    return ActivationRequest.from_dict(doc, source)
