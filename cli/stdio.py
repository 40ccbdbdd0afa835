"""The standard streams, the way every ``licwiz`` command treats them.

- ``-`` for a file means standard input (``licwiz install -``, ``licwiz
  verify -``) or standard output (``licwiz request --out -``); what such a
  command says besides the data goes to stderr, so a pipe carries the data only.
- The full-screen commands (``licwiz``, ``licwiz wizard``, ``licwiz demo``)
  need a terminal on both stdin and stdout. Without one (cron, ``ssh host
  licwiz`` without ``-t``, Ansible) they say so in one line naming ``licwiz
  acquire`` and exit 2, instead of drawing escape codes nobody sees and
  waiting for keys that never come.
"""

from __future__ import annotations

import sys
from pathlib import Path

from licwiz.core.errors import FileFormatError
from licwiz.core.i18n import N_, _
from licwiz.core.license import MAX_FILE_BYTES, read_file
from licwiz.core.message import Msg

from .errors import AcquireExit

STDIO = "-"
STDIN_NAME = Msg(N_("standard input"))


def is_stdio(path: Path | str | None) -> bool:
    return path is not None and str(path) == STDIO


def read_license(path: Path) -> tuple[str, str]:
    """A license data file's text and the name to call it by; ``-`` reads
    stdin, with the same size limit and checks as a file."""
    if not is_stdio(path):
        return read_file(path), str(path)
    raw = sys.stdin.buffer.read(MAX_FILE_BYTES + 1)
    if len(raw) > MAX_FILE_BYTES:
        raise FileFormatError(STDIN_NAME, Msg(N_("too large for a license (over {size} KiB)"),
                                         size=MAX_FILE_BYTES // 1024))
    try:
        return raw.decode("ascii"), STDIN_NAME
    except UnicodeDecodeError:
        raise FileFormatError(STDIN_NAME, Msg(N_("not a licwiz license file (not ASCII text)"))) from None


def without_terminal(command: str) -> int | None:
    """Exit code 2 after one line on stderr if stdin or stdout is not a
    terminal (a full-screen command cannot run), else None."""
    if sys.stdin.isatty() and sys.stdout.isatty():
        return None
    which = _("standard input") if not sys.stdin.isatty() else _("standard output")
    line = _("{command} needs a terminal ({stream} is not one); without a screen use "
             "'licwiz acquire' (see 'licwiz acquire --help')").format(command=_(command), stream=which)
    print(f"licwiz: {line} [no_terminal]", file=sys.stderr)
    return AcquireExit.USAGE
