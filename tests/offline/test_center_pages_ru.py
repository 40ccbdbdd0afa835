"""The center's web page and operator console in Russian (issue 16), against a
real ``licwiz center serve`` over HTTP: the language follows Accept-Language per
request, the switch on the page overrides it and sticks (a cookie), refusals are
worded in the page's language, and the API's JSON never changes with the
language. The Chromium upload in Russian is in test_offline_roundtrip_browser.py."""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from licwiz.core import exchange, phonecodes
from licwiz.core.fingerprint import collect
from licwiz.core.request import ActivationRequest
from support.fixtures_center import CenterProcess
from support.fixtures_offline import OFF_OWNER, OFF_PRODUCT

TEMPLATES = Path(__file__).resolve().parents[2] / "center" / "templates"
RU = {"Accept-Language": "ru-RU,ru;q=0.9,en;q=0.5"}
EN = {"Accept-Language": "en-GB,en;q=0.9"}


@pytest.fixture
def trust_center(center: CenterProcess, monkeypatch: pytest.MonkeyPatch) -> CenterProcess:
    monkeypatch.setenv("LICWIZ_TRUSTED_KEYS", str(center.trusted_keys))
    monkeypatch.setenv("LICWIZ_PRODUCT", OFF_PRODUCT)
    return center


def _req(regnum: str, pin: str, operation: str = "first") -> ActivationRequest:
    return ActivationRequest(product=OFF_PRODUCT, regnum=regnum, pin=pin, operation=operation,
                             owner=OFF_OWNER, params=collect(OFF_PRODUCT))


def _request_text(req: ActivationRequest, dest: Path) -> str:
    return Path(exchange.write_request_file(req, dest).request_file).read_text()


def _text(page: str) -> str:
    """What a person reads: the page without tags, entities decoded, spaces folded."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def _upload(c: httpx.Client, payload: str | bytes, name: str = "r.req") -> httpx.Response:
    return c.post("/", files={"request_file": (name, payload, "text/plain")})


def test_the_page_speaks_the_language_the_browser_asks_for(trust_center: CenterProcess) -> None:
    url = trust_center.url
    ru = httpx.get(f"{url}/", headers=RU, timeout=10)
    assert ru.status_code == 200
    assert '<html lang="ru">' in ru.text and ru.headers["content-language"] == "ru"
    vary = {v.strip().lower() for v in ru.headers["vary"].split(",")}
    assert {"accept-language", "cookie"} <= vary
    words = _text(ru.text)
    for russian in ("Центр лицензирования", "Получение лицензии вручную", "Выберите файл запроса лицензии",
                    "Получить лицензию", "Вручную (с помощью файла)"):
        assert russian in words, russian
    assert "Browse for the license request file" not in words
    en = httpx.get(f"{url}/", headers=EN, timeout=10)
    assert '<html lang="en">' in en.text and en.headers["content-language"] == "en"
    assert "Browse for the license request file" in en.text and "Получить" not in en.text
    # Negotiation: the best supported language by quality; nothing supported is English.
    assert httpx.get(f"{url}/", headers={"Accept-Language": "de-DE, ru;q=0.7, en;q=0.3"},
                     timeout=10).headers["content-language"] == "ru"
    assert httpx.get(f"{url}/", headers={"Accept-Language": "de-DE"}, timeout=10) \
        .headers["content-language"] == "en"
    assert httpx.get(f"{url}/", timeout=10).headers["content-language"] == "en"
    # The switch names each language in itself, on every page.
    assert ">English</a>" in ru.text and ">Русский</a>" in en.text


def test_the_switch_overrides_the_browser_and_sticks(trust_center: CenterProcess) -> None:
    with httpx.Client(base_url=trust_center.url, headers=RU, timeout=10) as c:
        assert c.get("/").headers["content-language"] == "ru"
        chosen = c.get("/?lang=en")
        assert chosen.headers["content-language"] == "en"
        assert "Browse for the license request file" in chosen.text
        cookie = chosen.headers["set-cookie"].lower()
        assert cookie.startswith("licwiz_lang=en") and "path=/" in cookie and "samesite=lax" in cookie
        # The next pages, the console included, stay English although the browser asks for Russian.
        assert c.get("/").headers["content-language"] == "en"
        login = c.get("/operator")
        assert login.headers["content-language"] == "en" and "Operator token" in login.text
        # And back: the choice sticks the other way too.
        assert c.get("/operator?lang=ru").headers["content-language"] == "ru"
        page = c.get("/")
        assert page.headers["content-language"] == "ru" and "Получить лицензию" in page.text
        # Nonsense is ignored: the cookie's language stays.
        assert c.get("/?lang=xx").headers["content-language"] == "ru"
        assert "set-cookie" not in c.get("/?lang=xx").headers


def test_refusals_on_the_page_in_russian_the_api_json_unchanged(trust_center: CenterProcess,
                                                                 tmp_path: Path) -> None:
    center = trust_center
    kit = center.create_kit()
    text = _request_text(_req(kit.regnum, kit.single_pins[0]), tmp_path / "a")
    with httpx.Client(base_url=center.url, headers=RU, timeout=30) as c:
        cases: list[tuple[str | bytes, str, str]] = [
            ("hello world\n", "Не удаётся прочитать файл запроса лицензии", "cannot be read"),
            (b"\x00\xff\x00binary", "bin.req — не текстовый файл", "not a text file"),
            ("", "Файл запроса лицензии не выбран", "No license request file was chosen"),
        ]
        for payload, russian, english in cases:
            r = _upload(c, payload, "bin.req")
            assert r.status_code >= 400 and r.headers["content-language"] == "ru"
            words = _text(r.text)
            assert russian in words and english not in words, (russian, words)
            assert "Код ошибки:" in words and "Traceback" not in r.text
        ok = _upload(c, text)
        assert ok.status_code == 200
        words = _text(ok.text)
        assert f"Лицензия {kit.regnum}-001 готова" in words
        assert "на 1 пользователя" in words and "Сохранить файл данных лицензии" in words
        again = _upload(c, text)
        assert "уже был дан ответ" in _text(again.text)
        # The same PIN in a new request: the refusal's brief in Russian, its code as it is.
        text2 = _request_text(_req(kit.regnum, kit.single_pins[0]), tmp_path / "b")
        used = _upload(c, text2)
        assert used.status_code == 409
        words = _text(used.text)
        assert "Этот пин-код уже использован" in words and "pin_used" in words
        assert "Каждый пин-код активирует одну лицензию один раз" in words
    # The API answers the same JSON whatever the language asked for (only the request id differs).
    unknown = _req(kit.regnum, kit.single_pins[1]).to_dict() | {"regnum": "1234567897"}

    def answers(headers: dict[str, str]) -> list[Any]:
        out = []
        with httpx.Client(base_url=center.url, headers=headers, timeout=30) as c:
            calls = (("/api/v1/requests", {"request": text2}), ("/api/v1/requests", {"request": "x"}),
                     ("/api/v1/activate", unknown), ("/api/v1/check", unknown))
            for path, body in calls:
                r = c.post(path, json=body)
                assert "content-language" not in r.headers
                data = r.json()
                data.get("error", {}).pop("request_id", None)
                out.append((r.status_code, data))
        return out

    ru_answers, en_answers = answers(RU), answers(EN)
    assert ru_answers == en_answers
    assert ru_answers[0][1]["error"] == {
        "code": "pin_used", "brief": "This PIN code has already been used",
        "detail": ru_answers[0][1]["error"]["detail"]}
    assert all(ord(ch) < 128 for ch in repr(ru_answers))


def test_operator_console_in_russian(trust_center: CenterProcess) -> None:
    center = trust_center
    kit = center.create_kit(users=10)
    token = center.cli("operator", "add", "olga").stdout.strip().split()[-1]
    with httpx.Client(base_url=center.url, headers=RU, timeout=30) as c:
        login = _text(c.get("/operator").text)
        assert "Получение лицензии по телефону: вход оператора" in login and "Токен оператора" in login
        bad = c.post("/operator/login", data={"token": "nope"})
        assert bad.status_code == 401 and bad.headers["content-language"] == "ru"
        assert "Неизвестный или отключённый токен оператора" in _text(bad.text)
        assert c.post("/operator/login", data={"token": token}).status_code == 303
        page = c.get("/operator")
        words = _text(page.text)
        for russian in ("Оператор olga", "Выйти", "Строка 1", "Коды запроса", "Тип владельца",
                        "Физическое лицо", "Проверить и выдать лицензию"):
            assert russian in words, russian
        # The script's words for a row come from the page, in its language.
        assert 'data-wrong="ошибка: переспросите строку 2"' in page.text and 'data-ok="верно"' in page.text
        csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text)
        assert csrf
        _pending, rows = exchange.start_phone(_req(kit.regnum, kit.multi_pins[0]))
        owner = {n: getattr(OFF_OWNER, n) for n in OFF_OWNER.field_names()}
        form = {"csrf": csrf.group(1), **owner,
                **{f"row{i}": phonecodes.format_row(r) for i, r in enumerate(rows, 1)}}
        typo = dict(form, row2=rows[1][:3] + str((int(rows[1][3]) + 1) % 10) + rows[1][4:])
        r = c.post("/operator", data=typo)
        words = _text(r.text)
        assert r.status_code == 400 and "ошибка: переспросите строку 2" in words
        # core's own words (a Msg), said in the page's language
        assert "Неверная контрольная цифра в строке 2" in words and "Check digit" not in words
        # The owner labels (core's), and a missing field named in Russian.
        assert "Контактное лицо" in words and "Contact person" not in words
        r = c.post("/operator", data={**form, "email": ""})
        assert r.status_code == 400 and "Эл. почта: обязательное поле" in _text(r.text)
        r = c.post("/operator", data={**form, "city": "Stokholm"})
        assert r.status_code == 400
        mismatch = "Данные о владельце лицензии не совпадают с теми, что прислал компьютер клиента"
        assert mismatch in _text(r.text)
        r = c.post("/operator", data=form)
        assert r.status_code == 200, r.text
        words = _text(r.text)
        got = re.findall(r'<td class="digits">([0-9 ]+)</td>', r.text)
        assert len(got) == 9 and "Продиктуйте клиенту эти 9 строк" in words
        assert f"Лицензия {kit.regnum}-001 на 10 пользователей." in words
        # The English console is the same page in English.
        en = c.get("/operator?lang=en")
        assert "Operator olga" in en.text and "Log out" in en.text and "Оператор" not in en.text


def test_every_template_text_is_marked_for_translation() -> None:
    """No words in a template outside _() / {% trans %}: what is left after removing
    them, the other Jinja tags and the HTML markup is punctuation and the two
    language names of the switch (each written in its own language)."""
    assert sorted(p.name for p in TEMPLATES.glob("*.html")) == [
        "_error.html", "base.html", "index.html", "operator.html", "operator_login.html"]
    for template in TEMPLATES.glob("*.html"):
        source = template.read_text(encoding="utf-8")
        left = re.sub(r"{%-?\s*trans\b.*?{%-?\s*endtrans\s*-?%}", " ", source, flags=re.S)
        left = re.sub(r"{{.*?}}|{%.*?%}|{#.*?#}", " ", left, flags=re.S)
        left = re.sub(r"<!doctype[^>]*>|<[^>]+>", " ", left, flags=re.S | re.I)
        words = [w for w in re.findall(r"[^\W\d_]+", left) if w not in {"English", "Русский"}]
        assert not words, f"{template.name}: unmarked text {words}"


def test_an_error_is_worded_in_the_page_language_from_its_message() -> None:
    """Core's errors carry their message (Msg) and a page's own errors their fields: the
    page words them in its language; unknown text stays as it came."""
    from licwiz.center.web import ErrorView, PageError, error_view
    from licwiz.core import i18n
    from licwiz.core.errors import LicwizError
    from licwiz.core.message import Msg

    ru, en = i18n.translation("ru"), i18n.translation("en")
    core_error = LicwizError(Msg("{name}: over {kib} KiB", name="big.req", kib=64))
    assert error_view(core_error, "r1").words(ru)["brief"] == "big.req: больше 64 КиБ"
    assert error_view(core_error, "r1").words(en)["brief"] == "big.req: over 64 KiB"
    page_error = PageError("{name} is not a text file; choose the .req file the wizard saved.",
                           name="x{y}.bin")
    assert str(page_error) == "x{y}.bin is not a text file; choose the .req file the wizard saved."
    assert error_view(page_error, "r2").words(ru)["brief"].startswith("x{y}.bin — не текстовый файл")
    # A refusal's detail with values: English in the API's body, Russian on a Russian page.
    import datetime as dt
    import json

    from licwiz.center import refusals

    locked = refusals.kit_locked(dt.datetime(2026, 1, 2, 3, 4, 5), 42)
    assert json.loads(json.dumps(locked.as_dict()))["detail"].startswith(
        "After repeated wrong PIN codes the registration number is locked until 2026-01-02 03:04:05 UTC")
    shown = error_view(locked, "r4").words(ru)
    assert shown["brief"].startswith("Слишком много неверных пин-кодов: этот регистрационный номер")
    assert "заблокирован до 2026-01-02 03:04:05 UTC (примерно 42 с)" in shown["detail"]
    by_phone = error_view(refusals.method_locked("phone"), "r5").words(ru)["detail"]
    assert by_phone.endswith("Выберите способ «По телефону».")
    plain = ErrorView("pin_used", "This PIN code has already been used", "something {odd}", "r3")
    assert plain.words(ru) == {"code": "pin_used", "brief": "Этот пин-код уже использован",
                               "detail": "something {odd}", "request_id": "r3"}


async def test_pages_in_both_languages_at_once_never_mix(trust_center: CenterProcess) -> None:
    """One center serves people in several languages at the same moment: each page is
    wholly in its own request's language (no process-wide language switched per request)."""
    import asyncio

    async with httpx.AsyncClient(base_url=trust_center.url, timeout=60) as c:
        asks = [RU if i % 2 else EN for i in range(40)]
        pages = await asyncio.gather(*(c.get("/", headers=h) for h in asks))
    for asked, page in zip(asks, pages, strict=True):
        words = _text(page.text)
        if asked is RU:
            assert page.headers["content-language"] == "ru" and "Получить лицензию" in words
            assert "Get the license" not in words and "Licensing Center" not in words
        else:
            assert page.headers["content-language"] == "en" and "Get the license" in words
            assert "Получить" not in words and "Центр" not in words


def test_a_center_started_under_a_russian_locale_keeps_the_api_english(
    center_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The process locale is not the pages' language: under LANG=ru_RU.UTF-8 the API's
    JSON stays English and a browser asking for English gets English."""
    monkeypatch.setenv("LANG", "ru_RU.UTF-8")
    monkeypatch.delenv("LC_ALL", raising=False)
    monkeypatch.delenv("LC_MESSAGES", raising=False)
    monkeypatch.delenv("LANGUAGE", raising=False)
    center = center_factory()
    r = httpx.post(f"{center.url}/api/v1/requests", json={"request": "x"}, headers=RU, timeout=30)
    error = r.json()["error"]
    assert r.status_code == 400 and error["code"] == "bad_request_file"
    assert error["brief"] == "The license request file cannot be read"
    assert all(ord(ch) < 128 for ch in error["detail"]), error["detail"]
    page = httpx.post(f"{center.url}/", files={"request_file": ("a.req", "hello\n", "text/plain")},
                      headers=EN, timeout=30)
    words = _text(page.text)
    assert page.headers["content-language"] == "en" and "The license request file cannot be read" in words
    assert not re.search(r"[а-яё]", words.replace("Русский", ""), re.I), words
    page = httpx.post(f"{center.url}/", files={"request_file": ("a.req", "hello\n", "text/plain")},
                      headers=RU, timeout=30)
    words = _text(page.text)
    assert "Не удаётся прочитать файл запроса лицензии" in words
    assert "Создайте в мастере новый файл запроса лицензии и отправьте его снова." in words
