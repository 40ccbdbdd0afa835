"""``licwiz completion bash|zsh``: print a shell completion script.

The script is generated (by shtab) from the same argparse parsers the
commands parse with, gathered under one ``licwiz`` parser: every command, its
options and their choices, and the ``center`` and ``server`` subcommands.
A command whose parser cannot be built here (``center`` or ``demo`` without
the ``licwiz[center]`` extra) still completes by name.

Install (once; a new shell picks it up)::

    licwiz completion bash | sudo tee /usr/share/bash-completion/completions/licwiz
    licwiz completion zsh | sudo tee /usr/local/share/zsh/site-functions/_licwiz

or for one user, ``eval "$(licwiz completion bash)"`` in ~/.bashrc.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

import shtab
from licwiz.core.i18n import _

from .errors import AcquireExit, Parser, UsageError, report_error

SHELLS = ("bash", "zsh")
Builder = Callable[[], argparse.ArgumentParser]


# One loader per command, each importing only its own module (as cli/main.py does).
def _wizard() -> argparse.ArgumentParser:
    from . import wizard

    return wizard.build_parser()


def _demo() -> argparse.ArgumentParser:
    from . import demo

    return demo.build_parser()


def _acquire() -> argparse.ArgumentParser:
    from . import acquire

    return acquire.build_acquire_parser()


def _status() -> argparse.ArgumentParser:
    from . import acquire

    return acquire.build_status_parser()


def _verify() -> argparse.ArgumentParser:
    from . import diagnostics

    return diagnostics.build_verify_parser()


def _fingerprint() -> argparse.ArgumentParser:
    from . import diagnostics

    return diagnostics.build_fingerprint_parser()


def _request() -> argparse.ArgumentParser:
    from . import exchange

    return exchange.build_request_parser()


def _install() -> argparse.ArgumentParser:
    from . import exchange

    return exchange.build_install_parser()


def _run() -> argparse.ArgumentParser:
    from . import run

    return run.build_parser()


def _center() -> argparse.ArgumentParser:
    from . import center

    return center.build_parser()


def _server() -> argparse.ArgumentParser:
    from . import server

    return server.build_parser()


PARSERS: dict[str, Builder] = {
    "wizard": _wizard, "demo": _demo, "acquire": _acquire, "status": _status, "verify": _verify,
    "fingerprint": _fingerprint, "request": _request, "install": _install, "run": _run,
    "center": _center, "server": _server, "completion": lambda: build_parser(),
}


def build_parser() -> Parser:
    p = Parser(prog="licwiz completion", description=_("Print a shell completion script for licwiz."),
               epilog=_("Install: licwiz completion bash | sudo tee "
               "/usr/share/bash-completion/completions/licwiz (zsh: to a folder in $fpath as _licwiz)."))
    p.add_argument("shell", choices=SHELLS, help=_("the shell to complete in"))
    return p


def licwiz_parser(commands: dict[str, str]) -> argparse.ArgumentParser:
    """One parser for the whole command line: ``commands`` (name -> help) as
    subcommands, each with the options of its own parser where it can be built."""
    top = argparse.ArgumentParser(prog="licwiz", description=_("licwiz: license acquisition"))
    top.add_argument("-V", "--version", action="version", version="licwiz")
    sub = top.add_subparsers(dest="command", metavar="COMMAND")
    for name, help_ in commands.items():
        build = PARSERS.get(name)
        try:
            own = build() if build is not None else None
        except ImportError:  # a service command without its extra: its name still completes
            own = None
        if own is None:
            sub.add_parser(name, help=help_)
        else:
            # parents= copies the command's options (and subcommands) into the tree
            sub.add_parser(name, help=help_, description=own.description, parents=[own], add_help=False)
    return top


def script(shell: str) -> str:
    from .main import COMMANDS

    helps = {name: _(help_) for name, (_load, help_) in COMMANDS.items()}
    return shtab.complete(licwiz_parser(helps), shell=shell)


def main(argv: list[str]) -> int:
    try:
        args = build_parser().parse_args(argv)
    except UsageError as exc:
        report_error(exc, code=AcquireExit.USAGE)
        return AcquireExit.USAGE
    sys.stdout.write(script(args.shell))
    return AcquireExit.OK
