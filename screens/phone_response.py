"""PLACEHOLDER for the "phone_response" step, owned by the offline helper.

Replace this module with the real step; keep the class name ``PhoneResponseStep``
(app/wizard.py finds it by name). See screens/__init__.py for the contract.
"""

from __future__ import annotations

from typing import ClassVar

from licwiz.app.state import StepName
from textual.app import ComposeResult
from textual.widgets import Static

from .base import StepScreen

PLACEHOLDER = "This method is handled in the offline channels (not available in this build yet)."


class PhoneResponseStep(StepScreen):
    STEP: ClassVar[StepName] = "phone_response"
    HELP = "Operator's answer: " + PLACEHOLDER + " Press Esc to go back and choose another way."

    def compose_body(self) -> ComposeResult:
        yield Static("Operator's answer", classes="intro")
        yield Static(PLACEHOLDER, id="placeholder")
        yield Static("Press Esc (Back) to choose another method.", classes="hint")

    def can_go_next(self) -> bool:
        return False
