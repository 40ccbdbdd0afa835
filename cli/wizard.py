"""``licwiz [wizard]``: start the keyboard-only wizard (app/wizard.py) with a
``WizardConfig`` (app/config.py) from the options; ``run_app`` turns a Textual
app's result into the exit code (also for ``licwiz demo``).

Without a terminal on stdin and stdout the wizard cannot run: one line naming
``licwiz acquire``, exit 2 (cli/stdio.py), before Textual is even imported.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from licwiz.app.config import WizardConfig
from licwiz.core.errors import LicwizError
from licwiz.core.i18n import N_, _

from .errors import AcquireExit, Parser, UsageError, report_error
from .stdio import without_terminal

if TYPE_CHECKING:
    from licwiz.app.wizard import LicwizApp


def build_parser() -> Parser:
    p = Parser(prog="licwiz wizard", description=_("Run the keyboard-only license acquisition wizard."))
    p.add_argument("--center", metavar="URL", help=_("Licensing Center URL (default: $LICWIZ_CENTER_URL)"))
    p.add_argument("--product", help=_("product id (default: $LICWIZ_PRODUCT or licwiz-demo)"))
    p.add_argument("--phone", metavar="NUMBER",
                   help=_("the Licensing Center's phone number for the phone method "
                   "(default: $LICWIZ_CENTER_PHONE or center.json)"))
    p.add_argument("--web-page", metavar="URL",
                   help=_("the center's web page for the file method (default: $LICWIZ_CENTER_WEB, "
                   "center.json, or the center URL)"))
    return p


def main(argv: list[str]) -> int:
    try:
        args = build_parser().parse_args(argv)
        kw: dict[str, Any] = {}  # unset options keep WizardConfig's defaults (env, config files)
        if args.center:
            kw["center_url"] = args.center
        if args.product:
            kw["product"] = args.product
        if args.phone:
            kw["phone_number"] = args.phone
        if args.web_page:
            kw["center_web_page"] = args.web_page
        config = WizardConfig(**kw)  # reads center.json: may be unreadable (said first: it is the fix)
    except (UsageError, LicwizError) as exc:
        report_error(exc, code=AcquireExit.USAGE)
        return AcquireExit.USAGE
    no_screen = without_terminal(N_("the wizard"))
    if no_screen is not None:
        return no_screen
    from licwiz.app.wizard import LicwizApp

    return run_app(LicwizApp(config))


def run_app(app: LicwizApp) -> int:
    """Run the wizard; its return value (an int) becomes the exit code."""
    try:
        result = app.run()
    except KeyboardInterrupt:
        return AcquireExit.INTERRUPTED
    if app.return_code:
        return app.return_code
    return result if isinstance(result, int) else AcquireExit.OK
