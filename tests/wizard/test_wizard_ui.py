"""The wizard's keyboard behaviour: Back keeps what was typed on every step,
errors at the field as typed, Save/Load data, dialogs, quitting."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from licwiz.core.identifiers import new_pin, new_regnum
from licwiz.core.owner import load_file, save_file
from support.fixtures_center import free_port
from support.fixtures_wizard import WIZ_OWNER, WizardDriver, recovery, to_owner


def dead_center() -> str:
    return f"http://127.0.0.1:{free_port()}"


def value(d: WizardDriver, selector: str) -> Any:
    return d.screen.query_one(selector).value


async def test_back_from_every_step_keeps_what_was_typed(wizard_run: Any) -> None:
    regnum, pin, extra = new_regnum(), new_pin(), new_pin()
    async with wizard_run(dead_center(), size=(100, 30)) as d:
        await recovery(d, regnum, pin, update_pin=extra, automatic=False)
        await d.at("method")  # automatic acquisition is off
        await d.choose("#method", "file")

        # Esc, step by step, back to the start: each step shows what was typed.
        await d.press("escape")
        await d.at("owner_verify")
        assert value(d, "#verify-contact") == WIZ_OWNER.contact
        assert value(d, "#verify-address") == WIZ_OWNER.address
        await d.press("escape")
        await d.at("recovery")
        assert value(d, "#recover_choice") == "update" and value(d, "#extra_pin") == extra
        await d.press("escape")
        await d.at("operation")
        assert value(d, "#operation") == "recover"
        await d.press("escape")
        await d.at("kit")
        assert value(d, "#regnum") == regnum and value(d, "#pin") == pin
        assert value(d, "#automatic") is False
        await d.press("escape")
        await d.at("action")
        assert value(d, "#action") == "acquire"
        assert not d.screen.buttons.button_shown("back")  # nothing before the first step

        # Forward again: the method chosen earlier is still chosen.
        await d.press("enter")
        await d.at("kit")
        await d.next()
        await d.at("operation")
        await d.press("enter")
        await d.at("recovery")
        await d.next()
        await d.at("owner_verify")
        await d.next()
        await d.at("method")
        assert value(d, "#method") == "file"
        assert d.state.history == ["action", "kit", "operation", "recovery", "owner_verify", "method"]


async def test_rail_jumps_back_to_any_step(wizard_run: Any) -> None:
    regnum, pin = new_regnum(), new_pin()
    async with wizard_run(dead_center()) as d:
        await to_owner(d, regnum, pin)
        rail = d.screen.query_one("#rail")
        assert rail.lines == ["+ 1 Action", "+ 2 Kit and PIN", "+ 3 Operation", "> 4 Owner data"]
        rail.focus()
        await d.press("up", "up", "enter")
        await d.at("kit")
        assert value(d, "#regnum") == regnum and d.state.history == ["action", "kit"]


async def test_input_errors_are_shown_at_the_field_as_typed(wizard_run: Any) -> None:
    regnum = new_regnum()
    wrong = regnum[:-1] + str((int(regnum[-1]) + 1) % 10)
    async with wizard_run(dead_center()) as d:
        await d.press("enter")
        await d.at("kit")
        assert d.text("#err-regnum") == ""  # nothing typed, nothing shouted
        await d.type("#regnum", wrong)
        assert "check digit does not match" in d.text("#err-regnum")
        assert d.screen.query_one("#err-regnum").display
        assert not d.next_enabled()
        await d.type("#regnum", regnum)
        assert d.text("#err-regnum") == ""
        await d.type("#pin", "123-45x")
        assert "only digits" in d.text("#err-pin")
        await d.type("#pin", new_pin()[:-3])
        assert "expected 15 digits, got 12" in d.text("#err-pin")
        # Advanced settings: server and port are checked only when installing on a server.
        await d.press("f4")
        await d.tick("#on_server")
        await d.type("#port", "99999")
        assert "Port: a number from 1 to 65535" in d.text("#err-port")


async def test_advanced_settings_open_from_their_title_and_keep_their_values(wizard_run: Any) -> None:
    async with wizard_run(dead_center()) as d:
        await d.press("enter")
        await d.at("kit")
        assert d.state.automatic and not d.state.install_on_server
        title = d.screen.query_one("#advanced")
        title.focus()
        await d.press("enter")  # the title opens them, as F4 does
        await d.wait(lambda: bool(d.screen.query("#on_server")), what="advanced settings")
        assert value(d, "#on_server") is False and value(d, "#automatic") is True
        assert d.screen.query_one("#server").disabled
        await d.tick("#on_server")
        assert not d.screen.query_one("#server").disabled
        await d.fill("#server", "lic.example")
        await d.fill("#port", "8475")
        await d.press("f4")  # closed and opened again: the same fields, the same values
        await d.pilot.click("#advanced")
        await d.pilot.pause()
        assert not d.screen.query_one("#advanced").collapsed
        assert value(d, "#server") == "lic.example" and value(d, "#port") == "8475"
        await d.press("escape")
        await d.at("action")
        await d.press("enter")
        await d.at("kit")  # open from the start now: installing on a server was chosen
        assert not d.screen.query_one("#advanced").collapsed
        assert value(d, "#on_server") is True and value(d, "#server") == "lic.example"
        assert value(d, "#port") == "8475"


async def test_accuracy_box_gates_next_and_save_load_data(wizard_run: Any, tmp_path: Path) -> None:
    target = tmp_path / "owner.json"
    async with wizard_run(dead_center()) as d:
        await to_owner(d, new_regnum(), new_pin())
        await d.fill_owner("owner", WIZ_OWNER)
        assert not d.next_enabled()
        await d.next()  # refused: says why, on the status line and under the box
        assert "Tick the box" in d.text("#status")
        await d.wait(lambda: "Tick the box" in d.text("#err-accuracy"), what="the box's error line")
        err = d.screen.query_one("#err-accuracy")
        box = d.screen.query_one("#accuracy")
        assert err.display and err.region.y > box.region.y, "the error line is not under the box"
        assert d.state.current == "owner_first"
        # Save data (F5) -> a path dialog, keyboard only.
        await d.press("f5")
        await d.dialog("PathDialog")
        await d.fill("#path", str(target))
        await d.press("enter")
        await d.wait(lambda: target.exists(), what="owner file")
        assert load_file(target) == WIZ_OWNER
        assert oct(target.stat().st_mode & 0o777) == "0o600"
        # Load data into an empty form.
        for name in ("contact", "city"):
            await d.fill(f"#owner-{name}", "")
        await d.press("f6")
        await d.dialog("PathDialog")
        await d.press("enter")  # the last path is offered
        await d.wait(lambda: value(d, "#owner-contact") == WIZ_OWNER.contact, what="loaded")
        assert value(d, "#owner-city") == WIZ_OWNER.city
        # A broken file: the error is shown, nothing changes.
        bad = tmp_path / "bad.json"
        bad.write_text(json.dumps({"format": "something else"}))
        await d.press("f6")
        await d.dialog("PathDialog")
        await d.fill("#path", str(bad))
        await d.press("enter")
        await d.wait(lambda: "Load data" in d.text("#status"), what="load error")
        assert "not an owner-data file" in d.text("#status")
        assert value(d, "#owner-contact") == WIZ_OWNER.contact
        await d.tick("#accuracy")
        assert d.next_enabled()
        await d.wait(lambda: not err.display, what="the box's error line gone once it is ticked")


async def test_help_attention_and_quit(wizard_run: Any) -> None:
    async with wizard_run(dead_center()) as d:
        await d.press("f1")
        await d.dialog("TextDialog")
        assert "Specify license details file" in d.text(".dialog-text Static")
        await d.press("escape")
        await d.at("action")
        await d.press("enter")
        await d.at("kit")
        await d.press("f3")
        await d.dialog("PinSetDialog")
        assert "pin_set_conflict" in d.text(".dialog-text Static")
        await d.press("enter")
        await d.at("kit")
        await d.type("#regnum", "12")
        await d.press("ctrl+q")  # something typed: asks first
        await d.dialog("QuitDialog", focus="no")
        await d.press("enter")  # the default is Stay
        await d.at("kit")
        assert d.app.return_code is None
        await d.press("ctrl+q")
        await d.dialog("QuitDialog", focus="no")
        await d.press("shift+tab")
        await d.focused("yes")
        await d.press("enter")
        await d.wait(lambda: d.app.return_code is not None, what="exit")
    assert d.app.return_code == 130


async def test_quit_without_input_does_not_ask(wizard_run: Any) -> None:
    async with wizard_run(dead_center()) as d:
        await d.press("ctrl+q")
        await d.wait(lambda: d.app.return_code is not None, what="exit")
    assert d.app.return_code == 130


async def test_license_file_action_reaches_the_offline_step_and_back(wizard_run: Any) -> None:
    async with wizard_run(dead_center()) as d:
        await d.pick("#action", "license_file", "file_install")
        await d.press("escape")
        await d.at("action")
        assert value(d, "#action") == "license_file"


async def test_demo_notes_beside_the_wizard_when_wide(wizard_run: Any) -> None:
    notes = "Kit 1234567890\nPIN 111-222-333-444-555"
    async with wizard_run(dead_center(), size=(120, 30), demo_notes=notes) as d:
        assert d.screen.query_one("#notes").display
        assert "111-222-333-444-555" in d.text("#notes")
        await d.pilot.resize_terminal(80, 24)
        await d.pilot.pause()
        assert not d.screen.query_one("#notes").display
        assert "F2: demo kits" in d.text("#title")
        await d.press("f2")  # narrow terminal: F2 shows the notes
        await d.dialog("TextDialog")
        assert "111-222-333-444-555" in d.text(".dialog-text Static")


async def test_the_screen_stack_is_the_path(wizard_run: Any) -> None:
    """Next pushes a new step, Back pops it: the step below is the same screen
    with what was typed, and the step left is never shown again."""
    async with wizard_run(dead_center()) as d:
        action = d.screen
        await d.press("enter")
        await d.at("kit")
        kit = d.screen
        await d.type("#regnum", "12345")
        assert [type(s).__name__ for s in d.app.screen_stack[1:]] == ["ActionStep", "KitStep"]
        await d.press("escape")
        await d.at("action")
        assert d.screen is action
        assert len(d.app.screen_stack) == 2
        await d.press("enter")
        await d.at("kit")
        assert d.screen is not kit  # a new screen, from the state
        assert value(d, "#regnum") == "12345"
        await d.fill("#pin", new_pin())
        await d.fill("#regnum", new_regnum())
        await d.next()
        await d.at("operation")
        await d.press("enter")
        await d.at("owner_first")
        assert d.state.history == ["action", "kit", "operation", "owner_first"]
        assert [s.step for s in d.app.screen_stack[1:]] == d.state.history
        rail = d.screen.query_one("#rail")
        rail.focus()
        await d.press("up", "up", "up", "enter")  # the rail: back to step 1 in one move
        await d.at("action")
        assert d.screen is action and d.state.history == ["action"]
        assert len(d.app.screen_stack) == 2


# -- issue 14: rough edges of a walkthrough ------------------------------------------


async def test_status_line_shows_the_current_errors_after_a_correction(wizard_run: Any) -> None:
    """Issue 14.3: a corrected field's error leaves the status line too."""
    regnum, pin = new_regnum(), new_pin()
    wrong = regnum[:-1] + str((int(regnum[-1]) + 1) % 10)
    async with wizard_run(dead_center()) as d:
        await d.press("enter")
        await d.at("kit")
        await d.type("#regnum", wrong)
        await d.next()  # refused: the status line says why
        assert "check digit does not match" in d.text("#status")
        await d.type("#regnum", regnum)
        assert "check digit" not in d.text("#status")
        assert "PIN code" in d.text("#status")  # what is still wrong is said
        await d.type("#pin", pin)
        assert d.text("#status") == ""


async def test_space_ticks_a_box_and_enter_is_next(wizard_run: Any) -> None:
    """Issue 14.2: Space then Enter on the accuracy box ticks it and goes on."""
    async with wizard_run(dead_center()) as d:
        await to_owner(d, new_regnum(), new_pin())
        await d.fill_owner("owner", WIZ_OWNER)
        d.screen.query_one("#accuracy").focus()
        await d.focused("accuracy")
        await d.press("space")
        assert value(d, "#accuracy") is True
        await d.press("enter")
        await d.wait(lambda: d.state.current == "automatic", what="Next from the tick box")
        assert d.state.accuracy_ack is True


async def test_person_does_not_require_an_organisation(wizard_run: Any) -> None:
    """Issue 14.10: owner type person: Organisation is optional, and says so."""
    async with wizard_run(dead_center()) as d:
        await to_owner(d, new_regnum(), new_pin())
        org = d.screen.query_one("#owner-organisation")
        assert org.placeholder == "required"
        await d.fill_owner("owner", WIZ_OWNER)
        await d.choose("#owner-kind", "person")
        await d.fill("#owner-organisation", "")
        assert org.placeholder == "optional"
        assert d.text("#err-owner-organisation") == ""
        await d.tick("#accuracy")
        assert d.next_enabled()
        await d.choose("#owner-kind", "organisation")
        assert org.placeholder == "required"
        assert not d.next_enabled()


async def test_load_data_focuses_the_accuracy_box(wizard_run: Any, tmp_path: Path) -> None:
    """Issue 14.5: after Load data the one thing left to do has the focus."""
    target = tmp_path / "owner.json"
    save_file(target, WIZ_OWNER)
    async with wizard_run(dead_center()) as d:
        await to_owner(d, new_regnum(), new_pin())
        await d.press("f6")
        await d.dialog("PathDialog")
        await d.fill("#path", str(target))
        await d.press("enter")
        await d.wait(lambda: value(d, "#owner-contact") == WIZ_OWNER.contact, what="loaded")
        await d.focused("accuracy")


BLOCKS = set("▁▂▃▄▅▆▇█▉▊▋▌▍▎▏")


async def test_ascii_consoles_get_no_block_character_scrollbars() -> None:
    """Issue 14.9: TERM=linux / LICWIZ_ASCII=1 draw scrollbars without block characters
    (the owner step scrolls in a terminal of 16 lines)."""
    from licwiz.app.config import WizardConfig
    from licwiz.app.state import WizardState
    from licwiz.app.wizard import LicwizApp

    state = WizardState(regnum=new_regnum(), pin=new_pin(), operation="first")
    state.history = ["action", "kit", "operation", "owner_first"]
    app = LicwizApp(WizardConfig(center_url=dead_center(), ascii=True), state)
    async with app.run_test(size=(80, 16)) as pilot:
        await app.controller.wait_started()
        await pilot.pause()
        body = app.screen.query_one("#body")
        assert body.max_scroll_y > 0  # a scrollbar is drawn
        for y in range(0, body.max_scroll_y + 1):  # every thumb position
            body.scroll_to(y=y, animate=False)
            await pilot.pause()
            drawn = app.export_screenshot()
            assert not BLOCKS & set(drawn), f"block characters at scroll position {y}"
