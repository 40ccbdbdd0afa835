"""Keys typed ahead (a paste, a script, a slow link delivering a burst in one
read) act in the order they were typed, and no single-letter hotkey fires
while a text field has the focus (issue 14, points 12 and 4).

``burst`` posts the key events to the App with no pause between them, as the
terminal driver does with the keys of one read; Pilot's ``press`` waits for
the App to be idle after every key, which hides these races.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

import pytest
from licwiz.app.state import ErrorInfo
from support.fixtures_center import free_port
from support.fixtures_wizard import WizardDriver, first_time
from textual import events
from textual.widgets import Input

REGNUM, PIN = "0466396876", "305316720747231"  # valid check digits; the center is never asked
OTHER_PIN = "305-316-720-747-231"


def dead_center() -> str:
    return f"http://127.0.0.1:{free_port()}"


_NAMED = {"\t": "tab", " ": "space", "/": "slash", ".": "full_stop", "-": "minus", "_": "underscore",
          "~": "tilde"}


def key_event(key: str) -> events.Key:
    """The Key event the terminal driver makes for ``key`` (a character or a key name)."""
    if len(key) == 1:
        return events.Key(_NAMED.get(key, key), key)
    return events.Key(key, None)


def burst(d: WizardDriver, *keys: str) -> None:
    """Every key at once: each item is a key name ("ctrl+u") or a string typed
    character by character."""
    for item in keys:
        for key in ([item] if item in ("tab", "ctrl+u", "enter", "backspace", "home", "end", "left")
                    else list(item)):
            d.app.post_message(key_event(key))


async def settled(d: WizardDriver, cond: Any, what: str) -> None:
    await d.wait(cond, what=what)
    await d.pilot.pause()


# -- point 12: Ctrl+U and the keys after it -----------------------------------------


async def test_tab_ctrl_u_and_digits_typed_at_once_keep_the_digits(wizard_run: Any) -> None:
    async with wizard_run(dead_center()) as d:
        await d.press("enter")
        await d.at("kit")
        await d.fill("#regnum", REGNUM)
        await d.fill("#pin", "111222333444555")
        await d.focused("regnum")
        burst(d, "tab", "ctrl+u", PIN)
        pin = d.screen.query_one("#pin", Input)
        await settled(d, lambda: d.screen.focused is pin and len(pin.value) >= len(PIN), "the PIN typed")
        assert pin.value == PIN
        assert d.next_enabled()


async def test_editing_keys_typed_ahead_act_in_order(wizard_run: Any) -> None:
    """Backspace, Home and Left are the field's own keys: typed in one burst with
    characters they act where they were typed, not after the characters."""
    async with wizard_run(dead_center()) as d:
        await d.press("enter")
        await d.at("kit")
        await d.focused("regnum")
        field = d.screen.query_one("#regnum", Input)
        burst(d, "123", "backspace", "4", "home", "9")
        await settled(d, lambda: len(field.value) >= 4 and field.cursor_position == 1, "the keys handled")
        # in the order typed: 123, 12, 124, cursor to the start, 9124 (handled after the
        # characters, Backspace and Home would leave 124 with the 9 lost)
        assert field.value == "9124", field.value


async def test_pasted_text_after_ctrl_u_is_kept(wizard_run: Any) -> None:
    async with wizard_run(dead_center()) as d:
        await d.press("enter")
        await d.at("kit")
        await d.fill("#regnum", "123")
        await d.focused("regnum")
        d.app.post_message(key_event("end"))
        d.app.post_message(key_event("ctrl+u"))
        d.app.post_message(events.Paste(REGNUM))
        field = d.screen.query_one("#regnum", Input)
        await settled(d, lambda: field.value != "123", "the paste handled")
        assert field.value == REGNUM


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_in_a_terminal_tab_ctrl_u_and_digits_sent_at_once_keep_the_digits(tmp_path: Path) -> None:
    """The installed licwiz in tmux: Tab into the filled PIN field, Ctrl+U and the
    new PIN sent by one send-keys (one write to the terminal), then Enter."""
    from e2e.test_e2e_tmux import private_tmux

    env = {"LICWIZ_ALL_USERS_DIR": str(tmp_path / "all"), "LICWIZ_USER_DIR": str(tmp_path / "user"),
           "XDG_CONFIG_HOME": str(tmp_path / "config"), "TERM": "xterm-256color", "LANG": "C.UTF-8"}
    with private_tmux() as term:
        term.start(env, "wizard", "--center", dead_center(), width=80, height=24)
        term.wait_for("Acquire a license")
        term.keys("Enter")
        term.wait_for("Kit number")
        term.type(REGNUM)
        term.keys("Tab")
        term.type("111222333444555")
        term.keys("BTab")  # back in the kit number field; the PIN field is filled
        term.tmux("send-keys", "-t", term.session, "Tab", "C-u", PIN, "Enter")
        shown = term.wait_for("First-time registration")
        assert "step 3" in shown, shown


# -- point 4: no single-letter hotkey while a text field has the focus ------------------


async def to_step(d: WizardDriver, step: str) -> None:
    """To ``step`` (an offline step with a text field and the V and M keys), then
    as after a failure there: V and M are live."""
    if step == "file_install":
        await d.choose("#action", "license_file")
        await d.press("enter")
    else:
        await first_time(d, REGNUM, PIN)
        await d.at("automatic")  # the center is not there: the check fails, M chooses another method
        await d.wait(lambda: d.next_enabled() and not d.screen.query_one("#cancel-row").display, 30,
                     "the availability check")
        await d.press("m")
        await d.at("method")
        await d.choose("#method", "file" if step == "file_request" else "phone")
        await d.press("enter")
        if step == "phone_response":
            await d.at("phone_codes")
            await d.wait(d.next_enabled, 30, "the request codes")
            await d.next()
    await d.at(step)
    d.state.error = ErrorInfo(code="file_format", brief="not a license", detail="")


FIELDS = {"file_request": "request_path", "file_install": "license_path", "phone_response": "resp-1"}


@pytest.mark.parametrize("step", FIELDS)
async def test_letters_typed_in_a_text_field_are_text_not_hotkeys(wizard_run: Any, step: str) -> None:
    """Typed in one burst into the focused field (typing "/tmp/m" in the license-file
    path opened the Method step): every letter is text, V and M do nothing."""
    async with wizard_run(dead_center()) as d:
        await to_step(d, step)
        field = d.screen.query_one(f"#{FIELDS[step]}", Input)
        field.focus()
        await d.focused(FIELDS[step])
        field.value = ""
        await d.pilot.pause()
        typed = "vmc/tmp/vm"
        burst(d, typed)
        await settled(d, lambda: len(field.value) >= len(typed) or d.state.current != step, "the text typed")
        assert d.state.current == step and type(d.screen).__name__ != "ErrorDialog"
        assert field.value == typed


@pytest.mark.parametrize("step", FIELDS)
async def test_letters_typed_before_the_field_had_the_focus_reach_the_field(
        wizard_run: Any, step: str) -> None:
    """Keys that arrive while nothing has the focus (typed ahead while a step is
    being built) are handed to the step itself, which reads them once it is
    built and has focused its field. They go into the field, never to the
    step's V and M keys. Here the step is held busy (as by its mount) while the
    App hands it the keys, then focuses the field, as a step being built does."""
    async with wizard_run(dead_center()) as d:
        await to_step(d, step)
        field = d.screen.query_one(f"#{FIELDS[step]}", Input)
        field.value = "x"
        d.screen.set_focus(None)
        await d.pilot.pause()
        built = asyncio.Event()

        async def building() -> None:
            await built.wait()
            d.screen.set_focus(field)

        d.screen.call_later(building)
        typed = "m/v.lic"
        burst(d, typed)
        d.app.call_later(built.set)  # after the App has handed the step every key
        await settled(d, lambda: len(field.value) >= len(typed) or d.state.current != step, "the text typed")
        assert d.state.current == step and type(d.screen).__name__ != "ErrorDialog"
        assert field.value == typed  # the "x" was selected as the field got the focus: typing replaced it


async def test_letter_hotkeys_still_work_off_the_text_fields(wizard_run: Any) -> None:
    """The rule takes nothing else away: on a button, M selects another method
    (from step 1's "Specify license details file": back to step 1)."""
    async with wizard_run(dead_center()) as d:
        await to_step(d, "file_install")
        d.screen.query_one("OfflineFailure").display = True
        d.screen.query_one("#view-error").focus()
        await d.focused("view-error")
        await d.press("v")
        await d.dialog("ErrorDialog")
        await d.press("escape")
        await d.focused("view-error")
        await d.press("m")
        await d.at("action")
