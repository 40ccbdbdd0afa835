"""The wizard's steps: one table of names and titles (the model's half of the
step registry; no Textual).

The shell (app/wizard.py ``screen_class``) maps each name to its Screen class
with plain imports; tests/wizard/test_wizard_flow.py checks that every name
here has a screen there, so a step is added in these two places only.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Literal, TypeVar, get_args

from licwiz.core.i18n import N_, _

StepName = Literal[
    "action", "kit", "operation", "owner_first", "recovery", "owner_verify",
    "automatic", "method", "file_request", "file_install", "phone_codes", "phone_response", "final",
]


K = TypeVar("K", bound=str)


class Translated(Mapping[K, str]):
    """A table of texts marked with N_ whose lookups come back in the process
    language: the table is built at import, before ``--lang`` is known, and
    every reader (the step rail, the title line, F1's title, the method list)
    gets the translation without wrapping each lookup itself."""

    def __init__(self, texts: Mapping[K, str]) -> None:
        self._texts = dict(texts)

    def __getitem__(self, key: K) -> str:
        return _(self._texts[key])

    def __iter__(self) -> Iterator[K]:
        return iter(self._texts)

    def __len__(self) -> int:
        return len(self._texts)

    def source(self, key: K) -> str:
        """The English text (the msgid), as written here."""
        return self._texts[key]


@dataclass(frozen=True, slots=True)
class Step:
    name: StepName
    title: str  # what the step rail and the title line call it: the English msgid (TITLES translates)


STEPS: tuple[Step, ...] = (
    Step("action", N_("Action")),
    Step("kit", N_("Kit and PIN")),
    Step("operation", N_("Operation")),
    Step("owner_first", N_("Owner data")),
    Step("recovery", N_("Recovery")),
    Step("owner_verify", N_("Verify owner")),
    Step("automatic", N_("Acquisition")),
    Step("method", N_("Method")),
    Step("file_request", N_("Request file")),
    Step("file_install", N_("License file")),
    Step("phone_codes", N_("Phone codes")),
    Step("phone_response", N_("Phone answer")),
    Step("final", N_("Done")),
)
TITLES: Translated[StepName] = Translated({s.name: s.title for s in STEPS})
NAMES: tuple[StepName, ...] = tuple(s.name for s in STEPS)

# The type and the table must name the same steps (a typo in either fails at import).
if set(NAMES) != set(get_args(StepName)) or len(NAMES) != len(get_args(StepName)):
    raise RuntimeError("app/steps.py: STEPS and StepName disagree")


def title(step: StepName) -> str:
    """The step's title in the process language."""
    return TITLES[step]
