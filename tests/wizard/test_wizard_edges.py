"""Rough edges of the wizard's dialogs and steps (issue 14): help texts flow
to the dialog's width, focus after a failed license file install, arrow keys
in the quit dialog, the Recovery step's box for the same license only."""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any

from support.fixtures_center import free_port
from support.fixtures_wizard import WizardDriver
from textual.geometry import Region
from textual.widgets import Static

_ITEM = re.compile(r"\s*(?:[-*]|\d+\.)\s")


def dead_center() -> str:
    return f"http://127.0.0.1:{free_port()}"


def rendered_rows(d: WizardDriver) -> tuple[list[str], int]:
    """The rows the dialog's text is drawn on, as on screen, and their width."""
    static = d.screen.query_one(".dialog-text Static", Static)
    width, height = static.content_size.width, static.content_size.height
    strips = static.render_lines(Region(0, 0, static.size.width, height))
    return [strip.text.rstrip() for strip in strips], width


def assert_flows(d: WizardDriver, what: str) -> None:
    """Each row of a paragraph is filled: the next row's first word would not
    have fitted on it (a hard-wrapped text leaves a word or two alone instead)."""
    rows, width = rendered_rows(d)
    assert rows and any(rows), f"{what}: nothing rendered"
    for row, after in itertools.pairwise(rows):
        if not row.strip() or not after.strip() or _ITEM.match(after) or after.startswith(" "):
            continue  # a paragraph's end, a list item, an indented line: rows of their own
        first = after.split()[0]
        assert len(row) + 1 + len(first) > width, (
            f"{what}: {row!r} is followed by {after!r}, which would have fitted on it "
            f"(width {width}):\n" + "\n".join(rows))


async def test_help_and_attention_texts_flow_to_the_dialog_width(wizard_run: Any) -> None:
    async with wizard_run(dead_center(), size=(80, 24)) as d:
        await d.press("f1")
        await d.dialog("TextDialog")
        assert_flows(d, "help of the first step")
        await d.press("escape")
        await d.at("action")
        await d.press("enter")
        await d.at("kit")
        await d.press("f1")
        await d.dialog("TextDialog")
        assert_flows(d, "help of the kit step")
        rows, _ = rendered_rows(d)
        # A heading and its items keep their own rows.
        assert any(r.strip() == "Advanced settings (F4):" for r in rows), rows
        await d.press("escape")
        await d.at("kit")
        await d.press("f3")
        await d.dialog("PinSetDialog")
        assert_flows(d, "Attention!...")
        rows, _ = rendered_rows(d)
        assert any(r.startswith("- The multi-user set") for r in rows), rows  # list items stay items
        await d.press("escape")
        await d.at("kit")
        await d.press("escape")
        await d.at("action")
        await d.choose("#action", "license_file")
        await d.press("enter")
        await d.at("file_install")
        await d.press("f1")
        await d.dialog("TextDialog")
        assert_flows(d, "help of the license file step")


async def test_error_description_keeps_its_lines(wizard_run: Any) -> None:
    from licwiz.app.state import ErrorInfo
    from licwiz.screens.dialogs import ErrorDialog

    info = ErrorInfo(code="x", brief="b" * 70, detail="one\ntwo")
    async with wizard_run(dead_center(), size=(80, 24)) as d:
        d.app.push_screen(ErrorDialog(info))
        await d.dialog("ErrorDialog")
        rows, _ = rendered_rows(d)
        assert "Request id: -" in rows and "one" in rows and "two" in rows, rows


async def test_failed_license_file_install_returns_to_the_path(wizard_run: Any, tmp_path: Path) -> None:
    from textual.widgets import Input

    bad = tmp_path / "1234567890-001.lic"
    bad.write_text("not a license\n")
    async with wizard_run(dead_center(), size=(80, 24)) as d:
        await d.choose("#action", "license_file")
        await d.press("enter")
        await d.at("file_install")
        await d.fill("#license_path", str(bad))
        await d.press("enter")
        await d.wait(lambda: d.screen.query_one("OfflineFailure").display, what="the failure shown")
        await d.focused("license_path")
        field = d.screen.query_one("#license_path", Input)
        await d.wait(lambda: field.selection == (0, len(str(bad))), what="the whole path selected")
        assert "Install (Enter)" in d.screen.buttons.label("next")
        await d.press("x")  # typing replaces the selected path
        assert field.value == "x"
        await d.fill("#license_path", str(bad))
        await d.press("enter")  # Enter installs again, as the button says
        await d.wait(lambda: "Installing" not in d.text("#progress") and d.screen.focused is field,
                     what="the second attempt done")
        assert d.screen.query_one("OfflineFailure").display and d.state.current == "file_install"


async def test_quit_dialog_arrows_move_between_its_buttons(wizard_run: Any) -> None:
    async with wizard_run(dead_center(), size=(80, 24)) as d:
        await d.press("enter")
        await d.at("kit")
        await d.type("#regnum", "12")
        await d.press("ctrl+q")
        await d.dialog("QuitDialog", focus="no")
        for key, where in (("left", "yes"), ("right", "no"), ("up", "yes"), ("down", "no"), ("left", "yes")):
            await d.press(key)
            await d.focused(where)
        await d.press("right")
        await d.focused("no")
        await d.press("enter")  # Stay
        await d.at("kit")
        assert d.app.return_code is None
        await d.press("ctrl+q")
        await d.dialog("QuitDialog", focus="no")
        await d.press("left")
        await d.focused("yes")
        await d.press("enter")  # Quit (lose it)
        await d.wait(lambda: d.app.return_code is not None, what="exit")
    assert d.app.return_code == 130


async def test_recovery_shows_the_box_for_the_same_license_and_the_extra_pin_for_an_update(
        wizard_run: Any) -> None:
    from licwiz.core.identifiers import new_pin, new_regnum
    from support.fixtures_wizard import to_kit

    def shown(selector: str) -> bool:
        widget = d.screen.query_one(selector)
        return bool(widget.display and widget.parent.display and widget.region.area)

    async with wizard_run(dead_center(), size=(80, 24)) as d:
        await to_kit(d, new_regnum(), new_pin())
        await d.choose("#operation", "recover")
        await d.press("enter")
        await d.at("recovery")
        # Next with the same license chosen but its box not ticked: the error
        # line says why, under the box.
        await d.choose("#recover_choice", "same")
        await d.next()
        await d.wait(lambda: "Tick the box" in d.text("#err-same_params"), what="the box's error line")
        assert d.screen.query_one("#err-same_params").region.y > d.screen.query_one("#same_params").region.y
        assert d.state.current == "recovery"
        await d.choose("#recover_choice", "update")
        await d.pilot.pause()
        assert not shown("#same_params"), "the same-license box is shown for an update"
        assert shown("#extra_pin") and shown("#pin-in-use")
        await d.press("enter")  # Enter on the choice moves on to what is left to fill
        await d.focused("extra_pin")
        await d.choose("#recover_choice", "same")
        await d.pilot.pause()
        assert shown("#same_params")
        assert not shown("#extra_pin") and not shown("#pin-in-use")
        await d.press("enter")
        await d.focused("same_params")
        await d.press("space")
        assert d.next_enabled()
        await d.choose("#recover_choice", "update")  # and back: the box goes again
        await d.pilot.pause()
        assert not shown("#same_params") and shown("#extra_pin")
