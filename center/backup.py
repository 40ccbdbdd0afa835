"""``licwiz center backup FILE`` / ``restore FILE``: one archive holds a whole
center (SQLite): the database, the keys (``keys/`` with ``state.json`` and
``pin.key``), ``public/`` and the ``admin-token`` file; the admin token's hash
is in the database's settings.

- The database is copied with SQLite's online backup API: a consistent
  snapshot while ``serve`` writes to it (WAL), never a half-written file.
- The archive (tar.gz) is written to a temporary file in the target's folder,
  created 0600 (it holds the private keys and every PIN hash), fsynced and
  renamed over the name: a crash leaves the old archive or the new one.
- PostgreSQL: ``--keys-only`` (everything but the database); the database is
  ``pg_dump``'s (README).
- ``restore`` writes into a new home (absent or empty) and a database file
  that does not exist, unless ``force``; it reads the archive member by member
  without trusting it: only regular files and folders under the known names,
  no absolute paths, no ``..``, no links, size limits; files are written with
  private modes (keys 0600, folders 0700), the database checked by SQLite
  before anything is put in place.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import os
import shutil
import sqlite3
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from licwiz.core.errors import LicwizError

from . import db

MANIFEST = "licwiz-backup.json"
DB_MEMBER = "center.db"
TREES = ("keys", "public")  # folders of the home, whole
FILES = ("admin-token",)  # single files of the home, when present
SKIP = {".lock"}  # keys/.lock: the rotation lock, no content
FORMAT = 1

MAX_DB = 8 * 1024**3  # a center's database: far below this
MAX_FILE = 1024**2  # a key, a PEM, the state file
MAX_MEMBERS = 10_000


def _fail(brief: str, detail: str = "") -> LicwizError:
    return LicwizError(brief, detail, code="backup")


@dataclass(frozen=True, slots=True)
class Done:
    path: Path
    members: list[str]
    manifest: dict[str, Any]


def _snapshot(src: Path, dst: Path) -> None:
    """A consistent copy of the live database (the online backup API)."""
    source = sqlite3.connect(f"file:{src}?mode=ro", uri=True, timeout=30)
    try:
        target = sqlite3.connect(dst)
        try:
            source.backup(target)
            target.execute("PRAGMA journal_mode=DELETE")  # one self-contained file in the archive
        finally:
            target.close()
    finally:
        source.close()


def _revision(path: Path) -> str | None:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.DatabaseError:
        return None
    finally:
        conn.close()
    return str(row[0]) if row else None


def _home_files(home: Path) -> list[tuple[str, Path]]:
    out: list[tuple[str, Path]] = []
    for tree in TREES:
        root = home / tree
        if not root.is_dir():
            continue
        for path in sorted(root.rglob("*")):
            if path.is_file() and not path.is_symlink() and path.name not in SKIP:
                out.append((path.relative_to(home).as_posix(), path))
    out += [(name, home / name) for name in FILES if (home / name).is_file()]
    return out


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def backup(home: Path, db_url: str, dest: Path, *, keys_only: bool = False) -> Done:
    if not (home / "keys").is_dir():
        raise _fail(f"no center keys in {home}", "back up the home a center was initialised in (--home)")
    dbfile = db.sqlite_file(db_url)
    if not keys_only and dbfile is None:
        raise _fail("this center's database is PostgreSQL: back it up with pg_dump, and the keys with "
                    "'licwiz center backup --keys-only FILE'")
    if not keys_only and dbfile is not None and not dbfile.is_file():
        raise _fail(f"no database at {dbfile}", "run 'licwiz center init' first, or give --db")
    dest = dest.absolute()
    folder = dest.parent
    if not folder.is_dir():
        raise _fail(f"no folder {folder} to write the backup in")
    manifest: dict[str, Any] = {"format": FORMAT, "created": dt.datetime.now(dt.UTC).isoformat(
        timespec="seconds"), "keys_only": keys_only, "schema_revision": None}
    with tempfile.TemporaryDirectory(dir=folder, prefix=".licwiz-backup-") as work:
        members: list[tuple[str, Path]] = []
        if not keys_only and dbfile is not None:
            snap = Path(work) / DB_MEMBER
            _snapshot(dbfile, snap)
            manifest["schema_revision"] = _revision(snap)
            members.append((DB_MEMBER, snap))
        members += _home_files(home)
        fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=f".{dest.name}.", suffix=".tmp")
        tmp = Path(tmp_name)
        try:
            os.fchmod(fd, 0o600)  # mkstemp makes it 0600; said again, as the contract
            with os.fdopen(fd, "wb") as raw:
                with tarfile.open(fileobj=raw, mode="w:gz") as tar:
                    body = json.dumps(manifest, indent=2).encode()
                    info = tarfile.TarInfo(MANIFEST)
                    info.size, info.mode = len(body), 0o600
                    tar.addfile(info, io.BytesIO(body))
                    for name, path in members:
                        info = tar.gettarinfo(str(path), arcname=name)
                        info.uid = info.gid = 0
                        info.uname = info.gname = ""
                        with path.open("rb") as fh:
                            tar.addfile(info, fh)
                raw.flush()
                os.fsync(raw.fileno())
            os.replace(tmp, dest)
            _fsync_dir(folder)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            raise
    return Done(dest, [MANIFEST] + [n for n, _ in members], manifest)


def _member_name(member: tarfile.TarInfo) -> str:
    name = member.name
    path = PurePosixPath(name)
    if (not name or name.startswith("/") or "\\" in name or path.is_absolute()
            or any(part in ("..", "") for part in name.split("/")) or name.startswith("./")):
        raise _fail("the archive is not a licwiz center backup", f"unsafe member name {name!r}")
    top = path.parts[0]
    allowed = name in (MANIFEST, DB_MEMBER, *FILES, *TREES) or (top in TREES and len(path.parts) >= 2)
    if not allowed:
        raise _fail("the archive is not a licwiz center backup", f"unexpected member {name!r}")
    if not (member.isfile() or member.isdir()):
        raise _fail("the archive is not a licwiz center backup", f"{name!r} is not a plain file or folder")
    limit = MAX_DB if name == DB_MEMBER else MAX_FILE
    if member.size > limit:
        raise _fail("the archive is not a licwiz center backup", f"{name!r} is larger than {limit} bytes")
    return name


def _extract(archive: Path, into: Path) -> dict[str, Any]:
    try:
        tar = tarfile.open(archive, mode="r:gz")  # noqa: SIM115 - closed by the with below
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise _fail(f"cannot read {archive} as a backup (tar.gz)", str(exc)) from None
    manifest: dict[str, Any] | None = None
    with tar:
        count = 0
        try:
            for member in tar:
                count += 1
                if count > MAX_MEMBERS:
                    raise _fail("the archive is not a licwiz center backup", "too many members")
                name = _member_name(member)
                target = into / name
                if member.isdir():
                    target.mkdir(mode=0o700, parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                src = tar.extractfile(member)
                if src is None:  # pragma: no cover - a regular file always has a body
                    continue
                private = not name.startswith("public/")
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600 if private else 0o644)
                with os.fdopen(fd, "wb") as out:
                    shutil.copyfileobj(src, out)
                    out.flush()
                    os.fsync(out.fileno())
                if name == MANIFEST:
                    manifest = json.loads(target.read_text())
        except (tarfile.TarError, EOFError, OSError, ValueError) as exc:
            if isinstance(exc, LicwizError):
                raise
            raise _fail(f"cannot read {archive} as a backup (tar.gz)", str(exc)) from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise _fail("the archive is not a licwiz center backup", f"no {MANIFEST} of format {FORMAT}")
    if not (into / "keys").is_dir():
        raise _fail("the backup holds no keys", "it cannot be restored")
    return manifest


def _check_db(path: Path) -> None:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        ok = conn.execute("PRAGMA quick_check").fetchone()
    except sqlite3.DatabaseError as exc:
        raise _fail("the backup's database is damaged", str(exc)) from None
    finally:
        conn.close()
    if not ok or ok[0] != "ok":
        raise _fail("the backup's database is damaged", str(ok[0] if ok else ""))


def restore(archive: Path, home: Path, db_url: str, *, force: bool = False) -> Done:
    """Restore into ``home`` and the SQLite file of ``db_url`` (or, for a
    keys-only backup, the home alone)."""
    if not archive.is_file():
        raise _fail(f"no backup file {archive}")
    home = home.absolute()
    if home.exists() and any(home.iterdir()) and not force:
        raise _fail(f"{home} is not empty: restore into a new home, or add --force to replace it")
    home.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=home.parent, prefix=".licwiz-restore-") as work:
        staged = Path(work)
        manifest = _extract(archive, staged)
        dbfile = db.sqlite_file(db_url)
        has_db = (staged / DB_MEMBER).is_file()
        if has_db:
            if dbfile is None:
                raise _fail("this backup holds a SQLite database: restore it with a SQLite --db "
                            "(for PostgreSQL use pg_dump's dump and a keys-only backup)")
            _check_db(staged / DB_MEMBER)
            if dbfile.exists() and not force:
                raise _fail(f"a database exists at {dbfile}: add --force to replace it")
        # Everything is read and checked: now put it in place.
        home.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(home, 0o700)
        restored: list[str] = []
        for name in (*TREES, *FILES):
            src, dst = staged / name, home / name
            if not src.exists():
                continue
            if dst.is_dir() and not dst.is_symlink():
                shutil.rmtree(dst)
            elif dst.exists() or dst.is_symlink():
                dst.unlink()
            os.replace(src, dst)
            restored.append(name)
        if has_db and dbfile is not None:
            dbfile.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            for suffix in ("-wal", "-shm", "-journal"):  # an old file's companions would be replayed into it
                Path(f"{dbfile}{suffix}").unlink(missing_ok=True)
            shutil.move(staged / DB_MEMBER, dbfile)
            os.chmod(dbfile, 0o600)
            restored.append(str(dbfile))
        _fsync_dir(home)
    return Done(home, restored, manifest)
