"""The whole offline round trips: the wizard (Pilot) on one side, a REAL
``licwiz center serve`` on the other, its web page and operator console
driven in headless Chromium (Playwright with Debian's /usr/bin/chromium).
The page in Russian: a browser whose locale is ru-RU (its Accept-Language)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from licwiz.core import exchange, phonecodes
from licwiz.core.fingerprint import collect
from licwiz.core.request import ActivationRequest
from licwiz.core.storage import license_dir, state_dir
from support.fixtures_offline import OFF_OWNER, OFF_PRODUCT
from support.fixtures_wizard import WizardDriver

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists() and os.environ.get("CI") != "true",
                       reason="Debian's chromium is not installed (CI installs it)"),
]


@contextlib.asynccontextmanager
async def browser_page(locale: str | None = None) -> AsyncIterator[Any]:
    """A page of a fresh headless Chromium; ``locale`` sets its language (and Accept-Language)."""
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context(accept_downloads=True, locale=locale)
            yield await context.new_page()
        finally:
            await browser.close()


async def to_method(d: WizardDriver, regnum: str, pin: str, *, operation: str = "first",
                    update_pin: str | None = None) -> None:
    """Action -> kit (automatic acquisition off) -> operation -> owner data -> method."""
    await d.press("enter")
    await d.at("kit")
    await d.fill("#regnum", regnum)
    await d.fill("#pin", pin)
    await d.press("f4")
    await d.tick("#automatic", False)
    await d.next()
    await d.at("operation")
    await d.choose("#operation", operation)
    await d.press("enter")
    if operation == "first":
        await d.at("owner_first")
        await d.fill_owner("owner", OFF_OWNER)
        await d.tick("#accuracy")
    else:
        await d.at("recovery")
        if update_pin is None:
            await d.choose("#recover_choice", "same")
            await d.tick("#same_params")
        else:
            await d.choose("#recover_choice", "update")
            await d.fill("#extra_pin", update_pin)
        await d.next()
        await d.at("owner_verify")
        await d.fill_owner("verify", OFF_OWNER)
    await d.next()
    await d.at("method")


def _installed() -> list[Path]:
    d = license_dir("all-users")
    return sorted(d.glob("*.lic")) if d.exists() else []


async def test_offline_file_round_trip_wizard_and_browser(
    wizard_center: Any, wizard_run: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    center = wizard_center
    kit = center.create_kit(users=5)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    # 1. The wizard saves the request file (default: the current directory) and is closed.
    async with wizard_run(center.url) as d:
        await to_method(d, kit.regnum, kit.multi_pins[0])
        await d.choose("#method", "file")
        await d.press("enter")
        await d.at("file_request")
        assert center.url in d.text("#sequence")
        assert not d.next_enabled()
        assert d.screen.query_one("#request_path").value == str(work / f"licwiz-request-{kit.regnum}.req")
        await d.press("enter")  # Enter in the path field saves
        await d.wait(lambda: bool(d.state.request_file), what="request file saved")
        request_file = Path(d.state.request_file)
        assert request_file.exists() and request_file.parent == work
        assert str(request_file) in d.text("#saved")  # full path, ready for scp
        assert d.next_enabled()
    assert list((state_dir() / "pending").glob("*.json"))
    # 2. The person uploads it on the center's web page and saves the license data file.
    async with browser_page() as page:
        await page.goto(f"{center.url}/")
        assert await page.is_visible("text=Browse for the license request file")
        await page.set_input_files("#request_file", str(request_file))
        await page.click("#send")
        await page.wait_for_selector("#issued")
        async with page.expect_download() as info:
            await page.click("#save")
        download = await info.value
        assert download.suggested_filename == f"{kit.regnum}-001.lic"
        await download.save_as(str(work / download.suggested_filename))
    # 3. The wizard, reopened: Specify license details file (step 1) installs it.
    async with wizard_run(center.url) as d:
        await d.choose("#action", "license_file")
        await d.press("enter")
        await d.at("file_install")
        assert kit.regnum in d.text("#pending")
        assert d.screen.query_one("#license_path").value == str(work / f"{kit.regnum}-001.lic")
        await d.press("enter")
        await d.at("final", timeout=20)
        summary = d.text("#summary")
        assert f"{kit.regnum}-001" in summary and "Users: 5" in summary
    assert [p.name for p in _installed()] == [f"{kit.regnum}-001.lic"]
    assert not list((state_dir() / "pending").glob("*.json"))


async def test_offline_file_upload_in_russian_browser_and_the_switch(
    wizard_center: Any, tmp_path: Path
) -> None:
    """A Russian browser gets the page in Russian; the license it downloads installs;
    the switch flips the language and the choice sticks across pages."""
    center = wizard_center
    kit = center.create_kit(users=5)
    req = ActivationRequest(product=OFF_PRODUCT, regnum=kit.regnum, pin=kit.multi_pins[0], operation="first",
                            owner=OFF_OWNER, params=collect(OFF_PRODUCT))
    pending = exchange.write_request_file(req, tmp_path)
    junk = tmp_path / "junk.req"
    junk.write_text("hello world\n")
    async with browser_page(locale="ru-RU") as page:
        await page.goto(f"{center.url}/")
        assert await page.get_attribute("html", "lang") == "ru"
        assert await page.is_visible("text=Выберите файл запроса лицензии")
        assert await page.inner_text("#send") == "Получить лицензию"
        # A refusal, worded in Russian.
        await page.set_input_files("#request_file", str(junk))
        await page.click("#send")
        await page.wait_for_selector("#error")
        assert "Не удаётся прочитать файл запроса лицензии" in await page.inner_text("#error")
        # The request file: the license, in Russian words, downloaded.
        await page.set_input_files("#request_file", pending.request_file)
        await page.click("#send")
        await page.wait_for_selector("#issued")
        issued = await page.inner_text("#issued")
        assert f"Лицензия {kit.regnum}-001 готова" in issued and "на 5 пользователей" in issued
        assert await page.inner_text("#save") == "Сохранить файл данных лицензии"
        async with page.expect_download() as info:
            await page.click("#save")
        download = await info.value
        assert download.suggested_filename == f"{kit.regnum}-001.lic"
        saved = tmp_path / download.suggested_filename
        await download.save_as(str(saved))
        # The switch: English, kept on reload and on the operator console; then back to Russian.
        await page.click("#lang-en")
        await page.wait_for_function("document.documentElement.lang === 'en'")
        assert await page.is_visible("text=Browse for the license request file")
        await page.reload()
        assert await page.get_attribute("html", "lang") == "en"
        await page.goto(f"{center.url}/operator")
        assert await page.is_visible("text=Operator token")
        await page.click("#lang-ru")
        await page.wait_for_function("document.documentElement.lang === 'ru'")
        assert await page.is_visible("text=Токен оператора")
        await page.goto(f"{center.url}/")
        assert await page.get_attribute("html", "lang") == "ru"
        assert await page.is_visible("text=Выберите файл запроса лицензии")
    outcome, used = await exchange.install_answer_text(saved.read_text(), product=OFF_PRODUCT,
                                                       target="all-users")
    assert used is not None and used.id == pending.id
    assert outcome.license.method == "file" and outcome.license.users == 5
    assert [p.name for p in _installed()] == [f"{kit.regnum}-001.lic"]


async def test_offline_bad_files_refused_in_wizard_and_page(
    wizard_center: Any, wizard_run: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tampered, truncated, wrong-product and wrong-computer files: clear words on
    both sides, nothing installed."""
    center = wizard_center
    kit = center.create_kit(users=1)
    monkeypatch.chdir(tmp_path)
    async with wizard_run(center.url) as d:
        await to_method(d, kit.regnum, kit.single_pins[0])
        await d.choose("#method", "file")
        await d.press("enter")
        await d.at("file_request")
        await d.press("enter")
        await d.wait(lambda: bool(d.state.request_file), what="request file saved")
        request_file = Path(d.state.request_file)
    text = request_file.read_text()
    lines = text.splitlines()
    tampered = tmp_path / "tampered.req"
    tampered.write_text("\n".join([*lines[:2], lines[2][:5] + ("Q" if lines[2][5] != "Q" else "R")
                                   + lines[2][6:], *lines[3:]]) + "\n")
    truncated = tmp_path / "truncated.req"
    truncated.write_text("\n".join(lines[:3]) + "\n")
    async with browser_page() as page:
        for bad, words in ((tampered, "damaged or was altered"), (truncated, "cannot be read")):
            await page.goto(f"{center.url}/")
            await page.set_input_files("#request_file", str(bad))
            await page.click("#send")
            await page.wait_for_selector("#error")
            assert words in await page.inner_text("#error")
            assert not await page.is_visible("#save")
        await page.goto(f"{center.url}/")
        await page.set_input_files("#request_file", str(request_file))
        await page.click("#send")
        await page.wait_for_selector("#issued")
        async with page.expect_download() as info:
            await page.click("#save")
        good = tmp_path / "good.lic"
        await (await info.value).save_as(str(good))
    good_text = good.read_text()
    # Files the wizard must refuse: each with its words, nothing installed.
    other = center.create_kit(users=1, product="another-product")
    wrong_product = tmp_path / "wrong-product.lic"
    wrong_product.write_text(_license_for(center, other.regnum, other.single_pins[0], "another-product"))
    wrong_computer = tmp_path / "wrong-computer.lic"
    k2 = center.create_kit(users=1)
    wrong_computer.write_text(_license_for(center, k2.regnum, k2.single_pins[0], "licwiz-demo",
                                           params={"machine_id": "0" * 64, "cpu": "1" * 64}))
    cases = {
        "tampered.lic": (good_text.replace('"users":1', '"users":7'), "changed or forged"),
        "truncated.lic": (good_text[: len(good_text) // 2], "truncated"),
        "wrong-product.lic": (wrong_product.read_text(), "product"),
        "wrong-computer.lic": (wrong_computer.read_text(), "no license request for kit"),
    }
    async with wizard_run(center.url) as d:
        await d.choose("#action", "license_file")
        await d.press("enter")
        await d.at("file_install")
        for name, (content, words) in cases.items():
            f = tmp_path / "in" / name
            f.parent.mkdir(exist_ok=True)
            f.write_text(content)
            before = d.text("#error-brief")
            d.screen.query_one("#license_path").focus()  # after a refusal the focus is on "another method"
            await d.fill("#license_path", str(f))
            await d.press("enter")
            await d.wait(lambda b=before: d.text("#error-brief") != b and not d.screen._installing,
                         what=f"refusal of {name}")
            assert words in d.text("#error-brief"), (name, d.text("#error-brief"))
            assert _installed() == []
            assert d.state.current == "file_install"
        # V shows the description for support.
        d.screen.focus_button("next")
        await d.press("v")
        await d.wait(lambda: type(d.screen).__name__ == "ErrorDialog", what="error dialog")
        await d.press("escape")
        await d.at("file_install")
        # And the genuine file still installs.
        d.screen.query_one("#license_path").focus()
        await d.fill("#license_path", str(good))
        await d.press("enter")
        await d.at("final", timeout=20)
    assert [p.name for p in _installed()] == [f"{kit.regnum}-001.lic"]


def _license_for(
    center: Any, regnum: str, pin: str, product: str, params: dict[str, str] | None = None
) -> str:
    """A genuine license of this center for another product or computer (via the API)."""
    import httpx
    from licwiz.core.fingerprint import collect
    from licwiz.core.request import ActivationRequest

    req = ActivationRequest(product=product, regnum=regnum, pin=pin, operation="first", owner=OFF_OWNER,
                            params=params or collect(product), method="online")
    r = httpx.post(f"{center.url}/api/v1/activate", json=req.to_dict(), timeout=30)
    assert r.status_code == 200, r.text
    return str(r.json()["license"])


async def _operator_login(page: Any, center: Any, name: str) -> None:
    token = center.cli("operator", "add", name).stdout.strip().split()[-1]
    await page.goto(f"{center.url}/operator")
    await page.fill("#token", token)
    await page.click("#login")
    await page.wait_for_selector("#phone-form")


async def _type_response(d: WizardDriver, rows: list[str]) -> None:
    for i, row in enumerate(rows, 1):
        await d.type(f"#resp-{i}", row)


async def test_offline_phone_round_trip_wizard_and_operator(
    wizard_center: Any, wizard_run: Any, tmp_path: Path
) -> None:
    center = wizard_center
    center.config_set("phone_number", "+1 555 0100")  # the wizard takes its number from its config
    kit = center.create_kit(users=10)
    async with wizard_run(center.url, phone_number="+1 555 0100") as d:
        await to_method(d, kit.regnum, kit.multi_pins[0])
        await d.choose("#method", "phone")
        await d.press("enter")
        await d.at("phone_codes")
        await d.wait(lambda: "Request code:" in d.text("#codes"), what="request code")
        assert "+1 555 0100" in d.text("#phone-number")
        table = d.text("#codes")
        rows = [line.split(None, 1)[1] for line in table.splitlines()[3:] if line.strip()]
        assert len(rows) >= 3 and all(phonecodes.check_row(i, r) for i, r in enumerate(rows, 1))
        assert sum(len(phonecodes.normalise(r)) for r in rows) <= 120
        await d.next()
        await d.at("phone_response")
        # The operator, in the browser: one misheard digit, caught and named by row.
        async with browser_page() as page:
            await _operator_login(page, center, "carol")
            typo_row = 2
            for i, r in enumerate(rows, 1):
                text = r
                if i == typo_row:
                    digits = phonecodes.normalise(r)
                    text = digits[:4] + str((int(digits[4]) + 5) % 10) + digits[5:]
                await page.fill(f"#row{i}", text)
            # The script marks the row as it is typed, in words.
            assert "read row 2 again" in await page.inner_text(f"#mark{typo_row}")
            for name in OFF_OWNER.field_names():
                if name == "kind":
                    await page.select_option("#kind", OFF_OWNER.kind)
                else:
                    await page.fill(f"#owner-{name}", getattr(OFF_OWNER, name))
            await page.click("#issue")
            await page.wait_for_selector("#error")
            assert "row 2" in await page.inner_text("#error")
            await page.fill(f"#row{typo_row}", rows[typo_row - 1])
            await page.click("#issue")
            await page.wait_for_selector("#response-rows")
            answer = [await c.inner_text() for c in await page.query_selector_all("#response-rows td.digits")]
        assert len(answer) == 9 and sum(len(phonecodes.normalise(a)) for a in answer) <= 200
        # The customer types the answer; one misheard digit in row 4 is marked at once.
        wrong = list(answer)
        digits = phonecodes.normalise(wrong[3])
        wrong[3] = digits[:10] + str((int(digits[10]) + 1) % 10) + digits[11:]
        await _type_response(d, wrong)
        assert "wrong" in d.text("#mark-4") and d.text("#mark-3") == "ok"
        assert "row 4" in d.text("#status")
        assert not d.next_enabled()
        assert _installed() == []
        await d.type("#resp-4", answer[3])
        assert d.text("#mark-4") == "ok" and d.next_enabled()
        await d.next()
        await d.at("final", timeout=20)
        summary = d.text("#summary")
        assert f"{kit.regnum}-001" in summary and "Users: 10" in summary
    lic = _installed()
    assert [p.name for p in lic] == [f"{kit.regnum}-001.lic"]
    assert '"method":"phone"' in lic[0].read_text()


async def test_offline_phone_response_for_another_request_refused(
    wizard_center: Any, wizard_run: Any, tmp_path: Path
) -> None:
    """Rows that each pass their check but answer another request (another
    computer or owner): the signature does not verify, nothing is installed."""
    import httpx
    from licwiz.core import phonemsg
    from licwiz.core.request import ActivationRequest

    center = wizard_center
    kit, other = center.create_kit(users=1), center.create_kit(users=1)
    token = center.cli("operator", "add", "dave").stdout.strip().split()[-1]
    # An answer the center really gave, for another kit's phone request.
    req = ActivationRequest(product="licwiz-demo", regnum=other.regnum, pin=other.single_pins[0],
                            operation="first", owner=OFF_OWNER,
                            params={"machine_id": "abcd", "cpu": "ef01"}, method="phone")
    rows = phonemsg.request_rows(req)
    with httpx.Client(base_url=center.url, timeout=30) as c:
        c.post("/operator/login", data={"token": token})
        page = c.get("/operator").text
        csrf = page.split('name="csrf" value="')[1].split('"')[0]
        form = {"csrf": csrf, **{n: getattr(OFF_OWNER, n) for n in OFF_OWNER.field_names()},
                **{f"row{i}": r for i, r in enumerate(rows, 1)}}
        out = c.post("/operator", data=form).text
    answer = [x.split("</td>")[0] for x in out.split('<td class="digits">')[1:]]
    assert len(answer) == 9
    async with wizard_run(center.url) as d:
        await to_method(d, kit.regnum, kit.single_pins[0])
        await d.choose("#method", "phone")
        await d.press("enter")
        await d.at("phone_codes")
        await d.wait(lambda: "Request code:" in d.text("#codes"), what="request code")
        await d.next()
        await d.at("phone_response")
        for i, row in enumerate(answer, 1):
            await d.fill(f"#resp-{i}", row)
        assert d.next_enabled()
        await d.next()
        await d.wait(lambda: d.state.error is not None, what="refusal")
        assert "does not fit this request" in d.text("#error-brief")
        assert _installed() == []
        await d.press("m")
        await d.at("method")



