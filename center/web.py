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

Languages: every page (and the operator console, which renders through here)
is in the language chosen per request: ``?lang=`` from the switch on the page
(kept in a cookie for the next pages), else that cookie, else Accept-Language.
Each render gets its own translation's callables; the process language is never
changed, since one center serves people in several languages at once. Texts
people read are marked in the templates (``{% trans %}``, ``_()``) and with
``N_`` in Python; the API's JSON keeps English and the stable codes.
"""

from __future__ import annotations

import datetime as dt
import gettext
import hashlib
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import jinja2
from licwiz.core import i18n
from licwiz.core.errors import LicwizError, SignatureError
from licwiz.core.i18n import N_
from licwiz.core.keys import Keyring
from licwiz.core.license import parse as parse_license
from licwiz.core.license import verify
from licwiz.core.message import Msg, localized
from licwiz.core.request import MAX_FILE_BYTES as MAX_REQUEST_BYTES
from licwiz.service import body, outage
from licwiz.service.access import client_addr, request_id
from markupsafe import Markup
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
    extensions=["jinja2.ext.i18n"],
)
# Newstyle gettext: {% trans %} passes its variables to the callables, which each
# render supplies for its own language (template_words); these English ones are
# only the defaults a render without them would get.
# (install_null_translations is added by the extension, which mypy cannot see.)
cast(Any, TEMPLATES).install_null_translations(newstyle=True)
LANG_COOKIE = "licwiz_lang"
LANG_COOKIE_SECONDS = 365 * 24 * 3600
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
    """A problem with what the person sent, shown on the page.

    ``brief`` and ``detail`` are messages with ``{name}`` fields (marked with N_
    where written), filled from ``fields``: the English goes to the exception,
    the page words them in its own language (ErrorView).
    """

    code = "bad_upload"

    def __init__(self, brief: str, detail: str = "", *, code: str | None = None, **fields: object) -> None:
        super().__init__(brief.format(**fields), detail.format(**fields), code=code)
        self.messages = (brief, detail or brief)
        self.fields: Mapping[str, object] = fields


@dataclass(frozen=True)
class ErrorView:
    """What the page shows for a failure, still in English: worded per page by ``words``.

    A core error's texts are ``Msg`` (they know their message and fields); other
    texts without ``fields`` are whole messages (a refusal's brief): a text the
    catalog knows is shown translated, any other as it is.
    """

    code: str
    brief: str
    detail: str
    request_id: str
    fields: Mapping[str, object] = field(default_factory=dict)

    def words(self, t: gettext.NullTranslations) -> dict[str, str]:
        def say(text: str) -> str:
            if not text:  # gettext("") is the catalog's header
                return text
            if isinstance(text, Msg):
                return text.localized(t)
            said = t.gettext(text)
            if not self.fields:
                return said
            return said.format(**{k: localized(v, t) for k, v in self.fields.items()})

        return {"code": self.code, "brief": say(self.brief), "detail": say(self.detail),
                "request_id": self.request_id}


def page_language(request: Request) -> tuple[str, bool]:
    """The page's language, and whether the person chose it just now with the switch (``?lang=``).

    The switch wins, then its cookie (so the choice sticks), then Accept-Language.
    """
    chosen = i18n.supported(request.query_params.get("lang", ""))
    if chosen:
        return chosen, True
    kept = i18n.supported(request.cookies.get(LANG_COOKIE, ""))
    if kept:
        return kept, False
    return i18n.negotiate(request.headers.get("accept-language")), False


def template_words(t: gettext.NullTranslations) -> dict[str, Callable[..., str]]:
    """The callables one render uses: Jinja's newstyle gettext/ngettext over *t*, and ``tr``.

    As Jinja's own newstyle callables do, the translated text is markup (it may
    hold tags like <code>) and the variables are escaped into it. ``tr`` words a
    message that comes from Python (marked there with N_) as plain text.
    """

    @jinja2.pass_context
    def gettext_(context: jinja2.runtime.Context, message: str, **variables: Any) -> str:
        said = t.gettext(message)
        if context.eval_ctx.autoescape:
            return Markup(said) % variables
        return said % variables

    @jinja2.pass_context
    def ngettext_(context: jinja2.runtime.Context, singular: str, plural: str, num: int,
                  **variables: Any) -> str:
        variables.setdefault("num", num)
        said = t.ngettext(singular, plural, num)
        if context.eval_ctx.autoescape:
            return Markup(said) % variables
        return said % variables

    def tr(message: str) -> str:
        if isinstance(message, Msg):
            return message.localized(t)
        return t.gettext(message) if message else message

    return {"gettext": gettext_, "ngettext": ngettext_, "tr": tr}


def render(request: Request, name: str, status: int = 200, headers: dict[str, str] | None = None,
           **ctx: Any) -> HTMLResponse:
    """Template *name* in the request's language; an ErrorView in ``error`` is worded in it."""
    lang, switched = page_language(request)
    t = i18n.translation(lang)
    if isinstance(ctx.get("error"), ErrorView):
        ctx["error"] = ctx["error"].words(t)
    home = "/operator" if request.url.path.startswith("/operator") else "/"
    html = TEMPLATES.get_template(name).render(**ctx, **template_words(t), lang=lang, home=home)
    extra = {"Retry-After": str(outage.RETRY_AFTER)} if status == 503 else {}
    # The same URL answers in several languages: caches must key on what chooses it.
    words = {"Content-Language": lang, "Vary": "Accept-Language, Cookie"}
    response = HTMLResponse(html, status_code=status,
                            headers={**SECURITY_HEADERS, **extra, **words, **(headers or {})})
    if switched:
        response.set_cookie(LANG_COOKIE, lang, max_age=LANG_COOKIE_SECONDS, path="/", samesite="lax",
                            secure=request.url.scheme == "https")
    return response


def error_view(exc: BaseException, rid: str) -> ErrorView:
    """What the page shows for a failure: words for people, detail for support."""
    if isinstance(exc, PageError):
        brief, detail = exc.messages
        return ErrorView(exc.code, brief, detail, rid, exc.fields)
    if isinstance(exc, LicwizError):
        return ErrorView(exc.code, exc.brief, exc.detail, rid)
    if outage.is_outage(exc):
        print(f"center web: database unavailable {type(exc).__name__} (request {rid})", file=sys.stderr)
        shown = refusals.unavailable()
    else:
        print(f"center web: internal error {type(exc).__name__} (request {rid})", file=sys.stderr)
        shown = refusals.internal()
    return ErrorView(shown.code, shown.brief, shown.detail, rid)


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


TOO_LARGE = N_("The file is too large to be a license request file")
NOT_REQUEST = N_("This is not a license request file")


async def _uploaded_text(request: Request) -> str:
    kib = MAX_REQUEST_BYTES // 1024
    if too_large(request, MAX_FORM_BYTES):
        raise PageError(TOO_LARGE, N_("A request file is at most {kib} KiB; choose the .req file the "
                                      "wizard saved."), kib=kib)
    try:
        async with request.form(max_files=1, max_fields=4, max_part_size=MAX_FORM_BYTES) as form:
            item = form.get("request_file")
            if isinstance(item, UploadFile):
                raw = await item.read(MAX_REQUEST_BYTES + 1)
                name = item.filename or ""
            else:
                raw, name = (item or "").encode("utf-8"), ""
    except LicwizError:
        raise
    except Exception:  # python-multipart raises several types for a malformed body
        raise PageError(N_("The upload could not be read"),
                        N_("The form data was malformed; try again.")) from None
    if not raw.strip():
        raise PageError(N_("No license request file was chosen"),
                        N_("Use Browse to pick the request file the wizard saved (licwiz-request-….req)."))
    if len(raw) > MAX_REQUEST_BYTES:
        if name:
            raise PageError(TOO_LARGE, N_("{name}: over {kib} KiB"), name=name, kib=kib)
        raise PageError(TOO_LARGE, N_("The text sent is over {kib} KiB."), kib=kib)
    try:
        return raw.decode("ascii")
    except UnicodeDecodeError:
        if name:
            raise PageError(NOT_REQUEST, N_("{name} is not a text file; choose the .req file the wizard "
                                            "saved."), name=name) from None
        raise PageError(NOT_REQUEST, N_("The text sent is not a request file; choose the .req file "
                                        "the wizard saved.")) from None


def desk_email(svc: CenterService) -> str:
    """The mailbox ``licwiz center mail`` answers, named on the page (setting ``email``, read at start)."""
    return svc.settings.values.get("email", "")


def web_routes(svc: CenterService) -> list[BaseRoute]:

    def page(request: Request, status: int = 200, **ctx: Any) -> HTMLResponse:
        return render(request, "index.html", status, phone=svc.phone_number_cached, email=desk_email(svc),
                      **ctx)

    async def index(request: Request) -> Response:
        return page(request, error=None, issued=None)

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
            return page(request, status=error_status(exc), error=error_view(exc, rid), issued=None)
        lic = act.license
        issued = {
            "license_id": act.license_id, "users": act.users, "text": act.license_text,
            "regnum": lic.regnum, "product": lic.product, "issued": lic.issued,
            "supersedes": act.supersedes, "replayed": act.replayed, "request_id": rid,
        }
        return page(request, error=None, issued=issued)

    async def download(request: Request) -> Response:
        rid = request_id(request)
        try:
            if too_large(request, 64 * 1024):
                raise PageError(N_("The download request is too large"))
            async with request.form(max_files=0, max_fields=2) as form:
                text = form.get("license")
            if not isinstance(text, str):
                raise PageError(N_("Nothing to download"), N_("Upload the license request file first."))
            text = text.replace("\r\n", "\n")
            signed = parse_license(text, "license")
            try:
                # Only genuine licenses of this center are echoed; their dates do not matter here.
                verify(text, Keyring(signing=dict(svc.keys.signing_public)),
                       today=dt.date.fromisoformat(signed.license.issued))
            except SignatureError:
                raise PageError(N_("This license was not issued by this Licensing Center")) from None
        except Exception as exc:
            return page(request, status=error_status(exc), error=error_view(exc, rid), issued=None)
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
