"""Fixtures of the core tests: a signing key trusted through LICWIZ_TRUSTED_KEYS,
a license factory, and a fake filesystem root for fingerprint collection."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from licwiz.core import license as lic_mod
from licwiz.core.keys import key_id, public_pem
from licwiz.core.owner import OwnerData

from support import owners

CORE_PRODUCT = "licwiz-demo"


def core_owner() -> OwnerData:
    return owners.UNICODE_ORGANISATION


def core_license(key: Ed25519PrivateKey, **changes: Any) -> lic_mod.License:
    fields: dict[str, Any] = {
        "license_id": "1234567890-001", "product": CORE_PRODUCT, "regnum": "1234567890",
        "users": 1, "owner_digest": core_owner().digest(), "params": {"machine_id": "ab" * 32},
        "method": "online", "pin_digest": lic_mod.pin_digest("1234567890", "123456789012345"),
        "issued": dt.date.today().isoformat(), "key_id": key_id(key.public_key()),
    }
    fields.update(changes)
    return lic_mod.License(**fields)


@pytest.fixture
def core_signing_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Ed25519PrivateKey:
    """A fresh Ed25519 key whose public half load_keyring() trusts (via LICWIZ_TRUSTED_KEYS)."""
    key = Ed25519PrivateKey.generate()
    trusted = tmp_path / "core-trusted"
    trusted.mkdir()
    (trusted / "test-signing.pem").write_text(public_pem(key.public_key()))
    monkeypatch.setenv("LICWIZ_TRUSTED_KEYS", str(trusted))
    monkeypatch.setenv("LICWIZ_PRODUCT", CORE_PRODUCT)
    return key


@pytest.fixture
def core_sealing_key() -> X25519PrivateKey:
    return X25519PrivateKey.generate()


@pytest.fixture
def core_sign(core_signing_key: Ed25519PrivateKey) -> Callable[..., str]:
    """Sign a license (fields overridable) with the trusted key; returns the file text."""

    def sign(**changes: Any) -> str:
        return lic_mod.sign(core_license(core_signing_key, **changes), core_signing_key).text

    return sign


def core_fake_root(base: Path, *, full: bool = True) -> Path:
    """A small Linux-like tree. ``full``: every source present (like a VM with root);
    else only /proc (a container that lost /etc/machine-id, /sys and /dev)."""
    root = base / "fakeroot"

    def put(rel: str, text: str) -> None:
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)

    put("proc/cpuinfo", "processor\t: 0\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 85\n"
        "model name\t: Intel Xeon\nstepping\t: 7\n\nprocessor\t: 1\nvendor_id\t: OtherVendor\n")
    put("proc/meminfo", "MemTotal:       16318176 kB\nMemFree:         1000000 kB\n")
    put("proc/sys/kernel/ostype", "Linux\n")
    put("proc/self/mountinfo",
        "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
        "23 22 0:5 / /dev rw - devtmpfs udev rw\n")
    if not full:
        return root
    put("etc/machine-id", "0123456789abcdef0123456789abcdef\n")
    put("etc/os-release", 'NAME="Fake Linux"\nID=fakelinux\nVERSION_ID="1"\n')
    put("sys/class/dmi/id/product_uuid", "4C4C4544-0042-3510-8052-B4C04F384D32\n")
    by_uuid = root / "dev/disk/by-uuid"
    by_uuid.mkdir(parents=True)
    (by_uuid / "1b2c3d4e-aaaa-bbbb-cccc-0123456789ab").symlink_to("../../sda1")
    core_add_nic(root, "eth0", "52:54:00:12:34:56")
    core_add_nic(root, "eth1", "52:54:00:ab:cd:ef")
    core_add_nic(root, "docker0", "02:42:ac:11:00:02", physical=False)
    core_add_nic(root, "lo", "00:00:00:00:00:00", physical=False)
    return root


def core_add_nic(root: Path, name: str, mac: str, *, physical: bool = True) -> None:
    """A /sys/class/net entry as the kernel shows it: a symlink into devices/."""
    kind = "pci0000:00/0000:00:03.0/net" if physical else "virtual/net"
    dev = root / "sys/devices" / kind / name
    dev.mkdir(parents=True, exist_ok=True)
    (dev / "address").write_text(mac + "\n")
    if physical:
        (dev / "device").mkdir(exist_ok=True)
    net = root / "sys/class/net"
    net.mkdir(parents=True, exist_ok=True)
    link = net / name
    if link.is_symlink():
        link.unlink()
    link.symlink_to(Path("../../devices") / kind / name)
