"""``licwiz center mail`` end to end: a request file written by ``licwiz request``
(with the center's real keys), mailed into a real Maildir, answered by the real
command against a real center database (``licwiz center init``), the reply
caught by a real SMTP server (aiosmtpd) and its attachment installed by
``licwiz install``. (``desk``: tests/mail/conftest.py.)"""

from __future__ import annotations

import json
from typing import Any


def _install(desk: Any, name: str, data: bytes) -> dict[str, Any]:
    path = desk.tmp / name
    path.write_bytes(data)
    r = desk.licwiz("install", str(path), "--scope", "user", "--json")
    assert r.returncode == 0, r.stderr
    return dict(json.loads(r.stdout))


def test_request_by_mail_is_answered_with_a_license_that_installs(desk: Any) -> None:
    req = desk.request()
    msg = desk.message(text="Please find my request attached.",
                       attachments=(("licwiz-request.req", req.read_bytes()),),
                       headers={"Reply-To": "it-desk@example.se"})
    name = desk.deliver(msg)
    r = desk.mail()
    assert r.returncode == 0, r.stderr
    [reply] = desk.sink.wait_for(1)
    # Reply-To wins over From; the envelope sender is the desk's own address.
    assert reply["To"] == "it-desk@example.se"
    assert desk.sink.envelopes[0] == (desk.address, ["it-desk@example.se"])
    assert reply["In-Reply-To"] == msg["Message-ID"] and reply["Auto-Submitted"] == "auto-replied"
    lic_id = f"{desk.kit.regnum}-001"
    files = desk.attachments_of(reply)
    assert list(files) == [f"{lic_id}.lic"]
    text = desk.body_of(reply)
    assert f"License {lic_id}" in text and "Specify license details file" in text
    assert f"licwiz install {lic_id}.lic" in text or "licwiz install FILE.lic" in text
    # The license the reply carries installs on the computer that made the request.
    doc = _install(desk, f"{lic_id}.lic", files[f"{lic_id}.lic"])
    assert doc["license"]["license_id"] == lic_id and doc["license"]["method"] == "file"
    # Done in the mailbox: seen and replied; audited without the address.
    assert desk.flags() == {name: "RS"}
    rows = desk.audit()
    mail_rows = [r for r in rows if r["event"] == "mail"]
    assert [r["code"] for r in mail_rows] == ["mail_answered"]
    issue = [r for r in rows if r["event"] == "issue"]
    assert issue and issue[0]["actor"] == "mail" and issue[0]["license_id"] == lic_id
    assert "asa" not in json.dumps(rows).lower() and "it-desk" not in json.dumps(rows)
    assert "asa" not in (r.stderr + r.stdout).lower() and "it-desk" not in r.stderr
    # A second pass finds nothing to do.
    assert desk.mail().returncode == 0
    assert len(desk.sink.messages) == 1
