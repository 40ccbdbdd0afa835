"""``licwiz demo``: the wizard against an embedded Licensing Center.

Everything lives in one temporary folder: the center's SQLite database and
keys, its log, and the license locations (``LICWIZ_ALL_USERS_DIR``,
``LICWIZ_USER_DIR``), so the demo never touches the real ones and needs no
network beyond loopback. A demo kit with one single-user and one 5-user kit is
created; their numbers and PINs are shown beside the wizard (F2 on narrow
terminals). At exit the demo says where the license went; ``--keep`` keeps
the folder.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from licwiz.center.embedded import EmbeddedCenter
from licwiz.core.errors import LicwizError
from licwiz.core.identifiers import format_pin
from licwiz.core.product import current_product
from licwiz.core.storage import installed_files

from .errors import AcquireExit, Parser, report_error
from .stdio import without_terminal

DEMO_PHONE = "+1 555 0100 (demo)"
DEMO_PINS = 3  # PINs per set: enough for a first-time registration and two updates
# Loggers of the embedded center's stack: their output would be drawn over the TUI.
_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "sqlalchemy", "alembic")


def _pins(pins: Any) -> list[str]:
    return [f" {format_pin(p)}" for p in (pins or [])]


def demo_notes(center_url: str, kits: list[Any], folder: Path) -> str:
    """The panel beside the wizard; lines fit its 30 columns, the whole fits 80x24's body."""
    lines: list[str] = []
    for kit in kits:
        users = int(getattr(kit, "users", 1))
        if users == 1:
            lines.append(f"Kit {kit.regnum} (1 user)")
            lines += _pins(kit.single_pins)
        else:
            lines += [f"Kit {kit.regnum} ({users} users)", "Use ONE PIN set of the two:",
                      "single-user (1 user each):"]
            lines += _pins(kit.single_pins)
            lines.append(f"multi-user (one {users}-user):")
            lines += _pins(getattr(kit, "multi_pins", []))
        lines.append("")
    lines += ["Owner data: any valid values", "(Save data keeps them).", "",
              f"Center: {center_url.removeprefix('http://')}", f"Licenses: {folder}"]
    return "\n".join(lines)


@contextlib.contextmanager
def _logs_to(path: Path) -> Iterator[None]:
    """Send every log record to ``path`` while the TUI owns the terminal."""
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    saved: list[tuple[logging.Logger, list[logging.Handler], bool]] = []
    for name in _LOGGERS:
        log = logging.getLogger(name)
        saved.append((log, list(log.handlers), log.propagate))
        log.handlers = [handler]
        log.propagate = False
    try:
        yield
    finally:
        for log, handlers, propagate in saved:
            log.handlers = handlers
            log.propagate = propagate
        handler.close()


@contextlib.contextmanager
def _env(**values: str) -> Iterator[None]:
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _create_kit(center: EmbeddedCenter, users: int, product: str) -> Any:
    return center.create_kit(users=users, pins=DEMO_PINS, product=product)


def _run_wizard(center: EmbeddedCenter, product: str, notes: str) -> int:
    from licwiz.app.config import WizardConfig
    from licwiz.app.wizard import LicwizApp

    from .wizard import run_app

    kw: dict[str, Any] = {"center_url": center.url, "product": product, "demo_notes": notes,
                          "center_web_page": f"{center.url}/"}
    phone = getattr(center.service, "phone_number_cached", None) or DEMO_PHONE
    if isinstance(phone, str) and phone:
        kw["phone_number"] = phone
    return run_app(LicwizApp(WizardConfig(**kw)))


def build_parser() -> Parser:
    p = Parser(
        prog="licwiz demo",
        description="Run the wizard against an embedded demo Licensing Center (no network needed).",
    )
    p.add_argument("--keep", action="store_true", help="keep the demo folder (center, licenses) at exit")
    p.add_argument("--folder", type=Path, help="use this folder instead of a new temporary one (kept)")
    return p


def main(argv: list[str]) -> int:
    try:
        args = build_parser().parse_args(argv)
    except LicwizError as exc:
        report_error(exc, code=AcquireExit.USAGE)
        return AcquireExit.USAGE
    no_screen = without_terminal("licwiz demo")  # before a center is started for nobody
    if no_screen is not None:
        return no_screen
    product = current_product()
    folder = args.folder.resolve() if args.folder else Path(tempfile.mkdtemp(prefix="licwiz-demo-"))
    keep = args.keep or args.folder is not None
    folder.mkdir(parents=True, exist_ok=True)
    all_users, user = folder / "all-users", folder / "user"
    rc: int = AcquireExit.INTERNAL
    try:
        with EmbeddedCenter(
            folder / "center", phone=DEMO_PHONE, log_file=folder / "center-requests.log"
        ) as center, _logs_to(folder / "center.log"):
            trusted = str(center.trusted_keys_dir)
            with _env(LICWIZ_ALL_USERS_DIR=str(all_users), LICWIZ_USER_DIR=str(user),
                      LICWIZ_TRUSTED_KEYS=trusted, LICWIZ_CENTER_URL=center.url):
                kits = [_create_kit(center, 1, product), _create_kit(center, 5, product)]
                rc = _run_wizard(center, product, demo_notes(center.url, kits, folder))
                installed = installed_files()
    except LicwizError as exc:
        report_error(exc, code=AcquireExit.INTERNAL, verbose=True)
        print(f"(center log: {folder / 'center.log'})", file=sys.stderr)
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)
        return AcquireExit.INTERNAL
    except KeyboardInterrupt:
        installed = []
        rc = AcquireExit.INTERRUPTED
    if installed:
        for entry in installed:
            scope = "all users" if entry.scope == "all-users" else "the current user"
            print(f"License installed for {scope}: {entry.path}")
    else:
        print("No license was installed.")
    if keep:
        print(f"Demo folder kept: {folder} (center log: {folder / 'center.log'})")
    else:
        shutil.rmtree(folder, ignore_errors=True)
        if installed:
            print(f"(the demo folder {folder} was removed; run 'licwiz demo --keep' to keep it)")
    return rc
