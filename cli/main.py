"""The ``licwiz`` entry point: ``main(argv)`` dispatches a command to its module.

One module per command group (cli/wizard.py, acquire.py, diagnostics.py,
exchange.py, run.py, demo.py, center.py, server.py, completion.py); each is imported only
when its command runs (plain ``import`` statements in the loaders below), so
``licwiz --help`` and ``licwiz fingerprint`` never load Textual or the
services' dependencies. The services come with the extras ``licwiz[center]``
and ``licwiz[server]``: without them their commands say so in one line.

The language of every text a person reads is set once, first thing: ``--lang
ru|en`` (anywhere before ``--``) or else the locale (LC_ALL, LC_MESSAGES, LANG).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence

from licwiz.core import i18n
from licwiz.core.i18n import N_, _

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
    "wizard": (_wizard, N_("run the license acquisition wizard (default)")),
    "demo": (_demo, N_("run the wizard against an embedded demo Licensing Center")),
    "acquire": (_acquire, N_("acquire a license without a screen")),
    "status": (_status, N_("list installed licenses and seats")),
    "verify": (_verify, N_("check a license file")),
    "fingerprint": (_fingerprint, N_("show the key computer parameters")),
    "request": (_request, N_("write a sealed license request file")),
    "install": (_install, N_("install a license data file")),
    "run": (_run, N_("run a command holding a license seat")),
    "center": (_center, N_("the Licensing Center (vendor side)")),
    "server": (_server, N_("the license server (site side)")),
    "completion": (_completion, N_("print a bash or zsh completion script")),
}


# Commands whose dependencies come with an extra, not with `pip install licwiz`.
EXTRAS: dict[str, str] = {"center": "center", "server": "server", "demo": "center"}


def usage() -> str:
    lines = [_("usage: licwiz [--version] [--lang ru|en] [COMMAND] [ARGS...]"), "", _("commands:")]
    lines += [f"  {name:<12} {_(help_)}" for name, (_load, help_) in COMMANDS.items()]
    lines += ["", _("Run 'licwiz COMMAND --help' for a command's options.")]
    return "\n".join(lines)


def _unavailable(name: str, exc: ImportError) -> int:
    extra = EXTRAS.get(name)
    hint = f": pip install 'licwiz[{extra}]'" if extra else ""
    missing = _("missing module {module}").format(module=exc.name) if exc.name else str(exc)
    line = _("command {name!r} is not available in this build ({missing})").format(name=name, missing=missing)
    print(f"licwiz: {line}{hint} [unavailable]", file=sys.stderr)
    return AcquireExit.USAGE


def _language_scope(args: list[str]) -> int:
    """How many leading *args* may hold ``--lang``: not what follows ``--``, nor the
    COMMAND that ``licwiz run`` starts (``licwiz run prog --lang x`` is prog's)."""
    end = args.index("--") if "--" in args else len(args)
    if "run" in args[:end]:
        i = args.index("run") + 1
        while i < end and args[i].startswith("-"):
            i += 2 if args[i] in ("--server", "--wait", "--lang") else 1
        end = min(end, i)
    return end


def take_language(args: list[str]) -> str | None:
    """Remove ``--lang X`` / ``--lang=X`` from *args*; the last one given wins.
    Raises ValueError (carrying the bad value) for a missing or unknown language."""
    chosen: str | None = None
    i = 0
    while i < _language_scope(args):
        arg = args[i]
        if arg == "--lang" or arg.startswith("--lang="):
            if arg == "--lang":
                if i + 1 >= len(args):
                    raise ValueError("")
                value = args[i + 1]
                del args[i:i + 2]
            else:
                value = arg.split("=", 1)[1]
                del args[i]
            if value not in i18n.LANGUAGES:
                raise ValueError(value)
            chosen = value
            continue
        i += 1
    return chosen


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    # First thing: every text after this (argparse's included) is in the chosen language.
    try:
        lang = take_language(args)
    except ValueError as bad:
        i18n.set_language(i18n.language_from_environ())
        print("licwiz: " + _("--lang: expected one of {choices}, got {value!r}").format(
            choices=", ".join(i18n.LANGUAGES), value=str(bad)) + " [usage]", file=sys.stderr)
        return AcquireExit.USAGE
    i18n.set_language(lang or i18n.language_from_environ())
    if args and args[0] in ("-h", "--help", "help"):
        print(usage())
        return AcquireExit.OK
    if args and args[0] in ("-V", "--version"):
        from licwiz.core import __version__

        print(f"licwiz {__version__}")
        return AcquireExit.OK
    name = args.pop(0) if args and not args[0].startswith("-") else "wizard"
    if name not in COMMANDS:
        unknown = _("unknown command {name!r}").format(name=name)
        print(f"licwiz: {unknown}\n\n{usage()}", file=sys.stderr)
        return AcquireExit.USAGE
    load, _help = COMMANDS[name]
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
