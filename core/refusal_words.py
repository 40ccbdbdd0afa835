"""How the client words the Licensing Center's refusals, in the user's language.

The center answers with a stable ``code`` and an English ``brief`` (center/refusals.py);
the API never changes with the language. The client says the brief in the user's
language from the code (the wizard and the command line call :func:`refusal_brief`);
the center's own English brief is the fallback for a code this client does not know
(a newer center). ``--json`` and logs keep the center's English as it came.
"""

from __future__ import annotations

from .i18n import N_, _

# code -> the brief, as the center words it in English (marked here, translated when shown)
WORDS: dict[str, str] = {
    "bad_request": N_("The request is not valid"),
    "operation_invalid": N_("Unknown license operation"),
    "wrong_key": N_("The license request file cannot be read"),
    "bad_seal": N_("The license request file cannot be read"),
    "bad_request_file": N_("The license request file cannot be read"),
    "idempotency_conflict": N_("This request repeats an earlier key with different content"),
    "unauthorized": N_("An admin token is required"),
    "kit_unknown": N_("This registration number is not known to the Licensing Center"),
    "wrong_product": N_("This registration number is for another product"),
    "pin_unknown": N_("This PIN code does not belong to this registration number"),
    "pin_used": N_("This PIN code has already been used"),
    "pin_set_conflict": N_("This PIN code is from the other PIN set of your kit"),
    "owner_mismatch": N_("The owner data does not match the data of the license"),
    "method_locked": N_("This license can be re-acquired only automatically or with a file"),
    "parameters_changed": N_("The key computer parameters have changed since the license was issued"),
    "pin_mismatch": N_("This PIN code is not the PIN code currently in use"),
    "license_revoked": N_("This license has been revoked by the vendor"),
    "rate_limited": N_("Too many wrong attempts from this network address"),
    "kit_locked": N_("Too many wrong PIN codes: this registration number is locked for now"),
    "unavailable": N_("The Licensing Center is busy or its database is down"),
    "internal": N_("The Licensing Center failed to answer"),
}

# One code, another wording: the center says which in its English brief (the extra PIN
# code of an update, a license acquired by phone).
VARIANTS: dict[tuple[str, str], str] = {
    ("pin_used", "extra PIN code"): N_("The extra PIN code has already been used"),
    ("pin_unknown", "extra PIN code"): N_("This extra PIN code does not belong to this registration number"),
    ("method_locked",
     "by phone"): N_("This license was acquired by phone and can be re-acquired only by phone"),
}


def refusal_brief(code: str, brief: str) -> str:
    """The brief of the center's refusal *code* in the process language; *brief* is what
    the center said (its English), shown as it is for a code this client does not know."""
    for (known, marker), words in VARIANTS.items():
        if code == known and marker in brief:
            return _(words)
    by_code = WORDS.get(code)
    return _(by_code) if by_code is not None else brief
