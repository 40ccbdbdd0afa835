"""Offline-channel figures, each next to a baseline measured in the same run.

    .venv/bin/python bench/offline.py

(a) phone code lengths in digits, check digits included (targets: request
    <= 120, response <= 200);
(b) request code: encode + decode vs a plain bytes -> decimal -> bytes round
    trip of the same bytes;
(c) response code: decode + rebuild + signature check of the license vs one raw
    Ed25519 verification (the floor: the client must verify the signature);
(d) request file: seal + open (HPKE) vs the request's JSON serialisation alone.
"""

from __future__ import annotations

import datetime as dt
import statistics
import time
from collections.abc import Callable

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from licwiz.core import license as lic_mod
from licwiz.core import phonecodes, phonemsg
from licwiz.core.acquire import expected_pin_digest
from licwiz.core.damm import check_digit
from licwiz.core.fingerprint import PARAMETERS, digest
from licwiz.core.keys import Keyring, key_id
from licwiz.core.owner import OwnerData
from licwiz.core.request import ActivationRequest, open_sealed, seal

PRODUCT = "licwiz-demo"


def per_call(fn: Callable[[], object], *, seconds: float = 1.0) -> float:
    """Median seconds per call over batches filling about ``seconds``."""
    fn()
    start = time.perf_counter()
    fn()
    batch = max(1, int(0.05 / max(time.perf_counter() - start, 1e-7)))
    samples: list[float] = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or len(samples) < 5:
        t = time.perf_counter()
        for _ in range(batch):
            fn()
        samples.append((time.perf_counter() - t) / batch)
    return statistics.median(samples)


def _id(body: str) -> str:
    return body + check_digit(body)


def main() -> None:
    owner = OwnerData(kind="person", contact="Ada Lovelace", email="ada@example.com", country="UK",
                      city="London", address="1 Example Street")
    params = {n: digest(PRODUCT, n, f"value-{n}") for n in PARAMETERS}
    req = ActivationRequest(product=PRODUCT, regnum=_id("123456789"), pin=_id("12345678901234"),
                            operation="update", owner=owner, params=params, method="phone",
                            extra_pin=_id("43210987654321"))
    key = Ed25519PrivateKey.generate()
    lic = lic_mod.License(
        license_id=f"{req.regnum}-002", product=PRODUCT, regnum=req.regnum, users=20,
        owner_digest=owner.digest(), params=phonemsg.short_params(params), method="phone",
        pin_digest=expected_pin_digest(req), issued=dt.date.today().isoformat(),
        key_id=key_id(key.public_key()), supersedes=f"{req.regnum}-001",
    )
    signed = lic_mod.sign(lic, key)
    ring = Keyring()
    ring.add(key.public_key())

    lengths = phonemsg.lengths()
    print("licwiz offline bench")
    print(f"(a) phone code digits incl. check digits: request {lengths['request_first']} "
          f"(first/recover), {lengths['request_update']} (update), target <= 120; "
          f"response {lengths['response']}, target <= 200")

    raw = phonemsg.encode_request(req)
    t_req = per_call(lambda: phonemsg.decode_request(phonemsg.request_rows(req)))
    nd = phonecodes.digits_for(len(raw))
    t_base = per_call(lambda: int(f"{int.from_bytes(raw, 'big'):0{nd}d}").to_bytes(len(raw), "big"))
    print(f"(b) request code encode+decode ({len(raw)} bytes): {t_req * 1e6:.1f} us; "
          f"bytes<->decimal baseline {t_base * 1e6:.2f} us; ratio {t_req / t_base:.0f}x")

    rows = phonemsg.response_rows(signed.license, signed.signature)

    def rebuild() -> None:
        phonemsg.rebuild_license(phonemsg.decode_response(rows), req, ring)

    t_resp = per_call(rebuild)
    pub = key.public_key()
    payload = b"licwiz-license-v1\n" + lic.canonical_bytes()
    t_ed = per_call(lambda: pub.verify(signed.signature, payload))
    print(f"(c) response decode+rebuild+verify: {t_resp * 1e6:.1f} us; raw Ed25519 verify "
          f"{t_ed * 1e6:.1f} us; ratio {t_resp / t_ed:.1f}x")

    center = X25519PrivateKey.generate()
    file_req = ActivationRequest(product=PRODUCT, regnum=req.regnum, pin=req.pin, operation="first",
                                 owner=owner, params=params, method="file")
    t_seal = per_call(lambda: open_sealed(seal(file_req, center.public_key()), center))
    t_json = per_call(file_req.to_json)
    print(f"(d) request file seal+open: {t_seal * 1e6:.1f} us; JSON alone {t_json * 1e6:.1f} us; "
          f"ratio {t_seal / t_json:.0f}x")


if __name__ == "__main__":
    main()
