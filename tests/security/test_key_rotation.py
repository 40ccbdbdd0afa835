"""Issue 11 point 8: a staged key rotation never strands a customer.

Against real ``licwiz center serve`` processes (two workers, so the key state
has to reach both without a restart):

- a client that trusts only the old signing key still gets licenses signed by
  it after ``keys rotate`` (the next key is published, not signing);
- after ``keys activate`` the same client is refused BEFORE ``/activate``
  (``untrusted_signing_key``, naming the key): its PIN stays unused (``kit show
  --json``), nothing is kept under rejected/; ``licwiz acquire`` exits 6 with
  one line;
- a client trusting both keys gets a license signed by the new key;
- after ``keys retire`` the old key is no longer served; the current key cannot
  be retired;
- a request file sealed to the previous sealing key opens until that key is
  retired, then is refused with ``wrong_key`` saying it is retired, its PIN unused.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey
from licwiz.core import acquire
from licwiz.core.client import CenterClient, new_idempotency_key
from licwiz.core.keys import load_keyring, load_public
from licwiz.core.license import verify
from licwiz.core.owner import OwnerData
from licwiz.core.request import ActivationRequest, seal
from licwiz.core.storage import state_dir

PRODUCT = "licwiz-demo"
PARAMS = {"machine_id": "a1" * 32, "cpu": "b2" * 32, "mac": "c3" * 32, "root_fs": "d4" * 32, "os": "e5" * 32}
# Two serve workers reload the state file at most once a second each.
PICKUP_SECONDS = 15.0


def _req(regnum: str, pin: str, owner: OwnerData, method: str = "online") -> ActivationRequest:
    return ActivationRequest(PRODUCT, regnum, pin, "first", owner, dict(PARAMS), method=method)


def _trust(folder: Path, source: Path) -> Path:
    """A client's trusted-keys folder: a copy of the center's public PEMs as they are now."""
    folder.mkdir(parents=True)
    for pem in source.glob("*.pem"):
        shutil.copy(pem, folder / pem.name)
    return folder


def _listing(c: Any) -> dict[str, Any]:
    resp = httpx.get(f"{c.url}/api/v1/keys", timeout=30)
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def _statuses(c: Any, kind: str = "signing") -> dict[str, str]:
    return {k["key_id"]: k["status"] for k in _listing(c)[kind]}


def _every_worker(c: Any, holds: Callable[[], bool], what: str) -> None:
    """``holds`` true for 20 answers in a row (new connections, spread over the
    workers), within PICKUP_SECONDS of the change."""
    deadline = time.monotonic() + PICKUP_SECONDS
    streak = 0
    while streak < 20:
        assert time.monotonic() < deadline, f"the serve workers did not pick up: {what}"
        streak = streak + 1 if holds() else 0
        if streak == 0:
            time.sleep(0.1)


def _pin_states(c: Any, regnum: str) -> list[str]:
    doc = json.loads(c.cli("kit", "show", regnum, "--json").stdout)
    return [p["state"] for p in sorted(doc["pins"], key=lambda p: (p["set"], p["position"]))]


async def _acquire(c: Any, req: ActivationRequest, trust: Path) -> acquire.Outcome:
    async with CenterClient(c.url, timeout=30) as client:
        return await acquire.acquire_online(client, req, keyring=load_keyring([trust]), scope="user",
                                            idempotency_key=new_idempotency_key())


def _cli_acquire(c: Any, regnum: str, pin: str, owner_file: Path, trust: Path
                 ) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LICWIZ_TRUSTED_KEYS": str(trust)}
    return subprocess.run(
        [sys.executable, "-m", "licwiz.cli", "acquire", "--kit", regnum, "--pin", pin, "--owner-file",
         str(owner_file), "--operation", "first", "--scope", "user", "--center", c.url],
        capture_output=True, text=True, timeout=60, env=env)


@pytest.mark.slow
async def test_staged_signing_rotation_never_spends_a_pin_for_an_untrusted_key(
    center_factory: Any, acq_owner: OwnerData, acq_owner_file: Path, tmp_path: Path,
) -> None:
    c = center_factory(workers=2)
    kit = c.create_kit(pins=5)
    pins = kit.single_pins
    old_trust = _trust(tmp_path / "old-trust", c.trusted_keys)
    [old_kid] = _statuses(c)

    rotated = json.loads(c.cli("keys", "rotate", "--json").stdout)
    new_kid = rotated["key_id"]
    assert rotated["status"] == "next" and rotated["kind"] == "signing" and new_kid != old_kid
    _every_worker(c, lambda: _statuses(c) == {old_kid: "current", new_kid: "next"}, "next key published")
    # the current key is listed first: a naive client reading [0] gets the signing one
    assert _listing(c)["signing"][0]["key_id"] == old_kid

    # Published, not signing: the client that trusts only the old key is served as before.
    out = await _acquire(c, _req(kit.regnum, pins[0], acq_owner), old_trust)
    assert out.license.key_id == old_kid

    both_trust = _trust(tmp_path / "both-trust", c.trusted_keys)  # the next key distributed
    c.cli("keys", "activate", new_kid)
    probe = _req(kit.regnum, pins[4], acq_owner).to_dict()
    _every_worker(c, lambda: httpx.post(f"{c.url}/api/v1/check", json=probe, timeout=30)
                  .json().get("signing_key_id") == new_kid, "activate")
    assert _statuses(c) == {new_kid: "current", old_kid: "previous"}

    # The client that trusts only the old key stops before /activate: no PIN spent.
    before = _pin_states(c, kit.regnum)
    with pytest.raises(acquire.UntrustedSigningKey) as info:
        await _acquire(c, _req(kit.regnum, pins[1], acq_owner), old_trust)
    assert info.value.code == "untrusted_signing_key" and new_kid in info.value.brief
    r = _cli_acquire(c, kit.regnum, pins[2], acq_owner_file, old_trust)
    assert r.returncode == 6, r.stderr
    assert r.stderr.strip().splitlines() == [r.stderr.strip()]
    assert r.stderr.strip().endswith("[untrusted_signing_key]") and new_kid in r.stderr
    assert _pin_states(c, kit.regnum) == before == ["used", "unused", "unused", "unused", "unused"]
    assert not (state_dir() / "rejected").exists()

    # Trusting both: the license is signed by the new key, and the old license still verifies.
    out2 = await _acquire(c, _req(kit.regnum, pins[1], acq_owner), both_trust)
    assert out2.license.key_id == new_kid
    assert verify(out.text, load_keyring([both_trust]), product=PRODUCT).key_id == old_kid

    # Retire: the current key cannot be; the old one stops being served.
    res = c.cli("keys", "retire", new_kid, check=False)
    assert res.returncode == 1 and "current" in res.stderr and "Traceback" not in res.stderr
    c.cli("keys", "retire", old_kid)
    _every_worker(c, lambda: _statuses(c) == {new_kid: "current"}, "retire")
    assert not (c.trusted_keys / f"signing-{old_kid}.pem").exists()
    listed = {e["key_id"]: e["status"] for e in json.loads(c.cli("keys", "list", "--json").stdout)}
    assert listed[old_kid] == "retired" and listed[new_kid] == "current"


@pytest.mark.slow
def test_requests_sealed_to_the_previous_sealing_key_open_until_it_is_retired(
    center_factory: Any, acq_owner: OwnerData,
) -> None:
    c = center_factory(workers=2)
    kit = c.create_kit(pins=4)
    [old] = _listing(c)["sealing"]
    old_key = load_public(old["pem"])
    assert isinstance(old_key, X25519PublicKey)
    sealed_old = [seal(_req(kit.regnum, pin, acq_owner, method="file"), old_key)
                  for pin in kit.single_pins[:2]]

    new_kid = json.loads(c.cli("keys", "rotate", "--kind", "sealing", "--json").stdout)["key_id"]
    c.cli("keys", "activate", new_kid)
    _every_worker(c, lambda: _statuses(c, "sealing") == {new_kid: "current", old["key_id"]: "previous"},
                  "sealing key activated")
    assert _listing(c)["sealing"][0]["key_id"] == new_kid  # clients seal to the first: the current one

    def submit(text: str) -> httpx.Response:
        return httpx.post(f"{c.url}/api/v1/requests", json={"request": text}, timeout=30,
                          headers={"Idempotency-Key": new_idempotency_key()})

    first = submit(sealed_old[0])  # sealed before the rotation: still opens
    assert first.status_code == 200, first.text
    new_key = load_public(_listing(c)["sealing"][0]["pem"])
    assert isinstance(new_key, X25519PublicKey)
    sealed_new = seal(_req(kit.regnum, kit.single_pins[3], acq_owner, method="file"), new_key)

    c.cli("keys", "retire", old["key_id"])
    _every_worker(c, lambda: _statuses(c, "sealing") == {new_kid: "current"}, "sealing key retired")
    refused = submit(sealed_old[1])
    assert refused.status_code == 400, refused.text
    err = refused.json()["error"]
    assert err["code"] == "wrong_key" and old["key_id"] in err["detail"] and "retired" in err["detail"]
    assert _pin_states(c, kit.regnum) == ["used", "unused", "unused", "unused"]
    assert submit(sealed_new).status_code == 200
