"""Workarounds for Textual bugs, each alone here, each with a test that fails
once it is no longer needed or no longer works (tests/wizard/test_textual_fixes.py).

Nothing else in licwiz touches a private name of Textual; this module may,
and must degrade to doing nothing when the name is gone.

1. ``release_left_behind``: Textual (8.2.8 and the 8.x seen since) memoizes
   ``StylesCache.get_inner_outer`` with an ``lru_cache`` on the method, so the
   cache's keys hold the styles cache, and with it the rendered lines, of up to
   1,024 widgets after their screen is gone: ~3,000 objects per step left
   behind, which every full garbage collection walks again (10 ms after a few
   steps, 100 ms after sixty). The cached values are two colours worked out
   again in microseconds, so emptying the cache when a step is popped costs
   nothing measurable.

2. ``QuietPop``: Textual (8.2.8) removes a popped screen and, once its
   widgets are gone, asks the App for ``refresh(layout=True)``, which lays out
   and draws in full the screen now on top, although that screen was drawn by
   its own resume a moment before and nothing on it changed (the popped
   screen is not part of its layout): half of what a Back costs.

3. ``without_tooltips_and_toasts``: Textual (8.2.8) composes a Tooltip and a
   ToastRack into every screen, two more widgets to build, style, lay out and
   tear down on each step (a tenth of a simple step's), although the wizard
   shows neither tooltips nor notifications. ``App.run_test`` has a public
   switch for both; ``App.run`` has none.

4. ``visual_style``: Textual (8.2.8) ``Widget.get_visual_style`` builds its
   style from the text style's bold, dim, italic, underline and strike only: a
   component class's ``reverse`` is lost, and reverse is how the wizard's
   one-widget buttons (screens/buttonbar.py, buttonline.py) show focus
   without colour. The screens call this instead; it adds back what was lost.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Self

from textual.app import App
from textual.await_complete import AwaitComplete
from textual.style import Style
from textual.widget import Widget


def _inner_outer_cache_clear() -> Callable[[], None] | None:
    try:
        from textual._styles_cache import StylesCache
    except ImportError:  # moved or gone: nothing to work around here any more
        return None
    clear = getattr(StylesCache.get_inner_outer, "cache_clear", None)
    return clear if callable(clear) else None


def release_left_behind() -> bool:
    """Let the widgets of steps left behind go; False when there was nothing
    to do (the cache this works around is gone)."""
    clear = _inner_outer_cache_clear()
    if clear is None:
        return False
    clear()
    return True


def without_tooltips_and_toasts(app: App[Any]) -> bool:
    """Screens composed from now on get no Tooltip and no ToastRack (3. above);
    False when the switches are gone (Textual changed: see the test)."""
    if not (hasattr(app, "_disable_tooltips") and hasattr(app, "_disable_notifications")):
        return False
    app._disable_tooltips = True
    app._disable_notifications = True
    return True


class QuietPop(App[Any]):
    """An App whose pops do not lay out the revealed screen again (2. above).
    Only the App-wide layout requests a pop's removal makes are dropped (two
    per pop in Textual 8.2: the removal is awaited by the pop and again as a
    next-callback, each ending in ``app.refresh(layout=True)``); a widget's own
    refresh, a resize, a recompose go through. Nothing else in this app asks
    the App itself for a layout, so a count off by one costs nothing."""

    REFRESHES_PER_POP = 2
    _removal_refreshes = 0

    def pop_screen(self) -> AwaitComplete:
        self._removal_refreshes = self.REFRESHES_PER_POP
        return super().pop_screen()

    def refresh(self, *, repaint: bool = True, layout: bool = False, recompose: bool = False) -> Self:
        if layout and not recompose and self._removal_refreshes > 0:
            self._removal_refreshes -= 1
            return self  # a popped screen's removal: the screen on top is drawn already
        return super().refresh(repaint=repaint, layout=layout, recompose=recompose)


def visual_style(widget: Widget, *component_classes: str) -> Style:
    """``widget.get_visual_style(*component_classes)`` with the components'
    ``reverse`` kept (4. above)."""
    style = widget.get_visual_style(*component_classes)
    if style.reverse is None and any(widget.get_component_styles(name).text_style.reverse
                                     for name in component_classes):
        style = style + Style(reverse=True)
    return style
