"""One exception hierarchy for the whole system.

Every error carries a stable machine-readable ``code`` (what scripts and the
center's API match on), a ``brief`` text for the user and a ``detail`` text
for a support engineer. Nothing outside this hierarchy should reach a user.

``brief`` and ``detail`` are English (``--json``, logs and the center's API carry
them as they are); a person reads them through :meth:`LicwizError.localized_brief`
and :meth:`LicwizError.localized_detail`, in the process language, when they were
written as :class:`~licwiz.core.message.Msg` (see core/message.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .i18n import N_
from .message import Msg, localized


class LicwizError(Exception):
    """Base of every error licwiz raises on purpose."""

    code: str = "error"

    def __init__(self, brief: str, detail: str = "", *, code: str | None = None) -> None:
        super().__init__(brief)
        self.brief = brief
        self.detail = detail or brief
        if code is not None:
            self.code = code

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "brief": self.brief, "detail": self.detail}

    def __str__(self) -> str:
        return self.brief

    def localized_brief(self) -> str:
        """The brief in the process language (what a person reads)."""
        return localized(self.brief)

    def localized_detail(self) -> str:
        """The detail in the process language, as far as it was written translatable."""
        return localized(self.detail)


class InputError(LicwizError):
    """A value typed by a person is wrong; ``field`` names where."""

    code = "bad_input"

    def __init__(self, field: str, brief: str, detail: str = "", *, code: str | None = None) -> None:
        super().__init__(brief, detail, code=code)
        self.field = field

    def as_dict(self) -> dict[str, Any]:
        return {**super().as_dict(), "field": self.field}


class CheckDigitError(InputError):
    code = "check_digit"


class FileFormatError(LicwizError):
    """A file (license, request, owner data) is malformed, truncated or too big."""

    code = "bad_file"

    def __init__(self, path: str, brief: str, detail: str = "", *, code: str | None = None) -> None:
        named = Msg(N_("{path}: {brief}"), path=path, brief=brief)
        super().__init__(named, detail or named, code=code)
        self.path = path


class SignatureError(LicwizError):
    """A license's signature does not verify, or its key is not trusted."""

    code = "bad_signature"


class LicenseInvalid(LicwizError):
    """A well-formed, genuine license that does not apply here or now."""

    code = "license_invalid"


class SealError(LicwizError):
    """A sealed request file cannot be opened (wrong key, tampered, truncated)."""

    code = "bad_seal"


class PhoneCodeError(LicwizError):
    """Phone code rows are wrong; ``rows`` lists the 1-based row numbers to re-read."""

    code = "phone_code"

    def __init__(self, brief: str, rows: list[int], detail: str = "") -> None:
        super().__init__(brief, detail)
        self.rows = rows

    def as_dict(self) -> dict[str, Any]:
        return {**super().as_dict(), "rows": self.rows}


class StorageError(LicwizError):
    """A license location cannot be read or written."""

    code = "storage"


class NotWritable(StorageError):
    code = "not_writable"


class SeatError(LicwizError):
    """No seat is free; ``holders`` says who holds them."""

    code = "no_seat"

    def __init__(self, brief: str, detail: str = "", holders: list[dict[str, Any]] | None = None) -> None:
        super().__init__(brief, detail)
        self.holders = holders or []


class CenterError(LicwizError):
    """The Licensing Center refused, or could not be reached.

    ``code`` is the center's stable code (``pin_used``, ...), or ``unreachable``
    and ``bad_response`` for transport problems seen by the client.
    """

    code = "center"

    def __init__(
        self,
        code: str,
        brief: str,
        detail: str = "",
        *,
        status: int = 0,
        request_id: str = "",
    ) -> None:
        super().__init__(brief, detail, code=code)
        self.status = status
        self.request_id = request_id

    def as_dict(self) -> dict[str, Any]:
        return {**super().as_dict(), "status": self.status, "request_id": self.request_id}

    def localized_brief(self) -> str:
        """A refusal the center answered (English brief, stable code) in the user's language."""
        if isinstance(self.brief, Msg):  # the client's own words (unreachable, bad answer)
            return self.brief.localized()
        from .refusal_words import refusal_brief

        return refusal_brief(self.code, self.brief)


class AfterActivationError(StorageError):
    """The center issued a license but it could not be installed.

    The PIN may be spent, so the license text travels with the error
    (``license_text``) and was saved to ``saved_to`` when possible; the caller
    can install it elsewhere with ``acquire.install_license_text`` (for instance for
    the current user when the all-users folder is not writable).
    An instance carries its cause's code; the class's own is never shown.
    """

    code = "after_activation"

    def __init__(
        self, cause: LicwizError, license_text: str, saved_to: Path | None, *, verified: bool
    ) -> None:
        if saved_to is not None:
            kept = Msg(N_("The license text was kept in {path}."), path=saved_to)
        else:
            kept = Msg(N_("The license text could not be saved to disk either; it is shown below."))
        if verified:
            hint = Msg(N_(
                "{kept} Install it with 'licwiz install --without-request {file}', "
                "or repeat the acquisition as a license recovery with the same PIN code: the Licensing "
                "Center issues the same license again without spending another PIN code."
            ), kept=kept, file=saved_to or "FILE")
        else:
            hint = Msg(N_(
                "{kept} It was NOT installed because it did not pass verification. Give this file "
                "and the request id to support; a license recovery with the same PIN code fetches the "
                "license again once the cause is fixed."
            ), kept=kept)
        # the license text itself is data, never translated
        detail = Msg("{detail}\n\n{hint}{text}", detail=cause.detail, hint=hint,
                     text="\n\n" + license_text if saved_to is None else "")
        super().__init__(cause.brief, detail, code=cause.code)
        self.cause = cause
        self.license_text = license_text
        self.saved_to = saved_to
        self.verified = verified

    def localized_brief(self) -> str:
        return self.cause.localized_brief()

    def as_dict(self) -> dict[str, Any]:
        # scripts (licwiz acquire --json) learn where the issued license was kept
        return {**self.cause.as_dict(), "detail": self.detail, "after_activation": True,
                "verified": self.verified, "saved_to": str(self.saved_to) if self.saved_to else None}
