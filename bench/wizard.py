"""Speed of the wizard, each figure next to a baseline measured in the same run.

    .venv/bin/python bench/wizard.py [--runs N] [--steps N]

1. Start-up: from process start (just before ``exec``) to the first screen
   ready for input (the App's ready callback, then one idle pause), in a fresh
   headless child process at 80x24; baseline: a bare Textual app showing one
   Label, measured the same way. Target: ratio <= 1.5.
2. Step transition: in-process Pilot, Next (ctrl+n) from the first step to
   the second and Back (ctrl+b), timed from the key press until the new step
   screen is active and the app idle; baseline: a bare app pushing and popping
   a Screen with one Label. Target: < 50 ms per transition.
3. Peak memory: ru_maxrss of the start-up child (os.wait4), wizard vs bare.
   Target: < 100 MB.
4. The largest step: Next from Operation into Owner data (ten fields, filled
   in as after a Back) and Back again, timed the same way; only the Next
   figures are reported. For information: the target of 2. is measured on
   the first two steps.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from typing import Any

CHILD = r"""
import json, sys, time
kind = sys.argv[1]

def build():
    if kind == "bare":
        from textual.app import App
        from textual.widgets import Label

        class Bare(App):
            def compose(self):
                yield Label("licwiz")

        return Bare()
    from licwiz.app.config import WizardConfig
    from licwiz.app.wizard import LicwizApp
    return LicwizApp(WizardConfig(center_url="http://127.0.0.1:9"))

async def ready(pilot):
    await pilot.pause()
    print(json.dumps({"ready": time.time(), "screen": type(pilot.app.screen).__name__}), flush=True)
    pilot.app.exit()

build().run(headless=True, size=(80, 24), auto_pilot=ready)
"""

TARGET_START_RATIO = 1.5
TARGET_STEP_MS = 50.0
TARGET_RSS_MB = 100.0


def start_once_rss(kind: str, env: dict[str, str]) -> tuple[float, float, str]:
    """(seconds from spawn to first screen ready, peak RSS in MB of that child, screen class)."""
    t0 = time.time()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen([sys.executable, "-c", CHILD, kind], stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            raise SystemExit(f"{kind} child failed ({proc.returncode}):\n{err.read().decode()[-2000:]}")
        lines = [ln for ln in out.read().decode().splitlines() if ln.startswith("{")]
    if not lines:
        raise SystemExit(f"{kind} child printed no ready line")
    doc = json.loads(lines[-1])
    return doc["ready"] - t0, usage.ru_maxrss / 1024, doc["screen"]


async def transitions_bare(steps: int) -> list[float]:
    from textual.app import App, ComposeResult
    from textual.screen import Screen
    from textual.widgets import Label

    class Step(Screen[None]):
        BINDINGS = [("ctrl+b", "app.pop_screen", "Back")]  # noqa: RUF012

        def compose(self) -> ComposeResult:
            yield Label("step 2")

    class Bare(App[None]):
        BINDINGS = [("ctrl+n", "next", "Next")]  # noqa: RUF012

        def compose(self) -> ComposeResult:
            yield Label("step 1")

        def action_next(self) -> None:
            self.push_screen(Step())

    return await _time_presses(Bare(), steps)


async def transitions_wizard(steps: int) -> list[float]:
    from licwiz.app.config import WizardConfig
    from licwiz.app.wizard import LicwizApp

    return await _time_presses(LicwizApp(WizardConfig(center_url="http://127.0.0.1:9")), steps)


async def transitions_owner(steps: int) -> list[float]:
    """Next into the owner data step (every other press is the Back out of it)."""
    from licwiz.app.config import WizardConfig
    from licwiz.app.state import WizardState
    from licwiz.app.wizard import LicwizApp
    from licwiz.core.owner import OwnerData

    owner = OwnerData(
        kind="organisation", organisation="Acme Widgets B.V.", contact="Jane Roe",
        email="jane.roe@example.com", phone="+31 30 123 4567", country="Netherlands",
        postcode="3511 AB", region="Utrecht", city="Utrecht", address="Oudegracht 1",
    )
    state = WizardState(history=["action", "kit", "operation"], regnum="0466396876",
                        pin="305316720747231", operation="first", owner=owner)
    times = await _time_presses(LicwizApp(WizardConfig(center_url="http://127.0.0.1:9"), state), steps)
    return times[0::2]


async def _time_presses(app: Any, steps: int) -> list[float]:
    """Key press -> the new screen mounted, laid out and every queued message
    processed. The key goes in the way Pilot.press sends it (a Key event to
    the driver) but without press()'s idle detection, which sleeps in 20 ms
    slices and would swamp the figure; Pilot settles the app between presses."""
    from textual import events

    times: list[float] = []
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        for i in range(steps):
            key = "ctrl+n" if i % 2 == 0 else "ctrl+b"
            before = app.screen
            t0 = time.perf_counter()
            event = events.Key(key, None)
            event.set_sender(app)
            app._driver.send_message(event)
            while app.screen is before and time.perf_counter() < t0 + 5:
                await asyncio.sleep(0)
                await pilot._wait_for_screen()
            await pilot._wait_for_screen()
            app.screen._on_timer_update()  # render the pending update now, inside the timing
            await pilot._wait_for_screen()
            times.append(time.perf_counter() - t0)
            if app.screen is before:
                raise SystemExit(f"{type(app).__name__}: {key} did not change the screen")
            await pilot.pause()  # settle (workers, timers) outside the timing
    return times


def ms(xs: list[float]) -> str:
    med, lo, hi = statistics.median(xs) * 1000, min(xs) * 1000, max(xs) * 1000
    return f"median {med:6.1f} ms  (min {lo:.1f}, max {hi:.1f})"


def run(fn: Callable[[int], Awaitable[list[float]]], steps: int) -> list[float]:
    return asyncio.run(fn(steps))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=5, help="start-up runs of each app (default 5)")
    p.add_argument("--steps", type=int, default=40, help="transitions to time (default 40)")
    args = p.parse_args(argv)
    env = dict(os.environ)
    with tempfile.TemporaryDirectory(prefix="licwiz-bench-") as tmp:
        # licenses and state of the bench never touch the real locations
        env.update(LICWIZ_ALL_USERS_DIR=f"{tmp}/all", LICWIZ_USER_DIR=f"{tmp}/user",
                   XDG_CONFIG_HOME=f"{tmp}/config", TERM=env.get("TERM", "xterm-256color"))
        os.environ.update({k: env[k] for k in ("LICWIZ_ALL_USERS_DIR", "LICWIZ_USER_DIR", "XDG_CONFIG_HOME")})
        start_once_rss("bare", env)  # warm the OS file cache for both, not measured
        start_once_rss("wizard", env)
        bare: list[tuple[float, float, str]] = []
        wiz: list[tuple[float, float, str]] = []
        for _ in range(args.runs):  # interleaved so drift hits both alike
            bare.append(start_once_rss("bare", env))
            wiz.append(start_once_rss("wizard", env))
        b_t = statistics.median(x[0] for x in bare)
        w_t = statistics.median(x[0] for x in wiz)
        b_rss = max(x[1] for x in bare)
        w_rss = max(x[1] for x in wiz)
        bare_steps = run(transitions_bare, args.steps)
        wiz_steps = run(transitions_wizard, args.steps)
        owner_steps = run(transitions_owner, args.steps)

    ratio = w_t / b_t
    step_ratio = statistics.median(wiz_steps) / statistics.median(bare_steps)
    ok_start = ratio <= TARGET_START_RATIO
    ok_step = statistics.median(wiz_steps) * 1000 < TARGET_STEP_MS
    ok_rss = w_rss < TARGET_RSS_MB
    print(f"licwiz wizard bench ({args.runs} start-ups each, {args.steps} transitions; "
          f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs)")
    print(f"start-up to first screen ready  bare Label app {b_t * 1000:7.1f} ms   wizard {w_t * 1000:7.1f} ms"
          f"   ratio {ratio:.2f}x   (target <= {TARGET_START_RATIO}x: {'ok' if ok_start else 'MISSED'})"
          f"   first screen: {wiz[0][2]}")
    print(f"step transition (Next/Back)     bare push/pop  {ms(bare_steps)}")
    print(f"                                wizard         {ms(wiz_steps)}")
    print(f"                                ratio {step_ratio:.2f}x   (target < {TARGET_STEP_MS:.0f} ms: "
          f"{'ok' if ok_step else 'MISSED'})")
    print(f"peak memory (ru_maxrss)         bare {b_rss:6.1f} MB   wizard {w_rss:6.1f} MB   "
          f"ratio {w_rss / b_rss:.2f}x   (target < {TARGET_RSS_MB:.0f} MB: {'ok' if ok_rss else 'MISSED'})")
    print(f"largest step (Next into Owner data) {ms(owner_steps)}   "
          f"({'under' if statistics.median(owner_steps) * 1000 < TARGET_STEP_MS else 'over'} "
          f"{TARGET_STEP_MS:.0f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
