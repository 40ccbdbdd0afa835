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

The transaction (``_activate_txn``, a rule run by center/uow.py ``run_rule`` on
the bare driver, its statements in center/activation_sql.py): one round-trip
lookup (kit, PIN, the address's failures, a stored idempotent answer) that on
PostgreSQL also takes the kit's row lock, the rules, then the PIN spent by a
conditional UPDATE (``used_at IS NULL``) and the kit's next serial taken, and
the license, its idempotent answer and the audit row inserted. A PIN is never
spent twice (of two concurrent spends one matches no row; ``licenses.pin_hash``
is UNIQUE) and never spent without its license. On PostgreSQL the same writes
go in fewer round trips (``SPEND_AND_SERIAL``, ``TAIL``). Digests and JSON
of the request are made before the transaction (``_Prepared``), not in the
SQLite write section.

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

import orjson
from licwiz.core import fingerprint
from licwiz.core.errors import InputError, LicwizError
from licwiz.core.i18n import N_
from licwiz.core.identifiers import parse_pin, parse_regnum
from licwiz.core.license import License, method_family, pin_digest, sign
from licwiz.core.license import parse as parse_license
from licwiz.core.message import Msg
from licwiz.core.request import OPERATIONS, ActivationRequest, armoured_key_id, open_sealed

from . import activation_sql as q
from . import audit, db, refusals
from .bare import COUNT, Rule, Stmt, integrity_errors
from .keystore import CenterKeys
from .refusals import MULTI, SINGLE, Refusal
from .throttle import COUNTED, Throttle
from .uow import UnitOfWork

MAX_PARAMS = 32
METHODS = ("online", "file", "phone")

# A UNIQUE broken: only a concurrent twin (same Idempotency-Key, same PIN) gets there.
_INTEGRITY = integrity_errors()


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
                raise InputError("Extra PIN code", Msg(N_("Extra PIN code: required for an update")))
            extra_pin = parse_pin(req.extra_pin, "Extra PIN code")
            if extra_pin == pin:
                raise InputError("Extra PIN code",
                                 Msg(N_("Extra PIN code: must differ from the PIN currently in use")))
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


def _owner_matches(lic: Any, owner_digest: str) -> bool:
    return secrets.compare_digest(lic.owner_digest, owner_digest)


@dataclass(frozen=True, slots=True)
class _Prepared:
    """What a request's transaction needs that the database does not give:
    digests and JSON, made before the SQLite write section, not in it."""

    pin_hash: str
    extra_pin_hash: str
    owner_digest: str
    owner_json: str
    params_json: str

    @classmethod
    def of(cls, req: ActivationRequest, keys: CenterKeys) -> _Prepared:
        return cls(keys.pin_hash(req.pin), keys.pin_hash(req.extra_pin) if req.extra_pin else "",
                   req.owner.digest(), req.owner.canonical_json().decode("utf-8"),
                   json.dumps(dict(req.params), sort_keys=True))


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
            prep = _Prepared.of(req, self.keys)
            try:  # most checks are right: answered from a read, without the writer lock
                out = await self.uow.run_rule(self._check_txn, req, prep, method, client_addr, owner_given,
                                              None, write=False)
            except Refusal as ref:
                if ref.code not in COUNTED:
                    raise
                # A wrong guess: evaluated again where it is counted (the lock checked,
                # the guess answered and counted in one serialised transaction).
                out = await self.uow.run_rule(self._check_txn, req, prep, method, client_addr, owner_given,
                                              (request_id, actor))
            if isinstance(out, _Counted):
                raise out.refusal
            return out
        except Refusal as ref:
            if not ref.audited:
                await self.throttle.record(ref, regnum=req.regnum, request_id=request_id,
                                           client_addr=client_addr, actor=actor, event="check_refuse")
            raise

    def _check_txn(self, dialect: str, req: ActivationRequest, prep: _Prepared, method: str,
                   client_addr: str, owner_given: bool, count: tuple[str, str | None] | None,
                   ) -> Rule[dict[str, Any] | _Counted]:
        """``count``: (request id, actor) to count a wrong guess here (a write
        transaction holding the kit's lock); None: a read that only evaluates."""
        try:
            return (yield from self._check_rules(dialect, req, prep, method, client_addr, owner_given,
                                                 count is not None))
        except Refusal as ref:
            if count is None or ref.code not in COUNTED:
                raise
            return _Counted((yield from self.throttle.count_guess(
                ref, regnum=req.regnum, request_id=count[0], client_addr=client_addr, actor=count[1],
                event="check_refuse")))

    def _check_rules(self, dialect: str, req: ActivationRequest, prep: _Prepared, method: str,
                     client_addr: str, owner_given: bool, lock: bool) -> Rule[dict[str, Any]]:
        """The answer names the key that would sign (``signing_key_id``), so that a
        client that does not trust it stops before spending a PIN."""
        signer = self.keys.signing_id
        yield from self.throttle.check_addr(client_addr)
        kit_sql = q.KIT_LOCKED if lock and dialect == "postgresql" else q.KIT
        kit = self._kit_checks((yield Stmt(kit_sql, {"regnum": req.regnum})), req)
        if req.operation == "first":
            pin = yield from _pin(kit.regnum, prep.pin_hash)
            if pin.used_at is not None:
                raise refusals.pin_used()
            if kit.pin_set and kit.pin_set != pin.pin_set:
                raise refusals.set_conflict(kit.pin_set, kit.users)
            pin_set, family = pin.pin_set, method_family(method)
        else:
            lic = yield from _current_license(kit, prep.pin_hash, method)
            if owner_given and not _owner_matches(lic, prep.owner_digest):
                raise refusals.owner_mismatch()
            if req.operation == "recover" and req.params:
                m = fingerprint.matches(json.loads(lic.params_json), req.params)
                if not m.ok:
                    raise refusals.parameters_changed(m)
            if req.operation == "update":
                extra = yield from _pin(kit.regnum, prep.extra_pin_hash, "Extra PIN code")
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
        prep = _Prepared.of(req, self.keys)
        try:
            out = await self.uow.run_rule(self._activate_txn, req, prep, method, idempotency_key, body_hash,
                                          request_id, client_addr, actor)
        except Refusal as ref:
            if idempotency_key and ref.code in ("pin_used", "pin_mismatch"):
                # A concurrent twin with the same key may have won: answer as it did.
                replay = await self.uow.run_rule(_replay, idempotency_key, body_hash, write=False)
                if replay is not None:
                    return replay
            await self.throttle.record(ref, regnum=req.regnum, request_id=request_id,
                                       client_addr=client_addr, actor=actor)
            raise
        except _INTEGRITY:
            # Only a concurrent twin (same Idempotency-Key, same PIN) gets here.
            if idempotency_key:
                replay = await self.uow.run_rule(_replay, idempotency_key, body_hash, write=False)
                if replay is not None:
                    return replay
            raise refusals.pin_used() from None
        if isinstance(out, _Counted):
            raise out.refusal
        return out

    def _activate_txn(self, dialect: str, req: ActivationRequest, prep: _Prepared, method: str,
                      idempotency_key: str | None, body_hash: str, request_id: str, client_addr: str,
                      actor: str | None) -> Rule[Activation | _Counted]:
        try:
            return (yield from self._activate_rules(dialect, req, prep, method, idempotency_key, body_hash,
                                                    request_id, client_addr, actor))
        except Refusal as ref:
            # A wrong guess is refused before anything was written: count it here, commit.
            if ref.code not in COUNTED:
                raise
            return _Counted((yield from self.throttle.count_guess(
                ref, regnum=req.regnum, request_id=request_id, client_addr=client_addr, actor=actor)))

    def _activate_rules(self, dialect: str, req: ActivationRequest, prep: _Prepared, method: str,
                        idempotency_key: str | None, body_hash: str, request_id: str, client_addr: str,
                        actor: str | None) -> Rule[Activation]:
        pg = dialect == "postgresql"
        kit = yield Stmt(q.LOOKUP_LOCKED if pg else q.LOOKUP, {
            "regnum": req.regnum, "pin": prep.pin_hash, "addr": client_addr,
            "cutoff": self.throttle.addr_cutoff(), "key": idempotency_key or ""})
        if idempotency_key and (kit is None or kit.idem_hash is not None):
            replay = yield from _replay(dialect, idempotency_key, body_hash)
            if replay is not None:
                return replay
        if kit is None or self.throttle.addr_over(kit.addr_count):
            yield from self.throttle.check_addr(client_addr)
        kit = self._kit_checks(kit, req)
        lic_row: dict[str, Any] | None
        event = {"first": "issue", "recover": "recover"}.get(req.operation, "update")
        if req.operation == "first":
            act, lic_row = yield from self._first(pg, kit, req, prep, method, request_id)
        elif req.operation == "recover":
            act, lic_row = (yield from self._recover(kit, req, prep, method, request_id)), None
        else:
            act, lic_row = yield from self._update(pg, kit, req, prep, method, request_id)
        audit_row = audit.row(event, request_id, None, kit.regnum, act.license_id, actor, client_addr or None)
        idem_row = {"key": idempotency_key, "body_hash": body_hash, "status": 200,
                    "response": orjson.dumps(act.to_dict()).decode(),
                    "created": db.utcnow()} if idempotency_key else None
        if pg:
            params = {f"a_{k}": v for k, v in audit_row.items()}
            params.update({f"l_{k}": v for k, v in (lic_row or {}).items()})
            params.update({f"i_{k}": v for k, v in (idem_row or {}).items()})
            yield Stmt(q.TAIL[lic_row is not None, idem_row is not None], params, COUNT)
        else:
            if lic_row is not None:
                yield Stmt(q.INSERT_LICENSE, lic_row, COUNT)
            yield Stmt(q.INSERT_AUDIT, audit_row, COUNT)
            if idem_row is not None:
                yield Stmt(q.INSERT_IDEM, idem_row, COUNT)
        return act

    def _first(self, pg: bool, kit: Any, req: ActivationRequest, prep: _Prepared, method: str,
               request_id: str) -> Rule[tuple[Activation, dict[str, Any]]]:
        # ``kit`` is the LOOKUP row: it carries the PIN's set and use (p_*).
        if kit.p_pin is None:
            raise refusals.pin_unknown()
        if kit.p_used is not None:
            raise refusals.pin_used()
        if kit.pin_set and kit.pin_set != kit.p_set:
            raise refusals.set_conflict(kit.pin_set, kit.users)
        serial = yield from _spend(pg, kit, kit.p_pin, kit.p_set)
        users = 1 if kit.p_set == SINGLE else kit.users
        lic, text = self._issue(kit, serial, req, prep, users, method, req.pin, None)
        row = _license_row(lic, text, kit.p_pin, kit.p_set, prep, request_id, serial)
        return Activation(text, lic, lic.license_id, users, None, request_id, "first"), row

    def _recover(self, kit: Any, req: ActivationRequest, prep: _Prepared, method: str,
                 request_id: str) -> Rule[Activation]:
        row = yield from _current_license(kit, prep.pin_hash, method)
        if not _owner_matches(row, prep.owner_digest):
            raise refusals.owner_mismatch()
        m = fingerprint.matches(json.loads(row.params_json), req.params)
        if not m.ok:
            raise refusals.parameters_changed(m)
        signed = parse_license(row.text, "stored license")
        return Activation(row.text, signed.license, row.license_id, row.users, row.supersedes, request_id,
                          "recover")

    def _update(self, pg: bool, kit: Any, req: ActivationRequest, prep: _Prepared, method: str,
                request_id: str) -> Rule[tuple[Activation, dict[str, Any]]]:
        old = yield from _current_license(kit, prep.pin_hash, method)
        if not _owner_matches(old, prep.owner_digest):
            raise refusals.owner_mismatch()
        extra = yield from _pin(kit.regnum, prep.extra_pin_hash, "Extra PIN code")
        if extra.used_at is not None:
            raise refusals.extra_pin_used()
        if extra.pin_set != old.pin_set:
            raise refusals.set_conflict(old.pin_set, kit.users)
        serial = yield from _spend(pg, kit, extra.pin_hash, extra.pin_set)
        lic, text = self._issue(kit, serial, req, prep, old.users, method, req.extra_pin or "",
                                old.license_id)
        changed = yield Stmt(q.SUPERSEDE, {"new": lic.license_id, "old": old.license_id}, COUNT)
        if changed != 1:
            raise refusals.not_last_pin(
                Msg(N_("The license was updated by another request at the same moment.")))
        row = _license_row(lic, text, extra.pin_hash, extra.pin_set, prep, request_id, serial)
        return Activation(text, lic, lic.license_id, lic.users, old.license_id, request_id, "update"), row

    def _issue(self, kit: Any, serial: int, req: ActivationRequest, prep: _Prepared, users: int, method: str,
               pin: str, supersedes: str | None) -> tuple[License, str]:
        keys = self.keys  # one snapshot: the key id written is the key that signs
        lic = License(
            license_id=f"{kit.regnum}-{serial:03d}", product=kit.product, regnum=kit.regnum,
            users=users, owner_digest=prep.owner_digest, params=dict(req.params), method=method,
            pin_digest=pin_digest(kit.regnum, pin), issued=db.utcnow().date().isoformat(),
            key_id=keys.signing_id, supersedes=supersedes,
        )
        return lic, sign(lic, keys.signing).text

    def _kit_checks(self, kit: Any, req: ActivationRequest) -> Any:
        if kit is None:
            raise refusals.kit_unknown(req.regnum)
        self.throttle.check_kit(kit)
        if kit.product != req.product:
            raise refusals.wrong_product(kit.regnum, kit.product, req.product)
        return kit


# ---- lookups shared by check and activate (rules: center/bare.py)


def _pin(regnum: str, pin_hash: str, field_name: str = "PIN code") -> Rule[Any]:
    row = yield Stmt(q.PIN, {"pin": pin_hash, "regnum": regnum})
    if row is None:
        raise refusals.pin_unknown(field_name)
    return row


def _current_license(kit: Any, paid_by: str, method: str) -> Rule[Any]:
    """The active license paid by the PIN whose hash is ``paid_by`` (recover/update)."""
    lic = yield Stmt(q.LICENSE_BY_PIN, {"pin": paid_by, "regnum": kit.regnum})
    if lic is None:
        yield from _pin(kit.regnum, paid_by, "Last used PIN code")
        raise refusals.not_last_pin(Msg(N_(
            "This PIN code has not been used yet, so there is no license to recover or update. "
            "For a new license choose First-time registration with it.")))
    if lic.status == "revoked":
        raise refusals.license_revoked(lic.license_id)
    if lic.status == "superseded":
        raise refusals.not_last_pin(Msg(N_(
            "The license of this PIN code ({license_id}) was replaced by an update "
            "({update}). Enter the PIN code used last, for that update."),
            license_id=lic.license_id, update=lic.superseded_by))
    if method_family(lic.method) != method_family(method):
        raise refusals.method_locked(lic.method)
    return lic


def _replay(dialect: str, key: str, body_hash: str) -> Rule[Activation | None]:
    """The answer stored for ``key``; refused when the key came with another request."""
    row = yield Stmt(q.REPLAY, {"key": key})
    if row is None:
        return None
    if row.body_hash != body_hash:
        raise refusals.idempotency_conflict()
    d = orjson.loads(row.response)
    signed = parse_license(d["license"], "stored license")
    return Activation(d["license"], signed.license, d["license_id"], d["users"], d.get("supersedes"),
                      d.get("request_id", ""), "replay", replayed=True)


def _spend(pg: bool, kit: Any, pin: str, pin_set: str) -> Rule[int]:
    """Spend ``pin`` (its hash) and take the kit's next serial; Refusal if another request won.
    The conditional UPDATE is the guard: of two concurrent spends one matches no row."""
    if pg:
        one = yield Stmt(q.SPEND_AND_SERIAL, {"pin": pin, "now": db.utcnow(), "regnum": kit.regnum,
                                              "set": pin_set})
        if one.spent != 1:
            raise refusals.pin_used()
        if one.serial is None:
            raise refusals.set_conflict(MULTI if pin_set == SINGLE else SINGLE, kit.users)
        return int(one.serial)
    spent = yield Stmt(q.SPEND_PIN, {"pin": pin, "now": db.utcnow()}, COUNT)
    if spent != 1:
        raise refusals.pin_used()
    row = yield Stmt(q.TAKE_SERIAL, {"regnum": kit.regnum, "set": pin_set})
    if row is None:
        raise refusals.set_conflict(MULTI if pin_set == SINGLE else SINGLE, kit.users)
    return int(row.issued)


def _license_row(lic: License, text: str, pin_hash: str, pin_set: str, prep: _Prepared,
                 request_id: str, serial: int) -> dict[str, Any]:
    """The licenses row; written by _activate_txn in the same transaction as the spend."""
    return {
        "license_id": lic.license_id, "regnum": lic.regnum, "serial": serial, "pin_hash": pin_hash,
        "product": lic.product, "users": lic.users, "pin_set": pin_set, "method": lic.method,
        "owner_json": prep.owner_json, "owner_digest": lic.owner_digest,
        "params_json": prep.params_json, "text": text,
        "issued_at": db.utcnow(), "status": "active", "supersedes": lic.supersedes,
        "superseded_by": None, "request_id": request_id[:40],
    }
