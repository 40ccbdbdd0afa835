"""License owner data: the typed model, validation, canonical form, files.

Recovery requires the same data "with absolute accuracy". The canonical form
forgives only what a person cannot see: Unicode normalisation (NFC), leading
and trailing blanks, and runs of inner whitespace. Case and punctuation count.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any, Literal

from .errors import FileFormatError, InputError
from .i18n import N_
from .message import Joined, Msg
from .text import text_problem

OwnerKind = Literal["organisation", "person"]
KINDS: tuple[str, ...] = ("organisation", "person")
MAX_FILE_BYTES = 64 * 1024
MAX_FIELD = 200
FILE_MAGIC = "licwiz-owner-data"
FILE_VERSION = 1

# Field name -> label shown to people (the wizard and error messages use these; translate
# with _() where shown).
LABELS: dict[str, str] = {
    "kind": N_("Owner type"),
    "organisation": N_("Organisation"),
    "contact": N_("Contact person"),
    "email": N_("E-mail"),
    "phone": N_("Phone"),
    "country": N_("Country"),
    "postcode": N_("Postcode"),
    "region": N_("Region"),
    "city": N_("City"),
    "address": N_("Address"),
}
REQUIRED: tuple[str, ...] = ("contact", "email", "country", "city", "address")
_WS = re.compile(r"\s+")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE = re.compile(r"^\+?[0-9 ()\-.]{5,30}$")
_POSTCODE = re.compile(r"^[0-9A-Za-z \-]{2,12}$")


def canonical_text(value: str) -> str:
    """NFC, trimmed, inner whitespace folded to one space: nothing else."""
    return _WS.sub(" ", unicodedata.normalize("NFC", value)).strip()


@dataclass(frozen=True, slots=True)
class OwnerData:
    kind: str = "organisation"
    organisation: str = ""
    contact: str = ""
    email: str = ""
    phone: str = ""
    country: str = ""
    postcode: str = ""
    region: str = ""
    city: str = ""
    address: str = ""

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    def canonical(self) -> OwnerData:
        return replace(self, **{n: canonical_text(getattr(self, n)) for n in self.field_names()})

    def errors(self) -> dict[str, str]:
        """Field name -> what is wrong with it (English; ``localized()`` for a person);
        empty when the data is complete."""
        c = self.canonical()
        out: dict[str, str] = {}
        if c.kind not in KINDS:
            out["kind"] = Msg(N_("Owner type: choose organisation or person"))
        required = REQUIRED + (("organisation",) if c.kind == "organisation" else ())
        for name in self.field_names():
            value: str = getattr(c, name)
            label = Msg(LABELS[name])
            if len(value) > MAX_FIELD:
                out[name] = Msg(N_("{label}: at most {count} characters"), label=label, count=MAX_FIELD)
            elif not value and name in required:
                out[name] = Msg(N_("{label}: required"), label=label)
            elif (problem := text_problem(value)) is not None:
                # checked on the canonical value: the whitespace it folds (tab,
                # newline) is forgiven, every other invisible character is not
                out[name] = Msg(N_("{label}: {problem}"), label=label, problem=problem)
        if c.email and "email" not in out and not _EMAIL.match(c.email):
            out["email"] = Msg(N_("E-mail: expected an address like name@example.com"))
        if c.phone and "phone" not in out and not _PHONE.match(c.phone):
            out["phone"] = Msg(N_("Phone: digits, spaces, + ( ) - only, 5 to 30 characters"))
        if c.postcode and "postcode" not in out and not _POSTCODE.match(c.postcode):
            out["postcode"] = Msg(N_("Postcode: 2 to 12 letters, digits, spaces or dashes"))
        return out

    def validate(self) -> OwnerData:
        """The canonical form, or InputError naming the first wrong field."""
        errs = self.errors()
        if errs:
            name, message = next(iter(errs.items()))
            raise InputError(LABELS[name], message, Joined("; ", errs.values()))
        return self.canonical()

    def to_dict(self) -> dict[str, str]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any, *, source: str = Msg(N_("owner data"))) -> OwnerData:
        if not isinstance(data, dict):
            raise FileFormatError(source, Msg(N_("expected an object of owner fields")))
        unknown = set(data) - set(cls.field_names())
        if unknown:
            raise FileFormatError(source, Msg(N_("unknown field {name!r}"), name=sorted(unknown)[0]))
        for name, value in data.items():
            if not isinstance(value, str):
                raise FileFormatError(source, Msg(N_("field {name!r} must be text"), name=name))
        return cls(**data)

    def canonical_json(self) -> bytes:
        c = self.canonical()
        return json.dumps(c.to_dict(), sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()

    def digest(self) -> str:
        """SHA-256 of the canonical form: what a license binds, and recovery compares."""
        return hashlib.sha256(b"licwiz-owner-v1\n" + self.canonical_json()).hexdigest()


def dumps(owner: OwnerData) -> str:
    """The owner-data file text ("Save data"): exact field values, nothing normalised."""
    doc = {"format": FILE_MAGIC, "version": FILE_VERSION, "owner": owner.to_dict()}
    return json.dumps(doc, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def loads(text: str, source: str = Msg(N_("owner data file"))) -> OwnerData:
    if len(text.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES:
        raise FileFormatError(source, Msg(N_("too large (over {size} KiB)"), size=MAX_FILE_BYTES // 1024))
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise FileFormatError(source, Msg(N_("not an owner-data file (not valid JSON)")), str(exc)) from None
    if not isinstance(doc, dict) or doc.get("format") != FILE_MAGIC:
        raise FileFormatError(source, Msg(N_("not an owner-data file (format marker missing)")))
    if doc.get("version") != FILE_VERSION:
        raise FileFormatError(source, Msg(N_("unsupported owner-data file version {version!r}"),
                                          version=doc.get("version")))
    return OwnerData.from_dict(doc.get("owner"), source=source)


def load_file(path: Path) -> OwnerData:
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise FileFormatError(str(path), Msg(N_("cannot read: {reason}"),
                                             reason=exc.strerror or str(exc))) from None
    if len(raw) > MAX_FILE_BYTES:
        raise FileFormatError(str(path), Msg(N_("too large (over {size} KiB)"), size=MAX_FILE_BYTES // 1024))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise FileFormatError(str(path), Msg(N_("not UTF-8 text"))) from None
    return loads(text, str(path))


def save_file(path: Path, owner: OwnerData) -> None:
    """Write atomically with mode 0600: owner data is personal."""
    from .storage import atomic_write

    atomic_write(path, dumps(owner).encode("utf-8"), mode=0o600)
