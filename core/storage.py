"""Where licenses live, and writes that never leave half a file.

All users: platformdirs' site_state_dir (``/var/lib/licwiz`` on Linux);
current user: user_state_dir. ``LICWIZ_ALL_USERS_DIR`` and ``LICWIZ_USER_DIR``
override both (tests, containers, ``licwiz demo``).
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import platformdirs

from .errors import NotWritable, StorageError
from .i18n import N_
from .message import Msg

Scope = Literal["all-users", "user"]
SCOPES: tuple[Scope, ...] = ("all-users", "user")
APP = "licwiz"
LICENSE_SUFFIX = ".lic"


def license_dir(scope: Scope) -> Path:
    if scope == "all-users":
        env = os.environ.get("LICWIZ_ALL_USERS_DIR")
        base = Path(env) if env else Path(platformdirs.site_state_dir(APP))
    else:
        env = os.environ.get("LICWIZ_USER_DIR")
        base = Path(env) if env else Path(platformdirs.user_state_dir(APP))
    return base / "licenses"


def state_dir() -> Path:
    """Per-user state (pending requests, logs); never shared between users."""
    env = os.environ.get("LICWIZ_USER_DIR")
    return Path(env) if env else Path(platformdirs.user_state_dir(APP))


def is_writable(scope: Scope) -> bool:
    """Can a license be written to ``scope``? Tries for real: mode bits lie
    (read-only mounts, ACLs, root squash)."""
    d = license_dir(scope)
    try:
        d.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=".probe-", dir=d)
    except OSError:
        return False
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(name)
    return True


def atomic_write(path: Path, data: bytes, *, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` so a reader sees the old file or the new one,
    never a mix: temp file in the same directory, fsync, rename, fsync dir."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except PermissionError as exc:
        raise NotWritable(Msg(N_("{path}: not writable"), path=path.parent), str(exc)) from None
    except OSError as exc:
        # A read-only file system or a file where the folder should be: this folder
        # cannot take the license either, which callers offer another place for.
        if exc.errno in (errno.EROFS, errno.ENOTDIR, errno.EEXIST):
            raise NotWritable(Msg(N_("{path}: not writable"), path=path.parent), str(exc)) from None
        raise StorageError(Msg(N_("{path}: cannot write"), path=path.parent), str(exc)) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise StorageError(Msg(N_("{path}: cannot write"), path=path), str(exc)) from None
    # The rename is done; the directory fsync only makes it durable. Some file
    # systems refuse fsync on a directory (EINVAL): the file is still in place.
    with contextlib.suppress(OSError):
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


STALE_TMP_AGE = 3600.0


def remove_stale_temp_files(directory: Path, *, older_than: float = STALE_TMP_AGE) -> list[Path]:
    """Remove temp files that a writer killed mid-write left behind (``.NAME.*.tmp``
    older than an hour, so a concurrent writer's file is never touched)."""
    removed: list[Path] = []
    cutoff = time.time() - older_than
    try:
        candidates = [p for p in Path(directory).iterdir()
                      if p.name.startswith(".") and p.name.endswith(".tmp")]
    except OSError:
        return removed
    for p in candidates:
        with contextlib.suppress(OSError):
            if p.is_file() and p.stat().st_mtime < cutoff:
                p.unlink()
                removed.append(p)
    return removed


@dataclass(frozen=True, slots=True)
class Installed:
    scope: Scope
    path: Path


def install_license(text: str, license_id: str, scope: Scope) -> Path:
    """Store a license file (already verified by the caller) in ``scope``."""
    if not license_id.replace("-", "").isalnum():
        raise StorageError(Msg(N_("refusing odd license id {license_id!r}"), license_id=license_id))
    path = license_dir(scope) / f"{license_id}{LICENSE_SUFFIX}"
    atomic_write(path, text.encode("utf-8"), mode=0o644)
    remove_stale_temp_files(path.parent)
    return path


def installed_files() -> list[Installed]:
    """Every license file in both scopes, all-users first, each sorted by name."""
    out: list[Installed] = []
    for scope in SCOPES:
        d = license_dir(scope)
        try:
            names = sorted(p for p in d.iterdir() if p.suffix == LICENSE_SUFFIX)
        except OSError:
            continue
        out.extend(Installed(scope, p) for p in names)
    return out
