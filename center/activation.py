"""The activation: every rule of spending a PIN for a license, in one transaction.

    act = await activations.activate(req, method="online", idempotency_key=key,
                                     request_id=rid, client_addr=addr, actor=None)
    act.license_text, act.license, act.license_id, act.users, act.supersedes, act.replayed
    out = await activations.check(req, ...)        # would it succeed? spends nothing
    req = activations.open_request_file(text)      # a sealed request file -> ActivationRequest

``method`` is the acquisition method the license records: the HTTP
``/activate`` passes "online", ``/requests`` and the web page "file", the
operator console "phone". Every refusal is a ``Refusal`` from center/refusals.py.

Numbers are normalised as the CLI and the wizard do (``validate``: a PIN
with dashes or spaces is that PIN; a malformed one is ``bad_request`` naming
the field, never a guess). PINs are looked up by their keyed hash
(``CenterKeys.pin_hash``): the database holds no PIN.

The transaction (``_activate_txn``, run by center/uow.py): one round-trip
lookup (kit, PIN, the address's failures, a stored idempotent answer) that on
PostgreSQL also takes the kit's row lock, the rules, then the PIN spent by a
conditional UPDATE (``used_at IS NULL``) and the kit's next serial taken, and
the license, its idempotent answer and the audit row inserted. A PIN is never
spent twice (of two concurrent spends one matches no row; ``licenses.pin_hash``
is UNIQUE) and never spent without its license. On PostgreSQL the same writes
go in fewer round trips: the hand-written SQL below (``_PG_SPEND``,
``_PG_TAIL``).

A wrong guess (``pin_unknown``, ``kit_unknown``) is counted and audited IN the
transaction that checked the lock (center/throttle.py ``count_guess``), which
then commits and the refusal is raised after it: however many guesses arrive
at once, the kit's lock and the address's limit hold. Any other refusal rolls
the transaction back and is audited after it.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import sqlalchemy as sa
from licwiz.core import fingerprint
from licwiz.core.errors import InputError, LicwizError
from licwiz.core.identifiers import parse_pin, parse_regnum
from licwiz.core.license import License, method_family, pin_digest, sign
from licwiz.core.license import parse as parse_license
from licwiz.core.owner import OwnerData
from licwiz.core.request import OPERATIONS, ActivationRequest, armoured_key_id, open_sealed
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from . import audit, db, refusals
from .keystore import CenterKeys
from .refusals import MULTI, SINGLE, Refusal
from .throttle import ADDR_COUNT, COUNTED, Throttle
from .uow import UnitOfWork

MAX_PARAMS = 32
METHODS = ("online", "file", "phone")

# ---- the statements, built once (building them per call costs more than running them)

_P = sa.bindparam
_IDEM_HASH = (
    sa.select(db.idempotency.c.body_hash).where(db.idempotency.c.key == _P("b_key")).scalar_subquery()
)
# One round trip: the kit, the PIN, the address's recent failures, a stored idempotent answer.
_LOOKUP = (
    sa.select(db.kits, db.pins.c.pin_hash.label("p_pin"), db.pins.c.pin_set.label("p_set"),
              db.pins.c.used_at.label("p_used"), ADDR_COUNT.label("addr_count"),
              _IDEM_HASH.label("idem_hash"))
    .select_from(db.kits.outerjoin(db.pins, sa.and_(db.pins.c.regnum == db.kits.c.regnum,
                                                    db.pins.c.pin_hash == _P("b_pin"))))
    .where(db.kits.c.regnum == _P("b_regnum"))
    # PostgreSQL: the kit's row lock, so every activation of a kit (and so the lock
    # check, the guess and its count) runs one at a time. SQLite renders nothing:
    # its writer lock already serialises every write transaction.
    .with_for_update(of=db.kits)
)
_KIT = sa.select(db.kits).where(db.kits.c.regnum == _P("b_regnum"))
_KIT_LOCKED = _KIT.with_for_update()
_SPEND_PIN = (db.pins.update().where(db.pins.c.pin_hash == _P("b_pin"), db.pins.c.used_at.is_(None))
              .values(used_at=_P("b_now")))
_TAKE_SERIAL = (
    db.kits.update()
    .where(db.kits.c.regnum == _P("b_regnum"),
           sa.or_(db.kits.c.pin_set.is_(None), db.kits.c.pin_set == _P("b_set")))
    .values(issued=db.kits.c.issued + 1, pin_set=_P("b_set"), failed_pins=0, lock_level=0)
    .returning(db.kits.c.issued)
)
_INSERT_LICENSE = db.licenses.insert()
_INSERT_IDEM = db.idempotency.insert()

# PostgreSQL: the same writes in fewer round trips (data-modifying CTEs). Spend the PIN
# and take the serial in one statement; the kit UPDATE runs only if the PIN UPDATE
# matched, and both re-check their WHERE under the row lock (READ COMMITTED).
_PG_SPEND = sa.text(
    "WITH spent AS (UPDATE pins SET used_at = :b_now WHERE pin_hash = :b_pin AND used_at IS NULL "
    "RETURNING pin_hash), "
    "ser AS (UPDATE kits SET issued = issued + 1, pin_set = :b_set, failed_pins = 0, lock_level = 0 "
    "WHERE regnum = :b_regnum AND (pin_set IS NULL OR pin_set = :b_set) AND EXISTS (SELECT 1 FROM spent) "
    "RETURNING issued) "
    "SELECT (SELECT count(*) FROM spent) AS spent, (SELECT issued FROM ser) AS serial"
)
_LIC_COLS = ("license_id", "regnum", "serial", "pin_hash", "product", "users", "pin_set", "method",
             "owner_json", "owner_digest", "params_json", "text", "issued_at", "status", "supersedes",
             "superseded_by", "request_id")
_AUDIT_COLS = ("at", "request_id", "event", "code", "regnum", "license_id", "actor", "client_addr")
_IDEM_COLS = ("key", "body_hash", "status", "response", "created")


def _pg_values(table: str, prefix: str, cols: tuple[str, ...]) -> str:
    return (f"INSERT INTO {table} ({', '.join(cols)}) "
            f"VALUES ({', '.join(':' + prefix + c for c in cols)})")


# The license, its idempotent answer and the audit row in one statement.
_PG_TAIL = {
    (lic, idem): sa.text(
        ("WITH " + ", ".join(
            ([f"lic AS ({_pg_values('licenses', 'l_', _LIC_COLS)})"] if lic else [])
            + ([f"idem AS ({_pg_values('idempotency', 'i_', _IDEM_COLS)})"] if idem else [])
        ) + " " if lic or idem else "") + _pg_values("audit", "a_", _AUDIT_COLS)
    )
    for lic in (False, True) for idem in (False, True)
}


@dataclass(frozen=True, slots=True)
class _Counted:
    """A transaction's answer when it counted a wrong guess: commit, then refuse."""

    refusal: Refusal


@dataclass(frozen=True, slots=True)
class Activation:
    """What ``activate`` returns (also the stored idempotent answer)."""

    license_text: str
    license: License
    license_id: str
    users: int
    supersedes: str | None
    request_id: str
    operation: str
    replayed: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "license": self.license_text, "license_id": self.license_id, "users": self.users,
            "supersedes": self.supersedes, "request_id": self.request_id,
        }


def request_from_json(body: Any) -> ActivationRequest:
    """An ActivationRequest from an API body; Refusal(bad_request) naming what is wrong."""
    if isinstance(body, Mapping):
        body = dict(body)
        body.setdefault("owner", {})
    try:
        return ActivationRequest.from_dict(body, "request body")
    except LicwizError as exc:
        raise refusals.bad_request(exc.detail) from None
    except TypeError as exc:  # e.g. a wrong owner field type surfaces as TypeError in from_dict
        raise refusals.bad_request(f"request body: {exc}") from None


def validate(req: ActivationRequest, *, owner_required: bool) -> ActivationRequest:
    """The request's own shape, before the database is asked anything; returns it
    with its numbers normalised exactly as the CLI and the wizard read them
    (``123-456-...`` is the same PIN as ``123456...``)."""
    if req.operation not in OPERATIONS:
        raise refusals.operation_invalid(req.operation, OPERATIONS)
    try:
        regnum = parse_regnum(req.regnum)
        pin = parse_pin(req.pin, "Last used PIN code" if req.operation != "first" else "PIN code")
        extra_pin = req.extra_pin
        if req.operation == "update":
            if not req.extra_pin:
                raise InputError("Extra PIN code", "Extra PIN code: required for an update")
            extra_pin = parse_pin(req.extra_pin, "Extra PIN code")
            if extra_pin == pin:
                raise InputError("Extra PIN code",
                                 "Extra PIN code: must differ from the PIN currently in use")
        if owner_required:
            req.owner.validate()
    except InputError as exc:
        raise refusals.bad_request(exc.detail, exc.brief) from None
    if len(req.product) > 100 or not req.product:
        raise refusals.bad_request("product: 1 to 100 characters")
    if len(req.params) > MAX_PARAMS or any(
        len(k) > 64 or not v or len(v) > 128 for k, v in req.params.items()
    ):
        raise refusals.bad_request(f"params: at most {MAX_PARAMS} names, each digest 1 to 128 characters")
    if owner_required and not req.params:
        raise refusals.bad_request("params: the key computer parameters are missing")
    if (regnum, pin, extra_pin) != (req.regnum, req.pin, req.extra_pin):
        req = replace(req, regnum=regnum, pin=pin, extra_pin=extra_pin)
    return req


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise refusals.bad_request(f"method {method!r}: expected online, file or phone")


def _owner_matches(lic: Any, owner: OwnerData) -> bool:
    return secrets.compare_digest(lic.owner_digest, owner.digest())


class Activations:
    """``keys``: the keys as they are now (center/keystore.py ``LiveKeys.get``): a
    staged rotation reaches a running worker; each call takes one snapshot."""

    def __init__(self, uow: UnitOfWork, keys: Callable[[], CenterKeys], throttle: Throttle) -> None:
        self.uow = uow
        self._keys = keys
        self.throttle = throttle

    @property
    def keys(self) -> CenterKeys:
        return self._keys()

    # ---- request files

    def open_request_file(self, text: str) -> ActivationRequest:
        """The request inside an armoured, sealed request file (Refusal when unreadable).
        It opens with any sealing key the center still holds: current, previous (a
        client that has not learnt the new key yet) or next; a retired one is refused."""
        if not isinstance(text, str) or not text.strip():
            raise refusals.request_file_empty()
        keys = self.keys
        try:
            kid = armoured_key_id(text)
            if kid in keys.retired("sealing"):
                raise refusals.request_file_unreadable(
                    "wrong_key", f"request file: sealed to the Licensing Center key {kid}, which is "
                    f"retired (the center's sealing key is now {keys.sealing_id}); the customer's "
                    "trusted keys need the center's current public key.")
            return open_sealed(text, keys.sealing_private.get(kid, keys.sealing))
        except LicwizError as exc:
            if isinstance(exc, Refusal):
                raise
            code = exc.code if exc.code in ("wrong_key", "bad_seal") else "bad_request_file"
            raise refusals.request_file_unreadable(code, exc.detail) from None

    async def activate_request_file(self, text: str, *, idempotency_key: str | None = None,
                                    request_id: str, client_addr: str = "", actor: str | None = None,
                                    ) -> Activation:
        try:
            req = self.open_request_file(text)
        except Refusal as ref:
            await self.throttle.record(ref, regnum=None, request_id=request_id, client_addr=client_addr,
                                       actor=actor)
            raise
        return await self.activate(req, method="file", idempotency_key=idempotency_key,
                                   request_id=request_id, client_addr=client_addr, actor=actor)

    # ---- check

    async def check(self, req: ActivationRequest, *, method: str = "online", client_addr: str = "",
                    request_id: str = "", actor: str | None = None) -> dict[str, Any]:
        """Whether ``req`` would succeed now, spending nothing. The owner may be
        empty (it is then not compared); every other rule is applied."""
        _check_method(method)
        owner_given = any(v for k, v in req.owner.to_dict().items() if k != "kind")
        try:
            req = validate(req, owner_required=False)
            if owner_given and req.operation != "first":
                try:
                    req.owner.validate()
                except InputError as exc:
                    raise refusals.bad_request(exc.detail, exc.brief) from None
            try:  # most checks are right: answered from a read, without the writer lock
                out = await self.uow.run(self._check_txn, req, method, client_addr, owner_given, None,
                                         write=False)
            except Refusal as ref:
                if ref.code not in COUNTED:
                    raise
                # A wrong guess: evaluated again where it is counted (the lock checked,
                # the guess answered and counted in one serialised transaction).
                out = await self.uow.run(self._check_txn, req, method, client_addr, owner_given,
                                         (request_id, actor))
            if isinstance(out, _Counted):
                raise out.refusal
            return out
        except Refusal as ref:
            if not ref.audited:
                await self.throttle.record(ref, regnum=req.regnum, request_id=request_id,
                                           client_addr=client_addr, actor=actor, event="check_refuse")
            raise

    def _check_txn(self, conn: Connection, req: ActivationRequest, method: str, client_addr: str,
                   owner_given: bool, count: tuple[str, str | None] | None,
                   ) -> dict[str, Any] | _Counted:
        """``count``: (request id, actor) to count a wrong guess here (a write
        transaction holding the kit's lock); None: a read that only evaluates."""
        try:
            return self._check_rules(conn, req, method, client_addr, owner_given, count is not None)
        except Refusal as ref:
            if count is None or ref.code not in COUNTED:
                raise
            return _Counted(self.throttle.count_guess(conn, ref, regnum=req.regnum, request_id=count[0],
                                                      client_addr=client_addr, actor=count[1],
                                                      event="check_refuse"))

    def _check_rules(self, conn: Connection, req: ActivationRequest, method: str, client_addr: str,
                     owner_given: bool, lock: bool) -> dict[str, Any]:
        """The answer names the key that would sign (``signing_key_id``), so that a
        client that does not trust it stops before spending a PIN."""
        signer = self.keys.signing_id
        self.throttle.check_addr(conn, client_addr)
        kit = self._kit_checks(conn.execute(_KIT_LOCKED if lock else _KIT, {"b_regnum": req.regnum}).first(),
                               req)
        if req.operation == "first":
            pin = self._pin(conn, kit.regnum, req.pin)
            if pin.used_at is not None:
                raise refusals.pin_used()
            if kit.pin_set and kit.pin_set != pin.pin_set:
                raise refusals.set_conflict(kit.pin_set, kit.users)
            pin_set, family = pin.pin_set, method_family(method)
        else:
            lic = self._current_license(conn, kit, req, method)
            if owner_given and not _owner_matches(lic, req.owner):
                raise refusals.owner_mismatch()
            if req.operation == "recover" and req.params:
                m = fingerprint.matches(json.loads(lic.params_json), req.params)
                if not m.ok:
                    raise refusals.parameters_changed(m)
            if req.operation == "update":
                extra = self._pin(conn, kit.regnum, req.extra_pin or "", "Extra PIN code")
                if extra.used_at is not None:
                    raise refusals.extra_pin_used()
                if extra.pin_set != lic.pin_set:
                    raise refusals.set_conflict(lic.pin_set, kit.users)
            pin_set, family = lic.pin_set, method_family(lic.method)
            if req.operation == "recover":  # the stored license comes back as it was signed
                signer = parse_license(lic.text, "stored license").license.key_id
        return {"available": True, "product": kit.product, "users": 1 if pin_set == SINGLE else kit.users,
                "pin_set": pin_set, "method_family": family, "signing_key_id": signer}

    # ---- activate

    async def activate(self, req: ActivationRequest, *, method: str = "online",
                       idempotency_key: str | None = None, request_id: str, client_addr: str = "",
                       actor: str | None = None) -> Activation:
        """First-time registration, recovery or update. Returns the license;
        raises ``Refusal``. With ``idempotency_key`` a retry returns the first answer."""
        _check_method(method)
        try:
            req = validate(req, owner_required=True)
            key = idempotency_key
            if key is not None and not (0 < len(key) <= 200 and key.isprintable()):
                raise refusals.bad_request("Idempotency-Key: 1 to 200 printable characters")
        except Refusal as ref:
            await self.throttle.record(ref, regnum=req.regnum, request_id=request_id,
                                       client_addr=client_addr, actor=actor)
            raise
        body_hash = hashlib.sha256(req.to_json() + f"|{method}".encode()).hexdigest()
        try:
            out = await self.uow.run(self._activate_txn, req, method, idempotency_key, body_hash, request_id,
                                     client_addr, actor)
        except Refusal as ref:
            if idempotency_key and ref.code in ("pin_used", "pin_mismatch"):
                # A concurrent twin with the same key may have won: answer as it did.
                replay = await self.uow.run(_replay, idempotency_key, body_hash, write=False)
                if replay is not None:
                    return replay
            await self.throttle.record(ref, regnum=req.regnum, request_id=request_id,
                                       client_addr=client_addr, actor=actor)
            raise
        except IntegrityError:
            # Only a concurrent twin (same Idempotency-Key, same PIN) gets here.
            if idempotency_key:
                replay = await self.uow.run(_replay, idempotency_key, body_hash, write=False)
                if replay is not None:
                    return replay
            raise refusals.pin_used() from None
        if isinstance(out, _Counted):
            raise out.refusal
        return out

    def _activate_txn(self, conn: Connection, req: ActivationRequest, method: str,
                      idempotency_key: str | None, body_hash: str, request_id: str, client_addr: str,
                      actor: str | None) -> Activation | _Counted:
        try:
            return self._activate_rules(conn, req, method, idempotency_key, body_hash, request_id,
                                        client_addr, actor)
        except Refusal as ref:
            # A wrong guess is refused before anything was written: count it here, commit.
            if ref.code not in COUNTED:
                raise
            return _Counted(self.throttle.count_guess(conn, ref, regnum=req.regnum, request_id=request_id,
                                                      client_addr=client_addr, actor=actor))

    def _activate_rules(self, conn: Connection, req: ActivationRequest, method: str,
                        idempotency_key: str | None, body_hash: str, request_id: str, client_addr: str,
                        actor: str | None) -> Activation:
        kit = conn.execute(_LOOKUP, {
            "b_regnum": req.regnum, "b_pin": self.keys.pin_hash(req.pin), "b_addr": client_addr,
            "b_cutoff": self.throttle.addr_cutoff(), "b_key": idempotency_key or ""}).first()
        if idempotency_key and (kit is None or kit.idem_hash is not None):
            replay = _replay(conn, idempotency_key, body_hash)
            if replay is not None:
                return replay
        if kit is None or self.throttle.addr_over(kit.addr_count):
            self.throttle.check_addr(conn, client_addr)
        kit = self._kit_checks(kit, req)
        lic_row: dict[str, Any] | None
        if req.operation == "first":
            (act, lic_row), event = self._first(conn, kit, req, method, request_id), "issue"
        elif req.operation == "recover":
            act, lic_row, event = self._recover(conn, kit, req, method, request_id), None, "recover"
        else:
            (act, lic_row), event = self._update(conn, kit, req, method, request_id), "update"
        audit_row = audit.row(event, request_id, None, kit.regnum, act.license_id, actor, client_addr or None)
        idem_row = {"key": idempotency_key, "body_hash": body_hash, "status": 200,
                    "response": json.dumps(act.to_dict()),
                    "created": db.utcnow()} if idempotency_key else None
        if conn.dialect.name == "postgresql":
            params = {f"a_{k}": v for k, v in audit_row.items()}
            params.update({f"l_{k}": v for k, v in (lic_row or {}).items()})
            params.update({f"i_{k}": v for k, v in (idem_row or {}).items()})
            conn.execute(_PG_TAIL[lic_row is not None, idem_row is not None], params)
        else:
            if lic_row is not None:
                conn.execute(_INSERT_LICENSE, lic_row)
            conn.execute(audit.INSERT, audit_row)
            if idem_row is not None:
                conn.execute(_INSERT_IDEM, idem_row)
        return act

    def _first(self, conn: Connection, kit: Any, req: ActivationRequest, method: str,
               request_id: str) -> tuple[Activation, dict[str, Any]]:
        # ``kit`` is the _LOOKUP row: it carries the PIN's set and use (p_*).
        if kit.p_pin is None:
            raise refusals.pin_unknown()
        if kit.p_used is not None:
            raise refusals.pin_used()
        if kit.pin_set and kit.pin_set != kit.p_set:
            raise refusals.set_conflict(kit.pin_set, kit.users)
        serial = _spend(conn, kit, kit.p_pin, kit.p_set)
        users = 1 if kit.p_set == SINGLE else kit.users
        lic, text = self._issue(kit, serial, req, users, method, req.pin, None)
        row = _license_row(lic, text, kit.p_pin, kit.p_set, req, request_id, serial)
        return Activation(text, lic, lic.license_id, users, None, request_id, "first"), row

    def _recover(self, conn: Connection, kit: Any, req: ActivationRequest, method: str,
                 request_id: str) -> Activation:
        row = self._current_license(conn, kit, req, method)
        if not _owner_matches(row, req.owner):
            raise refusals.owner_mismatch()
        m = fingerprint.matches(json.loads(row.params_json), req.params)
        if not m.ok:
            raise refusals.parameters_changed(m)
        signed = parse_license(row.text, "stored license")
        return Activation(row.text, signed.license, row.license_id, row.users, row.supersedes, request_id,
                          "recover")

    def _update(self, conn: Connection, kit: Any, req: ActivationRequest, method: str,
                request_id: str) -> tuple[Activation, dict[str, Any]]:
        old = self._current_license(conn, kit, req, method)
        if not _owner_matches(old, req.owner):
            raise refusals.owner_mismatch()
        extra_pin = req.extra_pin or ""
        extra = self._pin(conn, kit.regnum, extra_pin, "Extra PIN code")
        if extra.used_at is not None:
            raise refusals.extra_pin_used()
        if extra.pin_set != old.pin_set:
            raise refusals.set_conflict(old.pin_set, kit.users)
        serial = _spend(conn, kit, extra.pin_hash, extra.pin_set)
        lic, text = self._issue(kit, serial, req, old.users, method, extra_pin, old.license_id)
        res = conn.execute(
            db.licenses.update().where(db.licenses.c.license_id == old.license_id,
                                       db.licenses.c.status == "active")
            .values(status="superseded", superseded_by=lic.license_id))
        if res.rowcount != 1:
            raise refusals.not_last_pin("The license was updated by another request at the same moment.")
        row = _license_row(lic, text, extra.pin_hash, extra.pin_set, req, request_id, serial)
        return Activation(text, lic, lic.license_id, lic.users, old.license_id, request_id, "update"), row

    def _issue(self, kit: Any, serial: int, req: ActivationRequest, users: int, method: str, pin: str,
               supersedes: str | None) -> tuple[License, str]:
        keys = self.keys  # one snapshot: the key id written is the key that signs
        lic = License(
            license_id=f"{kit.regnum}-{serial:03d}", product=kit.product, regnum=kit.regnum,
            users=users, owner_digest=req.owner.digest(), params=dict(req.params), method=method,
            pin_digest=pin_digest(kit.regnum, pin), issued=db.utcnow().date().isoformat(),
            key_id=keys.signing_id, supersedes=supersedes,
        )
        return lic, sign(lic, keys.signing).text

    # ---- lookups shared by check and activate

    def _kit_checks(self, kit: Any, req: ActivationRequest) -> Any:
        if kit is None:
            raise refusals.kit_unknown(req.regnum)
        self.throttle.check_kit(kit)
        if kit.product != req.product:
            raise refusals.wrong_product(kit.regnum, kit.product, req.product)
        return kit

    def _pin(self, conn: Connection, regnum: str, pin: str, field_name: str = "PIN code") -> Any:
        row = conn.execute(sa.select(db.pins).where(db.pins.c.pin_hash == self.keys.pin_hash(pin),
                                                    db.pins.c.regnum == regnum)).first()
        if row is None:
            raise refusals.pin_unknown(field_name)
        return row

    def _current_license(self, conn: Connection, kit: Any, req: ActivationRequest, method: str) -> Any:
        """The active license paid by ``req.pin`` (recover/update), checked against the request."""
        paid_by = self.keys.pin_hash(req.pin)
        lic = conn.execute(sa.select(db.licenses).where(db.licenses.c.pin_hash == paid_by,
                                                        db.licenses.c.regnum == kit.regnum)).first()
        if lic is None:
            self._pin(conn, kit.regnum, req.pin, "Last used PIN code")
            raise refusals.not_last_pin(
                "This PIN code has not been used yet, so there is no license to recover or update. "
                "For a new license choose First-time registration with it.")
        if lic.status == "revoked":
            raise refusals.license_revoked(lic.license_id)
        if lic.status == "superseded":
            raise refusals.not_last_pin(
                f"The license of this PIN code ({lic.license_id}) was replaced by an update "
                f"({lic.superseded_by}). Enter the PIN code used last, for that update.")
        if method_family(lic.method) != method_family(method):
            raise refusals.method_locked(lic.method)
        return lic


def _replay(conn: Connection, key: str, body_hash: str) -> Activation | None:
    """The answer stored for ``key``; refused when the key came with another request."""
    row = conn.execute(sa.select(db.idempotency).where(db.idempotency.c.key == key)).first()
    if row is None:
        return None
    if row.body_hash != body_hash:
        raise refusals.idempotency_conflict()
    d = json.loads(row.response)
    signed = parse_license(d["license"], "stored license")
    return Activation(d["license"], signed.license, d["license_id"], d["users"], d.get("supersedes"),
                      d.get("request_id", ""), "replay", replayed=True)


def _spend(conn: Connection, kit: Any, pin: str, pin_set: str) -> int:
    """Spend ``pin`` (its hash) and take the kit's next serial; Refusal if another request won.
    The conditional UPDATE is the guard: of two concurrent spends one matches no row."""
    if conn.dialect.name == "postgresql":
        one = conn.execute(_PG_SPEND, {"b_pin": pin, "b_now": db.utcnow(), "b_regnum": kit.regnum,
                                       "b_set": pin_set}).one()
        if one.spent != 1:
            raise refusals.pin_used()
        if one.serial is None:
            raise refusals.set_conflict(MULTI if pin_set == SINGLE else SINGLE, kit.users)
        return int(one.serial)
    res = conn.execute(_SPEND_PIN, {"b_pin": pin, "b_now": db.utcnow()})
    if res.rowcount != 1:
        raise refusals.pin_used()
    row = conn.execute(_TAKE_SERIAL, {"b_regnum": kit.regnum, "b_set": pin_set}).first()
    if row is None:
        raise refusals.set_conflict(MULTI if pin_set == SINGLE else SINGLE, kit.users)
    return int(row[0])


def _license_row(lic: License, text: str, pin_hash: str, pin_set: str, req: ActivationRequest,
                 request_id: str, serial: int) -> dict[str, Any]:
    """The licenses row; written by _activate_txn in the same transaction as the spend."""
    return {
        "license_id": lic.license_id, "regnum": lic.regnum, "serial": serial, "pin_hash": pin_hash,
        "product": lic.product, "users": lic.users, "pin_set": pin_set, "method": lic.method,
        "owner_json": req.owner.canonical_json().decode("utf-8"), "owner_digest": lic.owner_digest,
        "params_json": json.dumps(dict(lic.params), sort_keys=True), "text": text,
        "issued_at": db.utcnow(), "status": "active", "supersedes": lic.supersedes,
        "superseded_by": None, "request_id": request_id[:40],
    }
