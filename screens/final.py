"""The final step: what was installed where; Finish closes the wizard."""

from __future__ import annotations

from licwiz.core.i18n import N_, _
from textual.app import ComposeResult
from textual.widgets import Static

from .base import Finish, StepScreen
from .paths import PathText


class FinalStep(StepScreen):
    NEXT_LABEL = N_("Finish (Enter)")
    # The license is in place: going back would only invite spending another PIN.
    ALLOW_BACK = False
    HELP = N_("The license is installed. Press Enter (or Ctrl+N) to close the wizard.")

    def compose_body(self) -> ComposeResult:
        r = self.state.result
        if r is None:
            yield Static(_("No license was installed."), id="summary")
            return
        if r.scope == "server":
            where = _("Installed on the license server {server}").format(server=r.server)
        elif r.scope == "all-users":
            where = _("Installed for all users of this computer:") + "\n  " + r.path
        else:
            where = _("Installed for the current user:") + "\n  " + r.path
        lines = [
            _("The license was acquired and installed."),
            "",
            where,
            _("License id: {license_id}").format(license_id=r.license_id),
            _("Users: {users}").format(users=r.users),
        ]
        if r.product:
            lines.append(_("Product: {product}").format(product=r.product))
        if r.supersedes:
            lines.append(_("Replaces license: {license_id}").format(license_id=r.supersedes))
        lines += ["", _("Press Finish to close the wizard.")]
        yield PathText("\n".join(lines), id="summary")

    def after_mount(self) -> None:
        self.focus_button("next")

    def can_go_next(self) -> bool:
        return True

    def action_next(self) -> None:
        self.post_message(Finish())
