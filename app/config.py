"""What the wizard is started with (not what the person types: that is app/state.py).

``licwiz wizard`` (cli/wizard.py) and ``licwiz demo`` (cli/demo.py) build one
``WizardConfig`` and hand it to ``LicwizApp(config)``; the controller
(app/controller.py) reads it. No Textual here (the wizard's model).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs
from licwiz.core.errors import LicwizError
from licwiz.core.i18n import N_
from licwiz.core.message import Msg
from licwiz.core.product import current_product

DEFAULT_CENTER_URL = "https://center.licwiz.example"
SITE_CENTER_CONFIG = Path("/etc/licwiz/center.json")

# How to reach the Licensing Center, for a site whose computers have no route
# to it: a vendor or an administrator writes these once, every user sees them.
# {"url": ..., "phone": ..., "web_page": ..., "email": ...}; the environment
# wins over the user's file, which wins over the site's. "email" is the
# center's mailbox for request files (``licwiz center mail`` answers it).
_CENTER_ENV = {"url": "LICWIZ_CENTER_URL", "phone": "LICWIZ_CENTER_PHONE", "web_page": "LICWIZ_CENTER_WEB",
               "email": "LICWIZ_CENTER_EMAIL"}


def center_config_files() -> list[Path]:
    return [Path(platformdirs.user_config_dir("licwiz")) / "center.json", SITE_CENTER_CONFIG]


def center_settings() -> dict[str, str]:
    """The merged center settings (environment, then the user's center.json,
    then the site's); a file that cannot be read is an error that names it."""
    merged: dict[str, str] = {}
    for path in reversed(center_config_files()):
        try:
            doc: Any = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            continue
        except (OSError, ValueError, RecursionError) as exc:
            raise LicwizError(Msg(N_("{path}: cannot read the Licensing Center settings"), path=path),
                              str(exc), code="bad_config") from None
        if not isinstance(doc, dict):
            raise LicwizError(
                Msg(N_("{path}: the Licensing Center settings must be a JSON object"), path=path),
                code="bad_config")
        for key in _CENTER_ENV:
            v = doc.get(key)
            if v is not None and not isinstance(v, str):
                raise LicwizError(Msg(N_("{path}: {key} must be a text"), path=path, key=repr(key)),
                                  code="bad_config")
            if v:
                merged[key] = v.strip()
    for key, env in _CENTER_ENV.items():
        if os.environ.get(env):
            merged[key] = os.environ[env].strip()
    return merged


def default_center_url() -> str:
    return center_settings().get("url") or DEFAULT_CENTER_URL


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
    center_timeout: seconds per HTTP call; center_web_page: the page for the file method;
    center_email: the center's address the request file may be mailed to.
    Not given (empty / None), center_url, phone_number, center_web_page and
    center_email come from center_settings(), read once."""

    center_url: str = ""
    product: str = field(default_factory=current_product)
    demo_notes: str | None = None
    phone_number: str | None = None
    ascii: bool = field(default_factory=_default_ascii)
    center_timeout: float = 15.0
    center_web_page: str | None = None
    center_email: str | None = None

    def __post_init__(self) -> None:
        if self.center_url and self.phone_number is not None and self.center_web_page is not None \
                and self.center_email is not None:
            return
        settings = center_settings()
        self.center_url = self.center_url or settings.get("url") or DEFAULT_CENTER_URL
        if self.phone_number is None:
            self.phone_number = settings.get("phone")
        if self.center_web_page is None:
            self.center_web_page = settings.get("web_page")
        if self.center_email is None:
            self.center_email = settings.get("email")
