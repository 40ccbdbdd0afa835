"""PLACEHOLDER for the "phone_codes" step, owned by the offline helper.

Replace this module with the real step; keep the class name ``PhoneCodesStep``
(app/wizard.py finds it by name). See screens/__init__.py for the contract.
"""

from __future__ import annotations

from typing import ClassVar

from licwiz.app.state import StepName
from textual.app import ComposeResult
from textual.widgets import Static

from .base import StepScreen

PLACEHOLDER = "This method is handled in the offline channels (not available in this build yet)."


class PhoneCodesStep(StepScreen):
    STEP: ClassVar[StepName] = "phone_codes"
    HELP = "Phone codes: " + PLACEHOLDER + " Press Esc to go back and choose another way."

    def compose_body(self) -> ComposeResult:
        yield Static("Phone codes", classes="intro")
        yield Static(PLACEHOLDER, id="placeholder")
        yield Static("Press Esc (Back) to choose another method.", classes="hint")

    def can_go_next(self) -> bool:
        return False
