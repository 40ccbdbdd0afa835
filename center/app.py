"""The Licensing Center's ASGI app (Starlette): API v1, admin API, OpenAPI.

``create_app(service)`` builds the app around a ``CenterService`` and mounts
the routes of center/web.py and center/operator.py with the same service as
their ``ctx``. ``app_from_env()`` is the factory uvicorn workers import: it
reads LICWIZ_CENTER_DB and LICWIZ_CENTER_HOME.

Every response carries ``X-Request-Id``; every request writes one JSON line
to the log (id, method, route, status, ms, code): never a body, never owner data.
"""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import os
import sys
import time
import traceback
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from licwiz.core import __version__
from licwiz.core.errors import LicwizError
from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import db
from .keystore import default_home
from .openapi import openapi_document
from .service import CenterService, Refusal, request_from_json

MAX_BODY = 128 * 1024
log = logging.getLogger("licwiz.center.access")


def _request_id(request: Request) -> str:
    return str(request.scope.get("state", {}).get("request_id", ""))


def error_response(request_id: str, code: str, brief: str, detail: str, status: int,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "brief": brief, "detail": detail, "request_id": request_id}},
        status_code=status, headers={**(headers or {}), "X-Request-Id": request_id},
    )


class RequestLog:
    """Pure ASGI middleware: request id, X-Request-Id header, one JSON log line."""

    def __init__(self, app: ASGIApp, stream: Any = None) -> None:
        self.app = app
        self.stream = stream or sys.stderr

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid
        start = time.perf_counter()
        status = 500

        async def _send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"x-request-id"]
                headers.append((b"x-request-id", rid.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, _send)
        finally:
            line = {
                "ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "id": rid,
                "method": scope.get("method"), "route": scope.get("path"), "status": status,
                "ms": round((time.perf_counter() - start) * 1000, 2),
                "code": scope["state"].get("error_code"),
            }
            try:
                self.stream.write(json.dumps(line) + "\n")
                self.stream.flush()
            except (OSError, ValueError):
                pass


def api_errors(handler: Callable[[Request], Awaitable[Response]], audit: CenterService | None = None,
               event: str = "refuse") -> Callable[[Request], Awaitable[Response]]:
    """Turn every failure into the API's error body; no traceback reaches a client.
    With ``audit``, a refusal the service has not audited yet (a body that is
    not a request, a missing admin token) goes to the audit table as ``event``."""

    async def audited(request: Request, rid: str, exc: LicwizError) -> None:
        if audit is None or getattr(exc, "audited", False):
            return
        try:
            await audit.audit_refusal(exc.code, request_id=rid, client_addr=_client(request), event=event)
        except (OperationalError, DBAPIError) as db_exc:  # the refusal still answers
            print(f"center: audit not written: {type(db_exc).__name__} (request {rid})", file=sys.stderr)

    async def wrapped(request: Request) -> Response:
        rid = _request_id(request)
        state = request.scope["state"]
        try:
            return await handler(request)
        except Refusal as ref:
            state["error_code"] = ref.code
            await audited(request, rid, ref)
            return error_response(rid, ref.code, ref.brief, ref.detail, ref.status)
        except LicwizError as exc:
            state["error_code"] = exc.code
            await audited(request, rid, exc)
            return error_response(rid, exc.code, exc.brief, exc.detail, 400)
        except (OperationalError, DBAPIError) as exc:
            state["error_code"] = "unavailable"
            # The exception type only: SQL parameters could carry owner data.
            print(f"center: database error {type(exc).__name__} (request {rid})", file=sys.stderr)
            return error_response(rid, "unavailable", "The Licensing Center is busy or its database is down",
                                  "Try again in a minute; quote the request id to support if it "
                                  "persists.", 503)
        except Exception as exc:
            state["error_code"] = "internal"
            tb = traceback.extract_tb(exc.__traceback__)
            where = f"{tb[-1].filename}:{tb[-1].lineno}" if tb else "?"
            print(f"center: internal error {type(exc).__name__} at {where} (request {rid})", file=sys.stderr)
            return error_response(rid, "internal", "The Licensing Center failed to answer",
                                  "An internal error happened; quote the request id to the vendor's "
                                  "support.", 500)

    return wrapped


async def read_json(request: Request) -> Any:
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
        raise Refusal("bad_request", "The request is too large", f"at most {MAX_BODY} bytes", status=413)
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise Refusal("bad_request", "The request is too large", f"at most {MAX_BODY} bytes", status=413)
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        raise Refusal("bad_request", "The request is not valid", "the body is not JSON", status=400) from None


def _client(request: Request) -> str:
    return request.client.host if request.client else ""


def create_app(service: CenterService, *, log_stream: Any = None) -> ASGIApp:
    svc = service

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok", "version": __version__})

    async def keys(request: Request) -> Response:
        return JSONResponse(svc.public_keys())

    async def check(request: Request) -> Response:
        req = request_from_json(await read_json(request))
        out = await svc.check(req, method="online", client_addr=_client(request),
                              request_id=_request_id(request))
        return JSONResponse(out)

    def _idem(request: Request) -> str | None:
        key = request.headers.get("idempotency-key")
        return key if key else None

    async def activate(request: Request) -> Response:
        req = request_from_json(await read_json(request))
        act = await svc.activate(req, method="online", idempotency_key=_idem(request),
                                 request_id=_request_id(request), client_addr=_client(request))
        return JSONResponse(act.to_dict())

    async def requests_(request: Request) -> Response:
        body = await read_json(request)
        if not isinstance(body, dict) or not isinstance(body.get("request"), str):
            raise Refusal("bad_request", "The request is not valid",
                          'expected {"request": "<license request file text>"}', status=400)
        act = await svc.activate_request_file(body["request"], idempotency_key=_idem(request),
                                              request_id=_request_id(request), client_addr=_client(request))
        return JSONResponse(act.to_dict())

    async def openapi(request: Request) -> Response:
        return JSONResponse(openapi_document())

    # ---- admin API (Authorization: Bearer <admin token>)

    async def _admin(request: Request) -> None:
        auth = request.headers.get("authorization", "")
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        if not token or not await svc.check_admin_token(token):
            raise Refusal("unauthorized", "An admin token is required",
                          "Send 'Authorization: Bearer <admin token>' (printed by 'licwiz center init').",
                          status=401)

    async def admin_kits(request: Request) -> Response:
        await _admin(request)
        if request.method == "GET":
            return JSONResponse({"kits": [k.to_dict() for k in await svc.list_kits()]})
        body = await read_json(request)
        if not isinstance(body, dict):
            raise Refusal("bad_request", "The request is not valid", "expected a JSON object", status=400)
        try:
            product = body.get("product", "")
            users, pins, count = (body.get("users", 1), body.get("pins", 3), body.get("count", 1))
            if not isinstance(product, str) or not all(
                isinstance(v, int) and not isinstance(v, bool) for v in (users, pins, count)
            ):
                raise TypeError
        except TypeError:
            raise Refusal("bad_request", "The request is not valid",
                          "product: text; users, pins, count: whole numbers", status=400) from None
        made = await svc.create_kits(product, users, pins, count, request_id=_request_id(request),
                                     actor="admin-api")
        return JSONResponse({"kits": [k.to_dict() for k in made]}, status_code=201)

    async def admin_kit(request: Request) -> Response:
        await _admin(request)
        return JSONResponse((await svc.kit_info(request.path_params["regnum"])).to_dict())

    async def admin_licenses(request: Request) -> Response:
        await _admin(request)
        regnum = request.query_params.get("regnum") or None
        return JSONResponse({"licenses": await svc.list_licenses(regnum)})

    async def admin_license(request: Request) -> Response:
        await _admin(request)
        return JSONResponse(await svc.license_info(request.path_params["license_id"]))

    async def admin_revoke(request: Request) -> Response:
        await _admin(request)
        return JSONResponse(await svc.revoke(request.path_params["license_id"],
                                             request_id=_request_id(request), actor="admin-api"))

    async def not_found(request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 404)
        code = "not_found" if status == 404 else "method_not_allowed" if status == 405 else "bad_request"
        request.scope.setdefault("state", {})["error_code"] = code
        return error_response(_request_id(request), code, "No such page or API call",
                              f"{request.method} {request.url.path}: HTTP {status}", status,
                              getattr(exc, "headers", None))  # 405 keeps its Allow header

    a = api_errors

    def audited(handler: Callable[[Request], Awaitable[Response]], event: str = "refuse"
                ) -> Callable[[Request], Awaitable[Response]]:
        return api_errors(handler, svc, event)

    routes: list[BaseRoute] = [
        Route("/api/v1/health", a(health), methods=["GET"]),
        Route("/api/v1/keys", a(keys), methods=["GET"]),
        Route("/api/v1/check", audited(check, "check_refuse"), methods=["POST"]),
        Route("/api/v1/activate", audited(activate), methods=["POST"]),
        Route("/api/v1/requests", audited(requests_), methods=["POST"]),
        Route("/api/v1/admin/kits", audited(admin_kits, "admin_refuse"), methods=["GET", "POST"]),
        Route("/api/v1/admin/kits/{regnum}", audited(admin_kit, "admin_refuse"), methods=["GET"]),
        Route("/api/v1/admin/licenses", audited(admin_licenses, "admin_refuse"), methods=["GET"]),
        Route("/api/v1/admin/licenses/{license_id}", audited(admin_license, "admin_refuse"), methods=["GET"]),
        Route("/api/v1/admin/licenses/{license_id}/revoke", audited(admin_revoke, "admin_refuse"),
              methods=["POST"]),
        Route("/openapi.json", openapi, methods=["GET"]),
    ]
    from .operator import operator_routes
    from .web import web_routes

    routes += list(web_routes(svc)) + list(operator_routes(svc))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await svc.start()
        # What is loaded by now lives as long as the process; frozen, it is left
        # out of the collector's full passes (~10 ms each, a stall for every
        # request in flight: the p99 of bench/center.py).
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            await svc.close()

    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={404: not_found, 405: not_found})
    app.state.service = svc
    return RequestLog(app, log_stream)


def app_from_env() -> ASGIApp:
    """The uvicorn factory: LICWIZ_CENTER_DB, LICWIZ_CENTER_HOME, LICWIZ_CENTER_LOG (file)."""
    home = Path(os.environ.get("LICWIZ_CENTER_HOME") or default_home())
    svc = CenterService.open(db.default_db_url(home), home)
    log_file = os.environ.get("LICWIZ_CENTER_LOG")
    stream = open(log_file, "a", buffering=1, encoding="utf-8") if log_file else None  # noqa: SIM115
    return create_app(svc, log_stream=stream)
