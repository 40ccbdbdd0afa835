"""The wizard's steps: one table of names and titles (the model's half of the
step registry; no Textual).

The shell (app/wizard.py ``screen_class``) maps each name to its Screen class
with plain imports; tests/wizard/test_wizard_flow.py checks that every name
here has a screen there, so a step is added in these two places only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

StepName = Literal[
    "action", "kit", "operation", "owner_first", "recovery", "owner_verify",
    "automatic", "method", "file_request", "file_install", "phone_codes", "phone_response", "final",
]


@dataclass(frozen=True, slots=True)
class Step:
    name: StepName
    title: str  # what the step rail and the title line call it


STEPS: tuple[Step, ...] = (
    Step("action", "Action"),
    Step("kit", "Kit and PIN"),
    Step("operation", "Operation"),
    Step("owner_first", "Owner data"),
    Step("recovery", "Recovery"),
    Step("owner_verify", "Verify owner"),
    Step("automatic", "Acquisition"),
    Step("method", "Method"),
    Step("file_request", "Request file"),
    Step("file_install", "License file"),
    Step("phone_codes", "Phone codes"),
    Step("phone_response", "Phone answer"),
    Step("final", "Done"),
)
TITLES: dict[StepName, str] = {s.name: s.title for s in STEPS}
NAMES: tuple[StepName, ...] = tuple(s.name for s in STEPS)

# The type and the table must name the same steps (a typo in either fails at import).
if set(NAMES) != set(get_args(StepName)) or len(NAMES) != len(get_args(StepName)):
    raise RuntimeError("app/steps.py: STEPS and StepName disagree")


def title(step: StepName) -> str:
    return TITLES[step]
