"""The phone-operator console: a web page at ``/operator``.

Login with an operator token (``licwiz center operator add NAME`` prints it
once). The token is checked once, at login; the session is server-side
(center/operators.py, table ``operator_sessions``): the cookie (HttpOnly,
SameSite=Strict, Secure over HTTPS, Path=/operator) holds only a random
session id, the database its hash and expiry, and every request looks it up,
so logout, ``operator disable`` and expiry end it for every worker process.
Every form post carries a CSRF token derived from the session id (the page
shows it; it does not reveal the id) and must come from this origin.

The operator types the customer's request rows (each row is checked as it is
typed by a small script, and again on the server, which names wrong rows by
number without JavaScript) and the owner data the customer dictates. The
owner data is checked against the owner digest inside the request code before
anything is issued, so a typo is caught while the customer is on the line.
Then the center activates with method ``phone`` and the page shows the
response rows to read back.

The console speaks the operator's language like the web page (center/web.py
chooses it per request and words the errors).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import hashlib
import hmac
from typing import Any

from licwiz.core import phonecodes, phonemsg
from licwiz.core.errors import PhoneCodeError
from licwiz.core.i18n import N_
from licwiz.core.license import parse as parse_license
from licwiz.core.message import Joined
from licwiz.core.owner import KINDS, LABELS, OwnerData
from licwiz.service.access import client_addr, request_id
from licwiz.service.errors import ApiError
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from . import refusals
from .service import CenterService
from .web import SECURITY_HEADERS, ErrorView, PageError, error_status, error_view, render, too_large

COOKIE = "licwiz_operator"
MAX_ROWS = 6  # an update request is 5 rows; one spare for a stray extra row
MAX_FORM = 16 * 1024
OWNER_FIELDS = [(n, LABELS[n]) for n in OwnerData.field_names() if n != "kind"]
# The owner types as the select shows them (the values stay the codes).
KIND_WORDS = {"organisation": N_("Organisation"), "person": N_("Person")}


class OperatorError(PageError):
    code = "operator"


def csrf_token(session_id: str) -> str:
    """The form token of a session: keyed by the session id, which only the operator's
    browser holds (HttpOnly cookie), so another site cannot make it; no server secret,
    so it does not change when the signing key rotates."""
    return hmac.new(session_id.encode(), b"licwiz-operator-csrf-v1", hashlib.sha256).hexdigest()


def _same_origin(request: Request) -> bool:
    """Browsers send Origin on POST; when present it must be this site."""
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    host = request.headers.get("host", "")
    return origin.split("://", 1)[-1] == host


def _rows_from_form(form: Any) -> list[str]:
    rows = [str(form.get(f"row{i}", ""))[:200] for i in range(1, MAX_ROWS + 1)]
    while rows and not rows[-1].strip():
        rows.pop()
    return rows


def _owner_from_form(form: Any) -> OwnerData:
    kind = str(form.get("kind", "organisation"))
    values = {n: str(form.get(n, ""))[:400] for n, _ in OWNER_FIELDS}
    return OwnerData(kind=kind if kind in KINDS else "organisation", **values)


def operator_routes(svc: CenterService) -> list[BaseRoute]:

    async def current(request: Request) -> tuple[str, str] | None:
        """(operator name, session id) of a live session."""
        session_id = request.cookies.get(COOKIE, "")
        name = await svc.operators.for_session(session_id) if session_id else None
        return (name, session_id) if name else None

    def page(request: Request, name: str, session_id: str, status: int = 200, **ctx: Any) -> Response:
        defaults: dict[str, Any] = {
            "operator": name, "csrf": csrf_token(session_id), "error": None, "response": None,
            "rows": [""] * MAX_ROWS, "bad_rows": [], "max_rows": MAX_ROWS, "owner": OwnerData().to_dict(),
            "owner_errors": {}, "owner_fields": OWNER_FIELDS,
            "kinds": [(k, KIND_WORDS.get(k, k)) for k in KINDS],
        }
        defaults.update(ctx)
        rows = list(defaults["rows"]) + [""] * MAX_ROWS
        defaults["rows"] = rows[:MAX_ROWS]
        return render(request, "operator.html", status=status, **defaults)

    def login_page(request: Request, status: int = 200, error: ErrorView | None = None) -> Response:
        return render(request, "operator_login.html", status=status, error=error)

    async def console(request: Request) -> Response:
        who = await current(request)
        if who is None:
            return login_page(request)
        return page(request, *who)

    async def login(request: Request) -> Response:
        rid = request_id(request)
        if too_large(request, MAX_FORM) or not _same_origin(request):
            err = OperatorError(N_("The login form was not accepted"))
            return login_page(request, 400, error_view(err, rid))
        async with request.form(max_files=0, max_fields=4) as form:
            token = str(form.get("token", "")).strip()
        name = await svc.operators.for_token(token)
        if not name:
            # Slow down token guessing a little; tokens are 256-bit random anyway.
            await asyncio.sleep(0.2)
            request.scope.setdefault("state", {})["error_code"] = "unauthorized"
            err = OperatorError(N_("Unknown or disabled operator token"),
                                N_("Check the token printed by 'licwiz center operator add'."))
            return login_page(request, 401, error_view(err, rid))
        session_id, seconds = await svc.operators.start_session(
            name, request_id=rid, client_addr=client_addr(request), replaces=request.cookies.get(COOKIE, ""))
        resp = RedirectResponse("/operator", status_code=303, headers=SECURITY_HEADERS)
        resp.set_cookie(COOKIE, session_id, max_age=seconds, path="/operator", httponly=True,
                        samesite="strict", secure=request.url.scheme == "https")
        return resp

    async def logout(request: Request) -> Response:
        resp = RedirectResponse("/operator", status_code=303, headers=SECURITY_HEADERS)
        who = await current(request)
        if who is None:  # nothing live to end: the browser may drop its stale copy
            resp.delete_cookie(COOKIE, path="/operator", httponly=True, samesite="strict",
                               secure=request.url.scheme == "https")
        elif _same_origin(request) and not too_large(request, MAX_FORM):
            name, session_id = who
            async with request.form(max_files=0, max_fields=4) as form:
                ok = hmac.compare_digest(str(form.get("csrf", "")), csrf_token(session_id))
            if ok:
                # Ended in the database first: the cookie is only the browser's copy.
                await svc.operators.end_session(session_id, name=name, request_id=request_id(request),
                                                client_addr=client_addr(request))
                resp.delete_cookie(COOKIE, path="/operator", httponly=True, samesite="strict",
                                   secure=request.url.scheme == "https")
        return resp

    async def issue(request: Request) -> Response:
        rid = request_id(request)
        who = await current(request)
        if who is None:
            err = OperatorError(N_("Your operator session has ended: log in again"))
            return login_page(request, 401, error_view(err, rid))
        name, session_id = who
        if too_large(request, MAX_FORM) or not _same_origin(request):
            err = OperatorError(N_("The form was not accepted"))
            return page(request, name, session_id, 400, error=error_view(err, rid))
        async with request.form(max_files=0, max_fields=MAX_ROWS + 16) as form:
            if not hmac.compare_digest(str(form.get("csrf", "")), csrf_token(session_id)):
                err = OperatorError(N_("The form was not accepted (stale page): reload and type again"))
                return page(request, name, session_id, 403, error=error_view(err, rid))
            rows = _rows_from_form(form)
            owner = _owner_from_form(form)
        shown: dict[str, Any] = {"rows": rows, "owner": owner.to_dict()}
        # 1. The rows: each checked, wrong ones named by number.
        try:
            preq = phonemsg.decode_request(rows)
        except PhoneCodeError as exc:
            bad = list(exc.rows) or [i + 1 for i, r in enumerate(rows) if not phonecodes.check_row(i + 1, r)]
            return page(request, name, session_id, 400, error=error_view(exc, rid), bad_rows=bad, **shown)
        # 2. The owner data: complete, and the same as the customer's computer sent.
        errs = owner.errors()
        if errs:
            # The problems are core's words (owner.errors), shown as they are.
            err = OperatorError(N_("Some owner data is missing or malformed"), "{problems}",
                                problems=Joined("; ", errs.values()))
            return page(request, name, session_id, 400, error=error_view(err, rid), owner_errors=errs,
                        **shown)
        if not preq.owner_matches(owner):
            err = OperatorError(
                N_("The owner data does not match what the customer's computer sent"),
                N_("Read every field back to the customer letter by letter (spelling, capitals, "
                   "punctuation); it must be exactly what was typed in the wizard."),
            )
            request.scope.setdefault("state", {})["error_code"] = "owner_mismatch"
            return page(request, name, session_id, 400, error=error_view(err, rid), **shown)
        # 3. Issue (or replay: the same request code and owner data give the same answer).
        try:
            try:
                product = (await svc.kits.info(preq.regnum)).product
            except ApiError as exc:
                if exc.code == "not_found":  # the admin API's words; the customer's are kit_unknown's
                    raise refusals.kit_unknown(preq.regnum) from None
                raise
            if not preq.product_matches(product):
                raise OperatorError(
                    N_("The request code is for another product than this registration number"),
                    N_("Kit {regnum} licenses '{product}'; the customer's wizard is for another "
                       "product. The customer must run the wizard of the product the kit was bought for."),
                    code="wrong_product", regnum=preq.regnum, product=product,
                )
            ident = hashlib.sha256(("|".join(phonecodes.normalise(r) for r in rows) + "|"
                                    + owner.digest()).encode()).hexdigest()
            act_req = preq.activation_request(product, owner)
            day = dt.datetime.now(dt.UTC).date().isoformat()
            # A deterministic nonce/created makes the same code the same request (idempotent).
            act_req = dataclasses.replace(act_req, nonce=ident[:32], created=f"{day}T00:00:00+00:00")
            act = await svc.activate(act_req, method="phone", idempotency_key=f"phone:{day}:{ident}",
                                     request_id=rid, client_addr=client_addr(request),
                                     actor=f"operator:{name}")
            try:
                out_rows = phonemsg.response_rows(act.license, _signature(act.license_text))
            except ValueError as exc:
                raise OperatorError(
                    N_("License {license_id} was issued but cannot be read out by phone"),
                    N_("{problem}. Send the customer the license data file instead (support can export "
                       "it with the admin API), quoting the request id."),
                    code="not_phoneable", license_id=act.license_id, problem=str(exc),
                ) from None
        except Exception as exc:
            request.scope.setdefault("state", {})["error_code"] = getattr(exc, "code", "internal")
            return page(request, name, session_id, error_status(exc), error=error_view(exc, rid), **shown)
        response = {
            "rows": [phonecodes.format_row(r) for r in out_rows], "license_id": act.license_id,
            "users": act.users, "supersedes": act.supersedes, "replayed": act.replayed, "request_id": rid,
        }
        # A fresh, empty form for the next call: the rows and owner data are not kept on the page.
        return page(request, name, session_id, response=response)

    return [
        Route("/operator", console, methods=["GET"]),
        Route("/operator", issue, methods=["POST"]),
        Route("/operator/login", login, methods=["POST"]),
        Route("/operator/logout", logout, methods=["POST"]),
    ]


def _signature(text: str) -> bytes:
    return parse_license(text, "issued license").signature

