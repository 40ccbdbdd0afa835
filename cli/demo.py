"""``licwiz demo``: the wizard against an embedded Licensing Center.

Everything lives in one temporary folder: the center's SQLite database and
keys, its log, and the license locations (``LICWIZ_ALL_USERS_DIR``,
``LICWIZ_USER_DIR``), so the demo never touches the real ones and needs no
network beyond loopback. The folder has a single-user and a 5-user kit,
made on the first run and reused by every rerun of ``--folder`` (a new one
only when a kind has no PIN left); their PINs are kept in ``demo-kits.json``
(0600) as they are made, since the center shows PINs only then. Every kit of
the folder is shown beside the wizard (F2: all of it, and on narrow
terminals), spent PINs marked from the center's states. The wizard runs
with the demo folder as its current folder, so the files it proposes
(request file, Save data) land there, not in a checkout. At exit the demo
says what this run installed (licenses of earlier runs in a ``--folder``
are listed apart), and for a kept folder how to continue with it
(``licwiz demo --folder DIR``), the environment lines that point ``licwiz
status``/``verify``/``fingerprint --what-if`` at it, and how to get an operator
token for its center; ``--keep`` keeps the folder. ``--shell`` opens a shell
after the wizard with that environment set and the demo center still
running, so ``licwiz status``, ``verify``, ``fingerprint --what-if`` and
another ``licwiz`` run work against the demo; leaving the shell ends it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from licwiz.center.embedded import EmbeddedCenter
from licwiz.core.errors import LicwizError
from licwiz.core.i18n import N_, _, ngettext
from licwiz.core.identifiers import format_pin
from licwiz.core.message import Msg
from licwiz.core.product import current_product
from licwiz.core.storage import Installed, installed_files

from .errors import AcquireExit, Parser, report_error
from .stdio import without_terminal

DEMO_PHONE = "+1 555 0100 (demo)"
DEMO_PINS = 3  # PINs per set: enough for a first-time registration and two updates
# Loggers of the embedded center's stack: their output would be drawn over the TUI.
_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "sqlalchemy", "alembic")


KITS_FILE = "demo-kits.json"
# The demo's two kinds of kit: a single-user one and a 5-user one (two PIN sets).
DEMO_KIT_USERS = (1, 5)


@dataclass
class DemoKit:
    """A kit of the demo folder's center as the panel shows it. The PINs come
    from the folder's PIN file (the center keeps only their hashes: it shows
    PINs once, at creation); which are spent, and which set a multi-user kit
    uses, come from the center on every run."""

    regnum: str
    users: int
    product: str
    single_pins: list[str] = field(default_factory=list)
    multi_pins: list[str] = field(default_factory=list)
    known: bool = True  # False: made before the PIN file existed, its PINs are not known
    pin_set: str | None = None
    spent: set[tuple[str, int]] = field(default_factory=set)  # (set, position)

    def unused(self, pin_set: str) -> list[str]:
        pins = self.single_pins if pin_set == "single" else self.multi_pins
        return [p for i, p in enumerate(pins, 1) if (pin_set, i) not in self.spent]

    def usable(self, product: str) -> bool:
        """Has a PIN the wizard can still spend."""
        if not self.known or self.product != product:
            return False
        sets = ("single",) if self.users == 1 else ((self.pin_set,) if self.pin_set else ("single", "multi"))
        return any(self.unused(s) for s in sets)


def _read_pin_file(folder: Path) -> dict[str, dict[str, Any]]:
    """regnum -> {"single_pins": [...], "multi_pins": [...]} from the PIN file, {} when there is none."""
    path = folder / KITS_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        out: dict[str, dict[str, Any]] = {}
        for kit in data["kits"]:
            pins = {k: [str(p) for p in kit.get(k) or []] for k in ("single_pins", "multi_pins")}
            out[str(kit["regnum"])] = pins
        return out
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise LicwizError(Msg(N_("The demo's PIN file {path} cannot be read"), path=path),
                          Msg(N_("{reason}. Move it away to start the demo with new kits."),
                              reason=f"{type(exc).__name__}: {exc}"),
                          code="input") from exc


def _write_pin_file(folder: Path, pins: dict[str, dict[str, Any]]) -> None:
    """Write the PIN file whole or not at all (a temporary file renamed over
    it), readable by its owner only: the PINs are what licenses are paid with."""
    path = folder / KITS_FILE
    tmp = folder / f".{KITS_FILE}.{os.getpid()}.tmp"
    body = json.dumps({"kits": [{"regnum": r, **p} for r, p in pins.items()]}, indent=1) + "\n"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(body)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _center_kits(center: EmbeddedCenter, pins: dict[str, dict[str, Any]]) -> list[DemoKit]:
    """Every kit of the folder's center, with its PIN states."""
    svc = center.service
    assert svc is not None, "the center is not started"
    out: list[DemoKit] = []
    for row in center.call(svc.kits.list_kits()):
        info = center.call(svc.kits.info(row.regnum))
        known = pins.get(info.regnum)
        out.append(DemoKit(
            info.regnum, info.users, info.product,
            single_pins=list((known or {}).get("single_pins", [])),
            multi_pins=list((known or {}).get("multi_pins", [])),
            known=known is not None, pin_set=info.pin_set,
            spent={(p.pin_set, p.position) for p in info.pins if p.used},
        ))
    return out


def demo_kits(center: EmbeddedCenter, folder: Path, product: str) -> list[DemoKit]:
    """The folder's kits, reused run after run: a kit of each kind (1 user,
    5 users) is created only when the folder has none with a PIN left to use.
    A new kit's PINs go into the PIN file before anything shows them. Usable
    kits come first (the panel may not show the end), then spent and older ones."""
    pins = _read_pin_file(folder)
    kits = _center_kits(center, pins)
    for users in DEMO_KIT_USERS:
        if any(k.users == users and k.usable(product) for k in kits):
            continue
        made = _create_kit(center, users, product)
        pins[made.regnum] = {"single_pins": list(made.single_pins or []),
                             "multi_pins": list(made.multi_pins or [])}
        _write_pin_file(folder, pins)
        kits.append(DemoKit(made.regnum, users, product, pins[made.regnum]["single_pins"],
                            pins[made.regnum]["multi_pins"]))
    firsts = [next(k for k in kits if k.users == u and k.usable(product)) for u in DEMO_KIT_USERS]
    return firsts + [k for k in kits if k not in firsts]  # demo_notes: the first two are current


def _pin_lines(kit: DemoKit, pin_set: str) -> list[str]:
    pins = kit.single_pins if pin_set == "single" else kit.multi_pins
    return [f" {format_pin(p)}" + (" " + _("spent") if (pin_set, i) in kit.spent else "")
            for i, p in enumerate(pins, 1)]


def _kit_lines(kit: DemoKit) -> list[str]:
    # the panel is 30 columns wide: the Russian is kept as short
    lines = [ngettext("Kit {regnum} ({n} user)", "Kit {regnum} ({n} users)", kit.users).format(
        regnum=kit.regnum, n=kit.users)]
    if not kit.known:
        return [*lines, _(" PINs not kept (older run)")]
    if kit.users == 1:
        return lines + _pin_lines(kit, "single")
    if kit.pin_set is None:
        lines.append(_("Use ONE PIN set of the two:"))
    elif kit.pin_set == "single":
        lines.append(_("Uses its single-user set."))
    else:
        lines.append(_("Uses its multi-user set."))
    for pin_set, heading in (("single", _("single-user (1 user each):")),
                             ("multi", _("multi-user (one {n}-user):").format(n=kit.users))):
        if kit.pin_set is not None and kit.pin_set != pin_set:
            lines.append(_("single-user: closed") if pin_set == "single" else _("multi-user: closed"))
        else:
            lines += [heading, *_pin_lines(kit, pin_set)]
    return lines


def demo_notes(center_url: str, kits: list[DemoKit], folder: Path, *, current: int = 2) -> str:
    """The panel beside the wizard and F2's dialog: every kit of the folder, spent
    PINs marked. Lines fit the panel's 30 columns. The ``current`` kits (those
    to use now) and where things are come first: the panel may not show the
    end, which lists the folder's other kits (F2 shows all)."""
    lines: list[str] = []
    for kit in kits[:current]:
        lines += [*_kit_lines(kit), ""]
    lines += [_("Owner data: any valid values"), _("(Save data keeps them)."), "",
              _("Center: {address}").format(address=center_url.removeprefix("http://")),
              _("Licenses: {folder}").format(folder=folder)]
    if kits[current:]:
        lines += ["", _("Earlier kits of this folder:")]
        for kit in kits[current:]:
            lines += ["", *_kit_lines(kit)]
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
    return _("all users") if scope == "all-users" else _("the current user")


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
        lines.append(_("License installed for {scope}: {path}").format(scope=_scope_label(entry.scope),
                                                                       path=entry.path))
    if not new:
        lines.append(_("No license was installed."))
    if earlier and kept:
        lines.append(_("Already in the demo folder from earlier runs (not installed now):"))
        lines += [f"  {entry.path}" for entry in earlier]
    if not kept:
        if new:
            lines.append(_("(the demo folder {folder} was removed; run 'licwiz demo --keep' to keep "
                           "it)").format(
                folder=folder))
        lines.append(_("Recovery, update and file requests need the same demo center next time: "
                       "start with 'licwiz demo --folder DIR' (or --keep) and rerun it with that folder."))
        return lines
    lines += [
        _("Demo folder kept: {folder} (center log: {log})").format(folder=folder, log=folder / "center.log"),
        _("To continue (recovery, update, a license file request) with this center and its kits:"),
        f"  licwiz demo --folder {shlex.quote(str(folder))}",
        _("To see the demo's licenses with licwiz status, verify or fingerprint --what-if:"),
        f"  export LICWIZ_ALL_USERS_DIR={shlex.quote(str(folder / 'all-users'))}",
        f"  export LICWIZ_USER_DIR={shlex.quote(str(folder / 'user'))}",
        f"  export LICWIZ_TRUSTED_KEYS={shlex.quote(str(center_home / 'public'))}",
        _("An operator token for the demo center's /operator console (its URL is in the panel while it "
          "runs):"),
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


def _ignore_interrupt(signum: int, frame: Any) -> None:
    """Ctrl+C in the demo's shell is the shell's (and its commands'): the demo,
    in the same process group, keeps waiting. A handler, not SIG_IGN: an
    ignored signal would stay ignored in the shell's commands too."""


def demo_shell(folder: Path, center_url: str) -> int:
    """Run $SHELL (else /bin/sh) in the demo folder with the demo's environment
    (already in os.environ) while the center keeps running; returns its exit code."""
    shell = os.environ.get("SHELL") or "/bin/sh"
    env = dict(os.environ)
    # The licwiz that runs the demo is the one the shell finds first.
    here = Path(sys.executable).parent
    if (here / "licwiz").exists():
        env["PATH"] = os.pathsep.join([str(here), env.get("PATH", "")])
    print(_("A shell in the demo folder {folder}, with the demo's license folders, trusted keys and\n"
            "center (LICWIZ_CENTER_URL={url}): licwiz status, licwiz verify FILE,\n"
            "licwiz fingerprint --what-if and licwiz (the wizard again) use the demo.\n"
            "Type 'exit' to end the demo (its center stops then).").format(folder=folder, url=center_url),
          flush=True)
    previous = signal.signal(signal.SIGINT, _ignore_interrupt)
    try:
        return subprocess.run([shell], cwd=folder, env=env, check=False).returncode
    except OSError as exc:
        raise LicwizError(Msg(N_("Could not start the shell {shell}"), shell=shell),
                          f"{type(exc).__name__}: {exc}",
                          code="internal") from exc
    finally:
        signal.signal(signal.SIGINT, previous)


def build_parser() -> Parser:
    p = Parser(
        prog="licwiz demo",
        description=_("Run the wizard against an embedded demo Licensing Center (no network needed)."),
    )
    p.add_argument("--keep", action="store_true", help=_("keep the demo folder (center, licenses) at exit"))
    p.add_argument("--folder", type=Path, help=_("use this folder instead of a new temporary one (kept)"))
    p.add_argument("--shell", action="store_true",
                   help=_("after the wizard, open a shell ($SHELL) set up to use the demo's licenses, keys "
                          "and "
                        "running center (licwiz status, verify, fingerprint --what-if, licwiz); "
                        "exiting the shell ends the demo"))
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
                kits = demo_kits(center, folder, product)
                with _cwd(folder):
                    rc = _run_wizard(center, product, demo_notes(center.url, kits, folder))
                if args.shell:
                    demo_shell(folder, center.url)  # the wizard's exit code stays the demo's
    except LicwizError as exc:
        report_error(exc, code=AcquireExit.INTERNAL, verbose=True)
        print(_("(center log: {value})").format(value=folder / 'center.log'), file=sys.stderr)
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)
        return AcquireExit.INTERNAL
    except KeyboardInterrupt:
        rc = AcquireExit.INTERRUPTED
    print("\n".join(exit_summary(folder, before, keep, folder / "center")))
    if not keep:
        shutil.rmtree(folder, ignore_errors=True)
    return rc
