"""The two messages of phone activation, as compact binary turned into phone
codes (core/phonecodes.py).

Request code (the customer reads it to the operator), bit-packed big-endian:

=========== ====== ==========================================================
field       bits   meaning
=========== ====== ==========================================================
version     3      ``REQUEST_VERSION``
operation   2      0 first, 1 recover, 2 update
product     8      first byte of SHA-256 of the product name (a cross-check)
regnum      30     the 9 digits before the registration number's check digit
pin         47     the 14 digits before the PIN's check digit (the PIN to
                   spend, or the last used PIN for recover/update)
extra pin   47     update only: the unused PIN to spend
owner       32     first 4 bytes of ``OwnerData.digest()``: the operator
                   checks the dictated owner data against it
present     7      one bit per ``core.fingerprint.PARAMETERS`` entry
params      16 ea  the first 4 hex digits of each present parameter digest
=========== ====== ==========================================================

Response code (the operator reads it back): the Ed25519 signature (64 bytes)
followed by 72 bits: version 2, signing key id prefix 8 (first byte of the
key id), serial 10 (license id ``<regnum>-<serial:03d>``), supersedes serial
10 (0: none), issued 16 (days since 2020-01-01), users 14, not_after 12 (days
after issued; 0: perpetual).

Everything else in the license the client already knows: product, regnum,
owner digest (of the owner data typed in the wizard), params (the short
digests it sent), method ``phone`` and the PIN digest
(``core.acquire.expected_pin_digest``). ``rebuild_license`` reassembles the
exact payload the center signed and checks the signature. A phone license
therefore records 4-hex-digit parameter prefixes (``fingerprint.matches``
compares by prefix) and carries no extension fields.

The request code carries phonecodes' 3-digit check of the whole message
(``whole_check``): a row with two wrong digits passes its Damm check 1 time in
10, and a request that decodes wrongly would spend a PIN for the wrong
computer. The response needs none: a wrong digit there fails the signature of
the rebuilt license, and its 200-digit budget has no room.

Lengths with the default row width (20 digits + 1 check digit per row):
request 105 digits (5 rows) for every operation with all seven parameters;
response 189 digits (9 rows).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from . import phonecodes
from .damm import check_digit
from .errors import LicwizError, PhoneCodeError, SignatureError
from .fingerprint import PARAMETERS
from .i18n import N_
from .identifiers import PIN_LENGTH, REGNUM_LENGTH
from .keys import Keyring
from .license import License, dumps, verify
from .message import Msg
from .owner import OwnerData
from .request import OPERATIONS, ActivationRequest

REQUEST_VERSION = 2  # 2: with the whole-code check (a version 1 code has one row less)
RESPONSE_VERSION = 1
PARAM_HEX = 4  # hex digits of each parameter digest in a phone request/license
OWNER_HEX = 8  # hex digits of the owner digest in the request code
EPOCH = dt.date(2020, 1, 1)
SIGNATURE_BYTES = 64
_MAX_SERIAL = (1 << 10) - 1
_MAX_USERS = (1 << 14) - 1  # above the center's MAX_USERS (10,000)
_MAX_DAYS = (1 << 16) - 1
_MAX_TERM = (1 << 12) - 1  # about 11 years; the center issues perpetual licenses


class _Bits:
    """Big-endian bit packing into one integer."""

    def __init__(self, value: int = 0, nbits: int = 0) -> None:
        self.value = value
        self.nbits = nbits

    def put(self, v: int, n: int) -> None:
        if not 0 <= v < (1 << n):
            raise ValueError(f"{v} does not fit in {n} bits")
        self.value = (self.value << n) | v
        self.nbits += n

    def to_bytes(self) -> bytes:
        pad = -self.nbits % 8
        return (self.value << pad).to_bytes((self.nbits + pad) // 8, "big")


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.value = int.from_bytes(data, "big")
        self.left = len(data) * 8

    def get(self, n: int) -> int:
        if n > self.left:
            raise PhoneCodeError(Msg(N_("The code is too short: a row is probably missing")), rows=[])
        self.left -= n
        return (self.value >> self.left) & ((1 << n) - 1)

    def rest_is_padding(self) -> bool:
        return self.left < 8 and self.value & ((1 << self.left) - 1) == 0


def product_tag(product: str) -> int:
    return hashlib.sha256(product.encode()).digest()[0]


def short_params(params: Mapping[str, str]) -> dict[str, str]:
    """The parameter digests as a phone request carries them (4 hex digits)."""
    return {n: params[n][:PARAM_HEX].lower() for n in PARAMETERS if params.get(n)}


def _regnum_to_int(regnum: str) -> int:
    if len(regnum) != REGNUM_LENGTH or not regnum.isdigit():
        raise ValueError("registration number must be 10 digits")
    return int(regnum[:-1])


def _int_to_regnum(v: int) -> str:
    body = f"{v:0{REGNUM_LENGTH - 1}d}"
    return body + check_digit(body)


def _pin_to_int(pin: str) -> int:
    if len(pin) != PIN_LENGTH or not pin.isdigit():
        raise ValueError("PIN must be 15 digits")
    return int(pin[:-1])


def _int_to_pin(v: int) -> str:
    body = f"{v:0{PIN_LENGTH - 1}d}"
    return body + check_digit(body)


@dataclass(frozen=True, slots=True)
class PhoneRequest:
    """What a request code says (the operator's side)."""

    operation: str
    product_tag: int
    regnum: str
    pin: str
    extra_pin: str | None
    owner_hex: str  # first OWNER_HEX hex digits of the owner digest
    params: dict[str, str]  # name -> PARAM_HEX hex digits

    def product_matches(self, product: str) -> bool:
        return product_tag(product) == self.product_tag

    def pick_product(self, products: Iterable[str]) -> str:
        """The one of ``products`` this request is for (by its tag)."""
        hits = sorted({p for p in products if self.product_matches(p)})
        if not hits:
            raise LicwizError(
                Msg(N_("The request code is for a product this Licensing Center does not serve")),
                code="wrong_product",
            )
        return hits[0]

    def owner_matches(self, owner: OwnerData) -> bool:
        return owner.digest()[:OWNER_HEX] == self.owner_hex

    def activation_request(self, product: str, owner: OwnerData) -> ActivationRequest:
        """The request to give the center's activation with method ``phone``."""
        return ActivationRequest(
            product=product, regnum=self.regnum, pin=self.pin, operation=self.operation,
            owner=owner, params=dict(self.params), method="phone", extra_pin=self.extra_pin,
        )


def encode_request(req: ActivationRequest) -> bytes:
    """The request code's bytes for ``req`` (its params may be full or short digests)."""
    if req.operation not in OPERATIONS:
        raise ValueError(f"unknown operation {req.operation!r}")
    b = _Bits()
    b.put(REQUEST_VERSION, 3)
    b.put(OPERATIONS.index(req.operation), 2)
    b.put(product_tag(req.product), 8)
    b.put(_regnum_to_int(req.regnum), 30)
    b.put(_pin_to_int(req.pin), 47)
    if req.operation == "update":
        if not req.extra_pin:
            raise ValueError("an update needs the extra PIN")
        b.put(_pin_to_int(req.extra_pin), 47)
    b.put(int(req.owner.digest()[:OWNER_HEX], 16), OWNER_HEX * 4)
    short = short_params(req.params)
    for name in PARAMETERS:
        b.put(1 if name in short else 0, 1)
    for name in PARAMETERS:
        if name in short:
            b.put(int(short[name].ljust(PARAM_HEX, "0"), 16), PARAM_HEX * 4)
    return b.to_bytes()


def request_rows(req: ActivationRequest) -> list[str]:
    """The request code rows the customer reads to the operator."""
    return phonecodes.encode(encode_request(req), whole_check=True)


def decode_request_bytes(data: bytes) -> PhoneRequest:
    r = _Reader(data)
    version = r.get(3)
    if version != REQUEST_VERSION:
        raise PhoneCodeError(
            Msg(N_("This is not a licwiz request code (version {version}): check row 1"),
                version=version), rows=[1]
        )
    op = r.get(2)
    if op >= len(OPERATIONS):
        raise PhoneCodeError(Msg(N_("This is not a licwiz request code (operation): check row 1")), rows=[1])
    operation = OPERATIONS[op]
    tag = r.get(8)
    regnum_v = r.get(30)
    pin_v = r.get(47)
    extra_v = r.get(47) if operation == "update" else None
    if regnum_v >= 10 ** (REGNUM_LENGTH - 1) or pin_v >= 10 ** (PIN_LENGTH - 1) or (
        extra_v is not None and extra_v >= 10 ** (PIN_LENGTH - 1)
    ):
        raise PhoneCodeError(Msg(N_("The request code does not hold a valid kit number or PIN")), rows=[])
    owner_hex = f"{r.get(OWNER_HEX * 4):0{OWNER_HEX}x}"
    present = [name for name in PARAMETERS if r.get(1)]
    params = {name: f"{r.get(PARAM_HEX * 4):0{PARAM_HEX}x}" for name in present}
    if not r.rest_is_padding():
        raise PhoneCodeError(Msg(N_("The request code has extra digits at the end")), rows=[])
    return PhoneRequest(
        operation=operation, product_tag=tag, regnum=_int_to_regnum(regnum_v), pin=_int_to_pin(pin_v),
        extra_pin=_int_to_pin(extra_v) if extra_v is not None else None, owner_hex=owner_hex,
        params=params,
    )


def decode_request(rows: list[str]) -> PhoneRequest:
    """The request in the rows the operator typed; PhoneCodeError names bad rows."""
    return decode_request_bytes(phonecodes.decode(rows, whole_check=True))


# --- response ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PhoneResponse:
    signature: bytes
    key_prefix: int
    serial: int
    supersedes_serial: int  # 0: none
    issued: dt.date
    users: int
    not_after: dt.date | None


def _serial_of(license_id: str, regnum: str) -> int:
    prefix = f"{regnum}-"
    if not license_id.startswith(prefix) or not license_id[len(prefix):].isdigit():
        raise ValueError(f"license id {license_id!r} is not <regnum>-<serial>")
    serial = int(license_id[len(prefix):])
    if f"{regnum}-{serial:03d}" != license_id:
        raise ValueError(f"license id {license_id!r} is not in canonical form")
    return serial


def encode_response(lic: License, signature: bytes) -> bytes:
    """The response code's bytes for a signed phone license.

    Raises ValueError when the license cannot be rebuilt from a phone
    response (wrong method, extension fields, numbers out of range)."""
    if lic.method != "phone":
        raise ValueError("only a license with method 'phone' can be read out by phone")
    if lic.extra:
        raise ValueError("a phone license cannot carry extension fields")
    if len(signature) != SIGNATURE_BYTES:
        raise ValueError("an Ed25519 signature has 64 bytes")
    if dict(lic.params) != short_params(lic.params) or any(len(v) != PARAM_HEX for v in lic.params.values()):
        raise ValueError("a phone license records 4-hex-digit parameter digests")
    serial = _serial_of(lic.license_id, lic.regnum)
    sup = _serial_of(lic.supersedes, lic.regnum) if lic.supersedes else 0
    issued = dt.date.fromisoformat(lic.issued)
    days = (issued - EPOCH).days
    term = 0
    if lic.not_after is not None:
        term = (dt.date.fromisoformat(lic.not_after) - issued).days
        if not 1 <= term <= _MAX_TERM:
            raise ValueError("license term out of range for a phone response")
    if not (1 <= serial <= _MAX_SERIAL and 0 <= sup <= _MAX_SERIAL and 0 <= days <= _MAX_DAYS
            and 0 <= lic.users <= _MAX_USERS):
        raise ValueError("license numbers out of range for a phone response")
    b = _Bits()
    b.put(RESPONSE_VERSION, 2)
    b.put(int(lic.key_id[:2], 16), 8)
    b.put(serial, 10)
    b.put(sup, 10)
    b.put(days, 16)
    b.put(lic.users, 14)
    b.put(term, 12)
    return signature + b.to_bytes()


def response_rows(lic: License, signature: bytes) -> list[str]:
    """The response code rows the operator reads back."""
    return phonecodes.encode(encode_response(lic, signature))


def decode_response_bytes(data: bytes) -> PhoneResponse:
    if len(data) != SIGNATURE_BYTES + 9:
        raise PhoneCodeError(
            Msg(N_("This is not a licwiz response code (wrong length): check the number of rows")), rows=[]
        )
    r = _Reader(data[SIGNATURE_BYTES:])
    version = r.get(2)
    if version != RESPONSE_VERSION:
        raise PhoneCodeError(Msg(N_("This is not a licwiz response code (version {version})"),
                                 version=version),
                             rows=[])
    key_prefix, serial, sup = r.get(8), r.get(10), r.get(10)
    days, users, term = r.get(16), r.get(14), r.get(12)
    if serial == 0:
        raise PhoneCodeError(Msg(N_("The response code holds no license number")), rows=[])
    issued = EPOCH + dt.timedelta(days=days)
    return PhoneResponse(
        signature=data[:SIGNATURE_BYTES], key_prefix=key_prefix, serial=serial, supersedes_serial=sup,
        issued=issued, users=users, not_after=issued + dt.timedelta(days=term) if term else None,
    )


def decode_response(rows: list[str]) -> PhoneResponse:
    return decode_response_bytes(phonecodes.decode(rows))


def rebuild_license(resp: PhoneResponse, req: ActivationRequest, keyring: Keyring) -> tuple[License, str]:
    """The license (and its .lic text) the center signed for ``req``.

    Tries each trusted signing key whose id starts with the response's key
    prefix; the signature decides. SignatureError when none verifies: the
    response belongs to another request (or computer, or owner data)."""
    from .acquire import expected_pin_digest  # acquire imports much; only needed here

    regnum = req.regnum
    candidates = sorted(k for k in keyring.signing if int(k[:2], 16) == resp.key_prefix)
    if not candidates:
        raise SignatureError(
            Msg(N_("The response code was signed by a key this computer does not trust")),
            Msg(N_("no trusted signing key id starts with {prefix}"), prefix=f"{resp.key_prefix:02x}"),
            code="unknown_key",
        )
    for kid in candidates:
        lic = License(
            license_id=f"{regnum}-{resp.serial:03d}", product=req.product, regnum=regnum,
            users=resp.users, owner_digest=req.owner.digest(), params=short_params(req.params),
            method="phone", pin_digest=expected_pin_digest(req), issued=resp.issued.isoformat(),
            key_id=kid, not_after=resp.not_after.isoformat() if resp.not_after else None,
            supersedes=f"{regnum}-{resp.supersedes_serial:03d}" if resp.supersedes_serial else None,
        )
        text = dumps(lic, resp.signature)
        try:
            # Only the signature is in question here: the dates are checked on install.
            verify(text, keyring, product=req.product, today=resp.issued)
        except SignatureError:
            continue
        return lic, text
    raise SignatureError(
        Msg(N_("The response code does not fit this request: check the rows with the operator, "
        "or the owner data or computer differ from what the center signed")),
        Msg(N_("every row passed its check digit, but the rebuilt license's signature does not verify")),
        code="response_mismatch",
    )


def lengths() -> dict[str, int]:
    """Digits (check digits included) of the longest request and the response."""
    full = 7 * PARAM_HEX * 4
    first_bits = 3 + 2 + 8 + 30 + 47 + OWNER_HEX * 4 + len(PARAMETERS) + full
    first = phonecodes.row_count(-(-first_bits // 8), whole_check=True)
    update = phonecodes.row_count(-(-(first_bits + 47) // 8), whole_check=True)
    response = phonecodes.row_count(SIGNATURE_BYTES + 9)
    w = phonecodes.DEFAULT_WIDTH + 1
    return {"request_first": first * w, "request_update": update * w, "response": response * w}
