"""The ``licwiz`` entry point: ``main(argv)`` dispatches a command to its module.

One module per command group (cli/wizard.py, acquire.py, diagnostics.py,
exchange.py, run.py, demo.py, center.py, server.py, completion.py); each is imported only
when its command runs (plain ``import`` statements in the loaders below), so
``licwiz --help`` and ``licwiz fingerprint`` never load Textual or the
services' dependencies. The services come with the extras ``licwiz[center]``
and ``licwiz[server]``: without them their commands say so in one line.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence

from .errors import AcquireExit

Entry = Callable[[list[str]], int]


def _wizard() -> Entry:
    from . import wizard

    return wizard.main


def _demo() -> Entry:
    from . import demo

    return demo.main


def _acquire() -> Entry:
    from . import acquire

    return acquire.cmd_acquire


def _status() -> Entry:
    from . import acquire

    return acquire.cmd_status


def _verify() -> Entry:
    from . import diagnostics

    return diagnostics.cmd_verify


def _fingerprint() -> Entry:
    from . import diagnostics

    return diagnostics.cmd_fingerprint


def _request() -> Entry:
    from . import exchange

    return exchange.cmd_request


def _install() -> Entry:
    from . import exchange

    return exchange.cmd_install


def _run() -> Entry:
    from . import run

    return run.main


def _center() -> Entry:
    from . import center

    return center.main


def _server() -> Entry:
    from . import server

    return server.main


def _completion() -> Entry:
    from . import completion

    return completion.main


# command -> (loader of its entry function, one-line help)
COMMANDS: dict[str, tuple[Callable[[], Entry], str]] = {
    "wizard": (_wizard, "run the license acquisition wizard (default)"),
    "demo": (_demo, "run the wizard against an embedded demo Licensing Center"),
    "acquire": (_acquire, "acquire a license without a screen"),
    "status": (_status, "list installed licenses and seats"),
    "verify": (_verify, "check a license file"),
    "fingerprint": (_fingerprint, "show the key computer parameters"),
    "request": (_request, "write a sealed license request file"),
    "install": (_install, "install a license data file"),
    "run": (_run, "run a command holding a license seat"),
    "center": (_center, "the Licensing Center (vendor side)"),
    "server": (_server, "the license server (site side)"),
    "completion": (_completion, "print a bash or zsh completion script"),
}


# Commands whose dependencies come with an extra, not with `pip install licwiz`.
EXTRAS: dict[str, str] = {"center": "center", "server": "server", "demo": "center"}


def usage() -> str:
    lines = ["usage: licwiz [--version] [COMMAND] [ARGS...]", "", "commands:"]
    lines += [f"  {name:<12} {help_}" for name, (_, help_) in COMMANDS.items()]
    lines += ["", "Run 'licwiz COMMAND --help' for a command's options."]
    return "\n".join(lines)


def _unavailable(name: str, exc: ImportError) -> int:
    extra = EXTRAS.get(name)
    hint = f": pip install 'licwiz[{extra}]'" if extra else ""
    missing = f"missing module {exc.name}" if exc.name else str(exc)
    print(f"licwiz: command {name!r} is not available in this build ({missing}){hint} [unavailable]",
          file=sys.stderr)
    return AcquireExit.USAGE


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in ("-h", "--help", "help"):
        print(usage())
        return AcquireExit.OK
    if args and args[0] in ("-V", "--version"):
        from licwiz.core import __version__

        print(f"licwiz {__version__}")
        return AcquireExit.OK
    name = args.pop(0) if args and not args[0].startswith("-") else "wizard"
    if name not in COMMANDS:
        print(f"licwiz: unknown command {name!r}\n\n{usage()}", file=sys.stderr)
        return AcquireExit.USAGE
    load, _ = COMMANDS[name]
    try:
        entry = load()
    except ImportError as exc:  # e.g. `licwiz center` without the extra licwiz[center]
        return _unavailable(name, exc)
    try:
        rc = entry(args)
        sys.stdout.flush()
    except ImportError as exc:
        # The service commands import their dependencies when a subcommand needs them
        # (`licwiz server status` is a client and runs without the extra).
        if name not in EXTRAS:
            raise
        return _unavailable(name, exc)
    except SystemExit as exc:  # --help (argparse prints it and exits 0)
        return exc.code if isinstance(exc.code, int) else AcquireExit.OK
    except BrokenPipeError:
        # The reader went away (licwiz status | head): stop quietly, as Unix tools do,
        # and keep Python from complaining again when it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    return int(rc)
