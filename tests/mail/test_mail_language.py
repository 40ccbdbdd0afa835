"""The language of the desk's replies: what the incoming message asks for
(Accept-Language, then Content-Language; the first of ru/en), else the center's
``language`` setting, else English; each reply rendered with its own explicit
translation, never by changing the process language (one desk answers many
senders). In-process for the choice and the rendering; end to end through the
real command, center database and SMTP server for the replies."""

from __future__ import annotations

import threading
from email.message import EmailMessage
from typing import Any

import pytest
from licwiz.center import mail_reply
from licwiz.center.mail_parse import parse
from licwiz.center.mail_reply import Issued, Refused
from licwiz.core import i18n
from licwiz.core.i18n import translation

RU_ATTACHED = "Лицензия приложена к письму."
EN_ATTACHED = "Your license is attached."


@pytest.fixture(autouse=True)
def _russian_catalog() -> None:
    """The replies need the compiled catalog (make catalogs; make test builds it first)."""
    if translation("ru").gettext(EN_ATTACHED) == EN_ATTACHED:
        pytest.fail("the Russian catalog is not compiled: run make catalogs")


def _asked(**headers: str) -> str:
    m = EmailMessage()
    m["From"] = "Asa <asa@example.se>"
    m["Message-ID"] = "<1@example.se>"
    m.set_content("hi")  # first: set_content drops Content-* headers
    for k, v in headers.items():
        m[k.replace("_", "-")] = v
    return parse(m.as_bytes()).language


def test_the_language_a_message_asks_for() -> None:
    assert _asked(Accept_Language="ru-RU, en;q=0.8") == "ru"
    assert _asked(Accept_Language="de-DE, en;q=0.5, ru;q=0.3") == "en"  # the best of ours by quality
    assert _asked(Content_Language="ru") == "ru"
    # Accept-Language (what the reader wants) comes before Content-Language (what they wrote in).
    assert _asked(Accept_Language="en-GB", Content_Language="ru-RU") == "en"
    assert _asked(Accept_Language="de", Content_Language="ru") == "ru"  # nothing of ours: the next header
    assert _asked(Accept_Language="de, fr") == "" and _asked() == ""
    assert _asked(Accept_Language="ru;q=0") == ""  # refused outright
    # A multipart message whose language is on its text part (some clients put it there only).
    m = EmailMessage()
    m["From"], m["Message-ID"] = "asa@example.se", "<2@example.se>"
    m.set_content("привет")
    m.add_attachment(b"x", maintype="application", subtype="octet-stream", filename="a.bin")
    m.get_body(("plain",))["Content-Language"] = "ru"  # type: ignore[index]
    assert parse(m.as_bytes()).language == "ru"


def test_the_reply_language_falls_back_to_the_setting_then_english() -> None:
    assert mail_reply.reply_language("ru", "en") == "ru"
    assert mail_reply.reply_language("en", "ru") == "en"
    assert mail_reply.reply_language("", "ru") == "ru"
    assert mail_reply.reply_language("", "") == "en"
    assert mail_reply.reply_language("", "de") == "en"  # never stored (config refuses it), still safe


def _render(lang: str) -> EmailMessage:
    issued = Issued(_source("my.req"), "1234567897-001", "licwiz-demo", 5, "LICENSE\n", True,
                    "1234567897-000", "mail-1-1")
    refused = Refused(_source("b.req"), "pin_unknown",
                      "This PIN code does not belong to this registration number", "", "mail-1-2")
    return mail_reply.answer(ours="desk@vendor.example", to="asa@example.se", subject="", in_reply_to="",
                             key="k" * 64, outcomes=[issued, refused], skipped=3, lang=lang)


def _text(msg: EmailMessage) -> str:
    """The plain text body, its lines joined: what is asserted does not depend on wrapping."""
    part = msg.get_body(("plain",))
    assert part is not None
    return " ".join(str(part.get_content()).split())


def _source(name: str) -> str:
    m = EmailMessage()
    m["From"], m["Message-ID"] = "asa@example.se", f"<{name}@example.se>"
    m.set_content("see attachment")
    m.add_attachment(b"not a request", maintype="application", subtype="octet-stream", filename=name)
    return parse(m.as_bytes()).problems[0].source  # "attachment NAME", as the parser words it


def test_a_russian_reply_is_rendered_without_changing_the_process_language() -> None:
    assert i18n.current_language() == "en"
    ru = _render("ru")
    body = _text(ru)
    assert ru["Content-Language"] == "ru" and ru["Subject"] == "Ваш запрос лицензии"
    assert "Запросов лицензии в вашем сообщении: 2; выдано лицензий: 1, отклонено запросов: 1." in body
    assert ("1. Лицензия 1234567897-001 (licwiz-demo, 5 пользователей) приложена в файле "
            "1234567897-001.lic") in body
    assert "(запрос: вложение my.req)." in body and "Она заменяет лицензию 1234567897-000." in body
    assert "2. Запрос (вложение b.req) отклонён:" in body
    assert "Код ошибки: pin_unknown Идентификатор запроса: mail-1-2" in body
    assert "Ещё 3 запроса в вашем сообщении не прочитаны" in body
    assert "«Указать файл данных лицензии»" in body and "licwiz install FILE.lic" in body
    # The process still speaks English, and an English reply rendered next is English throughout.
    assert i18n.current_language() == "en" and i18n._(EN_ATTACHED) == EN_ATTACHED
    en = _text(_render("en"))
    assert "Your message held 2 license requests: 1 answered with a license, 1 refused." in en
    assert "(the request in attachment my.req)." in en and "3 further requests in your message" in en
    assert not any("\u0400" <= ch <= "\u04ff" for ch in en)


def test_replies_in_two_languages_rendered_at_once_do_not_mix() -> None:
    """Threads stand for the desk's concurrent work: each reply keeps its own language."""
    bodies: dict[str, list[str]] = {"ru": [], "en": []}

    def work(lang: str) -> None:
        for _ in range(30):
            msg = mail_reply.help_reply(ours="desk@vendor.example", to="a@example.se", subject="",
                                        in_reply_to="", key="k" * 64, lang=lang)
            bodies[lang].append(_text(msg))

    threads = [threading.Thread(target=work, args=(lang,)) for lang in ("ru", "en", "ru", "en")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(bodies["ru"]) == len(bodies["en"]) == 60
    assert all("Чтобы получить лицензию по электронной почте" in b for b in bodies["ru"])
    assert all("To get a license by e-mail" in b for b in bodies["en"])


@pytest.mark.slow
def test_replies_follow_the_message_then_the_center_setting(desk: Any) -> None:
    req = desk.request().read_bytes()
    att = (("my.req", req),)
    asks_ru = desk.message(sender="ivan@example.ru", attachments=att,
                           headers={"Accept-Language": "ru-RU, ru;q=0.9, en;q=0.5"})
    plain = desk.message(sender="john@example.com", text="Hello, how do I get a license?")
    desk.deliver(asks_ru)
    desk.deliver(plain)
    assert desk.mail().returncode == 0
    replies = {str(m["To"]): m for m in desk.sink.wait_for(2)}
    ru, en = replies["ivan@example.ru"], replies["john@example.com"]
    assert ru["Content-Language"] == "ru" and RU_ATTACHED in desk.body_of(ru)
    assert "«Указать файл данных лицензии»" in desk.body_of(ru)
    assert list(desk.attachments_of(ru)) == [f"{desk.kit.regnum}-001.lic"]  # the same license file
    assert en["Content-Language"] == "en" and "holds no license request" in desk.body_of(en)

    # The center's language: Russian for a message that does not say; a message that asks
    # for English still gets English.
    bad = desk.center.cli("config", "set", "language", "de", check=False)
    assert bad.returncode != 0 and "language: expected one of en, ru" in bad.stderr
    desk.center.config_set("language", "ru")
    desk.deliver(desk.message(sender="olga@example.ru", text="Здравствуйте! Как получить лицензию?"))
    desk.deliver(desk.message(sender="mary@example.com", text="Hi", headers={"Content-Language": "en-US"}))
    assert desk.mail().returncode == 0
    replies = {str(m["To"]): m for m in desk.sink.wait_for(4)}
    assert replies["olga@example.ru"]["Content-Language"] == "ru"
    assert "нет файла запроса лицензии" in _text(replies["olga@example.ru"])
    assert replies["mary@example.com"]["Content-Language"] == "en"
    assert "holds no license request" in desk.body_of(replies["mary@example.com"])


def test_the_command_speaks_the_operators_language(desk: Any) -> None:
    """licwiz center mail's own messages follow --lang (and the locale); its replies do not."""
    import subprocess
    import sys

    base = [sys.executable, "-m", "licwiz.cli", "--lang", "ru", "center", "mail", "--smtp", "127.0.0.1:25",
            "--home", str(desk.center.home), "--db", desk.center.db_url]
    r = subprocess.run([*base, "--imap", "127.0.0.1:143"], capture_output=True, text=True, env=desk.env(),
                       timeout=60)
    assert r.returncode != 0 and "для --imap нужен --user" in r.stderr and "Traceback" not in r.stderr
    r = subprocess.run([*base, "--help"], capture_output=True, text=True, env=desk.env(), timeout=60)
    assert r.returncode == 0 and "читать почтовый ящик IMAP вместо папки Maildir" in r.stdout
