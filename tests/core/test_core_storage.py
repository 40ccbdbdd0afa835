"""Storage: locations, atomic writes that survive a killed writer, modes, writability."""

from __future__ import annotations

import os
import random
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from licwiz.core import keys, storage
from licwiz.core import license as lic_mod
from licwiz.core.errors import NotWritable, StorageError

Sign = Callable[..., str]


def test_locations_follow_the_environment(tmp_path: Path) -> None:
    assert storage.license_dir("all-users") == tmp_path / "all-users" / "licenses"
    assert storage.license_dir("user") == tmp_path / "user" / "licenses"
    assert storage.state_dir() == tmp_path / "user"


def test_default_locations_without_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LICWIZ_ALL_USERS_DIR")
    monkeypatch.delenv("LICWIZ_USER_DIR")
    assert "licwiz" in str(storage.license_dir("all-users"))
    assert storage.license_dir("user") != storage.license_dir("all-users")


def test_install_and_list(core_sign: Sign, tmp_path: Path) -> None:
    old = os.umask(0o077)  # a strict umask must not make a license unreadable to other users
    try:
        p = storage.install_license(core_sign(), "1234567890-001", "all-users")
        storage.install_license(core_sign(license_id="1234567890-002"), "1234567890-002", "user")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(p).st_mode) == 0o644
    found = storage.installed_files()
    assert [(i.scope, i.path.name) for i in found] == [
        ("all-users", "1234567890-001.lic"), ("user", "1234567890-002.lic")]
    assert not list(p.parent.glob(".*"))  # no temp files left behind


def test_odd_license_ids_refused(core_sign: Sign) -> None:
    for bad in ("../evil", "a/b", "", ".hidden", "x y"):
        with pytest.raises(StorageError):
            storage.install_license(core_sign(), bad, "user")


def test_owner_data_mode(tmp_path: Path) -> None:
    p = tmp_path / "o.json"
    storage.atomic_write(p, b"{}", mode=0o600)
    assert stat.S_IMODE(os.stat(p).st_mode) == 0o600
    storage.atomic_write(p, b"{} ", mode=0o600)  # replacing keeps it private
    assert stat.S_IMODE(os.stat(p).st_mode) == 0o600 and p.read_bytes() == b"{} "


def test_not_writable_when_the_parent_is_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Root ignores mode bits, so use a location that cannot exist: under a regular file.
    blocker = tmp_path / "blocker"
    blocker.write_text("a file")
    monkeypatch.setenv("LICWIZ_ALL_USERS_DIR", str(blocker / "sub"))
    assert storage.is_writable("all-users") is False
    assert storage.is_writable("user") is True
    # Not writable (the code callers act on: "Acquire for the current user"), not a bare storage error.
    with pytest.raises(NotWritable):
        storage.atomic_write(blocker / "sub" / "x.lic", b"data")
    with pytest.raises(NotWritable):  # the file sits exactly where the folder should be
        storage.atomic_write(blocker / "x.lic", b"data")
    assert blocker.read_text() == "a file"
    assert not list(tmp_path.glob("*.tmp"))


def test_not_writable_for_a_non_root_user(tmp_path: Path, reachable_checkout: None) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to switch to another user")
    if not shutil.which("setpriv"):
        pytest.skip("setpriv is not available")
    with tempfile.TemporaryDirectory(prefix="licwiz-core-") as shared:
        os.chmod(shared, 0o755)
        locked = Path(shared) / "system"
        (locked / "licenses").mkdir(parents=True)
        os.chmod(locked / "licenses", 0o755)  # root's; nobody may not write
        code = ("import sys; from licwiz.core import storage; "
                "print(storage.is_writable('all-users'), storage.is_writable('user'))")
        env = {**os.environ, "LICWIZ_ALL_USERS_DIR": str(locked), "LICWIZ_USER_DIR": str(Path(shared) / "u")}
        os.chmod(shared, 0o777)
        out = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--",
                              sys.executable, "-c", code], capture_output=True, text=True, env=env,
                             cwd=shared, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "True"]


WRITER = """
import sys
from pathlib import Path
from licwiz.core.storage import atomic_write
target = Path(sys.argv[1])
versions = [Path(p).read_bytes() for p in sys.argv[2:]]
sys.stdout.write("ready\\n"); sys.stdout.flush()
i = 0
while True:
    atomic_write(target, versions[i % len(versions)])
    i += 1
"""


def test_killed_writer_leaves_the_old_license_intact(core_sign: Sign, tmp_path: Path) -> None:
    # Two large (near the size limit) valid licenses, written alternately as fast as possible.
    pad_a, pad_b = "a" * 28_000, "b" * 28_000
    text_a = core_sign(extra={"note": pad_a})
    text_b = core_sign(extra={"note": pad_b}, users=2)
    sources = []
    for name, text in (("a", text_a), ("b", text_b)):
        src = tmp_path / f"{name}.src"
        src.write_text(text)
        sources.append(str(src))
    target = storage.install_license(text_a, "1234567890-001", "user")
    ring = keys.load_keyring()
    rng = random.Random(1)
    for _ in range(8):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(target), *sources],
                                stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
        time.sleep(rng.uniform(0.005, 0.08))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert proc.returncode == -signal.SIGKILL
        assert target.read_text() in (text_a, text_b)
        lic_mod.verify_file(target, ring)
        # Leftover temp files may exist, but are never listed as licenses.
        assert [i.path for i in storage.installed_files()] == [target]
    leftovers = [p.name for p in target.parent.iterdir() if p != target]
    assert all(n.startswith(".") and n.endswith(".tmp") for n in leftovers)


def test_install_removes_only_stale_temp_files(core_sign: Sign) -> None:
    # What a writer killed mid-write leaves behind is swept by the next install,
    # but only when it is old: a concurrent writer's fresh temp file is kept.
    d = storage.license_dir("user")
    d.mkdir(parents=True, exist_ok=True)
    stale, fresh = d / ".1234567890-001.lic.abc.tmp", d / ".1234567890-001.lic.def.tmp"
    stale.write_text("half")
    fresh.write_text("half")
    old = time.time() - 2 * storage.STALE_TMP_AGE
    os.utime(stale, (old, old))
    target = storage.install_license(core_sign(), "1234567890-001", "user")
    assert not stale.exists()
    assert fresh.exists()
    assert sorted(p.name for p in d.iterdir()) == sorted([target.name, fresh.name])
