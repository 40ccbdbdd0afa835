"""Every refusal the Licensing Center answers with: its stable code, the brief
text a person reads (the wizard shows it), the detail for support ("View error
description") and the HTTP status.

A refusal is a ``Refusal`` (the services' one error class,
``licwiz.service.errors.ApiError``); ``Refusal.as_dict()`` is the body's core.
The rules (center/activation.py, throttle.py, kits.py, ...) raise what is made
here and nothing else, so a code's words are written once.

The brief texts people read are marked with N_, the details with values in them
are ``Msg`` (English text that remembers its message): the API's JSON keeps them
in English (with the stable code), the center's pages show them translated.
"""

from __future__ import annotations

import datetime as dt

from licwiz.core.fingerprint import Match
from licwiz.core.i18n import N_
from licwiz.core.license import method_family
from licwiz.core.message import Msg
from licwiz.service.body import JsonRules
from licwiz.service.errors import ApiError

Refusal = ApiError
SINGLE, MULTI = "single", "multi"


# ---- malformed requests (bad_request and friends)

def bad_request(detail: str, brief: str = N_("The request is not valid")) -> Refusal:
    return Refusal("bad_request", brief, detail, status=400)


# The API's JSON bodies (center/app.py).
JSON_RULES = JsonRules(
    max_bytes=128 * 1024,
    too_large=("bad_request", N_("The request is too large"), f"at most {128 * 1024} bytes"),
    not_json=("bad_request", N_("The request is not valid"), "the body is not JSON"),
)


def request_file_body() -> Refusal:
    return bad_request('expected {"request": "<license request file text>"}')


def kits_body_not_object() -> Refusal:
    return bad_request("expected a JSON object")


def kits_body_types() -> Refusal:
    return bad_request("product: text; users, pins, count: whole numbers")


def operation_invalid(operation: str, known: tuple[str, ...]) -> Refusal:
    return Refusal("operation_invalid", N_("Unknown license operation"),
                   f"operation {operation[:40]!r}: expected one of {', '.join(known)}")


def request_file_empty() -> Refusal:
    return bad_request("The request file is empty", N_("The license request file is empty"))


def request_file_unreadable(code: str, detail: str) -> Refusal:
    """``code``: wrong_key, bad_seal or bad_request_file."""
    return Refusal(code, N_("The license request file cannot be read"),
                   Msg(N_("{problem} Make a new request file with the wizard and send it again."),
                       problem=detail), status=400)


def idempotency_conflict() -> Refusal:
    return Refusal(
        "idempotency_conflict", N_("This request repeats an earlier key with different content"),
        "The Idempotency-Key was already used for a different request. Use a new key for "
        "a new request.", status=422)


# ---- admin

def unauthorized() -> Refusal:
    return Refusal("unauthorized", N_("An admin token is required"),
                   "Send 'Authorization: Bearer <admin token>' (printed by 'licwiz center init').",
                   status=401)


def no_kit(regnum: str) -> Refusal:
    return Refusal("not_found", Msg(N_("No kit with registration number {regnum}"), regnum=regnum),
                   status=404)


def no_license(license_id: str) -> Refusal:
    return Refusal("not_found", Msg(N_("No license {license_id}"), license_id=license_id), status=404)


# ---- the refusals people see (the wizard shows brief, "View error description" shows detail)

def kit_unknown(regnum: str) -> Refusal:
    return Refusal(
        "kit_unknown", N_("This registration number is not known to the Licensing Center"),
        Msg(N_("Registration number {regnum} is not in the Licensing Center's records. Check it against "
               "your license certificate (10 digits). If it is right, contact the vendor's support "
               "and quote the request id."), regnum=regnum), status=404,
    )


def wrong_product(regnum: str, kit_product: str, requested: str) -> Refusal:
    return Refusal(
        "wrong_product", N_("This registration number is for another product"),
        Msg(N_("Kit {regnum} licenses {kit_product}; the request is for {requested}. "
               "Run the wizard of the product the kit was bought for."),
            regnum=regnum, kit_product=repr(kit_product), requested=repr(requested[:100])), status=409,
    )


# One whole message per field (activation.py names the field), so that the pages can translate it.
PIN_UNKNOWN = {
    "PIN code": N_("This PIN code does not belong to this registration number"),
    "Extra PIN code": N_("This Extra PIN code does not belong to this registration number"),
    "Last used PIN code": N_("This Last used PIN code does not belong to this registration number"),
}
PIN_UNKNOWN_DETAIL = {
    "PIN code": N_("The PIN code entered is not one of the PIN codes of this kit. Check both numbers "
                   "against your license certificate. After 5 wrong PIN codes the registration number is "
                   "locked for a while."),
    "Extra PIN code": N_("The Extra PIN code entered is not one of the PIN codes of this kit. Check both "
                         "numbers against your license certificate. After 5 wrong PIN codes the "
                         "registration number is locked for a while."),
    "Last used PIN code": N_("The Last used PIN code entered is not one of the PIN codes of this kit. Check "
                             "both numbers against your license certificate. After 5 wrong PIN codes the "
                             "registration number is locked for a while."),
}


def pin_unknown(field_name: str = "PIN code") -> Refusal:
    return Refusal(
        "pin_unknown",
        PIN_UNKNOWN.get(field_name) or f"This {field_name} does not belong to this registration number",
        PIN_UNKNOWN_DETAIL.get(field_name)
        or f"The {field_name} entered is not one of the PIN codes of this kit. Check both numbers "
        "against your license certificate. After 5 wrong PIN codes the registration number is "
        "locked for a while.", status=403,
    )


def pin_used() -> Refusal:
    return Refusal(
        "pin_used", N_("This PIN code has already been used"),
        N_("Each PIN code activates one license, once. To get the same license again on the same "
           "computer, choose License recovery with this PIN code. After a hardware change, choose "
           "License recovery with an update: this PIN code plus an unused extra PIN code."), status=409,
    )


def extra_pin_used() -> Refusal:
    return Refusal(
        "pin_used", N_("The extra PIN code has already been used"),
        N_("An update spends an unused PIN code of the same kit and set. This one was already used; "
           "enter another unused PIN code from your license certificate."), status=409,
    )


def set_conflict(kit_set: str, users: int) -> Refusal:
    """The kit already uses ``kit_set``; the PIN is from the other set."""
    if kit_set == SINGLE:
        detail = N_("A {users}-user kit is used either as {users} single-user licenses or as one "
                    "{users}-user license, never both. This kit already uses the single-user set ({users} "
                    "licenses for one user each); this PIN code is from the multi-user set. Use a PIN code "
                    "of the same set.")
    else:
        detail = N_("A {users}-user kit is used either as {users} single-user licenses or as one "
                    "{users}-user license, never both. This kit already uses the multi-user set (one "
                    "license for {users} users); this PIN code is from the single-user set. Use a PIN code "
                    "of the same set.")
    return Refusal(
        "pin_set_conflict", N_("This PIN code is from the other PIN set of your kit"),
        Msg(detail, users=users), status=409,
    )


def owner_mismatch() -> Refusal:
    # Never say which field differs or what is stored: that would leak owner data.
    return Refusal(
        "owner_mismatch", N_("The owner data does not match the data of the license"),
        N_("License recovery needs exactly the owner data given at first-time registration: "
           "every field, with the same spelling, capitals and punctuation (extra spaces are "
           "forgiven). Load the owner-data file saved then (Load data), or contact the vendor's "
           "support with the request id."), status=403,
    )


def method_locked(stored: str) -> Refusal:
    if method_family(stored) == "phone":
        brief = N_("This license was acquired by phone and can be re-acquired only by phone")
        how = Msg(N_("Choose the By phone method."))
    else:
        brief = N_("This license can be re-acquired only automatically or with a file")
        how = Msg(N_("Choose the Automatically or Manually (using a file) method."))
    return Refusal(
        "method_locked", brief,
        Msg(N_("The license was first acquired by the {stored} method. A license first acquired "
               "online or by file is re-acquired or updated only online or by file; one acquired by "
               "phone only by phone. {how}"), stored=stored, how=how), status=409,
    )


def parameters_changed(m: Match) -> Refusal:
    return Refusal(
        "parameters_changed", N_("The key computer parameters have changed since the license was issued"),
        Msg(N_("Recovery gives the same license only on the same computer ({reason}). After a hardware "
               "change choose the update instead: the PIN code in use plus an unused extra PIN code."),
            reason=m.reason), status=409,
    )


def not_last_pin(detail: str) -> Refusal:
    return Refusal(
        "pin_mismatch", N_("This PIN code is not the PIN code currently in use"), detail, status=409,
    )


def license_revoked(license_id: str) -> Refusal:
    return Refusal(
        "license_revoked", N_("This license has been revoked by the vendor"),
        Msg(N_("License {license_id} was revoked and cannot be recovered or updated. Contact the "
               "vendor's support with the request id."), license_id=license_id), status=409,
    )


# ---- throttling

def rate_limited(window_seconds: int) -> Refusal:
    minutes = max(1, window_seconds // 60)
    return Refusal(
        "rate_limited", N_("Too many wrong attempts from this network address"),
        Msg(N_("The Licensing Center received too many wrong registration numbers or PIN codes from this "
               "address. Wait up to {minutes} minute(s) and try again."), minutes=minutes), status=429,
    )


def kit_locked(until: dt.datetime, seconds_left: int) -> Refusal:
    return Refusal(
        "kit_locked", N_("Too many wrong PIN codes: this registration number is locked for now"),
        Msg(N_("After repeated wrong PIN codes the registration number is locked until {until} UTC "
               "(about {seconds} s from now); each further lock lasts longer. Check the PIN codes on "
               "your license certificate before trying again."),
            until=until.strftime("%Y-%m-%d %H:%M:%S"), seconds=seconds_left),
        status=423,
    )


# ---- what a failure we did not plan for becomes (center/app.py)

def unavailable() -> Refusal:
    return Refusal("unavailable", N_("The Licensing Center is busy or its database is down"),
                   N_("Try again in a minute; quote the request id to support if it persists."), status=503)


def internal() -> Refusal:
    return Refusal("internal", N_("The Licensing Center failed to answer"),
                   N_("An internal error happened; quote the request id to the vendor's support."),
                   status=500)
