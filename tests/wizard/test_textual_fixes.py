"""Each workaround in app/textual_fixes.py is still needed and still works.

These tests fail in both directions on purpose: when a Textual release fixes
the bug (the workaround is then dead code: delete it and this test), and when
the workaround stops freeing what it should.
"""

from __future__ import annotations

import gc
from typing import Any, ClassVar

import pytest
from licwiz.app import textual_fixes
from support.fixtures_center import free_port
from support.fixtures_wizard import WizardDriver
from textual.strip import Strip

ROUND_TRIPS = 8


def strips_alive() -> int:
    """Rendered lines still referenced anywhere (public type: textual.strip.Strip)."""
    gc.collect()
    return sum(1 for o in gc.get_objects() if isinstance(o, Strip))


async def growth_over_round_trips(d: WizardDriver) -> int:
    """How many more rendered lines are alive after Next/Back round trips
    (each Back leaves a kit step behind)."""
    async def there_and_back() -> None:
        await d.press("enter")
        await d.at("kit")
        await d.press("escape")
        await d.at("action")

    await there_and_back()  # warm up: first-time caches of the kit step
    before = strips_alive()
    for _ in range(ROUND_TRIPS):
        await there_and_back()
    return strips_alive() - before


async def test_steps_left_behind_are_freed_with_the_fix(wizard_run: Any) -> None:
    async with wizard_run(f"http://127.0.0.1:{free_port()}") as d:
        grown = await growth_over_round_trips(d)
    assert grown <= 5 * ROUND_TRIPS, f"{grown} rendered lines kept after {ROUND_TRIPS} Back presses"


async def test_without_the_fix_steps_left_behind_stay_alive(
        wizard_run: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """If this fails, Textual no longer keeps left screens' lines: remove
    release_left_behind and these tests."""
    assert textual_fixes.release_left_behind(), "the cache worked around is gone: remove the workaround"
    monkeypatch.setattr(textual_fixes, "release_left_behind", lambda: False)
    async with wizard_run(f"http://127.0.0.1:{free_port()}") as d:
        grown = await growth_over_round_trips(d)
    assert grown > 50 * ROUND_TRIPS, f"only {grown} more rendered lines without the fix"


async def layouts_of_the_step_below_on_back(d: WizardDriver) -> int:
    """How many times Back lays out the step it returns to (drawn already: 0 is right)."""
    await d.press("enter")
    await d.at("kit")
    below = d.app.screen_stack[-2]
    laid_out: list[object] = []
    below.screen_layout_refresh_signal.subscribe(below, laid_out.append)
    await d.press("escape")
    await d.at("action")
    await d.pilot.pause(0.3)  # the popped step's removal has finished
    below.screen_layout_refresh_signal.unsubscribe(below)
    return len(laid_out)


async def test_back_does_not_lay_out_the_step_below_again_with_the_fix(wizard_run: Any) -> None:
    async with wizard_run(f"http://127.0.0.1:{free_port()}") as d:
        assert await layouts_of_the_step_below_on_back(d) == 0
        assert d.screen.query_one("#action").region.height > 0  # still drawn where it was


async def test_without_the_fix_back_lays_out_the_step_below_again(
        wizard_run: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """If this fails, Textual no longer lays the revealed screen out when a
    popped one is removed: remove QuietPop and these tests."""
    monkeypatch.setattr(textual_fixes.QuietPop, "REFRESHES_PER_POP", 0)
    async with wizard_run(f"http://127.0.0.1:{free_port()}") as d:
        assert await layouts_of_the_step_below_on_back(d) >= 1


async def widgets_of_a_step_in_a_real_run(monkeypatch: pytest.MonkeyPatch, fixed: bool) -> list[str]:
    """The type names of the first step's own children, run as ``licwiz wizard`` runs
    (run_test's public switches turn tooltips and notifications on, as App.run has them)."""
    from licwiz.app.config import WizardConfig
    from licwiz.app.wizard import LicwizApp

    if not fixed:
        monkeypatch.setattr(textual_fixes, "without_tooltips_and_toasts", lambda app: False)
    app = LicwizApp(WizardConfig(center_url=f"http://127.0.0.1:{free_port()}", ascii=False))
    async with app.run_test(size=(80, 24), tooltips=True, notifications=True) as pilot:
        d = WizardDriver(app, pilot)
        await d.at("action")
        return [type(w).__name__ for w in app.screen.children]


async def test_steps_are_built_without_tooltip_and_toast_rack_with_the_fix(
        monkeypatch: pytest.MonkeyPatch) -> None:
    names = await widgets_of_a_step_in_a_real_run(monkeypatch, fixed=True)
    assert "Tooltip" not in names and "ToastRack" not in names, names
    assert {"StepRail", "VerticalScroll", "ButtonBar"} <= set(names), names  # the step itself is there


async def test_without_the_fix_every_step_gets_a_tooltip_and_a_toast_rack(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """If this fails, Textual no longer composes them into every screen: remove
    without_tooltips_and_toasts and these tests."""
    names = await widgets_of_a_step_in_a_real_run(monkeypatch, fixed=False)
    assert "Tooltip" in names and "ToastRack" in names, names


def test_app_run_still_has_no_public_switch_for_tooltips_and_toasts() -> None:
    """If this fails, App.run takes the switches run_test has: use them instead of the fix."""
    import inspect

    from textual.app import App

    params = inspect.signature(App.run).parameters
    assert "tooltips" not in params and "notifications" not in params, list(params)


async def test_visual_style_keeps_a_component_reverse_that_get_visual_style_drops() -> None:
    """If the first assertion fails, Textual's get_visual_style carries reverse now:
    call it directly in screens/buttonbar.py and buttonline.py, delete
    textual_fixes.visual_style and this test. The second says the fix works."""
    from textual.app import App, ComposeResult
    from textual.widget import Widget

    class Probe(Widget):
        COMPONENT_CLASSES: ClassVar[set[str]] = {"probe--focus"}
        DEFAULT_CSS = "Probe > .probe--focus { text-style: bold reverse; }"

    class ProbeApp(App[None]):
        def compose(self) -> ComposeResult:
            yield Probe()

    app = ProbeApp()
    async with app.run_test(size=(20, 4)):
        probe = app.query_one(Probe)
        assert probe.get_component_styles("probe--focus").text_style.reverse  # the CSS says reverse
        assert not probe.get_visual_style("probe--focus").reverse, "Textual keeps reverse now"
        fixed = textual_fixes.visual_style(probe, "probe--focus")
        assert fixed.reverse and fixed.bold
        assert not textual_fixes.visual_style(probe).reverse  # nothing added where the CSS has none
