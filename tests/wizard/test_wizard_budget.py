"""What a step builds is what its Next costs (README "Speed": each widget is
mounted, styled, laid out and drawn by Textual, 5-13k Python calls apiece), so
the first steps keep to a widget budget. These counts do not depend on the
machine's load, as bench/wizard.py's times do: a widget added to the frame or
to one of these steps fails here first. Raise a budget only with the bench's
figures in the README beside it."""

from __future__ import annotations

from typing import Any

import pytest
from licwiz.core.identifiers import new_pin, new_regnum
from support.fixtures_center import free_port
from support.fixtures_wizard import WizardDriver, to_kit

# The frame: title, step rail, body, buttons (the status line and error lines
# are mounted when first needed). Action and Operation: + intro and the choice
# list. Kit: + intro, a grid with two labels and two fields, "Attention!..."
# and the Advanced settings title.
BUDGET = {"action": 6, "kit": 12, "operation": 6}


def widgets(d: WizardDriver) -> list[str]:
    return [type(w).__name__ for w in d.screen.walk_children()]


async def test_the_first_steps_keep_to_their_widget_budget(wizard_run: Any) -> None:
    async with wizard_run(f"http://127.0.0.1:{free_port()}") as d:
        built = {"action": widgets(d)}
        await d.press("enter")
        await d.at("kit")
        built["kit"] = widgets(d)
        await d.press("escape")
        await d.at("action")
        await to_kit(d, new_regnum(), new_pin())
        built["operation"] = widgets(d)
    for step, names in built.items():
        assert len(names) <= BUDGET[step], f"{step} builds {len(names)} widgets: {names}"
    assert "Static" in built["kit"] and "ButtonBar" in built["kit"], built["kit"]  # the real steps


async def test_the_collector_waits_until_the_new_step_is_drawn(
        wizard_run: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Building a step allocates enough for a dozen of Python's young collections
    and now and then a full one (README "Speed"): the collector is off as the
    step is pushed (no automatic collection can run), and on again once the step
    is drawn."""
    import gc

    from licwiz.app import wizard

    # Only the drawn step can turn the collector on again within the wait below,
    # not the timer that is there in case it never is.
    monkeypatch.setattr(wizard, "COLLECTOR_PAUSE_LIMIT", 600.0)
    pushed: list[tuple[str, bool]] = []

    def on_push(screen: Any) -> None:
        pushed.append((getattr(screen, "step", ""), gc.isenabled()))

    async with wizard_run(f"http://127.0.0.1:{free_port()}") as d:
        d.app.screen_change_signal.subscribe(d.app, on_push)
        for _ in range(2):
            pushed.clear()
            assert gc.isenabled()
            await d.press("enter")
            await d.at("kit")
            await d.wait(gc.isenabled, timeout=5, what="the collector on again once the step is drawn")
            assert pushed == [("kit", False)], pushed
            await d.press("escape")
            await d.at("action")
    assert gc.isenabled()
