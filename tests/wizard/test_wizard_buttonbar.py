"""The step's Back / Next / Help / Quit row is one widget (screens/buttonbar.py)
that works as the row of Buttons it replaced: every button is its own Tab stop,
a disabled one is skipped and says so in words, Left/Right choose, Enter and
Space press, a click presses, and the chosen button of the focused bar is drawn
reversed (visible without colour)."""

from __future__ import annotations

from typing import Any

from licwiz.screens.buttonbar import ButtonBar
from support.fixtures_center import free_port
from support.fixtures_wizard import WizardDriver

REGNUM, PIN = "0466396876", "305316720747231"  # valid check digits; the center is never asked


def dead_center() -> str:
    return f"http://127.0.0.1:{free_port()}"


def chosen(d: WizardDriver) -> str | None:
    """The chosen button of the focused bar; None when the focus is elsewhere."""
    focused = d.screen.focused
    return focused.chosen if isinstance(focused, ButtonBar) else None


def bar_text(d: WizardDriver) -> str:
    return d.screen.buttons.render_line(0).text


def reversed_label(d: WizardDriver) -> str:
    """The text drawn reversed on the bar's line: the chosen button when focused."""
    strip = d.screen.buttons.render_line(0)
    return "".join(seg.text for seg in strip if seg.style is not None and seg.style.reverse).strip()


async def test_tab_goes_through_each_usable_button_and_on(wizard_run: Any) -> None:
    async with wizard_run(dead_center()) as d:
        await d.press("enter")
        await d.at("kit")
        assert "Next (incomplete)" in bar_text(d)  # disabled, said in words
        assert d.screen.buttons.button_disabled("next")
        for widget in ("pin", "attention", "advanced"):  # the body's stops, then the bar
            await d.press("tab")
            await d.wait(lambda w=widget: d.screen.focused is not None and w in (  # type: ignore[misc]
                d.screen.focused.id or "", getattr(d.screen.focused.parent, "id", "")), what=widget)
        await d.press("tab")
        await d.focused("back")
        assert reversed_label(d) == "< Back (Esc)"
        await d.press("tab")
        await d.focused("help")  # the disabled Next is no Tab stop
        await d.press("tab")
        await d.focused("quit")
        await d.press("tab")
        await d.wait(lambda: chosen(d) is None, what="focus leaving the bar")
        assert reversed_label(d) == ""  # nothing chosen is shown when the bar has no focus
        await d.press("shift+tab")
        await d.focused("quit")  # Shift+Tab enters the bar at its last button
        await d.press("shift+tab")
        await d.focused("help")
        await d.press("left")
        await d.focused("back")  # Left skips the disabled Next too
        await d.press("right", "right")
        await d.focused("quit")


async def test_enter_space_and_click_press_the_chosen_button(wizard_run: Any) -> None:
    async with wizard_run(dead_center()) as d:
        await d.press("enter")
        await d.at("kit")
        await d.fill("#regnum", REGNUM)
        await d.fill("#pin", PIN)
        await d.wait(lambda: not d.screen.buttons.button_disabled("next"), what="Next enabled")
        assert "Next > (Enter)" in bar_text(d)
        d.screen.focus_button("help")
        await d.focused("help")
        await d.press("enter")
        await d.dialog("TextDialog")
        await d.press("escape")
        await d.at("kit")
        await d.focused("help")  # back where it was
        await d.press("left")
        await d.focused("next")  # enabled now: a stop again
        await d.press("space")
        await d.at("operation")
        # A click on Back's label presses Back.
        text = bar_text(d)
        x = text.index("< Back (Esc)") + 2
        await d.pilot.click("#buttons", offset=(x, 0))
        await d.at("kit")
        assert d.screen.query_one("#regnum").value == REGNUM  # type: ignore[attr-defined]


async def test_first_step_has_no_back_and_focus_lands_on_next(wizard_run: Any) -> None:
    async with wizard_run(dead_center()) as d:
        assert not d.screen.buttons.button_shown("back")
        assert "< Back" not in bar_text(d)
        await d.press("tab")  # from the choice list into the bar: Next is its first button
        await d.focused("next")
        await d.press("shift+tab")
        await d.wait(lambda: chosen(d) is None, what="focus leaving the bar backwards")
