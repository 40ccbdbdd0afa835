"""The replies ``licwiz center mail`` sends: words and attachments, no I/O.

- ``answer(...)``: one reply per message, one numbered paragraph per request
  found in it: a license (attached as ``<license_id>.lic``, with what to do
  with it), or a refusal in words with its code and request id.
- ``help_reply(...)``: a message with no request: how to make one.

Every reply is marked ``Auto-Submitted: auto-replied`` (RFC 3834) so that
well-behaved auto-responders do not answer it, and carries a Message-ID
derived from the incoming message, so a copy (if ever) is recognisable.

A reply is worded in the language of its own ``lang`` (``reply_language``:
what the message asks for, else the center's ``language`` setting), through an
explicit ``core.i18n.translation``: the desk answers many senders from one
process, so the process language is never changed. Codes, request ids,
commands and file names stay as they are.
"""

from __future__ import annotations

import email.policy
import email.utils
from dataclasses import dataclass
from email.message import EmailMessage
from gettext import NullTranslations

from licwiz.core import i18n
from licwiz.core.i18n import N_
from licwiz.core.message import Msg, localized

from .mail_parse import MAX_ATTACHMENT_BYTES, MAX_REQUESTS


@dataclass(frozen=True, slots=True)
class Issued:
    source: str  # a core.message.Msg where mail_parse wrote it: worded in the reply's language
    license_id: str
    product: str
    users: int
    text: str
    replayed: bool
    supersedes: str | None
    request_id: str


@dataclass(frozen=True, slots=True)
class Refused:
    source: str
    code: str
    brief: str  # English (a Msg, or a refusal's text the catalog may know)
    detail: str
    request_id: str


Outcome = Issued | Refused

INSTALL_HOW = (
    N_("To install an attached license, on the computer that made the request:"),
    N_("  - in the licwiz wizard choose \"Specify license details file\" and open the .lic file, or"),
    N_("  - run:  licwiz install FILE.lic"),
    N_("Keep the file: it is your license data file."),
)
HELP_TEXT = (
    N_("Your message reached the Licensing Center's license desk, but it holds no license request\n"
       "file, so there is nothing to answer."),
    N_("To get a license by e-mail:\n"
       "  1. On the computer to license, run the licwiz wizard: \"Acquire a license\", enter the\n"
       "     registration number and PIN code, and choose \"Manually (using a file)\"; save the\n"
       "     request file (licwiz-request-....req). Without the wizard:\n"
       "       licwiz request --kit REGISTRATION-NUMBER --pin PIN-CODE --out my.req\n"
       "  2. Send that file to {address} as an attachment (or paste its text into the message).\n"
       "  3. The answer brings the license data file: open it in the wizard with \"Specify\n"
       "     license details file\", or run: licwiz install FILE.lic"),
    N_("This explanation is sent at most once a day to an address."),
)
SIGNATURE = N_("An automatic answer from the licwiz Licensing Center ({address}).")


def reply_language(asked: str, configured: str) -> str:
    """The language a reply is written in: the one the message asked for (mail_parse's
    ``Parsed.language``), else the center's ``language`` setting, else English."""
    return asked or i18n.supported(configured or "") or i18n.SOURCE_LANGUAGE


def _say(tr: NullTranslations, text: str) -> str:
    """A text kept in English (a Msg, or a refusal's words) in the reply's language."""
    if not text:  # gettext("") is the catalog's header
        return text
    return localized(text, tr) if isinstance(text, Msg) else tr.gettext(text)


def problem(source: str, kind: str, request_id: str) -> Refused:
    """A part that looked like a request and cannot be one (center/mail_parse.py's problems)."""
    if kind == "too_large":
        return Refused(source, "attachment_too_large",
                       Msg(N_("This is too large to be a license request file")),
                       Msg(N_("A license request file is a few KiB (at most {kib} KiB); attach the .req file "
                              "the wizard saved, nothing else."), kib=MAX_ATTACHMENT_BYTES // 1024),
                       request_id)
    return Refused(source, "bad_request_file", Msg(N_("This is not a license request file")),
                   Msg(N_("The file does not hold a licwiz license request (the line "
                          "-----BEGIN LICWIZ LICENSE REQUEST----- is missing or the text is damaged). "
                          "Attach the .req file the wizard saved, unchanged.")), request_id)


def _paragraph(tr: NullTranslations, n: int, o: Outcome) -> str:
    source = _say(tr, o.source)
    if isinstance(o, Issued):
        users = tr.ngettext("{n} user", "{n} users", o.users).format(n=o.users)
        lines = [tr.gettext("{n}. License {license_id} ({product}, {users}) is attached as {file}").format(
                     n=n, license_id=o.license_id, product=o.product, users=users,
                     file=f"{o.license_id}.lic"),
                 "   " + tr.gettext("(the request in {source}).").format(source=source)]
        if o.supersedes:
            replaces = tr.gettext("It replaces license {license_id}.").format(license_id=o.supersedes)
            lines.append("   " + replaces)
        if o.replayed:
            lines += ["   " + ln for ln in _wrap(tr.gettext(
                "This request was answered before: this is the same license, no further PIN code was used."))]
        lines.append("   " + tr.gettext("Request id: {request_id}").format(request_id=o.request_id))
    else:
        lines = [tr.gettext("{n}. The request in {source} was refused: {brief}.").format(
                     n=n, source=source, brief=_say(tr, o.brief).rstrip(".")),
                 *("   " + ln for ln in _wrap(_say(tr, o.detail))),
                 "   " + tr.gettext("Error code: {code}   Request id: {request_id}").format(
                     code=o.code, request_id=o.request_id),
                 "   " + tr.gettext("Quote both to the vendor's support if you need help.")]
    return "\n".join(lines) + "\n"


def _wrap(text: str, width: int = 72) -> list[str]:
    out: list[str] = []
    line = ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            out.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    return [*out, line] if line else out


def _base(tr: NullTranslations, ours: str, to: str, subject: str, in_reply_to: str,
          reply_id: str) -> EmailMessage:
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["From"] = ours
    msg["To"] = to
    # "Re:" stays as it is: mail clients thread on it in every language.
    msg["Subject"] = ("Re: " + subject if subject and not subject.lower().startswith("re:") else
                      subject or tr.gettext("Your license request"))
    msg["Date"] = email.utils.formatdate(localtime=False)
    msg["Message-ID"] = reply_id
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
        msg["References"] = in_reply_to
    msg["Auto-Submitted"] = "auto-replied"
    msg["X-Auto-Response-Suppress"] = "All"  # Exchange: no out-of-office answers to this
    return msg


def _signature(tr: NullTranslations, ours: str) -> str:
    return "-- \n" + tr.gettext(SIGNATURE).format(address=ours) + "\n"


def reply_id(key: str, ours: str) -> str:
    domain = ours.rpartition("@")[2] or "licwiz.invalid"
    return f"<licwiz-{key[:32]}@{domain}>"


def answer(*, ours: str, to: str, subject: str, in_reply_to: str, key: str, outcomes: list[Outcome],
           skipped: int, lang: str = i18n.SOURCE_LANGUAGE) -> EmailMessage:
    tr = i18n.translation(lang)
    issued = [o for o in outcomes if isinstance(o, Issued)]
    if len(outcomes) == 1:
        head = (tr.gettext("Your license is attached.") if issued else
                tr.gettext("Your license request could not be answered with a license."))
    else:
        head = tr.ngettext(
            "Your message held {n} license request: {issued} answered with a license, {refused} refused.",
            "Your message held {n} license requests: {issued} answered with a license, {refused} refused.",
            len(outcomes)).format(n=len(outcomes), issued=len(issued), refused=len(outcomes) - len(issued))
    intro = tr.gettext("This is the Licensing Center's answer to the license request you sent.")
    body = [f"{intro} {head}\n"]
    body += [_paragraph(tr, i, o) for i, o in enumerate(outcomes, 1)]
    if skipped:
        body.append(tr.ngettext(
            "{n} further request in your message was not read: send at most {max} requests per message.",
            "{n} further requests in your message were not read: send at most {max} requests per message.",
            skipped).format(n=skipped, max=MAX_REQUESTS) + "\n")
    if issued:
        body.append("\n".join(tr.gettext(line) for line in INSTALL_HOW) + "\n")
    body.append(_signature(tr, ours))
    msg = _base(tr, ours, to, subject, in_reply_to, reply_id(key, ours))
    msg.set_content("\n".join(body))
    for o in issued:
        msg.add_attachment(o.text.encode("ascii"), maintype="application", subtype="octet-stream",
                           filename=f"{o.license_id}.lic")
    msg["Content-Language"] = lang  # after the content: set_content drops Content-* headers
    return msg


def help_reply(*, ours: str, to: str, subject: str, in_reply_to: str, key: str,
               lang: str = i18n.SOURCE_LANGUAGE) -> EmailMessage:
    tr = i18n.translation(lang)
    text = "\n\n".join(tr.gettext(p).format(address=ours) for p in HELP_TEXT) + "\n" + _signature(tr, ours)
    msg = _base(tr, ours, to, subject, in_reply_to, reply_id(key, ours))
    msg.set_content(text)
    msg["Content-Language"] = lang
    return msg
