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
"""

from __future__ import annotations

from collections.abc import Callable


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
