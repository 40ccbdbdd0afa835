"""The center's web page (/) and operator console (/operator) over plain HTTP
against a real ``licwiz center serve`` (no JavaScript: what a text browser or a
script sees). The browser round trips are in test_offline_roundtrip_browser.py."""

from __future__ import annotations

import dataclasses
import html
import re
from pathlib import Path

import httpx
import pytest
from licwiz.core import exchange, phonecodes, phonemsg
from licwiz.core.fingerprint import collect
from licwiz.core.request import ActivationRequest
from licwiz.core.storage import license_dir
from support.fixtures_center import CenterProcess
from support.fixtures_offline import OFF_OWNER, OFF_PRODUCT


@pytest.fixture
def trust_center(center: CenterProcess, monkeypatch: pytest.MonkeyPatch) -> CenterProcess:
    monkeypatch.setenv("LICWIZ_TRUSTED_KEYS", str(center.trusted_keys))
    monkeypatch.setenv("LICWIZ_PRODUCT", OFF_PRODUCT)
    return center


def _req(regnum: str, pin: str, operation: str = "first", extra_pin: str | None = None) -> ActivationRequest:
    return ActivationRequest(product=OFF_PRODUCT, regnum=regnum, pin=pin, operation=operation,
                             owner=OFF_OWNER, params=collect(OFF_PRODUCT), extra_pin=extra_pin)


def _request_text(req: ActivationRequest, dest: Path) -> str:
    return Path(exchange.write_request_file(req, dest).request_file).read_text()


def _license_from_page(page: str) -> str:
    m = re.search(r'<textarea name="license" hidden readonly>(.*?)</textarea>', page, re.S)
    assert m, page
    return html.unescape(m.group(1))


def _upload(center: CenterProcess, text: str | bytes, name: str = "r.req") -> httpx.Response:
    return httpx.post(f"{center.url}/", files={"request_file": (name, text, "text/plain")}, timeout=30)


async def test_offline_web_page_file_round_trip(trust_center: CenterProcess, tmp_path: Path) -> None:
    center = trust_center
    kit = center.create_kit(users=5)
    page = httpx.get(f"{center.url}/", timeout=10)
    assert page.status_code == 200 and "Browse for the license request file" in page.text
    assert 'enctype="multipart/form-data"' in page.text and "<script" not in page.text
    assert 'name="viewport"' in page.text
    assert httpx.get(f"{center.url}/static/center.css", timeout=10).status_code == 200
    pending = exchange.write_request_file(_req(kit.regnum, kit.multi_pins[0]), tmp_path)
    text = Path(pending.request_file).read_text()
    r = _upload(center, text)
    assert r.status_code == 200, r.text
    assert "Save license data file" in r.text and f"{kit.regnum}-001" in r.text
    lic_text = _license_from_page(r.text)
    # The same file again: the same license, no second PIN.
    again = _upload(center, text)
    assert again.status_code == 200 and _license_from_page(again.text) == lic_text
    assert "already answered" in again.text
    dl = httpx.post(f"{center.url}/license-file", data={"license": lic_text}, timeout=10)
    assert dl.status_code == 200
    assert dl.headers["content-disposition"] == f'attachment; filename="{kit.regnum}-001.lic"'
    assert dl.text == lic_text
    outcome, used = await exchange.install_answer_text(dl.text, product=OFF_PRODUCT, target="all-users")
    assert used is not None and used.id == pending.id
    assert outcome.license.method == "file" and outcome.license.users == 5
    assert (license_dir("all-users") / f"{kit.regnum}-001.lic").read_text() == lic_text


def test_offline_web_page_refusals_in_words(trust_center: CenterProcess, tmp_path: Path) -> None:
    center = trust_center
    kit = center.create_kit()
    text = _request_text(_req(kit.regnum, kit.single_pins[0]), tmp_path)
    lines = text.splitlines()
    body = lines[2]
    flipped = "\n".join([*lines[:2], body[:10] + ("A" if body[10] != "A" else "B") + body[11:], *lines[3:]])
    cases = [
        (flipped + "\n", "damaged or was altered"),
        ("\n".join(lines[:3]) + "\n", "cannot be read"),
        ("hello world\n", "cannot be read"),
        (b"\x00\xff\x00binary", "not a license request file"),
        ("", "No license request file was chosen"),
    ]
    for payload, words in cases:
        r = _upload(center, payload)
        assert r.status_code >= 400
        assert words in html.unescape(r.text), (words, r.text)
        assert "Save license data file" not in r.text and "Traceback" not in r.text
    ok = _upload(center, text)
    assert ok.status_code == 200
    # The same PIN in a new request (a new nonce): the PIN is used.
    text2 = Path(exchange.write_request_file(_req(kit.regnum, kit.single_pins[0]), tmp_path / "b.req")
                 .request_file).read_text()
    used = _upload(center, text2)
    assert used.status_code == 409 and "already been used" in html.unescape(used.text)
    # Only licenses of this center are served back as downloads.
    forged = _license_from_page(ok.text).replace('"users":1', '"users":9')
    r = httpx.post(f"{center.url}/license-file", data={"license": forged}, timeout=10)
    assert r.status_code >= 400 and "content-disposition" not in r.headers


def _operator(center: CenterProcess, name: str) -> httpx.Client:
    out = center.cli("operator", "add", name).stdout
    token = out.strip().split()[-1]
    c = httpx.Client(base_url=center.url, timeout=30)
    bad = c.post("/operator/login", data={"token": "nope"})
    assert bad.status_code == 401 and "Unknown or disabled operator token" in bad.text
    r = c.post("/operator/login", data={"token": token})
    assert r.status_code == 303
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    return c


def _csrf(page: str) -> str:
    m = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
    assert m
    return m.group(1)


async def test_offline_operator_console_without_js(trust_center: CenterProcess, tmp_path: Path) -> None:
    center = trust_center
    kit = center.create_kit(users=10, pins=4)
    assert httpx.get(f"{center.url}/operator", timeout=10).text.count("Operator token") == 1
    anon = httpx.post(f"{center.url}/operator", data={"row1": "1"}, timeout=10)
    assert anon.status_code == 401
    c = _operator(center, "alice")
    page = c.get("/operator")
    assert page.status_code == 200 and "Operator alice" in page.text
    csrf = _csrf(page.text)
    pending, rows = exchange.start_phone(_req(kit.regnum, kit.multi_pins[0]))
    owner = {n: getattr(OFF_OWNER, n) for n in OFF_OWNER.field_names()}
    form = {"csrf": csrf, **owner, **{f"row{i}": phonecodes.format_row(r) for i, r in enumerate(rows, 1)}}
    # No CSRF token: refused, nothing issued.
    r = c.post("/operator", data={**form, "csrf": "0" * 64})
    assert r.status_code == 403
    # A misheard digit in row 2: named by number.
    typo = dict(form)
    typo["row2"] = rows[1][:3] + str((int(rows[1][3]) + 1) % 10) + rows[1][4:]
    r = c.post("/operator", data=typo)
    assert r.status_code == 400 and "Check digit wrong in row 2" in r.text
    assert 'id="row2" name="row2"' in r.text and "wrong: read row 2 again" in r.text
    # The owner data dictated with a typo: caught before issuing.
    r = c.post("/operator", data={**form, "city": "Stokholm"})
    assert r.status_code == 400 and "does not match what the customer" in r.text
    r = c.post("/operator", data={**form, "email": ""})
    assert r.status_code == 400 and "E-mail: required" in html.unescape(r.text)
    r = c.post("/operator", data=form)
    assert r.status_code == 200, r.text
    got = re.findall(r'<td class="digits">([0-9 ]+)</td>', r.text)
    assert got and sum(len(g.replace(" ", "")) for g in got) <= 200
    outcome, _ = await exchange.install_phone_answer(got, [pending], target="user")
    assert outcome.license.method == "phone" and outcome.license.users == 10
    assert all(len(v) == 4 for v in outcome.license.params.values())
    # Reading the same code again (a dropped call): the same answer, no new PIN.
    r2 = c.post("/operator", data={**form, "csrf": _csrf(r.text)})
    assert re.findall(r'<td class="digits">([0-9 ]+)</td>', r2.text) == got
    # Recovery by phone (a new computer disk, the same parameters): the same license again.
    first_text = (license_dir("user") / f"{kit.regnum}-001.lic").read_text()
    pending, rows = exchange.start_phone(_req(kit.regnum, kit.multi_pins[0], "recover"))
    form = {"csrf": _csrf(r2.text), **owner, **{f"row{i}": x for i, x in enumerate(rows, 1)}}
    r3 = c.post("/operator", data=form)
    assert r3.status_code == 200, r3.text
    got = re.findall(r'<td class="digits">([0-9 ]+)</td>', r3.text)
    (license_dir("user") / f"{kit.regnum}-001.lic").unlink()
    outcome, _ = await exchange.install_phone_answer(got, [pending], target="user")
    assert outcome.text == first_text
    # Update by phone with an extra PIN: a new license that replaces the old one.
    pending, rows = exchange.start_phone(_req(kit.regnum, kit.multi_pins[0], "update", kit.multi_pins[1]))
    assert sum(map(len, rows)) <= 120
    form = {"csrf": _csrf(r3.text), **owner, **{f"row{i}": x for i, x in enumerate(rows, 1)}}
    r4 = c.post("/operator", data=form)
    assert r4.status_code == 200, r4.text
    got = re.findall(r'<td class="digits">([0-9 ]+)</td>', r4.text)
    outcome, _ = await exchange.install_phone_answer(got, [pending], target="user")
    assert outcome.license.license_id == f"{kit.regnum}-002"
    assert outcome.license.supersedes == f"{kit.regnum}-001" and outcome.license.method == "phone"
    # The phone license may not be updated by file (method lock), in words on the page.
    text = _request_text(_req(kit.regnum, kit.multi_pins[1], "update", kit.multi_pins[2]), tmp_path)
    locked = _upload(center, text)
    assert locked.status_code >= 400 and "phone" in html.unescape(locked.text).lower()
    assert "Save license data file" not in locked.text
    # Logging out ends the session.
    c.post("/operator/logout", data={"csrf": _csrf(r4.text)})
    assert "Operator token" in c.get("/operator").text


def test_offline_operator_refuses_wrong_product_and_locked_method(
    trust_center: CenterProcess, tmp_path: Path
) -> None:
    center = trust_center
    kit = center.create_kit(users=1, pins=3)
    c = _operator(center, "bob")
    csrf = _csrf(c.get("/operator").text)
    owner = {n: getattr(OFF_OWNER, n) for n in OFF_OWNER.field_names()}
    other = dataclasses.replace(_req(kit.regnum, kit.single_pins[0]), product="another-product")
    rows = phonemsg.request_rows(other)
    r = c.post("/operator", data={"csrf": csrf, **owner, **{f"row{i}": x for i, x in enumerate(rows, 1)}})
    assert r.status_code >= 400 and "another product" in r.text
    # A license acquired by file may not be recovered by phone (method lock).
    text = _request_text(_req(kit.regnum, kit.single_pins[0]), tmp_path)
    assert _upload(center, text).status_code == 200
    rows = phonemsg.request_rows(_req(kit.regnum, kit.single_pins[0], "recover"))
    r = c.post("/operator", data={"csrf": csrf, **owner, **{f"row{i}": x for i, x in enumerate(rows, 1)}})
    assert r.status_code >= 400 and "digits" not in r.text.split("<form")[0]
    assert "method" in html.unescape(r.text).lower()
