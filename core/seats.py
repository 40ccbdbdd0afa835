"""Terminal-session seats on one computer: an N-user license lets N terminal
sessions run the product at once.

Design (kernel-released locks, no PID files):

- The seat folder (``LICWIZ_SEAT_DIR``, else ``/run/licwiz/seats`` when an
  administrator created it, else ``/dev/shm/licwiz-seats``) is on tmpfs, so a
  reboot empties it; it is world-writable with the sticky bit, like /tmp.
- Per product: ``registry.lock`` (a short exclusive critical section around
  every claim and every status scan) and ``slot-<i>.lock`` for i < N.
- A slot is *in use* while any process holds a shared ``flock`` on its file;
  the file's content names the session that claimed it (user, session, pid,
  since). Every process of that session takes its own shared lock on the same
  slot, so the seat stays taken until the *last* process of the session lets
  go (or dies: the kernel drops the lock of a killed process).
- Claiming, under the registry lock: first a slot whose record names my
  session (join it: shared lock); else a slot nobody locks (probe with a
  non-blocking exclusive lock, write my record, downgrade to shared).
  Because the probe and the downgrade happen under the registry lock, no
  other claimer can slip into the gap of the (non-atomic) flock conversion.
  The race "first process of a session exits while a second one joins" is
  harmless: the joiner either finds the slot still shared (joins) or free
  with my session's stale record (re-claims it), both under the registry lock.

N is the sum of ``users`` of the valid licenses for the product installed on
this computer (all users + current user): signature, product, dates and the
computer's parameters are checked.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import fcntl
import getpass
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import fingerprint, keys, license, storage
from .errors import FileFormatError, LicenseInvalid, LicwizError, SeatError, SignatureError, StorageError
from .text import printable

SYSTEM_SEAT_DIR = Path("/run/licwiz/seats")
SHM_SEAT_DIR = Path("/dev/shm/licwiz-seats")
_RECORD_MAX = 4096
_RECORD_SIZE = 2048  # fits user[:64] and session[:200] even when JSON escapes every char


def seat_dir() -> Path:
    env = os.environ.get("LICWIZ_SEAT_DIR")
    if env:
        return Path(env)
    return SYSTEM_SEAT_DIR if SYSTEM_SEAT_DIR.is_dir() else SHM_SEAT_DIR


def _safe_name(product: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}", product):
        raise LicwizError(f"product name {product!r} cannot name a seat folder", code="bad_product")
    return product


@dataclass(frozen=True, slots=True)
class Holder:
    """Who holds a seat (for ``licwiz status`` and refusal messages)."""

    user: str
    session: str
    pid: int
    since: str  # ISO 8601 UTC, seconds
    slot: int = -1

    def as_dict(self) -> dict[str, Any]:
        return {"user": self.user, "session": self.session, "pid": self.pid, "since": self.since,
                "slot": self.slot}


def format_holders(holders: list[dict[str, Any]] | list[Holder]) -> str:
    """One readable block: a line per seat holder."""
    rows = [h.as_dict() if isinstance(h, Holder) else h for h in holders]
    if not rows:
        return "  (no holder could be read)"
    lines = []
    for h in rows:
        # every field came from a seat record or the license server: printable only
        where = f" on {h['host']}" if h.get("host") else ""
        pid = f", pid {h['pid']}" if h.get("pid") else ""
        lines.append(printable(f"  {h.get('user', '?')}{where}: session {h.get('session', '?')}, "
                               f"since {h.get('since', '?')}{pid}"))
    return "\n".join(lines)


# --- licenses -> N -----------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Entitlement:
    users: int
    license_ids: tuple[str, ...]
    problems: tuple[str, ...]  # why other installed licenses do not count (for diagnostics)


def entitlement(product: str, *, keyring: keys.Keyring | None = None,
                params: dict[str, str] | None = None) -> Entitlement:
    """Sum of users of the valid licenses for ``product`` installed here.

    The same license installed in both scopes counts once; a license that a
    newer one supersedes does not count."""
    ring = keyring if keyring is not None else keys.load_keyring()
    current = params if params is not None else fingerprint.collect(product)
    found: dict[str, license.License] = {}
    problems: list[str] = []
    for inst in storage.installed_files():
        try:
            lic = license.verify_file(inst.path, ring, product=product)
        except (FileFormatError, SignatureError, LicenseInvalid) as exc:
            problems.append(exc.brief)
            continue
        match = fingerprint.matches(lic.params, current)
        if not match.ok:
            problems.append(f"{inst.path}: bound to another computer ({match.reason})")
            continue
        found[lic.license_id] = lic
    superseded = {lic.supersedes for lic in found.values() if lic.supersedes}
    valid = [lic for lid, lic in sorted(found.items()) if lid not in superseded]
    return Entitlement(sum(lic.users for lic in valid), tuple(lic.license_id for lic in valid),
                       tuple(problems))


# --- the seat table ----------------------------------------------------------------------------

def _open_shared_file(name: str, dir_fd: int) -> int:
    """Open (creating) a file in the shared folder, never following a symlink
    planted there, readable and writable by every user (sessions of different
    users claim the same slots)."""
    flags = os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        return os.open(name, flags, dir_fd=dir_fd)
    except FileNotFoundError:
        fd = os.open(name, flags | os.O_CREAT, 0o666, dir_fd=dir_fd)
    with contextlib.suppress(OSError):
        if os.fstat(fd).st_uid == os.geteuid():
            os.fchmod(fd, 0o666)  # the umask cut the creation mode
    return fd


def _ensure_dir(path: Path) -> None:
    for d in (path.parent, path):
        try:
            d.mkdir(mode=0o1777, exist_ok=True)
        except FileNotFoundError:
            d.mkdir(mode=0o1777, parents=True, exist_ok=True)
        with contextlib.suppress(OSError):
            if d.stat().st_uid == os.geteuid():
                os.chmod(d, 0o1777)  # mkdir's mode is cut by the umask


def _read_record(fd: int) -> dict[str, Any] | None:
    try:
        raw = os.pread(fd, _RECORD_MAX, 0)
        doc = json.loads(raw.decode("utf-8")) if raw else None
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def _holder(doc: dict[str, Any], slot: int) -> Holder:
    def text(name: str) -> str:
        v = doc.get(name)
        return v if isinstance(v, str) else "?"

    pid = doc.get("pid")
    return Holder(text("user"), text("session"), pid if isinstance(pid, int) else 0, text("since"), slot)


def _user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return str(os.getuid())


class LocalSeat:
    """A seat held by this process; ``release()`` (or process exit) gives it back."""

    def __init__(self, product: str, slot: int, fd: int, holder: Holder) -> None:
        self.product = product
        self.slot = slot
        self.holder = holder
        self._fd: int | None = fd

    @property
    def fd(self) -> int:
        """The locked file descriptor: pass it to a child (``pass_fds``) so the
        seat stays held while the child runs, even if this process dies."""
        if self._fd is None:
            raise StorageError("seat already released", code="seat_released")
        return self._fd

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing drops this process's shared lock

    def __enter__(self) -> LocalSeat:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class SeatTable:
    """The N slots of one product in the seat folder."""

    def __init__(self, product: str, users: int, directory: Path | None = None) -> None:
        self.product = _safe_name(product)
        self.users = users
        self.dir = (directory or seat_dir()) / self.product

    def _slot_path(self, i: int) -> Path:
        return self.dir / f"slot-{i}.lock"

    @contextlib.contextmanager
    def _registry(self) -> Iterator[int]:
        """Hold the registry lock; yields the seat folder's descriptor."""
        try:
            try:
                dfd = os.open(self.dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            except FileNotFoundError:
                _ensure_dir(self.dir)
                dfd = os.open(self.dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                fd = _open_shared_file("registry.lock", dfd)
            except OSError:
                os.close(dfd)
                raise
        except OSError as exc:
            raise StorageError(f"{self.dir}: cannot use the seat folder", str(exc), code="seat_dir") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield dfd
        finally:
            os.close(fd)
            os.close(dfd)

    def acquire(self, session: str | None = None) -> LocalSeat:
        """Take (or join) the seat of ``session`` (default: this terminal session);
        raises SeatError listing the holders when all N are taken."""
        sid = (session or fingerprint.session_id())[:200]  # records have a fixed size
        if self.users <= 0:
            raise LicenseInvalid(f"no valid license for {self.product} on this computer", code="no_license")
        with self._registry() as dfd:
            fds: dict[int, int] = {}
            try:
                records = {}
                for i in range(self.users):
                    fds[i] = _open_shared_file(f"slot-{i}.lock", dfd)
                    records[i] = _read_record(fds[i])
                # 1. join my session's slot (held or just left: either way it is ours)
                for i, rec in records.items():
                    if rec is not None and rec.get("session") == sid:
                        fcntl.flock(fds[i], fcntl.LOCK_SH | fcntl.LOCK_NB)
                        return LocalSeat(self.product, i, fds.pop(i), _holder(rec, i))
                # 2. claim a free slot
                holders: list[Holder] = []
                for i, fd in fds.items():
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    except OSError as exc:
                        if exc.errno not in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES):
                            raise
                        holders.append(_holder(records[i] or {}, i))
                        continue
                    rec = {"user": _user()[:64], "session": sid[:200], "pid": os.getpid(),
                           "since": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
                    # fixed size, space-padded: no truncate needed (JSON ignores the padding)
                    data = json.dumps(rec).encode()[:_RECORD_SIZE].ljust(_RECORD_SIZE)
                    os.pwrite(fd, data, 0)
                    fcntl.flock(fd, fcntl.LOCK_SH)  # safe: claimers are serialised by the registry
                    return LocalSeat(self.product, i, fds.pop(i), _holder(rec, i))
            except OSError as exc:
                raise StorageError(f"{self.dir}: cannot use the seat folder", str(exc),
                                   code="seat_dir") from None
            finally:
                for fd in fds.values():
                    os.close(fd)
        raise SeatError(
            f"all {self.users} seat(s) of {self.product} are in use",
            f"{self.product} is licensed for {self.users} terminal session(s) at once; "
            f"held by:\n{format_holders(holders)}",
            holders=[h.as_dict() for h in holders],
        )

    def holders(self) -> list[Holder]:
        """Every slot in use (also slots beyond N left by a bigger, removed license)."""
        out: list[Holder] = []
        if not self.dir.is_dir():
            return out
        with self._registry():
            slots = sorted(int(m.group(1)) for p in self.dir.iterdir()
                           if (m := re.fullmatch(r"slot-(\d+)\.lock", p.name)))
            for i in slots:
                try:
                    fd = os.open(self._slot_path(i), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
                except OSError:
                    continue
                try:
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    except OSError:
                        out.append(_holder(_read_record(fd) or {}, i))
                finally:
                    os.close(fd)
        return out


def acquire_seat(product: str, *, session: str | None = None, directory: Path | None = None) -> LocalSeat:
    """Check the licenses, then take the session's seat (lower-level than ``hold_seat``)."""
    ent = entitlement(product)
    if ent.users <= 0:
        why = "; ".join(ent.problems) or "no license is installed"
        raise LicenseInvalid(f"no valid license for {product} on this computer", why, code="no_license")
    return SeatTable(product, ent.users, directory).acquire(session)


@contextlib.contextmanager
def hold_seat(
    product: str, *, session: str | None = None, directory: Path | None = None
) -> Iterator[LocalSeat]:
    """``with hold_seat(product): ...`` runs the body holding this session's seat."""
    seat = acquire_seat(product, session=session, directory=directory)
    try:
        yield seat
    finally:
        seat.release()


def seat_holders(product: str, *, directory: Path | None = None) -> list[Holder]:
    """Who holds the seats of ``product`` now (``licwiz status``)."""
    return SeatTable(product, 0, directory).holders()
