"""``licwiz demo``: the wizard against an embedded Licensing Center.

Everything lives in one temporary folder: the center's SQLite database and
keys, its log, and the license locations (``LICWIZ_ALL_USERS_DIR``,
``LICWIZ_USER_DIR``), so the demo never touches the real ones and needs no
network beyond loopback. A demo kit with one single-user and one 5-user kit is
created; their numbers and PINs are shown beside the wizard (F2 on narrow
terminals). The wizard runs with the demo folder as its current folder, so the
files it proposes (request file, Save data) land there, not in a checkout. At
exit the demo says what this run installed (licenses of earlier runs in a
``--folder`` are listed apart), and for a kept folder how to continue with it
(``licwiz demo --folder DIR``), the environment lines that point ``licwiz
status``/``verify``/``fingerprint --what-if`` at it, and how to get an operator
token for its center; ``--keep`` keeps the folder.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shlex
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
from licwiz.core.storage import Installed, installed_files

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


@contextlib.contextmanager
def _cwd(folder: Path) -> Iterator[None]:
    """The wizard proposes files (request file, Save data, a .lic to open) in the
    current folder: in the demo that is the demo folder, not the checkout."""
    old = Path.cwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(old)


def _installed_in(folder: Path) -> list[Installed]:
    with _env(LICWIZ_ALL_USERS_DIR=str(folder / "all-users"), LICWIZ_USER_DIR=str(folder / "user")):
        return installed_files()


def _snapshot(folder: Path) -> dict[Path, bytes]:
    """Every license file of the demo folder, with its bytes: what this run installed is what changed."""
    out: dict[Path, bytes] = {}
    for entry in _installed_in(folder):
        with contextlib.suppress(OSError):
            out[entry.path] = entry.path.read_bytes()
    return out


def _scope_label(scope: str) -> str:
    return "all users" if scope == "all-users" else "the current user"


def exit_summary(folder: Path, before: dict[Path, bytes], kept: bool, center_home: Path) -> list[str]:
    """What this run did, what the folder already held, and how to go on (the
    folder and its center are the only way to recover, update or finish a file request)."""
    lines: list[str] = []
    new: list[Installed] = []
    earlier: list[Installed] = []
    for entry in _installed_in(folder):
        try:
            changed = before.get(entry.path) != entry.path.read_bytes()
        except OSError:
            continue
        (new if changed else earlier).append(entry)
    for entry in new:
        lines.append(f"License installed for {_scope_label(entry.scope)}: {entry.path}")
    if not new:
        lines.append("No license was installed.")
    if earlier and kept:
        lines.append("Already in the demo folder from earlier runs (not installed now):")
        lines += [f"  {entry.path}" for entry in earlier]
    if not kept:
        if new:
            lines.append(f"(the demo folder {folder} was removed; run 'licwiz demo --keep' to keep it)")
        lines.append("Recovery, update and file requests need the same demo center next time: "
                     "start with 'licwiz demo --folder DIR' (or --keep) and rerun it with that folder.")
        return lines
    lines += [
        f"Demo folder kept: {folder} (center log: {folder / 'center.log'})",
        "To continue (recovery, update, a license file request) with this center and its kits:",
        f"  licwiz demo --folder {shlex.quote(str(folder))}",
        "To see the demo's licenses with licwiz status, verify or fingerprint --what-if:",
        f"  export LICWIZ_ALL_USERS_DIR={shlex.quote(str(folder / 'all-users'))}",
        f"  export LICWIZ_USER_DIR={shlex.quote(str(folder / 'user'))}",
        f"  export LICWIZ_TRUSTED_KEYS={shlex.quote(str(center_home / 'public'))}",
        "An operator token for the demo center's /operator console (its URL is in the panel while it runs):",
        f"  licwiz center operator add NAME --home {shlex.quote(str(center_home))}",
    ]
    return lines


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
    before = _snapshot(folder)
    try:
        with EmbeddedCenter(
            folder / "center", phone=DEMO_PHONE, log_file=folder / "center-requests.log"
        ) as center, _logs_to(folder / "center.log"):
            trusted = str(center.trusted_keys_dir)
            with _env(LICWIZ_ALL_USERS_DIR=str(all_users), LICWIZ_USER_DIR=str(user),
                      LICWIZ_TRUSTED_KEYS=trusted, LICWIZ_CENTER_URL=center.url):
                kits = [_create_kit(center, 1, product), _create_kit(center, 5, product)]
                with _cwd(folder):
                    rc = _run_wizard(center, product, demo_notes(center.url, kits, folder))
    except LicwizError as exc:
        report_error(exc, code=AcquireExit.INTERNAL, verbose=True)
        print(f"(center log: {folder / 'center.log'})", file=sys.stderr)
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)
        return AcquireExit.INTERNAL
    except KeyboardInterrupt:
        rc = AcquireExit.INTERRUPTED
    print("\n".join(exit_summary(folder, before, keep, folder / "center")))
    if not keep:
        shutil.rmtree(folder, ignore_errors=True)
    return rc
