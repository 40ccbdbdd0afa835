"""Every label, hint, button and path of every step is whole on screen (issues 14.8 and 16),
in English and in Russian, at 80x24 and at 100x30 beside the demo panel (a 44-column body).

Each step is reached through the real flow under Pilot, against a real Licensing Center.
On each, every Static, Label, Button, the button bar, tick box, choice list and the step rail that is shown
is checked two ways: its text, drawn at the size it was given, still holds every character
of its whole text (a label cut to its width, or ended with "…", fails), and it lies inside
its containers (a button pushed past the body's edge, or a two-line label in a one-line
row, fails). Only the step body's own scrolling is allowed to hide a widget.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from licwiz.core import i18n
from licwiz.core.identifiers import format_pin
from licwiz.screens.buttonbar import ButtonBar
from licwiz.screens.buttonline import ButtonLine
from licwiz.screens.widgets import ChoiceList, StepRail
from support.fixtures_wizard import WIZ_OWNER, WizardDriver
from textual.geometry import Region
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Button, Checkbox, Static

CHECKED = (Static, Button, Checkbox, ChoiceList, StepRail, ButtonBar, ButtonLine)
NOTES = "Demo kits\n1-user kit 0466396876\n  PIN 305-316-720-747-231 (used)\n  PIN 123-456-789-012-345"


def _shown(widget: Widget) -> bool:
    node: Any = widget
    while isinstance(node, Widget):
        if not node.display or node.styles.visibility == "hidden":
            return False
        node = node.parent
    return True


def _squeeze(text: str) -> str:
    return re.sub(r"\s+", "", text)


def cut_texts(screen: Screen[Any]) -> list[str]:
    """What is not whole on ``screen``: one line per widget, naming it and what shows."""
    problems: list[str] = []
    for widget in screen.query("*"):
        if not isinstance(widget, CHECKED) or not _shown(widget) or not widget.size.area:
            continue
        whole = str(widget.render())
        if not whole.strip():
            continue
        name = f"{type(widget).__name__}#{widget.id or '?'}"
        # Inside its border and padding (a border's characters would split the text).
        gutter = widget.gutter
        inside = Region(gutter.left, gutter.top, widget.size.width, widget.size.height)
        drawn = "\n".join(strip.text for strip in widget.render_lines(inside))
        if _squeeze(whole) not in _squeeze(drawn):
            problems.append(f"{name}: {whole!r} is drawn as {drawn!r}")
            continue
        region = widget.region
        if region.right > screen.size.width:
            problems.append(f"{name}: {whole!r} runs past the screen's right edge ({region})")
            continue
        parent = widget.parent
        while isinstance(parent, Widget):
            box = parent.content_region
            scrolls = parent.allow_vertical_scroll
            if region.x < box.x or region.right > box.right or (
                    not scrolls and (region.y < box.y or region.bottom > box.bottom)):
                problems.append(f"{name}: {whole!r} ({region}) does not fit in "
                                f"{type(parent).__name__}#{parent.id or '?'} ({box})")
                break
            if scrolls:
                break  # the body scrolls: below it, what is outside is reached by scrolling
            parent = parent.parent
    return problems


async def assert_whole(d: WizardDriver, what: str) -> None:
    await d.pilot.pause()
    problems = cut_texts(d.screen)
    where = f"{what} at {d.app.size.width}x{d.app.size.height} in {i18n.current_language()}"
    assert not problems, f"{where}: cut texts:\n" + "\n".join(problems)


@pytest.fixture(params=["en", "ru"])
def language(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("LANGUAGE", "en")  # set_language writes it; restored after
    i18n.set_language(request.param)
    try:
        yield request.param
    finally:
        i18n.set_language("en")


LAYOUTS = {"80x24": ((80, 24), ""), "100x30-demo": ((100, 30), NOTES)}


@pytest.fixture(params=list(LAYOUTS))
def layout(request: pytest.FixtureRequest) -> tuple[tuple[int, int], str]:
    return LAYOUTS[request.param]


async def test_first_time_file_phone_and_automatic_steps_show_every_label_whole(
        wizard_center: Any, wizard_run: Any, language: str, layout: tuple[tuple[int, int], str],
        tmp_path: Any) -> None:
    size, notes = layout
    kit = wizard_center.create_kit(users=5, pins=3)
    async with wizard_run(wizard_center.url, size=size, demo_notes=notes,
                          center_email="licenses@vendor.example") as d:
        await assert_whole(d, "action")
        await d.press("enter")
        await d.at("kit")
        await d.fill("#regnum", kit.regnum)
        await d.fill("#pin", format_pin(kit.single_pins[0]))
        await assert_whole(d, "kit")
        await d.press("f4")
        await d.focused("on_server")
        await d.tick("#on_server")
        await assert_whole(d, "kit with Advanced settings open")
        await d.tick("#on_server", False)
        await d.next()
        await d.at("operation")
        await assert_whole(d, "operation")
        await d.press("enter")  # First-time registration
        await d.at("owner_first")
        await d.fill_owner("owner", WIZ_OWNER)
        await d.tick("#accuracy")
        await assert_whole(d, "owner data")
        await d.next()
        await d.at("automatic")
        await d.wait(lambda: d.next_enabled() and not d.screen.query_one("#cancel-row").display, 30,
                     "the availability check")
        await assert_whole(d, "automatic, after the check")
        await d.press("m")
        await d.at("method")
        await assert_whole(d, "method")
        await d.choose("#method", "file")
        await d.press("enter")
        await d.at("file_request")
        await d.fill("#request_path", str(tmp_path / "a-long-folder-name-for-the-request" / "request.req"))
        (tmp_path / "a-long-folder-name-for-the-request").mkdir()
        await assert_whole(d, "request file")
        await d.press("enter")  # Save request file
        await d.wait(lambda: bool(d.text("#saved")), 30, "the request file saved")
        await assert_whole(d, "request file, saved")
        await d.next()
        await d.at("file_install")
        await d.fill("#license_path", str(tmp_path / "no-such-license-data-file.lic"))
        await d.next()
        await assert_whole(d, "license file, with its error")
        (tmp_path / "not-a-license.lic").write_text("not a license\n")
        await d.fill("#license_path", str(tmp_path / "not-a-license.lic"))
        await d.next()
        await d.wait(lambda: d.screen.query_one("OfflineFailure").display, 30, "the refused file")
        await assert_whole(d, "license file, refused")
        await d.press("escape")
        await d.at("file_request")
        await d.press("escape")
        await d.at("method")
        await d.choose("#method", "phone")
        await d.press("enter")
        await d.at("phone_codes")
        await d.wait(d.next_enabled, 30, "the request codes")
        await assert_whole(d, "phone codes")
        await d.next()
        await d.at("phone_response")
        await d.type("#resp-1", "1234")
        await d.type("#resp-2", "123456789012345678901")
        await assert_whole(d, "phone answer")
        await d.press("escape")
        await d.at("phone_codes")
        await d.press("escape")
        await d.at("method")
        await d.choose("#method", "automatic")
        await d.press("enter")
        await d.at("automatic")
        await d.wait(lambda: d.next_enabled() and not d.screen.query_one("#cancel-row").display, 30,
                     "the availability check")
        await d.press("enter")  # Acquire
        await d.at("final", timeout=30)
        await assert_whole(d, "final")


async def test_recovery_steps_show_every_label_whole(
        wizard_run: Any, language: str, layout: tuple[tuple[int, int], str]) -> None:
    size, notes = layout
    async with wizard_run("http://127.0.0.1:9", size=size, demo_notes=notes) as d:
        await d.press("enter")
        await d.at("kit")
        await d.fill("#regnum", "0466396876")
        await d.fill("#pin", "305316720747231")
        await d.fill("#regnum", "0466396871")  # a wrong check digit: its error line
        await assert_whole(d, "kit with an error")
        await d.fill("#regnum", "0466396876")
        await d.next()
        await d.at("operation")
        await d.choose("#operation", "recover")
        await d.press("enter")
        await d.at("recovery")
        await d.choose("#recover_choice", "same")
        await assert_whole(d, "recovery, the same license")
        await d.choose("#recover_choice", "update")
        await d.fill("#extra_pin", "123456789012345")
        await assert_whole(d, "recovery, update")
        await d.next()
        await d.at("owner_verify")
        await d.fill_owner("verify", WIZ_OWNER)
        await assert_whole(d, "owner data to verify")


async def test_the_demo_notes_dialog_shows_the_centers_address_without_scrolling(
        wizard_run: Any, language: str, tmp_path: Any) -> None:
    """Issue 14.8: at 80x24 F2's dialog had to be scrolled to see the center's address."""
    from licwiz.cli.demo import DEMO_PINS, DemoKit, demo_notes

    pin = "305316720747231"
    kits = [DemoKit("0466396876", 1, "licwiz-demo", [pin] * DEMO_PINS),
            DemoKit("0466396877", 5, "licwiz-demo", [pin] * DEMO_PINS, [pin] * 2)]
    notes = demo_notes("http://127.0.0.1:38123", kits, tmp_path / "licenses")
    async with wizard_run("http://127.0.0.1:9", size=(80, 24), demo_notes=notes) as d:
        await d.press("f2")
        await d.dialog("TextDialog")
        await d.pilot.pause()
        text = d.screen.query_one(".dialog-text Static", Static)
        box = text.parent
        assert isinstance(box, Widget)
        drawn = [strip.text for strip in text.render_lines(Region(0, 0, text.size.width, text.size.height))]
        row = next(i for i, line in enumerate(drawn) if "127.0.0.1:38123" in line)
        assert box.scroll_offset.y == 0 and row < box.content_region.height, (row, box.content_region, drawn)
        assert not cut_texts(d.screen), cut_texts(d.screen)
