"""Exit codes and error reporting of every ``licwiz`` command, in one place.

Three exit-code tables, stable (scripts test them):

``AcquireExit``: ``acquire``, ``request``, ``install``, ``status``, ``wizard``, ``demo``

====  =====================================================================
0     done (``--json``: the result object on stdout)
1     unexpected internal error (a bug: please report it); ``status``: no valid license
2     usage or bad input (wrong option, mistyped number, owner-data file,
      phone rows with a wrong check digit, a file that is not a license)
3     refused by the Licensing Center or the license server
4     the Licensing Center or license server cannot be reached, is unavailable for
      now (its database out of reach: try again), or answered nonsense
5     the license cannot be stored (location not writable, disk full);
      if the license was already issued its text is kept and the error says where
6     the license received is invalid (signature, product, not the one
      requested); it is not installed
130   interrupted
====  =====================================================================

``DiagnosticsExit``: ``fingerprint`` and ``verify`` (see cli/diagnostics.py).
``RunExit``: ``run`` (besides COMMAND's own status; see cli/run.py).
``ServiceExit``: ``licwiz server ...`` (and ``licwiz center ...``).

Errors are one line on stderr, ``licwiz: <brief> [code]``, plus the detail
for support with ``--verbose``; with ``--json`` also
``{"ok": false, "exit_code": N, "error": {...}}`` on stdout. Never a traceback
(a bug's traceback only with ``--verbose``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from enum import IntEnum
from typing import NoReturn, TypeVar

from licwiz.core import i18n
from licwiz.core.errors import (
    AfterActivationError,
    CenterError,
    FileFormatError,
    InputError,
    LicenseInvalid,
    LicwizError,
    PhoneCodeError,
    SeatError,
    SignatureError,
    StorageError,
)
from licwiz.core.i18n import N_, _
from licwiz.core.message import Msg, Said
from licwiz.core.text import printable, printable_lines


class AcquireExit(IntEnum):
    OK = 0
    INTERNAL = 1
    USAGE = 2
    REFUSED = 3
    UNREACHABLE = 4
    STORAGE = 5
    INVALID = 6
    INTERRUPTED = 130


class DiagnosticsExit(IntEnum):
    OK = 0
    NOTHING = 1  # --what-if: no installed license to compare with
    USAGE = 2
    FILE = 3  # unreadable, malformed, too large
    SIGNATURE = 4  # does not verify, or an untrusted key
    PRODUCT = 5
    DATES = 6  # expired or not yet valid
    COMPUTER = 7  # genuine but bound to another computer
    OTHER = 8
    SUPERSEDED = 9  # genuine and for this computer, but an installed update replaces it


class RunExit(IntEnum):
    SERVER = 69  # license server unreachable or refusing
    USAGE = 64
    NO_SEAT = 75
    NO_LICENSE = 77
    NOT_EXECUTABLE = 126
    NOT_FOUND = 127
    INTERRUPTED = 130


class ServiceExit(IntEnum):
    OK = 0  # done; serve: stopped by SIGTERM/SIGINT after draining
    ERROR = 1  # database, keys, schema, tokens: one line says which
    USAGE = 2
    ADDRESS = 3  # serve: cannot listen on the address (port in use, no permission); uvicorn's STARTUP_FAILURE
    UNREACHABLE = 69  # server params/install/status: the license server cannot be reached


class UsageError(InputError):
    code = "usage"


class Parser(argparse.ArgumentParser):
    """argparse that raises UsageError instead of printing usage and exiting,
    so every error leaves as one line with an exit code."""

    def error(self, message: str) -> NoReturn:
        # argparse's own message comes translated by argparse (gettext's global domain)
        raise UsageError("arguments", Msg(N_("{message} (see '{command} --help')"), message=message,
                                          command=self.prog))

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None,
    ) -> tuple[argparse.Namespace, list[str]]:
        return _english_too(lambda: super(Parser, self).parse_known_args(args, namespace))

    def parse_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None,
    ) -> argparse.Namespace:
        # "unrecognized arguments" is raised here, after parse_known_args
        return _english_too(lambda: super(Parser, self).parse_args(args, namespace))


T = TypeVar("T")


def _english_too(parse: Callable[[], T]) -> T:
    """*parse*, whose UsageError keeps argparse's English for --json (argparse says it again in
    English: parsing has no side effects) and the user's language for the terminal."""
    try:
        return parse()
    except UsageError as exc:
        if isinstance(exc.brief, Said) or i18n.current_language() == i18n.SOURCE_LANGUAGE:
            raise
        english = _in_english(parse)
        raise UsageError("arguments", Said(english or exc.brief, exc.localized_brief())) from None


def _in_english(parse: Callable[[], object]) -> str | None:
    """The UsageError text *parse* raises with argparse speaking English."""
    saved = os.environ.get("LANGUAGE")
    saved_language = i18n.current_language()
    os.environ["LANGUAGE"] = i18n.SOURCE_LANGUAGE
    i18n.set_language(i18n.SOURCE_LANGUAGE)
    try:
        parse()
    except UsageError as again:
        return str(again.brief)
    finally:
        i18n.set_language(saved_language)
        if saved is None:
            os.environ.pop("LANGUAGE", None)
        else:
            os.environ["LANGUAGE"] = saved
    return None


# Codes that say "not now", not "no": the same call may succeed later.
_AWAY = frozenset({"unreachable", "untrusted_certificate", "bad_response", "unavailable"})


def exit_code_for(exc: BaseException) -> int:
    """``AcquireExit`` of a failure."""
    if isinstance(exc, AfterActivationError):
        return AcquireExit.STORAGE if exc.verified else AcquireExit.INVALID
    if isinstance(exc, CenterError):
        return AcquireExit.UNREACHABLE if exc.code in _AWAY else AcquireExit.REFUSED
    if isinstance(exc, InputError | FileFormatError | PhoneCodeError):
        return AcquireExit.USAGE  # a misheard phone row is bad input, like a mistyped PIN
    if isinstance(exc, StorageError):
        return AcquireExit.STORAGE
    if isinstance(exc, SignatureError | LicenseInvalid):
        return AcquireExit.INVALID
    if isinstance(exc, LicwizError):
        # the license server's errors (core.server_client.ServerError)
        if exc.code in _AWAY:
            return AcquireExit.UNREACHABLE
        return AcquireExit.REFUSED if exc.code != "internal" else AcquireExit.INTERNAL
    return AcquireExit.INTERNAL


def diagnostics_exit_code(err: LicwizError) -> int:
    """``DiagnosticsExit`` of a failure."""
    if isinstance(err, FileFormatError):
        return DiagnosticsExit.FILE
    if isinstance(err, SignatureError):
        return DiagnosticsExit.SIGNATURE
    if isinstance(err, LicenseInvalid):
        if err.code == "superseded":
            return DiagnosticsExit.SUPERSEDED
        if err.code == "wrong_product":
            return DiagnosticsExit.PRODUCT
        if err.code in ("expired", "not_yet_valid"):
            return DiagnosticsExit.DATES
        return DiagnosticsExit.COMPUTER
    if isinstance(err, InputError):
        return DiagnosticsExit.USAGE
    return DiagnosticsExit.OTHER


def run_exit_code(exc: LicwizError) -> int:
    """``RunExit`` of a failure to get a seat (COMMAND never started)."""
    if isinstance(exc, SeatError):
        return RunExit.NO_SEAT
    if isinstance(exc, LicenseInvalid) or exc.code == "no_license":
        return RunExit.NO_LICENSE
    if isinstance(exc, InputError):
        return RunExit.USAGE
    return RunExit.SERVER if exc.__class__.__name__ == "ServerError" else 1


def one_line(text: str) -> str:
    """A brief may quote file content; it must not break the line."""
    return " ".join(text.split())


def report_error(
    exc: LicwizError, *, code: int, verbose: bool = False, as_json: bool = False, with_code: bool = True
) -> None:
    """The one way a command reports a failure (see the module docstring)."""
    # a brief or detail may quote what the center, a server or a file said:
    # nothing in it may drive the terminal (the --json copy is escaped by json).
    # A person reads the process language; --json keeps the English and the code.
    tag = f" [{printable(exc.code)}]" if with_code else ""
    print(f"licwiz: {printable(one_line(exc.localized_brief()))}{tag}", file=sys.stderr)
    if verbose and exc.detail and exc.detail != exc.brief:
        print(printable_lines(exc.localized_detail()), file=sys.stderr)
    if as_json:
        print(json.dumps({"ok": False, "exit_code": int(code), "error": exc.as_dict()}, indent=2))


def wants(argv: Sequence[str], *flags: str) -> bool:
    """An output option, known before parsing (a usage error is reported the way asked)."""
    return any(f in argv for f in flags)


def guarded(
    argv: Sequence[str], body: Callable[[], int], *, code_for: Callable[[LicwizError], int] = exit_code_for,
) -> int:
    """Run a command's body: every failure leaves as one reported line and an exit code."""
    as_json = wants(argv, "--json")
    verbose = wants(argv, "--verbose", "-v")
    try:
        return int(body())
    except KeyboardInterrupt:
        print("licwiz: {what} [interrupted]".format(what=_("interrupted")), file=sys.stderr)
        return AcquireExit.INTERRUPTED
    except LicwizError as exc:
        code = code_for(exc)
        report_error(exc, code=code, verbose=verbose, as_json=as_json)
        return code
    except Exception as exc:  # a bug: still one line, the traceback only with --verbose
        err = LicwizError(Msg(N_("internal error")), f"{type(exc).__name__}: {exc}", code="internal")
        report_error(err, code=AcquireExit.INTERNAL, verbose=verbose, as_json=as_json)
        if verbose:
            traceback.print_exc()
        return AcquireExit.INTERNAL
