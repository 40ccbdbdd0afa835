"""What the wizard is started with (not what the person types: that is app/state.py).

``licwiz wizard`` (app/commands.py) and ``licwiz demo`` (app/demo.py) build one
``WizardConfig`` and hand it to ``LicwizApp(config)``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from licwiz.core.product import current_product

DEFAULT_CENTER_URL = "https://center.licwiz.example"


def _default_center_url() -> str:
    return os.environ.get("LICWIZ_CENTER_URL") or DEFAULT_CENTER_URL


def _default_ascii() -> bool:
    # The Linux console (TERM=linux) and dumb terminals draw box corners badly;
    # LICWIZ_ASCII=1 forces the plain style anywhere (old PuTTY, serial consoles).
    if os.environ.get("LICWIZ_ASCII", "") not in ("", "0"):
        return True
    return os.environ.get("TERM", "") in ("linux", "dumb", "vt100", "vt220")


@dataclass(slots=True)
class WizardConfig:
    """center_url: the Licensing Center; product: what is licensed;
    demo_notes: text shown beside the wizard (the demo's kit numbers and PINs);
    phone_number: the Licensing Center operator's number for the phone method;
    ascii: ASCII borders and markers (default: detected from TERM);
    center_timeout: seconds per HTTP call; center_web_page: the page for the file method."""

    center_url: str = field(default_factory=_default_center_url)
    product: str = field(default_factory=current_product)
    demo_notes: str | None = None
    phone_number: str | None = None
    ascii: bool = field(default_factory=_default_ascii)
    center_timeout: float = 15.0
    center_web_page: str | None = None
