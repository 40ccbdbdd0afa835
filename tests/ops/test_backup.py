"""``licwiz center backup`` / ``restore``: a backup taken while ``center serve``
runs, restored into a new home, serves the kits made before it (a PIN from
``kit create --json`` activates on a real ``serve`` of the restored home); the
archive is 0600; restore refuses an existing home without --force and an
archive with unsafe members; PostgreSQL takes --keys-only."""

from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import sys
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest
from support.fixtures_center import CenterProcess, Kit


def _center(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LICWIZ_CENTER_")}
    return subprocess.run([sys.executable, "-m", "licwiz.cli", "center", *args], capture_output=True,
                          text=True, timeout=60, env=env)


def _acquire(url: str, kit: Kit, pin: str, owner_file: Path,
             trusted: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LICWIZ_TRUSTED_KEYS": str(trusted)}
    return subprocess.run(
        [sys.executable, "-m", "licwiz.cli", "acquire", "--center", url, "--kit", kit.regnum, "--pin", pin,
         "--owner-file", str(owner_file), "--operation", "first", "--scope", "user", "--json"],
        capture_output=True, text=True, timeout=60, env=env)


def test_a_backup_restored_into_a_new_home_activates_a_kit_made_before_it(
        center_factory: Callable[..., CenterProcess], acq_owner_file: Path, tmp_path: Path) -> None:
    old = center_factory()  # serving while the backup is taken
    made = json.loads(old.cli("kit", "create", "--product", "licwiz-demo", "--users", "1",
                              "--json").stdout)[0]
    kit = Kit(made["regnum"], made["product"], made["users"], list(made["single_pins"]),
              list(made["multi_pins"]))
    archive = tmp_path / "center-backup.tar.gz"
    r = old.cli("backup", str(archive), "--json")
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600
    info = json.loads(r.stdout)
    assert {"center.db", "keys/state.json", "keys/pin.key", "admin-token"} <= set(info["members"])
    assert any(m.startswith("public/") for m in info["members"])
    with tarfile.open(archive) as tar:
        assert all(not m.name.startswith("/") and ".." not in m.name for m in tar)
    # written again over the old one: atomically, still 0600, no temporary left behind
    old.cli("backup", str(archive))
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
    old.stop()

    home = tmp_path / "restored"
    r = _center("restore", str(archive), "--home", str(home))
    assert r.returncode == 0, r.stderr
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert stat.S_IMODE((home / "keys" / "pin.key").stat().st_mode) == 0o600
    assert stat.S_IMODE((home / "center.db").stat().st_mode) == 0o600
    # not over an existing home
    again = _center("restore", str(archive), "--home", str(home))
    assert again.returncode == 1 and "--force" in again.stderr and "Traceback" not in again.stderr

    new = CenterProcess(home)  # init on a restored home keeps its keys and its admin token
    assert (home / "keys" / "pin.key").read_bytes() == (old.home / "keys" / "pin.key").read_bytes()
    new.start()
    try:
        got = _acquire(new.url, kit, kit.single_pins[0], acq_owner_file, home / "public")
        assert got.returncode == 0, got.stderr
        assert json.loads(got.stdout)["license"]["license_id"] == f"{kit.regnum}-001"
    finally:
        new.stop()
    # --force replaces it with the backup's state (the PIN unused again)
    forced = _center("restore", str(archive), "--home", str(home), "--force")
    assert forced.returncode == 0, forced.stderr
    shown = json.loads(_center("kit", "show", kit.regnum, "--json", "--home", str(home)).stdout)
    assert not shown.get("licenses"), shown


def _evil(path: Path, name: str, body: bytes = b"x", kind: bytes = tarfile.REGTYPE) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        manifest = json.dumps({"format": 1}).encode()
        info = tarfile.TarInfo("licwiz-backup.json")
        info.size = len(manifest)
        tar.addfile(info, io.BytesIO(manifest))
        info = tarfile.TarInfo(name)
        info.type = kind
        if kind == tarfile.SYMTYPE:
            info.linkname = "/etc/passwd"
            tar.addfile(info)
        else:
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    return path


@pytest.mark.parametrize(("name", "kind", "size"), [
    ("/etc/cron.d/evil", tarfile.REGTYPE, 1),
    ("keys/../../evil", tarfile.REGTYPE, 1),
    ("elsewhere/file", tarfile.REGTYPE, 1),
    ("keys/link", tarfile.SYMTYPE, 0),
    ("keys/huge.pem", tarfile.REGTYPE, 2 * 1024 * 1024),
])
def test_restore_refuses_an_unsafe_archive(tmp_path: Path, name: str, kind: bytes, size: int) -> None:
    archive = _evil(tmp_path / "evil.tar.gz", name, b"x" * size, kind)
    home = tmp_path / "home"
    r = _center("restore", str(archive), "--home", str(home))
    assert r.returncode == 1, r.stdout
    assert "not a licwiz center backup" in r.stderr and "Traceback" not in r.stderr
    assert not home.exists() or not any(home.iterdir())  # nothing half-written
    assert not (tmp_path / "evil").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".licwiz-restore-")] == []
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"not an archive")
    r = _center("restore", str(junk), "--home", str(home))
    assert r.returncode == 1 and "cannot read" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.postgres
def test_postgresql_backs_up_the_keys_only(center_factory: Callable[..., CenterProcess], pg_url: str,
                                           tmp_path: Path) -> None:
    center = center_factory(db_url=pg_url, start=False)
    r = center.cli("backup", str(tmp_path / "b.tar.gz"), check=False)
    assert r.returncode == 1 and "pg_dump" in r.stderr and "--keys-only" in r.stderr
    info = json.loads(center.cli("backup", str(tmp_path / "k.tar.gz"), "--keys-only", "--json").stdout)
    assert "center.db" not in info["members"] and "keys/pin.key" in info["members"]
    assert stat.S_IMODE((tmp_path / "k.tar.gz").stat().st_mode) == 0o600
    home = tmp_path / "keys-home"
    r = _center("restore", str(tmp_path / "k.tar.gz"), "--home", str(home), "--db", pg_url)
    assert r.returncode == 0, r.stderr
    assert (home / "keys" / "pin.key").read_bytes() == (center.home / "keys" / "pin.key").read_bytes()
