#!/usr/bin/env python3
"""Write a pip constraints file that pins every direct dependency to its floor.

    python3 packaging/lowest-constraints.py [--extras center,server] [-o FILE] [pyproject.toml]

Reads ``[project] dependencies`` and the named ``[project.optional-dependencies]``
of pyproject.toml and turns each floor into a pin (``httpx>=0.27`` ->
``httpx==0.27``), so that

    pip install -c constraints.txt -e '.[center,server,test]'

installs the oldest versions pyproject.toml claims to support (``make
test-lowest``). Extras that name licwiz itself (``licwiz[center,server]``) are
followed; packages named by no chosen group (the test tools, when ``test`` is
not in --extras) stay free. Extras of a dependency are dropped (pip refuses
them in a constraints file) and environment markers are kept.

A dependency without a lower bound (no ``>=``, ``~=`` or ``==``) is an error:
"lowest" would mean whatever version 0 a registry still has. Only the standard
library is used, so any Python 3.11+ runs it before a venv exists.
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

# PEP 508, the part pyproject.toml dependency lists use: NAME [EXTRAS] SPECIFIERS [; MARKER]
_REQ = re.compile(
    r"""^\s*(?P<name>[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*
        (?:\[(?P<extras>[^\]]*)\])?\s*
        (?P<specs>[^;]*?)\s*
        (?:;\s*(?P<marker>.+?))?\s*$""",
    re.VERBOSE,
)
_SPEC = re.compile(r"^(?P<op>~=|==|!=|<=|>=|<|>|===)\s*(?P<version>[A-Za-z0-9.*+!_-]+)$")


class ConstraintError(Exception):
    """A dependency line that cannot be pinned to a floor; the message names it."""


@dataclass(frozen=True)
class Floor:
    name: str  # normalised (PEP 503)
    version: str
    marker: str | None
    source: str  # the line it came from, for messages


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _version_key(version: str) -> tuple[tuple[int, int | str], ...]:
    """Enough of PEP 440 ordering to pick the highest of two floors (release numbers)."""
    parts: list[tuple[int, int | str]] = []
    for piece in re.split(r"[.+!-]", version):
        parts.append((0, int(piece)) if piece.isdigit() else (1, piece))
    while parts and parts[-1] == (0, 0):  # 2.0 == 2.0.0
        parts.pop()
    return tuple(parts)


def parse(line: str) -> tuple[str, list[str], Floor | None]:
    """(normalised name, the extras it asks for, its floor or None when it has no specifier)."""
    if "@" in line.split(";", 1)[0]:
        raise ConstraintError(f"{line!r}: a direct URL has no version to pin")
    m = _REQ.match(line)
    if not m:
        raise ConstraintError(f"{line!r}: not a requirement this script understands")
    name = normalise(m["name"])
    extras = [e.strip() for e in (m["extras"] or "").split(",") if e.strip()]
    specs = [s.strip() for s in m["specs"].split(",") if s.strip()]
    floor: str | None = None
    for spec in specs:
        sm = _SPEC.match(spec)
        if not sm:
            raise ConstraintError(f"{line!r}: cannot read the specifier {spec!r}")
        op, version = sm["op"], sm["version"]
        if op in ("==", "===", "~=", ">=") and "*" not in version:
            floor = version if floor is None or _version_key(version) > _version_key(floor) else floor
        elif op == ">":
            raise ConstraintError(f"{line!r}: '>' excludes its own version; write '>=' with the lowest "
                                  "version that works")
    if specs and floor is None:
        raise ConstraintError(f"{line!r}: no lower bound ('>=X') to pin")
    return name, extras, (Floor(name, floor, m["marker"], line.strip()) if floor else None)


def floors(pyproject: dict[str, object], extras: list[str]) -> list[Floor]:
    project = pyproject.get("project")
    if not isinstance(project, dict):
        raise ConstraintError("pyproject.toml has no [project] table")
    own = normalise(str(project.get("name", "")))
    optional = project.get("optional-dependencies") or {}
    if not isinstance(optional, dict):
        raise ConstraintError("[project.optional-dependencies] is not a table")
    unknown = [e for e in extras if e not in optional]
    if unknown:
        raise ConstraintError(f"no such extra: {', '.join(unknown)} (pyproject.toml has "
                              f"{', '.join(sorted(optional)) or 'none'})")
    found: dict[str, Floor] = {}
    todo: list[tuple[str, list[str]]] = [("[project] dependencies", list(project.get("dependencies") or []))]
    todo += [(f"extra {e!r}", list(optional[e])) for e in extras]
    seen_extras = set(extras)
    while todo:
        where, lines = todo.pop(0)
        for line in lines:
            name, wanted, floor = parse(line)
            if name == own:  # licwiz[center,server] inside another extra: follow it
                for e in wanted:
                    if e not in optional:
                        raise ConstraintError(f"{where}: {line!r} names the unknown extra {e!r}")
                    if e not in seen_extras:
                        seen_extras.add(e)
                        todo.append((f"extra {e!r}", list(optional[e])))
                continue
            if floor is None:
                raise ConstraintError(f"{where}: {line!r} has no lower bound to pin")
            old = found.get(name)
            if old is None or _version_key(floor.version) > _version_key(old.version):
                # Named twice (two extras): the higher floor is the lowest that satisfies both.
                found[name] = floor
    return sorted(found.values(), key=lambda f: f.name)


def render(pins: list[Floor], pyproject_path: Path, extras: list[str]) -> str:
    head = [
        f"# Generated by packaging/lowest-constraints.py from {pyproject_path.name}"
        f" (extras: {', '.join(extras) or 'none'}); do not edit.",
        "# Every direct dependency at its floor: pip install -c THIS_FILE ...",
    ]
    body = [f"{p.name}=={p.version}" + (f"; {p.marker}" if p.marker else "") for p in pins]
    return "\n".join(head + body) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="lowest-constraints.py",
                                 description="Pin every direct dependency of pyproject.toml to its floor.")
    default = Path(__file__).resolve().parents[1] / "pyproject.toml"
    ap.add_argument("pyproject", nargs="?", default=str(default),
                    help="the pyproject.toml to read (default: this checkout's)")
    ap.add_argument("--extras", default="", help="comma-separated extras to include, e.g. center,server")
    ap.add_argument("-o", "--output", default="-", help="file to write (default: stdout)")
    args = ap.parse_args(argv)
    path = Path(args.pyproject)
    extras = [e.strip() for e in args.extras.split(",") if e.strip()]
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
        text = render(floors(data, extras), path, extras)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        print(f"lowest-constraints: cannot read {path}: {exc}", file=sys.stderr)
        return 2
    except ConstraintError as exc:
        print(f"lowest-constraints: {exc}", file=sys.stderr)
        return 1
    if args.output == "-":
        sys.stdout.write(text)
    else:
        Path(args.output).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
