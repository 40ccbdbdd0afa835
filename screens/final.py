"""The final step: what was installed where; Finish closes the wizard."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Button, Static

from .base import Finish, StepScreen


class FinalStep(StepScreen):
    NEXT_LABEL = "Finish (Enter)"
    # The license is in place: going back would only invite spending another PIN.
    ALLOW_BACK = False
    HELP = "The license is installed. Press Enter (or ctrl+n) to close the wizard."

    def compose_body(self) -> ComposeResult:
        r = self.state.result
        if r is None:
            yield Static("No license was installed.", id="summary")
            return
        if r.scope == "server":
            where = f"on the license server {r.server}"
        elif r.scope == "all-users":
            where = f"for all users of this computer:\n  {r.path}"
        else:
            where = f"for the current user:\n  {r.path}"
        lines = [
            "The license was acquired and installed.",
            "",
            f"Installed {where}",
            f"License id: {r.license_id}",
            f"Users: {r.users}",
        ]
        if r.product:
            lines.append(f"Product: {r.product}")
        if r.supersedes:
            lines.append(f"Replaces license: {r.supersedes}")
        lines += ["", "Press Finish to close the wizard."]
        yield Static("\n".join(lines), id="summary", markup=False)

    def after_mount(self) -> None:
        self.query_one("#next", Button).focus()

    def can_go_next(self) -> bool:
        return True

    def action_next(self) -> None:
        self.post_message(Finish())
