"""``licwiz center mail``: answer license request files sent to the center's
mailbox (center/mail.py does the work; this is its command line).

    licwiz center mail --maildir DIR --smtp HOST:PORT [--from ADDRESS] [--once | --interval S]
    licwiz center mail --imap HOST:PORT --user U [--password-file F] --smtp HOST:PORT ...

Wired into ``licwiz center`` by cli/center.py: ``mail.add_parser(sub)`` (the
handler is ``args.func``, a coroutine like the other subcommands), or call
``run(args)``. ``python -m licwiz.cli.mail ...`` runs it on its own.
Passwords never come from the command line (it is visible to every user):
``--password-file``/``--smtp-password-file`` or LICWIZ_IMAP_PASSWORD/LICWIZ_SMTP_PASSWORD.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
from email.utils import parseaddr
from pathlib import Path
from typing import Any

from licwiz.center import db, setup
from licwiz.center.keystore import default_home
from licwiz.center.mail import MailDesk, log
from licwiz.center.mail_state import MailState
from licwiz.center.mail_transport import SECURITY, Imap, Mailbox, Maildir, Smtp, parse_hostport
from licwiz.center.settings import is_address
from licwiz.core.errors import LicwizError
from licwiz.core.i18n import N_, _
from licwiz.core.message import Msg
from licwiz.core.text import printable
from sqlalchemy.exc import DBAPIError

HELP = N_("answer license request files sent to the center's mailbox (Maildir or IMAP), replying over SMTP")


def _positive(value: str) -> float:
    try:
        v = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(_("expected seconds, got {value!r}").format(value=value)) from None
    if not 0.1 <= v <= 86400:
        raise argparse.ArgumentTypeError(_("between 0.1 and 86400 seconds"))
    return v


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", metavar="URL", default=None,
                   help=_("database URL (default LICWIZ_CENTER_DB or center.db in the home folder)"))
    p.add_argument("--home", metavar="DIR", default=None,
                   help=_("the center's home (default LICWIZ_CENTER_HOME or the state dir); the mail "
                          "journal is kept in its mail/ folder"))
    box = p.add_mutually_exclusive_group(required=True)
    box.add_argument("--maildir", metavar="DIR", type=Path,
                     help=_("the Maildir the MTA delivers the desk's mail to (new/, cur/, tmp/)"))
    box.add_argument("--imap", metavar="HOST:PORT", help=_("read an IMAP mailbox instead of a Maildir"))
    p.add_argument("--user", metavar="USER", help=_("IMAP user name"))
    p.add_argument("--password-file", metavar="FILE", type=Path,
                   help=_("file holding the IMAP password (default: $LICWIZ_IMAP_PASSWORD)"))
    p.add_argument("--imap-security", choices=SECURITY, default="auto",
                   help=_("auto (default): TLS on port 993, else STARTTLS; none only to this computer"))
    p.add_argument("--imap-folder", default="INBOX", metavar="NAME",
                   help=_("the IMAP folder to read (default INBOX)"))
    p.add_argument("--smtp", metavar="HOST:PORT", required=True, help=_("where replies are sent"))
    p.add_argument("--smtp-security", choices=SECURITY, default="auto",
                   help=_("auto (default): TLS on 465, STARTTLS on 587 or with --smtp-user, else none"))
    p.add_argument("--smtp-user", metavar="USER", default="",
                   help=_("log in to the SMTP server as USER (needs STARTTLS or TLS)"))
    p.add_argument("--smtp-password-file", metavar="FILE", type=Path,
                   help=_("file holding the SMTP password (default: $LICWIZ_SMTP_PASSWORD)"))
    p.add_argument("--cafile", metavar="PEM", help=_("CA certificates for the IMAP/SMTP servers' TLS "
                                                     "(default: the system's)"))
    p.add_argument("--from", dest="from_addr", metavar="ADDRESS",
                   help=_("the desk's address (default: the center setting 'email')"))
    when = p.add_mutually_exclusive_group()
    when.add_argument("--once", action="store_true", help=_("handle the waiting messages and stop (default)"))
    when.add_argument("--interval", type=_positive, metavar="S",
                      help=_("keep running: look for new messages every S seconds (SIGTERM stops it)"))
    p.set_defaults(func=cmd_mail)


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``mail`` to ``licwiz center``'s subcommands."""
    p: argparse.ArgumentParser = subparsers.add_parser("mail", help=_(HELP), description=_(HELP))
    configure(p)
    return p


def _password(path: Path | None, env: str, what: str) -> str:
    if path is not None:
        try:
            return path.read_text(encoding="utf-8").rstrip("\r\n")
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            raise LicwizError(Msg(N_("cannot read the {what} password file {path}: {reason}"), what=what,
                                  path=str(path), reason=reason), code="usage") from None
    value = os.environ.get(env, "")
    if not value:
        option = "--password-file" if what == "IMAP" else "--smtp-password-file"
        raise LicwizError(Msg(N_("no {what} password: give {option} FILE or set {env}"), what=what,
                              option=option, env=env), code="usage")
    return value


def _mailbox(args: argparse.Namespace) -> Mailbox:
    if args.maildir is not None:
        return Maildir(args.maildir)
    if not args.user:
        raise LicwizError(Msg(N_("--imap needs --user")), code="usage")
    host, port = parse_hostport(args.imap, "--imap")
    return Imap(host, port, args.user, _password(args.password_file, "LICWIZ_IMAP_PASSWORD", "IMAP"),
                security=args.imap_security, folder=args.imap_folder, cafile=args.cafile)


def _smtp(args: argparse.Namespace) -> Smtp:
    host, port = parse_hostport(args.smtp, "--smtp")
    password = _password(args.smtp_password_file, "LICWIZ_SMTP_PASSWORD", "SMTP") if args.smtp_user else ""
    return Smtp(host, port, security=args.smtp_security, user=args.smtp_user, password=password,
                cafile=args.cafile)


def _from(given: str | None, setting: str) -> tuple[str, str]:
    """(the From header, the bare address for the envelope)."""
    header = (given or setting).strip()
    if not header:
        raise LicwizError(Msg(N_("the desk's address is not set: give --from ADDRESS or run: "
                                 "licwiz center config set email ADDRESS")), code="usage")
    _, addr = parseaddr(header)
    if not is_address(addr):
        raise LicwizError(Msg(N_("--from: not an e-mail address: {text!r}"), text=header[:100]), code="usage")
    return header, addr


async def cmd_mail(args: argparse.Namespace) -> int:
    home = Path(args.home) if args.home else default_home()
    url = db.normalise_url(args.db) if args.db else db.default_db_url(home)
    box, smtp = _mailbox(args), _smtp(args)
    state = MailState(home)
    try:
        state.lock()
        svc = await setup.open_service(url, home, pool_size=2, max_overflow=2)
        try:
            ours, envelope = _from(args.from_addr, svc.settings.values.get("email", ""))
            desk = MailDesk(svc, state, box, smtp, ours=ours, envelope_from=envelope)
            return await _loop(desk, args.interval)
        finally:
            await svc.close()
    finally:
        state.close()


async def _loop(desk: MailDesk, interval: float | None) -> int:
    stop = asyncio.Event()

    def on_signal() -> None:
        desk.stopping = True  # the message in hand is finished first
        stop.set()

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, on_signal)
    if interval is not None:
        log(f"watching the mailbox every {interval:g} s")
    while True:
        counts = await desk.run_pass()
        if counts.seen:
            log(f"{counts.seen} message(s): {counts.answered} answered, {counts.not_answered} not answered")
        if interval is None:
            return 1 if counts.stopped_by else 0
        if stop.is_set():
            return 0
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)
        if stop.is_set():
            return 0


def run(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(cmd_mail(args))
    except LicwizError as exc:
        print(f"licwiz center mail: {printable(exc.localized_brief())}", file=sys.stderr)
        if exc.detail and exc.detail != exc.brief:
            print(f"  {printable(exc.localized_detail())}", file=sys.stderr)
        return 1
    except (DBAPIError, OSError) as exc:
        first = str(exc).splitlines()[0][:300] if str(exc) else ""
        print(f"licwiz center mail: {type(exc).__name__}: {first}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="licwiz center mail", description=_(HELP))
    configure(p)
    return run(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
