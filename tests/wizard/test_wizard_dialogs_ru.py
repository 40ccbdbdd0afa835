"""The wizard's dialogs and model texts in Russian (issue 16): F1, "Attention!..."
(F3), the quit dialog, the all-users warning, the file path prompt and an error
with its description (an unreachable Licensing Center), under Pilot at 80x24.

The language is set in-process (``i18n.set_language``) and put back to English
after each test, so the English tests around these stay English; the quit
dialog is checked in both languages to show it.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from typing import Any

import pytest
from licwiz.app import flow, steps
from licwiz.app.config import WizardConfig
from licwiz.app.controller import WizardController
from licwiz.app.state import ErrorInfo, WizardState
from licwiz.core import __version__, i18n
from licwiz.core.identifiers import new_pin, new_regnum
from support.fixtures_center import free_port
from support.fixtures_wizard import WizardDriver, first_time
from textual.geometry import Region
from textual.widgets import Button, Static


@pytest.fixture
def russian(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The process speaks Russian for one test (LANGUAGE, which set_language
    sets for child programs, is restored by monkeypatch afterwards)."""
    monkeypatch.delenv("LANGUAGE", raising=False)
    i18n.set_language("ru")
    assert i18n.translation("ru").gettext("Next") == "Далее", "run `make catalogs`: no Russian catalog"
    try:
        yield
    finally:
        i18n.set_language("en")


def dead_center() -> str:
    return f"http://127.0.0.1:{free_port()}"


def dialog_text(d: WizardDriver) -> Static:
    """The dialog's text: in a scrolling box (TextDialog) or the box itself (ConfirmDialog)."""
    found = d.screen.query(".dialog-text Static") or d.screen.query("Static.dialog-text")
    return found.only_one(Static)


def dialog_rows(d: WizardDriver) -> list[str]:
    """The rows the dialog's text is drawn on (all of them, scrolled or not)."""
    static = dialog_text(d)
    strips = static.render_lines(Region(0, 0, static.size.width, static.content_size.height))
    return [strip.text.rstrip() for strip in strips]


def words(text: str) -> list[str]:
    return text.split()


def assert_buttons_whole(d: WizardDriver) -> None:
    """Every button of the dialog shows its whole label inside the dialog's row of buttons."""
    row = d.screen.query_one(".dialog-buttons")
    for button in d.screen.query(Button):
        label = str(button.label)
        assert button.content_size.width >= len(label), f"{label!r} cut to {button.content_size.width}"
        assert row.region.contains_region(button.region), f"{label!r} outside the dialog: {button.region}"


def test_the_model_speaks_russian(russian: None) -> None:
    assert steps.title("kit") == "Номер, пин-код" and flow.TITLES["owner_first"] == "Владелец"
    assert [flow.METHOD_LABELS[m] for m in flow.METHODS] == [
        "Автоматически", "Вручную (с помощью файла)", "По телефону"]
    assert flow.step_errors(WizardState(history=["action", "kit", "operation"])) == {
        "operation": "Выберите вид операции"}
    state = WizardState(history=["action", "kit", "operation", "recovery"], operation="recover",
                        recover_choice="update", extra_pin="", pin=new_pin())
    assert "Дополнительный пин-код" in flow.step_errors(state)["extra_pin"]
    c = WizardController(WizardConfig(center_url="http://127.0.0.1:9", product="licwiz-demo"), state)
    assert c.where() == "для всех пользователей этого компьютера"
    info = ErrorInfo("pin_used", "PIN code already used", "detail", request_id="r-1", status=409)
    lines = info.description().splitlines()
    # Labels in Russian, values as they are (support reads the code and the request id).
    assert lines[:2] == ["Код ошибки: pin_used", "Сообщение: PIN code already used"]
    assert "Идентификатор запроса: r-1" in lines and f"Версия licwiz: {__version__}" in lines[5]


def test_the_model_speaks_english_by_default() -> None:
    assert i18n.current_language() == "en"
    assert steps.title("kit") == "Kit and PIN" and flow.METHOD_LABELS["phone"] == "By phone"
    assert ErrorInfo("x", "b").description().startswith("Error code: x\nMessage: b\n")


async def test_f1_help_dialog_in_russian(russian: None, wizard_run: Any) -> None:
    from licwiz.screens.choices import ActionStep

    async with wizard_run(dead_center()) as d:
        await d.press("f1")
        await d.dialog("TextDialog")
        box = d.screen.query_one(".dialog")
        assert str(box.border_title) == "Справка: Действие"  # the step's title, translated
        rows = dialog_rows(d)
        # The step's help whole, in Russian, flowed to the dialog's width.
        assert words(" ".join(rows)) == words(i18n._(ActionStep.HELP)), rows
        assert re.search("[а-яё]{5}", " ".join(rows)), rows
        assert str(d.screen.query_one("#close", Button).label) == "Закрыть (Esc)"
        assert_buttons_whole(d)
        await d.press("escape")
        await d.at("action")


async def test_attention_notes_in_russian_flow_to_the_dialog_width(russian: None, wizard_run: Any) -> None:
    from licwiz.screens.dialogs import pin_set_notes

    async with wizard_run(dead_center()) as d:
        await d.press("enter")
        await d.at("kit")
        await d.press("f3")
        await d.dialog("PinSetDialog")
        box = d.screen.query_one(".dialog")
        assert str(box.border_title) == "Внимание! Наборы пин-кодов комплектов на 5, 10 и 20 пользователей"
        rows = dialog_rows(d)
        shown = " ".join(rows)
        assert "Многопользовательский набор" in shown and "pin_set_conflict" in shown
        # Every word is there, in order: nothing cut at the dialog's edge.
        assert words(shown) == words(pin_set_notes()), rows
        # A list item starts its own row; a paragraph fills its rows (no hard wraps
        # shorter than the dialog leaving a word alone).
        assert any(r.startswith("- Многопользовательский набор") for r in rows), rows
        width = dialog_text(d).content_size.width
        for row, after in itertools.pairwise(rows):
            if row.strip() and after.strip() and not after.startswith("- "):
                assert len(row) + 1 + len(after.split()[0]) > width, (row, after, width)
        # The whole notes at once at 80x24: nothing to scroll to before a PIN is chosen.
        assert d.screen.query_one(".dialog-text").max_scroll_y == 0
        assert_buttons_whole(d)
        await d.press("enter")
        await d.at("kit")


@pytest.mark.parametrize("language, title, yes, no, lost", [
    ("ru", "Прервать получение лицензии?", "Выйти без сохранения", "Остаться", "будут потеряны"),
    ("en", "Quit license acquisition?", "Quit (lose it)", "Stay", "will be lost"),
], ids=["ru", "en"])
async def test_the_quit_dialog_speaks_the_language(
    language: str, title: str, yes: str, no: str, lost: str, wizard_run: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LANGUAGE", raising=False)
    i18n.set_language(language)
    try:
        async with wizard_run(dead_center()) as d:
            await d.press("enter")
            await d.at("kit")
            await d.type("#regnum", "12")
            await d.press("ctrl+q")
            await d.dialog("QuitDialog", focus="no")
            assert str(d.screen.query_one(".dialog").border_title) == title
            assert str(d.screen.query_one("#yes", Button).label) == yes
            assert str(d.screen.query_one("#no", Button).label) == no
            assert lost in " ".join(dialog_rows(d))
            assert_buttons_whole(d)
            await d.press("enter")  # Stay (Остаться) is the default
            await d.at("kit")
            assert d.app.return_code is None
    finally:
        i18n.set_language("en")


async def test_all_users_warning_path_prompt_and_saved_request_quit_in_russian(
    russian: None, wizard_run: Any
) -> None:
    from licwiz.screens.dialogs import AllUsersWarning, PathDialog, QuitDialog

    async with wizard_run(dead_center()) as d:
        d.app.push_screen(AllUsersWarning("/var/lib/licwiz/licenses"))
        await d.dialog("AllUsersWarning", focus="yes")
        assert str(d.screen.query_one(".dialog").border_title) == "Предупреждение"
        text = " ".join(dialog_rows(d))
        assert "нет права записи в папку лицензий" in text and "/var/lib/licwiz/licenses" in text
        assert str(d.screen.query_one("#yes", Button).label) == "Получить для текущего пользователя"
        assert str(d.screen.query_one("#no", Button).label) == "Отменить получение лицензии"
        assert_buttons_whole(d)  # the longest Russian buttons of any dialog, side by side at 80x24
        await d.press("escape")
        await d.at("action")

        d.app.push_screen(PathDialog("Сохранить данные", "", "Сохранить"))
        await d.dialog("PathDialog", focus="path")
        assert str(d.screen.query_one("#cancel", Button).label) == "Отмена (Esc)"
        await d.press("enter")  # nothing typed: said at the field, in Russian
        await d.wait(lambda: d.screen.query_one("#path-error").display, what="the path error")
        assert d.text("#path-error") == "! Путь к файлу: введите имя файла"
        assert_buttons_whole(d)
        await d.press("escape")
        await d.at("action")

        # Quit after the request file was saved: how to go on, in the action step's words.
        d.app.push_screen(QuitDialog(request_saved=True))
        await d.dialog("QuitDialog", focus="no")
        text = " ".join(words(" ".join(dialog_rows(d))))
        assert "Файл запроса лицензии сохранён" in text and "«Указать файл данных лицензии»" in text, text


async def test_an_unreachable_center_and_its_description_in_russian(russian: None, wizard_run: Any) -> None:
    center = dead_center()
    async with wizard_run(center) as d:
        await first_time(d, new_regnum(), new_pin())
        await d.at("automatic")
        await d.wait(lambda: d.state.error is not None, what="the failure")
        error = d.state.error
        assert error.code == "unreachable" and error.retry
        assert error.brief == "Центр лицензирования занят (или недоступен), повторите попытку чуть позже"
        assert "Центр лицензирования занят" in d.text("#error-brief")
        await d.press("v")
        await d.dialog("ErrorDialog")
        assert str(d.screen.query_one(".dialog").border_title) == "Описание ошибки"
        rows = dialog_rows(d)
        # The labels in Russian, the values untouched: code, version, the center asked.
        assert "Код ошибки: unreachable" in rows, rows
        assert any(r.startswith(f"Версия licwiz: {__version__} (Python ") for r in rows), rows
        assert f"Центр лицензирования: {center}" in rows, rows
        assert any(r.startswith("Время (UTC): 20") for r in rows), rows
        shown = " ".join(words(" ".join(rows)))  # the detail's paragraphs wrap at the dialog's width
        assert "Не удалось связаться с Центром лицензирования" in shown
        assert "Повторная попытка никогда не расходует второй пин-код" in shown
        assert not re.search(r"\b(?:Error code|Request id|Detail|Trying again)\b", shown), shown
        await d.press("escape")
        await d.at("automatic")


async def test_a_refusal_of_the_center_reads_in_russian(russian: None, wizard_center: Any,
                                                       wizard_run: Any) -> None:
    """The center answers in English with a stable code (its API never changes with the
    language); the wizard shows the brief in Russian and keeps the code."""
    kit = wizard_center.create_kit(users=1)
    async with wizard_run(wizard_center.url) as d:
        await first_time(d, kit.regnum, new_pin())
        await d.at("automatic")
        await d.wait(lambda: d.state.error is not None, what="the refusal")
        error = d.state.error
        assert error.code == "pin_unknown" and not error.retry
        assert re.search("[а-яё]{4}", error.brief, re.IGNORECASE) and "PIN" not in error.brief, error.brief
        assert error.brief in d.text("#error-brief") and "pin_unknown" in d.text("#error-brief")
        await d.press("v")
        await d.dialog("ErrorDialog")
        rows = dialog_rows(d)
        assert "Код ошибки: pin_unknown" in rows, rows
        # The request id support looks up is the center's, untouched.
        assert f"Идентификатор запроса: {error.request_id}" in rows and error.request_id, rows
