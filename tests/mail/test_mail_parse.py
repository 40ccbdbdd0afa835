"""center/mail_parse.py on messages built with the ``email`` package: what is a
request, what is not, and which messages must never be answered (in-process:
pure functions on bytes)."""

from __future__ import annotations

from email.message import EmailMessage

import pytest
from licwiz.center.mail_parse import MAX_REQUESTS, armoured_blocks, parse

ARMOUR = ("-----BEGIN LICWIZ LICENSE REQUEST-----\nKey-Id: 0123456789abcdef\n"
          + "QUJD" * 16 + "\nREVG\n-----END LICWIZ LICENSE REQUEST-----\n")


def _msg(text: str = "hi", **headers: str) -> EmailMessage:
    m = EmailMessage()
    m["From"] = headers.pop("From", "Asa <asa@example.se>")
    m["Message-ID"] = headers.pop("Message_ID", "<1@example.se>")
    for k, v in headers.items():
        m[k.replace("_", "-")] = v
    m.set_content(text)
    return m


def test_a_request_quoted_in_a_reply_with_crlf_and_blank_lines_is_the_file_itself() -> None:
    quoted = "\r\n".join("> " + ln if n % 2 else ">" + ln for n, ln in enumerate(ARMOUR.splitlines()))
    assert armoured_blocks("Earlier you wrote:\r\n" + quoted.replace("Key-Id", "\r\nKey-Id")) == [ARMOUR]


def test_a_damaged_block_is_no_request() -> None:
    assert armoured_blocks(ARMOUR.replace("REVG", "RE VG!")) == []
    assert armoured_blocks(ARMOUR.replace("-----END LICWIZ LICENSE REQUEST-----", "")) == []


def test_the_same_request_in_text_html_and_attachment_counts_once() -> None:
    m = _msg(ARMOUR)
    m.add_alternative("<p>" + ARMOUR.replace("\n", "<br>") + "</p>", subtype="html")
    m.add_attachment(ARMOUR.encode(), maintype="application", subtype="octet-stream", filename="a.req")
    p = parse(m.as_bytes())
    assert [f.text for f in p.requests] == [ARMOUR] and p.problems == []


def test_at_most_max_requests_are_opened() -> None:
    m = _msg("many")
    for n in range(MAX_REQUESTS + 2):
        m.add_attachment(ARMOUR.replace("REVG", f"REV{chr(65 + n)}").encode(), maintype="application",
                         subtype="octet-stream", filename=f"{n}.req")
    p = parse(m.as_bytes())
    assert len(p.requests) == MAX_REQUESTS and p.skipped_requests == 2


@pytest.mark.parametrize(("headers", "reason"), [
    ({"Auto_Submitted": "auto-generated"}, "auto_submitted"),
    ({"Auto_Submitted": "auto-replied; owner-email=x@y.z"}, "auto_submitted"),
    ({"Precedence": "list"}, "precedence"),
    ({"Return_Path": "<>"}, "empty_return_path"),
    ({"X_Autoreply": "yes"}, "auto_submitted"),
    ({"From": "MAILER-DAEMON@mx.example.se"}, "auto_submitted"),
    ({"Reply_To": "LICENSES@vendor.example"}, "own_address"),
    ({"From": "no address here"}, "no_sender"),
])
def test_never_answered(headers: dict[str, str], reason: str) -> None:
    assert parse(_msg(ARMOUR, **headers).as_bytes(), "licenses@vendor.example").no_answer == reason


def test_identity_is_message_id_and_sender() -> None:
    a = parse(_msg(ARMOUR).as_bytes())
    assert parse(_msg(ARMOUR, Received="from mx2").as_bytes()).key == a.key  # delivered again
    assert parse(_msg(ARMOUR, From="eve@example.org").as_bytes()).key != a.key  # same id, other sender
    assert parse(_msg(ARMOUR, Message_ID="<2@example.se>").as_bytes()).key != a.key


def test_garbage_is_read_without_a_traceback() -> None:
    raw = (b"From: a@b.example\r\nMessage-ID: <x>\r\nContent-Type: multipart/mixed; boundary=zz\r\n\r\n"
           b"--zz\r\nContent-Type: text/plain; charset=no-such-charset\r\n"
           b"Content-Transfer-Encoding: base64\r\n\r\n!!!not base64\r\n"
           b"--zz\r\nContent-Type: text/html\r\n\r\n<p><<<>\x00\xff\r\n" + ARMOUR.encode() + b"\r\n--zz")
    p = parse(raw)
    assert p.reply_to == "a@b.example" and [f.text for f in p.requests] == [ARMOUR]
