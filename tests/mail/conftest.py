"""Fixtures of the e-mail desk tests (owner: mail).

- ``smtp_sink``: a real SMTP server (aiosmtpd) on a free loopback port that
  keeps every message it accepts: ``.port``, ``.messages`` (parsed),
  ``.wait_for(n, timeout)``; ``.hold`` (a threading.Event): while cleared,
  the server holds its 250 for each message it has received whole and kept.
- ``desk``: a real center database and keys (``licwiz center init``; no
  ``serve``), a kit, a Maildir, the owner file, and helpers: ``.request()``
  runs ``licwiz request`` with the center's trusted keys, ``.deliver(msg)``
  drops a message into ``new/`` as an MTA does, ``.mail(*args)`` runs
  ``licwiz center mail --once`` (``.start(...)`` with ``--interval``).
"""

from __future__ import annotations

import email
import email.policy
import email.utils
import imaplib
import mailbox
import os
import shutil
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from licwiz.core.owner import save_file
from support.fixtures_center import CenterProcess, Kit, free_port
from support.fixtures_offline import OFF_OWNER

DESK = "licenses@vendor.example"
CUSTOMER = "Åsa Öberg <asa.oberg@example.se>"


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        import asyncio

        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.sink.lock:  # queued, as an MTA would, before it says so
            self.sink.messages.append(msg)
            self.sink.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        while not self.sink.hold.is_set():  # the test holds the 250 (a crash in that window)
            self.sink.holding.set()
            await asyncio.sleep(0.02)
        return "250 OK"


@dataclass
class SmtpSink:
    port: int = 0
    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    hold: threading.Event = field(default_factory=threading.Event)
    holding: threading.Event = field(default_factory=threading.Event)

    def wait_for(self, n: int, timeout: float = 30.0) -> list[EmailMessage]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.messages) >= n:
                    return list(self.messages)
            time.sleep(0.05)
        raise AssertionError(f"expected {n} replies, got {len(self.messages)} in {timeout}s")


@pytest.fixture
def smtp_factory() -> Iterator[Callable[..., SmtpSink]]:
    """``make(tls=(cert, key), login=(user, password))``: a sink that requires
    STARTTLS and then that login (aiosmtpd's own checks)."""
    controllers: list[tuple[Controller, SmtpSink]] = []

    def make(tls: tuple[Path, Path] | None = None, login: tuple[str, str] | None = None) -> SmtpSink:
        sink = SmtpSink(port=free_port())
        sink.hold.set()
        kw: dict[str, Any] = {}
        if tls:
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.load_cert_chain(str(tls[0]), str(tls[1]))
            kw.update(tls_context=ctx, require_starttls=True)
        if login:
            def check(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
                ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
                    login[0].encode(), login[1].encode())
                return AuthResult(success=ok, handled=False)

            kw.update(authenticator=check, auth_required=True, auth_require_tls=True)
        ctl = Controller(_Handler(sink), hostname="127.0.0.1", port=sink.port, data_size_limit=10_000_000,
                         **kw)
        ctl.start()
        controllers.append((ctl, sink))
        return sink

    try:
        yield make
    finally:
        for ctl, sink in controllers:
            sink.hold.set()
            ctl.stop()


@pytest.fixture
def smtp_sink(smtp_factory: Callable[..., SmtpSink]) -> SmtpSink:
    return smtp_factory()


def mail_command() -> list[str]:
    """``licwiz center mail`` once cli/center.py has it, else the module on its own."""
    probe = subprocess.run([sys.executable, "-m", "licwiz.cli", "center", "mail", "--help"],
                           capture_output=True, text=True, timeout=60)
    if probe.returncode == 0:
        return [sys.executable, "-m", "licwiz.cli", "center", "mail"]
    return [sys.executable, "-m", "licwiz.cli.mail"]


_MAIL_CMD: list[str] = []


@dataclass
class Desk:
    center: CenterProcess
    kit: Kit
    maildir: Path
    owner_file: Path
    sink: SmtpSink
    tmp: Path
    address = DESK
    customer = CUSTOMER

    @staticmethod
    def message(*, sender: str = CUSTOMER, subject: str = "License request", text: str | None = "Hello",
                html: str | None = None, attachments: tuple[tuple[str, bytes], ...] = (),
                headers: dict[str, str] | None = None, msgid: str | None = None) -> EmailMessage:
        msg = EmailMessage()
        msg["From"] = sender
        msg["To"] = DESK
        msg["Subject"] = subject
        msg["Message-ID"] = msgid or email.utils.make_msgid(domain="example.se")
        if text is not None:
            msg.set_content(text)
        if html is not None:
            if text is None:
                msg.set_content(html, subtype="html")
            else:
                msg.add_alternative(html, subtype="html")
        for name, data in attachments:
            msg.add_attachment(data, maintype="application", subtype="octet-stream", filename=name)
        for k, v in (headers or {}).items():  # after the content: set_content drops Content-* headers
            msg[k] = v
        return msg


    @staticmethod
    def attachments_of(msg: EmailMessage) -> dict[str, bytes]:
        out = {}
        for part in msg.iter_attachments():
            data = part.get_payload(decode=True)
            assert isinstance(data, bytes)
            out[str(part.get_filename())] = data
        return out


    @staticmethod
    def body_of(msg: EmailMessage) -> str:
        """The plain text, whitespace runs (line ends of wrapped paragraphs) as one space."""
        part = msg.get_body(("plain",))
        assert part is not None
        return " ".join(str(part.get_content()).split())

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LICWIZ_CENTER_")}
        env["LICWIZ_TRUSTED_KEYS"] = str(self.center.trusted_keys)
        env["LICWIZ_PRODUCT"] = self.kit.product
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def licwiz(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "licwiz.cli", *args], capture_output=True, text=True,
                              env=self.env(), timeout=60)

    def request(self, pin: str | None = None, name: str = "my.req", kit: Kit | None = None) -> Path:
        kit = kit or self.kit
        out = self.tmp / name
        r = self.licwiz("request", "--out", str(out), "--kit", kit.regnum, "--pin",
                        pin or kit.single_pins[0], "--operation", "first", "--owner-file",
                        str(self.owner_file))
        assert r.returncode == 0, r.stderr
        return out

    def deliver(self, msg: EmailMessage) -> str:
        return mailbox.Maildir(self.maildir, create=True).add(msg)

    def mail_args(self, *extra: str) -> list[str]:
        if not _MAIL_CMD:
            _MAIL_CMD.extend(mail_command())
        return [*_MAIL_CMD, "--maildir", str(self.maildir), "--smtp", f"127.0.0.1:{self.sink.port}",
                "--db", self.center.db_url, "--home", str(self.center.home), *extra]

    def mail(self, *extra: str) -> subprocess.CompletedProcess[str]:
        args = self.mail_args(*extra) if "--interval" in extra else self.mail_args("--once", *extra)
        return subprocess.run(args, capture_output=True, text=True, env=self.env(), timeout=120)

    def start(self, interval: float = 0.2) -> subprocess.Popen[bytes]:
        out = (self.tmp / "mail.out").open("ab")
        proc = subprocess.Popen(self.mail_args("--interval", str(interval)), stdout=out,
                                stderr=subprocess.STDOUT, env=self.env(), start_new_session=True)
        out.close()
        return proc

    def flags(self) -> dict[str, str]:
        """Maildir entries in cur/ by unique name: their flags."""
        out = {}
        for name in os.listdir(self.maildir / "cur"):
            base, _, flags = name.partition(":2,")
            out[base] = flags
        return out

    def audit(self) -> list[dict[str, Any]]:
        import json

        return list(json.loads(self.center.cli("audit", "--json", "--limit", "500").stdout))


@pytest.fixture
def desk(tmp_path: Path, smtp_sink: SmtpSink) -> Desk:
    center = CenterProcess(tmp_path / "center")
    center.config_set("email", DESK)
    kit = center.create_kit(users=1, pins=5)
    owner = tmp_path / "owner.json"
    save_file(owner, OFF_OWNER)
    maildir = tmp_path / "Maildir"
    mailbox.Maildir(maildir, create=True)
    return Desk(center, kit, maildir, owner, smtp_sink, tmp_path)


# ---- a private IMAP server (Debian's dovecot-imapd), for ``--imap``


def dovecot_binary() -> str | None:
    return shutil.which("dovecot") or next(
        (p for p in ("/usr/sbin/dovecot", "/usr/local/sbin/dovecot") if os.access(p, os.X_OK)), None)


_DOVECOT_CONF = """\
base_dir = {base}/run
state_dir = {base}/state
log_path = {base}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = required
ssl_cert = <{base}/cert.pem
ssl_key = <{base}/key.pem
auth_mechanisms = plain login
default_internal_user = {internal}
default_login_user = {login}
first_valid_uid = 1
mail_location = maildir:~/Maildir
# Users named outage*: the password back end is down (checkpassword's "temporary problem").
passdb {{
  driver = checkpassword
  args = {base}/backend-down
  username_filter = outage*
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%n {base}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={base}/home/%n
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
}}
service auth {{
  user = {auth}
}}
"""


@dataclass
class ImapServer:
    """A private dovecot: ``.imap`` (STARTTLS) and ``.imaps`` (TLS) ports on
    127.0.0.1, its self-signed ``.cert``, users from ``.users`` (name -> password);
    any user named ``outage...`` gets "[UNAVAILABLE] Temporary authentication failure"."""

    base: Path
    cert: Path
    imap: int
    imaps: int
    users: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None

    def log(self) -> str:
        path = self.base / "dovecot.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def connect(self, user: str) -> imaplib.IMAP4:
        conn = imaplib.IMAP4("127.0.0.1", self.imap, timeout=30)
        conn.starttls(ssl_context=ssl.create_default_context(cafile=str(self.cert)))
        conn.authenticate("PLAIN", lambda _: b"\0" + user.encode() + b"\0" + self.users[user].encode())
        return conn

    def deliver(self, user: str, msg: EmailMessage) -> None:
        """Put the message into the user's INBOX as an MTA's delivery agent would (APPEND)."""
        conn = self.connect(user)
        try:
            typ, data = conn.append("INBOX", None, None, msg.as_bytes())
            assert typ == "OK", data
        finally:
            conn.logout()

    def flags(self, user: str) -> list[str]:
        """Each message's flags in UID order (``\\Recent`` left out)."""
        conn = self.connect(user)
        try:
            conn.select("INBOX", readonly=True)
            typ, data = conn.uid("FETCH", "1:*", "(FLAGS)")
            assert typ == "OK", data
        finally:
            conn.logout()
        out = []
        for line in data:
            if isinstance(line, bytes) and b"FLAGS" in line:
                flags = line.split(b"FLAGS (", 1)[1].split(b")", 1)[0].decode().split()
                out.append(" ".join(sorted(f for f in flags if f != "\\Recent")))
        return out


def _wait_listening(port: int, proc: subprocess.Popen[bytes], deadline: float, *, banner: bool) -> None:
    import socket

    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"dovecot exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                if not banner or s.recv(64).startswith(b"* OK"):
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"dovecot did not answer on port {port}")


@pytest.fixture
def imap_server() -> Iterator[ImapServer]:
    """Skipped only where dovecot is not installed (.ci/run installs it: a CI run fails instead)."""
    binary = dovecot_binary()
    if binary is None:
        if os.environ.get("CI") == "true":
            pytest.fail("dovecot is missing under CI (.ci/run installs dovecot-imapd)")
        pytest.skip("dovecot is not installed (apt-get install dovecot-imapd)")
    import pwd
    import tempfile

    from support.tls import self_signed

    # Not under tmp_path: dovecot's unprivileged login processes must reach the sockets in base_dir.
    base = Path(tempfile.mkdtemp(prefix="licwiz-dovecot-"))
    base.chmod(0o755)
    for sub in ("run", "state", "home"):
        (base / sub).mkdir()
    cert, _ = self_signed(base)
    users = {"desk": "s3cret pass", "bureau": "пароль-Åsa"}
    passwd = base / "passwd"
    passwd.write_text("".join(f"{u}:{{PLAIN}}{p}\n" for u, p in users.items()), encoding="utf-8")
    passwd.chmod(0o600)
    backend_down = base / "backend-down"
    backend_down.write_text("#!/bin/sh\nexit 111\n")
    backend_down.chmod(0o755)
    if os.getuid() == 0:
        # dovecot never runs mail or login processes as root: its own users, the auth process
        # stays root to read the 0600 passwd file.
        mail_user = pwd.getpwnam("dovecot")
        internal, login, auth, uid, gid = "dovecot", "dovenull", "root", mail_user.pw_uid, mail_user.pw_gid
        os.chown(base / "home", uid, gid)
    else:
        me = pwd.getpwuid(os.getuid()).pw_name
        internal = login = auth = me
        uid, gid = os.getuid(), os.getgid()
    server = ImapServer(base, cert, free_port(), free_port(), users)
    conf = base / "dovecot.conf"
    conf.write_text(_DOVECOT_CONF.format(base=base, internal=internal, login=login, auth=auth, uid=uid,
                                         gid=gid, imap=server.imap, imaps=server.imaps))
    out = (base / "dovecot.out").open("ab")
    server.proc = subprocess.Popen([binary, "-F", "-c", str(conf)], stdout=out, stderr=subprocess.STDOUT)
    out.close()
    try:
        deadline = time.monotonic() + 30
        _wait_listening(server.imap, server.proc, deadline, banner=True)
        _wait_listening(server.imaps, server.proc, deadline, banner=False)  # TLS first: no banner yet
        yield server
    finally:
        server.proc.terminate()
        try:
            server.proc.wait(30)
        except subprocess.TimeoutExpired:
            server.proc.kill()
            server.proc.wait(30)
        shutil.rmtree(base, ignore_errors=True)
