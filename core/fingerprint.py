"""Key computer parameters (STUB: the core helper replaces this module).

API contract, kept by the full implementation:
- ``PARAMETERS``: the parameter names, in display order.
- ``collect(product) -> dict[str, str]``: name -> HMAC-SHA256 hex digest keyed by the product.
- ``matches(licensed, current) -> Match``: the documented tolerance rule.
- ``session_id() -> str``: the terminal session identity.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

PARAMETERS: tuple[str, ...] = ("machine_id", "cpu", "mac", "root_fs", "dmi_uuid", "ram", "os")


def _digest(product: str, name: str, value: str) -> str:
    return hmac.new(f"licwiz-fp-v1:{product}".encode(), f"{name}={value}".encode(), hashlib.sha256).hexdigest()


def collect(product: str) -> dict[str, str]:
    out: dict[str, str] = {}
    try:
        out["machine_id"] = _digest(product, "machine_id", Path("/etc/machine-id").read_text().strip())
    except OSError:
        pass
    out["os"] = _digest(product, "os", os.uname().sysname)
    return out


@dataclass(frozen=True, slots=True)
class Match:
    ok: bool
    matched: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    reason: str = ""


def matches(licensed: Mapping[str, str], current: Mapping[str, str]) -> Match:
    matched = [n for n in licensed if current.get(n) == licensed[n]]
    changed = [n for n in licensed if n in current and current[n] != licensed[n]]
    missing = [n for n in licensed if n not in current]
    added = [n for n in current if n not in licensed]
    ok = not changed
    return Match(ok, matched, changed, missing, added, "" if ok else "parameters changed")


def session_id() -> str:
    try:
        sid = Path("/proc/self/sessionid").read_text().strip()
        if sid and sid != "4294967295":
            return f"audit:{sid}"
    except OSError:
        pass
    return f"unix:{os.getsid(0)}"
