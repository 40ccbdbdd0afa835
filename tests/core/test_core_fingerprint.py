"""Fingerprint collection (on a fake root and on this machine) and the match rule's edges."""

from __future__ import annotations

import itertools
import os
import struct
import sys
import time
import uuid
from pathlib import Path

import pytest
from licwiz.core import fingerprint as fp
from support.fixtures_core import core_add_nic, core_fake_root

P = "licwiz-demo"
ORDINARY = [n for n in fp.PARAMETERS if fp.strength(n) == "ordinary"]
IDENTITY = [n for n in fp.PARAMETERS if fp.strength(n) == "identity"]


def full_params() -> dict[str, str]:
    return {n: fp.digest(P, n, f"value-of-{n}") for n in fp.PARAMETERS}


def changed(params: dict[str, str], *names: str) -> dict[str, str]:
    return {n: (fp.digest(P, n, "other") if n in names else d) for n, d in params.items()}


# --- collection ---------------------------------------------------------------------------

def test_collect_reads_every_source_of_a_full_root(tmp_path: Path) -> None:
    root = core_fake_root(tmp_path)
    raw = fp.collect_raw(root=root)
    assert raw == {
        "machine_id": "0123456789abcdef0123456789abcdef",
        "cpu": "GenuineIntel/6/85/7",
        "mac": "52:54:00:12:34:56,52:54:00:ab:cd:ef",  # docker0 and lo are not physical
        "root_fs": "1b2c3d4e-aaaa-bbbb-cccc-0123456789ab",
        "dmi_uuid": "4c4c4544-0042-3510-8052-b4c04f384d32",
        "ram": "16GiB",
        "os": "Linux/fakelinux",
    }
    digests = fp.collect(P, root=root)
    assert set(digests) == set(fp.PARAMETERS)
    assert digests["cpu"] == fp.digest(P, "cpu", raw["cpu"])
    assert all(len(d) == 64 and int(d, 16) >= 0 for d in digests.values())
    # Raw values never appear in the digests, and another product gets unrelated ones.
    other = fp.collect("another-product", root=root)
    assert not set(other.values()) & set(digests.values())


def test_container_like_root_skips_missing_sources(tmp_path: Path) -> None:
    root = core_fake_root(tmp_path, full=False)
    raw = fp.collect_raw(root=root)
    assert set(raw) == {"cpu", "ram", "os"}  # no machine-id, /sys, /dev: skipped, no crash
    assert raw["os"] == "Linux/unknown"


def test_empty_and_garbage_roots_never_crash(tmp_path: Path) -> None:
    assert fp.collect(P, root=tmp_path / "does-not-exist") == {}
    junk = tmp_path / "junk"
    for rel in ("proc/cpuinfo", "proc/meminfo", "proc/self/mountinfo", "etc/machine-id",
                "etc/os-release", "sys/class/dmi/id/product_uuid"):
        p = junk / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(os.urandom(3000) + b"\n:\n - \n")
    (junk / "sys/class/net").mkdir(parents=True)
    (junk / "sys/class/net/eth0").write_text("a file, not a directory")
    result = fp.collect(P, root=junk)
    assert set(result) <= set(fp.PARAMETERS)


def test_nic_order_and_virtual_nics_do_not_change_mac(tmp_path: Path) -> None:
    root = core_fake_root(tmp_path)
    before = fp.collect(P, root=root)["mac"]
    # Same NICs appearing in another order (renamed), plus new virtual ones.
    core_add_nic(root, "eth0", "52:54:00:ab:cd:ef")
    core_add_nic(root, "eth1", "52:54:00:12:34:56")
    core_add_nic(root, "veth1234", "aa:bb:cc:dd:ee:ff", physical=True)
    core_add_nic(root, "br0", "aa:bb:cc:dd:ee:00", physical=False)
    assert fp.collect(P, root=root)["mac"] == before
    core_add_nic(root, "eth1", "52:54:00:99:99:99")
    assert fp.collect(P, root=root)["mac"] != before


def test_ram_is_rounded_so_small_reporting_changes_do_not_flip_it(tmp_path: Path) -> None:
    root = core_fake_root(tmp_path)
    values = set()
    for kb in (16318176, 16300000, 16400000, 16777216, 16000000):
        (root / "proc/meminfo").write_text(f"MemTotal:       {kb} kB\n")
        values.add(fp.collect_raw(root=root)["ram"])
    assert values == {"16GiB"}
    (root / "proc/meminfo").write_text("MemTotal:       33554432 kB\n")
    assert fp.collect_raw(root=root)["ram"] == "32GiB"


def test_os_ignores_kernel_version_but_not_distribution(tmp_path: Path) -> None:
    root = core_fake_root(tmp_path)
    (root / "proc/sys/kernel/osrelease").write_text("6.1.0-1\n")
    before = fp.collect_raw(root=root)["os"]
    (root / "proc/sys/kernel/osrelease").write_text("6.1.0-27\n")
    assert fp.collect_raw(root=root)["os"] == before
    (root / "etc/os-release").write_text("ID=otherlinux\n")
    assert fp.collect_raw(root=root)["os"] == "Linux/otherlinux"


def test_machine_id_falls_back_to_dbus_and_ignores_placeholders(tmp_path: Path) -> None:
    root = core_fake_root(tmp_path)
    (root / "etc/machine-id").write_text("uninitialized\n")
    assert "machine_id" not in fp.collect_raw(root=root)
    dbus = root / "var/lib/dbus/machine-id"
    dbus.parent.mkdir(parents=True)
    dbus.write_text("FEDCBA9876543210fedcba9876543210\n")
    assert fp.collect_raw(root=root)["machine_id"] == "fedcba9876543210fedcba9876543210"
    (root / "sys/class/dmi/id/product_uuid").write_text("00000000-0000-0000-0000-000000000000\n")
    assert "dmi_uuid" not in fp.collect_raw(root=root)


def test_arm_cpuinfo(tmp_path: Path) -> None:
    root = core_fake_root(tmp_path, full=False)
    (root / "proc/cpuinfo").write_text(
        "processor\t: 0\nBogoMIPS\t: 50.00\nCPU implementer\t: 0x41\nCPU architecture: 8\n"
        "CPU variant\t: 0x3\nCPU part\t: 0xd0c\nCPU revision\t: 1\n\n")
    assert fp.collect_raw(root=root)["cpu"] == "0x41/8/0x3/0xd0c/1"


def test_root_fs_uuid_from_udev_database_and_from_superblock(tmp_path: Path) -> None:
    root = core_fake_root(tmp_path, full=False)
    assert "root_fs" not in fp.collect_raw(root=root)
    # An ext4 superblock image standing in for /dev/sda1 (what root can read).
    fs_uuid = uuid.uuid4()
    image = bytearray(4096)
    image[1024 + 0x38:1024 + 0x3A] = struct.pack("<H", 0xEF53)
    image[1024 + 0x68:1024 + 0x78] = fs_uuid.bytes
    (root / "dev").mkdir()
    (root / "dev/sda1").write_bytes(bytes(image))
    assert fp.collect_raw(root=root)["root_fs"] == str(fs_uuid)
    # Not an ext superblock: skipped.
    (root / "dev/sda1").write_bytes(bytes(4096))
    assert "root_fs" not in fp.collect_raw(root=root)
    # The udev database wins over the device.
    udev = root / "run/udev/data/b8:1"
    udev.parent.mkdir(parents=True)
    udev.write_text("S:disk/by-uuid/x\nE:ID_FS_TYPE=ext4\nE:ID_FS_UUID=0AB1-CD23\n")
    assert fp.collect_raw(root=root)["root_fs"] == "0ab1-cd23"


def test_overlay_root_has_no_root_fs(tmp_path: Path) -> None:
    root = core_fake_root(tmp_path)
    (root / "proc/self/mountinfo").write_text(
        "500 400 0:51 / / rw,relatime - overlay overlay rw,lowerdir=/a,upperdir=/b\n")
    assert "root_fs" not in fp.collect_raw(root=root)


def test_this_machine_is_fast_and_consistent() -> None:
    first = fp.collect(P)
    assert "cpu" in first and "os" in first  # present on every Linux box
    start = time.perf_counter()
    for _ in range(20):
        assert fp.collect(P) == first
    # 20 ms is the target per collection; allow headroom for a loaded CI machine.
    assert (time.perf_counter() - start) / 20 < 0.05


def test_session_id_shape() -> None:
    sid = fp.session_id()
    kind, _, number = sid.partition(":")
    assert kind in ("audit", "unix") and number.isdigit()
    if kind == "unix":
        assert int(number) == os.getsid(0)
    assert sid != "audit:4294967295"


# --- the match rule -----------------------------------------------------------------------

def test_identical_parameters_match() -> None:
    p = full_params()
    m = fp.matches(p, p)
    assert m.ok and m.matched == list(fp.PARAMETERS) and not (m.changed or m.missing or m.added)


@pytest.mark.parametrize("name", fp.PARAMETERS)
def test_each_single_change(name: str) -> None:
    p = full_params()
    m = fp.matches(p, changed(p, name))
    assert m.changed == [name]
    assert m.ok is (fp.strength(name) != "identity"), m.reason
    if not m.ok:
        assert "different computer" in m.reason and name in m.reason


@pytest.mark.parametrize("pair", list(itertools.combinations(fp.PARAMETERS, 2)))
def test_each_pair_of_changes(pair: tuple[str, str]) -> None:
    p = full_params()
    m = fp.matches(p, changed(p, *pair))
    kinds = sorted(fp.strength(n) for n in pair)
    # Only a pair of one ordinary change plus the weak MAC passes.
    assert m.ok is (kinds == ["ordinary", "weak"]), (pair, m.reason)
    assert sorted(m.changed) == sorted(pair)


def test_machine_id_change_alone_is_a_different_computer() -> None:
    p = full_params()
    m = fp.matches(p, changed(p, "machine_id"))
    assert not m.ok and m.matched == [n for n in fp.PARAMETERS if n != "machine_id"]


def test_new_mac_after_container_restart_keeps_license() -> None:
    p = {n: d for n, d in full_params().items() if n not in ("dmi_uuid", "root_fs")}
    m = fp.matches(p, changed(p, "mac"))
    assert m.ok and m.changed == ["mac"]
    # ... and NICs gone entirely (a container without network) as well.
    m = fp.matches(p, {n: d for n, d in p.items() if n != "mac"})
    assert m.ok and m.missing == ["mac"]


@pytest.mark.parametrize("lost", [("dmi_uuid",), ("dmi_uuid", "mac", "root_fs"),
                                  ("dmi_uuid", "mac", "root_fs", "cpu", "ram", "os")])
def test_missing_sources_tolerated_while_an_identity_matches(lost: tuple[str, ...]) -> None:
    p = full_params()
    m = fp.matches(p, {n: d for n, d in p.items() if n not in lost})
    assert m.ok, m.reason
    assert m.missing == [n for n in fp.PARAMETERS if n in lost]


def test_missing_plus_one_ordinary_change_still_tolerated() -> None:
    p = full_params()
    cur = changed({n: d for n, d in p.items() if n != "dmi_uuid"}, "ram")
    m = fp.matches(p, cur)
    assert m.ok and m.changed == ["ram"] and m.missing == ["dmi_uuid"]


def test_all_identities_unreadable_is_rejected() -> None:
    p = full_params()
    m = fp.matches(p, {n: d for n, d in p.items() if n not in IDENTITY})
    assert not m.ok and "cannot confirm" in m.reason


def test_all_missing_is_rejected() -> None:
    m = fp.matches(full_params(), {})
    assert not m.ok and m.missing == list(fp.PARAMETERS) and m.matched == []


def test_one_identity_changed_and_the_other_matching_is_rejected() -> None:
    p = full_params()
    assert not fp.matches(p, changed(p, "dmi_uuid")).ok


def test_unbound_license_matches_anything() -> None:
    m = fp.matches({}, full_params())
    assert m.ok and m.added == list(fp.PARAMETERS)


def test_license_without_identity() -> None:
    p = {n: d for n, d in full_params().items() if n not in IDENTITY}
    assert fp.matches(p, p).ok
    assert fp.matches(p, changed(p, "cpu")).ok  # root_fs(2)+ram+os still match
    assert fp.matches(p, changed(p, "root_fs")).ok  # cpu+ram+os = 3
    assert not fp.matches(p, changed(p, "cpu", "ram")).ok
    # A source missing now cannot be checked, and there is no identity to rely on.
    assert not fp.matches(p, {n: d for n, d in p.items() if n != "cpu"}).ok
    # Too little evidence: only os and ram recorded.
    small = {n: p[n] for n in ("os", "ram")}
    assert not fp.matches(small, small).ok
    # Identity readable now but not recorded in the license adds nothing: same verdicts.
    assert fp.matches(p, {**p, "machine_id": "ab" * 32}).added == ["machine_id"]


def test_a_different_machine_is_rejected() -> None:
    a = {n: fp.digest(P, n, f"a-{n}") for n in fp.PARAMETERS}
    b = {n: fp.digest(P, n, f"b-{n}") for n in fp.PARAMETERS}
    m = fp.matches(a, b)
    assert not m.ok and m.matched == []
    # A clone (same disk image: machine-id, OS, root fs copied) on other hardware.
    clone = {**b, "machine_id": a["machine_id"], "os": a["os"], "root_fs": a["root_fs"]}
    assert not fp.matches(a, clone).ok


@pytest.mark.parametrize("length", [4, 5, 8, 16, 63, 64])
def test_truncated_licensed_digests_compare_by_prefix(length: int) -> None:
    p = full_params()
    short = {n: d[:length] for n, d in p.items()}
    assert fp.matches(short, p).ok
    m = fp.matches(short, changed(p, "machine_id"))
    assert not m.ok and m.changed == ["machine_id"]
    upper = {n: d.upper() for n, d in short.items()}
    assert fp.matches(upper, p).ok


@pytest.mark.parametrize("length", [0, 1, 2, 3])
def test_prefixes_shorter_than_four_never_match(length: int) -> None:
    p = full_params()
    m = fp.matches({n: d[:length] for n, d in p.items()}, p)
    assert not m.ok and m.matched == []


def test_unknown_licensed_parameter_counts_as_ordinary() -> None:
    p = full_params()
    lic = {**p, "tpm": "12345678"}
    cur = {**p, "tpm": "87654321"}
    m = fp.matches(lic, cur)
    assert m.ok and m.changed == ["tpm"]
    assert not fp.matches(lic, changed(cur, "cpu")).ok


def test_no_proc_on_linux_never_pays_for_py_cpuinfo(tmp_path: Path) -> None:
    root = core_fake_root(tmp_path, full=False)
    (root / "proc/cpuinfo").unlink()
    start = time.perf_counter()
    assert "cpu" not in fp.collect_raw(root=root)
    assert time.perf_counter() - start < 0.2  # get_cpu_info() takes about a second


def test_py_cpuinfo_fallback_where_there_is_no_proc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Another OS, as far as the module can tell: no /proc, platform not Linux.
    monkeypatch.setattr(sys, "platform", "darwin")
    root = core_fake_root(tmp_path, full=False)
    (root / "proc/cpuinfo").unlink()
    cpu = fp.collect_raw(root=root)["cpu"]
    # The same CPU as /proc/cpuinfo describes (vendor/family/model/stepping).
    assert cpu == fp.collect_raw()["cpu"]


def test_prefix_comparison_is_symmetric() -> None:
    # A phone request (short digests) checked against a stored full-digest license.
    p = full_params()
    short = {n: d[:4] for n, d in p.items()}
    assert fp.matches(p, short).ok and fp.matches(short, short).ok
    assert not fp.matches(p, changed(short, "machine_id")).ok
    assert fp.digest_matches("abcd", "ABCDEF") and fp.digest_matches("abcdef", "abcd")
    assert not fp.digest_matches("abc", "abc") and not fp.digest_matches("abce", "abcdef")
