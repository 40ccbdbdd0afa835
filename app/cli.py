"""The ``licwiz`` command line.

Each family of subcommands lives with what it drives: ``licwiz center ...``
in center/cli.py, ``licwiz server ...`` in server/cli.py; this module only
dispatches, so ``licwiz --help`` and ``licwiz fingerprint`` never import the
services' heavy dependencies (or Textual) unless they are used.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from importlib import import_module

# subcommand -> (module, function, one-line help); modules are imported lazily.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "wizard": ("licwiz.app.commands", "cmd_wizard", "run the license acquisition wizard (default)"),
    "demo": ("licwiz.app.demo", "main", "run the wizard against an embedded demo Licensing Center"),
    "acquire": ("licwiz.app.commands", "cmd_acquire", "acquire a license without a screen"),
    "status": ("licwiz.app.commands", "cmd_status", "list installed licenses and seats"),
    "verify": ("licwiz.app.diagnostics", "cmd_verify", "check a license file"),
    "fingerprint": ("licwiz.app.diagnostics", "cmd_fingerprint", "show the key computer parameters"),
    "request": ("licwiz.app.offline", "cmd_request", "write a sealed license request file"),
    "install": ("licwiz.app.offline", "cmd_install", "install a license data file"),
    "run": ("licwiz.app.run", "main", "run a command holding a license seat"),
    "center": ("licwiz.center.cli", "main", "the Licensing Center (vendor side)"),
    "server": ("licwiz.server.cli", "main", "the license server (site side)"),
}


def usage() -> str:
    lines = ["usage: licwiz [COMMAND] [ARGS...]", "", "commands:"]
    lines += [f"  {name:<12} {help_}" for name, (_, _, help_) in COMMANDS.items()]
    lines += ["", "Run 'licwiz COMMAND --help' for a command's options."]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    name = args.pop(0) if args and not args[0].startswith("-") else "wizard"
    if name not in COMMANDS:
        print(f"licwiz: unknown command {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module, func, _ = COMMANDS[name]
    try:
        entry: Callable[[list[str]], int] = getattr(import_module(module), func)
    except (ImportError, AttributeError) as exc:
        print(f"licwiz: command {name!r} is not available in this build ({exc})", file=sys.stderr)
        return 2
    try:
        rc = entry(args)
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (licwiz status | head): stop quietly, as Unix tools do,
        # and keep Python from complaining again when it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    return rc


if __name__ == "__main__":
    sys.exit(main())
