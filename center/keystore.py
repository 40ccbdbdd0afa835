"""The center's secrets: Ed25519 signing keys, X25519 sealing keys and the
PIN key, and their staged rotation.

Files under ``<home>/keys`` (private, mode 0600) and ``<home>/public``
(public PEMs: the folder a client can trust via LICWIZ_TRUSTED_KEYS).

Rotation is staged, so that no customer spends a PIN for a license signed by
a key they do not trust yet, and no request file sealed to a key the customer
had becomes unreadable before the vendor says so. Each key has a status
(``keys/state.json``, the one source of truth):

- ``next``: generated and published (``/api/v1/keys``, ``public/``) so that
  clients can learn to trust it; it signs nothing yet;
- ``current``: signs new licenses / is the key clients seal requests to; one per kind;
- ``previous``: the current key before the last ``activate``: still published
  and trusted (licenses it signed verify at the center, requests sealed to it
  open), signs nothing;
- ``retired``: no longer published nor trusted; its public PEM moves to
  ``public/retired/`` (out of the trusted folder), its private file stays
  (0600) until the operator deletes it.

``rotate(home, kind)`` adds a next key, ``activate(home, key_id)`` makes a
next (or previous: a roll-back) key current, ``retire(home, key_id)`` retires
any key but the current one. They write the state file atomically under a lock
(``keys/.lock``), so two admins at once cannot lose a step.

Every serve worker watches the state file (``LiveKeys``): at most once a
second it compares the file's inode, size and mtime with what it loaded and
reloads on a change. The state file is replaced by rename, so the inode
changes on every write. A worker whose reload fails (a key file missing) keeps
its keys and says so on stderr; it never stops serving. (A SIGHUP would need
the operator to signal every worker, which uvicorn's supervisor turns into a
restart of them all; the stat costs nothing and needs nothing.)

A home made before the state file existed (``signing.current``, one
``sealing.pem``) is read as: that signing key current, the other signing keys
previous (they kept verifying), the sealing key current; the first write of the
state file records it so.

The PIN key (``keys/pin.key``, 32 random bytes as hex) keys the HMAC-SHA256
under which PIN codes are stored (``CenterKeys.pin_hash``): the database holds
only those hashes, so a copy of it without this file reveals no usable PIN.
Losing the file makes every unused PIN unusable: back it up with the keys. It
does not rotate (every stored PIN hash depends on it).

The home is 0700 and every private file 0600 (``secure_home`` tightens an
existing home on init and serve).

Containers may pass the private keys instead in the environment:
``LICWIZ_CENTER_SIGNING_KEY`` and ``LICWIZ_CENTER_SEALING_KEY`` (PEM text), each
the single current key of its kind (the home's keys of that kind are then not
used, and ``keys rotate|activate|retire`` refuse that kind: rotate by changing
the variable); ``LICWIZ_CENTER_PIN_KEY`` (the hex text of ``pin.key``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import functools
import hashlib
import hmac
import json
import os
import secrets
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import platformdirs
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from licwiz.core.errors import LicwizError
from licwiz.core.i18n import N_
from licwiz.core.keys import key_id, load_private, load_public, private_pem, public_pem
from licwiz.core.message import Msg
from licwiz.core.storage import atomic_write

ENV_HOME = "LICWIZ_CENTER_HOME"
ENV_SIGNING = "LICWIZ_CENTER_SIGNING_KEY"
ENV_SEALING = "LICWIZ_CENTER_SEALING_KEY"
ENV_PIN = "LICWIZ_CENTER_PIN_KEY"
PIN_KEY_FILE = "pin.key"
STATE_FILE = "state.json"
_PIN_KEY_BYTES = 32

Kind = Literal["signing", "sealing"]
Status = Literal["next", "current", "previous", "retired"]
KINDS: tuple[Kind, ...] = ("signing", "sealing")
STATUSES: tuple[Status, ...] = ("next", "current", "previous", "retired")
SERVED: tuple[Status, ...] = ("current", "next", "previous")  # also the order /api/v1/keys lists them in
RELOAD_EVERY = 1.0  # seconds between two looks at the state file in a serving worker


def default_home() -> Path:
    env = os.environ.get(ENV_HOME)
    if env:
        return Path(env)
    return Path(platformdirs.user_state_dir("licwiz")) / "center"


class KeysMissing(LicwizError):
    code = "keys_missing"


class KeyStateError(LicwizError):
    """A rotation step that cannot be done (unknown key, retiring the current one, ...)."""

    code = "key_state"


@dataclass(frozen=True, slots=True)
class KeyEntry:
    key_id: str
    kind: Kind
    status: Status
    created: str  # ISO 8601 UTC; "" when unknown (a key from before the state file)

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass
class CenterKeys:
    """One consistent snapshot of the keys (a worker swaps the whole object on reload)."""

    signing: Ed25519PrivateKey  # the current signing key
    sealing: X25519PrivateKey  # the current sealing key
    pin_key: bytes
    # Published and trusted (next, current, previous), by key id.
    signing_public: dict[str, Ed25519PublicKey] = field(default_factory=dict)
    sealing_public: dict[str, X25519PublicKey] = field(default_factory=dict)
    # Every sealing key a request file may be opened with (current, previous, next).
    sealing_private: dict[str, X25519PrivateKey] = field(default_factory=dict)
    # Every key of the home, retired ones too (what ``keys list`` and ``/api/v1/keys`` show).
    entries: tuple[KeyEntry, ...] = ()

    # Cached: a snapshot's keys never change (a reload makes a new CenterKeys), and
    # deriving the id per signature cost ~15 us of every activation (issue 13).
    @functools.cached_property
    def signing_id(self) -> str:
        return key_id(self.signing.public_key())

    @functools.cached_property
    def sealing_id(self) -> str:
        return key_id(self.sealing.public_key())

    def pin_hash(self, pin: str) -> str:
        """How a (normalised, 15-digit) PIN is stored and looked up."""
        return pin_hash(self.pin_key, pin)

    def status(self, kid: str) -> Status | None:
        return next((e.status for e in self.entries if e.key_id == kid), None)

    def retired(self, kind: Kind) -> set[str]:
        return {e.key_id for e in self.entries if e.kind == kind and e.status == "retired"}


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


def _now() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()


# ---- the state file


def _state_path(home: Path) -> Path:
    return home / "keys" / STATE_FILE


def _bad_state(path: Path, why: str) -> KeysMissing:
    return KeysMissing("The Licensing Center's key state file is damaged",
                       f"{path}: {why}; restore it from the backup of the home")


def _parse_state(text: str, path: Path) -> list[KeyEntry]:
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise _bad_state(path, f"not JSON ({exc})") from None
    rows = doc.get("keys") if isinstance(doc, dict) else None
    if not isinstance(rows, list):
        raise _bad_state(path, "no 'keys' list")
    out: list[KeyEntry] = []
    for row in rows:
        if not (isinstance(row, dict) and row.get("kind") in KINDS and row.get("status") in STATUSES
                and isinstance(row.get("key_id"), str) and isinstance(row.get("created", ""), str)):
            raise _bad_state(path, f"unreadable entry {row!r}"[:300])
        out.append(KeyEntry(row["key_id"], row["kind"], row["status"], row.get("created", "")))
    return out


def _legacy_state(home: Path) -> list[KeyEntry]:
    """The statuses of a home from before the state file (see the module doc)."""
    keydir = home / "keys"
    out: list[KeyEntry] = []
    current_file = keydir / "signing.current"
    if current_file.exists():
        current = _read(current_file).strip()
        out.append(KeyEntry(current, "signing", "current", ""))
        for p in sorted(keydir.glob("signing-*.pem")):
            kid = p.name[len("signing-"):-len(".pem")]
            if kid != current:
                out.append(KeyEntry(kid, "signing", "previous", ""))
    if (keydir / "sealing.pem").exists():
        sk = load_private(_read(keydir / "sealing.pem"), "sealing key")
        if isinstance(sk, X25519PrivateKey):
            out.append(KeyEntry(key_id(sk.public_key()), "sealing", "current", ""))
    return out


def read_state(home: Path) -> list[KeyEntry]:
    """Every key of the home with its status ([] for a home without keys)."""
    path = _state_path(home)
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        return _legacy_state(home)
    except OSError as exc:
        raise KeysMissing("The Licensing Center's key state cannot be read",
                          f"{path}: {exc.strerror}") from None
    return _parse_state(text, path)


def _write_state(home: Path, entries: list[KeyEntry]) -> None:
    doc = {"version": 1, "keys": [e.to_dict() for e in entries]}
    atomic_write(_state_path(home), (json.dumps(doc, indent=1) + "\n").encode(), mode=0o600)
    current = [e.key_id for e in entries if e.kind == "signing" and e.status == "current"]
    if current:  # what an older licwiz reads: a downgrade signs with the same key
        atomic_write(home / "keys" / "signing.current", (current[0] + "\n").encode(), mode=0o600)


@contextlib.contextmanager
def _locked(home: Path) -> Iterator[list[KeyEntry]]:
    """The state under the home's key lock: read, changed by the caller, written after."""
    keydir = home / "keys"
    keydir.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(keydir / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        entries = read_state(home)
        before = list(entries)
        yield entries
        if entries != before or not _state_path(home).exists():
            _write_state(home, entries)
    finally:
        os.close(fd)  # releases the lock


def _env_kind(kind: Kind) -> str | None:
    return ENV_SIGNING if kind == "signing" and os.environ.get(ENV_SIGNING) else (
        ENV_SEALING if kind == "sealing" and os.environ.get(ENV_SEALING) else None)


def _refuse_env(kind: Kind) -> None:
    env = _env_kind(kind)
    if env:
        raise KeyStateError(Msg(N_("The {kind} key comes from {env}: the home's {kind} keys are not used"),
                                kind=kind, env=env),
                            Msg(N_("unset {env} to rotate the home's keys, or rotate by setting {env} "
                                   "to a new key"), env=env))


def _new_key(home: Path, kind: Kind) -> str:
    """A new key pair of ``kind``: private file 0600, public PEM in public/."""
    keydir, pubdir = home / "keys", home / "public"
    pubdir.mkdir(parents=True, exist_ok=True)
    sk: Ed25519PrivateKey | X25519PrivateKey = (
        Ed25519PrivateKey.generate() if kind == "signing" else X25519PrivateKey.generate())
    kid = key_id(sk.public_key())
    _write_private(keydir / f"{kind}-{kid}.pem", private_pem(sk))
    _write_public(pubdir / f"{kind}-{kid}.pem", public_pem(sk.public_key()))
    return kid


def _find(entries: list[KeyEntry], kid: str) -> int:
    """The index of the key ``kid`` (a unique prefix of 6 or more digits will do)."""
    kid = kid.strip().lower()
    hits = [i for i, e in enumerate(entries) if e.key_id == kid]
    if not hits and len(kid) >= 6:
        hits = [i for i, e in enumerate(entries) if e.key_id.startswith(kid)]
    if len(hits) != 1:
        known = ", ".join(f"{e.key_id} ({e.kind}, {e.status})" for e in entries) or "none"
        brief = (N_("Key {kid} is ambiguous") if hits else N_("Key {kid} is not a key of this center"))
        raise KeyStateError(Msg(brief, kid=repr(kid)), Msg(N_("keys of this center: {known}"), known=known))
    return hits[0]


def rotate(home: Path, kind: Kind = "signing") -> KeyEntry:
    """Generate and publish the next key of ``kind`` (it signs / is sealed to only
    after ``activate``). Refused while a next key of that kind is waiting."""
    _refuse_env(kind)
    with _locked(home) as entries:
        waiting = [e for e in entries if e.kind == kind and e.status == "next"]
        if waiting:
            raise KeyStateError(
                f"A next {kind} key is already published: {waiting[0].key_id}",
                f"activate it ('licwiz center keys activate {waiting[0].key_id}') or retire it "
                f"('licwiz center keys retire {waiting[0].key_id}') before publishing another")
        has_current = any(e.kind == kind and e.status == "current" for e in entries)
        entry = KeyEntry(_new_key(home, kind), kind, "next" if has_current else "current", _now())
        entries.append(entry)
    return entry


def activate(home: Path, kid: str) -> tuple[KeyEntry, KeyEntry | None]:
    """Make the next (or a previous: a roll-back) key current; the current one
    becomes previous. Returns (the new current, the one it replaced or None)."""
    with _locked(home) as entries:
        i = _find(entries, kid)
        new = entries[i]
        _refuse_env(new.kind)
        if new.status == "current":
            return new, None
        if new.status == "retired":
            raise KeyStateError(Msg(N_("Key {kid} is retired: a retired key is not used again"),
                                    kid=new.key_id),
                                Msg(N_("publish a new one with '{command}'"),
                                    command=f"licwiz center keys rotate --kind {new.kind}"))
        _load_private(home, new.kind, new.key_id)  # the private file must be there before it is current
        old: KeyEntry | None = None
        for j, e in enumerate(entries):
            if e.kind == new.kind and e.status == "current":
                old = entries[j] = replace(e, status="previous")
        entries[i] = new = replace(new, status="current")
    return new, old


def retire(home: Path, kid: str) -> KeyEntry:
    """Stop publishing and trusting a key that is not current (next keys too:
    a rotation given up). Its public PEM moves to public/retired/."""
    with _locked(home) as entries:
        i = _find(entries, kid)
        e = entries[i]
        _refuse_env(e.kind)
        if e.status == "current":
            raise KeyStateError(
                f"Key {e.key_id} is the current {e.kind} key and cannot be retired",
                f"activate another {e.kind} key first ('licwiz center keys rotate --kind {e.kind}', "
                "then 'licwiz center keys activate KEY_ID')")
        entries[i] = e = replace(e, status="retired")
        pub = home / "public" / f"{e.kind}-{e.key_id}.pem"
        if pub.exists():
            (home / "public" / "retired").mkdir(exist_ok=True)
            os.replace(pub, home / "public" / "retired" / pub.name)
    return e


# ---- creating and loading


def init_keys(home: Path) -> tuple[bool, CenterKeys]:
    """Create the key pairs unless present; returns (created, keys)."""
    keydir = home / "keys"
    secure_home(home)
    keydir.mkdir(parents=True, exist_ok=True, mode=0o700)
    (home / "public").mkdir(parents=True, exist_ok=True)
    os.chmod(keydir, 0o700)
    created = False
    for kind in KINDS:
        if _env_kind(kind):
            continue
        with _locked(home) as entries:
            if not any(e.kind == kind and e.status == "current" for e in entries):
                entries.append(KeyEntry(_new_key(home, kind), kind, "current", _now()))
                created = True
    if not (keydir / PIN_KEY_FILE).exists() and not os.environ.get(ENV_PIN):
        atomic_write(keydir / PIN_KEY_FILE, (secrets.token_hex(_PIN_KEY_BYTES) + "\n").encode(), mode=0o600)
        created = True
    return created, load_keys(home)


def _read(path: Path) -> str:
    try:
        return path.read_text("ascii")
    except OSError as exc:
        raise KeysMissing(
            "The Licensing Center's keys are missing; run 'licwiz center init'",
            f"{path}: {exc.strerror}",
        ) from None


def _load_private(home: Path, kind: Kind, kid: str) -> Ed25519PrivateKey | X25519PrivateKey:
    keydir = home / "keys"
    path = keydir / f"{kind}-{kid}.pem"
    if kind == "sealing" and not path.exists():
        path = keydir / "sealing.pem"  # the one sealing key of a home from before rotation
    key = load_private(_read(path), f"{kind} key {kid}")
    want = Ed25519PrivateKey if kind == "signing" else X25519PrivateKey
    if not isinstance(key, want) or key_id(key.public_key()) != kid:
        raise KeysMissing(f"The Licensing Center's {kind} key {kid} is not in its file",
                          f"{path} holds another key")
    return key


def _pin_key(text: str, where: str) -> bytes:
    try:
        key = bytes.fromhex(text.strip())
    except ValueError:
        key = b""
    if len(key) < 16:
        raise KeysMissing("The Licensing Center's PIN key is not valid",
                          f"{where}: expected at least 32 hexadecimal digits")
    return key


def _env_key(kind: Kind) -> tuple[str, Ed25519PrivateKey | X25519PrivateKey] | None:
    env = ENV_SIGNING if kind == "signing" else ENV_SEALING
    text = os.environ.get(env)
    if not text:
        return None
    key = load_private(text, env)
    if not isinstance(key, Ed25519PrivateKey if kind == "signing" else X25519PrivateKey):
        raise KeysMissing(f"{env} holds a key of the wrong kind",
                          f"{env}: expected {'Ed25519' if kind == 'signing' else 'X25519'}")
    return key_id(key.public_key()), key


def load_keys(home: Path) -> CenterKeys:
    """The keys as the state file says (the environment's keys win for their kind)."""
    from_env = {kind: _env_key(kind) for kind in KINDS}
    entries = [] if all(from_env.values()) else read_state(home)
    entries = [e for e in entries if not from_env[e.kind]]
    for kind, pair in from_env.items():
        if pair is not None:
            entries.append(KeyEntry(pair[0], kind, "current", ""))
    current: dict[Kind, Ed25519PrivateKey | X25519PrivateKey] = {}
    signing_public: dict[str, Ed25519PublicKey] = {}
    sealing_public: dict[str, X25519PublicKey] = {}
    sealing_private: dict[str, X25519PrivateKey] = {}
    for e in entries:
        if e.status == "retired":
            continue
        pair = from_env[e.kind]
        if e.status == "current" or e.kind == "sealing":
            key = pair[1] if pair else _load_private(home, e.kind, e.key_id)
            if e.status == "current":
                current[e.kind] = key
            if isinstance(key, X25519PrivateKey):
                sealing_private[e.key_id] = key
                sealing_public[e.key_id] = key.public_key()
            elif isinstance(key, Ed25519PrivateKey):
                signing_public[e.key_id] = key.public_key()
        else:  # a next or previous signing key: its public half is all the center needs
            pub = load_public(_read(home / "public" / f"signing-{e.key_id}.pem"), f"signing key {e.key_id}")
            if isinstance(pub, Ed25519PublicKey) and key_id(pub) == e.key_id:
                signing_public[e.key_id] = pub
    signing, sealing = current.get("signing"), current.get("sealing")
    if not isinstance(signing, Ed25519PrivateKey) or not isinstance(sealing, X25519PrivateKey):
        raise KeysMissing("The Licensing Center's keys are missing; run 'licwiz center init'",
                          f"no current {'signing' if signing is None else 'sealing'} key in {home / 'keys'}")
    env_pin = os.environ.get(ENV_PIN)
    pin_key = _pin_key(env_pin, ENV_PIN) if env_pin else _pin_key(
        _read(home / "keys" / PIN_KEY_FILE), str(home / "keys" / PIN_KEY_FILE))
    return CenterKeys(signing, sealing, pin_key, signing_public, sealing_public, sealing_private,
                      tuple(entries))


# ---- a serving worker's view


def _stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns


class LiveKeys:
    """The keys a long-running process uses: ``get()`` returns the snapshot for
    the state file as it is now (looked at no more than every ``RELOAD_EVERY``
    seconds), so an ``activate`` or ``retire`` reaches every worker without a restart."""

    def __init__(self, home: Path, keys: CenterKeys | None = None) -> None:
        self.home = home
        self._watch = (_state_path(home), home / "keys" / "signing.current")
        self._seen = self._stamps()
        self._keys = keys if keys is not None else load_keys(home)
        self._next_look = time.monotonic() + RELOAD_EVERY
        self._lock = threading.Lock()  # the SQLite writer thread and the event loop both ask

    def _stamps(self) -> tuple[tuple[int, int, int] | None, ...]:
        return tuple(_stamp(p) for p in self._watch)

    def get(self) -> CenterKeys:
        now = time.monotonic()
        if now < self._next_look:
            return self._keys
        with self._lock:
            if now < self._next_look:
                return self._keys
            self._next_look = now + RELOAD_EVERY
            stamps = self._stamps()
            if stamps != self._seen:
                try:
                    self._keys = load_keys(self.home)
                except LicwizError as exc:  # keep serving with the keys in hand
                    print(f"center: key state not reloaded ({exc.brief}: {exc.detail}); "
                          f"still using signing key {self._keys.signing_id}", file=sys.stderr, flush=True)
                self._seen = stamps
            return self._keys


def public_listing(keys: CenterKeys) -> dict[str, list[dict[str, Any]]]:
    """What ``GET /api/v1/keys`` answers: the published keys of each kind, current first."""
    order = {s: i for i, s in enumerate(SERVED)}
    out: dict[str, list[dict[str, Any]]] = {"signing": [], "sealing": []}
    for e in sorted(keys.entries, key=lambda e: (order.get(e.status, len(order)), e.created, e.key_id)):
        pub = (keys.signing_public if e.kind == "signing" else keys.sealing_public).get(e.key_id)
        if e.status != "retired" and pub is not None:
            out[e.kind].append({"key_id": e.key_id, "pem": public_pem(pub), "status": e.status,
                                "created": e.created or None})
    return out
