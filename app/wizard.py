"""The license acquisition wizard: ``LicwizApp(config).run()``.

The App owns the ``WizardState`` and moves between steps: each move builds a
fresh Screen for ``state.current`` (screens are never reused) and switches to
it. Fingerprint collection, the trusted keyring and the all-users location
check run once, in a thread worker started at mount, so no step waits on them
unless it needs the result.

``run()`` returns the exit code: 0 when a license was installed and Finish
pressed, 130 when the person quit or cancelled.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Mapping
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from licwiz.core.errors import LicwizError
from rich.console import RenderableType
from textual import work
from textual.app import App
from textual.binding import Binding, BindingType
from textual.dom import DOMNode
from textual.screen import Screen

from . import flow
from .config import WizardConfig
from .state import StepName, WizardState

if TYPE_CHECKING:
    # Imported where used: httpx and cryptography cost more start-up time than
    # all of Textual's first screen, and the first step needs neither.
    from licwiz.core.acquire import ServerTarget
    from licwiz.core.client import CenterClient
    from licwiz.core.keys import Keyring
    from licwiz.core.request import ActivationRequest

EXIT_FINISHED = 0
EXIT_CANCELLED = 130

# step -> (module in licwiz.screens, class); imported when first shown.
STEP_SCREENS: dict[StepName, tuple[str, str]] = {
    "action": ("choices", "ActionStep"),
    "kit": ("kit", "KitStep"),
    "operation": ("choices", "OperationStep"),
    "owner_first": ("owner", "OwnerFirstStep"),
    "recovery": ("recovery", "RecoveryStep"),
    "owner_verify": ("owner", "OwnerVerifyStep"),
    "automatic": ("automatic", "AutomaticStep"),
    "method": ("choices", "MethodStep"),
    "file_request": ("file_request", "FileRequestStep"),
    "file_install": ("file_install", "FileInstallStep"),
    "phone_codes": ("phone_codes", "PhoneCodesStep"),
    "phone_response": ("phone_response", "PhoneResponseStep"),
    "final": ("final", "FinalStep"),
}
# __path__, not __file__: an editable install may load licwiz.styles as a namespace package.
STYLES = Path(next(iter(import_module("licwiz.styles").__path__))) / "wizard.tcss"


def build_screen(step: StepName) -> Screen[None]:
    module, cls = STEP_SCREENS[step]
    screen: Screen[None] = getattr(import_module(f"licwiz.screens.{module}"), cls)()
    return screen


def _release_old_widgets() -> None:
    """Let the widgets of steps left behind go.

    Textual 8.2.8 (pinned) memoizes ``StylesCache.get_inner_outer`` with an
    ``lru_cache`` on the method, so its key holds every widget's styles cache, and
    with it the rendered lines, of up to 1024 widgets: about 170 more objects per
    widget kept, ~3,000 per step left, which every full garbage collection walks
    again (10 ms after a few steps, 100 ms after sixty, bench/wizard.py). The
    cached values are two colours worked out again in microseconds.
    """
    from textual._styles_cache import StylesCache

    cached = getattr(StylesCache.get_inner_outer, "cache_clear", None)
    if cached is not None:
        cached()


class LicwizApp(App[int]):
    TITLE = "licwiz: license acquisition"
    CSS_PATH = STYLES
    ENABLE_COMMAND_PALETTE = False
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+q", "request_quit", "Quit", priority=True),
        # Typed ahead (a slow SSH link, a busy moment), "digits<Tab>digits" reaches
        # the app in one read. A Tab left to bubble up from the field moves focus
        # only after the following digits were already handed to that field;
        # taken first, here, it moves focus in the order it was typed.
        Binding("tab", "focus_next", "Next field", show=False, priority=True),
        Binding("shift+tab", "focus_previous", "Previous field", show=False, priority=True),
    ]

    def __init__(self, config: WizardConfig | None = None, state: WizardState | None = None) -> None:
        super().__init__()
        self.config = config or WizardConfig()
        self.state = state or WizardState()
        self._fp_params: dict[str, str] | None = None
        self._trusted: Keyring | None = None
        self._startup_error: LicwizError | None = None
        self._startup_done = asyncio.Event()
        self.all_users_writable: bool | None = None
        # What is printed at exit (cancel_acquisition's message) is not re-wrapped to
        # the terminal's width: a path in it stays one piece to copy.
        self.error_console.soft_wrap = True

    # -- styles ----------------------------------------------------------------

    def update_styles(self, node: DOMNode, animate: bool = True) -> None:
        # A widget that is still being built (not in the DOM yet) gets the stylesheet
        # applied when it is mounted (App._register styles every new widget). Textual
        # also styles it for each class its __init__ sets (compact, flat, variant...):
        # work that mounting throws away (~20 of ~60 stylesheet passes of a step).
        if node is not self and not node.is_attached:
            return
        super().update_styles(node, animate)

    # -- start-up --------------------------------------------------------------

    def on_mount(self) -> None:
        if self.config.ascii:
            self.add_class("-ascii")
        self.push_screen(build_screen(self.state.current))
        # The fingerprint and keys are not needed before step 5, seconds away: the
        # thread starts once the first step is up, so its imports (cryptography)
        # do not hold the GIL while that step mounts (~20 ms, bench/wizard.py).
        self.set_timer(0.2, self._startup)

    @work(thread=True, exclusive=True, group="startup")
    def _startup(self) -> None:
        from licwiz.core.fingerprint import collect
        from licwiz.core.keys import load_keyring
        from licwiz.core.storage import is_writable

        params: dict[str, str] | None = None
        keyring: Keyring | None = None
        error: LicwizError | None = None
        try:
            params = collect(self.config.product)
            keyring = load_keyring()
        except LicwizError as exc:
            error = exc
        except Exception as exc:  # a broken /proc or key file must not kill the UI
            error = LicwizError("Cannot read this computer's key parameters", f"{type(exc).__name__}: {exc}",
                                code="fingerprint")
        writable = is_writable("all-users")
        self.call_from_thread(self._started, params, keyring, error, writable)

    def _started(self, params: dict[str, str] | None, keyring: Keyring | None,
                 error: LicwizError | None, writable: bool) -> None:
        self._fp_params, self._trusted, self._startup_error = params, keyring, error
        # Everything loaded so far (Textual, the stylesheet, cryptography, the keys) lives
        # as long as the wizard: out of the collector's sight, a full collection walks
        # only what the steps made (~45 -> ~20 ms; one in seven transitions meets one).
        gc.freeze()
        self.all_users_writable = writable
        self._startup_done.set()
        if not writable and not self.state.all_users_warning_seen and self.state.scope == "all-users":
            self.state.all_users_warning_seen = True
            from licwiz.core.storage import license_dir
            from licwiz.screens.dialogs import AllUsersWarning

            self.push_screen(AllUsersWarning(str(license_dir("all-users"))), self._all_users_answer)

    def on_unmount(self) -> None:
        gc.unfreeze()  # a process that runs the wizard again (tests) gets it all back

    def _all_users_answer(self, answer: object) -> None:
        if answer is True:
            self.state.scope = "user"
        else:
            self.cancel_acquisition()

    async def params(self) -> Mapping[str, str]:
        await self._startup_done.wait()
        if self._fp_params is None:
            raise self._startup_error or LicwizError("Key computer parameters are not available")
        return self._fp_params

    async def keyring(self) -> Keyring:
        await self._startup_done.wait()
        if self._trusted is None:
            raise self._startup_error or LicwizError("The trusted keys could not be loaded")
        return self._trusted

    async def build_request(self, method: str = "online") -> ActivationRequest:
        """The ActivationRequest for what has been typed (raises InputError naming a field)."""
        from licwiz.core.identifiers import parse_pin, parse_regnum
        from licwiz.core.request import ActivationRequest

        s = self.state
        op = s.request_operation
        extra = parse_pin(s.extra_pin, "Extra PIN code") if op == "update" else None
        return ActivationRequest(
            product=self.config.product,
            regnum=parse_regnum(s.regnum),
            pin=parse_pin(s.pin, flow.pin_label(s)),
            operation=op,
            owner=s.entered_owner,
            params=dict(await self.params()),
            method=method,
            extra_pin=extra,
        )

    def center_client(self) -> CenterClient:
        from licwiz.core.client import CenterClient

        return CenterClient(self.config.center_url, timeout=self.config.center_timeout)

    def server_target(self) -> ServerTarget | None:
        from licwiz.core import acquire

        s = self.state
        if not s.install_on_server:
            return None
        token: str | None = None
        if acquire.server_available():
            # The license server's admin token: LICWIZ_SERVER_TOKEN or ~/.config/licwiz/server-token.
            token = import_module(acquire.SERVER_CLIENT_MODULE).admin_token()
        return acquire.ServerTarget(flow.server_host(s.server), int(s.port.strip()), token=token)

    # -- moving between steps ------------------------------------------------------

    def show_current(self) -> None:
        _release_old_widgets()
        self.switch_screen(build_screen(self.state.current))

    def go_next(self, step: StepName | None = None) -> None:
        if flow.go_next(self.state, step) is not None:
            self.show_current()

    def back_to(self, index: int) -> None:
        flow.go_back(self.state, index)
        self.show_current()

    def finish(self) -> None:
        self.state.finished = True
        self.exit(EXIT_FINISHED, return_code=EXIT_FINISHED)

    def cancel_acquisition(self, message: RenderableType | None = None) -> None:
        """End the wizard with 130; ``message`` is printed once the screen is restored
        (a license issued but not installed says where it was kept)."""
        self.exit(EXIT_CANCELLED, return_code=EXIT_CANCELLED, message=message)

    def action_request_quit(self) -> None:
        if not self.state.has_input:
            self.cancel_acquisition()
            return
        from licwiz.screens.dialogs import ConfirmDialog

        if isinstance(self.screen, ConfirmDialog):
            return
        self.push_screen(
            ConfirmDialog("Quit license acquisition?",
                          "What you typed will be lost (use Save data on the owner step to keep it).",
                          "Quit (lose it)", "Stay"),
            lambda yes: self.cancel_acquisition() if yes else None,
        )
