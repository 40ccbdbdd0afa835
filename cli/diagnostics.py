"""``licwiz fingerprint`` and ``licwiz verify``: what support asks a user to run.

``licwiz fingerprint [--json] [--show-raw] [--what-if [LICENSE_FILE]]``
    Prints the key computer parameters as names and digests (raw values only
    with ``--show-raw``; they are personal and never sent anywhere). With
    ``--what-if`` it compares them with a license file, or with every installed
    license, and prints which parameters match, which changed, and the verdict.

``licwiz verify FILE [--json]``
    Prints what a license says and whether it is valid on this computer
    (``-``: the license read from standard input). With ``--json`` every
    outcome is one JSON object on stdout, a file that cannot be read or parsed
    too: ``{"ok": false, "exit_code": 3, "file": ..., "valid": false,
    "error": {"code", "brief", "detail"}}``.

Exit codes (both commands; stable, scripts may test them; ``DiagnosticsExit``
in cli/errors.py):

== ===========================================================================
0  valid / matches (``fingerprint`` without ``--what-if``: parameters printed)
1  ``--what-if``: no license installed to compare with
2  usage error (bad options)
3  license file unreadable, malformed, or too large
4  signature does not verify, or signed by a key that is not trusted
5  license is for another product
6  license expired or not yet valid
7  license is genuine but bound to another computer (fingerprint mismatch)
8  any other licwiz error
9  license is genuine and for this computer, but superseded: an installed
   update replaces it (``--what-if`` over every installed license: the newer
   license decides, the superseded one is only reported)
== ===========================================================================

On failure one line with the reason goes to stderr; never a traceback.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from licwiz.core import acquire, fingerprint
from licwiz.core import license as lic_mod
from licwiz.core.errors import LicwizError, SignatureError
from licwiz.core.i18n import _
from licwiz.core.keys import Keyring, load_keyring
from licwiz.core.message import Trimmed, localized
from licwiz.core.product import current_product
from licwiz.core.text import printable, printable_lines

from .errors import DiagnosticsExit, Parser, diagnostics_exit_code, report_error, wants
from .stdio import STDIN_NAME, is_stdio, read_license

_INSTALLED = "\0installed"
# Exit code of a genuine license that an installed update replaces (superseded).


def _fail(err: LicwizError, *, as_json: bool = False, file: str | None = None) -> int:
    """One line on stderr; with ``as_json`` also the error object on stdout."""
    code = diagnostics_exit_code(err)
    report_error(err, code=code)
    if as_json:
        doc: dict[str, Any] = {"ok": False, "exit_code": code, "error": err.as_dict()}
        if file is not None:
            doc.update(file=file, valid=False)
        print(json.dumps(doc, indent=2, sort_keys=True))
    return code


def _what_if(path: Path, keyring: Keyring, root: Path,
             installed: list[acquire.InstalledStatus]) -> tuple[dict[str, Any], int]:
    """Compare one license file with this computer; (report, exit code). The
    verdict is ``acquire.judge``'s, the one status and verify give too."""
    report: dict[str, Any] = {"file": str(path)}
    try:
        text = lic_mod.read_file(path)
        lic = lic_mod.parse(text, str(path)).license
    except LicwizError as exc:
        report["error"] = exc.as_dict()
        return report, diagnostics_exit_code(exc)
    # Digests are keyed by product: collect for the license's own product.
    params = fingerprint.collect(lic.product, root=root)
    v = acquire.judge(text, str(path), keyring=keyring, product=current_product(), params=params,
                      installed=installed)
    m = v.match or fingerprint.matches(lic.params, params)
    err = v.error
    # Still compare the parameters when the signature fails: that is what the user asked about.
    report["signature"] = err.code if isinstance(err, SignatureError) else "valid"
    report.update(license_id=lic.license_id, product=lic.product, match=asdict(m),
                  strength={n: fingerprint.strength(n) for n in lic.params},
                  valid=v.valid, code=err.code if err else "", reason=_reason(err, m, str(path)))
    return report, DiagnosticsExit.OK if err is None else diagnostics_exit_code(err)


def _reason(err: LicwizError | None, m: fingerprint.Match, source: str) -> str:
    if err is None or err.code == "parameters_changed":
        return m.reason
    return Trimmed(err.brief, f"{source}: ")


def build_fingerprint_parser() -> Parser:
    parser = Parser(prog="licwiz fingerprint", description=_("Show the key computer parameters."))
    parser.add_argument("--json", action="store_true", help=_("machine-readable output"))
    parser.add_argument("--show-raw", action="store_true",
                        help=_("also show the raw values (personal data: do not post them)"))
    parser.add_argument("--what-if", nargs="?", const=_INSTALLED, metavar="LICENSE_FILE",
                        help=_("compare with a license file (default: every installed license)"))
    # For tests and for support inspecting a mounted disk image; not used to acquire licenses.
    parser.add_argument("--root", type=Path, default=Path("/"), help=argparse.SUPPRESS)
    return parser


def cmd_fingerprint(argv: list[str]) -> int:
    try:
        return _fingerprint(build_fingerprint_parser().parse_args(argv))
    except LicwizError as exc:
        return _fail(exc, as_json=wants(argv, "--json"))


def _fingerprint(args: argparse.Namespace) -> int:
    product = current_product()
    root: Path = args.root
    raw = fingerprint.collect_raw(root=root)
    params = {n: fingerprint.digest(product, n, v) for n, v in raw.items()}
    out: dict[str, Any] = {
        "product": product,
        "params": params,
        "missing": [n for n in fingerprint.PARAMETERS if n not in params],
        "strength": {n: fingerprint.strength(n) for n in fingerprint.PARAMETERS},
        "session_id": fingerprint.session_id(),
    }
    if args.show_raw:
        out["raw"] = raw
    code: int = DiagnosticsExit.OK
    if args.what_if is not None:
        keyring = load_keyring()
        installed = acquire.installed_licenses(keyring, product, fingerprint.collect(product, root=root))
        every = args.what_if == _INSTALLED
        files = [inst.path for inst in installed] if every else [Path(args.what_if)]
        reports = []
        for f in files:
            report, rc = _what_if(f, keyring, root, installed)
            reports.append(report)
            # Over every installed license, one an installed update replaces is the
            # normal state after an update: the newer license decides the exit code.
            if not (every and rc == DiagnosticsExit.SUPERSEDED):
                code = max(code, rc)
        out["what_if"] = reports
        if not files:
            code = DiagnosticsExit.NOTHING
    if args.json:
        print(json.dumps(out, indent=2, sort_keys=True))
    else:
        _print_fingerprint(out)
    if code == DiagnosticsExit.NOTHING:
        print("licwiz: " + _("no installed license to compare with"), file=sys.stderr)
    elif code != DiagnosticsExit.OK:
        bad = [r for r in out["what_if"] if "error" in r or not r["valid"]]
        if args.what_if == _INSTALLED:  # a superseded one did not set the code
            bad = [r for r in bad if "error" in r or r["code"] != "superseded"]
        first = bad[0]
        why = localized(first["error"]["brief"] if "error" in first else first["reason"])
        print(printable(f"licwiz: {first['file']}: {' '.join(why.split())}"), file=sys.stderr)
    return code


def _say(text: str) -> None:
    """Print a report line: license files and their names are content from
    outside (an unverified file says anything), so only printable text goes out."""
    print(printable_lines(text))


def _print_fingerprint(out: Mapping[str, Any]) -> None:
    _say(_("Product: {product}").format(product=out["product"]))
    _say(_("Session: {session}").format(session=out["session_id"]))
    _say(_("Key computer parameters:"))
    raw = out.get("raw", {})
    for name in fingerprint.PARAMETERS:
        value = out["params"].get(name, _("(not available)"))
        extra = f"  [{raw[name]}]" if name in raw else ""
        _say(f"  {name:<11} {out['strength'][name]:<9} {value}{extra}")
    for report in out.get("what_if", []):
        _say("\n" + _("License file: {file}").format(file=report["file"]))
        if "error" in report:
            _say(_("  cannot read: {reason}").format(reason=localized(report["error"]["brief"])))
            continue
        _say(_("  license {license_id} for {product}, signature: {signature}").format(
            license_id=report["license_id"], product=report["product"], signature=report["signature"]))
        m = report["match"]
        labels = {"matched": _("matched:"), "changed": _("changed:"), "missing": _("missing:"),
                  "added": _("added:")}
        width = max(9, *(len(label) for label in labels.values()))
        for key, label in labels.items():
            if m[key]:
                _say(f"  {label:<{width}} {', '.join(m[key])}")
        verdict = _("valid on this computer") if report["valid"] else _("NOT valid here")
        _say(_("  verdict:  {verdict} ({reason})").format(verdict=verdict,
                                                          reason=localized(report["reason"])))


def build_verify_parser() -> Parser:
    parser = Parser(
        prog="licwiz verify",
        description=_("Check a license file: genuine, for this product, in date, for this computer."),
    )
    parser.add_argument("file", type=Path, help=_("the .lic file ('-': read it from standard input)"))
    parser.add_argument("--json", action="store_true", help=_("machine-readable output"))
    return parser


def cmd_verify(argv: list[str]) -> int:
    as_json = wants(argv, "--json")
    file: str | None = None
    try:
        args = build_verify_parser().parse_args(argv)
        file = STDIN_NAME if is_stdio(args.file) else str(args.file)
        return _verify(args.file, as_json=as_json)
    except LicwizError as exc:
        # unreadable or malformed: with --json still one object saying so
        return _fail(exc, as_json=as_json, file=file)


def _verify(path: Path, *, as_json: bool) -> int:
    text, source = read_license(path)
    lic = lic_mod.parse(text, source).license  # malformed: FileFormatError, reported by the caller
    product = current_product()
    out: dict[str, Any] = {"file": source, "license": lic.payload(), "product_here": product}
    # Digests are keyed by product: collect for the license's own product.
    v = acquire.judge(text, source, keyring=load_keyring(), product=product,
                      params=fingerprint.collect(lic.product))
    m = v.match or fingerprint.matches(lic.params, fingerprint.collect(lic.product))
    error = v.error
    out["match"] = asdict(m)
    out["valid"] = error is None
    out["error"] = error.as_dict() if error is not None else None
    out["ok"] = error is None
    out["exit_code"] = diagnostics_exit_code(error) if error is not None else DiagnosticsExit.OK
    if as_json:
        print(json.dumps(out, indent=2, sort_keys=True))
    else:
        _print_license(lic, m, error)
    if error is not None:
        return _fail(error)
    return DiagnosticsExit.OK


def _print_license(lic: lic_mod.License, m: fingerprint.Match, error: LicwizError | None) -> None:
    genuine = not isinstance(error, SignatureError)
    if genuine:
        _say(_("License {license_id}").format(license_id=lic.license_id))
    else:
        _say(_("License {license_id}  (NOT verified: content is untrusted)").format(
            license_id=lic.license_id))
    computer = _("{names} match").format(names=", ".join(m.matched) or _("none"))
    if m.changed:
        computer += _("; changed: {names}").format(names=", ".join(m.changed))
    if m.missing:
        computer += _("; not readable: {names}").format(names=", ".join(m.missing))
    today = dt.datetime.now(dt.UTC).date().isoformat()
    verdict = (_("VALID on this computer") if error is None
               else _("NOT valid ({code})").format(code=error.code))
    rows = [(_("product:"), lic.product), (_("registration:"), lic.regnum), (_("users:"), str(lic.users)),
            (_("method:"), lic.method), (_("issued:"), lic.issued),
            (_("valid until:"), lic.not_after or _("no end date"))]
    if lic.supersedes:
        rows.append((_("supersedes:"), lic.supersedes))
    rows += [(_("signed by key:"), lic.key_id), (_("computer:"), computer),
             (_("verdict:"), _("{verdict} (checked {today})").format(verdict=verdict, today=today))]
    # labels padded to the longest, in any language (Russian labels are longer)
    width = max(15, *(len(label) for label, _value in rows))
    for label, value in rows:
        _say(f"  {label:<{width}} {value}")
