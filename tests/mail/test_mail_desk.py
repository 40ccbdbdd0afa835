"""``licwiz center mail`` end to end: a request file written by ``licwiz request``
(with the center's real keys), mailed into a real Maildir, answered by the real
command against a real center database (``licwiz center init``), the reply
caught by a real SMTP server (aiosmtpd) and its attachment installed by
``licwiz install``. (``desk``: tests/mail/conftest.py.)"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from support.tls import self_signed


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


def test_the_same_message_delivered_twice_is_answered_once(desk: Any) -> None:
    req = desk.request()
    msg = desk.message(attachments=(("my.req", req.read_bytes()),))
    first, second = desk.deliver(msg), desk.deliver(msg)  # the MTA delivered it twice
    assert desk.mail().returncode == 0
    assert len(desk.sink.wait_for(1)) == 1
    # Both copies are done; only one was answered (R).
    assert sorted(desk.flags().values()) == ["RS", "S"] and set(desk.flags()) == {first, second}
    codes = sorted(r["code"] for r in desk.audit() if r["event"] == "mail")
    assert codes == ["mail_answered", "mail_duplicate"]
    # Delivered a third time, days later: still not answered again.
    desk.deliver(msg)
    assert desk.mail().returncode == 0
    assert len(desk.sink.messages) == 1


def test_the_same_request_in_a_new_message_gives_the_same_license(desk: Any) -> None:
    req = desk.request()
    for n in range(2):
        desk.deliver(desk.message(subject=f"try {n}", attachments=(("my.req", req.read_bytes()),)))
        assert desk.mail().returncode == 0
    one, two = desk.sink.wait_for(2)
    assert desk.attachments_of(one) == desk.attachments_of(two)  # the same signed license, byte for byte
    assert "answered before" in desk.body_of(two) and "no further PIN code was used" in desk.body_of(two)
    lics = json.loads(desk.center.cli("license", "list", "--json").stdout)
    assert len(lics) == 1  # one PIN spent


def test_a_refused_pin_is_answered_in_words(desk: Any) -> None:
    other = desk.center.create_kit(pins=1)
    # A PIN of another kit: well-formed (the client checks digits), unknown to this kit.
    req = desk.request(pin=other.single_pins[0])
    desk.deliver(desk.message(attachments=(("my.req", req.read_bytes()),)))
    assert desk.mail().returncode == 0
    [reply] = desk.sink.wait_for(1)
    assert desk.attachments_of(reply) == {}
    text = desk.body_of(reply)
    assert "refused: This PIN code does not belong to this registration number" in text
    assert "Error code: pin_unknown" in text
    rid = text.split("Request id: ")[1].split()[0]
    assert rid.startswith("mail-")
    refuse = [r for r in desk.audit() if r["event"] == "refuse"]
    assert [(r["code"], r["request_id"], r["actor"]) for r in refuse] == [("pin_unknown", rid, "mail")]


def test_html_only_message_with_the_request_pasted_in_its_body(desk: Any) -> None:
    req = desk.request().read_text()
    # What a web mail client makes of a paste: one <div> (or <br>) per line, entities, no text part.
    body = "".join(f"<div>{line}</div>" if line else "<div><br></div>" for line in req.splitlines())
    html = f"<html><head><style>p {{}}</style></head><body><p>Hi,&nbsp;here it is:</p>{body}</body></html>"
    desk.deliver(desk.message(text=None, html=html))
    assert desk.mail().returncode == 0
    [reply] = desk.sink.wait_for(1)
    assert list(desk.attachments_of(reply)) == [f"{desk.kit.regnum}-001.lic"]


def test_several_requests_in_one_message_are_each_answered(desk: Any) -> None:
    good = desk.request(pin=desk.kit.single_pins[1], name="a.req").read_text()
    other = desk.center.create_kit(pins=1)
    second = desk.request(pin=other.single_pins[0], kit=other, name="b.req").read_bytes()
    refused = desk.request(pin=other.single_pins[0], name="c.req").read_bytes()  # other kit's PIN: refused
    desk.deliver(desk.message(text=f"Pasted:\n\n{good}\n", attachments=(
        ("b.req", second), ("c.req", refused), ("notes.req", b"just some text"))))
    assert desk.mail().returncode == 0
    [reply] = desk.sink.wait_for(1)
    expected = sorted([f"{desk.kit.regnum}-001.lic", f"{other.regnum}-001.lic"])
    assert sorted(desk.attachments_of(reply)) == expected
    text = desk.body_of(reply)
    assert "4 license requests: 2 answered with a license, 2 refused" in text
    assert "Error code: pin_unknown" in text and "Error code: bad_request_file" in text
    assert "attachment notes.req" in text


def test_a_10_mb_attachment_is_refused_in_words(desk: Any) -> None:
    desk.deliver(desk.message(attachments=(("big.req", b"A" * (10 * 1024 * 1024)),)))
    assert desk.mail().returncode == 0
    [reply] = desk.sink.wait_for(1)
    text = desk.body_of(reply)
    assert "attachment big.req was refused: This is too large to be a license request file" in text
    assert "Error code: attachment_too_large" in text
    assert len(reply.as_bytes()) < 16 * 1024  # nothing of it is echoed back


def test_auto_replies_bounces_lists_and_ourselves_are_never_answered(desk: Any) -> None:
    req = desk.request().read_bytes()
    att = (("my.req", req),)
    cases = {
        "auto_submitted": desk.message(attachments=att, headers={"Auto-Submitted": "auto-replied"}),
        "precedence": desk.message(attachments=att, headers={"Precedence": "bulk"}),
        "empty_return_path": desk.message(attachments=att, headers={"Return-Path": "<>"}),
        "own_address": desk.message(attachments=att, sender=f"Licensing Center <{desk.address}>"),
        "junk": desk.message(attachments=att, headers={"Precedence": "junk"}),
    }
    for msg in cases.values():
        desk.deliver(msg)
    # A human message still gets an answer in the same pass (the loop guard is per message).
    desk.deliver(desk.message(attachments=att, headers={"Auto-Submitted": "no"}))
    assert desk.mail().returncode == 0
    assert len(desk.sink.wait_for(1)) == 1
    codes = sorted(r["code"] for r in desk.audit() if r["event"] == "mail")
    assert codes == sorted(["mail_answered", "mail_auto_submitted", "mail_precedence",
                            "mail_empty_return_path", "mail_own_address", "mail_precedence"])
    assert all("S" in f for f in desk.flags().values()) and len(desk.flags()) == 6
    assert len(json.loads(desk.center.cli("license", "list", "--json").stdout)) == 1


def test_no_request_is_answered_once_with_how_to_make_one(desk: Any) -> None:
    desk.deliver(desk.message(text="How do I get my license?"))
    desk.deliver(desk.message(text="Hello again?"))
    assert desk.mail().returncode == 0
    [reply] = desk.sink.wait_for(1)
    text = desk.body_of(reply)
    assert "holds no license request" in text and "licwiz request --kit" in text and desk.address in text
    codes = sorted(r["code"] for r in desk.audit() if r["event"] == "mail")
    assert codes == ["mail_help", "mail_help_repeat"]


def test_a_sender_over_mail_max_per_hour_is_not_answered(desk: Any) -> None:
    desk.center.config_set("mail_max_per_hour", "2")
    req = desk.request().read_bytes()
    for n in range(3):
        desk.deliver(desk.message(subject=f"n{n}", attachments=(("my.req", req),)))
    desk.deliver(desk.message(sender="someone.else@example.org", attachments=(("my.req", req),)))
    assert desk.mail().returncode == 0
    replies = desk.sink.wait_for(3)
    to = sorted(str(m["To"]) for m in replies)
    assert to == ["asa.oberg@example.se"] * 2 + ["someone.else@example.org"]
    codes = sorted(r["code"] for r in desk.audit() if r["event"] == "mail")
    assert codes == ["mail_answered"] * 3 + ["mail_rate_limited"]


def test_replies_go_through_starttls_with_a_login(desk: Any, smtp_factory: Any, tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    desk.sink = smtp_factory(tls=(cert, key), login=("desk", "s3cret pass"))
    pw = tmp_path / "smtp-password"
    pw.write_text("s3cret pass\n")
    req = desk.request()
    desk.deliver(desk.message(attachments=(("my.req", req.read_bytes()),)))
    base = ("--smtp-security", "starttls", "--smtp-user", "desk", "--smtp-password-file", str(pw))
    # Without trusting the server's certificate nothing is sent, and the message waits for the next pass.
    r = desk.mail(*base)
    assert r.returncode == 1 and "CERTIFICATE_VERIFY_FAILED" in r.stderr, r.stderr
    assert desk.sink.messages == [] and desk.flags() and all("S" not in f for f in desk.flags().values())
    r = desk.mail(*base, "--cafile", str(cert))
    assert r.returncode == 0, r.stderr
    [reply] = desk.sink.wait_for(1)
    assert list(desk.attachments_of(reply)) == [f"{desk.kit.regnum}-001.lic"]
    assert "s3cret" not in r.stderr + r.stdout
    # A password in clear to a server elsewhere is refused before anything is read.
    r = desk.mail("--smtp-user", "desk", "--smtp-password-file", str(pw), "--smtp-security", "none",
                  "--smtp", "192.0.2.1:25")
    assert r.returncode == 1 and "in clear" in r.stderr
