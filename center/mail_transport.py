"""Where ``licwiz center mail`` takes messages from and how it sends replies.

- ``Maildir(path)``: what an MTA (Postfix, Exim, ...) delivers. A message is
  claimed by renaming ``new/NAME`` to ``cur/NAME:2,`` (atomic: of two readers
  one wins) and marked done by adding the standard flags ``S`` (seen) and,
  when answered, ``R`` (replied). A message in ``cur/`` without ``S`` is one a
  stopped process had claimed: it is taken again first.
- ``Imap(...)``: an IMAP folder instead (TLS or STARTTLS). Messages are read
  with BODY.PEEK (reading does not mark them) and marked ``\\Seen``
  (``\\Answered`` when answered) when done; unseen ones are taken, in UID order.
  A refused login is ``LoginRefused`` (the command stops: retrying cannot fix a
  password); a server that cannot check passwords just now (RFC 5530
  ``[UNAVAILABLE]``) is an outage like an unreachable one. A user or password
  outside ASCII logs in by AUTHENTICATE PLAIN (UTF-8): imaplib's LOGIN is ASCII only.
- ``Smtp(...)``: sends a reply in steps so the one moment a crash leaves in
  doubt is as short as SMTP allows: everything is handed over except the final
  "." (without it the server drops the message), then ``before_commit`` runs
  (the caller records "sending"), then the "." is sent.
"""

from __future__ import annotations

import contextlib
import imaplib
import ipaddress
import os
import re
import smtplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from licwiz.core.errors import LicwizError
from licwiz.core.i18n import N_
from licwiz.core.message import Msg
from licwiz.core.text import printable

MAX_MESSAGE_BYTES = 32 * 1024 * 1024  # read whole up to here; a larger one only its start
HEAD_BYTES = 256 * 1024
Security = Literal["auto", "starttls", "tls", "none"]
SECURITY: tuple[Security, ...] = ("auto", "starttls", "tls", "none")


class MailError(LicwizError):
    code = "mail_transport"


class LoginRefused(MailError):
    """The server said no to the user and password: trying again will not help."""

    code = "mail_login_refused"


def server_text(exc: BaseException) -> str:
    """What a server (or imaplib for it) said, as one printable line: imaplib
    carries the server's words as bytes, or as a repr of them inside its own."""
    arg = exc.args[0] if isinstance(exc, imaplib.IMAP4.error) and exc.args else str(exc)
    text = arg.decode("utf-8", "replace") if isinstance(arg, bytes) else str(arg)
    text = re.sub(r"""\[?b(['"])(.*?)\1\]?""", r"\2", text)
    return printable(text)[:200]


class SendFailed(LicwizError):
    """The SMTP server refused the reply. ``temporary``: try again later;
    otherwise it will never be delivered (a bad address)."""

    code = "mail_send_failed"

    def __init__(self, brief: str, detail: str = "", *, temporary: bool) -> None:
        super().__init__(brief, detail, code=self.code)
        self.temporary = temporary


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_hostport(value: str, what: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise LicwizError(f"{what}: expected HOST:PORT, got {value!r}", code="usage")
    return host, int(port)


def tls_context(cafile: str | None) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=cafile or None)


# ---- mailboxes


@dataclass(frozen=True, slots=True)
class Item:
    source: str  # the mailbox's name for it (stable while it is claimed)
    raw: bytes
    whole: bool  # False: only the start of a message over MAX_MESSAGE_BYTES


class Mailbox(Protocol):
    def open(self) -> None: ...
    def close(self) -> None: ...
    def pending(self) -> list[str]: ...
    def claim(self, source: str) -> str | None: ...
    def read(self, source: str) -> Item: ...
    def done(self, source: str, answered: bool) -> None: ...


class Maildir:
    def __init__(self, path: Path) -> None:
        self.path = path

    def open(self) -> None:
        for sub in ("new", "cur", "tmp"):
            if not (self.path / sub).is_dir():
                raise MailError(f"{self.path} is not a Maildir", f"the folder {sub}/ is missing")

    def close(self) -> None:
        pass

    @staticmethod
    def _flags(name: str) -> str:
        return name.split(":2,", 1)[1] if ":2," in name else ""

    def pending(self) -> list[str]:
        """Claimed but not done (a stopped process's) first, then new ones, oldest first."""
        resumed = sorted(f"cur/{n}" for n in os.listdir(self.path / "cur")
                         if not n.startswith(".") and ":2," in n and "S" not in self._flags(n))
        fresh = sorted(f"new/{n}" for n in os.listdir(self.path / "new") if not n.startswith("."))
        return resumed + fresh

    def claim(self, source: str) -> str | None:
        if source.startswith("cur/"):
            return source
        name = source.split("/", 1)[1].split(":2,", 1)[0]
        target = f"cur/{name}:2,"
        try:
            os.rename(self.path / source, self.path / target)
        except FileNotFoundError:
            return None  # taken by someone else, or deleted
        _fsync_dir(self.path / "cur")
        return target

    def read(self, source: str) -> Item:
        with (self.path / source).open("rb") as fh:
            data = fh.read(MAX_MESSAGE_BYTES + 1)
        if len(data) > MAX_MESSAGE_BYTES:
            return Item(source, data[:HEAD_BYTES], False)
        return Item(source, data, True)

    def done(self, source: str, answered: bool) -> None:
        base, _, flags = source.partition(":2,")
        new_flags = "".join(sorted(set(flags) | {"S"} | ({"R"} if answered else set())))
        os.rename(self.path / source, self.path / f"{base}:2,{new_flags}")
        _fsync_dir(self.path / "cur")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Imap:
    def __init__(self, host: str, port: int, user: str, password: str, *, security: Security = "auto",
                 folder: str = "INBOX", cafile: str | None = None, timeout: float = 60.0) -> None:
        if security == "auto":
            security = "tls" if port == 993 else "starttls"
        if security == "none" and not is_loopback(host):
            raise LicwizError("--imap-security none: only for an IMAP server on this computer",
                              "the password would cross the network in clear", code="usage")
        self.host, self.port, self.user, self.password = host, port, user, password
        self.security, self.folder, self.cafile, self.timeout = security, folder, cafile, timeout
        self.conn: imaplib.IMAP4 | None = None
        self.validity = ""

    def _check(self, what: str, typ: str, data: list[object]) -> list[object]:
        if typ != "OK":
            text = b" ".join(d for d in data if isinstance(d, bytes)).decode("utf-8", "replace")[:200]
            raise MailError(f"IMAP {what} failed", f"{self.host}:{self.port}: {text}")
        return data

    def open(self) -> None:
        where = f"{self.host}:{self.port}"
        try:
            if self.security == "tls":
                conn: imaplib.IMAP4 = imaplib.IMAP4_SSL(
                    self.host, self.port, ssl_context=tls_context(self.cafile), timeout=self.timeout)
            else:
                conn = imaplib.IMAP4(self.host, self.port, timeout=self.timeout)
                self.conn = conn  # closed by close() if STARTTLS fails
                if self.security == "starttls":
                    conn.starttls(ssl_context=tls_context(self.cafile))
            self.conn = conn
        except (OSError, imaplib.IMAP4.error, ssl.SSLError) as exc:
            self.close()
            raise MailError(f"cannot reach the IMAP server {where}",
                            f"{type(exc).__name__}: {server_text(exc)}") from None
        try:
            self._login(conn)
        except imaplib.IMAP4.error as exc:
            self.close()
            if "[UNAVAILABLE]" in server_text(exc):  # RFC 5530: the server's own back end is down
                raise MailError(f"the IMAP server {where} cannot log in anyone just now",
                                server_text(exc)) from None
            # One line, nothing to retry: the password (or user) is wrong until someone fixes it.
            raise LoginRefused(Msg(N_("the IMAP server {server} refused the login of {user!r}: {said}"),
                                   server=where, user=self.user, said=server_text(exc))) from None
        except (OSError, ssl.SSLError) as exc:
            self.close()
            raise MailError(f"the IMAP server {where} closed the connection during login",
                            f"{type(exc).__name__}: {server_text(exc)}") from None
        try:
            selected = conn.select(self._quoted(self.folder))
            self._check(f"select {self.folder}", selected[0], list(selected[1]))
            _, data = conn.response("UIDVALIDITY")
            self.validity = (data[0].decode() if data and isinstance(data[0], bytes) else "0")
        except UnicodeEncodeError:
            self.close()
            raise MailError(f"--imap-folder {self.folder!r}: only folder names in ASCII are supported",
                            code="usage") from None
        except (OSError, imaplib.IMAP4.error, ssl.SSLError) as exc:
            self.close()
            raise MailError(f"cannot read the IMAP folder {self.folder} on {where}",
                            f"{type(exc).__name__}: {server_text(exc)}") from None

    def _login(self, conn: imaplib.IMAP4) -> None:
        """LOGIN sends ASCII only (imaplib); a user or password outside ASCII goes by
        AUTHENTICATE PLAIN in UTF-8 (RFC 4616), which every current server offers."""
        try:
            (self.user + self.password).encode("ascii")
        except UnicodeEncodeError:
            if "AUTH=PLAIN" not in conn.capabilities:
                raise imaplib.IMAP4.error("the server offers no AUTHENTICATE PLAIN, and LOGIN takes "
                                          "only ASCII user names and passwords") from None
            token = b"\0" + self.user.encode() + b"\0" + self.password.encode()
            conn.authenticate("PLAIN", lambda _challenge: token)
            return
        conn.login(self.user, self.password)

    @staticmethod
    def _quoted(name: str) -> str:
        return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'

    def close(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(OSError, imaplib.IMAP4.error):
                self.conn.logout()
            self.conn = None

    def _uid(self, *args: str) -> list[object]:
        assert self.conn is not None
        try:
            typ, data = self.conn.uid(*args)
        except (OSError, imaplib.IMAP4.error) as exc:
            raise MailError("IMAP connection failed", f"{type(exc).__name__}: {server_text(exc)}") from None
        return self._check(args[0], typ, list(data))

    def pending(self) -> list[str]:
        data = self._uid("SEARCH", "UNSEEN")
        uids = sorted(int(u) for d in data if isinstance(d, bytes) for u in d.split())
        return [f"imap:{self.validity}:{u}" for u in uids]

    def claim(self, source: str) -> str | None:
        return source  # the journal (center/mail_state.py) is the claim

    def read(self, source: str) -> Item:
        uid = source.rsplit(":", 1)[1]
        sizes = self._uid("FETCH", uid, "(RFC822.SIZE)")
        m = re.search(rb"RFC822\.SIZE (\d+)", b" ".join(d for d in sizes if isinstance(d, bytes)))
        whole = not (m and int(m.group(1)) > MAX_MESSAGE_BYTES)
        data = self._uid("FETCH", uid, "(BODY.PEEK[])" if whole else "(BODY.PEEK[HEADER])")
        for d in data:
            if isinstance(d, tuple) and len(d) == 2 and isinstance(d[1], bytes):
                return Item(source, d[1], whole)
        raise MailError(f"IMAP message {uid} could not be read", "no body in the FETCH answer")

    def done(self, source: str, answered: bool) -> None:
        uid = source.rsplit(":", 1)[1]
        self._uid("STORE", uid, "+FLAGS", "(\\Seen \\Answered)" if answered else "(\\Seen)")


# ---- sending


def dot_stuffed(message: bytes) -> bytes:
    """The DATA payload without its final ".": CRLF line ends, a leading "."
    doubled (RFC 5321 4.5.2), ending in CRLF."""
    data = re.sub(rb"\r?\n", b"\r\n", message)
    data = re.sub(rb"(?m)^\.", b"..", data)
    return data if data.endswith(b"\r\n") else data + b"\r\n"


class Smtp:
    def __init__(self, host: str, port: int, *, security: Security = "auto", user: str = "",
                 password: str = "", cafile: str | None = None, timeout: float = 60.0) -> None:
        if security == "auto":
            security = "tls" if port == 465 else ("starttls" if port == 587 or user else "none")
        if security == "none" and user and not is_loopback(host):
            raise LicwizError("--smtp-user needs --smtp-security starttls or tls",
                              "the password would cross the network in clear", code="usage")
        self.host, self.port, self.security = host, port, security
        self.user, self.password, self.cafile, self.timeout = user, password, cafile, timeout

    def _connect(self) -> smtplib.SMTP:
        if self.security == "tls":
            s: smtplib.SMTP = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout,
                                               context=tls_context(self.cafile))
        else:
            s = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        s.ehlo()
        if self.security == "starttls":
            s.starttls(context=tls_context(self.cafile))
            s.ehlo()
        if self.user:
            s.login(self.user, self.password)
        return s

    def send(self, envelope_from: str, to: str, message: bytes, before_commit: Callable[[], None]) -> None:
        """Raises ``SendFailed`` when refused, ``MailError`` when the server
        cannot be reached (nothing sent: try again later). A failure after
        ``before_commit`` ran is an ``OSError``/``SMTPException`` left to the caller."""
        try:
            s = self._connect()
        except (OSError, smtplib.SMTPException, ssl.SSLError) as exc:
            raise MailError(f"cannot send through the SMTP server {self.host}:{self.port}",
                            f"{type(exc).__name__}: {str(exc)[:200]}") from None
        committed = False
        try:
            steps = (("MAIL", f"FROM:<{envelope_from}>", (250,)), ("RCPT", f"TO:<{to}>", (250, 251)),
                     ("DATA", "", (354,)))
            for cmd, arg, ok in steps:
                code, text = s.docmd(cmd, arg)
                if code not in ok:
                    raise SendFailed(f"the SMTP server refused {cmd}", f"{code} {_words(text)}",
                                     temporary=400 <= code < 500)
            s.send(dot_stuffed(message))
            before_commit()
            committed = True
            s.send(b".\r\n")
            code, text = s.getreply()
            if code != 250:
                raise SendFailed("the SMTP server refused the reply", f"{code} {_words(text)}",
                                 temporary=400 <= code < 500)
        except (OSError, smtplib.SMTPException) as exc:
            s.close()
            if committed:
                raise
            raise MailError(f"sending through {self.host}:{self.port} failed",
                            f"{type(exc).__name__}: {str(exc)[:200]}") from None
        except BaseException:
            s.close()  # no QUIT: in the middle of DATA it would be read as message text
            raise
        try:
            s.quit()
        except (OSError, smtplib.SMTPException):
            s.close()


def _words(text: bytes) -> str:
    return text.decode("utf-8", "replace").replace("\n", " ")[:200]
