"""Reading one incoming e-mail for ``licwiz center mail``: who to answer, whether
to answer at all, and the license request files it carries.

    msg = parse(raw_bytes, our_address="licenses@vendor.example")
    msg.key            # identity of the message: same Message-ID and sender -> same key
    msg.reply_to       # Reply-To, else From ("" when neither is a usable address)
    msg.no_answer      # why it must not be answered (auto-reply, bounce, list, ourselves) or ""
    msg.requests       # [Found(source, text)]: canonical armoured request texts, deduplicated
    msg.problems       # [Found(source, words)]: parts that looked like a request and are not
    msg.language       # the language the sender asks for (Accept-Language, Content-Language) or ""

Pure functions on bytes: no I/O, nothing logged. The texts are rebuilt in the
form the wizard writes (``core.request.seal``), so a request pasted into a
body, quoted ("> ") or wrapped in HTML opens like the file itself and has the
same idempotency key as that file uploaded on the web page.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import html
import html.parser
import re
from dataclasses import dataclass, field
from email.message import Message
from email.utils import getaddresses

from licwiz.core import i18n
from licwiz.core.i18n import N_
from licwiz.core.message import Msg
from licwiz.core.request import BEGIN, END, MAX_FILE_BYTES

MAX_ATTACHMENT_BYTES = MAX_FILE_BYTES  # 64 KiB: a request file is far smaller
MAX_REQUESTS = 10  # per message; the rest are answered with a note, not opened
MAX_TEXT_BYTES = 1024 * 1024  # a text or HTML body scanned for a pasted request
_ARMOUR_LINE = re.compile(r"^[A-Za-z0-9+/=]{1,76}$")
_KEY_ID_LINE = re.compile(r"^Key-Id: [0-9A-Za-z]{1,64}$")
_BLOCK_TAGS = frozenset({"br", "p", "div", "tr", "li", "pre", "blockquote", "h1", "h2", "h3", "h4",
                         "table", "hr", "td"})
# Senders that are machines answering machines (RFC 3834 and the usual practice).
_ROBOT_LOCALPARTS = frozenset({"mailer-daemon", "postmaster", "noreply", "no-reply", "do-not-reply",
                               "donotreply"})


@dataclass(frozen=True, slots=True)
class Found:
    source: str  # "attachment my.req", "the message text", ... (a Msg: the reply words it in its language)
    text: str


@dataclass(slots=True)
class Parsed:
    key: str
    message_id: str
    subject: str
    reply_to: str
    no_answer: str = ""
    requests: list[Found] = field(default_factory=list)
    problems: list[Found] = field(default_factory=list)
    skipped_requests: int = 0  # beyond MAX_REQUESTS
    language: str = ""  # what the sender asks the reply to be in ("" when it does not say)


def address_key(addr: str) -> str:
    return addr.strip().lower()


def message_key(message_id: str, sender: str, raw: bytes) -> str:
    """The message's identity: its Message-ID and sender (an MTA delivering it
    twice gives the same key); without a Message-ID, its bytes."""
    if message_id:
        basis = b"id\0" + message_id.encode("utf-8", "replace") + b"\0" + address_key(sender).encode()
    else:
        basis = b"raw\0" + raw
    return hashlib.sha256(basis).hexdigest()


def _header(msg: Message, name: str) -> str:
    try:
        value = msg.get(name)
    except Exception:  # a malformed header the policy cannot parse
        return ""
    return str(value or "").strip()


def _addresses(msg: Message, name: str) -> list[str]:
    raw = [_header(msg, name)] if msg.get(name) is not None else []
    return [a for _, a in getaddresses(raw) if "@" in a and " " not in a and len(a) <= 254]


def loop_reason(msg: Message, our_address: str) -> str:
    """Why answering would risk a mail loop or backscatter ("" when it is safe)."""
    auto = _header(msg, "Auto-Submitted").lower()
    if auto and auto.split(";")[0].strip() != "no":
        return "auto_submitted"
    if _header(msg, "Precedence").lower() in ("bulk", "junk", "list"):
        return "precedence"
    if any(msg.get(h) is not None for h in ("X-Autoreply", "X-Autorespond", "List-Id", "List-Unsubscribe")):
        return "auto_submitted"
    if msg.get("Return-Path") is not None and _header(msg, "Return-Path").strip("<> ") == "":
        return "empty_return_path"  # a bounce (delivery status notification)
    if msg.get_content_type() == "multipart/report":
        return "empty_return_path"
    ours = address_key(our_address)
    senders = _addresses(msg, "From") + _addresses(msg, "Reply-To") + _addresses(msg, "Sender")
    if ours and any(address_key(a) == ours for a in senders):
        return "own_address"
    if any(address_key(a).split("@")[0] in _ROBOT_LOCALPARTS for a in senders):
        return "auto_submitted"
    return ""


class _HtmlText(html.parser.HTMLParser):
    """The visible text of an HTML body, one line per block (a request pasted
    into a mail client's editor comes back as <p> or <br> separated lines)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "head"):
            self.skip += 1
        elif tag in _BLOCK_TAGS:
            self.out.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "head"):
            self.skip = max(0, self.skip - 1)
        elif tag in _BLOCK_TAGS:
            self.out.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.out.append(data)


def html_text(markup: str) -> str:
    parser = _HtmlText()
    try:
        parser.feed(markup)
        parser.close()
    except Exception:  # malformed markup: what was read so far
        pass
    return html.unescape("".join(parser.out)).replace("\xa0", " ")


def armoured_blocks(text: str) -> list[str]:
    """Every request pasted in ``text``, rebuilt as the wizard writes it: lines
    stripped of spaces and of quoting ("> "), joined with newlines."""
    found: list[str] = []
    block: list[str] | None = None
    for line in text.splitlines():
        line = line.strip().lstrip(">").strip()
        if line == BEGIN:
            block = [BEGIN]
        elif block is not None:
            if line == END:
                block.append(END)
                found.append("\n".join(block) + "\n")
                block = None
            elif not line:
                continue  # a blank line a mail client inserted
            elif _KEY_ID_LINE.match(line) if len(block) == 1 else _ARMOUR_LINE.match(line):
                block.append(line)
            else:
                block = None  # not a request after all
    return found


def _filename(part: Message) -> str:
    try:
        name = part.get_filename() or ""
    except Exception:
        name = ""
    return "".join(c for c in name if c.isprintable())[:80]


def _encoded_size(part: Message) -> int:
    payload = part.get_payload()
    return len(payload) if isinstance(payload, str | bytes) else 0


def _decoded(part: Message) -> bytes:
    try:
        data = part.get_payload(decode=True)
    except Exception:
        return b""
    return data if isinstance(data, bytes) else b""


def _as_text(part: Message, data: bytes) -> str:
    charset = part.get_content_charset() or "utf-8"
    try:
        return data.decode(charset, "replace")
    except LookupError:  # an unknown charset name
        return data.decode("utf-8", "replace")


def _scan(msg: Message, parsed: Parsed) -> None:
    seen: set[str] = set()

    def add(source: str, text: str) -> None:
        if text in seen:
            return  # the same request twice (text and HTML alternatives, body and attachment)
        seen.add(text)
        if len(parsed.requests) >= MAX_REQUESTS:
            parsed.skipped_requests += 1
        else:
            parsed.requests.append(Found(source, text))

    for part in msg.walk():
        if part.is_multipart():
            continue
        name = _filename(part)
        ctype = part.get_content_type()
        is_req = name.lower().endswith(".req")
        attached = bool(name) or part.get_content_disposition() == "attachment"
        source = (Msg(N_("attachment {name}"), name=name) if name else
                  Msg(N_("the message text")) if not attached else Msg(N_("an attachment")))
        if not (is_req or ctype.startswith("text/")):
            continue  # pictures, signatures, office files: not ours to read
        # Measured before decoding, so a 10 MB attachment is refused without being decoded.
        encoded = _encoded_size(part)
        limit = MAX_ATTACHMENT_BYTES if (is_req or attached) else MAX_TEXT_BYTES
        if encoded > limit * 4 // 3 + 4096:
            if is_req or attached:
                parsed.problems.append(Found(source, "too_large"))
            continue
        data = _decoded(part)
        if len(data) > limit:
            if is_req or attached:
                parsed.problems.append(Found(source, "too_large"))
            continue
        text = _as_text(part, data)
        if ctype == "text/html":
            text = html_text(text)
        blocks = armoured_blocks(text)
        if is_req and not blocks:
            parsed.problems.append(Found(source, "not_a_request"))
        for b in blocks:
            add(source, b)


def asked_language(msg: Message) -> str:
    """The reply language the message asks for: Accept-Language, then Content-Language
    (of the message, else of its first text part), the first that names one of ours; "" if none."""
    values = [_header(msg, "Accept-Language"), _header(msg, "Content-Language")]
    if msg.is_multipart():
        values += [_header(part, "Content-Language") for part in msg.walk()
                   if part.get_content_maintype() == "text"][:1]
    for value in values:
        if value and (found := i18n.negotiate(value[:200], default="")):
            return found
    return ""


def parse(raw: bytes, our_address: str = "", *, whole: bool = True) -> Parsed:
    """``whole=False``: ``raw`` is only the start of a message too large to read;
    its headers are read and the message is answered as too large."""
    if not whole:
        head = re.split(rb"\r?\n\r?\n", raw, maxsplit=1)[0] + b"\n\n"
        msg = email.message_from_bytes(head, policy=email.policy.default)
    else:
        msg = email.message_from_bytes(raw, policy=email.policy.default)
    message_id = _header(msg, "Message-ID")[:998]
    reply = _addresses(msg, "Reply-To") or _addresses(msg, "From")
    sender = reply[0] if reply else ""
    subject = "".join(c for c in _header(msg, "Subject") if c.isprintable())[:200]
    parsed = Parsed(message_key(message_id, sender, raw), message_id, subject, sender)
    parsed.language = asked_language(msg)
    parsed.no_answer = loop_reason(msg, our_address)
    if not parsed.no_answer and not sender:
        parsed.no_answer = "no_sender"
    if parsed.no_answer:
        return parsed
    if whole:
        _scan(msg, parsed)
    else:
        parsed.problems.append(Found(Msg(N_("the message")), "too_large"))
    return parsed
