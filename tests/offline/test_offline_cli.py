"""``licwiz request`` / ``licwiz install`` in child processes, with the center's
part played in-process by the test (its real keys; the real center round
trips are in test_offline_roundtrip_*.py)."""

from __future__ import annotations

import dataclasses
import json
import os
import stat
from pathlib import Path
from typing import Any

import httpx
import pytest
from licwiz.core import phonecodes, phonemsg
from licwiz.core.fingerprint import collect
from licwiz.core.storage import license_dir, state_dir
from support.fixtures_offline import OFF_OWNER, OFF_PRODUCT, OffKeys, off_licwiz, off_pin, off_regnum

KIT = off_regnum(123456)
PIN = off_pin(777)


def _request(tmp_path: Path, owner_file: Path, *extra: str) -> Path:
    out = tmp_path / "req" / "my.req"
    out.parent.mkdir(exist_ok=True)
    r = off_licwiz("request", "--out", str(out), "--kit", KIT, "--pin", PIN, "--operation", "first",
                   "--owner-file", str(owner_file), *extra)
    assert r.returncode == 0, r.stderr
    assert str(out) in r.stdout  # the full path, to copy with scp
    return out


def _installed() -> list[Path]:
    d = license_dir("all-users")
    return sorted(d.glob("*.lic")) if d.exists() else []


def test_offline_cli_file_round_trip(tmp_path: Path, off_keys: OffKeys, off_owner_file: Path) -> None:
    out = _request(tmp_path, off_owner_file)
    pending = list((state_dir() / "pending").glob("*.json"))
    assert len(pending) == 1
    assert stat.S_IMODE(pending[0].stat().st_mode) == 0o600
    assert "Åsa" not in out.read_text()  # sealed: owner data is not readable in the file
    req = off_keys.open(out.read_text())
    assert (req.regnum, req.pin, req.method, req.product) == (KIT, PIN, "file", OFF_PRODUCT)
    assert req.owner.digest() == OFF_OWNER.digest()
    lic_file = tmp_path / "got.lic"
    lic_file.write_text(off_keys.sign_for(req).text)
    r = off_licwiz("install", str(lic_file), "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["license"]["license_id"] == f"{KIT}-001" and doc["license"]["method"] == "file"
    assert [p.name for p in _installed()] == [f"{KIT}-001.lic"]
    assert _installed()[0].read_text() == lic_file.read_text()
    assert not list((state_dir() / "pending").glob("*.json"))  # answered: no longer pending


def test_offline_cli_refuses_bad_files(tmp_path: Path, off_keys: OffKeys, off_owner_file: Path) -> None:
    out = _request(tmp_path, off_owner_file)
    req = off_keys.open(out.read_text())
    good = off_keys.sign_for(req).text
    other_params = {k: "0" * 64 for k in collect(OFF_PRODUCT)} or {"machine_id": "0" * 64}
    cases = {
        "tampered": (good.replace('"users":5', '"users":9'), 6, "changed or forged"),
        "truncated": (good[: len(good) // 2], 2, "truncated"),
        "wrong-product": (off_keys.sign_for(dataclasses.replace(req, product="other-product")).text, 6,
                          "product"),
        "wrong-computer": (off_keys.sign_for(dataclasses.replace(req, params=other_params)).text, 6,
                           "another computer"),
        "other-owner": (off_keys.sign_for(req, owner_digest="ab" * 32).text, 6, "not the one requested"),
        "not-a-license": ("hello\n", 2, "not a licwiz license"),
    }
    for name, (text, code, words) in cases.items():
        f = tmp_path / f"{name}.lic"
        f.write_text(text)
        r = off_licwiz("install", str(f))
        assert r.returncode == code, (name, r.stderr)
        assert words in r.stderr, (name, r.stderr)
        assert "Traceback" not in r.stderr
        assert _installed() == [], name
    assert len(list((state_dir() / "pending").glob("*.json"))) == 1  # still waiting for a good answer


def test_offline_cli_license_without_request(tmp_path: Path, off_keys: OffKeys, off_owner_file: Path) -> None:
    out = _request(tmp_path, off_owner_file)
    req = off_keys.open(out.read_text())
    for p in (state_dir() / "pending").glob("*.json"):
        p.unlink()
    f = tmp_path / "x.lic"
    f.write_text(off_keys.sign_for(req).text)
    r = off_licwiz("install", str(f))
    assert r.returncode == 6 and "no license request for kit" in r.stderr
    assert _installed() == []
    r = off_licwiz("install", str(f), "--without-request", "--scope", "user")
    assert r.returncode == 0, r.stderr
    assert (license_dir("user") / f"{KIT}-001.lic").exists()


def test_offline_cli_request_bad_input(tmp_path: Path, off_keys: OffKeys, off_owner_file: Path) -> None:
    bad_pin = PIN[:-1] + str((int(PIN[-1]) + 1) % 10)
    r = off_licwiz("request", "--out", str(tmp_path / "r.req"), "--kit", KIT, "--pin", bad_pin,
                   "--operation", "first", "--owner-file", str(off_owner_file))
    assert r.returncode == 2 and "check digit" in r.stderr
    assert not (tmp_path / "r.req").exists()
    assert not (state_dir() / "pending").exists() or not list((state_dir() / "pending").iterdir())
    os.environ.pop("LICWIZ_TRUSTED_KEYS")
    try:
        r = off_licwiz("request", "--out", str(tmp_path / "r.req"), "--kit", KIT, "--pin", PIN,
                       "--operation", "first", "--owner-file", str(off_owner_file))
    finally:
        os.environ["LICWIZ_TRUSTED_KEYS"] = str(off_keys.trusted_dir)
    assert r.returncode != 0 and "sealing key" in r.stderr
    assert not (tmp_path / "r.req").exists()


def test_offline_cli_phone_round_trip(tmp_path: Path, off_keys: OffKeys, off_owner_file: Path) -> None:
    r = off_licwiz("request", "--phone", "--json", "--kit", KIT, "--last-pin", PIN, "--extra-pin",
                   off_pin(778), "--operation", "update", "--owner-file", str(off_owner_file))
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)["rows"]
    assert sum(map(len, rows)) <= 120
    # The operator's side: decode, check owner data, activate with method phone.
    preq = phonemsg.decode_request(rows)
    assert preq.owner_matches(OFF_OWNER) and preq.operation == "update"
    act = preq.activation_request(preq.pick_product([OFF_PRODUCT]), OFF_OWNER)
    signed = off_keys.sign_for(act, serial=2, supersedes=f"{KIT}-001")
    answer = phonemsg.response_rows(signed.license, signed.signature)
    assert sum(map(len, answer)) <= 200
    typed = [f"{i}: {phonecodes.format_row(a)}" for i, a in enumerate(answer, 1)]
    wrong = list(typed)
    wrong[4] = wrong[4][:-1] + str((int(wrong[4][-1]) + 3) % 10)
    r = off_licwiz("install", "--phone", stdin="\n".join(wrong) + "\n")
    assert r.returncode == 2 and "row 5" in r.stderr, r.stderr
    assert _installed() == []
    r = off_licwiz("install", "--phone", "--json", stdin="\n".join(typed) + "\n")
    assert r.returncode == 0, r.stderr
    lic = json.loads(r.stdout)["license"]
    assert (lic["license_id"], lic["method"], lic["supersedes"]) == (f"{KIT}-002", "phone", f"{KIT}-001")
    assert _installed()[0].read_text() == signed.text


def test_offline_phone_pending_survives_reopening(off_keys: OffKeys) -> None:
    """Reopening the wizard with the same data shows the same codes (one pending request)."""
    from licwiz.core import exchange
    from licwiz.core.request import ActivationRequest

    req = ActivationRequest(product=OFF_PRODUCT, regnum=KIT, pin=PIN, operation="first", owner=OFF_OWNER,
                            params=collect(OFF_PRODUCT))
    first, rows = exchange.start_phone(req)
    again, rows2 = exchange.start_phone(dataclasses.replace(req, nonce="other"))
    assert again.id == first.id and rows2 == rows
    assert len(list((state_dir() / "pending").glob("*.json"))) == 1
    moved = dataclasses.replace(req, owner=dataclasses.replace(OFF_OWNER, city="Malmö"))
    changed, rows3 = exchange.start_phone(moved)
    assert changed.id != first.id and rows3 != rows


def test_offline_cli_license_server_by_file_and_phone(
    tmp_path: Path, off_keys: OffKeys, off_owner_file: Path, license_server_factory: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A headless operator installs a license on a license server with the
    offline methods: the request binds the server's parameters, the answer is
    uploaded to the server, nothing lands on this computer."""
    srv = license_server_factory(None)
    sp = srv.start()
    monkeypatch.setenv("LICWIZ_SERVER_TOKEN", srv.admin_token)
    server = f"127.0.0.1:{sp.port}"
    admin = {"Authorization": f"Bearer {srv.admin_token}"}
    out = tmp_path / "server.req"
    r = off_licwiz("request", "--out", str(out), "--kit", KIT, "--pin", PIN, "--operation", "first",
                   "--owner-file", str(off_owner_file), "--server", server)
    assert r.returncode == 0, r.stderr
    req = off_keys.open(out.read_text())
    asked = httpx.get(f"{sp.url}/api/v1/parameters", params={"product": OFF_PRODUCT}, headers=admin)
    assert dict(req.params) == asked.json()["params"]
    lic_file = tmp_path / "server.lic"
    lic_file.write_text(off_keys.sign_for(req).text)
    r = off_licwiz("install", str(lic_file), "--scope", "user", "--server", server)
    assert r.returncode == 2 and "--scope" in r.stderr
    r = off_licwiz("install", str(lic_file), "--server", server, "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["license"]["server"] == server
    # An update by phone for the same server: the new license supersedes the first there.
    r = off_licwiz("request", "--phone", "--json", "--kit", KIT, "--last-pin", PIN, "--extra-pin",
                   off_pin(778), "--operation", "update", "--owner-file", str(off_owner_file),
                   "--server", server)
    assert r.returncode == 0, r.stderr
    preq = phonemsg.decode_request(json.loads(r.stdout)["rows"])
    act = preq.activation_request(preq.pick_product([OFF_PRODUCT]), OFF_OWNER)
    signed = off_keys.sign_for(act, serial=2, supersedes=f"{KIT}-001")
    answer = phonemsg.response_rows(signed.license, signed.signature)
    typed = "\n".join(phonecodes.format_row(a) for a in answer)
    r = off_licwiz("install", "--phone", "--server", server, stdin=typed + "\n")
    assert r.returncode == 0, r.stderr
    held = httpx.get(f"{sp.url}/api/v1/licenses", headers=admin).json()
    assert sorted(x["license_id"] for x in held["licenses"]) == [f"{KIT}-001", f"{KIT}-002"]
    assert held["capacity"] == {OFF_PRODUCT: 5}  # the superseded license no longer counts
    assert _installed() == [] and not list(license_dir("user").glob("*.lic"))
    assert not list((state_dir() / "pending").glob("*.json"))
    # The request really asks the server: with the server gone it says so and writes nothing.
    sp.kill()
    r = off_licwiz("request", "--out", str(tmp_path / "gone.req"), "--kit", KIT, "--pin", PIN,
                   "--operation", "first", "--owner-file", str(off_owner_file), "--server", server)
    assert r.returncode != 0 and "Traceback" not in r.stderr and server in r.stderr, r.stderr
    assert not (tmp_path / "gone.req").exists()


def test_request_names_the_centers_mailbox_and_page(tmp_path: Path, off_keys: OffKeys, off_owner_file: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 15: with "email" in center.json (here its environment variable) the
    command says to mail the file there, as the wizard's request-file step does."""
    monkeypatch.setenv("LICWIZ_CENTER_EMAIL", "licenses@vendor.example")
    monkeypatch.setenv("LICWIZ_CENTER_WEB", "https://center.vendor.example/")
    out = tmp_path / "mailed.req"
    r = off_licwiz("request", "--out", str(out), "--kit", KIT, "--pin", PIN, "--operation", "first",
                   "--owner-file", str(off_owner_file))
    assert r.returncode == 0, r.stderr
    assert "Send it as an attachment to licenses@vendor.example" in r.stdout
    assert "https://center.vendor.example/" in r.stdout
    monkeypatch.delenv("LICWIZ_CENTER_EMAIL")
    r = off_licwiz("request", "--out", str(tmp_path / "uploaded.req"), "--kit", KIT, "--pin", PIN,
                   "--operation", "first", "--owner-file", str(off_owner_file))
    assert r.returncode == 0 and "attachment" not in r.stdout and "web page" in r.stdout, r.stdout
