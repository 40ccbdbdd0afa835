"""``licwiz center mail --imap``: the desk reads a real IMAP server (a private
dovecot, tests/mail/conftest.py ``imap_server``) over STARTTLS or TLS, answers
through a real SMTP server (aiosmtpd) and marks what it handled in the mailbox."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow


def _imap(desk: Any, server: Any, tmp_path: Path, *extra: str, user: str = "desk", port: int = 0,
          password: str | None = None, env: dict[str, str] | None = None) -> Any:
    """``licwiz center mail --once`` on the IMAP mailbox instead of the Maildir."""
    import subprocess

    pw = tmp_path / f"imap-password-{user}"
    pw.write_text((server.users[user] if password is None else password) + "\n", encoding="utf-8")
    args = [a for a in desk.mail_args("--once") if a]
    at = args.index("--maildir")
    del args[at:at + 2]
    args += ["--imap", f"127.0.0.1:{port or server.imap}", "--user", user, "--password-file", str(pw),
             *extra]
    return subprocess.run(args, capture_output=True, text=True, env={**desk.env(), **(env or {})},
                          timeout=120)


def _logins(server: Any, user: str) -> list[str]:
    """The server's own record of each successful login of ``user``: "TLS" when it was encrypted."""
    return [line for line in server.log().splitlines() if "imap-login: Info: Login: " in line
            and f"user=<{user}>" in line]


def test_a_request_in_the_imap_mailbox_is_answered_once_over_starttls(desk: Any, imap_server: Any,
                                                                        tmp_path: Path) -> None:
    req = desk.request()
    msg = desk.message(attachments=(("licwiz-request.req", req.read_bytes()),))
    imap_server.deliver("desk", msg)
    imap_server.deliver("desk", msg)  # delivered twice: answered once
    before = len(_logins(imap_server, "desk"))
    r = _imap(desk, imap_server, tmp_path, "--cafile", str(imap_server.cert))  # auto: STARTTLS off 993
    assert r.returncode == 0, r.stderr
    [reply] = desk.sink.wait_for(1)
    assert reply["To"] == "asa.oberg@example.se" and reply["In-Reply-To"] == msg["Message-ID"]
    lic_id = f"{desk.kit.regnum}-001"
    files = desk.attachments_of(reply)
    assert list(files) == [f"{lic_id}.lic"]
    # The attachment is a license `licwiz install` accepts on the requesting computer.
    lic = tmp_path / f"{lic_id}.lic"
    lic.write_bytes(files[f"{lic_id}.lic"])
    inst = desk.licwiz("install", str(lic), "--scope", "user", "--json")
    assert inst.returncode == 0, inst.stderr
    assert json.loads(inst.stdout)["license"]["license_id"] == lic_id
    # Marked in the mailbox: the answered copy \Answered, the duplicate only \Seen.
    assert imap_server.flags("desk") == ["\\Answered \\Seen", "\\Seen"]
    new_logins = _logins(imap_server, "desk")[before:]
    assert new_logins and all(", TLS," in line for line in new_logins[:1]), new_logins
    codes = sorted(row["code"] for row in desk.audit() if row["event"] == "mail")
    assert codes == ["mail_answered", "mail_duplicate"]
    # Another pass finds nothing new; a third copy delivered later is still not answered.
    imap_server.deliver("desk", msg)
    assert _imap(desk, imap_server, tmp_path, "--cafile", str(imap_server.cert)).returncode == 0
    assert len(desk.sink.messages) == 1
    assert imap_server.flags("desk") == ["\\Answered \\Seen", "\\Seen", "\\Seen"]


def test_imap_over_tls_needs_the_certificate_trusted(desk: Any, imap_server: Any, tmp_path: Path) -> None:
    req = desk.request()
    imap_server.deliver("desk", desk.message(attachments=(("my.req", req.read_bytes()),)))
    tls = ("--imap-security", "tls")
    # The self-signed certificate is not trusted: nothing is read, the message waits, one clear line.
    r = _imap(desk, imap_server, tmp_path, *tls, port=imap_server.imaps)
    assert r.returncode == 1
    assert f"cannot reach the IMAP server 127.0.0.1:{imap_server.imaps}" in r.stderr
    assert "CERTIFICATE_VERIFY_FAILED" in r.stderr and "Traceback" not in r.stderr
    assert desk.sink.messages == [] and imap_server.flags("desk") == [""]
    # Trusted with --cafile: answered, and the server logged the login as TLS.
    r = _imap(desk, imap_server, tmp_path, *tls, "--cafile", str(imap_server.cert), port=imap_server.imaps)
    assert r.returncode == 0, r.stderr
    [reply] = desk.sink.wait_for(1)
    assert list(desk.attachments_of(reply)) == [f"{desk.kit.regnum}-001.lic"]
    assert imap_server.flags("desk") == ["\\Answered \\Seen"]
    assert _logins(imap_server, "desk") and ", TLS," in _logins(imap_server, "desk")[-1]


def test_a_wrong_imap_password_is_one_clear_line(desk: Any, imap_server: Any, tmp_path: Path) -> None:
    req = desk.request()
    imap_server.deliver("desk", desk.message(attachments=(("my.req", req.read_bytes()),)))
    r = _imap(desk, imap_server, tmp_path, "--cafile", str(imap_server.cert), password="not the password")
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert f"the IMAP server 127.0.0.1:{imap_server.imap} refused the login of 'desk'" in lines[0]
    assert "Authentication failed" in lines[0] and "b'" not in lines[0]
    assert "not the password" not in r.stderr + r.stdout
    # In the operator's language (the server's own words stay as they are).
    r = _imap(desk, imap_server, tmp_path, "--cafile", str(imap_server.cert), password="not the password",
              env={"LANG": "ru_RU.UTF-8", "LC_ALL": "", "LANGUAGE": ""})
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 1 and len(lines) == 1, r.stderr
    assert f"IMAP-сервер 127.0.0.1:{imap_server.imap} отклонил вход пользователя 'desk'" in lines[0]
    # Nothing was read or answered: the message waits for a pass with the right password.
    assert desk.sink.messages == [] and imap_server.flags("desk") == [""]
    r = _imap(desk, imap_server, tmp_path, "--cafile", str(imap_server.cert))
    assert r.returncode == 0, r.stderr
    assert len(desk.sink.wait_for(1)) == 1


def test_a_password_outside_ascii_from_the_environment(desk: Any, imap_server: Any, tmp_path: Path) -> None:
    """imaplib's LOGIN sends ASCII only: such a password goes by AUTHENTICATE PLAIN in UTF-8."""
    import subprocess

    req = desk.request()
    imap_server.deliver("bureau", desk.message(attachments=(("my.req", req.read_bytes()),)))
    args = [a for a in desk.mail_args("--once")]
    at = args.index("--maildir")
    del args[at:at + 2]
    args += ["--imap", f"127.0.0.1:{imap_server.imap}", "--user", "bureau", "--imap-security", "starttls",
             "--cafile", str(imap_server.cert)]
    env = {**desk.env(), "LICWIZ_IMAP_PASSWORD": imap_server.users["bureau"]}
    r = subprocess.run(args, capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    assert len(desk.sink.wait_for(1)) == 1
    assert imap_server.flags("bureau") == ["\\Answered \\Seen"]
    assert imap_server.users["bureau"] not in r.stderr + r.stdout


def test_an_imap_server_that_cannot_check_passwords_is_an_outage(desk: Any, imap_server: Any,
                                                                tmp_path: Path) -> None:
    """[UNAVAILABLE] (RFC 5530: the server's password back end is down) stops the pass as an
    unreachable server does (the timer's next run tries again), not as a wrong password."""
    r = _imap(desk, imap_server, tmp_path, "--cafile", str(imap_server.cert), user="outage-desk",
              password="whatever")
    assert r.returncode == 1
    assert "cannot log in anyone just now" in r.stderr and "nothing was read" in r.stderr, r.stderr
    assert "refused the login" not in r.stderr and "Traceback" not in r.stderr
