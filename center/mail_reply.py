"""The replies ``licwiz center mail`` sends: words and attachments, no I/O.

- ``answer(...)``: one reply per message, one numbered paragraph per request
  found in it: a license (attached as ``<license_id>.lic``, with what to do
  with it), or a refusal in words with its code and request id.
- ``help_reply(...)``: a message with no request: how to make one.

Every reply is marked ``Auto-Submitted: auto-replied`` (RFC 3834) so that
well-behaved auto-responders do not answer it, and carries a Message-ID
derived from the incoming message, so a copy (if ever) is recognisable.
"""

from __future__ import annotations

import email.policy
import email.utils
from dataclasses import dataclass
from email.message import EmailMessage

from .mail_parse import MAX_ATTACHMENT_BYTES


@dataclass(frozen=True, slots=True)
class Issued:
    source: str
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
    brief: str
    detail: str
    request_id: str


Outcome = Issued | Refused

INSTALL_HOW = (
    "To install an attached license, on the computer that made the request:\n"
    "  - in the licwiz wizard choose \"Specify license details file\" and open the .lic file, or\n"
    "  - run:  licwiz install FILE.lic\n"
    "Keep the file: it is your license data file.\n"
)


def problem(source: str, kind: str, request_id: str) -> Refused:
    """A part that looked like a request and cannot be one (center/mail_parse.py's problems)."""
    if kind == "too_large":
        return Refused(source, "attachment_too_large", "This is too large to be a license request file",
                       f"A license request file is a few KiB (at most {MAX_ATTACHMENT_BYTES // 1024} KiB); "
                       "attach the .req file the wizard saved, nothing else.", request_id)
    return Refused(source, "bad_request_file", "This is not a license request file",
                   "The file does not hold a licwiz license request (the line "
                   "-----BEGIN LICWIZ LICENSE REQUEST----- is missing or the text is damaged). "
                   "Attach the .req file the wizard saved, unchanged.", request_id)


def _paragraph(n: int, o: Outcome) -> str:
    if isinstance(o, Issued):
        users = f"{o.users} user" + ("" if o.users == 1 else "s")
        lines = [f"{n}. License {o.license_id} ({o.product}, {users}) is attached as {o.license_id}.lic",
                 f"   (the request in {o.source})."]
        if o.supersedes:
            lines.append(f"   It replaces license {o.supersedes}.")
        if o.replayed:
            lines.append("   This request was answered before: this is the same license, "
                         "no further PIN code was used.")
        lines.append(f"   Request id: {o.request_id}")
    else:
        lines = [f"{n}. The request in {o.source} was refused: {o.brief}.",
                 *("   " + ln for ln in _wrap(o.detail)),
                 f"   Error code: {o.code}   Request id: {o.request_id}",
                 "   Quote both to the vendor's support if you need help."]
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


def _base(ours: str, to: str, subject: str, in_reply_to: str, reply_id: str) -> EmailMessage:
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["From"] = ours
    msg["To"] = to
    msg["Subject"] = ("Re: " + subject if subject and not subject.lower().startswith("re:") else
                      subject or "Your license request")
    msg["Date"] = email.utils.formatdate(localtime=False)
    msg["Message-ID"] = reply_id
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
        msg["References"] = in_reply_to
    msg["Auto-Submitted"] = "auto-replied"
    msg["X-Auto-Response-Suppress"] = "All"  # Exchange: no out-of-office answers to this
    return msg


def reply_id(key: str, ours: str) -> str:
    domain = ours.rpartition("@")[2] or "licwiz.invalid"
    return f"<licwiz-{key[:32]}@{domain}>"


def answer(*, ours: str, to: str, subject: str, in_reply_to: str, key: str, outcomes: list[Outcome],
           skipped: int) -> EmailMessage:
    issued = [o for o in outcomes if isinstance(o, Issued)]
    if len(outcomes) == 1:
        head = ("Your license is attached." if issued else "Your license request could not be answered with "
                "a license.")
    else:
        head = (f"Your message held {len(outcomes)} license requests: {len(issued)} answered with a license, "
                f"{len(outcomes) - len(issued)} refused.")
    body = [f"This is the Licensing Center's answer to the license request you sent. {head}\n"]
    body += [_paragraph(i, o) for i, o in enumerate(outcomes, 1)]
    if skipped:
        body.append(f"{skipped} further request(s) in your message were not read: send at most "
                    f"{len(outcomes)} requests per message.\n")
    if issued:
        body.append(INSTALL_HOW)
    body.append(f"-- \nAn automatic answer from the licwiz Licensing Center ({ours}).\n")
    msg = _base(ours, to, subject, in_reply_to, reply_id(key, ours))
    msg.set_content("\n".join(body))
    for o in issued:
        msg.add_attachment(o.text.encode("ascii"), maintype="application", subtype="octet-stream",
                           filename=f"{o.license_id}.lic")
    return msg


def help_reply(*, ours: str, to: str, subject: str, in_reply_to: str, key: str) -> EmailMessage:
    text = (
        "Your message reached the Licensing Center's license desk, but it holds no license request\n"
        "file, so there is nothing to answer.\n\n"
        "To get a license by e-mail:\n"
        "  1. On the computer to license, run the licwiz wizard: \"Acquire a license\", enter the\n"
        "     registration number and PIN code, and choose \"Manually (using a file)\"; save the\n"
        "     request file (licwiz-request-....req). Without the wizard:\n"
        "       licwiz request --kit REGISTRATION-NUMBER --pin PIN-CODE --out my.req\n"
        f"  2. Send that file to {ours} as an attachment (or paste its text into the message).\n"
        "  3. The answer brings the license data file: open it in the wizard with \"Specify\n"
        "     license details file\", or run: licwiz install FILE.lic\n\n"
        "This explanation is sent at most once a day to an address.\n"
        f"-- \nAn automatic answer from the licwiz Licensing Center ({ours}).\n"
    )
    msg = _base(ours, to, subject, in_reply_to, reply_id(key, ours))
    msg.set_content(text)
    return msg
