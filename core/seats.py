"""Terminal-session seats on one computer: an N-user license lets N terminal
sessions run the product at once.

Design (kernel-released locks, no PID files, no file writable by another user):

- The seat folder comes from the administrator: ``seat_dir`` in
  ``/etc/licwiz/seats.conf``, else ``/run/licwiz/seats`` when an administrator
  created it, else ``/dev/shm/licwiz-seats``. It is on tmpfs (a reboot empties
  it), world-writable with the sticky bit like /tmp, so no user can remove or
  replace another user's file. ``LICWIZ_SEAT_DIR`` is a switch for tests and
  for root only: honoured only when the real and effective user is root (who
  could change the folder anyway); any other user naming an empty folder would
  otherwise escape every seat.
- Files sit directly in the folder (no per-product subfolder: its creator
  would own it and could delete other users' files in it).
  ``<product>.slot-<i>.u<uid>.lock`` is user <uid>'s lock-and-record file for
  slot i: created by that user, mode 0644 (others read it for ``licwiz
  status``, only its owner writes it). Slot i is *in use* while any process
  holds an ``flock`` on any user's file of slot i.
- The record in a file names the session that claimed the slot (session, pid,
  since); who holds it is the file's owner (``st_uid``), not what it says.
  Every process of that session takes its own shared lock on the same file, so
  the seat stays taken until the *last* process of the session lets go (or
  dies: the kernel drops the lock of a killed process).
- Every claim and every status scan holds the registry lock: an exclusive
  ``flock`` on the seat folder itself (a folder cannot be deleted and
  recreated by a user, as a lock file could by its owner).
- Claiming: first my session's slot, when MY file of it (owned by me) names my
  session and no other user's file of that slot is locked (join it: shared
  lock); else a slot with no locked file (exclusive lock on my file, write my
  record, downgrade to shared; safe because every claimer is serialised by the
  registry lock). A user can only write their own records, so a forged record
  names a session of its own writer and is joined only while nobody else holds
  that slot: it never adds a session beyond N.

Threat model (what this stops, what it cannot): README "Seats: what is
enforced where". In short: local seats stop sessions of other users and honest
overuse; a user can always share one seat among their own sessions or run the
product without ``licwiz run``; only a product that holds its seat itself (and
a license server for seats across computers) closes that.

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
import pwd
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import fingerprint, keys, license, storage
from .errors import FileFormatError, LicenseInvalid, LicwizError, SeatError, SignatureError, StorageError
from .i18n import N_
from .message import Joined, Msg, Plural
from .text import printable

SYSTEM_SEAT_DIR = Path("/run/licwiz/seats")
SHM_SEAT_DIR = Path("/dev/shm/licwiz-seats")
SEATS_CONF = Path("/etc/licwiz/seats.conf")
_RECORD_MAX = 4096
_RECORD_SIZE = 2048  # fits user[:64] and session[:200] even when JSON escapes every char
_CONF_MAX = 64 * 1024


def configured_seat_dir(conf: Path = SEATS_CONF) -> Path | None:
    """``seat_dir = /path`` from the administrator's seats.conf (``#`` starts
    a comment); None when the file does not exist. A file that exists but
    cannot be used is an error, never a silent fallback to another folder."""
    try:
        with conf.open("rb") as fh:
            raw = fh.read(_CONF_MAX + 1)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StorageError(Msg(N_("{path}: cannot read the seat configuration"), path=conf), str(exc),
                           code="seat_dir") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise StorageError(Msg(N_("{path}: not UTF-8 text"), path=conf), code="seat_dir") from None
    found: Path | None = None
    for n, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        key, sep, value = (part.strip() for part in line.partition("="))
        if not sep or key != "seat_dir" or not value.startswith("/"):
            raise StorageError(Msg(N_("{path}: line {line}: expected 'seat_dir = /absolute/path'"), path=conf,
                                   line=n), code="seat_dir")
        found = Path(value)
    return found


def seat_dir() -> Path:
    """The seat folder (see the module docstring for why each rule)."""
    env = os.environ.get("LICWIZ_SEAT_DIR")
    if env and os.getuid() == 0 and os.geteuid() == 0:
        return Path(env)  # tests, and root, who can move the seats anyway
    configured = configured_seat_dir()
    if configured is not None:
        return configured
    return SYSTEM_SEAT_DIR if SYSTEM_SEAT_DIR.is_dir() else SHM_SEAT_DIR


def _safe_name(product: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}", product):
        raise LicwizError(Msg(N_("product name {product!r} cannot name a seat folder"), product=product),
                          code="bad_product")
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
        return Msg(N_("  (no holder could be read)"))
    lines: list[str] = []
    for h in rows:
        # every field came from a seat record or the license server: printable only
        f = {k: printable(str(h.get(k, "?"))) for k in ("user", "host", "session", "since", "pid")}
        if h.get("host") and h.get("pid"):
            line = Msg(N_("  {user} on {host}: session {session}, since {since}, pid {pid}"), **f)
        elif h.get("host"):
            line = Msg(N_("  {user} on {host}: session {session}, since {since}"), **f)
        elif h.get("pid"):
            line = Msg(N_("  {user}: session {session}, since {since}, pid {pid}"), **f)
        else:
            line = Msg(N_("  {user}: session {session}, since {since}"), **f)
        lines.append(line)
    return Joined("\n", lines)


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
            problems.append(Msg(N_("{path}: bound to another computer ({reason})"), path=inst.path,
                                reason=match.reason))
            continue
        found[lic.license_id] = lic
    superseded = {lic.supersedes for lic in found.values() if lic.supersedes}
    valid = [lic for lid, lic in sorted(found.items()) if lid not in superseded]
    return Entitlement(sum(lic.users for lic in valid), tuple(lic.license_id for lic in valid),
                       tuple(problems))


# --- the seat table ----------------------------------------------------------------------------

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


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _holder(doc: dict[str, Any], slot: int, owner: int | None = None) -> Holder:
    def text(name: str) -> str:
        v = doc.get(name)
        return v if isinstance(v, str) else "?"

    pid = doc.get("pid")
    # who holds a slot is the owner of its file: the record could say anything
    user = _user_name(owner) if owner is not None else text("user")
    return Holder(user, text("session"), pid if isinstance(pid, int) else 0, text("since"), slot)


def _user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return str(os.getuid())


# Opening a name another user may have planted: never follow a symlink, never
# block on a FIFO; callers then check it is a regular file.
_OPEN = os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


def _probe_locked(dfd: int, name: str) -> tuple[bool, int | None, dict[str, Any] | None]:
    """(locked, owner uid, record) of a slot file; (False, None, None) for
    anything that is not a regular file (it cannot hold a seat)."""
    try:
        fd = os.open(name, os.O_RDONLY | _OPEN, dir_fd=dfd)
    except OSError:
        return False, None, None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return False, None, None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES):
                raise
            return True, st.st_uid, _read_record(fd)
        return False, st.st_uid, None  # closing drops the probe's lock
    finally:
        os.close(fd)
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
            raise StorageError(Msg(N_("seat already released")), code="seat_released")
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
        self.dir = directory or seat_dir()
        self._pattern = re.compile(re.escape(self.product) + r"\.slot-(\d+)\.u(\d+)\.lock")

    def slot_name(self, slot: int, uid: int | None = None) -> str:
        """The name of user ``uid``'s (default: mine) file of ``slot``."""
        return f"{self.product}.slot-{slot}.u{os.geteuid() if uid is None else uid}.lock"

    @contextlib.contextmanager
    def _registry(self) -> Iterator[int]:
        """Hold the registry lock (the folder's own flock); yields its descriptor."""
        try:
            try:
                dfd = os.open(self.dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            except FileNotFoundError:
                _ensure_dir(self.dir)
                dfd = os.open(self.dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as exc:
            raise StorageError(Msg(N_("{path}: cannot use the seat folder"), path=self.dir), str(exc),
                               code="seat_dir") from None
        try:
            fcntl.flock(dfd, fcntl.LOCK_EX)
            yield dfd
        finally:
            os.close(dfd)  # drops the registry lock

    def _files(self, dfd: int) -> dict[int, list[str]]:
        """Slot -> names of every user's file of it."""
        out: dict[int, list[str]] = {}
        for name in os.listdir(dfd):
            m = self._pattern.fullmatch(name)
            if m:
                out.setdefault(int(m.group(1)), []).append(name)
        return out

    def _open_mine(self, dfd: int, slot: int, *, create: bool) -> int | None:
        """My file of ``slot``, open for writing; None when it does not exist
        (and ``create`` is false). A file of that name that is not mine (planted
        by another user) is an error naming it: never written, never joined."""
        name = self.slot_name(slot)
        flags = os.O_RDWR | _OPEN | (os.O_CREAT if create else 0)
        try:
            fd = os.open(name, flags, 0o644, dir_fd=dfd)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StorageError(Msg(N_("{path}: cannot use this seat file (not a plain file of yours); "
                                      "ask the administrator to remove it"), path=self.dir / name),
                               str(exc), code="seat_dir") from None
        st = os.fstat(fd)
        if st.st_uid != os.geteuid() or not stat.S_ISREG(st.st_mode):
            os.close(fd)
            raise StorageError(Msg(N_("{path}: this seat file belongs to another user; "
                                      "ask the administrator to remove it"), path=self.dir / name),
                               code="seat_dir")
        if st.st_mode & 0o777 != 0o644:
            os.fchmod(fd, 0o644)  # the umask cut the creation mode, or an old version left 0666
        return fd

    def acquire(self, session: str | None = None) -> LocalSeat:
        """Take (or join) the seat of ``session`` (default: this terminal session);
        raises SeatError listing the holders when all N are taken."""
        sid = (session or fingerprint.session_id())[:200]  # records have a fixed size
        if self.users <= 0:
            raise LicenseInvalid(Msg(N_("no valid license for {product} on this computer"),
                                     product=self.product),
                                 code="no_license")
        with self._registry() as dfd:
            try:
                seat = self._claim(dfd, sid)
            except OSError as exc:
                raise StorageError(Msg(N_("{path}: cannot use the seat folder"), path=self.dir), str(exc),
                                   code="seat_dir") from None
        if isinstance(seat, LocalSeat):
            return seat
        raise SeatError(
            Plural(N_("the only seat of {product} is in use"), N_("all {n} seats of {product} are in use"),
                   self.users, product=self.product),
            Plural(N_("{product} is licensed for {n} terminal session at once; held by:\n{holders}"),
                   N_("{product} is licensed for {n} terminal sessions at once; held by:\n{holders}"),
                   self.users, product=self.product, holders=format_holders(seat)),
            holders=[h.as_dict() for h in seat],
        )

    def _claim(self, dfd: int, sid: str) -> LocalSeat | list[Holder]:
        """Under the registry lock: my seat, or the holders of every slot."""
        files = self._files(dfd)
        mine_name = {i: self.slot_name(i) for i in range(self.users)}
        state: dict[int, list[tuple[bool, int | None, dict[str, Any] | None]]] = {
            i: [_probe_locked(dfd, n) for n in files.get(i, []) if n != mine_name[i]]
            for i in range(self.users)}
        others_hold = {i: any(locked for locked, _, _ in state[i]) for i in range(self.users)}
        # 1. join my session's slot: my own file names my session, nobody else holds the slot
        for i in range(self.users):
            if others_hold[i] or mine_name[i] not in files.get(i, []):
                continue
            fd = self._open_mine(dfd, i, create=False)
            if fd is None:
                continue
            rec = _read_record(fd)
            if rec is not None and rec.get("session") == sid:
                try:
                    fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                except OSError:
                    os.close(fd)  # held exclusively outside the protocol: not joinable
                    continue
                return LocalSeat(self.product, i, fd, _holder(rec, i, os.geteuid()))
            os.close(fd)
        # 2. claim a slot that nobody holds
        holders: list[Holder] = []
        for i in range(self.users):
            if others_hold[i]:
                holders += [_holder(rec or {}, i, uid) for locked, uid, rec in state[i] if locked]
                continue
            fd = self._open_mine(dfd, i, create=True)
            assert fd is not None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES):
                    os.close(fd)
                    raise
                holders.append(_holder(_read_record(fd) or {}, i, os.geteuid()))  # another session of mine
                os.close(fd)
                continue
            rec = {"user": _user()[:64], "session": sid[:200], "pid": os.getpid(),
                   "since": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
            # fixed size, space-padded: no truncate needed (JSON ignores the padding)
            data = json.dumps(rec).encode()[:_RECORD_SIZE].ljust(_RECORD_SIZE)
            try:
                os.pwrite(fd, data, 0)
                fcntl.flock(fd, fcntl.LOCK_SH)  # safe: claimers are serialised by the registry
            except OSError:
                os.close(fd)
                raise
            return LocalSeat(self.product, i, fd, _holder(rec, i, os.geteuid()))
        return holders

    def holders(self) -> list[Holder]:
        """Every slot in use (also slots beyond N left by a bigger, removed license)."""
        out: list[Holder] = []
        if not self.dir.is_dir():
            return out
        with self._registry() as dfd:
            for i, names in sorted(self._files(dfd).items()):
                for name in sorted(names):
                    locked, uid, rec = _probe_locked(dfd, name)
                    if locked:
                        out.append(_holder(rec or {}, i, uid))
        return out


def acquire_seat(product: str, *, session: str | None = None, directory: Path | None = None) -> LocalSeat:
    """Check the licenses, then take the session's seat (lower-level than ``hold_seat``)."""
    ent = entitlement(product)
    if ent.users <= 0:
        why = Joined("; ", ent.problems) if ent.problems else Msg(N_("no license is installed"))
        raise LicenseInvalid(Msg(N_("no valid license for {product} on this computer"), product=product), why,
                             code="no_license")
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
