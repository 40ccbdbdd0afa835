"""Key computer parameters: what a license is bound to, and when it still fits.

API (docs/ARCHITECTURE.md):

- ``PARAMETERS``: the parameter names, in display order.
- ``collect(product, *, root=Path("/")) -> dict[str, str]``: name -> HMAC-SHA256
  hex digest keyed by the product. Raw values never leave this module except
  through ``collect_raw`` (for ``licwiz fingerprint --show-raw`` only).
- ``matches(licensed, current) -> Match``: the tolerance rule below.
- ``session_id() -> str``: the terminal session identity.

Sources (Linux; every one optional, a missing or unreadable source is skipped):

=========== ============================================================ ========
name        source                                                       strength
=========== ============================================================ ========
machine_id  /etc/machine-id, else /var/lib/dbus/machine-id               identity
dmi_uuid    /sys/class/dmi/id/product_uuid (often root-only)             identity
root_fs     UUID of the filesystem mounted on / (by-uuid link, udev      ordinary
            database, or the ext2/3/4 / XFS superblock when readable)
cpu         vendor/family/model/stepping of the first CPU in             ordinary
            /proc/cpuinfo (py-cpuinfo only where there is no /proc)
ram         MemTotal rounded up to whole GiB (small reporting changes    ordinary
            between kernels do not flip it)
os          kernel name + distribution ID (never the kernel version,    ordinary
            which changes with every update)
mac         the set of MAC addresses of physical NICs (sorted, so NIC    weak
            order does not matter)
=========== ============================================================ ========

Match rule (``matches``), in order:

1. A license that records no parameters is not bound to a computer: ok.
2. Two digests match when the shorter is a prefix of the other (phone
   licenses and phone requests carry prefixes of at least 4 hex digits;
   shorter never matches).
3. Any *identity* parameter present on both sides that differs -> rejected:
   this is another machine (or a reinstalled OS / cloned VM). It needs an
   update with an extra PIN.
4. More than one *ordinary* parameter changed -> rejected (one change, e.g. a
   RAM upgrade or a new distribution, is tolerated).
5. *Weak* parameters (MAC addresses) never decide: containers and VMs get a
   new MAC or a new NIC order on restart, which must not invalidate a license
   or burn a PIN. They are still reported in ``changed``.
6. Evidence: at least one identity parameter must match. Parameters missing
   now (a container that lost /sys, a non-root user who cannot read DMI) are
   tolerated when an identity still matches. If the license records an
   identity that cannot be read now, it is rejected ("cannot confirm").
   If the license records no identity at all, every licensed ordinary
   parameter must be present, and they must match with weight >= 3 (root_fs
   counts 2, the others 1).

So, without an extra PIN: one ordinary change (new disk *or* CPU *or* RAM *or*
OS), any NIC change, losing access to /sys or DMI. With an update and an extra
PIN: a new machine-id (OS reinstall), a new DMI UUID (new mainboard, cloned
VM), two or more ordinary changes at once.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import platform
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .i18n import N_
from .message import Joined, Msg

PARAMETERS: tuple[str, ...] = ("machine_id", "cpu", "mac", "root_fs", "dmi_uuid", "ram", "os")

IDENTITY: frozenset[str] = frozenset({"machine_id", "dmi_uuid"})
WEAK: frozenset[str] = frozenset({"mac"})
# Weight of ordinary parameters for licenses that record no identity (rule 6).
WEIGHTS: dict[str, int] = {"root_fs": 2, "cpu": 1, "ram": 1, "os": 1}
MIN_PREFIX = 4
_MIN_WEIGHT_WITHOUT_IDENTITY = 3
# Enough for the first processor block even on very verbose kernels.
_CPUINFO_BYTES = 16 * 1024
_SMALL_FILE = 4096
_VIRTUAL_NIC_PREFIXES = ("lo", "veth", "docker", "br-", "virbr", "vnet", "tap", "tun", "cni", "flannel",
                         "cali", "weave", "vxlan", "ifb", "dummy", "bond", "team", "wg", "zt")
_BOGUS_DMI = {
    "00000000-0000-0000-0000-000000000000",
    "ffffffff-ffff-ffff-ffff-ffffffffffff",
    "03000200-0400-0500-0006-000700080009",  # a common placeholder of cheap firmware
}


def strength(name: str) -> str:
    """``identity``, ``ordinary`` or ``weak``: how much ``name`` counts in ``matches``."""
    if name in IDENTITY:
        return "identity"
    return "weak" if name in WEAK else "ordinary"


def digest(product: str, name: str, value: str) -> str:
    """The HMAC-SHA256 of one parameter, keyed by the product, so the same
    computer gives unrelated digests to different products."""
    key = f"licwiz-fp-v1:{product}".encode()
    return hmac.new(key, f"{name}={value}".encode(), hashlib.sha256).hexdigest()


def _read(path: Path, limit: int = _SMALL_FILE) -> str | None:
    """Small text file, or None when it is missing or unreadable."""
    try:
        with path.open("rb") as fh:
            return fh.read(limit).decode("utf-8", "replace")
    except OSError:
        return None


def _under(root: Path, absolute: str) -> Path:
    return root / absolute.lstrip("/")


def _machine_id(root: Path) -> str | None:
    for p in ("/etc/machine-id", "/var/lib/dbus/machine-id"):
        text = _read(_under(root, p))
        if text is None:
            continue
        value = text.strip().lower()
        if value and value != "uninitialized" and value.strip("0"):
            return value
    return None


def _cpu_linux(text: str) -> str | None:
    fields: dict[str, str] = {}
    for line in text.split("\n"):
        if not line.strip():
            if fields:
                break  # only the first processor block: CPUs of one machine are alike
            continue
        key, sep, value = line.partition(":")
        if sep:
            fields.setdefault(key.strip().lower(), value.strip())
    keys: tuple[str, ...]
    if "vendor_id" in fields:  # x86
        keys = ("vendor_id", "cpu family", "model", "stepping")
    elif "cpu implementer" in fields:  # ARM
        keys = ("cpu implementer", "cpu architecture", "cpu variant", "cpu part", "cpu revision")
    elif "cpu" in fields:  # POWER and others
        keys = ("cpu", "revision")
    else:
        return None
    return "/".join(fields.get(k, "") for k in keys)


def _cpu(root: Path) -> str | None:
    text = _read(_under(root, "/proc/cpuinfo"), _CPUINFO_BYTES)
    if text is not None:
        return _cpu_linux(text)
    if sys.platform.startswith("linux"):
        # py-cpuinfo takes about a second on Linux; with no /proc there is nothing it could add.
        return None
    try:
        import cpuinfo  # type: ignore[import-untyped]

        info = cpuinfo.get_cpu_info()
    except Exception:  # py-cpuinfo probes the CPU in many ways; any failure means "unknown"
        return None
    parts = [str(info.get(k, "")) for k in ("vendor_id_raw", "family", "model", "stepping")]
    return "/".join(parts) if any(parts) else None


def _is_physical_nic(entry: Path) -> bool:
    name = entry.name
    if name.startswith(_VIRTUAL_NIC_PREFIXES):
        return False
    if not (entry / "device").exists() or (entry / "bridge").exists():
        return False
    try:
        target = os.readlink(entry)
    except OSError:
        target = ""
    return "/virtual/" not in target


def _macs(root: Path) -> str | None:
    net = _under(root, "/sys/class/net")
    try:
        entries = list(net.iterdir())
    except OSError:
        return None
    macs: set[str] = set()
    for entry in entries:
        if not _is_physical_nic(entry):
            continue
        # A bonded or renamed NIC may show a borrowed address; the permanent one is not
        # in sysfs, so take what is there: MAC is only a weak parameter anyway.
        addr = (_read(entry / "address") or "").strip().lower()
        if addr and addr.strip("0:"):
            macs.add(addr)
    return ",".join(sorted(macs)) if macs else None


def _root_mount(root: Path) -> tuple[str, str, str] | None:
    """(major:minor, filesystem type, source device) of the mount on /."""
    text = _read(_under(root, "/proc/self/mountinfo"), 256 * 1024)
    if text is None:
        return None
    found: tuple[str, str, str] | None = None
    for line in text.split("\n"):
        left, sep, right = line.partition(" - ")
        a, b = left.split(), right.split()
        if sep and len(a) >= 5 and len(b) >= 2 and a[4] == "/":
            found = (a[2], b[0], b[1])  # the last one wins: it is what / shows now
    return found


def _superblock_uuid(path: Path, fstype: str) -> str | None:
    try:
        with path.open("rb") as fh:
            if fstype.startswith("ext"):
                fh.seek(1024)
                sb = fh.read(0x78)
                if len(sb) < 0x78 or sb[0x38:0x3A] != b"\x53\xef":
                    return None
                raw = sb[0x68:0x78]
            elif fstype == "xfs":
                sb = fh.read(48)
                if len(sb) < 48 or sb[:4] != b"XFSB":
                    return None
                raw = sb[32:48]
            else:
                return None
    except OSError:
        return None
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}" if raw.strip(b"\0") else None


def _root_fs(root: Path) -> str | None:
    mount = _root_mount(root)
    if mount is None:
        return None
    majmin, fstype, source = mount
    if not source.startswith("/dev/"):
        return None  # overlay, tmpfs...: a container's root, new on every start
    dev_name = os.path.basename(source)
    by_uuid = _under(root, "/dev/disk/by-uuid")
    try:
        links = sorted(by_uuid.iterdir())
    except OSError:
        links = []
    for link in links:
        try:
            if os.path.basename(os.readlink(link)) == dev_name:
                return link.name.lower()
        except OSError:
            continue
    udev = _read(_under(root, f"/run/udev/data/b{majmin}"))
    if udev:
        for line in udev.split("\n"):
            if line.startswith("E:ID_FS_UUID="):
                return line.split("=", 1)[1].strip().lower() or None
    return _superblock_uuid(_under(root, source), fstype)


def _dmi_uuid(root: Path) -> str | None:
    text = _read(_under(root, "/sys/class/dmi/id/product_uuid"))
    value = (text or "").strip().lower()
    return value if value and value not in _BOGUS_DMI else None


def _ram(root: Path) -> str | None:
    text = _read(_under(root, "/proc/meminfo"))
    for line in (text or "").split("\n"):
        if line.startswith("MemTotal:"):
            parts = line.split()
            if len(parts) >= 2 and parts[1].isdigit():
                # MemTotal is installed RAM minus what firmware and kernel keep (a few %,
                # varying between kernels): rounding up gives the installed size.
                gib = -(-int(parts[1]) // (1024 * 1024))
                return f"{max(gib, 1)}GiB"
    return None


def _os(root: Path) -> str | None:
    kernel = (_read(_under(root, "/proc/sys/kernel/ostype")) or "").strip()
    if not kernel and root == Path("/"):
        kernel = platform.system()
    distro = ""
    for p in ("/etc/os-release", "/usr/lib/os-release"):
        text = _read(_under(root, p))
        if text is None:
            continue
        for line in text.split("\n"):
            if line.startswith("ID="):
                distro = line[3:].strip().strip("\"'").lower()
        break
    if not kernel and not distro:
        return None
    return f"{kernel or 'unknown'}/{distro or 'unknown'}"


_SOURCES = {
    "machine_id": _machine_id, "cpu": _cpu, "mac": _macs, "root_fs": _root_fs,
    "dmi_uuid": _dmi_uuid, "ram": _ram, "os": _os,
}


def collect_raw(*, root: Path = Path("/")) -> dict[str, str]:
    """The raw parameter values (personal data: show only on request, never send)."""
    out: dict[str, str] = {}
    for name in PARAMETERS:
        try:
            value = _SOURCES[name](Path(root))
        except Exception:  # a source that breaks in a new way is skipped: never fatal
            value = None
        if value:
            out[name] = value
    return out


def collect(product: str, *, root: Path = Path("/")) -> dict[str, str]:
    """Name -> HMAC-SHA256 hex digest keyed by ``product``; missing sources are absent."""
    return {name: digest(product, name, value) for name, value in collect_raw(root=root).items()}


@dataclass(frozen=True, slots=True)
class Match:
    ok: bool
    matched: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    reason: str = ""


def digest_matches(licensed: str, current: str) -> bool:
    """True when the shorter of the two digests (at least 4 hex digits) is a prefix
    of the other: a phone license records prefixes, and a phone request sends them."""
    a, b = licensed.strip().lower(), current.strip().lower()
    short, long_ = (a, b) if len(a) <= len(b) else (b, a)
    return len(short) >= MIN_PREFIX and long_.startswith(short)


def _order(names: set[str] | list[str]) -> list[str]:
    rank = {n: i for i, n in enumerate(PARAMETERS)}
    return sorted(names, key=lambda n: (rank.get(n, len(rank)), n))


def matches(licensed: Mapping[str, str], current: Mapping[str, str]) -> Match:
    """Does a computer with ``current`` parameters fit a license bound to
    ``licensed``? The rule is in the module docstring."""
    matched = _order([n for n in licensed if n in current and digest_matches(licensed[n], current[n])])
    changed = _order([n for n in licensed if n in current and n not in matched])
    missing = _order([n for n in licensed if n not in current])
    added = _order([n for n in current if n not in licensed])

    def result(ok: bool, reason: str) -> Match:
        return Match(ok, matched, changed, missing, added, reason)

    if not licensed:
        return result(True, Msg(N_("the license is not bound to a computer")))
    identity_changed = [n for n in changed if n in IDENTITY]
    if identity_changed:
        return result(False, Msg(N_("a different computer: {names} changed"),
                                 names=", ".join(identity_changed)))
    ordinary_changed = [n for n in changed if n not in IDENTITY and n not in WEAK]
    if len(ordinary_changed) > 1:
        return result(False, Msg(N_("too many parameters changed: {names}"),
                                 names=", ".join(ordinary_changed)))
    if any(n in IDENTITY for n in matched):
        return result(True, _tolerated(changed, missing))
    licensed_identity = [n for n in licensed if n in IDENTITY]
    if licensed_identity:
        return result(
            False, Msg(N_("cannot confirm this computer: {names} not readable"),
                       names=", ".join(_order(licensed_identity)))
        )
    ordinary_missing = [n for n in missing if n not in WEAK]
    if ordinary_missing:
        return result(False, Msg(N_("cannot confirm this computer: {names} not readable"),
                              names=", ".join(ordinary_missing)))
    weight = sum(WEIGHTS.get(n, 1) for n in matched if n not in WEAK)
    if weight < _MIN_WEIGHT_WITHOUT_IDENTITY:
        return result(False, Msg(N_("too few parameters match to confirm this computer")))
    return result(True, _tolerated(changed, missing))


def _tolerated(changed: list[str], missing: list[str]) -> str:
    notes: list[str] = []
    if changed:
        notes.append(Msg(N_("tolerated change: {names}"), names=", ".join(changed)))
    if missing:
        notes.append(Msg(N_("not readable now: {names}"), names=", ".join(missing)))
    return Joined("; ", notes) if notes else Msg(N_("all parameters match"))


def session_id() -> str:
    """The audit session id (``audit:N``) when the kernel has one, else ``unix:<getsid>``."""
    try:
        sid = Path("/proc/self/sessionid").read_text().strip()
        if sid and sid != "4294967295":  # (uint32)-1: no audit session
            return f"audit:{sid}"
    except OSError:
        pass
    return f"unix:{os.getsid(0)}"
