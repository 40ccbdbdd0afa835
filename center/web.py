"""The Licensing Center's file-exchange web page (served at ``/``).

"Browse for the license request file" uploads a sealed request file
(multipart form, no JavaScript needed); the center opens it and issues the
license with method ``file``; the page then offers "Save license data file",
a form that downloads the signed ``.lic`` text as an attachment named
``<license_id>.lic``. Errors are shown on the page in words (the center's
brief text, and the detail for support).

Re-uploading the same file is safe: the idempotency key is the file's
SHA-256, so a lost download gets the same license again and never spends a
second PIN. The download form posts the license text back; the center only
echoes a license its own keys signed, so the form cannot be abused to serve
arbitrary files from the center's address.

The same flow for automation is ``POST /api/v1/requests`` (center/app.py).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import sys
from pathlib import Path
from typing import Any

import jinja2
from licwiz.core.errors import LicwizError, SignatureError
from licwiz.core.keys import Keyring
from licwiz.core.license import parse as parse_license
from licwiz.core.license import verify
from licwiz.core.request import MAX_FILE_BYTES as MAX_REQUEST_BYTES
from licwiz.service import body, outage
from licwiz.service.access import client_addr, request_id
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from . import refusals
from .service import CenterService

HERE = Path(__file__).resolve().parent
TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(HERE / "templates")),
    autoescape=jinja2.select_autoescape(["html"]),
    undefined=jinja2.StrictUndefined,
)
MAX_FORM_BYTES = MAX_REQUEST_BYTES + 16 * 1024
# Pages must not be framed (clickjacking) nor cached (they show license data).
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
    "frame-ancestors 'none'; form-action 'self'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    # same-origin, not no-referrer: with no-referrer browsers send "Origin: null" on form posts,
    # and the operator console checks Origin.
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class PageError(LicwizError):
    """A problem with what the person sent, shown on the page."""

    code = "bad_upload"


def render(name: str, status: int = 200, headers: dict[str, str] | None = None, **ctx: Any) -> HTMLResponse:
    html = TEMPLATES.get_template(name).render(**ctx)
    extra = {"Retry-After": str(outage.RETRY_AFTER)} if status == 503 else {}
    return HTMLResponse(html, status_code=status, headers={**SECURITY_HEADERS, **extra, **(headers or {})})


def error_view(exc: BaseException, rid: str) -> dict[str, str]:
    """What the page shows for a failure: words for people, detail for support."""
    if isinstance(exc, LicwizError):
        return {"code": exc.code, "brief": exc.brief, "detail": exc.detail, "request_id": rid}
    if outage.is_outage(exc):
        print(f"center web: database unavailable {type(exc).__name__} (request {rid})", file=sys.stderr)
        shown = refusals.unavailable()
    else:
        print(f"center web: internal error {type(exc).__name__} (request {rid})", file=sys.stderr)
        shown = refusals.internal()
    return {"code": shown.code, "brief": shown.brief, "detail": shown.detail, "request_id": rid}


def error_status(exc: BaseException) -> int:
    status = getattr(exc, "status", 0)
    if isinstance(status, int) and 400 <= status < 600:
        return status
    if isinstance(exc, LicwizError):
        return 400
    # The same split as the API's (service/outage.py): a database that cannot be
    # reached now is 503, to retry; anything else is a fault of ours.
    return 503 if outage.is_outage(exc) else 500


def too_large(request: Request, limit: int) -> bool:
    return body.too_large(request.headers, limit)


async def _uploaded_text(request: Request) -> str:
    if too_large(request, MAX_FORM_BYTES):
        raise PageError(
            "The file is too large to be a license request file",
            f"A request file is at most {MAX_REQUEST_BYTES // 1024} KiB; "
            "choose the .req file the wizard saved.",
        )
    try:
        async with request.form(max_files=1, max_fields=4, max_part_size=MAX_FORM_BYTES) as form:
            item = form.get("request_file")
            if isinstance(item, UploadFile):
                raw = await item.read(MAX_REQUEST_BYTES + 1)
                name = item.filename or "the file"
            else:
                raw, name = (item or "").encode("utf-8"), "the pasted text"
    except LicwizError:
        raise
    except Exception:  # python-multipart raises several types for a malformed body
        raise PageError("The upload could not be read", "The form data was malformed; try again.") from None
    if not raw.strip():
        raise PageError("No license request file was chosen",
                        "Use Browse to pick the request file the wizard saved (licwiz-request-….req).")
    if len(raw) > MAX_REQUEST_BYTES:
        raise PageError("The file is too large to be a license request file",
                        f"{name}: over {MAX_REQUEST_BYTES // 1024} KiB")
    try:
        return raw.decode("ascii")
    except UnicodeDecodeError:
        raise PageError("This is not a license request file",
                        f"{name} is not a text file; choose the .req file the wizard saved.") from None


def desk_email(svc: CenterService) -> str:
    """The mailbox ``licwiz center mail`` answers, named on the page (setting ``email``, read at start)."""
    return svc.settings.values.get("email", "")


def web_routes(svc: CenterService) -> list[BaseRoute]:

    def page(status: int = 200, **ctx: Any) -> HTMLResponse:
        return render("index.html", status, phone=svc.phone_number_cached, email=desk_email(svc), **ctx)

    async def index(request: Request) -> Response:
        return page(error=None, issued=None)

    async def upload(request: Request) -> Response:
        rid = request_id(request)
        try:
            text = await _uploaded_text(request)
            act = await svc.activate_request_file(
                text, idempotency_key="web-file:" + hashlib.sha256(text.encode()).hexdigest(),
                request_id=rid, client_addr=client_addr(request), actor="web",
            )
        except Exception as exc:  # every failure becomes words on the page
            request.scope.setdefault("state", {})["error_code"] = getattr(exc, "code", "internal")
            return page(status=error_status(exc), error=error_view(exc, rid), issued=None)
        lic = act.license
        issued = {
            "license_id": act.license_id, "users": act.users, "text": act.license_text,
            "regnum": lic.regnum, "product": lic.product, "issued": lic.issued,
            "supersedes": act.supersedes, "replayed": act.replayed, "request_id": rid,
        }
        return page(error=None, issued=issued)

    async def download(request: Request) -> Response:
        rid = request_id(request)
        try:
            if too_large(request, 64 * 1024):
                raise PageError("The download request is too large")
            async with request.form(max_files=0, max_fields=2) as form:
                text = form.get("license")
            if not isinstance(text, str):
                raise PageError("Nothing to download", "Upload the license request file first.")
            text = text.replace("\r\n", "\n")
            signed = parse_license(text, "license")
            try:
                # Only genuine licenses of this center are echoed; their dates do not matter here.
                verify(text, Keyring(signing=dict(svc.keys.signing_public)),
                       today=dt.date.fromisoformat(signed.license.issued))
            except SignatureError:
                raise PageError("This license was not issued by this Licensing Center") from None
        except Exception as exc:
            return page(status=error_status(exc), error=error_view(exc, rid), issued=None)
        name = signed.license.license_id
        return Response(
            text.encode("ascii"), media_type="application/octet-stream",
            headers={**SECURITY_HEADERS, "Content-Disposition": f'attachment; filename="{name}.lic"'},
        )

    return [
        Route("/", index, methods=["GET"]),
        Route("/", upload, methods=["POST"]),
        Route("/license-file", download, methods=["POST"]),
        Mount("/static", app=StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
