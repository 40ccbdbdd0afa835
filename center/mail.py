"""``licwiz center mail``: the Licensing Center answers license request files
sent to its mailbox, through the same service call as the web page.

    desk = MailDesk(svc, MailState(home), Maildir(path), Smtp(host, port), ours="licenses@vendor.example")
    await desk.run_pass()     # every waiting message, once

One message, in this order (center/mail_state.py is the journal):

1. claim it in the mailbox (Maildir: ``new/`` -> ``cur/NAME:2,``) and in the
   journal (``claimed``). Another delivery of a message already in the journal
   (same Message-ID and sender) is not answered again;
2. decide: never answer an auto-reply, a bounce, a list or ourselves; a sender
   over ``mail_max_per_hour`` is not answered; a message without a request gets
   how to make one, once a day per sender;
3. each request (``.req`` attachment, or pasted in the text or HTML body) goes
   to ``CenterService.activate_request_file`` with method ``file``, actor
   ``mail`` and the web page's idempotency key (the file's SHA-256): the same
   file answered again, by mail or on the page, gives the same license and
   never spends a second PIN. A crash before step 4 just repeats this step;
4. send the reply, worded in the language the message asks for (Accept-Language,
   Content-Language), else the center's ``language`` setting (center/mail_reply.py).
   The journal says ``sending`` before SMTP's final "." and ``sent`` after the
   server's 250; a message found ``sending`` after a crash is not sent again (at
   most once: the server most likely has it) and is audited ``mail_unconfirmed``
   for the operator;
5. audit (``event=mail``, the outcome as code, the sender as a keyed hash in
   ``client_addr``), journal ``done``, mailbox flags ``S`` (and ``R`` when
   answered). The licenses themselves are audited by the activation, actor ``mail``.

A database, IMAP or SMTP server that cannot be reached stops the pass; the
message stays claimed and is taken again first by the next pass.
"""

from __future__ import annotations

import asyncio
import hashlib
import sys
from dataclasses import dataclass

from licwiz.core.text import printable
from sqlalchemy.exc import DBAPIError

from . import mail_reply
from .mail_parse import Parsed, parse
from .mail_reply import Issued, Outcome, Refused
from .mail_state import Entry, MailState
from .mail_transport import LoginRefused, Mailbox, MailError, SendFailed, Smtp
from .refusals import Refusal
from .service import CenterService

HELP_EVERY_SECONDS = 24 * 3600
# The web page's key for a request file (center/web.py): one key, whichever way the file came.
FILE_KEY_PREFIX = "web-file:"

ANSWERED = ("mail_answered", "mail_help")


def file_idempotency_key(text: str) -> str:
    return FILE_KEY_PREFIX + hashlib.sha256(text.encode()).hexdigest()


def log(line: str) -> None:
    # A line may quote what a mail server said: nothing in it may drive the terminal.
    print(f"licwiz center mail: {printable(line)}", file=sys.stderr, flush=True)


@dataclass(slots=True)
class PassCounts:
    seen: int = 0
    answered: int = 0
    not_answered: int = 0
    stopped_by: str = ""  # what ended the pass early ("" when every message was handled)


class MailDesk:
    def __init__(self, svc: CenterService, state: MailState, box: Mailbox, smtp: Smtp, *, ours: str,
                 envelope_from: str) -> None:
        self.svc, self.state, self.box, self.smtp = svc, state, box, smtp
        self.ours, self.envelope_from = ours, envelope_from
        self.stopping = False

    # ---- a pass over the mailbox

    async def run_pass(self) -> PassCounts:
        counts = PassCounts()
        await self.svc.settings.load()  # mail_max_per_hour may have changed
        self.state.prune()
        after = "nothing was read; the next pass tries again"
        try:
            await asyncio.to_thread(self.box.open)
            for source in await asyncio.to_thread(self.box.pending):
                if self.stopping:
                    break
                after = "the message stays claimed; the next pass takes it again"
                outcome = await self.handle(source)
                if outcome is None:
                    continue
                counts.seen += 1
                if outcome in ANSWERED:
                    counts.answered += 1
                else:
                    counts.not_answered += 1
        except LoginRefused:
            raise  # not an outage: the command stops with this one line
        except MailError as exc:
            counts.stopped_by = exc.brief
            detail = f": {exc.detail}" if exc.detail != exc.brief else ""
            log(f"{exc.brief}{detail} ({after})")
        except (DBAPIError, OSError) as exc:
            counts.stopped_by = type(exc).__name__
            log(f"stopped: {type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''} "
                f"({after})")
        finally:
            await asyncio.to_thread(self.box.close)
        return counts

    # ---- one message

    async def handle(self, source: str) -> str | None:
        """The message's outcome code (None: it was gone, taken by another reader)."""
        claimed = await asyncio.to_thread(self.box.claim, source)
        if claimed is None:
            return None
        item = await asyncio.to_thread(self.box.read, claimed)
        msg = parse(item.raw, self.ours, whole=item.whole)
        sender = self.state.sender_hash(msg.reply_to) if msg.reply_to else "-"
        ident = claimed.split("/", 1)[-1].split(":2,", 1)[0]
        entry = self.state.claim(msg.key, ident, sender)
        rid = f"mail-{msg.key[:16]}"
        if entry.source != ident:
            # The MTA delivered it twice (or it came back): the first copy is, or was, answered.
            return await self._finish(claimed, msg.key, rid, sender, "mail_duplicate", journal=False)
        if entry.state == "done":
            await asyncio.to_thread(self.box.done, claimed, entry.outcome in ANSWERED)
            return entry.outcome
        if entry.state == "sent":
            return await self._finish(claimed, msg.key, rid, sender, entry.outcome)
        if entry.state == "sending":
            log(f"{rid}: the reply was being sent when the last run stopped; not sent again (at most once)")
            return await self._finish(claimed, msg.key, rid, sender, "mail_unconfirmed")
        return await self._answer(claimed, msg, entry, rid, sender)

    async def _answer(self, claimed: str, msg: Parsed, entry: Entry, rid: str, sender: str) -> str:
        if msg.no_answer:
            return await self._finish(claimed, msg.key, rid, sender, f"mail_{msg.no_answer}")
        limit = self.svc.settings.number("mail_max_per_hour")
        if self.state.count_since(sender, 3600, entry.received) >= limit:
            return await self._finish(claimed, msg.key, rid, sender, "mail_rate_limited")
        lang = mail_reply.reply_language(msg.language, self.svc.settings.values.get("language", ""))
        common = {"ours": self.ours, "to": msg.reply_to, "subject": msg.subject,
                  "in_reply_to": msg.message_id, "key": msg.key, "lang": lang}
        if not msg.requests and not msg.problems:
            if self.state.count_since(sender, HELP_EVERY_SECONDS, entry.received, ("mail_help",)):
                return await self._finish(claimed, msg.key, rid, sender, "mail_help_repeat")
            reply, outcome = mail_reply.help_reply(**common), "mail_help"
        else:
            outcomes = await self._activate(msg, rid, sender)
            reply = mail_reply.answer(**common, outcomes=outcomes, skipped=msg.skipped_requests)
            outcome = "mail_answered"
        data = reply.as_bytes()
        reply_id = str(reply["Message-ID"])

        def before_commit() -> None:
            self.state.set(msg.key, "sending", outcome=outcome, reply_id=reply_id)

        try:
            await asyncio.to_thread(self.smtp.send, self.envelope_from, msg.reply_to, data, before_commit)
        except SendFailed as exc:
            if exc.temporary:
                self.state.set(msg.key, "claimed")  # refused outright: nothing was delivered, try later
                log(f"{rid}: {exc.brief} ({exc.detail}); trying again next pass")
                raise MailError(exc.brief, exc.detail) from None
            log(f"{rid}: {exc.brief} ({exc.detail}); not answered")
            return await self._finish(claimed, msg.key, rid, sender, "mail_undeliverable")
        self.state.set(msg.key, "sent")
        return await self._finish(claimed, msg.key, rid, sender, outcome)

    async def _activate(self, msg: Parsed, rid: str, sender: str) -> list[Outcome]:
        outcomes: list[Outcome] = []
        for n, found in enumerate(msg.requests, 1):
            req_id = f"{rid}-{n}"
            try:
                act = await self.svc.activate_request_file(
                    found.text, idempotency_key=file_idempotency_key(found.text), request_id=req_id,
                    client_addr=f"mail:{sender[:16]}", actor="mail")
            except Refusal as ref:
                outcomes.append(Refused(found.source, ref.code, ref.brief, ref.detail or "", req_id))
                continue
            outcomes.append(Issued(found.source, act.license_id, act.license.product, act.users,
                                   act.license_text, act.replayed, act.supersedes, req_id))
        for n, prob in enumerate(msg.problems, len(msg.requests) + 1):
            outcomes.append(mail_reply.problem(prob.source, prob.text, f"{rid}-{n}"))
        return outcomes

    async def _finish(self, claimed: str, key: str, rid: str, sender: str, outcome: str, *,
                      journal: bool = True) -> str:
        await self.svc.audit.refusal(outcome, request_id=rid, client_addr=f"mail:{sender[:16]}", actor="mail",
                                     event="mail")
        if journal:
            self.state.set(key, "done", outcome=outcome)
        await asyncio.to_thread(self.box.done, claimed, outcome in ANSWERED)
        log(f"{rid}: {outcome}")
        return outcome
