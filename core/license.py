"""Licenses: the canonical signed payload, the .lic file format, verification.

File format (text, one license per file)::

    -----BEGIN LICWIZ LICENSE-----
    {"issued":"2026-11-28",...}          <- canonical JSON payload, one line
    Key-Id: 0123456789abcdef
    Signature: <base64 Ed25519 signature>
    -----END LICWIZ LICENSE-----

The signature covers a domain tag and the payload bytes. The parser accepts
exactly what ``dumps`` writes: a file that does not re-serialise to the same
bytes is refused, so any change to any byte is detected, including white space.
"""

from __future__ import annotations

import base64
import binascii
import copy
import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from .errors import FileFormatError, LicenseInvalid, SignatureError
from .i18n import N_
from .keys import Keyring, key_id
from .message import Msg

Method = Literal["online", "file", "phone"]
METHODS: tuple[str, ...] = ("online", "file", "phone")
FORMAT_VERSION = 1
MAX_FILE_BYTES = 32 * 1024
BEGIN = "-----BEGIN LICWIZ LICENSE-----"
END = "-----END LICWIZ LICENSE-----"
_DOMAIN = b"licwiz-license-v1\n"
# What a license is called in errors when it has no file name.
LICENSE_FILE = Msg(N_("license file"))


def pin_digest(regnum: str, pin: str) -> str:
    """What a license records of the PIN that paid for it (never the PIN)."""
    return hashlib.sha256(f"licwiz-pin-v1:{regnum}:{pin}".encode()).hexdigest()


def method_family(method: str) -> str:
    """Online and file licenses may be re-acquired by either; phone only by phone."""
    return "phone" if method == "phone" else "online-or-file"


@dataclass(frozen=True, slots=True)
class License:
    license_id: str
    product: str
    regnum: str
    users: int
    owner_digest: str
    params: Mapping[str, str]
    method: str
    pin_digest: str
    issued: str  # ISO date (UTC); day precision keeps phone responses short
    key_id: str
    not_after: str | None = None  # ISO date, None = perpetual
    supersedes: str | None = None
    version: int = FORMAT_VERSION
    extra: Mapping[str, Any] = field(default_factory=dict)

    def payload(self) -> dict[str, Any]:
        # Built by hand: dataclasses.asdict deep-copies every field and was half the
        # cost of a verification. Fields are str/int/None; only ``extra`` may nest.
        d: dict[str, Any] = {name: getattr(self, name) for name in _PAYLOAD_FIELDS}
        d["params"] = dict(self.params)
        if self.extra:
            d.update(copy.deepcopy(dict(self.extra)))
        return d

    def canonical_bytes(self) -> bytes:
        return json.dumps(
            self.payload(), sort_keys=True, separators=(",", ":"), ensure_ascii=True
        ).encode("ascii")

    def valid_on(self, day: dt.date) -> bool:
        start = dt.date.fromisoformat(self.issued)
        if day < start:
            return False
        return not (self.not_after is not None and day > dt.date.fromisoformat(self.not_after))


_PAYLOAD_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(License) if f.name != "extra")


@dataclass(frozen=True, slots=True)
class SignedLicense:
    license: License
    signature: bytes
    text: str


_FIELDS = {
    "license_id": str, "product": str, "regnum": str, "users": int, "owner_digest": str,
    "params": dict, "method": str, "pin_digest": str, "issued": str, "key_id": str,
    "version": int,
}
_OPTIONAL = {"not_after", "supersedes"}


def _from_payload(doc: Any, source: str) -> License:
    if not isinstance(doc, dict):
        raise FileFormatError(source, Msg(N_("license payload is not an object")))
    for name, typ in _FIELDS.items():
        value = doc.get(name)
        if not isinstance(value, typ) or (typ is int and isinstance(value, bool)):
            raise FileFormatError(source, Msg(N_("license field {name!r} missing or of the wrong type"),
                                              name=name))
    for name in _OPTIONAL:
        if doc.get(name) is not None and not isinstance(doc[name], str):
            raise FileFormatError(source, Msg(N_("license field {name!r} must be text"), name=name))
    if doc["version"] != FORMAT_VERSION:
        raise FileFormatError(source, Msg(N_("unsupported license format version {version}"),
                                          version=doc["version"]))
    params = doc["params"]
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in params.items()):
        raise FileFormatError(source, Msg(N_("license parameters must map names to digests")))
    if doc["method"] not in METHODS:
        raise FileFormatError(source, Msg(N_("unknown acquisition method {method!r}"), method=doc["method"]))
    try:
        dt.date.fromisoformat(doc["issued"])
        if doc.get("not_after"):
            dt.date.fromisoformat(doc["not_after"])
    except ValueError:
        raise FileFormatError(source, Msg(N_("license dates are not ISO dates"))) from None
    known = set(_FIELDS) | _OPTIONAL
    extra = {k: v for k, v in doc.items() if k not in known}
    return License(
        license_id=doc["license_id"], product=doc["product"], regnum=doc["regnum"],
        users=doc["users"], owner_digest=doc["owner_digest"], params=dict(params),
        method=doc["method"], pin_digest=doc["pin_digest"], issued=doc["issued"],
        key_id=doc["key_id"], not_after=doc.get("not_after"), supersedes=doc.get("supersedes"),
        extra=extra,
    )


def sign(lic: License, private_key: Ed25519PrivateKey) -> SignedLicense:
    """Sign ``lic``; its key_id must be the id of ``private_key``'s public half."""
    if lic.key_id != key_id(private_key.public_key()):
        raise ValueError("license key_id does not match the signing key")
    sig = private_key.sign(_DOMAIN + lic.canonical_bytes())
    return SignedLicense(lic, sig, dumps(lic, sig))


def dumps(lic: License, signature: bytes) -> str:
    return (
        f"{BEGIN}\n{lic.canonical_bytes().decode('ascii')}\n"
        f"Key-Id: {lic.key_id}\n"
        f"Signature: {base64.b64encode(signature).decode('ascii')}\n{END}\n"
    )


def parse(text: str, source: str = LICENSE_FILE) -> SignedLicense:
    """Parse without verifying the signature (use ``verify``)."""
    if len(text) > MAX_FILE_BYTES:
        raise FileFormatError(source, Msg(N_("too large for a license (over {size} KiB)"),
                                                     size=MAX_FILE_BYTES // 1024))
    lines = text.split("\n")
    if len(lines) < 5 or lines[0] != BEGIN:
        raise FileFormatError(source, Msg(N_("not a licwiz license file (header missing)")))
    if lines[4] != END or lines[5:] != [""]:
        raise FileFormatError(source, Msg(N_("license file is truncated or has extra lines")))
    if not lines[2].startswith("Key-Id: ") or not lines[3].startswith("Signature: "):
        raise FileFormatError(source, Msg(N_("license file is damaged (key or signature line)")))
    try:
        doc = json.loads(lines[1])
    except (ValueError, RecursionError):
        raise FileFormatError(source, Msg(N_("license payload is damaged (not JSON)"))) from None
    lic = _from_payload(doc, source)
    try:
        sig = base64.b64decode(lines[3][len("Signature: "):], validate=True)
    except (binascii.Error, ValueError):
        raise FileFormatError(source, Msg(N_("license signature is damaged (not base64)"))) from None
    if lines[2][len("Key-Id: "):] != lic.key_id or len(sig) != 64:
        raise FileFormatError(source, Msg(N_("license file is damaged (key id or signature length)")))
    if dumps(lic, sig) != text:
        raise FileFormatError(source, Msg(N_("license file was altered (not in canonical form)")))
    return SignedLicense(lic, sig, text)


def verify(
    text: str,
    keyring: Keyring,
    *,
    product: str | None = None,
    today: dt.date | None = None,
    source: str = LICENSE_FILE,
) -> License:
    """The license in ``text`` if its signature verifies with a trusted key,
    it is for ``product`` (when given) and valid today. Raises otherwise."""
    signed = parse(text, source)
    lic = signed.license
    key = keyring.signing_key(lic.key_id)
    # parse() proved the text is exactly dumps(lic, sig), so its payload line *is*
    # lic.canonical_bytes(): reuse it rather than serialise a second time.
    payload_line = signed.text.split("\n", 2)[1].encode("ascii")
    try:
        key.verify(signed.signature, _DOMAIN + payload_line)
    except InvalidSignature:
        raise SignatureError(
            Msg(N_("{source}: signature does not verify; the file was changed or forged"), source=source),
            code="bad_signature",
        ) from None
    check_valid(lic, product=product, today=today, source=source)
    return lic


def check_valid(
    lic: License, *, product: str | None = None, today: dt.date | None = None, source: str = LICENSE_FILE
) -> None:
    """The checks of ``verify`` after the signature: for ``product`` (when
    given) and valid ``today``. Alone for a license whose signature was just
    checked where it was built (a phone answer, core.phonemsg)."""
    if product is not None and lic.product != product:
        raise LicenseInvalid(
            Msg(N_("{source}: license is for product {product!r}, not {wanted!r}"), source=source,
                product=lic.product, wanted=product), code="wrong_product"
        )
    day = today or dt.datetime.now(dt.UTC).date()
    if not lic.valid_on(day):
        code = "not_yet_valid" if day < dt.date.fromisoformat(lic.issued) else "expired"
        raise LicenseInvalid(
            Msg(N_("{source}: license is not yet valid (issued {issued}, valid until {until})")
                if code == "not_yet_valid" else
                N_("{source}: license is expired (issued {issued}, valid until {until})"),
                source=source, issued=lic.issued, until=lic.not_after or Msg(N_("no end"))),
            code=code,
        )


def read_file(path: Path) -> str:
    """Read a license file with the size limit applied before parsing."""
    try:
        with Path(path).open("rb") as fh:
            raw = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise FileFormatError(str(path), Msg(N_("cannot read: {reason}"),
                                             reason=exc.strerror or str(exc))) from None
    if len(raw) > MAX_FILE_BYTES:
        raise FileFormatError(str(path), Msg(N_("too large for a license (over {size} KiB)"),
                                                     size=MAX_FILE_BYTES // 1024))
    try:
        return raw.decode("ascii")
    except UnicodeDecodeError:
        raise FileFormatError(str(path), Msg(N_("not a licwiz license file (not ASCII text)"))) from None


def verify_file(path: Path, keyring: Keyring, *, product: str | None = None) -> License:
    return verify(read_file(path), keyring, product=product, source=str(path))
