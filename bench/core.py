"""Core speed figures, each next to a baseline measured in the same run.

    .venv/bin/python bench/core.py

(a) fingerprint collection vs one plain ``cpuinfo.get_cpu_info()`` call
    (target: collection <= 20 ms);
(b) license verifications per second on one core vs raw Ed25519 verifications
    of the same key and message (target: >= 5,000/s);
(c) phone code encode+decode of a 200-digit message (83 bytes) vs a plain
    bytes -> decimal string -> bytes round trip (target: < 1 ms).
"""

from __future__ import annotations

import datetime as dt
import os
import statistics
import time
from collections.abc import Callable

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from licwiz.core import fingerprint
from licwiz.core import license as lic_mod
from licwiz.core.keys import Keyring, key_id

PRODUCT = "licwiz-demo"


def per_call(fn: Callable[[], object], *, seconds: float = 1.5, min_calls: int = 5) -> float:
    """Median seconds per call over batches filling about ``seconds``."""
    fn()  # warm caches and imports
    start = time.perf_counter()
    fn()
    once = max(time.perf_counter() - start, 1e-7)
    batch = max(1, int(0.05 / once))
    samples: list[float] = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or len(samples) < min_calls:
        t = time.perf_counter()
        for _ in range(batch):
            fn()
        samples.append((time.perf_counter() - t) / batch)
    return statistics.median(samples)


def pin_one_core() -> str:
    try:
        cpu = sorted(os.sched_getaffinity(0))[0]
        os.sched_setaffinity(0, {cpu})
        return f"pinned to CPU {cpu}"
    except (AttributeError, OSError):
        return "not pinned"


def bench_fingerprint() -> None:
    t_fp = per_call(lambda: fingerprint.collect(PRODUCT))
    try:
        import cpuinfo  # type: ignore[import-untyped]
    except ImportError:
        print(f"(a) fingerprint.collect: {t_fp * 1e3:.3f} ms/call; py-cpuinfo not installed, no baseline")
        return
    start = time.perf_counter()
    cpuinfo.get_cpu_info()  # one call: this is the cost the hot path avoids
    t_cpu = time.perf_counter() - start
    verdict = "OK" if t_fp <= 0.020 else "OVER the 20 ms target"
    print(f"(a) fingerprint.collect: {t_fp * 1e3:.3f} ms/call ({verdict}); "
          f"cpuinfo.get_cpu_info(): {t_cpu * 1e3:.0f} ms; ratio {t_cpu / t_fp:,.0f}x faster")


def bench_license() -> None:
    key = Ed25519PrivateKey.generate()
    ring = Keyring()
    ring.add(key.public_key())
    lic = lic_mod.License(
        license_id="1234567890-001", product=PRODUCT, regnum="1234567890", users=1,
        owner_digest="0" * 64, params=fingerprint.collect(PRODUCT), method="online",
        pin_digest=lic_mod.pin_digest("1234567890", "123456789012345"),
        issued="2026-11-28", key_id=key_id(key.public_key()),
    )
    signed = lic_mod.sign(lic, key)
    today = dt.date(2026, 11, 28)
    message = b"licwiz-license-v1\n" + lic.canonical_bytes()
    pub = key.public_key()
    t_lic = per_call(lambda: lic_mod.verify(signed.text, ring, product=PRODUCT, today=today))
    t_raw = per_call(lambda: pub.verify(signed.signature, message))
    verdict = "OK" if 1 / t_lic >= 5000 else "BELOW the 5,000/s target"
    print(f"(b) license.verify: {1 / t_lic:,.0f}/s ({verdict}); raw Ed25519 verify: {1 / t_raw:,.0f}/s; "
          f"ratio {t_raw / t_lic:.2f} (1.00 = no overhead beyond the signature)")


def bench_phonecodes() -> None:
    try:
        from licwiz.core import phonecodes
    except ImportError:
        print("(c) phonecodes: not available yet")
        return
    data = b"\xff" + bytes(range(17, 17 + 82))  # 83 bytes = a 200-digit number
    assert len(str(int.from_bytes(data, "big"))) == 200
    rows = phonecodes.encode(data)
    assert phonecodes.decode(rows) == data

    def baseline() -> bytes:
        text = str(int.from_bytes(data, "big"))
        return int(text).to_bytes(len(data), "big")

    t_pc = per_call(lambda: phonecodes.decode(phonecodes.encode(data)))
    t_base = per_call(baseline)
    verdict = "OK" if t_pc < 1e-3 else "OVER the 1 ms target"
    print(f"(c) phonecodes encode+decode, 83 bytes in {len(rows)} rows: {t_pc * 1e6:.1f} us ({verdict}); "
          f"int<->str baseline: {t_base * 1e6:.2f} us; ratio {t_pc / t_base:.0f}x the baseline")


def main() -> None:
    print(f"licwiz core bench ({pin_one_core()})")
    bench_fingerprint()
    bench_license()
    bench_phonecodes()


if __name__ == "__main__":
    main()
